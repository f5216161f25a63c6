"""Argument checks shared by the ops and the reference (one-line errors naming the argument)."""
from __future__ import annotations

import operator


def as_int(value, name: str, expected: str = "an int") -> int:
    """``value`` as an int: Python ints and integer scalars with ``__index__`` (numpy, 0-d integer
    tensors) count, ``bool`` and floats do not -- a TypeError ``"{name} must be {expected}, got T"``."""
    if not isinstance(value, bool):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
