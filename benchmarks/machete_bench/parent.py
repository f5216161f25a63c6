"""The parent process: it never touches CUDA. It runs one watched worker subprocess at a time,
kills one that goes silent (hung kernel) or breaks its CUDA context, records that measurement and
starts a fresh worker that resumes after it; past the time budget it stops; then it writes the outputs."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Sequence

from .common import BENCH_SCRIPT
from .events import EventWriter, load_events, plan_keys, running_key
from .progress import Log, Progress
from .report import summary_text, write_outputs


def worker_argv(args: argparse.Namespace, shapes: Sequence[tuple[int, int]], events: str) -> list[str]:
    """Command line of the worker that measures `shapes` with the parent's settings."""
    argv = [sys.executable, BENCH_SCRIPT, "--worker", "--events", events,
            "--shapes", ",".join(f"{k}x{n}" for k, n in shapes), "--m", ",".join(map(str, args.m)),
            "--types", ",".join(args.types), "--target-ms", str(args.target_ms),
            "--check-tol", str(args.check_tol), "--out-dir", args.out_dir,
            "--graph-max-m", str(args.graph_max_m)]
    if args.rotate_mb:
        argv += ["--rotate-mb", str(args.rotate_mb)]
    if args.sweep_only:
        argv += ["--sweep-only", args.sweep_only]
    if args.peers:
        argv += ["--peers", ",".join(args.peers), "--marlin-build", args.marlin_build,
                 "--vllm-machete-build", args.vllm_machete_build]
    argv += [flag for flag, on in (("--no-sweep", args.no_sweep), ("--no-graph", args.no_graph),
                                   ("--no-int4pack", args.no_int4pack)) if on]
    return argv


def _pump(stream: Any, log: Log) -> None:
    for line in iter(stream.readline, ""):
        log(line.rstrip("\n"))


def run_worker(args: argparse.Namespace, shapes: Sequence[tuple[int, int]], events: str, log: Log,
               deadline: float | None, tick: Callable[[], Any] = lambda: None, tick_s: float = 60.0) -> str:
    """Run one worker until it exits, goes silent, or the deadline passes: 'exit:<rc>' | 'hang' | 'budget'.

    tick() runs every tick_s seconds meanwhile (partial outputs, in case the whole run is killed).
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(worker_argv(args, shapes, events), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, start_new_session=True)
    next_tick = time.monotonic() + tick_s
    pump = threading.Thread(target=_pump, args=(proc.stdout, log), daemon=True)
    pump.start()
    # start-up (python + torch + CUDA init) gets 180 s; afterwards the last event's timeout applies
    last_size = os.path.getsize(events) if os.path.exists(events) else 0
    last_change, timeout = time.monotonic(), 180.0
    outcome = ""
    while True:
        rc = proc.poll()
        if rc is not None:
            outcome = f"exit:{rc}"
            break
        size = os.path.getsize(events) if os.path.exists(events) else 0
        now = time.monotonic()
        if now > next_tick:
            tick()
            next_tick = now + tick_s
        if size != last_size:
            last_size, last_change = size, now
            _, evs = load_events(events)
            timeout = float(evs[-1].get("timeout") or args.hang_timeout) if evs else 180.0
        if deadline is not None and now > deadline:
            outcome = "budget"
        elif now - last_change > timeout:
            outcome = "hang"
        if outcome:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            break
        time.sleep(0.25)
    pump.join(timeout=5)
    return outcome


def run_parent(args: argparse.Namespace) -> int:
    os.makedirs(args.out_dir, exist_ok=True)
    events = os.path.join(args.out_dir, "events.jsonl")
    log_path = os.path.join(args.out_dir, "log.txt")
    if not args.resume:
        for path in (events, log_path):
            if os.path.exists(path):
                os.remove(path)
    log = Log(log_path)
    t0 = time.monotonic()
    deadline = t0 + args.time_budget if args.time_budget else None
    log(f"bench_mm: shapes {' '.join(f'{k}x{n}' for k, n in args.shapes)}; M {args.m}; types {args.types}; "
        f"sweep {'off' if args.no_sweep else 'on'}; peers {','.join(args.peers) or 'none'}; out {args.out_dir}")
    plan = {shape: plan_keys(shape, args.m, args.types, sweep=not args.no_sweep, int4pack=not args.no_int4pack,
                             peers=args.peers)
            for shape in args.shapes}
    stopped, fruitless = "", 0
    progress = Progress(args, events, log, {key for keys in plan.values() for key in keys})
    while True:
        results, _ = load_events(events)
        todo = [key for keys in plan.values() for key in keys if key not in results]
        if not todo:
            break
        if deadline is not None and time.monotonic() > deadline:
            stopped = f"time budget ({args.time_budget:.0f} s) spent"
            break
        shapes = [shape for shape, keys in plan.items() if any(key not in results for key in keys)]
        n_before = len(results)
        outcome = run_worker(args, shapes, events, log, deadline, tick=progress, tick_s=10.0)
        if outcome == "budget":
            stopped = f"time budget ({args.time_budget:.0f} s) spent"
            break
        if outcome == "exit:0":
            break
        if outcome == "exit:2":
            # No GPU: a results file of 'not run' rows would only mislead; say so and fail.
            log("bench_mm: the worker found no CUDA device; no results written")
            return 2
        _, evs = load_events(events)
        rk = running_key(evs)
        if rk is not None:
            status = "hang" if outcome == "hang" else "crash"
            note = (f"no progress for {args.hang_timeout:.0f} s; worker killed" if outcome == "hang"
                    else f"worker {outcome}")
            EventWriter(events).result(rk, status, note=note)  # fresh writer: mends a torn last line
            log(f"  [{' '.join(map(str, rk))}] {status}: {note}; restarting the worker")
        else:
            log(f"  worker {outcome} between measurements; restarting")
        results, _ = load_events(events)
        fruitless = fruitless + 1 if len(results) == n_before else 0
        if fruitless >= 2:
            writer = EventWriter(events)
            for key in todo:
                if key not in results:
                    writer.result(key, "error", note=f"worker made no progress ({outcome})")
            break
        write_outputs(args, events, log, partial=True)
    if stopped:
        log(f"stopped early: {stopped}; the rest is 'not run'")
    rows = write_outputs(args, events, log, partial=False)
    results, _ = load_events(events)
    dev = results.get(("device",), {})
    log(summary_text(rows, dev.get("note", "")))
    log(f"wall {time.monotonic() - t0:.0f} s; files in {args.out_dir}: {' '.join(sorted(os.listdir(args.out_dir)))}")
    return 0
