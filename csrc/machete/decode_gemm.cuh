// machete/decode_gemm.cuh -- MacheteKernel's decode path: maps a TypeConfig and a decode schedule
// (KernelSchedule = DecodeMainloop<...>) onto decode::Config, validates MMArgs and launches.
//
// A decode schedule struct, as generated, holds
//   using TileShapeNM    = cute::Shape<_TileN, _TileM>;   // output features x tokens per CTA
//   using KernelSchedule = machete::DecodeMainloop<Warps, Stages, KChunk>;
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "cute/layout.hpp"
#include "cutlass/numeric_types.h"
#include "machete/decode_kernel.cuh"
#include "machete/mm_args.h"
#include "machete/scalar_tags.cuh"

namespace machete {

// Kernel-schedule tag of the decode family (see decode_kernel.cuh): warps per CTA, shared-memory
// stages per warp, K chunk (16, 32 or 64).
template <int Warps, int Stages, int KChunk>
struct DecodeMainloop {
  static constexpr int kWarps = Warps, kStages = Stages, kChunkK = KChunk;
};

template <class T> struct IsDecodeMainloop : std::false_type {};
template <int W, int S, int K> struct IsDecodeMainloop<DecodeMainloop<W, S, K>> : std::true_type {};

namespace detail {

template <class QuantTag> struct DecodeQuant;
template <> struct DecodeQuant<uint4b8_t> { static constexpr int bits = 4; static constexpr bool is_signed = true; };
template <> struct DecodeQuant<uint8b128_t> { static constexpr int bits = 8; static constexpr bool is_signed = true; };
template <> struct DecodeQuant<cutlass::uint4b_t> { static constexpr int bits = 4; static constexpr bool is_signed = false; };
template <> struct DecodeQuant<uint8_t> { static constexpr int bits = 8; static constexpr bool is_signed = false; };

inline bool decode_aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace detail

template <class Types, class Schedule>
struct DecodeGemm {
  using Mainloop = typename Schedule::KernelSchedule;
  using ElementA = typename Types::A;
  static_assert(std::is_same_v<ElementA, cutlass::half_t> || std::is_same_v<ElementA, cutlass::bfloat16_t>,
                "decode schedules take f16 or bf16 activations");
  static_assert(std::is_same_v<typename Types::Out, ElementA>, "decode schedules write the activation type");
  static_assert(std::is_same_v<typename Types::GroupScale, ElementA>, "decode schedules need group scales of type A");
  static_assert(!Types::has_channel_scales && !Types::has_token_scales, "decode schedules have no W4A8 epilogue");
  static_assert(!Types::has_group_zeros || std::is_same_v<typename Types::GroupZero, ElementA>,
                "group zeros must have the type of A");
  using Quant = detail::DecodeQuant<typename Types::B>;

  static constexpr int kTileN = cute::size<0>(typename Schedule::TileShapeNM{});
  static constexpr int kTileM = cute::size<1>(typename Schedule::TileShapeNM{});
  using Cfg = decode::Config<std::is_same_v<ElementA, cutlass::bfloat16_t>, Quant::bits, Quant::is_signed,
                             Types::has_group_zeros, kTileN, kTileM, Mainloop::kWarps, Mainloop::kStages,
                             Mainloop::kChunkK / 16>;

  [[noreturn]] static void fail(std::string const& what) { throw std::invalid_argument("machete::mm: " + what); }

  static void validate(MMArgs const& a) {
    if (a.K <= 0 || a.N <= 0 || a.M < 0) fail("M, N, K must be positive");
    if (a.K % 64 != 0) fail("K must be a multiple of 64, got " + std::to_string(a.K));
    if (a.N % 128 != 0) fail("N must be a multiple of 128, got " + std::to_string(a.N));
    if (a.M > INT32_MAX || a.N > INT32_MAX || a.K > INT32_MAX) fail("M, N, K must fit in int32");
    if ((a.M + kTileM - 1) / kTileM > 65535) fail("M too large for a decode schedule (at most 65535 token tiles)");
    const int64_t g = a.group_size <= 0 ? a.K : a.group_size;
    if (!(g == a.K || (g % 64 == 0 && a.K % g == 0)))
      fail("group_size must be K or a multiple of 64 dividing K, got " + std::to_string(a.group_size));
    if (!a.A || !a.B || !a.D || !a.group_scales) fail("null A, B, D or group_scales pointer");
    if (Types::has_group_zeros && !a.group_zeros) fail("this type needs group_zeros");
    if (!Types::has_group_zeros && a.group_zeros) fail("this type takes no group_zeros");
    if (a.lda < a.K || a.lda % 8 != 0) fail("A row stride must be >= K and a multiple of 8 elements (16 bytes)");
    if (a.ldd < a.N || a.ldd % 8 != 0) fail("D row stride must be >= N and 16-byte aligned");
    if (a.ld_group < a.N || a.ld_group % 8 != 0) fail("group scale row stride must be >= N and a multiple of 8");
    if (!detail::decode_aligned16(a.A) || !detail::decode_aligned16(a.B) || !detail::decode_aligned16(a.D) ||
        !detail::decode_aligned16(a.group_scales) || (a.group_zeros && !detail::decode_aligned16(a.group_zeros)))
      fail("A, B, D, scales and zeros must be 16-byte aligned");
  }

  static void run(MMArgs const& a) {
    validate(a);
    if (a.M == 0) return;
    static const int cached_sms = [] {
      int dev = 0, sms = 0;
      if (cudaGetDevice(&dev) != cudaSuccess ||
          cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
        return 132;
      return sms;
    }();
    decode::Params p{};
    p.A = a.A;
    p.B = static_cast<const uint32_t*>(a.B);
    p.D = a.D;
    p.S = a.group_scales;
    p.Z = a.group_zeros;
    p.M = int(a.M);
    p.N = int(a.N);
    p.K = int(a.K);
    p.lda = a.lda;
    p.ldd = a.ldd;
    p.lds = a.ld_group;
    p.group_size = int(a.group_size <= 0 ? a.K : a.group_size);
    cudaError_t err = decode::Launcher<Cfg>::launch(p, a.sm_count > 0 ? a.sm_count : cached_sms, 0, a.stream);
    if (err == cudaSuccess) err = cudaGetLastError();
    if (err != cudaSuccess)
      throw std::runtime_error(std::string("machete::mm: decode kernel launch failed: ") + cudaGetErrorString(err));
  }
};

}  // namespace machete
