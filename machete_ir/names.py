"""Every name the generator produces, in one place: type signatures, schedule names, C++ symbols.

tests/test_names.py checks the mangling is injective over the whole config space.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import ScheduleConfig, TypeConfig

# SPEC §3 canonical form (double underscore, as upstream builds spell it) and the older alias.
_SCHEDULE_SUFFIX = "_TmaMI__TmaCoop_streamK"
_SCHEDULE_SUFFIX_ALIAS = "_TmaMI_TmaCoop_streamK"
_PERSISTENT_SUFFIX = "_TmaMI__TmaCoop_persistent"
_SCHEDULE_RE = re.compile(r"^(\d+)x(\d+)_(\d+)x(\d+)x(\d+)(_TmaMI__?TmaCoop_(?:streamK|persistent))$")
# decode family: {tileN}x{tileM}_w{warps}s{stages}k{k_chunk}_DecodeMma_clusterK
_DECODE_SUFFIX = "_DecodeMma_clusterK"
_DECODE_RE = re.compile(r"^(\d+)x(\d+)_w(\d+)s(\d+)k(\d+)" + _DECODE_SUFFIX + "$")


def type_signature(t: "TypeConfig") -> str:
    """Concatenated short names of the eight fields, e.g. ``f16u4b8f16voidvoidvoidf16f32``."""
    return "".join(d.short_name for d in t.fields)


def schedule_name(s: "ScheduleConfig") -> str:
    from ._cutlass import TileSchedulerType

    if s.is_decode:
        return f"{s.tile_n}x{s.tile_m}_w{s.warps}s{s.stages}k{s.k_chunk}{_DECODE_SUFFIX}"

    suffix = _SCHEDULE_SUFFIX if s.tile_scheduler is TileSchedulerType.StreamK else _PERSISTENT_SUFFIX
    c0, c1, c2 = s.cluster
    return f"{s.tile_n}x{s.tile_m}_{c0}x{c1}x{c2}{suffix}"


def canonical_schedule_name(name: str) -> str:
    """Accept the single-underscore alias; return the canonical spelling (or raise ValueError)."""
    if _DECODE_RE.match(name):
        return name
    m = _SCHEDULE_RE.match(name)
    if not m:
        raise ValueError(f"malformed schedule name {name!r} (expected e.g. 128x16_1x1x1{_SCHEDULE_SUFFIX} "
                         f"or 64x8_w8s6k64{_DECODE_SUFFIX})")
    if m.group(6) == _SCHEDULE_SUFFIX_ALIAS:
        return name[: -len(_SCHEDULE_SUFFIX_ALIAS)] + _SCHEDULE_SUFFIX
    return name


def schedule_alias(name: str) -> str | None:
    """The older single-underscore spelling of a canonical stream-K name."""
    if name.endswith(_SCHEDULE_SUFFIX):
        return name[: -len(_SCHEDULE_SUFFIX)] + _SCHEDULE_SUFFIX_ALIAS
    return None


def parse_schedule_name(name: str) -> "ScheduleConfig":
    """Schedule from its name (validated by ScheduleConfig: bad tiles/clusters raise ValueError)."""
    from ._cutlass import TileSchedulerType

    from .model import KernelKind, ScheduleConfig

    canon = canonical_schedule_name(name)
    d = _DECODE_RE.match(canon)
    if d:
        return ScheduleConfig(tile_n=int(d.group(1)), tile_m=int(d.group(2)), kind=KernelKind.decode,
                              warps=int(d.group(3)), stages=int(d.group(4)), k_chunk=int(d.group(5)))
    m = _SCHEDULE_RE.match(canon)
    assert m is not None
    sched = TileSchedulerType.StreamK if canon.endswith("streamK") else TileSchedulerType.Persistent
    return ScheduleConfig(tile_n=int(m.group(1)), tile_m=int(m.group(2)),
                          cluster=(int(m.group(3)), int(m.group(4)), int(m.group(5))),
                          tile_scheduler=sched)


# ---- C++ symbols (all inside namespace machete) ----

def schedule_struct(s: "ScheduleConfig") -> str:
    return f"sch_{s.name}"


def types_alias(t: "TypeConfig") -> str:
    return f"types_{t.signature}"


def kernel_alias(t: "TypeConfig") -> str:
    """Template alias ``Kernel_<sig><Schedule>`` = MacheteKernel<types_<sig>, Schedule>."""
    return f"Kernel_{t.signature}"


def entry_point(t: "TypeConfig", s: "ScheduleConfig") -> str:
    return f"mm_impl_{t.signature}_sch_{s.name}"


def type_dispatch(t: "TypeConfig") -> str:
    return f"mm_{t.signature}"


def heuristic_fn(heuristic_name: str) -> str:
    return f"heuristic_{heuristic_name}"


def type_supported_fn(t: "TypeConfig") -> str:
    return f"schedules_{t.signature}"
