// W4A8 development harness for csrc/machete/decode_kernel.cuh (8-bit activations): a ctypes
// library exposing configurations by index, checked and timed by w4a8_dev.py. Not in the product.
#include "machete/decode_kernel.cuh"

using namespace machete::decode;

// act, group scales, tile n, tile m, warps, stages, slabs
#define VARIANTS(X) \
  X(S8, true, 128, 8, 8, 4, 4) \
  X(S8, true, 128, 16, 8, 3, 4) \
  X(S8, true, 64, 8, 16, 3, 4) \
  X(S8, true, 64, 16, 16, 2, 4) \
  X(S8, true, 48, 8, 16, 3, 4) \
  X(S8, true, 48, 16, 16, 2, 4) \
  X(S8, true, 96, 8, 8, 4, 4) \
  X(S8, true, 96, 16, 8, 4, 4) \
  X(S8, true, 112, 8, 8, 4, 4) \
  X(S8, true, 112, 16, 8, 4, 4) \
  X(S8, true, 64, 8, 8, 6, 4) \
  X(E4M3, true, 128, 8, 8, 4, 4) \
  X(E4M3, true, 128, 16, 8, 3, 4) \
  X(E4M3, true, 64, 8, 16, 3, 4) \
  X(E4M3, true, 64, 16, 16, 2, 4) \
  X(E4M3, true, 48, 8, 16, 3, 4) \
  X(E4M3, true, 48, 16, 16, 2, 4) \
  X(E4M3, true, 96, 8, 8, 4, 4) \
  X(E4M3, true, 96, 16, 8, 4, 4) \
  X(E4M3, true, 112, 8, 8, 4, 4) \
  X(E4M3, true, 112, 16, 8, 4, 4) \
  X(S8, false, 128, 8, 8, 4, 4) \
  X(S8, false, 128, 16, 8, 3, 4) \
  X(S8, false, 64, 8, 16, 3, 4) \
  X(S8, false, 64, 16, 16, 2, 4) \
  X(S8, false, 48, 8, 16, 3, 4) \
  X(S8, false, 48, 16, 16, 2, 4) \
  X(S8, false, 96, 8, 8, 4, 4) \
  X(S8, false, 96, 16, 8, 4, 4) \
  X(S8, false, 112, 8, 8, 4, 4) \
  X(S8, false, 112, 16, 8, 4, 4)

#define NAME(act, gs, tn, tm, w, st, sl) #act "," #gs "," #tn "," #tm "," #w "," #st "," #sl,
static const char* kNames[] = {VARIANTS(NAME)};

#define CFG(act, gs, tn, tm, w, st, sl) Config<Act::act, 4, true, false, tn, tm, w, st, sl, gs>
#define CASE(...) if (v == idx++) return Launcher<CFG(__VA_ARGS__)>::launch(p, sms, split, stream);

static cudaError_t dispatch(int v, Params const& p, int sms, int split, cudaStream_t stream) {
  int idx = 0;
  VARIANTS(CASE)
  return cudaErrorInvalidValue;
}

extern "C" int w4a8_num_variants() { return sizeof(kNames) / sizeof(kNames[0]); }
extern "C" const char* w4a8_variant_name(int v) { return kNames[v]; }
extern "C" int w4a8_run(int v, const void* A, const void* B, void* D, const void* S, const void* CS,
                        const void* TS, int M, int N, int K, long long lda, long long ldd, long long lds,
                        int group_size, int sms, int split, void* stream) {
  Params p{A, static_cast<const uint32_t*>(B), D, S, nullptr, M, N, K, lda, ldd, lds, group_size,
           static_cast<const float*>(CS), static_cast<const float*>(TS)};
  cudaError_t e = dispatch(v, p, sms, split, static_cast<cudaStream_t>(stream));
  if (e != cudaSuccess) return int(e);
  return int(cudaGetLastError());
}
