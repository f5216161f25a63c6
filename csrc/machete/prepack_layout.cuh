// machete/prepack_layout.cuh -- the prepacked ("shuffled") layout of the quantized weights.
//
// The GEMM runs D^T = B^T A^T: the quantized weights are CUTLASS operand A, shape (N, K, L=1), and
// are the register-sourced operand of wgmma (SM90 RS GMMA). Each warp of a consumer warpgroup
// feeds a 16 (rows = output features n) x 16 (k) slab of A per 64xNx16 instruction, and lane
// `l` of that warp holds 8 values of the slab (PTX "wgmma 64xNx16 A fragment"):
//
//     r = l / 4, c = l % 4,  value v = v0 + 2*v1 + 4*v2  (v0, v1, v2 in {0,1})
//     (n, k) = (r + 8*v1,  2*c + v0 + 8*v2)
//
// Inverting: for n = n0 + 8*n1 (n0 < 8, n1 < 2) and k = k0 + 2*k1 + 8*k2 (k0 < 2, k1 < 4, k2 < 2)
//     lane = 4*n0 + k1,  v = k0 + 2*n1 + 4*k2.
//
// The prepacked atom stores the 8 values of each lane next to each other (lane-major), so one
// thread reads its whole fragment with a single 32-bit (4-bit weights) or 64-bit (8-bit weights)
// shared-memory load instead of 8 sub-byte loads:
//
//     offset(n, k) = 8*lane + slot(v)           (in elements of `Bits` bits)
//
// For 4-bit weights the 8 values of a lane are additionally stored in the order
// [v0 v2 v4 v6 v1 v3 v5 v7] (slot(v) = 4*(v % 2) + v / 2): the even and the odd nibbles of a
// 32-bit register then sit in separate halves, which lets CUTLASS convert int4/uint4 to f16/bf16 two
// at a time with one lop3 + one sub (LayoutAwareConvert's [0,2,4,6,1,3,5,7] path). 8-bit weights
// keep slot(v) = v.
//
//     4 bit: offset = 32*n0 + n1 + 4*k0 + 8*k1 + 2*k2
//     8 bit: offset = 32*n0 + 2*n1 + k0 + 8*k1 + 4*k2
//
// Atoms (256 elements each) tile the (N, K) matrix column-major over (N/16, K/16):
//     pos(n, k) = offset(n % 16, k % 16) + 256 * (n / 16 + (N / 16) * (k / 16))
// so for a fixed 16-wide k slab, all N/16 atoms are contiguous; the TMA box of one CTA tile
// (TileN x 64) is TileN/16 contiguous atoms repeated 4 times with stride 256 * N/16 elements.
//
// Element `pos` lives in bits [(pos % P) * Bits, (pos % P + 1) * Bits) of 32-bit word pos / P,
// P = 32 / Bits (CUTLASS sub-byte packing, LSB first). machete/prepack_layout.py is a pure-torch
// model of exactly this mapping; tests compare it bit for bit with the CUDA prepack.
#pragma once

#include "cute/layout.hpp"
#include "cute/tensor.hpp"

namespace machete {

template <int Bits>
struct QuantAtom;

template <>
struct QuantAtom<4> {
  //                   n = (n0, n1)              k = (k0, k1, k2)
  using type = cute::Layout<
      cute::Shape<cute::Shape<cute::_8, cute::_2>, cute::Shape<cute::_2, cute::_4, cute::_2>>,
      cute::Stride<cute::Stride<cute::_32, cute::_1>, cute::Stride<cute::_4, cute::_8, cute::_2>>>;
};

template <>
struct QuantAtom<8> {
  using type = cute::Layout<
      cute::Shape<cute::Shape<cute::_8, cute::_2>, cute::Shape<cute::_2, cute::_4, cute::_2>>,
      cute::Stride<cute::Stride<cute::_32, cute::_2>, cute::Stride<cute::_1, cute::_8, cute::_4>>>;
};

// ---- 4-bit weights for an 8-bit MMA (W4A8 without group scales) -------------------------------
//
// The 8-bit wgmma takes a 16 (n) x 32 (k) slab of A per warp and instruction (64xNx32), lane `l`
// holding 16 values (PTX "wgmma 64xNx32 A fragment"; cute GMMA::ALayout_64x32):
//
//     r = l / 4, c = l % 4,  v = v0 + 4*v1 + 8*v2  (v0 < 4, v1, v2 in {0,1})
//     (n, k) = (r + 8*v1,  4*c + v0 + 16*v2)
//
// which is also the mma.sync m16n8k32 A fragment (registers v / 4 = 0..3). The atom stores the 16
// values of a lane next to each other, in order (slot(v) = v: CUTLASS's int4 -> int8 / e4m3
// converters take in-order vectors of 8), so one 64-bit load is a lane's fragment:
//
//     n = n0 + 8*n1, k = k0 + 4*k1 + 16*k2 (k0 < 4, k1 < 4):  lane = 4*n0 + k1, v = k0 + 4*n1 + 8*k2
//     offset = 64*n0 + 16*k1 + k0 + 4*n1 + 8*k2
//
// Atoms (512 elements) tile (N, K) column-major over (N/16, K/32), like the 16-bit atoms:
//     pos(n, k) = offset(n % 16, k % 32) + 512 * (n / 16 + (N / 16) * (k / 32))
struct QuantAtomMma8 {
  //                   n = (n0, n1)              k = (k0, k1, k2)
  using type = cute::Layout<
      cute::Shape<cute::Shape<cute::_8, cute::_2>, cute::Shape<cute::_4, cute::_4, cute::_2>>,
      cute::Stride<cute::Stride<cute::_64, cute::_4>, cute::Stride<cute::_1, cute::_16, cute::_8>>>;
};

using PrepackedLayoutMma8 = decltype(cute::tile_to_shape(QuantAtomMma8::type{}, cute::make_shape(int{}, int{}, int{})));

CUTE_HOST_DEVICE PrepackedLayoutMma8 make_prepacked_layout_mma8(int N, int K) {
  return cute::tile_to_shape(QuantAtomMma8::type{}, cute::make_shape(N, K, 1));
}

// The layout type handed to the CUTLASS collective in place of a stride for operand A.
// (n, k, l) -> element offset; shapes are runtime values.
template <int Bits>
using PrepackedLayout = decltype(cute::tile_to_shape(typename QuantAtom<Bits>::type{},
                                                     cute::make_shape(int{}, int{}, int{})));

template <int Bits>
CUTE_HOST_DEVICE PrepackedLayout<Bits> make_prepacked_layout(int N, int K) {
  return cute::tile_to_shape(typename QuantAtom<Bits>::type{}, cute::make_shape(N, K, 1));
}

}  // namespace machete
