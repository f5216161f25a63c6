// Shared by the CUTLASS-path development harnesses (cutlass_harness.cu, cutlass_knobs.cu,
// cutlass_host_cost.cu): the product's schedule shape (TMA warp-specialized cooperative, stream-K)
// with an optional K tile, the f16 x u4b8 type with f16 group scales, a grow-only workspace and
// the MMArgs of a row-major problem. Not part of the product build.
#pragma once

#include "machete/mm_kernel.cuh"

namespace machete_dev {

// tile N (features) x tile M (tokens), cluster CN along the features (the product's K tile)
template <int TN, int TM, int CN>
struct CoopStreamK {
  using TileShapeNM = cute::Shape<cute::Int<TN>, cute::Int<TM>>;
  using ClusterShape = cute::Shape<cute::Int<CN>, cute::_1, cute::_1>;
  using KernelSchedule = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
  using EpilogueSchedule = cutlass::epilogue::TmaWarpSpecializedCooperative;
  using TileScheduler = cutlass::gemm::StreamKScheduler;
  using EpilogueTileType = cutlass::epilogue::collective::EpilogueTileAuto;
};
// the same with a K tile of TK elements of A
template <int TN, int TM, int CN, int TK>
struct CoopStreamKTileK : CoopStreamK<TN, TM, CN> {
  using TileK = cute::Int<TK>;
};

using F16U4b8 = machete::TypeConfig<cutlass::half_t, machete::uint4b8_t, cutlass::half_t, void, void, void,
                                    cutlass::half_t, float>;

// grows outside graph capture only (the drivers warm every configuration up before capturing)
inline void* ws_alloc(void*, size_t bytes) {
  static void* ws = nullptr;
  static size_t cap = 0;
  if (bytes > cap) {
    if (ws) cudaFree(ws);
    if (cudaMalloc(&ws, bytes) != cudaSuccess) return nullptr;
    cap = bytes;
  }
  return ws;
}

// D[M, N] = A[M, K] @ dequant(B), row-major A and D, [K / g, N] group scales
inline machete::MMArgs make_args(const void* A, const void* B, void* D, const void* S, int M, int N, int K,
                                 int group_size, void* stream) {
  machete::MMArgs a;
  a.M = M;
  a.N = N;
  a.K = K;
  a.A = A;
  a.lda = K;
  a.B = B;
  a.D = D;
  a.ldd = N;
  a.group_scales = S;
  a.group_size = group_size;
  a.ld_group = N;
  a.stream = static_cast<cudaStream_t>(stream);
  a.workspace.allocate = ws_alloc;
  return a;
}

}  // namespace machete_dev
