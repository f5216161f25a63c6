"""User-facing ops: ``mm``, ``prepack_B``, ``supported_schedules``.

``torch.ops.machete.mm`` and ``torch.ops.machete.prepack_B`` are torch custom ops with a CUDA
implementation (calling the extension ``machete._C``) and a fake implementation (shape / dtype
propagation for torch.compile and meta tensors). Both implementations run the same argument
validation, so a bad call fails with a one-line ValueError/TypeError naming the argument
before anything reaches the GPU -- also at torch.compile trace time.
"""

from __future__ import annotations

import importlib
import os
from typing import List, NamedTuple, Optional, Sequence

import torch

from . import _model
from ._checks import as_int
from .scalar_types import ScalarType, ScalarTypeLike, as_scalar_type

__all__ = [
    "mm",
    "prepack_B",
    "supported_schedules",
    "heuristic_schedule",
    "validate_mm_args",
    "validate_prepack_args",
]

_K_ALIGN = 64
_N_ALIGN = 128
_BYTE_ALIGN = 16
# Device types a tensor may live on: cuda for real work; meta for shape-only runs.
_DEVICE_TYPES = ("cuda", "meta")
# 8-bit activations are the W4A8 types: their output is f16, and a build has them only with
# MACHETE_W4A8=1 (docs/W4A8.md)
_W4A8_A = ("s8", "e4m3")
_W4A8_HINT = " (8-bit activations are the W4A8 types: build with MACHETE_W4A8=1, docs/W4A8.md)"


def _w4a8_hint(a_short: Optional[str]) -> str:
    """The build switch, for an 8-bit activation type this build lacks; else nothing."""
    return _W4A8_HINT if a_short in _W4A8_A and a_short not in _model.index().a_types else ""


# ---- the extension ------------------------------------------------------------------------------

_C_MODULE = None


def _load_C():
    global _C_MODULE
    if _C_MODULE is not None:
        return _C_MODULE
    try:
        _C_MODULE = importlib.import_module("machete._C")
        return _C_MODULE
    except ImportError as e:
        raise RuntimeError(
            "machete: the CUDA extension was not built (import of machete._C failed: "
            f"{e}); build it on a machine with CUDA and CUTLASS, e.g. `pip install -e .`"
        ) from e


# ---- helpers -------------------------------------------------------------------------------------

def _dtype_name(dt) -> str:
    return str(dt).replace("torch.", "")


def _short(t, arg: str) -> str:
    try:
        return _model.short_name(t)
    except TypeError as e:
        raise TypeError(f"{arg}: {e}") from None


def _check_tensor(x, arg: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{arg} must be a torch.Tensor, got {type(x).__name__}")


def _check_device(x: torch.Tensor, arg: str, device: torch.device) -> None:
    if x.device != device:
        raise ValueError(f"{arg} must be on the same device as a ({device}), got {x.device}")


def _aligned(n_elems, elem_size: int) -> bool:
    return (n_elems * elem_size) % _BYTE_ALIGN == 0


def _pack_factor(b_type: ScalarType) -> int:
    return 32 // b_type.size_bits


def _supported_signatures() -> str:
    return ", ".join(k.signature for k in _model.type_configs())


def _b_types_with_zeros() -> List[str]:
    return sorted(_model.index().zero_b_types)


def _check_b(b, b_type: ScalarType, K: Optional[int], arg: str = "b") -> tuple:
    """int32 [K / (32/bits), N], stride(0) == 1. Returns (K, N)."""
    if b.dtype != torch.int32:
        raise TypeError(f"{arg} must be an int32 tensor of packed {b_type.name} values, got {_dtype_name(b.dtype)}")
    if b.dim() != 2:
        raise ValueError(f"{arg} must be 2-D [K / {_pack_factor(b_type)}, N], got shape {tuple(b.shape)}")
    p = _pack_factor(b_type)
    rows, N = b.shape
    if K is None:
        K = rows * p
    elif rows * p != K:
        raise ValueError(
            f"{arg} must have shape (K / {p}, N) = ({K // p}, N) for K={K} and b_type {b_type.name} "
            f"({p} values per int32), got {tuple(b.shape)}"
        )
    if rows > 1 and b.stride(0) != 1:
        raise ValueError(
            f"{arg} must be column-major (stride(0) == 1, K packed along dim 0), got strides {tuple(b.stride())}"
        )
    return K, N


def _check_K_N(K, N, k_from: str, n_from: str) -> None:
    """K and N (k_from / n_from: where each was read, for the message) fit the kernels' tiles."""
    if K % _K_ALIGN != 0:
        raise ValueError(f"K={K} ({k_from}) must be a multiple of {_K_ALIGN}")
    if N % _N_ALIGN != 0:
        raise ValueError(f"N={N} ({n_from}) must be a multiple of {_N_ALIGN}")


def _check_b_type(b_type: ScalarType, arg: str = "b_type") -> None:
    known = _model.index().b_types
    if not b_type.is_integer or b_type.short_name not in known:
        names = ", ".join(sorted(known))
        raise ValueError(f"{arg}: {b_type.name} is not supported (supported b types: {names})")


def _resolve_group_size(group_size, K) -> int:
    if group_size is None or group_size == -1:
        return K
    if isinstance(group_size, bool) or not isinstance(group_size, int):
        # SymInt under torch.compile is fine; only reject non-integers.
        if not isinstance(group_size, torch.SymInt):
            raise TypeError(f"group_size must be an int, -1 or None, got {type(group_size).__name__}")
    if group_size <= 0 or group_size % _K_ALIGN != 0 or K % group_size != 0:
        raise ValueError(
            f"group_size={group_size} must be -1/None (= K) or a multiple of {_K_ALIGN} that divides K={K}"
        )
    return group_size


def _check_group_tensor(x, arg, a, allowed: Sequence[str], G, N) -> None:
    """A [G, N] row-major group scale / zero tensor of one of the ``allowed`` dtypes (short names)."""
    if _model._DTYPE_SHORT.get(x.dtype) not in allowed:
        if list(allowed) == [_model._DTYPE_SHORT.get(a.dtype)]:
            raise TypeError(f"{arg} dtype must equal a's dtype ({_dtype_name(a.dtype)}), got {_dtype_name(x.dtype)}")
        names = ", ".join(sorted(_dtype_name(_model.torch_dtype(s)) for s in allowed)) or "none"
        raise TypeError(f"{arg} dtype must be {names} for a {_dtype_name(a.dtype)}, got {_dtype_name(x.dtype)}")
    if tuple(x.shape) != (G, N):
        raise ValueError(f"{arg} must have shape (ceil(K / group_size), N) = ({G}, {N}), got {tuple(x.shape)}")
    if N > 1 and x.stride(1) != 1:
        raise ValueError(f"{arg} must be row-major (stride(1) == 1), got strides {tuple(x.stride())}")
    es = x.element_size()
    if G > 1 and (x.stride(0) < N or not _aligned(x.stride(0), es)):
        raise ValueError(
            f"{arg} row stride must be >= N and a multiple of {_BYTE_ALIGN} bytes, got {x.stride(0)} elements"
        )
    if not _aligned(x.storage_offset(), es):
        raise ValueError(f"{arg} must start at a {_BYTE_ALIGN}-byte aligned address")


class MMArgs(NamedTuple):
    b_type: ScalarType
    type_config: _model.TypeKey
    M: int
    N: int
    K: int
    out_dtype: torch.dtype
    group_size: int
    schedule: Optional[str]


# ---- validate_mm_args, one function per check -----------------------------------------------------

def _check_a(a) -> str:
    """a: a 2-D tensor of a built activation dtype on a CUDA (or meta) device; its short name."""
    _check_tensor(a, "a")
    idx = _model.index()
    a_short = _model._DTYPE_SHORT.get(a.dtype)
    if a_short not in idx.a_types:
        allowed = ", ".join(sorted(_dtype_name(_model.torch_dtype(s)) for s in idx.a_types))
        raise TypeError(f"a dtype must be one of {allowed}, got {_dtype_name(a.dtype)}{_w4a8_hint(a_short)}")
    if a.dim() != 2:
        raise ValueError(f"a must be 2-D [M, K], got shape {tuple(a.shape)}")
    if a.device.type not in _DEVICE_TYPES:
        raise ValueError(f"a must be on a CUDA device, got {a.device}")
    return a_short


def _check_operands_on(device: torch.device, **tensors) -> None:
    """Every other tensor argument: a tensor (b is required) on a's device."""
    for name, x in tensors.items():
        if x is None and name == "b":
            raise TypeError("b must be a torch.Tensor, got NoneType")
        if x is not None:
            _check_tensor(x, name)
            _check_device(x, name, device)


def _check_a_layout(a: torch.Tensor) -> None:
    """Unit column stride, 16-byte aligned row stride and start."""
    M, K = a.shape
    es = a.element_size()
    if K > 1 and a.stride(1) != 1:
        raise ValueError(f"a must be row-major with unit column stride (stride(1) == 1), got strides {tuple(a.stride())}")
    if M > 1 and (a.stride(0) < K or not _aligned(a.stride(0), es)):
        raise ValueError(
            f"a row stride must be >= K and a multiple of {_BYTE_ALIGN} bytes, got {a.stride(0)} elements "
            f"of {es} bytes (call .contiguous())"
        )
    if not _aligned(a.storage_offset(), es):
        raise ValueError(f"a must start at a {_BYTE_ALIGN}-byte aligned address (storage offset {a.storage_offset()})")


def _default_out(a_short: str, **fields: str) -> str:
    """The output type (short name) when out_type is None: a's own (W4A16), else the one output
    type the build has for a and these fields (W4A8: f16)."""
    outs = {k.out for k in _model.configs_matching(a=a_short, **fields)}
    if not outs and a_short in _W4A8_A:
        return "f16"  # what the W4A8 types write, also where this build has none of them
    return a_short if a_short in outs or len(outs) != 1 else next(iter(outs))


def _resolve_out_dtype(out_type, a_short: str, b_type: ScalarType) -> torch.dtype:
    """out_type, or the default output dtype for (a, b_type) (_default_out)."""
    if out_type is not None:
        if not isinstance(out_type, torch.dtype):
            raise TypeError(f"out_type must be a torch.dtype or None, got {type(out_type).__name__}")
        return out_type
    return _model.torch_dtype(_default_out(a_short, b=b_type.short_name))


def _check_groups(a: torch.Tensor, a_short: str, b_type: ScalarType, group_scales, group_zeros, group_size,
                  K: int, N: int) -> int:
    """Group size, group scales and group zeros against the built types for (a, b_type); the
    resolved group size."""
    idx = _model.index()
    candidates = _model.configs_matching(a=a_short, b=b_type.short_name)
    # no built type for (a, b_type): the dtype checks defer to _find_type's message
    scale_types = sorted({k.b_group_scale for k in candidates} - {_model.VOID}) if candidates else [a_short]
    g = _resolve_group_size(group_size, K)
    G = -(-K // g)
    if group_scales is not None:
        _check_group_tensor(group_scales, "group_scales", a, scale_types, G, N)
    elif group_size not in (None, -1):
        raise ValueError("group_size was given without group_scales")
    if group_zeros is not None:
        if b_type.short_name not in idx.zero_b_types:
            zero_types = _b_types_with_zeros()
            raise ValueError(
                f"group_zeros is not supported for b_type {b_type.name} (its zero is part of the type); "
                f"only for b types {', '.join(zero_types)}"
            )
        if group_scales is None:
            raise ValueError("group_zeros requires group_scales")
        _check_group_tensor(group_zeros, "group_zeros", a, [_model._DTYPE_SHORT.get(group_scales.dtype)], G, N)
        if group_zeros.stride() != group_scales.stride():
            raise ValueError(
                f"group_zeros must have the same layout as group_scales: strides {tuple(group_zeros.stride())} "
                f"!= {tuple(group_scales.stride())}"
            )
    elif b_type.short_name in idx.zero_b_types and group_scales is not None:
        raise ValueError(f"group_zeros is required for b_type {b_type.name} (AWQ types take their zero points as group_zeros)")
    if group_scales is None and not _model.configs_matching(a=a_short, b=b_type.short_name,
                                                            b_group_scale=_model.VOID):
        want = ", ".join(_dtype_name(_model.torch_dtype(s)) for s in scale_types) or _dtype_name(a.dtype)
        raise ValueError(
            f"group_scales is required for a {_dtype_name(a.dtype)} and b_type {b_type.name} "
            f"(shape (ceil(K / group_size), N), dtype {want})"
        )
    return g


def _check_channel_token_scales(a: torch.Tensor, a_short: str, b_type: ScalarType, channel_scales, token_scales,
                                M: int, N: int) -> None:
    """W4A8: channel scales [N] and token scales [M], both required where every built type for
    (a, b_type) has them, and refused where none is built."""
    idx = _model.index()
    candidates = _model.configs_matching(a=a_short, b=b_type.short_name)
    for name, x, length, dim_name, allowed, field in (
        ("channel_scales", channel_scales, N, "N", idx.channel_scale_types, "b_channel_scale"),
        ("token_scales", token_scales, M, "M", idx.token_scale_types, "a_token_scale"),
    ):
        if x is None:
            if candidates and all(getattr(k, field) != _model.VOID for k in candidates):
                dt = ", ".join(sorted({_dtype_name(_model.torch_dtype(getattr(k, field))) for k in candidates}))
                raise ValueError(f"{name} ({dim_name},) of dtype {dt} is required for a {_dtype_name(a.dtype)} "
                                 f"(W4A8: D = token_scales[m] * channel_scales[n] * sum_k a[m, k] * w[k, n])")
            continue
        allowed = sorted(allowed)
        if not allowed:
            raise ValueError(f"{name} are only supported for W4A8 types, which are not built")
        if _model._DTYPE_SHORT.get(x.dtype) not in allowed:
            names = ", ".join(_dtype_name(_model.torch_dtype(s)) for s in allowed)
            raise TypeError(f"{name} dtype must be one of {names}, got {_dtype_name(x.dtype)}")
        if x.dim() != 1 or x.shape[0] != length:
            raise ValueError(f"{name} must have shape ({dim_name},) = ({length},), got {tuple(x.shape)}")
        if length > 1 and x.stride(0) != 1:
            raise ValueError(f"{name} must be contiguous")


def _find_type(a: torch.Tensor, a_short: str, b_type: ScalarType, out_type, out_dtype: torch.dtype,
               **optional) -> _model.TypeKey:
    """The built type configuration of these dtypes, or a one-line error listing the supported ones."""
    shorts = {n: _short(None if x is None else x.dtype, n) for n, x in optional.items()}
    key = _model.find_type_config(a_short, b_type.short_name, shorts["group_scales"], shorts["group_zeros"],
                                  shorts["channel_scales"], shorts["token_scales"], _short(out_dtype, "out_type"))
    if key is not None:
        return key
    outs = {k.out for k in _model.configs_matching(a=a_short, b=b_type.short_name)}
    if out_type is not None and outs and _model.short_name(out_dtype) not in outs:
        if a_short in outs:
            raise ValueError(f"out_type must equal a's dtype ({_dtype_name(a.dtype)}), got {_dtype_name(out_dtype)}")
        names = ", ".join(sorted(_dtype_name(_model.torch_dtype(o)) for o in outs))
        raise ValueError(f"out_type must be {names} for a {_dtype_name(a.dtype)}, got {_dtype_name(out_dtype)}")
    got = "".join((a_short, b_type.short_name, *shorts.values(), _short(out_dtype, "out_type")))
    raise ValueError(
        f"unsupported type combination {got} (a, b, group_scales, group_zeros, channel_scales, "
        f"token_scales, out); supported: {_supported_signatures()}"
    )


def _check_schedule(schedule, key: _model.TypeKey) -> Optional[str]:
    if schedule is None:
        return None
    if not isinstance(schedule, str):
        raise TypeError(f"schedule must be a str or None, got {type(schedule).__name__}")
    schedule = _model.normalize_schedule_name(schedule)
    valid = _model.schedules_for(key)
    if schedule not in valid:
        raise ValueError(f"unknown schedule {schedule!r} for {key.signature}; valid: {', '.join(valid)}")
    return schedule


# ---- validate_mm_args's fast path -----------------------------------------------------------------
# What validate_mm_args decides from dtypes alone -- which arguments are given and their dtypes, the
# b type, out_type, the schedule name -- is remembered per such key once a full validation passed
# (a _TypePlan). A later call with the same key runs only the checks on shapes, strides, devices and
# alignment (_fast_mm_args); if any of them fails, the full validation runs again and raises its
# usual one-line error, so both paths accept and reject exactly the same calls. An eager call of
# mm spent ~15 us of Python here (on the dev machine's CPU) before; ~2 us on the fast path.

class _TypePlan(NamedTuple):
    b_type: ScalarType
    type_config: _model.TypeKey
    out_dtype: torch.dtype
    pack: int
    schedule: Optional[str]


_PLANS: dict = {}
_PLANS_MAX = 1024


def _dtype_or_none(x):
    return None if x is None else x.dtype


def _plan_key(a, b, b_type, out_type, group_scales, group_zeros, group_size, channel_scales, token_scales,
              schedule):
    """The dtype-level key of a call, or None where only the full validation may judge it (tensor
    subclasses, non-tensor arguments, a schedule that is not a str)."""
    for x in (a, b):
        if type(x) is not torch.Tensor:
            return None
    for x in (group_scales, group_zeros, channel_scales, token_scales):
        if x is not None and type(x) is not torch.Tensor:
            return None
    if schedule is not None and type(schedule) is not str:
        return None
    return (a.dtype, b.dtype, type(b_type), b_type, out_type, _dtype_or_none(group_scales),
            _dtype_or_none(group_zeros), _dtype_or_none(channel_scales), _dtype_or_none(token_scales),
            group_size is None or group_size == -1, schedule)


def _aligned_offset(x: torch.Tensor) -> bool:
    return _aligned(x.storage_offset(), x.element_size())


def _row_major_16b(x: torch.Tensor, rows: int, cols: int) -> bool:
    """Unit column stride, a row stride >= cols and of 16-byte multiples, a 16-byte aligned start
    (what _check_a_layout / _check_group_tensor require of a and the group tensors)."""
    s0, s1 = x.stride()
    return ((cols <= 1 or s1 == 1) and (rows <= 1 or (s0 >= cols and _aligned(s0, x.element_size())))
            and _aligned_offset(x))


def _fast_mm_args(plan: _TypePlan, a, b, group_scales, group_zeros, group_size, channel_scales,
                  token_scales) -> Optional[MMArgs]:
    """validate_mm_args's shape / stride / device / alignment checks for a call whose dtype-level
    key passed before; None where any fails (the caller then runs the full validation)."""
    sa, sb = a.shape, b.shape
    if len(sa) != 2 or len(sb) != 2:
        return None
    dev = a.device
    if not (a.is_cuda or a.is_meta) or b.device != dev:
        return None
    M, K = sa
    rows, N = sb
    if rows * plan.pack != K or K % _K_ALIGN or N % _N_ALIGN or (rows > 1 and b.stride(0) != 1):
        return None
    if not _row_major_16b(a, M, K):
        return None
    g = K
    gs = group_scales
    if gs is not None:
        if group_size is not None and group_size != -1:
            if type(group_size) is not int or group_size <= 0 or group_size % _K_ALIGN or K % group_size:
                return None
            g = group_size
        G = -(-K // g)
        if gs.device != dev or gs.shape != (G, N):
            return None
        if not _row_major_16b(gs, G, N):
            return None
        gz = group_zeros
        if gz is not None and (gz.device != dev or gz.shape != gs.shape or gz.stride() != gs.stride()
                               or not _aligned_offset(gz)):
            return None
    for x, length in ((channel_scales, N), (token_scales, M)):
        if x is not None and (x.device != dev or x.shape != (length,) or (length > 1 and x.stride(0) != 1)):
            return None
    return MMArgs(plan.b_type, plan.type_config, M, N, K, plan.out_dtype, g, plan.schedule)


def _planned_mm_args(a, b, b_type, out_type, group_scales, group_zeros, group_size, channel_scales, token_scales,
                     schedule):
    """(the call's plan key, its MMArgs from the fast path or None): None args where the key has no
    plan yet or a per-call check failed (then only the full validation may judge the call)."""
    key = _plan_key(a, b, b_type, out_type, group_scales, group_zeros, group_size, channel_scales, token_scales,
                    schedule)
    plan = _PLANS.get(key) if key is not None else None
    if plan is None:
        return key, None
    return key, _fast_mm_args(plan, a, b, group_scales, group_zeros, group_size, channel_scales, token_scales)


def validate_mm_args(
    a,
    b,
    b_type: ScalarTypeLike,
    out_type: Optional[torch.dtype] = None,
    group_scales=None,
    group_zeros=None,
    group_size: Optional[int] = None,
    channel_scales=None,
    token_scales=None,
    schedule: Optional[str] = None,
) -> MMArgs:
    """Check every argument of ``mm``; raise a one-line TypeError/ValueError naming the culprit."""
    key, args = _planned_mm_args(a, b, b_type, out_type, group_scales, group_zeros, group_size, channel_scales,
                                 token_scales, schedule)
    if args is not None:
        return args
    args = _validate_mm_args_full(a, b, b_type, out_type, group_scales, group_zeros, group_size, channel_scales,
                                  token_scales, schedule)
    if key is not None and key not in _PLANS:
        if len(_PLANS) >= _PLANS_MAX:
            _PLANS.clear()
        _PLANS[key] = _TypePlan(args.b_type, args.type_config, args.out_dtype, _pack_factor(args.b_type),
                                args.schedule)
    return args


def _validate_mm_args_full(a, b, b_type, out_type, group_scales, group_zeros, group_size, channel_scales,
                           token_scales, schedule) -> MMArgs:
    """validate_mm_args without the fast path: every check, in order."""
    a_short = _check_a(a)
    M, K = a.shape
    b_type = as_scalar_type(b_type, "b_type")
    _check_operands_on(a.device, b=b, group_scales=group_scales, group_zeros=group_zeros,
                       channel_scales=channel_scales, token_scales=token_scales)
    _check_a_layout(a)
    _check_b_type(b_type)
    _, N = _check_b(b, b_type, K)
    _check_K_N(K, N, "a.shape[1]", "b.shape[1]")
    out_dtype = _resolve_out_dtype(out_type, a_short, b_type)
    g = _check_groups(a, a_short, b_type, group_scales, group_zeros, group_size, K, N)
    _check_channel_token_scales(a, a_short, b_type, channel_scales, token_scales, M, N)
    key = _find_type(a, a_short, b_type, out_type, out_dtype, group_scales=group_scales, group_zeros=group_zeros,
                     channel_scales=channel_scales, token_scales=token_scales)
    return MMArgs(b_type, key, M, N, K, out_dtype, g, _check_schedule(schedule, key))


class PrepackArgs(NamedTuple):
    a_type: torch.dtype
    b_type: ScalarType
    convert_type: torch.dtype
    K: int
    N: int


def validate_prepack_args(b, a_type, b_type: ScalarTypeLike, group_scales_type=None) -> PrepackArgs:
    _check_tensor(b, "b")
    if b.device.type not in _DEVICE_TYPES:
        raise ValueError(f"b must be on a CUDA device, got {b.device}")
    if not isinstance(a_type, torch.dtype):
        raise TypeError(f"a_type must be a torch.dtype, got {type(a_type).__name__}")
    a_types = _model.index().a_types
    a_short = _model._DTYPE_SHORT.get(a_type)
    if a_short not in a_types:
        allowed = ", ".join(sorted(_dtype_name(_model.torch_dtype(s)) for s in a_types))
        raise TypeError(f"a_type must be one of {allowed}, got {_dtype_name(a_type)}")
    b_type = as_scalar_type(b_type, "b_type")
    _check_b_type(b_type)
    if group_scales_type is not None and not isinstance(group_scales_type, torch.dtype):
        raise TypeError(f"group_scales_type must be a torch.dtype or None, got {type(group_scales_type).__name__}")
    candidates = _model.configs_matching(a=a_short, b=b_type.short_name)
    if group_scales_type is not None:
        gs_short = _model._DTYPE_SHORT.get(group_scales_type)
        ok = [k for k in candidates if k.b_group_scale == gs_short]
        if not ok:
            allowed = sorted({k.b_group_scale for k in candidates} - {_model.VOID})
            raise TypeError(
                f"group_scales_type must be one of {', '.join(allowed) or 'None'} for a_type "
                f"{_dtype_name(a_type)} and b_type {b_type.name}, got {_dtype_name(group_scales_type)}"
            )
    elif not candidates:
        raise ValueError(
            f"unsupported type combination a_type={_dtype_name(a_type)}, b_type={b_type.name}; "
            f"supported: {_supported_signatures()}"
        )
    K, N = _check_b(b, b_type, None)
    _check_K_N(K, N, f"b.shape[0] * {_pack_factor(b_type)}", "b.shape[1]")
    return PrepackArgs(a_type, b_type, group_scales_type or a_type, K, N)


# ---- custom ops -----------------------------------------------------------------------------------

_MM_SCHEMA = (
    "(Tensor a, Tensor b, int b_type, ScalarType? out_type=None, Tensor? group_scales=None, "
    "Tensor? group_zeros=None, int? group_size=None, Tensor? channel_scales=None, "
    "Tensor? token_scales=None, str? schedule=None) -> Tensor"
)
_PREPACK_SCHEMA = "(Tensor b, ScalarType a_type, int b_type, ScalarType? group_scales_type=None) -> Tensor"


# Registered for CPU too, only so that CPU tensors get the clean device error from validation
# instead of the dispatcher's "no kernel" message.
def _mm_impl(a, b, b_type, out_type=None, group_scales=None, group_zeros=None, group_size=None,
             channel_scales=None, token_scales=None, schedule=None):
    """Validate, then run the kernel: the body of the op, and the eager fast path of ``mm``."""
    args = validate_mm_args(a, b, b_type, out_type, group_scales, group_zeros, group_size,
                            channel_scales, token_scales, schedule)
    return _run_mm(a, b, args, group_scales, group_zeros, channel_scales, token_scales)


def _run_mm(a, b, args: MMArgs, group_scales, group_zeros, channel_scales, token_scales):
    """The kernel call for validated arguments."""
    if args.M == 0:
        return a.new_empty((0, args.N), dtype=args.out_dtype)
    if a.data_ptr() % _BYTE_ALIGN:
        raise ValueError(f"a must start at a {_BYTE_ALIGN}-byte aligned address")
    if args.M == 1 and a.stride(0) != args.K:
        # The row stride of a single row is meaningless; give the kernel a well-formed one.
        a = a.as_strided((1, args.K), (args.K, 1))
    C = _load_C()
    return C.mm(a, b, args.b_type.id, args.out_dtype, group_scales, group_zeros, args.group_size,
                channel_scales, token_scales, args.schedule)


_mm_op = torch.library.custom_op("machete::mm", mutates_args=(), device_types=("cuda", "cpu"),
                                 schema=_MM_SCHEMA)(_mm_impl)


@_mm_op.register_fake
def _mm_fake(a, b, b_type, out_type=None, group_scales=None, group_zeros=None, group_size=None,
             channel_scales=None, token_scales=None, schedule=None):
    args = validate_mm_args(a, b, b_type, out_type, group_scales, group_zeros, group_size,
                            channel_scales, token_scales, schedule)
    return a.new_empty((args.M, args.N), dtype=args.out_dtype)


@torch.library.custom_op("machete::prepack_B", mutates_args=(), device_types=("cuda", "cpu"),
                         schema=_PREPACK_SCHEMA)
def _prepack_op(b, a_type, b_type, group_scales_type=None):
    args = validate_prepack_args(b, a_type, b_type, group_scales_type)
    C = _load_C()
    return C.prepack_B(b, args.a_type, args.b_type.id, group_scales_type)


@_prepack_op.register_fake
def _prepack_fake(b, a_type, b_type, group_scales_type=None):
    validate_prepack_args(b, a_type, b_type, group_scales_type)
    return torch.empty_like(b)


# ---- the public API ------------------------------------------------------------------------------

def mm(
    a: torch.Tensor,
    b_prepacked: torch.Tensor,
    b_type: ScalarTypeLike,
    *,
    out_type: Optional[torch.dtype] = None,
    group_scales: Optional[torch.Tensor] = None,
    group_zeros: Optional[torch.Tensor] = None,
    group_size: Optional[int] = None,
    channel_scales: Optional[torch.Tensor] = None,
    token_scales: Optional[torch.Tensor] = None,
    schedule: Optional[str] = None,
) -> torch.Tensor:
    """``D[M, N] = a[M, K] @ dequant(B)[K, N]`` with ``dequant(w) = q * s + z``.

    ``b_prepacked`` is the output of :func:`prepack_B`; ``b_type`` a
    :class:`~machete.scalar_types.ScalarType` or its id; ``group_zeros`` (AWQ types only) are
    *added after scaling* (pass ``-zp * s``); ``schedule`` one of :func:`supported_schedules`
    (None: the heuristic picks).
    """
    # Hot path: a plain eager CUDA call whose dtype-level validation plan is cached (see
    # validate_mm_args): only the per-call shape / stride / device checks, then the kernel.
    _, args = _planned_mm_args(a, b_prepacked, b_type, out_type, group_scales, group_zeros, group_size,
                               channel_scales, token_scales, schedule)
    if args is not None and a.is_cuda:
        return _run_mm(a, b_prepacked, args, group_scales, group_zeros, channel_scales, token_scales)
    b_type_id = as_scalar_type(b_type, "b_type").id
    _check_python_types(a=a, b_prepacked=b_prepacked, group_scales=group_scales, group_zeros=group_zeros,
                        channel_scales=channel_scales, token_scales=token_scales)
    _check_optional(out_type, torch.dtype, "out_type", "a torch.dtype")
    _check_optional(group_size, int, "group_size", "an int")
    _check_optional(schedule, str, "schedule", "a str")
    if isinstance(schedule, str):
        schedule = _model.normalize_schedule_name(schedule)
    if _eager_fast_path(a, b_prepacked):
        # Plain eager call: skip the custom-op dispatch (~40 us of Python per call, measured on
        # the H100 with scripts/host_overhead.py); same validation, same kernel.
        return _mm_impl(a, b_prepacked, b_type_id, out_type, group_scales, group_zeros, group_size,
                        channel_scales, token_scales, schedule)
    return torch.ops.machete.mm(a, b_prepacked, b_type_id, out_type, group_scales, group_zeros,
                                group_size, channel_scales, token_scales, schedule)


def _eager_fast_path(*tensors: torch.Tensor) -> bool:
    """True outside torch.compile / tracing, for plain (not fake / functional) CUDA tensors."""
    return (not torch.compiler.is_compiling()
            and all(type(t) is torch.Tensor and t.is_cuda for t in tensors))


def _check_python_types(**tensors) -> None:
    """What the op schema cannot hold gets a clean error here, before the dispatcher sees it."""
    for name, x in tensors.items():
        if x is None and name not in ("a", "b_prepacked", "b_q"):
            continue
        _check_tensor(x, name)


def _check_optional(value, typ, arg: str, what: str) -> None:
    if value is not None and (not isinstance(value, typ) or isinstance(value, bool)):
        raise TypeError(f"{arg} must be {what} or None, got {type(value).__name__}")


def prepack_B(
    b_q: torch.Tensor,
    a_type: torch.dtype,
    b_type: ScalarTypeLike,
    group_scales_type: Optional[torch.dtype] = None,
) -> torch.Tensor:
    """Reorder packed weights (int32 [K / (32/bits), N], column-major) into the layout ``mm``
    consumes. Same shape and dtype as ``b_q``."""
    b_type_id = as_scalar_type(b_type, "b_type").id
    _check_python_types(b_q=b_q)
    if not isinstance(a_type, torch.dtype):
        raise TypeError(f"a_type must be a torch.dtype, got {type(a_type).__name__}")
    _check_optional(group_scales_type, torch.dtype, "group_scales_type", "a torch.dtype")
    return torch.ops.machete.prepack_B(b_q, a_type, b_type_id, group_scales_type)


def _type_key(a_type, b_type, group_scales_type, group_zeros_type, channel_scales_type,
              token_scales_type, out_type) -> tuple[Optional[_model.TypeKey], str]:
    """(the built type configuration of these dtypes or None, the requested combination as a
    signature: short names, or the dtype's own name where no type configuration uses it)."""
    if not isinstance(a_type, torch.dtype):
        raise TypeError(f"a_type must be a torch.dtype, got {type(a_type).__name__}")
    b = as_scalar_type(b_type, "b_type")
    for arg, t in (("group_scales_type", group_scales_type), ("group_zeros_type", group_zeros_type),
                   ("channel_scales_type", channel_scales_type), ("token_scales_type", token_scales_type),
                   ("out_type", out_type)):
        if t is not None and not isinstance(t, torch.dtype):
            raise TypeError(f"{arg} must be a torch.dtype or None, got {type(t).__name__}")
    short = _model._DTYPE_SHORT.get
    fields = [short(a_type), b.short_name] + [
        _model.VOID if t is None else short(t)
        for t in (group_scales_type, group_zeros_type, channel_scales_type, token_scales_type)
    ]
    dtypes = (a_type, None, group_scales_type, group_zeros_type, channel_scales_type, token_scales_type)
    got = "".join(f if f is not None else _dtype_name(t) for f, t in zip(fields, dtypes))
    if not b.is_integer or None in fields or (out_type is not None and short(out_type) is None):
        # a b type or a dtype no type configuration uses
        return None, got + ("" if out_type is None else short(out_type) or _dtype_name(out_type))
    out = short(out_type) if out_type is not None else _default_out(
        fields[0], **dict(zip(_model.TypeKey._fields[1:6], fields[1:])))
    return _model.find_type_config(*fields, out), got + out


def _check_dims(**dims) -> None:
    """M, N, K of heuristic_schedule: Python ints (or anything with __index__, not bool), >= 1."""
    for name, v in dims.items():
        n = as_int(v, name)
        if n < 1:
            raise ValueError(f"{name} must be >= 1, got {n}")


def supported_schedules(
    a_type: torch.dtype,
    b_type: ScalarTypeLike,
    group_scales_type: Optional[torch.dtype] = None,
    group_zeros_type: Optional[torch.dtype] = None,
    channel_scales_type: Optional[torch.dtype] = None,
    token_scales_type: Optional[torch.dtype] = None,
    out_type: Optional[torch.dtype] = None,
) -> List[str]:
    """Canonical schedule names built for this type combination (empty list if none).

    Answered from the build manifest (what this package was built with), so it works without a
    GPU, the extension or the generator.
    ``out_type`` None means a's dtype (W4A16) or f16 (W4A8, 8-bit ``a_type``).
    """
    key, _ = _type_key(a_type, b_type, group_scales_type, group_zeros_type, channel_scales_type,
                       token_scales_type, out_type)
    return [] if key is None else list(_model.schedules_for(key))


def heuristic_schedule(
    M: int,
    N: int,
    K: int,
    a_type: torch.dtype,
    b_type: ScalarTypeLike,
    group_scales_type: Optional[torch.dtype] = None,
    group_zeros_type: Optional[torch.dtype] = None,
    channel_scales_type: Optional[torch.dtype] = None,
    token_scales_type: Optional[torch.dtype] = None,
    out_type: Optional[torch.dtype] = None,
    device_name: Optional[str] = None,
) -> str:
    """The schedule ``mm`` picks when none is named (the build manifest's heuristic rules).

    The dispatch has per-GPU tables chosen by the device name (e.g. one for "H200"):
    ``device_name`` None means the one ``mm`` would see -- ``$MACHETE_DEVICE_NAME`` if set, else the
    current CUDA device's name, else (no GPU) the default table.
    """
    _check_dims(M=M, N=N, K=K)
    key, got = _type_key(a_type, b_type, group_scales_type, group_zeros_type, channel_scales_type,
                         token_scales_type, out_type)
    if key is None:
        raise ValueError(f"unsupported type combination {got} (a, b, group_scales, group_zeros, channel_scales, "
                         f"token_scales, out); supported: {_supported_signatures()}"
                         f"{_w4a8_hint(_model._DTYPE_SHORT.get(a_type))}")
    if device_name is not None and not isinstance(device_name, str):
        raise TypeError(f"device_name must be a str or None, got {type(device_name).__name__}")
    return _model.select_schedule(key, int(M), int(N), int(K),
                                  current_device_name() if device_name is None else device_name)


def current_device_name() -> Optional[str]:
    """The name ``mm`` matches its per-GPU heuristic tables against: ``$MACHETE_DEVICE_NAME`` if
    set, else the current CUDA device's name, else None (the default table)."""
    env = os.environ.get("MACHETE_DEVICE_NAME")
    if env:
        return env
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return None
