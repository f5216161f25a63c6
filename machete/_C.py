"""machete._C: the low-level binding (see csrc/README.md).

The compiled half is the extension ``machete._C_ext`` (csrc/torch_bindings.cpp). Its entries return
``(code, value, message)`` instead of raising from C++ (C++ exceptions thrown in code built on the
device image crashed the interpreter); this module turns them into ``ValueError`` (code 1) and
``RuntimeError`` (code 2). Importing it raises ImportError when the extension was not built.
"""
from . import _C_ext as _ext  # noqa: F401  (ImportError when the extension is not built)


def _unwrap(result):
    code, value, message = result
    if code == 0:
        return value
    if code == 1:
        raise ValueError(message)
    raise RuntimeError(message)


def mm(a, b, b_type_id, out_type=None, group_scales=None, group_zeros=None, group_size=None,
       channel_scales=None, token_scales=None, schedule=None):
    """D[M, N] = a @ dequant(b) (b prepacked by prepack_B)."""
    return _unwrap(_ext.mm(a, b, int(b_type_id), out_type, group_scales, group_zeros, group_size,
                           channel_scales, token_scales, schedule))


def prepack_B(b, a_type, b_type_id, group_scales_type=None):
    """Reorder packed int32 weights [K / (32/bits), N] into the layout mm consumes."""
    return _unwrap(_ext.prepack_B(b, a_type, int(b_type_id), group_scales_type))


def supported_schedules(a_type, b_type_id, group_scales_type=None, group_zeros_type=None,
                        channel_scales_type=None, token_scales_type=None, out_type=None):
    """Schedule names built into this extension for the type combination (empty if none)."""
    return _unwrap(_ext.supported_schedules(a_type, int(b_type_id), group_scales_type, group_zeros_type,
                                            channel_scales_type, token_scales_type, out_type))


def heuristic_schedule(M, N, K, a_type, b_type_id, group_scales_type=None, group_zeros_type=None,
                       channel_scales_type=None, token_scales_type=None, out_type=None):
    """The schedule the built dispatch picks for (M, N, K) when none is named."""
    return _unwrap(_ext.heuristic_schedule(int(M), int(N), int(K), a_type, int(b_type_id), group_scales_type,
                                           group_zeros_type, channel_scales_type, token_scales_type, out_type))
