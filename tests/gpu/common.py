"""Shared helpers of the GPU tests (data and tolerance as SPEC §6, docs/SPEC.md)."""
import math

import torch

import machete
from machete import reference as ref
from machete import scalar_types as st

A_DTYPES = (torch.float16, torch.bfloat16)
B_TYPES = (st.uint4b8, st.uint8b128, st.uint4, st.uint8)
TYPES = [(a, b) for b in B_TYPES for a in A_DTYPES]  # generation order

SHAPES = [(1, 128, 128), (1, 8192, 28672), (13, 8192, 4096), (26, 4096, 8192), (64, 4096, 4096),
          (64, 8192, 28672), (257, 128, 4096), (257, 4224, 4160), (1024, 8192, 4096)]
GROUP_SIZES = (-1, 64, 128)


def type_id(a_dtype, b_type):
    return f"{'f16' if a_dtype == torch.float16 else 'bf16'}-{b_type.short_name}"


def has_zeros(b_type):
    return ref.has_zero_points(b_type)


def built_schedules(a_dtype, b_type):
    import machete._C as C
    return list(C.supported_schedules(a_dtype, b_type.id, a_dtype, a_dtype if has_zeros(b_type) else None,
                                      None, None, a_dtype))


def tolerance(K, zeros):
    return dict(rtol=0.1, atol=1.0 if zeros else min(0.05 * math.sqrt(K), 1.0))


class Problem:
    def __init__(self, M, N, K, a_dtype, b_type, group_size, seed=0, a=None):
        dev = "cuda"
        gen = torch.Generator(device=dev).manual_seed(seed)
        self.a = a if a is not None else (3 * torch.rand(M, K, device=dev, generator=gen) - 2).to(a_dtype)
        w = (3 * torch.rand(K, N, device=dev, generator=gen) - 1).to(a_dtype)
        q = ref.quantize(w, b_type, None if group_size == -1 else group_size, scale_dtype=a_dtype)
        self.q = q
        self.b_type = b_type
        self.a_dtype = a_dtype
        self.M, self.N, self.K = M, N, K
        self.b_packed = ref.pack(q.w_q, b_type)
        self.b_pre = machete.prepack_B(self.b_packed, a_dtype, b_type)
        self.group_size = None if group_size == -1 else group_size

    def reference(self, a=None):
        a = self.a if a is None else a
        return ref.reference_mm(a, self.q.w_q, self.b_type, group_scales=self.q.scales,
                                group_zeros=self.q.zeros, group_size=self.q.group_size)

    def run(self, a=None, schedule=None, poison=True):
        a = self.a if a is None else a
        if poison:  # hand mm a block full of NaN (the caching allocator reuses it for the output)
            torch.full((a.shape[0], self.N), float("nan"), dtype=self.a_dtype, device="cuda")
        return machete.mm(a, self.b_pre, self.b_type, group_scales=self.q.scales, group_zeros=self.q.zeros,
                          group_size=self.group_size, schedule=schedule)

    def check(self, out, a=None):
        exp = self.reference(a)
        assert out.shape == exp.shape and out.dtype == self.a_dtype
        assert not torch.isnan(out).any(), "NaN in output (poisoned output not fully written?)"
        torch.testing.assert_close(out.float(), exp, **tolerance(self.K, self.q.zeros is not None))
