#!/usr/bin/env python3
"""Machete mixed-input GEMM benchmark: machete vs cuBLAS, torch's int4 kernel, vLLM's Marlin and Machete
(optional peers) and the hardware limits.

One call on the GPU machine builds the data, checks every machete result against cuBLAS on the
dequantized weights, times every implementation and writes (at most 5 files, all small):

    results.csv    every raw figure, one row per (K, N, M, type)
    results.md     the table a reviewer reads
    results.png    time vs M, one panel per (shape, type), every implementation a line, floor dashed
    log.txt        everything printed while it ran
    events.jsonl   raw measurement records (used by --resume)

How it stays alive: the parent process never touches CUDA. It runs a worker subprocess that
measures every shape; the worker appends a "start" record before every measurement and a "result" record after
it. A watchdog in the parent kills a worker that stays silent past --hang-timeout (hung kernel),
records "hang" for the measurement that was running, and starts a fresh worker that resumes after
it (measurements already recorded are skipped). A worker that breaks its CUDA context (illegal address, ...) records the error and exits; the
parent restarts it the same way. Past --time-budget the parent stops and writes what it has.

Timing: weight copies (and their scales / zeros) are rotated so their total exceeds 4x L2 and at
least 256 MiB, so the cache cannot serve them; median of per-call CUDA-event timings after a
warm-up; for M <= 16 also a CUDA graph that loops over the copies (per-call median over replays),
which removes launch overhead. Targets use the lower of the two figures for every implementation.

Limits: memory floor = bytes(quantized B + scales (+ zeros) + A + D) / device-to-device copy
bandwidth measured in the same run (bytes read + written); compute limit = 2MNK / 989e12 s
(datasheet dense bf16) and, beside it, 2MNK / the measured bf16 8192^3 matmul rate;
floor = max(memory floor, datasheet compute limit).

Peers (--peers marlin,vllm_machete; default none): benchmark-only builds of vLLM v0.33.0's own Marlin
and Machete kernels, each made by its kit's build.sh on the GPU machine (--marlin-build /
--vllm-machete-build name the folders holding vllm_marlin*.so / vllm_machete*.so; defaults
/tmp/vllm_marlin_build, /tmp/vllm_machete_build). They support u4b8-g128-f16 only (other types get no
peer rows). For each (K, N, M) of that type they get the very weights, scales and activations machete
gets (seeded per shape), in their own layouts (Marlin: gptq_marlin_repack of the GPTQ-packed int32
(K/8, N) weights + scales in Marlin's order + its lock workspace; vLLM Machete: machete_prepack_B of the
column-major packed weights), are checked against the same cuBLAS reference with the same tolerance,
and timed the same way (rotated copies, event median, graph time up to --graph-max-m), inside the same
watchdog: impls "marlin" and "vllm_machete" in events.jsonl, status ok / FAIL / error / hang, or
"unavailable" (one log line saying why) where a build is missing or fails to import. The summary adds
the targets against them, over the points where the peer was measured: machete faster than Marlin at
every M <= 64; >= 1.15x geomean faster than vLLM Machete over M <= 128; no point more than 3% slower
than either peer.

The calls into the package under test are all in the "machete adapter" section below; the calls into
the peer builds are in the "peer adapters" section after it.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

# --------------------------------------------------------------------------------------------
# Problem definition (SPEC §7) and the benchmarked type configurations
# --------------------------------------------------------------------------------------------

SPEC_SHAPES: tuple[tuple[int, int], ...] = (
    # Llama-3-8B
    (4096, 6144), (4096, 4096), (4096, 28672), (14336, 4096),
    # Llama-2-70B
    (8192, 10240), (8192, 8192), (8192, 57344), (28672, 8192),
)
SPEC_MS: tuple[int, ...] = (1, 16, 32, 64, 128, 256, 512, 1024, 4096)
# Layer shapes (K, N) never used for tuning (benchmarks/tune.py scores on them):
# Llama-2-13B qkv, o, gate_up, down; Qwen2.5-32B qkv, gate_up, down.
HELD_OUT_SHAPES: tuple[tuple[int, int], ...] = (
    (5120, 15360), (5120, 5120), (5120, 27648), (13824, 5120),
    (5120, 7168), (5120, 55296), (27648, 5120),
)
QUICK_SHAPES: tuple[tuple[int, int], ...] = ((4096, 4096), (28672, 8192))
QUICK_MS: tuple[int, ...] = (1, 16, 1024)

DATASHEET_BF16_FLOPS = 989e12  # H100 SXM dense bf16, datasheet
SMALL_M = 16  # M <= SMALL_M: also timed under a CUDA graph; memory-floor targets apply
LARGE_M = 1024  # M >= LARGE_M: the large-M cuBLAS target applies


@dataclass(frozen=True)
class BenchType:
    """One benchmarked type configuration: weights b_type with group scales (+ zeros) of dtype a."""

    name: str
    b_type: str  # attribute name in machete.scalar_types
    bits: int
    bias: int  # stored value = real value + bias (u4b8: 8, u8b128: 128, uint4/uint8: 0)
    a_dtype: str  # "f16" or "bf16"; also the scale / zero / output dtype
    group_size: int  # -1 = channelwise (one group spanning K)
    has_zeros: bool

    def groups(self, k: int) -> int:
        return 1 if self.group_size == -1 else -(-k // self.group_size)

    @property
    def int4pack_applies(self) -> bool:
        """torch's _weight_int4pack_mm handles 4-bit weights with group 128 (bf16 activations)."""
        return self.bits == 4 and self.group_size == 128


BENCH_TYPES: dict[str, BenchType] = {
    t.name: t
    for t in (
        BenchType("u4b8-g128-f16", "uint4b8", 4, 8, "f16", 128, False),
        BenchType("u4b8-g128-bf16", "uint4b8", 4, 8, "bf16", 128, False),
        BenchType("u4zp-g128-f16", "uint4", 4, 0, "f16", 128, True),
        BenchType("u4zp-g128-bf16", "uint4", 4, 0, "bf16", 128, True),
        BenchType("u8b128-ch-f16", "uint8b128", 8, 128, "f16", -1, False),
        BenchType("u8b128-ch-bf16", "uint8b128", 8, 128, "bf16", -1, False),
    )
}
DEFAULT_TYPES: tuple[str, ...] = ("u4b8-g128-f16", "u4b8-g128-bf16", "u4zp-g128-f16", "u8b128-ch-f16")

# Peer implementations: benchmark-only builds of vLLM's own kernels, never part of the product.
# Each build supports exactly one type combination: f16 activations x uint4b8, group 128 f16 scales.
PEERS: tuple[str, ...] = ("marlin", "vllm_machete")
PEER_TYPES: tuple[str, ...] = ("u4b8-g128-f16",)
PEER_LABELS: dict[str, str] = {"marlin": "Marlin", "vllm_machete": "vLLM Machete"}
DEFAULT_PEER_BUILDS: dict[str, str] = {"marlin": "/tmp/vllm_marlin_build", "vllm_machete": "/tmp/vllm_machete_build"}

# --------------------------------------------------------------------------------------------
# Pure arithmetic: bytes, floors, rotation
# --------------------------------------------------------------------------------------------

ACT_BYTES = 2  # f16 / bf16 activations, scales, zeros and outputs


def weight_bytes(k: int, n: int, t: BenchType) -> int:
    """Bytes of one weight copy as the kernel reads it: quantized B + scales (+ zeros)."""
    b = k * n * t.bits // 8
    s = t.groups(k) * n * ACT_BYTES
    return b + s * (2 if t.has_zeros else 1)


def moved_bytes(m: int, k: int, n: int, t: BenchType) -> int:
    """Bytes a perfect kernel moves: quantized B + scales (+ zeros) + A + D."""
    return weight_bytes(k, n, t) + m * k * ACT_BYTES + m * n * ACT_BYTES


def mem_floor_us(nbytes: int, copy_bytes_per_s: float) -> float:
    return nbytes / copy_bytes_per_s * 1e6


def compute_limit_us(m: int, n: int, k: int, flops_per_s: float = DATASHEET_BF16_FLOPS) -> float:
    return 2.0 * m * n * k / flops_per_s * 1e6


def rotation_target_bytes(l2_bytes: int | None, override_mb: float | None = None) -> int:
    """Total bytes the rotated weight copies must exceed: max(4 x L2, 256 MiB) unless overridden."""
    if override_mb:
        return int(override_mb * 2**20)
    l2 = l2_bytes if l2_bytes else 50 * 2**20
    return max(4 * l2, 256 * 2**20)


def n_copies(per_copy_bytes: int, target_bytes: int) -> int:
    """Copies needed so that their total reaches target_bytes (at least one)."""
    return max(1, -(-target_bytes // max(1, per_copy_bytes)))


def rel_err(num: float, den: float) -> float:
    return num / den if den > 0 else (0.0 if num == 0 else math.inf)


# --------------------------------------------------------------------------------------------
# Argument parsing
# --------------------------------------------------------------------------------------------


def parse_shapes(text: str) -> list[tuple[int, int]]:
    """'4096x4096,8192x28672' -> [(K, N), ...]; 'spec' or 'all' -> SPEC §7 shapes;
    'heldout' -> the held-out tuning-evaluation shapes."""
    if text.strip().lower() in ("spec", "all"):
        return list(SPEC_SHAPES)
    if text.strip().lower() == "heldout":
        return list(HELD_OUT_SHAPES)
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        parts = item.lower().split("x")
        if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise argparse.ArgumentTypeError(f"shape {item!r}: expected KxN, e.g. 4096x4096")
        out.append((int(parts[0]), int(parts[1])))
    if not out:
        raise argparse.ArgumentTypeError("no shapes given")
    return list(dict.fromkeys(out))


def parse_ms(text: str) -> list[int]:
    try:
        ms = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--m {text!r}: expected integers, e.g. 1,16,4096") from None
    if not ms or any(m <= 0 for m in ms):
        raise argparse.ArgumentTypeError(f"--m {text!r}: expected positive integers")
    return list(dict.fromkeys(ms))


def parse_types(text: str) -> list[str]:
    if text.strip().lower() == "all":
        return list(BENCH_TYPES)
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [n for n in names if n not in BENCH_TYPES]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"--types: unknown {bad or text!r}; choose from {', '.join(BENCH_TYPES)} or 'all'"
        )
    return list(dict.fromkeys(names))


def parse_peers(text: str) -> list[str]:
    """'marlin,vllm_machete' -> names; '' or 'none' -> []; 'all' -> every peer."""
    if text.strip().lower() in ("", "none"):
        return []
    if text.strip().lower() == "all":
        return list(PEERS)
    names = [s.strip().lower().replace("-", "_") for s in text.split(",") if s.strip()]
    bad = [n for n in names if n not in PEERS]
    if bad:
        raise argparse.ArgumentTypeError(f"--peers: unknown {bad}; choose from {', '.join(PEERS)}, 'all' or 'none'")
    return list(dict.fromkeys(names))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench_mm.py",
        description="Benchmark machete.mm against cuBLAS, torch int4 (tinygemm) and the memory/compute floors.",
    )
    p.add_argument("--shapes", type=parse_shapes, default=None,
                   help="KxN list, e.g. 4096x4096,28672x8192 (default: the 8 SPEC §7 shapes)")
    p.add_argument("--m", type=parse_ms, default=None, help="M list, e.g. 1,16 (default: SPEC §7 grid)")
    p.add_argument("--types", type=parse_types, default=None,
                   help=f"comma list or 'all' from: {', '.join(BENCH_TYPES)} (default: {','.join(DEFAULT_TYPES)})")
    p.add_argument("--quick", action="store_true",
                   help=f"shapes {','.join(f'{k}x{n}' for k, n in QUICK_SHAPES)}, M {','.join(map(str, QUICK_MS))}, "
                        "shorter timing (explicit --shapes/--m override)")
    p.add_argument("--no-sweep", action="store_true", help="skip the per-schedule sweep (heuristic only)")
    p.add_argument("--no-graph", action="store_true", help="skip CUDA-graph timings for M <= 16")
    p.add_argument("--graph-max-m", type=int, default=SMALL_M,
                   help=f"also time under a CUDA graph for M up to this (default {SMALL_M}); a large value "
                        "gives kernel-only times at every M, e.g. for benchmarks/tune.py")
    p.add_argument("--no-int4pack", action="store_true", help="skip torch._weight_int4pack_mm")
    p.add_argument("--peers", type=parse_peers, default=[],
                   help=f"comma list from {', '.join(PEERS)} (or 'all'): also time these benchmark-only builds "
                        f"of vLLM's kernels, for {', '.join(PEER_TYPES)} only (default: none)")
    p.add_argument("--marlin-build", default=DEFAULT_PEER_BUILDS["marlin"],
                   help="folder holding vllm_marlin*.so, the Marlin peer kit's build "
                        f"(default {DEFAULT_PEER_BUILDS['marlin']})")
    p.add_argument("--vllm-machete-build", default=DEFAULT_PEER_BUILDS["vllm_machete"],
                   help="folder holding vllm_machete*.so, the vLLM Machete peer kit's build "
                        f"(default {DEFAULT_PEER_BUILDS['vllm_machete']})")
    p.add_argument("--out-dir", default=None, help="output folder (default: $OUT if set, else bench_out/)")
    p.add_argument("--rotate-mb", type=float, default=None,
                   help="total MiB of rotated weight copies (default: max(4 x L2, 256 MiB))")
    p.add_argument("--target-ms", type=float, default=None,
                   help="timed milliseconds per measurement (default 25, --quick 10)")
    p.add_argument("--hang-timeout", type=float, default=30.0,
                   help="seconds without progress before a worker is killed and its measurement marked hang "
                        "(default 30)")
    p.add_argument("--time-budget", type=float, default=540.0,
                   help="overall seconds, then stop and write what was measured; 0 = no limit (default 540)")
    p.add_argument("--resume", action="store_true", help="keep events.jsonl in out-dir and skip what it holds")
    p.add_argument("--check-tol", type=float, default=2e-2,
                   help="max relative Frobenius error of machete vs cuBLAS on the dequantized weights (default 0.02)")
    # internal: worker mode
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--events", default=None, help=argparse.SUPPRESS)
    return p


def resolve_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    if args.shapes is None:
        args.shapes = list(QUICK_SHAPES if args.quick else SPEC_SHAPES)
    if args.m is None:
        args.m = list(QUICK_MS if args.quick else SPEC_MS)
    if args.types is None:
        args.types = list(DEFAULT_TYPES)
    if args.target_ms is None:
        args.target_ms = 10.0 if args.quick else 25.0
    if args.out_dir is None:
        args.out_dir = os.environ.get("OUT") or "bench_out"
    return args


def worker_argv(args: argparse.Namespace, shapes: Sequence[tuple[int, int]], events: str) -> list[str]:
    """Command line of the worker that measures `shapes` with the parent's settings."""
    argv = [sys.executable, os.path.abspath(__file__), "--worker", "--events", events,
            "--shapes", ",".join(f"{k}x{n}" for k, n in shapes), "--m", ",".join(map(str, args.m)),
            "--types", ",".join(args.types), "--target-ms", str(args.target_ms),
            "--check-tol", str(args.check_tol), "--out-dir", args.out_dir,
            "--graph-max-m", str(args.graph_max_m)]
    if args.rotate_mb:
        argv += ["--rotate-mb", str(args.rotate_mb)]
    if args.peers:
        argv += ["--peers", ",".join(args.peers), "--marlin-build", args.marlin_build,
                 "--vllm-machete-build", args.vllm_machete_build]
    argv += [flag for flag, on in (("--no-sweep", args.no_sweep), ("--no-graph", args.no_graph),
                                   ("--no-int4pack", args.no_int4pack)) if on]
    return argv


# --------------------------------------------------------------------------------------------
# Measurement records (events.jsonl) and the plan of what must be measured
# --------------------------------------------------------------------------------------------
# Keys are JSON lists:
#   ["device"]                                    device info, copy bandwidth, bf16 rate
#   [K, N, M, "cublas", "f16" | "bf16"]           torch.matmul on dequantized weights
#   [K, N, M, "int4pack", "bf16"]                 torch._weight_int4pack_mm, group 128
#   [K, N, M, type, "heuristic"]                  machete.mm(schedule=None)
#   [K, N, M, type, "sched", name]                machete.mm(schedule=name)
#   [K, N, M, type, "sweep"]                      marker: every schedule of the point was tried
#   [K, N, M, peer, type]                         a peer ("marlin", "vllm_machete") on a PEER_TYPES type

Key = tuple


def key_of(rec: dict[str, Any]) -> Key:
    return tuple(rec["key"])


def needed_cublas_dtypes(types: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(BENCH_TYPES[t].a_dtype for t in types))


def peer_keys(shape: tuple[int, int], ms: Sequence[int], tname: str, peers: Sequence[str]) -> list[Key]:
    """Keys of the peers' measurements of one type (none for a type the peers do not support)."""
    k, n = shape
    return [(k, n, m, p, tname) for p in peers for m in ms] if tname in PEER_TYPES else []


def plan_keys(shape: tuple[int, int], ms: Sequence[int], types: Sequence[str], *, sweep: bool,
              int4pack: bool, peers: Sequence[str] = ()) -> list[Key]:
    """Every key a worker for `shape` must produce (schedule keys are only known at run time)."""
    k, n = shape
    keys: list[Key] = []
    for m in ms:
        keys += [(k, n, m, "cublas", dt) for dt in needed_cublas_dtypes(types)]
        if int4pack and any(BENCH_TYPES[t].int4pack_applies for t in types):
            keys.append((k, n, m, "int4pack", "bf16"))
        for t in types:
            keys.append((k, n, m, t, "heuristic"))
            if sweep:
                keys.append((k, n, m, t, "sweep"))
            keys += peer_keys(shape, [m], t, peers)
    return keys


def load_events(path: str) -> tuple[dict[Key, dict[str, Any]], list[dict[str, Any]]]:
    """Results by key (last wins) and the full event list; a torn last line is ignored."""
    results: dict[Key, dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    if not os.path.exists(path):
        return results, events
    with open(path) as f:
        for line in f:
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                continue
            events.append(ev)
            if ev.get("ev") == "result":
                results[key_of(ev)] = ev
    return results, events


def running_key(events: Sequence[dict[str, Any]]) -> Key | None:
    """The key started last that has no result after its start (what a dead worker was doing)."""
    for ev in reversed(events):
        if ev.get("ev") == "result":
            return None
        if ev.get("ev") == "start":
            return key_of(ev)
    return None


class EventWriter:
    def __init__(self, path: str) -> None:
        self.f = open(path, "a", buffering=1)
        # a killed worker can leave a torn last line: start on a fresh one so no record is glued to it
        if self.f.tell() > 0:
            with open(path, "rb") as r:
                r.seek(-1, os.SEEK_END)
                if r.read(1) != b"\n":
                    self.f.write("\n")

    def write(self, ev: dict[str, Any]) -> None:
        ev.setdefault("t", round(time.time(), 3))
        self.f.write(json.dumps(ev) + "\n")
        self.f.flush()

    def start(self, key: Key, timeout: float | None = None) -> None:
        self.write({"ev": "start", "key": list(key), **({"timeout": timeout} if timeout else {})})

    def phase(self, what: str, timeout: float | None = None) -> None:
        self.write({"ev": "phase", "what": what, **({"timeout": timeout} if timeout else {})})

    def result(self, key: Key, status: str, **fields: Any) -> None:
        self.write({"ev": "result", "key": list(key), "status": status, **fields})


# --------------------------------------------------------------------------------------------
# Rows: assemble the records into one row per (K, N, M, type); targets; CSV / markdown / summary
# --------------------------------------------------------------------------------------------

CSV_COLUMNS: tuple[str, ...] = (
    "K", "N", "M", "type", "a_dtype", "b_type", "group_size", "has_zeros", "bytes",
    "mem_floor_us", "compute_limit_us", "compute_measured_us", "floor_us",
    "machete_heur_us", "machete_heur_graph_us", "machete_heur_schedule", "machete_heur_status", "machete_heur_err", "machete_heur_note",
    "machete_best_us", "machete_best_graph_us", "machete_best_schedule", "n_schedules_ok", "n_schedules",
    "cublas_us", "cublas_graph_us", "cublas_status",
    "int4pack_us", "int4pack_graph_us", "int4pack_status", "int4pack_note",
    "heur_over_floor", "best_over_floor", "heur_over_mem_floor", "best_over_mem_floor",
    "cublas_over_heur", "cublas_over_best", "int4pack_over_heur",
    *(f"{p}_{c}" for p in PEERS for c in ("us", "graph_us", "status", "err", "note", "over_heur")),
    "schedules", "copy_GBps", "bf16_TFLOPs", "device",
)


def _best(*vals: float | None) -> float | None:
    """Lower of the event and graph figures of one implementation (None where unmeasured)."""
    vs = [v for v in vals if v is not None]
    return min(vs) if vs else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _status(rec: dict[str, Any] | None) -> str:
    return rec["status"] if rec else "not run"


def _us(rec: dict[str, Any] | None) -> float | None:
    return rec.get("us") if rec and rec.get("status") in ("ok", "FAIL") else None


def _peer_fields(results: dict[Key, dict[str, Any]], k: int, n: int, m: int, tname: str,
                 heur_t: float | None) -> dict[str, Any]:
    """The peer columns of one row: us, graph_us, status, err, note and peer time / machete heuristic time."""
    out: dict[str, Any] = {}
    for p in PEERS:
        applies = tname in PEER_TYPES
        rec = results.get((k, n, m, p, tname)) if applies else None
        timed = rec is not None and rec["status"] in ("ok", "FAIL")
        out[f"{p}_us"] = _us(rec)
        out[f"{p}_graph_us"] = rec.get("graph_us") if timed else None
        out[f"{p}_status"] = _status(rec) if applies else "n/a"
        out[f"{p}_err"] = rec.get("err") if rec else None
        out[f"{p}_note"] = (rec.get("note", "") if rec else "") if applies \
            else f"the {PEER_LABELS[p]} peer build supports {', '.join(PEER_TYPES)} only"
        peer_t = _best(out[f"{p}_us"], out[f"{p}_graph_us"]) if rec is not None and rec["status"] == "ok" else None
        out[f"{p}_over_heur"] = _ratio(peer_t, heur_t)
    return out


def build_rows(results: dict[Key, dict[str, Any]], shapes: Sequence[tuple[int, int]], ms: Sequence[int],
               types: Sequence[str]) -> list[dict[str, Any]]:
    dev = results.get(("device",), {})
    bw = dev.get("copy_Bps")
    tflops = dev.get("bf16_flops")
    rows = []
    for k, n in shapes:
        for m in ms:
            for tname in types:
                t = BENCH_TYPES[tname]
                nbytes = moved_bytes(m, k, n, t)
                mem = mem_floor_us(nbytes, bw) if bw else None
                comp = compute_limit_us(m, n, k)
                heur = results.get((k, n, m, tname, "heuristic"))
                cub = results.get((k, n, m, "cublas", t.a_dtype))
                i4 = results.get((k, n, m, "int4pack", "bf16")) if t.int4pack_applies else None
                scheds = sorted(
                    (r for key, r in results.items() if key[:5] == (k, n, m, tname, "sched") and len(key) == 6),
                    key=lambda r: r["key"][5])
                ok = [r for r in scheds if r["status"] == "ok" and r.get("us") is not None]
                best = min(ok, key=lambda r: r["us"]) if ok else None
                heur_ok = heur if heur and heur["status"] == "ok" else None
                heur_t = _best(_us(heur_ok), heur_ok.get("graph_us") if heur_ok else None)
                best_t = _best(best["us"], best.get("graph_us")) if best else None
                cub_t = _best(_us(cub), cub.get("graph_us") if cub else None)
                floor = max(mem, comp) if mem is not None else None
                rows.append({
                    "K": k, "N": n, "M": m, "type": tname, "a_dtype": t.a_dtype, "b_type": t.b_type,
                    "group_size": t.group_size, "has_zeros": t.has_zeros, "bytes": nbytes,
                    "mem_floor_us": mem, "compute_limit_us": comp,
                    "compute_measured_us": compute_limit_us(m, n, k, tflops) if tflops else None,
                    "floor_us": floor,
                    "machete_heur_us": _us(heur), "machete_heur_graph_us": heur.get("graph_us") if heur else None,
                    "machete_heur_schedule": heur.get("schedule", "") if heur else "",
                    "machete_heur_status": _status(heur), "machete_heur_err": heur.get("err") if heur else None,
                    "machete_heur_note": heur.get("note", "") if heur else "",
                    "machete_best_us": best["us"] if best else None,
                    "machete_best_graph_us": best.get("graph_us") if best else None,
                    "machete_best_schedule": best["key"][5] if best else "",
                    "n_schedules_ok": len(ok), "n_schedules": len(scheds),
                    "cublas_us": _us(cub), "cublas_graph_us": cub.get("graph_us") if cub else None,
                    "cublas_status": _status(cub),
                    "int4pack_us": _us(i4) if i4 and i4["status"] == "ok" else None,
                    "int4pack_graph_us": i4.get("graph_us") if i4 and i4["status"] == "ok" else None,
                    "int4pack_status": _status(i4) if t.int4pack_applies else "n/a",
                    "int4pack_note": (i4.get("note", "") if i4 else "") if t.int4pack_applies
                    else f"{t.bits}-bit weights, group {t.group_size}: no torch int4 kernel",
                    "heur_over_floor": _ratio(heur_t, floor), "best_over_floor": _ratio(best_t, floor),
                    "heur_over_mem_floor": _ratio(heur_t, mem), "best_over_mem_floor": _ratio(best_t, mem),
                    "cublas_over_heur": _ratio(cub_t, heur_t), "cublas_over_best": _ratio(cub_t, best_t),
                    "int4pack_over_heur": _ratio(
                        _best(_us(i4), i4.get("graph_us")) if i4 and i4["status"] == "ok" else None, heur_t),
                    **_peer_fields(results, k, n, m, tname, heur_t),
                    "schedules": ";".join(
                        f"{r['key'][5]}={_fmt(r.get('us'), 1)}" + ("" if r["status"] == "ok" else f"[{r['status']}]")
                        for r in scheds),
                    "copy_GBps": bw / 1e9 if bw else None, "bf16_TFLOPs": tflops / 1e12 if tflops else None,
                    "device": dev.get("name", ""),
                })
    return rows


def eff_time(row: dict[str, Any], impl: str) -> float | None:
    """Time used by the targets: lower of events and graph; machete only where its check passed."""
    if impl == "heur":
        if row["machete_heur_status"] != "ok":
            return None
        return _best(row["machete_heur_us"], row["machete_heur_graph_us"])
    if impl == "best":
        return _best(row["machete_best_us"], row["machete_best_graph_us"])
    if impl == "cublas":
        return _best(row["cublas_us"], row["cublas_graph_us"])
    if impl == "int4pack":
        return _best(row["int4pack_us"], row["int4pack_graph_us"])
    if impl in PEERS:  # a peer counts only where its own check passed
        if row[f"{impl}_status"] != "ok":
            return None
        return _best(row[f"{impl}_us"], row[f"{impl}_graph_us"])
    raise ValueError(impl)


@dataclass(frozen=True)
class TargetResult:
    name: str
    impl: str
    passed: int
    measured: int
    missing: int
    worst: str  # the worst point, for the summary
    met: bool | None = None  # set by targets not decided point by point (a geomean)
    detail: str = ""  # e.g. the geomean

    @property
    def ok(self) -> bool:
        if self.met is not None:
            return self.met
        return self.measured > 0 and self.passed == self.measured and self.missing == 0


TARGETS: tuple[tuple[str, str], ...] = (
    ("small_floor", f"M<={SMALL_M}: within 1.25x of the memory floor"),
    ("small_cublas", f"M<={SMALL_M}: >=3x faster than cuBLAS (a's dtype)"),
    ("large_cublas", f"M>={LARGE_M}: >=1.10x faster than cuBLAS (a's dtype)"),
    ("peers", "faster than every peer (cuBLAS, int4pack)"),
)


def evaluate_targets(rows: Sequence[dict[str, Any]], impl: str = "heur") -> list[TargetResult]:
    """Targets over all rows for machete's heuristic ('heur') or best schedule ('best').

    A row where machete was not measured, or failed its check, counts as missing: a target is met
    only when it holds at every point it covers.
    """
    out = []
    for tid, title in TARGETS:
        passed = measured = missing = 0
        worst_v, worst_p = None, ""
        for r in rows:
            if tid.startswith("small") and r["M"] > SMALL_M:
                continue
            if tid == "large_cublas" and r["M"] < LARGE_M:
                continue
            mt = eff_time(r, impl)
            if tid == "small_floor":
                ref, need = r["mem_floor_us"], 1.25  # value = machete / floor, must be <= need
                v = mt / ref if mt is not None and ref else None
                good = v is not None and v <= need
                bad_order = v
            elif tid in ("small_cublas", "large_cublas"):
                need = 3.0 if tid == "small_cublas" else 1.10
                ref = eff_time(r, "cublas")
                v = ref / mt if mt and ref else None  # speedup, must be >= need
                good = v is not None and v >= need
                bad_order = -v if v is not None else None
            else:
                peers = [p for p in (eff_time(r, "cublas"), eff_time(r, "int4pack")) if p is not None]
                v = min(peers) / mt if mt and peers else None
                good = v is not None and v > 1.0
                bad_order = -v if v is not None else None
            if v is None:
                missing += 1
                continue
            measured += 1
            passed += good
            if worst_v is None or bad_order > worst_v:
                worst_v, worst_p = bad_order, f"{r['K']}x{r['N']} M={r['M']} {r['type']}: {v:.2f}"
        out.append(TargetResult(title, impl, passed, measured, missing, worst_p))
    return out


PEER_SMALL_M = 64  # target (a): faster than Marlin at every point with M <= this
PEER_GEOMEAN_M = 128  # target (b): geomean speedup over vLLM Machete for M <= this ...
PEER_GEOMEAN_NEED = 1.15  # ... at least this
PEER_SLACK = 1.03  # target (c): at no point slower than a peer by more than this factor
PEER_TARGETS: tuple[tuple[str, str], ...] = (
    ("marlin_small", f"M<={PEER_SMALL_M}: faster than Marlin at every point"),
    ("vllm_machete_geomean", f"M<={PEER_GEOMEAN_M}: >={PEER_GEOMEAN_NEED:.2f}x geomean faster than vLLM Machete"),
    ("peers_slack", f"any M: no point >{(PEER_SLACK - 1) * 100:.0f}% slower than Marlin or vLLM Machete"),
)


def evaluate_peer_targets(rows: Sequence[dict[str, Any]], impl: str = "heur") -> list[TargetResult]:
    """The targets against vLLM's Marlin and Machete, over the points where that peer was measured
    (and passed its check). Figures are speedups, peer time / machete time (eff_time of both).

    A point with a valid peer figure but no valid machete figure counts as missing (the target fails).
    """
    out = []
    for tid, title in PEER_TARGETS:
        passed = measured = missing = 0
        worst_v, worst_p = None, ""
        speedups = []
        for r in rows:
            if tid == "marlin_small" and r["M"] > PEER_SMALL_M:
                continue
            if tid == "vllm_machete_geomean" and r["M"] > PEER_GEOMEAN_M:
                continue
            names = {"marlin_small": ("marlin",), "vllm_machete_geomean": ("vllm_machete",)}.get(tid, PEERS)
            peer_ts = [(eff_time(r, p), p) for p in names if eff_time(r, p) is not None]
            if not peer_ts:
                continue  # the peer was not measured here
            mt = eff_time(r, impl)
            if mt is None:
                missing += 1
                continue
            peer_t, peer = min(peer_ts)
            v = peer_t / mt
            measured += 1
            speedups.append(v)
            if tid == "marlin_small":
                passed += v > 1.0
            elif tid == "vllm_machete_geomean":
                passed += v >= PEER_GEOMEAN_NEED
            else:
                passed += mt <= PEER_SLACK * peer_t
            if worst_v is None or v < worst_v:
                worst_v = v
                worst_p = (f"{r['K']}x{r['N']} M={r['M']} {r['type']}: {v:.3f}"
                           + (f" vs {PEER_LABELS[peer]}" if tid == "peers_slack" else ""))
        met, detail = None, ""
        if tid == "vllm_machete_geomean":
            gm = geomean(speedups)
            met = gm is not None and gm >= PEER_GEOMEAN_NEED and missing == 0
            detail = f"geomean {gm:.3f}" if gm is not None else ""
        out.append(TargetResult(title, impl, passed, measured, missing, worst_p, met, detail))
    return out


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            return str(v)
        return f"{v:.{digits}f}" if abs(v) >= 10 ** -digits or v == 0 else f"{v:.3g}"
    return str(v)


def rows_to_csv(rows: Sequence[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow(["" if r.get(c) is None else (f"{r[c]:.4g}" if isinstance(r[c], float) else r[c])
                    for c in CSV_COLUMNS])
    return buf.getvalue()


MD_HEADER = ("K", "N", "M", "type", "machete heur us", "heur graph us", "heur schedule", "check", "machete best us",
             "best schedule", "cuBLAS us", "cuBLAS graph us", "int4pack us", "floor us",
             "heur/floor", "best/floor", "cuBLAS/heur", "cuBLAS/best")


def _short_sched(name: str) -> str:
    """'128x16_1x1x1_TmaMI__TmaCoop_streamK' -> '128x16_1x1x1' (every schedule shares the suffix)."""
    return "_".join(name.split("_")[:2]) if name else ""


def _md_row(cells: Iterable[Any]) -> str:
    return "| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |"


def peers_in_rows(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The peers with a record at some row (requested, whatever came of it)."""
    return [p for p in PEERS if any(r.get(f"{p}_status", "n/a") not in ("not run", "n/a") for r in rows)]


def _check_cell(status: str, err: float | None) -> str:
    return status + (f" ({err:.1e})" if err is not None else "")


def rows_to_markdown(rows: Sequence[dict[str, Any]], header_lines: Sequence[str] = ()) -> str:
    peers = peers_in_rows(rows)
    header = list(MD_HEADER)
    for p in peers:
        label = PEER_LABELS[p]
        header += [f"{label} us", f"{label} graph us", f"{label} check", f"{label}/heur"]
    lines = list(header_lines)
    lines += [_md_row(header), _md_row("---" for _ in header)]
    for r in rows:
        check = _check_cell(r["machete_heur_status"], r.get("machete_heur_err"))
        i4 = _fmt(r["int4pack_us"]) or (r["int4pack_status"] if r["int4pack_status"] != "n/a" else "n/a")
        cells = [
            r["K"], r["N"], r["M"], r["type"], _fmt(r["machete_heur_us"]), _fmt(r["machete_heur_graph_us"]),
            _short_sched(r["machete_heur_schedule"]), check, _fmt(r["machete_best_us"]), _short_sched(r["machete_best_schedule"]), _fmt(r["cublas_us"]),
            _fmt(r["cublas_graph_us"]), i4, _fmt(r["floor_us"]), _fmt(r["heur_over_floor"], 2),
            _fmt(r["best_over_floor"], 2), _fmt(r["cublas_over_heur"], 2), _fmt(r["cublas_over_best"], 2)]
        for p in peers:
            cells += [_fmt(r[f"{p}_us"]), _fmt(r[f"{p}_graph_us"]), _check_cell(r[f"{p}_status"], r[f"{p}_err"]),
                      _fmt(r[f"{p}_over_heur"], 2)]
        lines.append(_md_row(cells))
    return "\n".join(lines) + "\n"


def geomean(vals: Iterable[float]) -> float | None:
    vs = [v for v in vals if v is not None and v > 0]
    return math.exp(sum(map(math.log, vs)) / len(vs)) if vs else None


def summary_text(rows: Sequence[dict[str, Any]], device_line: str = "") -> str:
    lines = ["", "=" * 100, "SUMMARY" + (f"  ({device_line})" if device_line else "")]
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r["machete_heur_status"]] = statuses.get(r["machete_heur_status"], 0) + 1
    lines.append(f"points: {len(rows)}; machete heuristic check: "
                 + ", ".join(f"{s} {c}" for s, c in sorted(statuses.items())))
    fails = [r for r in rows if r["machete_heur_status"] not in ("ok",)]
    for r in fails[:8]:
        lines.append(f"  {r['K']}x{r['N']} M={r['M']} {r['type']}: {r['machete_heur_status']} "
                     f"{(r.get('machete_heur_note') or '')[:100]}")
    if len(fails) > 8:
        lines.append(f"  ... {len(fails) - 8} more (results.csv)")
    # geomean speedup vs cuBLAS per M, per type
    ms = sorted({r["M"] for r in rows})
    types = list(dict.fromkeys(r["type"] for r in rows))
    lines.append("")
    lines.append("geomean over shapes, cuBLAS / machete (heuristic | best):")
    lines.append(f"{'type':<16}" + "".join(f"{'M=' + str(m):>14}" for m in ms))
    for t in types:
        cells = []
        for m in ms:
            sel = [r for r in rows if r["type"] == t and r["M"] == m]
            h = geomean(r["cublas_over_heur"] for r in sel)
            b = geomean(r["cublas_over_best"] for r in sel)
            cells.append(f"{_fmt(h, 2) or '-'}|{_fmt(b, 2) or '-'}")
        lines.append(f"{t:<16}" + "".join(f"{c:>14}" for c in cells))
    lines.append("")
    lines.append(f"{'target':<52}{'heuristic':>22}{'best schedule':>22}  worst (heuristic)")
    for th, tb in zip(evaluate_targets(rows, "heur"), evaluate_targets(rows, "best")):
        def cell(tr: TargetResult) -> str:
            miss = f" +{tr.missing}?" if tr.missing else ""
            return f"{'PASS' if tr.ok else 'FAIL'} {tr.passed}/{tr.measured}{miss}"
        lines.append(f"{th.name:<52}{cell(th):>22}{cell(tb):>22}  {th.worst}")
    lines.append("(a/b = points meeting the target / points measured; +n? = points without a valid machete "
                 "or peer figure, which fail the target)")
    lines += peer_summary_lines(rows)
    return "\n".join(lines) + "\n"


def peer_summary_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Status counts, geomean speedups per M and the three targets against vLLM's Marlin and Machete."""
    peers = peers_in_rows(rows)
    if not peers:
        return ["", "vs vLLM's Marlin / Machete: not measured (--peers marlin,vllm_machete)"]
    lines = [""]
    for p in peers:
        counts: dict[str, int] = {}
        for r in rows:
            if r[f"{p}_status"] != "n/a":
                counts[r[f"{p}_status"]] = counts.get(r[f"{p}_status"], 0) + 1
        bad = next((r for r in rows if r[f"{p}_status"] not in ("ok", "n/a")), None)
        lines.append(f"{PEER_LABELS[p]} (peer): " + ", ".join(f"{s} {c}" for s, c in sorted(counts.items()))
                     + (f"; e.g. {bad['K']}x{bad['N']} M={bad['M']}: {bad[f'{p}_status']} "
                        f"{(bad[f'{p}_note'] or '')[:120]}" if bad else ""))
    ms = sorted({r["M"] for r in rows if r["type"] in PEER_TYPES})
    lines.append("geomean over shapes, peer / machete (heuristic | best), >1 = machete faster:")
    lines.append(f"{'peer':<16}" + "".join(f"{'M=' + str(m):>14}" for m in ms))
    for p in peers:
        cells = []
        for m in ms:
            sel = [r for r in rows if r["M"] == m and r["type"] in PEER_TYPES]
            h = geomean(_ratio(eff_time(r, p), eff_time(r, "heur")) for r in sel)
            b = geomean(_ratio(eff_time(r, p), eff_time(r, "best")) for r in sel)
            cells.append(f"{_fmt(h, 2) or '-'}|{_fmt(b, 2) or '-'}")
        lines.append(f"{PEER_LABELS[p]:<16}" + "".join(f"{c:>14}" for c in cells))
    lines.append("")
    lines.append(f"{'target vs peers (where the peer was measured)':<60}{'heuristic':>26}{'best schedule':>26}"
                 "  worst (heuristic, peer/machete)")
    for th, tb in zip(evaluate_peer_targets(rows, "heur"), evaluate_peer_targets(rows, "best")):
        def cell(tr: TargetResult) -> str:
            if tr.measured == 0 and tr.missing == 0:
                return "not measured"
            miss = f" +{tr.missing}?" if tr.missing else ""
            return f"{'met' if tr.ok else 'missed'} {tr.passed}/{tr.measured}{miss}" + \
                (f" {tr.detail}" if tr.detail else "")
        lines.append(f"{th.name:<60}{cell(th):>26}{cell(tb):>26}  {th.worst}")
    lines.append("(a/b = points meeting the per-point condition / points where the peer was measured; the geomean "
                 "target is met on the geomean; +n? = points without a valid machete figure, which fail the target)")
    return lines


# --------------------------------------------------------------------------------------------
# Plot (matplotlib imported lazily; absent on CPU dev machines is fine)
# --------------------------------------------------------------------------------------------


def write_plot(rows: Sequence[dict[str, Any]], path: str) -> str:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:  # noqa: BLE001 - any import problem just means no plot
        return f"no plot: matplotlib unavailable ({e})"
    shapes = list(dict.fromkeys((r["K"], r["N"]) for r in rows))
    types = list(dict.fromkeys(r["type"] for r in rows))
    if not shapes:
        return "no plot: no rows"
    fig, axes = plt.subplots(len(shapes), len(types), figsize=(4.2 * len(types), 3.2 * len(shapes)),
                             squeeze=False)
    # fixed colours: a panel without one series must not shift the others' colours
    series = (("machete heuristic", "heur", "-o", "C0"), ("machete best", "best", "-s", "C1"),
              ("cuBLAS", "cublas", "-^", "C2"), ("torch int4pack", "int4pack", "-v", "C3"),
              ("Marlin (vLLM)", "marlin", "-D", "C4"), ("vLLM Machete", "vllm_machete", "-x", "C5"))
    for i, (k, n) in enumerate(shapes):
        for j, t in enumerate(types):
            ax = axes[i][j]
            sel = sorted((r for r in rows if (r["K"], r["N"]) == (k, n) and r["type"] == t), key=lambda r: r["M"])
            for label, impl, style, color in series:
                pts = [(r["M"], eff_time(r, impl)) for r in sel]
                pts = [(m, v) for m, v in pts if v is not None]
                if pts:
                    ax.plot(*zip(*pts), style, color=color, label=label, markersize=3)
            fl = [(r["M"], r["floor_us"]) for r in sel if r["floor_us"]]
            if fl:
                ax.plot(*zip(*fl), "k--", label="floor (mem/compute)")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"K={k} N={n} {t}", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            ax.tick_params(labelsize=7)
            if i == len(shapes) - 1:
                ax.set_xlabel("M")
            if j == 0:
                ax.set_ylabel("us (lower is better)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        axes[0][0].legend(handles, labels, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return f"plot: {path}"


# --------------------------------------------------------------------------------------------
# Machete adapter: every call into the package under test is here
# --------------------------------------------------------------------------------------------


class MacheteAdapter:
    """Thin layer over `machete`; the rest of the benchmark never imports the package."""

    def __init__(self) -> None:
        import importlib

        try:
            self.machete = importlib.import_module("machete")
        except ModuleNotFoundError:
            # run as `python benchmarks/bench_mm.py`: sys.path[0] is benchmarks/, the package is one up
            sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            self.machete = importlib.import_module("machete")
        missing = [a for a in ("prepack_B", "mm", "supported_schedules", "scalar_types")
                   if not hasattr(self.machete, a)]
        if missing:
            raise ImportError(f"machete ({getattr(self.machete, '__path__', '?')}) lacks {', '.join(missing)}")

    def scalar_type(self, t: BenchType) -> Any:
        return getattr(self.machete.scalar_types, t.b_type)

    def pack(self, q: Any, t: BenchType) -> Any:
        """Stored values (K, N) -> SPEC §5 int32 (K / (32/bits), N), column-major."""
        return self.machete.reference.pack(q, self.scalar_type(t))

    def prepack(self, b_packed: Any, a_dtype: Any, t: BenchType) -> Any:
        return self.machete.prepack_B(b_packed, a_dtype, self.scalar_type(t), group_scales_type=a_dtype)

    def heuristic(self, m: int, n: int, k: int, a_dtype: Any, t: BenchType) -> str:
        """Name of the schedule mm picks without one ('' where the package cannot say)."""
        try:
            return str(self.machete.heuristic_schedule(
                m, n, k, a_dtype, self.scalar_type(t), group_scales_type=a_dtype,
                group_zeros_type=a_dtype if t.has_zeros else None))
        except Exception:  # noqa: BLE001 - optional: only labels the table
            return ""

    def schedules(self, a_dtype: Any, t: BenchType) -> list[str]:
        return list(self.machete.supported_schedules(
            a_dtype, self.scalar_type(t), group_scales_type=a_dtype,
            group_zeros_type=a_dtype if t.has_zeros else None))

    def mm(self, a: Any, b_prepacked: Any, t: BenchType, scales: Any, zeros: Any, schedule: str | None) -> Any:
        return self.machete.mm(a, b_prepacked, self.scalar_type(t), group_scales=scales,
                               group_zeros=zeros, group_size=t.group_size, schedule=schedule)


# --------------------------------------------------------------------------------------------
# Peer adapters: benchmark-only builds of vLLM v0.33.0's Marlin and Machete (never the product)
# --------------------------------------------------------------------------------------------
# Each build is a torch extension made by its kit's build.sh (README.md, "Peers"); importing it
# registers torch.ops.<module>.*. Both builds support one type only (PEER_TYPES): f16 activations x
# uint4b8 weights, group 128 f16 scales, no zeros, f16 out. Calls follow vLLM's own call paths.

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


# --------------------------------------------------------------------------------------------
# Worker (GPU): data, timing, checks
# --------------------------------------------------------------------------------------------

EXIT_CONTEXT_BROKEN = 3


def _torch_dtype(name: str) -> Any:
    import torch
    return {"f16": torch.float16, "bf16": torch.bfloat16}[name]


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


class Timer:
    """Median per-call CUDA-event time and CUDA-graph time of fn(i) (i selects the rotated copy)."""

    def __init__(self, target_ms: float, min_reps: int = 5, max_reps: int = 200, warmup: int = 3) -> None:
        self.target_ms, self.min_reps, self.max_reps, self.warmup = target_ms, min_reps, max_reps, warmup

    def events(self, fn: Callable[[int], Any]) -> float:
        import torch
        for i in range(self.warmup):
            fn(i)
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        s.record()
        fn(self.warmup)
        e.record()
        e.synchronize()
        est_ms = max(s.elapsed_time(e), 1e-3)
        reps = int(min(self.max_reps, max(self.min_reps, self.target_ms / est_ms)))
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        for r in range(reps):
            starts[r].record()
            fn(self.warmup + 1 + r)
            ends[r].record()
        torch.cuda.synchronize()
        return statistics.median(a.elapsed_time(b) for a, b in zip(starts, ends)) * 1e3

    def graph(self, fn: Callable[[int], Any], n_rot: int, calls: int = 32, replays: int = 10) -> float:
        import torch
        calls = max(calls, n_rot)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for i in range(3):
                fn(i)
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for i in range(calls):
                fn(i)
        g.replay()
        g.replay()
        torch.cuda.synchronize()
        times = []
        for _ in range(replays):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            g.replay()
            e.record()
            e.synchronize()
            times.append(s.elapsed_time(e) * 1e3 / calls)
        del g
        return statistics.median(times)


def _seed(*parts: Any) -> int:
    """A seed that is the same in every process (unlike hash())."""
    return zlib.crc32(json.dumps(parts).encode())


def _short(e: BaseException) -> str:
    msg = f"{type(e).__name__}: {e}".replace("\n", " ")
    return msg[:300]


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


class Worker:
    """Measures the shapes in args; device and timer are injectable so tests can run it on CPU."""

    def __init__(self, args: argparse.Namespace, device: str = "cuda", timer: Any = None) -> None:
        import torch

        self.torch = torch
        self.args = args
        self.ev = EventWriter(args.events)
        self.results, _ = load_events(args.events)
        self.timer = timer or Timer(args.target_ms)
        self.dev = torch.device(device)
        self.adapter: Any = None  # MacheteAdapter once imported
        self.adapter_error = ""
        self.peers: dict[str, Any] = {}  # name -> PeerAdapter, once imported (load_peers)
        self.peer_errors: dict[str, str] = {}  # name -> why it is unavailable

    # -- bookkeeping -------------------------------------------------------------------------
    def done(self, key: Key) -> bool:
        return key in self.results

    def record(self, key: Key, status: str, quiet: bool = False, **fields: Any) -> None:
        rec = {"ev": "result", "key": list(key), "status": status, **fields}
        self.ev.result(key, status, **fields)
        self.results[key] = rec
        if quiet:
            return
        us, g = fields.get("us"), fields.get("graph_us")
        extra = f" graph {g:.1f} us" if g is not None else ""
        err = fields.get("err")
        print(f"  [{' '.join(map(str, key))}] {status}"
              + (f" {us:.1f} us" if us is not None else "") + extra
              + (f" err {err:.1e}" if err is not None else "")
              + (f" ({fields['note']})" if fields.get("note") else ""), flush=True)

    def context_ok(self) -> bool:
        if self.dev.type != "cuda":
            return True
        try:
            self.torch.cuda.synchronize()
            return True
        except Exception:  # noqa: BLE001
            return False

    def measure(self, key: Key, fn: Callable[[int], Any], n_rot: int, m: int,
                check: Callable[[], tuple[str, float | None, str]] | None = None,
                extra: dict[str, Any] | None = None) -> None:
        """Check (optional), time with events, time under a graph for small M; record; never raise."""
        self.ev.start(key)
        fields: dict[str, Any] = dict(extra or {})
        status, notes = "ok", []
        try:
            if check is not None:
                status, err, note = check()
                fields["err"] = err
                if note:
                    notes.append(note)
            fields["us"] = self.timer.events(fn)
        except Exception as e:  # noqa: BLE001 - recorded, never fatal
            self.record(key, "error", note=_short(e), **dict(extra or {}))
            if not self.context_ok():
                sys.exit(EXIT_CONTEXT_BROKEN)
            return
        if m <= self.args.graph_max_m and not self.args.no_graph:
            try:
                fields["graph_us"] = self.timer.graph(fn, n_rot)
            except Exception as e:  # noqa: BLE001
                notes.append("graph: " + _short(e))
        self.record(key, status, note="; ".join(notes), **fields)
        if not self.context_ok():
            sys.exit(EXIT_CONTEXT_BROKEN)

    # -- device-level ------------------------------------------------------------------------
    def device_info(self) -> None:
        key = ("device",)
        if self.done(key):
            return
        torch = self.torch
        self.ev.start(key, timeout=120)
        props = torch.cuda.get_device_properties(0)
        l2 = int(getattr(props, "L2_cache_size", 0) or 0)
        nbytes = 1 << 30
        src = torch.empty(nbytes, dtype=torch.uint8, device=self.dev)
        dst = torch.empty_like(src)
        copy_us = Timer(200, min_reps=10, max_reps=50).events(lambda i: dst.copy_(src))
        del src, dst
        n = 8192
        a = torch.randn(n, n, dtype=torch.bfloat16, device=self.dev)
        b = torch.randn(n, n, dtype=torch.bfloat16, device=self.dev)
        mm_us = Timer(300, min_reps=10, max_reps=50).events(lambda i: a @ b)
        del a, b
        torch.cuda.empty_cache()
        self.record(key, "ok", name=props.name, l2_bytes=l2, copy_Bps=2 * nbytes / (copy_us * 1e-6),
                    bf16_flops=2 * n**3 / (mm_us * 1e-6), torch=torch.__version__,
                    note=f"{props.name}, L2 {l2 / 2**20:.0f} MiB, copy {2 * nbytes / copy_us / 1e3:.0f} GB/s, "
                         f"bf16 {2 * n**3 / mm_us / 1e6:.0f} TFLOP/s")

    def rotation_target(self) -> int:
        return rotation_target_bytes(self.results.get(("device",), {}).get("l2_bytes"), self.args.rotate_mb)

    # -- data --------------------------------------------------------------------------------
    def generator(self, *seed: Any) -> Any:
        g = self.torch.Generator(device=self.dev)
        g.manual_seed(_seed(*seed))
        return g

    def act(self, m: int, k: int, dtype: Any) -> Any:
        """Activations, the same for every implementation measured at (M, K)."""
        g = self.generator("act", m, k)
        return (3 * self.torch.rand(m, k, device=self.dev, generator=g) - 2).to(dtype)

    def quant_weights(self, k: int, n: int, t: BenchType) -> tuple[Any, Any, Any, Any]:
        """Stored values q (K, N), scales (G, N), zeros (G, N) or None, dequantized weights w (K, N) in a's
        dtype. Seeded by (K, N, type): machete and the peers get the very same weights."""
        torch = self.torch
        dtype = _torch_dtype(t.a_dtype)
        gen = self.generator("weights", k, n, t.name)
        g = t.groups(k)
        gs = k if t.group_size == -1 else t.group_size
        q = torch.randint(0, 2**t.bits, (k, n), dtype=torch.uint8 if t.bits <= 8 else torch.int32,
                          device=self.dev, generator=gen)
        s = (0.05 + 0.1 * torch.rand(g, n, device=self.dev, generator=gen)).to(dtype)
        z = None
        if t.has_zeros:  # integer zero point zp -> z = -zp * s (SPEC §1: zero added after scaling)
            zp = torch.randint(0, 2**t.bits, (g, n), device=self.dev, generator=gen).float()
            z = (-zp * s.float()).to(dtype)
        wf = (q.float() - t.bias).view(g, gs, n) * s.float()[:, None, :]
        if z is not None:
            wf += z.float()[:, None, :]
        w = wf.view(k, n).to(dtype)
        return q, s, z, w

    # -- cuBLAS, torch int4 ------------------------------------------------------------------

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
            for key in keys:
                if not self.done(key):
                    self.record(key, "n/a", note=_short(e))
            if not self.context_ok():
                sys.exit(EXIT_CONTEXT_BROKEN)
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

    # -- machete -----------------------------------------------------------------------------
    def machete_type(self, k: int, n: int, tname: str) -> None:
        torch = self.torch
        t = BENCH_TYPES[tname]
        ms = self.args.m
        heur_keys = [(k, n, m, tname, "heuristic") for m in ms]
        sweep_keys = [(k, n, m, tname, "sweep") for m in ms] if not self.args.no_sweep else []
        if all(map(self.done, heur_keys + sweep_keys)):
            return

        def fail_all(status: str, note: str) -> None:
            for key in heur_keys + sweep_keys:
                if not self.done(key):
                    self.record(key, status, note=note)

        if self.adapter is None:
            fail_all("n/a", f"machete unavailable: {self.adapter_error}")
            return
        dtype = _torch_dtype(t.a_dtype)
        self.ev.phase(f"machete {tname} weights {k}x{n}", timeout=180)
        try:
            q, s, z, w = self.quant_weights(k, n, t)
            packed = self.adapter.pack(q, t)
            del q
            b = self.adapter.prepack(packed, dtype, t)
            del packed
            per_copy = b.numel() * b.element_size() + s.numel() * 2 * (2 if z is not None else 1)
            count = n_copies(per_copy, self.rotation_target())
            rot = [(b, s, z)] + [(b.clone(), s.clone(), None if z is None else z.clone()) for _ in range(count - 1)]
        except Exception as e:  # noqa: BLE001
            fail_all("error", "setup: " + _short(e))
            if not self.context_ok():
                sys.exit(EXIT_CONTEXT_BROKEN)
            return
        schedules: list[str] = []
        if sweep_keys:
            try:
                schedules = self.adapter.schedules(dtype, t)
            except Exception as e:  # noqa: BLE001 - the heuristic can still be measured
                for key in sweep_keys:
                    if not self.done(key):
                        self.record(key, "error", note="supported_schedules: " + _short(e))

        adapter = self.adapter
        for m in ms:
            hk = (k, n, m, tname, "heuristic")
            sk = (k, n, m, tname, "sweep")
            todo_sched = [sc for sc in schedules if not self.done((k, n, m, tname, "sched", sc))]
            if self.done(hk) and (not sweep_keys or self.done(sk)):
                continue
            a = self.act(m, k, dtype)
            ref = a @ w

            def make(schedule: str | None, a: Any = a) -> Callable[[int], Any]:
                return lambda i: adapter.mm(a, rot[i % len(rot)][0], t, rot[i % len(rot)][1],
                                            rot[i % len(rot)][2], schedule)

            def checker(schedule: str | None, ref: Any = ref) -> Callable[[], tuple[str, float | None, str]]:
                return lambda: check_output(make(schedule)(0), ref, self.args.check_tol)

            if not self.done(hk):
                self.measure(hk, make(None), len(rot), m, check=checker(None),
                             extra={"schedule": adapter.heuristic(m, n, k, dtype, t)})
            if sweep_keys and not self.done(sk):
                for sc in todo_sched:
                    self.measure((k, n, m, tname, "sched", sc), make(sc), len(rot), m, check=checker(sc))
                self.record(sk, "ok", note=f"{len(schedules)} schedules")
            del a, ref
        del rot, b, s, z, w
        torch.cuda.empty_cache()

    # -- vLLM's Marlin and Machete (peer builds) ---------------------------------------------
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
            for key in keys[p]:
                if not self.done(key):
                    self.record(key, "unavailable", quiet=True, note=why)
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
                for key in keys[p]:
                    if not self.done(key):
                        self.record(key, "error", note="setup: " + _short(e))
                if not self.context_ok():
                    sys.exit(EXIT_CONTEXT_BROKEN)
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

    def run(self) -> None:
        self.ev.phase("import machete", timeout=600)
        try:
            self.adapter = MacheteAdapter()
        except Exception as e:  # noqa: BLE001
            self.adapter_error = _short(e)
            print(f"machete import failed: {self.adapter_error} -- peers only", flush=True)
        self.load_peers()
        self.guarded([("device",)], self.device_info)
        a = self.args
        for k, n in a.shapes:
            print(f"== shape K={k} N={n}", flush=True)
            self.torch.manual_seed(k * 100003 + n)
            self.guarded([(k, n, m, "cublas", dt) for m in a.m for dt in needed_cublas_dtypes(a.types)],
                         lambda: self.cublas(k, n))
            self.guarded([(k, n, m, "int4pack", "bf16") for m in a.m], lambda: self.int4pack(k, n))
            for tname in a.types:
                self.guarded([(k, n, m, tname, v) for m in a.m for v in ("heuristic", "sweep")],
                             lambda: self.machete_type(k, n, tname))
                if a.peers and tname in PEER_TYPES:
                    self.guarded(peer_keys((k, n), a.m, tname, a.peers), lambda: self.peer_type(k, n, tname))

    def guarded(self, keys: list[Key], section: Callable[[], None]) -> None:
        """Run a section; an exception outside a single measurement (OOM while building data, a bug)
        marks the section's unfinished keys as errors instead of killing the whole worker."""
        try:
            section()
        except Exception as e:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            for key in keys:
                if not self.done(key):
                    self.record(key, "error", note=_short(e))
            if not self.context_ok():
                sys.exit(EXIT_CONTEXT_BROKEN)
            if self.dev.type == "cuda":
                self.torch.cuda.empty_cache()


def worker_main(args: argparse.Namespace) -> int:
    import torch
    if not torch.cuda.is_available():
        print("bench_mm: no CUDA device; run this on the GPU machine", file=sys.stderr)
        return 2
    Worker(args).run()
    return 0


# --------------------------------------------------------------------------------------------
# Parent: one watched worker per shape, restart after hangs / broken contexts, write the outputs
# --------------------------------------------------------------------------------------------


class Log:
    def __init__(self, path: str) -> None:
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def __call__(self, msg: str) -> None:
        with self.lock:
            sys.stdout.write(msg + ("" if msg.endswith("\n") else "\n"))
            sys.stdout.flush()
            self.f.write(msg + ("" if msg.endswith("\n") else "\n"))


def _pump(stream: Any, log: Log) -> None:
    for line in iter(stream.readline, ""):
        log(line.rstrip("\n"))


def run_worker(args: argparse.Namespace, shapes: Sequence[tuple[int, int]], events: str, log: Log,
               deadline: float | None, tick: Callable[[], Any] = lambda: None, tick_s: float = 60.0) -> str:
    """Run one worker until it exits, goes silent, or the deadline passes: 'exit:<rc>' | 'hang' | 'budget'.

    tick() runs every tick_s seconds meanwhile (partial outputs, in case the whole run is killed).
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(worker_argv(args, shapes, events), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, start_new_session=True)
    next_tick = time.monotonic() + tick_s
    pump = threading.Thread(target=_pump, args=(proc.stdout, log), daemon=True)
    pump.start()
    # start-up (python + torch + CUDA init) gets 180 s; afterwards the last event's timeout applies
    last_size = os.path.getsize(events) if os.path.exists(events) else 0
    last_change, timeout = time.monotonic(), 180.0
    outcome = ""
    while True:
        rc = proc.poll()
        if rc is not None:
            outcome = f"exit:{rc}"
            break
        size = os.path.getsize(events) if os.path.exists(events) else 0
        now = time.monotonic()
        if now > next_tick:
            tick()
            next_tick = now + tick_s
        if size != last_size:
            last_size, last_change = size, now
            _, evs = load_events(events)
            timeout = float(evs[-1].get("timeout") or args.hang_timeout) if evs else 180.0
        if deadline is not None and now > deadline:
            outcome = "budget"
        elif now - last_change > timeout:
            outcome = "hang"
        if outcome:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            break
        time.sleep(0.25)
    pump.join(timeout=5)
    return outcome


def progress_text(done: int, total: int, elapsed_s: float) -> str:
    """One progress line: measurements done of planned, elapsed time and the ETA at the rate so far."""
    pct = 100.0 * done / total if total else 100.0
    if done and total > done:
        eta = f", ETA {elapsed_s / done * (total - done):.0f} s"
    elif total and done >= total:
        eta = ", done"
    else:
        eta = ""
    return f"bench_mm: {done}/{total} measurements ({pct:.0f}%), {elapsed_s:.0f} s{eta}"


class Progress:
    """Prints progress_text to stderr every tick (every ~10 s while a worker runs) and writes the
    partial outputs every `outputs_every` ticks."""

    def __init__(self, args: argparse.Namespace, events: str, log: "Log", planned: set, outputs_every: int = 6):
        self.args, self.events, self.log, self.planned = args, events, log, planned
        self.t0, self.n, self.outputs_every = time.monotonic(), 0, outputs_every

    def __call__(self) -> None:
        results, _ = load_events(self.events)
        done = sum(1 for key in self.planned if key in results)
        print(progress_text(done, len(self.planned), time.monotonic() - self.t0), file=sys.stderr, flush=True)
        self.n += 1
        if self.n % self.outputs_every == 0:
            write_outputs(self.args, self.events, self.log, partial=True)


def run_parent(args: argparse.Namespace) -> int:
    os.makedirs(args.out_dir, exist_ok=True)
    events = os.path.join(args.out_dir, "events.jsonl")
    log_path = os.path.join(args.out_dir, "log.txt")
    if not args.resume:
        for path in (events, log_path):
            if os.path.exists(path):
                os.remove(path)
    log = Log(log_path)
    t0 = time.monotonic()
    deadline = t0 + args.time_budget if args.time_budget else None
    log(f"bench_mm: shapes {' '.join(f'{k}x{n}' for k, n in args.shapes)}; M {args.m}; types {args.types}; "
        f"sweep {'off' if args.no_sweep else 'on'}; peers {','.join(args.peers) or 'none'}; out {args.out_dir}")
    plan = {shape: plan_keys(shape, args.m, args.types, sweep=not args.no_sweep, int4pack=not args.no_int4pack,
                             peers=args.peers)
            for shape in args.shapes}
    stopped, fruitless = "", 0
    progress = Progress(args, events, log, {key for keys in plan.values() for key in keys})
    while True:
        results, _ = load_events(events)
        todo = [key for keys in plan.values() for key in keys if key not in results]
        if not todo:
            break
        if deadline is not None and time.monotonic() > deadline:
            stopped = f"time budget ({args.time_budget:.0f} s) spent"
            break
        shapes = [shape for shape, keys in plan.items() if any(key not in results for key in keys)]
        n_before = len(results)
        outcome = run_worker(args, shapes, events, log, deadline, tick=progress, tick_s=10.0)
        if outcome == "budget":
            stopped = f"time budget ({args.time_budget:.0f} s) spent"
            break
        if outcome == "exit:0":
            break
        if outcome == "exit:2":
            # No GPU: a results file of 'not run' rows would only mislead; say so and fail.
            log("bench_mm: the worker found no CUDA device; no results written")
            return 2
        _, evs = load_events(events)
        rk = running_key(evs)
        if rk is not None:
            status = "hang" if outcome == "hang" else "crash"
            note = (f"no progress for {args.hang_timeout:.0f} s; worker killed" if outcome == "hang"
                    else f"worker {outcome}")
            EventWriter(events).result(rk, status, note=note)  # fresh writer: mends a torn last line
            log(f"  [{' '.join(map(str, rk))}] {status}: {note}; restarting the worker")
        else:
            log(f"  worker {outcome} between measurements; restarting")
        results, _ = load_events(events)
        fruitless = fruitless + 1 if len(results) == n_before else 0
        if fruitless >= 2:
            writer = EventWriter(events)
            for key in todo:
                if key not in results:
                    writer.result(key, "error", note=f"worker made no progress ({outcome})")
            break
        write_outputs(args, events, log, partial=True)
    if stopped:
        log(f"stopped early: {stopped}; the rest is 'not run'")
    rows = write_outputs(args, events, log, partial=False)
    results, _ = load_events(events)
    dev = results.get(("device",), {})
    log(summary_text(rows, dev.get("note", "")))
    log(f"wall {time.monotonic() - t0:.0f} s; files in {args.out_dir}: {' '.join(sorted(os.listdir(args.out_dir)))}")
    return 0


def write_outputs(args: argparse.Namespace, events: str, log: Log, partial: bool) -> list[dict[str, Any]]:
    results, _ = load_events(events)
    rows = build_rows(results, args.shapes, args.m, args.types)
    with open(os.path.join(args.out_dir, "results.csv"), "w") as f:
        f.write(rows_to_csv(rows))
    dev = results.get(("device",), {})
    header = [
        "# machete.mm benchmark", "",
        f"Device: {dev.get('note', 'not measured')}; torch {dev.get('torch', '?')}.",
        "Times in us: median of CUDA events per call (graph: per call inside a CUDA graph, M <= 16), "
        "weights rotated past L2. floor = max(bytes / measured copy bandwidth, 2MNK / 989 TFLOP/s). "
        "Ratios use the lower of events and graph. check = machete (heuristic) vs cuBLAS on the dequantized "
        "weights (relative Frobenius error). cuBLAS runs in the type's activation dtype; int4pack "
        "(torch._weight_int4pack_mm) always runs bf16.", "",
    ]
    if peers_in_rows(rows):
        header[-1:-1] = [
            "Peers (u4b8-g128-f16 only): benchmark-only builds of vLLM v0.33.0's Marlin and Machete, on the same "
            "weights, activations and check as machete, timed the same way; peer/heur = peer time / machete "
            "heuristic time (> 1: machete faster)."]
    with open(os.path.join(args.out_dir, "results.md"), "w") as f:
        f.write(rows_to_markdown(rows, header))
        f.write("\n```\n" + summary_text(rows, dev.get("note", "")) + "```\n")
    if not partial:
        log(write_plot(rows, os.path.join(args.out_dir, "results.png")))
    return rows


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def main(argv: Sequence[str] | None = None) -> int:
    args = resolve_args(argv)
    if args.worker:
        return worker_main(args)
    if not cuda_available():
        print("bench_mm: no CUDA device (torch.cuda.is_available() is False); run this on the GPU machine",
              file=sys.stderr)
        return 2
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
