if (M > 256 && K <= 16384) {
  return 1;
} else if (M > 1 || N <= 2) {
  return 2;
} else {
  return 0;
}
