// Development harness for the W4A8 promote kernel (csrc/machete/promote_kernel.cuh): a ctypes
// library of its configurations, driven by promote_dev.py. Not part of the package.
#include <cstdint>
#include <cstdio>

#include "machete/promote_kernel.cuh"

using namespace machete::promote;

template <class Cfg>
static int run_cfg(const void* A, const void* B, void* D, const void* S, const float* CS, const float* TS, int M,
                   int N, int K, long long lda, long long ldd, long long lds, int g, cudaStream_t st) {
  Params p{};
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
  return int(Launcher<Cfg>::launch(A, lda, p, st));
}

// act ("s8"/"e4m3"), group scales, tile n, tile m, stages, mode (promote::Config::kMode)
#define VARIANTS(X)                                       \
  X(false, true, 256, 128, 4, 0, "s8,true,256,128,4,0")     \
  X(false, true, 128, 192, 4, 0, "s8,true,128,192,4,0")     \
  X(false, true, 128, 192, 4, 1, "s8,true,128,192,4,1")     \
  X(true, true, 256, 128, 4, 0, "e4m3,true,256,128,4,0")    \
  X(true, true, 128, 192, 4, 0, "e4m3,true,128,192,4,0")    \
  X(false, true, 128, 128, 4, 2, "s8,true,128,128,4,2")

#define NAME(e, g, tn, m, s, mo, n) n,
static const char* kNames[] = {VARIANTS(NAME)};

extern "C" int promote_num_variants() { return int(sizeof(kNames) / sizeof(kNames[0])); }
extern "C" const char* promote_variant_name(int v) { return kNames[v]; }

extern "C" int promote_run(int v, const void* A, const void* B, void* D, const void* S, const float* CS,
                           const float* TS, int M, int N, int K, long long lda, long long ldd, long long lds, int g,
                           void* stream) {
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  int i = 0;
#define CASE(e, gs, tn, m, s, mo, n) \
  if (v == i++) return run_cfg<Config<e, gs, tn, m, s, mo>>(A, B, D, S, CS, TS, M, N, K, lda, ldd, lds, g, st);
  VARIANTS(CASE)
#undef CASE
  return -1;
}
