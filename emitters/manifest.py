"""The build manifest: what a generated build contains, as data (``machete_build_manifest.json``).

Read from the final Program (after the passes), so it describes exactly what the generated C++
does: the built types, for each type its schedules in dispatch order (the ``SelectByName`` cases
of its type dispatch) and the heuristic its dispatch calls, with the rules as the ``route`` pass
left them (a filtered build's rules point at built schedules). The runtime package
(``machete/_manifest.py``) answers ``supported_schedules`` / ``heuristic_schedule`` from it
without the generator.

Format (``format`` 1; keys sorted, lists in dispatch order)::

    {"format": 1, "generator": "machete-gen", "version": "0.1.0",
     "types": [{"signature": "f16u4b8f16voidvoidvoidf16f32", "a": "f16", "b": "u4b8",
                "b_group_scale": "f16", "b_group_zeropoint": "void", "b_channel_scale": "void",
                "a_token_scale": "void", "out": "f16", "accumulator": "f32",
                "schedules": ["128x128_2x1x1_TmaMI__TmaCoop_streamK", ...],
                "heuristic": "h100"}, ...],
     "heuristics": {"h100": [{"when": {"all": [{"lhs": "M", "op": ">", "rhs": 256}, ...]},
                              "c": "M > 256 && K <= 16384 && N <= 4096",
                              "schedule": "128x128_2x1x1_TmaMI__TmaCoop_streamK"}, ...,
                             {"when": null, "c": "", "schedule": "..."}]}}

A condition is ``{"all": [...]}``, ``{"any": [...]}`` or a comparison ``{"lhs": X, "op": OP,
"rhs": Y}`` with X / Y a variable name (``"M"``, ``"N"``, ``"K"``) or an integer; ``null`` is
the unconditional default (always the last rule). ``c`` is the condition as printed in C++.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Sequence

from machete_ir import expr as E
from machete_ir import names
from machete_ir import nodes as n
from machete_ir.model import ImplConfig

MANIFEST_FILE = "machete_build_manifest.json"
FORMAT = 1
_TYPE_FIELDS = ("a", "b", "b_group_scale", "b_group_zeropoint", "b_channel_scale", "a_token_scale",
                "out", "accumulator")


def generator_version() -> str:
    """``machete.__version__``, read from the source (the generator does not import torch); in an
    installed wheel (machete_gen/_gen/emitters/) the distribution's version."""
    init = Path(__file__).resolve().parent.parent / "machete" / "__init__.py"
    try:
        tree = ast.parse(init.read_text())
    except OSError:
        try:
            from importlib.metadata import version

            return version("machete-gen")
        except Exception:
            return "unknown"
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    return "unknown"


def cond_json(cond: E.Cond | None):
    """A heuristic condition as a small JSON tree (see the module docstring)."""
    if cond is None:
        return None
    if isinstance(cond, E.And):
        return {"all": [cond_json(t) for t in cond.terms]}
    if isinstance(cond, E.Or):
        return {"any": [cond_json(t) for t in cond.terms]}
    if isinstance(cond, E.Cmp):
        return {"lhs": _operand(cond.lhs), "op": cond.op.value, "rhs": _operand(cond.rhs)}
    raise ValueError(f"heuristic condition {cond!r} cannot be written to the build manifest")


def _operand(e: E.Expr):
    if isinstance(e, E.Var):
        return e.name
    if isinstance(e, E.IntLit):
        return e.value
    raise ValueError(f"heuristic operand {e!r} cannot be written to the build manifest")


def _functions(program: n.Program) -> dict[str, n.FunctionDef]:
    out: dict[str, n.FunctionDef] = {}
    for node in n.walk(program.units):
        if isinstance(node, n.FunctionDef):
            out.setdefault(node.sig.name, node)
    return out


def _returned(stmts) -> str:
    for s in stmts or ():
        if isinstance(s, n.Return) and isinstance(s.value, n.StrLit):
            return s.value.value
    raise ValueError("heuristic branch without a `return \"<schedule>\"`")


def _rules(fn: n.FunctionDef) -> list[dict]:
    from emitters.printer import cpp_cond

    chains = [x for x in n.walk(fn.body) if isinstance(x, n.IfChain) and x.role.startswith("heuristic:")]
    if not chains:  # every rule collapsed into the default: one return
        return [{"c": "", "schedule": _returned(fn.body), "when": None}]
    chain = chains[0]
    rules = [{"c": cpp_cond(b.cond), "schedule": _returned(b.body), "when": cond_json(b.cond)}
             for b in chain.branches]
    rules.append({"c": "", "schedule": _returned(chain.else_body), "when": None})
    return rules


def build_manifest(program: n.Program, impls: Sequence[ImplConfig]) -> dict:
    fns = _functions(program)
    types, heuristics = [], {}
    for impl in impls:
        t = impl.types
        dispatch = fns[names.type_dispatch(t)]
        nodes = list(n.walk(dispatch.body))
        schedules = [c.names[0] for s in nodes if isinstance(s, n.SelectByName) for c in s.cases if c.names]
        calls = {x.fn for x in nodes if isinstance(x, n.Call)}
        for h in impl.heuristics:
            h_fn = names.heuristic_fn(h.name)
            if h_fn not in calls:
                raise ValueError(f"{t.signature}: its dispatch does not call {h_fn}")
            heuristics.setdefault(h.name, _rules(fns[h_fn]))
        entry = {f: getattr(t, f).short_name for f in _TYPE_FIELDS}
        entry.update(signature=t.signature, schedules=list(dict.fromkeys(schedules)),
                     heuristic=impl.heuristic.name)
        if impl.device_heuristics:  # tried in order against the device name, before the default
            entry["device_heuristics"] = [{"device": d.device, "heuristic": d.heuristic.name}
                                          for d in impl.device_heuristics]
        types.append(entry)
    return {"format": FORMAT, "generator": "machete-gen", "version": generator_version(),
            "types": types, "heuristics": heuristics}


def manifest_text(program: n.Program, impls: Sequence[ImplConfig]) -> str:
    return json.dumps(build_manifest(program, impls), indent=1, sort_keys=True) + "\n"
