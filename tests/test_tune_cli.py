from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from machete_ir import model as M
from machete_ir.heuristic_table import load_heuristic

ROOT = Path(__file__).resolve().parent.parent
TUNE = [sys.executable, str(ROOT / "benchmarks" / "tune.py")]
S = {s.name.split("_")[0]: s.name for s in M.SCHEDULES}


def _events(path: Path, fast: dict[tuple[int, int], str], failing: str | None = None) -> None:
    lines = []
    for (m, n), best in fast.items():
        k = 4096
        for name in S.values():
            status = "error" if name == failing else "ok"
            us = 10.0 if name == best else 30.0
            lines.append(json.dumps({"ev": "result", "key": [k, n, m, "u4b8-g128-f16", "sched", name],
                                     "status": status, "us": us}))
    lines.append('{"ev": "result", "key": [4096, 4096, 1, "cublas", "f16"], "status": "ok", "us": 5}')
    lines.append('{"ev": "res')  # torn last line
    path.write_text("\n".join(lines) + "\n")


def test_fit_and_score(tmp_path):
    ev = tmp_path / "events.jsonl"
    fast = {(1, 4096): S["128x32"], (1, 8192): S["128x32"], (256, 4096): S["128x128"], (256, 8192): S["128x128"]}
    _events(ev, fast, failing=S["256x16"])
    table = tmp_path / "t.json"
    r = subprocess.run(TUNE + ["fit", "--events", str(ev), "--out", str(table)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    h = load_heuristic(table)
    for (m, n), best in fast.items():
        assert h.select(m, n, 4096).name == best
    r = subprocess.run(TUNE + ["score", "--events", str(ev), "--table", str(table)], capture_output=True, text=True)
    assert r.returncode == 0 and "geomean speedup" in r.stdout
    speedup = float(r.stdout.split("geomean speedup ")[1].split("x\n")[0])
    assert "table h100_tuned: pick / best measured 1.000 over 4 points" in r.stdout  # the fit picks the fastest everywhere
    assert speedup > 1.0  # SPEC picks 128x16 / 128x64 etc. at 30 us here


def test_graph_time_is_preferred_over_eager(tmp_path):
    """Eager times carry ~20-60 us of host overhead; the tuner must compare kernel (graph) times."""
    import sys as _sys
    _sys.path.insert(0, str(ROOT / "benchmarks"))
    import tune

    ev = tmp_path / "e.jsonl"
    rows = [{"ev": "result", "key": [4096, 4096, 1, "u4b8-g128-f16", "sched", S["128x16"]],
             "status": "ok", "us": 60.0, "graph_us": 15.0},
            {"ev": "result", "key": [4096, 4096, 1, "u4b8-g128-f16", "sched", S["256x16"]],
             "status": "ok", "us": 50.0, "graph_us": 25.0}]
    ev.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    times = tune.read_times(ev, "u4b8-g128-f16")
    assert times == {(1, 4096, 4096): {S["128x16"]: 15.0, S["256x16"]: 25.0}}


def _w4a8_csv(path: Path, rows: list[dict]) -> None:
    cols = ["K", "N", "M", "floor_us", "s8_g128", "s8_g128@128x64P", "s8_g128@128x128P", "s8_g128@128x32D",
            "s8_ch@128x128"]
    path.write_text(",".join(cols) + "\n" + "".join(",".join(str(r.get(c, "")) for c in cols) + "\n" for r in rows))


def test_score_w4a8_csv(tmp_path):
    """bench_w4a8.py's forced-schedule columns score a W4A8 table against the built-in one."""
    csv1, csv2 = tmp_path / "a.csv", tmp_path / "b.csv"
    # (K, N) = 27648 x 5120 at M = 128: the built-in rules pick 128 x 128; make 128 x 64 twice as fast
    _w4a8_csv(csv1, [dict(K=27648, N=5120, M=128, **{"s8_g128@128x64P": 50.0, "s8_g128@128x128P": 100.0,
                                                       "s8_g128@128x32D": 400.0})])
    # a later file's figure replaces an earlier one's (same point and schedule); nan counts as failed
    _w4a8_csv(csv2, [dict(K=27648, N=5120, M=128, **{"s8_g128@128x64P": 40.0, "s8_g128@128x128P": 80.0,
                                                       "s8_g128@128x32D": "nan"})])
    table = tmp_path / "t.json"
    table.write_text(json.dumps({"name": "w4a8_t", "rules": [
        {"when": [], "schedule": "128x64_s6_PromoteWgmma"}]}))
    r = subprocess.run(TUNE + ["score", "--w4a8-csv", str(csv1), "--w4a8-csv", str(csv2), "--w4a8-type", "s8_g128",
                               "--table", str(table)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "t.json vs w4a8 on 1 points: geomean speedup 2.000x" in r.stdout
    assert "baseline w4a8: pick / best measured 2.000 over 1 points, worst 2.00 at 27648x5120 M=128" in r.stdout
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import tune
    times = tune.read_w4a8_times([csv1, csv2], "s8_g128")
    assert times == {(128, 5120, 27648): {"128x64_s6_PromoteWgmma": 40.0, "128x128_s4_PromoteWgmma": 80.0,
                                           "128x32_w8s3k32_DecodeMma_clusterK": math.inf}}
    assert tune.read_w4a8_times([csv1], "s8_ch") == {}  # no s8_ch figure in the row
    # fit on the CSV: the fastest schedule of the one point becomes the table's pick
    fitted = tmp_path / "fit.json"
    r = subprocess.run(TUNE + ["fit", "--w4a8-csv", str(csv2), "--out", str(fitted), "--name", "w4a8_fit"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "over the built-in w4a8 heuristic on the tuning points: 2.000x" in r.stdout
    assert load_heuristic(fitted).select(128, 5120, 27648).name == "128x64_s6_PromoteWgmma"
    # a label that names no schedule, both sources, neither: one line each
    bad = tmp_path / "bad.csv"
    bad.write_text("K,N,M,s8_g128@96x64P\n4096,4096,64,1.0\n")
    for argv in (["--w4a8-csv", str(bad)], ["--w4a8-csv", str(csv1), "--events", str(csv1)], []):
        r = subprocess.run(TUNE + ["score", *argv, "--table", str(table)], capture_output=True, text=True)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_errors_are_one_line(tmp_path):
    r = subprocess.run(TUNE + ["fit", "--events", str(tmp_path / "nope"), "--out", str(tmp_path / "t")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    (tmp_path / "e").write_text("")
    r = subprocess.run(TUNE + ["fit", "--events", str(tmp_path / "e"), "--out", str(tmp_path / "t")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no checked per-schedule times" in r.stderr
    # a table or a CSV that cannot be read: one line, not a traceback
    ev = tmp_path / "events.jsonl"
    _events(ev, {(1, 4096): S["128x32"]})
    (tmp_path / "notes.txt").write_text("not json\n")
    for argv, want in (
        (["score", "--events", str(ev), "--table", str(tmp_path / "missing.json")], "cannot read the heuristic table"),
        (["score", "--events", str(ev), "--table", str(tmp_path / "notes.txt")], "not valid JSON"),
        (["score", "--events", str(ev), "--table", str(tmp_path / "notes.txt"), "--baseline", "x"], "not valid JSON"),
        (["score", "--w4a8-csv", str(tmp_path / "notes.txt"), "--table", str(tmp_path / "notes.txt")],
         "not a bench_w4a8.py CSV (no column M, N, K)"),
    ):
        r = subprocess.run(TUNE + argv, capture_output=True, text=True)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("tune.py: error: "), r.stderr
        assert want in r.stderr, r.stderr


def test_fit_sanitises_the_table_name(tmp_path):
    """The name becomes part of a C++ identifier; the table must lower to C++ (issue 8)."""
    ev = tmp_path / "events.jsonl"
    _events(ev, {(1, 4096): S["128x32"], (256, 4096): S["128x128"]})
    table = tmp_path / "t.json"
    r = subprocess.run(TUNE + ["fit", "--events", str(ev), "--out", str(table), "--name", "llama-70b tuned"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "'llama-70b tuned' written as 'llama_70b_tuned'" in r.stderr
    assert load_heuristic(table).name == "llama_70b_tuned"
    gen = subprocess.run([sys.executable, str(ROOT / "generate_machete.py"), "--heuristic-table", str(table),
                          "--output-dir", str(tmp_path / "o")], capture_output=True, text=True)
    assert gen.returncode == 0, gen.stderr
    assert "heuristic_llama_70b_tuned(" in (tmp_path / "o" / "machete_mm_dispatch.cu").read_text()


@pytest.mark.parametrize("argv,usage", [
    (["benchmarks/tune.py", "--help"], "usage: tune.py [-h] {fit,score,diff}"),
    (["benchmarks/tune.py", "fit", "--help"], "usage: tune.py fit [-h] [--events EVENTS]"),
    (["benchmarks/tune.py", "score", "--help"], "usage: tune.py score [-h] [--events EVENTS]"),
    (["benchmarks/fit_shard_cost.py", "--help"], "usage: fit_shard_cost.py [-h] --build"),
    (["generate_machete.py", "--help"], "usage: generate_machete.py [-h]"),
])
def test_help_is_our_own_not_cutlass_library(argv, usage):
    """Importing cutlass_library parses sys.argv; machete_ir imports it with argv hidden (issue 8)."""
    r = subprocess.run([sys.executable, str(ROOT / argv[0]), *argv[1:]], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(usage), r.stdout[:300]
    assert "disable-cutlass-package-imports" not in r.stdout


def test_importing_the_model_leaves_argv_alone():
    code = ("import sys; sys.argv = ['prog', '--help', '-x']; import machete_ir.model as m; "
            "print(sys.argv, m.H100_HEURISTIC.name)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "['prog', '--help', '-x'] h100\n"


def test_diff_lists_the_points_two_tables_pick_differently(tmp_path):
    # no measurements: a table that sends M <= 16 to 128x16 and everything else to 256x128, against
    # one that differs only at M <= 16 -- exactly the M <= 16 points of the grid are listed
    a = {"name": "a", "rules": [{"when": [["M", "<=", 16]], "schedule": S["128x16"]},
                                {"when": [], "schedule": S["256x128"]}]}
    b = {"name": "b", "rules": [{"when": [["M", "<=", 16]], "schedule": S["256x16"]},
                                {"when": [], "schedule": S["256x128"]}]}
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    r = subprocess.run(TUNE + ["diff", "--table", str(tmp_path / "b.json"), "--baseline", str(tmp_path / "a.json"),
                               "--shapes", "4096x4096,8192x28672", "--m", "1,16,64"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "tune.py: b.json (b) vs a.json (a): 4 of 6 points pick differently (2 shapes x 3 M)"
    rows = [line.split() for line in lines[2:]]
    assert [(row[0], row[1]) for row in rows] == [("4096x4096", "1"), ("4096x4096", "16"),
                                                  ("8192x28672", "1"), ("8192x28672", "16")]
    assert all(row[2] == S["128x16"] and row[4] == S["256x16"] for row in rows)
    # against the built-in table, on the default grid (the SPEC shapes and M), and a bad table
    r = subprocess.run(TUNE + ["diff", "--table", str(tmp_path / "a.json")], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("tune.py: a.json (a) vs the built-in h100: ")
    n = int(r.stdout.split(": ")[2].split(" of ")[0])
    assert len(r.stdout.splitlines()) == n + 2 and " of 72 points" in r.stdout
    r = subprocess.run(TUNE + ["diff", "--table", str(tmp_path / "missing.json")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("tune.py: error: ") and r.stderr.count("\n") == 1
