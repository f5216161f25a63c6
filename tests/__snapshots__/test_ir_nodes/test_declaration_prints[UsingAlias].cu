using types_f16u4f16f16voidvoidf16f32 = TypeConfig<cutlass::half_t, cutlass::uint4b_t, cutlass::half_t, cutlass::half_t, void, void, cutlass::half_t, float>;
