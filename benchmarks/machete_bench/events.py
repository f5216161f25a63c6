"""Measurement records (events.jsonl) and the plan of what must be measured.

Keys are JSON lists:
    ["device"]                                    device info, copy bandwidth, bf16 rate
    [K, N, M, "cublas", "f16" | "bf16"]           torch.matmul on dequantized weights
    [K, N, M, "int4pack", "bf16"]                 torch._weight_int4pack_mm, group 128
    [K, N, M, type, "heuristic"]                  machete.mm(schedule=None)
    [K, N, M, type, "sched", name]                machete.mm(schedule=name)
    [K, N, M, type, "sweep"]                      marker: every schedule of the point was tried
    [K, N, M, peer, type]                         a peer ("marlin", "vllm_machete") on a PEER_TYPES type
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Iterable, Sequence

from .problem import BENCH_TYPES, PEER_TYPES

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
