"""What one machete.mm call puts on the GPU, and what it costs there (development tool).

For each layer and M: the heuristic's schedule, the GPU operations one eager call issues (torch.profiler:
kernels, memsets, with their mean GPU durations), the call's time under a CUDA graph (weights rotated
past L2), and -- to price a memset node in a graph -- cuBLAS fp16 in a graph with and without a
cudaMemsetAsync of 4 KB before each call. Run on the GPU machine with the extension built:

    python3 scripts/decode_dev/call_profile.py --shapes 4096x4096,8192x8192 --ms 64,128,256
"""
import argparse
import collections
import ctypes
import statistics
import sys

import torch

sys.path.insert(0, ".")
sys.path.insert(0, "scripts")
import machete  # noqa: E402
from host_overhead import graph_us  # noqa: E402 (median per call of a CUDA graph of fns)
from machete import reference  # noqa: E402
from machete.scalar_types import uint4b8  # noqa: E402


def short(name):
    if "Memset" in name or "memset" in name:
        return "memset"
    for key in ("device_kernel", "decode", "promote_reduce", "reduce", "gemm", "cutlass"):
        if key in name:
            return key + ":" + name[:60]
    return name[:60]


def profile_call(fn, calls=10):
    fn()
    torch.cuda.synchronize()
    acts = [torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=acts) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    agg = collections.defaultdict(list)
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            agg[short(e.name)].append(e.device_time_total if hasattr(e, "device_time_total") else e.cuda_time_total)
    return {k: (len(v) / calls, statistics.mean(v)) for k, v in agg.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="4096x4096,8192x8192")
    ap.add_argument("--ms", default="64,128,256")
    ap.add_argument("--copies", type=int, default=8)
    args = ap.parse_args()
    cudart = ctypes.CDLL("libcudart.so.13") if sys.platform != "win32" else None
    for shape in args.shapes.split(","):
        k, n = (int(x) for x in shape.split("x"))
        w = 3 * torch.rand(k, n, device="cuda") - 1
        q = reference.quantize(w, uint4b8, 128)
        bp = machete.prepack_B(reference.pack(q.w_q, uint4b8).cuda(), torch.float16, uint4b8)
        s = q.scales.half().cuda()
        bs = [bp.clone() for _ in range(args.copies)]
        wd = q.w_ref.half().cuda()
        wds = [wd.clone() for _ in range(args.copies)]
        for m in (int(x) for x in args.ms.split(",")):
            a = (3 * torch.rand(m, k, device="cuda") - 2).half()
            sch = machete.heuristic_schedule(m, n, k, torch.float16, uint4b8, group_scales_type=torch.float16)
            fns = [lambda b=b: machete.mm(a, b, uint4b8, group_scales=s, group_size=128) for b in bs]
            ops = profile_call(fns[0])
            t = graph_us(fns)
            cub = graph_us([lambda x=x: a @ x for x in wds])
            line = f"{k}x{n} M={m:5d} {sch:44s} graph {t:7.2f} us  cuBLAS {cub:7.2f}  ops/call:"
            line += "  ".join(f" {name} x{cnt:.1f} {dur:.2f}us" for name, (cnt, dur) in sorted(ops.items()))
            print(line, flush=True)
    if cudart is not None:  # a memset node's price in a graph, beside a small cuBLAS call
        buf = torch.empty(4096, dtype=torch.uint8, device="cuda")
        a = torch.randn(64, 4096, device="cuda", dtype=torch.float16)
        ws = [torch.randn(4096, 4096, device="cuda", dtype=torch.float16) for _ in range(4)]

        def with_memset(x):
            st = torch.cuda.current_stream().cuda_stream
            rc = cudart.cudaMemsetAsync(ctypes.c_void_p(buf.data_ptr()), 0, ctypes.c_size_t(4096), ctypes.c_void_p(st))
            assert rc == 0, rc
            return a @ x

        plain = graph_us([lambda x=x: a @ x for x in ws])
        memset = graph_us([lambda x=x: with_memset(x) for x in ws])
        print(f"cuBLAS 64x4096x4096 in a graph: {plain:.2f} us; with a 4 KB memset node before each: {memset:.2f} us")


if __name__ == "__main__":
    main()
