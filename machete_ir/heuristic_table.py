"""Heuristic tables as data: the tuner (benchmarks/tune.py) writes one, the generator lowers it
instead of the SPEC default (``--heuristic-table``), and ``verify`` checks it like any other.

Format (JSON)::

    {"name": "h100_tuned",
     "rules": [{"when": [["M", ">", 256], ["N", "<=", 4096]], "schedule": "128x128_2x1x1_TmaMI__TmaCoop_streamK"},
               ...,
               {"when": [], "schedule": "128x16_1x1x1_TmaMI__TmaCoop_streamK"}]}

``when`` is a conjunction of [variable, operator, integer] terms (variables M, N, K; operators
``>``, ``>=``, ``<``, ``<=``, ``==``; integers in the int64_t range of the C++ sizes, never
``true``/``false``); only the last rule's is empty, and every rule must match some (M, N, K)
that no earlier rule matches. ``name`` (default "tuned") becomes part of a C++ identifier:
letters, digits and single underscores (``model.sanitize_heuristic_name`` makes one). A table
that breaks any of this is rejected with one line naming the file, the rule and the field.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import expr as E
from .model import Heuristic, HeuristicRule, parse_schedule_name

# '!=' is not an interval condition (verify reasons about boxes), so a table cannot use it.
_OPS = {op.value: op for op in E.CmpOp if op is not E.CmpOp.NE}
_VARS = {v.name: v for v in E.SIZE_VARS}
_DEFAULT_NAME = "tuned"


def _show(value: object, limit: int = 60) -> str:
    """A JSON value as the table spells it, shortened, on one line."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fields(obj: object, what: str, known: tuple[str, ...]) -> dict:
    if not isinstance(obj, dict):
        raise ValueError(f"{what} must be a JSON object with {', '.join(map(repr, known))}, "
                         f"got {_show(obj)}")
    unknown = [k for k in obj if k not in known]
    if unknown:
        raise ValueError(f"{what}: unknown field {', '.join(_show(k) for k in unknown)} "
                         f"(fields: {', '.join(map(repr, known))})")
    return obj


def _term(term: object) -> E.Cmp:
    if not isinstance(term, list) or len(term) != 3:
        raise ValueError(f"expected [variable, operator, integer], got {_show(term)}")
    var, op, value = term
    if not isinstance(var, str) or var not in _VARS:
        raise ValueError(f"unknown variable {_show(var)} (M, N or K)")
    if not isinstance(op, str) or op not in _OPS:
        raise ValueError(f"unknown operator {_show(op)} (one of {', '.join(_OPS)})")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"the bound must be an integer, got {_show(value)}")
    if not -E.INT64_MAX <= value <= E.INT64_MAX:
        raise ValueError(f"the bound {_show(value)} is outside the int64_t range of M, N, K "
                         f"([-{E.INT64_MAX}, {E.INT64_MAX}])")
    return E.Cmp(lhs=_VARS[var], op=_OPS[op], rhs=E.IntLit(value=value))


def _rule(i: int, r: object, last: bool) -> HeuristicRule:
    r = _fields(r, f"rule {i}", ("when", "schedule"))
    for key in ("when", "schedule"):
        if key not in r:
            raise ValueError(f"rule {i}: field {key!r} is missing")
    when, schedule = r["when"], r["schedule"]
    if not isinstance(when, list):
        raise ValueError(f"rule {i}: field 'when' must be a list of [variable, operator, integer] "
                         f"terms, got {_show(when)}")
    terms = []
    for j, t in enumerate(when, start=1):
        try:
            terms.append(_term(t))
        except ValueError as e:
            raise ValueError(f"rule {i}: field 'when': term {j}: {e}") from None
    if last and terms:
        raise ValueError(f"rule {i}: field 'when': the last rule must be the unconditional "
                         f"default (\"when\": [])")
    if not last and not terms:
        raise ValueError(f"rule {i}: field 'when': empty (unconditional) but not the last rule; "
                         f"the rules after it could never be chosen")
    if not isinstance(schedule, str):
        raise ValueError(f"rule {i}: field 'schedule' must be a schedule name, got {_show(schedule)}")
    try:
        sched = parse_schedule_name(schedule)
    except ValueError as e:
        raise ValueError(f"rule {i}: field 'schedule': {e}") from None
    return HeuristicRule(cond=E.all_of(*terms) if terms else None, schedule=sched)


def heuristic_from_dict(data: object) -> Heuristic:
    """A validated Heuristic; errors are one line naming the rule number and the field."""
    data = _fields(data, "the table", ("name", "rules"))
    name = data.get("name", _DEFAULT_NAME)
    if not isinstance(name, str):
        raise ValueError(f"field 'name' must be a string, got {_show(name)}")
    if "rules" not in data:
        raise ValueError("field 'rules' is missing")
    rules = data["rules"]
    if not isinstance(rules, list) or not rules:
        raise ValueError(f"field 'rules' must be a non-empty list of rules ending in the "
                         f"unconditional default, got {_show(rules)}")
    parsed = [_rule(i, r, last=i == len(rules)) for i, r in enumerate(rules, start=1)]
    boxes = [E.box_of(r.cond) for r in parsed[:-1]]
    for i, (r, box, ok) in enumerate(zip(parsed, boxes, E.reachable_boxes(boxes)), start=1):
        if E.box_empty(box):
            raise ValueError(f"rule {i}: field 'when': {E.render(r.cond)} matches no (M, N, K) "
                             f"(the sizes are int64_t values >= 1)")
        if not ok:
            raise ValueError(f"rule {i}: field 'when': {E.render(r.cond)} is unreachable: "
                             f"earlier rules match every (M, N, K) it matches")
    try:
        return Heuristic(name=name, rules=tuple(parsed))
    except ValueError as e:  # the name (everything else was checked above)
        raise ValueError(f"field 'name': {e}") from None


def heuristic_to_dict(h: Heuristic) -> dict:
    def terms(c):
        if c is None:
            return []
        ts = c.terms if isinstance(c, E.And) else (c,)
        return [[t.lhs.name, t.op.value, t.rhs.value] for t in ts]

    return {"name": h.name, "rules": [{"when": terms(r.cond), "schedule": r.schedule.name}
                                      for r in h.rules]}


def load_heuristic(path: Path) -> Heuristic:
    """Read and validate a table; every error is a ValueError of one line starting with the path."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot read the heuristic table: {e.strerror or e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from None
    except ValueError:  # an integer of thousands of digits
        raise ValueError(f"{path}: not valid JSON: a number has too many digits") from None
    except RecursionError:
        raise ValueError(f"{path}: not valid JSON: nested too deeply") from None
    try:
        return heuristic_from_dict(data)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def dump_heuristic(h: Heuristic) -> str:
    """JSON with one rule per line, so a table diff reads like a rule diff."""
    d = heuristic_to_dict(h)
    rules = ",\n".join(f"  {json.dumps(r)}" for r in d["rules"])
    return f'{{"name": {json.dumps(d["name"])}, "rules": [\n{rules}\n]}}\n'

