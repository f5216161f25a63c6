// machete/decode_kernel.cuh -- the small-M ("decode") mainloop: a weight-streaming split-K GEMM
// on mma.sync tensor-core instructions, reading the same prepacked weights as the CUTLASS kernels.
//
// Why a second kernel. At M <= 16 a mixed-input GEMM is a pass over the weights: the floor is the
// int4 bytes over DRAM bandwidth. CUTLASS's warp-specialized collective runs one 384-thread CTA
// per SM holding ~200 KB of shared memory and a TMA pipeline sized for large tiles; at M = 1 it
// keeps too few bytes in flight per SM (ncu: DRAM ~50% of peak). This kernel instead
//   * streams weights straight from global memory into registers (no shared-memory staging):
//     one prepacked 16x16 atom is 32 consecutive 32-bit words (4-bit) and lane l's word *is* its
//     mma.sync m16n8k16 A fragment (prepack_layout.cuh: the wgmma A fragment of one warp is the
//     mma.sync A fragment), so a warp load of 128 contiguous bytes feeds one mma with no shuffle;
//   * keeps kStages chunks of loads in flight per warp (a register ring), with many warps per SM;
//   * splits K three ways: across the warps of a CTA (reduced through shared memory), across the
//     CTAs of a thread-block cluster (reduced through distributed shared memory, no global
//     workspace, no atomics, no counters -- safe under CUDA graphs and on concurrent streams), and
//     the run-time picks the cluster size (1..8) that fills the GPU for the given N and K;
//   * converts weights with the magic-number trick (one lop3 + one hsub2/hfma2 per pair) into the
//     raw integer value q, runs the mma on q, and applies the group scale (and zero) once per
//     64-wide K chunk to the fp32 partial sums: dequant(q) = q*s + z, summed over a chunk of one
//     group, is s * sum(q*a) + z * sum(a); sum(a) comes from one extra mma with an all-ones A.
//
// Work decomposition, for a CTA of kWarps warps and tile (kTileN x kTileM):
//   grid = (split, N / kTileN, ceil(M / kTileM)), cluster = (split, 1, 1).
//   K is cut into 64-wide chunks (K % 64 == 0; the group size is a multiple of 64, so one chunk
//   lies in one group). Cluster rank r takes chunks [r*C/split, (r+1)*C/split); warp w of the CTA
//   takes every kWarps-th of those. A chunk for one warp is kAtomsN atoms (16 n each) x 4 k-slabs.
//
// Everything here is plain CUDA (no CUTLASS collective), so a translation unit of decode kernels
// compiles in seconds.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace machete {
namespace decode {

namespace cg = cooperative_groups;

// ---- compile-time configuration ------------------------------------------------------------

template <bool kBf16_, int kBits_, bool kSigned_, bool kZeros_, int kTileN_, int kTileM_,
          int kWarps_, int kStages_, bool kRing_ = true>
struct Config {
  static constexpr bool kBf16 = kBf16_;     // activations, scales, zeros and output are bf16 (else f16)
  static constexpr int kBits = kBits_;      // 4 or 8
  static constexpr bool kSigned = kSigned_; // stored values are two's complement (GPTQ after prepack)
  static constexpr bool kZeros = kZeros_;   // group zeros present (AWQ)
  static constexpr int kTileN = kTileN_;    // output features per CTA
  static constexpr int kTileM = kTileM_;    // tokens per CTA
  static constexpr int kWarps = kWarps_;
  static constexpr int kStages = kStages_;  // chunks of loads in flight per warp
  static constexpr bool kRing = kRing_;     // shared-memory ring mainloop (else register ring)

  static constexpr int kAtomsN = kTileN / 16;
  static constexpr int kTokTiles = kTileM / 8;       // mma n = 8 tokens each
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kWordsPerLane = kBits / 4;    // 32-bit words of one lane per atom
  static constexpr int kAtomWords = 32 * kWordsPerLane;
  static constexpr int kSlabs = 4;                   // 16-wide k slabs per 64-wide chunk
  static constexpr int kRowPad = 4;                  // floats of padding per smem row (banks)
  static constexpr int kRow = kTileN + kRowPad;
  static constexpr int kSmemBytes = kWarps * kTileM * kRow * 4;

  static_assert(kBits == 4 || kBits == 8, "decode kernel: 4- or 8-bit weights");
  static_assert(kTileN % 16 == 0 && kTileN >= 16 && 128 % kTileN == 0, "decode kernel: N tile 16..128 dividing 128");
  static_assert(kTileM == 8 || kTileM == 16 || kTileM == 32, "decode kernel: M tile 8, 16 or 32");
  static_assert(kWarps >= 1 && kWarps <= 16, "decode kernel: 1..16 warps");
  static_assert(kStages >= 2 && kStages <= 8, "decode kernel: 2..8 stages");
  static_assert(!(kSigned && kZeros), "decode kernel: signed (GPTQ) types carry no zeros");
};

struct Params {
  const void* A;        // [M, K] activations, row stride lda
  const uint32_t* B;    // prepacked weights
  void* D;              // [M, N] output, row stride ldd
  const void* S;        // [ceil(K/g), N] group scales, row stride lds
  const void* Z;        // same as S, or null
  int M, N, K;
  int64_t lda, ldd, lds;
  int chunks_per_group; // group_size / 64
};

// ---- element helpers -----------------------------------------------------------------------

template <bool kBf16> struct Elem;
template <> struct Elem<false> {
  using T = __half;
  using T2 = __half2;
  static __device__ __forceinline__ float to_float(uint16_t bits) { return __half2float(__ushort_as_half(bits)); }
  static __device__ __forceinline__ T2 pack(float lo, float hi) { return __floats2half2_rn(lo, hi); }
};
template <> struct Elem<true> {
  using T = __nv_bfloat16;
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

// Streaming 32-bit / 64-bit loads of weights: read once, keep out of L1.
__device__ __forceinline__ void ld_stream(uint32_t (&w)[1], const uint32_t* p) {
  asm volatile("ld.global.nc.L1::no_allocate.b32 %0, [%1];" : "=r"(w[0]) : "l"(p));
}
__device__ __forceinline__ void ld_stream(uint32_t (&w)[2], const uint32_t* p) {
  asm volatile("ld.global.nc.L1::no_allocate.v2.b32 {%0, %1}, [%2];" : "=r"(w[0]), "=r"(w[1]) : "l"(p));
}

// One chunk's operands for one warp, held in registers while in flight.
template <class Cfg>
struct Stage {
  uint32_t w[Cfg::kAtomsN][Cfg::kSlabs][Cfg::kWordsPerLane];
  uint32_t a[Cfg::kTokTiles][Cfg::kSlabs][2];
  uint16_t s[Cfg::kAtomsN][2];
  uint16_t z[Cfg::kZeros ? Cfg::kAtomsN : 1][2];
};

// Reduce the warps' fp32 partial tiles through shared memory, then the CTAs of the cluster through
// distributed shared memory, and store the output tile. `red` holds kWarps * kTileM * kRow floats
// and may alias memory the mainloop used (the first barrier orders them).
template <class Cfg>
__device__ __forceinline__ void cta_reduce_store(Params const& p,
                                                 const float (&acc)[Cfg::kAtomsN][Cfg::kTokTiles][4],
                                                 float* red) {
  using E = Elem<Cfg::kBf16>;
  constexpr int kAN = Cfg::kAtomsN, kTT = Cfg::kTokTiles, kW = Cfg::kWarps;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int r = lane >> 2, c = lane & 3;
  const int split = gridDim.x, rank = blockIdx.x;
  const int n0 = blockIdx.y * Cfg::kTileN;
  const int m0 = blockIdx.z * Cfg::kTileM;
  __syncthreads();  // the mainloop's shared memory (if aliased) is no longer read
  // ---- reduce over the warps of the CTA (shared memory) ----
  float* mine = red + warp * (Cfg::kTileM * Cfg::kRow);
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
    float sum = 0.f;
#pragma unroll
    for (int w = 0; w < kW; ++w) sum += red[w * (Cfg::kTileM * Cfg::kRow) + t * Cfg::kRow + n];
    red[t * Cfg::kRow + n] = sum;
  }

  // ---- reduce over the CTAs of the cluster (distributed shared memory) and store ----
  using T2 = typename E::T2;
  T2* D = static_cast<T2*>(p.D);
  constexpr int kPairs = kElems / 2;
  if (split == 1) {
    __syncthreads();
    for (int e = threadIdx.x; e < kPairs; e += Cfg::kThreads) {
      const int t = (2 * e) / Cfg::kTileN, n = (2 * e) % Cfg::kTileN;
      if (m0 + t < p.M)
        D[((m0 + t) * p.ldd + n0 + n) / 2] = E::pack(red[t * Cfg::kRow + n], red[t * Cfg::kRow + n + 1]);
    }
  } else {
    cg::cluster_group cluster = cg::this_cluster();
    cluster.sync();  // every CTA's partial tile is complete
    const int e_begin = (kPairs * rank) / split, e_end = (kPairs * (rank + 1)) / split;
    for (int e = e_begin + threadIdx.x; e < e_end; e += Cfg::kThreads) {
      const int t = (2 * e) / Cfg::kTileN, n = (2 * e) % Cfg::kTileN;
      float lo = 0.f, hi = 0.f;
      for (int q = 0; q < split; ++q) {
        const float* other = cluster.map_shared_rank(red, q);
        lo += other[t * Cfg::kRow + n];
        hi += other[t * Cfg::kRow + n + 1];
      }
      if (m0 + t < p.M) D[((m0 + t) * p.ldd + n0 + n) / 2] = E::pack(lo, hi);
    }
    cluster.sync();  // keep this CTA's shared memory alive until every peer has read it
  }
}

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads) decode_mm_kernel(const Params p) {
  using E = Elem<Cfg::kBf16>;
  constexpr int kAN = Cfg::kAtomsN, kTT = Cfg::kTokTiles, kS = Cfg::kStages, kW = Cfg::kWarps;
  extern __shared__ float4 smem_f4[];
  float* red = reinterpret_cast<float*>(smem_f4);  // [kWarps][kTileM][kRow]

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int r = lane >> 2, c = lane & 3;
  const int split = gridDim.x, rank = blockIdx.x;
  const int n0 = blockIdx.y * Cfg::kTileN;
  const int m0 = blockIdx.z * Cfg::kTileM;

  // this CTA's chunk range, and this warp's share of it (every kW-th chunk)
  const int chunks = p.K / 64;
  const int c_begin = int((int64_t(chunks) * rank) / split);
  const int c_end = int((int64_t(chunks) * (rank + 1)) / split);
  const int iters = (c_end - c_begin - warp + kW - 1) / kW;  // <= 0: nothing to do

  // weight words: atom (n/16, slab) at word (n/16 + (N/16)*slab) * kAtomWords, lane's words after
  const int64_t slab_stride = int64_t(p.N / 16) * Cfg::kAtomWords;
  const uint32_t* wbase = p.B + int64_t(n0 / 16) * Cfg::kAtomWords + lane * Cfg::kWordsPerLane;

  // activation rows this lane feeds (token r of each 8-token tile); rows past M read as zero
  const char* arow[kTT];
  bool avalid[kTT];
#pragma unroll
  for (int h = 0; h < kTT; ++h) {
    const int t = m0 + 8 * h + r;
    avalid[h] = t < p.M;
    arow[h] = static_cast<const char*>(p.A) + (int64_t(avalid[h] ? t : 0) * p.lda + 2 * c) * 2;
  }
  const uint16_t* sbase = static_cast<const uint16_t*>(p.S) + n0 + r;
  const uint16_t* zbase = static_cast<const uint16_t*>(p.Z) + n0 + r;

  auto load = [&](Stage<Cfg>& st, int i) {
    const int chunk = c_begin + warp + i * kW;
    const uint32_t* wp = wbase + int64_t(chunk) * Cfg::kSlabs * slab_stride;
#pragma unroll
    for (int j = 0; j < Cfg::kSlabs; ++j)
#pragma unroll
      for (int a = 0; a < kAN; ++a) ld_stream(st.w[a][j], wp + j * slab_stride + a * Cfg::kAtomWords);
#pragma unroll
    for (int h = 0; h < kTT; ++h)
#pragma unroll
      for (int j = 0; j < Cfg::kSlabs; ++j) {
        const uint32_t* ap = reinterpret_cast<const uint32_t*>(arow[h] + (chunk * 64 + 16 * j) * 2);
        st.a[h][j][0] = avalid[h] ? __ldg(ap) : 0u;
        st.a[h][j][1] = avalid[h] ? __ldg(ap + 4) : 0u;
      }
    const int64_t goff = int64_t(chunk / p.chunks_per_group) * p.lds;
#pragma unroll
    for (int a = 0; a < kAN; ++a) {
      st.s[a][0] = __ldg(sbase + goff + 16 * a);
      st.s[a][1] = __ldg(sbase + goff + 16 * a + 8);
      if constexpr (Cfg::kZeros) {
        st.z[a][0] = __ldg(zbase + goff + 16 * a);
        st.z[a][1] = __ldg(zbase + goff + 16 * a + 8);
      }
    }
  };

  float acc[kAN][kTT][4];
#pragma unroll
  for (int a = 0; a < kAN; ++a)
#pragma unroll
    for (int h = 0; h < kTT; ++h)
#pragma unroll
      for (int v = 0; v < 4; ++v) acc[a][h][v] = 0.f;

  auto compute = [&](const Stage<Cfg>& st) {
    float part[kAN][kTT][4];
    float asum[kTT][4];
#pragma unroll
    for (int a = 0; a < kAN; ++a)
#pragma unroll
      for (int h = 0; h < kTT; ++h)
#pragma unroll
        for (int v = 0; v < 4; ++v) part[a][h][v] = 0.f;
#pragma unroll
    for (int h = 0; h < kTT; ++h)
#pragma unroll
      for (int v = 0; v < 4; ++v) asum[h][v] = 0.f;
#pragma unroll
    for (int j = 0; j < Cfg::kSlabs; ++j) {
#pragma unroll
      for (int a = 0; a < kAN; ++a) {
        uint32_t q[4];
        dequant_raw<Cfg>(st.w[a][j], q);
#pragma unroll
        for (int h = 0; h < kTT; ++h) mma16816<Cfg::kBf16>(part[a][h], q, st.a[h][j][0], st.a[h][j][1]);
      }
      if constexpr (Cfg::kZeros) {
        constexpr uint32_t kOnes = Cfg::kBf16 ? 0x3F803F80u : 0x3C003C00u;
        const uint32_t ones[4] = {kOnes, kOnes, kOnes, kOnes};
#pragma unroll
        for (int h = 0; h < kTT; ++h) mma16816<Cfg::kBf16>(asum[h], ones, st.a[h][j][0], st.a[h][j][1]);
      }
    }
    // C fragment: v = 0, 1 -> row r, v = 2, 3 -> row r + 8 (rows are output features)
#pragma unroll
    for (int a = 0; a < kAN; ++a) {
      const float s_lo = E::to_float(st.s[a][0]), s_hi = E::to_float(st.s[a][1]);
      float z_lo = 0.f, z_hi = 0.f;
      if constexpr (Cfg::kZeros) {
        z_lo = E::to_float(st.z[a][0]);
        z_hi = E::to_float(st.z[a][1]);
      }
#pragma unroll
      for (int h = 0; h < kTT; ++h) {
        acc[a][h][0] = fmaf(s_lo, part[a][h][0], acc[a][h][0]);
        acc[a][h][1] = fmaf(s_lo, part[a][h][1], acc[a][h][1]);
        acc[a][h][2] = fmaf(s_hi, part[a][h][2], acc[a][h][2]);
        acc[a][h][3] = fmaf(s_hi, part[a][h][3], acc[a][h][3]);
        if constexpr (Cfg::kZeros) {
          acc[a][h][0] = fmaf(z_lo, asum[h][0], acc[a][h][0]);
          acc[a][h][1] = fmaf(z_lo, asum[h][1], acc[a][h][1]);
          acc[a][h][2] = fmaf(z_hi, asum[h][2], acc[a][h][2]);
          acc[a][h][3] = fmaf(z_hi, asum[h][3], acc[a][h][3]);
        }
      }
    }
  };

  // register ring: kS - 1 chunks in flight ahead of the one being computed
  Stage<Cfg> ring[kS];
#pragma unroll
  for (int s = 0; s < kS - 1; ++s)
    if (s < iters) load(ring[s], s);
  for (int i0 = 0; i0 < iters; i0 += kS) {
#pragma unroll
    for (int s = 0; s < kS; ++s) {
      const int i = i0 + s;
      if (i < iters) {
        if (i + kS - 1 < iters) load(ring[(s + kS - 1) % kS], i + kS - 1);
        compute(ring[s]);
      }
    }
  }

  cta_reduce_store<Cfg>(p, acc, red);
}


// ---- the shared-memory ring mainloop ---------------------------------------------------------
//
// Same decomposition and arithmetic as decode_mm_kernel, but each warp streams its chunks through a
// private ring of kStages shared-memory stages filled with cp.async (16-byte copies that bypass the
// register file), so kStages - 1 chunks per warp are in flight without costing registers, and no
// barrier other than __syncwarp is needed in the mainloop. Stage layout (bytes):
//   W  [slab][atom][lane words]   kSlabs * kAtomsN * kAtomWords * 4  (a byte copy of the atoms)
//   A  [token][64 k + 8 pad]      kTileM * 144                       (pad: conflict-free reads)
//   S  [n]                        kTileN * 2                         (group scales of the chunk)
//   Z  [n]                        kTileN * 2                         (group zeros, AWQ only)
template <class Cfg>
struct RingLayout {
  static constexpr int kW = Cfg::kSlabs * Cfg::kAtomsN * Cfg::kAtomWords * 4;
  static constexpr int kARow = 144;
  static constexpr int kA = Cfg::kTileM * kARow;
  static constexpr int kS = Cfg::kTileN * 2;
  static constexpr int kZ = Cfg::kZeros ? Cfg::kTileN * 2 : 0;
  static constexpr int kStage = kW + kA + kS + kZ;
  static constexpr int kWarpBytes = kStage * Cfg::kStages;
  static constexpr int kMainBytes = kWarpBytes * Cfg::kWarps;
  static constexpr int kSmemBytes = kMainBytes > Cfg::kSmemBytes ? kMainBytes : Cfg::kSmemBytes;
  static_assert(kStage % 16 == 0, "stage must keep 16-byte alignment");
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

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads) decode_mm_ring_kernel(const Params p) {
  using E = Elem<Cfg::kBf16>;
  using L = RingLayout<Cfg>;
  constexpr int kAN = Cfg::kAtomsN, kTT = Cfg::kTokTiles, kS = Cfg::kStages, kW = Cfg::kWarps;
  constexpr int kWpl = Cfg::kWordsPerLane;
  extern __shared__ float4 smem_f4[];
  float* red = reinterpret_cast<float*>(smem_f4);

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int r = lane >> 2, c = lane & 3;
  const int split = gridDim.x, rank = blockIdx.x;
  const int n0 = blockIdx.y * Cfg::kTileN;
  const int m0 = blockIdx.z * Cfg::kTileM;

  const int chunks = p.K / 64;
  const int c_begin = int((int64_t(chunks) * rank) / split);
  const int c_end = int((int64_t(chunks) * (rank + 1)) / split);
  const int iters = (c_end - c_begin - warp + kW - 1) / kW;

  const uint32_t ring = static_cast<uint32_t>(__cvta_generic_to_shared(smem_f4)) + warp * L::kWarpBytes;
  const int64_t slab_stride = int64_t(p.N / 16) * Cfg::kAtomWords;  // words
  const uint32_t* wsrc = p.B + int64_t(n0 / 16) * Cfg::kAtomWords;
  const int rows = min(Cfg::kTileM, p.M - m0);  // valid token rows of this tile
  const char* abase = static_cast<const char*>(p.A) + int64_t(m0) * p.lda * 2;
  const char* sbase = static_cast<const char*>(p.S) + int64_t(n0) * 2;
  const char* zbase = static_cast<const char*>(p.Z) + int64_t(n0) * 2;

  auto issue = [&](int i) {
    const int chunk = c_begin + warp + i * kW;
    const uint32_t st = ring + (i % kS) * L::kStage;
    // weights: per slab, kAN atoms are one contiguous run of kAN * kAtomWords words
    constexpr int kPiecesPerSlab = kAN * Cfg::kAtomWords / 4;
    constexpr int kPieces = Cfg::kSlabs * kPiecesPerSlab;
    const uint32_t* wchunk = wsrc + int64_t(chunk) * Cfg::kSlabs * slab_stride;
#pragma unroll
    for (int q = lane; q < kPieces; q += 32) {
      const int j = q / kPiecesPerSlab, o = q % kPiecesPerSlab;
      cp_async16_cg(st + q * 16, wchunk + j * slab_stride + o * 4);
    }
    // activations: rows of 64 k (128 bytes = 8 pieces); rows past M are left unwritten (their
    // mma columns are never stored)
#pragma unroll
    for (int q = lane; q < Cfg::kTileM * 8; q += 32) {
      const int t = q / 8, o = q % 8;
      if (t < rows) cp_async16_ca(st + L::kW + t * L::kARow + o * 16, abase + (int64_t(t) * p.lda + chunk * 64 + o * 8) * 2);
    }
    const int64_t goff = int64_t(chunk / p.chunks_per_group) * p.lds * 2;
#pragma unroll
    for (int q = lane; q < Cfg::kTileN / 8; q += 32) {
      cp_async16_ca(st + L::kW + L::kA + q * 16, sbase + goff + q * 16);
      if constexpr (Cfg::kZeros) cp_async16_ca(st + L::kW + L::kA + L::kS + q * 16, zbase + goff + q * 16);
    }
  };

  float acc[kAN][kTT][4];
#pragma unroll
  for (int a = 0; a < kAN; ++a)
#pragma unroll
    for (int h = 0; h < kTT; ++h)
#pragma unroll
      for (int v = 0; v < 4; ++v) acc[a][h][v] = 0.f;

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
    float part[kAN][kTT][4];
    float asum[kTT][4];
#pragma unroll
    for (int a = 0; a < kAN; ++a)
#pragma unroll
      for (int h = 0; h < kTT; ++h)
#pragma unroll
        for (int v = 0; v < 4; ++v) part[a][h][v] = 0.f;
#pragma unroll
    for (int h = 0; h < kTT; ++h)
#pragma unroll
      for (int v = 0; v < 4; ++v) asum[h][v] = 0.f;
#pragma unroll
    for (int j = 0; j < Cfg::kSlabs; ++j) {
      uint32_t b[kTT][2];
#pragma unroll
      for (int h = 0; h < kTT; ++h) {
        const uint32_t ap = st + L::kW + (8 * h + r) * L::kARow + (16 * j + 2 * c) * 2;
        b[h][0] = lds32(ap);
        b[h][1] = lds32(ap + 16);
      }
#pragma unroll
      for (int a = 0; a < kAN; ++a) {
        uint32_t w[kWpl];
        const uint32_t wp = st + ((j * kAN + a) * Cfg::kAtomWords + lane * kWpl) * 4;
        if constexpr (kWpl == 1) {
          w[0] = lds32(wp);
        } else {
          const uint2 v = lds64(wp);
          w[0] = v.x;
          w[kWpl - 1] = v.y;
        }
        uint32_t q[4];
        dequant_raw<Cfg>(w, q);
#pragma unroll
        for (int h = 0; h < kTT; ++h) mma16816<Cfg::kBf16>(part[a][h], q, b[h][0], b[h][1]);
      }
      if constexpr (Cfg::kZeros) {
        constexpr uint32_t kOnes = Cfg::kBf16 ? 0x3F803F80u : 0x3C003C00u;
        const uint32_t ones[4] = {kOnes, kOnes, kOnes, kOnes};
#pragma unroll
        for (int h = 0; h < kTT; ++h) mma16816<Cfg::kBf16>(asum[h], ones, b[h][0], b[h][1]);
      }
    }
#pragma unroll
    for (int a = 0; a < kAN; ++a) {
      const uint32_t sp = st + L::kW + L::kA + (16 * a + r) * 2;
      const float s_lo = E::to_float(lds16(sp)), s_hi = E::to_float(lds16(sp + 16));
      float z_lo = 0.f, z_hi = 0.f;
      if constexpr (Cfg::kZeros) {
        z_lo = E::to_float(lds16(sp + L::kS));
        z_hi = E::to_float(lds16(sp + L::kS + 16));
      }
#pragma unroll
      for (int h = 0; h < kTT; ++h) {
        acc[a][h][0] = fmaf(s_lo, part[a][h][0], acc[a][h][0]);
        acc[a][h][1] = fmaf(s_lo, part[a][h][1], acc[a][h][1]);
        acc[a][h][2] = fmaf(s_hi, part[a][h][2], acc[a][h][2]);
        acc[a][h][3] = fmaf(s_hi, part[a][h][3], acc[a][h][3]);
        if constexpr (Cfg::kZeros) {
          acc[a][h][0] = fmaf(z_lo, asum[h][0], acc[a][h][0]);
          acc[a][h][1] = fmaf(z_lo, asum[h][1], acc[a][h][1]);
          acc[a][h][2] = fmaf(z_hi, asum[h][2], acc[a][h][2]);
          acc[a][h][3] = fmaf(z_hi, asum[h][3], acc[a][h][3]);
        }
      }
    }
  }
  cp_async_wait<0>();
  cta_reduce_store<Cfg>(p, acc, red);
}

// ---- host side -----------------------------------------------------------------------------

// Cluster size (K split across CTAs) for a problem: the smallest of 1, 2, 4, 8 that minimises the
// estimated makespan waves(ctas) x chunks per warp, never leaving a warp without a chunk.
inline int choose_split(int n_tiles, int chunks, int warps, int slots) {
  int best = 1;
  double best_cost = 0;
  for (int s = 1; s <= 8; s *= 2) {
    if (s > 1 && chunks < s * warps) break;
    const int64_t ctas = int64_t(n_tiles) * s;
    const int64_t waves = (ctas + slots - 1) / slots;
    const int64_t per_warp = ((chunks + s - 1) / s + warps - 1) / warps;
    // a small charge per extra CTA in the cluster reduction keeps ties on the smaller split
    const double cost = double(waves * per_warp) * (1.0 + 0.01 * (s - 1));
    if (s == 1 || cost < best_cost) {
      best = s;
      best_cost = cost;
    }
  }
  return best;
}

template <class Cfg>
struct Launcher {
  static constexpr int kSmem = Cfg::kRing ? RingLayout<Cfg>::kSmemBytes : Cfg::kSmemBytes;
  static constexpr auto kernel() {
    if constexpr (Cfg::kRing) return decode_mm_ring_kernel<Cfg>;
    else return decode_mm_kernel<Cfg>;
  }

  static int slots_per_sm() {
    static const int occ = [] {
      if (kSmem > 48 * 1024)
        cudaFuncSetAttribute(kernel(), cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
      int n = 0;
      if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel(), Cfg::kThreads, kSmem) != cudaSuccess || n < 1)
        n = 1;
      return n;
    }();
    return occ;
  }

  // Returns a CUDA error; shape validation is the caller's (the op layer and MacheteKernel).
  static cudaError_t launch(Params const& p, int sm_count, int split_override, cudaStream_t stream) {
    const int n_tiles = p.N / Cfg::kTileN;
    const int m_tiles = (p.M + Cfg::kTileM - 1) / Cfg::kTileM;
    const int chunks = p.K / 64;
    const int slots = slots_per_sm() * sm_count;  // also raises the dynamic smem limit once
    int split = split_override > 0 ? split_override : choose_split(n_tiles * m_tiles, chunks, Cfg::kWarps, slots);
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(unsigned(split), unsigned(n_tiles), unsigned(m_tiles));
    cfg.blockDim = dim3(Cfg::kThreads, 1, 1);
    cfg.dynamicSmemBytes = kSmem;
    cfg.stream = stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = unsigned(split);
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    return cudaLaunchKernelEx(&cfg, kernel(), p);
  }
};

}  // namespace decode
}  // namespace machete
