"""Quick timing of machete.mm (CUDA events, median of 50 after warm-up; weights rotated past L2)."""
import sys

import torch

sys.path.insert(0, ".")
import machete  # noqa: E402
import machete._C as C  # noqa: E402
from machete import reference as ref  # noqa: E402
from machete import scalar_types as st  # noqa: E402


def bench(M, K, N, a_dtype=torch.float16, b_type=st.uint4b8, g=128, schedule=None):
    copies = max(1, int(200e6 // (K * N // 2)) + 1)
    w = (3 * torch.rand(K, N, device="cuda") - 1).to(a_dtype)
    q = ref.quantize(w, b_type, g, scale_dtype=a_dtype)
    bs = [machete.prepack_B(ref.pack(q.w_q, b_type), a_dtype, b_type)]
    bs += [bs[0].clone() for _ in range(copies - 1)]
    a = (3 * torch.rand(M, K, device="cuda") - 2).to(a_dtype)
    run = lambda b: machete.mm(a, b, b_type, group_scales=q.scales, group_size=g, schedule=schedule)  # noqa
    for b in bs[:3]:
        run(b)
    ts = []
    for i in range(50):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); run(bs[i % copies]); e.record(); e.synchronize()
        ts.append(s.elapsed_time(e) * 1e3)
    ts.sort()
    # the same call replayed from a CUDA graph (no host overhead; one weight copy)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        run(bs[0])
    graph.replay()
    tg = []
    for i in range(50):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); graph.replay(); e.record(); e.synchronize()
        tg.append(s.elapsed_time(e) * 1e3)
    tg.sort()
    sched = schedule or C.heuristic_schedule(M, N, K, a_dtype, b_type.id, a_dtype)
    print(f"M={M:5d} K={K:6d} N={N:6d} {sched:40s} {ts[len(ts)//2]:9.1f} us  graph {tg[len(tg)//2]:9.1f} us")


for K, N in [(4096, 4096), (8192, 28672), (28672, 8192)]:
    for M in (1, 16, 1024):
        try:
            bench(M, K, N)
        except ValueError as e:
            print(f"M={M} K={K} N={N}: {e}"[:160])
