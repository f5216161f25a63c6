namespace machete {
extern void mm_impl_f16u4f16f16voidvoidf16f32_sch_128x16_1x1x1_TmaMI__TmaCoop_streamK(MMArgs const& args);
extern void mm_impl_f16u4f16f16voidvoidf16f32_sch_128x128_2x1x1_TmaMI__TmaCoop_streamK(MMArgs const& args);

using types_f16u4f16f16voidvoidf16f32 = TypeConfig<cutlass::half_t, cutlass::uint4b_t, cutlass::half_t, cutlass::half_t, void, void, cutlass::half_t, float>;
}  // namespace machete
