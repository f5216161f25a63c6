// machete/mm_kernel.cuh -- the GEMM template the generated machete_mm_impl_part*.cu instantiate.
//
// Problem: D[M,N] = A[M,K] @ dequant(B)[K,N], dequant(q) = q * s + z (z added after scaling).
//
// Operand mapping. Hopper wgmma takes only its *left* operand from registers, and the quantized
// weights must be up-converted in registers, so we run the transposed product
//
//     D^T (N x M) = B^T (N x K) * A^T (K x M)
//
// as a CUTLASS 3.x GEMM with problem shape (M', N', K) = (N, M, K):
//   CUTLASS operand A  <- quantized weights B^T: (N, K), prepacked layout (prepack_layout.cuh)
//   CUTLASS operand B  <- activations A^T:      (M, K), K-major, stride (lda, 1)
//   CUTLASS D          <- D^T:                  (N, M), stride (1, ldd) (i.e. D row-major)
//   group scales/zeros: (N, ceil(K/g)), N-major, stride (1, ld_group) -- exactly the row-major
//                       [ceil(K/g), N] tensors users pass.
// Hence schedule tile shapes are (N tile, M tile) and map to CUTLASS tile (TileN, TileM, TileK)
// with TileK = 128 bytes of A = 64 f16/bf16 values.
//
// Stream-K and hangs. CUTLASS 4.2's StreamKScheduler synchronises the peers that share an output
// tile through lock counters in the workspace (fixup(): wait_eq(lock, K_idx) then arrive_inc).
// The kernel never resets those counters; only GemmUniversal::initialize() zeroes them (a
// cudaMemsetAsync on the launch stream). A launch that reuses an initialised workspace without
// calling initialize() again (e.g. the profiling loop of CUTLASS example 55, which calls
// gemm.run() repeatedly) finds the counters at their final values from the previous launch, so
// every stream-K unit that waits for `lock == K_idx` spins forever: exactly the "deterministic
// hang on shapes that get stream-K units" reported in docs/GPU.md (shapes whose tile count fills whole
// waves are scheduled data-parallel and never wait). The mixed-input mainloop is not at fault.
// We therefore allocate the workspace and zero the lock counters on *every* call, on the launch
// stream, so the zeroing is ordered before the kernel (and captured into CUDA graphs with it).
//
// The launch path (CutlassMixedGemm::run) does what GemmUniversalAdapter::initialize() + run() do,
// minus two driver calls per launch: the dynamic shared-memory attribute is set once per device
// (the adapter sets it before every launch), and the cluster launch goes straight to
// cudaLaunchKernelExC (the adapter's ClusterLauncher also sets
// cudaFuncAttributeNonPortableClusterSizeAllowed on every call; our clusters are at most 2).
// About 5.7 us of host time per call on the H100 host (scripts/decode_dev/cutlass_host_cost.cu).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <cuda_runtime.h>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/operations.hpp"
#include "cutlass/epilogue/fusion/sm90_callbacks_tma_warpspecialized.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/gemm/kernel/tile_scheduler.hpp"
#include "cutlass/numeric_types.h"

#include "machete/decode_gemm.cuh"
#include "machete/promote_gemm.cuh"
#include "machete/mm_args.h"
#include "machete/mm_validate.h"
#include "machete/prepack_layout.cuh"
#include "machete/scalar_tags.cuh"
#include "machete/type_config.cuh"

namespace machete {

namespace detail {

template <class T> struct IsStreamK : std::false_type {};
template <> struct IsStreamK<cutlass::gemm::StreamKScheduler> : std::true_type {};

// A schedule's K tile in elements of A: `using TileK = cute::Int<n>;` when the schedule names one,
// else 128 bytes of A (64 16-bit or 128 8-bit values).
template <class S, int Default, class = void> struct ScheduleTileK { static constexpr int value = Default; };
template <class S, int Default> struct ScheduleTileK<S, Default, std::void_t<typename S::TileK>> {
  static constexpr int value = S::TileK::value;
};

}  // namespace detail

// The CUTLASS 4.2 SM90 mixed-input GEMM (TMA warp-specialized cooperative, stream-K or persistent).
template <class Types, class Schedule>
struct CutlassMixedGemm {
  using ElementA = typename Types::A;  // activations
  using QuantTag = typename Types::B;
  using ElementQ = typename QuantStorage<QuantTag>::type;
  using ElementScale = typename Types::GroupScale;
  using ElementZero = typename Types::GroupZero;
  using ElementOut = typename Types::Out;
  using ElementAcc = typename Types::Accumulator;

  // W4A8 (8-bit activations): the MMA runs in A's type (s8 x s8 -> s32, e4m3 x e4m3 -> f32) on the
  // weights converted in registers without scaling (CUTLASS's DirectConvert: the collective would
  // round s * q to 8 bits, so only the per-channel types take this path; W4A8 with group scales
  // runs on the decode family), from the 8-bit-MMA prepacked layout; the epilogue multiplies the
  // accumulator by channel_scales[n] (CUTLASS's M) and token_scales[m] (CUTLASS's N) in fp32.
  static constexpr bool kW4A8 = cutlass::sizeof_bits<ElementA>::value == 8;

  static_assert(kW4A8 || Types::has_group_scales, "W4A16 kernels need group scales");
  static_assert(kW4A8 == (Types::has_channel_scales && Types::has_token_scales),
                "channel and token scales are exactly the W4A8 (8-bit activation) types");
  static_assert(kW4A8 || cutlass::sizeof_bits<ElementA>::value == 16, "activations must be f16, bf16, s8 or e4m3");
  static_assert(kW4A8 || std::is_same_v<ElementScale, ElementA>, "group scales must have the type of A");
  static_assert(!kW4A8 || (!Types::has_group_scales && cutlass::sizeof_bits<ElementQ>::value == 4 &&
                           std::is_same_v<ElementOut, cutlass::half_t>),
                "CUTLASS W4A8: 4-bit weights without group scales, f16 out (group-scaled W4A8 is decode-only)");
  static_assert(!Types::has_group_zeros || std::is_same_v<ElementZero, ElementScale>,
                "group zeros must have the type of the scales");

  static constexpr int kBits = cutlass::sizeof_bits<ElementQ>::value;
  static constexpr int kTileN = cute::size<0>(typename Schedule::TileShapeNM{});
  static constexpr int kTileM = cute::size<1>(typename Schedule::TileShapeNM{});
  // 128 bytes of A (64 16-bit, 128 8-bit values) unless the schedule names a K tile
  static constexpr int kTileK = detail::ScheduleTileK<Schedule, 128 * 8 / cutlass::sizeof_bits<ElementA>::value>::value;

  // CUTLASS tile: (M' = N tile, N' = M tile, K tile).
  using TileShape = cute::Shape<cute::Int<kTileN>, cute::Int<kTileM>, cute::Int<kTileK>>;
  using ClusterShape = typename Schedule::ClusterShape;
  using KernelSchedule = typename Schedule::KernelSchedule;
  using EpilogueSchedule = typename Schedule::EpilogueSchedule;
  using TileScheduler = typename Schedule::TileScheduler;
  using EpilogueTileType = typename Schedule::EpilogueTileType;

  using LayoutQ = std::conditional_t<kW4A8, PrepackedLayoutMma8, PrepackedLayout<kBits>>;  // operand A
  using LayoutAct = cutlass::layout::ColumnMajor;          // operand B: A^T (K x M), K contiguous
  using LayoutD = cutlass::layout::ColumnMajor;            // D^T (N x M), N contiguous
  static constexpr int kAlignQ = 128 / kBits;
  static constexpr int kAlignA = 128 / cutlass::sizeof_bits<ElementA>::value;
  static constexpr int kAlignD = 128 / cutlass::sizeof_bits<ElementOut>::value;

  // W4A8 epilogue: out = f16(channel_scale[n] * (token_scale[m] * acc)), an EVT of a column broadcast
  // (CUTLASS's M = output features) and a row broadcast (CUTLASS's N = tokens) over the accumulator.
  struct W4A8Epilogue {
    using ChannelScale = cutlass::epilogue::fusion::Sm90ColBroadcast<0, TileShape, float, float,
                                                                     cute::Stride<cute::_1, cute::_0, int64_t>>;
    using TokenScale = cutlass::epilogue::fusion::Sm90RowBroadcast<0, TileShape, float, float,
                                                                   cute::Stride<cute::_0, cute::_1, int64_t>>;
    using type = cutlass::epilogue::fusion::Sm90EVT<
        cutlass::epilogue::fusion::Sm90Compute<cutlass::multiplies, ElementOut, float, cutlass::FloatRoundStyle::round_to_nearest>,
        ChannelScale,
        cutlass::epilogue::fusion::Sm90EVT<
            cutlass::epilogue::fusion::Sm90Compute<cutlass::multiplies, float, float, cutlass::FloatRoundStyle::round_to_nearest>,
            TokenScale, cutlass::epilogue::fusion::Sm90AccFetch>>;
  };
  // the two epilogues as lazily instantiated members (only the one taken is built)
  struct W16Epi {
    using type = typename cutlass::epilogue::collective::CollectiveBuilder<
        cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, ClusterShape, EpilogueTileType,
        ElementAcc, ElementAcc,
        void, LayoutD, kAlignD,  // no C operand (beta = 0): no smem or loads for C
        ElementOut, LayoutD, kAlignD, EpilogueSchedule>::CollectiveOp;
  };
  struct W8Epi {
    using type = typename cutlass::epilogue::collective::CollectiveBuilder<
        cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, ClusterShape, EpilogueTileType,
        ElementAcc, float, void, LayoutD, kAlignD, ElementOut, LayoutD, kAlignD, EpilogueSchedule,
        typename W4A8Epilogue::type>::CollectiveOp;
  };
  using CollectiveEpilogue = typename std::conditional_t<kW4A8, W8Epi, W16Epi>::type;

  using MainloopElementQ = std::conditional_t<
      kW4A8, cute::tuple<ElementQ>,
      std::conditional_t<Types::has_group_zeros, cute::tuple<ElementQ, ElementScale, ElementZero>,
                         cute::tuple<ElementQ, ElementScale>>>;

  using CollectiveMainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, MainloopElementQ, LayoutQ, kAlignQ,
      ElementA, LayoutAct, kAlignA, ElementAcc, TileShape, ClusterShape,
      cutlass::gemm::collective::StageCountAutoCarveout<
          static_cast<int>(sizeof(typename CollectiveEpilogue::SharedStorage))>,
      KernelSchedule>::CollectiveOp;

  using GemmKernel = cutlass::gemm::kernel::GemmUniversal<cute::Shape<int, int, int, int>,
                                                          CollectiveMainloop, CollectiveEpilogue,
                                                          TileScheduler>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<GemmKernel>;

  using StrideAct = typename GemmKernel::StrideB;
  using StrideD = typename GemmKernel::StrideD;
  using StrideC = typename GemmKernel::StrideC;
  using StrideScale = typename CollectiveMainloop::StrideScale;

  static void validate(MMArgs const& a) {
    detail::validate_mm_args(a, Types::has_group_scales, Types::has_group_zeros, kW4A8, kAlignA, kAlignD, kTileK);
    // the EVT's channel-scale broadcast loads 4 floats at a time
    if (kW4A8 && !detail::aligned16(a.channel_scales)) detail::fail_mm("channel_scales must be 16-byte aligned");
  }

  static typename Gemm::Arguments make_arguments(MMArgs const& a, int sm_count) {
    const int M = int(a.M), N = int(a.N), K = int(a.K);
    const int g = int(a.group_size <= 0 ? a.K : a.group_size);
    const int scale_k = (K + g - 1) / g;

    LayoutQ layout_q = [&] {
      if constexpr (kW4A8) return make_prepacked_layout_mma8(N, K);
      else return make_prepacked_layout<kBits>(N, K);
    }();
    StrideAct stride_act = cute::make_stride(int64_t(a.lda), cute::Int<1>{}, int64_t(a.lda) * M);
    StrideD stride_d = cute::make_stride(cute::Int<1>{}, int64_t(a.ldd), int64_t(a.ldd) * M);
    StrideC stride_c = stride_d;

    typename CollectiveMainloop::Arguments mainloop{};
    mainloop.ptr_A = static_cast<ElementQ const*>(a.B);
    mainloop.dA = layout_q;
    mainloop.ptr_B = static_cast<ElementA const*>(a.A);
    mainloop.dB = stride_act;
    if constexpr (!kW4A8) {
      mainloop.ptr_S = static_cast<ElementScale const*>(a.group_scales);
      mainloop.dS = cute::make_stride(cute::Int<1>{}, int64_t(a.ld_group), int64_t(a.ld_group) * scale_k);
      mainloop.group_size = g;
    }
    if constexpr (Types::has_group_zeros) {
      mainloop.ptr_Z = static_cast<ElementZero const*>(a.group_zeros);
    }

    typename CollectiveEpilogue::Arguments epilogue{};
    if constexpr (kW4A8) {
      // tree arguments, children first: {channel broadcast, {token broadcast, acc, *}, *}
      epilogue.thread = {{static_cast<float const*>(a.channel_scales), 1.0f, {}},
                         {{static_cast<float const*>(a.token_scales), 1.0f, {}}, {}, {}},
                         {}};
    } else {
      epilogue.thread.alpha = 1.0f;
      epilogue.thread.beta = 0.0f;
    }
    epilogue.ptr_C = nullptr;
    epilogue.dC = stride_c;
    epilogue.ptr_D = static_cast<ElementOut*>(a.D);
    epilogue.dD = stride_d;

    cutlass::KernelHardwareInfo hw_info;
    int dev = 0;
    cudaGetDevice(&dev);
    hw_info.device_id = dev;
    hw_info.sm_count = sm_count;

    typename Gemm::Arguments args{cutlass::gemm::GemmUniversalMode::kGemm, {N, M, K, 1}, mainloop,
                                  epilogue, hw_info};
    if constexpr (detail::IsStreamK<TileScheduler>::value) {
      using DecompositionMode = typename GemmKernel::TileScheduler::DecompositionMode;
      using ReductionMode = typename GemmKernel::TileScheduler::ReductionMode;
      // CUTLASS's heuristic: data-parallel for tiles that fill whole waves, stream-K (a K split)
      // over the last partial wave -- so e.g. 28672x8192 at M=1 (64 tiles of 128x16 for 132 SMs)
      // is split along K across all SMs. Deterministic reduction: same result on every run.
      args.scheduler.decomposition_mode = DecompositionMode::Heuristic;
      args.scheduler.reduction_mode = ReductionMode::Deterministic;
      args.scheduler.splits = 1;
      // Except where the output tiles fill at most half of the SMs: there an even split-K over
      // all of them (each tile's K in `splits` equal ranges) beat the heuristic's stream-K units
      // for the 128-feature tiles (H100, CUDA graphs, scripts/decode_dev/cutlass_knobs.cu:
      // 4096x4096 M = 96-256 1.04-1.21x, 2048x4096 1.06-1.09x, 8192x4096 / 14336x4096 M = 64-128
      // with 4 splits 1.02-1.07x; where tiles x 2 > SMs, as 4096x6144 M = 128, a split lost up
      // to 23%, and 256x128 tiles gained nothing).
      const int splits = split_k_for(M, N, K, sm_count);
      if (splits > 1) {
        args.scheduler.decomposition_mode = DecompositionMode::SplitK;
        args.scheduler.splits = splits;
      }
    }
    return args;
  }

  // The split-K factor make_arguments uses (1: CUTLASS's heuristic decomposition): for W4A16 tiles of
  // 128 features x 64 or 128 tokens, as many equal K ranges per output tile as fit the SMs beside
  // the tiles, at most 4, each at least 8 K tiles; MACHETE_CUTLASS_SPLITK=0 turns it off.
  static int split_k_for(int M, int N, int K, int sm_count) {
    constexpr bool kMeasured = !kW4A8 && kTileN == 128 && (kTileM == 64 || kTileM == 128) &&
                               detail::IsStreamK<TileScheduler>::value;
    if (!kMeasured || detail::cutlass_split_k_disabled()) return 1;
    constexpr int kClusterN = cute::size<0>(ClusterShape{});  // CTAs along the features
    const int64_t n_tiles = (int64_t(N + kTileN - 1) / kTileN + kClusterN - 1) / kClusterN * kClusterN;
    const int64_t tiles = n_tiles * ((M + kTileM - 1) / kTileM);
    const int64_t k_tiles = (K + kTileK - 1) / kTileK;
    const int64_t s = std::min<int64_t>({4, tiles > 0 ? sm_count / tiles : 1, k_tiles / 8});
    return s >= 2 ? int(s) : 1;
  }

  // The cluster launch of the GEMM kernel (GemmUniversalAdapter::run without its per-call attributes).
  static void launch(typename GemmKernel::Params const& params, cudaStream_t stream) {
    static std::atomic<uint64_t> smem_set{0};
    constexpr int smem = GemmKernel::SharedStorageSize;
    const void* kernel = reinterpret_cast<const void*>(&cutlass::device_kernel<GemmKernel>);
    cudaError_t err = detail::once_per_device(smem_set, [&] {
      return smem >= (48 << 10) ? cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem)
                                : cudaSuccess;
    });
    if (err != cudaSuccess)
      throw std::runtime_error(std::string("machete::mm: cudaFuncSetAttribute failed: ") + cudaGetErrorString(err));
    cudaLaunchConfig_t cfg{};
    cfg.gridDim = Gemm::get_grid_shape(params);
    cfg.blockDim = GemmKernel::get_block_shape();
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cudaLaunchAttribute cluster;
    cluster.id = cudaLaunchAttributeClusterDimension;
    cluster.val.clusterDim.x = cute::size<0>(ClusterShape{});
    cluster.val.clusterDim.y = cute::size<1>(ClusterShape{});
    cluster.val.clusterDim.z = cute::size<2>(ClusterShape{});
    cfg.attrs = &cluster;
    cfg.numAttrs = 1;
    typename GemmKernel::Params p = params;
    void* kernel_args[] = {&p};
    err = cudaLaunchKernelExC(&cfg, kernel, kernel_args);
    if (err != cudaSuccess)
      throw std::runtime_error(std::string("machete::mm: launch failed: ") + cudaGetErrorString(err));
  }

  static void run(MMArgs const& a) {
    validate(a);
    if (a.M == 0) return;  // empty output, nothing to launch
    run(a, make_arguments(a, detail::sm_count_for(a)));
  }

  // Launches the GEMM of already validated arguments `a` with CUTLASS arguments `args` (make_arguments'
  // own, or those with the tile scheduler's fields overridden, as scripts/decode_dev/cutlass_knobs.cu does).
  static void run(MMArgs const& a, typename Gemm::Arguments const& args) {
    cutlass::Status st = Gemm::can_implement(args);
    if (st != cutlass::Status::kSuccess) {
      detail::fail_mm(std::string("CUTLASS cannot implement this problem (") + cutlassGetStatusString(st) +
           "): M=" + std::to_string(a.M) + " N=" + std::to_string(a.N) + " K=" + std::to_string(a.K) +
           " group_size=" + std::to_string(a.group_size));
    }
    void* ws = detail::allocate_workspace(a, Gemm::get_workspace_size(args));
    // zeroes the stream-K lock counters on a.stream (a cudaMemsetAsync): before every launch
    st = GemmKernel::initialize_workspace(args, ws, a.stream);
    if (st != cutlass::Status::kSuccess)
      throw std::runtime_error(std::string("machete::mm: workspace initialization failed: ") +
                               cutlassGetStatusString(st));
    const typename GemmKernel::Params params = GemmKernel::to_underlying_arguments(args, ws);
    launch(params, a.stream);
  }
};

// The kernel template the generated files instantiate: the schedule's KernelSchedule tag picks the
// implementation -- machete::DecodeMainloop<...> the small-M decode kernel (decode_gemm.cuh),
// machete::PromoteMainloop<...> the W4A8 promote kernel (promote_gemm.cuh), anything else
// CUTLASS's collective. std::conditional_t names both without instantiating the one
// not taken, so a decode instantiation never touches the CUTLASS builders and vice versa.
template <class Types, class Schedule>
struct MacheteKernel {
  using Impl = std::conditional_t<
      IsDecodeMainloop<typename Schedule::KernelSchedule>::value, DecodeGemm<Types, Schedule>,
      std::conditional_t<IsPromoteMainloop<typename Schedule::KernelSchedule>::value, PromoteGemm<Types, Schedule>,
                         CutlassMixedGemm<Types, Schedule>>>;
  static void run(MMArgs const& args) { Impl::run(args); }
};

}  // namespace machete
