"""Property: every input the generator accepts yields a dispatch that compiles (issue 8).

A seeded generator makes many valid heuristic tables (random names, schedules from the whole
valid schedule space, conditions over every operator with constants up to the int64_t edge,
tables of only the default rule) and pipelines (type and schedule filters, shard counts and
policies, ``--w4a8``); each goes through the JSON loader and the whole generator, and every
emitted ``machete_mm_dispatch.cu`` is compiled with the host compiler in one
``g++ -std=c++17 -fsyntax-only -x c++ -Icsrc`` call. A failure names the case, and the case's
seed reproduces it: ``MACHETE_PROPERTY_SEED=<seed> MACHETE_PROPERTY_CASES=<n> pytest tests/test_dispatch_property.py``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from machete_gen_pipeline import Options, generate, select_impls
from machete_ir import expr as E
from machete_ir import model as M
from machete_ir.heuristic_table import heuristic_from_dict, heuristic_to_dict
from machete_ir.model import schedule_alias

ROOT = Path(__file__).resolve().parent.parent
CXX = shutil.which("g++") or shutil.which("c++")
SEED = int(os.environ.get("MACHETE_PROPERTY_SEED", "20261125"))
CASES = int(os.environ.get("MACHETE_PROPERTY_CASES", "36"))

pytestmark = [pytest.mark.slow, pytest.mark.skipif(CXX is None, reason="needs a host C++ compiler")]

OPS = [">", ">=", "<", "<=", "=="]
EDGE = [1, 2, 15, 16, 17, 64, 255, 256, 4069, 4096, 16384, 2**31 - 1, 2**31, 2**32 + 1, 2**53 + 1,
        2**62, E.INT64_MAX - 1, E.INT64_MAX, 0, -1, -E.INT64_MAX]
CLUSTERS = [(1, 1, 1), (2, 1, 1), (1, 2, 1), (2, 2, 1), (4, 1, 1), (1, 4, 1), (4, 2, 1), (2, 4, 1),
            (8, 1, 1), (1, 8, 1)]


def _random_schedule(rng: random.Random) -> str:
    if rng.random() < 0.4:
        name = rng.choice(M.SCHEDULES).name
    else:
        c = rng.choice(CLUSTERS)
        suffix = "streamK" if rng.random() < 0.7 else "persistent"
        name = (f"{rng.choice((64, 128, 256))}x{rng.choice((8, 16, 32, 64, 128, 256))}_"
                f"{c[0]}x{c[1]}x{c[2]}_TmaMI__TmaCoop_{suffix}")
    alias = schedule_alias(name)
    return alias if alias and rng.random() < 0.2 else name


def _random_name(rng: random.Random) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
             for _ in range(rng.randint(1, 4))]
    return "_".join(words)[: M.HEURISTIC_NAME_MAX].rstrip("_")


def _random_table(rng: random.Random) -> dict:
    """A valid table: terms that make an empty or unreachable rule are dropped as they come."""
    rules: list[dict] = []
    boxes: list = []
    shape = rng.random()
    wanted = 0 if shape < 0.15 else rng.randint(1, 14)  # some tables hold only the default rule
    for _ in range(wanted * 3):
        if len(rules) == wanted:
            break
        terms = []
        for _ in range(rng.randint(1, 3)):
            value = rng.choice(EDGE) if rng.random() < 0.5 else rng.randint(1, 1 << rng.choice((5, 13, 17, 40)))
            terms.append([rng.choice("MNK"), rng.choice(OPS), value])
        box = E.box_of(E.all_of(*(E.Cmp(lhs=E.Var(name=v), op=E.CmpOp(op), rhs=E.IntLit(value=c))
                                   for v, op, c in terms)))
        if not E.reachable_boxes(boxes + [box])[-1]:
            continue
        boxes.append(box)
        rules.append({"when": terms, "schedule": _random_schedule(rng)})
    rules.append({"when": [], "schedule": _random_schedule(rng)})
    return {"name": _random_name(rng), "rules": rules}


def _random_options(rng: random.Random, case: int) -> tuple[Options, dict | None]:
    w4a8 = rng.random() < 0.4
    table = _random_table(rng) if rng.random() < 0.75 else None
    if table is not None and w4a8 and table["name"] == M.W4A8_HEURISTIC.name:
        table["name"] += "_t"
    heuristic = heuristic_from_dict(json.loads(json.dumps(table))) if table else None
    everything = select_impls(Options(w4a8=w4a8, heuristic=heuristic))
    types: tuple[str, ...] = ()
    if rng.random() < 0.5:
        types = tuple(i.types.signature for i in rng.sample(everything, rng.randint(1, min(3, len(everything)))))
    chosen = [i for i in everything if not types or i.types.signature in types]
    schedules: tuple[str, ...] = ()
    if rng.random() < 0.5:
        pool = list(dict.fromkeys(s.name for i in chosen for s in i.schedules))
        schedules = tuple(rng.sample(pool, rng.randint(1, min(4, len(pool)))))
    kernels = len(select_impls(Options(w4a8=w4a8, heuristic=heuristic, types=types, schedules=schedules)))
    opts = Options(types=types, schedules=schedules, w4a8=w4a8, heuristic=heuristic,
                   num_shards=rng.randint(1, max(1, min(kernels * 9, 12))),
                   shard_policy=rng.choice(("lpt", "hash")))
    return opts, table


# Hand-picked cases the issue named, compiled with the random ones.
FIXED = [
    ("only the default rule", Options(heuristic=heuristic_from_dict(
        {"name": "single", "rules": [{"when": [], "schedule": "128x16_1x1x1_TmaMI__TmaCoop_streamK"}]}))),
    ("int64 edge constants", Options(heuristic=heuristic_from_dict({"name": "edge", "rules": [
        {"when": [["M", "<=", E.INT64_MAX - 1], ["N", ">", -E.INT64_MAX]], "schedule": "256x16_1x1x1_TmaMI__TmaCoop_streamK"},
        {"when": [["K", "==", E.INT64_MAX]], "schedule": "64x8_8x1x1_TmaMI__TmaCoop_persistent"},
        {"when": [], "schedule": "128x16_1x1x1_TmaMI__TmaCoop_streamK"}]}))),
    ("one schedule, --w4a8, one shard", Options(schedules=("128x16_1x1x1_TmaMI__TmaCoop_streamK",),
                                                w4a8=True, num_shards=1)),
    ("default", Options()),
]


def _cuda_include(tmp: Path) -> Path:
    """The CUDA runtime headers mm_args.h includes, or a stub declaring the one name it uses."""
    for base in filter(None, [os.environ.get("CUDA_HOME"), "/usr/local/cuda"]):
        if (Path(base) / "include" / "cuda_runtime_api.h").is_file():
            return Path(base) / "include"
    stub = tmp / "cuda_stub"
    stub.mkdir(exist_ok=True)
    (stub / "cuda_runtime_api.h").write_text("#pragma once\ntypedef struct CUstream_st* cudaStream_t;\n")
    return stub


def test_every_accepted_input_emits_a_dispatch_that_compiles(tmp_path):
    rng = random.Random(SEED)
    cases: list[tuple[str, Options]] = list(FIXED)
    for i in range(CASES):
        opts, table = _random_options(rng, i)
        desc = (f"seed {SEED} case {i}: types={list(opts.types)} schedules={list(opts.schedules)} "
                f"w4a8={opts.w4a8} shards={opts.num_shards}/{opts.shard_policy} table={json.dumps(table)}")
        cases.append((desc, opts))
    assert sum(o.heuristic is not None and len(o.heuristic.rules) == 1 for _, o in cases) >= 2
    assert sum(bool(o.schedules) for _, o in cases) >= 5 and sum(o.w4a8 for _, o in cases) >= 5

    paths = {}
    for i, (desc, opts) in enumerate(cases):
        program, files = generate(opts)  # lowering + every pass, verify included: must not raise
        assert len([f for f in files if f.startswith("machete_mm_impl_part")]) == opts.num_shards
        for name, text in files.items():
            assert "{ } else" not in text and "{\n} else" not in text, (desc, name)
        p = tmp_path / f"case{i:03d}.cu"
        p.write_text(files["machete_mm_dispatch.cu"])
        paths[p.name] = desc

    r = subprocess.run([CXX, "-std=c++17", "-fsyntax-only", "-pedantic-errors", "-x", "c++",
                        f"-I{ROOT / 'csrc'}", f"-I{_cuda_include(tmp_path)}", *sorted(paths)],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        bad = sorted({name for name in paths if name in r.stderr})
        pytest.fail("dispatch does not compile for:\n" + "\n".join(paths[b] for b in bad)
                    + "\n" + r.stderr[:4000])
