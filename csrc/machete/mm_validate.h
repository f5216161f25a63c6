// machete/mm_validate.h -- the MMArgs checks every kernel family runs before a launch
// (MacheteKernel's CUTLASS path, DecodeGemm, PromoteGemm), and the small host helpers they share:
// one copy of each rule and of its message. Host-only; no CUTLASS.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include <cuda_runtime.h>

#include "machete/mm_args.h"

namespace machete {
namespace detail {

[[noreturn]] inline void fail_mm(std::string const& what) { throw std::invalid_argument("machete::mm: " + what); }

// Multiprocessors of the current device (0 if the query fails).
inline int device_sm_count() {
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return 0;
  int sms = 0;
  if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) return 0;
  return sms;
}

// The SMs a kernel may plan for: MMArgs::sm_count if set, else those of the device (cached).
inline int sm_count_for(MMArgs const& a) {
  static const int cached = device_sm_count();
  return a.sm_count > 0 ? a.sm_count : cached;
}

// MACHETE_CUTLASS_SPLITK=0: the CUTLASS schedules keep CUTLASS's heuristic decomposition even
// where CutlassMixedGemm::split_k_for would split K (an A/B switch; read once per process).
inline bool cutlass_split_k_disabled() {
  static const bool off = [] {
    const char* v = std::getenv("MACHETE_CUTLASS_SPLITK");
    return v != nullptr && v[0] == '0' && v[1] == '\0';
  }();
  return off;
}

// Runs `set` (e.g. a cudaFuncSetAttribute, which is per device) on the current device unless it
// already succeeded there; `done` is the caller's mask of devices (devices >= 64 run it every call).
template <class F>
inline cudaError_t once_per_device(std::atomic<uint64_t>& done, F&& set) {
  int dev = 0;
  cudaError_t err = cudaGetDevice(&dev);
  if (err != cudaSuccess) return err;
  const uint64_t bit = dev >= 0 && dev < 64 ? (uint64_t(1) << dev) : 0;
  if (bit != 0 && (done.load(std::memory_order_acquire) & bit) != 0) return cudaSuccess;
  err = set();
  if (err == cudaSuccess && bit != 0) done.fetch_or(bit, std::memory_order_acq_rel);
  return err;
}

// `bytes` of workspace from the caller's stream-ordered allocator (null for 0 bytes).
inline void* allocate_workspace(MMArgs const& a, size_t bytes) {
  if (bytes == 0) return nullptr;
  if (!a.workspace.allocate) throw std::runtime_error("machete::mm: workspace needed but no allocator given");
  void* ws = a.workspace.allocate(a.workspace.ctx, bytes);
  if (!ws) throw std::runtime_error("machete::mm: workspace allocation failed");
  return ws;
}

// Throws for a failed launch of one of machete's own kernels (`err`, else the last CUDA error).
inline void check_launch(cudaError_t err, char const* what) {
  if (err == cudaSuccess) err = cudaGetLastError();
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("machete::mm: ") + what + " launch failed: " + cudaGetErrorString(err));
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Shapes, group size, pointers, presence of group scales / zeros / channel and token scales (W4A8),
// row strides and 16-byte alignment. align_a / align_d: the row-stride multiple of A / D in elements
// (16 bytes); group_multiple: the K tile a group size other than K must be a multiple of.
inline void validate_mm_args(MMArgs const& a, bool has_group_scales, bool has_group_zeros, bool w4a8_scales,
                             int64_t align_a, int64_t align_d, int64_t group_multiple) {
  if (a.K <= 0 || a.N <= 0 || a.M < 0) fail_mm("M, N, K must be positive");
  if (a.K % 64 != 0) fail_mm("K must be a multiple of 64, got " + std::to_string(a.K));
  if (a.N % 128 != 0) fail_mm("N must be a multiple of 128, got " + std::to_string(a.N));
  if (a.M > INT32_MAX || a.N > INT32_MAX || a.K > INT32_MAX) fail_mm("M, N, K must fit in int32");
  const int64_t g = a.group_size <= 0 ? a.K : a.group_size;
  if (!(g == a.K || (g % group_multiple == 0 && a.K % g == 0)))
    fail_mm("group_size must be K or a multiple of 64 dividing K, got " + std::to_string(a.group_size));
  if (!a.A || !a.B || !a.D) fail_mm("null A, B or D pointer");
  if (has_group_scales && !a.group_scales) fail_mm("this type needs group_scales");
  if (!has_group_scales && a.group_scales) fail_mm("this type takes no group_scales");
  if (has_group_zeros && !a.group_zeros) fail_mm("this type needs group_zeros");
  if (!has_group_zeros && a.group_zeros) fail_mm("this type takes no group_zeros");
  if (w4a8_scales && (!a.channel_scales || !a.token_scales))
    fail_mm("this W4A8 type needs channel_scales and token_scales");
  if (!w4a8_scales && (a.channel_scales || a.token_scales))
    fail_mm("channel_scales and token_scales are only for W4A8 types");
  if (a.lda < a.K || a.lda % align_a != 0)
    fail_mm("A row stride must be >= K and a multiple of " + std::to_string(align_a) +
            " elements (16 bytes), got " + std::to_string(a.lda));
  if (a.ldd < a.N || a.ldd % align_d != 0) fail_mm("D row stride must be >= N and 16-byte aligned");
  if (has_group_scales && (a.ld_group < a.N || a.ld_group % 8 != 0))
    fail_mm("group scale row stride must be >= N and a multiple of 8");
  if (!aligned16(a.A) || !aligned16(a.B) || !aligned16(a.D) || (a.group_scales && !aligned16(a.group_scales)) ||
      (a.group_zeros && !aligned16(a.group_zeros)))
    fail_mm("A, B, D, scales and zeros must be 16-byte aligned");
}

}  // namespace detail
}  // namespace machete
