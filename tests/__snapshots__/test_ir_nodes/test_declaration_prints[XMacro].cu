#define MACHETE_FOREACH_TORCH_SCALAR_KIND(X) \
  X(Half, F16)                               \
  X(BFloat16, BF16)
