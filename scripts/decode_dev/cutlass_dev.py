"""Device driver for the CUTLASS-path harness (scripts/decode_dev/cutlass_harness.cu): checks every
variant against an fp32 reference, then CUDA-graph times (weights rotated past L2) beside the
product's heuristic pick (machete.mm) and cuBLAS fp16. Development tool, not the product bench.

    python3 scripts/decode_dev/cutlass_dev.py LIB.so [--shapes 4096x4096,...] [--ms 128,256] [--out FILE]
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

import machete  # noqa: E402
from machete import reference  # noqa: E402
from machete.scalar_types import uint4b8  # noqa: E402


class Lib:
    def __init__(self, path, nparts):
        self.lib = ctypes.CDLL(path)
        self.lib.cutlass_variant_name.restype = ctypes.c_char_p
        self.n = self.lib.cutlass_num_variants()
        self.names = [self.lib.cutlass_variant_name(v).decode() for v in range(self.n)]
        self.parts = []
        for p in range(nparts):
            f = getattr(self.lib, f"cutlass_run_p{p}")
            f.argtypes = [ctypes.c_int] + [ctypes.c_void_p] * 4 + [ctypes.c_int] * 4 + [ctypes.c_void_p]
            self.parts.append(f)

    def run(self, v, a, b, d, s, M, N, K, g=128):
        f = self.parts[v % len(self.parts)]
        rc = f(v, a.data_ptr(), b.data_ptr(), d.data_ptr(), s.data_ptr(), M, N, K, g,
               torch.cuda.current_stream().cuda_stream)
        if rc != 0:
            raise RuntimeError(f"variant {self.names[v]} returned {rc}")


def problem(M, N, K, seed=0):
    gen = torch.Generator(device="cuda").manual_seed(seed)
    w = 3 * torch.rand(K, N, device="cuda", generator=gen) - 1
    q = reference.quantize(w, uint4b8, 128)
    b = machete.prepack_B(reference.pack(q.w_q, uint4b8), torch.float16, uint4b8)
    a = (3 * torch.rand(M, K, device="cuda", generator=gen) - 2).half()
    s = q.scales.half()
    return a, b, s


def rel(x, ref):
    return float((x.float() - ref).norm() / ref.norm())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lib")
    ap.add_argument("--nparts", type=int, default=2)
    ap.add_argument("--shapes", default="4096x4096,8192x8192")
    ap.add_argument("--ms", default="128,256")
    ap.add_argument("--only", default="", help="comma list of variant indices")
    ap.add_argument("--product-schedules", default="256x128_2x1x1_TmaMI__TmaCoop_streamK,256x64_2x1x1_TmaMI__TmaCoop_streamK",
                    help="product schedules (machete.mm schedule=) timed beside the variants")
    ap.add_argument("--out")
    args = ap.parse_args()
    lib = Lib(args.lib, args.nparts)
    only = [int(x) for x in args.only.split(",") if x] or list(range(lib.n))
    out = open(args.out, "a") if args.out else None

    # correctness: every variant against the product kernel (machete.mm, heuristic pick) and cuBLAS
    # on the dequantized weights, on an odd M and a K that is not a multiple of 256
    for (M, N, K) in [(77, 4096, 3968), (256, 2048, 4096)]:
        a, b, s = problem(M, N, K, seed=1)
        prod = machete.mm(a, b, uint4b8, group_scales=s, group_size=128)
        for v in only:
            d = torch.empty(M, N, dtype=torch.float16, device="cuda")
            d.fill_(float("nan"))
            try:
                lib.run(v, a, b, d, s, M, N, K)
                torch.cuda.synchronize()
                err = rel(d, prod.float())
            except RuntimeError as e:
                err = float("nan")
                print(f"check {lib.names[v]} {M}x{N}x{K}: {e}", flush=True)
            ok = math.isfinite(err) and err < 2e-3
            print(f"check {v} {lib.names[v]:20s} {M}x{N}x{K} rel err vs product {err:.2e} {'ok' if ok else 'FAIL'}",
                  flush=True)

    for shape in args.shapes.split(","):
        K, N = (int(x) for x in shape.split("x"))
        B, S = run_dev.rotated_operands(K, N)
        Bp = [machete.prepack_B(bb.t().contiguous().t(), torch.float16, uint4b8) for bb in B]
        for M in (int(x) for x in args.ms.split(",")):
            a = (3 * torch.rand(M, K, device="cuda") - 2).half()
            d = torch.empty(M, N, dtype=torch.float16, device="cuda")
            copies = len(Bp)
            res = {}
            for v in only:
                try:
                    lib.run(v, a, Bp[0], d, S[0], M, N, K)  # warm-up (allocates the workspace)
                    torch.cuda.synchronize()
                    res[lib.names[v]] = run_dev.rotated_time(
                        lambda i, v=v: lib.run(v, a, Bp[i], d, S[i], M, N, K), copies)
                except RuntimeError as e:
                    res[lib.names[v]] = float("nan")
                    print(e, flush=True)
            for sch in filter(None, args.product_schedules.split(",")):
                res["mm:" + sch.replace("_TmaMI__TmaCoop_streamK", "")] = run_dev.rotated_time(
                    lambda i, sch=sch: machete.mm(a, Bp[i], uint4b8, group_scales=S[i], group_size=128, schedule=sch), copies)
            res["heuristic"] = run_dev.rotated_time(
                lambda i: machete.mm(a, Bp[i], uint4b8, group_scales=S[i], group_size=128), copies)
            W = [torch.randn(K, N, device="cuda", dtype=torch.float16) for _ in range(max(2, math.ceil(200e6 / (2 * K * N))))]
            res["cublas"] = run_dev.rotated_time(lambda i: a @ W[i % len(W)], len(W))
            del W
            best = sorted(res.items(), key=lambda kv: kv[1] if math.isfinite(kv[1]) else 1e9)
            print(f"{K}x{N} M={M}: " + "  ".join(f"{k} {t:.1f}" for k, t in best), flush=True)
            if out:
                out.write(json.dumps(dict(K=K, N=N, M=M, us=res)) + "\n")
                out.flush()


if __name__ == "__main__":
    main()
