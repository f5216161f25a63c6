"""The outputs: results.csv, the results.md table, the summary printed last, and write_outputs,
which turns events.jsonl into all of them (and results.png, plot.py)."""
from __future__ import annotations

import argparse
import csv
import io
import os
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from .events import load_events
from .plot import write_plot
from .problem import PEER_LABELS, PEER_TYPES, PEERS
from .rows import _fmt, _ratio, build_rows
from .targets import TargetResult, eff_time, evaluate_peer_targets, evaluate_targets, geomean

if TYPE_CHECKING:
    from .progress import Log


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
