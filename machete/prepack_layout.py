"""Pure-torch model of the prepacked weight layout (bit-identical to csrc/machete/prepack_kernel.cuh).

The layout math is explained in csrc/machete/prepack_layout.cuh. In short, for weights of `bits`
bits (4 or 8), logical element (n, k) of the (N, K) weight matrix goes to element position

    pos(n, k) = atom(n % 16, k % 16) + 256 * (n // 16 + (N // 16) * (k // 16))

with n = n0 + 8*n1, k = k0 + 2*k1 + 8*k2 and

    4 bit: atom = 32*n0 + n1 + 4*k0 + 8*k1 + 2*k2
    8 bit: atom = 32*n0 + 2*n1 + k0 + 8*k1 + 4*k2

W4A8 (4-bit weights fed as exact integers to an 8-bit MMA, ``mma8=True``) uses the
16 x 32 atom of the 8-bit MMA instead (csrc/machete/prepack_layout.cuh, QuantAtomMma8): with
n = n0 + 8*n1, k = k0 + 4*k1 + 16*k2 (k0, k1 < 4)
    atom = 64*n0 + 16*k1 + k0 + 4*n1 + 8*k2,  pos = atom + 512 * (n // 16 + (N // 16) * (k // 32))
Element `pos` occupies bits [(pos % P) * bits, ...) of int32 word pos // P, P = 32 // bits.
GPTQ biased types (uint4b8, uint8b128) additionally get their bias bit flipped (xor 0x8 / 0x80)
so the kernel reads them as signed integers.

Input and output use the unprepacked B convention: an int32 tensor of shape (K // P, N). The output
is column-major (stride (1, K // P)), and its memory is the flat array of prepacked words.
"""
from __future__ import annotations

import torch

from . import _scalar_table

# scalar-type ids (SPEC §5) -> (bits, bias flip mask), from the table's b_type rows:
# uint4b8 (4, 0x8), uint8b128 (8, 0x80), uint4 / int4 (4, 0), uint8 / int8 (8, 0)
_B_TYPES = {r.type_id: (r.bits, r.bias_flip) for r in _scalar_table.B_TYPES}


def b_type_bits_and_flip(b_type_id: int) -> tuple[int, int]:
    """(storage bits, bias-flip xor mask) for a scalar-type id."""
    try:
        return _B_TYPES[int(b_type_id)]
    except KeyError:
        raise ValueError(f"prepack: unsupported b_type id {int(b_type_id):#x}") from None


def _check(N: int, K: int, bits: int) -> None:
    if bits not in (4, 8):
        raise ValueError(f"prepack: bits must be 4 or 8, got {bits}")
    if N % 16 or K % 16:
        raise ValueError(f"prepack: N and K must be multiples of 16 (got N={N}, K={K})")


def atom_offsets(bits: int) -> torch.Tensor:
    """(16, 16) int64 tensor: element offset of (n, k) inside one 256-element atom."""
    n = torch.arange(16).view(16, 1)
    k = torch.arange(16).view(1, 16)
    n0, n1 = n % 8, n // 8
    k0, k1, k2 = k % 2, (k // 2) % 4, k // 8
    if bits == 4:
        return 32 * n0 + n1 + 4 * k0 + 8 * k1 + 2 * k2
    if bits == 8:
        return 32 * n0 + 2 * n1 + k0 + 8 * k1 + 4 * k2
    raise ValueError(f"bits must be 4 or 8, got {bits}")


def atom_offsets_mma8() -> torch.Tensor:
    """(16, 32) int64 tensor: element offset of (n, k) inside one 512-element 8-bit-MMA atom."""
    n = torch.arange(16).view(16, 1)
    k = torch.arange(32).view(1, 32)
    n0, n1 = n % 8, n // 8
    k0, k1, k2 = k % 4, (k // 4) % 4, k // 16
    return 64 * n0 + 16 * k1 + k0 + 4 * n1 + 8 * k2


def prepacked_positions(N: int, K: int, bits: int, mma8: bool = False) -> torch.Tensor:
    """(N, K) int64 tensor: prepacked element position of logical weight (n, k)."""
    _check(N, K, bits)
    n = torch.arange(N).view(N, 1)
    k = torch.arange(K).view(1, K)
    if mma8:
        if bits != 4 or K % 32:
            raise ValueError(f"prepack: the 8-bit-MMA layout takes 4-bit weights and K % 32 == 0 (bits={bits}, K={K})")
        return atom_offsets_mma8()[n % 16, k % 32] + 512 * (n // 16 + (N // 16) * (k // 32))
    atom = atom_offsets(bits)                                   # (16, 16)
    return atom[n % 16, k % 16] + 256 * (n // 16 + (N // 16) * (k // 16))


def unpack_values(b: torch.Tensor, bits: int) -> torch.Tensor:
    """int32 (K // P, N), K packed LSB-first -> int64 (K, N) of raw unsigned stored values."""
    P = 32 // bits
    words = b.to(torch.int64) & 0xFFFFFFFF                      # (K/P, N), unsigned
    shifts = (torch.arange(P) * bits).view(1, P, 1)
    vals = (words.unsqueeze(1) >> shifts) & ((1 << bits) - 1)   # (K/P, P, N)
    return vals.reshape(-1, b.shape[1])


def pack_values(vals: torch.Tensor, bits: int) -> torch.Tensor:
    """int64 (K, N) raw unsigned values -> int32 (K // P, N), LSB-first along K (contiguous)."""
    P = 32 // bits
    K, N = vals.shape
    v = vals.to(torch.int64).reshape(K // P, P, N)
    shifts = (torch.arange(P) * bits).view(1, P, 1)
    words = (v << shifts).sum(dim=1)
    return _to_int32(words)


def _to_int32(words: torch.Tensor) -> torch.Tensor:
    words = words & 0xFFFFFFFF
    return torch.where(words >= 2**31, words - 2**32, words).to(torch.int32)


def prepack(b: torch.Tensor, bits: int, bias_flip: int = 0, mma8: bool = False) -> torch.Tensor:
    """Model of PrepackB: int32 (K // P, N) -> prepacked int32 (K // P, N), column-major."""
    P = 32 // bits
    Kp, N = b.shape
    K = Kp * P
    _check(N, K, bits)
    vals = unpack_values(b.cpu(), bits).t() ^ bias_flip          # (N, K)
    pos = prepacked_positions(N, K, bits, mma8)
    flat = torch.zeros(N * K, dtype=torch.int64)
    flat[pos.reshape(-1)] = vals.reshape(-1)
    words = (flat.view(-1, P) << (torch.arange(P) * bits)).sum(dim=1)
    out = _to_int32(words).view(N, Kp).t()                       # column-major (stride (1, Kp))
    return out.to(b.device)


def prepack_for_type(b: torch.Tensor, b_type_id: int, mma8: bool = False) -> torch.Tensor:
    """``mma8``: the 8-bit-MMA layout (every W4A8 type: 8-bit activations)."""
    bits, flip = b_type_bits_and_flip(b_type_id)
    return prepack(b, bits, flip, mma8)


def unprepack(packed: torch.Tensor, bits: int, bias_flip: int = 0, mma8: bool = False) -> torch.Tensor:
    """Inverse of prepack: prepacked (K // P, N) (any strides; memory read column-major) -> B."""
    P = 32 // bits
    Kp, N = packed.shape
    K = Kp * P
    _check(N, K, bits)
    words = packed.t().contiguous().reshape(-1).to(torch.int64) & 0xFFFFFFFF  # flat memory order
    flat = ((words.view(-1, 1) >> (torch.arange(P) * bits)) & ((1 << bits) - 1)).reshape(-1)
    pos = prepacked_positions(N, K, bits, mma8)
    vals = flat[pos.reshape(-1)].view(N, K) ^ bias_flip         # (N, K)
    return pack_values(vals.t(), bits)


def flat_words(t: torch.Tensor) -> torch.Tensor:
    """The memory (storage order) of a column-major (K // P, N) int32 tensor as a flat tensor."""
    return t.t().contiguous().reshape(-1)
