// Development harness for csrc/machete/decode_kernel.cuh: a ctypes-loadable library exposing
// several kernel configurations by index, so variants can be compared on the GPU without
// building the torch extension. Not part of the product build.
#include <cstdio>
#include "machete/decode_kernel.cuh"

using namespace machete::decode;

#define VARIANTS(X) \
  X(false, 4, true, false, 128, 32, 8, 3, 2) \
  X(false, 4, true, false, 64, 16, 8, 4, 4) \
  X(false, 4, true, false, 128, 16, 8, 3, 4) \
  X(false, 4, true, false, 96, 16, 8, 4, 4) \
  X(false, 4, true, false, 48, 16, 16, 2, 4) \
  X(false, 4, true, false, 64, 32, 8, 4, 2) \
  X(false, 4, true, false, 64, 32, 16, 2, 2) \
  X(false, 4, true, false, 48, 32, 16, 2, 2) \
  X(false, 4, true, false, 96, 32, 8, 3, 2) \
  X(false, 4, true, false, 32, 64, 8, 4, 2) \
  X(false, 4, true, false, 32, 64, 16, 2, 2) \
  X(false, 4, true, false, 48, 64, 8, 3, 2) \
  X(false, 4, true, false, 64, 64, 8, 3, 1) \
  X(false, 4, true, false, 80, 32, 8, 3, 2) \
  X(false, 4, true, false, 32, 32, 16, 2, 4) \
  X(true, 4, false, true, 32, 64, 8, 4, 2)

#define NAME(bf, bits, sg, zr, tn, tm, w, st, sl) \
  #bf "," #bits "," #sg "," #zr "," #tn "," #tm "," #w "," #st "," #sl,
static const char* kNames[] = {VARIANTS(NAME)};

#define CASE(bf, bits, sg, zr, tn, tm, w, st, sl)                                               \
  if (v == idx++) return Launcher<Config<(bf ? Act::BF16 : Act::F16), bits, sg, zr, tn, tm, w, st, sl>>::launch(p, sms, split, stream);

static cudaError_t dispatch(int v, Params const& p, int sms, int split, cudaStream_t stream) {
  int idx = 0;
  VARIANTS(CASE)
  return cudaErrorInvalidValue;
}

extern "C" int decode_num_variants() { return sizeof(kNames) / sizeof(kNames[0]); }
extern "C" const char* decode_variant_name(int v) { return kNames[v]; }
extern "C" int decode_run(int v, const void* A, const void* B, void* D, const void* S, const void* Z,
                          int M, int N, int K, long long lda, long long ldd, long long lds, int group_size,
                          int sms, int split, void* stream) {
  Params p{A, static_cast<const uint32_t*>(B), D, S, Z, M, N, K, lda, ldd, lds, group_size};
  cudaError_t e = dispatch(v, p, sms, split, static_cast<cudaStream_t>(stream));
  if (e != cudaSuccess) return int(e);
  return int(cudaGetLastError());
}
#define CAP(bf, bits, sg, zr, tn, tm, w, st, sl)                                                \
  if (v == idx++) return &Launcher<Config<(bf ? Act::BF16 : Act::F16), bits, sg, zr, tn, tm, w, st, sl>>::capacity();
#define SPLIT(bf, bits, sg, zr, tn, tm, w, st, sl)                                              \
  if (v == idx++) return Launcher<Config<(bf ? Act::BF16 : Act::F16), bits, sg, zr, tn, tm, w, st, sl>>::split_for(p, sms);

static const ClusterCapacity* capacity_of(int v) {
  int idx = 0;
  VARIANTS(CAP)
  return nullptr;
}

// Co-resident clusters of `split` CTAs for variant v on the current device (0: not launchable).
extern "C" int decode_capacity(int v, int split) {
  const ClusterCapacity* c = capacity_of(v);
  return c && split >= 1 && split <= ClusterCapacity::kMaxSplit ? c->clusters[split] : -1;
}
// The split the launcher would choose for this problem.
extern "C" int decode_split(int v, int M, int N, int K, int sms) {
  Params p{};
  p.M = M; p.N = N; p.K = K;
  int idx = 0;
  VARIANTS(SPLIT)
  return -1;
}
