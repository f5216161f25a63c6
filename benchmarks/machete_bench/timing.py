"""How one measurement is timed: weight copies rotated past L2, CUDA-event and CUDA-graph times."""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable


def run_for(step: Callable[[], Any], sync: Callable[[], Any], seconds: float, min_steps: int = 2,
            max_steps: int = 10_000, clock: Callable[[], float] = time.perf_counter) -> int:
    """Run step() (synchronizing after each) until `seconds` have passed and at least min_steps
    ran; returns the number of steps. The warm-up before a measurement: after the host-side setup of
    a new shape (quantizing, prepacking, building the rotated copies) the GPU has idled and its
    clocks are low, and a fixed two or three calls are not enough to bring them back (the first
    point timed per shape, M = 1, read 14-21% slower in geomean than the same schedule timed right
    after it, on H100s and an H200: benchmarks/results/*sweep.events.jsonl)."""
    t0, n = clock(), 0
    while n < max_steps and (n < min_steps or clock() - t0 < seconds):
        step()
        sync()
        n += 1
    return n


def rotation_target_bytes(l2_bytes: int | None, override_mb: float | None = None) -> int:
    """Total bytes the rotated weight copies must exceed: max(4 x L2, 256 MiB) unless overridden."""
    if override_mb:
        return int(override_mb * 2**20)
    l2 = l2_bytes if l2_bytes else 50 * 2**20
    return max(4 * l2, 256 * 2**20)


def n_copies(per_copy_bytes: int, target_bytes: int) -> int:
    """Copies needed so that their total reaches target_bytes (at least one)."""
    return max(1, -(-target_bytes // max(1, per_copy_bytes)))


class Timer:
    """Median per-call CUDA-event time and CUDA-graph time of fn(i) (i selects the rotated copy)."""

    def __init__(self, target_ms: float, min_reps: int = 5, max_reps: int = 200, warmup: int = 3,
                 warm_s: float = 0.05) -> None:
        self.target_ms, self.min_reps, self.max_reps, self.warmup = target_ms, min_reps, max_reps, warmup
        self.warm_s = warm_s  # GPU-busy time before each graph measurement (see run_for)

    def events(self, fn: Callable[[int], Any]) -> float:
        import torch
        for i in range(self.warmup):
            fn(i)
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        s.record()
        fn(self.warmup)
        e.record()
        e.synchronize()
        est_ms = max(s.elapsed_time(e), 1e-3)
        reps = int(min(self.max_reps, max(self.min_reps, self.target_ms / est_ms)))
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        for r in range(reps):
            starts[r].record()
            fn(self.warmup + 1 + r)
            ends[r].record()
        torch.cuda.synchronize()
        return statistics.median(a.elapsed_time(b) for a, b in zip(starts, ends)) * 1e3

    def graph(self, fn: Callable[[int], Any], n_rot: int, calls: int = 32, replays: int = 10) -> float:
        import torch
        calls = max(calls, n_rot)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for i in range(3):
                fn(i)
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for i in range(calls):
                fn(i)
        run_for(g.replay, torch.cuda.synchronize, self.warm_s)
        times = []
        for _ in range(replays):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            g.replay()
            e.record()
            e.synchronize()
            times.append(s.elapsed_time(e) * 1e3 / calls)
        del g
        return statistics.median(times)
