static char const* heuristic_h100(int64_t M, int64_t N, int64_t K);
