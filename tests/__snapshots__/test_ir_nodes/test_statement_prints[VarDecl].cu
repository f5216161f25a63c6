int64_t const M = args.M;
