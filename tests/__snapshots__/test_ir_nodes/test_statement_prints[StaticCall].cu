K<cute::Int<96>>::run(args);
