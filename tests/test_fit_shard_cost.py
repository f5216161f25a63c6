from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import fit_shard_cost as F  # noqa: E402

from machete_gen_pipeline import Options, generate  # noqa: E402
from passes.shard import CostModel  # noqa: E402


def _write(tmp: Path, name: str, opts: Options, truth: CostModel) -> tuple[Path, Path]:
    d = tmp / name
    d.mkdir()
    log = []
    for fname, text in generate(opts)[1].items():
        (d / fname).write_text(text)
    for stem, tiles in F.kernels_in(d).items():
        if tiles:
            log.append(f"ok   {stem} {truth.file(tiles):.2f}s")
    (tmp / f"{name}.log").write_text("\n".join(log) + "\n")
    return d, tmp / f"{name}.log"


def test_fit_recovers_a_known_model(tmp_path, capsys):
    truth = CostModel(tu_seconds=70.0, kernel_seconds=9.0, per_tile_kilo_elem=0.5)
    full = _write(tmp_path, "full", Options(), truth)
    small = _write(tmp_path, "small", Options(types=("f16u4b8f16voidvoidvoidf16f32",), num_shards=2), truth)
    assert F.main(["--build", f"{full[0]}:{full[1]}", "--build", f"{small[0]}:{small[1]}"]) == 0
    out = capsys.readouterr().out
    assert '"tu_seconds": 70.0' in out and '"kernel_seconds": 9.0' in out and '"per_tile_kilo_elem": 0.5' in out


def test_a_perfectly_balanced_build_alone_cannot_be_fitted(tmp_path, capsys):
    # the default LPT build gives every shard 9 kernels and the same tile mix: one equation
    full = _write(tmp_path, "full", Options(), CostModel())
    assert F.main(["--build", f"{full[0]}:{full[1]}"]) == 2
    assert "do not differ" in capsys.readouterr().err


def test_hash_build_fits_with_the_prior_kernel_cost_when_counts_are_equal(tmp_path, capsys):
    truth = CostModel(tu_seconds=50.0, kernel_seconds=CostModel().kernel_seconds, per_tile_kilo_elem=1.0)
    # two shards of one type: 9 kernels in total, split unevenly by hash -> counts differ anyway
    h = _write(tmp_path, "hash", Options(shard_policy="hash"), truth)
    assert F.main(["--build", f"{h[0]}:{h[1]}"]) == 0
    out = capsys.readouterr().out
    assert '"tu_seconds": 50.0' in out and '"per_tile_kilo_elem": 1.0' in out


def test_parse_log_ignores_failures():
    assert F.parse_log("ok   a 12s\nFAIL b 3s (see x)\nok   c 4.5s\n") == {"a": 12.0, "c": 4.5}
