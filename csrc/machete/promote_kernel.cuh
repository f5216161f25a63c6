// machete/promote_kernel.cuh -- W4A8 at large M: a warp-specialized wgmma kernel that promotes
// the accumulators once per weight group.
//
// Why a kernel of our own: CUTLASS 4.2's mixed-input collective applies group scales to the
// converted weights in the MMA type, which for 8-bit activations rounds s * q to 8 bits (s8: not
// representable; e4m3: changes the result), and its e4m3 wgmma accumulates the whole K in the
// tensor core's reduced-precision adder. Both are solved by the same structure: run the 8-bit wgmma
// on the exact integer weights q into a *fresh* accumulator for one group (s32 for s8, f32 for
// e4m3) and add it into the fp32 accumulator with the group's scale on the CUDA cores:
//
//     acc[n, m] += s[g, n] * sum_{k in group g} q[n, k] a[m, k]      (exact up to the fp32 add)
//
// Problem mapping (as in mm_kernel.cuh): D^T (N x M) = B^T (N x K) A^T (K x M); the weights are the
// register-sourced wgmma operand (rows = output features n), the activations the shared-memory
// operand (columns = tokens m).
//
// CTA: 128 or 256 output features x kTileM tokens (64 or 128), K tile 128; 3 warpgroups (384
// threads):
//  * warpgroup 0, one thread: the producer. Per K tile it waits for a free stage, then loads the
//    activations with TMA (128-byte swizzle, the canonical K-major wgmma layout; rows past M and
//    columns past K are zero-filled), the weights with four bulk copies (the 8-bit-MMA prepacked
//    atoms, QuantAtomMma8: one 32-wide k slab of the CTA's atoms is contiguous) and the tile's
//    group-scale rows, all completing on the stage's transaction barrier.
//  * warpgroups 1 and 2: the consumers, half the features each (one or two 64-row wgmma blocks).
//    A lane's 16 weights of one k32 slab are one 64-bit shared-memory load (its wgmma A fragment,
//    in order); int4 -> s8 / e4m3 in registers; 4 wgmma m64 n{kTileM} k32 per block and K tile
//    into the group accumulator; then promotion. Weights are converted while earlier wgmma run.
// Scheduling of the two consumer warpgroups (Config::kMode): with 256-feature tiles (two 64-row
// blocks per warpgroup sharing one group accumulator) they take turns on the tensor cores, so one
// promotes while the other's wgmma run; with 128-feature tiles each has two group accumulators and
// queues its next wgmma batch before promoting the previous one.
// The epilogue multiplies channel x token scales in fp32, converts to f16 and stores through
// shared memory (16-byte row segments of D). When the output tiles leave SMs idle (small M on
// layers with few N tiles) or the last wave of CTAs would be partial, the launcher runs the whole
// waves as they are and splits K for the remaining tiles (Plan): each split writes its scaled fp32
// share to a workspace and promote_reduce sums the splits in order (deterministic, no atomics or
// counters: CUDA-graph safe). Group sizes: a multiple of 128 (one promotion per K
// tile), a multiple of 64 (two, one per half tile), or K (no group scales: e4m3 promotes every K
// tile with scale 1, which bounds the tensor core's accumulation error).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cute/tensor.hpp"
#include "cute/arch/copy_sm90_tma.hpp"
#include "cute/arch/mma_sm90_gmma.hpp"
#include "cute/atom/copy_traits_sm90_tma.hpp"
#include "cute/atom/mma_traits_sm90_gmma.hpp"
#include "cutlass/arch/barrier.h"
#include "cutlass/arch/reg_reconfig.h"

#include "machete/decode_kernel.cuh"  // s4_inorder_to_s8
#include "machete/mm_validate.h"     // once_per_device

namespace machete {
namespace promote {

template <bool kE4M3_, bool kGroupScales_, int kTileN_, int kTileM_, int kStages_, int kMode_ = 0>
struct Config {
  static constexpr bool kE4M3 = kE4M3_;                // activations e4m3 (else s8)
  static constexpr bool kGroupScales = kGroupScales_;  // f16 group scales (else: none)
  static constexpr int kTileN = kTileN_;               // output features per CTA: 128 or 256
  static constexpr int kTileM = kTileM_;               // tokens per CTA (wgmma n)
  static constexpr int kTileK = 128;
  static constexpr int kStages = kStages_;
  static constexpr int kThreads = 384;
  static constexpr int kRB = kTileN / 128;               // 64-row wgmma blocks per consumer warpgroup
  static constexpr int kABytes = kTileM * kTileK;        // one stage of activations
  static constexpr int kWBytes = kTileN * kTileK / 2;    // one stage of int4 weights
  static constexpr int kSBytes = 2 * kTileN * 2;         // one stage of group scales (two rows)
  static constexpr int kSlabBytes = kTileN / 16 * 256;   // one k32 slab of the CTA's atoms
  static constexpr int kOutPitch = 64 * kRB + 8;         // halfs per epilogue row (16-byte pad)
  static constexpr int kOutBytes = 2 * kTileM * kOutPitch * 2;
  static constexpr int kSmemBytes = kStages * (kABytes + kWBytes + kSBytes) + kOutBytes + 2 * kStages * 8 + 1024;
  static constexpr int kAccRegs = kTileM / 2;  // per thread and 64-row block: 64 x kTileM / 128
  // kMode (development switch): 0 = the consumer warpgroups take turns on the tensor cores;
  // 1 = free-running; 2 = free-running with two group accumulators (one row block only: a
  // warpgroup's next wgmma batch is queued while it promotes the previous one; group sizes that
  // are multiples of 128 or K, else mode 1)
  static constexpr int kMode = kMode_;
  static constexpr bool kPingPong = kMode == 0;
  static constexpr bool kDouble = kMode == 2;

  static_assert(kTileN == 128 || kTileN == 256, "promote kernel: 128 or 256 features per CTA");
  static_assert(kTileM == 64 || kTileM == 128 || (kTileM == 192 && kTileN == 128),
                "promote kernel: 64 or 128 tokens per CTA (192 with 128 features)");
  static_assert(kStages >= 2 && kStages <= 8, "promote kernel: 2..8 stages");
  static_assert(kMode >= 0 && kMode <= 2 && (kMode != 2 || (kRB == 1 && kTileM <= 128)),
                "promote kernel: mode 0, 1, or 2 with 128 features and at most 128 tokens");
  static_assert(kSmemBytes <= 227 * 1024, "promote kernel: shared memory");
};

struct Params {
  const uint8_t* B;   // prepacked weights (QuantAtomMma8), bytes
  __half* D;          // [M, N], row stride ldd
  const __half* S;    // [K / g, N] group scales, row stride lds (null: none)
  const float* CS;    // [N] channel scales
  const float* TS;    // [M] token scales
  int M, N, K;
  int64_t ldd, lds;
  int group_size;     // K, or a multiple of 64 dividing K
  // The launch's tiles: linear tiles [tile0, tile0 + gridDim.x) of the (token tile fastest) order
  // t = n_tile * m_tiles + m_tile, each split over gridDim.z = splits K ranges.
  int tile0 = 0;
  int splits = 1;     // > 1: fp32 partials to WS, then promote_reduce
  float* WS = nullptr;  // [splits][gridDim.x][kTileM][kTileN] fp32 partial tiles (splits > 1)
};

// ---- device helpers ----------------------------------------------------------------------------

// 8 in-order two's-complement nibbles -> 8 e4m3 bytes (lo: values 0..3, hi: 4..7). A byte-permute
// lookup: each nibble's low 3 bits index a 4+4 byte table of e4m3(0..7) and one of e4m3(-8..-1);
// its sign bit picks the table.
__device__ __forceinline__ void s4_inorder_to_e4m3(uint32_t w, uint32_t& lo4, uint32_t& hi4) {
  constexpr uint32_t kPos0 = 0x44403800u, kPos1 = 0x4E4C4A48u;  // 0, 1, 2, 3 | 4, 5, 6, 7
  constexpr uint32_t kNeg0 = 0xCACCCED0u, kNeg1 = 0xB8C0C4C8u;  // -8, -7, -6, -5 | -4, -3, -2, -1
  const uint32_t idx = w & 0x77777777u;
  const uint32_t pick = ((w & 0x88888888u) >> 1) | 0x32103210u;  // byte i, or 4 + i where negative
  const uint32_t p0 = __byte_perm(kPos0, kPos1, idx), n0 = __byte_perm(kNeg0, kNeg1, idx);
  const uint32_t p1 = __byte_perm(kPos0, kPos1, idx >> 16), n1 = __byte_perm(kNeg0, kNeg1, idx >> 16);
  lo4 = __byte_perm(p0, n0, pick);
  hi4 = __byte_perm(p1, n1, pick >> 16);
}

template <class Cfg>
__device__ __forceinline__ void convert_frag(uint2 w, uint32_t (&q)[4]) {
  if constexpr (Cfg::kE4M3) {
    s4_inorder_to_e4m3(w.x, q[0], q[1]);
    s4_inorder_to_e4m3(w.y, q[2], q[3]);
  } else {
    decode::s4_inorder_to_s8(w.x, q[0], q[1]);
    decode::s4_inorder_to_s8(w.y, q[2], q[3]);
  }
}

// One wgmma m64 n{kTileM} k32, A from registers, B (activations) from shared memory.
template <class Cfg>
struct Wgmma {
  using Op = std::conditional_t<
      Cfg::kE4M3,
      std::conditional_t<Cfg::kTileM == 192, cute::SM90::GMMA::MMA_64x192x32_F32E4M3E4M3_RS_TN<>,
                         std::conditional_t<Cfg::kTileM == 128, cute::SM90::GMMA::MMA_64x128x32_F32E4M3E4M3_RS_TN<>,
                                            cute::SM90::GMMA::MMA_64x64x32_F32E4M3E4M3_RS_TN<>>>,
      std::conditional_t<Cfg::kTileM == 192, cute::SM90::GMMA::MMA_64x192x32_S32S8S8_RS_TN,
                         std::conditional_t<Cfg::kTileM == 128, cute::SM90::GMMA::MMA_64x128x32_S32S8S8_RS_TN,
                                            cute::SM90::GMMA::MMA_64x64x32_S32S8S8_RS_TN>>>;
  using Reg = std::conditional_t<Cfg::kE4M3, float, uint32_t>;

  template <size_t... I>
  __device__ __forceinline__ static void call(uint32_t const (&a)[4], uint64_t desc, Reg (&d)[Cfg::kAccRegs],
                                              cute::SM90::GMMA::ScaleOut scale, std::index_sequence<I...>) {
    Op::fma(a[0], a[1], a[2], a[3], desc, d[I]..., scale);
  }
  __device__ __forceinline__ static void run(uint32_t const (&a)[4], uint64_t desc, Reg (&d)[Cfg::kAccRegs], bool zero) {
    call(a, desc, d, zero ? cute::SM90::GMMA::ScaleOut::Zero : cute::SM90::GMMA::ScaleOut::One,
         std::make_index_sequence<Cfg::kAccRegs>{});
  }
};

__device__ __forceinline__ void fence_frags(uint32_t (&q)[4][4]) {
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) cute::warpgroup_fence_operand(q[i][j]);
}

template <class Cfg>
__device__ __forceinline__ void fence_regs(typename Wgmma<Cfg>::Reg (&d)[Cfg::kAccRegs]) {
#pragma unroll
  for (int i = 0; i < Cfg::kAccRegs; ++i) cute::warpgroup_fence_operand(d[i]);
}

// s32 -> f32, exact for |x| < 2^22 (one group of <= 128 products of |a| <= 128 and |q| <= 8 is
// < 2^17): an integer add and a float subtract instead of the quarter-rate I2F.
__device__ __forceinline__ float s32_to_f32_small(uint32_t x) {
  return __int_as_float(int(x + 0x4B400000u)) - 12582912.f;
}

// acc (fp32) += s_row * group accumulator; register x holds row (x / 2) % 2 of the thread's pair.
template <class Cfg>
__device__ __forceinline__ void promote(float (&acc)[Cfg::kAccRegs], typename Wgmma<Cfg>::Reg const (&t)[Cfg::kAccRegs],
                                        float s0, float s1) {
#pragma unroll
  for (int x = 0; x < Cfg::kAccRegs; ++x) {
    float v;
    if constexpr (Cfg::kE4M3) v = t[x];
    else v = s32_to_f32_small(t[x]);
    if constexpr (Cfg::kGroupScales) acc[x] = fmaf((x & 2) ? s1 : s0, v, acc[x]);
    else acc[x] += v;
  }
}

template <class Cfg>
using SmemLayoutA = decltype(cute::tile_to_shape(cute::SM90::GMMA::Layout_K_SW128_Atom<uint8_t>{},
                                                 cute::make_shape(cute::Int<Cfg::kTileM>{}, cute::Int<Cfg::kTileK>{})));

template <class Cfg>
auto make_tma_a(const void* A, int M, int K, int64_t lda) {
  using namespace cute;
  Tensor mA = make_tensor(make_gmem_ptr(static_cast<const uint8_t*>(A)), make_shape(M, K), make_stride(lda, Int<1>{}));
  return make_tma_copy(SM90_TMA_LOAD{}, mA, SmemLayoutA<Cfg>{});
}

template <class Cfg>
using TmaA = decltype(make_tma_a<Cfg>(nullptr, 1, 128, 128));

// ---- the kernel ----------------------------------------------------------------------------------

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads, 1) promote_mm_kernel(const __grid_constant__ Params p,
                                                                       const __grid_constant__ TmaA<Cfg> tma) {
  using namespace cute;
  using Barrier = cutlass::arch::ClusterTransactionBarrier;
  constexpr int S = Cfg::kStages, kRB = Cfg::kRB;
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  // 1024-byte alignment for the 128-byte swizzle
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  uint8_t* sA = smem;                                   // S x kABytes (each 1024-aligned)
  uint8_t* sW = sA + S * Cfg::kABytes;                  // S x kWBytes
  __half* sS = reinterpret_cast<__half*>(sW + S * Cfg::kWBytes);  // S x 2 rows x kTileN
  __half* sOut = sS + S * 2 * Cfg::kTileN;
  uint64_t* full = reinterpret_cast<uint64_t*>(reinterpret_cast<uint8_t*>(sOut) + Cfg::kOutBytes);
  uint64_t* empty = full + S;

  const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
  const int m_tiles = (p.M + Cfg::kTileM - 1) / Cfg::kTileM, tile = p.tile0 + int(blockIdx.x);
  const int m_blk = tile % m_tiles, n0 = (tile / m_tiles) * Cfg::kTileN;
  const int n_valid = min(Cfg::kTileN, p.N - n0);  // a multiple of 128
  // split-K (p.splits > 1): CTA z of the grid's z extent takes K tiles [kt0, kt0 + k_tiles); all K
  // tile indices below are local to that range except where kt0 is added
  const int k_all = (p.K + Cfg::kTileK - 1) / Cfg::kTileK, z = blockIdx.z;
  const int kt0 = int(int64_t(k_all) * z / p.splits);
  const int k_tiles = int(int64_t(k_all) * (z + 1) / p.splits) - kt0;
  const int g = p.group_size;
  const bool half = Cfg::kGroupScales && (g % 128) != 0;  // a new group every 64 k

  if (threadIdx.x == 0) {
#pragma unroll
    for (int s = 0; s < S; ++s) {
      Barrier::init(&full[s], 1);
      Barrier::init(&empty[s], 8);  // one arrival per consumer warp
    }
    cutlass::arch::fence_barrier_init();
  }
  __syncthreads();

  if (wg == 0) {  // ---- producer ----
    cutlass::arch::warpgroup_reg_dealloc<24>();
    if (tid == 0) {
      Tensor mA = tma.get_tma_tensor(make_shape(p.M, p.K));
      Tensor gA = local_tile(mA, make_shape(Int<Cfg::kTileM>{}, Int<Cfg::kTileK>{}), make_coord(m_blk, _));
      Tensor sAt = make_tensor(make_smem_ptr(sA), tile_to_shape(SM90::GMMA::Layout_K_SW128_Atom<uint8_t>{},
                                                               make_shape(Int<Cfg::kTileM>{}, Int<Cfg::kTileK>{}, Int<S>{})));
      auto [tAgA, tAsA] = tma_partition(tma, Int<0>{}, Layout<_1>{}, group_modes<0, 2>(sAt), group_modes<0, 2>(gA));
      const uint8_t* wbase = p.B + int64_t(n0) * 16;  // atom n0 / 16 of slab 0 (256 bytes per atom)
      const int64_t slab_stride = int64_t(p.N) * 16;  // bytes per 32-wide k slab of all N
      const int wbytes = n_valid * 16, sbytes = n_valid * 2;
      for (int kt = 0; kt < k_tiles; ++kt) {
        const int s = kt % S, k0 = (kt0 + kt) * Cfg::kTileK;
        Barrier::wait(&empty[s], ((kt / S) & 1) ^ 1);
        const int slabs = min(4, (p.K - k0) / 32);
        const bool second = half && k0 + 64 < p.K;
        Barrier::arrive_and_expect_tx(&full[s], Cfg::kABytes + slabs * wbytes +
                                                    (Cfg::kGroupScales ? (second ? 2 : 1) * sbytes : 0));
        copy(tma.with(full[s]), tAgA(_, kt0 + kt), tAsA(_, s));
        for (int j = 0; j < slabs; ++j)
          SM90_BULK_COPY_G2S::copy(wbase + (int64_t(kt0 + kt) * 4 + j) * slab_stride, &full[s],
                                   sW + s * Cfg::kWBytes + j * Cfg::kSlabBytes, wbytes);
        if constexpr (Cfg::kGroupScales) {
          __half* dst = sS + s * 2 * Cfg::kTileN;
          SM90_BULK_COPY_G2S::copy(p.S + int64_t(k0 / g) * p.lds + n0, &full[s], dst, sbytes);
          if (second)
            SM90_BULK_COPY_G2S::copy(p.S + int64_t((k0 + 64) / g) * p.lds + n0, &full[s], dst + Cfg::kTileN, sbytes);
        }
      }
    }
    return;
  }

  // ---- consumers ----
  cutlass::arch::warpgroup_reg_alloc<240>();
  const int cw = wg - 1;                   // consumer warpgroup: features 64 kRB cw .. + 64 kRB - 1
  const int warp = tid / 32, lane = tid % 32;
  const int f0 = 64 * kRB * cw + 16 * warp + lane / 4;  // + 64 rb (+ 8): the thread's rows in the tile
  const bool active = 64 * kRB * cw < n_valid;         // this warpgroup's rows exist (N % 128 == 0)

  // B descriptor of stage 0, k32 slab 0; others by adding byte offsets / 16 to its address field
  Tensor sA0 = make_tensor(make_smem_ptr(sA), SmemLayoutA<Cfg>{});
  const uint64_t desc0 = uint64_t(SM90::GMMA::make_gmma_desc<SM90::GMMA::Major::K>(
      local_tile(sA0, make_shape(Int<Cfg::kTileM>{}, Int<32>{}), make_coord(0, 0))));
  auto desc_at = [&](int s, int kk) -> uint64_t { return desc0 + uint64_t((s * Cfg::kABytes + 32 * kk) >> 4); };

  using Reg = typename Wgmma<Cfg>::Reg;
  using Frag = uint32_t[4][4];  // one 64-row block's A fragments of one K tile (4 k32 slabs)
  float acc[kRB][Cfg::kAccRegs];
#pragma unroll
  for (int rb = 0; rb < kRB; ++rb)
#pragma unroll
    for (int i = 0; i < Cfg::kAccRegs; ++i) acc[rb][i] = 0.f;
  Reg part[Cfg::kAccRegs], part2[Cfg::kAccRegs];
#pragma unroll
  for (int i = 0; i < Cfg::kAccRegs; ++i) part[i] = part2[i] = Reg(0);
  using Part = Reg[Cfg::kAccRegs];

  auto load_frag = [&](int s, int rb, Frag& q) {
    const uint8_t* w = sW + s * Cfg::kWBytes + (4 * kRB * cw + 4 * rb + warp) * 256 + lane * 8;
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) convert_frag<Cfg>(*reinterpret_cast<const uint2*>(w + kk * Cfg::kSlabBytes), q[kk]);
  };
  // wgmma k32 slabs [kb, ke) of one row block into d (zeroed by the first), then commit.
  // With kPingPong the two consumer warpgroups take turns on the tensor cores: each issues a batch
  // only after the other's previous batch completed, so one promotes (CUDA cores) while the other's
  // wgmma run. Named barriers 3 and 4: "your turn, warpgroup 0 / 1" (256 = the arrivals of one
  // warpgroup plus the waits of the other).
  bool my_turn = cw == 0;  // warpgroup 0 starts
  auto issue_into = [&](Part& d, Frag& q, int s, int kb, int ke) {
    if constexpr (Cfg::kPingPong) {
      if (!my_turn) cutlass::arch::NamedBarrier::sync(256, 3 + cw);
      my_turn = false;
    }
    fence_regs<Cfg>(d);
    fence_frags(q);
    cute::warpgroup_arrive();
#pragma unroll
    for (int kk = 0; kk < 4; ++kk)
      if (kk >= kb && kk < ke) Wgmma<Cfg>::run(q[kk], desc_at(s, kk), d, kk == kb);
    cute::warpgroup_commit_batch();
  };
  auto issue = [&](Frag& q, int s, int kb, int ke) { issue_into(part, q, s, kb, ke); };
  auto finish = [&](Frag& q) {
    cute::warpgroup_wait<0>();
    fence_regs<Cfg>(part);
    fence_frags(q);  // q stays in its registers until the wgmma that read them are done
    if constexpr (Cfg::kPingPong) cutlass::arch::NamedBarrier::arrive(256, 3 + (1 - cw));
  };
  // acc[rb] += group scale (row h of stage s's scales) * d
  auto promote_from = [&](Part& d, int s, int h, int rb) {
    float s0 = 1.f, s1 = 1.f;
    if constexpr (Cfg::kGroupScales) {
      const __half* sp = sS + (s * 2 + h) * Cfg::kTileN + f0 + 64 * rb;
      s0 = __half2float(sp[0]);
      s1 = __half2float(sp[8]);
    }
    promote<Cfg>(acc[rb], d, s0, s1);
  };
  auto promote_rb = [&](int s, int h, int rb) { promote_from(part, s, h, rb); };
  auto release = [&](int s) {
    __syncwarp();
    if (lane == 0) Barrier::arrive(&empty[s]);
  };
  auto wait_full = [&](int kt) { Barrier::wait(&full[kt % S], (kt / S) & 1); };
  // the second group of a K tile (group sizes that are odd multiples of 64): k32 slabs 2, 3
  auto second_group = [&](Frag& q, int s, int rb) {
    issue(q, s, 2, 4);
    finish(q);
    promote_rb(s, 1, rb);
  };

  if (Cfg::kDouble && !half) {
    // two group accumulators: batch kt + 1 is issued (into the other accumulator) before batch kt
    // is waited for and promoted, so the tensor cores always have this warpgroup's next batch
    Frag qa, qb;
    auto step = [&](int kt, Frag& q, Part& d, Frag& qn, Part& dn) {
      // batch kt (q -> d) is in flight
      if (kt + 1 < k_tiles) {
        wait_full(kt + 1);
        load_frag((kt + 1) % S, 0, qn);
        issue_into(dn, qn, (kt + 1) % S, 0, 4);
        cute::warpgroup_wait<1>();
      } else {
        cute::warpgroup_wait<0>();
      }
      fence_regs<Cfg>(d);
      fence_frags(q);
      promote_from(d, kt % S, 0, 0);
      release(kt % S);
    };
    wait_full(0);
    load_frag(0, 0, qa);
    issue_into(part, qa, 0, 0, 4);
    int kt = 0;
    for (; kt + 1 < k_tiles; kt += 2) {
      step(kt, qa, part, qb, part2);
      step(kt + 1, qb, part2, qa, part);
    }
    if (kt < k_tiles) step(kt, qa, part, qb, part2);
  } else if constexpr (kRB == 1) {
    // one row block: the next tile's weights are converted into qn while this tile's wgmma run
    Frag qa, qb;
    auto tile = [&](int kt, Frag& q, Frag& qn) {
      const int s = kt % S;
      const bool next = kt + 1 < k_tiles;
      const bool second = half && (kt0 + kt) * Cfg::kTileK + 64 < p.K;  // a second group in this tile
      issue(q, s, 0, half ? 2 : 4);
      if (next) {
        wait_full(kt + 1);
        load_frag((kt + 1) % S, 0, qn);
      }
      finish(q);
      promote_rb(s, 0, 0);
      if (second) second_group(q, s, 0);
      release(s);  // after the last read of the stage's scales
    };
    wait_full(0);
    load_frag(0, 0, qa);
    int kt = 0;
    for (; kt + 1 < k_tiles; kt += 2) {
      tile(kt, qa, qb);
      tile(kt + 1, qb, qa);
    }
    if (kt < k_tiles) tile(kt, qa, qb);
  } else {
    // two row blocks share one group accumulator: block 1's weights are converted while block 0's
    // wgmma run
    for (int kt = 0; kt < k_tiles; ++kt) {
      const int s = kt % S;
      const bool second = half && (kt0 + kt) * Cfg::kTileK + 64 < p.K;  // a second group in this tile
      wait_full(kt);
      Frag q0, q1;
      load_frag(s, 0, q0);
      issue(q0, s, 0, half ? 2 : 4);
      load_frag(s, 1, q1);
      finish(q0);
      promote_rb(s, 0, 0);
      if (second) second_group(q0, s, 0);
      issue(q1, s, 0, half ? 2 : 4);
      finish(q1);
      promote_rb(s, 0, 1);
      if (second) second_group(q1, s, 1);
      release(s);
    }
  }

  // warpgroup 1's last "your turn" to warpgroup 0 has no batch left to wait for it: consume it
  if (Cfg::kPingPong && cw == 0) cutlass::arch::NamedBarrier::sync(256, 3);

  // ---- epilogue: D[m, n] = f16(ts[m] * cs[n] * acc) through shared memory ----
  if (!active) return;
  __half* out = sOut + cw * Cfg::kTileM * Cfg::kOutPitch;
  const int m0 = m_blk * Cfg::kTileM, c = lane % 4, r = 16 * warp + lane / 4;
  if (p.splits > 1) {  // this split's share of the tile, scaled, in fp32: WS[z][tile][m][n]
    float* wt = p.WS + (int64_t(z) * gridDim.x + blockIdx.x) * (Cfg::kTileM * Cfg::kTileN);
#pragma unroll
    for (int rb = 0; rb < kRB; ++rb) {
      const int n = f0 + 64 * rb;  // within the tile
      const float cs0 = p.CS[n0 + n], cs1 = p.CS[n0 + n + 8];
#pragma unroll
      for (int j = 0; j < Cfg::kTileM / 8; ++j)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int tok = 8 * j + 2 * c + e;
          const float ts = m0 + tok < p.M ? p.TS[m0 + tok] : 0.f;
          wt[tok * Cfg::kTileN + n] = acc[rb][4 * j + e] * cs0 * ts;
          wt[tok * Cfg::kTileN + n + 8] = acc[rb][4 * j + 2 + e] * cs1 * ts;
        }
    }
    return;
  }
#pragma unroll
  for (int rb = 0; rb < kRB; ++rb) {
    const float cs0 = p.CS[n0 + f0 + 64 * rb], cs1 = p.CS[n0 + f0 + 64 * rb + 8];
#pragma unroll
    for (int j = 0; j < Cfg::kTileM / 8; ++j)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int tok = 8 * j + 2 * c + e;
        const float ts = m0 + tok < p.M ? p.TS[m0 + tok] : 0.f;
        out[tok * Cfg::kOutPitch + 64 * rb + r] = __float2half_rn(acc[rb][4 * j + e] * cs0 * ts);
        out[tok * Cfg::kOutPitch + 64 * rb + r + 8] = __float2half_rn(acc[rb][4 * j + 2 + e] * cs1 * ts);
      }
  }
  cutlass::arch::NamedBarrier::sync(128, 1 + cw);
  constexpr int kSegs = 8 * kRB;  // 16-byte segments per token row of this warpgroup
#pragma unroll
  for (int it = 0; it < Cfg::kTileM * kSegs / 128; ++it) {
    const int idx = it * 128 + tid, tok = idx / kSegs, seg = idx % kSegs;
    if (m0 + tok < p.M)
      *reinterpret_cast<uint4*>(p.D + int64_t(m0 + tok) * p.ldd + n0 + 64 * kRB * cw + 8 * seg) =
          *reinterpret_cast<const uint4*>(out + tok * Cfg::kOutPitch + 8 * seg);
  }
}

// D[m, n] = f16(sum over the splits of WS[z][tile][m][n]), in split order (deterministic), for the
// `count` tiles from linear tile tile0 (Params). A template only so that every translation unit
// including this header may define it.
template <int kTileN, int kTileM>
__global__ void promote_reduce(const float* __restrict__ ws, __half* __restrict__ d, int M, int N, int splits,
                               int tile0, int count, int64_t ldd) {
  constexpr int kElems = kTileN * kTileM;
  const int m_tiles = (M + kTileM - 1) / kTileM;
  const int64_t total = int64_t(count) * kElems;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int tl = int(i / kElems), e = int(i % kElems), tile = tile0 + tl;
    const int m = (tile % m_tiles) * kTileM + e / kTileN, n = (tile / m_tiles) * kTileN + e % kTileN;
    if (m >= M || n >= N) continue;
    float v = 0.f;
    for (int z = 0; z < splits; ++z) v += ws[(int64_t(z) * count + tl) * kElems + e];
    d[int64_t(m) * ldd + n] = __float2half_rn(v);
  }
}

// ---- host side -------------------------------------------------------------------------------------

// How a problem's output tiles are run: the first `whole` tiles (whole waves of CTAs, one per SM)
// each by one CTA over the whole K, the remaining `tail` tiles each split over `splits` K ranges
// (fp32 partials, then promote_reduce), so the last, partial wave is spread over the SMs instead of
// leaving most of them idle. With fewer tiles than SMs every tile is in the tail.
struct Plan {
  int64_t whole = 0, tail = 0;
  int splits = 1;
};

template <class Cfg>
struct Launcher {
  static int64_t tiles(int M, int N) {
    return int64_t((M + Cfg::kTileM - 1) / Cfg::kTileM) * ((N + Cfg::kTileN - 1) / Cfg::kTileN);
  }
  // The tail: as many splits as fit the SMs beside its tiles, each with at least 8 K tiles, at most
  // 16; none (whole = all tiles) when that is 1.
  static Plan plan(int M, int N, int K, int sm_count) {
    Plan pl;
    const int64_t t = tiles(M, N), sms = std::max(sm_count, 1);
    const int k_tiles = (K + Cfg::kTileK - 1) / Cfg::kTileK;
    pl.whole = t / sms * sms;
    pl.tail = t - pl.whole;
    const int64_t s = pl.tail > 0 ? std::min<int64_t>(sms / pl.tail, std::min(k_tiles / 8, 16)) : 1;
    if (s <= 1) return Plan{t, 0, 1};
    pl.splits = int(s);
    return pl;
  }
  // Every tile split `splits` ways (a forced split: the development harness)
  static Plan forced(int M, int N, int splits) {
    return splits > 1 ? Plan{0, tiles(M, N), splits} : Plan{tiles(M, N), 0, 1};
  }
  static size_t workspace_bytes(Plan const& pl) {
    return pl.splits > 1 ? size_t(pl.splits) * size_t(pl.tail) * Cfg::kTileM * Cfg::kTileN * sizeof(float) : 0;
  }

  // Returns a CUDA error; argument validation is the caller's (the op layer and PromoteGemm).
  // A plan with a tail needs ws of workspace_bytes(plan). p.tile0 / p.splits / p.WS are set here.
  static cudaError_t launch(const void* A, int64_t lda, Params p, Plan const& pl, float* ws, cudaStream_t stream) {
    // the shared-memory limit is a per-device attribute: raised once on each device
    static std::atomic<uint64_t> smem_set{0};
    const cudaError_t attr = detail::once_per_device(smem_set, [] {
      return cudaFuncSetAttribute(promote_mm_kernel<Cfg>, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::kSmemBytes);
    });
    if (attr != cudaSuccess) return attr;
    const TmaA<Cfg> tma = make_tma_a<Cfg>(A, p.M, p.K, lda);
    if (pl.whole > 0) {
      p.tile0 = 0;
      p.splits = 1;
      promote_mm_kernel<Cfg><<<dim3(unsigned(pl.whole), 1, 1), Cfg::kThreads, Cfg::kSmemBytes, stream>>>(p, tma);
      const cudaError_t err = cudaGetLastError();
      if (err != cudaSuccess) return err;
    }
    if (pl.tail == 0) return cudaSuccess;
    p.tile0 = int(pl.whole);
    p.splits = pl.splits;
    p.WS = ws;
    promote_mm_kernel<Cfg><<<dim3(unsigned(pl.tail), 1, unsigned(pl.splits)), Cfg::kThreads, Cfg::kSmemBytes, stream>>>(p, tma);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
    const int64_t total = pl.tail * Cfg::kTileM * Cfg::kTileN;
    const unsigned blocks = unsigned(std::min<int64_t>((total + 255) / 256, 65535));
    promote_reduce<Cfg::kTileN, Cfg::kTileM><<<blocks, 256, 0, stream>>>(ws, p.D, p.M, p.N, pl.splits, int(pl.whole),
                                                                         int(pl.tail), p.ldd);
    return cudaGetLastError();
  }
};

}  // namespace promote
}  // namespace machete
