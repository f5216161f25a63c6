#!/usr/bin/env python3
"""Per-target compile seconds from a ninja log (format v5+: start_ms end_ms mtime target hash),
printed as `ok   NAME SECONDSs` lines (the format benchmarks/fit_shard_cost.py reads), plus the
build's wall span."""
import os
import sys

rows = {}
for line in open(sys.argv[1]):
    if line.startswith("#"):
        continue
    parts = line.rstrip("\n").split("\t")
    if len(parts) < 4:
        continue
    start, end, target = int(parts[0]), int(parts[1]), parts[3]
    name = os.path.basename(target).split(".")[0]
    rows[name] = (start, end)  # a later entry for the same target wins
for name, (s, e) in sorted(rows.items(), key=lambda kv: kv[1][0]):
    print(f"ok   {name} {(e - s) / 1000:.1f}s")
if rows:
    print(f"# ninja span {(max(e for _, e in rows.values()) - min(s for s, _ in rows.values())) / 1000:.1f}s "
          f"for {len(rows)} objects")
