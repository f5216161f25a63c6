from __future__ import annotations

import json

import pytest

from machete_gen_pipeline import Options, generate
from machete_ir import model as M
from machete_ir.heuristic_table import dump_heuristic, heuristic_from_dict, load_heuristic
from machete_ir.tuning import geomean_speedup, tune_heuristic

S = {s.name.split("_")[0]: s.name for s in M.SCHEDULES}


def _synthetic_times():
    """Small M prefers 128x16, except wide N prefers 256x16; big M prefers 128x256."""
    times = {}
    for m in (1, 16, 64, 1024):
        for n in (4096, 8192, 28672):
            for k in (4096, 8192):
                row = {name: 100.0 for name in S.values()}
                if m <= 16:
                    row[S["256x16" if n > 8192 else "128x16"]] = 50.0
                elif m <= 64:
                    row[S["128x64"]] = 60.0
                else:
                    row[S["128x256"]] = 40.0
                times[(m, n, k)] = row
    return times


def test_tuned_heuristic_recovers_the_structure_and_verifies():
    times = _synthetic_times()
    h = tune_heuristic(times)
    for (m, n, k), row in times.items():
        assert row[h.select(m, n, k).name] == min(row.values()), (m, n, k)
    assert h.rules[-1].cond is None
    # it lowers and passes verify (reachability) like the SPEC heuristic
    _, files = generate(Options(heuristic=h))
    assert "heuristic_h100_tuned" in files["machete_mm_dispatch.cu"]
    assert geomean_speedup(times, M.H100_HEURISTIC, h) > 1.0


def test_table_round_trip(tmp_path):
    h = tune_heuristic(_synthetic_times())
    p = tmp_path / "t.json"
    p.write_text(dump_heuristic(h))
    assert load_heuristic(p) == h
    spec = heuristic_from_dict(json.loads(dump_heuristic(M.H100_HEURISTIC)))
    assert spec == M.H100_HEURISTIC


@pytest.mark.parametrize("data,match", [
    ({"rules": [{"when": [["Q", ">", 1]], "schedule": S["128x16"]}]}, "rule 1: field 'when': term 1: unknown variable"),
    ({"rules": [{"when": [], "schedule": "nope"}]}, "rule 1: field 'schedule': malformed schedule name"),
    ({"rules": [{"when": [["M", ">", 1]], "schedule": S["128x16"]}]}, "rule 1: field 'when': the last rule"),
    ({}, "field 'rules' is missing"),
])
def test_bad_tables_are_rejected(data, match):
    with pytest.raises(ValueError, match=match):
        heuristic_from_dict(data)


def test_cli_lowers_a_table(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    table = tmp_path / "t.json"
    table.write_text(dump_heuristic(tune_heuristic(_synthetic_times())))
    r = subprocess.run([sys.executable, str(root / "generate_machete.py"), "--heuristic-table", str(table),
                        "--output-dir", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "heuristic_h100_tuned" in (tmp_path / "o" / "machete_mm_dispatch.cu").read_text()
