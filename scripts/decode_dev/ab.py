"""A/B timing of two builds of the decode harness (same VARIANTS list) on one GPU: each build in
its own process (two builds of the same kernels do not load into one), run alternately.

    python3 scripts/decode_dev/ab.py OLD.so NEW.so [--shapes KxN,...] [--ms 1,16] [--only 0,1] [--splits 0,1,2,3,4]

Splits are forced cluster sizes (0 = the launcher's choice). Prints old -> new per point and the
geomean of new / old (medians over --rounds alternating runs). --between puts a small torch kernel
between consecutive calls, as other layers' kernels would be in a model.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_dev as R  # noqa: E402


def measure(path, args):
    lib = R.Lib(path)
    only = [int(x) for x in args.only.split(",")]
    splits = [int(x) for x in args.splits.split(",")]
    res = {}
    small = torch.zeros(4096, device="cuda")
    for K, N in [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",")]:
        B, S = R.rotated_operands(K, N)
        for M in [int(x) for x in args.ms.split(",")]:
            a = (torch.randn(M, K, device="cuda") * 0.1).half()
            dout = torch.empty(M, N, dtype=torch.half, device="cuda")
            for v in only:
                d = lib.variants[v]
                if N % d["tn"]:
                    continue
                for s in splits:
                    if s > 1 and K // (16 * d["slabs"]) < s * d["warps"]:
                        continue
                    def call(i, s=s):
                        lib.run(v, a, B[i], dout, S[i], None, M, N, K, 128, s)
                        if args.between:
                            small.mul_(1.0)
                    res[f"{K}x{N} M={M} v{v} {R.vname(d)[9:]} s{s or 'A'}"] = R.rotated_time(call, len(B))
        del B, S
        torch.cuda.empty_cache()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--shapes", default="4096x4096,8192x8192,8192x10240,14336x4096,28672x8192")
    ap.add_argument("--ms", default="1,16")
    ap.add_argument("--only", default="0,1,2,3,4,11")
    ap.add_argument("--splits", default="0,1,2,3,4")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--between", action="store_true")
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.old if args.child == "old" else args.new, args)))
        return
    runs = {"old": [], "new": []}
    for _ in range(args.rounds):
        for which in ("old", "new"):
            out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--child", which], capture_output=True,
                                 text=True, check=True).stdout
            runs[which].append(json.loads(out.strip().splitlines()[-1]))
    logs = []
    for key in runs["old"][0]:
        o = sorted(r[key] for r in runs["old"])[len(runs["old"]) // 2]
        n = sorted(r[key] for r in runs["new"])[len(runs["new"]) // 2]
        logs.append(math.log(n / o))
        print(f"{key}: {o:.1f} -> {n:.1f} ({n / o:.3f})", flush=True)
    print(f"geomean new/old {math.exp(sum(logs) / len(logs)):.4f} over {len(logs)} points")


if __name__ == "__main__":
    main()
