"""Small things the parent, the worker and the implementations share: paths, the worker's exit
status for a broken CUDA context, dtype names, seeds and one-line error text."""
from __future__ import annotations

import json
import os
import zlib
from typing import Any

BENCHMARKS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_SCRIPT = os.path.join(BENCHMARKS_DIR, "bench_mm.py")  # the entry point; the parent runs workers with it
REPO_ROOT = os.path.dirname(BENCHMARKS_DIR)

EXIT_CONTEXT_BROKEN = 3


def _torch_dtype(name: str) -> Any:
    import torch
    return {"f16": torch.float16, "bf16": torch.bfloat16}[name]


def _seed(*parts: Any) -> int:
    """A seed that is the same in every process (unlike hash())."""
    return zlib.crc32(json.dumps(parts).encode())


def _short(e: BaseException) -> str:
    msg = f"{type(e).__name__}: {e}".replace("\n", " ")
    return msg[:300]
