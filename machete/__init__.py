"""machete: Hopper mixed-input (quantized-weight) GEMM.

Public API::

    machete.prepack_B(b_q, a_type, b_type, group_scales_type=None)
    machete.mm(a, b_prepacked, b_type, *, out_type=None, group_scales=None, group_zeros=None,
               group_size=None, channel_scales=None, token_scales=None, schedule=None)
    machete.supported_schedules(a_type, b_type, group_scales_type=None, group_zeros_type=None,
                                channel_scales_type=None, token_scales_type=None, out_type=None)
    machete.scalar_types   # uint4b8, uint8b128, uint4, uint8, int4, int8, from_id
    machete.reference      # quantize / pack / unpack / dequantize / reference_mm (pure torch)
    machete.formats        # GPTQ / AWQ / compressed-tensors checkpoint tensors -> prepack_B inputs
    machete.nn.MacheteLinear   # torch.nn.Module: from_linear / from_gptq / from_awq / from_compressed_tensors

Importing machete registers torch.ops.machete.mm and torch.ops.machete.prepack_B.
"""

__version__ = "0.1.0"

from . import reference, scalar_types
from .ops import heuristic_schedule, mm, prepack_B, supported_schedules
from .scalar_types import ScalarType
from . import formats, nn  # noqa: E402  (after ops: nn uses it)

__all__ = [
    "mm",
    "prepack_B",
    "supported_schedules",
    "heuristic_schedule",
    "scalar_types",
    "reference",
    "ScalarType",
    "formats",
    "nn",
    "__version__",
]
