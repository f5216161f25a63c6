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

  static void validate(MMArgs const& a) {
    detail::validate_mm_args(a, Types::has_group_zeros, 8, 8, 64);  // 16-bit A and D: 8 elements = 16 bytes
    if ((a.M + kTileM - 1) / kTileM > 65535) detail::fail_mm("M too large for a decode schedule (at most 65535 token tiles)");
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
    // sm_count <= 0: every SM of the current device (the launcher's per-device cluster capacity)
    cudaError_t err = decode::Launcher<Cfg>::launch(p, a.sm_count, 0, a.stream);
    if (err == cudaSuccess) err = cudaGetLastError();
    if (err != cudaSuccess)
      throw std::runtime_error(std::string("machete::mm: decode kernel launch failed: ") + cudaGetErrorString(err));
  }
};

}  // namespace machete
