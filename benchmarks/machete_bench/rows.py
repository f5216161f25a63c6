"""Rows: the records assembled into one row per (K, N, M, type), and the small number helpers the
rows, the targets and the report share."""
from __future__ import annotations

import math
from typing import Any, Sequence

from .events import Key
from .problem import BENCH_TYPES, PEER_LABELS, PEER_TYPES, PEERS, compute_limit_us, mem_floor_us, moved_bytes


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
