"""Argument validation of machete.mm / machete.prepack_B, supported_schedules, and the custom-op
registration -- all on CPU.

Tensors on a "CUDA device" are FakeTensors (torch._subclasses.FakeTensorMode works without a GPU):
calling the op on them runs its fake implementation, which performs the same validation as the
CUDA implementation, so every error path is exercised exactly as a GPU user would hit it.
"""

import math
import re

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

import machete
from machete import _model, ops
from machete import scalar_types as st

F16, BF16 = torch.float16, torch.bfloat16
GPTQ = [st.uint4b8, st.uint8b128]
AWQ = [st.uint4, st.uint8]
CANON = "_TmaMI__TmaCoop_streamK"
SPEC_SCHEDULES = [
    "128x128_2x1x1", "128x256_2x1x1", "128x64_2x1x1", "128x32_2x1x1", "256x128_2x1x1",
    "128x16_1x1x1", "256x64_2x1x1", "256x32_2x1x1", "256x16_1x1x1",
]
DECODE_SCHEDULES = [
    "64x8_w8s6k64", "128x8_w8s4k64", "256x8_w8s3k32", "64x16_w8s4k64", "128x16_w8s3k64", "256x16_w4s3k32", "128x32_w8s3k32",
    "64x8_w16s3k64", "64x16_w16s2k64",
    "48x8_w16s3k64", "48x16_w16s2k64", "80x8_w16s3k64", "80x16_w8s4k64", "96x8_w8s4k64", "96x16_w8s4k64",
    "112x8_w8s4k64", "112x16_w8s4k64",
]
DECODE = "_DecodeMma_clusterK"
BUILT = [s + CANON for s in SPEC_SCHEDULES] + [s + DECODE for s in DECODE_SCHEDULES]


@pytest.fixture
def fake():
    with FakeTensorMode() as mode:
        yield mode


def make_args(M=16, N=256, K=256, a_dtype=F16, b_type=st.uint4b8, group_size=64, device="cuda"):
    """Valid mm arguments (create inside FakeTensorMode for a 'CUDA' device)."""
    p = 32 // b_type.size_bits
    a = torch.empty(M, K, dtype=a_dtype, device=device)
    b = torch.empty(N, K // p, dtype=torch.int32, device=device).t()  # column-major
    g = K if group_size in (None, -1) else group_size
    G = math.ceil(K / g)
    kw = dict(group_scales=torch.empty(G, N, dtype=a_dtype, device=device), group_size=group_size)
    if b_type in AWQ:
        kw["group_zeros"] = torch.empty(G, N, dtype=a_dtype, device=device)
    return a, b, b_type, kw


def expect(exc, pattern, fn, *args, **kwargs):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg, f"multi-line message: {msg!r}"
    assert re.search(pattern, msg), f"{pattern!r} not in {msg!r}"
    return msg


# ---- valid calls -------------------------------------------------------------------------------

@pytest.mark.parametrize("b_type", GPTQ + AWQ, ids=lambda t: t.name)
@pytest.mark.parametrize("a_dtype", [F16, BF16])
@pytest.mark.parametrize("group_size", [None, -1, 64, 128])
def test_valid_calls(fake, b_type, a_dtype, group_size):
    a, b, t, kw = make_args(a_dtype=a_dtype, b_type=b_type, group_size=group_size)
    d = machete.mm(a, b, t, **kw)
    assert d.shape == (16, 256) and d.dtype == a_dtype and d.device == a.device
    # b_type as integer id, explicit out_type, explicit schedule (both spellings)
    d = machete.mm(a, b, t.id, out_type=a_dtype, schedule="128x16_1x1x1" + CANON, **kw)
    assert d.shape == (16, 256)
    machete.mm(a, b, t, schedule="256x64_2x1x1_TmaMI_TmaCoop_streamK", **kw)


def test_validate_returns_resolved_args(fake):
    a, b, t, kw = make_args(K=512, group_size=-1)
    args = ops.validate_mm_args(a, b, t.id, **kw, schedule="128x16_1x1x1_TmaMI_TmaCoop_streamK")
    assert args.group_size == 512 and args.K == 512 and args.N == 256 and args.M == 16
    assert args.schedule == "128x16_1x1x1" + CANON  # alias normalised
    assert args.b_type is st.uint4b8 and args.out_dtype == F16
    assert args.type_config.signature == "f16u4b8f16voidvoidvoidf16f32"


def test_sliced_noncontiguous_a_is_accepted(fake):
    _, b, t, kw = make_args()
    big = torch.empty(16, 256 + 64, dtype=F16, device="cuda")
    # (FakeTensors on a CPU-only build support narrow/as_strided but not [] slicing)
    a = big.narrow(1, 64, 256)  # row stride 320 (640 bytes), offset 128 bytes
    assert not a.is_contiguous()
    assert machete.mm(a, b, t, **kw).shape == (16, 256)
    rows = torch.empty(32, 256, dtype=F16, device="cuda").as_strided((16, 256), (512, 1))
    assert machete.mm(rows, b, t, **kw).shape == (16, 256)


def test_single_row_a_with_odd_row_stride_is_accepted(fake):
    _, b, t, kw = make_args()
    a = torch.empty(256, 1, dtype=F16, device="cuda").t()  # shape (1, 256), strides (1, 1)
    assert a.stride() == (1, 1)
    assert machete.mm(a, b, t, **kw).shape == (1, 256)


# ---- errors: a -------------------------------------------------------------------------------

def test_a_not_a_tensor():
    _, b, t, kw = make_args(device="cpu")
    expect(TypeError, r"^a must be a torch.Tensor", machete.mm, [[1.0]], b, t, **kw)


def test_a_dtype(fake):
    a, b, t, kw = make_args()
    expect(TypeError, r"^a dtype must be one of bf16, f16|^a dtype must be one of .*float16", machete.mm,
           a.float(), b, t, **kw)


def test_a_rank(fake):
    a, b, t, kw = make_args()
    expect(ValueError, r"^a must be 2-D", machete.mm, a.unsqueeze(0), b, t, **kw)


def test_a_on_cpu_real_tensors():
    a, b, t, kw = make_args(device="cpu")
    expect(ValueError, r"^a must be on a CUDA device, got cpu", machete.mm, a, b, t, **kw)
    # also through the raw op
    expect(ValueError, r"^a must be on a CUDA device", torch.ops.machete.mm, a, b, t.id, None,
           kw["group_scales"], None, 64)


@pytest.mark.parametrize("which", ["b", "group_scales", "group_zeros"])
def test_tensor_on_other_device(fake, which):
    a, b, t, kw = make_args(b_type=st.uint4)
    if which == "b":
        b = torch.empty(256, 32, dtype=torch.int32, device="cuda:1").t()
    else:
        kw[which] = torch.empty(4, 256, dtype=F16, device="cuda:1")
    expect(ValueError, rf"^{which} must be on the same device as a \(cuda:0\), got cuda:1", machete.mm,
           a, b, t, **kw)


def test_tensor_on_cpu_while_a_on_cuda(fake):
    a, b, t, kw = make_args()
    with torch._subclasses.fake_tensor.unset_fake_temporarily():
        cpu_scales = torch.empty(4, 256, dtype=F16)
    kw["group_scales"] = fake.from_tensor(cpu_scales)
    expect(ValueError, r"^group_scales must be on the same device as a \(cuda:0\), got cpu", machete.mm,
           a, b, t, **kw)


def test_a_unit_column_stride(fake):
    _, b, t, kw = make_args()
    a = torch.empty(256, 16, dtype=F16, device="cuda").t()
    expect(ValueError, r"^a must be row-major with unit column stride", machete.mm, a, b, t, **kw)


def test_a_row_stride_alignment(fake):
    _, b, t, kw = make_args()
    a = torch.empty(16, 260, dtype=F16, device="cuda").narrow(1, 0, 256)  # 520-byte rows
    expect(ValueError, r"^a row stride must be >= K and a multiple of 16 bytes", machete.mm, a, b, t, **kw)


def test_a_start_alignment(fake):
    _, b, t, kw = make_args()
    a = torch.empty(16, 320, dtype=F16, device="cuda").narrow(1, 4, 256)  # starts 8 bytes in
    expect(ValueError, r"^a must start at a 16-byte aligned address", machete.mm, a, b, t, **kw)


# ---- errors: b and b_type -----------------------------------------------------------------------

def test_b_dtype(fake):
    a, b, t, kw = make_args()
    expect(TypeError, r"^b must be an int32 tensor", machete.mm, a, b.to(torch.int64), t, **kw)


def test_b_rank(fake):
    a, b, t, kw = make_args()
    expect(ValueError, r"^b must be 2-D", machete.mm, a, b.reshape(-1), t, **kw)


def test_b_shape(fake):
    a, _, t, kw = make_args()
    b = torch.empty(256, 16, dtype=torch.int32, device="cuda").t()  # K/8 would be 32 rows
    expect(ValueError, r"^b must have shape \(K / 8, N\) = \(32, N\) for K=256", machete.mm, a, b, t, **kw)


def test_b_wrong_type_for_packing(fake):
    a, b, _, kw = make_args()  # packed for 4 bits, passed as 8-bit type
    expect(ValueError, r"^b must have shape \(K / 4, N\)", machete.mm, a, b, st.uint8b128, **kw)


def test_b_row_major(fake):
    a, b, t, kw = make_args()
    row_major = torch.empty(32, 256, dtype=torch.int32, device="cuda")
    expect(ValueError, r"^b must be column-major \(stride\(0\) == 1", machete.mm, a, row_major, t, **kw)


def test_b_type_unknown_id(fake):
    a, b, _, kw = make_args()
    expect(ValueError, r"^b_type: unknown scalar type id 0x1234", machete.mm, a, b, 0x1234, **kw)
    expect(ValueError, r"^b_type: unknown scalar type id", torch.ops.machete.mm, a, b, 0x1234, None,
           kw["group_scales"], None, 64)


def test_b_type_wrong_python_type(fake):
    a, b, _, kw = make_args()
    expect(TypeError, r"^b_type must be a machete.scalar_types.ScalarType", machete.mm, a, b, "uint4b8", **kw)


def test_b_type_not_built(fake):
    a, b, _, kw = make_args()
    expect(ValueError, r"^b_type: int4 is not supported \(supported b types: .*u4b8", machete.mm,
           a, b, st.int4, **kw)


def test_K_multiple_of_64(fake):
    a, b, t, kw = make_args(K=96, group_size=None)
    expect(ValueError, r"^K=96 \(a.shape\[1\]\) must be a multiple of 64$", machete.mm, a, b, t, **kw)


def test_N_multiple_of_128(fake):
    a, b, t, kw = make_args(N=192)
    expect(ValueError, r"^N=192 \(b.shape\[1\]\) must be a multiple of 128$", machete.mm, a, b, t, **kw)


# ---- errors: out_type -------------------------------------------------------------------------

def test_out_type_must_equal_a(fake):
    a, b, t, kw = make_args()
    expect(ValueError, r"^out_type must equal a's dtype \(float16\), got bfloat16", machete.mm,
           a, b, t, out_type=BF16, **kw)
    expect(ValueError, r"^out_type must equal a's dtype", machete.mm, a, b, t, out_type=torch.float32, **kw)


def test_out_type_python_type(fake):
    a, b, t, kw = make_args()
    expect(TypeError, r"^out_type must be a torch.dtype", machete.mm, a, b, t, out_type="f16", **kw)


# ---- errors: group size / scales / zeros -------------------------------------------------------

@pytest.mark.parametrize("g", [32, 0, -2, 100, 192])
def test_group_size_values(fake, g):
    a, b, t, kw = make_args(K=256)
    kw["group_size"] = g
    expect(ValueError, rf"^group_size={g} must be -1/None \(= K\) or a multiple of 64 that divides K=256",
           machete.mm, a, b, t, **kw)


def test_group_size_python_type(fake):
    a, b, t, kw = make_args()
    kw["group_size"] = 64.0
    expect(TypeError, r"^group_size must be an int", machete.mm, a, b, t, **kw)


def test_group_scales_missing(fake):
    a, b, t, kw = make_args()
    expect(ValueError, r"^group_scales is required", machete.mm, a, b, t)
    expect(ValueError, r"^group_size was given without group_scales", machete.mm, a, b, t, group_size=64)


def test_group_scales_dtype(fake):
    a, b, t, kw = make_args()
    kw["group_scales"] = kw["group_scales"].to(BF16)
    expect(TypeError, r"^group_scales dtype must equal a's dtype \(float16\), got bfloat16", machete.mm,
           a, b, t, **kw)


def test_group_scales_shape(fake):
    a, b, t, kw = make_args(group_size=64)
    kw["group_scales"] = torch.empty(2, 256, dtype=F16, device="cuda")  # group size 128's shape
    expect(ValueError, r"^group_scales must have shape \(ceil\(K / group_size\), N\) = \(4, 256\), got \(2, 256\)",
           machete.mm, a, b, t, **kw)


def test_group_scales_layout(fake):
    a, b, t, kw = make_args()
    kw["group_scales"] = torch.empty(256, 4, dtype=F16, device="cuda").t()
    expect(ValueError, r"^group_scales must be row-major", machete.mm, a, b, t, **kw)


@pytest.mark.parametrize("t", GPTQ, ids=lambda t: t.name)
def test_group_zeros_rejected_for_gptq(fake, t):
    a, b, _, kw = make_args(b_type=t)
    kw["group_zeros"] = torch.empty_like(kw["group_scales"])
    expect(ValueError, rf"^group_zeros is not supported for b_type {t.name} \(its zero is part of the type\)",
           machete.mm, a, b, t, **kw)


@pytest.mark.parametrize("t", AWQ, ids=lambda t: t.name)
def test_group_zeros_required_for_awq(fake, t):
    a, b, _, kw = make_args(b_type=t)
    del kw["group_zeros"]
    expect(ValueError, rf"^group_zeros is required for b_type {t.name}", machete.mm, a, b, t, **kw)


def test_group_zeros_dtype_shape_layout(fake):
    a, b, t, kw = make_args(b_type=st.uint4)
    bad = dict(kw, group_zeros=kw["group_zeros"].to(BF16))
    expect(TypeError, r"^group_zeros dtype must equal a's dtype", machete.mm, a, b, t, **bad)
    bad = dict(kw, group_zeros=torch.empty(2, 256, dtype=F16, device="cuda"))
    expect(ValueError, r"^group_zeros must have shape .* = \(4, 256\)", machete.mm, a, b, t, **bad)
    padded = torch.empty(4, 384, dtype=F16, device="cuda").narrow(1, 0, 256)  # same shape, other stride
    bad = dict(kw, group_zeros=padded)
    expect(ValueError, r"^group_zeros must have the same layout as group_scales", machete.mm, a, b, t, **bad)


def test_group_zeros_without_scales(fake):
    a, b, t, kw = make_args(b_type=st.uint4)
    z = torch.empty(1, 256, dtype=F16, device="cuda")
    expect(ValueError, r"^group_zeros requires group_scales", machete.mm, a, b, t, group_zeros=z)


# ---- errors: channel / token scales (W4A8 only) ------------------------------------------------

@pytest.mark.parametrize("which, n", [("channel_scales", 256), ("token_scales", 16)])
def test_channel_token_scales_only_w4a8(fake, which, n):
    a, b, t, kw = make_args()
    kw[which] = torch.empty(n, dtype=torch.float32, device="cuda")
    expect(ValueError, rf"^{which} are only supported for W4A8 types", machete.mm, a, b, t, **kw)


# ---- errors: schedule -------------------------------------------------------------------------

def test_unknown_schedule_lists_valid(fake):
    a, b, t, kw = make_args()
    msg = expect(ValueError, r"^unknown schedule '64x16_1x1x1_TmaMI__TmaCoop_streamK' for f16u4b8f16voidvoidvoidf16f32; valid: ",
                 machete.mm, a, b, t, schedule="64x16_1x1x1" + CANON, **kw)
    for s in BUILT:
        assert s in msg
    expect(ValueError, r"^unknown schedule 'fastest'", torch.ops.machete.mm, a, b, t.id, None,
           kw["group_scales"], None, 64, None, None, "fastest")


def test_schedule_python_type(fake):
    a, b, t, kw = make_args()
    expect(TypeError, r"^schedule must be a str", machete.mm, a, b, t, schedule=3, **kw)


# ---- unsupported type combination --------------------------------------------------------------

def test_unsupported_type_combination_lists_supported(fake, monkeypatch):
    # With the active set every combination is caught by a more specific check first; drop one
    # type from the model to reach the generic message (it guards e.g. W4A8 when enabled).
    keep = tuple(k for k in _model.type_configs() if not (k.a == "bf16" and k.b == "u8"))

    class Reduced(_model._Manifest):
        def type_configs(self):
            return keep

    reduced = Reduced(_model.backend().data)
    monkeypatch.setattr(_model, "backend", lambda: reduced)
    a, b, t, kw = make_args(a_dtype=BF16, b_type=st.uint8)
    msg = expect(ValueError, r"^unsupported type combination bf16u8bf16bf16voidvoidbf16 .*; supported: ",
                 machete.mm, a, b, t, **kw)
    assert "f16u4b8f16voidvoidvoidf16f32" in msg and "bf16u8bf16bf16voidvoidbf16f32" not in msg
    assert machete.supported_schedules(BF16, st.uint8, BF16, BF16) == []
    msg = expect(ValueError, r"^unsupported type combination f16u4b8bf16voidvoidvoidf16 \(a, b, .*\); supported: ",
                 ops.heuristic_schedule, 1, 256, 256, F16, st.uint4b8, BF16)
    assert "f16u4b8f16voidvoidvoidf16f32" in msg


@pytest.mark.parametrize("kwargs, pattern", [
    ({}, r"^unsupported type combination f16u4b8voidvoidvoidvoidf16 "),               # no group scales
    ({"group_scales_type": torch.float32}, r"^unsupported type combination f16u4b8f32voidvoidvoidf16 "),
    ({"group_scales_type": F16, "out_type": torch.int32}, r"^unsupported type combination f16u4b8f16voidvoidvoids32 "),
    ({"group_scales_type": F16, "out_type": torch.float64}, r"^unsupported type combination f16u4b8f16voidvoidvoidfloat64 "),
])
def test_heuristic_schedule_names_the_unsupported_combination(kwargs, pattern):
    expect(ValueError, pattern, machete.heuristic_schedule, 1, 4096, 4096, F16, st.uint4b8, **kwargs)


@pytest.mark.parametrize("dims, exc, pattern", [
    ((0, 4096, 4096), ValueError, r"^M must be >= 1, got 0$"),
    ((-1, 4096, 4096), ValueError, r"^M must be >= 1, got -1$"),
    ((1, 0, 4096), ValueError, r"^N must be >= 1, got 0$"),
    ((1, 4096, -128), ValueError, r"^K must be >= 1, got -128$"),
    ((1.5, 4096, 4096), TypeError, r"^M must be an int, got float$"),
    ((True, 4096, 4096), TypeError, r"^M must be an int, got bool$"),
    (("16", 4096, 4096), TypeError, r"^M must be an int, got str$"),
    ((None, 4096, 4096), TypeError, r"^M must be an int, got NoneType$"),
    ((1, 4096, 4096.0), TypeError, r"^K must be an int, got float$"),
    ((torch.tensor(2.5), 4096, 4096), TypeError, r"^M must be an int, got Tensor$"),
])
def test_heuristic_schedule_rejects_bad_dims(dims, exc, pattern):
    expect(exc, pattern, machete.heuristic_schedule, *dims, F16, st.uint4b8, F16)


def test_heuristic_schedule_takes_index_ints():
    # numpy / torch integer scalars are ints (operator.index), and give the same pick as int
    import numpy as np
    want = machete.heuristic_schedule(16, 4096, 4096, F16, st.uint4b8, F16)
    assert machete.heuristic_schedule(np.int64(16), np.int32(4096), 4096, F16, st.uint4b8, F16) == want
    assert machete.heuristic_schedule(torch.tensor(16), 4096, 4096, F16, st.uint4b8, F16) == want


# ---- prepack_B ---------------------------------------------------------------------------------

@pytest.mark.parametrize("t", GPTQ + AWQ, ids=lambda t: t.name)
@pytest.mark.parametrize("a_dtype", [F16, BF16])
def test_prepack_valid(fake, t, a_dtype):
    _, b, _, _ = make_args(b_type=t)
    out = machete.prepack_B(b, a_dtype, t)
    assert out.shape == b.shape and out.dtype == torch.int32 and out.stride() == b.stride()
    assert machete.prepack_B(b, a_dtype, t.id, a_dtype).shape == b.shape


def test_prepack_errors(fake):
    _, b, t, _ = make_args()
    expect(TypeError, r"^b_q must be a torch.Tensor", machete.prepack_B, None, F16, t)
    expect(TypeError, r"^a_type must be a torch.dtype", machete.prepack_B, b, "f16", t)
    expect(TypeError, r"^a_type must be one of", machete.prepack_B, b, torch.float32, t)
    expect(ValueError, r"^b_type: unknown scalar type id", machete.prepack_B, b, F16, 99)
    expect(ValueError, r"^b_type: int8 is not supported", machete.prepack_B, b, F16, st.int8)
    expect(TypeError, r"^group_scales_type must be one of f16 .*got bfloat16", machete.prepack_B, b, F16, t, BF16)
    expect(TypeError, r"^group_scales_type must be a torch.dtype", machete.prepack_B, b, F16, t, 1)
    expect(TypeError, r"^b must be an int32 tensor", machete.prepack_B, b.to(torch.int16), F16, t)
    expect(ValueError, r"^b must be 2-D", machete.prepack_B, b.reshape(-1), F16, t)
    row_major = torch.empty(32, 256, dtype=torch.int32, device="cuda")
    expect(ValueError, r"^b must be column-major", machete.prepack_B, row_major, F16, t)
    bad_k = torch.empty(256, 4, dtype=torch.int32, device="cuda").t()  # K = 32
    expect(ValueError, r"^K=32 \(b.shape\[0\] \* \d\) must be a multiple of 64$", machete.prepack_B, bad_k, F16, t)
    bad_n = torch.empty(64, 32, dtype=torch.int32, device="cuda").t()
    expect(ValueError, r"^N=64 \(b.shape\[1\]\) must be a multiple of 128$", machete.prepack_B, bad_n, F16, t)


def test_prepack_on_cpu():
    b = torch.empty(256, 32, dtype=torch.int32).t()
    expect(ValueError, r"^b must be on a CUDA device, got cpu", machete.prepack_B, b, F16, st.uint4b8)


# ---- supported_schedules / heuristic -------------------------------------------------------------

@pytest.fixture
def model_backend():
    """The runtime answers from the build manifest the package carries."""
    assert _model.backend().source == "manifest"
    return "manifest"


@pytest.mark.parametrize("t", GPTQ + AWQ, ids=lambda t: t.name)
@pytest.mark.parametrize("a_dtype", [F16, BF16])
def test_supported_schedules_active_types(model_backend, t, a_dtype):
    zeros = a_dtype if t in AWQ else None
    got = machete.supported_schedules(a_dtype, t, a_dtype, zeros)
    assert got == BUILT
    assert machete.supported_schedules(a_dtype, t.id, a_dtype, zeros, None, None, a_dtype) == got


def test_supported_schedules_unsupported_is_empty(model_backend):
    assert machete.supported_schedules(F16, st.uint4b8) == []  # no group scales: not built
    assert machete.supported_schedules(F16, st.uint4b8, F16, F16) == []  # GPTQ has no zeros
    assert machete.supported_schedules(F16, st.uint4, F16) == []  # AWQ needs zeros
    assert machete.supported_schedules(F16, st.uint4b8, F16, out_type=BF16) == []
    assert machete.supported_schedules(torch.float32, st.uint4b8, torch.float32) == []
    assert machete.supported_schedules(F16, st.int4, F16) == []
    assert machete.supported_schedules(F16, st.uint4b8, F16, None, torch.float32, torch.float32) == []
    with pytest.raises(ValueError, match="unknown scalar type id"):
        machete.supported_schedules(F16, 5, F16)
    with pytest.raises(TypeError, match="a_type must be a torch.dtype"):
        machete.supported_schedules("f16", st.uint4b8, F16)


@pytest.mark.parametrize(
    "M, N, K, expected",
    [
        # M <= 16: the decode family, CUTLASS 256x16 at 8 < M <= 16 and N > 12288
        (1, 4096, 4096, "48x8_w16s3k64"),
        (1, 8192, 28672, "64x8_w16s3k64"),
        (1, 8192, 8192, "64x8_w16s3k64"),
        (8, 10240, 8192, "80x8_w16s3k64"),
        (1, 12288, 4096, "96x8_w8s4k64"),
        (16, 14336, 4096, "112x16_w8s4k64"),
        (16, 5120, 13824, "80x16_w8s4k64"),
        (16, 5120, 5120, "48x16_w16s2k64"),
        (1, 28672, 4096, "256x8_w8s3k32"),
        (9, 4096, 14336, "64x16_w16s2k64"),
        (16, 4096, 4096, "64x16_w8s4k64"),
        (16, 8192, 4096, "64x16_w16s2k64"),
        (16, 8192, 28672, "64x16_w16s2k64"),
        (10, 10240, 8192, "80x16_w8s4k64"),
        (10, 15360, 5120, "256x16_w4s3k32"),
        (16, 57344, 8192, "256x16_1x1x1"),
        (17, 4096, 4096, "64x16_w8s4k64"),  # 16 < M <= 64 on 4096x4096-sized layers: decode
        (17, 6144, 4096, "96x16_w8s4k64"),  # one wave of 16-token tiles: 2 x 64 CTAs
        (32, 4608, 3584, "80x16_w8s4k64"),
        (32, 3072, 3072, "48x16_w16s2k64"),
        (48, 4096, 4096, "96x16_w8s4k64"),  # 3 x 43
        (48, 5120, 3072, "128x16_w8s3k64"),
        (49, 3584, 3584, "112x16_w8s4k64"),  # 4 x 32
        (64, 2048, 2048, "64x16_w8s4k64"),
        (64, 4096, 4096, "128x32_w8s3k32"),  # 48 < M <= 64 stops at 112 wide
        (17, 8192, 8192, "128x32_2x1x1"),
        (17, 12288, 4096, "256x32_2x1x1"),
        (33, 4096, 4096, "96x16_w8s4k64"),
        (33, 6144, 4096, "128x64_2x1x1"),
        (33, 8192, 28672, "256x64_2x1x1"),
        (33, 12288, 16384, "256x64_2x1x1"),
        (33, 8192, 8192, "128x64_2x1x1"),
        # M > 64: the H100 re-fit (256x128 wide, 128x128 / 128x64 on smaller layers)
        (65, 4000, 4000, "128x64_2x1x1"),
        (65, 4096, 4096, "128x64_2x1x1"),
        (65, 8192, 4000, "128x128_2x1x1"),
        (65, 12288, 8192, "256x128_2x1x1"),
        (129, 4096, 4096, "128x128_2x1x1"),
        (129, 8192, 8192, "128x128_2x1x1"),
        (129, 12288, 16384, "256x128_2x1x1"),
        (129, 28672, 8192, "256x128_2x1x1"),
        (257, 4096, 4096, "128x128_2x1x1"),
        (257, 4096, 16384, "256x128_2x1x1"),
        (257, 8192, 4096, "256x128_2x1x1"),
        (513, 4096, 4096, "256x128_2x1x1"),
    ],
)
def test_heuristic_matches_spec(model_backend, M, N, K, expected):
    suffix = DECODE if "_w" in expected else CANON
    for t, z in ((st.uint4b8, None), (st.uint4, BF16)):
        assert machete.heuristic_schedule(M, N, K, BF16, t, BF16, z, device_name="NVIDIA H100 80GB HBM3") \
            == expected + suffix


def test_heuristic_schedule_follows_the_device_table(monkeypatch, tmp_path):
    """A manifest with a per-GPU table: a device name containing its pattern uses that table, any
    other name (or none) the default; $MACHETE_DEVICE_NAME stands in for the current device."""
    from machete_gen_pipeline import Options, generate
    from machete_ir import model as IR

    tables = (IR.DeviceHeuristic(device="H200", heuristic=IR.SPEC_HEURISTIC),)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(generate(Options(device_heuristics=tables))[1]["machete_build_manifest.json"])
    monkeypatch.setenv("MACHETE_BUILD_MANIFEST", str(manifest))
    _model.backend.cache_clear()
    try:
        impl = IR.impl_configs(device_heuristics=tables)[0]  # f16 x u4b8, f16 scales
        differ = 0
        for m in (1, 8, 16, 32, 64, 128, 256, 1024):
            for n in (4096, 6144, 8192, 10240, 28672, 57344):
                for k in (4096, 8192, 14336, 28672):
                    h200 = IR.SPEC_HEURISTIC.select(m, n, k).name
                    h100 = IR.H100_HEURISTIC.select(m, n, k).name
                    differ += h200 != h100
                    for name, want in (("NVIDIA H200", h200), ("NVIDIA H100 80GB HBM3", h100), ("", h100)):
                        assert IR.heuristic_for_device(impl, name).select(m, n, k).name == want
                        assert machete.heuristic_schedule(m, n, k, F16, st.uint4b8, F16, device_name=name) == want
                    monkeypatch.setenv("MACHETE_DEVICE_NAME", "NVIDIA H200")
                    assert machete.heuristic_schedule(m, n, k, F16, st.uint4b8, F16) == h200
                    monkeypatch.delenv("MACHETE_DEVICE_NAME")
        assert differ > 50  # the two tables really differ, so the test can tell them apart
        with pytest.raises(TypeError, match="device_name must be a str"):
            machete.heuristic_schedule(1, 4096, 4096, F16, st.uint4b8, F16, device_name=0)
    finally:
        monkeypatch.delenv("MACHETE_BUILD_MANIFEST")
        _model.backend.cache_clear()


def test_schedule_alias_normalisation():
    assert _model.normalize_schedule_name("128x16_1x1x1_TmaMI_TmaCoop_streamK") == "128x16_1x1x1" + CANON
    assert _model.normalize_schedule_name("128x16_1x1x1" + CANON) == "128x16_1x1x1" + CANON
    assert _model.normalize_schedule_name("bogus") == "bogus"


# ---- custom op registration ---------------------------------------------------------------------

def test_ops_registered():
    assert "machete::mm" in str(torch.ops.machete.mm.default._schema)
    assert "machete::prepack_B" in str(torch.ops.machete.prepack_B.default._schema)


def test_opcheck_on_meta():
    a, b, t, kw = make_args(device="meta", b_type=st.uint4)
    res = torch.library.opcheck(torch.ops.machete.mm.default, (a, b, t.id),
                                dict(group_scales=kw["group_scales"], group_zeros=kw["group_zeros"],
                                     group_size=64, schedule="128x16_1x1x1" + CANON))
    assert set(res.values()) == {"SUCCESS"}, res
    res = torch.library.opcheck(torch.ops.machete.prepack_B.default, (b, F16, t.id, F16))
    assert set(res.values()) == {"SUCCESS"}, res


def test_meta_outputs():
    a, b, t, kw = make_args(M=7, N=384, K=512, a_dtype=BF16, b_type=st.uint8b128, device="meta")
    d = machete.mm(a, b, t, **kw)
    assert d.shape == (7, 384) and d.dtype == BF16 and d.device.type == "meta"
    assert machete.prepack_B(b, BF16, t).shape == b.shape


def test_torch_compile_fake_propagation_and_trace_time_errors():
    torch._dynamo.reset()

    def f(a, b, s):
        return machete.mm(a, b, st.uint4b8, group_scales=s, group_size=64) + 1

    cf = torch.compile(f, backend="aot_eager", fullgraph=True)
    a, b, _, kw = make_args(device="meta")
    out = cf(a, b, kw["group_scales"])
    assert out.shape == (16, 256) and out.dtype == F16
    bad_a = torch.empty(16, 256, dtype=BF16, device="meta")
    with pytest.raises(Exception, match="group_scales dtype must equal a's dtype"):
        cf(bad_a, b, kw["group_scales"])


def test_missing_extension_error_message():
    try:
        import machete._C  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("machete._C is built here")
    with pytest.raises(RuntimeError, match=r"^machete: the CUDA extension was not built \("):
        ops._load_C()


# ---- what the CUDA implementation hands to machete._C (stubbed, run on CPU tensors) -----------

class _StubC:
    def __init__(self):
        self.calls = []

    def mm(self, *args):
        self.calls.append(("mm", args))
        a, b, out_type = args[0], args[1], args[3]
        return torch.zeros(a.shape[0], b.shape[1], dtype=out_type)

    def prepack_B(self, *args):
        self.calls.append(("prepack_B", args))
        return torch.empty_like(args[0])


@pytest.fixture
def stub_c(monkeypatch):
    stub = _StubC()
    monkeypatch.setattr(ops, "_DEVICE_TYPES", ("cuda", "meta", "cpu"))
    monkeypatch.setattr(ops, "_load_C", lambda: stub)
    return stub


def test_impl_forwards_resolved_args_to_C(stub_c):
    a, b, t, kw = make_args(device="cpu", b_type=st.uint4, group_size=-1)
    d = machete.mm(a, b, t, schedule="128x32_2x1x1_TmaMI_TmaCoop_streamK", **kw)
    assert d.shape == (16, 256) and d.dtype == F16
    (name, args), = stub_c.calls
    assert name == "mm"
    A, B, type_id, out_type, gs, gz, g, cs, ts, sched = args
    assert A is a and B is b and gs is kw["group_scales"] and gz is kw["group_zeros"]
    assert type_id == st.uint4.id and out_type == F16
    assert g == 256  # -1 resolved to K
    assert cs is None and ts is None
    assert sched == "128x32_2x1x1" + CANON  # alias normalised


def test_impl_gives_single_row_a_a_well_formed_stride(stub_c):
    _, b, t, kw = make_args(device="cpu")
    a = torch.zeros(256, 1, dtype=F16).t()  # (1, 256) with strides (1, 1)
    machete.mm(a, b, t, **kw)
    A = stub_c.calls[0][1][0]
    assert A.stride() == (256, 1) and A.data_ptr() == a.data_ptr()


def test_impl_prepack_forwards(stub_c):
    _, b, t, _ = make_args(device="cpu", b_type=st.uint8b128)
    out = machete.prepack_B(b, BF16, t)
    assert out.shape == b.shape
    (name, args), = stub_c.calls
    assert name == "prepack_B"
    assert args[0] is b and args[1] == BF16 and args[2] == st.uint8b128.id and args[3] is None


def test_impl_validates_before_calling_C(stub_c):
    a, b, t, kw = make_args(device="cpu")
    with pytest.raises(ValueError, match="group_size=32"):
        machete.mm(a, b, t, **dict(kw, group_size=32))
    assert stub_c.calls == []


def test_impl_empty_a_does_not_reach_C(stub_c):
    _, b, t, kw = make_args(device="cpu")
    d = machete.mm(torch.zeros(0, 256, dtype=F16), b, t, **kw)
    assert d.shape == (0, 256) and d.dtype == F16
    assert stub_c.calls == []


def test_agrees_with_built_extension():
    """Where machete._C is built (GPU machine): setup.py copied the manifest of that build into the
    package, so Python's answers equal what was compiled (schedules in dispatch order, heuristic)."""
    try:
        import machete._C as C
    except ImportError:
        pytest.skip("machete._C not built")
    for t in GPTQ + AWQ:
        for a_dtype in (F16, BF16):
            z = a_dtype if t in AWQ else None
            py = machete.supported_schedules(a_dtype, t, a_dtype, z)
            built = list(C.supported_schedules(a_dtype, t.id, a_dtype, z, None, None, a_dtype))
            assert built == py, (t.name, a_dtype)
            if not built:
                continue
            for M in (1, 8, 9, 16, 17, 33, 65, 129, 257, 4096):
                for N, K in ((4096, 4096), (12288, 16384), (4096, 4000), (28672, 8192), (8192, 28672)):
                    assert C.heuristic_schedule(M, N, K, a_dtype, t.id, a_dtype, z) == \
                        machete.heuristic_schedule(M, N, K, a_dtype, t, a_dtype, z), (t.name, M, N, K)
    assert machete.supported_schedules(F16, st.uint4b8) == list(
        C.supported_schedules(F16, st.uint4b8.id, None, None, None, None, F16))


# ---- W4A8 (a W4A8 build's manifest) --------------------------------------------------------------

@pytest.fixture
def w4a8_build(monkeypatch):
    """The runtime answering from the manifest of a W4A8 build (generate_machete.py --w4a8)."""
    import json

    from emitters.manifest import MANIFEST_FILE
    from machete_gen_pipeline import Options, generate

    data = json.loads(generate(Options(w4a8=True))[1][MANIFEST_FILE])
    w4a8 = _model._Manifest(data)
    monkeypatch.setattr(_model, "backend", lambda: w4a8)
    return w4a8


def make_w4a8(M=8, N=256, K=512, a_dtype=torch.int8, group_size=128):
    a = torch.empty(M, K, dtype=a_dtype, device="cuda")
    b = torch.empty(N, K // 8, dtype=torch.int32, device="cuda").t()
    kw = dict(channel_scales=torch.empty(N, device="cuda"), token_scales=torch.empty(M, device="cuda"))
    if group_size:
        kw.update(group_scales=torch.empty(K // group_size, N, dtype=F16, device="cuda"), group_size=group_size)
    return a, b, kw


@pytest.mark.parametrize("a_dtype", [torch.int8, torch.float8_e4m3fn], ids=["s8", "e4m3"])
@pytest.mark.parametrize("group_size", [128, None], ids=["g128", "channel"])
def test_w4a8_valid_calls_give_f16(w4a8_build, fake, a_dtype, group_size):
    a, b, kw = make_w4a8(a_dtype=a_dtype, group_size=group_size)
    out = machete.mm(a, b, st.uint4b8, **kw)
    assert out.shape == (8, 256) and out.dtype == torch.float16
    names = machete.supported_schedules(a_dtype, st.uint4b8, F16 if group_size else None, None,
                                        torch.float32, torch.float32)
    # the seven 8- and 4-warp decode schedules, two balanced ones and three 16-warp ones
    balanced = ["80x8_w16s3k64", "80x16_w8s4k64", "64x8_w16s3k64", "48x16_w16s2k64", "64x16_w16s2k64"]
    assert [n for n in names if n.endswith(DECODE)] == [s + DECODE for s in DECODE_SCHEDULES[:7] + balanced]
    cutlass = [n for n in names if n.endswith(CANON)]
    assert cutlass == ([] if group_size or a_dtype != torch.int8 else
                       [s + CANON for s in ("128x64_2x1x1", "128x128_2x1x1", "256x128_2x1x1")])
    pick = ops.heuristic_schedule(4096, 4096, 4096, a_dtype, st.uint4b8, F16 if group_size else None, None,
                                  torch.float32, torch.float32, device_name="H100")
    promote = [n for n in names if n.endswith("_PromoteWgmma")]
    assert promote == ([] if cutlass else ["128x64_s6_PromoteWgmma", "256x64_s6_PromoteWgmma",
                                           "128x128_s4_PromoteWgmma", "256x128_s4_PromoteWgmma"])
    assert pick.endswith(CANON if cutlass else "_PromoteWgmma")


@pytest.mark.parametrize("a_dtype", [torch.int8, torch.float8_e4m3fn], ids=["s8", "e4m3"])
def test_w4a8_types_on_a_default_build_name_the_switch(fake, a_dtype):
    # the default build has no W4A8 types: the errors say which switch builds them, and the
    # requested combination shows the W4A8 output type (f16), not a's
    a, b, kw = make_w4a8(a_dtype=a_dtype)
    hint = r" \(8-bit activations are the W4A8 types: build with MACHETE_W4A8=1, docs/W4A8.md\)$"
    expect(TypeError, r"^a dtype must be one of bfloat16, float16, got " + _dtype(a_dtype) + hint,
           machete.mm, a, b, st.uint4b8, **kw)
    short = "s8" if a_dtype == torch.int8 else "e4m3"
    expect(ValueError, rf"^unsupported type combination {short}u4b8f16voidf32f32f16 \(a, b, .*" + hint,
           ops.heuristic_schedule, 1, 4096, 4096, a_dtype, st.uint4b8, F16, None, torch.float32, torch.float32)
    assert machete.supported_schedules(a_dtype, st.uint4b8, F16, None, torch.float32, torch.float32) == []
    # an unsupported 16-bit combination gets no W4A8 hint
    msg = expect(ValueError, r"^unsupported type combination f16u4b8bf16", ops.heuristic_schedule,
                 1, 4096, 4096, F16, st.uint4b8, BF16)
    assert "MACHETE_W4A8" not in msg


def _dtype(dt) -> str:
    return str(dt).replace("torch.", "")


def test_w4a8_argument_errors(w4a8_build, fake):
    a, b, kw = make_w4a8()
    cs, ts, gs = kw["channel_scales"], kw["token_scales"], kw["group_scales"]
    # (views of fake CUDA tensors need CUDA in this torch build: the odd tensors are made directly)
    cases = [
        (ValueError, r"^token_scales \(M,\) of dtype float32 is required for a int8", dict(token_scales=None)),
        (ValueError, r"^channel_scales \(N,\) of dtype float32 is required", dict(channel_scales=None)),
        (ValueError, r"^channel_scales must have shape \(N,\) = \(256,\), got \(128,\)", dict(channel_scales=torch.empty(128, device="cuda"))),
        (ValueError, r"^token_scales must have shape \(M,\) = \(8,\)", dict(token_scales=torch.empty(2, 8, device="cuda"))),
        (TypeError, r"^channel_scales dtype must be one of float32, got float16", dict(channel_scales=cs.half())),
        (TypeError, r"^group_scales dtype must be float16 for a int8, got bfloat16", dict(group_scales=gs.bfloat16())),
        (ValueError, r"^out_type must be float16 for a int8, got bfloat16", dict(out_type=BF16)),
        (ValueError, r"^channel_scales must be contiguous", dict(channel_scales=torch.empty_strided((256,), (2,), device="cuda"))),
        (ValueError, r"^token_scales must be on the same device as a", dict(token_scales=torch.empty(8, device="cpu"))),
        (ValueError, r"^unknown schedule .*128x128_2x1x1.* for s8u4b8f16voidf32f32f16s32", dict(schedule="128x128_2x1x1" + CANON)),
    ]
    a16, b16, t16, kw16 = make_args()
    kw16.update(channel_scales=torch.empty(256, device="cuda"), token_scales=torch.empty(16, device="cuda"))
    for exc, pattern, over in cases:
        expect(exc, pattern, machete.mm, a, b, st.uint4b8, **{**kw, **over})
    # 16-bit activations still refuse them
    expect(ValueError, r"^unsupported type combination", machete.mm, a16, b16, t16, **kw16)
