#!/usr/bin/env python3
"""machete-gen: generate the Machete mixed-input GEMM sources (SPEC §4).

    python generate_machete.py                      # writes build/generated/*.cu
    python generate_machete.py --list               # one line per kernel entry point
    python generate_machete.py --types f16u4b8f16voidvoidvoidf16f32 --schedules 128x16_1x1x1_TmaMI__TmaCoop_streamK
    python generate_machete.py --scalar-header csrc/machete/scalar_kind.h   # the checked-in header
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEFAULT_OUTPUT_DIR = Path("build/generated")
DEFAULT_NUM_SHARDS = 8


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints usage too by default)
        raise SystemExit(_fail(message))


def _fail(message: str) -> int:
    print(f"generate_machete.py: error: {message}", file=sys.stderr)
    return 2


def _csv(text: str) -> tuple[str, ...]:
    """A non-empty comma list: '' or ',' is an error (leave the flag out to select everything)."""
    items = tuple(x.strip() for x in text.split(","))
    if not any(items):
        raise argparse.ArgumentTypeError(f"empty list {text!r}: give one or more comma-separated "
                                         f"names, or leave the flag out for all")
    if not all(items):
        raise argparse.ArgumentTypeError(f"empty name in the list {text!r}")
    return items


def _dir(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("empty path (use '.' for the current directory)")
    return Path(text)


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="generate_machete.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--output-dir", type=_dir, default=DEFAULT_OUTPUT_DIR,
                   help=f"where the .cu files go (default: {DEFAULT_OUTPUT_DIR})")
    p.add_argument("--num-shards", type=_positive, default=None,
                   help=f"number of machete_mm_impl_partN.cu files, at most the number of kernel "
                        f"entry points (default: {DEFAULT_NUM_SHARDS}; a filtered build with fewer "
                        f"kernels leaves the rest empty, so the file list stays fixed)")
    p.add_argument("--shard-policy", choices=("lpt", "hash"), default="lpt",
                   help="lpt: balance by the compile-cost model (default); hash: stable sha1")
    p.add_argument("--types", type=_csv, default=(),
                   help="comma list of type signatures to generate (default: all)")
    p.add_argument("--schedules", type=_csv, default=(),
                   help="comma list of schedule names to generate (default: all)")
    p.add_argument("--w4a8", action="store_true", help="also generate the W4A8 type set")
    p.add_argument("--heuristic-table", type=Path, default=None,
                   help="a tuned heuristic table (JSON, see machete_ir/heuristic_table.py) "
                        "to lower instead of the default, on every GPU")
    p.add_argument("--device-heuristic-table", action="append", default=[], metavar="DEVICE=FILE",
                   help="a per-GPU table (JSON as for --heuristic-table), used when the device name "
                        "contains DEVICE (e.g. H200=h200.json); repeatable, tried in order; replaces "
                        "the built-in per-GPU tables")
    p.add_argument("--scalar-header", type=_dir, default=None, metavar="PATH",
                   help="write only the scalar header printed from the scalar table "
                        "(machete/_scalar_table.py) to PATH, i.e. csrc/machete/scalar_kind.h, and "
                        "exit; with --check, exit 1 if PATH is missing or stale")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true",
                      help="print 'TYPE_SIGNATURE SCHEDULE_NAME' per kernel entry point and exit")
    mode.add_argument("--dry-run", action="store_true",
                      help="print the files that would be written (one path per line) and exit")
    mode.add_argument("--check", action="store_true",
                      help="exit 1 if any output is missing or stale, 0 otherwise; writes nothing")
    mode.add_argument("--emit-ir", action="store_true", help="print the IR after the passes and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="print pass reports and timings")
    return p


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    # imports after parsing so that --help works even if a dependency is missing
    from emitters import files as F
    from machete_gen_pipeline import Options, dump_ir, entry_points, generate
    from machete_ir.heuristic_table import load_heuristic
    from machete_ir.model import DeviceHeuristic, check_device_pattern
    from passes import VerifyError

    if args.scalar_header is not None:
        return _scalar_header(args.scalar_header, check=args.check)
    t0 = time.perf_counter()
    try:
        heuristic = load_heuristic(args.heuristic_table) if args.heuristic_table else None
        device_tables = None
        if args.device_heuristic_table:
            device_tables = []
            for spec in args.device_heuristic_table:
                device, sep, path = spec.partition("=")
                if not sep or not device or not path:
                    return _fail(f"--device-heuristic-table {spec!r}: expected DEVICE=FILE, e.g. H200=h200.json")
                check_device_pattern(device)  # before reading the file: the pattern is the first error
                device_tables.append(DeviceHeuristic(device=device, heuristic=load_heuristic(Path(path))))
            device_tables = tuple(device_tables)
        opts = Options(types=args.types, schedules=args.schedules, w4a8=args.w4a8,
                       num_shards=args.num_shards or DEFAULT_NUM_SHARDS,
                       shard_policy=args.shard_policy, heuristic=heuristic,
                       device_heuristics=device_tables)
        kernels = entry_points(opts)
        if args.list:
            for sig, name in kernels:
                print(f"{sig} {name}")
            return 0
        if args.num_shards is not None and args.num_shards > len(kernels):
            return _fail(f"--num-shards {args.num_shards} is more than the {len(kernels)} kernel "
                         f"entry point{'s' if len(kernels) > 1 else ''} selected (use at most "
                         f"{len(kernels)})")
        program, files = generate(opts)
    except VerifyError as e:
        return _fail(f"verify failed: {e}")
    except (ValueError, OSError) as e:
        return _fail(str(e))
    t1 = time.perf_counter()

    if args.verbose:
        for note in program.notes:
            print(note, file=sys.stderr)
    if args.emit_ir:
        print("\n".join(dump_ir(program)))
        return 0
    out_dir: Path = args.output_dir
    if args.dry_run:
        for name in list(files) + [F.MANIFEST]:
            print(out_dir / name)
        return 0
    if args.check:
        plan = F.plan(out_dir, files)
        for name in plan.write:
            state = "stale" if (out_dir / name).exists() else "missing"
            print(f"{state}: {out_dir / name}", file=sys.stderr)
        for name in plan.remove:
            print(f"would remove: {out_dir / name}", file=sys.stderr)
        return 1 if plan.stale else 0
    try:
        plan = F.write_files(out_dir, files)
    except OSError as e:
        return _fail(f"cannot write to {out_dir}: {e}")
    # the count includes the manifest of the run, which write_files adds beside the sources
    print(f"machete-gen: {len(plan.write) + len(plan.unchanged)} files in {out_dir} ({len(plan.write)} written, "
          f"{len(plan.unchanged)} unchanged, {len(plan.remove)} stale removed) in "
          f"{(t1 - t0) * 1000:.0f} ms")
    return 0


def _scalar_header(path: Path, check: bool) -> int:
    """--scalar-header: the header is independent of the build's types and schedules."""
    from emitters import files as F
    from machete_gen_pipeline import scalar_header

    text = scalar_header()
    current = path.is_file() and path.read_bytes() == text.encode()
    if check:
        if not current:
            print(f"{'stale' if path.exists() else 'missing'}: {path}", file=sys.stderr)
        return 0 if current else 1
    if not current:
        try:
            F.write_atomic(path, text)
        except OSError as e:
            return _fail(f"cannot write {path}: {e}")
    print(f"machete-gen: {path} ({'unchanged' if current else 'written'})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. `--emit-ir | head`
        sys.stderr.close()
        sys.exit(0)
