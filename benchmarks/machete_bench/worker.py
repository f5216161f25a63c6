"""The worker (GPU): per shape, the data, then every implementation checked and timed, each result
appended to events.jsonl as it is measured. The implementations' own code is in impls/: one section
(a mixin with one method) per implementation; this module is what they share."""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from .common import EXIT_CONTEXT_BROKEN, _seed, _short, _torch_dtype
from .events import EventWriter, Key, load_events, needed_cublas_dtypes, peer_keys
from .impls.cublas import CublasSection
from .impls.int4pack import Int4packSection
from .impls.machete_adapter import MacheteAdapter, MacheteSection
from .impls.vllm_peers import PeerSection
from .problem import PEER_TYPES, BenchType
from .timing import Timer, rotation_target_bytes


class Worker(CublasSection, Int4packSection, MacheteSection, PeerSection):
    """Measures the shapes in args; device and timer are injectable so tests can run it on CPU."""

    def __init__(self, args: argparse.Namespace, device: str = "cuda", timer: Any = None) -> None:
        import torch

        self.torch = torch
        self.args = args
        self.ev = EventWriter(args.events)
        self.results, _ = load_events(args.events)
        self.timer = timer or Timer(args.target_ms)
        self.dev = torch.device(device)
        self.adapter: Any = None  # MacheteAdapter once imported
        self.adapter_error = ""
        self.peers: dict[str, Any] = {}  # name -> PeerAdapter, once imported (load_peers)
        self.peer_errors: dict[str, str] = {}  # name -> why it is unavailable

    # -- bookkeeping -------------------------------------------------------------------------
    def done(self, key: Key) -> bool:
        return key in self.results

    def record(self, key: Key, status: str, quiet: bool = False, **fields: Any) -> None:
        rec = {"ev": "result", "key": list(key), "status": status, **fields}
        self.ev.result(key, status, **fields)
        self.results[key] = rec
        if quiet:
            return
        us, g = fields.get("us"), fields.get("graph_us")
        extra = f" graph {g:.1f} us" if g is not None else ""
        err = fields.get("err")
        print(f"  [{' '.join(map(str, key))}] {status}"
              + (f" {us:.1f} us" if us is not None else "") + extra
              + (f" err {err:.1e}" if err is not None else "")
              + (f" ({fields['note']})" if fields.get("note") else ""), flush=True)

    def record_rest(self, keys: list[Key], status: str, quiet: bool = False, **fields: Any) -> None:
        """Record `status` for each of keys not measured yet (a section that cannot go on)."""
        for key in keys:
            if not self.done(key):
                self.record(key, status, quiet=quiet, **fields)

    def context_ok(self) -> bool:
        if self.dev.type != "cuda":
            return True
        try:
            self.torch.cuda.synchronize()
            return True
        except Exception:  # noqa: BLE001
            return False

    def exit_if_context_broken(self) -> None:
        """A broken CUDA context (illegal address, ...) fails every later call: exit; the parent
        restarts the worker, which resumes after what is recorded."""
        if not self.context_ok():
            sys.exit(EXIT_CONTEXT_BROKEN)

    def measure(self, key: Key, fn: Callable[[int], Any], n_rot: int, m: int,
                check: Callable[[], tuple[str, float | None, str]] | None = None,
                extra: dict[str, Any] | None = None) -> None:
        """Check (optional), time with events, time under a graph for small M; record; never raise."""
        self.ev.start(key)
        fields: dict[str, Any] = dict(extra or {})
        status, notes = "ok", []
        try:
            if check is not None:
                status, err, note = check()
                fields["err"] = err
                if note:
                    notes.append(note)
            fields["us"] = self.timer.events(fn)
        except Exception as e:  # noqa: BLE001 - recorded, never fatal
            self.record(key, "error", note=_short(e), **dict(extra or {}))
            self.exit_if_context_broken()
            return
        if m <= self.args.graph_max_m and not self.args.no_graph:
            try:
                fields["graph_us"] = self.timer.graph(fn, n_rot)
            except Exception as e:  # noqa: BLE001
                notes.append("graph: " + _short(e))
        self.record(key, status, note="; ".join(notes), **fields)
        self.exit_if_context_broken()

    # -- device-level ------------------------------------------------------------------------
    def device_info(self) -> None:
        key = ("device",)
        if self.done(key):
            return
        torch = self.torch
        self.ev.start(key, timeout=120)
        props = torch.cuda.get_device_properties(0)
        l2 = int(getattr(props, "L2_cache_size", 0) or 0)
        nbytes = 1 << 30
        src = torch.empty(nbytes, dtype=torch.uint8, device=self.dev)
        dst = torch.empty_like(src)
        copy_us = Timer(200, min_reps=10, max_reps=50).events(lambda i: dst.copy_(src))
        del src, dst
        n = 8192
        a = torch.randn(n, n, dtype=torch.bfloat16, device=self.dev)
        b = torch.randn(n, n, dtype=torch.bfloat16, device=self.dev)
        mm_us = Timer(300, min_reps=10, max_reps=50).events(lambda i: a @ b)
        del a, b
        torch.cuda.empty_cache()
        self.record(key, "ok", name=props.name, l2_bytes=l2, copy_Bps=2 * nbytes / (copy_us * 1e-6),
                    bf16_flops=2 * n**3 / (mm_us * 1e-6), torch=torch.__version__,
                    note=f"{props.name}, L2 {l2 / 2**20:.0f} MiB, copy {2 * nbytes / copy_us / 1e3:.0f} GB/s, "
                         f"bf16 {2 * n**3 / mm_us / 1e6:.0f} TFLOP/s")

    def rotation_target(self) -> int:
        return rotation_target_bytes(self.results.get(("device",), {}).get("l2_bytes"), self.args.rotate_mb)

    # -- data --------------------------------------------------------------------------------
    def generator(self, *seed: Any) -> Any:
        g = self.torch.Generator(device=self.dev)
        g.manual_seed(_seed(*seed))
        return g

    def act(self, m: int, k: int, dtype: Any) -> Any:
        """Activations, the same for every implementation measured at (M, K)."""
        g = self.generator("act", m, k)
        return (3 * self.torch.rand(m, k, device=self.dev, generator=g) - 2).to(dtype)

    def quant_weights(self, k: int, n: int, t: BenchType) -> tuple[Any, Any, Any, Any]:
        """Stored values q (K, N), scales (G, N), zeros (G, N) or None, dequantized weights w (K, N) in a's
        dtype. Seeded by (K, N, type): machete and the peers get the very same weights."""
        torch = self.torch
        dtype = _torch_dtype(t.a_dtype)
        gen = self.generator("weights", k, n, t.name)
        g = t.groups(k)
        gs = k if t.group_size == -1 else t.group_size
        q = torch.randint(0, 2**t.bits, (k, n), dtype=torch.uint8 if t.bits <= 8 else torch.int32,
                          device=self.dev, generator=gen)
        s = (0.05 + 0.1 * torch.rand(g, n, device=self.dev, generator=gen)).to(dtype)
        z = None
        if t.has_zeros:  # integer zero point zp -> z = -zp * s (SPEC §1: zero added after scaling)
            zp = torch.randint(0, 2**t.bits, (g, n), device=self.dev, generator=gen).float()
            z = (-zp * s.float()).to(dtype)
        wf = (q.float() - t.bias).view(g, gs, n) * s.float()[:, None, :]
        if z is not None:
            wf += z.float()[:, None, :]
        w = wf.view(k, n).to(dtype)
        return q, s, z, w

    def run(self) -> None:
        self.ev.phase("import machete", timeout=600)
        try:
            self.adapter = MacheteAdapter()
        except Exception as e:  # noqa: BLE001
            self.adapter_error = _short(e)
            print(f"machete import failed: {self.adapter_error} -- peers only", flush=True)
        self.load_peers()
        self.guarded([("device",)], self.device_info)
        a = self.args
        for k, n in a.shapes:
            print(f"== shape K={k} N={n}", flush=True)
            self.torch.manual_seed(k * 100003 + n)
            self.guarded([(k, n, m, "cublas", dt) for m in a.m for dt in needed_cublas_dtypes(a.types)],
                         lambda: self.cublas(k, n))
            self.guarded([(k, n, m, "int4pack", "bf16") for m in a.m], lambda: self.int4pack(k, n))
            for tname in a.types:
                self.guarded([(k, n, m, tname, v) for m in a.m for v in ("heuristic", "sweep")],
                             lambda: self.machete_type(k, n, tname))
                if a.peers and tname in PEER_TYPES:
                    self.guarded(peer_keys((k, n), a.m, tname, a.peers), lambda: self.peer_type(k, n, tname))

    def guarded(self, keys: list[Key], section: Callable[[], None]) -> None:
        """Run a section; an exception outside a single measurement (OOM while building data, a bug)
        marks the section's unfinished keys as errors instead of killing the whole worker."""
        try:
            section()
        except Exception as e:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            self.record_rest(keys, "error", note=_short(e))
            self.exit_if_context_broken()
            if self.dev.type == "cuda":
                self.torch.cuda.empty_cache()


def worker_main(args: argparse.Namespace) -> int:
    import torch
    if not torch.cuda.is_available():
        print("bench_mm: no CUDA device; run this on the GPU machine", file=sys.stderr)
        return 2
    Worker(args).run()
    return 0
