if (std::strcmp(schedule, "a__b") == 0 || std::strcmp(schedule, "a_b") == 0) {
  return;
} else if (std::strcmp(schedule, "c") == 0) {
  return;
}
throw std::invalid_argument("unknown");
