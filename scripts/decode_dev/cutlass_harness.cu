// Development harness for the CUTLASS mixed-input path (csrc/machete/mm_kernel.cuh): schedules that
// differ from the product's only in fields the generator does not emit yet (the K tile), exposed by
// index to ctypes (scripts/decode_dev/cutlass_dev.py), f16 x u4b8 with f16 group scales. Built once
// per part so the slow CUTLASS instantiations compile in parallel:
//   nvcc ... -DPART=p -DNPARTS=n -c cutlass_harness.cu   (p = 0..n-1), linked into one .so.
// Not part of the product build.
#include <cstdio>

#include "cutlass_dev_common.cuh"

namespace {

// tile N, tile M, tile K, cluster N
#define VARIANTS(X)       \
  X(0, 128, 64, 64, 2)    \
  X(1, 128, 64, 128, 2)   \
  X(2, 128, 128, 64, 2)   \
  X(3, 128, 128, 128, 2)  \
  X(4, 128, 32, 128, 2)   \
  X(5, 256, 128, 128, 2)  \
  X(6, 256, 64, 128, 2)   \
  X(7, 128, 32, 64, 2)    \
  X(8, 128, 64, 64, 1)    \
  X(9, 128, 128, 64, 1)   \
  X(10, 128, 32, 64, 1)   \
  X(11, 256, 128, 64, 1)  \
  X(12, 128, 64, 128, 1)  \
  X(13, 128, 128, 128, 1)

using machete_dev::make_args;

}  // namespace

#define NAME(i, tn, tm, tk, cn) #tn "x" #tm "_k" #tk "_c" #cn,
#if PART == 0
static const char* kNames[] = {VARIANTS(NAME)};
extern "C" int cutlass_num_variants() { return sizeof(kNames) / sizeof(kNames[0]); }
extern "C" const char* cutlass_variant_name(int v) { return kNames[v]; }
#endif

template <int I, int TN, int TM, int TK, int CN>
int run_impl(const void* A, const void* B, void* D, const void* S, int M, int N, int K, int g, void* stream) {
  if constexpr (I % NPARTS != PART) {
    return -1;  // another part's variant: not instantiated here
  } else {
    try {
      using Gemm = machete::CutlassMixedGemm<machete_dev::F16U4b8, machete_dev::CoopStreamKTileK<TN, TM, CN, TK>>;
      Gemm::run(make_args(A, B, D, S, M, N, K, g, stream));
    } catch (std::exception const& e) {
      std::fprintf(stderr, "variant %d: %s\n", I, e.what());
      return 1;
    }
    return int(cudaGetLastError());
  }
}

#define CASE(i, tn, tm, tk, cn) \
  case i: return run_impl<i, tn, tm, tk, cn>(A, B, D, S, M, N, K, g, stream);
#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)

// cutlass_run_p<PART>(v, ...): variant v if this part holds it (v % NPARTS == PART), else -1
extern "C" int CAT(cutlass_run_p, PART)(int v, const void* A, const void* B, void* D, const void* S, int M, int N,
                                          int K, int g, void* stream) {
  switch (v) {
    VARIANTS(CASE)
    default: return -2;
  }
}
