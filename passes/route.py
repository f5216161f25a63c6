"""route: rewrite the heuristic rules onto the schedules the build compiles.

A filtered build (``--schedules``, ``MACHETE_SCHEDULES`` in setup.py) compiles fewer schedules
than its heuristic names; without this pass a call that names no schedule threw "not built" on
every (M, N, K) whose rule picks a schedule that was left out. For each heuristic function (the
function holding an ``IfChain`` of role ``heuristic:<name>``) the built set is what the type
dispatches calling it can select by name (their ``SelectByName`` cases; when several types share
the heuristic, the schedules all of them build). Every rule that returns an unbuilt schedule
returns the **nearest built schedule by tile shape** instead, the first of the built schedules
in this order:

1. tile distance: |log2 of the M tiles' ratio| + |log2 of the N tiles' ratio|
   (``128x16`` is 1 from ``128x32`` and from ``256x16``, 2 from ``256x32``);
2. on equal distance, the closer M tile (the rules are written mostly over M, the token count);
3. then the smaller tile (less padding on the small problems a smaller tile was chosen for);
4. then the same cluster shape, then the same tile scheduler;
5. then the name (so the choice is deterministic).

Conditions are not touched, so every rule stays reachable; the trailing rules that now return
what the default returns are dropped (they pick the same schedule either way), and a chain whose
rules all collapse prints as one ``return``. The pass reports what it did (``-v``); ``verify``
checks that every rule of every heuristic returns a schedule its callers build.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import ClassVar, Iterable

import attrs

from machete_ir import nodes as n
from machete_ir.model import ScheduleConfig, parse_schedule_name

ROLE_PREFIX = "heuristic:"


def is_heuristic_chain(node: object) -> bool:
    return isinstance(node, n.IfChain) and node.role.startswith(ROLE_PREFIX)


def _functions(program: n.Program) -> Iterable[n.FunctionDef]:
    """Every function definition (functions do not nest: the walk stops at each body)."""
    for node in n.walk(program.units, descend=lambda x: not isinstance(x, n.FunctionDef)):
        if isinstance(node, n.FunctionDef):
            yield node


def heuristic_functions(program: n.Program) -> dict[str, n.FunctionDef]:
    """Function name -> the (first) definition holding a heuristic chain."""
    out: dict[str, n.FunctionDef] = {}
    for f in _functions(program):
        if any(is_heuristic_chain(x) for x in n.walk(f.body)):
            out.setdefault(f.sig.name, f)
    return out


def built_by_callers(program: n.Program, heuristics: Iterable[str]) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """Heuristic function -> [(caller, the schedule names it selects)] over the functions that call
    it and select a schedule by name (the per-type dispatches)."""
    wanted = set(heuristics)
    out: dict[str, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    for f in _functions(program):
        nodes = list(n.walk(f.body))
        selects = [x for x in nodes if isinstance(x, n.SelectByName)]
        if not selects:
            continue
        # the canonical spelling of each case (heuristics return canonical names, never aliases)
        names = tuple(dict.fromkeys(c.names[0] for s in selects for c in s.cases if c.names))
        for fn in dict.fromkeys(x.fn for x in nodes if isinstance(x, n.Call) and x.fn in wanted):
            out[fn].append((f.sig.name, names))
    return out


def chain_picks(chain: n.IfChain) -> list[tuple[str, str]]:
    """(rule label, schedule name) for each ``return "<schedule>"`` of a heuristic chain."""
    out = []
    for i, b in enumerate(chain.branches, start=1):
        out += [(f"rule {i}", v) for v in _returned(b.body)]
    out += [("the default", v) for v in _returned(chain.else_body or ())]
    return out


def _returned(stmts: tuple) -> list[str]:
    return [s.value.value for s in stmts if isinstance(s, n.Return) and isinstance(s.value, n.StrLit)]


def _log2_ratio(a: int, b: int) -> float:
    return abs(math.log2(a) - math.log2(b))


def nearest(want: ScheduleConfig, built: Iterable[ScheduleConfig]) -> ScheduleConfig:
    """The built schedule closest to ``want`` (the order in the module docstring)."""
    def key(b: ScheduleConfig):
        dm, dn = _log2_ratio(b.tile_m, want.tile_m), _log2_ratio(b.tile_n, want.tile_n)
        return (dm + dn, dm, b.tile_m * b.tile_n, b.cluster != want.cluster,
                b.tile_scheduler != want.tile_scheduler, b.name)

    return min(built, key=key)


def _reroute_stmts(stmts: tuple, mapping: dict[str, str]) -> tuple:
    return tuple(attrs.evolve(s, value=n.StrLit(value=mapping[s.value.value]))
                 if isinstance(s, n.Return) and isinstance(s.value, n.StrLit) and s.value.value in mapping
                 else s for s in stmts)


def _reroute_chain(chain: n.IfChain, mapping: dict[str, str]) -> tuple[n.IfChain, int]:
    branches = [attrs.evolve(b, body=_reroute_stmts(b.body, mapping)) for b in chain.branches]
    else_body = None if chain.else_body is None else _reroute_stmts(chain.else_body, mapping)
    dropped = 0
    while else_body is not None and branches and branches[-1].body == else_body:
        branches.pop()  # the points it matched fall through to the default: the same pick
        dropped += 1
    return attrs.evolve(chain, branches=tuple(branches), else_body=else_body), dropped


def _rewrite_decls(body: tuple, plans: dict[str, dict[str, str]], dropped: dict[str, int]) -> tuple:
    out = []
    for d in body:
        if isinstance(d, n.Namespace):
            d = attrs.evolve(d, body=_rewrite_decls(d.body, plans, dropped))
        elif isinstance(d, n.FunctionDef) and d.sig.name in plans:
            stmts = []
            for s in d.body:
                if is_heuristic_chain(s):
                    s, k = _reroute_chain(s, plans[d.sig.name])
                    dropped[d.sig.name] = k
                stmts.append(s)
            d = attrs.evolve(d, body=tuple(stmts))
        out.append(d)
    return tuple(out)


def _route(program: n.Program) -> n.Program:
    heuristics = heuristic_functions(program)
    callers = built_by_callers(program, heuristics)
    plans: dict[str, dict[str, str]] = {}
    reports = []
    for fn, f in heuristics.items():
        if fn not in callers:
            continue  # nothing selects by name through it (hand-built IR): nothing to route onto
        sets = [set(names) for _, names in callers[fn]]
        built = set.intersection(*sets)
        canonical = [name for name in dict.fromkeys(x for _, names in callers[fn] for x in names)
                     if name in built]
        picks = [p for chain in n.walk(f.body) if is_heuristic_chain(chain) for p in chain_picks(chain)]
        missing = list(dict.fromkeys(s for _, s in picks if s not in built))
        if not missing:
            continue
        if not canonical:
            raise ValueError(f"route: {fn} is called by type dispatches that build no schedule "
                             f"in common ({', '.join(c for c, _ in callers[fn])})")
        options = [parse_schedule_name(name) for name in canonical]
        mapping = {s: nearest(parse_schedule_name(s), options).name for s in missing}
        plans[fn] = mapping
        moved = defaultdict(list)
        for label, s in picks:
            if s in mapping:
                moved[s].append(label)
        reports.append((fn, mapping, moved, len(options)))

    if not plans:
        return program.with_note("route: every heuristic rule picks a built schedule")
    dropped: dict[str, int] = {}
    units = tuple(attrs.evolve(u, body=_rewrite_decls(u.body, plans, dropped)) for u in program.units)
    out = attrs.evolve(program, units=units)
    for fn, mapping, moved, n_built in reports:
        parts = "; ".join(f"{_short(s)} -> {_short(t)} ({_labels(moved[s])})" for s, t in mapping.items())
        out = out.with_note(f"route: {fn}: {len(mapping)} picked schedule(s) not built, rerouted to "
                            f"the nearest of {n_built} built: {parts}; {dropped.get(fn, 0)} trailing "
                            f"rule(s) now equal to the default dropped")
    return out


def _short(name: str) -> str:
    """``128x16_1x1x1`` for the stream-K names (the common suffix says nothing)."""
    return name.removesuffix("_TmaMI__TmaCoop_streamK")


def _labels(labels: list[str]) -> str:
    """``rules 1, 4, 9 and the default``."""
    nums = [x.removeprefix("rule ") for x in labels if x.startswith("rule ")]
    rest = [x for x in labels if not x.startswith("rule ")]
    head = [f"rule{'s' if len(nums) > 1 else ''} {', '.join(nums)}"] if nums else []
    return " and ".join(head + rest)


@attrs.frozen
class Route:
    """Point every heuristic rule at a built schedule (no options; see the module docstring)."""

    name: ClassVar[str] = "route"

    def __call__(self, program: n.Program) -> n.Program:
        return _route(program)


route = Route()
