// why, not what
