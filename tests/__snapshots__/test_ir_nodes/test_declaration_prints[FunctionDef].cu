static char const* heuristic_w4a8(int64_t M, int64_t N, int64_t K)
{
  if (M <= 16 && N <= 4096 && K <= 4096) {
    return "64x8_w8s6k64_DecodeMma_clusterK";
  } else if (M <= 8 && N > 8192 && N <= 10240) {
    return "80x8_w16s3k64_DecodeMma_clusterK";
  } else if (M <= 8 && N > 4096 && N <= 5120 && K > 8192) {
    return "80x8_w16s3k64_DecodeMma_clusterK";
  } else if (M <= 8 && N <= 4096) {
    return "64x8_w16s3k64_DecodeMma_clusterK";
  } else if (M <= 8 && N > 4096 && N <= 8192 && K <= 8192) {
    return "64x8_w16s3k64_DecodeMma_clusterK";
  } else if (M <= 8) {
    return "128x8_w8s4k64_DecodeMma_clusterK";
  } else if (M <= 16 && N > 8192 && N <= 10240) {
    return "80x16_w8s4k64_DecodeMma_clusterK";
  } else if (M <= 16 && N > 4096 && N <= 5120 && K > 8192) {
    return "80x16_w8s4k64_DecodeMma_clusterK";
  } else if (M <= 16 && N > 4096 && N <= 8192 && K <= 8192 && N <= 6144) {
    return "48x16_w16s2k64_DecodeMma_clusterK";
  } else if (M <= 16 && N <= 4096) {
    return "64x16_w16s2k64_DecodeMma_clusterK";
  } else if (M <= 16 && N > 4096 && N <= 8192 && K <= 8192) {
    return "64x16_w16s2k64_DecodeMma_clusterK";
  } else if (M <= 16) {
    return "128x16_w8s3k64_DecodeMma_clusterK";
  } else if (M <= 32) {
    return "128x32_w8s3k32_DecodeMma_clusterK";
  } else if (M <= 64 && N <= 4096 && K <= 4096) {
    return "128x32_w8s3k32_DecodeMma_clusterK";
  } else if (M <= 64 && N >= 16384) {
    return "256x64_s6_PromoteWgmma";
  } else if (M <= 64) {
    return "128x64_s6_PromoteWgmma";
  } else if (M <= 256 && N <= 4096 && K <= 4096) {
    return "128x64_s6_PromoteWgmma";
  } else if (M <= 128 && N >= 16384) {
    return "256x128_s4_PromoteWgmma";
  } else if (M <= 128) {
    return "128x128_s4_PromoteWgmma";
  } else if (M <= 256) {
    return "256x128_s4_PromoteWgmma";
  } else if (M <= 512 && N <= 6144) {
    return "128x128_s4_PromoteWgmma";
  } else {
    return "256x128_s4_PromoteWgmma";
  }
}
