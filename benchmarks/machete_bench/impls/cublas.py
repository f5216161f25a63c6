"""cuBLAS: torch.matmul in each requested activation dtype on random weights of the shape (the
baseline the targets compare against; weights rotated like every other implementation's)."""
from __future__ import annotations

from ..common import _torch_dtype
from ..events import needed_cublas_dtypes
from ..problem import ACT_BYTES
from ..timing import n_copies


class CublasSection:
    """Worker section (see worker.Worker for self.measure, self.act, ...)."""

    def cublas(self, k: int, n: int) -> None:
        torch = self.torch
        for dt in needed_cublas_dtypes(self.args.types):
            keys = [(k, n, m, "cublas", dt) for m in self.args.m]
            if all(map(self.done, keys)):
                continue
            dtype = _torch_dtype(dt)
            self.ev.phase(f"cublas {dt} weights {k}x{n}", timeout=120)
            w = [torch.randn(k, n, device=self.dev, dtype=dtype)
                 for _ in range(n_copies(k * n * ACT_BYTES, self.rotation_target()))]
            for m, key in zip(self.args.m, keys):
                if self.done(key):
                    continue
                a = self.act(m, k, dtype)
                self.measure(key, lambda i, a=a: torch.matmul(a, w[i % len(w)]), len(w), m)
            del w
            torch.cuda.empty_cache()
