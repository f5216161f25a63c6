"""A small mm/prepack workload for `compute-sanitizer --tool memcheck` (`memcheck` in scripts/device_env.sh,
run by scripts/device_full.sh and scripts/device_decode.sh)."""
import sys

import torch

sys.path.insert(0, ".")
import machete  # noqa: E402
from machete import scalar_types as st  # noqa: E402
from tests.gpu.common import Problem, built_schedules  # noqa: E402

n = 0
for a_dtype, b_type in [(torch.float16, st.uint4b8), (torch.bfloat16, st.uint4), (torch.float16, st.uint8b128),
                        (torch.bfloat16, st.uint8)]:
    names = built_schedules(a_dtype, b_type)
    if not names:
        continue
    # one CUTLASS schedule (memcheck is slow) and every decode-family schedule
    picks = sorted(set([names[0]] + [n for n in names if "DecodeMma" in n]))
    for M, N, K, g in [(1, 384, 512, 128), (130, 256, 640, 64)]:
        p = Problem(M, N, K, a_dtype, b_type, g, seed=M)
        for name in picks:
            p.check(p.run(schedule=name))
            n += 1
# W4A8 (when built): every schedule of each type on a ragged M and a K that is not a multiple of 128
from tests.gpu.test_w4a8_gpu import W4A8Problem, _built  # noqa: E402
for a_dtype in (torch.int8, torch.float8_e4m3fn):
    for grouped in (True, False):
        names = _built(a_dtype, grouped)
        if not names:  # a build without W4A8 (the prepack refuses its types)
            continue
        for M, N, K in [(33, 384, 640)]:
            p = W4A8Problem(M, N, K, a_dtype, 64 if grouped else None, seed=M)
            for name in names:
                p.check(p.run(schedule=name), what=f"{a_dtype} M={M} {name}")
                n += 1
torch.cuda.synchronize()
print(f"sanitize_subset: {n} mm calls checked")
