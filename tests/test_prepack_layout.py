"""CPU tests of the pure-torch prepack model (machete/prepack_layout.py)."""
import hashlib

import pytest
import torch

from machete import prepack_layout as pl

# sha256 of the positions cute computes for make_prepacked_layout<bits>(N=32, K=48) (evaluated on
# the host with CUTLASS 4.2's cute, csrc/machete/prepack_layout.cuh), listed for k in 0..47, n in
# 0..31 (n fastest), comma-separated.
CUTE_HASH_32x48 = {
    4: "23a9f8f32ba99eff4cf20df102e5e006b0460f1dd631d637570f4618a463d485",
    8: "711943d0e5575a5d6863b4aee34a4d98f4adb7d8d42967f6526064b1769e015d",
}

TYPES = {  # name: (id, bits, flip)
    "uint4b8": (0x4000000100400, 4, 0x8),
    "uint8b128": (0x4000001000800, 8, 0x80),
    "uint4": (0x4000000000400, 4, 0),
    "uint8": (0x4000000000800, 8, 0),
}


@pytest.mark.parametrize("bits", [4, 8])
def test_matches_cute_layout(bits):
    pos = pl.prepacked_positions(32, 48, bits)          # (N, K)
    flat = pos.t().reshape(-1).tolist()                 # k-major, n fastest
    digest = hashlib.sha256(",".join(map(str, flat)).encode()).hexdigest()
    assert digest == CUTE_HASH_32x48[bits]


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("N,K", [(16, 16), (128, 64), (256, 192)])
def test_positions_are_a_bijection(bits, N, K):
    pos = pl.prepacked_positions(N, K, bits).reshape(-1)
    assert pos.min() == 0 and pos.max() == N * K - 1
    assert torch.unique(pos).numel() == N * K


@pytest.mark.parametrize("bits", [4, 8])
def test_thread_fragment_is_contiguous(bits):
    # Lane l of a warp holds (n, k) = (r + 8*v1, 2c + v0 + 8*v2), r = l//4, c = l%4: its 8 values
    # must fill the 8 consecutive slots [8l, 8l+8) of the atom.
    atom = pl.atom_offsets(bits)
    for lane in range(32):
        r, c = lane // 4, lane % 4
        slots = sorted(int(atom[r + 8 * v1, 2 * c + v0 + 8 * v2])
                       for v0 in (0, 1) for v1 in (0, 1) for v2 in (0, 1))
        assert slots == list(range(8 * lane, 8 * lane + 8))


def test_4bit_value_order_is_even_then_odd():
    atom = pl.atom_offsets(4)
    # value v = v0 + 2*v1 + 4*v2 of lane 0 -> slot; expected order [0,2,4,6,1,3,5,7]
    slot_of_v = [int(atom[8 * ((v >> 1) & 1), (v & 1) + 8 * (v >> 2)]) for v in range(8)]
    stored = [slot_of_v.index(s) for s in range(8)]
    assert stored == [0, 2, 4, 6, 1, 3, 5, 7]


@pytest.mark.parametrize("name", list(TYPES))
def test_bias_flip_and_round_trip(name):
    tid, bits, flip = TYPES[name]
    K, N = 128, 256
    g = torch.Generator().manual_seed(0)
    vals = torch.randint(0, 1 << bits, (K, N), generator=g)
    b = pl.pack_values(vals, bits).t().contiguous().t()   # column-major like users pass
    packed = pl.prepack_for_type(b, tid)
    assert packed.shape == b.shape and packed.dtype == torch.int32
    assert packed.stride() == (1, b.shape[0])
    # every stored value is at its position, bias flipped
    pos = pl.prepacked_positions(N, K, bits)
    P = 32 // bits
    words = pl.flat_words(packed).to(torch.int64) & 0xFFFFFFFF
    got = (words[pos // P] >> ((pos % P) * bits)) & ((1 << bits) - 1)     # (N, K)
    assert torch.equal(got, vals.t() ^ flip)
    # flip semantics: for GPTQ types the stored pattern becomes the two's complement value
    if flip:
        signed = torch.where(got >= (1 << (bits - 1)), got - (1 << bits), got)
        assert torch.equal(signed, vals.t() - (1 << (bits - 1)))
    # inverse
    assert torch.equal(pl.unprepack(packed, bits, flip), pl.pack_values(vals, bits))


def test_rejects_bad_shapes():
    with pytest.raises(ValueError):
        pl.prepacked_positions(24, 64, 4)
    with pytest.raises(ValueError):
        pl.b_type_bits_and_flip(0x1234)


# ---- the 8-bit-MMA atom (W4A8 without group scales; QuantAtomMma8) --------------------------------

# sha256 of make_prepacked_layout_mma8(N=32, K=64) as cute computes it on the host (CUTLASS 4.2),
# listed for k in 0..63, n in 0..31 (n fastest), comma-separated.
CUTE_HASH_MMA8_32x64 = "17745ea0cd2bad64cc2a17adf6cdc1a7aecef5106fe52f89403672ab0028a713"


def test_mma8_matches_cute_layout():
    flat = pl.prepacked_positions(32, 64, 4, mma8=True).t().reshape(-1).tolist()
    assert hashlib.sha256(",".join(map(str, flat)).encode()).hexdigest() == CUTE_HASH_MMA8_32x64


def test_mma8_lane_fragment_is_in_order():
    # 64xNx32 wgmma / m16n8k32 A fragment: lane l holds v = v0 + 4*v1 + 8*v2 at
    # (n, k) = (r + 8*v1, 4c + v0 + 16*v2); slot 16*l + v, in order (CUTLASS converts 8 at a time)
    atom = pl.atom_offsets_mma8()
    for lane in range(32):
        r, c = lane // 4, lane % 4
        for v in range(16):
            v0, v1, v2 = v % 4, (v // 4) % 2, v // 8
            assert int(atom[r + 8 * v1, 4 * c + v0 + 16 * v2]) == 16 * lane + v


@pytest.mark.parametrize("N,K", [(16, 32), (128, 64), (256, 192)])
def test_mma8_bijection_and_round_trip(N, K):
    pos = pl.prepacked_positions(N, K, 4, mma8=True).reshape(-1)
    assert torch.unique(pos).numel() == N * K and pos.max() == N * K - 1
    b = torch.randint(-2**31, 2**31 - 1, (K // 8, N), dtype=torch.int32)
    packed = pl.prepack(b, 4, 0x8, mma8=True)
    assert torch.equal(pl.unprepack(packed, 4, 0x8, mma8=True), b)
    assert not torch.equal(packed, pl.prepack(b, 4, 0x8))


def test_mma8_rejects_8bit_weights_and_k16():
    with pytest.raises(ValueError, match="8-bit-MMA layout takes 4-bit weights"):
        pl.prepacked_positions(16, 32, 8, mma8=True)
    with pytest.raises(ValueError, match="K % 32"):
        pl.prepacked_positions(16, 48, 4, mma8=True)
