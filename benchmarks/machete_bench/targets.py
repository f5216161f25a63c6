"""The targets the summary reports PASS/FAIL for: machete against the floors, cuBLAS and torch's int4
kernel, and against vLLM's Marlin and Machete where those peers were measured."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from .problem import LARGE_M, PEER_LABELS, PEERS, SMALL_M
from .rows import _best


def eff_time(row: dict[str, Any], impl: str) -> float | None:
    """Time used by the targets: lower of events and graph; machete only where its check passed."""
    if impl == "heur":
        if row["machete_heur_status"] != "ok":
            return None
        return _best(row["machete_heur_us"], row["machete_heur_graph_us"])
    if impl == "best":
        return _best(row["machete_best_us"], row["machete_best_graph_us"])
    if impl == "cublas":
        return _best(row["cublas_us"], row["cublas_graph_us"])
    if impl == "int4pack":
        return _best(row["int4pack_us"], row["int4pack_graph_us"])
    if impl in PEERS:  # a peer counts only where its own check passed
        if row[f"{impl}_status"] != "ok":
            return None
        return _best(row[f"{impl}_us"], row[f"{impl}_graph_us"])
    raise ValueError(impl)


@dataclass(frozen=True)
class TargetResult:
    name: str
    impl: str
    passed: int
    measured: int
    missing: int
    worst: str  # the worst point, for the summary
    met: bool | None = None  # set by targets not decided point by point (a geomean)
    detail: str = ""  # e.g. the geomean

    @property
    def ok(self) -> bool:
        if self.met is not None:
            return self.met
        return self.measured > 0 and self.passed == self.measured and self.missing == 0


TARGETS: tuple[tuple[str, str], ...] = (
    ("small_floor", f"M<={SMALL_M}: within 1.25x of the memory floor"),
    ("small_cublas", f"M<={SMALL_M}: >=3x faster than cuBLAS (a's dtype)"),
    ("large_cublas", f"M>={LARGE_M}: >=1.10x faster than cuBLAS (a's dtype)"),
    ("peers", "faster than every peer (cuBLAS, int4pack)"),
)


def evaluate_targets(rows: Sequence[dict[str, Any]], impl: str = "heur") -> list[TargetResult]:
    """Targets over all rows for machete's heuristic ('heur') or best schedule ('best').

    A row where machete was not measured, or failed its check, counts as missing: a target is met
    only when it holds at every point it covers.
    """
    out = []
    for tid, title in TARGETS:
        passed = measured = missing = 0
        worst_v, worst_p = None, ""
        for r in rows:
            if tid.startswith("small") and r["M"] > SMALL_M:
                continue
            if tid == "large_cublas" and r["M"] < LARGE_M:
                continue
            mt = eff_time(r, impl)
            if tid == "small_floor":
                ref, need = r["mem_floor_us"], 1.25  # value = machete / floor, must be <= need
                v = mt / ref if mt is not None and ref else None
                good = v is not None and v <= need
                bad_order = v
            elif tid in ("small_cublas", "large_cublas"):
                need = 3.0 if tid == "small_cublas" else 1.10
                ref = eff_time(r, "cublas")
                v = ref / mt if mt and ref else None  # speedup, must be >= need
                good = v is not None and v >= need
                bad_order = -v if v is not None else None
            else:
                peers = [p for p in (eff_time(r, "cublas"), eff_time(r, "int4pack")) if p is not None]
                v = min(peers) / mt if mt and peers else None
                good = v is not None and v > 1.0
                bad_order = -v if v is not None else None
            if v is None:
                missing += 1
                continue
            measured += 1
            passed += good
            if worst_v is None or bad_order > worst_v:
                worst_v, worst_p = bad_order, f"{r['K']}x{r['N']} M={r['M']} {r['type']}: {v:.2f}"
        out.append(TargetResult(title, impl, passed, measured, missing, worst_p))
    return out


PEER_SMALL_M = 64  # target (a): faster than Marlin at every point with M <= this
PEER_GEOMEAN_M = 128  # target (b): geomean speedup over vLLM Machete for M <= this ...
PEER_GEOMEAN_NEED = 1.15  # ... at least this
PEER_SLACK = 1.03  # target (c): at no point slower than a peer by more than this factor
PEER_TARGETS: tuple[tuple[str, str], ...] = (
    ("marlin_small", f"M<={PEER_SMALL_M}: faster than Marlin at every point"),
    ("vllm_machete_geomean", f"M<={PEER_GEOMEAN_M}: >={PEER_GEOMEAN_NEED:.2f}x geomean faster than vLLM Machete"),
    ("peers_slack", f"any M: no point >{(PEER_SLACK - 1) * 100:.0f}% slower than Marlin or vLLM Machete"),
)


def evaluate_peer_targets(rows: Sequence[dict[str, Any]], impl: str = "heur") -> list[TargetResult]:
    """The targets against vLLM's Marlin and Machete, over the points where that peer was measured
    (and passed its check). Figures are speedups, peer time / machete time (eff_time of both).

    A point with a valid peer figure but no valid machete figure counts as missing (the target fails).
    """
    out = []
    for tid, title in PEER_TARGETS:
        passed = measured = missing = 0
        worst_v, worst_p = None, ""
        speedups = []
        for r in rows:
            if tid == "marlin_small" and r["M"] > PEER_SMALL_M:
                continue
            if tid == "vllm_machete_geomean" and r["M"] > PEER_GEOMEAN_M:
                continue
            names = {"marlin_small": ("marlin",), "vllm_machete_geomean": ("vllm_machete",)}.get(tid, PEERS)
            peer_ts = [(eff_time(r, p), p) for p in names if eff_time(r, p) is not None]
            if not peer_ts:
                continue  # the peer was not measured here
            mt = eff_time(r, impl)
            if mt is None:
                missing += 1
                continue
            peer_t, peer = min(peer_ts)
            v = peer_t / mt
            measured += 1
            speedups.append(v)
            if tid == "marlin_small":
                passed += v > 1.0
            elif tid == "vllm_machete_geomean":
                passed += v >= PEER_GEOMEAN_NEED
            else:
                passed += mt <= PEER_SLACK * peer_t
            if worst_v is None or v < worst_v:
                worst_v = v
                worst_p = (f"{r['K']}x{r['N']} M={r['M']} {r['type']}: {v:.3f}"
                           + (f" vs {PEER_LABELS[peer]}" if tid == "peers_slack" else ""))
        met, detail = None, ""
        if tid == "vllm_machete_geomean":
            gm = geomean(speedups)
            met = gm is not None and gm >= PEER_GEOMEAN_NEED and missing == 0
            detail = f"geomean {gm:.3f}" if gm is not None else ""
        out.append(TargetResult(title, impl, passed, measured, missing, worst_p, met, detail))
    return out


def geomean(vals: Iterable[float]) -> float | None:
    vs = [v for v in vals if v is not None and v > 0]
    return math.exp(sum(map(math.log, vs)) / len(vs)) if vs else None
