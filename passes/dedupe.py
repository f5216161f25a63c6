"""dedupe: merge identical declarations (structs, aliases, instantiations, functions) within each
translation unit and identical branches within if-chains, keeping the first occurrence.

Lowering is deliberately naive (one schedule struct per kernel, one heuristic per type, one
prepack instantiation per type); this pass is where they become one each. Equality is attrs
value equality, so two nodes merge only if they would print the same C++.
"""

from __future__ import annotations

from collections import Counter

from typing import ClassVar

import attrs

from machete_ir import nodes as n


def _dedupe_decls(body: tuple, removed: Counter) -> tuple:
    seen: dict[object, None] = {}
    out = []
    for d in body:
        if isinstance(d, n.Namespace):
            d = attrs.evolve(d, body=_dedupe_decls(d.body, removed))
        elif isinstance(d, n.FunctionDef):
            d = attrs.evolve(d, body=_dedupe_stmts(d.body, removed))
        if isinstance(d, (n.Include, n.Comment)) or d not in seen:
            seen.setdefault(d, None)
            out.append(d)
        else:
            removed[type(d).__name__] += 1
    return tuple(out)


def _dedupe_stmts(body: tuple, removed: Counter) -> tuple:
    out = []
    for s in body:
        if isinstance(s, n.IfChain):
            branches = tuple(dict.fromkeys(s.branches))
            removed["Branch"] += len(s.branches) - len(branches)
            s = attrs.evolve(s, branches=branches)
        out.append(s)
    return tuple(out)


def _count(program: n.Program) -> Counter:
    c: Counter = Counter()
    for node in n.walk(program.units):
        if isinstance(node, (n.Struct, n.UsingAlias, n.TemplateAlias, n.ExplicitInstantiation,
                             n.FunctionDef, n.ExternDecl, n.KernelInstance, n.Branch)):
            c[type(node).__name__] += 1
    return c


def _dedupe(program: n.Program) -> n.Program:
    before = _count(program)
    removed: Counter = Counter()
    units = tuple(attrs.evolve(u, body=_dedupe_decls(u.body, removed)) for u in program.units)
    out = attrs.evolve(program, units=units)
    after = _count(out)
    kinds = sorted(before)
    report = ", ".join(f"{k} {before[k]}->{after[k]}" for k in kinds if before[k] != after[k])
    return out.with_note(f"dedupe: {report or 'nothing to merge'}")


@attrs.frozen
class Dedupe:
    """Merge identical structs, aliases, instantiations and branches (no options)."""

    name: ClassVar[str] = "dedupe"

    def __call__(self, program: n.Program) -> n.Program:
        return _dedupe(program)


dedupe = Dedupe()
