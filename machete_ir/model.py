"""The domain model: type configurations, schedules, heuristics (SPEC §2, §3).

Everything is a frozen attrs value validated on construction, so an invalid tile, an unknown type
or an unreachable rule fails where it is written, with a message that says which one.
"""

from __future__ import annotations

import enum
import re
from typing import Iterable, Sequence

import attrs
from ._cutlass import DataType, EpilogueScheduleType, KernelScheduleType, TileSchedulerType

from . import expr as E
from .expr import Cond, K, M, N
from .scalar_table import BY_SHORT as _SCALARS


class Dt(enum.Enum):
    """Element types. Values are the SPEC short names used in type signatures; one member per
    row of the scalar table (``machete/_scalar_table.py``), whose facts (bits, bias, zero points)
    the properties read.

    Most map onto ``cutlass_library.DataType``; the GPTQ biased integers u4b8 / u8b128 are ours
    (CUTLASS has no biased integer types): they are stored ``x + 8`` / ``x + 128``.
    """

    void = "void"
    f16 = "f16"
    bf16 = "bf16"
    f32 = "f32"
    s32 = "s32"
    s8 = "s8"
    s4 = "s4"
    e4m3 = "e4m3"
    u4 = "u4"
    u8 = "u8"
    u4b8 = "u4b8"
    u8b128 = "u8b128"

    @property
    def short_name(self) -> str:
        return self.value

    @property
    def bits(self) -> int:
        return _SCALARS[self.value].bits

    @property
    def bias(self) -> int:
        """Stored value = value + bias (GPTQ's u4b8 / u8b128), else 0."""
        return _SCALARS[self.value].bias

    @property
    def zero_points(self) -> bool:
        """Quantized with integer zero points (AWQ's u4 / u8): its types carry group zeros."""
        return _SCALARS[self.value].zero_points

    @property
    def cutlass(self) -> DataType | None:
        """The cutlass_library DataType, or None for our own biased types."""
        return None if self.bias else DataType[self.value]


if {d.value for d in Dt} != set(_SCALARS):
    raise ValueError(f"machete_ir.model.Dt and the scalar table disagree: members "
                     f"{sorted(d.value for d in Dt)}, table {sorted(_SCALARS)}")

ACTIVATION_TYPES = (Dt.f16, Dt.bf16, Dt.s8, Dt.e4m3)
WEIGHT_TYPES = (Dt.u4b8, Dt.u8b128, Dt.u4, Dt.u8)
FLOAT16_TYPES = (Dt.f16, Dt.bf16)


def _one_of(allowed: Sequence[Dt], what: str):
    def check(inst, attribute, value):
        if value not in allowed:
            names = ", ".join(d.value for d in allowed)
            raise ValueError(f"TypeConfig.{attribute.name}: {what} must be one of {names}, got {value.value}")

    return check


@attrs.frozen(kw_only=True)
class TypeConfig:
    """The eight type fields of SPEC §2, in declaration order (void = absent)."""

    a: Dt = attrs.field(validator=_one_of(ACTIVATION_TYPES, "the activation type"))
    b: Dt = attrs.field(validator=_one_of(WEIGHT_TYPES, "the weight type"))
    b_group_scale: Dt = attrs.field(validator=_one_of((Dt.void, Dt.f16, Dt.bf16), "the group scale type"))
    b_group_zeropoint: Dt = attrs.field(validator=_one_of((Dt.void, Dt.f16, Dt.bf16), "the group zero type"))
    b_channel_scale: Dt = attrs.field(validator=_one_of((Dt.void, Dt.f32), "the channel scale type"))
    a_token_scale: Dt = attrs.field(validator=_one_of((Dt.void, Dt.f32), "the token scale type"))
    out: Dt = attrs.field(validator=_one_of(FLOAT16_TYPES, "the output type"))
    accumulator: Dt = attrs.field(validator=_one_of((Dt.f32, Dt.s32), "the accumulator type"))

    def __attrs_post_init__(self) -> None:
        want_acc = Dt.s32 if self.a is Dt.s8 else Dt.f32
        if self.accumulator is not want_acc:
            raise ValueError(f"{self}: a={self.a.value} needs accumulator {want_acc.value}")
        if self.b_group_zeropoint is not Dt.void and self.b_group_scale is Dt.void:
            raise ValueError(f"{self}: group zeros need group scales")
        if self.a in FLOAT16_TYPES and self.b_group_scale not in (Dt.void, self.a):
            raise ValueError(f"{self}: group scale type must equal a ({self.a.value})")
        if self.b.bias and self.b_group_zeropoint is not Dt.void:
            raise ValueError(f"{self}: {self.b.value} carries its zero in the type; group zeros must be void")

    @property
    def fields(self) -> tuple[Dt, ...]:
        return tuple(getattr(self, f.name) for f in attrs.fields(TypeConfig))

    @property
    def signature(self) -> str:
        """Concatenated short names of the eight fields, e.g. ``f16u4b8f16voidvoidvoidf16f32``."""
        return "".join(d.short_name for d in self.fields)

    @property
    def convert_type(self) -> Dt:
        """What B is converted to before the MMA: the group scale type, or a."""
        return self.b_group_scale if self.b_group_scale is not Dt.void else self.a

    def __str__(self) -> str:
        return f"TypeConfig({self.a.value},{self.b.value})"


def _pow2_in(lo: int, hi: int, what: str):
    def check(inst, attribute, value):
        if not (lo <= value <= hi) or value & (value - 1):
            raise ValueError(f"invalid {what} {value}: must be a power of two in [{lo}, {hi}]")

    return check


def _check_tile_n(inst, attribute, value) -> None:
    """N tiles: a power of two in 64..256 (CUTLASS and promote schedules); decode schedules also
    take the multiples of 16 in between (``_check_decode``), so the field admits those here."""
    if not isinstance(value, int) or not (DECODE_TILE_N_MIN <= value <= 256) or value % 16:
        raise ValueError(f"invalid N tile {value}: must be a power of two in [64, 256] "
                         f"(decode schedules: a multiple of 16 in [{DECODE_TILE_N_MIN}, 256])")


class KernelKind(enum.Enum):
    """Which mainloop implements a schedule.

    ``cutlass``: CUTLASS 4.2's SM90 mixed-input collective (TMA warp-specialized cooperative, wgmma,
    stream-K or persistent tiles): every M. ``decode``: machete's own weight-streaming split-K kernel
    on mma.sync (csrc/machete/decode_kernel.cuh): a per-warp ring of cp.async shared-memory stages,
    the K split across the warps of a CTA and across the CTAs of a thread-block cluster (sized at
    run time); made for M <= 32, where the GEMM is a pass over the weights. ``promote``: machete's
    own W4A8 kernel for larger M (csrc/machete/promote_kernel.cuh): TMA warp-specialized, 8-bit
    wgmma on the exact integer weights into a per-group accumulator that is added into the fp32 one
    with the group's scale (what CUTLASS's mixed-input collective cannot do exactly).
    """

    cutlass = "cutlass"
    decode = "decode"
    promote = "promote"


# Validity of the decode family's fields, in one place (csrc/machete/decode_kernel.cuh asserts
# the same). Tiles: N a multiple of 16 in 32..256 (a CTA streams tile_n/16 contiguous 128-byte
# atoms per 16-wide k slab; widths that are not powers of two, e.g. 48 or 80, let N / tile_n
# match the SM count, and the last tile may be partial), M one, two or four 8-token mma tiles.
DECODE_TILE_N_MIN = 32
DECODE_TILE_M = (8, 16, 32)
DECODE_WARPS = (4, 8, 16)
DECODE_STAGES = range(2, 9)
DECODE_K_CHUNKS = (16, 32, 64)
_DECODE_SMEM_BUDGET = 200 * 1024  # bytes of shared memory a decode CTA may plan for
# The promote kernel's fields (csrc/machete/promote_kernel.cuh asserts the same): 128 or 256
# output features (one or two 64-row wgmma blocks per consumer warpgroup), 64 or 128 tokens (the
# wgmma n), K tile 128, 2..8 stages within the 227 KB an SM90 CTA may use.
PROMOTE_TILE_N = (128, 256)
PROMOTE_TILE_M = (64, 128)
PROMOTE_STAGES = range(2, 9)
_SM90_SMEM_LIMIT = 227 * 1024  # dynamic shared memory one SM90 CTA may use
_PROMOTE_SMEM_LIMIT = _SM90_SMEM_LIMIT


def promote_smem_bytes(tile_n: int, tile_m: int, stages: int) -> int:
    """Shared memory of one promote CTA (the formula of promote::Config::kSmemBytes)."""
    stage = tile_m * 128 + tile_n * 64 + 4 * tile_n  # activations, int4 weights, two scale rows
    out = 2 * tile_m * (64 * (tile_n // 128) + 8) * 2  # the epilogue's f16 staging, both warpgroups
    return stages * stage + out + 16 * stages + 1024


@attrs.frozen(kw_only=True)
class ScheduleConfig:
    """One kernel schedule. ``tile_n``/``tile_m`` follow SPEC §1: (N tile, M tile) because Machete
    computes D^T = B^T A^T, so the weights' N is the MMA's M.

    ``kind`` selects the mainloop (:class:`KernelKind`). The CUTLASS fields (cluster, kernel and
    epilogue schedule, tile scheduler) apply to ``cutlass`` schedules; ``warps``, ``stages`` and
    ``k_chunk`` (threads per CTA / 32, shared-memory stages per warp, K per stage) to ``decode``
    schedules, whose cluster is chosen at run time and must be left at 1x1x1."""

    tile_n: int = attrs.field(validator=_check_tile_n)
    tile_m: int = attrs.field(validator=_pow2_in(8, 256, "M tile"))
    cluster: tuple[int, int, int] = attrs.field(converter=tuple, default=(1, 1, 1))
    kernel_schedule: KernelScheduleType = KernelScheduleType.TmaWarpSpecializedCooperative
    epilogue_schedule: EpilogueScheduleType = EpilogueScheduleType.TmaWarpSpecializedCooperative
    tile_scheduler: TileSchedulerType = TileSchedulerType.StreamK
    kind: KernelKind = KernelKind.cutlass
    warps: int = 0
    stages: int = 0
    k_chunk: int = 0

    @cluster.validator
    def _check_cluster(self, attribute, value) -> None:
        if len(value) != 3 or any(not isinstance(c, int) or c < 1 or c & (c - 1) for c in value):
            raise ValueError(f"invalid cluster shape {value}: three powers of two >= 1")
        if value[0] * value[1] * value[2] > 8 or value[2] != 1:
            raise ValueError(f"invalid cluster shape {value}: at most 8 CTAs and c2 == 1 on Hopper")

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.kind, KernelKind):
            raise ValueError(f"invalid schedule kind {self.kind!r}")
        if self.kind is KernelKind.decode:
            self._check_decode()
            return
        _pow2_in(64, 256, "N tile")(self, None, self.tile_n)
        if self.kind is KernelKind.promote:
            self._check_promote()
            return
        if (self.warps, self.stages, self.k_chunk) != (0, 0, 0):
            raise ValueError(f"{self.name}: warps/stages/k_chunk are decode-schedule fields")
        if self.kernel_schedule is not KernelScheduleType.TmaWarpSpecializedCooperative:
            raise ValueError(f"{self.name}: only the TMA warp-specialized cooperative mainloop is supported")
        if self.epilogue_schedule is not EpilogueScheduleType.TmaWarpSpecializedCooperative:
            raise ValueError(f"{self.name}: only the TMA warp-specialized cooperative epilogue is supported")
        if self.tile_scheduler not in (TileSchedulerType.StreamK, TileSchedulerType.Persistent):
            raise ValueError(f"{self.name}: tile scheduler must be StreamK or Persistent")

    def _check_default_cutlass_fields(self, what: str, kind: str) -> None:
        """The decode and promote kernels are not CUTLASS's: their CUTLASS fields keep the defaults."""
        if (self.kernel_schedule, self.epilogue_schedule, self.tile_scheduler) != (
                KernelScheduleType.TmaWarpSpecializedCooperative,
                EpilogueScheduleType.TmaWarpSpecializedCooperative, TileSchedulerType.StreamK):
            raise ValueError(f"invalid {what}: CUTLASS schedule fields do not apply to {kind} schedules")

    def _check_decode(self) -> None:
        what = f"decode schedule {self.tile_n}x{self.tile_m}"
        if self.tile_m not in DECODE_TILE_M:
            raise ValueError(f"invalid {what}: M tile must be one of {DECODE_TILE_M}")
        # (the field's validator has checked: a multiple of 16 in [DECODE_TILE_N_MIN, 256])
        if self.warps not in DECODE_WARPS:
            raise ValueError(f"invalid {what}: warps must be one of {DECODE_WARPS}, got {self.warps}")
        if self.stages not in DECODE_STAGES:
            raise ValueError(f"invalid {what}: stages must be in 2..8, got {self.stages}")
        if self.k_chunk not in DECODE_K_CHUNKS:
            raise ValueError(f"invalid {what}: k_chunk must be one of {DECODE_K_CHUNKS}, got {self.k_chunk}")
        if self.cluster != (1, 1, 1):
            raise ValueError(f"invalid {what}: the cluster of a decode schedule is chosen at run time; leave it 1x1x1")
        self._check_default_cutlass_fields(what, "decode")
        # the 4-bit stage budget (8-bit kernels halve their stages in csrc to fit)
        stage = self.k_chunk // 16 * (self.tile_n // 16) * 128 + self.tile_m * (2 * self.k_chunk + 16) + 2 * self.tile_n
        reduce = self.warps * self.tile_m * (self.tile_n + 4) * 4
        if max(self.warps * self.stages * stage, reduce) > _DECODE_SMEM_BUDGET:
            raise ValueError(f"invalid {what}: {self.warps} warps x {self.stages} stages x k{self.k_chunk} needs more "
                             f"than {_DECODE_SMEM_BUDGET // 1024} KB of shared memory")
        # every decode schedule is built for the 8-bit-weight types too, whose stages csrc reduces to
        # fit the budget but never below 2 (RingLayout): 8-bit weights with group zeros must fit then
        stage8 = stage + self.k_chunk // 16 * (self.tile_n // 16) * 128 + 2 * self.tile_n
        stages8 = self.stages if self.warps * self.stages * stage8 <= _DECODE_SMEM_BUDGET else max(
            2, _DECODE_SMEM_BUDGET // (self.warps * stage8))
        if max(self.warps * stages8 * stage8, reduce) > _SM90_SMEM_LIMIT:
            raise ValueError(f"invalid {what}: {self.warps} warps x k{self.k_chunk} with 8-bit weights need more than "
                             f"{_SM90_SMEM_LIMIT // 1024} KB of shared memory even at 2 stages")

    def _check_promote(self) -> None:
        what = f"promote schedule {self.tile_n}x{self.tile_m}"
        if self.tile_n not in PROMOTE_TILE_N:
            raise ValueError(f"invalid {what}: N tile must be one of {PROMOTE_TILE_N}")
        if self.tile_m not in PROMOTE_TILE_M:
            raise ValueError(f"invalid {what}: M tile must be one of {PROMOTE_TILE_M}")
        if self.stages not in PROMOTE_STAGES:
            raise ValueError(f"invalid {what}: stages must be in 2..8, got {self.stages}")
        if (self.warps, self.k_chunk) != (0, 0):
            raise ValueError(f"invalid {what}: warps and k_chunk are decode-schedule fields")
        if self.cluster != (1, 1, 1):
            raise ValueError(f"invalid {what}: the promote kernel runs without clusters; leave it 1x1x1")
        self._check_default_cutlass_fields(what, "promote")
        need = promote_smem_bytes(self.tile_n, self.tile_m, self.stages)
        if need > _PROMOTE_SMEM_LIMIT:
            raise ValueError(f"invalid {what}: {self.stages} stages need {need // 1024} KB of shared memory, "
                             f"more than {_PROMOTE_SMEM_LIMIT // 1024} KB")

    @property
    def is_decode(self) -> bool:
        return self.kind is KernelKind.decode

    @property
    def is_promote(self) -> bool:
        return self.kind is KernelKind.promote

    @property
    def name(self) -> str:
        """The schedule's name (SPEC §3 spelling; :func:`parse_schedule_name` is its inverse)."""
        if self.is_decode:
            return f"{self.tile_n}x{self.tile_m}_w{self.warps}s{self.stages}k{self.k_chunk}{_DECODE_SUFFIX}"
        if self.is_promote:
            return f"{self.tile_n}x{self.tile_m}_s{self.stages}{_PROMOTE_SUFFIX}"
        suffix = _SCHEDULE_SUFFIX if self.tile_scheduler is TileSchedulerType.StreamK else _PERSISTENT_SUFFIX
        c0, c1, c2 = self.cluster
        return f"{self.tile_n}x{self.tile_m}_{c0}x{c1}x{c2}{suffix}"


# ----------------------------------------------------------------------------------------------
# Schedule names: how a schedule is spelled on the command line, in heuristic tables and by the
# runtime (``ScheduleConfig.name``), and parsed back. C++ symbols built from them are in names.py.

# SPEC §3 canonical form (double underscore, as upstream builds spell it) and the older alias.
_SCHEDULE_SUFFIX = "_TmaMI__TmaCoop_streamK"
_SCHEDULE_SUFFIX_ALIAS = "_TmaMI_TmaCoop_streamK"
_PERSISTENT_SUFFIX = "_TmaMI__TmaCoop_persistent"
_SCHEDULE_RE = re.compile(r"^(\d+)x(\d+)_(\d+)x(\d+)x(\d+)(_TmaMI__?TmaCoop_(?:streamK|persistent))$")
# decode family: {tileN}x{tileM}_w{warps}s{stages}k{k_chunk}_DecodeMma_clusterK
_DECODE_SUFFIX = "_DecodeMma_clusterK"
_DECODE_RE = re.compile(r"^(\d+)x(\d+)_w(\d+)s(\d+)k(\d+)" + _DECODE_SUFFIX + "$")
# W4A8 promote kernel: {tileN}x{tileM}_s{stages}_PromoteWgmma
_PROMOTE_SUFFIX = "_PromoteWgmma"
_PROMOTE_RE = re.compile(r"^(\d+)x(\d+)_s(\d+)" + _PROMOTE_SUFFIX + "$")


def canonical_schedule_name(name: str) -> str:
    """Accept the single-underscore alias; return the canonical spelling (or raise ValueError)."""
    if _DECODE_RE.match(name) or _PROMOTE_RE.match(name):
        return name
    m = _SCHEDULE_RE.match(name)
    if not m:
        raise ValueError(f"malformed schedule name {name!r} (expected e.g. 128x16_1x1x1{_SCHEDULE_SUFFIX}, "
                         f"64x8_w8s6k64{_DECODE_SUFFIX} or 256x128_s4{_PROMOTE_SUFFIX})")
    if m.group(6) == _SCHEDULE_SUFFIX_ALIAS:
        return name[: -len(_SCHEDULE_SUFFIX_ALIAS)] + _SCHEDULE_SUFFIX
    return name


def schedule_alias(name: str) -> str | None:
    """The older single-underscore spelling of a canonical stream-K name."""
    if name.endswith(_SCHEDULE_SUFFIX):
        return name[: -len(_SCHEDULE_SUFFIX)] + _SCHEDULE_SUFFIX_ALIAS
    return None


def parse_schedule_name(name: str) -> ScheduleConfig:
    """Schedule from its name (validated by ScheduleConfig: bad tiles/clusters raise ValueError)."""
    canon = canonical_schedule_name(name)
    d = _DECODE_RE.match(canon)
    if d:
        return ScheduleConfig(tile_n=int(d.group(1)), tile_m=int(d.group(2)), kind=KernelKind.decode,
                              warps=int(d.group(3)), stages=int(d.group(4)), k_chunk=int(d.group(5)))
    pr = _PROMOTE_RE.match(canon)
    if pr:
        return promote_schedule(f"{pr.group(1)}x{pr.group(2)}", stages=int(pr.group(3)))
    m = _SCHEDULE_RE.match(canon)
    assert m is not None
    sched = TileSchedulerType.StreamK if canon.endswith("streamK") else TileSchedulerType.Persistent
    return ScheduleConfig(tile_n=int(m.group(1)), tile_m=int(m.group(2)),
                          cluster=(int(m.group(3)), int(m.group(4)), int(m.group(5))),
                          tile_scheduler=sched)


def schedule(tile: str, cluster: str) -> ScheduleConfig:
    """``schedule("128x16", "1x1x1")``."""
    tn, tm = (int(x) for x in tile.split("x"))
    return ScheduleConfig(tile_n=tn, tile_m=tm, cluster=tuple(int(x) for x in cluster.split("x")))


def promote_schedule(tile: str, stages: int) -> ScheduleConfig:
    """``promote_schedule("256x128", stages=4)``."""
    tn, tm = (int(x) for x in tile.split("x"))
    return ScheduleConfig(tile_n=tn, tile_m=tm, kind=KernelKind.promote, stages=stages)


def decode_schedule(tile: str, warps: int, stages: int, k_chunk: int) -> ScheduleConfig:
    """``decode_schedule("64x8", warps=8, stages=6, k_chunk=64)``."""
    tn, tm = (int(x) for x in tile.split("x"))
    return ScheduleConfig(tile_n=tn, tile_m=tm, kind=KernelKind.decode, warps=warps, stages=stages, k_chunk=k_chunk)


@attrs.frozen(kw_only=True)
class HeuristicRule:
    """``if cond: use schedule``; cond None = unconditional (the default, last rule)."""

    cond: Cond | None
    schedule: ScheduleConfig
    note: str = attrs.field(default="", eq=False)


# A heuristic's name becomes part of a C++ identifier (``heuristic_<name>``): ASCII letters and
# digits in runs joined by single underscores (a double underscore is reserved in C++).
_HEURISTIC_NAME = re.compile(r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*\Z")
HEURISTIC_NAME_MAX = 64


def sanitize_heuristic_name(text: str) -> str:
    """The nearest valid heuristic name: every run of other characters becomes one '_'."""
    out = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:HEURISTIC_NAME_MAX].rstrip("_")
    return out or "tuned"


def _check_heuristic_name(inst, attribute, value) -> None:
    if not isinstance(value, str) or len(value) > HEURISTIC_NAME_MAX \
            or not _HEURISTIC_NAME.match(value):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        hint = sanitize_heuristic_name(value) if isinstance(value, str) else "tuned"
        raise ValueError(f"heuristic name {shown} cannot be part of a C++ identifier: use ASCII "
                         f"letters, digits and single underscores, at most {HEURISTIC_NAME_MAX} "
                         f"characters (e.g. {hint!r})")


@attrs.frozen(kw_only=True)
class Heuristic:
    name: str = attrs.field(validator=_check_heuristic_name)
    rules: tuple[HeuristicRule, ...] = attrs.field(validator=attrs.validators.min_len(1))

    def __attrs_post_init__(self) -> None:
        for i, r in enumerate(self.rules[:-1]):
            if r.cond is None:
                raise ValueError(f"heuristic {self.name}: rule {i + 1} is unconditional but not last")
        if self.rules[-1].cond is not None:
            raise ValueError(f"heuristic {self.name}: the last rule must be the unconditional default")

    @property
    def schedules(self) -> tuple[ScheduleConfig, ...]:
        """Unique schedules in first-seen order."""
        return tuple(dict.fromkeys(r.schedule for r in self.rules))

    def select(self, m: int, n: int, k: int) -> ScheduleConfig:
        env = {"M": m, "N": n, "K": k}
        for r in self.rules:
            if E.evaluate(r.cond, env):
                return r.schedule
        raise AssertionError("unreachable: the last rule is unconditional")


def check_device_pattern(text: str) -> None:
    """Raise ValueError unless ``text`` may be a per-GPU table's device-name pattern."""
    E.OnDevice(args=E.Var(name="args"), text=text)  # the one validity rule (expr.OnDevice)


@attrs.frozen(kw_only=True)
class DeviceHeuristic:
    """A heuristic table for the GPUs whose device name (``cudaDeviceProp::name``, e.g.
    "NVIDIA H200") contains ``device``, chosen by the dispatch at run time."""

    device: str = attrs.field()
    heuristic: Heuristic

    @device.validator
    def _check(self, attribute, value) -> None:
        check_device_pattern(value)


@attrs.frozen(kw_only=True)
class ImplConfig:
    """One type configuration with the schedules it is compiled for and its heuristics: the
    per-GPU tables, tried in order against the name of the device a call runs on, then the
    default ``heuristic``."""

    types: TypeConfig
    schedules: tuple[ScheduleConfig, ...]
    heuristic: Heuristic
    device_heuristics: tuple[DeviceHeuristic, ...] = ()

    def __attrs_post_init__(self) -> None:
        if not self.schedules:
            raise ValueError(f"{self.types}: no schedules to compile")
        picked = self.schedules + tuple(s for h in self.heuristics for s in h.schedules)
        if self.types.a not in FLOAT16_TYPES:
            # 8-bit activations (W4A8): the decode family's 8-bit mma takes K in steps of 32; the
            # CUTLASS path takes only the types without group scales (it would round s * q to 8 bits)
            cutlass_ok = _w4a8_cutlass_ok(self.types)
            bad = [s.name for s in dict.fromkeys(picked)
                   if (s.is_decode and s.k_chunk < 32) or
                   (s.kind is KernelKind.cutlass and not cutlass_ok)]
            if bad:
                what = ("decode schedules with k_chunk 32 or 64, promote or CUTLASS ones" if cutlass_ok else
                        "decode schedules with k_chunk 32 or 64 and promote ones (CUTLASS: s8 without group "
                        "scales only)")
                raise ValueError(f"{self.types}: this W4A8 type runs on {what}; got {', '.join(bad)}")
        else:
            bad = [s.name for s in dict.fromkeys(picked) if s.is_promote]
            if bad:
                raise ValueError(f"{self.types}: promote schedules are for 8-bit activations (W4A8); "
                                 f"got {', '.join(bad)}")
        names = [self.heuristic.name] + [d.heuristic.name for d in self.device_heuristics]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.types}: heuristic names must differ, got {names} (each table's \"name\"; "
                             f"tune.py fit --name sets it)")

    @property
    def heuristics(self) -> tuple[Heuristic, ...]:
        """Every table the dispatch may use: the per-GPU ones, then the default."""
        return tuple(d.heuristic for d in self.device_heuristics) + (self.heuristic,)

    @property
    def uncompiled_heuristic_schedules(self) -> tuple[ScheduleConfig, ...]:
        """Schedules a heuristic may pick that a filtered build left out."""
        picked = dict.fromkeys(s for h in self.heuristics for s in h.schedules)
        return tuple(s for s in picked if s not in self.schedules)


# ----------------------------------------------------------------------------------------------
# SPEC §3: the default H100 heuristic.

def _rule(cond: Cond | None, tile: str, cluster: str, note: str = "") -> HeuristicRule:
    return HeuristicRule(cond=cond, schedule=schedule(tile, cluster), note=note)


# 4069 (not 4096) is the reference heuristic's own value in rules 6 and 7; kept on purpose.
REFERENCE_4069 = 4069

SPEC_RULES: tuple[HeuristicRule, ...] = (
    _rule(E.all_of(E.gt(M, 256), E.le(K, 16384), E.le(N, 4096)), "128x128", "2x1x1"),
    _rule(E.gt(M, 256), "128x256", "2x1x1"),
    _rule(E.all_of(E.gt(M, 128), E.le(K, 4096), E.le(N, 4096)), "128x64", "2x1x1"),
    _rule(E.all_of(E.gt(M, 128), E.le(K, 8192), E.le(N, 8192)), "128x128", "2x1x1"),
    _rule(E.gt(M, 128), "128x256", "2x1x1"),
    _rule(E.all_of(E.gt(M, 64), E.le(K, REFERENCE_4069), E.le(N, REFERENCE_4069)), "128x32", "2x1x1",
          "4069 is the reference heuristic's value"),
    _rule(E.all_of(E.gt(M, 64), E.le(K, REFERENCE_4069), E.le(N, 8192)), "128x64", "2x1x1",
          "4069 is the reference heuristic's value"),
    _rule(E.all_of(E.gt(M, 64), E.ge(K, 8192), E.ge(N, 12288)), "256x128", "2x1x1"),
    _rule(E.gt(M, 64), "128x128", "2x1x1"),
    _rule(E.all_of(E.gt(M, 32), E.le(K, 6144), E.le(N, 6144)), "128x16", "1x1x1"),
    _rule(E.all_of(E.gt(M, 32), E.ge(K, 16384), E.ge(N, 12288)), "256x64", "2x1x1"),
    _rule(E.gt(M, 32), "128x64", "2x1x1"),
    _rule(E.all_of(E.gt(M, 16), E.le(K, 12288), E.le(N, 8192)), "128x32", "2x1x1"),
    _rule(E.gt(M, 16), "256x32", "2x1x1"),
    _rule(E.ge(N, 26624), "256x16", "1x1x1"),
    _rule(None, "128x16", "1x1x1"),
)
SPEC_HEURISTIC = Heuristic(name="spec", rules=SPEC_RULES)

# The decode family (KernelKind.decode). Configurations measured on the GPU machine with
# scripts/decode_dev/run_dev.py (weights rotated past L2, CUDA-graph kernel times); 64x16 was added
# after the forced-split sweep (benchmarks/results/h100_decode_split_sweep.*), where it was the
# fastest configuration at 8 < M <= 32 on layers with N <= 8192 and K <= 14336.
DECODE_SCHEDULES: tuple[ScheduleConfig, ...] = (
    decode_schedule("64x8", warps=8, stages=6, k_chunk=64),
    decode_schedule("128x8", warps=8, stages=4, k_chunk=64),
    decode_schedule("256x8", warps=8, stages=3, k_chunk=32),
    decode_schedule("64x16", warps=8, stages=4, k_chunk=64),
    decode_schedule("128x16", warps=8, stages=3, k_chunk=64),
    decode_schedule("256x16", warps=4, stages=3, k_chunk=32),
    decode_schedule("128x32", warps=8, stages=3, k_chunk=32),
)
# 16-warp CTAs (two warps per ring fewer stages deep, so the same bytes in flight per SM, but each
# warp has half the chunks and the schedulers 4 warps to switch between): at 4096x4096 M = 1 the
# kernel is issue-latency bound (ncu: ~2 warps per scheduler, 0.5 eligible, 5 cycles per issued
# instruction). Dev-harness sweep, H100, CUDA graph, us (64x8 w16 vs the previous pick):
# M = 1 4096x6144 9.7 vs 13.6 (128x8), 8192x8192 15.5 vs 17.1, 28672x8192 45.4 vs 48.5, 14336x4096
# 16.0 vs 17.6 (64x8 w8); M = 16 (64x16 w16) 8192x8192 17.8 vs 18.8 (64x16 w8), 28672x8192 52.0 vs
# 59.1 (128x16); benchmarks/results/h100_decode_w16_variants.txt. Held-out product sweep
# (Llama-2-13B / Qwen2.5-32B layers, benchmarks/results/h100_decode_w16_heldout.*): 64x8 w16 lost at
# M <= 8 on the wide-K layers with N = 5120 (13824x5120 22.6 vs 20.7, 27648x5120 42.4 vs 36.4), so
# it is used at M <= 8 only up to K = 8192 (that bound saw the held-out data); 64x16 w16 won at
# M = 16 on all three N = 5120 layers (4-11%).
DECODE_W16_SCHEDULES: tuple[ScheduleConfig, ...] = (
    decode_schedule("64x8", warps=16, stages=3, k_chunk=64),
    decode_schedule("64x16", warps=16, stages=2, k_chunk=64),
)
# Balanced widths: decode CTAs whose output-feature count is a multiple of 16 but not a power of
# two, so that N / tile_n (times the run-time cluster split) fills the 132 SMs of an H100 / H200 in
# one wave where no power of two does. The rule: tile_n = 16 * ceil(N / 2048), i.e. at most 128
# tiles, for 4096 < N <= 14336 -- N = 6144: 48; 10240: 80 (a power of two gives 40 / 80 / 160
# tiles); 11008 / 12288: 96; 13824 / 14336: 112 -- except N <= 5120, which takes 80 (64 tiles, a
# cluster split of 2: 128 CTAs). Dev-harness sweeps on an H100 (CUDA graph, us, vs the previous
# pick; benchmarks/results/h100_decode_balanced.log, h100_decode_balanced2.log): 8192x10240 M = 1
# 19.4 vs 22.6 (128x8), M = 16 22.3 vs 28.0 (256x16; Marlin 23.3); 4096x6144 M = 1 8.3 vs 9.4,
# M = 16 9.6 vs 10.4; 27648x5120 M = 16 38.6 vs 47.7, 13824x5120 21.0 vs 26.0; 4096x12288 M = 1
# 12.6 vs 13.6, M = 16 15.5 vs 19.9; 4096x11008 11.9 / 15.3 vs 13.4 / 19.1; 4096x14336 14.9 / 16.4 vs
# 16.0 / 20.2; 5120x13824 17.1 / 19.7 vs 18.8 / 23.0. The wider ones and 80x16 have 8 warps and 4
# stages: with 16 warps (2 stages; 80x16 36.3 us on 27648x5120, even elsewhere) the 8-bit-weight
# types would need more than 227 KB of shared memory.
DECODE_BALANCED_SCHEDULES: tuple[ScheduleConfig, ...] = (
    decode_schedule("48x8", warps=16, stages=3, k_chunk=64),
    decode_schedule("48x16", warps=16, stages=2, k_chunk=64),
    decode_schedule("80x8", warps=16, stages=3, k_chunk=64),
    decode_schedule("80x16", warps=8, stages=4, k_chunk=64),
    decode_schedule("96x8", warps=8, stages=4, k_chunk=64),
    decode_schedule("96x16", warps=8, stages=4, k_chunk=64),
    decode_schedule("112x8", warps=8, stages=4, k_chunk=64),
    decode_schedule("112x16", warps=8, stages=4, k_chunk=64),
)
# a decode schedule by its tile (the first seven: "64x8") or its name without the family suffix
_D = {f"{s.tile_n}x{s.tile_m}": s for s in DECODE_SCHEDULES}
_D.update({s.name.removesuffix(_DECODE_SUFFIX): s
           for s in DECODE_SCHEDULES + DECODE_W16_SCHEDULES + DECODE_BALANCED_SCHEDULES})


def _decode_rule(cond: Cond | None, schedule: str, note: str = "") -> HeuristicRule:
    return HeuristicRule(cond=cond, schedule=_D[schedule], note=note)


# One wave of 16-token decode tiles (16 < M <= 64, K <= 4096). On layers this small the decode
# kernel's time follows its CTA count: the fastest 16-token tile is the narrowest one whose
# ceil(M / 16) x ceil(N / tile_n) CTAs fit the 132 SMs of an H100 / H200 in one wave, i.e. N <= (132 //
# ceil(M / 16)) * tile_n for the widths 48 .. 128 (48 .. 112 at 48 < M <= 64, where 4096x4096 keeps the
# 128 x 32 tile: 16.5 us vs 17.7 for 128 x 16). Product sweeps of every schedule on an H100 (CUDA
# graph; benchmarks/results/h100_mid_m_sweep.*, h100_mid_m_small.*: 8 SPEC and 6 small layers,
# M = 24 .. 64): 1.100x the previous rules' speed in geomean over those 64 points (tune.py score:
# 1.008x on the 24 SPEC ones, 1.158x on the 40 others), 1.005x the per-point best (worst 1.22x,
# 2048x2048 M = 24); e.g. 3072x5120 M = 32 9.7 us vs 13.6
# (128 x 32), 4096x4096 M = 48 14.6-14.8 vs 16.3-16.5, 4096x6144 M = 32 14.6-15.5 vs 16.0-16.5. The
# rule was fitted on those points; on 30 held-out points (h100_mid_m_heldout.*: six layers it did
# not see, M = 20 .. 64) tune.py scores it 1.206x over the previous rules, 1.068x the per-point best.
_ONE_WAVE_WIDTHS = {48: "48x16_w16s2k64", 64: "64x16", 80: "80x16_w8s4k64", 96: "96x16_w8s4k64",
                    112: "112x16_w8s4k64", 128: "128x16"}
_ONE_WAVE_SMS = 132


def _one_wave_rules(m_lo: int, m_hi: int, max_width: int = 128, widths: dict[int, str] = _ONE_WAVE_WIDTHS,
                    tile_m: int = 16) -> tuple[HeuristicRule, ...]:
    """m_lo < M <= m_hi, K <= 4096: the narrowest decode tile of tile_m tokens (of `widths`, at most
    max_width wide) whose ceil(m_hi / tile_m) x ceil(N / width) CTAs fill one wave."""
    token_tiles = _token_tiles(m_hi, tile_m)
    return tuple(_decode_rule(E.all_of(E.gt(M, m_lo), E.le(M, m_hi), E.le(K, 4096),
                                       E.le(N, _one_wave_n_max(m_hi, w, tile_m))),
                              name, f"one wave: {token_tiles} x ceil(N / {w}) <= {_ONE_WAVE_SMS} CTAs")
                 for w, name in widths.items() if w <= max_width)


def _token_tiles(m: int, tile_m: int) -> int:
    return -(-m // tile_m)


def _one_wave_n_max(m_hi: int, tile_n: int, tile_m: int, cluster_n: int = 1) -> int:
    """The largest N whose ceil(m_hi / tile_m) x ceil(N / tile_n) output tiles -- the N tiles rounded up
    to whole clusters of cluster_n -- fit one wave of _ONE_WAVE_SMS (the one-wave rules' bound)."""
    return _ONE_WAVE_SMS // _token_tiles(m_hi, tile_m) // cluster_n * cluster_n * tile_n


def _banded(make_rules, edges: Sequence[int]) -> tuple[HeuristicRule, ...]:
    """make_rules(lo, hi) for each M band (lo, hi] between consecutive edges, in order."""
    return tuple(r for lo, hi in zip(edges, edges[1:]) for r in make_rules(lo, hi))


# One wave of 8-token tiles at 16 < M <= 32 on the smallest layers: 48 x 8 / 64 x 8 (16 warps) where
# ceil(M / 8) x ceil(N / tile_n) of them fit the 132 SMs, ahead of the 16-token one-wave rules. On
# the product sweeps (h100_mid_m_small.*, h100_mid_m_heldout.*, M = 20-32) the rule's pick was the
# fastest measured schedule at all 9 points it covers: 2048x2048 M = 24 48x8 5.0 us vs 6.3 (the
# 16-token pick), 1536x2048 M = 20 4.7 vs 5.5, 3072x1024 M = 28 6.0 vs 7.1, 2048x2560 M = 20 5.5 vs
# 6.2; where only an 80-wide 8-token tile fits one wave, the 16-token tiles stayed ahead
# (2048x2560 M = 28 6.2 vs 6.4, 2560x2560 M = 28 7.0 vs 7.4), so the rule stops at 64.
_ONE_WAVE_8_WIDTHS = {48: "48x8_w16s3k64", 64: "64x8_w16s3k64"}


# The default heuristic ("h100"), chosen from CUDA-graph (kernel-only) sweeps of every built
# schedule on an H100 80GB HBM3 (u4b8 g128 f16, 2026-11-26). M > 64 (CUTLASS): re-fitted on the
# SPEC §7 shapes (benchmarks/results/h100_sweep.*) -- 256x128 (256 output features x 128 tokens)
# beats SPEC's 128x256 at M >= 512 on every shape, by 5-15% -- and scored on held-out layers
# (Llama-2-13B, Qwen2.5-32B; benchmarks/results/h100_heldout_sweep.*): geomean 1.057x over the
# previous rules (SPEC rules 1-9) on the tuning shapes, 1.040x on the held-out ones. The K <= 8192
# bound at 128 < M <= 256 is SPEC's own, kept because without it the held-out layers with
# K >= 13824 lost 30-60% there (so that one threshold is not held-out-clean). M <= 64: the decode
# family for M <= 8 and, at N <= 12288, for M <= 16 (and at 4096x4096-sized layers up to M = 64);
# CUTLASS's wide tiles where N (or K) is large. SPEC's heuristic stays available as SPEC_HEURISTIC.
_M64_K16K = E.all_of(E.gt(M, 32), E.ge(K, 16384), E.ge(N, 8192))


def _one_wave_128_wide(m_lo: int) -> Cond:
    """M > m_lo (the rule's band ends at 2 m_lo), K <= 5120, ceil(N / 128) <= 132: CUTLASS's 128-wide
    tiles (128 x 64 at 32 < M <= 64, 128 x 128 at 64 < M <= 128) -- one wave of CTAs, no stream-K
    split -- instead of the 256-wide ones the N >= 10240 rules pick. CUDA-graph sweeps of every
    CUTLASS schedule on an H100, M = 40 .. 128. Fitted (benchmarks/results/h100_wide_n_mid_m.*, 8
    layers, N = 12288 .. 16384) with K <= 6144: the 128-wide tile 5-63% faster at every point with
    K <= 6144 (2048x16384 M = 128 16.3 us vs 26.5, 4096x14336 M = 64 22.5 vs 25.9), even at K = 8192
    (8192x14336: 0.99-1.03x). Held out (h100_wide_n_mid_m_heldout.*, 6 layers x 4 M): 1.063x over
    the previous rules (tune.py score); faster at 5120x14336 (8-12%), 3072x16384 (27-31%),
    4096x11008 (3-13%), and correctly left alone at 8192x11008 (256-wide 13-21% ahead) -- but
    6144x10240 (80 tiles) lost 0-10% (M = 40: 31.1 us vs 28.1), so the bound is now K <= 5120,
    which every measured layer with K <= 5120 supports (not re-checked on a third set)."""
    return E.all_of(E.gt(M, m_lo), E.le(K, 5120), E.le(N, 128 * _ONE_WAVE_SMS))


# Small layers at 64 < M <= 512 (K <= 3072): the first of CUTLASS's 128 x 32, 128 x 64, 128 x 128,
# 256 x 64, 256 x 128 tiles whose output tiles (2-CTA clusters along N, so an even count of N tiles,
# times ceil(m_hi / tile_m) token tiles) fit one wave of 132 SMs. Where the rules below picked a
# bigger tile (128 x 128 at M > 128), a layer this small ran a third to a half of the SMs, with
# CUTLASS's per-tile fixed cost (tile setup, stream-K fixup, epilogue) paid on long K loops.
# Product sweeps of every schedule on an H100 (CUDA graph; benchmarks/results/h100_small_mid_m_tune.*:
# 1536x1536, 1536x8960, 2048x2048, 2048x4096, 2304x2048, 3072x3072 at M = 96 .. 512): the rules'
# pick was the fastest CUTLASS tile at 27 of the 30 of those points they give CUTLASS (the decode
# rules above take the other 6), within 2.3% at the rest; held out: docs/PERFORMANCE.md, "One wave at
# 64 < M <= 1024 on small layers" (1.115x and 1.213x over the previous rules on two sets); e.g.
# 1536x1536 M = 256 128 x 32 9.8 us vs 14.6 (128 x 128), 2048x4096 M = 192 128 x 64 12.9 vs 16.3,
# 1536x8960 M = 192 256 x 64 15.2 vs 22.7. At K = 4096 the 128 x 32 / 128 x 64 steps lost (4096x4096
# M = 128 128 x 32 20.1 vs 17.7 for 128 x 64), so that layer keeps the rules below.
_ONE_WAVE_CUTLASS_TILES = ((128, 32), (128, 64), (128, 128), (256, 64), (256, 128))
# The M bands (lo, hi] the rule counts token tiles in (at hi, so a band's M below hi may leave a smaller
# tile out that would have fit): fitted with bands ending at 96, 128, 192, 256, 384, 512 and 1024;
# at M = 640 that band edge cost 1.2-1.5x on held-out layers (docs/PERFORMANCE.md, "One wave at 64 < M <= 1024"),
# hence the finer edges, checked on layers and M values not seen before (h100_small_bands_heldout.*:
# 1.074x over the coarse bands, 7 of 36 points changed, all faster).
_ONE_WAVE_CUTLASS_M_EDGES = (64, 96, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024)


def _one_wave_cutlass_rules(m_lo: int, m_hi: int, k_max: int = 3072) -> tuple[HeuristicRule, ...]:
    """m_lo < M <= m_hi, K <= k_max: the first tile of _ONE_WAVE_CUTLASS_TILES whose
    ceil(m_hi / tile_m) x (ceil(N / tile_n) rounded up to the 2-CTA cluster) tiles fit one wave."""
    rules, widest = [], 0
    for tn, tm in _ONE_WAVE_CUTLASS_TILES:
        n_max = _one_wave_n_max(m_hi, tn, tm, cluster_n=2)
        if n_max <= widest:
            continue  # an earlier tile already takes every N this one would
        widest = n_max
        rules.append(_rule(E.all_of(E.gt(M, m_lo), E.le(M, m_hi), E.le(K, k_max), E.le(N, n_max)),
                           f"{tn}x{tm}", "2x1x1",
                           f"one wave: {_token_tiles(m_hi, tm)} x ceil(N / {tn}) <= {_ONE_WAVE_SMS} tiles"))
    return tuple(rules)


# Narrow, long-K layers (N <= 2048, K > 4096, e.g. an MLP down-projection of a 1.5B model, 8960x1536):
# the 256 x 128 tile the M > 128 rules give wide-K layers makes 6 x ceil(M / 128) output tiles here,
# and CUTLASS's stream-K spreads them badly. 128 x 64 up to M = 192, 128 x 128 above, both split
# along K by CutlassMixedGemm::split_k_for. Same sweep: 8960x1536 M = 192 23.3 us vs 49.4
# (256 x 128), M = 256 25.8 vs 49.8, M = 512 34.5 vs 44.4, M = 96 21.2 vs 28.9 (128 x 128).
_NARROW_LONG_K = (E.le(N, 2048), E.gt(K, 4096))


# 32 < M <= 64 at K <= 3072 and N <= 8448: CUTLASS 128 x 32 where its 2 x ceil(N / 128) tiles fit
# one wave of 132 SMs (128 x 64 leaves half the SMs to stream-K's split of a short K). CUDA-graph
# sweeps of every CUTLASS schedule on an H100 (benchmarks/results/h100_mid_m_heldout.*,
# h100_mid_m_k3072.*): 2048x8192 M = 40-64 12.1 us vs 14.7-14.9 (128x64), 2560x7680 14.1 vs 15.3-15.6,
# 2048x6144 11.9-12.0 vs 13.6-13.7, 2048x5632 M = 56/64 11.9-12.0 vs 13.6, 2560x6912 14.0 vs 15.0-15.2,
# 3072x8192 16.1 vs 16.9-17.0, 3072x6144 16.0 vs 16.2-16.4; but two waves lose (1536x8960, 140
# tiles: 16.2-16.3 vs 10.6-10.8) and so does K = 4096 (4096x6144 20.1 vs 18.8). Held out from that
# fit (h100_mid_m_k3072_heldout.*, 7 layers x M = 40 / 56 / 64): the rule's pick was the fastest
# CUTLASS schedule (within 0.1 us) at all 21 points; 1024x6144 7.9 us vs 11.2, 1536x8192 10.0 vs
# 13.4, 2048x7168 12.0 vs 14.4, 2304x8448 13.1 vs 14.0, 3072x7168 16.0 vs 16.3; just outside it
# 128 x 64 stays ahead (3584x6144 17.2 vs 17.9, 2048x8704 13.0 vs 18.6).
H100_RULES: tuple[HeuristicRule, ...] = (
    # M > 64
    # 64 < M <= 256, K <= 4096: one wave of 16-token decode tiles (as at 16 < M <= 64, below):
    # 1536x1536 M = 96 80 x 16 6.1 us vs 12.6 (CUTLASS 128 x 64), 2048x2048 M = 128 128 x 16 10.7 vs 13.8;
    # above M = 128 only N <= 1664 fits (896x1152 M = 160 96 x 16 5.5 vs 9.8 for CUTLASS 128 x 32,
    # 1280x1280 M = 144 6.4 vs 11.2; h100_small_mid_m_heldout2.*, h100_small_bands_heldout.*)
    *_banded(_one_wave_rules, (64, 96, 128, 160, 192, 224, 256)),
    # 64 < M <= 1024, K <= 3072: one wave of CUTLASS tiles, in the bands of _ONE_WAVE_CUTLASS_M_EDGES.
    # 512 < M <= 1024 (128 x 128 at N <= 2048, else 256 x 128): 1536x1536 M = 1024 12.4 us vs 21.5
    # (256 x 128), 2048x2048 16.9 vs 26.4, 2304x2048 18.4 vs 29.1 (h100_small_large_m_tune.*); held out
    # (h100_small_large_m_heldout.*): 1.302x over 21 points
    *_banded(_one_wave_cutlass_rules, _ONE_WAVE_CUTLASS_M_EDGES),
    _rule(E.gt(M, 512), "256x128", "2x1x1", "M=1024/4096: 5-20% ahead of 128x256 and 128x128"),
    _rule(E.all_of(E.gt(M, 192), *_NARROW_LONG_K), "128x128", "2x1x1", "8960x1536 M=256: 25.8 us vs 49.8 (256x128)"),
    _rule(E.all_of(E.gt(M, 64), *_NARROW_LONG_K), "128x64", "2x1x1", "8960x1536 M=192: 23.3 us vs 49.4 (256x128)"),
    _rule(E.all_of(E.gt(M, 256), E.le(K, 4096), E.le(N, 4096)), "128x128", "2x1x1"),
    _rule(E.gt(M, 256), "256x128", "2x1x1"),
    _rule(E.all_of(E.gt(M, 128), E.le(K, 8192), E.le(N, 12288)), "128x128", "2x1x1"),
    _rule(E.gt(M, 128), "256x128", "2x1x1"),
    _rule(E.all_of(E.gt(M, 64), E.le(K, 4096), E.le(N, 6144)), "128x64", "2x1x1"),
    _rule(_one_wave_128_wide(64), "128x128", "2x1x1", "4096x12288 M=128: 27.1 us vs 35.3 (256x128)"),
    _rule(E.all_of(E.gt(M, 64), E.le(N, 8192)), "128x128", "2x1x1"),
    _rule(E.gt(M, 64), "256x128", "2x1x1"),
    # 32 < M <= 64
    *_one_wave_rules(32, 48),
    *_one_wave_rules(48, 64, max_width=112),
    _decode_rule(E.all_of(E.gt(M, 32), E.le(K, 4096), E.le(N, 4096)), "128x32",
                 "4096x4096 M=64: 16.8 us vs 17.8 (CUTLASS 128x64)"),
    _rule(E.all_of(E.gt(M, 32), E.le(K, 3072), E.le(N, 128 * (_ONE_WAVE_SMS // 2))), "128x32", "2x1x1",
          "one wave of 128 x 32 tiles, short K: 2048x6144 M=64 12.0 us vs 13.7 (128x64)"),
    _rule(_one_wave_128_wide(32), "128x64", "2x1x1", "4096x14336 M=64: 22.5 us vs 25.9 (256x64)"),
    _rule(E.all_of(E.gt(M, 32), E.ge(N, 10240)), "256x64", "2x1x1", "wide N: 256x64 beat 128x64 by 12-24%"),
    _rule(_M64_K16K, "256x64", "2x1x1", "28672x8192 M=64: 69.1 us vs 73.5"),
    _rule(E.gt(M, 32), "128x64", "2x1x1"),
    # 16 < M <= 32
    *_one_wave_rules(16, 24, widths=_ONE_WAVE_8_WIDTHS, tile_m=8),
    *_one_wave_rules(24, 32, widths=_ONE_WAVE_8_WIDTHS, tile_m=8),
    *_one_wave_rules(16, 32),
    _rule(E.all_of(E.gt(M, 16), E.ge(N, 10240)), "256x32", "2x1x1"),
    _rule(E.all_of(E.gt(M, 16), E.ge(K, 16384)), "256x32", "2x1x1"),
    _rule(E.gt(M, 16), "128x32", "2x1x1"),
    # M <= 16: the decode family, except CUTLASS 256x16 (stream-K) at wide N for 8 < M <= 16
    # M <= 8. The widths follow tile_n = 16 ceil(N / 2048) (at most 128 tiles: DECODE_BALANCED_SCHEDULES)
    # except where the sweeps said otherwise; figures: product decode sweeps on the H100, CUDA graph
    # (benchmarks/results/h100_decode_sweep_balanced.*, h100_decode_heldout_balanced.*)
    _decode_rule(E.all_of(E.le(M, 8), E.le(N, 4096), E.le(K, 4096)), "48x8_w16s3k64",
                 "4096x4096 M=1: 7.6 us vs 8.1 (64x8 w8; 86 tiles; 7.7 vs 8.1 in the dev harness)"),
    _decode_rule(E.all_of(E.le(M, 8), E.le(N, 4096)), "64x8_w16s3k64",
                 "14336x4096 M=1: 15.6 us vs 16.9 (64x8 w8); held-out 11008x4096 13.5 vs 14.1"),
    _decode_rule(E.all_of(E.le(M, 8), E.le(N, 5120), E.gt(K, 8192)), "80x8_w16s3k64",
                 "N = 5120, wide K: 64 tiles, split 2; 27648x5120 M=1 31.3 us vs 33.2 (48x8)"),
    _decode_rule(E.all_of(E.le(M, 8), E.le(N, 6144)), "48x8_w16s3k64",
                 "4096x6144 M=1: 8.1 us vs 9.3 (64x8 w16); held-out 5120x5120 9.0 vs 10.6 (80x8)"),
    _decode_rule(E.all_of(E.le(M, 8), E.le(N, 8192)), "64x8_w16s3k64",
                 "8192x8192 M=1: 15.6 us vs 17.5 (128x8); 28672x8192 46.2 vs 48.8 (128x8)"),
    _decode_rule(E.all_of(E.le(M, 8), E.le(N, 10240)), "80x8_w16s3k64",
                 "8192x10240 M=1: 19.4 us vs 22.9 (128x8): 128 tiles"),
    _decode_rule(E.all_of(E.le(M, 8), E.le(N, 12288)), "96x8_w8s4k64",
                 "dev harness 4096x12288 M=1: 12.6 us vs 13.6 (128x8); 4096x11008 11.9 vs 13.4"),
    _decode_rule(E.all_of(E.le(M, 8), E.le(N, 14336)), "112x8_w8s4k64",
                 "dev harness 4096x14336 M=1: 14.9 us vs 16.0 (256x8); 5120x13824 17.1 vs 18.8"),
    _decode_rule(E.le(M, 8), "256x8"),
    # 8 < M <= 16
    _decode_rule(E.all_of(E.le(N, 4096), E.le(K, 4096)), "64x16", "4096x4096 M=16: 8.6 us vs 9.2 (64x16 w16)"),
    _decode_rule(E.all_of(E.gt(N, 4096), E.le(N, 5120), E.gt(K, 8192)), "80x16_w8s4k64",
                 "27648x5120 M=16: 38.0 us vs 41.9 (48x16), 47.8 (64x16 w16); 13824x5120 21.8 vs 23.8"),
    _decode_rule(E.all_of(E.gt(N, 4096), E.le(N, 6144)), "48x16_w16s2k64", "4096x6144 M=16: 9.6 us vs 10.4 (64x16 w16)"),
    _decode_rule(E.le(N, 8192), "64x16_w16s2k64",
                 "28672x8192 M=16: 52.0 us vs 59.1 (128x16); held-out 27648x5120: 47.6 vs 52.9"),
    _decode_rule(E.le(N, 10240), "80x16_w8s4k64", "8192x10240 M=16: 22.3 us vs 28.0 (256x16; Marlin 23.3)"),
    _decode_rule(E.le(N, 12288), "96x16_w8s4k64", "4096x12288 M=16: 15.5 us vs 19.9 (256x16); 4096x11008 15.3 vs 19.1"),
    _decode_rule(E.le(N, 14336), "112x16_w8s4k64", "4096x14336 M=16: 16.4 us vs 20.2 (256x16); 5120x13824 19.7 vs 23.0"),
    _decode_rule(E.le(N, 16384), "256x16", "8192x10240 M=16: 28.8 us vs 31.9 (CUTLASS 256x16); "
                 "held-out 5120x15360: 23.5 vs 30.4"),
    _rule(None, "256x16", "1x1x1", "8 < M <= 16 at N >= 28672: 1-13% ahead of 256x16 decode"),
)
H100_HEURISTIC = Heuristic(name="h100", rules=H100_RULES)

# Per-GPU tables, chosen at run time by the device name (the first whose pattern the name
# contains); every other GPU uses H100_HEURISTIC. None is built in: on an H200 sweep (every
# schedule, kernel-only; benchmarks/results/h200_sweep.*, h200_heldout_sweep.*) the H100 rules
# pick within 0.6% / 2.3% (SPEC / held-out shapes) of the per-point best, and the H200 tables
# tried (a tune.py fit, a hand edit) scored 0.980x / 0.992x against them on the held-out shapes.
# `generate_machete.py --device-heuristic-table H200=FILE` adds one without a code change.
DEVICE_HEURISTICS: tuple["DeviceHeuristic", ...] = ()


# The W4A8 promote kernel (KernelKind.promote) for the types CUTLASS cannot run exactly: 8-bit
# activations with f16 group scales, and e4m3 (whose wgmma accumulation needs the fp32 promotion).
# Dev-harness run, H100, CUDA graph (scripts/decode_dev/promote_dev.py; docs/PERFORMANCE.md, "W4A8 on the H100"):
# 8192x28672 M = 1024, s8 g128: 256x128 678-687 us, 128x128 783-817, 256x64 871-909 (the decode
# family: 2526).
PROMOTE_SCHEDULES: tuple[ScheduleConfig, ...] = (
    promote_schedule("128x64", stages=6), promote_schedule("256x64", stages=6),
    promote_schedule("128x128", stages=4), promote_schedule("256x128", stages=4),
)
_P = {f"{s.tile_n}x{s.tile_m}": s for s in PROMOTE_SCHEDULES}


def _promote_rule(cond: Cond | None, tile: str, note: str = "") -> HeuristicRule:
    return HeuristicRule(cond=cond, schedule=_P[tile], note=note)


def _w4a8_rules(channel: bool = False) -> tuple[HeuristicRule, ...]:
    """W4A8 types the CUTLASS path cannot run exactly (group scales, e4m3). M <= 32: the decode family
    (csrc/machete/decode_kernel.cuh: s8 on the s8 mma, e4m3 on the f16 mma after an exact e4m3 -> f16
    conversion), chosen from the W4A8 dev-harness sweep on an H100 (scripts/decode_dev/w4a8_dev.py):
    64 x 8 on 4096x4096-sized layers up to M = 16, the 16-warp 64 / 48-wide and the 80-wide tiles on
    the layers named below, 128 x 8 / 128 x 16 elsewhere at M <= 8 / 16;
    128 x 32 to M = 32 (M = 64 on 4096x4096-sized layers). Above: the promote kernel, from one H100
    run timing every promote schedule for s8 g128, e4m3 g128 and e4m3 without group scales
    (benchmarks/bench_w4a8.py --promote-schedules; benchmarks/results/h100_w4a8_promote.*), one
    at M = 48 / 64 / 128 beside the decode 128 x 32 on four layers (h100_w4a8_promote_m48_128.*),
    one after the promote kernel got split-K (h100_w4a8_promote_splitk.*), then checked on held-out
    Llama-2-13B / Qwen2.5-32B layers (h100_w4a8_heldout.*: pick / best 1.047-1.074 in geomean, worst
    1.59x at 27648x5120 M = 128), which moved M = 128 on 4096 < N < 8192 from 128 x 64 to 128 x 128.
    The split last wave (promote::Plan, with a coalesced reduce) then made split-K cheap and moved
    M = 128..512 again, from one H100 run of every promote tile on seven layers
    (h100_w4a8_tail_tiles.*): 128 x 128 at M <= 128 (256 x 128 on N >= 16384), 256 x 128 to M = 256,
    128 x 128 to M = 512 on N <= 6144, 256 x 128 above.
    `benchmarks/tune.py score --w4a8-csv ... --w4a8-type ...` scores a table on those CSVs."""
    small = (E.le(N, 4096), E.le(K, 4096))
    # balanced widths (DECODE_BALANCED_SCHEDULES) where the W4A16 rules found them: 80 wide at
    # 8192 < N <= 10240 and at N <= 5120 with K > 8192 (dev harness, H100,
    # benchmarks/results/h100_w4a8_balanced_variants.txt)
    bal10k = (E.gt(N, 8192), E.le(N, 10240))
    bal5k = (E.gt(N, 4096), E.le(N, 5120), E.gt(K, 8192))
    # 16-warp CTAs of 48 / 64 features on N <= 8192 (the W4A16 widths): dev harness, then the product
    # with the previous picks forced in the same run (H100; benchmarks/results/h100_w4a8_widths_dev.log,
    # h100_w4a8_widths.md). Not at N > 4096 with K > 8192: on 28672x8192 e4m3 g128 lost there (M=1
    # 54.7 us vs 49.8, M=16 61.4 vs 57.9) while s8 gained 4-8%.
    mid = (E.gt(N, 4096), E.le(N, 8192), E.le(K, 8192))
    return (
        _decode_rule(E.all_of(E.le(M, 16), *small), "64x8",
                     "4096x4096 M=1: 7.6 us vs 8.5 (128x8); M=16, s8 without group scales: 7.8 vs 9.1"),
        _decode_rule(E.all_of(E.le(M, 8), *bal10k), "80x8_w16s3k64",
                     "s8 g128 8192x10240 M=1: 19.3 us vs 23.0 (128x8); e4m3 21.8 vs 28.9"),
        _decode_rule(E.all_of(E.le(M, 8), *bal5k), "80x8_w16s3k64", "s8 g128 13824x5120 M=1: 18.2 us vs 21.4 (128x8)"),
        _decode_rule(E.all_of(E.le(M, 8), E.le(N, 4096)), "64x8_w16s3k64",
                     "14336x4096 M=1: s8 g128 14.9 us vs 17.6 (128x8), e4m3 g128 18.0 vs 20.4, e4m3 per channel "
                     "16.7 vs 21.1, s8 per channel 15.1 vs 17.0"),
        _decode_rule(E.all_of(E.le(M, 8), *mid), "64x8_w16s3k64",
                     "M=1 s8 g128 4096x6144 8.1 us vs 10.1 (128x8), 8192x8192 15.0 vs 17.2; e4m3 10.5 vs 11.7, "
                     "18.5 vs 18.6; s8 per channel 8.0 vs 9.8, 15.0 vs 16.6"),
        _decode_rule(E.le(M, 8), "128x8"),
        _decode_rule(E.all_of(E.le(M, 16), *bal10k), "80x16_w8s4k64",
                     "s8 g128 8192x10240 M=16: 20.4 us vs 26.3 (128x16); e4m3 26.7 vs 33.5"),
        _decode_rule(E.all_of(E.le(M, 16), *bal5k), "80x16_w8s4k64", "s8 g128 13824x5120 M=16: 19.2 us vs 24.4 (128x16)"),
        _decode_rule(E.all_of(E.le(M, 16), *mid, E.le(N, 6144)), "48x16_w16s2k64",
                     "4096x6144 M=16: s8 g128 8.8 us vs 11.4 (128x16), e4m3 10.4 vs 13.3, e4m3 per channel 9.6 vs 13.5"),
        # s8 per channel keeps 128 x 16 here (CUTLASS-exact s32 without per-chunk scaling: 8192x8192
        # M=16 17.2 us vs 19.6 on 64 x 16 w16, 14336x4096 16.2 vs 18.9)
        *(() if channel else (
            _decode_rule(E.all_of(E.le(M, 16), E.le(N, 4096)), "64x16_w16s2k64",
                         "14336x4096 M=16: s8 g128 15.4 us vs 19.2 (128x16), e4m3 19.4 vs 23.7, e4m3 per channel "
                         "18.4 vs 24.0"),
            _decode_rule(E.all_of(E.le(M, 16), *mid), "64x16_w16s2k64",
                         "8192x8192 M=16: s8 g128 15.6 us vs 17.8 (128x16), e4m3 19.9 vs 21.2"))),
        _decode_rule(E.le(M, 16), "128x16"),
        _decode_rule(E.le(M, 32), "128x32", "8192x28672 M=32: 56 us vs 91 (128x16)"),
        _decode_rule(E.all_of(E.le(M, 64), *small), "128x32", "4096x4096 M=64: 18.3 us vs 24.2 (promote 128x64)"),
        _promote_rule(E.all_of(E.le(M, 64), E.ge(N, 16384)), "256x64", "8192x28672 M=64: 66.8 us vs 175.9 (decode)"),
        _promote_rule(E.le(M, 64), "128x64", "split-K: 28672x8192 M=64 88.0 us vs 144.0 (decode); 14336x4096 36.7 vs 44.1"),
        _promote_rule(E.all_of(E.le(M, 256), *small), "128x64", "4096x4096 M=256: 25.2 us vs 33.3 (128x128)"),
        _promote_rule(E.all_of(E.le(M, 128), E.ge(N, 16384)), "256x128", "8192x28672 M=128: 99.2 us vs 116.9 (128x128)"),
        _promote_rule(E.le(M, 128), "128x128",
                      "14336x4096 M=128: 34.2 us vs 44.5 (128x64); held-out 27648x5120 69.7 vs 142 (128x64)"),
        _promote_rule(E.le(M, 256), "256x128", "held-out 27648x5120 M=256: 122.0 us vs 180.3 (128x128)"),
        _promote_rule(E.all_of(E.le(M, 512), E.le(N, 6144)), "128x128",
                      "held-out 27648x5120 M=512: 234.5 us vs 319.3 (256x128: 80 tiles, no split)"),
        _promote_rule(None, "256x128", "8192x28672 M=1024, s8 g128: 694 us vs 822 (128x128), 2526 (decode)"),
    )


W4A8_HEURISTIC = Heuristic(name="w4a8", rules=_w4a8_rules())

# s8 x u4b8 without group scales also builds CUTLASS schedules: the weights go to the s8 wgmma
# unscaled (CUTLASS's DirectConvert) from the 8-bit-MMA prepacked layout, s32 accumulation (exact),
# channel x token scales in an EVT epilogue (csrc/machete/mm_kernel.cuh); W4A8_CHANNEL_HEURISTIC
# says where each runs. e4m3 stays on the decode family: the e4m3 wgmma's accumulation missed the
# W4A8 tolerance (3.2x over it on one SPEC shape, H100; docs/W4A8.md), the decode family's f16 mma
# does not.
W4A8_CUTLASS_SCHEDULES: tuple[ScheduleConfig, ...] = (
    schedule("128x64", "2x1x1"), schedule("128x128", "2x1x1"), schedule("256x128", "2x1x1"),
)


def _w4a8_channel_rules() -> tuple[HeuristicRule, ...]:
    """The decode rules up to M = 32 (M = 64 on 4096x4096-sized layers), then CUTLASS: 128 x 64 to
    M = 64 (M = 256 on 4096x4096-sized layers), 128 x 128 to M = 128 (256 x 128 on N >= 16384),
    256 x 128 above -- from an H100 run timing every schedule (benchmarks/bench_w4a8.py
    --s8ch-schedules; docs/PERFORMANCE.md, "W4A8 on the H100"): at M = 64 128 x 64 beats the decode 128 x 32 by
    1.3-1.7x on the large layers; at M >= 1024 256 x 128 beats 128 x 128 by 1.14-1.17x. M = 128 and
    256 were re-fitted on the held-out run (h100_w4a8_heldout.*), where the old 128 x 64 to M = 128
    and 128 x 128 to M = 512 picked 1.155x the best in geomean (1.74x at 27648x5120 M = 128)."""
    small = (E.le(N, 4096), E.le(K, 4096))
    return tuple(r for r in _w4a8_rules(channel=True) if r.cond is not None and not r.schedule.is_promote and
                 r.schedule.tile_m < 32) + (
        _decode_rule(E.le(M, 32), "128x32"),
        _decode_rule(E.all_of(E.le(M, 64), *small), "128x32", "4096x4096 M=64: 11.8 us vs 15.7 (128x64)"),
        _rule(E.le(M, 64), "128x64", "2x1x1", "8192x28672 M=64: 56.7 us vs 96.6 (decode 128x32)"),
        _rule(E.all_of(E.le(M, 256), *small), "128x64", "2x1x1", "4096x4096 M=256: 16.2 us vs 19.7 (128x128)"),
        _rule(E.all_of(E.le(M, 128), E.ge(N, 16384)), "256x128", "2x1x1",
              "held-out 5120x27648 M=128: 39.8 us vs 44.7 (128x128), 62.3 (128x64)"),
        _rule(E.le(M, 128), "128x128", "2x1x1", "held-out 27648x5120 M=128: 46.2 us vs 80.6 (128x64)"),
        _rule(None, "256x128", "2x1x1",
              "8192x28672 M=1024: 400 us vs 465 (128x128); held-out M=256: 5-31% ahead of 128x128"),
    )


W4A8_CHANNEL_HEURISTIC = Heuristic(name="w4a8_channel", rules=_w4a8_channel_rules())


# ----------------------------------------------------------------------------------------------
# SPEC §2: the type configurations.

def _gptq_awq_types() -> tuple[TypeConfig, ...]:
    out = []
    for b in WEIGHT_TYPES:  # generation order: for b in (u4b8, u8b128, u4, u8), for a in (f16, bf16)
        for a in FLOAT16_TYPES:
            zero = a if b.zero_points else Dt.void
            out.append(TypeConfig(a=a, b=b, b_group_scale=a, b_group_zeropoint=zero,
                                  b_channel_scale=Dt.void, a_token_scale=Dt.void, out=a,
                                  accumulator=Dt.f32))
    return tuple(out)


def _w4a8_types() -> tuple[TypeConfig, ...]:
    out = []
    for a in (Dt.s8, Dt.e4m3):
        for gs in (Dt.f16, Dt.void):
            out.append(TypeConfig(a=a, b=Dt.u4b8, b_group_scale=gs, b_group_zeropoint=Dt.void,
                                  b_channel_scale=Dt.f32, a_token_scale=Dt.f32, out=Dt.f16,
                                  accumulator=Dt.s32 if a is Dt.s8 else Dt.f32))
    return tuple(out)


TYPE_CONFIGS: tuple[TypeConfig, ...] = _gptq_awq_types()
W4A8_TYPE_CONFIGS: tuple[TypeConfig, ...] = _w4a8_types()
SPEC_SCHEDULES: tuple[ScheduleConfig, ...] = SPEC_HEURISTIC.schedules
# built for every 16-bit type: the 9 SPEC (CUTLASS) schedules, then the decode family
SCHEDULES: tuple[ScheduleConfig, ...] = tuple(dict.fromkeys(SPEC_SCHEDULES + DECODE_SCHEDULES + DECODE_W16_SCHEDULES
                                                         + DECODE_BALANCED_SCHEDULES))
# W4A8: the seven 8- and 4-warp decode schedules (all have K chunks of 32 or 64, which the 8-bit mma
# needs), the further decode schedules the W4A8 rules pick (80 wide at N = 10240 / 5120, 16-warp 64 / 48
# wide on mid-size layers; both W4A8 tables share their decode rules), then the promote kernel for the
# group-scaled and e4m3 types, CUTLASS for s8 without group scales (its exact s32 wgmma is faster)
W4A8_BALANCED_SCHEDULES: tuple[ScheduleConfig, ...] = (_D["80x8_w16s3k64"], _D["80x16_w8s4k64"], _D["64x8_w16s3k64"],
                                                      _D["48x16_w16s2k64"], _D["64x16_w16s2k64"])
W4A8_SCHEDULES: tuple[ScheduleConfig, ...] = DECODE_SCHEDULES + W4A8_BALANCED_SCHEDULES + PROMOTE_SCHEDULES
W4A8_CHANNEL_SCHEDULES: tuple[ScheduleConfig, ...] = DECODE_SCHEDULES + W4A8_BALANCED_SCHEDULES + W4A8_CUTLASS_SCHEDULES


def _w4a8_cutlass_ok(t: TypeConfig) -> bool:
    """8-bit-activation types the CUTLASS path takes: s8 without group scales (see above)."""
    return t.a is Dt.s8 and t.b_group_scale is Dt.void


def impl_configs(w4a8: bool = False, heuristic: Heuristic | None = None,
                 device_heuristics: Sequence[DeviceHeuristic] | None = None) -> tuple[ImplConfig, ...]:
    """The implementations to generate. ``heuristic`` replaces the default (H100) table for every
    GPU (tuning); ``device_heuristics`` are the per-GPU tables tried first (default: the built-in
    ones, DEVICE_HEURISTICS, unless ``heuristic`` is given)."""
    h = heuristic or H100_HEURISTIC
    if device_heuristics is None:
        device_heuristics = () if heuristic is not None else DEVICE_HEURISTICS
    dev = tuple(device_heuristics)
    # a tuned heuristic may pick fewer schedules; every default one stays selectable by name
    scheds = tuple(dict.fromkeys(SCHEDULES + h.schedules + tuple(s for d in dev for s in d.heuristic.schedules)))
    out = [ImplConfig(types=t, schedules=scheds, heuristic=h, device_heuristics=dev) for t in TYPE_CONFIGS]
    if w4a8:
        out += [ImplConfig(types=t, schedules=W4A8_CHANNEL_SCHEDULES, heuristic=W4A8_CHANNEL_HEURISTIC)
                if _w4a8_cutlass_ok(t) else
                ImplConfig(types=t, schedules=W4A8_SCHEDULES, heuristic=W4A8_HEURISTIC)
                for t in W4A8_TYPE_CONFIGS]
    return tuple(out)


# ----------------------------------------------------------------------------------------------
# Queries the runtime package answers from the model (no GPU needed).

def find_type_config(a: Dt, b: Dt, group_scale: Dt = Dt.void, group_zero: Dt = Dt.void,
                     channel_scale: Dt = Dt.void, token_scale: Dt = Dt.void,
                     out: Dt | None = None,
                     configs: Iterable[TypeConfig] = TYPE_CONFIGS + W4A8_TYPE_CONFIGS) -> TypeConfig | None:
    for t in configs:
        if (t.a, t.b, t.b_group_scale, t.b_group_zeropoint, t.b_channel_scale, t.a_token_scale) == (
                a, b, group_scale, group_zero, channel_scale, token_scale) and out in (None, t.out):
            return t
    return None


def impl_for(types: TypeConfig, heuristic: Heuristic | None = None) -> ImplConfig:
    for impl in impl_configs(w4a8=True, heuristic=heuristic):
        if impl.types == types:
            return impl
    raise ValueError(f"{types} is not an implemented type configuration")


def schedules_for(types: TypeConfig) -> tuple[ScheduleConfig, ...]:
    return impl_for(types).schedules


def heuristic_for_device(impl: ImplConfig, device_name: str | None) -> Heuristic:
    """The table the dispatch uses on a device of this name (None: the default table)."""
    for d in impl.device_heuristics:
        if device_name and d.device in device_name:
            return d.heuristic
    return impl.heuristic


def select_schedule(types: TypeConfig, m: int, n: int, k: int,
                    heuristic: Heuristic | None = None, device_name: str | None = None) -> ScheduleConfig:
    """What the generated dispatch picks for (M, N, K) on a device of this name: the IR's rule
    chain, evaluated in Python."""
    return heuristic_for_device(impl_for(types, heuristic), device_name).select(m, n, k)
