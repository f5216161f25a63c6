"""The implementations the worker measures, one module each:

    machete_adapter.py  machete, the package under test (MacheteAdapter: every call into it)
    cublas.py           torch.matmul on dequantized weights (the baseline)
    int4pack.py         torch._weight_int4pack_mm (tinygemm)
    vllm_peers.py       vLLM's Marlin and Machete (benchmark-only builds; PEER_ADAPTERS)

Each module holds a worker section: a mixin class with one method that builds that
implementation's data for one shape (or one shape and type), then for each M checks it with
checks.check_output where it can and times it with Worker.measure (rotated copies, events,
graph). Adding an implementation: a module here with its section; the section in Worker's bases
and a self.guarded(keys, ...) call in Worker.run; its keys in events.plan_keys (so the parent
knows when the worker is done); its columns in rows.build_rows / report.CSV_COLUMNS and, if it
is a target, in targets.py.
"""
