#!/usr/bin/env python3
"""Machete mixed-input GEMM benchmark: machete vs cuBLAS, torch's int4 kernel, vLLM's Marlin and Machete
(optional peers) and the hardware limits.

One call on the GPU machine builds the data, checks every machete result against cuBLAS on the
dequantized weights, times every implementation and writes (at most 5 files, all small):

    results.csv    every raw figure, one row per (K, N, M, type)
    results.md     the table a reviewer reads
    results.png    time vs M, one panel per (shape, type), every implementation a line, floor dashed
    log.txt        everything printed while it ran
    events.jsonl   raw measurement records (used by --resume)

How it stays alive: the parent process never touches CUDA. It runs a worker subprocess that
measures every shape; the worker appends a "start" record before every measurement and a "result" record after
it. A watchdog in the parent kills a worker that stays silent past --hang-timeout (hung kernel),
records "hang" for the measurement that was running, and starts a fresh worker that resumes after
it (measurements already recorded are skipped). A worker that breaks its CUDA context (illegal address, ...) records the error and exits; the
parent restarts it the same way. Past --time-budget the parent stops and writes what it has.

Timing: weight copies (and their scales / zeros) are rotated so their total exceeds 4x L2 and at
least 256 MiB, so the cache cannot serve them; median of per-call CUDA-event timings after a
warm-up; for M <= 16 also a CUDA graph that loops over the copies (per-call median over replays),
which removes launch overhead. Targets use the lower of the two figures for every implementation.

Limits: memory floor = bytes(quantized B + scales (+ zeros) + A + D) / device-to-device copy
bandwidth measured in the same run (bytes read + written); compute limit = 2MNK / 989e12 s
(datasheet dense bf16) and, beside it, 2MNK / the measured bf16 8192^3 matmul rate;
floor = max(memory floor, datasheet compute limit).

Peers (--peers marlin,vllm_machete; default none): benchmark-only builds of vLLM v0.33.0's own Marlin
and Machete kernels, each made by its kit's build.sh on the GPU machine (--marlin-build /
--vllm-machete-build name the folders holding vllm_marlin*.so / vllm_machete*.so; defaults
/tmp/vllm_marlin_build, /tmp/vllm_machete_build). They support u4b8-g128-f16 only (other types get no
peer rows). For each (K, N, M) of that type they get the very weights, scales and activations machete
gets (seeded per shape), in their own layouts (Marlin: gptq_marlin_repack of the GPTQ-packed int32
(K/8, N) weights + scales in Marlin's order + its lock workspace; vLLM Machete: machete_prepack_B of the
column-major packed weights), are checked against the same cuBLAS reference with the same tolerance,
and timed the same way (rotated copies, event median, graph time up to --graph-max-m), inside the same
watchdog: impls "marlin" and "vllm_machete" in events.jsonl, status ok / FAIL / error / hang, or
"unavailable" (one log line saying why) where a build is missing or fails to import. The summary adds
the targets against them, over the points where the peer was measured: machete faster than Marlin at
every M <= 64; >= 1.15x geomean faster than vLLM Machete over M <= 128; no point more than 3% slower
than either peer.

The code is the package next to this file, benchmarks/machete_bench/ (its __init__ lists the
modules). The calls into the package under test are all in machete_bench/impls/machete_adapter.py;
the calls into the peer builds are in machete_bench/impls/vllm_peers.py.
"""
from __future__ import annotations

import os
import sys

# Run as `python benchmarks/bench_mm.py`, sys.path[0] is benchmarks/ already; loaded by file path
# (tests/test_bench_cpu.py, scripts/decode_dev/run_dev.py) it may not be.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from machete_bench.cli import main  # noqa: E402
from machete_bench.timing import Timer  # noqa: E402,F401  (scripts/decode_dev/run_dev.py times with it)

if __name__ == "__main__":
    sys.exit(main())
