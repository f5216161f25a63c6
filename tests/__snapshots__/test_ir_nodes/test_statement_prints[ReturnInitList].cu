return {"a", "q\"uote"};
