"""machete.formats: checkpoint tensors (GPTQ, AWQ, compressed-tensors) -> prepack_B / mm inputs.

Each format is written by tests/format_packers.py from its definition; the converted weights,
dequantized by machete.reference (w = v * s + z), must equal the format's own dequantization
((q - zp) * s): the integers exactly, the floats exactly without zero points and to the rounding
of z = -zp * s with them.
"""
import pytest
import torch

import format_packers as fp
from machete import formats
from machete import reference as ref
from machete import scalar_types as st

K, N = 256, 256


def _zeros_atol(zp, s):
    """Machete's z = -zp * s is rounded to the scale dtype: half an ulp of the largest |zp * s|."""
    return float((zp.float() * s.float()).abs().max()) * torch.finfo(s.dtype).eps / 2


def _close_to_library(got, lib, zp, s):
    """got (fp32, z rounded) vs a library's dequantization rounded to its dtype (rel. 1 ulp)."""
    tol = _zeros_atol(zp, s) + lib.float().abs() * torch.finfo(lib.dtype).eps
    diff = (got - lib.float()).abs()
    assert bool((diff <= tol).all()), f"max excess {float((diff - tol).max())}"


def _check(w: formats.MacheteWeights, layer: fp.Layer):
    bits = layer.bits
    assert w.b_q.dtype == torch.int32 and w.b_q.shape == (K * bits // 32, N) and w.b_q.stride(0) == 1
    assert w.K == K and w.N == N and w.group_size == K // layer.G
    assert w.group_scales.shape == (layer.G, N) and w.group_scales.is_contiguous()
    perm = torch.arange(K) if w.perm is None else w.perm
    # groups are contiguous after the permutation
    assert torch.equal(layer.g_idx[perm], torch.arange(K) // w.group_size)
    stored = ref.unpack(w.b_q, w.b_type).long()
    assert torch.equal(stored, layer.q[perm])  # stored bits == the checkpoint's q (x + 2^(bits-1) when symmetric)
    assert torch.equal(w.group_scales, layer.s)
    if layer.sym:
        assert w.b_type == (st.uint4b8 if bits == 4 else st.uint8b128)
        assert w.group_zeros is None and w.zero_points is None
        torch.testing.assert_close(w.dequantize(), layer.dequantize(), rtol=0, atol=0)
    else:
        assert w.b_type == (st.uint4 if bits == 4 else st.uint8)
        assert torch.equal(w.zero_points.long(), layer.zp)
        assert w.group_zeros.dtype == layer.s.dtype
        torch.testing.assert_close(w.dequantize(), layer.dequantize(), rtol=0, atol=_zeros_atol(layer.zp, layer.s))
    # the product: machete sees a[:, perm] against the permuted rows (reference_mm rounds the
    # weights to the scale dtype, as the kernel does)
    a = fp.random_activations(3, K, torch.float32)
    got = ref.reference_mm(a[:, perm], w.b_q, w.b_type, **w.mm_kwargs())
    torch.testing.assert_close(got, a @ w.dequantize().to(layer.s.dtype).float(), rtol=1e-5, atol=1e-4)


# ---- GPTQ --------------------------------------------------------------------------------------

@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("sym", [True, False], ids=["sym", "asym"])
@pytest.mark.parametrize("version", ["gptq", "gptq_v2"])
@pytest.mark.parametrize("group_size,act_order", [(64, False), (128, True), (-1, False)],
                         ids=["g64", "g128-desc_act", "per-channel"])
def test_gptq(bits, sym, version, group_size, act_order):
    layer = fp.random_layer(K, N, bits, group_size, sym=sym, act_order=act_order, seed=bits + group_size)
    t = fp.to_gptq(layer, v2=version == "gptq_v2")
    w = formats.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"], bits=bits, checkpoint_format=version)
    assert (w.perm is not None) == act_order
    _check(w, layer)


def test_gptq_symmetric_without_qzeros_or_g_idx():
    layer = fp.random_layer(K, N, 4, 128, sym=True)
    t = fp.to_gptq(layer)
    w = formats.from_gptq(t["qweight"], None, t["scales"], bits=4, group_size=128)
    _check(w, layer)
    assert w.b_q.data_ptr() != t["qweight"].data_ptr() or w.b_q.stride(0) == 1


def test_gptq_sym_switch():
    # all zero points at the midpoint but sym=False asked: uint4 with zeros -8 * s
    layer = fp.random_layer(K, N, 4, 64, sym=True)
    t = fp.to_gptq(layer)
    w = formats.from_gptq(t["qweight"], t["qzeros"], t["scales"], sym=False)
    assert w.b_type == st.uint4 and torch.equal(w.zero_points, torch.full((4, N), 8, dtype=torch.int32))
    torch.testing.assert_close(w.dequantize(), layer.dequantize(), rtol=0, atol=0)


def test_gptq_v1_wraps_zero_point_zero():
    # v1 stores zp - 1 modulo 2^bits: a stored 15 is zero point 0
    layer = fp.random_layer(K, N, 4, 64, sym=False, seed=3)
    layer.zp[0, :8] = 0
    t = fp.to_gptq(layer)
    assert int(t["qzeros"][0, 0]) == -1  # eight nibbles of 0xF
    _check(formats.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"]), layer)


def test_gptq_sorted_g_idx_is_no_permutation_and_bf16():
    layer = fp.random_layer(K, N, 4, 64, sym=False, dtype=torch.bfloat16)
    t = fp.to_gptq(layer)
    w = formats.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"])
    assert w.perm is None and w.group_scales.dtype == torch.bfloat16
    _check(w, layer)


def test_dtype_override():
    layer = fp.random_layer(K, N, 4, 64, sym=True)
    t = fp.to_gptq(layer)
    w = formats.from_gptq(t["qweight"], t["qzeros"], t["scales"].float(), dtype=torch.bfloat16)
    assert w.group_scales.dtype == torch.bfloat16


# ---- AWQ ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("sym", [False, True], ids=["zero_point", "no_zero_point"])
@pytest.mark.parametrize("group_size", [64, 128, -1])
def test_awq(bits, sym, group_size):
    layer = fp.random_layer(K, N, bits, group_size, sym=sym, seed=7 * bits + group_size)
    t = fp.to_awq(layer)
    w = formats.from_awq(t["qweight"], t["qzeros"], t["scales"], bits=bits)
    assert w.perm is None
    _check(w, layer)


def test_awq_order_by_hand():
    # one word: nibble i holds column [0, 2, 4, 6, 1, 3, 5, 7][i]
    q = torch.zeros(64, 128, dtype=torch.int64)
    q[0, :8] = torch.arange(8) + 1
    layer = fp.Layer(q, torch.zeros(1, 128, dtype=torch.int64), torch.ones(1, 128, dtype=torch.float16),
                     torch.zeros(64, dtype=torch.int64), 4, False)
    t = fp.to_awq(layer)
    assert int(t["qweight"][0, 0]) & 0xFFFFFFFF == 0x86427531
    w = formats.from_awq(t["qweight"], t["qzeros"], t["scales"])
    assert ref.unpack(w.b_q, w.b_type)[0, :8].tolist() == list(range(1, 9))


# ---- compressed-tensors --------------------------------------------------------------------------

@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("sym", [True, False], ids=["sym", "asym"])
@pytest.mark.parametrize("group_size", [128, -1], ids=["group128", "channel"])
@pytest.mark.parametrize("packed_zp", [True, False], ids=["zp-packed", "zp-int8"])
def test_compressed_tensors(bits, sym, group_size, packed_zp):
    if sym and not packed_zp:
        pytest.skip("no zero point when symmetric")
    layer = fp.random_layer(K, N, bits, group_size, sym=sym, seed=bits * 3 + group_size, dtype=torch.bfloat16)
    t = fp.to_compressed_tensors(layer, packed_zp=packed_zp)
    w = formats.from_compressed_tensors(t["weight_packed"], t["weight_scale"], t["weight_shape"],
                                        t.get("weight_zero_point"), num_bits=bits)
    _check(w, layer)


def test_compressed_tensors_act_order_g_idx():
    layer = fp.random_layer(K, N, 4, 64, sym=False, act_order=True, seed=11)
    t = fp.to_compressed_tensors(layer, with_g_idx=True)
    w = formats.from_compressed_tensors(**t, num_bits=4, group_size=64)
    assert w.perm is not None
    _check(w, layer)


def test_compressed_tensors_all_zero_zp_is_symmetric():
    layer = fp.random_layer(K, N, 4, 64, sym=True)
    t = fp.to_compressed_tensors(layer)
    t["weight_zero_point"] = torch.zeros(N, 4, dtype=torch.int8)
    w = formats.from_compressed_tensors(**t)
    assert w.b_type == st.uint4b8
    _check(w, layer)


# ---- the format's own libraries (where they install on the CPU machine) -----------------------

from format_libs import autoawq, autogptq, compressed_tensors_lib  # noqa: E402


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("sym", [True, False], ids=["sym", "asym"])
@pytest.mark.parametrize("group_size", [64, -1], ids=["group64", "channel"])
def test_compressed_tensors_library(bits, sym, group_size):
    ct = compressed_tensors_lib()
    torch.manual_seed(bits + group_size)
    weight = (3 * torch.rand(N, K) - 1).to(torch.bfloat16)
    packed, decompressed, args = ct.compress(weight, bits, group_size, sym)
    w = formats.from_compressed_tensors(packed["weight_packed"], packed["weight_scale"], packed["weight_shape"],
                                        packed.get("weight_zero_point"), num_bits=bits,
                                        group_size=None if group_size == -1 else group_size, symmetric=sym)
    # integers: the library's own unpacking
    x = ct.unpack(packed["weight_packed"], bits, (N, K)).long()  # signed, [N, K]
    assert torch.equal(ref.unpack(w.b_q, w.b_type).long(), x.t() + (1 << (bits - 1)))
    if not sym:
        zp = ct.unpack_zp(packed["weight_zero_point"], bits, (N, packed["weight_scale"].shape[1])).long()
        assert torch.equal(w.zero_points.long(), zp.t() + (1 << (bits - 1)))
    else:
        assert w.b_type in (st.uint4b8, st.uint8b128)
    # floats: the library's decompress (which rounds (x - zp) * s in bfloat16)
    zp = w.zero_points if w.zero_points is not None else torch.zeros(1)
    _close_to_library(w.dequantize(), decompressed.t(), zp, w.group_scales)


@pytest.mark.parametrize("group_size", [64, 128])
def test_autoawq_library(group_size):
    awq = autoawq()
    layer = fp.random_layer(K, N, 4, group_size, sym=False, seed=group_size)
    qweight, qzeros, scales = awq.pack(layer)
    t = fp.to_awq(layer)  # the test's own packer writes the same words
    assert torch.equal(qweight, t["qweight"]) and torch.equal(qzeros, t["qzeros"])
    w = formats.from_awq(qweight, qzeros, scales, group_size=group_size)
    _check(w, layer)
    _close_to_library(w.dequantize(), awq.dequantize(qweight, qzeros, scales, group_size), layer.zp, layer.s)


def test_autoawq_through_compressed_tensors_converter():
    ct = compressed_tensors_lib()
    layer = fp.random_layer(K, N, 4, 128, sym=False, seed=5)
    t = fp.to_awq(layer)
    converted = ct.awq_to_ct(t, group_size=128)
    a = formats.from_awq(t["qweight"], t["qzeros"], t["scales"])
    c = formats.from_compressed_tensors(converted["weight_packed"], converted["weight_scale"],
                                        converted["weight_shape"], converted["weight_zero_point"])
    assert a.b_type == c.b_type == st.uint4 and a.group_size == c.group_size == 128
    for x, y in zip(a, c):
        if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
            assert torch.equal(x, y)


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("act_order", [False, True], ids=["", "desc_act"])
def test_autogptq_library(bits, act_order):
    gptq = autogptq()
    layer = fp.random_layer(K, N, bits, 64, sym=False, act_order=act_order, seed=bits, zp_min=1)
    qweight, qzeros, scales, g_idx = gptq.pack(layer)  # AutoGPTQ's QuantLinear.pack (v1 zero points)
    t = fp.to_gptq(layer)
    assert torch.equal(qweight, t["qweight"]) and torch.equal(qzeros, t["qzeros"])
    w = formats.from_gptq(qweight, qzeros, scales, g_idx, bits=bits)
    _check(w, layer)
    _close_to_library(w.dequantize(), gptq.dequantize(qweight, qzeros, scales, g_idx, bits), layer.zp, layer.s)


# ---- bad checkpoints: one-line ValueError naming the tensor -------------------------------------

def _gptq(**over):
    layer = fp.random_layer(K, N, 4, 64, sym=False, act_order=True)
    t = fp.to_gptq(layer)
    kw = dict(bits=4)
    for k, v in over.items():
        (t if k in t else kw)[k] = v
    return lambda: formats.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"], prefix="layers.0.q_proj.", **kw)


def _bad_g_idx():
    g = torch.arange(K, dtype=torch.int32) // 64
    g[0] = 1  # group 0 gets 63 rows, group 1 gets 65
    return g


BAD = {
    "qweight-float": (_gptq(qweight=torch.zeros(32, N)), "layers.0.q_proj.qweight", "int32"),
    "qweight-1d": (_gptq(qweight=torch.zeros(32 * N, dtype=torch.int32)), "qweight", "2-D"),
    "scales-shape": (_gptq(scales=torch.ones(4, N + 8, dtype=torch.float16)), "scales", "shape"),
    "scales-int": (_gptq(scales=torch.ones(4, N, dtype=torch.int32)), "scales", "float16"),
    "scales-groups": (_gptq(scales=torch.ones(3, N, dtype=torch.float16)), "scales", "3 groups"),
    "scales-nan": (_gptq(scales=torch.full((4, N), float("nan"), dtype=torch.float16)), "scales", "NaN"),
    "group_size": (_gptq(group_size=128), "scales", "group_size=64"),
    "qzeros-shape": (_gptq(qzeros=torch.zeros(4, N, dtype=torch.int32)), "qzeros", "shape"),
    "bits3": (_gptq(bits=3), "bits", "bits=3"),
    "g_idx-len": (_gptq(g_idx=torch.zeros(K - 1, dtype=torch.int32)), "g_idx", f"({K},)"),
    "g_idx-float": (_gptq(g_idx=torch.zeros(K)), "g_idx", "integer"),
    "g_idx-range": (_gptq(g_idx=torch.arange(K, dtype=torch.int32) // 32), "g_idx", "[0, 4)"),
    "g_idx-counts": (_gptq(g_idx=_bad_g_idx()), "g_idx", "not a permutation of groups"),
    "sym-mismatch": (_gptq(sym=True), "qzeros", "not all 8"),
    "format": (_gptq(checkpoint_format="gptq_v3"), "checkpoint_format", "gptq_v2"),
    "scales-fp32": (_gptq(scales=torch.ones(4, N)), "scales", "dtype="),
    "awq-qzeros": (lambda: formats.from_awq(torch.zeros(K, N // 8, dtype=torch.int32),
                                            torch.zeros(2, N // 8, dtype=torch.int32),
                                            torch.ones(4, N, dtype=torch.float16)), "qzeros", "shape"),
    "awq-scales": (lambda: formats.from_awq(torch.zeros(K, N // 8, dtype=torch.int32), None,
                                            torch.ones(4, N // 8, dtype=torch.float16)), "scales", "shape"),
    "ct-shape": (lambda: formats.from_compressed_tensors(torch.zeros(N, K // 8, dtype=torch.int32),
                                                         torch.ones(N, 4, dtype=torch.float16),
                                                         torch.tensor([N, K + 64])), "weight_packed", "K="),
    "ct-shape-n": (lambda: formats.from_compressed_tensors(torch.zeros(N, K // 8, dtype=torch.int32),
                                                           torch.ones(N, 4, dtype=torch.float16),
                                                           [N * 2, K]), "weight_shape", "N="),
    "ct-zp": (lambda: formats.from_compressed_tensors(torch.zeros(N, K // 8, dtype=torch.int32),
                                                      torch.ones(N, 4, dtype=torch.float16), None,
                                                      torch.zeros(N, 3, dtype=torch.int32)),
              "weight_zero_point", "shape"),
    "ct-zp-range": (lambda: formats.from_compressed_tensors(torch.zeros(N, K // 8, dtype=torch.int32),
                                                            torch.ones(N, 4, dtype=torch.float16), None,
                                                            torch.full((N, 4), 9, dtype=torch.int8)),
                    "weight_zero_point", "[-8, 7]"),
    "ct-bits": (lambda: formats.from_compressed_tensors(torch.zeros(N, K // 8, dtype=torch.int32),
                                                        torch.ones(N, 4, dtype=torch.float16), num_bits=2),
                "num_bits", "4- and 8-bit"),
    "ct-asym-no-zp": (lambda: formats.from_compressed_tensors(torch.zeros(N, K // 8, dtype=torch.int32),
                                                              torch.ones(N, 4, dtype=torch.float16),
                                                              symmetric=False), "weight_zero_point", "needs zero"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_checkpoints(case):
    call, name, text = BAD[case]
    with pytest.raises(ValueError) as e:
        call()
    msg = str(e.value)
    assert "\n" not in msg and name in msg and text in msg, msg


def test_check_machete_shapes():
    layer = fp.random_layer(64, 64, 4, 64, sym=True)
    t = fp.to_gptq(layer)
    w = formats.from_gptq(t["qweight"], t["qzeros"], t["scales"])
    with pytest.raises(ValueError, match=r"^mlp: N=64 output features: machete needs a multiple of 128$"):
        formats.check_machete_shapes(w, "mlp")
