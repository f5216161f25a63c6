schedule = "x";
