"""GPU: checkpoint layers converted by machete.formats and run by machete.nn.MacheteLinear match
their dequantized fp32 reference within the SPEC §6 tolerances (rtol 0.1; atol 1 with zero points,
else min(0.05 * sqrt(K), 1)), act-order included; plus torch.compile and CUDA-graph replay.

The formats are written by tests/format_packers.py from their definitions. Two references: the
layer as machete represents it (16-bit scales, 16-bit zeros z = -zp * s added after scaling) within
the SPEC tolerance, and the format's own fp32 dequantization ((q - zp) * s) within the SPEC
tolerance plus what the 16-bit rounding of s and z explains (|x| @ |w_machete - w_format|).
"""
import pytest
import torch

import format_packers as fp
from machete.nn import MacheteLinear

from .common import built_schedules, tolerance

K, N = 4096, 4096
M_LIST = (1, 13, 257)


def _skip_unbuilt(layer_b_type, dtype):
    if not built_schedules(dtype, layer_b_type):
        pytest.skip(f"{layer_b_type.name} with {dtype} not built")


def _layer(bits, group_size, sym, act_order, dtype, seed):
    # SPEC §6 data: w = 3 * rand - 1 quantized per group; here the integers are drawn directly
    # (uniform q and zero points), which covers the same ranges.
    return fp.random_layer(K, N, bits, group_size, sym=sym, act_order=act_order, seed=seed, dtype=dtype)


def _module(fmt, layer, bias):
    if fmt == "gptq":
        t = fp.to_gptq(layer)
        return MacheteLinear.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"], bias,
                                       bits=layer.bits, device="cuda")
    if fmt == "gptq_v2":
        t = fp.to_gptq(layer, v2=True)
        return MacheteLinear.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"], bias,
                                       bits=layer.bits, checkpoint_format="gptq_v2", device="cuda")
    if fmt == "awq":
        t = fp.to_awq(layer)
        return MacheteLinear.from_awq(t["qweight"], t["qzeros"], t["scales"], bias, bits=layer.bits, device="cuda")
    if fmt == "compressed-tensors":
        t = fp.to_compressed_tensors(layer, with_g_idx=bool((layer.g_idx.diff() < 0).any()))
        return MacheteLinear.from_compressed_tensors(t["weight_packed"], t["weight_scale"], t["weight_shape"],
                                                     t.get("weight_zero_point"), t.get("weight_g_idx"), bias,
                                                     num_bits=layer.bits, device="cuda")
    raise AssertionError(fmt)


CASES = [
    # (format, bits, group_size, symmetric, act_order)
    ("gptq", 4, 128, True, False),
    ("gptq", 4, 128, True, True),
    ("gptq", 4, 128, False, True),
    ("gptq", 8, 128, True, True),
    ("gptq", 4, -1, True, False),
    ("gptq_v2", 4, 64, False, False),
    ("gptq_v2", 8, 128, False, True),
    ("awq", 4, 128, False, False),
    ("awq", 4, 64, False, False),
    ("awq", 4, 128, True, False),
    ("compressed-tensors", 4, 128, True, False),
    ("compressed-tensors", 4, 128, False, False),
    ("compressed-tensors", 8, 128, True, False),
    ("compressed-tensors", 4, 128, True, True),
    ("compressed-tensors", 8, -1, False, False),
]
IDS = [f"{f}-{b}bit-g{g}-{'sym' if s else 'zp'}{'-desc_act' if a else ''}" for f, b, g, s, a in CASES]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
@pytest.mark.parametrize("fmt,bits,group_size,sym,act_order", CASES, ids=IDS)
def test_converted_layer_matches_reference(fmt, bits, group_size, sym, act_order, dtype):
    # skip before converting: a build without this type rejects its prepack
    _skip_unbuilt(_b_type(bits, sym), dtype)
    layer = _layer(bits, group_size, sym, act_order, dtype, seed=bits * 31 + group_size + act_order)
    bias = (torch.rand(N) - 0.5).to(dtype)
    m = _module(fmt, layer, bias)
    assert m.b_type == _b_type(bits, sym)  # the type the skip checked
    assert m.act_order == act_order
    w_ref = layer.dequantize().cuda()  # fp32 [K, N], the format's own dequantization
    # machete's representation: 16-bit scales and 16-bit zeros z = -zp * s added after scaling
    w_m = m.dequantized_weight()
    if dtype == torch.float16:  # (host-side unprepack: once per format is enough)
        # the stored weights, unprepacked on the host, are the format's weights
        torch.testing.assert_close(w_m, w_ref, rtol=0, atol=0.02)
    dw = (w_m - w_ref).abs()  # what the 16-bit rounding of s and z costs per weight
    tol = tolerance(K, not sym)
    for M in M_LIST:
        x = fp.random_activations(M, K, dtype, device="cuda", seed=M)
        torch.full((M, N), float("nan"), dtype=dtype, device="cuda")  # poison the allocator's next block
        y = m(x)
        assert y.shape == (M, N) and y.dtype == dtype and not torch.isnan(y).any()
        b = bias.float().to(x.device)
        # 1. the kernel computes machete's semantics within the SPEC tolerance
        torch.testing.assert_close(y.float(), x.float() @ w_m + b, **tol)
        # 2. against the format's own fp32 dequantization, the only extra error allowed is what
        #    the 16-bit representation of the weights explains, summed over K: |x| @ |w_m - w_ref|.
        #    (8-bit zero points in bf16 with one group over K=4096 lose up to ~16 here; 4-bit lose
        #    almost nothing.)
        exp = x.float() @ w_ref + b
        slack = x.float().abs() @ dw
        bad = (y.float() - exp).abs() > slack + tol["atol"] + tol["rtol"] * exp.abs()
        assert not bad.any(), f"{int(bad.sum())} outputs off by more than the representation explains"


def _b_type(bits, sym):
    """The machete weight type a (bits, symmetric) checkpoint converts to."""
    from machete import scalar_types as st
    return {(4, True): st.uint4b8, (8, True): st.uint8b128, (4, False): st.uint4, (8, False): st.uint8}[(bits, sym)]


# every test skips *before* converting a layer: converting prepacks, which a filtered build without
# the type rejects (a failure, not a skip)

def test_3d_input_and_no_bias():
    _skip_unbuilt(_b_type(4, False), torch.float16)
    layer = _layer(4, 128, False, True, torch.float16, seed=3)
    m = _module("gptq", layer, None)
    assert m.b_type == _b_type(4, False)
    x = fp.random_activations(2 * 5, K, torch.float16, device="cuda").reshape(2, 5, K)
    y = m(x)
    assert y.shape == (2, 5, N)
    exp = x.float() @ layer.dequantize().cuda()
    torch.testing.assert_close(y.float(), exp, **tolerance(K, True))


def test_from_linear_cuda():
    from machete import scalar_types as st
    torch.manual_seed(0)
    lin = torch.nn.Linear(K, N, bias=True, dtype=torch.float16, device="cuda")
    _skip_unbuilt(st.uint4b8, torch.float16)
    m = MacheteLinear.from_linear(lin, st.uint4b8, 128)
    assert m.b_type == st.uint4b8
    x = fp.random_activations(16, K, torch.float16, device="cuda")
    torch.testing.assert_close(m(x).float(), m.forward_reference(x), **tolerance(K, False))


def test_state_dict_round_trip_cuda():
    _skip_unbuilt(_b_type(4, False), torch.float16)
    layer = _layer(4, 128, False, True, torch.float16, seed=4)
    m = _module("compressed-tensors", layer, torch.zeros(N, dtype=torch.float16))
    assert m.b_type == _b_type(4, False)
    sd = {k: v.cpu() for k, v in m.state_dict().items()}
    m2 = MacheteLinear(K, N, m.b_type, 128, bias=True, act_order=True, dtype=torch.float16).cuda()
    m2.load_state_dict(sd)
    x = fp.random_activations(8, K, torch.float16, device="cuda")
    assert torch.equal(m2(x), m(x))


def test_cpu_prepack_model_equals_cuda_prepack():
    # the same layer converted on the host (pure-torch prepack model) and on the GPU (prepack_B)
    _skip_unbuilt(_b_type(4, True), torch.float16)
    layer = _layer(4, 128, True, True, torch.float16, seed=5)
    t = fp.to_gptq(layer)
    m_cpu = MacheteLinear.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"]).cuda()
    m_gpu = MacheteLinear.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"], device="cuda")
    assert m_gpu.b_type == _b_type(4, True)
    for k, v in m_gpu.state_dict().items():
        assert torch.equal(m_cpu.state_dict()[k], v), k


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_torch_compile_and_cuda_graph(backend):
    if backend == "inductor":
        from torch.utils._triton import has_triton
        if not has_triton():
            pytest.skip("inductor needs triton")
    torch._dynamo.reset()
    _skip_unbuilt(_b_type(4, False), torch.float16)
    layer = _layer(4, 128, False, True, torch.float16, seed=6)
    bias = (torch.rand(N) - 0.5).half()
    m = _module("gptq", layer, bias)
    assert m.b_type == _b_type(4, False)
    x = fp.random_activations(16, K, torch.float16, device="cuda")
    eager = m(x)
    compiled = torch.compile(m, fullgraph=True, backend=backend)(x)
    torch.testing.assert_close(compiled, eager, rtol=0, atol=0)

    static_x = x.clone()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        m(static_x)  # warm-up outside the capture
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        static_y = m(static_x)
    x2 = fp.random_activations(16, K, torch.float16, device="cuda", seed=9)
    static_x.copy_(x2)
    g.replay()
    torch.cuda.synchronize()
    torch.testing.assert_close(static_y, m(x2), rtol=0, atol=0)
    exp = x2.float() @ layer.dequantize().cuda() + bias.float().cuda()
    torch.testing.assert_close(static_y.float(), exp, **tolerance(K, True))
