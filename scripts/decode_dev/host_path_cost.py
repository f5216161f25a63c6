"""Host cost per eager call by kernel family (tiny problems, so the GPU is never the bottleneck): decode vs CUTLASS schedules, _C.mm vs machete.mm. Development tool."""
import sys, time, torch
sys.path.insert(0, ".")
import machete
from machete import _C, reference
from machete.scalar_types import uint4b8
def host_us(fn, n=2000):
    for _ in range(50): fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n): fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / n * 1e6
for (m, n, k) in ((64, 256, 128), (256, 1024, 256)):
    w = 3 * torch.rand(k, n, device="cuda") - 1
    q = reference.quantize(w, uint4b8, 128)
    b = machete.prepack_B(reference.pack(q.w_q, uint4b8).cuda(), torch.float16, uint4b8)
    s = q.scales.half().cuda()
    a = (3 * torch.rand(m, k, device="cuda") - 2).half()
    for sch in ("128x16_w8s3k64_DecodeMma_clusterK", "128x64_2x1x1_TmaMI__TmaCoop_streamK", "128x16_1x1x1_TmaMI__TmaCoop_streamK", "256x128_2x1x1_TmaMI__TmaCoop_streamK"):
        f = lambda: _C.mm(a, b, uint4b8.id, torch.float16, s, None, 128, None, None, sch)
        g = lambda: machete.mm(a, b, uint4b8, group_scales=s, group_size=128, schedule=sch)
        print(f"M={m} N={n} K={k} {sch:40s} _C.mm {host_us(f):6.1f} us   machete.mm {host_us(g):6.1f} us", flush=True)
    print(f"torch.matmul fp16 {host_us(lambda: a @ w.half()):6.1f} us")
