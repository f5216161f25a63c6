"""W4A8 on the GPU: 8-bit activations (int8, float8_e4m3fn) x u4b8 weights, with and without f16
group scales, f32 channel and token scales, f16 out. Every built W4A8 schedule on the SPEC §6
shapes against machete.reference.reference_w4a8_mm (the exact semantics, in float64), the
heuristic, CUDA graphs, the prepack and bad scale arguments. Skipped unless the W4A8 types are
built (MACHETE_W4A8=1 / generate_machete.py --w4a8).

Tolerance, elementwise: |out - ref| <= 2^-10 |ref| + 2^-12 max|ref|. The quantized operands are
the same for the kernel and the reference (the 8-bit activation rounding is part of the inputs,
not of the error), so what is left is the kernel's arithmetic: s8 partial sums are exact integers
(s32), e4m3 x q products are exact in the f16 mma; the group scale multiplies exact chunk sums in
fp32; the error is the f16 output rounding (2^-11 relative) plus fp32 accumulation over K / 64
chunks (relative 2^-24 each, absolute where terms cancel: the max|ref| term).
"""
import pytest
import torch

import machete
from machete import reference as ref
from machete import scalar_types as st
from .common import SHAPES

A8 = (torch.int8, torch.float8_e4m3fn)
GROUPED = (True, False)  # f16 group scales (g = 128), or per-channel only


def _built(a_dtype, grouped):
    return machete.supported_schedules(a_dtype, st.uint4b8, torch.float16 if grouped else None, None,
                                       torch.float32, torch.float32)


def _skip_unbuilt(a_dtype, grouped):
    if not _built(a_dtype, grouped):
        pytest.skip("W4A8 types not built (MACHETE_W4A8=1)")


class W4A8Problem:
    def __init__(self, M, N, K, a_dtype, group_size, seed=0):
        gen = torch.Generator(device="cuda").manual_seed(seed)
        a = torch.randn(M, K, device="cuda", generator=gen)
        w = torch.randn(K, N, device="cuda", generator=gen) * (0.5 + torch.rand(1, N, device="cuda", generator=gen))
        self.a_q, self.ts = ref.quantize_activations(a, a_dtype)
        self.w = ref.quantize_w4a8(w, group_size)
        self.group_size = None if self.w.group_scales is None else self.w.group_size
        self.b_pre = machete.prepack_B(ref.pack(self.w.w_q, st.uint4b8), a_dtype, st.uint4b8,
                                       None if self.w.group_scales is None else torch.float16)
        self.N = N

    def run(self, a_q=None, ts=None, schedule=None, poison=True):
        a_q = self.a_q if a_q is None else a_q
        if poison:
            torch.full((a_q.shape[0], self.N), float("nan"), dtype=torch.float16, device="cuda")
        return machete.mm(a_q, self.b_pre, st.uint4b8, group_scales=self.w.group_scales, group_size=self.group_size,
                          channel_scales=self.w.channel_scales, token_scales=self.ts if ts is None else ts,
                          schedule=schedule)

    def check(self, out, a_q=None, ts=None, what=""):
        a_q = self.a_q if a_q is None else a_q
        exp = ref.reference_w4a8_mm(a_q, self.w.w_q, self.ts if ts is None else ts, self.w.channel_scales,
                                    self.w.group_scales, self.group_size)
        assert out.dtype == torch.float16 and out.shape == exp.shape
        assert not torch.isnan(out).any(), "NaN in output (poisoned output not fully written?)"
        err = (out.double() - exp.double()).abs()
        tol = 2.0 ** -10 * exp.double().abs() + 2.0 ** -12 * exp.double().abs().max()
        worst = (err / tol).max().item()
        assert worst <= 1.0, f"{what}: error {worst:.3g} x tolerance"


@pytest.mark.parametrize("grouped", GROUPED, ids=("g128", "channel"))
@pytest.mark.parametrize("a_dtype", A8, ids=("s8", "e4m3"))
def test_w4a8_every_schedule(a_dtype, grouped):
    _skip_unbuilt(a_dtype, grouped)
    for (M, N, K) in SHAPES:
        g = (128 if K % 128 == 0 else 64) if grouped else None
        p = W4A8Problem(M, N, K, a_dtype, g, seed=M + N)
        for s in _built(a_dtype, grouped):
            p.check(p.run(schedule=s), what=f"M={M} N={N} K={K} g={g} {s}")
        p.check(p.run(), what=f"M={M} N={N} K={K} g={g} heuristic")


@pytest.mark.parametrize("a_dtype", A8, ids=("s8", "e4m3"))
def test_w4a8_group64_and_ragged(a_dtype):
    _skip_unbuilt(a_dtype, True)
    for (M, N, K, g) in [(3, 384, 1024, 64), (33, 4224, 4160, 64), (70, 768, 4096, 4096), (5, 256, 28672, 128)]:
        p = W4A8Problem(M, N, K, a_dtype, g, seed=K)
        for s in _built(a_dtype, True):
            p.check(p.run(schedule=s), what=f"M={M} N={N} K={K} g={g} {s}")


@pytest.mark.parametrize("a_dtype", A8, ids=("s8", "e4m3"))
def test_w4a8_promote_partial_last_wave(a_dtype):
    """More output tiles than SMs with a partial last wave: the promote launcher runs the whole waves,
    then splits K for the remaining tiles (promote::Plan); the M per schedule makes that tail 1..n_tiles
    tiles (so it is split), with a ragged last token tile."""
    _skip_unbuilt(a_dtype, True)
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    N, K = 2048, 4096
    for s in _built(a_dtype, True):
        if "Promote" not in s:
            continue
        tn, tm = (int(x) for x in s.split("_")[0].split("x"))
        n_tiles = N // tn
        M = tm * (sms // n_tiles + 1) - 5
        tiles = -(-M // tm) * n_tiles
        assert sms < tiles and 0 < tiles % sms <= sms // 2  # a tail the launcher splits
        p = W4A8Problem(M, N, K, a_dtype, 128, seed=M)
        p.check(p.run(schedule=s), what=f"M={M} N={N} K={K} {s}: {tiles} tiles on {sms} SMs")


@pytest.mark.parametrize("a_dtype", A8, ids=("s8", "e4m3"))
def test_w4a8_prepack_layouts(a_dtype):
    """W4A8 weights prepack into the 16 x 32 atom of the 8-bit MMA, with or without group scales
    (every W4A8 kernel reads it: CUTLASS, the promote kernel, the decode family): equal to the torch
    model, and not the f16 x u4b8 layout."""
    _skip_unbuilt(a_dtype, True)
    from machete import prepack_layout as PL
    w = ref.quantize_w4a8(torch.randn(512, 384, device="cuda"), 128)
    packed = ref.pack(w.w_q, st.uint4b8)
    got = machete.prepack_B(packed, a_dtype, st.uint4b8, torch.float16)
    assert torch.equal(got.cpu(), PL.prepack_for_type(packed.cpu(), st.uint4b8.id, mma8=True))
    assert not torch.equal(got, machete.prepack_B(packed, torch.float16, st.uint4b8))
    if _built(a_dtype, False):
        assert torch.equal(machete.prepack_B(packed, a_dtype, st.uint4b8), got)


def test_w4a8_cuda_graph():
    _skip_unbuilt(torch.int8, True)
    M, N, K = 16, 4096, 4096
    p = W4A8Problem(M, N, K, torch.int8, 128, seed=3)
    a_static, ts_static = p.a_q.clone(), p.ts.clone()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        p.run(a_q=a_static, ts=ts_static, poison=False)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        out = p.run(a_q=a_static, ts=ts_static, poison=False)
    out.fill_(float("nan"))
    g.replay()
    torch.cuda.synchronize()
    p.check(out, a_q=a_static, ts=ts_static)
    a2, ts2 = ref.quantize_activations(torch.randn(M, K, device="cuda"), torch.int8)
    a_static.copy_(a2)
    ts_static.copy_(ts2)
    out.fill_(float("nan"))
    g.replay()
    torch.cuda.synchronize()
    p.check(out, a_q=a_static, ts=ts_static)


def test_w4a8_empty_m():
    _skip_unbuilt(torch.int8, False)
    p = W4A8Problem(4, 256, 256, torch.int8, None)
    out = machete.mm(p.a_q[:0], p.b_pre, st.uint4b8, channel_scales=p.w.channel_scales,
                     token_scales=p.ts[:0])
    assert out.shape == (0, 256) and out.dtype == torch.float16


def test_w4a8_bad_scales():
    """Wrong shape, dtype, device or a missing scale: one-line ValueError / TypeError naming it."""
    _skip_unbuilt(torch.int8, True)
    p = W4A8Problem(8, 256, 512, torch.int8, 128)
    cs, ts, gs = p.w.channel_scales, p.ts, p.w.group_scales

    def mm(**kw):
        args = dict(group_scales=gs, group_size=128, channel_scales=cs, token_scales=ts)
        args.update(kw)
        return machete.mm(p.a_q, p.b_pre, st.uint4b8, **args)

    cases = [
        (ValueError, r"channel_scales must have shape \(N,\) = \(256,\)", dict(channel_scales=cs[:128])),
        (ValueError, r"token_scales must have shape \(M,\) = \(8,\)", dict(token_scales=torch.ones(9, device="cuda"))),
        (TypeError, r"channel_scales dtype must be one of float32", dict(channel_scales=cs.half())),
        (TypeError, r"token_scales dtype must be one of float32", dict(token_scales=ts.double())),
        (ValueError, r"token_scales must be on the same device", dict(token_scales=ts.cpu())),
        (ValueError, r"token_scales \(M,\) of dtype float32 is required", dict(token_scales=None)),
        (ValueError, r"channel_scales \(N,\) of dtype float32 is required", dict(channel_scales=None)),
        (TypeError, r"group_scales dtype must be float16 for a int8", dict(group_scales=gs.bfloat16())),
        (ValueError, r"out_type must be float16 for a int8", dict(out_type=torch.bfloat16)),
        (ValueError, r"channel_scales must be contiguous", dict(channel_scales=torch.ones(512, device="cuda")[::2])),
    ]
    for exc, pattern, kw in cases:
        with pytest.raises(exc, match=pattern) as info:
            mm(**kw)
        assert "\n" not in str(info.value)
