"""What the parent prints while it runs: the log (stdout and log.txt) and the progress line."""
from __future__ import annotations

import argparse
import sys
import threading
import time

from .events import load_events
from .report import write_outputs


class Log:
    def __init__(self, path: str) -> None:
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def __call__(self, msg: str) -> None:
        with self.lock:
            sys.stdout.write(msg + ("" if msg.endswith("\n") else "\n"))
            sys.stdout.flush()
            self.f.write(msg + ("" if msg.endswith("\n") else "\n"))


def progress_text(done: int, total: int, elapsed_s: float) -> str:
    """One progress line: measurements done of planned, elapsed time and the ETA at the rate so far."""
    pct = 100.0 * done / total if total else 100.0
    if done and total > done:
        eta = f", ETA {elapsed_s / done * (total - done):.0f} s"
    elif total and done >= total:
        eta = ", done"
    else:
        eta = ""
    return f"bench_mm: {done}/{total} measurements ({pct:.0f}%), {elapsed_s:.0f} s{eta}"


class Progress:
    """Prints progress_text to stderr every tick (every ~10 s while a worker runs) and writes the
    partial outputs every `outputs_every` ticks."""

    def __init__(self, args: argparse.Namespace, events: str, log: "Log", planned: set, outputs_every: int = 6):
        self.args, self.events, self.log, self.planned = args, events, log, planned
        self.t0, self.n, self.outputs_every = time.monotonic(), 0, outputs_every

    def __call__(self) -> None:
        results, _ = load_events(self.events)
        done = sum(1 for key in self.planned if key in results)
        print(progress_text(done, len(self.planned), time.monotonic() - self.t0), file=sys.stderr, flush=True)
        self.n += 1
        if self.n % self.outputs_every == 0:
            write_outputs(self.args, self.events, self.log, partial=True)
