// machete/prepack_kernel.cuh -- CUDA prepack of quantized weights into the layout of
// prepack_layout.cuh (and bias flip of GPTQ types).
//
// Input : int32 [K / P, N], column-major (word (i, n) at i + n * K/P), P = 32 / Bits values per
//         word packed LSB-first along K: value k = i*P + j sits in bits [j*Bits, (j+1)*Bits).
// Output: the same number of int32 words; logical value (n, k) is stored at element position
//         make_prepacked_layout<Bits>(N, K)(n, k, 0) -- the very layout object the GEMM is given,
//         so the GEMM and the prepack cannot disagree.
//
// One thread reads one input word (P consecutive k of one n: coalesced along the column) and
// scatters its P values with atomicOr into the zero-initialised output (values of one output word
// come from different input words). Prepack runs once per weight, so simplicity wins over speed.
#pragma once

#include <stdexcept>
#include <string>

#include <cuda_runtime.h>

#include "cutlass/numeric_types.h"
#include "machete/mm_args.h"
#include "machete/prepack_layout.cuh"

namespace machete {

template <int Bits, bool kMma8>
__global__ void prepack_b_kernel(const uint32_t* __restrict__ in, uint32_t* __restrict__ out,
                                 int N, int K, uint32_t bias_flip) {
  constexpr int P = 32 / Bits;
  constexpr uint32_t kMask = (1u << Bits) - 1u;
  const int Kp = K / P;
  const int64_t total = int64_t(Kp) * N;
  auto layout = [&] {
    if constexpr (kMma8) return make_prepacked_layout_mma8(N, K);
    else return make_prepacked_layout<Bits>(N, K);
  }();
  for (int64_t w = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; w < total;
       w += int64_t(gridDim.x) * blockDim.x) {
    const int i = int(w % Kp);
    const int n = int(w / Kp);
    const uint32_t word = in[w];
#pragma unroll
    for (int j = 0; j < P; ++j) {
      const uint32_t v = ((word >> (j * Bits)) & kMask) ^ bias_flip;
      const int k = i * P + j;
      const int64_t pos = int64_t(layout(n, k, 0));
      atomicOr(out + pos / P, v << ((pos % P) * Bits));
    }
  }
}

// ElementA: the activation type; ElementConvert: the type B is converted to for the MMA (the
// group-scale type, or A). 16-bit activations (W4A16) get the 16x16 atom (QuantAtom<Bits>). 8-bit
// activations (W4A8, with or without group scales) get the 16x32 atom of the 8-bit MMA
// (QuantAtomMma8): the weights reach the 8-bit MMA as exact integers in every W4A8 kernel (CUTLASS
// for s8 without group scales, the promote kernel, the decode family), and a lane's fragment of
// one 32-wide k slab is one 64-bit load.
template <class ElementA, int Bits, class ElementConvert>
struct PrepackB {
  static_assert(Bits == 4 || Bits == 8, "prepack: 4- or 8-bit weights only");
  static constexpr bool kW4A8 = cutlass::sizeof_bits<ElementA>::value == 8;
  static constexpr bool kMma8 = kW4A8;
  static_assert(kW4A8 ? Bits == 4 : cutlass::sizeof_bits<ElementConvert>::value == 16,
                "prepack layout: 16-bit MMA operands (f16/bf16), or 4-bit weights for 8-bit activations");

  static void run(PrepackArgs const& args) {
    if (scalar_bits(args.b_type) != Bits) {
      throw std::invalid_argument("machete::prepack_B: b_type has " +
                                  std::to_string(scalar_bits(args.b_type)) + " bits, variant expects " +
                                  std::to_string(Bits));
    }
    if (args.K <= 0 || args.N <= 0 || args.K % 64 != 0 || args.N % 128 != 0) {
      throw std::invalid_argument("machete::prepack_B: need K % 64 == 0 and N % 128 == 0, got K=" +
                                  std::to_string(args.K) + " N=" + std::to_string(args.N));
    }
    if (args.K > (1 << 30) || args.N > (1 << 30) || args.K * args.N / (32 / Bits) >= (int64_t(1) << 40)) {
      throw std::invalid_argument("machete::prepack_B: problem too large");
    }
    if (args.B == nullptr || args.out == nullptr) {
      throw std::invalid_argument("machete::prepack_B: null pointer");
    }
    const uint32_t flip = scalar_bias_flip(args.b_type);  // 0x8 for U4B8, 0x80 for U8B128, else 0

    const int64_t words = args.K / (32 / Bits) * args.N;
    cudaError_t err = cudaMemsetAsync(args.out, 0, size_t(words) * 4, args.stream);
    if (err != cudaSuccess) throw std::runtime_error(std::string("machete::prepack_B: memset: ") + cudaGetErrorString(err));
    const int threads = 256;
    int64_t blocks = (words + threads - 1) / threads;
    if (blocks > 65535 * 16) blocks = 65535 * 16;
    prepack_b_kernel<Bits, kMma8><<<unsigned(blocks), threads, 0, args.stream>>>(
        static_cast<const uint32_t*>(args.B), static_cast<uint32_t*>(args.out), int(args.N),
        int(args.K), flip);
    err = cudaGetLastError();
    if (err != cudaSuccess) throw std::runtime_error(std::string("machete::prepack_B: launch: ") + cudaGetErrorString(err));
  }
};

}  // namespace machete
