"""The C++ contract with csrc/: every header, template, type and function name the generated
files use but do not define. csrc/CONTRACT.md describes the same contract for humans and
tests/test_contract.py checks that each name here is declared in csrc/.

This is also the one C++-mapping layer for the model (as torchgen's ``api/`` is for its model):
model.py holds no C++ spelling; the element tag and ``ScalarKind`` of a ``Dt`` and the CUTLASS
tags of a schedule's fields are looked up here (``cpp_tag``, ``scalar_kind``, ``*_tag``).
"""

from __future__ import annotations

from ._cutlass import DataTypeTag, EpilogueScheduleTag, KernelScheduleTag, TileSchedulerTag
from .model import Dt, ScheduleConfig
from .nodes import ConstPtr, ConstRef, NamedType, Param
from .scalar_table import BY_SHORT as _SCALARS

NAMESPACE = "machete"

# Headers (include path -Icsrc).
ARGS_HEADER = "machete/mm_args.h"          # MMArgs, PrepackArgs; no CUDA/CUTLASS
SCALAR_KIND_HEADER = "machete/scalar_kind.h"  # ScalarKind, scalar_bits, ...: printed from the scalar table
KERNEL_HEADER = "machete/mm_kernel.cuh"    # TypeConfig, MacheteKernel (CUTLASS)
PREPACK_HEADER = "machete/prepack_kernel.cuh"  # PrepackB
DISPATCH_SYSTEM_HEADERS = ("cstring", "stdexcept", "string", "vector")

# Templates and types.
TYPE_CONFIG_TEMPLATE = "TypeConfig"
KERNEL_TEMPLATE = "MacheteKernel"
DECODE_MAINLOOP_TEMPLATE = "machete::DecodeMainloop"  # decode_gemm.cuh: KernelSchedule tag of the decode family
PROMOTE_MAINLOOP_TEMPLATE = "machete::PromoteMainloop"  # promote_gemm.cuh: KernelSchedule tag of the W4A8 promote kernel
KERNEL_RUN = "run"
PREPACK_TEMPLATE = "PrepackB"
SCALAR_KIND = "ScalarKind"
MM_ARGS = NamedType(name="MMArgs")
PREPACK_ARGS = NamedType(name="PrepackArgs")
SCALAR_BITS_FN = "scalar_bits"                    # (ScalarKind) -> storage bits
SCALAR_BIAS_FLIP_FN = "scalar_bias_flip"          # (ScalarKind) -> prepack's xor mask
SCALAR_KIND_OF_B_TYPE_ID_FN = "scalar_kind_of_b_type_id"  # (SPEC §5 id) -> ScalarKind, Void if none
TORCH_DTYPE_KINDS_MACRO = "MACHETE_FOREACH_TORCH_SCALAR_KIND"  # X(c10 ScalarType, ScalarKind)
DEVICE_NAME_CONTAINS_FN = "device_name_contains"  # (MMArgs const&, char const*) -> bool

# Our own element tags for the biased GPTQ types (csrc/machete/scalar_tags.cuh): machete::<name>_t,
# e.g. machete::uint4b8_t, for every type CUTLASS has none of (Dt.cutlass is None).
BIASED_TYPE_TAGS = {d: f"{NAMESPACE}::{_SCALARS[d.value].type_name}_t" for d in Dt if d.cutlass is None}
# The ``machete::ScalarKind`` enumerator of each element type (scalar_kind.h), from the table.
SCALAR_KINDS = {d: _SCALARS[d.value].kind for d in Dt}


def cpp_tag(d: Dt) -> str:
    """C++ element tag (CUTLASS's, or ours from csrc/machete/scalar_tags.cuh)."""
    return BIASED_TYPE_TAGS[d] if d.cutlass is None else DataTypeTag[d.cutlass]


def scalar_kind(d: Dt) -> str:
    """The ``machete::ScalarKind`` enumerator (mm_args.h)."""
    return SCALAR_KINDS[d]


def kernel_schedule_tag(s: ScheduleConfig) -> str:
    return KernelScheduleTag[s.kernel_schedule]


def epilogue_schedule_tag(s: ScheduleConfig) -> str:
    return EpilogueScheduleTag[s.epilogue_schedule]


def tile_scheduler_tag(s: ScheduleConfig) -> str:
    return TileSchedulerTag[s.tile_scheduler]


# Functions the generated files define and the binding calls (declared in mm_args.h).
MM_DISPATCH_FN = "mm_dispatch"
SUPPORTED_SCHEDULES_FN = "supported_schedules"
HEURISTIC_SCHEDULE_FN = "heuristic_schedule"
PREPACK_DISPATCH_FN = "prepack_B_dispatch"

# Members of MMArgs / PrepackArgs the dispatch reads.
ARGS = "args"
MM_TYPE_FIELDS = ("a_type", "b_type", "group_scales_type", "group_zeros_type",
                  "channel_scales_type", "token_scales_type", "out_type")

# Names from headers that the verify pass must not expect a generated definition for.
EXTERNAL_NAMES = frozenset({
    TYPE_CONFIG_TEMPLATE, KERNEL_TEMPLATE, PREPACK_TEMPLATE, SCALAR_KIND, "MMArgs", "PrepackArgs",
    SCALAR_BITS_FN, DEVICE_NAME_CONTAINS_FN, "void", "bool", "int64_t", "char", "std::string", "std::vector",
    "std::invalid_argument", "std::strcmp",
    "cute::Shape", "cutlass::gemm::KernelTmaWarpSpecializedCooperative",
    "cutlass::epilogue::TmaWarpSpecializedCooperative", "cutlass::gemm::StreamKScheduler",
    "cutlass::gemm::PersistentScheduler", "cutlass::epilogue::collective::EpilogueTileAuto",
    DECODE_MAINLOOP_TEMPLATE, PROMOTE_MAINLOOP_TEMPLATE,
    MM_DISPATCH_FN, SUPPORTED_SCHEDULES_FN, HEURISTIC_SCHEDULE_FN, PREPACK_DISPATCH_FN,
} | {cpp_tag(d) for d in Dt})

# Parameter lists shared by declarations and definitions.
MM_ARGS_PARAM = Param(type=ConstRef(inner=MM_ARGS), name=ARGS)
PREPACK_ARGS_PARAM = Param(type=ConstRef(inner=PREPACK_ARGS), name=ARGS)
SCHEDULE_PARAM = Param(type=ConstPtr(inner=NamedType(name="char")), name="schedule")
STRING = NamedType(name="std::string")
STRING_VECTOR = NamedType(name="std::vector", args=(STRING,))
INT64 = NamedType(name="int64_t")
SCALAR_KIND_T = NamedType(name=SCALAR_KIND)
