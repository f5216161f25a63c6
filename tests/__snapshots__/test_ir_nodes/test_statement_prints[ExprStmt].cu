f(args, 1);
