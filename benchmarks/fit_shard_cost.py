#!/usr/bin/env python3
"""Fit the shard pass's compile-cost model to measured compile times, and report the makespan.

Input: pairs of a generated folder and the per-file lines scripts/compile_kernels.sh printed
while compiling it (``ok   NAME 123s``). The first pair is the build whose makespan is reported
(the default 8 LPT shards of 9 kernels); add at least one build with another kernel count per
file (e.g. a filtered 2-shard build), because with equal counts the per-TU and per-kernel costs
cannot be told apart. The kernels of each file are read from the generated source.

Model (passes/shard.py CostModel): t_file = tu + sum over kernels (kernel + per_tile * tileN*tileM/1024).
Output: the fitted parameters (JSON), the measured makespan ratio (slowest shard / mean) of the
first build, and the ratio the fitted model predicts for the LPT assignment it would make.

    python3 benchmarks/fit_shard_cost.py --build build/generated:compile.log --build build/gen_small:small.log
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from passes.shard import CostModel, assign_lpt  # noqa: E402

_LINE = re.compile(r"^ok\s+(\S+)\s+(\d+(?:\.\d+)?)s\s*$")
# CUTLASS kernels only: decode-family schedules (sch_<N>x<M>_w<warps>s..., plain CUDA, ~0.5 s each)
# are priced by CostModel.decode_kernel_seconds and left out of the fit.
_KERNEL = re.compile(r"^template struct MacheteKernel<\w+, sch_(\d+)x(\d+)_(?!w\d+s)\w+>;$", re.M)
Tiles = list[tuple[int, int]]


def parse_log(text: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in map(_LINE.match, text.splitlines()) if m}


def kernels_in(gen_dir: Path) -> dict[str, Tiles]:
    """file stem -> [(tile_n, tile_m)] of the kernel instantiations it holds."""
    return {p.stem: [(int(a), int(b)) for a, b in _KERNEL.findall(p.read_text())]
            for p in sorted(gen_dir.glob("machete_mm_impl_part*.cu"))}


def _solve(rows: list[list[float]], ys: list[float]) -> list[float] | None:
    """Least squares by the normal equations (3 unknowns); None if singular."""
    k = len(rows[0])
    a = [[sum(r[i] * r[j] for r in rows) for j in range(k)] + [sum(r[i] * y for r, y in zip(rows, ys))]
         for i in range(k)]
    for c in range(k):
        p = max(range(c, k), key=lambda r: abs(a[r][c]))
        if abs(a[p][c]) < 1e-9 * max(1.0, max(abs(x) for row in a for x in row[:k])):
            return None
        a[c], a[p] = a[p], a[c]
        for r in range(k):
            if r != c:
                f = a[r][c] / a[c][c]
                a[r] = [x - f * y for x, y in zip(a[r], a[c])]
    return [a[i][k] / a[i][i] for i in range(k)]


def fit(samples: list[tuple[Tiles, float]], prior: CostModel = CostModel()) -> CostModel:
    rows = [[1.0, float(len(ts)), sum(tn * tm for tn, tm in ts) / 1024.0] for ts, _ in samples]
    ys = [t for _, t in samples]
    sol = _solve(rows, ys)
    if sol is None:
        # Every file holds the same number of kernels: only tu + n*kernel is identifiable. Keep the
        # prior's per-kernel cost and fit the rest (the LPT assignment depends on per_tile only).
        if len({len(ts) for ts, _ in samples}) != 1:
            raise ValueError("singular fit")
        kern = prior.kernel_seconds
        n = len(samples[0][0])
        sol2 = _solve([[1.0, r[2]] for r in rows], [y - n * kern for y in ys])
        if sol2 is None:
            raise ValueError("cannot fit: the measured files do not differ in tile mix")
        tu, tile = sol2
        print(f"note: every file holds {n} kernels, so the per-kernel cost is kept at the prior "
              f"{kern} s and only the per-file and per-tile costs are fitted", file=sys.stderr)
    else:
        tu, kern, tile = sol
        if tile < 0 and len({len(ts) for ts, _ in samples}) > 1:
            # a negative per-tile cost is noise, not a speed-up: refit without that term
            sol2 = _solve([r[:2] for r in rows], ys)
            if sol2 is not None:
                (tu, kern), tile = sol2, 0.0
                print("note: the per-tile term fitted negative (no measurable effect of tile size); "
                      "refitted without it", file=sys.stderr)
    return CostModel(tu_seconds=round(max(tu, 0.0), 2), kernel_seconds=round(max(kern, 0.0), 2),
                     per_tile_kilo_elem=round(max(tile, 0.0), 4))


def makespan_ratio(loads: list[float]) -> float:
    return max(loads) / (sum(loads) / len(loads))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fit_shard_cost.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--build", action="append", required=True, metavar="GEN_DIR:LOG")
    p.add_argument("--out", type=Path, help="write the fitted parameters here (JSON)")
    args = p.parse_args(argv)
    builds = []
    for spec in args.build:
        gen, _, log = spec.partition(":")
        if not (Path(gen).is_dir() and Path(log).is_file()):
            print(f"fit_shard_cost.py: error: --build {spec}: need an existing folder and log file",
                  file=sys.stderr)
            return 2
        builds.append((kernels_in(Path(gen)), parse_log(Path(log).read_text())))
    samples = [(tiles, times[name]) for files, times in builds for name, tiles in files.items()
               if tiles and name in times]
    try:
        model = fit(samples)
    except ValueError as e:
        print(f"fit_shard_cost.py: error: {e}", file=sys.stderr)
        return 2
    files, times = builds[0]
    shards = [name for name, tiles in files.items() if tiles]
    measured = [times[s] for s in shards if s in times]
    tiles = [t for s in shards for t in files[s]]
    where = assign_lpt([model.tile(*t) for t in tiles], len(shards))
    predicted = [model.file([t for t, w in zip(tiles, where) if w == i]) for i in range(len(shards))]
    resid = [t - model.file(ts) for ts, t in samples]
    params = {"tu_seconds": model.tu_seconds, "kernel_seconds": model.kernel_seconds,
              "per_tile_kilo_elem": model.per_tile_kilo_elem}
    print(json.dumps(params))
    print(f"fit over {len(samples)} files; residuals (s): {' '.join(f'{r:+.1f}' for r in resid)}")
    if len(measured) == len(shards):
        print(f"measured build: slowest shard {max(measured):.0f} s, makespan/mean {makespan_ratio(measured):.3f}")
    print(f"fitted model: that assignment predicted {makespan_ratio([model.file(files[s]) for s in shards]):.3f}; "
          f"LPT with the fitted model predicted {makespan_ratio(predicted):.3f} (slowest {max(predicted):.0f} s)")
    if args.out:
        args.out.write_text(json.dumps(params, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
