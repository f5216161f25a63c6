throw std::invalid_argument(std::string("bad '") + schedule + "'");
