"""Device driver for the W4A8 decode harness (scripts/decode_dev/w4a8_harness.cu): every variant
against an fp32 reference of the W4A8 semantics (forced cluster splits, NaN-poisoned outputs), then
CUDA-graph timings with weights rotated past L2, side by side with torch's 8-bit GEMMs on 8-bit
weights (`torch._int_mm`, `torch._scaled_mm`) and the memory floor. Development tool.

    python3 scripts/decode_dev/w4a8_dev.py .devbuild/libw4a8_dev.so [--ms 1,16,64] [--bw 3.0e12]
"""
from __future__ import annotations

import argparse
import ctypes
import math
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
from machete import prepack_layout as PL  # noqa: E402 (the package; its extension loads lazily)
from machete_bench.timing import Timer  # noqa: E402

_TIMER = Timer(target_ms=10)


def log(*a):
    print(*a, flush=True)


class Lib:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.w4a8_variant_name.restype = ctypes.c_char_p
        self.lib.w4a8_run.argtypes = [ctypes.c_int] + [ctypes.c_void_p] * 6 + [ctypes.c_int] * 3 + \
            [ctypes.c_longlong] * 3 + [ctypes.c_int] * 3 + [ctypes.c_void_p]
        self.variants = []
        for v in range(self.lib.w4a8_num_variants()):
            act, gs, tn, tm, w, st, sl = self.lib.w4a8_variant_name(v).decode().split(",")
            self.variants.append(dict(act=act, gs=gs == "true", tn=int(tn), tm=int(tm), warps=int(w),
                                      stages=int(st), slabs=int(sl)))
        self.sms = torch.cuda.get_device_properties(0).multi_processor_count

    def run(self, v, p, d, split=0):
        M, K = p["a"].shape
        N = d.shape[1]
        s = p["s"]
        rc = self.lib.w4a8_run(v, p["a"].data_ptr(), p["b"].data_ptr(), d.data_ptr(),
                               s.data_ptr() if s is not None else None, p["cs"].data_ptr(), p["ts"].data_ptr(),
                               M, N, K, p["a"].stride(0), d.stride(0), s.stride(0) if s is not None else N,
                               p["g"], self.sms, split, torch.cuda.current_stream().cuda_stream)
        if rc != 0:
            raise RuntimeError(f"w4a8_run variant {v}: CUDA error {rc}")


def vname(d):
    return f"{d['act']}{'-g' if d['gs'] else '-ch'} {d['tn']}x{d['tm']} w{d['warps']} s{d['stages']} k{16 * d['slabs']}"


def make_problem(M, N, K, g, act, gs, seed, dev="cuda", mma8=None):
    """Activations quantized per token (absmax), weights per channel (f32) and, with group scales,
    per group (f16, relative to the channel scale); reference in fp64 of
    D = ts[m] * cs[n] * sum_k a_q[m,k] * q[k,n] * s[k // g, n]."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(M, K, generator=gen)
    w = torch.randn(K, N, generator=gen) * (1 + torch.rand(1, N, generator=gen))
    if act == "S8":
        ts = (a.abs().amax(1) / 127).clamp(min=1e-8)
        a_q = torch.round(a / ts[:, None]).clamp(-127, 127).to(torch.int8)
        a_v = a_q.double()
    else:
        ts = (a.abs().amax(1) / 448).clamp(min=1e-8)
        a_q = (a / ts[:, None]).to(torch.float8_e4m3fn)
        a_v = a_q.double()
    cs = (w.abs().amax(0) / 7).clamp(min=1e-8)
    if gs:
        G = K // g
        wg = (w / cs).view(G, g, N)
        s = (wg.abs().amax(1) / 7).clamp(min=1e-3).half()
        q = torch.round(wg / s.float()[:, None]).clamp(-8, 7).view(K, N)
        wv = (q.view(G, g, N).double() * s.double()[:, None]).view(K, N)
    else:
        s = None
        q = torch.round(w / cs).clamp(-8, 7)
        wv = q.double()
    ref = (a_v @ wv) * cs.double()[None, :] * ts.double()[:, None]
    stored = (q + 8).to(torch.int64)
    mma8 = True if mma8 is None else mma8  # every W4A8 type: the 8-bit-MMA atom
    pre = PL.prepack(PL.pack_values(stored, 4), 4, 8, mma8=mma8)
    return dict(a=a_q.to(dev), b=pre.to(dev), s=None if s is None else s.to(dev), cs=cs.float().to(dev),
                ts=ts.float().to(dev), g=g, ref=ref.to(dev), q=q, a_f=a, w=w)


def err_ratio(out, ref):
    """Worst elementwise error over the W4A8 tolerance |out - ref| <= 2^-10 |ref| + 2^-12 max|ref|
    (f16 output rounding and fp32 accumulation order); inf if out has a non-finite value."""
    if not out.isfinite().all():
        return float("inf")
    tol = 2 ** -10 * ref.abs() + 2 ** -12 * ref.abs().max()
    return ((out.double() - ref).abs() / tol).max().item()


def checked_ratio(run, M, N, ref, label):
    """run(out) into a NaN-poisoned [M, N] f16 output; its error / tolerance against ref (a FAIL line
    when over 1 or not finite) and whether it failed. The ratio is 1e9 when not finite (for a worst)."""
    out = torch.full((M, N), float("nan"), dtype=torch.float16, device="cuda")
    run(out)
    torch.cuda.synchronize()
    ratio = err_ratio(out, ref)
    failed = not math.isfinite(ratio) or ratio > 1
    if failed:
        log(f"FAIL {label}: err/tol {ratio:.3g}")
    return (ratio if math.isfinite(ratio) else 1e9), failed


def check(lib):
    shapes = [(1, 128, 128, 128), (5, 256, 1024, 64), (8, 4096, 4096, 128), (13, 1024, 4160, 64),
              (16, 512, 28672, 128), (3, 8192, 2048, 128), (33, 512, 1024, 128), (70, 768, 1536, 64), (1, 4096, 512, 512),
              (7, 10240, 1024, 128), (16, 5120, 2048, 128)]
    bad = 0
    for v, d in enumerate(lib.variants):
        worst = 0.0
        for (M, N, K, g) in shapes:
            if N % 16 or K % (16 * d["slabs"]) or g % (16 * d["slabs"]):  # a last tile may be partial
                continue
            p = make_problem(M, N, K, g, d["act"], d["gs"], seed=v * 100 + M)
            for split in (0, 1, 2, 3, 5, 8):
                if K // (16 * d["slabs"]) < split:
                    continue
                ratio, failed = checked_ratio(lambda out: lib.run(v, p, out, split), M, N, p["ref"],
                                              f"{vname(d)} M={M} N={N} K={K} g={g} split={split}")
                bad += failed
                worst = max(worst, ratio)
        log(f"check {v:2d} {vname(d):30s} worst err/tol {worst:.3f}")
    return bad


def graph_time(fn_list):
    """Median us per call of fn_list[i % len] under a CUDA graph (the benchmark's Timer)."""
    return _TIMER.graph(lambda i: fn_list[i % len(fn_list)](), len(fn_list))


def rotated_variant_time(lib, v, p, copies):
    """Graph time of variant v on problem p, rotating over `copies` copies of its weights."""
    M, N = p["a"].shape[0], p["cs"].shape[0]
    bs = [p["b"]] + [p["b"].clone() for _ in range(copies - 1)]
    out = torch.empty((M, N), dtype=torch.float16, device="cuda")
    return graph_time([lambda b=b: lib.run(v, dict(p, b=b), out) for b in bs])


def bench(lib, ms, shapes, bw):
    log(f"{'shape':>12} {'M':>4} {'variant':30s} {'us':>8} {'floor':>7} {'x floor':>7} {'int_mm':>8} {'scaled_mm':>9}")
    for (K, N) in shapes:
        copies = max(2, int(math.ceil(160e6 / (K * N / 2))))
        for M in ms:
            floor = (K * N / 2 + K * N / 128 * 2 + N * 8 + M * K + M * N * 2) / bw * 1e6
            # torch peers on 8-bit weights (twice the weight bytes); M padded to 32 where they need it
            Mp = max(M, 32)
            a8 = torch.randint(-127, 127, (Mp, K), dtype=torch.int8, device="cuda")
            w8s = [torch.randint(-127, 127, (N, K), dtype=torch.int8, device="cuda").t() for _ in range(copies)]
            af = torch.randn(Mp, K, device="cuda").to(torch.float8_e4m3fn)
            wfs = [torch.randn(N, K, device="cuda").to(torch.float8_e4m3fn).t() for _ in range(copies)]
            one = torch.ones((), device="cuda")
            try:
                t_int = graph_time([lambda w=w: torch._int_mm(a8, w) for w in w8s])
            except Exception as e:  # noqa: BLE001
                t_int = float("nan")
                log(f"  _int_mm: {type(e).__name__}: {str(e).splitlines()[0][:100]}")
            try:
                t_fp8 = graph_time([lambda w=w: torch._scaled_mm(af, w, one, one, out_dtype=torch.float16) for w in wfs])
            except Exception as e:  # noqa: BLE001
                t_fp8 = float("nan")
                log(f"  _scaled_mm: {type(e).__name__}: {str(e).splitlines()[0][:100]}")
            del w8s, wfs
            for v, d in enumerate(lib.variants):
                if N % 16:
                    continue
                p = make_problem(M, N, K, 128, d["act"], d["gs"], seed=v)
                t = rotated_variant_time(lib, v, p, copies)
                log(f"{K:>5}x{N:<6} {M:>4} {vname(d):30s} {t:8.1f} {floor:7.1f} {t / floor:7.2f} {t_int:8.1f} {t_fp8:9.1f}")
            torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lib")
    ap.add_argument("--ms", default="1,16,64")
    ap.add_argument("--shapes", default="4096x4096,8192x28672,28672x8192,8192x57344")
    ap.add_argument("--bw", type=float, default=3.0e12, help="bytes/s for the memory floor (H100 copy)")
    ap.add_argument("--no-bench", action="store_true")
    args = ap.parse_args()
    lib = Lib(args.lib)
    log(torch.cuda.get_device_name(0))
    bad = check(lib)
    log(f"checks: {bad} FAIL")
    if not args.no_bench:
        shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",")]
        bench(lib, [int(m) for m in args.ms.split(",")], shapes, args.bw)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
