"""Device driver for the decode-kernel harness (scripts/decode_dev/harness.cu): correctness of every
compiled variant against an fp32 reference, then CUDA-graph timings with weights rotated past L2,
side by side with vLLM's Marlin (if built) and cuBLAS fp16. Development tool, not the product bench.

    python3 scripts/decode_dev/run_dev.py LIB.so [--marlin KITDIR] [--shapes 4096x4096,...] [--ms 1,16]
"""
from __future__ import annotations

import argparse
import ctypes
import json
import importlib.util
import math
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _load(name, *path):
    """A repo module by file path (the machete package would import its extension)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, *path))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


sys.path.insert(0, ROOT)
from machete import prepack_layout as PL  # noqa: E402 (the package; its extension loads lazily)
_TIMER = _load("bench_mm", "benchmarks", "bench_mm.py").Timer(target_ms=10)


def log(*a):
    print(*a, flush=True)


class Lib:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.decode_variant_name.restype = ctypes.c_char_p
        self.lib.decode_run.argtypes = [ctypes.c_int] + [ctypes.c_void_p] * 5 + [ctypes.c_int] * 3 + \
            [ctypes.c_longlong] * 3 + [ctypes.c_int] * 3 + [ctypes.c_void_p]
        self.n = self.lib.decode_num_variants()
        self.variants = []
        for v in range(self.n):
            f = self.lib.decode_variant_name(v).decode().split(",")
            bf, bits, sg, zr, tn, tm, w, st, sl = f[:9]
            fo = f[9] if len(f) > 9 else "false"  # scale-folding experiment (not shipped)
            self.variants.append(dict(bf16=bf == "true", bits=int(bits), signed=sg == "true", zeros=zr == "true",
                                      tn=int(tn), tm=int(tm), warps=int(w), stages=int(st), slabs=int(sl), fold=fo == "true"))
        self.sms = torch.cuda.get_device_properties(0).multi_processor_count
        self.lib.decode_split.argtypes = [ctypes.c_int] * 5

    def capacity(self, v):
        return [self.lib.decode_capacity(v, s) for s in range(1, 9)]

    def auto_split(self, v, M, N, K):
        return self.lib.decode_split(v, M, N, K, self.sms)

    def run(self, v, a, b, d, s, z, M, N, K, g, split=0):
        rc = self.lib.decode_run(v, a.data_ptr(), b.data_ptr(), d.data_ptr(), s.data_ptr(),
                                 z.data_ptr() if z is not None else None, M, N, K, a.stride(0), d.stride(0),
                                 s.stride(0), g, self.sms, split, torch.cuda.current_stream().cuda_stream)
        if rc != 0:
            raise RuntimeError(f"decode_run variant {v}: CUDA error {rc}")


def vname(d):
    t = ("bf16" if d["bf16"] else "f16") + ("-u%db%d" % (d["bits"], 1 << (d["bits"] - 1)) if d["signed"] else "-u%d" % d["bits"])
    return f"{t} {d['tn']}x{d['tm']} w{d['warps']} s{d['stages']} k{16 * d['slabs']}{' fold' if d['fold'] else ''}"


def make_problem(M, N, K, g, d, seed):
    gen = torch.Generator().manual_seed(seed)
    dt = torch.bfloat16 if d["bf16"] else torch.float16
    bits = d["bits"]
    a = (3 * torch.rand(M, K, generator=gen) - 2).to(dt)
    w = 3 * torch.rand(K, N, generator=gen) - 1
    G = K // g
    wg = w.view(G, g, N)
    qmax = (1 << bits) - 1
    if d["signed"]:  # GPTQ symmetric: stored = x + 2^(bits-1)
        half = 1 << (bits - 1)
        s = (wg.abs().amax(1) / (half - 1)).clamp(min=1e-6).to(dt).float()
        x = torch.round(wg / s[:, None]).clamp(-half, half - 1)
        stored = (x + half).to(torch.int64).view(K, N)
        deq = (x * s[:, None]).view(K, N)
        z = None
    else:  # AWQ asymmetric: w = (q - zp) * s = q * s + z, z = -zp * s
        lo, hi = wg.amin(1), wg.amax(1)
        s = ((hi - lo) / qmax).clamp(min=1e-6).to(dt).float()
        zp = torch.round(-lo / s).clamp(0, qmax)
        z = (-zp * s).to(dt).float()
        q = torch.round(wg / s[:, None] + zp[:, None]).clamp(0, qmax)
        stored = q.to(torch.int64).view(K, N)
        deq = (q * s[:, None] + z[:, None]).view(K, N)
    packed = PL.pack_values(stored, bits)
    flip = (1 << (bits - 1)) if d["signed"] else 0
    pre = PL.prepack(packed, bits, flip)
    ref = a.float() @ deq
    dev = "cuda"
    return dict(a=a.to(dev), b=pre.to(dev), s=s.to(dt).to(dev), z=None if z is None else z.to(dt).to(dev),
                ref=ref.to(dev), dt=dt)


def check(lib, quick, only=()):
    shapes = [(1, 128, 128, -1), (5, 256, 1024, 64), (8, 4096, 4096, 128), (13, 1024, 4160, 64),
              (16, 512, 28672, 128), (3, 8192, 2048, 128), (33, 512, 1024, 128), (2, 768, 1536, 64), (1, 4096, 512, -1),
              (7, 10240, 1024, 128), (16, 6144, 512, 64), (3, 28672, 512, 128), (9, 5120, 2048, 128), (1, 15360, 256, -1),
              (32, 4160, 1024, 128), (16, 1280, 640, 128), (64, 2048, 1024, 128), (97, 4160, 512, 64), (5, 14336, 512, 128), (3, 12288, 256, 64)]
    bad = 0
    for v, d in enumerate(lib.variants):
        if only and v not in only:
            continue
        worst = 0.0
        for (M, N, K, g) in shapes:
            if quick and N * K > 4096 * 4096 and d != lib.variants[0]:
                continue
            if N % 16:  # tiles need not divide N: the last one is partial
                continue
            gg = K if g == -1 else g
            p = make_problem(M, N, K, gg, d, seed=v * 100 + M)
            for split in (0, 1, 2, 3, 5, 8):
                if split and (K // 64) < split:
                    continue
                out = torch.full((M, N), float("nan"), dtype=p["dt"], device="cuda")
                if K % (16 * d["slabs"]) or gg % (16 * d["slabs"]):
                    continue
                lib.run(v, p["a"], p["b"], out, p["s"], p["z"], M, N, K, gg, split)
                torch.cuda.synchronize()
                err = ((out.float() - p["ref"]).norm() / p["ref"].norm()).item()
                if not math.isfinite(err) or err > 2e-2:
                    log(f"FAIL {vname(d)} M={M} N={N} K={K} g={g} split={split}: rel err {err:.3e}")
                    bad += 1
                worst = max(worst, err if math.isfinite(err) else 1e9)
        log(f"check {v:2d} {vname(d):32s} worst rel err {worst:.2e}")
    return bad


def graph_time(fns, reps=20):
    """Per-call time (us) of a list of calls (rotating buffers) captured in one CUDA graph: the
    benchmark's own graph timer (benchmarks/bench_mm.py Timer.graph), one call per list entry."""
    return _TIMER.graph(lambda i: fns[i % len(fns)](), n_rot=len(fns), calls=len(fns), replays=reps)


def rotated_operands(K, N):
    """Random packed 4-bit weights [K / 8, N] and f16 group scales (g = 128), in enough copies
    (at least 2) to exceed 200 MB, so timed calls that rotate through them read DRAM, not L2."""
    copies = max(2, math.ceil(200e6 / (K * N // 2)))
    B = [torch.randint(-2**31, 2**31 - 1, (K // 8, N), dtype=torch.int32, device="cuda") for _ in range(copies)]
    S = [(torch.rand(K // 128, N, device="cuda") * 1e-2).half() for _ in range(copies)]
    return B, S


def rotated_time(fn, copies):
    """graph_time of fn(i) rotating over `copies` operand copies, at least 24 calls per graph."""
    return graph_time([lambda i=i: fn(i) for i in range(copies)] * max(1, 24 // copies))


SPLITS = (1, 2, 3, 4, 5, 6, 7, 8)


def bench(lib, shapes, ms, marlin_kit, only, sweep=False, out=None):
    mb = None
    if marlin_kit:
        sys.path.insert(0, marlin_kit)
        try:
            import bench as mb  # the kit's helpers (registers torch.ops.vllm_marlin)
            ws = mb.marlin_make_workspace("cuda")
        except Exception as e:  # noqa: BLE001
            log(f"marlin unavailable: {e}")
            mb = None
    variants = [v for v, d in enumerate(lib.variants) if not d["bf16"] and d["bits"] == 4 and d["signed"]]
    if only:
        variants = [v for v in variants if v in only]
    for v in variants:
        log(f"v{v} {vname(lib.variants[v])}: co-resident clusters of 1..8 CTAs {lib.capacity(v)}")
    log("K N M | floor | " + " | ".join(f"v{v}" for v in variants) + " | marlin | cublas"
        + (f"   (sweep: auto[split] then forced splits {'/'.join(map(str, SPLITS))})" if sweep else ""))
    rec = open(out, "a") if out else None
    for K, N in shapes:
        wbytes = K * N // 2
        B, S = rotated_operands(K, N)
        copies = len(B)
        for M in ms:
            a = (torch.randn(M, K, device="cuda") * 0.1).half()
            dout = torch.empty(M, N, dtype=torch.half, device="cuda")
            floor = (wbytes + K // 128 * N * 2 + M * K * 2 + M * N * 2) / 3.0e12 * 1e6
            row = [f"{K} {N} {M}", f"{floor:.1f}"]
            if M == ms[0]:
                t = rotated_time(lambda i: torch.sum(B[i]), copies)
                log(f"read floor {K}x{N}: torch.sum over the int4 weights {t:.1f} us = {wbytes / t / 1e6:.2f} TB/s")
            for v in variants:
                if N % 16:
                    row.append("-")
                    continue
                try:
                    res = []
                    chunks = K // (16 * lib.variants[v]["slabs"])
                    for split in ((0,) + SPLITS if sweep else (0,)):
                        if split > 1 and chunks < split * lib.variants[v]["warps"]:
                            res.append(float("nan"))
                            continue
                        t = rotated_time(lambda i: lib.run(v, a, B[i], dout, S[i], None, M, N, K, 128, split), copies)
                        res.append(t)
                    auto = lib.auto_split(v, M, N, K)
                    row.append(f"{res[0]:.1f}[{auto}]" + (f" ({'/'.join(f'{x:.1f}' for x in res[1:])})" if sweep else ""))
                    if rec:
                        rec.write(json.dumps(dict(device=torch.cuda.get_device_name(), variant=vname(lib.variants[v]),
                                                  v=v, K=K, N=N, M=M, auto=auto, auto_us=res[0],
                                                  forced=dict(zip(SPLITS, res[1:])) if sweep else {},
                                                  capacity=lib.capacity(v))) + "\n")
                        rec.flush()
                except Exception as e:  # noqa: BLE001
                    row.append("ERR")
                    log(f"v{v}: {e}")
            if mb is not None:
                try:
                    wm = [mb.gptq_marlin_repack(B[i], K, N) for i in range(copies)]
                    sm = [mb.marlin_permute_scales(S[i], K, N, 128) for i in range(copies)]
                    zp = mb.marlin_make_empty("cuda")
                    t = rotated_time(lambda i: mb.apply_gptq_marlin_linear(a, wm[i], sm[i], zp, ws, N, K), copies)
                    row.append(f"{t:.1f}")
                    if rec:
                        rec.write(json.dumps(dict(device=torch.cuda.get_device_name(), variant="marlin",
                                                  K=K, N=N, M=M, auto_us=t)) + "\n")
                    del wm, sm
                except Exception as e:  # noqa: BLE001
                    row.append("ERR")
                    log(f"marlin: {e}")
            else:
                row.append("-")
            w16 = torch.randn(K, N, device="cuda", dtype=torch.half) * 0.01 if wbytes * 4 < 4e9 else None
            if w16 is not None:
                t = graph_time([lambda: torch.matmul(a, w16)] * 8)
                row.append(f"{t:.1f}")
                del w16
            log(" | ".join(row))
        del B, S
        torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lib")
    ap.add_argument("--marlin", default="")
    ap.add_argument("--shapes", default="4096x6144,4096x4096,4096x28672,14336x4096,8192x10240,8192x8192,"
                                        "8192x57344,28672x8192")
    ap.add_argument("--ms", default="1,16")
    ap.add_argument("--only", default="")
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sweep", action="store_true", help="also time forced cluster splits 1..8")
    ap.add_argument("--out", default="", help="append one JSON line per timed point to this file")
    ap.add_argument("--once", action="store_true", help="launch each selected variant 3 times (for ncu), no timing")
    args = ap.parse_args()
    lib = Lib(args.lib)
    only = [int(x) for x in args.only.split(",") if x]
    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",") if s]
    ms = [int(x) for x in args.ms.split(",")]
    if args.once:
        for K, N in shapes:
            B = torch.randint(-2**31, 2**31 - 1, (K // 8, N), dtype=torch.int32, device="cuda")
            S = (torch.rand(K // 128, N, device="cuda") * 1e-2).half()
            for M in ms:
                a = (torch.randn(M, K, device="cuda") * 0.1).half()
                out = torch.empty(M, N, dtype=torch.half, device="cuda")
                for v in only:
                    for _ in range(3):
                        lib.run(v, a, B, out, S, None, M, N, K, 128)
        torch.cuda.synchronize()
        return
    log(f"device {torch.cuda.get_device_name()} sms {lib.sms}; {lib.n} variants")
    t0 = time.time()
    bad = 0 if args.no_check else check(lib, args.quick, only)
    log(f"CHECK failures: {bad} ({time.time() - t0:.0f}s)")
    bench(lib, shapes, ms, args.marlin, only, args.sweep, args.out or None)
    log(f"total {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
