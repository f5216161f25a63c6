"""Peers: benchmark-only builds of vLLM v0.33.0's Marlin and Machete (never the product).

Each build is a torch extension made by its kit's build.sh (README.md, "Peers"); importing it
registers torch.ops.<module>.*. Both builds support one type only (PEER_TYPES): f16 activations x
uint4b8 weights, group 128 f16 scales, no zeros, f16 out. Calls follow vLLM's own call paths.
A peer is a PeerAdapter subclass registered in PEER_ADAPTERS (its name also in problem.PEERS and
problem.PEER_LABELS); the section gives every peer the weights, activations, check and timing
machete gets.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Callable

from ..checks import check_output
from ..common import _short, _torch_dtype
from ..events import peer_keys
from ..problem import BENCH_TYPES, PEER_TYPES, BenchType
from ..timing import n_copies

VLLM_U4B8_ID = 1125899907892224  # vLLM ScalarType id of uint4b8 (ScalarType.uint(4, 8))


def pack_rows(q: Any, bits: int) -> Any:
    """Stored values (K, N) -> GPTQ layout: int32 (K / (32/bits), N), row-major; k = i * (32/bits) + j
    sits in bits [j * bits, (j + 1) * bits) of word (i, n). (SPEC §5 is the same layout, column-major.)"""
    import torch
    per = 32 // bits
    k, n = q.shape
    words = torch.zeros(k // per, n, dtype=torch.int64, device=q.device)
    for j in range(per):
        words |= q[j::per].to(torch.int64) << (bits * j)
    words = torch.where(words >= 2**31, words - 2**32, words)  # reinterpret as signed int32
    return words.to(torch.int32).contiguous()


def marlin_scale_order(scales: Any) -> Any:
    """Group scales (G, N) -> the column order Marlin reads (grouped case, G > 1): within every run of
    64 consecutive values of the flattened tensor, the 8 x 8 block is transposed (vLLM's
    marlin_permute_scales: new[i * 8 + j] = old[i + 8 * j])."""
    g, n = scales.shape
    if g < 2 or (g * n) % 64:
        raise ValueError(f"Marlin scale order: grouped scales with G > 1 and G*N % 64 == 0 needed, got {g}x{n}")
    return scales.reshape(-1, 8, 8).transpose(1, 2).reshape(g, n).contiguous()


class PeerUnavailable(RuntimeError):
    pass


class PeerAdapter:
    """One peer build: import it, turn the benchmark's weights into its layout, call it."""

    name = ""
    module = ""
    op_names: tuple[str, ...] = ()

    def __init__(self, build_dir: str) -> None:
        import glob
        import importlib

        import torch

        self.torch = torch
        self.build_dir = os.path.abspath(build_dir)
        if not glob.glob(os.path.join(self.build_dir, self.module + "*.so")):
            raise PeerUnavailable(f"build missing: no {self.module}*.so in {self.build_dir} "
                                  "(run the peer kit's build.sh, or pass its folder)")
        if self.build_dir not in sys.path:
            sys.path.insert(0, self.build_dir)
        importlib.import_module(self.module)  # registers torch.ops.<module>.*
        self.ops = getattr(torch.ops, self.module)
        for op in self.op_names:
            getattr(self.ops, op)  # raises where the import did not register it

    def prepare(self, packed: Any, scales: Any, t: BenchType) -> tuple[Any, ...]:
        """GPTQ-packed weights (pack_rows) + group scales (G, N) -> the tensors mm reads, one copy."""
        raise NotImplementedError

    def mm(self, a: Any, weights: tuple[Any, ...], t: BenchType) -> Any:
        raise NotImplementedError


class MarlinPeer(PeerAdapter):
    """vLLM's apply_gptq_marlin_linear for f16 x uint4b8 g128: gptq_marlin_repack'ed weights, scales in
    Marlin's order, an empty zero-point tensor, a lock workspace of 4 ints per SM (zero; every call
    leaves it zero), fp32 reduce on, atomic add off (vLLM's defaults)."""

    name, module = "marlin", "vllm_marlin"
    op_names = ("gptq_marlin_repack", "marlin_gemm")
    BLOCKS_PER_SM = 4

    def __init__(self, build_dir: str) -> None:
        super().__init__(build_dir)
        self.workspace: Any = None
        self.no_zeros: Any = None

    def prepare(self, packed: Any, scales: Any, t: BenchType) -> tuple[Any, ...]:
        torch = self.torch
        k, n = packed.shape[0] * (32 // t.bits), packed.shape[1]
        if self.workspace is None or self.workspace.device != packed.device:
            sms = torch.cuda.get_device_properties(packed.device).multi_processor_count
            self.workspace = torch.zeros(sms * self.BLOCKS_PER_SM, dtype=torch.int32, device=packed.device)
            self.no_zeros = torch.empty(0, dtype=torch.int32, device=packed.device)
        w = self.ops.gptq_marlin_repack(packed.contiguous(), k, n, t.bits, False)
        return w, marlin_scale_order(scales)

    def mm(self, a: Any, weights: tuple[Any, ...], t: BenchType) -> Any:
        w, s = weights
        return self.ops.marlin_gemm(a, None, w, None, s, None, None, self.no_zeros, self.workspace, VLLM_U4B8_ID,
                                    a.shape[0], s.shape[1], a.shape[1], False, True, False)


class VllmMachetePeer(PeerAdapter):
    """vLLM's own Machete: machete_prepack_B on the column-major packed weights, machete_mm with its
    default heuristic (schedule None)."""

    name, module = "vllm_machete", "vllm_machete"
    op_names = ("machete_prepack_B", "machete_mm")

    def prepare(self, packed: Any, scales: Any, t: BenchType) -> tuple[Any, ...]:
        dtype = _torch_dtype(t.a_dtype)
        col_major = packed.t().contiguous().t()
        return self.ops.machete_prepack_B(col_major, dtype, VLLM_U4B8_ID, dtype), scales.contiguous()

    def mm(self, a: Any, weights: tuple[Any, ...], t: BenchType) -> Any:
        w, s = weights
        return self.ops.machete_mm(a, w, VLLM_U4B8_ID, None, s, None, t.group_size, None, None, None)


PEER_ADAPTERS: dict[str, Callable[[str], PeerAdapter]] = {"marlin": MarlinPeer, "vllm_machete": VllmMachetePeer}


class PeerSection:
    """Worker section (see worker.Worker for self.measure, self.act, ...); self.peers holds the
    imported adapters, self.peer_errors why the others are unavailable."""

    def load_peers(self) -> None:
        """Import the requested peer builds; one that is missing or fails is 'unavailable' (one line)."""
        if not self.args.peers or not any(t in PEER_TYPES for t in self.args.types):
            return
        self.ev.phase("import peers", timeout=300)
        builds = {"marlin": self.args.marlin_build, "vllm_machete": self.args.vllm_machete_build}
        for name in self.args.peers:
            try:
                self.peers[name] = PEER_ADAPTERS[name](builds[name])
                print(f"peer {name}: {self.peers[name].build_dir}", flush=True)
            except Exception as e:  # noqa: BLE001 - any failure: that peer is unavailable
                self.peer_errors[name] = _short(e)
                print(f"peer {name} unavailable: {self.peer_errors[name]}", flush=True)

    def peer_type(self, k: int, n: int, tname: str) -> None:
        """Every requested peer at every M on the weights machete_type measures (same q, scales,
        activations and cuBLAS reference, same check and timing)."""
        torch = self.torch
        t = BENCH_TYPES[tname]
        keys = {p: peer_keys((k, n), self.args.m, tname, [p]) for p in self.args.peers}
        todo = [p for p, ks in keys.items() if ks and not all(map(self.done, ks))]
        for p in [p for p in todo if p not in self.peers]:
            why = self.peer_errors.get(p, "not loaded")
            self.record_rest(keys[p], "unavailable", quiet=True, note=why)
        todo = [p for p in todo if p in self.peers]
        if not todo:
            return
        dtype = _torch_dtype(t.a_dtype)
        self.ev.phase(f"peers {tname} weights {k}x{n}", timeout=180)
        q, s, _, w = self.quant_weights(k, n, t)
        packed = pack_rows(q, t.bits)
        del q
        rots: dict[str, list[tuple[Any, ...]]] = {}
        for p in todo:
            try:
                first = tuple(self.peers[p].prepare(packed, s, t))
                per_copy = sum(x.numel() * x.element_size() for x in first)
                rots[p] = [first] + [tuple(x.clone() for x in first)
                                     for _ in range(n_copies(per_copy, self.rotation_target()) - 1)]
            except Exception as e:  # noqa: BLE001 - this peer's points are errors, the other peer goes on
                self.record_rest(keys[p], "error", note="setup: " + _short(e))
                self.exit_if_context_broken()
        del packed
        for m in self.args.m:
            pending = [p for p in rots if not self.done((k, n, m, p, tname))]
            if not pending:
                continue
            a = self.act(m, k, dtype)
            ref = a @ w
            for p in pending:
                adapter, rot = self.peers[p], rots[p]

                def fn(i: int, a: Any = a, adapter: Any = adapter, rot: Any = rot) -> Any:
                    return adapter.mm(a, rot[i % len(rot)], t)

                self.measure((k, n, m, p, tname), fn, len(rot), m,
                             check=lambda fn=fn, ref=ref: check_output(fn(0), ref, self.args.check_tol))
            del a, ref
        del rots, s, w
        if self.dev.type == "cuda":
            torch.cuda.empty_cache()
