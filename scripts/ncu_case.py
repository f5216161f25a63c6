#!/usr/bin/env python3
"""Run machete.mm on a few (M, N, K) cases so Nsight Compute can profile the GEMM kernel:
  ncu -k regex:device_kernel --launch-skip 1 --launch-count 1 ... python3 scripts/ncu_case.py M,N,K [SCHEDULE]
(one warm-up launch per case, then the profiled one; SCHEDULE forces a schedule, default the heuristic's)."""
import sys

import torch

sys.path.insert(0, ".")
import machete  # noqa: E402
from machete import reference  # noqa: E402
from machete.scalar_types import uint4b8  # noqa: E402

m, n, k = (int(x) for x in sys.argv[1].split(","))
w = 3 * torch.rand(k, n, device="cuda") - 1
q = reference.quantize(w, uint4b8, 128)
b = machete.prepack_B(reference.pack(q.w_q, uint4b8), torch.float16, uint4b8)
a = (3 * torch.rand(m, k, device="cuda") - 2).half()
s = q.scales.half()
schedule = sys.argv[2] if len(sys.argv) > 2 else None
for _ in range(2):
    machete.mm(a, b, uint4b8, group_scales=s, group_size=128, schedule=schedule)
torch.cuda.synchronize()
print("schedule", schedule or machete.heuristic_schedule(m, n, k, torch.float16, uint4b8, torch.float16))
