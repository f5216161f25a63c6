static char const* heuristic_w4a8(int64_t M, int64_t N, int64_t K)
{
  if (M > 256 && K <= 16384 && N <= 4096) {
    return "128x128_2x1x1_TmaMI__TmaCoop_streamK";
  } else if (M > 256) {
    return "128x128_2x1x1_TmaMI__TmaCoop_streamK";
  } else if (M > 128 && K <= 4096 && N <= 4096) {
    return "128x64_2x1x1_TmaMI__TmaCoop_streamK";
  } else if (M > 128 && K <= 8192 && N <= 8192) {
    return "128x128_2x1x1_TmaMI__TmaCoop_streamK";
  } else if (M > 128) {
    return "128x128_2x1x1_TmaMI__TmaCoop_streamK";
  } else if (M > 64 && K <= 4069 && N <= 4069) {
    return "128x32_2x1x1_TmaMI__TmaCoop_streamK";
  } else if (M > 64 && K <= 4069 && N <= 8192) {
    return "128x64_2x1x1_TmaMI__TmaCoop_streamK";
  } else if (M > 64 && K >= 8192 && N >= 12288) {
    return "256x128_2x1x1_TmaMI__TmaCoop_streamK";
  } else if (M > 64) {
    return "128x128_2x1x1_TmaMI__TmaCoop_streamK";
  } else if (M > 32 && K <= 6144 && N <= 6144) {
    return "128x16_1x1x1_TmaMI__TmaCoop_streamK";
  } else if (M > 32) {
    return "128x64_2x1x1_TmaMI__TmaCoop_streamK";
  } else if (M > 16 && K <= 12288 && N <= 8192) {
    return "128x32_2x1x1_TmaMI__TmaCoop_streamK";
  } else if (M > 16) {
    return "256x32_2x1x1_TmaMI__TmaCoop_streamK";
  } else if (N >= 26624) {
    return "256x16_1x1x1_TmaMI__TmaCoop_streamK";
  } else {
    return "128x16_1x1x1_TmaMI__TmaCoop_streamK";
  }
}
