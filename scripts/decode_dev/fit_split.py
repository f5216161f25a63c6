"""Fit the constants of decode_kernel.cuh's choose_split to a forced-split sweep.

    python3 scripts/decode_dev/fit_split.py benchmarks/results/h100_decode_split_sweep.jsonl

The sweep is run_dev.py --sweep --out FILE: every configuration timed (CUDA graph) at every
forced cluster size 1..8, with the device's co-resident cluster counts. For each candidate
(kCtaCost, kReduceCost, kWaveCost) this replays the launcher's choice at every point and reports
how much slower the chosen split is than the best forced split (geomean and worst), beside the
previous rule (largest power of two that keeps the grid resident).
"""
from __future__ import annotations

import json
import math
import re
import sys


def load(path):
    pts = []
    for line in open(path):
        r = json.loads(line)
        if r["variant"] == "marlin":
            continue
        tn, tm, w, _st, kc = map(int, re.search(r"(\d+)x(\d+) w(\d+) s(\d+) k(\d+)", r["variant"]).groups())
        forced = {int(k): v for k, v in r["forced"].items() if v == v}
        tiles = -(-r["N"] // tn) * -(-r["M"] // tm)
        pts.append(dict(cap=r["capacity"], tiles=tiles, chunks=r["K"] // kc, warps=w, forced=forced))
    return pts


def choose(cap, tiles, chunks, warps, cta, red, wave):
    """Python twin of decode::choose_split (cap[s - 1] = clusters of s CTAs)."""
    best = None
    for s in range(1, 9):
        if s > 1 and chunks < s * warps:
            break
        cl = cap[s - 1]
        if cl < 1:
            continue
        waves = -(-tiles // cl)
        per_warp = -(-(-(-chunks // s)) // warps)
        cost = waves * (per_warp + cta + red * (s - 1) / s) + wave * (waves - 1)
        if best is None or cost < 0.99 * best[0]:
            best = (cost, s)
    return best[1]


def old_rule(cap, tiles, chunks, warps):
    s = 1
    while s < 8 and tiles * (2 * s) <= cap[0] and chunks >= 2 * (2 * s) * warps:
        s *= 2
    return s


def score(pts, pick):
    logs, worst = [], 1.0
    for p in pts:
        ratio = p["forced"][pick(p)] / min(p["forced"].values())
        logs.append(math.log(ratio))
        worst = max(worst, ratio)
    return math.exp(sum(logs) / len(logs)), worst


def main():
    pts = load(sys.argv[1])
    res = []
    for cta in (0, 1, 2, 3, 4, 6, 8):
        for red in (0, 0.5, 1, 2, 4):
            for wave in (0, 2, 4, 8, 16):
                g, w = score(pts, lambda p: choose(p["cap"], p["tiles"], p["chunks"], p["warps"], cta, red, wave))
                res.append((g, w, cta, red, wave))
    res.sort()
    print(f"{len(pts)} points")
    for g, w, cta, red, wave in res[:8]:
        print(f"kCtaCost={cta} kReduceCost={red} kWaveCost={wave}: chosen/best geomean {g:.4f}, worst {w:.3f}")
    g, w = score(pts, lambda p: choose(p["cap"], p["tiles"], p["chunks"], p["warps"], 2, 1, 4))
    print(f"shipped (2, 1, 4): geomean {g:.4f}, worst {w:.3f}")
    g, w = score(pts, lambda p: old_rule(p["cap"], p["tiles"], p["chunks"], p["warps"]))
    print(f"previous rule: geomean {g:.4f}, worst {w:.3f}")


if __name__ == "__main__":
    main()
