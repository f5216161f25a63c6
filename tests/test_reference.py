import math
import re

import pytest
import torch

from machete import reference as ref
from machete import scalar_types as st

ALL_TYPES = [st.uint4b8, st.uint8b128, st.uint4, st.uint8, st.int4, st.int8]


def _gen(seed=0):
    g = torch.Generator().manual_seed(seed)
    return g


# ---- pack / unpack -----------------------------------------------------------------------------

@pytest.mark.parametrize("t", ALL_TYPES, ids=lambda t: t.name)
def test_pack_unpack_round_trip(t):
    K, N = 128, 24
    w_q = torch.randint(0, t.storage_max + 1, (K, N), generator=_gen(1), dtype=torch.int32)
    packed = ref.pack(w_q, t)
    assert packed.dtype == torch.int32
    assert packed.shape == (K // (32 // t.size_bits), N)
    assert packed.stride(0) == 1
    assert torch.equal(ref.unpack(packed, t), w_q)


def test_pack_known_example_4bit():
    # Column 0 holds k = 0..7 -> values 1..8; column 1 all 15 (0xFFFFFFFF -> -1 as int32).
    w_q = torch.zeros(8, 2, dtype=torch.int32)
    w_q[:, 0] = torch.arange(1, 9)
    w_q[:, 1] = 15
    packed = ref.pack(w_q, st.uint4b8)
    assert packed.shape == (1, 2)
    assert packed[0, 0].item() == 0x87654321 - (1 << 32)
    assert packed[0, 1].item() == -1


def test_pack_known_example_8bit():
    w_q = torch.tensor([[0x11], [0x22], [0x33], [0x44], [0xAA], [0xBB], [0xCC], [0xDD]], dtype=torch.int32)
    packed = ref.pack(w_q, st.uint8)
    assert packed.shape == (2, 1)
    assert packed[0, 0].item() == 0x44332211
    assert packed[1, 0].item() == 0xDDCCBBAA - (1 << 32)


def test_pack_rejects_bad_input():
    with pytest.raises(ValueError, match="multiple of 8"):
        ref.pack(torch.zeros(12, 4, dtype=torch.int32), st.uint4)
    with pytest.raises(ValueError, match=r"\[0, 15\]"):
        ref.pack(torch.full((8, 4), 16, dtype=torch.int32), st.uint4)
    with pytest.raises(TypeError):
        ref.pack(torch.zeros(8, 4), st.uint4)


def test_storage_value_round_trip():
    for t in ALL_TYPES:
        v = torch.arange(t.min_value, t.max_value + 1, dtype=torch.int32)
        s = ref.value_to_storage(v, t)
        assert int(s.min()) >= 0 and int(s.max()) <= t.storage_max
        assert torch.equal(ref.storage_to_value(s, t), v), t.name
    # int4: -1 is stored as 0b1111; uint4b8: -1 is stored as 7
    assert ref.value_to_storage(torch.tensor([-1]), st.int4).item() == 15
    assert ref.value_to_storage(torch.tensor([-1]), st.uint4b8).item() == 7


# ---- dequantize by hand ------------------------------------------------------------------------

def test_dequantize_known_example_gptq():
    # uint4b8 stores x + 8: stored [0, 8, 15] -> values [-8, 0, 7].
    w_q = torch.tensor([[0], [8], [15], [9]], dtype=torch.int32)
    scales = torch.tensor([[0.5], [2.0]], dtype=torch.float32)
    out = ref.dequantize(w_q, st.uint4b8, scales, None, group_size=2)
    assert out.tolist() == [[-4.0], [0.0], [14.0], [2.0]]


def test_dequantize_zero_added_after_scaling():
    w_q = torch.tensor([[3], [5]], dtype=torch.int32)
    scales = torch.tensor([[2.0]])
    zeros = torch.tensor([[-1.0]])
    out = ref.dequantize(w_q, st.uint4, scales, zeros)  # group_size None -> K
    assert out.tolist() == [[5.0], [9.0]]  # q * s + z, not (q + z) * s


def test_zero_points_to_zeros():
    zp = torch.tensor([[8, 3]], dtype=torch.int32)
    s = torch.tensor([[0.5, 2.0]], dtype=torch.float16)
    z = ref.zero_points_to_zeros(zp, s)
    assert z.dtype == torch.float16
    assert z.tolist() == [[-4.0, -6.0]]


# ---- quantize ------------------------------------------------------------------------------------

def _spec_weights(K, N, dtype, seed=0):
    return (3 * torch.rand(K, N, generator=_gen(seed)) - 1).to(dtype)


@pytest.mark.parametrize("t", [st.uint4b8, st.uint8b128, st.uint4, st.uint8], ids=lambda t: t.name)
@pytest.mark.parametrize("group_size", [None, -1, 64, 128])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_quantize_error_bounds(t, group_size, dtype):
    K, N = 256, 128
    w = _spec_weights(K, N, dtype)
    qw = ref.quantize(w, t, group_size)
    g = K if group_size in (None, -1) else group_size
    G = K // g
    assert qw.group_size == g
    assert qw.w_q.shape == (K, N) and qw.w_q.dtype == torch.int32
    assert int(qw.w_q.min()) >= 0 and int(qw.w_q.max()) <= t.storage_max
    assert qw.scales.shape == (G, N) and qw.scales.dtype == dtype
    assert qw.w_ref.shape == (K, N) and qw.w_ref.dtype == dtype
    if t in (st.uint4, st.uint8):
        assert qw.zeros is not None and qw.zeros.shape == (G, N) and qw.zeros.dtype == dtype
        assert qw.zero_points.shape == (G, N)
    else:
        assert qw.zeros is None
    # w_ref is exactly dequantize(w_q, ...)
    assert torch.equal(qw.w_ref, ref.dequantize(qw.w_q, t, qw.scales, qw.zeros, group_size))
    # Rounding error is at most half a quantization step (+ slack for 16-bit rounding of the
    # scales, the zeros and the result).
    step = qw.scales.float().repeat_interleave(g, dim=0)
    err = (qw.w_ref.float() - w.float()).abs()
    rel16 = 2 ** -7 if dtype == torch.bfloat16 else 2 ** -10
    bound = 0.5 * step + 2 * rel16 * (w.float().abs() + 1) + 1e-6
    if t in (st.uint4, st.uint8):
        bound = bound + step * 0.5  # integer zero point rounding
    assert bool((err <= bound).all()), float((err - bound).max())
    # And the error is far smaller than the data range [-1, 2].
    assert float(err.max()) < (0.25 if t.size_bits == 4 else 0.02)


def test_quantize_symmetric_known_example():
    # One group, column max |w| = 7 -> scale 1: values round to integers.
    w = torch.tensor([[7.0], [-3.2], [0.4], [2.6]])
    qw = ref.quantize(w, st.uint4b8)
    assert qw.scales.tolist() == [[1.0]]
    assert ref.storage_to_value(qw.w_q, st.uint4b8).flatten().tolist() == [7, -3, 0, 3]
    assert qw.w_q.flatten().tolist() == [15, 5, 8, 11]
    assert qw.w_ref.flatten().tolist() == [7.0, -3.0, 0.0, 3.0]


def test_quantize_asymmetric_known_example():
    # min -1, max 14 -> scale 1, zero point 1: q = w + 1, zeros = -1.
    w = torch.tensor([[-1.0], [14.0], [2.2], [0.0]])
    qw = ref.quantize(w, st.uint4)
    assert qw.scales.tolist() == [[1.0]]
    assert qw.zero_points.tolist() == [[1]]
    assert qw.zeros.tolist() == [[-1.0]]
    assert qw.w_q.flatten().tolist() == [0, 15, 3, 1]
    assert qw.w_ref.flatten().tolist() == [-1.0, 14.0, 2.0, 0.0]


def test_quantize_partial_last_group():
    K, N = 96, 8  # ceil(96 / 64) = 2 groups, the last one half full
    w = _spec_weights(K, N, torch.float32)
    qw = ref.quantize(w, st.uint4b8, 64)
    assert qw.scales.shape == (2, N)
    torch.testing.assert_close(qw.scales[1], w[64:].abs().amax(0) / 7)


def test_quantize_rejects_bad_input():
    with pytest.raises(ValueError, match="2-D float"):
        ref.quantize(torch.zeros(4, dtype=torch.float32), st.uint4b8)
    with pytest.raises(ValueError, match="group_size"):
        ref.quantize(torch.zeros(4, 4), st.uint4b8, 0)


# ---- reference_mm --------------------------------------------------------------------------------

def test_reference_mm_known_example():
    a = torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=torch.float16)
    w = torch.tensor([[1.0, 0.5], [-2.0, 4.0]])
    d = ref.reference_mm(a, w)
    assert d.dtype == torch.float32
    assert d.tolist() == [[-3.0, 8.5], [5.0, -2.5]]


@pytest.mark.parametrize("t", [st.uint4b8, st.uint4, st.uint8b128], ids=lambda t: t.name)
def test_reference_mm_forms_agree(t):
    M, K, N = 5, 128, 128
    a = (3 * torch.rand(M, K, generator=_gen(3)) - 2).to(torch.float16)
    qw = ref.quantize(_spec_weights(K, N, torch.float16), t, 64)
    from_deq = ref.reference_mm(a, qw.w_ref)
    from_q = ref.reference_mm(a, qw.w_q, t, group_scales=qw.scales, group_zeros=qw.zeros, group_size=64)
    from_packed = ref.reference_mm(a, ref.pack(qw.w_q, t), t, group_scales=qw.scales,
                                   group_zeros=qw.zeros, group_size=64)
    torch.testing.assert_close(from_q, from_deq, rtol=0, atol=0)
    torch.testing.assert_close(from_packed, from_deq, rtol=0, atol=0)
    # Close to the unquantized product (SPEC tolerance).
    exact = a.float() @ _spec_weights(K, N, torch.float16).float()
    atol = 1.0 if qw.zeros is not None else min(0.05 * math.sqrt(K), 1.0)
    assert float((from_deq - exact).abs().max()) < 0.1 * float(exact.abs().max()) + 10 * atol


def test_reference_mm_channel_token_scales():
    a = torch.ones(2, 4)
    w = torch.ones(4, 3)
    d = ref.reference_mm(a, w, channel_scales=torch.tensor([1.0, 2.0, 3.0]),
                         token_scales=torch.tensor([1.0, 10.0]))
    assert d.tolist() == [[4.0, 8.0, 12.0], [40.0, 80.0, 120.0]]


def test_reference_mm_shape_mismatch():
    with pytest.raises(ValueError, match="rows"):
        ref.reference_mm(torch.ones(2, 4), torch.ones(5, 3))


# ---- bad arguments: one-line errors naming the function and the argument -------------------------

def _one_line(exc, pattern, fn, *args, **kwargs):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg and re.search(pattern, msg), msg


def test_reference_bad_arguments():
    w = torch.randn(256, 128)
    qw = ref.quantize(w, st.uint4b8, 128)
    a = torch.randn(4, 256)
    cases = [
        (TypeError, r"^group_size must be an int, -1 or None, got float$", ref.quantize, (w, st.uint4b8, 1.5)),
        (TypeError, r"^group_size must be an int, -1 or None, got bool$", ref.quantize, (w, st.uint4b8, True)),
        (TypeError, r"^group_size must be an int, -1 or None, got str$", ref.quantize, (w, st.uint4b8, "128")),
        (TypeError, r"^quantize: w must be a torch.Tensor, got list$", ref.quantize, ([[1.0]], st.uint4b8)),
        (TypeError, r"^reference_mm: a must be a torch.Tensor, got NoneType$", ref.reference_mm, (None, qw.w_ref)),
        (TypeError, r"^reference_mm: b must be a torch.Tensor, got QuantizedWeights$", ref.reference_mm, (a, qw)),
        (ValueError, r"^reference_mm: b must be 2-D, got shape \(256,\)$", ref.reference_mm, (a, torch.randn(256))),
        (TypeError, r"^dequantize: w_q must hold stored integer patterns, got torch.float32$", ref.dequantize,
         (qw.w_ref, st.uint4b8)),
        (TypeError, r"^pack: w_q must be a torch.Tensor, got NoneType$", ref.pack, (None, st.uint4b8)),
        (TypeError, r"^unpack: packed must be a torch.Tensor, got int$", ref.unpack, (3, st.uint4b8)),
        (TypeError, r"^zero_points_to_zeros: zero_points must be a torch.Tensor, got NoneType$",
         ref.zero_points_to_zeros, (None, qw.scales)),
    ]
    for exc, pattern, fn, args in cases:
        _one_line(exc, pattern, fn, *args)
    _one_line(ValueError, r"^reference_mm: channel_scales must have shape \(128,\) \(N\), got \(5,\)$",
              ref.reference_mm, a, qw.w_ref, channel_scales=torch.ones(5))
    _one_line(ValueError, r"^reference_mm: token_scales must have shape \(4,\) \(M\), got \(4, 1\)$",
              ref.reference_mm, a, qw.w_ref, token_scales=torch.ones(4, 1))
    # integer scalars of numpy / torch are group sizes too, with the same result as an int
    import numpy as np
    assert torch.equal(ref.quantize(w, st.uint4b8, np.int64(64)).w_ref, ref.quantize(w, st.uint4b8, 64).w_ref)
    assert ref.resolve_group_size(torch.tensor(-1), 256) == 256


def test_reference_w4a8_bad_arguments():
    wq = ref.quantize_w4a8(torch.randn(256, 128), group_size=64)
    a_q, ts = ref.quantize_activations(torch.randn(4, 256), torch.int8)
    _one_line(ValueError, r"^reference_w4a8_mm: group_scales must have shape \(4, 128\) for K=256, group_size=64, "
              r"got \(2, 128\)$", ref.reference_w4a8_mm, a_q, wq.w_q, ts, wq.channel_scales,
              wq.group_scales[:2], 64)
    _one_line(ValueError, r"^reference_w4a8_mm: channel_scales must have shape \(128,\) \(N\), got \(64,\)$",
              ref.reference_w4a8_mm, a_q, wq.w_q, ts, wq.channel_scales[:64])
    _one_line(ValueError, r"^reference_w4a8_mm: token_scales and channel_scales are required$",
              ref.reference_w4a8_mm, a_q, wq.w_q, None, wq.channel_scales)
    _one_line(TypeError, r"^reference_w4a8_mm: b must be a torch.Tensor, got NoneType$",
              ref.reference_w4a8_mm, a_q, None, ts, wq.channel_scales)
    # the well-formed call still agrees with itself through the packed form
    got = ref.reference_w4a8_mm(a_q, wq.w_q, ts, wq.channel_scales, wq.group_scales, 64)
    packed = ref.reference_w4a8_mm(a_q, ref.pack(wq.w_q, st.uint4b8), ts, wq.channel_scales, wq.group_scales, 64)
    assert torch.equal(got, packed)
