constexpr int scalar_bits(ScalarKind k)
{
  switch (k) {
    case ScalarKind::F16: case ScalarKind::BF16: return 16;
    default: return 0;
  }
}
