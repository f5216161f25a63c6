#!/usr/bin/env python3
"""Where does an eager machete.mm call spend its time? Per-call host cost of each layer
(public API -> torch.ops custom op -> machete._C -> C++), against the kernel time under a CUDA
graph and cuBLAS under a graph, over a few shapes and M. Run on the GPU machine with the
extension built."""
import statistics
import sys
import time

import torch

sys.path.insert(0, ".")
import machete  # noqa: E402
from machete import _C, reference  # noqa: E402
from machete.scalar_types import uint4b8  # noqa: E402


def host_us(fn, n=300):
    for _ in range(20):
        fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / n * 1e6


def graph_us(fns, reps=20):
    """Median per call of a CUDA graph that calls each fn once (fns rotate weight copies)."""
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        for f in fns:
            f()
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g, stream=s):
        for f in fns:
            f()
    times = []
    for _ in range(reps):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        g.replay()
        e1.record()
        torch.cuda.synchronize()
        times.append(e0.elapsed_time(e1) * 1000 / len(fns))
    return statistics.median(times)


def setup(m, n, k, copies):
    a = (3 * torch.rand(m, k, device="cuda") - 2).half()
    w = 3 * torch.rand(k, n, device="cuda") - 1  # quantize on the GPU: the big shapes are slow on CPU
    q = reference.quantize(w, uint4b8, 128)
    packed = reference.pack(q.w_q, uint4b8).cuda()
    bp = machete.prepack_B(packed, torch.float16, uint4b8)
    s = q.scales.half().cuda()
    bs = [bp.clone() for _ in range(copies)]
    wd = q.w_ref.half().cuda()
    ws = [wd.clone() for _ in range(copies)]
    return a, bs, s, ws


def _without_plans(fn):
    """fn with validate_mm_args's dtype-level plan cache off (every call validates in full, as
    before the cache existed)."""
    from machete import ops
    key = ops._plan_key
    ops._plan_key = lambda *args: None
    try:
        return fn()
    finally:
        ops._plan_key = key


print("# host cost per eager call (us), 4096x4096 (KxN), M=1, u4b8 g128 f16")
a, bs, s, ws = setup(1, 4096, 4096, 1)
b = bs[0]
sched = machete.heuristic_schedule(1, 4096, 4096, torch.float16, uint4b8, torch.float16)
rows = {
    "machete.mm (public API)": lambda: machete.mm(a, b, uint4b8, group_scales=s, group_size=128),
    "machete.mm schedule=name": lambda: machete.mm(a, b, uint4b8, group_scales=s, group_size=128, schedule=sched),
    "machete.mm, full validation every call": lambda: _without_plans(
        lambda: machete.mm(a, b, uint4b8, group_scales=s, group_size=128)),
    "torch.ops.machete.mm": lambda: torch.ops.machete.mm(a, b, uint4b8.id, None, s, None, 128, None, None, None),
    "machete._C.mm (no validation, no op)": lambda: _C.mm(a, b, uint4b8.id, torch.float16, s, None, 128, None, None, None),
    "torch.empty(M,N) alone": lambda: torch.empty(1, 4096, dtype=torch.float16, device="cuda"),
    "torch.matmul fp16": lambda: torch.matmul(a, ws[0]),
}
for name, fn in rows.items():
    print(f"{name:40s} {host_us(fn):8.1f}")

if "--host-only" in sys.argv:
    sys.exit(0)
print("\n# kernel time under a CUDA graph (us), weights rotated over >=400 MB, u4b8 g128 f16")
print("K x N         M   schedule            machete  cuBLAS-f16  cuBLAS/machete")
for k, n in ((4096, 4096), (28672, 8192), (8192, 57344)):
    for m in (1, 16, 64, 256, 1024, 4096):
        copies = max(2, int(400e6 // (k * n // 2)))
        copies = min(copies, 48)
        a, bs, s, ws = setup(m, n, k, copies)
        sc = machete.heuristic_schedule(m, n, k, torch.float16, uint4b8, torch.float16)
        tm = graph_us([lambda bb=bb: _C.mm(a, bb, uint4b8.id, torch.float16, s, None, 128, None, None, None)
                       for bb in bs])
        tc = graph_us([lambda w=w: torch.matmul(a, w) for w in ws[: max(2, int(800e6 // (k * n * 2)))]])
        print(f"{k:5d}x{n:<6d} {m:5d}   {sc.split('_')[0]:8s}  {tm:14.1f}  {tc:10.1f}  {tc / tm:8.2f}")
        del a, bs, s, ws
        torch.cuda.empty_cache()
