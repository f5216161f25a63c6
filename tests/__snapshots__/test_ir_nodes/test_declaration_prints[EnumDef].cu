enum class ScalarKind : int32_t {
  Void = 0,  // an absent operand
  F16 = 1,
  BF16 = 2,
};
