"""GPU correctness of machete.mm / machete.prepack_B against the fp32 reference (SPEC §6)."""
import pytest
import torch

import machete
from machete import prepack_layout as pl
from machete import scalar_types as st

from .common import GROUP_SIZES, SHAPES, TYPES, Problem, built_schedules, has_zeros, type_id


def _skip_unbuilt(a_dtype, b_type, schedule=None):
    names = built_schedules(a_dtype, b_type)
    if not names:
        pytest.skip(f"type {type_id(a_dtype, b_type)} not built")
    if schedule is not None and schedule not in names:
        pytest.skip(f"schedule {schedule} not built")
    return names


def _heuristic_built(a_dtype, b_type, M, N, K):
    import machete._C as C
    s = C.heuristic_schedule(M, N, K, a_dtype, b_type.id, a_dtype, a_dtype if has_zeros(b_type) else None)
    if s not in built_schedules(a_dtype, b_type):
        pytest.skip(f"heuristic schedule {s} not built")


# ---- prepack: CUDA kernel == pure-torch model, bit for bit ------------------------------------
@pytest.mark.parametrize("a_dtype,b_type", TYPES, ids=[type_id(*t) for t in TYPES])
@pytest.mark.parametrize("K,N", [(64, 128), (4160, 4224), (28672, 256)])
def test_prepack_matches_model(a_dtype, b_type, K, N):
    _skip_unbuilt(a_dtype, b_type)
    bits = b_type.size_bits
    P = 32 // bits
    g = torch.Generator().manual_seed(K + N)
    vals = torch.randint(0, 1 << bits, (K, N), generator=g)
    b = pl.pack_values(vals, bits).t().contiguous().t()  # column-major
    got = machete.prepack_B(b.cuda(), a_dtype, b_type)
    assert got.shape == b.shape and got.dtype == torch.int32
    want = pl.prepack_for_type(b, b_type.id)
    assert torch.equal(pl.flat_words(got.cpu()), pl.flat_words(want))
    assert K * N // P == got.numel()


# ---- the SPEC matrix: 8 types x shapes x group sizes, heuristic schedule ----------------------
@pytest.mark.parametrize("a_dtype,b_type", TYPES, ids=[type_id(*t) for t in TYPES])
@pytest.mark.parametrize("M,N,K", SHAPES, ids=[f"{m}x{n}x{k}" for m, n, k in SHAPES])
@pytest.mark.parametrize("group_size", GROUP_SIZES, ids=[f"g{g}" for g in GROUP_SIZES])
def test_mm_matrix(a_dtype, b_type, M, N, K, group_size):
    _skip_unbuilt(a_dtype, b_type)
    if group_size != -1 and K % group_size:
        pytest.skip("group size does not divide K")
    _heuristic_built(a_dtype, b_type, M, N, K)
    p = Problem(M, N, K, a_dtype, b_type, group_size, seed=M * 7 + N + K)
    p.check(p.run())


# ---- every built schedule by name, GPTQ and AWQ types -----------------------------------------
@pytest.mark.parametrize("a_dtype,b_type", TYPES, ids=[type_id(*t) for t in TYPES])
@pytest.mark.parametrize("M,N,K,group_size", [(13, 4096, 4096, 128), (257, 4224, 4160, 64)])
def test_every_schedule_by_name(a_dtype, b_type, M, N, K, group_size):
    names = _skip_unbuilt(a_dtype, b_type)
    p = Problem(M, N, K, a_dtype, b_type, group_size, seed=3)
    for name in names:
        p.check(p.run(schedule=name))
    # the older single-underscore alias names the same kernel
    alias = names[0].replace("__", "_")
    p.check(p.run(schedule=alias))


# ---- sliced, non-contiguous A (row stride > K), also M == 1 -----------------------------------
@pytest.mark.parametrize("b_type", [st.uint4b8, st.uint4], ids=["u4b8", "u4"])
@pytest.mark.parametrize("M", [1, 37])
def test_sliced_a(b_type, M):
    a_dtype = torch.float16
    _skip_unbuilt(a_dtype, b_type)
    K, N = 4096, 4096
    _heuristic_built(a_dtype, b_type, M, N, K)
    big = (3 * torch.rand(M + 3, K + 192, device="cuda") - 2).to(a_dtype)
    a = big[2:2 + M, 64:64 + K]
    assert not a.is_contiguous() or M == 1
    p = Problem(M, N, K, a_dtype, b_type, 128, seed=5, a=a)
    p.check(p.run())


# ---- large K with many groups (upstream once returned garbage) -------------------------------
@pytest.mark.parametrize("b_type", [st.uint4b8, st.uint4, st.uint8b128], ids=["u4b8", "u4", "u8b128"])
@pytest.mark.parametrize("M", [1, 16, 300])
def test_large_k(b_type, M):
    a_dtype = torch.bfloat16 if b_type is st.uint4 else torch.float16
    _skip_unbuilt(a_dtype, b_type)
    _heuristic_built(a_dtype, b_type, M, 4096, 28672)
    p = Problem(M, 4096, 28672, a_dtype, b_type, 128, seed=11)
    p.check(p.run())


# ---- stream-K: repeated launches never hang and are deterministic -----------------------------
# (M, N, K) below include shapes on which CUTLASS example 55 + StreamKScheduler hung when it
# re-launched with a reused workspace (docs/GPU.md, first measurements): stream-K lock counters
# must be re-zeroed per call.
@pytest.mark.timeout(120, method="thread")
@pytest.mark.parametrize("M,N,K", [(1, 8192, 28672), (16, 8192, 28672), (1, 4096, 4096), (1, 57344, 8192), (256, 28672, 8192)])
def test_stream_k_repeat(M, N, K):
    a_dtype, b_type = torch.float16, st.uint4b8
    names = _skip_unbuilt(a_dtype, b_type)
    p = Problem(M, N, K, a_dtype, b_type, 128, seed=1)
    for name in names:
        first = p.run(schedule=name)
        p.check(first)
        for _ in range(20):
            out = p.run(schedule=name, poison=False)
        torch.cuda.synchronize()
        assert torch.equal(out, first), f"{name}: stream-K result changed between launches"


# ---- stream-K / split-K: back-to-back split launches, eager and in one graph -------------------
# CUTLASS schedules that split K zero their lock counters (one memset per call, ordered on the
# stream before the GEMM; csrc/machete/mm_kernel.cuh launches the kernel itself, without
# GemmUniversalAdapter). Several such calls back to back -- eager, then three captured in one graph
# and replayed -- must keep every result: a GEMM that met its predecessor's counters would hang or
# sum stale partials. The first four shapes take make_arguments' even split-K (2, 2, 2 and 4 splits:
# 128-feature tiles filling at most half the SMs), the last CUTLASS's stream-K heuristic; each is
# also checked with MACHETE_CUTLASS_SPLITK=0 (the heuristic everywhere) in a fresh process.
_STREAMK_SPLIT = [(128, 4096, 4096, "128x64_2x1x1_TmaMI__TmaCoop_streamK"),
                  (64, 8192, 8192, "128x64_2x1x1_TmaMI__TmaCoop_streamK"),
                  (256, 4096, 4096, "128x128_2x1x1_TmaMI__TmaCoop_streamK"),
                  (128, 4096, 8192, "128x128_2x1x1_TmaMI__TmaCoop_streamK"),
                  (24, 28672, 4096, "128x16_1x1x1_TmaMI__TmaCoop_streamK")]

_SPLITK_OFF_SCRIPT = r"""
import sys, torch
sys.path.insert(0, ".")
from machete import scalar_types as st
from tests.gpu.common import Problem
M, N, K, name = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
p = Problem(M, N, K, torch.float16, st.uint4b8, 128, seed=M + N)
for _ in range(3):
    p.check(p.run(schedule=name))
print("DONE", flush=True)
"""


@pytest.mark.timeout(180, method="thread")
@pytest.mark.parametrize("M,N,K,schedule", _STREAMK_SPLIT, ids=[f"{m}x{n}x{k}" for m, n, k, _ in _STREAMK_SPLIT])
def test_stream_k_split_back_to_back(M, N, K, schedule):
    a_dtype, b_type = torch.float16, st.uint4b8
    _skip_unbuilt(a_dtype, b_type, schedule)
    p = Problem(M, N, K, a_dtype, b_type, 128, seed=M + N)
    first = p.run(schedule=schedule)
    p.check(first)
    # the shape really splits: each call zeroes its counters once
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        p.run(schedule=schedule, poison=False)
        torch.cuda.synchronize()
    gpu_ops = [e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    assert sum("emset" in n for n in gpu_ops) == 1, gpu_ops
    outs = [p.run(schedule=schedule, poison=False) for _ in range(8)]  # back to back on one stream
    torch.cuda.synchronize()
    for o in outs:
        assert torch.equal(o, first), f"{schedule}: result changed between back-to-back launches"
    a_static = p.a.clone()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        p.run(a=a_static, schedule=schedule, poison=False)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        graph_outs = [p.run(a=a_static, schedule=schedule, poison=False) for _ in range(3)]
    for it in range(20):
        if it == 10:
            a_static.copy_((3 * torch.rand(M, K, device="cuda") - 2).to(a_dtype))
        for o in graph_outs:
            o.fill_(float("nan"))
        g.replay()
    torch.cuda.synchronize()
    for o in graph_outs:
        p.check(o, a=a_static)
        assert torch.equal(o, graph_outs[0])
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run([sys.executable, "-c", _SPLITK_OFF_SCRIPT, str(M), str(N), str(K), schedule], cwd=root,
                       env=dict(os.environ, MACHETE_CUTLASS_SPLITK="0"), capture_output=True, text=True, timeout=150)
    assert r.returncode == 0 and "DONE" in r.stdout, f"rc={r.returncode}: {r.stdout} {r.stderr[-2000:]}"


# ---- CUDA graph capture + replay --------------------------------------------------------------
def test_cuda_graph():
    a_dtype, b_type = torch.float16, st.uint4b8
    M, N, K = 512, 4096, 4096
    _skip_unbuilt(a_dtype, b_type)
    _heuristic_built(a_dtype, b_type, M, N, K)
    p = Problem(M, N, K, a_dtype, b_type, 128, seed=9)
    a_static = p.a.clone()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            p.run(a=a_static, poison=False)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        out = p.run(a=a_static, poison=False)
    out.fill_(float("nan"))
    g.replay()
    torch.cuda.synchronize()
    p.check(out, a=a_static)
    a_static.copy_((3 * torch.rand(M, K, device="cuda") - 2).to(a_dtype))
    out.fill_(float("nan"))
    for _ in range(3):
        g.replay()
    torch.cuda.synchronize()
    p.check(out, a=a_static)


# ---- errors are Python exceptions, not crashes (checked in a subprocess: a crash fails the test
# instead of killing the test session) ---------------------------------------------------------
_ERRORS_SCRIPT = r"""
import sys, torch
sys.path.insert(0, ".")
import machete, machete._C as C
from machete import scalar_types as st
from tests.gpu.common import Problem
p = Problem(16, 256, 256, torch.float16, st.uint4b8, 128, seed=2)
def expect(exc, f, tag):
    try:
        f()
    except exc as e:
        print("OK", tag, type(e).__name__, str(e)[:100].replace(chr(10), " "), flush=True)
        return
    print("NO-RAISE", tag, flush=True)
expect(ValueError, lambda: p.run(schedule="999x999_1x1x1_TmaMI__TmaCoop_streamK"), "py-schedule")
expect(ValueError, lambda: C.mm(p.a, p.b_pre, st.uint4b8.id, None, p.q.scales, None, 128, None, None,
                                "999x999_1x1x1_TmaMI__TmaCoop_streamK"), "c-schedule")
expect(ValueError, lambda: C.mm(p.a, p.b_pre, st.uint4b8.id, None, p.q.scales, None, 96, None, None, None), "c-group96")
expect(ValueError, lambda: C.mm(p.a, p.b_pre, 0x1234, None, p.q.scales, None, 128, None, None, None), "c-btype")
expect(ValueError, lambda: C.mm(p.a[:, :192], p.b_pre, st.uint4b8.id, None, p.q.scales, None, 128, None, None, None), "c-K")
expect(ValueError, lambda: C.prepack_B(p.b_packed[:, :100], torch.float16, st.uint4b8.id), "c-prepack-N")
print("DONE", flush=True)
"""


def test_errors():
    import os
    import subprocess
    import sys
    _skip_unbuilt(torch.float16, st.uint4b8)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run([sys.executable, "-c", _ERRORS_SCRIPT], cwd=root, capture_output=True, text=True,
                       timeout=120)
    print(r.stdout, r.stderr[-2000:])
    assert r.returncode == 0, f"error-path subprocess died (rc={r.returncode}): {r.stdout} {r.stderr[-1500:]}"
    assert "NO-RAISE" not in r.stdout and r.stdout.count("OK ") == 6 and "DONE" in r.stdout, r.stdout


# ---- decode family: CUDA graphs, including a first-ever call inside the capture ---------------
# The decode launcher sizes its cluster split from the kernel's occupancy (queried once, with the
# dynamic shared-memory limit raised then). If that first query happens while a graph is being
# captured it must neither fail nor break the capture: run it in a fresh process.
_DECODE_GRAPH_SCRIPT = r"""
import sys, torch
sys.path.insert(0, ".")
import machete
from machete import scalar_types as st
from tests.gpu.common import Problem
name = sys.argv[1]
for M in (1, 16):
    p = Problem(M, 4096, 4096, torch.float16, st.uint4b8, 128, seed=M)
    a_static = p.a.clone()
    g = torch.cuda.CUDAGraph()
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        with torch.cuda.graph(g):
            out = p.run(a=a_static, schedule=name, poison=False)
    out.fill_(float("nan"))
    g.replay()
    torch.cuda.synchronize()
    p.check(out, a=a_static)
    a_static.copy_((3 * torch.rand(M, 4096, device="cuda") - 2).half())
    g.replay()
    torch.cuda.synchronize()
    p.check(out, a=a_static)
print("DONE", flush=True)
"""


@pytest.mark.parametrize("schedule", ["64x8_w8s6k64_DecodeMma_clusterK", "128x16_w8s3k64_DecodeMma_clusterK"])
def test_decode_first_call_inside_graph_capture(schedule):
    import os
    import subprocess
    import sys
    _skip_unbuilt(torch.float16, st.uint4b8, schedule)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run([sys.executable, "-c", _DECODE_GRAPH_SCRIPT, schedule], cwd=root, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and "DONE" in r.stdout, f"rc={r.returncode}: {r.stdout} {r.stderr[-2000:]}"


# ---- decode family: ragged N tiles, many token tiles, every cluster split --------------------
@pytest.mark.parametrize("b_type", [st.uint4b8, st.uint4, st.uint8b128, st.uint8], ids=lambda t: t.short_name)
@pytest.mark.parametrize("M,N,K,group_size", [(1, 384, 8192, 128), (7, 640, 256, 64), (33, 1152, 1024, -1),
                                              (16, 128, 28672, 128)])
def test_decode_schedules_odd_shapes(b_type, M, N, K, group_size):
    a_dtype = torch.bfloat16 if b_type in (st.uint4, st.uint8) else torch.float16
    names = [n for n in _skip_unbuilt(a_dtype, b_type) if "DecodeMma" in n]
    if not names:
        pytest.skip("no decode schedule built")
    p = Problem(M, N, K, a_dtype, b_type, group_size, seed=M + N)
    for name in names:
        p.check(p.run(schedule=name))


# ---- the eager hot path (validate_mm_args's cached dtype-level plan) -----------------------------
@pytest.mark.parametrize("b_type", [st.uint4b8, st.uint4], ids=lambda t: t.name)
def test_hot_path_rejects_what_the_full_validation_rejects(b_type):
    """After a valid call (which caches its dtypes' plan), calls with the same dtypes but a bad
    shape, stride, alignment or group size still get the one-line errors, and a valid call gives
    the same result as with the plan cache cleared."""
    from machete import ops
    _skip_unbuilt(torch.float16, b_type)
    p = Problem(16, 256, 512, torch.float16, b_type, 128, seed=3)
    ops._PLANS.clear()
    cold = p.run(poison=False)
    assert ops._PLANS, "a valid eager call left no plan"
    hot = p.run(poison=False)
    torch.testing.assert_close(hot, cold, rtol=0, atol=0)
    p.check(hot)
    kw = dict(group_scales=p.q.scales, group_zeros=p.q.zeros, group_size=128)
    wide = torch.empty(16, 512 + 1, dtype=torch.float16, device="cuda")
    bad = {
        "a row stride": lambda: machete.mm(wide[:, :512], p.b_pre, b_type, **kw),
        "a start": lambda: machete.mm(wide.view(-1)[1:1 + 16 * 512].view(16, 512), p.b_pre, b_type, **kw),
        "a column-major": lambda: machete.mm(p.a.t().contiguous().t(), p.b_pre, b_type, **kw),
        "K of b": lambda: machete.mm(p.a[:, :448], p.b_pre, b_type, **kw),
        "group size": lambda: machete.mm(p.a, p.b_pre, b_type, **{**kw, "group_size": 96}),
        "group scales shape": lambda: machete.mm(p.a, p.b_pre, b_type, **{**kw, "group_scales": p.q.scales[:2]}),
        "a on the CPU": lambda: machete.mm(p.a.cpu(), p.b_pre, b_type, **kw),
    }
    for name, call in bad.items():
        with pytest.raises((ValueError, TypeError)) as info:
            call()
        assert "\n" not in str(info.value), (name, str(info.value))
