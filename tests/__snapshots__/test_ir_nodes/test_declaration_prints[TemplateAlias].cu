template <class Schedule> using Kernel_f16u4f16f16voidvoidf16f32 = MacheteKernel<types_f16u4f16f16voidvoidf16f32, Schedule>;
