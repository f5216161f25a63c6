// Where the host time of one CUTLASS-path machete::mm call goes (development tool, not in the
// product): the phases of CutlassMixedGemm::run timed one at a time on the product's 128x64
// cluster-2 stream-K schedule (f16 x u4b8, f16 group scales), each over `iters` calls.
//   nvcc $(python3 -m machete_gen.build_flags --pic) -shared scripts/decode_dev/cutlass_host_cost.cu \
//        -o .devbuild/libcutlass_host_cost.so
//   python3 scripts/decode_dev/cutlass_host_cost.py .devbuild/libcutlass_host_cost.so   (GPU machine)
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cutlass_dev_common.cuh"

namespace {

using G = machete::CutlassMixedGemm<machete_dev::F16U4b8, machete_dev::CoopStreamK<128, 64, 2>>;

template <class F>
double per_call_us(int iters, cudaStream_t stream, F&& f) {
  cudaStreamSynchronize(stream);
  double total = 0;
  for (int done = 0; done < iters;) {
    const int n = std::min(64, iters - done);  // keep the launch queue short
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) f();
    total += std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    cudaStreamSynchronize(stream);
    done += n;
  }
  return total / iters;
}

}  // namespace

// out[0..9]: make_arguments, can_implement, get_workspace_size, initialize_workspace (CUTLASS's
// stream-K lock memset), to_underlying_arguments, cudaFuncSetAttribute, GemmUniversalAdapter::run
// (its launch), the whole CutlassMixedGemm::run, workspace bytes, CutlassMixedGemm::launch (ours).
// Returns a CUDA error code.
extern "C" int host_cost(const void* A, const void* B, void* D, const void* S, int M, int N, int K, int g,
                         void* stream_, int iters, double* out) {
  cudaStream_t stream = static_cast<cudaStream_t>(stream_);
  const machete::MMArgs a = machete_dev::make_args(A, B, D, S, M, N, K, g, stream_);
  try {
    const int sms = machete::detail::sm_count_for(a);
    auto args = G::make_arguments(a, sms);
    G::Gemm gemm;
    const size_t ws_bytes = G::Gemm::get_workspace_size(args);
    void* ws = machete::detail::allocate_workspace(a, ws_bytes);
    G::run(a);  // warm: attributes set, everything resident
    out[0] = per_call_us(iters, stream, [&] { args = G::make_arguments(a, sms); });
    out[1] = per_call_us(iters, stream, [&] { (void)gemm.can_implement(args); });
    out[2] = per_call_us(iters, stream, [&] { (void)G::Gemm::get_workspace_size(args); });
    out[3] = per_call_us(iters, stream, [&] { (void)G::GemmKernel::initialize_workspace(args, ws, stream); });
    typename G::GemmKernel::Params params;
    out[4] = per_call_us(iters, stream, [&] { params = G::GemmKernel::to_underlying_arguments(args, ws); });
    out[5] = per_call_us(iters, stream, [&] {
      (void)cudaFuncSetAttribute(cutlass::device_kernel<typename G::GemmKernel>,
                                 cudaFuncAttributeMaxDynamicSharedMemorySize, G::GemmKernel::SharedStorageSize);
    });
    out[6] = per_call_us(iters, stream, [&] {
      (void)G::GemmKernel::initialize_workspace(args, ws, stream);
      (void)G::Gemm::run(params, stream);
    }) - out[3];
    out[7] = per_call_us(iters, stream, [&] { G::run(a); });
    out[8] = double(ws_bytes);
    out[9] = per_call_us(iters, stream, [&] {
      (void)G::GemmKernel::initialize_workspace(args, ws, stream);
      G::launch(params, stream);
    }) - out[3];
  } catch (std::exception const& e) {
    std::fprintf(stderr, "host_cost: %s\n", e.what());
    return -1;
  }
  return int(cudaGetLastError());
}
