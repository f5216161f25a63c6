#!/usr/bin/env python3
"""The SASS instructions of one kernel that collect the most warp-stall samples.

    ncu -k regex:device_kernel --launch-skip 1 --launch-count 1 --section SourceCounters \\
        --section WarpStateStats -o prof -f python3 scripts/ncu_case.py M,N,K [SCHEDULE]
    ncu -i prof.ncu-rep --page source --print-source sass --csv > src.csv
    python3 scripts/ncu_source_top.py src.csv [--top 60]

Prints the total samples, the top instructions (address, samples, share, executed count, SASS) and
the samples summed per opcode, so a profile of a mainloop reads in a few lines.
"""
import argparse
import collections
import csv
import sys


def _num(x):
    try:
        return float(str(x).replace(",", ""))
    except (TypeError, ValueError):
        return 0.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv")
    ap.add_argument("--top", type=int, default=60)
    args = ap.parse_args(argv)
    with open(args.csv, newline="", errors="replace") as f:
        lines = [ln for ln in f if ln.strip() and not ln.startswith("==")]
    # the export may open with a "Kernel Name" line: the table starts at the header naming Source
    start = next((i for i, ln in enumerate(lines) if '"Source"' in ln or '"# Source"' in ln), 0)
    lines = lines[start:]
    # rows with more fields than the header put the rest under the key None: drop it
    rows = [{k: v for k, v in r.items() if k is not None} for r in csv.DictReader(lines)]
    if not rows:
        print("no rows", file=sys.stderr)
        return 1
    cols = list(rows[0].keys())
    samp = next((c for c in cols if "Warp Stall Sampling (All" in c), None)
    src = next((c for c in cols if c.strip() in ("Source", "# Source")), None) or cols[1]
    addr = next((c for c in cols if "Address" in c), cols[0])
    execd = next((c for c in cols if c.startswith("Instructions Executed")), None)
    if samp is None:
        print("no 'Warp Stall Sampling (All Samples)' column; columns:", cols, file=sys.stderr)
        return 1
    total = sum(_num(r[samp]) for r in rows) or 1.0
    print(f"{len(rows)} instructions, {total:.0f} stall samples; columns: {', '.join(c for c in cols if 'Stall' in c or 'Executed' in c)}")
    for r in sorted(rows, key=lambda r: -_num(r[samp]))[: args.top]:
        ex = f"{_num(r[execd]):.0f}" if execd else "-"
        print(f"{r[addr]:>8s} {_num(r[samp]):7.0f} {100 * _num(r[samp]) / total:5.1f}% exec {ex:>8s}  {r[src].strip()[:110]}")
    per_op = collections.Counter()
    for r in rows:
        text = r[src].strip()
        if text.startswith("@"):
            text = text.split(None, 1)[1] if " " in text else text
        per_op[text.split(" ")[0].split(".")[0]] += _num(r[samp])
    print("\nsamples per opcode:")
    for op, c in per_op.most_common(25):
        print(f"  {op:14s} {c:7.0f} {100 * c / total:5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
