// Development harness: the product's CUTLASS schedules (csrc/machete/mm_kernel.cuh, f16 x u4b8,
// f16 group scales) launched with the stream-K tile scheduler's run-time arguments overridden --
// decomposition (heuristic / data-parallel / split-K / stream-K), split count, swizzle, raster
// order -- to see whether the defaults make_arguments sets leave time on the table. One schedule
// per part, so the parts compile in parallel:
//   nvcc ... -DPART=p -c cutlass_knobs.cu   (p = 0..3), linked into one .so (cutlass_knobs.py).
// Not part of the product build.
#include <cstdio>

#include "cutlass_dev_common.cuh"

namespace {

template <int TN, int TM, int CN>
using Sched = machete_dev::CoopStreamK<TN, TM, CN>;
using Types = machete_dev::F16U4b8;

#if PART == 0
using S = Sched<128, 64, 2>;
#elif PART == 1
using S = Sched<128, 128, 2>;
#elif PART == 2
using S = Sched<256, 128, 2>;
#else
using S = Sched<256, 64, 2>;
#endif
using G = machete::CutlassMixedGemm<Types, S>;

}  // namespace

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)

// decomposition: 0 heuristic, 1 data-parallel, 2 split-K, 3 stream-K; raster: 0 heuristic,
// 1 along CUTLASS's M (features), 2 along N (tokens). Returns 0, a CUDA error, or -1 (an exception:
// invalid arguments, a combination CUTLASS cannot implement, a failed launch; the message goes to stderr).
extern "C" int CAT(knob_run_p, PART)(const void* A, const void* B, void* D, const void* Sc, int M, int N, int K,
                                      int g, void* stream, int decomposition, int splits, int swizzle, int raster) {
  const machete::MMArgs a = machete_dev::make_args(A, B, D, Sc, M, N, K, g, stream);
  try {
    G::validate(a);
    auto args = G::make_arguments(a, machete::detail::sm_count_for(a));
    using Dec = typename G::GemmKernel::TileScheduler::DecompositionMode;
    using Raster = cutlass::gemm::kernel::detail::RasterOrderOptions;
    args.scheduler.decomposition_mode = static_cast<Dec>(decomposition);
    args.scheduler.splits = splits;
    args.scheduler.max_swizzle_size = swizzle;
    args.scheduler.raster_order = static_cast<Raster>(raster);
    G::run(a, args);
  } catch (std::exception const& e) {
    std::fprintf(stderr, "knob_run_p%d: %s\n", PART, e.what());
    return -1;
  }
  return int(cudaGetLastError());
}
