"""Pure-torch reference: quantize / pack / unpack / dequantize weights and a reference GEMM.

Conventions (SPEC sections 1, 5, 6):

* ``w_q`` holds the *stored bit pattern* of every element as a non-negative integer
  (``uint4b8`` stores ``x + 8``, ``int4`` stores the 4-bit two's complement of ``x``), shape [K, N].
* Dequantisation is ``w = v * s + z`` where ``v`` is the represented value of the stored
  element, ``s`` the group scale and ``z`` the group zero, which is added *after* scaling.
  For the usual ``(q - zp) * s`` form, ``z = -zp * s`` (see :func:`zero_points_to_zeros`).
* Group ``g`` covers rows ``k`` with ``k // group_size == g``; scales are [ceil(K/g), N].
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from . import _scalar_table, scalar_types
from ._checks import as_int
from .scalar_types import ScalarType, ScalarTypeLike, as_scalar_type

__all__ = [
    "QuantizedWeights",
    "resolve_group_size",
    "quantize",
    "pack",
    "unpack",
    "storage_to_value",
    "dequantize",
    "zero_points_to_zeros",
    "reference_mm",
    "W4A8Weights",
    "quantize_activations",
    "quantize_w4a8",
    "reference_w4a8_mm",
]

# Types quantized with integer zero points (AWQ: uint4, uint8; the table's zero_points rows);
# all others are symmetric.
_ZERO_POINT_TYPES = tuple(t for t in scalar_types.ALL if _scalar_table.BY_SHORT[t.short_name].zero_points)


class QuantizedWeights(NamedTuple):
    w_q: torch.Tensor  # int32 [K, N], stored bit patterns
    scales: torch.Tensor  # [ceil(K/g), N], scale dtype
    zeros: Optional[torch.Tensor]  # same shape/dtype as scales (z = -zp * s), or None
    w_ref: torch.Tensor  # dequantized weights [K, N] in scale dtype
    group_size: int  # resolved group size
    zero_points: Optional[torch.Tensor] = None  # int32 [ceil(K/g), N] integer zero points (AWQ)


def resolve_group_size(group_size: Optional[int], K: int) -> int:
    """None or -1: one group over the whole K; else a positive int (numpy / torch integer scalars
    count, bool and float do not)."""
    if group_size is None:
        return K
    g = as_int(group_size, "group_size", "an int, -1 or None")
    if g == -1:
        return K
    if g <= 0:
        raise ValueError(f"group_size must be positive, -1 or None, got {g}")
    return g


def _tensor(x, where: str, arg: str, dims: Optional[int] = None) -> torch.Tensor:
    """x itself, or a one-line TypeError / ValueError naming the function and the argument."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{where}: {arg} must be a torch.Tensor, got {type(x).__name__}")
    if dims is not None and x.dim() != dims:
        raise ValueError(f"{where}: {arg} must be {dims}-D, got shape {tuple(x.shape)}")
    return x


def _vector(x, where: str, arg: str, n: int, what: str) -> None:
    """An optional scale vector of n elements ([n])."""
    if x is not None and tuple(_tensor(x, where, arg).shape) != (n,):
        raise ValueError(f"{where}: {arg} must have shape ({n},) ({what}), got {tuple(x.shape)}")


def has_zero_points(b_type: ScalarTypeLike) -> bool:
    return as_scalar_type(b_type) in _ZERO_POINT_TYPES


def _group_reduce(w: torch.Tensor, g: int, op: str) -> torch.Tensor:
    """amax / amin of w [K, N] over each group of g rows -> [ceil(K/g), N]."""
    K, N = w.shape
    G = -(-K // g)
    pad = G * g - K
    if pad:
        fill = float("-inf") if op == "amax" else float("inf")
        w = torch.cat([w, w.new_full((pad, N), fill)], dim=0)
    w = w.reshape(G, g, N)
    return w.amax(dim=1) if op == "amax" else w.amin(dim=1)


def _expand_groups(t: torch.Tensor, g: int, K: int) -> torch.Tensor:
    """[ceil(K/g), N] -> [K, N] by repeating each group row g times."""
    return t.repeat_interleave(g, dim=0)[:K]


def quantize(
    w: torch.Tensor,
    b_type: ScalarTypeLike,
    group_size: Optional[int] = None,
    *,
    scale_dtype: Optional[torch.dtype] = None,
    zero_points: Optional[bool] = None,
) -> QuantizedWeights:
    """Quantize float weights ``w`` [K, N] per group along K.

    * GPTQ / signed types (no zero points): symmetric, ``s = max|w| / (2^(bits-1) - 1)``,
      ``v = clamp(round(w / s), min_value, max_value)``.
    * AWQ types (``uint4``, ``uint8``): asymmetric, ``s = (max - min) / (2^bits - 1)``,
      ``zp = clamp(round(-min / s))``, ``q = clamp(round(w / s) + zp)``, and
      ``zeros = -zp * s`` so that ``w ~= q * s + zeros``.

    ``scale_dtype`` defaults to ``w.dtype`` (pass a's dtype). Quantization uses the scales
    after rounding to ``scale_dtype``, so ``w_ref`` is exactly what the kernel reconstructs.
    """
    b_type = as_scalar_type(b_type)
    if not b_type.is_integer:
        raise ValueError(f"quantize: only integer b_type is supported, got {b_type.name}")
    if _tensor(w, "quantize", "w").dim() != 2 or not w.is_floating_point():
        raise ValueError(f"quantize: w must be a 2-D float tensor [K, N], got {tuple(w.shape)} {w.dtype}")
    K, N = w.shape
    g = resolve_group_size(group_size, K)
    scale_dtype = scale_dtype or w.dtype
    use_zp = has_zero_points(b_type) if zero_points is None else bool(zero_points)
    if use_zp and b_type.signed:
        raise ValueError(f"quantize: zero points need an unsigned type, got {b_type.name}")

    wf = w.float()
    tiny = torch.finfo(torch.float32).tiny
    if use_zp:
        maxq = b_type.storage_max
        w_max = _group_reduce(wf, g, "amax")
        w_min = _group_reduce(wf, g, "amin")
        s = ((w_max - w_min) / maxq).clamp_min(tiny).to(scale_dtype)
        s32 = s.float()
        zp = torch.round(-w_min / s32).clamp(0, maxq)
        q = torch.round(wf / _expand_groups(s32, g, K)) + _expand_groups(zp, g, K)
        w_q = q.clamp(0, maxq).to(torch.int32)
        zeros = (-zp * s32).to(scale_dtype)
        zp_int = zp.to(torch.int32)
    else:
        qmax = (1 << (b_type.size_bits - 1)) - 1
        absmax = _group_reduce(wf.abs(), g, "amax")
        s = (absmax / qmax).clamp_min(tiny).to(scale_dtype)
        s32 = s.float()
        v = torch.round(wf / _expand_groups(s32, g, K)).clamp(b_type.min_value, b_type.max_value)
        w_q = value_to_storage(v.to(torch.int32), b_type)
        zeros = None
        zp_int = None

    w_ref = dequantize(w_q, b_type, s, zeros, g)
    return QuantizedWeights(w_q, s, zeros, w_ref, g, zp_int)


def zero_points_to_zeros(zero_points: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """Integer zero points ``zp`` (``w = (q - zp) * s``) -> group zeros ``z = -zp * s``."""
    _tensor(zero_points, "zero_points_to_zeros", "zero_points")
    _tensor(scales, "zero_points_to_zeros", "scales")
    if zero_points.shape != scales.shape:
        raise ValueError(f"zero_points shape {tuple(zero_points.shape)} != scales shape {tuple(scales.shape)}")
    return (-zero_points.float() * scales.float()).to(scales.dtype)


def value_to_storage(v: torch.Tensor, b_type: ScalarTypeLike) -> torch.Tensor:
    """Represented integer values -> stored bit patterns (int32, non-negative)."""
    b_type = as_scalar_type(b_type)
    v = v.to(torch.int64) + b_type.bias
    return (v & b_type.storage_max).to(torch.int32)


def storage_to_value(w_q: torch.Tensor, b_type: ScalarTypeLike) -> torch.Tensor:
    """Stored bit patterns -> represented integer values (int32)."""
    b_type = as_scalar_type(b_type)
    q = w_q.to(torch.int64) & b_type.storage_max
    if b_type.signed:
        half = 1 << (b_type.size_bits - 1)
        q = torch.where(q >= half, q - (1 << b_type.size_bits), q)
    return (q - b_type.bias).to(torch.int32)


def _pack_factor(b_type: ScalarType) -> int:
    bits = b_type.size_bits
    if 32 % bits:
        raise ValueError(f"cannot pack {b_type.name}: {bits} bits does not divide 32")
    return 32 // bits


def pack(w_q: torch.Tensor, b_type: ScalarTypeLike) -> torch.Tensor:
    """Pack stored values [K, N] into int32 [K / (32/bits), N], column-major (stride(0) == 1).

    Element [i, n] holds k = i*(32/bits) + j in bits [j*bits, (j+1)*bits) (LSB first).
    """
    b_type = as_scalar_type(b_type)
    if _tensor(w_q, "pack", "w_q").dim() != 2:
        raise ValueError(f"pack: w_q must be 2-D [K, N], got shape {tuple(w_q.shape)}")
    if w_q.is_floating_point() or w_q.is_complex():
        raise TypeError(f"pack: w_q must be an integer tensor, got {w_q.dtype}")
    p = _pack_factor(b_type)
    K, N = w_q.shape
    if K % p:
        raise ValueError(f"pack: K={K} must be a multiple of {p} for {b_type.name}")
    q = w_q.to(torch.int64)
    if bool(((q < 0) | (q > b_type.storage_max)).any()):
        raise ValueError(f"pack: w_q values must be stored patterns in [0, {b_type.storage_max}]")
    shifts = (torch.arange(p, device=q.device, dtype=torch.int64) * b_type.size_bits).view(1, p, 1)
    packed = (q.view(K // p, p, N) << shifts).sum(dim=1)  # < 2^32, exact in int64
    packed = torch.where(packed >= (1 << 31), packed - (1 << 32), packed).to(torch.int32)
    return packed.t().contiguous().t()


def unpack(packed: torch.Tensor, b_type: ScalarTypeLike) -> torch.Tensor:
    """Inverse of :func:`pack`: int32 [K / (32/bits), N] -> stored values int32 [K, N]."""
    b_type = as_scalar_type(b_type)
    if _tensor(packed, "unpack", "packed").dim() != 2 or packed.dtype != torch.int32:
        raise ValueError(f"unpack: expected a 2-D int32 tensor, got {tuple(packed.shape)} {packed.dtype}")
    p = _pack_factor(b_type)
    R, N = packed.shape
    x = packed.to(torch.int64) & 0xFFFFFFFF
    shifts = (torch.arange(p, device=x.device, dtype=torch.int64) * b_type.size_bits).view(1, p, 1)
    vals = (x.unsqueeze(1) >> shifts) & b_type.storage_max
    return vals.reshape(R * p, N).to(torch.int32).contiguous()


def dequantize(
    w_q: torch.Tensor,
    b_type: ScalarTypeLike,
    scales: Optional[torch.Tensor] = None,
    zeros: Optional[torch.Tensor] = None,
    group_size: Optional[int] = None,
    *,
    dtype: Optional[torch.dtype] = None,
) -> torch.Tensor:
    """``w = v * s + z`` (zero added after scaling), computed in fp32 and returned in ``dtype``
    (default: the scales' dtype, or fp32 without scales). ``w_q`` holds stored values [K, N]."""
    b_type = as_scalar_type(b_type)
    if _tensor(w_q, "dequantize", "w_q").dim() != 2:
        raise ValueError(f"dequantize: w_q must be 2-D [K, N], got shape {tuple(w_q.shape)}")
    if w_q.is_floating_point() or w_q.is_complex() or w_q.dtype == torch.bool:
        raise TypeError(f"dequantize: w_q must hold stored integer patterns, got {w_q.dtype}")
    K, N = w_q.shape
    w = storage_to_value(w_q, b_type).float()
    if scales is None:
        if zeros is not None:
            raise ValueError("dequantize: zeros without scales")
        return w.to(dtype or torch.float32)
    g = resolve_group_size(group_size, K)
    G = -(-K // g)
    if tuple(_tensor(scales, "dequantize", "scales").shape) != (G, N):
        raise ValueError(f"dequantize: scales shape {tuple(scales.shape)} != ({G}, {N}) for K={K}, group_size={g}")
    w = w * _expand_groups(scales.float(), g, K)
    if zeros is not None:
        if _tensor(zeros, "dequantize", "zeros").shape != scales.shape:
            raise ValueError(f"dequantize: zeros shape {tuple(zeros.shape)} != scales shape {tuple(scales.shape)}")
        w = w + _expand_groups(zeros.float(), g, K)
    return w.to(dtype or scales.dtype)


def reference_mm(
    a: torch.Tensor,
    b: torch.Tensor,
    b_type: Optional[ScalarTypeLike] = None,
    *,
    group_scales: Optional[torch.Tensor] = None,
    group_zeros: Optional[torch.Tensor] = None,
    group_size: Optional[int] = None,
    channel_scales: Optional[torch.Tensor] = None,
    token_scales: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """fp32 reference of ``mm``: ``a.float() @ w`` with ``w`` the dequantized weights.

    ``b`` is either already dequantized float weights [K, N] (``b_type`` None), or the stored
    values [K, N] (``b_type`` given), or their packed int32 form [K / (32/bits), N]. Channel
    scales [N] and token scales [M] (W4A8) multiply the product.
    """
    _tensor(a, "reference_mm", "a", dims=2)
    _tensor(b, "reference_mm", "b", dims=2)
    M, K = a.shape
    if b_type is None:
        if group_scales is not None or group_zeros is not None:
            raise ValueError("reference_mm: group scales/zeros need b_type (b is not quantized)")
        w = b.float()
    else:
        bt = as_scalar_type(b_type)
        if b.dim() == 2 and b.shape[0] != K and b.shape[0] * _pack_factor(bt) == K and b.dtype == torch.int32:
            b = unpack(b, bt)
        w = dequantize(b, bt, group_scales, group_zeros, group_size, dtype=torch.float32)
        if group_scales is not None:
            # Match the kernel: weights are reconstructed in the scale (= a) dtype.
            w = w.to(group_scales.dtype).float()
    if w.shape[0] != K:
        raise ValueError(f"reference_mm: b has {w.shape[0]} rows, a has K={K}")
    _vector(channel_scales, "reference_mm", "channel_scales", w.shape[1], "N")
    _vector(token_scales, "reference_mm", "token_scales", M, "M")
    d = a.float() @ w
    if channel_scales is not None:
        d = d * channel_scales.float().reshape(1, -1)
    if token_scales is not None:
        d = d * token_scales.float().reshape(-1, 1)
    return d


# ---- W4A8: 8-bit activations x u4b8 weights -------------------------------------------------------
#
# Semantics (what the W4A8 kernels compute, exactly):
#
#     D[m, n] = token_scales[m] * channel_scales[n] * sum_k a_q[m, k] * q[k, n] * s[k // g, n]
#
# with a_q the 8-bit activations as given (int8 integers, or float8_e4m3fn values), q in -8..7
# the u4b8 weight values (stored q + 8), s the f16 group scales (1 without group scales),
# token_scales [M] and channel_scales [N] float32, D written as f16. The sum is over exact
# products (q * s is not rounded to 16 bits first, unlike W4A16's dequantized weights): the
# kernels apply s to exact partial sums of one group. The quantizers below produce these operands
# from float tensors: per-token absmax for activations, per-channel absmax (f32) and, with a group
# size, a per-group f16 scale relative to it for weights.

_A8_QMAX = {torch.int8: 127.0, torch.float8_e4m3fn: 448.0}


class W4A8Weights(NamedTuple):
    w_q: torch.Tensor  # int32 [K, N], stored u4b8 patterns (q + 8)
    group_scales: Optional[torch.Tensor]  # f16 [K / g, N], or None (per-channel only)
    channel_scales: torch.Tensor  # f32 [N]
    w_ref: torch.Tensor  # f32 [K, N]: channel_scales * q * group_scales (the represented weights)
    group_size: int  # resolved group size (K without group scales)


def quantize_activations(a: torch.Tensor, dtype: torch.dtype = torch.int8) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token (row) absmax quantization of ``a`` [M, K] to int8 or float8_e4m3fn: returns
    ``(a_q, token_scales)`` with ``token_scales[m] = max_k |a[m, k]| / qmax`` (qmax 127 / 448) in
    float32 and ``a_q = round(a / token_scales)`` (int8: round half to even, clamped to +-127;
    e4m3: torch's round-to-nearest conversion). An all-zero row gets scale 1."""
    if dtype not in _A8_QMAX:
        raise ValueError(f"quantize_activations: dtype must be torch.int8 or torch.float8_e4m3fn, got {dtype}")
    if a.dim() != 2 or not a.is_floating_point():
        raise ValueError(f"quantize_activations: a must be a 2-D float tensor [M, K], got {tuple(a.shape)} {a.dtype}")
    af = a.float()
    qmax = _A8_QMAX[dtype]
    amax = af.abs().amax(dim=1)
    ts = torch.where(amax > 0, amax / qmax, torch.ones_like(amax))
    x = af / ts[:, None]
    if dtype is torch.int8:
        a_q = torch.round(x).clamp(-127, 127).to(torch.int8)
    else:
        a_q = x.clamp(-qmax, qmax).to(torch.float8_e4m3fn)
    return a_q, ts


def quantize_w4a8(w: torch.Tensor, group_size: Optional[int] = None) -> W4A8Weights:
    """Quantize float weights ``w`` [K, N] to u4b8 for W4A8: ``channel_scales[n] = max_k |w[k, n]| / 7``
    (f32); with ``group_size`` (a divisor of K) also ``group_scales[g, n] = max_{k in g} |w[k, n]| /
    (7 * channel_scales[n])`` rounded to f16 (in (0, 1]); ``q = clamp(round(w / (channel_scales *
    group_scales)), -8, 7)``. ``group_size`` None or -1: per-channel only (no group scales)."""
    if w.dim() != 2 or not w.is_floating_point():
        raise ValueError(f"quantize_w4a8: w must be a 2-D float tensor [K, N], got {tuple(w.shape)} {w.dtype}")
    K, N = w.shape
    wf = w.float()
    tiny = torch.finfo(torch.float32).tiny
    cs = (wf.abs().amax(dim=0) / 7).clamp_min(tiny)
    if group_size is None or group_size == -1:
        q = torch.round(wf / cs).clamp(-8, 7)
        gs = None
        g = K
        w_ref = q * cs
    else:
        g = resolve_group_size(group_size, K)
        if K % g:
            raise ValueError(f"quantize_w4a8: group_size {g} must divide K={K}")
        rel = wf / cs
        gs = (_group_reduce(rel.abs(), g, "amax") / 7).clamp_min(2.0 ** -14).to(torch.float16)
        s = _expand_groups(gs.float(), g, K)
        q = torch.round(rel / s).clamp(-8, 7)
        w_ref = q * s * cs
    w_q = value_to_storage(q.to(torch.int32), scalar_types.uint4b8)
    return W4A8Weights(w_q, gs, cs, w_ref, g)


def reference_w4a8_mm(
    a_q: torch.Tensor,
    b: torch.Tensor,
    token_scales: torch.Tensor,
    channel_scales: torch.Tensor,
    group_scales: Optional[torch.Tensor] = None,
    group_size: Optional[int] = None,
) -> torch.Tensor:
    """The W4A8 product in float64, returned as float32 [M, N] (see the semantics above).
    ``b``: stored u4b8 values [K, N] or their packed int32 form [K / 8, N]."""
    if _tensor(a_q, "reference_w4a8_mm", "a_q").dtype not in _A8_QMAX or a_q.dim() != 2:
        raise ValueError(f"reference_w4a8_mm: a_q must be 2-D int8 or float8_e4m3fn, got {tuple(a_q.shape)} {a_q.dtype}")
    M, K = a_q.shape
    if _tensor(b, "reference_w4a8_mm", "b").dim() == 2 and b.shape[0] * 8 == K and b.dtype == torch.int32:
        b = unpack(b, scalar_types.uint4b8)
    if b.dim() != 2 or b.shape[0] != K:
        raise ValueError(f"reference_w4a8_mm: b must be [K, N] stored values or [K / 8, N] packed, got {tuple(b.shape)}")
    N = b.shape[1]
    _vector(token_scales, "reference_w4a8_mm", "token_scales", M, "M")
    _vector(channel_scales, "reference_w4a8_mm", "channel_scales", N, "N")
    if token_scales is None or channel_scales is None:
        raise ValueError("reference_w4a8_mm: token_scales and channel_scales are required")
    w = storage_to_value(b, scalar_types.uint4b8).double()
    if group_scales is not None:
        g = resolve_group_size(group_size, K)
        if tuple(_tensor(group_scales, "reference_w4a8_mm", "group_scales").shape) != (-(-K // g), N):
            raise ValueError(f"reference_w4a8_mm: group_scales must have shape ({-(-K // g)}, {N}) "
                             f"for K={K}, group_size={g}, got {tuple(group_scales.shape)}")
        w = w * _expand_groups(group_scales.double(), g, K)
    d = a_q.double() @ w
    return (d * channel_scales.double()[None, :] * token_scales.double()[:, None]).float()
