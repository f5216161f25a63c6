"""validate_mm_args's fast path (a dtype-level plan remembered after one full validation, then only
shape / stride / device / alignment checks) must accept and reject exactly what the full validation
does, with the same result and the same one-line error. Plain meta tensors take the fast path
(FakeTensors, used by test_ops_validation, never do), so these run on CPU."""

import random

import pytest
import torch

from machete import ops
from machete import scalar_types as st

F16, BF16 = torch.float16, torch.bfloat16
GPTQ = [st.uint4b8, st.uint8b128]
AWQ = [st.uint4, st.uint8]


def _outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except (TypeError, ValueError) as e:
        return (type(e).__name__, str(e))


def _both(args):
    """(full validation, validate_mm_args after the plan for these dtypes is cached)."""
    full = _outcome(ops._validate_mm_args_full, *args)
    fast = _outcome(ops.validate_mm_args, *args)
    return full, fast


def _valid(M, N, K, a_dtype, b_type, g, device="meta"):
    p = 32 // b_type.size_bits
    a = torch.empty(M, K, dtype=a_dtype, device=device)
    b = torch.empty(N, K // p, dtype=torch.int32, device=device).t()
    G = -(-K // (K if g in (None, -1) else g))
    gs = torch.empty(G, N, dtype=a_dtype, device=device)
    gz = torch.empty(G, N, dtype=a_dtype, device=device) if b_type in AWQ else None
    return [a, b, b_type.id, None, gs, gz, g, None, None, None]


@pytest.fixture(autouse=True)
def fresh_plans():
    ops._PLANS.clear()
    yield
    ops._PLANS.clear()


def test_plan_is_cached_and_used():
    args = _valid(16, 256, 256, F16, st.uint4b8, 64)
    first = ops.validate_mm_args(*args)
    assert len(ops._PLANS) == 1
    key = next(iter(ops._PLANS))
    plan = ops._PLANS[key]
    # the fast path alone gives the same result as the full validation
    assert ops._fast_mm_args(plan, *args[:2], args[4], args[5], args[6], args[8], args[9]) == first
    assert ops.validate_mm_args(*args) == first == ops._validate_mm_args_full(*args)


def _mutations(M, N, K, a_dtype, b_type, g):
    """Calls with the dtypes of a valid call but one bad shape, stride, offset, device or value."""
    p = 32 // b_type.size_bits
    base = _valid(M, N, K, a_dtype, b_type, g)
    out = {}

    def with_(i, x, name):
        args = list(base)
        args[i] = x
        out[name] = args

    big = torch.empty(M + 1, K + 64, dtype=a_dtype, device="meta")
    with_(0, big[:M, 1:K + 1], "a start misaligned")
    with_(0, torch.empty(M, K + 1, dtype=a_dtype, device="meta")[:, :K], "a row stride misaligned")
    with_(0, torch.empty(K, M, dtype=a_dtype, device="meta").t(), "a column-major")
    # a column stride of 2 with an otherwise valid (>= K, 16-byte multiple) row stride
    with_(0, torch.empty(M, 2 * K, dtype=a_dtype, device="meta")[:, ::2], "a column stride 2")
    with_(0, torch.empty(M, K, 1, dtype=a_dtype, device="meta"), "a 3-D")
    with_(1, torch.empty(K // p, N, dtype=torch.int32, device="meta"), "b row-major")
    with_(1, torch.empty(N, 2 * K // p, dtype=torch.int32, device="meta").t(), "b for another K")
    with_(1, torch.empty(N + 64, K // p, dtype=torch.int32, device="meta").t(), "N not a multiple of 128")
    with_(1, torch.empty(N, K // p, dtype=torch.int32, device="cpu").t(), "b on another device")
    gs = base[4]
    G = gs.shape[0]
    with_(4, torch.empty(G + 1, N, dtype=a_dtype, device="meta"), "group scales shape")
    with_(4, torch.empty(N, G, dtype=a_dtype, device="meta").t(), "group scales column-major")
    with_(4, torch.empty(G, 2 * N, dtype=a_dtype, device="meta")[:, ::2], "group scales column stride 2")
    with_(4, torch.empty(G * N + 1, dtype=a_dtype, device="meta")[1:].view(G, N), "group scales misaligned")
    with_(6, 96, "group size not a multiple of 64")
    with_(6, 0, "group size 0")
    with_(6, True, "group size a bool")
    with_(6, 3 * K, "group size larger than K")
    if b_type in AWQ:
        with_(5, torch.empty(N, G, dtype=a_dtype, device="meta").t(), "zeros layout differs")
        with_(5, torch.empty(G, N + 128, dtype=a_dtype, device="meta"), "zeros shape")
    a_k = torch.empty(M, K - 64 + 32, dtype=a_dtype, device="meta")
    b_k = torch.empty(N, (K - 64 + 32) // p, dtype=torch.int32, device="meta").t()
    args = list(base)
    args[0], args[1] = a_k, b_k
    out["K not a multiple of 64"] = args
    return out


@pytest.mark.parametrize("b_type", GPTQ + AWQ, ids=lambda t: t.name)
@pytest.mark.parametrize("g", [64, 128])
def test_every_mutation_rejected_like_the_full_validation(b_type, g):
    M, N, K = 16, 256, 512
    ok = _valid(M, N, K, F16, b_type, g)
    assert ops.validate_mm_args(*ok) == ops._validate_mm_args_full(*ok)
    assert ops._PLANS, "the valid call left no plan"
    for name, args in _mutations(M, N, K, F16, b_type, g).items():
        full, fast = _both(args)
        assert full[0] != "ok", f"{name}: the full validation accepted it"
        assert fast == full, f"{name}: fast path {fast} != full {full}"


def test_random_calls_agree_with_the_full_validation():
    """Random shapes, strides, offsets and group sizes over cached plans: same verdict, same
    MMArgs or the same error."""
    rng = random.Random(1234)
    seen = {"ok": 0, "error": 0}
    for _ in range(600):
        b_type = rng.choice(GPTQ + AWQ)
        a_dtype = rng.choice([F16, BF16])
        p = 32 // b_type.size_bits
        M = rng.choice([0, 1, 3, 16, 77])
        K = rng.choice([64, 128, 192, 256, 512, 96])
        N = rng.choice([128, 256, 384, 200])
        g = rng.choice([None, -1, 64, 128, 256, 32, 192])
        pad_a = rng.choice([0, 0, 8, 1])
        off_a = rng.choice([0, 0, 8, 3])
        a = torch.empty(max(M, 1) * (K + pad_a) + off_a, dtype=a_dtype, device="meta")
        a = a[off_a:off_a + M * (K + pad_a)].view(M, K + pad_a)[:, :K] if M else torch.empty(0, K, dtype=a_dtype, device="meta")
        rows = max(K // p, 1)
        b = torch.empty(N, rows, dtype=torch.int32, device="meta").t()
        if rng.random() < 0.1:
            b = torch.empty(rows, N, dtype=torch.int32, device="meta")
        gg = K if g in (None, -1) else max(g, 1)
        G = -(-K // gg)
        G_shape = G if rng.random() > 0.1 else G + 1
        pad_s = rng.choice([0, 0, 8, 1])
        gs = torch.empty(G_shape, N + pad_s, dtype=a_dtype, device="meta")[:, :N]
        gz = None
        if b_type in AWQ and rng.random() > 0.1:
            gz = torch.empty(G_shape, N + pad_s, dtype=a_dtype, device="meta")[:, :N]
        if rng.random() < 0.05:
            gs = None
        args = [a, b, b_type.id, None, gs, gz, g, None, None, None]
        # warm the plan for these dtypes with a valid call first, half of the time
        if rng.random() < 0.5:
            ops.validate_mm_args(*_valid(16, 256, 256, a_dtype, b_type, 64 if g not in (None, -1) else g))
        full, fast = _both(args)
        assert fast == full, f"{args[2:]} shapes {a.shape}/{a.stride()} {b.shape}/{b.stride()}: {fast} != {full}"
        fast2 = _outcome(ops.validate_mm_args, *args)  # now certainly with a plan if it was valid
        assert fast2 == full
        seen["ok" if full[0] == "ok" else "error"] += 1
    assert seen["ok"] > 50 and seen["error"] > 50, seen
