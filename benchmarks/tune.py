#!/usr/bin/env python3
"""Tuner: measured per-schedule times -> a heuristic table the generator lowers.

Measuring is bench_mm.py's sweep (every schedule timed at every point, rotated weights, checked
against cuBLAS); this script turns its events.jsonl into a heuristic and scores it.

    # on the GPU machine, tuning grid (SPEC §7 shapes, docs/SPEC.md) and held-out shapes (Llama-2-13B, Qwen2.5-32B);
    # --graph-max-m 4096 times every point under a CUDA graph too (kernel time, not host overhead)
    python3 benchmarks/bench_mm.py --types u4b8-g128-f16 --no-int4pack --graph-max-m 4096 --out-dir $OUT/tune
    python3 benchmarks/bench_mm.py --types u4b8-g128-f16 --no-int4pack --graph-max-m 4096 --shapes heldout --out-dir $OUT/heldout
    # anywhere
    python3 benchmarks/tune.py fit --events tune/events.jsonl --out h100_tuned.json
    python3 benchmarks/tune.py score --events heldout/events.jsonl --table h100_tuned.json  # vs the built-in h100
    python3 generate_machete.py --heuristic-table h100_tuned.json
    # anywhere, no measurements: where a table picks differently from another (for reviewing a rule change)
    python3 benchmarks/tune.py diff --table h100_tuned.json --shapes spec --m 1,16,64,256

Only measurements whose correctness check passed count; a schedule that failed or hung at a
point is treated as infinitely slow there.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from machete_ir.heuristic_table import dump_heuristic, load_heuristic  # noqa: E402
from machete_ir.model import (H100_HEURISTIC, W4A8_CHANNEL_HEURISTIC, W4A8_CHANNEL_SCHEDULES,  # noqa: E402
                              W4A8_HEURISTIC, W4A8_SCHEDULES, sanitize_heuristic_name)
from machete_ir.tuning import geomean_speedup, pick_over_best, tune_heuristic  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from machete_bench.cli import parse_ms, parse_shapes  # noqa: E402  (torch-free)
from machete_bench.problem import SPEC_MS, SPEC_SHAPES  # noqa: E402


def read_times(events_path: Path, bench_type: str) -> dict[tuple[int, int, int], dict[str, float]]:
    """{(M, N, K): {schedule: us}} from bench_mm events (checked results only)."""
    times: dict[tuple[int, int, int], dict[str, float]] = {}
    for line in Path(events_path).read_text().splitlines():
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line from a killed worker
        key = ev.get("key", [])
        if ev.get("ev") != "result" or len(key) != 6 or key[3] != bench_type or key[4] != "sched":
            continue
        k, n, m, _, _, sched = key
        # the lower of the eager and CUDA-graph figures, as the benchmark's own ratios use: under
        # a graph the host overhead of each call does not hide the kernel's own time
        us = min((v for v in (ev.get("us"), ev.get("graph_us")) if v), default=None) \
            if ev.get("status") == "ok" else None
        times.setdefault((m, n, k), {})[sched] = us if us else math.inf
    # keep points where at least one schedule produced a valid time
    return {p: row for p, row in times.items() if any(math.isfinite(v) for v in row.values())}


# bench_w4a8.py's per-type columns: "<type>@<tile><kind>" (kind D: decode, P: promote, none: CUTLASS)
W4A8_TYPES = {"s8_g128": W4A8_HEURISTIC, "e4m3_g128": W4A8_HEURISTIC, "e4m3_ch": W4A8_HEURISTIC,
              "s8_ch": W4A8_CHANNEL_HEURISTIC}


def _w4a8_schedule(label: str, schedules) -> str | None:
    """'128x64P' -> 128x64_s6_PromoteWgmma (the schedule of that tile and kind among `schedules`)."""
    kind = {"D": "is_decode", "P": "is_promote"}.get(label[-1:])
    tile = label[:-1] if kind else label
    hits = [s.name for s in dict.fromkeys(schedules) if s.name.split("_")[0] == tile and
            (getattr(s, kind) if kind else not (s.is_decode or s.is_promote))]
    return hits[0] if len(hits) == 1 else None


def read_w4a8_times(csv_paths, w4a8_type: str) -> dict[tuple[int, int, int], dict[str, float]]:
    """{(M, N, K): {schedule: us}} from bench_w4a8.py CSVs (their forced-schedule columns for one
    type); a later file's figure for a point and schedule replaces an earlier one's."""
    schedules = W4A8_SCHEDULES + W4A8_CHANNEL_SCHEDULES
    times: dict[tuple[int, int, int], dict[str, float]] = {}
    for path in csv_paths:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("M", "N", "K") if c not in (reader.fieldnames or ())]
            if missing:
                raise ValueError(f"{path}: not a bench_w4a8.py CSV (no column {', '.join(missing)})")
            # the type's columns and their schedules, resolved once per file
            names = {}
            for col in reader.fieldnames or ():
                if col.startswith(w4a8_type + "@"):
                    names[col] = _w4a8_schedule(col.split("@", 1)[1], schedules)
                    if names[col] is None:
                        raise ValueError(f"{path}: column {col!r} names no single W4A8 schedule")
            for row in reader:
                point = (int(row["M"]), int(row["N"]), int(row["K"]))
                for col, name in names.items():
                    try:
                        us = float(row[col])
                    except (TypeError, ValueError):
                        us = math.nan
                    times.setdefault(point, {})[name] = us if math.isfinite(us) and us > 0 else math.inf
    return {p: row for p, row in times.items() if any(math.isfinite(v) for v in row.values())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tune.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    fit = sub.add_parser("fit", help="fit a heuristic to measured times and write the table")
    fit.add_argument("--events", type=Path, action="append", help="bench_mm.py events.jsonl (repeatable)")
    fit.add_argument("--type", default="u4b8-g128-f16", help="bench type whose sweep to use")
    fit.add_argument("--w4a8-csv", type=Path, action="append",
                     help="bench_w4a8.py CSV with forced-schedule columns, instead of --events (repeatable; "
                          "later files win)")
    fit.add_argument("--w4a8-type", choices=sorted(W4A8_TYPES), default="s8_g128",
                     help="with --w4a8-csv: whose columns to use")
    fit.add_argument("--out", type=Path, required=True)
    fit.add_argument("--name", default="h100_tuned",
                     help="table name; other characters than letters, digits and '_' become '_'")
    score = sub.add_parser("score", help="geomean speedup of a table over a baseline (default: the built-in h100 heuristic)")
    score.add_argument("--events", type=Path, action="append", help="bench_mm.py events.jsonl (repeatable)")
    score.add_argument("--type", default="u4b8-g128-f16")
    score.add_argument("--w4a8-csv", type=Path, action="append",
                       help="bench_w4a8.py CSV with forced-schedule columns, instead of --events (repeatable; "
                            "later files win); the default baseline is then the built-in W4A8 table of the type")
    score.add_argument("--w4a8-type", choices=sorted(W4A8_TYPES), default="s8_g128")
    score.add_argument("--table", type=Path, required=True)
    score.add_argument("--baseline", type=Path, default=None,
                       help="a table to compare against (default: the built-in h100 heuristic)")
    diff = sub.add_parser("diff", help="where two tables pick differently over a grid of shapes and M (no "
                                       "measurements needed)")
    diff.add_argument("--table", type=Path, required=True)
    diff.add_argument("--baseline", type=Path, default=None,
                      help="the table to compare against (default: the built-in h100 heuristic)")
    diff.add_argument("--shapes", type=parse_shapes, default=list(SPEC_SHAPES),
                      help="KxN list, 'spec' (default) or 'heldout'")
    diff.add_argument("--m", type=parse_ms, default=list(SPEC_MS), help="M list (default: the SPEC grid)")
    args = p.parse_args(argv)
    if args.cmd == "diff":
        return _one_line_errors(_diff, args)

    if bool(args.events) == bool(args.w4a8_csv):
        print("tune.py: error: give --events (bench_mm.py) or --w4a8-csv (bench_w4a8.py), not both or neither",
              file=sys.stderr)
        return 2
    sources = args.events or args.w4a8_csv
    missing = [e for e in sources if not e.is_file()]
    if missing:
        print(f"tune.py: error: no such {'events' if args.events else 'CSV'} file: {missing[0]}", file=sys.stderr)
        return 2
    times: dict = {}
    if args.events:
        for e in args.events:
            times.update(read_times(e, args.type))
        default = H100_HEURISTIC
        what = args.type
    else:
        try:
            times = read_w4a8_times(args.w4a8_csv, args.w4a8_type)
        except (ValueError, OSError, UnicodeDecodeError) as e:
            print(f"tune.py: error: {e}", file=sys.stderr)
            return 2
        default = W4A8_TYPES[args.w4a8_type]
        what = args.w4a8_type
    if not times:
        print(f"tune.py: error: no checked per-schedule times for type {what} in "
              f"{', '.join(map(str, sources))}", file=sys.stderr)
        return 2
    return _one_line_errors(_fit if args.cmd == "fit" else _score, args, times, default)


def _one_line_errors(command, *args) -> int:
    """command(*args); an unreadable table, no point with both picks measured, ... is one line, exit 2."""
    try:
        return command(*args)
    except (ValueError, OSError) as e:
        print(f"tune.py: error: {e}", file=sys.stderr)
        return 2


def _fit(args, times, default) -> int:
    name = sanitize_heuristic_name(args.name)  # it becomes part of a C++ identifier
    if name != args.name:
        print(f"tune.py: table name {args.name!r} written as {name!r} (letters, digits and "
              f"single underscores)", file=sys.stderr)
    h = tune_heuristic(times, name=name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump_heuristic(h))
    print(f"tune.py: {len(h.rules)} rules from {len(times)} points -> {args.out}; "
          f"geomean speedup over the built-in {default.name} heuristic on the tuning points: "
          f"{geomean_speedup(times, default, h):.3f}x")
    return 0


def _score(args, times, default) -> int:
    h = load_heuristic(args.table)
    base = load_heuristic(args.baseline) if args.baseline else default
    print(f"tune.py: {args.table.name} vs {base.name} on {len(times)} points: "
          f"geomean speedup {geomean_speedup(times, base, h):.3f}x")
    for label, table in (("baseline", base), ("table", h)):
        g, worst, point, n = pick_over_best(times, table)
        m, nn, k = point
        print(f"  {label} {table.name}: pick / best measured {g:.3f} over {n} points, worst {worst:.2f} "
              f"at {k}x{nn} M={m}")
    return 0


def _diff(args) -> int:
    """One line per grid point where the picks differ, then a count; exit 0 either way."""
    h = load_heuristic(args.table)
    base = load_heuristic(args.baseline) if args.baseline else H100_HEURISTIC
    points = [(k, n, m) for k, n in args.shapes for m in args.m]
    differ = [(k, n, m, base.select(m, n, k).name, h.select(m, n, k).name) for k, n, m in points]
    differ = [d for d in differ if d[3] != d[4]]
    new = f"{args.table.name} ({h.name})"
    old = f"{args.baseline.name} ({base.name})" if args.baseline else f"the built-in {base.name}"
    print(f"tune.py: {new} vs {old}: {len(differ)} of {len(points)} points pick differently "
          f"({len(args.shapes)} shapes x {len(args.m)} M)")
    if differ:
        print(f"  {'K x N':>13} {'M':>5}  baseline -> table")
    for k, n, m, was, now in differ:
        print(f"  {f'{k}x{n}':>13} {m:>5}  {was} -> {now}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
