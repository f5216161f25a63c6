"""machete.nn.MacheteLinear on the CPU: constructors, buffers, state_dict round trip, the CPU error,
shape propagation on meta tensors (the path torch.compile traces). GPU forward: tests/gpu/test_formats_gpu.py."""
import io

import pytest
import torch

import format_packers as fp
import machete
from machete import formats
from machete import prepack_layout as pl
from machete import reference as ref
from machete import scalar_types as st
from machete.nn import MacheteLinear

K, N = 256, 384
TYPES = (st.uint4b8, st.uint8b128, st.uint4, st.uint8)


@pytest.mark.parametrize("b_type", TYPES, ids=[t.short_name for t in TYPES])
@pytest.mark.parametrize("group_size", [128, -1])
def test_from_linear(b_type, group_size):
    torch.manual_seed(0)
    lin = torch.nn.Linear(K, N, bias=True, dtype=torch.bfloat16)
    m = MacheteLinear.from_linear(lin, b_type, group_size)
    assert m.b_type == b_type and m.dtype == torch.bfloat16 and m.group_size == (K if group_size == -1 else 128)
    q = ref.quantize(lin.weight.detach().t().float(), b_type, None if group_size == -1 else group_size,
                     scale_dtype=torch.bfloat16)
    assert torch.equal(m.dequantized_weight().to(torch.bfloat16), q.w_ref)
    assert torch.equal(m.weight_prepacked.t(), pl.prepack_for_type(ref.pack(q.w_q, b_type), b_type.id))
    x = torch.randn(2, 3, K)
    y = m.forward_reference(x)
    assert y.shape == (2, 3, N) and y.dtype == torch.float32
    torch.testing.assert_close(y, x @ q.w_ref.float() + lin.bias.float(), rtol=1e-4, atol=1e-3)


def _gptq_layer(act_order=True, sym=False, bits=4):
    layer = fp.random_layer(K, N, bits, 64, sym=sym, act_order=act_order, seed=1)
    return layer, fp.to_gptq(layer)


def test_from_gptq_act_order_and_state_dict_round_trip():
    layer, t = _gptq_layer()
    bias = torch.randn(N, dtype=torch.float16)
    m = MacheteLinear.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"], bias, bits=4)
    w = formats.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"])
    assert m.act_order and torch.equal(m.perm, w.perm)
    assert torch.equal(m.dequantized_weight(), w.dequantize())
    sd = m.state_dict()
    assert list(sd) == ["weight_prepacked", "group_scales", "group_zeros", "perm", "bias"]
    assert all(v.is_contiguous() for v in sd.values())  # safetensors can store them
    assert sd["weight_prepacked"].shape == (N, K // 8) and sd["weight_prepacked"].dtype == torch.int32

    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    m2 = MacheteLinear(K, N, st.uint4, 64, bias=True, act_order=True, dtype=torch.float16)
    m2.load_state_dict(torch.load(buf))
    for k, v in m.state_dict().items():
        assert torch.equal(m2.state_dict()[k], v), k
    x = torch.randn(5, K)
    assert torch.equal(m2.forward_reference(x), m.forward_reference(x))
    torch.testing.assert_close(m.forward_reference(x), x @ layer.dequantize() + bias.float(), rtol=1e-3, atol=2e-2)


def test_safetensors_round_trip(tmp_path):
    st_torch = pytest.importorskip("safetensors.torch")
    _, t = _gptq_layer(act_order=False, sym=True)
    m = MacheteLinear.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"])
    assert m.b_type == st.uint4b8 and m.perm is None and m.group_zeros is None
    st_torch.save_file(m.state_dict(), str(tmp_path / "layer.safetensors"))
    m2 = MacheteLinear(K, N, st.uint4b8, 64)
    m2.load_state_dict(st_torch.load_file(str(tmp_path / "layer.safetensors")))
    assert torch.equal(m2.weight_prepacked, m.weight_prepacked)


def test_from_awq_and_compressed_tensors():
    layer = fp.random_layer(K, N, 4, 128, sym=False, seed=2)
    a = fp.to_awq(layer)
    m = MacheteLinear.from_awq(a["qweight"], a["qzeros"], a["scales"])
    assert m.b_type == st.uint4 and not m.act_order
    assert torch.equal(m.dequantized_weight(), formats.from_awq(a["qweight"], a["qzeros"], a["scales"]).dequantize())
    c = fp.to_compressed_tensors(layer)
    m2 = MacheteLinear.from_compressed_tensors(c["weight_packed"], c["weight_scale"], c["weight_shape"],
                                               c["weight_zero_point"], num_bits=4)
    for k, v in m.state_dict().items():
        assert torch.equal(m2.state_dict()[k], v), k


def test_cpu_forward_raises_machete_error():
    _, t = _gptq_layer()
    m = MacheteLinear.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"])
    x = torch.randn(2, K, dtype=torch.float16)
    with pytest.raises(ValueError) as e:
        m(x)
    with pytest.raises(ValueError) as e2:
        machete.mm(x, m.weight_prepacked.t(), m.b_type, group_scales=m.group_scales, group_zeros=m.group_zeros,
                   group_size=64)
    assert str(e.value) == str(e2.value) == "a must be on a CUDA device, got cpu"


@pytest.mark.parametrize("act_order", [False, True])
def test_meta_forward_shapes(act_order):
    """On meta tensors forward goes through torch.ops.machete.mm's fake implementation (what
    torch.compile traces): shapes and dtypes, and the same validation."""
    _, t = _gptq_layer(act_order=act_order)
    m = MacheteLinear.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"], torch.zeros(N, dtype=torch.float16))
    m = m.to("meta")
    y = m(torch.empty(2, 7, K, dtype=torch.float16, device="meta"))
    assert y.shape == (2, 7, N) and y.dtype == torch.float16 and y.device.type == "meta"
    with pytest.raises(TypeError, match="group_scales dtype must equal a's dtype"):
        m(torch.empty(3, K, dtype=torch.bfloat16, device="meta"))


def test_to_bfloat16_switches_activation_dtype():
    _, t = _gptq_layer()
    m = MacheteLinear.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"]).to(torch.bfloat16)
    assert m.dtype == torch.bfloat16 and m.perm.dtype == torch.int64 and m.weight_prepacked.dtype == torch.int32
    y = m.to("meta")(torch.empty(3, K, dtype=torch.bfloat16, device="meta"))
    assert y.dtype == torch.bfloat16


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"^MacheteLinear\(200, 256\): K=200 input features: machete needs a multiple of 64$"):
        MacheteLinear(200, 256, st.uint4b8, 64)
    with pytest.raises(ValueError, match=r"N=200 output features"):
        MacheteLinear(256, 200, st.uint4b8, 64)
    with pytest.raises(ValueError, match=r"group_size=32"):
        MacheteLinear(256, 256, st.uint4b8, 32)
    with pytest.raises(ValueError, match=r"b_type: int4 is not supported"):
        MacheteLinear(256, 256, st.int4, 64)
    with pytest.raises(ValueError, match=r"dtype: machete activations"):
        MacheteLinear(256, 256, st.uint4b8, 64, dtype=torch.float32)
    _, t = _gptq_layer()
    with pytest.raises(ValueError, match=r"^model.layers.0.q_proj.bias: expected shape \(384,\), got \(10,\)$"):
        MacheteLinear.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"], torch.zeros(10),
                                prefix="model.layers.0.q_proj.")
    with pytest.raises(ValueError, match=r"^model.layers.0.q_proj.g_idx: "):
        MacheteLinear.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"][:-1],
                                prefix="model.layers.0.q_proj.")
    with pytest.raises(TypeError, match="linear: expected a torch.nn.Linear"):
        MacheteLinear.from_linear(torch.nn.Conv1d(2, 2, 1))
    with pytest.raises(TypeError, match=r"^MacheteLinear.from_weights: w: expected machete.formats.MacheteWeights "
                                        r"\(.*\), got dict$"):
        MacheteLinear.from_weights(t)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_input_feature_mismatch_is_named(device):
    # forward (on meta: what torch.compile traces) and forward_reference name in_features instead of
    # failing in reshape / matmul with torch's own message
    _, t = _gptq_layer()
    m = MacheteLinear.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"]).to(device)
    want = rf"^MacheteLinear: input must be \[\.\.\., in_features={K}\], got shape \(2, 3, {K + 64}\)$"
    x = torch.empty(2, 3, K + 64, dtype=torch.float16, device=device)
    with pytest.raises(ValueError, match=want):
        m(x)
    if device == "cpu":
        with pytest.raises(ValueError, match=want):
            m.forward_reference(x)
    with pytest.raises(ValueError, match=r"got shape \(\)$"):
        m(torch.tensor(1.0, dtype=torch.float16, device=device))
    with pytest.raises(TypeError, match=r"^MacheteLinear: input must be a torch.Tensor, got list$"):
        m([[1.0] * K])


def test_torch_compile_one_graph():
    """fullgraph=True: forward (permutation, mm, bias) compiles to one graph without breaks; the
    backend records it and runs it on meta tensors."""
    _, t = _gptq_layer(act_order=True)
    m = MacheteLinear.from_gptq(t["qweight"], t["qzeros"], t["scales"], t["g_idx"],
                                torch.zeros(N, dtype=torch.float16)).to("meta")
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    torch._dynamo.reset()
    y = torch.compile(m, fullgraph=True, backend=backend)(torch.empty(4, 3, K, dtype=torch.float16, device="meta"))
    assert y.shape == (4, 3, N)
    assert len(graphs) == 1
    targets = [str(n.target) for n in graphs[0].graph.nodes if n.op == "call_function"]
    assert "machete.mm.default" in targets or any("machete.mm" in s for s in targets), targets
