// machete/scalar_tags.cuh -- element tags for the quantized operand and their kernel storage types.
//
// The generated files name B's element by a tag (TypeConfig's second field). Two of them are our
// own: GPTQ's biased types store x + 8 (4 bit) / x + 128 (8 bit). Prepack flips the bias bit of
// every stored value (x + 8) ^ 0x8 == x in two's complement for 4 bits, (x + 128) ^ 0x80 == x for
// 8 bits, so the GEMM runs them as plain signed integers (cutlass::int4b_t / int8_t) with scales
// only -- no zero-point pass is needed in the kernel.
#pragma once

#include <cstdint>

#include "cutlass/numeric_types.h"
#include "machete/scalar_kind.h"

namespace machete {

struct uint4b8_t {};    // GPTQ 4-bit, stored x + 8, values -8..7
struct uint8b128_t {};  // GPTQ 8-bit, stored x + 128, values -128..127

// QuantStorage<Tag>::type: the CUTLASS element the mainloop sees after prepack.
// QuantStorage<Tag>::bias_flip: the xor mask prepack applies to every stored value.
template <class Tag> struct QuantStorage { using type = Tag; static constexpr uint32_t bias_flip = 0; };
template <> struct QuantStorage<uint4b8_t> { using type = cutlass::int4b_t; static constexpr uint32_t bias_flip = scalar_bias_flip(ScalarKind::U4B8); };
template <> struct QuantStorage<uint8b128_t> { using type = int8_t; static constexpr uint32_t bias_flip = scalar_bias_flip(ScalarKind::U8B128); };

}  // namespace machete
