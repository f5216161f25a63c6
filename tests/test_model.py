"""Model layer: the SPEC §2/§3 facts and construction-time validation."""

from __future__ import annotations

import attrs
import pytest

from machete_ir import expr as E
from machete_ir import model as M
from machete_ir.model import Dt, ScheduleConfig, TypeConfig, schedule

SPEC_SIGNATURES = [
    "f16u4b8f16voidvoidvoidf16f32", "bf16u4b8bf16voidvoidvoidbf16f32",
    "f16u8b128f16voidvoidvoidf16f32", "bf16u8b128bf16voidvoidvoidbf16f32",
    "f16u4f16f16voidvoidf16f32", "bf16u4bf16bf16voidvoidbf16f32",
    "f16u8f16f16voidvoidf16f32", "bf16u8bf16bf16voidvoidbf16f32",
]
SPEC_SCHEDULE_ORDER = ["128x128_2x1x1", "128x256_2x1x1", "128x64_2x1x1", "128x32_2x1x1",
                       "256x128_2x1x1", "128x16_1x1x1", "256x64_2x1x1", "256x32_2x1x1",
                       "256x16_1x1x1"]


def test_type_configs_in_spec_order():
    assert [t.signature for t in M.TYPE_CONFIGS] == SPEC_SIGNATURES


def test_sixteen_rules_nine_schedules_seventy_two_entry_points():
    assert len(M.SPEC_HEURISTIC.rules) == 16
    assert [s.name.removesuffix("_TmaMI__TmaCoop_streamK") for s in M.SPEC_SCHEDULES] == SPEC_SCHEDULE_ORDER
    # the built set: the 9 SPEC schedules, then the 7 + 2 (16-warp) decode schedules, for each of the
    # 8 types
    assert M.SCHEDULES[:9] == M.SPEC_SCHEDULES
    assert M.SCHEDULES[9:] == M.DECODE_SCHEDULES + M.DECODE_W16_SCHEDULES + M.DECODE_BALANCED_SCHEDULES
    assert sum(len(i.schedules) for i in M.impl_configs()) == 8 * 26


def test_default_heuristic_is_the_h100_refit():
    rules = M.H100_HEURISTIC.rules
    assert rules[-1].cond is None and set(M.H100_HEURISTIC.schedules) <= set(M.SCHEDULES)
    t = M.TYPE_CONFIGS[0]
    shapes = ((4096, 4096), (57344, 8192), (8192, 28672), (128, 128), (10240, 8192), (6144, 4096))
    for n, k in shapes:
        for m in (1, 8):  # decode everywhere at M <= 8
            assert M.select_schedule(t, m, n, k).is_decode, (m, n, k)
        for m in (1024, 4096):  # the H100 re-fit: 256x128 at M > 512 (but one wave on the smallest layers)
            want = "128x32" if (n, k, m) == (128, 128, 1024) else "256x128"
            assert M.select_schedule(t, m, n, k).name == want + "_2x1x1_TmaMI__TmaCoop_streamK", (m, n, k)
        for m in (65, 128, 256, 512):  # CUTLASS above M = 64 (but on the smallest layers, below)
            assert M.select_schedule(t, m, n, k).is_decode == ((n, k) == (128, 128) and m <= 256), (m, n, k)
    # 8 < M <= 16: decode up to N = 12288, CUTLASS 256x16 (stream-K) at wider N
    assert M.select_schedule(t, 16, 8192, 28672).name == "64x16_w16s2k64_DecodeMma_clusterK"
    assert M.select_schedule(t, 16, 4096, 4096).name == "64x16_w8s4k64_DecodeMma_clusterK"
    # 16-warp CTAs at M <= 8 on N <= 8192 except 4096x4096-sized layers, 128 x 8 up to N = 12288
    assert M.select_schedule(t, 1, 4096, 4096).name == "48x8_w16s3k64_DecodeMma_clusterK"
    assert M.select_schedule(t, 8, 8192, 8192).name == "64x8_w16s3k64_DecodeMma_clusterK"
    assert M.select_schedule(t, 1, 16384, 8192).name == "256x8_w8s3k32_DecodeMma_clusterK"
    assert M.select_schedule(t, 16, 15360, 5120).name == "256x16_w4s3k32_DecodeMma_clusterK"
    assert M.select_schedule(t, 1, 4096, 14336).name == "64x8_w16s3k64_DecodeMma_clusterK"
    # tile_n = 16 * ceil(N / 2048): at most 128 tiles for 4096 < N <= 14336
    for n, w in ((6144, 48), (10240, 80), (11008, 96), (12288, 96), (13824, 112), (14336, 112)):
        assert M.select_schedule(t, 1, n, 4096).tile_n == w == M.select_schedule(t, 16, n, 4096).tile_n, n
    # balanced widths where no power of two fills the SMs: 128 tiles of 80 at N = 10240, of 48 at
    # N = 6144, 64 of 80 (split 2) at N = 5120
    for m, w in ((1, "80x8_w16s3k64"), (16, "80x16_w8s4k64")):
        assert M.select_schedule(t, m, 10240, 8192).name == w + "_DecodeMma_clusterK"
        assert M.select_schedule(t, m, 5120, 27648).name == w + "_DecodeMma_clusterK"
    assert M.select_schedule(t, 1, 6144, 4096).name == "48x8_w16s3k64_DecodeMma_clusterK"
    assert M.select_schedule(t, 16, 6144, 4096).name == "48x16_w16s2k64_DecodeMma_clusterK"
    assert M.select_schedule(t, 16, 57344, 8192).name == "256x16_1x1x1_TmaMI__TmaCoop_streamK"
    # 64 < M <= 128, K <= 4096: one wave of 16-token decode tiles where ceil(M / 16) x ceil(N / width) fit
    # 132 SMs (N <= 2816 at M <= 96, N <= 2048 at M <= 128), else CUTLASS
    assert M.select_schedule(t, 96, 1536, 1536).name == "80x16_w8s4k64_DecodeMma_clusterK"
    assert M.select_schedule(t, 128, 2048, 2048).name == "128x16_w8s3k64_DecodeMma_clusterK"
    assert not M.select_schedule(t, 128, 2304, 2048).is_decode
    # K <= 3072: the first of 128x32, 128x64, 128x128, 256x64, 256x128 whose tiles fit one wave
    one_wave = {(256, 1536, 1536): "128x32", (512, 1536, 1536): "128x64", (192, 4096, 2048): "128x64",
                (384, 4096, 2048): "128x128", (192, 8960, 1536): "256x64", (256, 8960, 1536): "256x128",
                (96, 4096, 2048): "128x32", (128, 4096, 3072): "128x32", (192, 3072, 3072): "128x64",
                (1024, 2048, 2048): "128x128", (640, 1024, 896): "128x64", (1024, 3072, 3072): "256x128",
                (2048, 2048, 2048): "256x128", (1024, 2048, 4096): "256x128"}
    for (m, n, k), tile in one_wave.items():
        assert M.select_schedule(t, m, n, k).name == tile + "_2x1x1_TmaMI__TmaCoop_streamK", (m, n, k)
    # K = 4096 keeps the earlier rules; narrow long-K layers take 128x64 / 128x128, not 256x128
    assert M.select_schedule(t, 192, 4096, 4096).name == "128x128_2x1x1_TmaMI__TmaCoop_streamK"
    assert M.select_schedule(t, 128, 4096, 4096).name == "128x64_2x1x1_TmaMI__TmaCoop_streamK"
    assert M.select_schedule(t, 192, 1536, 8960).name == "128x64_2x1x1_TmaMI__TmaCoop_streamK"
    assert M.select_schedule(t, 384, 1536, 8960).name == "128x128_2x1x1_TmaMI__TmaCoop_streamK"
    assert M.select_schedule(t, 384, 3072, 8192).name == "256x128_2x1x1_TmaMI__TmaCoop_streamK"
    # small layers stay on the decode family up to M = 64
    assert M.select_schedule(t, 64, 4096, 4096).name == "128x32_w8s3k32_DecodeMma_clusterK"
    assert M.select_schedule(t, 64, 57344, 8192).name == "256x64_2x1x1_TmaMI__TmaCoop_streamK"


def test_non_power_of_two_n_tiles_are_decode_only():
    assert ScheduleConfig(tile_n=80, tile_m=8, kind=M.KernelKind.decode, warps=16, stages=3, k_chunk=64).tile_n == 80
    with pytest.raises(ValueError, match="power of two in"):
        M.schedule("80x16", "1x1x1")
    with pytest.raises(ValueError, match="power of two in"):
        M.parse_schedule_name("96x64_1x1x1_TmaMI__TmaCoop_streamK")
    with pytest.raises(ValueError, match="power of two in"):
        M.promote_schedule("192x128", stages=3)


def test_decode_schedule_names_round_trip():
    for s in M.DECODE_SCHEDULES + M.DECODE_W16_SCHEDULES + M.DECODE_BALANCED_SCHEDULES:
        assert M.parse_schedule_name(s.name) == s
        assert M.canonical_schedule_name(s.name) == s.name
    assert M.DECODE_SCHEDULES[0].name == "64x8_w8s6k64_DecodeMma_clusterK"


@pytest.mark.parametrize("kwargs,match", [
    (dict(tile_m=64), "M tile must be one of"),
    (dict(warps=3), "warps must be one of"),
    (dict(stages=1), "stages must be in 2..8"),
    (dict(k_chunk=128), "k_chunk must be one of"),
    (dict(cluster=(2, 1, 1)), "chosen at run time"),
    (dict(tile_n=256, tile_m=32, warps=8, stages=8, k_chunk=64), "shared memory"),
    (dict(tile_n=80, warps=16, stages=2), "8-bit weights need more than 227 KB"),
    (dict(tile_n=72), "multiple of 16 in"),
    (dict(tile_n=16), "multiple of 16 in"),
    (dict(tile_n=272), "multiple of 16 in"),
])
def test_decode_schedule_validation(kwargs, match):
    base = dict(tile_n=128, tile_m=16, kind=M.KernelKind.decode, warps=8, stages=3, k_chunk=64)
    with pytest.raises(ValueError, match=match):
        ScheduleConfig(**{**base, **kwargs})


def test_cutlass_schedule_rejects_decode_fields():
    with pytest.raises(ValueError, match="decode-schedule fields"):
        ScheduleConfig(tile_n=128, tile_m=16, cluster=(1, 1, 1), warps=8)


def test_reference_4069_is_kept():
    rule6 = M.SPEC_HEURISTIC.rules[5]
    assert E.render(rule6.cond) == "M > 64 && K <= 4069 && N <= 4069"
    assert "reference" in rule6.note


def test_w4a8_schedules_and_heuristics():
    h = M.W4A8_HEURISTIC
    assert [r.schedule.name.split("_")[0] for r in h.rules] == [
        "64x8", "80x8", "80x8", "64x8", "64x8", "128x8", "80x16", "80x16", "48x16", "64x16", "64x16", "128x16",
        "128x32", "128x32", "256x64", "128x64", "128x64",
        "256x128", "128x128", "256x128", "128x128", "256x128"]
    assert h.rules[-1].cond is None
    assert all((s.is_decode and s.k_chunk >= 32) or s.is_promote for s in M.W4A8_SCHEDULES + h.schedules)
    assert [s.name for s in M.PROMOTE_SCHEDULES] == [
        "128x64_s6_PromoteWgmma", "256x64_s6_PromoteWgmma", "128x128_s4_PromoteWgmma", "256x128_s4_PromoteWgmma"]
    assert len(M.W4A8_TYPE_CONFIGS) == 4
    assert {t.a for t in M.W4A8_TYPE_CONFIGS} == {Dt.s8, Dt.e4m3}
    assert h.select(1, 4096, 4096).name.startswith("64x8") and h.select(8, 12288, 4096).name.startswith("128x8")
    assert h.select(16, 4096, 4096).name.startswith("64x8") and h.select(16, 12288, 4096).name.startswith("128x16")
    # 16-warp 64 / 48-wide tiles on N <= 8192 (N <= 4096 at any K; K <= 8192 above that); s8 without
    # group scales keeps 128 x 16 at M <= 16 except on N <= 6144
    w16_8, w16_16, w16_48 = (f"{t}_DecodeMma_clusterK" for t in ("64x8_w16s3k64", "64x16_w16s2k64", "48x16_w16s2k64"))
    assert h.select(8, 8192, 4096).name == h.select(1, 4096, 14336).name == h.select(1, 6144, 8192).name == w16_8
    assert h.select(1, 8192, 8193).name.startswith("128x8") and h.select(16, 8192, 28672).name.startswith("128x16")
    assert h.select(16, 8192, 8192).name == h.select(9, 4096, 14336).name == w16_16
    assert h.select(16, 6144, 4096).name == h.select(16, 5120, 5120).name == w16_48
    c = M.W4A8_CHANNEL_HEURISTIC
    assert c.select(1, 8192, 8192).name == w16_8 and c.select(16, 6144, 4096).name == w16_48
    assert c.select(16, 8192, 8192).name.startswith("128x16") and c.select(16, 4096, 14336).name.startswith("128x16")
    assert {s.name for s in M.W4A8_BALANCED_SCHEDULES} >= {w16_8, w16_16, w16_48}
    assert h.select(17, 4096, 4096).name.startswith("128x32") and h.select(32, 8192, 8192).is_decode
    # balanced widths (80) at 8192 < N <= 10240 and at N = 5120 with wide K, not at small K
    assert h.select(1, 10240, 8192).name == h.select(8, 5120, 13824).name == "80x8_w16s3k64_DecodeMma_clusterK"
    assert h.select(16, 10240, 8192).name == h.select(9, 5120, 27648).name == "80x16_w8s4k64_DecodeMma_clusterK"
    assert h.select(16, 5120, 5120).name.startswith("48x16") and h.select(1, 12288, 8192).name.startswith("128x8")
    # select(M, N, K)
    assert h.select(64, 4096, 4096).is_decode and h.select(64, 4096, 14336).name == "128x64_s6_PromoteWgmma"
    assert h.select(64, 28672, 8192).name == "256x64_s6_PromoteWgmma"
    assert h.select(33, 8192, 8192).name == "128x64_s6_PromoteWgmma"
    assert h.select(256, 4096, 4096).name == "128x64_s6_PromoteWgmma"
    assert h.select(128, 28672, 8192).name == "256x128_s4_PromoteWgmma"
    assert h.select(128, 8192, 28672).name == h.select(128, 14336, 4096).name == "128x128_s4_PromoteWgmma"
    # held-out re-fit, then the split last wave: 128 x 128 to M = 128 (4096x14336 too), 256 x 128 to
    # M = 256, 128 x 128 to M = 512 on N <= 6144 (a 256 x 128 grid there is 80 tiles: 0.6 of a wave)
    assert h.select(128, 5120, 27648).name == h.select(128, 4096, 14336).name == "128x128_s4_PromoteWgmma"
    assert h.select(129, 5120, 27648).name == h.select(256, 8192, 28672).name == "256x128_s4_PromoteWgmma"
    assert h.select(257, 5120, 27648).name == h.select(512, 6144, 8192).name == "128x128_s4_PromoteWgmma"
    assert h.select(512, 8192, 28672).name == h.select(513, 5120, 27648).name == "256x128_s4_PromoteWgmma"
    assert h.select(4096, 4096, 4096).name == "256x128_s4_PromoteWgmma"
    # s8 without group scales: decode to M = 32, then CUTLASS
    c = M.W4A8_CHANNEL_HEURISTIC
    assert c.select(1, 4096, 4096).is_decode and c.select(32, 8192, 8192).is_decode
    assert c.select(33, 8192, 8192).name == "128x64_2x1x1_TmaMI__TmaCoop_streamK"
    assert c.select(64, 4096, 4096).is_decode and c.select(65, 4096, 4096).name.startswith("128x64")
    assert c.select(64, 5120, 27648).name.startswith("128x64") and c.select(65, 5120, 27648).name.startswith("128x128")
    assert c.select(128, 27648, 5120).name.startswith("256x128") and c.select(128, 8192, 8192).name.startswith("128x128")
    assert c.select(256, 4096, 4096).name.startswith("128x64") and c.select(256, 8192, 4096).name.startswith("256x128")
    assert c.select(129, 8192, 8192).name == "256x128_2x1x1_TmaMI__TmaCoop_streamK"
    impls = {i.types.signature: i for i in M.impl_configs(w4a8=True)}
    assert impls["s8u4b8voidvoidf32f32f16s32"].heuristic is c
    assert len(impls["s8u4b8voidvoidf32f32f16s32"].schedules) == 12 + 3
    for sig in ("s8u4b8f16voidf32f32f16s32", "e4m3u4b8f16voidf32f32f16f32", "e4m3u4b8voidvoidf32f32f16f32"):
        assert impls[sig].heuristic is h and all(s.is_decode or s.is_promote for s in impls[sig].schedules)
        assert len(impls[sig].schedules) == 12 + 4
    assert sum(len(i.schedules) for i in M.impl_configs(w4a8=True)) == 8 * 26 + 3 * (12 + 4) + 12 + 3


def test_w4a8_types_refuse_unsupported_schedules():
    by_sig = {t.signature: t for t in M.W4A8_TYPE_CONFIGS}
    grouped, channel = by_sig["s8u4b8f16voidf32f32f16s32"], by_sig["s8u4b8voidvoidf32f32f16s32"]
    e4m3 = by_sig["e4m3u4b8voidvoidf32f32f16f32"]
    cutlass = M.schedule("128x16", "1x1x1")
    for t in (grouped, e4m3):
        with pytest.raises(ValueError, match="decode schedules with k_chunk 32 or 64 and promote ones"):
            M.ImplConfig(types=t, schedules=(cutlass,), heuristic=M.W4A8_HEURISTIC)
        with pytest.raises(ValueError, match="decode schedules"):  # a heuristic picking CUTLASS
            M.ImplConfig(types=t, schedules=M.W4A8_SCHEDULES, heuristic=M.H100_HEURISTIC)
    M.ImplConfig(types=channel, schedules=(cutlass,) + M.W4A8_SCHEDULES, heuristic=M.W4A8_HEURISTIC)
    k16 = attrs.evolve(M.DECODE_SCHEDULES[0], k_chunk=16)
    with pytest.raises(ValueError, match="k_chunk 32 or 64"):
        M.ImplConfig(types=channel, schedules=M.W4A8_SCHEDULES + (k16,), heuristic=M.W4A8_HEURISTIC)
    # 16-bit activations never get the promote kernel
    with pytest.raises(ValueError, match="promote schedules are for 8-bit activations"):
        M.ImplConfig(types=M.TYPE_CONFIGS[0], schedules=M.SCHEDULES + M.PROMOTE_SCHEDULES[:1],
                     heuristic=M.H100_HEURISTIC)


@pytest.mark.parametrize("tile,stages,match", [
    ("64x128", 4, "N tile must be one of"),
    ("256x32", 4, "M tile must be one of"),
    ("128x128", 1, "stages must be in 2..8"),
    ("256x128", 5, "more than 227 KB"),
])
def test_promote_schedule_validation(tile, stages, match):
    with pytest.raises(ValueError, match=match):
        M.promote_schedule(tile, stages=stages)


def test_promote_schedule_fields_and_names():
    s = M.promote_schedule("256x128", stages=4)
    assert s.name == "256x128_s4_PromoteWgmma" and M.parse_schedule_name(s.name) == s
    assert M.promote_smem_bytes(256, 128, 4) <= 227 * 1024 < M.promote_smem_bytes(256, 128, 5)
    with pytest.raises(ValueError, match="decode-schedule fields"):
        attrs.evolve(s, warps=8)
    with pytest.raises(ValueError, match="without clusters"):
        attrs.evolve(s, cluster=(2, 1, 1))
    with pytest.raises(ValueError, match="malformed schedule name"):
        M.parse_schedule_name("256x128_PromoteWgmma")


# SPEC §7 shapes (K, N) x M -> what the reference heuristic picks (rules applied by hand).
@pytest.mark.parametrize("m,n,k,expected", [
    (1, 6144, 4096, "128x16_1x1x1"), (16, 28672, 4096, "256x16_1x1x1"),
    (17, 4096, 14336, "256x32_2x1x1"), (32, 4096, 4096, "128x32_2x1x1"),
    (64, 6144, 4096, "128x16_1x1x1"), (64, 57344, 8192, "128x64_2x1x1"),
    (64, 57344, 28672, "256x64_2x1x1"),
    # K=4096 > 4069: rules 6 and 7 do not apply (the reference quirk); rule 9 does
    (128, 4096, 4096, "128x128_2x1x1"), (128, 4096, 4000, "128x64_2x1x1"),
    (128, 3968, 3968, "128x32_2x1x1"),
    (128, 8192, 4096, "128x128_2x1x1"), (128, 57344, 8192, "256x128_2x1x1"),
    (256, 4096, 4096, "128x64_2x1x1"), (256, 10240, 8192, "128x256_2x1x1"),
    (512, 4096, 14336, "128x128_2x1x1"), (1024, 8192, 28672, "128x256_2x1x1"),
    (4096, 28672, 4096, "128x256_2x1x1"), (1, 57344, 8192, "256x16_1x1x1"),
])
def test_select_schedule_matches_reference(m, n, k, expected):
    t = M.TYPE_CONFIGS[0]
    assert M.select_schedule(t, m, n, k, heuristic=M.SPEC_HEURISTIC).name.startswith(expected + "_")


@pytest.mark.parametrize("kwargs,match", [
    (dict(a=Dt.u4), "activation type"),
    (dict(b=Dt.f16), "weight type"),
    (dict(accumulator=Dt.s32), "accumulator"),
    (dict(b_group_scale=Dt.bf16), "group scale type must equal a"),
    (dict(b_group_zeropoint=Dt.f16), "carries its zero"),
])
def test_type_config_validation(kwargs, match):
    base = attrs.asdict(M.TYPE_CONFIGS[0], recurse=False)
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        TypeConfig(**base)


@pytest.mark.parametrize("tile,cluster,match", [
    ("100x16", "1x1x1", "N tile"), ("128x24", "1x1x1", "M tile"), ("128x512", "1x1x1", "M tile"),
    ("128x16", "3x1x1", "cluster"), ("128x16", "4x4x1", "cluster"), ("128x16", "1x1x2", "cluster"),
])
def test_schedule_validation(tile, cluster, match):
    with pytest.raises(ValueError, match=match):
        schedule(tile, cluster)


def test_heuristic_needs_unconditional_last_rule():
    s = schedule("128x16", "1x1x1")
    with pytest.raises(ValueError, match="last rule"):
        M.Heuristic(name="x", rules=(M.HeuristicRule(cond=E.gt(E.M, 1), schedule=s),))
    with pytest.raises(ValueError, match="unconditional but not last"):
        M.Heuristic(name="x", rules=(M.HeuristicRule(cond=None, schedule=s),
                                     M.HeuristicRule(cond=None, schedule=s)))


def test_model_values_are_frozen_and_hashable():
    t = M.TYPE_CONFIGS[0]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        t.a = Dt.bf16  # type: ignore[misc]
    assert len({*M.TYPE_CONFIGS, *M.TYPE_CONFIGS}) == 8
    assert isinstance(M.SCHEDULES[0], ScheduleConfig) and hash(M.SCHEDULES[0])


def test_find_type_config_and_convert_type():
    t = M.find_type_config(Dt.bf16, Dt.u4, Dt.bf16, Dt.bf16)
    assert t is not None and t.signature == "bf16u4bf16bf16voidvoidbf16f32"
    assert t.convert_type is Dt.bf16
    assert M.find_type_config(Dt.f16, Dt.u4, Dt.f16) is None  # AWQ needs zeros
    assert M.find_type_config(Dt.f16, Dt.u4b8, Dt.f16, out=Dt.bf16) is None


def test_device_heuristics_are_validated_and_selected_by_name():
    h = M.Heuristic(name="tiny", rules=(M.HeuristicRule(cond=None, schedule=M.SCHEDULES[0]),))
    for bad in ("", 'H200"); evil("', "H200\n#include <x>", "x" * 65):
        with pytest.raises(ValueError, match="device name pattern"):
            M.DeviceHeuristic(device=bad, heuristic=h)
    d = M.DeviceHeuristic(device="H200", heuristic=h)
    impl = M.ImplConfig(types=M.TYPE_CONFIGS[0], schedules=M.SCHEDULES, heuristic=M.H100_HEURISTIC,
                        device_heuristics=(d,))
    assert impl.heuristics == (h, M.H100_HEURISTIC)
    assert M.heuristic_for_device(impl, "NVIDIA H200") is h
    assert M.heuristic_for_device(impl, "NVIDIA H100 80GB HBM3") is M.H100_HEURISTIC
    assert M.heuristic_for_device(impl, None) is M.H100_HEURISTIC
    with pytest.raises(ValueError, match="heuristic names must differ"):
        M.ImplConfig(types=M.TYPE_CONFIGS[0], schedules=M.SCHEDULES, heuristic=h, device_heuristics=(d,))
    # the default build carries the per-GPU tables; a tuned table given alone replaces them all
    assert all(i.device_heuristics == M.DEVICE_HEURISTICS for i in M.impl_configs())
    assert all(i.device_heuristics == () for i in M.impl_configs(heuristic=h))
