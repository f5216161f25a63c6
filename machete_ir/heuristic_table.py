"""Heuristic tables as data: the tuner (benchmarks/tune.py) writes one, the generator lowers it
instead of the SPEC default (``--heuristic-table``), and ``verify`` checks it like any other.

Format (JSON)::

    {"name": "h100_tuned",
     "rules": [{"when": [["M", ">", 256], ["N", "<=", 4096]], "schedule": "128x128_2x1x1_TmaMI__TmaCoop_streamK"},
               ...,
               {"when": [], "schedule": "128x16_1x1x1_TmaMI__TmaCoop_streamK"}]}

``when`` is a conjunction of (variable, operator, integer); the last rule's must be empty.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import expr as E
from .model import Heuristic, HeuristicRule
from .names import parse_schedule_name

_OPS = {op.value: op for op in E.CmpOp}
_VARS = {v.name: v for v in E.SIZE_VARS}


def heuristic_from_dict(data: dict) -> Heuristic:
    try:
        rules = []
        for i, r in enumerate(data["rules"], start=1):
            terms = []
            for var, op, value in r["when"]:
                if var not in _VARS or op not in _OPS or not isinstance(value, int):
                    raise ValueError(f"rule {i}: bad term {[var, op, value]!r} (variables M, N, K; "
                                     f"operators {', '.join(_OPS)}; integer constants)")
                terms.append(E.Cmp(lhs=_VARS[var], op=_OPS[op], rhs=E.IntLit(value=value)))
            cond = E.all_of(*terms) if terms else None
            rules.append(HeuristicRule(cond=cond, schedule=parse_schedule_name(r["schedule"])))
        return Heuristic(name=str(data.get("name", "tuned")), rules=tuple(rules))
    except (KeyError, TypeError) as e:
        raise ValueError(f"malformed heuristic table: {e!r}") from None


def heuristic_to_dict(h: Heuristic) -> dict:
    def terms(c):
        if c is None:
            return []
        ts = c.terms if isinstance(c, E.And) else (c,)
        return [[t.lhs.name, t.op.value, t.rhs.value] for t in ts]

    return {"name": h.name, "rules": [{"when": terms(r.cond), "schedule": r.schedule.name}
                                      for r in h.rules]}


def load_heuristic(path: Path) -> Heuristic:
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from None
    try:
        return heuristic_from_dict(data)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def dump_heuristic(h: Heuristic) -> str:
    """JSON with one rule per line, so a table diff reads like a rule diff."""
    d = heuristic_to_dict(h)
    rules = ",\n".join(f"  {json.dumps(r)}" for r in d["rules"])
    return f'{{"name": {json.dumps(d["name"])}, "rules": [\n{rules}\n]}}\n'

