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
#include "cutlass/float8.h"
#include "cutlass/numeric_types.h"
#include "machete/decode_kernel.cuh"
#include "machete/mm_args.h"
#include "machete/mm_validate.h"
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

template <class A> struct DecodeAct;
template <> struct DecodeAct<cutlass::half_t> { static constexpr decode::Act value = decode::Act::F16; };
template <> struct DecodeAct<cutlass::bfloat16_t> { static constexpr decode::Act value = decode::Act::BF16; };
template <> struct DecodeAct<int8_t> { static constexpr decode::Act value = decode::Act::S8; };
template <> struct DecodeAct<cutlass::float_e4m3_t> { static constexpr decode::Act value = decode::Act::E4M3; };

}  // namespace detail

template <class Types, class Schedule>
struct DecodeGemm {
  using Mainloop = typename Schedule::KernelSchedule;
  using ElementA = typename Types::A;
  static constexpr decode::Act kAct = detail::DecodeAct<ElementA>::value;
  static constexpr bool kW4A8 = kAct == decode::Act::S8 || kAct == decode::Act::E4M3;
  // W4A16: out, group scales (and zeros) of type A. W4A8: u4b8 weights, f16 or no group scales,
  // f32 channel and token scales, f16 out.
  static_assert(kW4A8 || (std::is_same_v<typename Types::Out, ElementA> &&
                          std::is_same_v<typename Types::GroupScale, ElementA> &&
                          !Types::has_channel_scales && !Types::has_token_scales),
                "decode schedules with 16-bit activations: out and group scales of type A, no channel/token scales");
  static_assert(!Types::has_group_zeros || std::is_same_v<typename Types::GroupZero, ElementA>,
                "group zeros must have the type of A");
  static_assert(!kW4A8 || (std::is_same_v<typename Types::B, uint4b8_t> && std::is_same_v<typename Types::Out, cutlass::half_t> &&
                           (std::is_void_v<typename Types::GroupScale> || std::is_same_v<typename Types::GroupScale, cutlass::half_t>) &&
                           std::is_same_v<typename Types::ChannelScale, float> && std::is_same_v<typename Types::TokenScale, float> &&
                           !Types::has_group_zeros),
                "W4A8 decode: u4b8 weights, f16 or no group scales, f32 channel and token scales, f16 out");
  using Quant = detail::DecodeQuant<typename Types::B>;

  static constexpr int kTileN = cute::size<0>(typename Schedule::TileShapeNM{});
  static constexpr int kTileM = cute::size<1>(typename Schedule::TileShapeNM{});
  using Cfg = decode::Config<kAct, Quant::bits, Quant::is_signed, Types::has_group_zeros, kTileN, kTileM,
                             Mainloop::kWarps, Mainloop::kStages, Mainloop::kChunkK / 16, Types::has_group_scales>;

  static void validate(MMArgs const& a) {
    // A's row stride: 16 bytes = 8 16-bit or 16 8-bit elements; D is 16-bit
    detail::validate_mm_args(a, Types::has_group_scales, Types::has_group_zeros, kW4A8, kW4A8 ? 16 : 8, 8, 64);
    if ((a.M + kTileM - 1) / kTileM > 65535) detail::fail_mm("M too large for a decode schedule (at most 65535 token tiles)");
    if ((a.N + kTileN - 1) / kTileN > 65535) detail::fail_mm("N too large for a decode schedule (at most 65535 N tiles)");
  }

  static void run(MMArgs const& a) {
    validate(a);
    if (a.M == 0) return;
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
    p.CS = static_cast<const float*>(a.channel_scales);
    p.TS = static_cast<const float*>(a.token_scales);
    // sm_count <= 0: every SM of the current device (the launcher's per-device cluster capacity)
    cudaError_t err = decode::Launcher<Cfg>::launch(p, a.sm_count, 0, a.stream);
    detail::check_launch(err, "decode kernel");
  }
};

}  // namespace machete
