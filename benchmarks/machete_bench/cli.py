"""The command line: parsing and defaults, and main(), which runs the parent (watchdog and outputs)
or, with the internal --worker flag, the worker that measures."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from .parent import run_parent
from .problem import (BENCH_TYPES, DEFAULT_PEER_BUILDS, DEFAULT_TYPES, HELD_OUT_SHAPES, PEER_TYPES, PEERS, QUICK_MS,
                      QUICK_SHAPES, SMALL_M, SPEC_MS, SPEC_SHAPES)
from .worker import worker_main


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
        raise argparse.ArgumentTypeError(f"{text!r}: expected integers, e.g. 1,16,4096") from None
    if not ms or any(m <= 0 for m in ms):
        raise argparse.ArgumentTypeError(f"{text!r}: expected positive integers")
    return list(dict.fromkeys(ms))


def number_arg(kind: type, minimum: float, *, strict: bool):
    """An argparse type: a finite int / float >= minimum (> minimum when strict), else a one-line
    error naming the value (argparse adds the flag)."""
    import math

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {'an integer' if kind is int else 'a number'}") \
                from None
        if not math.isfinite(v) or v < minimum or (strict and v == minimum):
            raise argparse.ArgumentTypeError(f"{text!r}: expected a finite number {'>' if strict else '>='} {minimum:g}")
        return v

    return parse


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
    p.add_argument("--sweep-only", default="", metavar="TEXT",
                   help="sweep only the schedules whose name contains TEXT (e.g. DecodeMma)")
    p.add_argument("--no-graph", action="store_true", help="skip CUDA-graph timings for M <= 16")
    p.add_argument("--graph-max-m", type=number_arg(int, 0, strict=False), default=SMALL_M,
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
    p.add_argument("--rotate-mb", type=number_arg(float, 0, strict=True), default=None,
                   help="total MiB of rotated weight copies (default: max(4 x L2, 256 MiB))")
    p.add_argument("--target-ms", type=number_arg(float, 0, strict=True), default=None,
                   help="timed milliseconds per measurement (default 25, --quick 10)")
    p.add_argument("--hang-timeout", type=number_arg(float, 0, strict=True), default=30.0,
                   help="seconds without progress before a worker is killed and its measurement marked hang "
                        "(default 30)")
    p.add_argument("--time-budget", type=number_arg(float, 0, strict=False), default=540.0,
                   help="overall seconds, then stop and write what was measured; 0 = no limit (default 540)")
    p.add_argument("--resume", action="store_true", help="keep events.jsonl in out-dir and skip what it holds")
    p.add_argument("--check-tol", type=number_arg(float, 0, strict=True), default=2e-2,
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
