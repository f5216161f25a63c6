"""Device driver for cutlass_knobs.cu: the product's CUTLASS schedules with the stream-K scheduler's
run-time arguments overridden (decomposition, splits, swizzle, raster order), checked against the
product kernel, then CUDA-graph timed (weights rotated past L2) beside the defaults, in one run.
Development tool.

    python3 scripts/decode_dev/cutlass_knobs.py LIB.so [--shapes 4096x4096,...] [--ms 128,256] [--out FILE]
"""
from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)
import run_dev  # noqa: E402 (graph timer, rotated operands)
from cutlass_dev import problem, rel  # noqa: E402

import machete  # noqa: E402
from machete.scalar_types import uint4b8  # noqa: E402

SCHEDULES = {"128x64": 0, "128x128": 1, "256x128": 2, "256x64": 3}  # part index
# name: (decomposition, splits, swizzle, raster); the first is make_arguments' own setting
KNOBS = {
    "default": (0, 1, 1, 0),
    "swz2": (0, 1, 2, 0), "swz4": (0, 1, 4, 0),
    "alongM": (0, 1, 1, 1), "alongN": (0, 1, 1, 2),
    "dp": (1, 1, 1, 0), "splitk2": (2, 2, 1, 0), "splitk3": (2, 3, 1, 0), "splitk4": (2, 4, 1, 0),
    "streamk": (3, 1, 1, 0),
}


class Lib:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.fns = {}
        for name, p in SCHEDULES.items():
            f = getattr(self.lib, f"knob_run_p{p}")
            f.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int] * 4 + [ctypes.c_void_p] + [ctypes.c_int] * 4
            self.fns[name] = f

    def run(self, sch, knob, a, b, d, s, M, N, K, g=128):
        rc = self.fns[sch](a.data_ptr(), b.data_ptr(), d.data_ptr(), s.data_ptr(), M, N, K, g,
                           torch.cuda.current_stream().cuda_stream, *KNOBS[knob])
        if rc != 0:
            raise RuntimeError(f"{sch} {knob} returned {rc}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lib")
    ap.add_argument("--shapes", default="4096x4096,8192x8192")
    ap.add_argument("--ms", default="128,256")
    ap.add_argument("--knobs", default=",".join(KNOBS))
    ap.add_argument("--repeat", type=int, default=1, help="time every knob this many times, interleaved; report medians")
    ap.add_argument("--out")
    args = ap.parse_args()
    lib = Lib(args.lib)
    knobs = args.knobs.split(",")
    out = open(args.out, "a") if args.out else None

    fails = 0
    for (M, N, K) in [(77, 4096, 3968), (256, 2048, 4096)]:
        a, b, s = problem(M, N, K, seed=1)
        prod = machete.mm(a, b, uint4b8, group_scales=s, group_size=128)
        for sch in SCHEDULES:
            for knob in knobs:
                d = torch.full((M, N), float("nan"), dtype=torch.float16, device="cuda")
                try:
                    lib.run(sch, knob, a, b, d, s, M, N, K)
                    torch.cuda.synchronize()
                    err = rel(d, prod.float())
                except RuntimeError as e:
                    print(f"check {sch} {knob} {M}x{N}x{K}: {e}", flush=True)
                    continue  # not implementable with these arguments
                ok = math.isfinite(err) and err < 2e-3
                fails += not ok
                if not ok:
                    print(f"check {sch} {knob} {M}x{N}x{K} rel err vs product {err:.2e} FAIL", flush=True)
    print(f"checks done, {fails} FAIL", flush=True)

    for shape in args.shapes.split(","):
        K, N = (int(x) for x in shape.split("x"))
        B, S = run_dev.rotated_operands(K, N)
        Bp = [machete.prepack_B(bb.t().contiguous().t(), torch.float16, uint4b8) for bb in B]
        for M in (int(x) for x in args.ms.split(",")):
            pick = machete.heuristic_schedule(M, N, K, torch.float16, uint4b8, group_scales_type=torch.float16)
            sch = pick.split("_")[0]
            if sch not in SCHEDULES or "streamK" not in pick:
                print(f"{K}x{N} M={M}: heuristic {pick} not in this harness", flush=True)
                continue
            a = (3 * torch.rand(M, K, device="cuda") - 2).half()
            d = torch.empty(M, N, dtype=torch.float16, device="cuda")
            runs = {k: [] for k in knobs + ["mm"]}
            for _ in range(args.repeat):
                for knob in knobs:
                    try:
                        lib.run(sch, knob, a, Bp[0], d, S[0], M, N, K)  # warm-up (allocates the workspace)
                        torch.cuda.synchronize()
                        runs[knob].append(run_dev.rotated_time(
                            lambda i, knob=knob: lib.run(sch, knob, a, Bp[i], d, S[i], M, N, K), len(Bp)))
                    except RuntimeError:
                        runs[knob].append(float("nan"))
                runs["mm"].append(run_dev.rotated_time(
                    lambda i: machete.mm(a, Bp[i], uint4b8, group_scales=S[i], group_size=128), len(Bp)))
            res = {k: sorted(v)[len(v) // 2] for k, v in runs.items()}
            base = res["default"]
            print(f"{K}x{N} M={M} {sch}: " + "  ".join(f"{k} {t:.1f}" + (f" ({base / t:.3f}x)" if k != "default" and math.isfinite(t) else "")
                                              for k, t in res.items()), flush=True)
            if out:
                out.write(json.dumps(dict(K=K, N=N, M=M, schedule=sch, us=res, runs=runs)) + "\n")
                out.flush()


if __name__ == "__main__":
    main()
