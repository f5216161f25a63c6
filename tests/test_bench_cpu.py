"""CPU-only tests of benchmarks/bench_mm.py and its package machete_bench: arithmetic, parsing, formatting, targets, watchdog, worker logic."""
from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the entry point, loaded by file path as scripts/decode_dev/run_dev.py does; it puts benchmarks/ on
# sys.path, so its package machete_bench imports below
_spec = importlib.util.spec_from_file_location("bench_mm", ROOT / "benchmarks" / "bench_mm.py")
bm = importlib.util.module_from_spec(_spec)
sys.modules["bench_mm"] = bm
_spec.loader.exec_module(bm)

from machete_bench import cli as bench_cli  # noqa: E402
from machete_bench import parent as bench_parent  # noqa: E402
from machete_bench.checks import check_output  # noqa: E402
from machete_bench.cli import main, parse_shapes, resolve_args  # noqa: E402
from machete_bench.common import _torch_dtype  # noqa: E402
from machete_bench.events import EventWriter, load_events, plan_keys, running_key  # noqa: E402
from machete_bench.impls.int4pack import int4pack_nibbles  # noqa: E402
from machete_bench.impls.machete_adapter import MacheteAdapter  # noqa: E402
from machete_bench.impls.vllm_peers import marlin_scale_order, pack_rows  # noqa: E402
from machete_bench.parent import run_parent, worker_argv  # noqa: E402
from machete_bench.plot import write_plot  # noqa: E402
from machete_bench.problem import (BENCH_TYPES, DEFAULT_TYPES, PEERS, QUICK_MS, QUICK_SHAPES, SMALL_M,  # noqa: E402
                                   SPEC_SHAPES, compute_limit_us, mem_floor_us, moved_bytes, weight_bytes)
from machete_bench.progress import progress_text  # noqa: E402
from machete_bench.report import CSV_COLUMNS, peers_in_rows, rows_to_csv, rows_to_markdown, summary_text  # noqa: E402
from machete_bench.rows import _fmt, build_rows  # noqa: E402
from machete_bench.targets import PEER_TARGETS, TARGETS, eff_time, evaluate_peer_targets, evaluate_targets  # noqa: E402
from machete_bench.timing import Timer, n_copies, rotation_target_bytes  # noqa: E402
from machete_bench.worker import Worker  # noqa: E402

U4B8 = BENCH_TYPES["u4b8-g128-f16"]
U4ZP = BENCH_TYPES["u4zp-g128-f16"]
U8 = BENCH_TYPES["u8b128-ch-f16"]


# ---- arithmetic ---------------------------------------------------------------------------

def test_bytes_match_perf_baseline_floor():
    # the int4 floors of the first H100 measurements (docs/GPU.md): 4096x4096 M=1 int4 g128 fp16 scales
    # at 3.0 TB/s -> 2.9 us; 8192x57344 M=1 -> 80.8 us; 28672x8192 M=16 -> 40.8 us
    assert moved_bytes(1, 4096, 4096, U4B8) == 4096 * 4096 // 2 + 32 * 4096 * 2 + 4096 * 2 + 4096 * 2
    assert mem_floor_us(moved_bytes(1, 4096, 4096, U4B8), 3.0e12) == pytest.approx(2.889, abs=1e-3)
    assert mem_floor_us(moved_bytes(1, 8192, 57344, U4B8), 3.0e12) == pytest.approx(80.8, abs=0.05)
    assert mem_floor_us(moved_bytes(16, 28672, 8192, U4B8), 3.0e12) == pytest.approx(40.8, abs=0.05)


def test_bytes_zeros_and_channelwise():
    k, n = 4096, 4096
    assert weight_bytes(k, n, U4ZP) == k * n // 2 + 2 * (k // 128) * n * 2
    assert weight_bytes(k, n, U8) == k * n + n * 2  # one group spanning K
    assert U8.groups(k) == 1 and U4B8.groups(k) == 32
    assert BENCH_TYPES["u4b8-g128-bf16"].int4pack_applies and U4ZP.int4pack_applies
    assert not U8.int4pack_applies


def test_compute_limit():
    # docs/GPU.md: 8192x57344 at M=1024 -> 973 us at 989 TFLOP/s
    assert compute_limit_us(1024, 57344, 8192) == pytest.approx(973, abs=1)
    assert compute_limit_us(2, 3, 4, flops_per_s=48.0) == pytest.approx(1e6)


def test_rotation():
    l2 = 50 * 2**20
    assert rotation_target_bytes(l2) == 256 * 2**20
    assert rotation_target_bytes(100 * 2**20) == 400 * 2**20
    assert rotation_target_bytes(None) == 256 * 2**20
    assert rotation_target_bytes(l2, override_mb=1000) == 1000 * 2**20
    target = rotation_target_bytes(l2)
    per = weight_bytes(4096, 4096, U4B8)
    c = n_copies(per, target)
    assert c * per >= target > (c - 1) * per
    assert c * per > 2 * l2
    assert n_copies(10**10, target) == 1


# ---- parsing ------------------------------------------------------------------------------

def test_parse_defaults_and_quick():
    a = resolve_args([])
    assert a.shapes == list(SPEC_SHAPES) and len(a.shapes) == 8
    assert a.m == [1, 16, 32, 64, 128, 256, 512, 1024, 4096]
    assert a.types == list(DEFAULT_TYPES)
    q = resolve_args(["--quick"])
    assert q.shapes == list(QUICK_SHAPES) and q.m == list(QUICK_MS) and q.target_ms == 10.0
    q2 = resolve_args(["--quick", "--m", "1,16", "--shapes", "4096x4096"])
    assert q2.m == [1, 16] and q2.shapes == [(4096, 4096)]


def test_parse_values():
    a = resolve_args(["--shapes", "4096x4096, 8192X28672,4096x4096", "--m", "1,16", "--types", "all",
                         "--no-sweep", "--out-dir", "/tmp/x"])
    assert a.shapes == [(4096, 4096), (8192, 28672)]
    assert a.types == list(BENCH_TYPES) and a.no_sweep and a.out_dir == "/tmp/x"
    assert parse_shapes("spec") == list(SPEC_SHAPES)


@pytest.mark.parametrize("argv", [["--shapes", "4096"], ["--shapes", "4096x"], ["--m", "0"], ["--m", "a"],
                                  ["--types", "u4b8"], ["--shapes", ""]])
def test_parse_rejects(argv):
    with pytest.raises(SystemExit):
        resolve_args(argv)


@pytest.mark.parametrize("flag, value, want", [
    ("--target-ms", "-1", "> 0"), ("--target-ms", "nan", "> 0"), ("--target-ms", "x", "a number"),
    ("--hang-timeout", "0", "> 0"), ("--hang-timeout", "inf", "> 0"), ("--check-tol", "-0.1", "> 0"),
    ("--rotate-mb", "0", "> 0"), ("--time-budget", "-3", ">= 0"), ("--graph-max-m", "-5", ">= 0"),
    ("--graph-max-m", "1.5", "an integer"),
])
def test_parse_rejects_bad_numbers(flag, value, want, capsys):
    # one argparse line naming the flag and the value, instead of a run that measures nothing
    with pytest.raises(SystemExit) as e:
        resolve_args([flag, value])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"bench_mm.py: error: argument {flag}: {value!r}: expected ") and err.endswith(want), err


def test_parse_accepts_boundary_numbers():
    a = resolve_args(["--time-budget", "0", "--graph-max-m", "0", "--target-ms", "0.5", "--check-tol", "1e-3"])
    assert (a.time_budget, a.graph_max_m, a.target_ms, a.check_tol) == (0.0, 0, 0.5, 1e-3)


def test_out_dir_from_env(monkeypatch):
    monkeypatch.setenv("OUT", "/tmp/outdir")
    assert resolve_args([]).out_dir == "/tmp/outdir"
    monkeypatch.delenv("OUT")
    assert resolve_args([]).out_dir == "bench_out"


def test_worker_argv_round_trips():
    a = resolve_args(["--m", "1,16", "--types", "u8b128-ch-f16", "--no-sweep", "--no-graph",
                         "--rotate-mb", "300", "--out-dir", "o", "--graph-max-m", "4096"])
    argv = worker_argv(a, [(4096, 6144), (8192, 8192)], "ev.jsonl")
    assert argv[0] == sys.executable and argv[2] == "--worker"
    w = resolve_args(argv[2:])
    assert w.worker and w.events == "ev.jsonl" and w.shapes == [(4096, 6144), (8192, 8192)] and w.m == [1, 16]
    assert w.types == ["u8b128-ch-f16"] and w.no_sweep and w.no_graph and not w.no_int4pack
    assert w.rotate_mb == 300 and w.target_ms == a.target_ms
    assert w.graph_max_m == 4096 and resolve_args([]).graph_max_m == SMALL_M
    assert w.sweep_only == "" and resolve_args(worker_argv(resolve_args(["--sweep-only", "DecodeMma"]), [(1, 1)],
                                                           "e")[2:]).sweep_only == "DecodeMma"


def test_help_works(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert "--no-sweep" in capsys.readouterr().out


def test_entry_point_is_the_script():
    """bench_mm.py is a thin entry point: main and Timer (scripts/decode_dev/run_dev.py) come from the
    package, the parent starts its workers with the script itself, and it runs as a script."""
    assert bm.main is main and bm.Timer is Timer
    script = ROOT / "benchmarks" / "bench_mm.py"
    assert os.path.samefile(worker_argv(resolve_args([]), [(4096, 4096)], "ev.jsonl")[1], script)
    r = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("usage: bench_mm.py") and "--peers" in r.stdout


# ---- records, rows, targets, formatting ---------------------------------------------------

def _res(key, status="ok", **kw):
    return {"ev": "result", "key": list(key), "status": status, **kw}


def _results(*over):
    """Records for 4096x4096, M in {1, 1024}, type u4b8-g128-f16 with a 3.0 TB/s device."""
    k, n, t = 4096, 4096, "u4b8-g128-f16"
    recs = [
        _res(("device",), copy_Bps=3.0e12, bf16_flops=754e12, name="H100", note="H100 test"),
        _res((k, n, 1, "cublas", "f16"), us=21.4, graph_us=20.0),
        _res((k, n, 1024, "cublas", "f16"), us=49.1),
        _res((k, n, 1, "int4pack", "bf16"), us=11.2, graph_us=10.0),
        _res((k, n, 1024, "int4pack", "bf16"), us=1174.1),
        _res((k, n, 1, t, "heuristic"), us=4.0, graph_us=3.5, err=1e-3),
        _res((k, n, 1024, t, "heuristic"), us=44.0, err=1e-3),
        _res((k, n, 1, t, "sched", "128x16_1x1x1_TmaMI__TmaCoop_streamK"), us=3.8, graph_us=3.4),
        _res((k, n, 1, t, "sched", "128x256_2x1x1_TmaMI__TmaCoop_streamK"), us=9.0),
        _res((k, n, 1, t, "sched", "256x16_1x1x1_TmaMI__TmaCoop_streamK"), "FAIL", us=1.0, err=0.5),
        _res((k, n, 1, t, "sched", "128x64_2x1x1_TmaMI__TmaCoop_streamK"), "hang", note="killed"),
        _res((k, n, 1024, t, "sched", "128x256_2x1x1_TmaMI__TmaCoop_streamK"), us=40.0),
    ]
    out = {tuple(r["key"]): r for r in recs}
    for rec in over:  # replacement records
        out[tuple(rec["key"])] = rec
    return out


def _rows(results=None):
    return build_rows(results or _results(), [(4096, 4096)], [1, 1024], ["u4b8-g128-f16"])


def test_build_rows_best_and_ratios():
    r1, r1024 = _rows()
    assert r1["machete_best_us"] == 3.8  # FAIL (1.0 us) and hang schedules are not "best"
    assert r1["machete_best_schedule"] == "128x16_1x1x1_TmaMI__TmaCoop_streamK"
    assert r1["n_schedules"] == 4 and r1["n_schedules_ok"] == 2
    assert r1["mem_floor_us"] == pytest.approx(2.889, abs=1e-3)
    assert r1["floor_us"] == r1["mem_floor_us"]
    assert r1["heur_over_mem_floor"] == pytest.approx(3.5 / r1["mem_floor_us"])  # graph figure is lower
    assert r1["cublas_over_heur"] == pytest.approx(20.0 / 3.5)
    assert "256x16_1x1x1_TmaMI__TmaCoop_streamK=1.0[FAIL]" in r1["schedules"]
    assert "[hang]" in r1["schedules"]
    assert r1024["floor_us"] == pytest.approx(max(r1024["mem_floor_us"], r1024["compute_limit_us"]))
    assert r1024["compute_measured_us"] == pytest.approx(2 * 1024 * 4096 * 4096 / 754e12 * 1e6)
    assert r1024["cublas_over_best"] == pytest.approx(49.1 / 40.0)


def test_build_rows_missing_and_not_applicable():
    rows = build_rows({}, [(4096, 4096)], [16], ["u8b128-ch-f16"])
    (r,) = rows
    assert r["machete_heur_status"] == "not run" and r["mem_floor_us"] is None and r["floor_us"] is None
    assert r["int4pack_status"] == "n/a" and "8-bit" in r["int4pack_note"]
    assert r["cublas_over_heur"] is None


def test_failed_check_excluded_from_targets():
    key = (4096, 4096, 1, "u4b8-g128-f16", "heuristic")
    rows = _rows(_results(_res(key, "FAIL", us=2.0, err=0.3)))
    assert rows[0]["machete_heur_us"] == 2.0 and rows[0]["machete_heur_status"] == "FAIL"
    assert eff_time(rows[0], "heur") is None
    t = {tr.name: tr for tr in evaluate_targets(rows, "heur")}
    small = t[TARGETS[0][1]]
    assert small.missing == 1 and not small.ok


def test_targets_pass_and_fail():
    rows = _rows()
    heur = {tr.name: tr for tr in evaluate_targets(rows, "heur")}
    floor, small_cub, large_cub, peers = (heur[title] for _, title in TARGETS)
    # M=1: 3.5 us vs floor 2.889 -> 1.21x: within 1.25x
    assert floor.ok and floor.passed == 1 and floor.measured == 1
    # M=1: cuBLAS 20.0 / 3.5 = 5.7x >= 3
    assert small_cub.ok
    # M=1024: 49.1 / 44.0 = 1.116 >= 1.10
    assert large_cub.ok and "1.12" in large_cub.worst
    # M=1: 3.5 < min(20, 10); M=1024: 44 < min(49.1, 1174)
    assert peers.ok and peers.measured == 2

    slow = (4096, 4096, 1024, "u4b8-g128-f16", "heuristic")
    rows = _rows(_results(_res(slow, us=46.0)))
    heur = {tr.name: tr for tr in evaluate_targets(rows, "heur")}
    assert not heur[TARGETS[2][1]].ok  # 49.1 / 46 = 1.067 < 1.10
    assert heur[TARGETS[3][1]].ok  # still faster than every peer
    best = {tr.name: tr for tr in evaluate_targets(rows, "best")}
    assert best[TARGETS[2][1]].ok  # best schedule 40 us: 1.23x


def test_target_floor_fails_when_slow():
    slow = (4096, 4096, 1, "u4b8-g128-f16", "heuristic")
    rows = _rows(_results(_res(slow, us=4.0, graph_us=3.7)))  # 3.7 / 2.889 = 1.28 > 1.25
    heur = {tr.name: tr for tr in evaluate_targets(rows, "heur")}
    assert not heur[TARGETS[0][1]].ok and "1.28" in heur[TARGETS[0][1]].worst


def test_csv_round_trip():
    rows = _rows()
    text = rows_to_csv(rows)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert list(parsed[0]) == list(CSV_COLUMNS)
    assert len(parsed) == 2
    assert parsed[0]["M"] == "1" and float(parsed[0]["machete_heur_us"]) == 4.0
    assert parsed[0]["machete_best_schedule"] == "128x16_1x1x1_TmaMI__TmaCoop_streamK"
    assert parsed[1]["int4pack_us"] == "1174"  # 4 significant digits
    assert parsed[0]["device"] == "H100"


def test_markdown_table():
    md = rows_to_markdown(_rows(), ["# title", ""])
    lines = md.splitlines()
    assert lines[0] == "# title"
    header = lines[2]
    assert header.startswith("| K | N | M | type | machete heur us")
    ncols = header.count("|")
    body = [l for l in lines[3:] if l.startswith("|")]
    assert len(body) == 3 and all(l.count("|") == ncols for l in body)  # separator + 2 rows
    assert "| 4096 | 4096 | 1 | u4b8-g128-f16 | 4.0 | 3.5 |  | ok (1.0e-03) | 3.8 | 128x16_1x1x1 |" in md
    assert "| 1.21 |" in md  # 3.5 / 2.889


def test_fmt():
    assert _fmt(None) == "" and _fmt(3.14159) == "3.1" and _fmt(2.0, 2) == "2.00"
    assert _fmt(0.001234) == "0.00123" and _fmt(True) == "1" and _fmt("x") == "x"


def test_summary_lists_targets():
    text = summary_text(_rows(), "H100 test")
    assert "SUMMARY" in text and "H100 test" in text
    for _, title in TARGETS:
        assert title in text
    assert "PASS 1/1" in text


def test_plan_keys():
    keys = plan_keys((4096, 4096), [1, 16], ["u4b8-g128-f16", "u8b128-ch-bf16"], sweep=True, int4pack=True)
    assert (4096, 4096, 1, "cublas", "f16") in keys and (4096, 4096, 16, "cublas", "bf16") in keys
    assert (4096, 4096, 1, "int4pack", "bf16") in keys
    assert (4096, 4096, 16, "u8b128-ch-bf16", "sweep") in keys
    assert len(keys) == len(set(keys)) == 2 * (2 + 1 + 4)
    k2 = plan_keys((4096, 4096), [1], ["u8b128-ch-f16"], sweep=False, int4pack=True)
    assert k2 == [(4096, 4096, 1, "cublas", "f16"), (4096, 4096, 1, "u8b128-ch-f16", "heuristic")]


def test_events_and_running_key(tmp_path):
    p = str(tmp_path / "ev.jsonl")
    w = EventWriter(p)
    w.phase("setup", timeout=100)
    w.start((1, 2, 3, "cublas", "f16"))
    w.result((1, 2, 3, "cublas", "f16"), "ok", us=1.5)
    w.start((1, 2, 3, "t", "heuristic"))
    with open(p, "a") as f:
        f.write('{"ev": "result", "key": [1, 2')  # torn line from a killed worker
    results, events = load_events(p)
    assert results[(1, 2, 3, "cublas", "f16")]["us"] == 1.5
    assert running_key(events) == (1, 2, 3, "t", "heuristic")
    EventWriter(p).result((1, 2, 3, "t", "heuristic"), "ok")  # the next worker's writer
    assert running_key(load_events(p)[1]) is None


# ---- parent loop with a fake worker: hang -> killed, marked, resumed ----------------------

FAKE_WORKER = textwrap.dedent("""
    import json, sys, time
    args = sys.argv[1:]
    events = args[args.index("--events") + 1]
    sys.path.insert(0, {bench_dir!r})
    from machete_bench.cli import resolve_args
    from machete_bench.events import EventWriter, load_events, plan_keys
    a = resolve_args(args)
    results, _ = load_events(events)
    w = EventWriter(events)
    keys = [key for shape in a.shapes
            for key in plan_keys(shape, a.m, a.types, sweep=not a.no_sweep, int4pack=not a.no_int4pack)]
    for key in keys:
        if key in results:
            continue
        w.start(key)
        print("measuring", key, flush=True)
        if key[:4] == (128, 128, 16, "u4b8-g128-f16"):
            time.sleep(60)  # a hung kernel
        if key[:4] == (128, 128, 1, "cublas"):
            sys.exit(3)  # broken CUDA context
        w.result(key, "ok", us=float(key[2]))
""")


def test_parent_watchdog_and_resume(tmp_path, monkeypatch):
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER.format(bench_dir=str(ROOT / "benchmarks")))
    monkeypatch.setattr(bench_parent, "worker_argv", lambda args, shapes, events: [
        sys.executable, str(script), "--worker", "--events", events,
        "--shapes", ",".join(f"{k}x{n}" for k, n in shapes),
        "--m", ",".join(map(str, args.m)), "--types", ",".join(args.types), "--no-sweep"])
    out = tmp_path / "out"
    args = resolve_args(["--shapes", "128x128,256x128", "--m", "1,16", "--types", "u4b8-g128-f16", "--no-sweep",
                            "--hang-timeout", "1.5", "--out-dir", str(out)])
    assert run_parent(args) == 0
    results, _ = load_events(str(out / "events.jsonl"))
    assert results[(128, 128, 1, "cublas", "f16")]["status"] == "crash"
    assert results[(128, 128, 16, "u4b8-g128-f16", "heuristic")]["status"] == "hang"
    assert results[(128, 128, 1, "u4b8-g128-f16", "heuristic")]["status"] == "ok"
    assert results[(128, 128, 16, "cublas", "f16")]["us"] == 16.0
    assert results[(256, 128, 16, "u4b8-g128-f16", "heuristic")]["status"] == "ok"  # the shape after the hang
    assert len(list(csv.DictReader(open(out / "results.csv")))) == 4
    files = sorted(os.listdir(out))
    assert len(files) <= 8
    assert {"results.csv", "results.md", "log.txt", "events.jsonl"} <= set(files)
    assert all(os.path.getsize(out / f) < 16 * 2**20 for f in files)
    log = (out / "log.txt").read_text()
    assert "measuring" in log and "SUMMARY" in log and "hang" in log


def test_parent_time_budget(tmp_path, monkeypatch):
    script = tmp_path / "slow_worker.py"
    script.write_text("import time\ntime.sleep(60)\n")
    monkeypatch.setattr(bench_parent, "worker_argv", lambda args, shapes, events: [sys.executable, str(script)])
    out = tmp_path / "out"
    args = resolve_args(["--shapes", "128x128,256x256", "--m", "1", "--types", "u4b8-g128-f16",
                            "--time-budget", "1", "--out-dir", str(out)])
    assert run_parent(args) == 0
    assert "stopped early: time budget" in (out / "log.txt").read_text()
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 2 and all(r["machete_heur_status"] == "not run" for r in rows)


def test_no_gpu_exits_nonzero_without_results(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    monkeypatch.setattr(bench_cli, "cuda_available", lambda: False)
    assert main(["--quick", "--out-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bench_mm: no CUDA device")
    assert not out.exists()


def test_parent_worker_without_gpu_writes_no_results(tmp_path, monkeypatch):
    script = tmp_path / "no_gpu_worker.py"
    script.write_text("import sys\nprint('bench_mm: no CUDA device', file=sys.stderr)\nsys.exit(2)\n")
    monkeypatch.setattr(bench_parent, "worker_argv", lambda args, shapes, events: [sys.executable, str(script)])
    out = tmp_path / "out"
    args = resolve_args(["--shapes", "128x128", "--m", "1", "--types", "u4b8-g128-f16", "--out-dir", str(out)])
    assert run_parent(args) == 2
    assert not (out / "results.csv").exists() and not (out / "results.md").exists()
    assert "no results written" in (out / "log.txt").read_text()


# ---- worker logic on CPU with a fake machete and a fake timer -----------------------------

torch = pytest.importorskip("torch")


def test_int4pack_nibbles():
    q = torch.tensor([[1, 2], [3, 4], [5, 6], [7, 15]], dtype=torch.uint8)  # (K=4, N=2)
    hi = int4pack_nibbles(q, high_first=True)
    assert hi.dtype == torch.uint8 and tuple(hi.shape) == (2, 2)
    assert hi.tolist() == [[0x13, 0x57], [0x24, 0x6F]]
    assert int4pack_nibbles(q, high_first=False).tolist() == [[0x31, 0x75], [0x42, 0xF6]]


def test_check_output():
    ref = torch.randn(4, 8)
    assert check_output(ref + 1e-4, ref, 0.02)[0] == "ok"
    st, err, note = check_output(ref * 2, ref, 0.02)
    assert st == "FAIL" and err == pytest.approx(1.0) and "rel err" in note
    assert check_output(torch.full((4, 8), float("nan")), ref, 0.02)[0] == "FAIL"
    assert check_output(ref[:2], ref, 0.02)[0] == "FAIL"


class FakeTimer:
    def events(self, fn):
        fn(0)
        fn(1)
        return 1.0

    def graph(self, fn, n_rot):
        return 0.5


def spec_pack(q, bits):
    """SPEC §5: int32 (K/(32/bits), N), k = i*(32/bits) + j in bits [j*bits, (j+1)*bits), column-major."""
    k, n = q.shape
    per = 32 // bits
    shifts = (torch.arange(per, dtype=torch.int64) * bits).view(1, per, 1)
    packed = (q.to(torch.int64).view(k // per, per, n) << shifts).sum(dim=1)
    return torch.where(packed >= 2**31, packed - 2**32, packed).to(torch.int32).t().contiguous().t()


def spec_unpack(packed, bits):
    per = 32 // bits
    x = packed.to(torch.int64) & 0xFFFFFFFF
    parts = [(x >> (bits * j)) & ((1 << bits) - 1) for j in range(per)]
    return torch.stack(parts, dim=1).reshape(packed.shape[0] * per, packed.shape[1])


class FakeMachete:
    """Dequantizes the SPEC §5 layout the way the kernels must; one schedule is wrong, one raises."""

    SCHEDULES = ["128x16_1x1x1_TmaMI__TmaCoop_streamK", "256x16_1x1x1_TmaMI__TmaCoop_streamK", "bad"]

    def pack(self, q, t):
        return spec_pack(q, t.bits)

    def heuristic(self, m, n, k, a_dtype, t):
        return self.SCHEDULES[0]

    def prepack(self, b, a_dtype, t):
        assert b.dtype == torch.int32 and b.stride(0) == 1
        return b.clone()

    def schedules(self, a_dtype, t):
        return list(self.SCHEDULES)

    def mm(self, a, b, t, scales, zeros, schedule):
        if schedule == "bad":
            raise RuntimeError("schedule bad not implemented for this type")
        k = a.shape[1]
        q = spec_unpack(b, t.bits).float() - t.bias
        gs = k if t.group_size == -1 else t.group_size
        w = q.view(-1, gs, q.shape[1]) * scales.float()[:, None, :]
        if zeros is not None:
            w += zeros.float()[:, None, :]
        out = a.float() @ w.view(k, -1).to(a.dtype).float()
        if schedule == "256x16_1x1x1_TmaMI__TmaCoop_streamK":
            out = out * 1.5  # a wrong kernel
        return out.to(a.dtype)


@pytest.mark.parametrize("tname", ["u4b8-g128-f16", "u4zp-g128-bf16", "u8b128-ch-f16"])
def test_worker_on_cpu(tmp_path, tname, capsys):
    events = str(tmp_path / "ev.jsonl")
    args = resolve_args(["--worker", "--events", events, "--shapes", "256x128", "--m", "1,32",
                            "--types", tname, "--rotate-mb", "0.1"])
    EventWriter(events).result(("device",), "ok", l2_bytes=1024, copy_Bps=3e12, bf16_flops=7e14)
    w = Worker(args, device="cpu", timer=FakeTimer())
    w.adapter = FakeMachete()
    k, n = args.shapes[0]
    w.cublas(k, n)
    w.int4pack(k, n)
    w.machete_type(k, n, tname)
    res, _ = load_events(events)
    for m in (1, 32):
        heur = res[(k, n, m, tname, "heuristic")]
        assert heur["status"] == "ok" and heur["err"] < 1e-2, heur
        assert heur["schedule"] == FakeMachete.SCHEDULES[0]
        assert ("graph_us" in heur) == (m <= 16)
        assert res[(k, n, m, tname, "sched", FakeMachete.SCHEDULES[0])]["status"] == "ok"
        assert res[(k, n, m, tname, "sched", FakeMachete.SCHEDULES[1])]["status"] == "FAIL"
        assert res[(k, n, m, tname, "sched", "bad")]["status"] == "error"
        assert res[(k, n, m, tname, "sweep")]["status"] == "ok"
        assert res[(k, n, m, "cublas", BENCH_TYPES[tname].a_dtype)]["status"] == "ok"
        if BENCH_TYPES[tname].int4pack_applies:
            # CPU torch has no CUDA int4pack kernel: recorded as n/a with the reason, never a crash
            assert res[(k, n, m, "int4pack", "bf16")]["status"] in ("n/a", "ok", "FAIL")
    rows = build_rows(res, args.shapes, args.m, args.types)
    assert rows[0]["machete_best_schedule"] == FakeMachete.SCHEDULES[0] and rows[0]["n_schedules_ok"] == 1
    # every key the parent plans was produced, so a parent would not restart this worker
    plan = plan_keys((k, n), args.m, args.types, sweep=True, int4pack=True)
    assert all(key in res for key in plan)
    # a second worker finds everything done and measures nothing
    before = len(load_events(events)[1])
    w2 = Worker(args, device="cpu", timer=FakeTimer())
    w2.adapter = FakeMachete()
    w2.cublas(k, n)
    w2.int4pack(k, n)
    w2.machete_type(k, n, tname)
    assert len(load_events(events)[1]) == before


def test_worker_without_machete(tmp_path):
    events = str(tmp_path / "ev.jsonl")
    args = resolve_args(["--worker", "--events", events, "--shapes", "256x128", "--m", "1",
                            "--types", "u4b8-g128-f16"])
    w = Worker(args, device="cpu", timer=FakeTimer())
    w.adapter_error = "ModuleNotFoundError: No module named 'machete'"
    w.machete_type(256, 128, "u4b8-g128-f16")
    res, _ = load_events(events)
    assert res[(256, 128, 1, "u4b8-g128-f16", "heuristic")]["status"] == "n/a"
    assert "machete unavailable" in res[(256, 128, 1, "u4b8-g128-f16", "sweep")]["note"]


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    path = str(tmp_path / "results.png")
    assert write_plot(_rows(), path) == f"plot: {path}"
    assert 0 < os.path.getsize(path) < 16 * 2**20
    assert write_plot([], path).startswith("no plot")
    peer_rows = build_rows(_peer_results({1: (4.0, 3.5)}, {("marlin", 1): ("ok", 5.0, None),
                                                              ("vllm_machete", 1): ("ok", 4.5, None)}),
                              [(4096, 4096)], [1], ["u4b8-g128-f16"])
    assert write_plot(peer_rows, path) == f"plot: {path}"


def test_worker_guard_marks_section_and_continues(tmp_path, capsys):
    events = str(tmp_path / "ev.jsonl")
    args = resolve_args(["--worker", "--events", events, "--shapes", "256x128", "--m", "1",
                            "--types", "u4b8-g128-f16"])
    w = Worker(args, device="cpu", timer=FakeTimer())
    keys = [(256, 128, 1, "u4b8-g128-f16", "heuristic"), (256, 128, 1, "u4b8-g128-f16", "sweep")]

    def boom():
        raise MemoryError("out of memory while building weights")

    w.guarded(keys, boom)
    res, _ = load_events(events)
    assert all(res[k]["status"] == "error" and "out of memory" in res[k]["note"] for k in keys)
    assert "Traceback" in capsys.readouterr().err


def test_spec_pack_helper():
    q = torch.randint(0, 16, (64, 8), dtype=torch.uint8)
    p = spec_pack(q, 4)
    assert p.stride(0) == 1 and torch.equal(spec_unpack(p, 4), q.to(torch.int64))
    assert (int(p[1, 3]) >> 28) & 0xF == int(q[15, 3])


def _real_adapter():
    try:
        return MacheteAdapter()
    except ImportError as e:
        pytest.skip(f"machete package API not available: {e}")


def test_real_machete_adapter_api():
    """The adapter's calls match the package: schedules, heuristic name and the SPEC §5 packer."""
    ad = _real_adapter()
    for t in (U4B8, U4ZP, U8, BENCH_TYPES["u4b8-g128-bf16"]):
        dtype = _torch_dtype(t.a_dtype)
        names = ad.schedules(dtype, t)
        assert len(names) == 26 and "128x16_1x1x1_TmaMI__TmaCoop_streamK" in names, (t.name, names)
        assert "64x8_w8s6k64_DecodeMma_clusterK" in names
        assert ad.heuristic(1, 8192, 28672, dtype, t) in names
        assert ad.heuristic(4096, 4096, 4096, dtype, t) == "256x128_2x1x1_TmaMI__TmaCoop_streamK"  # h100 rule 1
        q = torch.randint(0, 2**t.bits, (128, 128), dtype=torch.uint8)
        assert torch.equal(ad.pack(q, t), spec_pack(q, t.bits))


# ---- peers: vLLM's Marlin and Machete (benchmark-only builds), faked on CPU ---------------

def test_parse_peers_and_worker_argv():
    a = resolve_args([])
    assert a.peers == [] and a.marlin_build == "/tmp/vllm_marlin_build"
    assert a.vllm_machete_build == "/tmp/vllm_machete_build"
    assert "--peers" not in worker_argv(a, [(4096, 4096)], "ev.jsonl")
    a = resolve_args(["--peers", "marlin, vllm-machete,marlin", "--marlin-build", "/x/m",
                         "--vllm-machete-build", "/x/v"])
    assert a.peers == ["marlin", "vllm_machete"] and a.marlin_build == "/x/m"
    w = resolve_args(worker_argv(a, [(4096, 4096)], "ev.jsonl")[2:])
    assert w.peers == ["marlin", "vllm_machete"] and w.marlin_build == "/x/m" and w.vllm_machete_build == "/x/v"
    assert resolve_args(["--peers", "all"]).peers == list(PEERS)
    assert resolve_args(["--peers", "none"]).peers == []
    with pytest.raises(SystemExit):
        resolve_args(["--peers", "exllama"])


def test_plan_keys_with_peers():
    keys = plan_keys((4096, 4096), [1, 16], ["u4b8-g128-f16", "u8b128-ch-f16"], sweep=False, int4pack=False,
                        peers=["marlin", "vllm_machete"])
    peer = [k for k in keys if k[3] in PEERS]
    assert sorted(peer) == sorted((4096, 4096, m, p, "u4b8-g128-f16") for m in (1, 16) for p in PEERS)
    assert not any(k[3] in PEERS for k in plan_keys((4096, 4096), [1], ["u4b8-g128-bf16"], sweep=False,
                                                          int4pack=False, peers=list(PEERS)))


def _peer_results(heur, peers, k=4096, n=4096, t="u4b8-g128-f16"):
    """Records: heur {M: (us, graph_us | None)}; peers {(peer, M): (status, us, graph_us | None)}."""
    out = {("device",): _res(("device",), copy_Bps=3.0e12, bf16_flops=754e12, name="H100", note="H100 test")}
    for m, (us, g) in heur.items():
        out[(k, n, m, t, "heuristic")] = _res((k, n, m, t, "heuristic"), us=us, err=1e-3,
                                              **({"graph_us": g} if g else {}))
    for (p, m), (st, us, g) in peers.items():
        out[(k, n, m, p, t)] = _res((k, n, m, p, t), st, us=us, err=1e-3, **({"graph_us": g} if g else {}))
    return out


def _peer_targets(heur, peers, ms):
    rows = build_rows(_peer_results(heur, peers), [(4096, 4096)], ms, ["u4b8-g128-f16"])
    return rows, dict(zip((tid for tid, _ in PEER_TARGETS), evaluate_peer_targets(rows, "heur")))


def test_peer_targets_met():
    heur = {1: (4.0, 3.5), 16: (5.0, 4.0), 1024: (44.0, None)}
    peers = {("marlin", 1): ("ok", 5.0, 4.0), ("marlin", 16): ("ok", 4.2, None), ("marlin", 1024): ("ok", 100.0, None),
             ("vllm_machete", 1): ("ok", 4.5, 4.2), ("vllm_machete", 16): ("ok", 5.2, None),
             ("vllm_machete", 1024): ("ok", 45.0, None)}
    rows, t = _peer_targets(heur, peers, [1, 16, 1024])
    assert rows[0]["marlin_over_heur"] == pytest.approx(4.0 / 3.5)  # lower of events and graph, both sides
    a, b, c = t["marlin_small"], t["vllm_machete_geomean"], t["peers_slack"]
    assert a.ok and (a.passed, a.measured, a.missing) == (2, 2, 0)  # M=1024 is outside M <= 64
    assert "M=16" in a.worst and "1.050" in a.worst  # 4.2 / 4.0
    # speedups 4.2/3.5 = 1.2 and 5.2/4.0 = 1.3: both >= 1.15, geomean 1.249
    assert b.ok and b.measured == 2 and b.detail == "geomean 1.249"
    assert c.ok and c.measured == 3 and "M=1024" in c.worst and "vs vLLM Machete" in c.worst  # 45 / 44
    text = summary_text(rows)
    assert "met 2/2" in text and "M<=64: faster than Marlin at every point" in text and "geomean 1.249" in text


def test_peer_targets_missed():
    heur = {1: (4.0, 3.5), 16: (5.0, 4.0), 1024: (44.0, None)}
    peers = {("marlin", 1): ("ok", 5.0, 3.4),  # 3.4 / 3.5 = 0.971: Marlin faster at M=1, but within 3%
             ("marlin", 16): ("ok", 4.2, None),
             ("vllm_machete", 1): ("ok", 4.0, None),  # 4.0 / 3.5 = 1.143
             ("vllm_machete", 16): ("ok", 4.4, None),  # 4.4 / 4.0 = 1.100 -> geomean 1.121 < 1.15
             ("vllm_machete", 1024): ("ok", 42.0, None)}  # 44 > 1.03 * 42 = 43.26: 4.8% slower
    rows, t = _peer_targets(heur, peers, [1, 16, 1024])
    a, b, c = t["marlin_small"], t["vllm_machete_geomean"], t["peers_slack"]
    assert not a.ok and (a.passed, a.measured) == (1, 2) and "M=1 " in a.worst and "0.971" in a.worst
    assert not b.ok and b.passed == 0 and b.detail == "geomean 1.121"
    assert not c.ok and (c.passed, c.measured) == (2, 3) and "M=1024" in c.worst and "0.955 vs vLLM Machete" in c.worst
    assert "missed 1/2" in summary_text(rows)


def test_peer_targets_geomean_and_validity():
    # one point below 1.15x, geomean above: the geomean target is met
    heur = {1: (10.0, None), 64: (10.0, None), 128: (10.0, None), 256: (10.0, None)}
    peers = {("vllm_machete", 1): ("ok", 11.0, None), ("vllm_machete", 64): ("ok", 13.0, None),
             ("vllm_machete", 256): ("ok", 5.0, None),  # outside M <= 128 for the geomean, fails the 3% rule
             ("marlin", 1): ("FAIL", 1.0, None),  # a peer that failed its check is not a measurement
             ("marlin", 128): ("error", None, None)}
    rows, t = _peer_targets(heur, peers, [1, 64, 128, 256])
    assert t["vllm_machete_geomean"].ok and t["vllm_machete_geomean"].passed == 1
    assert t["vllm_machete_geomean"].measured == 2
    assert t["marlin_small"].measured == 0 and not t["marlin_small"].ok
    assert not t["peers_slack"].ok and "M=256" in t["peers_slack"].worst
    assert rows[0]["marlin_status"] == "FAIL" and rows[0]["marlin_us"] == 1.0 and eff_time(rows[0], "marlin") is None
    assert "not measured" in summary_text(rows)
    # a point where the peer was measured but machete failed its check: missing, the target is missed
    heur_fail = _peer_results({1: (10.0, None)}, {("vllm_machete", 1): ("ok", 20.0, None)})
    heur_fail[(4096, 4096, 1, "u4b8-g128-f16", "heuristic")]["status"] = "FAIL"
    rows = build_rows(heur_fail, [(4096, 4096)], [1], ["u4b8-g128-f16"])
    b = evaluate_peer_targets(rows)[1]
    assert b.missing == 1 and b.measured == 0 and not b.ok


def test_peer_columns_absent_without_peers():
    rows = _rows()
    assert rows[0]["marlin_status"] == "not run" and peers_in_rows(rows) == []
    assert "Marlin" not in rows_to_markdown(rows)
    assert "not measured (--peers" in summary_text(rows)
    (r,) = build_rows({}, [(4096, 4096)], [16], ["u8b128-ch-f16"])
    assert r["marlin_status"] == "n/a" and r["vllm_machete_status"] == "n/a" and "supports" in r["marlin_note"]


def test_pack_rows_and_marlin_scale_order():
    q = torch.randint(0, 16, (64, 8), dtype=torch.uint8)
    p = pack_rows(q, 4)
    assert p.is_contiguous() and p.dtype == torch.int32
    assert torch.equal(p, spec_pack(q, 4).contiguous())  # GPTQ rows == SPEC §5 values, row-major
    s = torch.arange(4 * 128, dtype=torch.float32).view(4, 128)
    flat, perm = s.flatten(), marlin_scale_order(s).flatten()
    for pos in range(flat.numel()):  # vLLM: within each run of 64, new[i * 8 + j] = old[i + 8 * j]
        base, i, j = pos - pos % 64, (pos % 64) // 8, pos % 8
        assert perm[pos] == flat[base + i + 8 * j]
    with pytest.raises(ValueError):
        marlin_scale_order(torch.ones(1, 128))


class _FakePeer:
    """Dequantizes the GPTQ rows (pack_rows) like the real peer must; `scale` != 1 makes a wrong kernel."""

    def __init__(self, scale=1.0):
        self.scale, self.prepared = scale, []

    def weights(self, packed, scales, t):
        return packed, scales

    def prepare(self, packed, scales, t):
        assert packed.dtype == torch.int32 and packed.shape[1] == scales.shape[1]
        self.prepared.append(packed.shape)
        return self.weights(packed, scales, t)

    def mm(self, a, weights, t):
        packed, scales = weights
        k = a.shape[1]
        q = spec_unpack(packed, t.bits).float() - t.bias
        w = (q.view(-1, t.group_size, q.shape[1]) * scales.float()[:, None, :]).view(k, -1)
        return (a.float() @ w.to(a.dtype).float() * self.scale).to(a.dtype)


class FakeMarlin(_FakePeer):
    def weights(self, packed, scales, t):
        assert packed.is_contiguous()
        return packed.clone(), marlin_scale_order(scales)

    def mm(self, a, weights, t):
        packed, s = weights
        return super().mm(a, (packed, marlin_scale_order(s)), t)  # the order is its own inverse


class FakeVllmMachete(_FakePeer):
    def weights(self, packed, scales, t):
        col = packed.t().contiguous().t()
        assert col.stride(0) == 1
        return col, scales


def _peer_worker(tmp_path, extra=(), ms="1,32"):
    events = str(tmp_path / "ev.jsonl")
    args = resolve_args(["--worker", "--events", events, "--shapes", "256x128", "--m", ms,
                            "--types", "u4b8-g128-f16", "--rotate-mb", "0.1", *extra])
    EventWriter(events).result(("device",), "ok", l2_bytes=1024, copy_Bps=3e12, bf16_flops=7e14)
    return args, events, Worker(args, device="cpu", timer=FakeTimer())


def test_worker_records_peers(tmp_path):
    args, events, w = _peer_worker(tmp_path, ["--peers", "marlin,vllm_machete"])
    w.adapter = FakeMachete()
    w.peers = {"marlin": FakeMarlin(), "vllm_machete": FakeVllmMachete(scale=1.5)}  # vLLM's is "wrong" here
    k, n, t = 256, 128, "u4b8-g128-f16"
    w.cublas(k, n)
    w.machete_type(k, n, t)
    w.peer_type(k, n, t)
    res, _ = load_events(events)
    for m in (1, 32):
        mar, vm = res[(k, n, m, "marlin", t)], res[(k, n, m, "vllm_machete", t)]
        assert mar["status"] == "ok" and mar["err"] < 1e-2 and mar["us"] == 1.0
        assert ("graph_us" in mar) == (m <= 16)
        assert vm["status"] == "FAIL" and vm["err"] == pytest.approx(0.5, rel=1e-2)
        # the same reference as machete's check: machete's error equals Marlin's on the same weights
        assert mar["err"] == pytest.approx(res[(k, n, m, t, "heuristic")]["err"], abs=1e-3)
    # one set of peer weights per shape, rotated copies cloned from it
    assert w.peers["marlin"].prepared == [(256 // 8, 128)]
    plan = plan_keys((k, n), args.m, args.types, sweep=True, int4pack=False, peers=args.peers)
    assert all(key in res for key in plan)
    rows = build_rows(res, args.shapes, args.m, args.types)
    assert rows[0]["marlin_status"] == "ok" and rows[0]["marlin_graph_us"] == 0.5
    assert rows[0]["marlin_over_heur"] == pytest.approx(1.0)  # fake timer: 0.5 us graph on both sides
    assert rows[0]["vllm_machete_status"] == "FAIL" and rows[0]["vllm_machete_over_heur"] is None
    md = rows_to_markdown(rows)
    header = md.splitlines()[0]
    for col in ("Marlin us", "Marlin graph us", "Marlin check", "vLLM Machete us", "vLLM Machete graph us",
                "vLLM Machete check", "Marlin/heur"):
        assert f"| {col} |" in header
    assert all(l.count("|") == header.count("|") for l in md.splitlines() if l.startswith("|"))
    assert "| 1.0 | 0.5 | ok (" in md and "FAIL (5.0e-01)" in md
    parsed = list(csv.DictReader(io.StringIO(rows_to_csv(rows))))
    for p in PEERS:
        assert {f"{p}_us", f"{p}_graph_us", f"{p}_status"} <= set(parsed[0])
    assert parsed[0]["marlin_status"] == "ok" and parsed[0]["marlin_graph_us"] == "0.5"
    assert parsed[1]["vllm_machete_status"] == "FAIL" and parsed[1]["vllm_machete_graph_us"] == ""
    # resumed worker: nothing left to do
    before = len(load_events(events)[1])
    w2 = Worker(args, device="cpu", timer=FakeTimer())
    w2.peers = {"marlin": FakeMarlin(), "vllm_machete": FakeVllmMachete()}
    w2.peer_type(k, n, t)
    assert len(load_events(events)[1]) == before and w2.peers["marlin"].prepared == []


def test_worker_peer_setup_error_keeps_other_peer(tmp_path):
    class Broken(_FakePeer):
        def prepare(self, packed, scales, t):
            raise RuntimeError("gptq_marlin_repack: size_k not divisible")

    args, events, w = _peer_worker(tmp_path, ["--peers", "marlin,vllm_machete"], ms="16")
    w.peers = {"marlin": Broken(), "vllm_machete": FakeVllmMachete()}
    w.peer_type(256, 128, "u4b8-g128-f16")
    res, _ = load_events(events)
    assert res[(256, 128, 16, "marlin", "u4b8-g128-f16")]["status"] == "error"
    assert "setup: RuntimeError" in res[(256, 128, 16, "marlin", "u4b8-g128-f16")]["note"]
    assert res[(256, 128, 16, "vllm_machete", "u4b8-g128-f16")]["status"] == "ok"


def test_missing_peer_build_is_unavailable(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "path", list(sys.path))  # the adapter prepends the build folder
    broken = tmp_path / "vm_build"
    broken.mkdir()
    (broken / "vllm_machete.so").write_bytes(b"not an ELF file")
    args, events, w = _peer_worker(tmp_path, ["--peers", "marlin,vllm_machete", "--marlin-build",
                                              str(tmp_path / "nowhere"), "--vllm-machete-build", str(broken)])
    w.load_peers()
    assert w.peers == {} and set(w.peer_errors) == {"marlin", "vllm_machete"}
    assert "build missing" in w.peer_errors["marlin"] and "nowhere" in w.peer_errors["marlin"]
    w.peer_type(256, 128, "u4b8-g128-f16")
    w.peer_type(256, 128, "u4b8-g128-bf16")  # not a peer type: nothing recorded
    out = capsys.readouterr().out
    assert out.count("peer marlin unavailable") == 1 and out.count("peer vllm_machete unavailable") == 1
    assert "[256 128" not in out  # the unavailable points are recorded quietly
    res, _ = load_events(events)
    for m in (1, 32):
        assert res[(256, 128, m, "marlin", "u4b8-g128-f16")]["status"] == "unavailable"
        assert res[(256, 128, m, "vllm_machete", "u4b8-g128-f16")]["status"] == "unavailable"
    assert not any(k[3:] == ("marlin", "u4b8-g128-bf16") for k in res)
    rows = build_rows(res, args.shapes, args.m, args.types)
    assert rows[0]["marlin_status"] == "unavailable" and "build missing" in rows[0]["marlin_note"]
    assert "| unavailable |" in rows_to_markdown(rows)
    text = summary_text(rows)
    assert "Marlin (peer): unavailable 2" in text and "not measured" in text


def test_progress_text_reports_done_total_and_eta():
    assert progress_text(0, 200, 0.0) == "bench_mm: 0/200 measurements (0%), 0 s"
    assert progress_text(50, 200, 30.0) == "bench_mm: 50/200 measurements (25%), 30 s, ETA 90 s"
    assert progress_text(200, 200, 120.0) == "bench_mm: 200/200 measurements (100%), 120 s, done"


def test_bench_w4a8_without_gpu_exits_2_with_one_line():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_w4a8.py"), "--ms", "1"],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("bench_w4a8: ")
    h = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_w4a8.py"), "--help"],
                       capture_output=True, text=True, timeout=300)
    assert h.returncode == 0 and "--s8ch-schedules" in h.stdout
    # bad values stop at the parser with one line, before the GPU check (they used to reach int())
    for argv, want in ((["--ms", "1,x"], "argument --ms: '1,x': expected integers"),
                       (["--shapes", "4096"], "argument --shapes: shape '4096': expected KxN"),
                       (["--target-ms", "0"], "argument --target-ms: '0': expected a finite number > 0")):
        b = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_w4a8.py"), *argv],
                           capture_output=True, text=True, timeout=300)
        assert b.returncode == 2 and b.stderr.strip().splitlines()[-1] == f"bench_w4a8.py: error: {want}" + \
            (", e.g. 1,16,4096" if argv[0] == "--ms" else ", e.g. 4096x4096" if argv[0] == "--shapes" else ""), b.stderr


def test_bench_w4a8_unknown_promote_type_is_one_line_before_any_gpu_work():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_w4a8.py"), "--promote-types", "s8_g128,u4x"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert r.stderr == "bench_w4a8: --promote-types: unknown u4x (choose from s8_g128, e4m3_g128, e4m3_ch)\n"


def test_run_for_warms_up_for_the_time_asked_and_at_least_min_steps():
    from machete_bench.timing import run_for

    now = [0.0]
    calls = []

    def step():
        calls.append("step")
        now[0] += 0.004  # each step "takes" 4 ms

    def sync():
        calls.append("sync")

    n = run_for(step, sync, 0.03, clock=lambda: now[0])
    assert n == 8 and calls == ["step", "sync"] * 8  # 8 x 4 ms >= 30 ms; synchronized after each
    now[0], calls[:] = 0.0, []
    assert run_for(step, sync, 0.0, min_steps=3, clock=lambda: now[0]) == 3  # min_steps even with no time asked
    now[0] = 0.0
    assert run_for(step, sync, 10.0, max_steps=5, clock=lambda: now[0]) == 5  # bounded
