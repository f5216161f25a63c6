switch (k) {
  case ScalarKind::U4: case ScalarKind::S4: return 4;  // 4-bit
  case 7:
    // two lines
    return 1;
  default: return 0;
}
