"""Machete mixed-input GEMM benchmark: machete vs cuBLAS, torch's int4 kernel, vLLM's Marlin and Machete
(optional peers) and the hardware limits. The command is benchmarks/bench_mm.py; this package is
its code:

    cli.py         command line, defaults, main()
    problem.py     SPEC §7 shapes and M grid, type configurations, peer names, bytes and floors
    parent.py      the parent: one watched worker at a time, restarts after hangs / crashes
    progress.py    the parent's log and progress line
    worker.py      the worker: data, Worker.measure, the sections in order
    impls/         one module per implementation (machete, cuBLAS, torch int4, vLLM peers)
    timing.py      L2 rotation, CUDA-event and CUDA-graph Timer
    checks.py      correctness against cuBLAS on the dequantized weights
    events.py      events.jsonl records and the plan of keys to measure
    rows.py        records -> one row per (K, N, M, type)
    targets.py     the PASS/FAIL targets
    report.py      results.csv, results.md, the summary, write_outputs
    plot.py        results.png
    common.py      paths and small helpers shared by the above

Nothing here imports torch, matplotlib or machete at module level: --help and the CPU tests run
without a GPU.
"""
