// machete/decode_kernel.cuh -- the small-M ("decode") mainloop: a weight-streaming split-K GEMM
// on mma.sync tensor-core instructions, reading the same prepacked weights as the CUTLASS kernels.
//
// Why a second kernel. At M <= 16 a mixed-input GEMM is a pass over the weights: the floor is the
// int4 bytes over DRAM bandwidth. CUTLASS's warp-specialized collective runs one 384-thread CTA
// per SM holding ~200 KB of shared memory and a TMA pipeline sized for large tiles; at M = 1 it
// keeps too few bytes in flight per SM (ncu: DRAM ~50% of peak). This kernel instead
//   * gives every warp a private ring of kStages shared-memory stages filled with 16-byte cp.async
//     copies (kStages - 1 chunks in flight per warp without costing registers; only __syncwarp
//     orders the ring), with many warps per SM;
//   * reads one prepacked 16x16 atom as 32 consecutive 32-bit words (4-bit): lane l's word *is* its
//     mma.sync m16n8k16 A fragment (prepack_layout.cuh: the wgmma A fragment of one warp is the
//     mma.sync A fragment), so no shuffle is needed;
//   * splits K three ways: across the warps of a CTA (reduced through shared memory), across the
//     CTAs of a thread-block cluster (reduced through distributed shared memory, no global
//     workspace, no atomics, no counters -- safe under CUDA graphs and on concurrent streams), and
//     the run-time picks the cluster size (1..8, choose_split's cost model);
//   * converts weights with the magic-number trick (one lop3 + one hsub2/hfma2 per pair) into the
//     raw integer value q, runs the mma on q, and applies the group scale (and zero) once per
//     K chunk to the fp32 partial sums: dequant(q) = q*s + z, summed over a chunk of one group, is
//     s * sum(q*a) + z * sum(a); sum(a) comes from one extra mma with an all-ones A.
//
// Work decomposition, for a CTA of kWarps warps and tile (kTileN x kTileM):
//   grid = (split, ceil(M / kTileM), ceil(N / kTileN)), cluster = (split, 1, 1). The token tiles of
//   one N tile are adjacent in launch order, so the CTAs sharing a weight tile run together and
//   all but the first read it from L2 (with N outermost, M > kTileM read the weights from DRAM
//   once per token tile).
//   K is cut into kChunkK-wide chunks (kChunkK divides 64, K % 64 == 0 and the group size is a
//   multiple of 64, so one chunk lies in one group). Cluster rank r takes chunks
//   [r*C/split, (r+1)*C/split); warp w of the CTA takes every kWarps-th of those. A chunk for one
//   warp is kAtomsN atoms (16 n each) x kSlabs 16-wide k slabs.
//
// Everything here is plain CUDA (no CUTLASS collective), so a translation unit of decode kernels
// compiles in seconds.
#pragma once

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <type_traits>

#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace machete {
namespace decode {

namespace cg = cooperative_groups;

// ---- compile-time configuration ------------------------------------------------------------

// Activation (A operand) kinds. F16 / BF16: the W4A16 family (scales, zeros and output of that
// type). S8 / E4M3: W4A8 -- 8-bit activations (s8 on the m16n8k32 s8 mma, s32; e4m3 on the f16 mma, f32), f16
// group scales (optional), f32 channel scales [N] and token scales [M], f16 output.
enum class Act { F16, BF16, S8, E4M3 };

template <Act kAct_, int kBits_, bool kSigned_, bool kZeros_, int kTileN_, int kTileM_,
          int kWarps_, int kStages_, int kSlabs_ = 4, bool kGroupScales_ = true>
struct Config {
  static constexpr Act kAct = kAct_;
  static constexpr bool kEight = kAct == Act::S8 || kAct == Act::E4M3;  // 8-bit activations (W4A8)
  static constexpr bool kBf16 = kAct == Act::BF16;  // activations, scales, zeros and output are bf16 (else f16)
  static constexpr int kBits = kBits_;      // 4 or 8
  static constexpr bool kSigned = kSigned_; // stored values are two's complement (GPTQ after prepack)
  static constexpr bool kZeros = kZeros_;   // group zeros present (AWQ)
  static constexpr bool kGroupScales = kGroupScales_;  // group scales present (always, for 16-bit A)
  static constexpr int kTileN = kTileN_;    // output features per CTA
  static constexpr int kTileM = kTileM_;    // tokens per CTA
  static constexpr int kWarps = kWarps_;
  static constexpr int kStages = kStages_;  // chunks of loads in flight per warp

  static constexpr int kAtomsN = kTileN / 16;
  static constexpr int kTokTiles = kTileM / 8;       // mma n = 8 tokens each
  static constexpr int kThreads = kWarps * 32;
  // W4A8 reads the 16 x 32 atom of the 8-bit MMA (prepack_layout.cuh, QuantAtomMma8: 64 words, 2 per
  // lane, 32-wide k slabs); W4A16 the 16 x 16 atom.
  static constexpr bool kMma8 = kEight;
  static constexpr int kWordsPerLane = kMma8 ? 2 : kBits / 4;  // 32-bit words of one lane per atom
  static constexpr int kAtomWords = 32 * kWordsPerLane;
  static constexpr int kSlabs = kSlabs_;             // 16-wide k slabs per chunk
  static constexpr int kChunkK = 16 * kSlabs;        // divides 64, hence K and the group size
  static constexpr int kWSlabs = kMma8 ? kSlabs / 2 : kSlabs;  // weight atoms along k per chunk
  static constexpr int kABytes = kEight ? 1 : 2;     // bytes of one activation
  static constexpr int kRowPad = 4;                  // floats of padding per smem row (banks)
  static constexpr int kRow = kTileN + kRowPad;
  static constexpr int kSmemBytes = kWarps * kTileM * kRow * 4;
  // The s8 mma accumulates in s32; without group scales the whole K (and the warp and cluster
  // reductions) stay in integers, exact while |sum| < 2^31 (K < 2^31 / (128 * 8)).
  using Acc = std::conditional_t<kAct == Act::S8 && !kGroupScales, int32_t, float>;

  static_assert(kBits == 4 || kBits == 8, "decode kernel: 4- or 8-bit weights");
  static_assert(kTileN >= 16 && kTileN <= 256 && kTileN % 16 == 0, "decode kernel: N tile a multiple of 16 in 16..256");
  static_assert(kSlabs == 1 || kSlabs == 2 || kSlabs == 4, "decode kernel: 1, 2 or 4 slabs per chunk");
  static_assert(kTileM == 8 || kTileM == 16 || kTileM == 32 || kTileM == 64, "decode kernel: M tile 8, 16, 32 or 64");
  static_assert(kWarps >= 1 && kWarps <= 16, "decode kernel: 1..16 warps");
  static_assert(kStages >= 2 && kStages <= 8, "decode kernel: 2..8 stages");
  static_assert(!(kSigned && kZeros), "decode kernel: signed (GPTQ) types carry no zeros");
  static_assert(kEight || kGroupScales, "decode kernel: 16-bit activations need group scales");
  static_assert(!kEight || (kBits == 4 && kSigned && !kZeros),
                "decode kernel: 8-bit activations take signed 4-bit weights (u4b8) without zeros");
  static_assert(!kEight || kSlabs % 2 == 0, "decode kernel: 8-bit activations need K chunks of 32 or 64");
};

struct Params {
  const void* A;        // [M, K] activations, row stride lda
  const uint32_t* B;    // prepacked weights
  void* D;              // [M, N] output, row stride ldd
  const void* S;        // [ceil(K/g), N] group scales, row stride lds (null: none, W4A8 only)
  const void* Z;        // same as S, or null
  int M, N, K;
  int64_t lda, ldd, lds;
  int group_size;       // a multiple of 64 dividing K (K itself for one group)
  const float* CS = nullptr;  // [N] channel scales (W4A8)
  const float* TS = nullptr;  // [M] token scales (W4A8)
};

// ---- element helpers -----------------------------------------------------------------------

template <bool kBf16> struct Elem;
template <> struct Elem<false> {
  using T2 = __half2;
  static __device__ __forceinline__ float to_float(uint16_t bits) { return __half2float(__ushort_as_half(bits)); }
  static __device__ __forceinline__ T2 pack(float lo, float hi) { return __floats2half2_rn(lo, hi); }
};
template <> struct Elem<true> {
  using T2 = __nv_bfloat162;
  static __device__ __forceinline__ float to_float(uint16_t bits) { return __bfloat162float(__ushort_as_bfloat16(bits)); }
  static __device__ __forceinline__ T2 pack(float lo, float hi) { return __floats2bfloat162_rn(lo, hi); }
};

__device__ __forceinline__ uint32_t hsub2_f16(uint32_t x, uint32_t y) {
  uint32_t r;
  asm("sub.f16x2 %0, %1, %2;" : "=r"(r) : "r"(x), "r"(y));
  return r;
}
__device__ __forceinline__ uint32_t hfma2_f16(uint32_t x, uint32_t y, uint32_t z) {
  uint32_t r;
  asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(r) : "r"(x), "r"(y), "r"(z));
  return r;
}
__device__ __forceinline__ uint32_t hsub2_bf16(uint32_t x, uint32_t y) {
  uint32_t r;
  asm("sub.bf16x2 %0, %1, %2;" : "=r"(r) : "r"(x), "r"(y));
  return r;
}

// Raw integer values of one lane's 8 weights of an atom, as four f16x2/bf16x2 mma A registers.
// Register i holds values (2i, 2i+1) of the lane (prepack_layout.cuh numbering), which are the
// mma.sync m16n8k16 A fragment elements a_{2i}, a_{2i+1}.
template <class Cfg>
__device__ __forceinline__ void dequant_raw(const uint32_t (&w)[Cfg::kWordsPerLane], uint32_t (&r)[4]) {
  if constexpr (Cfg::kBits == 4) {
    // nibbles of the word: [v0 v2 v4 v6 v1 v3 v5 v7] (LSB first), so mask 0x000F000F picks
    // (v0, v1), 0x00F000F0 picks (v2, v3), and the same on w >> 8 gives (v4, v5), (v6, v7).
    constexpr uint32_t kLo = 0x000F000F;
    if constexpr (!Cfg::kBf16) {
      // f16 1024 = 0x6400 has 10 mantissa bits: 0x6400 | u = 1024 + u. The signed variant flips
      // bit 3 of the nibble (u ^ 8 = q + 8 for two's-complement q).
      constexpr uint32_t kHi = 0x00F000F0;
      constexpr uint32_t kMagicLo = Cfg::kSigned ? 0x64086408u : 0x64006400u;
      constexpr uint32_t kMagicHi = Cfg::kSigned ? 0x64806480u : 0x64006400u;
      constexpr uint32_t kSubLo = Cfg::kSigned ? 0x64086408u : 0x64006400u;  // 1032 : 1024
      constexpr uint32_t kMulHi = 0x2C002C00u;                                   // 1/16
      constexpr uint32_t kAddHi = Cfg::kSigned ? 0xD480D480u : 0xD400D400u;    // -72 : -64
      const uint32_t w0 = w[0], w8 = w[0] >> 8;
      r[0] = hsub2_f16((w0 & kLo) ^ kMagicLo, kSubLo);
      r[1] = hfma2_f16((w0 & kHi) ^ kMagicHi, kMulHi, kAddHi);
      r[2] = hsub2_f16((w8 & kLo) ^ kMagicLo, kSubLo);
      r[3] = hfma2_f16((w8 & kHi) ^ kMagicHi, kMulHi, kAddHi);
    } else {
      // bf16 128 = 0x4300 has 7 mantissa bits: 0x4300 | u = 128 + u for u < 16.
      constexpr uint32_t kMagic = Cfg::kSigned ? 0x43084308u : 0x43004300u;
      constexpr uint32_t kSub = Cfg::kSigned ? 0x43084308u : 0x43004300u;  // 136 : 128
      const uint32_t w0 = w[0];
      r[0] = hsub2_bf16((w0 & kLo) ^ kMagic, kSub);
      r[1] = hsub2_bf16(((w0 >> 4) & kLo) ^ kMagic, kSub);
      r[2] = hsub2_bf16(((w0 >> 8) & kLo) ^ kMagic, kSub);
      r[3] = hsub2_bf16(((w0 >> 12) & kLo) ^ kMagic, kSub);
    }
  } else {
    // bytes in order v0..v7 over two words; signed values get their sign bit flipped first
    // (q ^ 0x80 = q + 128 for two's-complement q).
    const uint32_t flip = Cfg::kSigned ? 0x80808080u : 0u;
    const uint32_t w0 = w[0] ^ flip, w1 = w[1] ^ flip;
    if constexpr (!Cfg::kBf16) {
      constexpr uint32_t kSub = Cfg::kSigned ? 0x64806480u : 0x64006400u;  // 1152 : 1024
      r[0] = hsub2_f16(__byte_perm(w0, 0x64646464u, 0x4140), kSub);
      r[1] = hsub2_f16(__byte_perm(w0, 0x64646464u, 0x4342), kSub);
      r[2] = hsub2_f16(__byte_perm(w1, 0x64646464u, 0x4140), kSub);
      r[3] = hsub2_f16(__byte_perm(w1, 0x64646464u, 0x4342), kSub);
    } else {
      // bf16 cannot hold 128 + u for u >= 128 exactly: go through f32 (2^23 magic).
      constexpr float kOff = Cfg::kSigned ? 8388608.0f + 128.0f : 8388608.0f;
      auto pair = [&](uint32_t x, uint32_t sel_lo, uint32_t sel_hi) {
        const float lo = __uint_as_float(__byte_perm(x, 0x4B000000u, sel_lo)) - kOff;
        const float hi = __uint_as_float(__byte_perm(x, 0x4B000000u, sel_hi)) - kOff;
        __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
        return *reinterpret_cast<uint32_t*>(&v);
      };
      r[0] = pair(w0, 0x7650, 0x7651);
      r[1] = pair(w0, 0x7652, 0x7653);
      r[2] = pair(w1, 0x7650, 0x7651);
      r[3] = pair(w1, 0x7652, 0x7653);
    }
  }
}

template <bool kBf16>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (kBf16) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// ---- 8-bit activations (W4A8) ---------------------------------------------------------------
//
// The m16n8k32 mma takes, per lane (r, c) = (lane / 4, lane % 4), A registers {row r, row r + 8} x
// {k 4c..4c+3, k 16+4c..16+4c+3} and B registers {k 4c..4c+3, k 16+4c..} of token r (PTX ISA,
// "Matrix fragments for mma.m16n8k32"). The weights stay in the 16-bit atom layout: two 16-wide
// slabs give a lane rows r and r + 8 at k {2c, 2c+1, 2c+8, 2c+9} of each slab. A dot product does
// not care how k is numbered as long as both operands agree, so logical k 4c + i of the k32 mma is
// mapped to physical k (2c, 2c+8, 2c+1, 2c+9)[i] of the slab, in the weights (free: that is the
// byte order the nibble masks below produce) and in the activations (one byte_perm per register,
// shared by every atom). The slab pair (2j, 2j+1) is the k32 block: logical k 16.. is slab 2j+1.

// One lane's 4-bit word of a slab (nibbles [v0 v2 v4 v6 v1 v3 v5 v7], two's complement after
// prepack) -> s8 bytes (v0, v4, v1, v5) = row r and (v2, v6, v3, v7) = row r + 8.
__device__ __forceinline__ void s4_to_s8(uint32_t w, uint32_t& row_r, uint32_t& row_r8) {
  // per byte, n ^ 8 = q + 8 in 0..15; + 0x78 cannot carry into the next byte; ^ 0x80 then gives
  // q + 8 - 8 (mod 256) = q as two's complement s8.
  row_r = (((w & 0x0F0F0F0Fu) ^ 0x08080808u) + 0x78787878u) ^ 0x80808080u;
  row_r8 = ((((w >> 4) & 0x0F0F0F0Fu) ^ 0x08080808u) + 0x78787878u) ^ 0x80808080u;
}

// In-order nibbles (the 8-bit-MMA atom: nibble i = fragment value i) -> s8 bytes: values 0..3
// (row r) and 4..7 (row r + 8), each sign-extended as in s4_to_s8.
__device__ __forceinline__ void s4_inorder_to_s8(uint32_t w, uint32_t& lo4, uint32_t& hi4) {
  const uint32_t ev = w & 0x0F0F0F0Fu, od = (w >> 4) & 0x0F0F0F0Fu;  // nibbles (0,2,4,6), (1,3,5,7)
  lo4 = ((__byte_perm(ev, od, 0x5140) ^ 0x08080808u) + 0x78787878u) ^ 0x80808080u;
  hi4 = ((__byte_perm(ev, od, 0x7362) ^ 0x08080808u) + 0x78787878u) ^ 0x80808080u;
}

// In-order nibbles [n0 .. n7] -> [n0 n4 n2 n6 n1 n5 n3 n7], so dequant_raw's pairs (i, i + 4) are
// (n0, n1), (n4, n5), (n2, n3), (n6, n7): the f16 m16n8k16 A registers of one 16-wide half of an
// 8-bit-MMA atom, under the k numbering of the e4m3 path (see the kernel).
__device__ __forceinline__ uint32_t mma8_half_to_f16_order(uint32_t w) {
  const uint32_t ev = w & 0x0F0F0F0Fu, od = (w >> 4) & 0x0F0F0F0Fu;
  return __byte_perm(ev, od, 0x5410) | (__byte_perm(ev, od, 0x7632) << 4);
}

__device__ __forceinline__ uint32_t e4m3x2_to_f16x2(uint16_t e2) {
  uint32_t r;
  asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(r) : "h"(e2));  // hi byte -> hi half (exact)
  return r;
}

// A registers of one atom's k32 block from the lane's words of slabs 2j (w0) and 2j+1 (w1), s8.
// (e4m3 activations run on the f16 mma instead: see the kernel.)
__device__ __forceinline__ void convert8(uint32_t w0, uint32_t w1, uint32_t (&q)[4]) {
  s4_to_s8(w0, q[0], q[1]);
  s4_to_s8(w1, q[2], q[3]);
}

__device__ __forceinline__ void mma16832_s8(int32_t (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Reduce the warps' partial tiles (Cfg::Acc: fp32, or s32 for s8 without group scales) through
// shared memory, then the CTAs of the cluster through distributed shared memory, and store the
// output tile (W4A8: times channel_scale[n] * token_scale[m], in fp32, written as f16). `red`
// holds kWarps * kTileM * kRow values and may alias memory the mainloop used (the first barrier
// orders them).
template <class Cfg>
__device__ __forceinline__ void cta_reduce_store(Params const& p,
                                                 const typename Cfg::Acc (&acc)[Cfg::kAtomsN][Cfg::kTokTiles][4],
                                                 typename Cfg::Acc* red) {
  using Acc = typename Cfg::Acc;
  using E = Elem<Cfg::kBf16>;
  constexpr int kAN = Cfg::kAtomsN, kTT = Cfg::kTokTiles, kW = Cfg::kWarps;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int r = lane >> 2, c = lane & 3;
  const int split = gridDim.x, rank = blockIdx.x;
  const int n0 = blockIdx.z * Cfg::kTileN;
  const int m0 = blockIdx.y * Cfg::kTileM;
  const int n_valid = min(Cfg::kTileN, p.N - n0);  // the last tile may be partial
  __syncthreads();  // the mainloop's shared memory (if aliased) is no longer read
  // ---- reduce over the warps of the CTA (shared memory) ----
  Acc* mine = red + warp * (Cfg::kTileM * Cfg::kRow);
#pragma unroll
  for (int a = 0; a < kAN; ++a)
#pragma unroll
    for (int h = 0; h < kTT; ++h)
#pragma unroll
      for (int v = 0; v < 4; ++v) {
        const int n = 16 * a + r + 8 * (v >> 1);
        const int t = 8 * h + 2 * c + (v & 1);
        mine[t * Cfg::kRow + n] = acc[a][h][v];
      }
  __syncthreads();
  constexpr int kElems = Cfg::kTileM * Cfg::kTileN;
  for (int e = threadIdx.x; e < kElems; e += Cfg::kThreads) {
    const int t = e / Cfg::kTileN, n = e % Cfg::kTileN;
    Acc sum = 0;
#pragma unroll
    for (int w = 0; w < kW; ++w) sum += red[w * (Cfg::kTileM * Cfg::kRow) + t * Cfg::kRow + n];
    red[t * Cfg::kRow + n] = sum;
  }

  // ---- reduce over the CTAs of the cluster (distributed shared memory) and store ----
  using T2 = typename E::T2;
  T2* D = static_cast<T2*>(p.D);
  // the pair (n, n + 1) of token t, from its two sums
  auto out = [&](int t, int n, Acc lo, Acc hi) -> T2 {
    if constexpr (Cfg::kEight) {
      const float ts = p.TS[m0 + t];
      return E::pack(float(lo) * (p.CS[n0 + n] * ts), float(hi) * (p.CS[n0 + n + 1] * ts));
    } else {
      return E::pack(lo, hi);
    }
  };
  constexpr int kPairs = kElems / 2;
  if (split == 1) {
    __syncthreads();
    for (int e = threadIdx.x; e < kPairs; e += Cfg::kThreads) {
      const int t = (2 * e) / Cfg::kTileN, n = (2 * e) % Cfg::kTileN;
      if (m0 + t < p.M && n < n_valid)
        D[((m0 + t) * p.ldd + n0 + n) / 2] = out(t, n, red[t * Cfg::kRow + n], red[t * Cfg::kRow + n + 1]);
    }
  } else {
    cg::cluster_group cluster = cg::this_cluster();
    cluster.sync();  // every CTA's partial tile is complete
    const int e_begin = (kPairs * rank) / split, e_end = (kPairs * (rank + 1)) / split;
    for (int e = e_begin + threadIdx.x; e < e_end; e += Cfg::kThreads) {
      const int t = (2 * e) / Cfg::kTileN, n = (2 * e) % Cfg::kTileN;
      Acc lo = 0, hi = 0;
      for (int q = 0; q < split; ++q) {
        const Acc* other = cluster.map_shared_rank(red, q);
        lo += other[t * Cfg::kRow + n];
        hi += other[t * Cfg::kRow + n + 1];
      }
      if (m0 + t < p.M && n < n_valid) D[((m0 + t) * p.ldd + n0 + n) / 2] = out(t, n, lo, hi);
    }
    cluster.sync();  // keep this CTA's shared memory alive until every peer has read it
  }
}

// ---- the shared-memory ring mainloop ---------------------------------------------------------
//
// Each warp streams its chunks through its own ring of stages (see the top of the file). Stage
// layout (bytes):
//   W  [slab][atom][lane words]   kSlabs * kAtomsN * kAtomWords * 4  (a byte copy of the atoms)
//   A  [token][chunk k + pad]     kTileM * kARow                     (pad: conflict-free reads)
//   S  [n]                        kTileN * 2                         (group scales of the chunk)
//   Z  [n]                        kTileN * 2                         (group zeros, AWQ only)
template <class Cfg>
struct RingLayout {
  static constexpr int kW = Cfg::kWSlabs * Cfg::kAtomsN * Cfg::kAtomWords * 4;
  static constexpr int kARow = Cfg::kChunkK * Cfg::kABytes + 16;  // + 16 bytes: conflict-free fragment reads
  static constexpr int kA = Cfg::kTileM * kARow;
  static constexpr int kS = Cfg::kGroupScales ? Cfg::kTileN * 2 : 0;
  static constexpr int kZ = Cfg::kZeros ? Cfg::kTileN * 2 : 0;
  static constexpr int kStage = kW + kA + kS + kZ;
  // stages actually used: the schedule's, reduced until the CTA fits in 200 KB of shared memory
  // (8-bit weights double the weight stage)
  static constexpr int kMaxCtaBytes = 200 * 1024;
  static constexpr int kStages = (kStage * Cfg::kStages * Cfg::kWarps <= kMaxCtaBytes)
                                     ? Cfg::kStages
                                     : (kMaxCtaBytes / (kStage * Cfg::kWarps) < 2 ? 2 : kMaxCtaBytes / (kStage * Cfg::kWarps));
  static constexpr int kWarpBytes = kStage * kStages;
  // the ring, reused after the mainloop for the warps' reduction tiles (Cfg::kSmemBytes)
  static constexpr int kSmemBytes = std::max(kWarpBytes * Cfg::kWarps, Cfg::kSmemBytes);
  static_assert(kStage % 16 == 0, "stage must keep 16-byte alignment");
  static_assert(kSmemBytes <= 227 * 1024, "decode schedule needs more shared memory than an SM has");
};

__device__ __forceinline__ void cp_async16_cg(uint32_t dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dst), "l"(src));
}
__device__ __forceinline__ void cp_async16_ca(uint32_t dst, const void* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 16;" ::"r"(dst), "l"(src));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N)); }
__device__ __forceinline__ uint32_t lds32(uint32_t addr) {
  uint32_t v;
  asm volatile("ld.shared.b32 %0, [%1];" : "=r"(v) : "r"(addr));
  return v;
}
__device__ __forceinline__ uint2 lds64(uint32_t addr) {
  uint2 v;
  asm volatile("ld.shared.v2.b32 {%0, %1}, [%2];" : "=r"(v.x), "=r"(v.y) : "r"(addr));
  return v;
}
__device__ __forceinline__ uint16_t lds16(uint32_t addr) {
  uint16_t v;
  asm volatile("ld.shared.u16 %0, [%1];" : "=h"(v) : "r"(addr));
  return v;
}

// Fragment arrays [atoms or 1][token tiles][4] of the mainloop: set to zero, and add a per-row
// factor times a C fragment (v = 0, 1 -> row r: `lo`; v = 2, 3 -> row r + 8: `hi`).
template <class T, int kA, int kB>
__device__ __forceinline__ void zero_fill(T (&x)[kA][kB][4]) {
#pragma unroll
  for (int a = 0; a < kA; ++a)
#pragma unroll
    for (int b = 0; b < kB; ++b)
#pragma unroll
      for (int v = 0; v < 4; ++v) x[a][b][v] = 0;
}

template <int kTT, class T>
__device__ __forceinline__ void fma_rows(float (&acc)[kTT][4], float lo, float hi, const T (&x)[kTT][4]) {
#pragma unroll
  for (int h = 0; h < kTT; ++h) {
    acc[h][0] = fmaf(lo, float(x[h][0]), acc[h][0]);
    acc[h][1] = fmaf(lo, float(x[h][1]), acc[h][1]);
    acc[h][2] = fmaf(hi, float(x[h][2]), acc[h][2]);
    acc[h][3] = fmaf(hi, float(x[h][3]), acc[h][3]);
  }
}

// One chunk of the W4A8 mainloop on the stage at `st` (8-bit activations; see convert8 for the k
// numbering). With group scales the chunk's partial sums (s32 for s8: exact, a chunk sums at most
// 64 * 128 * 8) are scaled in fp32 into acc; without, the mma accumulates into acc directly.
template <class Cfg>
__device__ __forceinline__ void compute_chunk8(uint32_t st, int lane, typename Cfg::Acc (&acc)[Cfg::kAtomsN][Cfg::kTokTiles][4]) {
  using L = RingLayout<Cfg>;
  static_assert(Cfg::kAct == Act::S8, "compute_chunk8 is the s8 mainloop");
  using Part = int32_t;
  constexpr int kAN = Cfg::kAtomsN, kTT = Cfg::kTokTiles, kPairs = Cfg::kSlabs / 2;
  const int r = lane >> 2, c = lane & 3;
  // activation fragments: token 8h + r, physical k (2c, 2c+8, 2c+1, 2c+9) (+16) of k32 block j
  uint32_t bf[kTT][kPairs][2];
#pragma unroll
  for (int h = 0; h < kTT; ++h)
#pragma unroll
    for (int j = 0; j < kPairs; ++j) {
      if constexpr (Cfg::kMma8) {  // the natural k order: 4 bytes at k 4c (and 16 + 4c)
        const uint32_t ap = st + L::kW + (8 * h + r) * L::kARow + 32 * j + 4 * c;
        bf[h][j][0] = lds32(ap);
        bf[h][j][1] = lds32(ap + 16);
      } else {
        const uint32_t ap = st + L::kW + (8 * h + r) * L::kARow + 32 * j + 2 * c;
        bf[h][j][0] = __byte_perm(lds16(ap), lds16(ap + 8), 0x5140);
        bf[h][j][1] = __byte_perm(lds16(ap + 16), lds16(ap + 24), 0x5140);
      }
    }
  auto mma_chunk = [&](Part (&out)[kAN][kTT][4]) {
#pragma unroll
    for (int j = 0; j < kPairs; ++j)
#pragma unroll
      for (int a = 0; a < kAN; ++a) {
        uint32_t q[4];
        if constexpr (Cfg::kMma8) {  // the lane's 16 in-order values of the 16 x 32 atom
          const uint2 w = lds64(st + ((j * kAN + a) * Cfg::kAtomWords + 2 * lane) * 4);
          s4_inorder_to_s8(w.x, q[0], q[1]);
          s4_inorder_to_s8(w.y, q[2], q[3]);
        } else {
          const uint32_t w0 = lds32(st + ((2 * j * kAN + a) * Cfg::kAtomWords + lane) * 4);
          const uint32_t w1 = lds32(st + (((2 * j + 1) * kAN + a) * Cfg::kAtomWords + lane) * 4);
          convert8(w0, w1, q);
        }
#pragma unroll
        for (int h = 0; h < kTT; ++h) mma16832_s8(out[a][h], q, bf[h][j][0], bf[h][j][1]);
      }
  };
  if constexpr (Cfg::kGroupScales) {
    Part part[kAN][kTT][4];
    zero_fill(part);
    mma_chunk(part);
#pragma unroll
    for (int a = 0; a < kAN; ++a) {
      const uint32_t sp = st + L::kW + L::kA + (16 * a + r) * 2;
      fma_rows(acc[a], Elem<false>::to_float(lds16(sp)), Elem<false>::to_float(lds16(sp + 16)), part[a]);
    }
  } else {
    mma_chunk(acc);
  }
}

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads) decode_mm_ring_kernel(const Params p) {
  using E = Elem<Cfg::kBf16>;
  using L = RingLayout<Cfg>;
  constexpr int kAN = Cfg::kAtomsN, kTT = Cfg::kTokTiles, kS = L::kStages, kW = Cfg::kWarps;
  constexpr int kWpl = Cfg::kWordsPerLane;
  using Acc = typename Cfg::Acc;
  extern __shared__ float4 smem_f4[];
  Acc* red = reinterpret_cast<Acc*>(smem_f4);

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int r = lane >> 2, c = lane & 3;
  const int split = gridDim.x, rank = blockIdx.x;
  const int n0 = blockIdx.z * Cfg::kTileN;
  const int m0 = blockIdx.y * Cfg::kTileM;
  // atoms of this CTA: kAtomsN, fewer in the last tile when N % kTileN != 0. Atoms past the end
  // are neither copied nor stored; their mma rows compute on stale shared memory and are dropped.
  const int my_atoms = min(kAN, p.N / 16 - n0 / 16);

  const int chunks = p.K / Cfg::kChunkK;
  const int chunks_per_group = p.group_size / Cfg::kChunkK;
  const int c_begin = int((int64_t(chunks) * rank) / split);
  const int c_end = int((int64_t(chunks) * (rank + 1)) / split);
  const int iters = (c_end - c_begin - warp + kW - 1) / kW;

  const uint32_t ring = static_cast<uint32_t>(__cvta_generic_to_shared(smem_f4)) + warp * L::kWarpBytes;
  const int64_t slab_stride = int64_t(p.N / 16) * Cfg::kAtomWords;  // words
  const uint32_t* wsrc = p.B + int64_t(n0 / 16) * Cfg::kAtomWords;
  const int rows = min(Cfg::kTileM, p.M - m0);  // valid token rows of this tile
  const char* abase = static_cast<const char*>(p.A) + int64_t(m0) * p.lda * Cfg::kABytes;
  const char* sbase = static_cast<const char*>(p.S) + int64_t(n0) * 2;
  const char* zbase = static_cast<const char*>(p.Z) + int64_t(n0) * 2;

  auto issue = [&](int i) {
    const int chunk = c_begin + warp + i * kW;
    const uint32_t st = ring + (i % kS) * L::kStage;
    // weights: per slab, kAN atoms are one contiguous run of kAN * kAtomWords words
    constexpr int kPiecesPerSlab = kAN * Cfg::kAtomWords / 4;
    constexpr int kPieces = Cfg::kWSlabs * kPiecesPerSlab;
    const uint32_t* wchunk = wsrc + int64_t(chunk) * Cfg::kWSlabs * slab_stride;
    const int my_pieces = my_atoms * (Cfg::kAtomWords / 4);
#pragma unroll
    for (int q = lane; q < kPieces; q += 32) {
      const int j = q / kPiecesPerSlab, o = q % kPiecesPerSlab;
      if (o < my_pieces) cp_async16_cg(st + q * 16, wchunk + j * slab_stride + o * 4);
    }
    // activations: rows of kChunkK k (16-byte pieces); rows past M are left unwritten (their mma
    // columns are never stored)
    constexpr int kRowPieces = Cfg::kChunkK * Cfg::kABytes / 16;
#pragma unroll
    for (int q = lane; q < Cfg::kTileM * kRowPieces; q += 32) {
      const int t = q / kRowPieces, o = q % kRowPieces;
      if (t < rows)
        cp_async16_ca(st + L::kW + t * L::kARow + o * 16,
                      abase + (int64_t(t) * p.lda + int64_t(chunk) * Cfg::kChunkK) * Cfg::kABytes + o * 16);
    }
    const int64_t goff = int64_t(chunk / chunks_per_group) * p.lds * 2;
#pragma unroll
    for (int q = lane; q < Cfg::kTileN / 8; q += 32) {
      if (Cfg::kGroupScales && q < 2 * my_atoms) {
        cp_async16_ca(st + L::kW + L::kA + q * 16, sbase + goff + q * 16);
        if constexpr (Cfg::kZeros) cp_async16_ca(st + L::kW + L::kA + L::kS + q * 16, zbase + goff + q * 16);
      }
    }
  };

  Acc acc[kAN][kTT][4];
  zero_fill(acc);

#pragma unroll
  for (int s = 0; s < kS - 1; ++s) {
    if (s < iters) issue(s);
    cp_async_commit();
  }
  for (int i = 0; i < iters; ++i) {
    cp_async_wait<kS - 2>();
    __syncwarp();  // chunk i visible to the whole warp; stage (i - 1) % kS no longer read
    if (i + kS - 1 < iters) issue(i + kS - 1);
    cp_async_commit();

    const uint32_t st = ring + (i % kS) * L::kStage;
    if constexpr (Cfg::kAct == Act::S8) {
      compute_chunk8<Cfg>(st, lane, acc);
    } else {
      // activation fragments of the chunk (shared by every atom)
      uint32_t bf[kTT][Cfg::kSlabs][2];
#pragma unroll
      for (int h = 0; h < kTT; ++h)
#pragma unroll
        for (int j = 0; j < Cfg::kSlabs; ++j) {
          if constexpr (Cfg::kAct == Act::E4M3 && Cfg::kMma8) {
            // 8-bit-MMA atom: 16-wide slab j is half j % 2 of atom j / 2, whose lane holds k
            // 4c..4c+3 (rows r, r + 8); the f16 mma's k (2c, 2c+1, 2c+8, 2c+9) are numbered onto
            // them, so one 32-bit load of 4 activation bytes at k 4c gives both B registers.
            const uint32_t x = lds32(st + L::kW + (8 * h + r) * L::kARow + 16 * j + 4 * c);
            bf[h][j][0] = e4m3x2_to_f16x2(uint16_t(x));
            bf[h][j][1] = e4m3x2_to_f16x2(uint16_t(x >> 16));
          } else if constexpr (Cfg::kAct == Act::E4M3) {
            // e4m3 activations run on the f16 mma: e4m3 -> f16 is exact, and so is the product
            // with q (4 + 4 significant bits), so this is the W4A8 e4m3 semantics at f16 mma rate
            // with the 16-bit path's cheap weight conversion (the e4m3 mma needs a per-weight
            // f16 -> e4m3 cvt, which measured 1.6-2x slower at M = 1..64 on the H100).
            const uint32_t ap = st + L::kW + (8 * h + r) * L::kARow + 16 * j + 2 * c;
            bf[h][j][0] = e4m3x2_to_f16x2(lds16(ap));
            bf[h][j][1] = e4m3x2_to_f16x2(lds16(ap + 8));
          } else {
            const uint32_t ap = st + L::kW + (8 * h + r) * L::kARow + (16 * j + 2 * c) * 2;
            bf[h][j][0] = lds32(ap);
            bf[h][j][1] = lds32(ap + 16);
          }
        }
      // sum of the activations over the chunk (zeros only): one mma with an all-ones A per slab
      float asum[kTT][4];
      if constexpr (Cfg::kZeros) {
        constexpr uint32_t kOnes = Cfg::kBf16 ? 0x3F803F80u : 0x3C003C00u;
        const uint32_t ones[4] = {kOnes, kOnes, kOnes, kOnes};
#pragma unroll
        for (int h = 0; h < kTT; ++h) {
#pragma unroll
          for (int v = 0; v < 4; ++v) asum[h][v] = 0.f;
#pragma unroll
          for (int j = 0; j < Cfg::kSlabs; ++j) mma16816<Cfg::kBf16>(asum[h], ones, bf[h][j][0], bf[h][j][1]);
        }
      }
      // every atom and slab of the chunk is independent until the scale step: unrolled, the
      // dequant -> mma chains interleave (the ILP is what hides shared-memory and mma latency with
      // only a few warps per scheduler).
      float part[kAN][kTT][4];
      zero_fill(part);
#pragma unroll
      for (int j = 0; j < Cfg::kSlabs; ++j) {
#pragma unroll
        for (int a = 0; a < kAN; ++a) {
          uint32_t w[kWpl];
          const uint32_t wp = st + ((j * kAN + a) * Cfg::kAtomWords + lane * kWpl) * 4;
          if constexpr (Cfg::kMma8) {  // half j % 2 of the lane's 8-bit-MMA atom (4-bit weights)
            w[0] = mma8_half_to_f16_order(lds32(st + (((j / 2) * kAN + a) * Cfg::kAtomWords + 2 * lane + j % 2) * 4));
          } else if constexpr (kWpl == 1) {
            w[0] = lds32(wp);
          } else {
            const uint2 v = lds64(wp);
            w[0] = v.x;
            w[kWpl - 1] = v.y;
          }
          uint32_t q[4];
          dequant_raw<Cfg>(w, q);
#pragma unroll
          for (int h = 0; h < kTT; ++h) mma16816<Cfg::kBf16>(part[a][h], q, bf[h][j][0], bf[h][j][1]);
        }
      }
      // C fragment: v = 0, 1 -> row r, v = 2, 3 -> row r + 8 (rows are output features)
#pragma unroll
      for (int a = 0; a < kAN; ++a) {
        const uint32_t sp = st + L::kW + L::kA + (16 * a + r) * 2;
        if constexpr (!Cfg::kGroupScales) {  // e4m3 without group scales: the chunk sums as they are
#pragma unroll
          for (int h = 0; h < kTT; ++h)
#pragma unroll
            for (int v = 0; v < 4; ++v) acc[a][h][v] += part[a][h][v];
          continue;
        }
        fma_rows(acc[a], E::to_float(lds16(sp)), E::to_float(lds16(sp + 16)), part[a]);
        if constexpr (Cfg::kZeros)
          fma_rows(acc[a], E::to_float(lds16(sp + L::kS)), E::to_float(lds16(sp + L::kS + 16)), asum);
      }
    }
  }
  cp_async_wait<0>();
  cta_reduce_store<Cfg>(p, acc, red);
}

// ---- host side -----------------------------------------------------------------------------

// Co-resident clusters of each size (index s = 1..8 CTAs per cluster) for one kernel on one
// device, from cudaOccupancyMaxActiveClusters: it accounts for the GPC layout, so a cluster of 8
// on a GPC of 18 SMs leaves 2 of them idle, which "SMs / s" would not see. 0 = not launchable.
struct ClusterCapacity {
  static constexpr int kMaxSplit = 8;
  int clusters[kMaxSplit + 1] = {};
  int sms = 0;  // SMs of the device the capacity was measured on
};

// The split (cluster size) for a grid of `tiles` output tiles of `chunks` K chunks each, given the
// device capacity and the SMs the caller may use (sm_count <= 0: all). Cost model, in units of one
// warp's chunk time:
//   cost(s) = waves * (ceil(ceil(chunks / s) / warps) + kCtaCost + kReduceCost * (s - 1) / s)
//             + kWaveCost * (waves - 1),          waves = ceil(tiles / co-resident clusters of s)
// and the smallest split within 1% of the minimum wins. Splits need not be powers of two (3 and 6
// tile a GPC of 18 SMs exactly); every split considered gives each warp at least one chunk. The
// constants were fitted to a forced-split sweep on the H100 (9 configurations x 8 layers x
// M = 1..64, scripts/decode_dev/README.md): the chosen split is 0.8% slower than the best forced
// split in geomean and at most 16% slower at one point (the previous rule, "largest power of two
// that keeps the grid resident", 5.5% and 57% on the same data).
inline int choose_split(ClusterCapacity const& cap, int tiles, int chunks, int warps, int sm_count) {
  constexpr float kCtaCost = 2.f, kReduceCost = 1.f, kWaveCost = 4.f;
  int best = 1;
  float best_cost = 0.f;
  for (int s = 1; s <= ClusterCapacity::kMaxSplit; ++s) {
    if (s > 1 && chunks < s * warps) break;
    int64_t clusters = cap.clusters[s];
    if (sm_count > 0 && cap.sms > 0 && sm_count < cap.sms) clusters = clusters * sm_count / cap.sms;
    if (clusters < 1) continue;
    const int64_t waves = (tiles + clusters - 1) / clusters;
    const int per_warp = ((chunks + s - 1) / s + warps - 1) / warps;
    const float cost = float(waves) * (float(per_warp) + kCtaCost + kReduceCost * float(s - 1) / float(s)) +
                       kWaveCost * float(waves - 1);
    if (s == 1 || cost < 0.99f * best_cost) {
      best = s;
      best_cost = cost;
    }
  }
  return best;
}

template <class Cfg>
struct Launcher {
  static constexpr int kSmem = RingLayout<Cfg>::kSmemBytes;
  static constexpr auto kernel() { return decode_mm_ring_kernel<Cfg>; }
  static constexpr int kMaxDevices = 64;

  // The launch configuration of a grid whose x extent is `split`-CTA clusters (used both for the
  // capacity query and for the launch); `attr` holds the cluster attribute cfg points at.
  static cudaLaunchConfig_t config(dim3 grid, int split, cudaStream_t stream, cudaLaunchAttribute& attr) {
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = unsigned(split);
    attr.val.clusterDim.y = 1;
    attr.val.clusterDim.z = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = dim3(Cfg::kThreads, 1, 1);
    cfg.dynamicSmemBytes = kSmem;
    cfg.stream = stream;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
    return cfg;
  }

  // Raises the kernel's dynamic shared-memory limit and measures its cluster capacity, once per
  // device (both are per-device facts; the launch goes to the current device).
  static ClusterCapacity const& capacity() {
    static ClusterCapacity caps[kMaxDevices];
    static std::once_flag once[kMaxDevices];
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= kMaxDevices) dev = 0;
    std::call_once(once[dev], [dev] {
      ClusterCapacity& c = caps[dev];
      if (kSmem > 48 * 1024) cudaFuncSetAttribute(kernel(), cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
      cudaDeviceGetAttribute(&c.sms, cudaDevAttrMultiProcessorCount, dev);
      for (int s = 1; s <= ClusterCapacity::kMaxSplit; ++s) {
        cudaLaunchAttribute attr;
        const cudaLaunchConfig_t cfg = config(dim3(unsigned(s), 1, 1), s, nullptr, attr);
        int n = 0;
        if (cudaOccupancyMaxActiveClusters(&n, kernel(), &cfg) != cudaSuccess) {
          n = 0;               // this size cannot launch here: never chosen
          cudaGetLastError();  // and the query's error is not left for the caller's next check
        }
        c.clusters[s] = n;
      }
      if (c.clusters[1] < 1) c.clusters[1] = c.sms > 0 ? c.sms : 1;
    });
    return caps[dev];
  }

  static int split_for(Params const& p, int sm_count) {
    const int n_tiles = (p.N + Cfg::kTileN - 1) / Cfg::kTileN;
    const int m_tiles = (p.M + Cfg::kTileM - 1) / Cfg::kTileM;
    return choose_split(capacity(), n_tiles * m_tiles, p.K / Cfg::kChunkK, Cfg::kWarps, sm_count);
  }

  // Returns a CUDA error; shape validation is the caller's (the op layer and MacheteKernel).
  // sm_count <= 0: all SMs of the device; split_override > 0 forces the cluster size.
  static cudaError_t launch(Params const& p, int sm_count, int split_override, cudaStream_t stream) {
    const int n_tiles = (p.N + Cfg::kTileN - 1) / Cfg::kTileN;
    const int m_tiles = (p.M + Cfg::kTileM - 1) / Cfg::kTileM;
    ClusterCapacity const& cap = capacity();  // also raises the shared-memory limit on this device
    const int split = split_override > 0
                          ? split_override
                          : choose_split(cap, n_tiles * m_tiles, p.K / Cfg::kChunkK, Cfg::kWarps, sm_count);
    cudaLaunchAttribute attr;
    const cudaLaunchConfig_t cfg =
        config(dim3(unsigned(split), unsigned(m_tiles), unsigned(n_tiles)), split, stream, attr);
    return cudaLaunchKernelEx(&cfg, kernel(), p);
  }
};

}  // namespace decode
}  // namespace machete
