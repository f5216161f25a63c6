// Development harness for the W4A8 promote kernel (csrc/machete/promote_kernel.cuh): a ctypes
// library of its configurations, driven by promote_dev.py. Not part of the package.
#include <cstdint>
#include <cstdio>

#include "machete/mm_validate.h"  // detail::device_sm_count
#include "machete/promote_kernel.cuh"

using namespace machete::promote;

// splits: > 0 splits every tile that many ways (a forced split), 0 takes the launcher's plan
template <class Cfg>
static Plan plan_for(int M, int N, int K, int splits) {
  return splits > 0 ? Launcher<Cfg>::forced(M, N, splits)
                    : Launcher<Cfg>::plan(M, N, K, machete::detail::device_sm_count());
}

template <class Cfg>
static int run_cfg(const void* A, const void* B, void* D, const void* S, const float* CS, const float* TS, int M,
                   int N, int K, long long lda, long long ldd, long long lds, int g, int splits, float* ws,
                   cudaStream_t st) {
  Params p{};
  // ws must hold promote_workspace_floats of the same arguments
  const Plan plan = plan_for<Cfg>(M, N, K, splits);
  p.B = static_cast<const uint8_t*>(B);
  p.D = static_cast<__half*>(D);
  p.S = static_cast<const __half*>(S);
  p.CS = CS;
  p.TS = TS;
  p.M = M;
  p.N = N;
  p.K = K;
  p.ldd = ldd;
  p.lds = lds;
  p.group_size = g;
  return int(Launcher<Cfg>::launch(A, lda, p, plan, ws, st));
}

// act ("s8"/"e4m3"), group scales, tile n, tile m, stages, mode (promote::Config::kMode): the
// product's four s8 g128 schedules (promote_gemm.cuh: mode 0 for 256 features, 2 for 128)
#define VARIANTS(X)                                       \
  X(false, true, 128, 64, 6, 2, "s8,true,128,64,6,2")       \
  X(false, true, 256, 64, 6, 0, "s8,true,256,64,6,0")       \
  X(false, true, 128, 128, 4, 2, "s8,true,128,128,4,2")     \
  X(false, true, 256, 128, 4, 0, "s8,true,256,128,4,0")

#define NAME(e, g, tn, m, s, mo, n) n,
static const char* kNames[] = {VARIANTS(NAME)};

extern "C" int promote_num_variants() { return int(sizeof(kNames) / sizeof(kNames[0])); }
extern "C" const char* promote_variant_name(int v) { return kNames[v]; }

extern "C" int promote_run(int v, const void* A, const void* B, void* D, const void* S, const float* CS,
                           const float* TS, int M, int N, int K, long long lda, long long ldd, long long lds, int g,
                           int splits, float* ws, void* stream) {
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  int i = 0;
#define CASE(e, gs, tn, m, s, mo, n)                                                                         \
  if (v == i++)                                                                                              \
    return run_cfg<Config<e, gs, tn, m, s, mo>>(A, B, D, S, CS, TS, M, N, K, lda, ldd, lds, g, splits, ws, st);
  VARIANTS(CASE)
#undef CASE
  return -1;
}

// the launcher's plan for variant v (what splits = 0 runs): its tail's split (1: none), and the
// workspace floats a run with `splits` needs
extern "C" int promote_auto_splits(int v, int M, int N, int K, int sms) {
  int i = 0;
#define SPLITS(e, gs, tn, m, s, mo, n) \
  if (v == i++) return Launcher<Config<e, gs, tn, m, s, mo>>::plan(M, N, K, sms).splits;
  VARIANTS(SPLITS)
#undef SPLITS
  return -1;
}

extern "C" long long promote_workspace_floats(int v, int M, int N, int K, int splits) {
  int i = 0;
#define WS(e, gs, tn, m, s, mo, n)                                                                        \
  if (v == i++) {                                                                                         \
    using C = Config<e, gs, tn, m, s, mo>;                                                                \
    return (long long)(Launcher<C>::workspace_bytes(plan_for<C>(M, N, K, splits)) / 4);                  \
  }
  VARIANTS(WS)
#undef WS
  return -1;
}
