"""From measured kernel times to a heuristic (the tuner's pure half; benchmarks/tune.py measures).

Input: ``{(M, N, K): {schedule_name: microseconds}}`` over a grid. Output: a ``Heuristic`` whose
rules are typed conditions like any other, so ``verify`` checks it and the printer lowers it.

Rule shape, chosen to generalise to shapes that were not measured: one bucket per grid value of M
(``M <= m``; earlier buckets catch smaller M), each with the schedule that minimises the geometric
mean slowdown over the bucket's (N, K) shapes; a bucket is split once on N or on K when that
improves its geomean by more than ``min_gain``; adjacent buckets that pick the same single
schedule merge. The last bucket's fallback is the unconditional default.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from . import expr as E
from .model import Heuristic, HeuristicRule, parse_schedule_name

Times = Mapping[tuple[int, int, int], Mapping[str, float]]


def _fastest(row: Mapping[str, float]) -> float:
    """The lowest finite time of one shape's row."""
    return min(v for v in row.values() if math.isfinite(v))


def _loss(shapes: Sequence[tuple[int, int, int]], times: Times, sched: str) -> float:
    """Sum of log(t_sched / t_best) over shapes (inf if a shape lacks the schedule)."""
    total = 0.0
    for p in shapes:
        row = times[p]
        if sched not in row or not math.isfinite(row[sched]):
            return math.inf
        total += math.log(row[sched] / _fastest(row))
    return total


def _best(shapes, times, candidates) -> tuple[str, float]:
    return min(((s, _loss(shapes, times, s)) for s in candidates), key=lambda x: (x[1], x[0]))


def tune_heuristic(times: Times, name: str = "h100_tuned", min_gain: float = 0.02) -> Heuristic:
    if not times:
        raise ValueError("no measurements to tune from")
    candidates = sorted({s for row in times.values() for s in row})
    ms = sorted({m for m, _, _ in times})
    buckets = []  # (m_hi, split or None, schedule)
    for m in ms:
        shapes = sorted(p for p in times if p[0] == m)
        whole, whole_loss = _best(shapes, times, candidates)
        best_split = None
        for var, idx in (("N", 1), ("K", 2)):
            for thr in sorted({p[idx] for p in shapes})[:-1]:
                lo = [p for p in shapes if p[idx] <= thr]
                hi = [p for p in shapes if p[idx] > thr]
                s_lo, l_lo = _best(lo, times, candidates)
                s_hi, l_hi = _best(hi, times, candidates)
                if s_lo == s_hi:
                    continue
                gain = (whole_loss - (l_lo + l_hi)) / len(shapes)  # mean log improvement
                if gain > math.log1p(min_gain) and (best_split is None or gain > best_split[0]):
                    best_split = (gain, var, thr, s_lo, s_hi)
        if best_split:
            _, var, thr, s_lo, s_hi = best_split
            buckets.append((m, (var, thr, s_lo), s_hi))
        elif buckets and buckets[-1][1] is None and buckets[-1][2] == whole:
            buckets[-1] = (m, None, whole)  # merge with the previous identical bucket
        else:
            buckets.append((m, None, whole))

    rules: list[HeuristicRule] = []
    for i, (m_hi, split, sched) in enumerate(buckets):
        last = i == len(buckets) - 1
        m_cond = () if last else (E.le(E.M, m_hi),)
        if split:
            var, thr, s_lo = split
            v = E.N if var == "N" else E.K
            rules.append(HeuristicRule(cond=E.all_of(*m_cond, E.le(v, thr)),
                                       schedule=parse_schedule_name(s_lo), note="tuned"))
        rules.append(HeuristicRule(cond=E.all_of(*m_cond) if m_cond else None,
                                   schedule=parse_schedule_name(sched), note="tuned"))
    return Heuristic(name=name, rules=tuple(rules))


def geomean_speedup(times: Times, baseline: Heuristic, candidate: Heuristic) -> float:
    """Geometric mean of t(baseline's pick) / t(candidate's pick) over the measured shapes."""
    logs = []
    for (m, n, k), row in sorted(times.items()):
        tb = row.get(baseline.select(m, n, k).name)
        tc = row.get(candidate.select(m, n, k).name)
        if tb and tc and math.isfinite(tb) and math.isfinite(tc):
            logs.append(math.log(tb / tc))
    if not logs:
        raise ValueError("no shape has times for both heuristics' picks")
    return math.exp(sum(logs) / len(logs))


def pick_over_best(times: Times, h: Heuristic) -> tuple[float, float, tuple[int, int, int], int]:
    """How far a heuristic's picks are from the fastest measured schedule: (geomean of t(pick) /
    t(best), the worst such ratio, its point (M, N, K), the number of points), over the points
    where the pick was measured."""
    ratios = []
    for (m, n, k), row in sorted(times.items()):
        t = row.get(h.select(m, n, k).name)
        if t and math.isfinite(t):
            ratios.append((t / _fastest(row), (m, n, k)))
    if not ratios:
        raise ValueError(f"no measured point has a time for {h.name}'s pick")
    worst = max(ratios)
    return math.exp(sum(math.log(r) for r, _ in ratios) / len(ratios)), worst[0], worst[1], len(ratios)
