"""``MacheteLinear``: a ``torch.nn.Module`` that runs a quantized linear layer with ``machete.mm``.

Build one from a float ``nn.Linear`` (quantized here) or from the tensors of a GPTQ, AWQ or
compressed-tensors checkpoint (converted by :mod:`machete.formats`)::

    layer = MacheteLinear.from_gptq(sd[p + "qweight"], sd[p + "qzeros"], sd[p + "scales"],
                                    sd[p + "g_idx"], bits=4, device="cuda")
    y = layer(x)                      # x [..., in_features] float16 on CUDA

The weights are held *prepacked* (the layout ``machete.mm`` reads), so the ``state_dict`` is the
same on every device and loads into ``MacheteLinear(in_features, out_features, b_type, ...)``
built with the same arguments. Buffers:

* ``weight_prepacked`` int32 ``[out_features, in_features / (32/bits)]``: the transpose of
  ``machete.prepack_B``'s output (row-major, so safetensors can store it);
* ``group_scales`` / ``group_zeros`` ``[in_features / group_size, out_features]``;
* ``perm`` int64 ``[in_features]`` (act-order checkpoints): the forward pass reads ``x[..., perm]``;
* ``bias`` ``[out_features]``.

``forward`` is ``machete.mm`` (CUDA only; on CPU it raises machete's device error) plus the
permutation and the bias: no host synchronisation, so it runs under ``torch.compile`` and inside
CUDA graphs. :meth:`MacheteLinear.forward_reference` computes the same in fp32 with plain torch,
on any device, when asked for.

Prepacking runs where the weights are: on CUDA with ``machete.prepack_B``, on the CPU with the
bit-identical pure-torch model (:mod:`machete.prepack_layout`; slow and memory hungry for large
layers: convert with ``device="cuda"``).
"""

from __future__ import annotations

from typing import Optional, Union

import torch

from . import formats
from . import prepack_layout as _pl
from . import reference
from . import scalar_types as st
from .formats import MacheteWeights
from .ops import mm, prepack_B
from .scalar_types import ScalarType, ScalarTypeLike, as_scalar_type

__all__ = ["MacheteLinear"]

_MACHETE_B_TYPES = (st.uint4b8, st.uint8b128, st.uint4, st.uint8)
DeviceLike = Union[torch.device, str, int, None]


def _prepack(b_q: torch.Tensor, dtype: torch.dtype, b_type: ScalarType) -> torch.Tensor:
    """Prepacked B [K / pf, N] on b_q's device (CUDA op on CUDA, the torch model elsewhere)."""
    if b_q.is_cuda:
        return prepack_B(_column_major(b_q), dtype, b_type)
    return _pl.prepack_for_type(b_q, b_type.id)


def _column_major(b: torch.Tensor) -> torch.Tensor:
    return b if (b.shape[0] <= 1 or b.stride(0) == 1) else b.t().contiguous().t()


class MacheteLinear(torch.nn.Module):
    """``y = x @ dequant(W) + bias`` with machete's mixed-input GEMM (see the module docstring)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        b_type: ScalarTypeLike,
        group_size: Optional[int] = None,
        *,
        bias: bool = False,
        act_order: bool = False,
        dtype: torch.dtype = torch.float16,
        device: DeviceLike = None,
    ) -> None:
        """An empty layer (buffers uninitialised) to ``load_state_dict`` into; ``group_size``
        None / -1 means one group (per-output-channel scales)."""
        super().__init__()
        b_type = as_scalar_type(b_type)
        if b_type not in _MACHETE_B_TYPES:
            names = ", ".join(t.name for t in _MACHETE_B_TYPES)
            raise ValueError(f"b_type: {b_type.name} is not supported by MacheteLinear (use one of {names})")
        if dtype not in (torch.float16, torch.bfloat16):
            raise ValueError(f"dtype: machete activations are float16 or bfloat16, got {dtype}")
        K, N = int(in_features), int(out_features)
        g = reference.resolve_group_size(group_size, K)
        self.in_features, self.out_features = K, N
        self.b_type = b_type
        self.group_size = g
        self.act_order = bool(act_order)
        pf = 32 // b_type.size_bits
        G = -(-K // g)
        probe = MacheteWeights(torch.empty(K // pf, N, dtype=torch.int32, device="meta"), b_type,
                               torch.empty(G, N, device="meta"), None, g, None)
        formats.check_machete_shapes(probe, f"MacheteLinear({K}, {N})")
        kw = dict(device=device)
        self.register_buffer("weight_prepacked", torch.zeros(N, K // pf, dtype=torch.int32, **kw))
        self.register_buffer("group_scales", torch.ones(G, N, dtype=dtype, **kw))
        has_zeros = reference.has_zero_points(b_type)
        self.register_buffer("group_zeros", torch.zeros(G, N, dtype=dtype, **kw) if has_zeros else None)
        self.register_buffer("perm", torch.arange(K, **kw) if act_order else None)
        self.register_buffer("bias", torch.zeros(N, dtype=dtype, **kw) if bias else None)

    # ---- constructors ------------------------------------------------------------------------
    @classmethod
    def from_weights(
        cls,
        w: MacheteWeights,
        bias: Optional[torch.Tensor] = None,
        *,
        device: DeviceLike = None,
        prefix: str = "",
    ) -> "MacheteLinear":
        """From converted weights (:mod:`machete.formats`); ``device`` None keeps ``w``'s device.
        ``prefix`` (the layer's name in the checkpoint, e.g. ``"model.layers.0.mlp.up_proj."``)
        goes in front of the names in errors."""
        if not isinstance(w, formats.MacheteWeights):
            raise TypeError(f"{prefix or 'MacheteLinear.from_weights: '}w: expected machete.formats.MacheteWeights "
                            f"(from formats.from_gptq / from_awq / from_compressed_tensors), got {type(w).__name__}")
        formats.check_machete_shapes(w, prefix.rstrip(".") or "MacheteLinear")
        dev = torch.device(device) if device is not None else w.b_q.device
        K, N = w.K, w.N
        dtype = w.group_scales.dtype
        if bias is not None:
            if not isinstance(bias, torch.Tensor) or bias.dim() != 1 or bias.shape[0] != N:
                got = tuple(bias.shape) if isinstance(bias, torch.Tensor) else type(bias).__name__
                raise ValueError(f"{prefix}bias: expected shape ({N},), got {got}")
        m = cls(K, N, w.b_type, w.group_size, bias=bias is not None, act_order=w.perm is not None,
                dtype=dtype, device="meta")
        m.weight_prepacked = _prepack(w.b_q.to(dev), dtype, w.b_type).t().contiguous()
        m.group_scales = w.group_scales.to(dev, dtype).contiguous()
        if w.group_zeros is not None:
            m.group_zeros = w.group_zeros.to(dev, dtype).contiguous()
        if w.perm is not None:
            m.perm = w.perm.to(dev, torch.int64).contiguous()
        if bias is not None:
            m.bias = bias.detach().to(dev, dtype).contiguous()
        return m

    @classmethod
    def from_linear(
        cls,
        linear: torch.nn.Linear,
        b_type: ScalarTypeLike = st.uint4b8,
        group_size: Optional[int] = 128,
        *,
        dtype: Optional[torch.dtype] = None,
        device: DeviceLike = None,
    ) -> "MacheteLinear":
        """Quantize a float ``nn.Linear`` (``reference.quantize``: symmetric for uint4b8 /
        uint8b128, with zero points for uint4 / uint8). ``dtype`` defaults to the linear's dtype
        when it is float16 / bfloat16, else float16."""
        if not isinstance(linear, torch.nn.Linear):
            raise TypeError(f"linear: expected a torch.nn.Linear, got {type(linear).__name__}")
        b_type = as_scalar_type(b_type)
        w = linear.weight.detach()
        if dtype is None:
            dtype = w.dtype if w.dtype in (torch.float16, torch.bfloat16) else torch.float16
        dev = torch.device(device) if device is not None else w.device
        w = w.to(dev).t().float()  # [K, N]
        g = None if group_size in (None, -1) else group_size
        q = reference.quantize(w, b_type, g, scale_dtype=dtype)
        mw = MacheteWeights(reference.pack(q.w_q, b_type), b_type, q.scales, q.zeros, q.group_size, None,
                            q.zero_points)
        return cls.from_weights(mw, linear.bias, device=dev, prefix="linear.")

    @classmethod
    def from_gptq(cls, qweight, qzeros, scales, g_idx=None, bias=None, *, bits: int = 4,
                  group_size: Optional[int] = None, sym: Optional[bool] = None,
                  checkpoint_format: str = "gptq", dtype: Optional[torch.dtype] = None,
                  device: DeviceLike = None, prefix: str = "") -> "MacheteLinear":
        """GPTQ tensors (see :func:`machete.formats.from_gptq`); ``device`` is where the
        conversion and the layer go (default: qweight's device)."""
        dev = qweight.device if device is None else device
        w = formats.from_gptq(*_to(dev, qweight, qzeros, scales, g_idx), bits=bits, group_size=group_size,
                              sym=sym, checkpoint_format=checkpoint_format, dtype=dtype, prefix=prefix)
        return cls.from_weights(w, _bias(bias, prefix), prefix=prefix)

    @classmethod
    def from_awq(cls, qweight, qzeros, scales, bias=None, *, bits: int = 4,
                 group_size: Optional[int] = None, dtype: Optional[torch.dtype] = None,
                 device: DeviceLike = None, prefix: str = "") -> "MacheteLinear":
        """AutoAWQ GEMM tensors (see :func:`machete.formats.from_awq`)."""
        dev = qweight.device if device is None else device
        w = formats.from_awq(*_to(dev, qweight, qzeros, scales), bits=bits, group_size=group_size,
                             dtype=dtype, prefix=prefix)
        return cls.from_weights(w, _bias(bias, prefix), prefix=prefix)

    @classmethod
    def from_compressed_tensors(cls, weight_packed, weight_scale, weight_shape=None, weight_zero_point=None,
                                weight_g_idx=None, bias=None, *, num_bits: int = 4,
                                group_size: Optional[int] = None, symmetric: Optional[bool] = None,
                                dtype: Optional[torch.dtype] = None, device: DeviceLike = None,
                                prefix: str = "") -> "MacheteLinear":
        """compressed-tensors ``pack-quantized`` tensors (see
        :func:`machete.formats.from_compressed_tensors`)."""
        dev = weight_packed.device if device is None else device
        wp, ws, wz, wg = _to(dev, weight_packed, weight_scale, weight_zero_point, weight_g_idx)
        w = formats.from_compressed_tensors(wp, ws, weight_shape, wz, wg, num_bits=num_bits,
                                            group_size=group_size, symmetric=symmetric, dtype=dtype,
                                            prefix=prefix)
        return cls.from_weights(w, _bias(bias, prefix), prefix=prefix)

    # ---- running -----------------------------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        """The activation dtype (that of the group scales; ``.to(torch.bfloat16)`` switches it)."""
        return self.group_scales.dtype

    def _check_input(self, x) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"MacheteLinear: input must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"MacheteLinear: input must be [..., in_features={self.in_features}], "
                             f"got shape {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        if self.perm is not None:
            x2 = x2.index_select(1, self.perm)
        elif x2.stride(-1) != 1:
            x2 = x2.contiguous()
        y = mm(x2, self.weight_prepacked.t(), self.b_type, group_scales=self.group_scales,
               group_zeros=self.group_zeros, group_size=self.group_size)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)

    def dequantized_weight(self) -> torch.Tensor:
        """fp32 ``[in_features, out_features]`` weights (original input order), rebuilt from the
        buffers with plain torch (undoing the prepack), as the kernel reconstructs them."""
        b = self.weight_prepacked.t().cpu()
        bits, flip = _pl.b_type_bits_and_flip(self.b_type.id)
        b_q = _pl.unprepack(b, bits, flip)
        zeros = None if self.group_zeros is None else self.group_zeros.cpu()
        w = reference.dequantize(reference.unpack(b_q, self.b_type), self.b_type, self.group_scales.cpu(), zeros,
                                 self.group_size, dtype=torch.float32)
        if self.perm is not None:
            out = torch.empty_like(w)
            out[self.perm.cpu()] = w
            w = out
        return w.to(self.weight_prepacked.device)

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """fp32 ``x @ dequant(W) + bias`` with plain torch on any device (slow; for checking). The
        weights are rounded to the activation dtype first, as the kernel reconstructs them."""
        self._check_input(x)
        y = x.float() @ self.dequantized_weight().to(x.device, self.dtype).float()
        if self.bias is not None:
            y = y + self.bias.float()
        return y

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, b_type={self.b_type.name}, "
                f"group_size={self.group_size}, dtype={str(self.dtype).replace('torch.', '')}, "
                f"act_order={self.act_order}, bias={self.bias is not None}")


def _to(device, *tensors):
    return tuple(t.to(device) if isinstance(t, torch.Tensor) else t for t in tensors)


def _bias(bias, prefix: str):
    if bias is not None and not isinstance(bias, torch.Tensor):
        raise ValueError(f"{prefix}bias: expected a torch.Tensor or None, got {type(bias).__name__}")
    return bias
