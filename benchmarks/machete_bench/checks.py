"""Correctness: every implementation's result against cuBLAS on the dequantized weights."""
from __future__ import annotations

import math
from typing import Any


def rel_err(num: float, den: float) -> float:
    return num / den if den > 0 else (0.0 if num == 0 else math.inf)


def check_output(out: Any, ref: Any, tol: float) -> tuple[str, float | None, str]:
    """Loose relative check of a result against cuBLAS on the dequantized weights."""
    import torch
    if tuple(out.shape) != tuple(ref.shape):
        return "FAIL", None, f"shape {tuple(out.shape)} != {tuple(ref.shape)}"
    o, r = out.float(), ref.float()
    if not torch.isfinite(o).all():
        return "FAIL", None, "non-finite values in output"
    err = rel_err(torch.linalg.vector_norm(o - r).item(), torch.linalg.vector_norm(r).item())
    return ("ok" if err <= tol else "FAIL"), err, ("" if err <= tol else f"rel err {err:.3g} > {tol}")
