"""The checkpoint formats written from their definitions, independently of machete.formats.

Used by tests/test_formats.py (CPU) and tests/gpu/test_formats_gpu.py: make a random quantized
layer as the integers a quantizer would produce, write it the way each format stores it, and
dequantize it the way each format defines (``w = (q - zp) * s``), so the converters are checked
against the format, not against themselves. Loops over the packed positions are spelled out on
purpose (slow, obvious); the sizes used are small.
"""
from __future__ import annotations

from dataclasses import dataclass
import torch

AWQ_ORDER = {4: (0, 2, 4, 6, 1, 3, 5, 7), 8: (0, 2, 1, 3)}


@dataclass
class Layer:
    """A quantized layer in the format-neutral form: w[k, n] = (q[k, n] - zp[gi[k], n]) * s[gi[k], n]."""
    q: torch.Tensor        # int64 [K, N], unsigned in [0, 2^bits)
    zp: torch.Tensor       # int64 [G, N], unsigned (midpoint 2^(bits-1) everywhere when symmetric)
    s: torch.Tensor        # [G, N] fp16 / bf16
    g_idx: torch.Tensor    # int64 [K], group of each input row
    bits: int
    sym: bool

    @property
    def K(self):
        return self.q.shape[0]

    @property
    def N(self):
        return self.q.shape[1]

    @property
    def G(self):
        return self.s.shape[0]

    def dequantize(self) -> torch.Tensor:
        """fp32 [K, N] per the formats' definition."""
        gi = self.g_idx
        return (self.q - self.zp[gi]).float() * self.s[gi].float()


def random_layer(K, N, bits, group_size, *, sym, act_order=False, seed=0, dtype=torch.float16,
                 zp_min=0) -> Layer:
    gen = torch.Generator().manual_seed(seed)
    g = K if group_size in (None, -1) else group_size
    G = K // g
    maxq = (1 << bits) - 1
    q = torch.randint(0, maxq + 1, (K, N), generator=gen)
    if sym:
        zp = torch.full((G, N), 1 << (bits - 1), dtype=torch.int64)
    else:
        zp = torch.randint(zp_min, maxq + 1, (G, N), generator=gen)
    s = (torch.rand(G, N, generator=gen) * 0.02 + 0.001).to(dtype)
    if act_order:
        order = torch.randperm(K, generator=gen)  # order[i] = row with the i-th largest activation
        g_idx = torch.empty(K, dtype=torch.int64)
        g_idx[order] = torch.arange(K) // g
    else:
        g_idx = torch.arange(K) // g
    return Layer(q, zp, s, g_idx, bits, sym)


def _pack_rows(vals: torch.Tensor, bits: int) -> torch.Tensor:
    """[R * pf, C] -> int32 [R, C]: word [r, c] holds vals[r*pf + j, c] at bit j*bits."""
    pf = 32 // bits
    R = vals.shape[0] // pf
    out = torch.zeros(R, vals.shape[1], dtype=torch.int64)
    for j in range(pf):
        out |= (vals[j::pf] & ((1 << bits) - 1)) << (bits * j)
    return torch.where(out >= 2 ** 31, out - 2 ** 32, out).to(torch.int32)


def _pack_cols(vals: torch.Tensor, bits: int, order=None) -> torch.Tensor:
    """[R, C * pf] -> int32 [R, C]: word [r, c] holds vals[r, c*pf + order[j]] at bit j*bits."""
    pf = 32 // bits
    order = order or tuple(range(pf))
    out = torch.zeros(vals.shape[0], vals.shape[1] // pf, dtype=torch.int64)
    for j in range(pf):
        out |= (vals[:, order[j]::pf] & ((1 << bits) - 1)) << (bits * j)
    return torch.where(out >= 2 ** 31, out - 2 ** 32, out).to(torch.int32)


# ---- GPTQ (AutoGPTQ / HF) ---------------------------------------------------------------------

def to_gptq(layer: Layer, *, v2: bool = False) -> dict:
    """qweight [K/pf, N] packed along K; qzeros [G, N/pf] packed along N holding zp - 1 (v1) or zp
    (v2), modulo 2^bits; scales [G, N]; g_idx int32 [K]."""
    stored_zp = layer.zp if v2 else (layer.zp - 1) & ((1 << layer.bits) - 1)
    return dict(qweight=_pack_rows(layer.q, layer.bits), qzeros=_pack_cols(stored_zp, layer.bits),
                scales=layer.s.clone(), g_idx=layer.g_idx.to(torch.int32))


# ---- AWQ (AutoAWQ GEMM) -----------------------------------------------------------------------

def to_awq(layer: Layer) -> dict:
    """qweight [K, N/pf] and qzeros [G, N/pf] packed along N in AWQ's order; scales [G, N]."""
    assert bool((layer.g_idx == torch.arange(layer.K) // (layer.K // layer.G)).all()), "AWQ has no act-order"
    order = AWQ_ORDER[layer.bits]
    return dict(qweight=_pack_cols(layer.q, layer.bits, order),
                qzeros=None if layer.sym else _pack_cols(layer.zp, layer.bits, order),
                scales=layer.s.clone())


# ---- compressed-tensors pack-quantized ----------------------------------------------------------

def to_compressed_tensors(layer: Layer, *, packed_zp: bool = True, with_g_idx: bool = False) -> dict:
    """weight_packed [N, K/pf] = (x + 2^(bits-1)) packed along K for the signed x = q - 2^(bits-1);
    weight_scale [N, G]; weight_zero_point (asymmetric) the signed zero point + 2^(bits-1) packed
    along N [N/pf, G], or the signed int8 [N, G]; weight_shape [N, K]."""
    mid = 1 << (layer.bits - 1)
    x = layer.q - mid                                    # the signed values compressed-tensors quantizes to
    d = dict(weight_packed=_pack_rows(x + mid, layer.bits).t().contiguous(),
             weight_scale=layer.s.t().contiguous(),
             weight_shape=torch.tensor([layer.N, layer.K]))
    if not layer.sym:
        zp_signed = (layer.zp - mid).t().contiguous()    # [N, G]
        d["weight_zero_point"] = (_pack_rows(zp_signed + mid, layer.bits) if packed_zp
                                  else zp_signed.to(torch.int8))
    if with_g_idx:
        d["weight_g_idx"] = layer.g_idx.to(torch.int32)
    return d


def unpack_rows(packed: torch.Tensor, bits: int) -> torch.Tensor:
    """Inverse of _pack_rows (for the tests' own sanity checks)."""
    pf = 32 // bits
    x = packed.to(torch.int64) & 0xFFFFFFFF
    out = torch.empty(packed.shape[0] * pf, packed.shape[1], dtype=torch.int64)
    for j in range(pf):
        out[j::pf] = (x >> (bits * j)) & ((1 << bits) - 1)
    return out


def random_activations(M, K, dtype, device="cpu", seed=0) -> torch.Tensor:
    gen = torch.Generator(device=device).manual_seed(seed)
    return (3 * torch.rand(M, K, device=device, generator=gen) - 2).to(dtype)

