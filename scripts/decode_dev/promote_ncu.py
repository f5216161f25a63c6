"""Run one promote-harness configuration twice on random operands (no reference), for Nsight Compute:
    ncu -k regex:promote_mm_kernel --launch-skip 1 --launch-count 1 --section ... \\
        python3 scripts/decode_dev/promote_ncu.py ./.devbuild/libpromote.so VARIANT M,N,K
Development tool."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from promote_dev import Lib  # noqa: E402

lib = Lib(sys.argv[1])
v = int(sys.argv[2])
M, N, K = (int(x) for x in sys.argv[3].split(","))
d = lib.variants[v]
a = torch.randint(-127, 127, (M, K), dtype=torch.int8, device="cuda")
if d["act"] == "E4M3":
    a = torch.randn(M, K, device="cuda").to(torch.float8_e4m3fn)
p = dict(a=a, b=torch.randint(-2**31, 2**31 - 1, (K // 8, N), dtype=torch.int32, device="cuda"),
         s=(torch.rand(K // 128, N, device="cuda") + 0.5).half() if d["gs"] else None,
         cs=torch.rand(N, device="cuda"), ts=torch.rand(M, device="cuda"), g=128 if d["gs"] else K)
out = torch.empty(M, N, dtype=torch.float16, device="cuda")
for _ in range(2):
    lib.run(v, p, out)
torch.cuda.synchronize()
print("ran", v, d, M, N, K)
