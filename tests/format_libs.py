"""Adapters to the quantization formats' own libraries, for tests/test_formats.py.

Each accessor returns a small object, or skips the test when the library is not installed
(`make test` installs them: see the Makefile's FORMAT_LIBS):

* compressed-tensors (pure Python): its pack-quantized compressor (compress / decompress), its
  int32 unpacking, and its AutoAWQ -> compressed-tensors converter.
* AutoAWQ (``autoawq``, installed without its dependencies): ``WQLinear_GEMM.from_linear`` (the
  packer) and ``awq.utils.packing_utils.dequantize_gemm``.
* AutoGPTQ (``auto-gptq``, installed without its dependencies): ``QuantLinear.pack`` and the
  pure-torch dequantization of ``QuantLinear.forward`` (qlinear_cuda, CPU path).

AutoAWQ's and AutoGPTQ's package ``__init__`` import model code and heavy dependencies
(datasets, pandas, peft...), so only the modules used are loaded, under empty parent packages.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types

import pytest
import torch


def _load_submodule(dotted: str):
    """Import ``a.b.c`` without running ``a/__init__.py`` / ``a/b/__init__.py``."""
    top = dotted.split(".")[0]
    spec = importlib.util.find_spec(top) if top not in sys.modules else None
    if top not in sys.modules:
        if spec is None or not spec.submodule_search_locations:
            pytest.skip(f"{top} is not installed")
        root = list(spec.submodule_search_locations)[0]
    else:
        root = list(sys.modules[top].__path__)[0]
    parts = dotted.split(".")
    for i in range(1, len(parts)):
        name = ".".join(parts[:i])
        if name not in sys.modules:
            pkg = types.ModuleType(name)
            pkg.__path__ = [os.path.join(root, *parts[1:i])]
            sys.modules[name] = pkg
    try:
        return importlib.import_module(dotted)
    except ImportError as e:
        pytest.skip(f"{dotted} does not import here: {e}")


# ---- compressed-tensors -------------------------------------------------------------------------

class _CompressedTensors:
    def __init__(self):
        ct = pytest.importorskip("compressed_tensors")
        from compressed_tensors.compressors.pack_quantized.base import PackedQuantizationCompressor
        from compressed_tensors.compressors.pack_quantized.helpers import unpack_from_int32
        from compressed_tensors.entrypoints.convert.converters.autoawq import AutoAWQConverter
        from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme
        self.version = ct.__version__ if hasattr(ct, "__version__") else "?"
        self._compressor = PackedQuantizationCompressor
        self._unpack = unpack_from_int32
        self._awq = AutoAWQConverter
        self._args, self._scheme = QuantizationArgs, QuantizationScheme

    def compress(self, weight: torch.Tensor, bits: int, group_size: int, sym: bool):
        """weight [N, K] -> (packed state dict, the library's decompressed weight [N, K], scheme)."""
        Nn, Kk = weight.shape
        g = Kk if group_size == -1 else group_size
        args = self._args(num_bits=bits, type="int", symmetric=sym,
                          strategy="channel" if group_size == -1 else "group",
                          group_size=None if group_size == -1 else group_size)
        scheme = self._scheme(targets=["Linear"], weights=args, format="pack-quantized")
        wg = weight.float().reshape(Nn, Kk // g, g)
        lo, hi = wg.amin(-1).clamp(max=0), wg.amax(-1).clamp(min=0)
        mid = 1 << (bits - 1)
        if sym:
            scale = (torch.maximum(-lo, hi) / (mid - 0.5)).to(weight.dtype)
            zp = None
        else:
            scale = ((hi - lo) / ((1 << bits) - 1)).to(weight.dtype)
            zp = torch.clamp(torch.round(-mid - lo / scale.float()), -mid, mid - 1).to(torch.int8)
        sd = {"weight": weight, "weight_scale": scale}
        if zp is not None:
            sd["weight_zero_point"] = zp
        packed = self._compressor.compress(sd, scheme)
        out = self._compressor.decompress(dict(packed), scheme)
        return packed, out["weight"], scheme

    def unpack(self, packed, bits, shape):
        return self._unpack(packed, bits, torch.Size(shape))

    def unpack_zp(self, packed, bits, shape):
        return self._unpack(packed, bits, torch.Size(shape), packed_dim=0)

    def awq_to_ct(self, awq_tensors: dict, group_size: int) -> dict:
        conv = self._awq(bits=4, group_size=group_size, zero_point=awq_tensors["qzeros"] is not None)
        out = conv.process({f"layer.{k}": v for k, v in awq_tensors.items() if v is not None})
        return {k.removeprefix("layer."): v for k, v in out.items()}


def compressed_tensors_lib() -> _CompressedTensors:
    return _CompressedTensors()


# ---- AutoAWQ ------------------------------------------------------------------------------------

class _AutoAWQ:
    def __init__(self):
        self._gemm = _load_submodule("awq.modules.linear.gemm")
        self._packing = _load_submodule("awq.utils.packing_utils")

    def pack(self, layer):
        """AutoAWQ's packer on the float weights (w + zp * s) / s == q exactly."""
        K, N, G = layer.K, layer.N, layer.G
        g = K // G
        w = layer.dequantize().to(torch.float16)  # [K, N]; exact: |q - zp| * s fits in fp16 here
        lin = torch.nn.Linear(K, N, bias=False, dtype=torch.float16)
        lin.weight.data = w.t().contiguous()
        m = self._gemm.WQLinear_GEMM.from_linear(lin, 4, g, scales=layer.s.clone(),
                                                 zeros=layer.zp.to(torch.float16))
        return m.qweight, m.qzeros, m.scales

    def dequantize(self, qweight, qzeros, scales, group_size):
        return self._packing.dequantize_gemm(qweight, qzeros, scales, 4, group_size)


def autoawq() -> _AutoAWQ:
    return _AutoAWQ()


# ---- AutoGPTQ -----------------------------------------------------------------------------------

class _AutoGPTQ:
    def __init__(self):
        self._mod = _load_submodule("auto_gptq.nn_modules.qlinear.qlinear_cuda")

    def pack(self, layer):
        """AutoGPTQ's QuantLinear.pack (v1 zero points) from float weights that round back to q."""
        K, N, G = layer.K, layer.N, layer.G
        g = K // G
        w = layer.dequantize()  # [K, N] float32: (q - zp) * s, exact
        lin = torch.nn.Linear(K, N, bias=False)
        lin.weight.data = w.t().contiguous()
        m = self._mod.QuantLinear(layer.bits, g, K, N, False, weight_dtype=torch.float32)
        m.pack(lin, layer.s.float().t().contiguous(), layer.zp.float().t().contiguous(),
               layer.g_idx.to(torch.int32))
        return m.qweight, m.qzeros, layer.s.clone(), m.g_idx.to(torch.int32)

    def dequantize(self, qweight, qzeros, scales, g_idx, bits):
        """Run QuantLinear.forward (its torch path) on the identity: the dequantized [K, N]."""
        K, N = g_idx.shape[0], scales.shape[1]
        m = self._mod.QuantLinear(bits, K // scales.shape[0], K, N, False, weight_dtype=torch.float32)
        m.qweight, m.qzeros, m.scales, m.g_idx = qweight, qzeros, scales.float(), g_idx
        with torch.no_grad():
            return m(torch.eye(K))


def autogptq() -> _AutoGPTQ:
    return _AutoGPTQ()
