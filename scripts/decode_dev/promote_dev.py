"""Device driver for the W4A8 promote-kernel harness (scripts/decode_dev/promote_harness.cu):
every configuration against the fp64 reference of the W4A8 semantics (NaN-poisoned outputs, the
W4A8 tolerance), then CUDA-graph timings with weights rotated past L2 beside torch's 8-bit GEMMs on
8-bit weights and cuBLAS fp16. Development tool.

    python3 scripts/decode_dev/promote_dev.py .devbuild/libpromote.so [--ms 256,1024,4096]
        [--splits 1,2,3,4,6,8 --out sweep.jsonl]   # forced K splits (0: the launcher's choice)
"""
from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from w4a8_dev import checked_ratio, graph_time, log, make_problem, rotated_variant_time  # noqa: E402


class Lib:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.promote_variant_name.restype = ctypes.c_char_p
        self.lib.promote_run.argtypes = [ctypes.c_int] + [ctypes.c_void_p] * 6 + [ctypes.c_int] * 3 + \
            [ctypes.c_longlong] * 3 + [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        self.lib.promote_auto_splits.argtypes = [ctypes.c_int] * 5
        self.lib.promote_workspace_floats.argtypes = [ctypes.c_int] * 5
        self.lib.promote_workspace_floats.restype = ctypes.c_longlong
        self.sms = torch.cuda.get_device_properties(0).multi_processor_count
        self.ws = torch.empty(0, dtype=torch.float32, device="cuda")
        self.variants = []
        for v in range(self.lib.promote_num_variants()):
            act, gs, tn, tm, st, mode = self.lib.promote_variant_name(v).decode().split(",")
            self.variants.append(dict(act=act.upper(), gs=gs == "true", tn=int(tn), tm=int(tm), stages=int(st),
                                      mode=int(mode)))

    def auto_splits(self, v, M, N, K):
        return self.lib.promote_auto_splits(v, M, N, K, self.sms)

    def run(self, v, p, d, splits=0):
        M, K = p["a"].shape
        N = d.shape[1]
        s = p["s"]
        need = self.lib.promote_workspace_floats(v, M, N, K, splits)
        if self.ws.numel() < need:  # grown outside graph capture (the check and sweep run it first)
            self.ws = torch.empty(need, dtype=torch.float32, device="cuda")
        rc = self.lib.promote_run(v, p["a"].data_ptr(), p["b"].data_ptr(), d.data_ptr(),
                                  s.data_ptr() if s is not None else None, p["cs"].data_ptr(), p["ts"].data_ptr(),
                                  M, N, K, p["a"].stride(0), d.stride(0), s.stride(0) if s is not None else N,
                                  p["g"], splits, self.ws.data_ptr() if need > 0 else None,
                                  torch.cuda.current_stream().cuda_stream)
        if rc != 0:
            raise RuntimeError(f"promote_run variant {v}: CUDA error {rc}")


def vname(d):
    return f"{d['act'].lower()}{'-g' if d['gs'] else '-ch'} {d['tn']}x{d['tm']} s{d['stages']} m{d['mode']}"


def check(lib, only, splits=(0,)):
    shapes = [(1, 128, 128, 128), (130, 256, 1024, 64), (256, 4096, 4096, 128), (77, 1024, 4160, 64),
              (300, 512, 8192, 128), (1024, 2048, 2048, 128), (64, 1024, 1024, 512), (200, 384, 192, 64),
              (129, 640, 4096, 4096), (100, 384, 1024, 128), (520, 1152, 2048, 128),
              # more tiles than SMs with a partial last wave: whole tiles, then a split tail
              (1200, 4096, 4096, 128), (1200, 1024, 4096, 128)]
    bad = 0
    for v, d in enumerate(lib.variants):
        if only and v not in only:
            continue
        worst = 0.0
        for (M, N, K, g) in shapes:
            if not d["gs"]:
                g = K
            p = make_problem(M, N, K, g, d["act"], d["gs"], seed=v * 100 + M, mma8=True)
            for sp in splits:
                if sp > max(1, K // 128):
                    continue
                ratio, failed = checked_ratio(lambda out: lib.run(v, p, out, sp), M, N, p["ref"],
                                              f"{vname(d)} M={M} N={N} K={K} g={g} splits={sp}")
                bad += failed
                worst = max(worst, ratio)
        log(f"check {v:2d} {vname(d):24s} worst err/tol {worst:.3f}")
    return bad


def bench(lib, ms, shapes, only):
    log(f"{'shape':>12} {'M':>5} {'variant':24s} {'us':>8} {'TOPS':>6} {'int_mm':>8} {'scaled_mm':>9} {'f16':>8}")
    for (K, N) in shapes:
        copies = max(2, int(math.ceil(160e6 / (K * N / 2))))
        for M in ms:
            a8 = torch.randint(-127, 127, (M, K), dtype=torch.int8, device="cuda")
            w8s = [torch.randint(-127, 127, (N, K), dtype=torch.int8, device="cuda").t() for _ in range(2)]
            af = torch.randn(M, K, device="cuda").to(torch.float8_e4m3fn)
            wfs = [torch.randn(N, K, device="cuda").to(torch.float8_e4m3fn).t() for _ in range(2)]
            one = torch.ones((), device="cuda")
            ah = torch.randn(M, K, device="cuda", dtype=torch.float16)
            whs = [torch.randn(K, N, device="cuda", dtype=torch.float16) for _ in range(2)]
            t_int = graph_time([lambda w=w: torch._int_mm(a8, w) for w in w8s])
            t_fp8 = graph_time([lambda w=w: torch._scaled_mm(af, w, one, one, out_dtype=torch.float16) for w in wfs])
            t_h = graph_time([lambda w=w: ah @ w for w in whs])
            del w8s, wfs, whs
            for v, d in enumerate(lib.variants):
                if only and v not in only:
                    continue
                p = make_problem(M, N, K, 128 if d["gs"] else K, d["act"], d["gs"], seed=v, mma8=True)
                t = rotated_variant_time(lib, v, p, copies)
                log(f"{K:>5}x{N:<6} {M:>5} {vname(d):24s} {t:8.1f} {2 * M * N * K / t / 1e6:6.0f} {t_int:8.1f} "
                    f"{t_fp8:9.1f} {t_h:8.1f}")
            torch.cuda.empty_cache()


def sweep(lib, ms, shapes, only, splits, out):
    """Every variant at every forced split (and the launcher's choice, 0) per point; JSON lines to out."""
    log(f"{'shape':>12} {'M':>5} {'variant':24s} " + " ".join(f"{'s' + str(s) if s else 'auto':>7}" for s in splits))
    with open(out, "a") as f:
        for (K, N) in shapes:
            copies = max(2, int(math.ceil(160e6 / (K * N / 2))))
            for M in ms:
                for v, d in enumerate(lib.variants):
                    if only and v not in only:
                        continue
                    p = make_problem(M, N, K, 128 if d["gs"] else K, d["act"], d["gs"], seed=v, mma8=True)
                    row = {}
                    bs = [p["b"]] + [p["b"].clone() for _ in range(copies - 1)]
                    auto = lib.auto_splits(v, M, N, K)
                    out_t = torch.empty((M, N), dtype=torch.float16, device="cuda")
                    for sp in splits:
                        eff = sp or auto
                        lib.run(v, p, out_t, sp)  # sizes the workspace outside the graph
                        row[sp] = graph_time([lambda b=b: lib.run(v, dict(p, b=b), out_t, sp) for b in bs])
                        f.write(json.dumps(dict(K=K, N=N, M=M, variant=vname(d), tn=d["tn"], tm=d["tm"], splits=eff,
                                                forced=bool(sp), us=row[sp], sms=lib.sms)) + "\n")
                    log(f"{K:>5}x{N:<6} {M:>5} {vname(d):24s} " + " ".join(f"{row[s]:7.1f}" for s in splits) +
                        f"  (auto = {auto})")
                    del bs
                torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lib")
    ap.add_argument("--ms", default="256,1024,4096")
    ap.add_argument("--shapes", default="4096x4096,8192x28672,28672x8192")
    ap.add_argument("--only", default="")
    ap.add_argument("--no-bench", action="store_true")
    ap.add_argument("--splits", default="", help="sweep these forced K splits (0: the launcher's choice) instead "
                                                 "of the benchmark; checks run at splits 0, 1 and 3 then")
    ap.add_argument("--out", default="promote_split_sweep.jsonl")
    args = ap.parse_args()
    lib = Lib(args.lib)
    only = {int(x) for x in args.only.split(",")} if args.only else set()
    splits = [int(x) for x in args.splits.split(",")] if args.splits else []
    log(torch.cuda.get_device_name(0))
    bad = check(lib, only, (0, 1, 3) if splits else (0,))
    log(f"checks: {bad} FAIL")
    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",")]
    if splits:
        sweep(lib, [int(m) for m in args.ms.split(",")], shapes, only, splits, args.out)
    elif not args.no_bench:
        bench(lib, [int(m) for m in args.ms.split(",")], shapes, only)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
