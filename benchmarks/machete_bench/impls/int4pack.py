"""torch's int4 kernel: torch._weight_int4pack_mm (tinygemm), bf16, group 128, on its own random
weights, checked once against its dequantized weights (the nibble order is found by that check)."""
from __future__ import annotations

from typing import Any

from ..checks import check_output
from ..common import _short
from ..problem import BENCH_TYPES
from ..timing import n_copies


def int4pack_nibbles(q: Any, high_first: bool) -> Any:
    """(K, N) stored 4-bit values -> the (N, K/2) uint8 tensor _convert_weight_to_int4pack takes.

    torch's own tests put the even k in the high nibble; the other order is the fallback the
    worker tries when the first does not reproduce the dequantized weights.
    """
    import torch
    qt = q.t().contiguous().to(torch.int32)
    even, odd = qt[:, ::2], qt[:, 1::2]
    b = (even << 4 | odd) if high_first else (odd << 4 | even)
    return b.to(torch.uint8).contiguous()


class Int4packSection:
    """Worker section (see worker.Worker for self.measure, self.act, ...)."""

    def int4pack(self, k: int, n: int) -> None:
        torch = self.torch
        if self.args.no_int4pack or not any(BENCH_TYPES[t].int4pack_applies for t in self.args.types):
            return
        keys = [(k, n, m, "int4pack", "bf16") for m in self.args.m]
        if all(map(self.done, keys)):
            return
        self.ev.phase(f"int4pack weights {k}x{n}", timeout=120)
        group, inner_k_tiles = 128, 8
        try:
            op_conv = torch.ops.aten._convert_weight_to_int4pack
            op_mm = torch.ops.aten._weight_int4pack_mm
            q = torch.randint(0, 16, (k, n), dtype=torch.uint8, device=self.dev)
            s = (0.05 + 0.1 * torch.rand(k // group, n, device=self.dev)).to(torch.bfloat16)
            z = (0.2 * torch.rand(k // group, n, device=self.dev) - 0.1).to(torch.bfloat16)
            # tinygemm dequantizes w = (q - 8) * scale + zero, scales and zeros interleaved [K/g, N, 2]
            sz = torch.stack([s, z], dim=-1).contiguous()
            w = ((q.float() - 8).view(k // group, group, n) * s.float()[:, None, :]
                 + z.float()[:, None, :]).view(k, n).to(torch.bfloat16)
            a_chk = self.act(16, k, torch.bfloat16)
            ref = a_chk @ w
            del w
            packed, status, err, notes = None, "FAIL", None, []
            for high_first in (True, False):
                cand = op_conv(int4pack_nibbles(q, high_first), inner_k_tiles)
                status, err, note = check_output(op_mm(a_chk, cand, group, sz), ref, self.args.check_tol)
                order = "even k in high nibble" if high_first else "even k in low nibble"
                if status == "ok":
                    packed = cand
                    notes.append(order)
                    break
                notes.append(f"{order}: {note}")
            if packed is None:
                packed = cand  # time it anyway; the FAIL status says the figures are suspect
            del q, ref
        except Exception as e:  # noqa: BLE001 - peer unavailable: n/a with the reason
            self.record_rest(keys, "n/a", note=_short(e))
            self.exit_if_context_broken()
            return
        per_copy = packed.numel() * 4 + sz.numel() * 2
        rot = [(packed, sz)] + [(packed.clone(), sz.clone())
                                for _ in range(n_copies(per_copy, self.rotation_target()) - 1)]
        for m, key in zip(self.args.m, keys):
            if self.done(key):
                continue
            a = self.act(m, k, torch.bfloat16)
            # the packing was checked once above; every M carries that verdict
            self.measure(key, lambda i, a=a: op_mm(a, rot[i % len(rot)][0], group, rot[i % len(rot)][1]),
                         len(rot), m, check=lambda: (status, err, "; ".join(notes)))
        del rot, packed, sz
        torch.cuda.empty_cache()
