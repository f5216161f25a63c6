"""Every name the generator produces, in one place: type signatures, schedule names, C++ symbols.

Layering: this module sits above model.py (model imports nothing from here); type signatures and
schedule names are spelled by the model (``TypeConfig.signature``, ``ScheduleConfig.name``,
``model.parse_schedule_name``) and re-exported here, the C++ symbols below are built from them.

tests/test_names.py checks the mangling is injective over the whole config space.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# The schedule-name grammar lives with the schedules (model.py, which imports nothing from here);
# re-exported so ``names`` stays the one place to look a name up.
from .model import canonical_schedule_name, parse_schedule_name, schedule_alias

if TYPE_CHECKING:
    from .model import ScheduleConfig, TypeConfig


def type_signature(t: "TypeConfig") -> str:
    """Concatenated short names of the eight fields, e.g. ``f16u4b8f16voidvoidvoidf16f32``."""
    return t.signature


def schedule_name(s: "ScheduleConfig") -> str:
    return s.name


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
