// machete/mm_args.h -- the C++ contract between the torch binding, the generated
// dispatch (machete_mm_dispatch.cu / machete_prepack.cu) and the kernel templates.
//
// Nothing here includes torch or CUTLASS: the generated dispatch translation unit only
// needs this header (and the scalar_kind.h it includes), so it compiles in a second. The
// generator (machete_ir/cpp_contract.py) names every symbol declared here; tests/test_contract.py
// checks the two agree.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

// ScalarKind (the element kinds that cross the boundary; Void marks an absent operand),
// scalar_bits, scalar_bias_flip, scalar_kind_of_b_type_id: printed from the scalar table
// (machete/_scalar_table.py).
#include "machete/scalar_kind.h"

namespace machete {

// Stream-ordered workspace allocation supplied by the caller (the torch binding hands
// out a tensor from the caching allocator; it must stay valid until the kernel ran).
struct WorkspaceAllocator {
  void* (*allocate)(void* ctx, size_t bytes) = nullptr;
  void* ctx = nullptr;
};

// D[M,N] = A[M,K] @ dequant(B)[K,N], dequant(w) = q * s + z (z added after scaling).
struct MMArgs {
  ScalarKind a_type = ScalarKind::Void;
  ScalarKind b_type = ScalarKind::Void;
  ScalarKind out_type = ScalarKind::Void;
  ScalarKind group_scales_type = ScalarKind::Void;
  ScalarKind group_zeros_type = ScalarKind::Void;
  ScalarKind channel_scales_type = ScalarKind::Void;
  ScalarKind token_scales_type = ScalarKind::Void;

  int64_t M = 0, N = 0, K = 0;

  const void* A = nullptr;  // [M, K], unit column stride, row stride lda (elements)
  int64_t lda = 0;
  const void* B = nullptr;  // prepacked weights (output of prepack_B)
  void* D = nullptr;        // [M, N], row-major, row stride ldd (elements)
  int64_t ldd = 0;

  const void* group_scales = nullptr;  // [ceil(K / group_size), N], row stride ld_group
  const void* group_zeros = nullptr;   // same shape / stride as group_scales
  int64_t group_size = 0;              // already resolved: -1/None -> K
  int64_t ld_group = 0;
  const void* channel_scales = nullptr;  // [N] (W4A8 only)
  const void* token_scales = nullptr;    // [M] (W4A8 only)

  int sm_count = 0;  // multiprocessors of the current device (0: query)
  cudaStream_t stream = nullptr;
  WorkspaceAllocator workspace;
  // Name of the device the call runs on (cudaDeviceProp::name; the binding fills it). It selects
  // the per-GPU heuristic table (null: the default table). Last member, so kernel objects built
  // before it existed still read every field above at the same offset.
  const char* device_name = nullptr;
};

// True when args.device_name contains `text` (the generated dispatch's per-GPU heuristic choice).
inline bool device_name_contains(MMArgs const& args, const char* text) {
  return args.device_name != nullptr && std::strstr(args.device_name, text) != nullptr;
}

// prepack_B: B is int32 [K / (32 / bits), N], column-major (K packed LSB-first).
struct PrepackArgs {
  ScalarKind a_type = ScalarKind::Void;
  ScalarKind b_type = ScalarKind::Void;
  ScalarKind convert_type = ScalarKind::Void;  // group scale type, or a_type
  int64_t K = 0, N = 0;
  const void* B = nullptr;
  void* out = nullptr;  // same size as B
  cudaStream_t stream = nullptr;
};

// One kernel entry point per (type config, schedule); generated in machete_mm_impl_part*.cu.
using MMEntryPoint = void (*)(MMArgs const&);

// ---- Defined by the generated machete_mm_dispatch.cu ----
// schedule == nullptr: the heuristic chooses. Unknown schedule / type: throws std::invalid_argument.
void mm_dispatch(MMArgs const& args, const char* schedule);
std::vector<std::string> supported_schedules(ScalarKind a, ScalarKind b, ScalarKind group_scales,
                                             ScalarKind group_zeros, ScalarKind channel_scales,
                                             ScalarKind token_scales, ScalarKind out);
// Name of the schedule the heuristic picks (for tests/benchmarks); throws on unknown type.
std::string heuristic_schedule(MMArgs const& args);

// ---- Defined by the generated machete_prepack.cu ----
void prepack_B_dispatch(PrepackArgs const& args);

}  // namespace machete
