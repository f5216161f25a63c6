"""Converters from quantized-checkpoint tensors to the inputs of ``machete.prepack_B`` / ``machete.mm``.

Each ``from_*`` function takes the tensors one linear layer stores in a checkpoint and returns
:class:`MacheteWeights`: the packed weights ``b_q`` (int32 ``[K / (32/bits), N]``, ``32/bits``
values per word packed along K, least significant bits first, column-major), the scalar type, the
group scales / zeros ``[K / group_size, N]`` and, for act-order checkpoints, the permutation of
the input features.

Machete dequantizes ``w = v * s + z`` with the zero ``z`` *added after scaling*; checkpoints store
``w = (q - zp) * s``. So a checkpoint with zero points becomes ``uint4`` / ``uint8`` with
``z = -zp * s`` (rounded to the scale dtype), and a symmetric one (every ``zp`` the midpoint
``2^(bits-1)``) becomes ``uint4b8`` / ``uint8b128``, whose stored value is ``x + 2^(bits-1)``:
the stored bits of symmetric GPTQ and compressed-tensors weights as they are.

Formats (N = output features, K = input features, g = group size, pf = 32 / bits):

* **GPTQ** (AutoGPTQ / Hugging Face): ``qweight`` int32 ``[K/pf, N]`` packed along K (the layout
  machete wants), ``qzeros`` int32 ``[K/g, N/pf]`` packed along N, ``scales`` ``[K/g, N]``,
  ``g_idx`` ``[K]`` (group of each input row). ``checkpoint_format="gptq"`` (v1) stores
  ``zp - 1`` in ``qzeros``; ``"gptq_v2"`` stores ``zp``.
* **AWQ** (AutoAWQ GEMM): ``qweight`` int32 ``[K, N/pf]`` packed along N with the values of
  each word in AWQ's order (4-bit: word nibble ``i`` holds column ``[0, 2, 4, 6, 1, 3, 5, 7][i]``
  of its group of 8), ``qzeros`` int32 ``[K/g, N/pf]`` packed the same way, ``scales``
  ``[K/g, N]``.
* **compressed-tensors** ``pack-quantized`` (W4A16 / W8A16): ``weight_packed`` int32
  ``[N, K/pf]`` holding ``x + 2^(bits-1)`` for the signed value ``x``, packed along K;
  ``weight_scale`` ``[N, K/g]``; ``weight_zero_point`` (asymmetric only) the signed zero point
  ``+ 2^(bits-1)`` packed along N, int32 ``[N/pf, K/g]`` (an unpacked integer ``[N, K/g]`` is
  accepted too); ``weight_shape`` ``[N, K]``; ``weight_g_idx`` ``[K]`` (older act-order models).

Act-order (``desc_act``): when ``g_idx`` is not ``arange(K) // g`` the rows of the weight are
reordered so every group is contiguous (``perm = argsort(g_idx)``, stable) and ``perm`` is
returned; the activations must be permuted the same way: ``mm(a[:, perm], ...)`` (this is what
:class:`machete.nn.MacheteLinear` does). ``g_idx`` must give every group exactly g rows.

A malformed tensor (shape, dtype, bits, a ``g_idx`` that is not an assignment of g rows per
group, zero points out of range) raises a one-line ``ValueError`` naming the tensor.
Conversion runs on the device the tensors are on.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Tuple, Union

import torch

from . import reference
from . import scalar_types as st
from .scalar_types import ScalarType

__all__ = [
    "MacheteWeights",
    "from_gptq",
    "from_awq",
    "from_compressed_tensors",
    "act_order_permutation",
    "check_machete_shapes",
    "AWQ_ORDER",
]

# Column held by value i of a packed AWQ word, within its group of 32/bits columns.
# AutoAWQ writes only 4-bit weights; the 8-bit order is the same even-then-odd rule.
AWQ_ORDER = {4: (0, 2, 4, 6, 1, 3, 5, 7), 8: (0, 2, 1, 3)}

_SCALE_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
_ACT_DTYPES = (torch.float16, torch.bfloat16)
_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


class MacheteWeights(NamedTuple):
    """One linear layer in machete's terms (see the module docstring)."""

    b_q: torch.Tensor  # int32 [K / pf, N], column-major: the input of machete.prepack_B
    b_type: ScalarType
    group_scales: torch.Tensor  # [K / group_size, N], the activation dtype
    group_zeros: Optional[torch.Tensor]  # [K / group_size, N] = -zp * s (uint4 / uint8), else None
    group_size: int  # rows per group (K for one group per column)
    perm: Optional[torch.Tensor]  # int64 [K]: run mm(a[:, perm], ...); None when groups are in order
    zero_points: Optional[torch.Tensor] = None  # int32 [K / group_size, N], the integer zero points

    @property
    def K(self) -> int:
        return self.b_q.shape[0] * (32 // self.b_type.size_bits)

    @property
    def N(self) -> int:
        return self.b_q.shape[1]

    def mm_kwargs(self) -> dict:
        """The keyword arguments of ``machete.mm`` for these weights."""
        return dict(group_scales=self.group_scales, group_zeros=self.group_zeros,
                    group_size=self.group_size)

    def dequantize(self) -> torch.Tensor:
        """fp32 ``[K, N]`` weights in the original input-feature order (``perm`` undone)."""
        w = reference.dequantize(reference.unpack(self.b_q, self.b_type), self.b_type, self.group_scales,
                                 self.group_zeros, self.group_size, dtype=torch.float32)
        if self.perm is None:
            return w
        out = torch.empty_like(w)
        out[self.perm] = w
        return out


# ---- checks (each error names the tensor) ------------------------------------------------------

def _name(prefix: str, tensor: str) -> str:
    return f"{prefix}{tensor}"


def _dt(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _check_tensor(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    return x


def _check_int32_2d(x, name: str) -> torch.Tensor:
    _check_tensor(x, name)
    if x.dtype != torch.int32:
        raise ValueError(f"{name}: expected an int32 tensor of packed values, got {_dt(x.dtype)}")
    if x.dim() != 2:
        raise ValueError(f"{name}: expected a 2-D tensor, got shape {tuple(x.shape)}")
    return x


def _check_shape(x: torch.Tensor, want: Tuple[int, ...], name: str, what: str) -> None:
    if tuple(x.shape) != tuple(want):
        raise ValueError(f"{name}: expected shape {tuple(want)} ({what}), got {tuple(x.shape)}")


def _check_bits(bits, name: str) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in (4, 8):
        raise ValueError(f"{name}: machete supports 4- and 8-bit weights, got bits={bits!r}")
    return bits


def _check_scales(x, name: str) -> torch.Tensor:
    _check_tensor(x, name)
    if x.dtype not in _SCALE_DTYPES:
        raise ValueError(f"{name}: expected float16, bfloat16 or float32 scales, got {_dt(x.dtype)}")
    if x.dim() != 2:
        raise ValueError(f"{name}: expected a 2-D tensor, got shape {tuple(x.shape)}")
    return x


def _act_dtype(scales: torch.Tensor, dtype: Optional[torch.dtype], name: str) -> torch.dtype:
    if dtype is None:
        if scales.dtype not in _ACT_DTYPES:
            raise ValueError(f"{name}: scales are {_dt(scales.dtype)}; pass dtype=torch.float16 or "
                             "torch.bfloat16 (the activation dtype)")
        return scales.dtype
    if dtype not in _ACT_DTYPES:
        raise ValueError(f"dtype: machete activations are float16 or bfloat16, got {dtype}")
    return dtype


def _group_size(K: int, G: int, group_size: Optional[int], name: str) -> int:
    """Rows per group from K and the number of scale rows G (checked against ``group_size``)."""
    if G < 1 or K % G:
        raise ValueError(f"{name}: {G} groups do not divide K={K} input features")
    g = K // G
    if group_size is not None and group_size != -1 and group_size != g:
        raise ValueError(f"{name}: {G} groups of K={K} rows means group_size={g}, but group_size={group_size}")
    if group_size == -1 and G != 1:
        raise ValueError(f"{name}: group_size=-1 (one group) but there are {G} groups")
    return g


def _finite(x: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: contains inf or NaN")


def _scale_facts(scales: torch.Tensor, K: int, G: int, group_size: Optional[int],
                 dtype: Optional[torch.dtype], name: str) -> Tuple[int, torch.dtype]:
    """(group size, activation dtype) of a checkpoint's scales of G groups over K, which must be
    finite (shape already checked by the caller, whose layout differs per format)."""
    g = _group_size(K, G, group_size, name)
    act_dtype = _act_dtype(scales, dtype, name)
    _finite(scales, name)
    return g, act_dtype


# ---- bit unpacking ------------------------------------------------------------------------------

def _unpack_last(packed: torch.Tensor, bits: int, order: Optional[Sequence[int]] = None) -> torch.Tensor:
    """int32 [R, C] -> int32 [R, C * pf]: value i of word c (bits [i*bits, (i+1)*bits)) goes to
    column ``c * pf + order[i]`` (``order`` None: ``i``)."""
    pf = 32 // bits
    shifts = torch.arange(0, 32, bits, device=packed.device, dtype=torch.int32)
    vals = (packed.unsqueeze(-1) >> shifts) & ((1 << bits) - 1)  # [R, C, pf]; arithmetic shift, then mask
    if order is not None:
        inv = [0] * pf
        for i, col in enumerate(order):
            inv[col] = i
        vals = vals[..., inv]
    return vals.reshape(packed.shape[0], packed.shape[1] * pf).contiguous()


def _column_major(b: torch.Tensor) -> torch.Tensor:
    return b if (b.shape[0] <= 1 or b.stride(0) == 1) else b.t().contiguous().t()


# ---- act-order -----------------------------------------------------------------------------------

def act_order_permutation(g_idx, K: int, G: int, name: str = "g_idx") -> Optional[torch.Tensor]:
    """Check ``g_idx`` (group of each of the K input rows) and return the stable ``argsort`` that
    makes the groups contiguous, or None when they already are (``g_idx == arange(K) // (K / G)``).

    Every group must get exactly ``K / G`` rows: machete's groups are contiguous blocks of equal size.
    """
    _check_tensor(g_idx, name)
    if g_idx.dtype not in _INT_DTYPES:
        raise ValueError(f"{name}: expected an integer tensor, got {_dt(g_idx.dtype)}")
    if g_idx.dim() != 1 or g_idx.shape[0] != K:
        raise ValueError(f"{name}: expected shape ({K},) (one group index per input feature), got {tuple(g_idx.shape)}")
    g = K // G
    idx = g_idx.to(torch.int64)
    lo, hi = int(idx.min()), int(idx.max())
    if lo < 0 or hi >= G:
        raise ValueError(f"{name}: group indices must lie in [0, {G}) for {G} scale rows, found {lo}..{hi}")
    counts = torch.bincount(idx, minlength=G)
    if bool((counts != g).any()):
        bad = int(torch.nonzero(counts != g)[0])
        raise ValueError(f"{name}: not a permutation of groups: group {bad} has {int(counts[bad])} rows, "
                         f"every group needs {g} (K={K}, {G} groups)")
    if bool((idx[1:] >= idx[:-1]).all()):
        return None
    return torch.sort(idx, stable=True).indices


def _permute_rows(b_q: torch.Tensor, b_type: ScalarType, perm: Optional[torch.Tensor]) -> torch.Tensor:
    if perm is None:
        return _column_major(b_q)
    return reference.pack(reference.unpack(b_q.contiguous(), b_type)[perm], b_type)


# ---- zero points ---------------------------------------------------------------------------------

def _finish(b_q, bits, zp, scales, g, perm, sym, act_dtype, zp_name) -> MacheteWeights:
    """Pick the type (symmetric -> uint4b8 / uint8b128, else uint4 / uint8) and build the result.

    ``zp`` holds the unsigned integer zero points [G, N] (None: symmetric by construction).
    """
    mid = 1 << (bits - 1)
    if zp is not None:
        lo, hi = int(zp.min()), int(zp.max())
        if lo < 0 or hi > (1 << bits) - 1:
            raise ValueError(f"{zp_name}: zero points must lie in [0, {(1 << bits) - 1}], found {lo}..{hi}")
        all_mid = lo == hi == mid
        if sym is None:
            sym = all_mid
        elif sym and not all_mid:
            raise ValueError(f"{zp_name}: symmetric quantization was asked for but the zero points are not "
                             f"all {mid} (found {lo}..{hi})")
    elif sym is False:
        raise ValueError(f"{zp_name}: asymmetric quantization (sym=False) needs zero points, got None")
    else:
        sym = True
    scales = scales.to(act_dtype).contiguous()
    if sym:
        b_type = st.uint4b8 if bits == 4 else st.uint8b128
        return MacheteWeights(b_q, b_type, scales, None, g, perm, None)
    b_type = st.uint4 if bits == 4 else st.uint8
    zp = zp.to(torch.int32).contiguous()
    zeros = reference.zero_points_to_zeros(zp, scales)
    return MacheteWeights(b_q, b_type, scales, zeros, g, perm, zp)


# ---- GPTQ ----------------------------------------------------------------------------------------

def from_gptq(
    qweight: torch.Tensor,
    qzeros: Optional[torch.Tensor],
    scales: torch.Tensor,
    g_idx: Optional[torch.Tensor] = None,
    *,
    bits: int = 4,
    group_size: Optional[int] = None,
    sym: Optional[bool] = None,
    checkpoint_format: str = "gptq",
    dtype: Optional[torch.dtype] = None,
    prefix: str = "",
) -> MacheteWeights:
    """GPTQ (AutoGPTQ / Hugging Face ``QuantLinear``) tensors -> :class:`MacheteWeights`.

    ``sym`` None: symmetric iff every zero point is ``2^(bits-1)`` (GPTQ stores ``qzeros`` for
    symmetric models too); ``qzeros`` None means symmetric. ``checkpoint_format``: ``"gptq"``
    (v1, the default: ``qzeros`` hold ``zp - 1``, stored modulo ``2^bits``) or ``"gptq_v2"``
    (``qzeros`` hold ``zp``), the ``checkpoint_format`` key of the model's quantize config.
    ``g_idx`` None or in order: no permutation. ``prefix`` (e.g. ``"model.layers.0.mlp.up_proj."``)
    is put in front of the tensor names in errors.
    """
    bits = _check_bits(bits, _name(prefix, "bits"))
    if checkpoint_format not in ("gptq", "gptq_v2"):
        raise ValueError(f"checkpoint_format: expected 'gptq' (v1) or 'gptq_v2', got {checkpoint_format!r}")
    pf = 32 // bits
    nq, ns, nz, ng = (_name(prefix, t) for t in ("qweight", "scales", "qzeros", "g_idx"))
    _check_int32_2d(qweight, nq)
    _check_scales(scales, ns)
    Kp, N = qweight.shape
    K = Kp * pf
    G = scales.shape[0]
    _check_shape(scales, (G, N), ns, f"[K / group_size, N] with N={N} from {nq}")
    g, act_dtype = _scale_facts(scales, K, G, group_size, dtype, ns)
    zp = None
    if qzeros is not None:
        _check_int32_2d(qzeros, nz)
        if N % pf:
            raise ValueError(f"{nz}: N={N} is not a multiple of {pf} ({bits}-bit values per int32)")
        _check_shape(qzeros, (G, N // pf), nz, f"[K / group_size, N / {pf}], packed along N")
        zp = _unpack_last(qzeros, bits)
        if checkpoint_format == "gptq":
            zp = (zp + 1) & ((1 << bits) - 1)
    perm = None if g_idx is None else act_order_permutation(g_idx, K, G, ng)
    b_q = _permute_rows(qweight, st.uint4b8 if bits == 4 else st.uint8b128, perm)
    return _finish(b_q, bits, zp, scales, g, perm, sym, act_dtype, nz)


# ---- AWQ -----------------------------------------------------------------------------------------

def from_awq(
    qweight: torch.Tensor,
    qzeros: Optional[torch.Tensor],
    scales: torch.Tensor,
    *,
    bits: int = 4,
    group_size: Optional[int] = None,
    dtype: Optional[torch.dtype] = None,
    prefix: str = "",
) -> MacheteWeights:
    """AutoAWQ GEMM (``WQLinear_GEMM``) tensors -> :class:`MacheteWeights` (``uint4`` with zeros).

    ``qzeros`` None (an AWQ model quantized with ``zero_point=False``) means the symmetric
    ``w = (q - 2^(bits-1)) * s``, i.e. ``uint4b8``.
    """
    bits = _check_bits(bits, _name(prefix, "bits"))
    pf = 32 // bits
    nq, ns, nz = (_name(prefix, t) for t in ("qweight", "scales", "qzeros"))
    _check_int32_2d(qweight, nq)
    _check_scales(scales, ns)
    K, Np = qweight.shape
    N = Np * pf
    G = scales.shape[0]
    _check_shape(scales, (G, N), ns, f"[K / group_size, N] with N={N} from {nq} [K, N / {pf}]")
    g, act_dtype = _scale_facts(scales, K, G, group_size, dtype, ns)
    order = AWQ_ORDER[bits]
    zp = None
    if qzeros is not None:
        _check_int32_2d(qzeros, nz)
        _check_shape(qzeros, (G, Np), nz, f"[K / group_size, N / {pf}], packed along N")
        zp = _unpack_last(qzeros, bits, order)
    values = _unpack_last(qweight, bits, order)  # [K, N] stored values, in column order
    b_q = reference.pack(values, st.uint4 if bits == 4 else st.uint8)
    return _finish(b_q, bits, zp, scales, g, None, None, act_dtype, nz)


# ---- compressed-tensors --------------------------------------------------------------------------

def from_compressed_tensors(
    weight_packed: torch.Tensor,
    weight_scale: torch.Tensor,
    weight_shape: Union[torch.Tensor, Sequence[int], None] = None,
    weight_zero_point: Optional[torch.Tensor] = None,
    weight_g_idx: Optional[torch.Tensor] = None,
    *,
    num_bits: int = 4,
    group_size: Optional[int] = None,
    symmetric: Optional[bool] = None,
    dtype: Optional[torch.dtype] = None,
    prefix: str = "",
) -> MacheteWeights:
    """compressed-tensors ``pack-quantized`` tensors (W4A16 / W8A16, group or channel strategy)
    -> :class:`MacheteWeights`.

    ``num_bits``, ``group_size`` and ``symmetric`` are the ``weights`` quantization args of the
    model's config (``group_size`` None: inferred from the scale shape; ``symmetric`` None:
    symmetric iff there is no zero point or every zero point is 0).
    """
    bits = _check_bits(num_bits, _name(prefix, "num_bits"))
    pf = 32 // bits
    nw, ns, nsh, nz, ng = (_name(prefix, t) for t in
                           ("weight_packed", "weight_scale", "weight_shape", "weight_zero_point", "weight_g_idx"))
    _check_int32_2d(weight_packed, nw)
    _check_scales(weight_scale, ns)
    N, Kp = weight_packed.shape
    if weight_shape is None:
        K = Kp * pf
    else:
        shape = weight_shape.tolist() if isinstance(weight_shape, torch.Tensor) else list(weight_shape)
        if len(shape) != 2 or shape[0] != N:
            raise ValueError(f"{nsh}: expected [N={N}, K] for {nw} of shape {tuple(weight_packed.shape)}, got {shape}")
        K = int(shape[1])
        if K % pf or K // pf != Kp:
            raise ValueError(f"{nw}: K={K} from {nsh} needs {-(-K // pf)} int32 columns of {pf} values "
                             f"(and K a multiple of {pf}), got {Kp}")
    G = weight_scale.shape[1]
    _check_shape(weight_scale, (N, G), ns, f"[N, K / group_size] with N={N} from {nw}")
    g, act_dtype = _scale_facts(weight_scale, K, G, group_size, dtype, ns)
    mid = 1 << (bits - 1)
    zp = None
    if weight_zero_point is not None:
        _check_tensor(weight_zero_point, nz)
        if weight_zero_point.dim() != 2:
            raise ValueError(f"{nz}: expected a 2-D tensor, got shape {tuple(weight_zero_point.shape)}")
        if weight_zero_point.dtype == torch.int32 and N % pf == 0 and tuple(weight_zero_point.shape) == (N // pf, G):
            zp = _unpack_last(weight_zero_point.t().contiguous(), bits)  # [G, N], already + 2^(bits-1)
        elif tuple(weight_zero_point.shape) == (N, G) and weight_zero_point.dtype in _INT_DTYPES:
            signed = weight_zero_point.to(torch.int32)
            lo, hi = int(signed.min()), int(signed.max())
            if lo < -mid or hi > mid - 1:
                raise ValueError(f"{nz}: signed zero points must lie in [{-mid}, {mid - 1}], found {lo}..{hi}")
            zp = signed.t().contiguous() + mid
        else:
            raise ValueError(f"{nz}: expected shape ({N // pf}, {G}) (int32 [N / {pf}, K / group_size], packed along N) "
                             f"or ({N}, {G}) (integers [N, K / group_size]), got {_dt(weight_zero_point.dtype)} "
                             f"{tuple(weight_zero_point.shape)}")
    perm = None if weight_g_idx is None else act_order_permutation(weight_g_idx, K, G, ng)
    b_q = _permute_rows(weight_packed.t(), st.uint4b8 if bits == 4 else st.uint8b128, perm)
    return _finish(b_q, bits, zp, weight_scale.t(), g, perm, symmetric, act_dtype, nz)


# ---- what machete itself needs ---------------------------------------------------------------------

def check_machete_shapes(w: MacheteWeights, where: str = "") -> None:
    """One-line ValueError if machete's kernels cannot run these weights (K % 64, N % 128, group size)."""
    K, N, g = w.K, w.N, w.group_size
    at = f"{where}: " if where else ""
    if K % 64:
        raise ValueError(f"{at}K={K} input features: machete needs a multiple of 64")
    if N % 128:
        raise ValueError(f"{at}N={N} output features: machete needs a multiple of 128")
    if g != K and (g % 64 or K % g):
        raise ValueError(f"{at}group_size={g}: machete needs a multiple of 64 that divides K={K} (or one group)")

