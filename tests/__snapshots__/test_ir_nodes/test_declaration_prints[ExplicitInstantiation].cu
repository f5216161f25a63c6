template struct PrepackB<cutlass::half_t, 4, cutlass::half_t>;
