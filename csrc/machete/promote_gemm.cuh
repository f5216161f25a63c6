// machete/promote_gemm.cuh -- MacheteKernel's W4A8 promote path: maps a TypeConfig and a promote
// schedule (KernelSchedule = PromoteMainloop<Stages>) onto promote::Config, validates MMArgs and
// launches (the kernel: promote_kernel.cuh).
//
// A promote schedule struct, as generated, holds
//   using TileShapeNM    = cute::Shape<_TileN, _TileM>;   // output features x tokens per CTA
//   using KernelSchedule = machete::PromoteMainloop<Stages>;
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "cute/layout.hpp"
#include "cutlass/float8.h"
#include "cutlass/numeric_types.h"
#include "machete/mm_args.h"
#include "machete/mm_validate.h"
#include "machete/promote_kernel.cuh"
#include "machete/scalar_tags.cuh"

namespace machete {

// Kernel-schedule tag of the W4A8 promote kernel: shared-memory pipeline stages.
template <int Stages>
struct PromoteMainloop {
  static constexpr int kStages = Stages;
};

template <class T> struct IsPromoteMainloop : std::false_type {};
template <int S> struct IsPromoteMainloop<PromoteMainloop<S>> : std::true_type {};

template <class Types, class Schedule>
struct PromoteGemm {
  using ElementA = typename Types::A;
  static constexpr bool kE4M3 = std::is_same_v<ElementA, cutlass::float_e4m3_t>;
  static_assert(kE4M3 || std::is_same_v<ElementA, int8_t>, "promote kernel: int8 or float_e4m3 activations");
  static_assert(std::is_same_v<typename Types::B, uint4b8_t> && std::is_same_v<typename Types::Out, cutlass::half_t> &&
                    (std::is_void_v<typename Types::GroupScale> || std::is_same_v<typename Types::GroupScale, cutlass::half_t>) &&
                    std::is_same_v<typename Types::ChannelScale, float> && std::is_same_v<typename Types::TokenScale, float> &&
                    !Types::has_group_zeros,
                "promote kernel: u4b8 weights, f16 or no group scales, f32 channel and token scales, f16 out");
  static constexpr int kTileN = cute::size<0>(typename Schedule::TileShapeNM{});
  static constexpr int kTileM = cute::size<1>(typename Schedule::TileShapeNM{});
  // 128-feature tiles: two group accumulators (mode 2), 256-feature tiles: the warpgroups take turns
  // on the tensor cores (mode 0); each beat the alternatives by 2-7% in one H100 dev-harness run
  // (scripts/decode_dev/README.md, item 14)
  static constexpr int kMode = kTileN == 128 ? 2 : 0;
  using Cfg = promote::Config<kE4M3, Types::has_group_scales, kTileN, kTileM, Schedule::KernelSchedule::kStages, kMode>;

  static void validate(MMArgs const& a) {
    // A's row stride: 16 bytes of 8-bit activations (the TMA's global stride); D is f16
    detail::validate_mm_args(a, Types::has_group_scales, false, true, 16, 8, 64);
    // the launch grids are one-dimensional over the output tiles
    if (promote::Launcher<Cfg>::tiles(int(a.M), int(a.N)) > 0x7FFFFFFF)
      detail::fail_mm("M x N too large for a promote schedule (more than 2^31 - 1 output tiles)");
  }

  static void run(MMArgs const& a) {
    validate(a);
    if (a.M == 0) return;
    promote::Params p{};
    p.B = static_cast<const uint8_t*>(a.B);
    p.D = static_cast<__half*>(a.D);
    p.S = static_cast<const __half*>(a.group_scales);
    p.CS = static_cast<const float*>(a.channel_scales);
    p.TS = static_cast<const float*>(a.token_scales);
    p.M = int(a.M);
    p.N = int(a.N);
    p.K = int(a.K);
    p.ldd = a.ldd;
    p.lds = a.ld_group;
    p.group_size = int(a.group_size <= 0 ? a.K : a.group_size);
    // whole waves of tiles, then the partial last wave split over K: fp32 partials of each split,
    // summed by a second kernel (deterministic)
    const promote::Plan plan = promote::Launcher<Cfg>::plan(p.M, p.N, p.K, detail::sm_count_for(a));
    float* ws = static_cast<float*>(detail::allocate_workspace(a, promote::Launcher<Cfg>::workspace_bytes(plan)));
    detail::check_launch(promote::Launcher<Cfg>::launch(a.A, a.lda, p, plan, ws, a.stream), "promote kernel");
  }
};

}  // namespace machete
