"""machete, the package under test: every call into it is in MacheteAdapter; the section checks and
times mm with its heuristic and, unless --no-sweep, with every supported schedule."""
from __future__ import annotations

import sys
from typing import Any, Callable

from ..checks import check_output
from ..common import REPO_ROOT, _short, _torch_dtype
from ..problem import BENCH_TYPES, BenchType
from ..timing import n_copies


class MacheteAdapter:
    """Thin layer over `machete`; the rest of the benchmark never imports the package."""

    def __init__(self) -> None:
        import importlib

        try:
            self.machete = importlib.import_module("machete")
        except ModuleNotFoundError:
            # run as `python benchmarks/bench_mm.py`: sys.path[0] is benchmarks/, the package is one up
            sys.path.append(REPO_ROOT)
            self.machete = importlib.import_module("machete")
        missing = [a for a in ("prepack_B", "mm", "supported_schedules", "scalar_types")
                   if not hasattr(self.machete, a)]
        if missing:
            raise ImportError(f"machete ({getattr(self.machete, '__path__', '?')}) lacks {', '.join(missing)}")

    def scalar_type(self, t: BenchType) -> Any:
        return getattr(self.machete.scalar_types, t.b_type)

    def pack(self, q: Any, t: BenchType) -> Any:
        """Stored values (K, N) -> SPEC §5 int32 (K / (32/bits), N), column-major."""
        return self.machete.reference.pack(q, self.scalar_type(t))

    def prepack(self, b_packed: Any, a_dtype: Any, t: BenchType) -> Any:
        return self.machete.prepack_B(b_packed, a_dtype, self.scalar_type(t), group_scales_type=a_dtype)

    def heuristic(self, m: int, n: int, k: int, a_dtype: Any, t: BenchType) -> str:
        """Name of the schedule mm picks without one ('' where the package cannot say)."""
        try:
            return str(self.machete.heuristic_schedule(
                m, n, k, a_dtype, self.scalar_type(t), group_scales_type=a_dtype,
                group_zeros_type=a_dtype if t.has_zeros else None))
        except Exception:  # noqa: BLE001 - optional: only labels the table
            return ""

    def schedules(self, a_dtype: Any, t: BenchType) -> list[str]:
        return list(self.machete.supported_schedules(
            a_dtype, self.scalar_type(t), group_scales_type=a_dtype,
            group_zeros_type=a_dtype if t.has_zeros else None))

    def mm(self, a: Any, b_prepacked: Any, t: BenchType, scales: Any, zeros: Any, schedule: str | None) -> Any:
        return self.machete.mm(a, b_prepacked, self.scalar_type(t), group_scales=scales,
                               group_zeros=zeros, group_size=t.group_size, schedule=schedule)


class MacheteSection:
    """Worker section (see worker.Worker for self.measure, self.act, ...); self.adapter is the
    MacheteAdapter (None where the import failed: self.adapter_error says why)."""

    def machete_type(self, k: int, n: int, tname: str) -> None:
        torch = self.torch
        t = BENCH_TYPES[tname]
        ms = self.args.m
        heur_keys = [(k, n, m, tname, "heuristic") for m in ms]
        sweep_keys = [(k, n, m, tname, "sweep") for m in ms] if not self.args.no_sweep else []
        if all(map(self.done, heur_keys + sweep_keys)):
            return
        if self.adapter is None:
            self.record_rest(heur_keys + sweep_keys, "n/a", note=f"machete unavailable: {self.adapter_error}")
            return
        dtype = _torch_dtype(t.a_dtype)
        self.ev.phase(f"machete {tname} weights {k}x{n}", timeout=180)
        try:
            q, s, z, w = self.quant_weights(k, n, t)
            packed = self.adapter.pack(q, t)
            del q
            b = self.adapter.prepack(packed, dtype, t)
            del packed
            per_copy = b.numel() * b.element_size() + s.numel() * 2 * (2 if z is not None else 1)
            count = n_copies(per_copy, self.rotation_target())
            rot = [(b, s, z)] + [(b.clone(), s.clone(), None if z is None else z.clone()) for _ in range(count - 1)]
        except Exception as e:  # noqa: BLE001
            self.record_rest(heur_keys + sweep_keys, "error", note="setup: " + _short(e))
            self.exit_if_context_broken()
            return
        schedules: list[str] = []
        if sweep_keys:
            try:
                schedules = [sc for sc in self.adapter.schedules(dtype, t) if self.args.sweep_only in sc]
            except Exception as e:  # noqa: BLE001 - the heuristic can still be measured
                self.record_rest(sweep_keys, "error", note="supported_schedules: " + _short(e))

        adapter = self.adapter
        for m in ms:
            hk = (k, n, m, tname, "heuristic")
            sk = (k, n, m, tname, "sweep")
            todo_sched = [sc for sc in schedules if not self.done((k, n, m, tname, "sched", sc))]
            if self.done(hk) and (not sweep_keys or self.done(sk)):
                continue
            a = self.act(m, k, dtype)
            ref = a @ w

            def make(schedule: str | None, a: Any = a) -> Callable[[int], Any]:
                return lambda i: adapter.mm(a, rot[i % len(rot)][0], t, rot[i % len(rot)][1],
                                            rot[i % len(rot)][2], schedule)

            def checker(schedule: str | None, ref: Any = ref) -> Callable[[], tuple[str, float | None, str]]:
                return lambda: check_output(make(schedule)(0), ref, self.args.check_tol)

            if not self.done(hk):
                self.measure(hk, make(None), len(rot), m, check=checker(None),
                             extra={"schedule": adapter.heuristic(m, n, k, dtype, t)})
            if sweep_keys and not self.done(sk):
                for sc in todo_sched:
                    self.measure((k, n, m, tname, "sched", sc), make(sc), len(rot), m, check=checker(sc))
                self.record(sk, "ok", note=f"{len(schedules)} schedules")
            del a, ref
        del rot, b, s, z, w
        torch.cuda.empty_cache()
