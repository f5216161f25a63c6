"""machete: Hopper mixed-input (quantized-weight) GEMM.

Public API::

    machete.prepack_B(b_q, a_type, b_type, group_scales_type=None)
    machete.mm(a, b_prepacked, b_type, *, out_type=None, group_scales=None, group_zeros=None,
               group_size=None, channel_scales=None, token_scales=None, schedule=None)
    machete.supported_schedules(a_type, b_type, group_scales_type=None, group_zeros_type=None,
                                channel_scales_type=None, token_scales_type=None, out_type=None)
    machete.scalar_types   # uint4b8, uint8b128, uint4, uint8, int4, int8, from_id
    machete.reference      # quantize / pack / unpack / dequantize / reference_mm (pure torch)

Importing machete registers torch.ops.machete.mm and torch.ops.machete.prepack_B.
"""

from . import reference, scalar_types
from .ops import heuristic_schedule, mm, prepack_B, supported_schedules
from .scalar_types import ScalarType

__all__ = [
    "mm",
    "prepack_B",
    "supported_schedules",
    "heuristic_schedule",
    "scalar_types",
    "reference",
    "ScalarType",
]
