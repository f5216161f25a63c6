"""The C++ symbols the generator defines, in one place, built from the model's names.

Type signatures and schedule names are the model's own (``TypeConfig.signature``,
``ScheduleConfig.name``, ``model.parse_schedule_name`` / ``canonical_schedule_name`` /
``schedule_alias``); this module only mangles them into C++ identifiers and imports the model for
type annotations only (model.py imports nothing from here; tests/test_layers.py checks both).

tests/test_names.py checks the mangling is injective over the whole config space.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import ScheduleConfig, TypeConfig


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
