"""verify: the checks that make a generated build correct by construction.

- every rule of a ``heuristic:*`` if-chain is reachable (interval reasoning over integers
  M, N, K >= 1, first match wins) and the chain ends in an unconditional default;
- every function the files call is defined exactly once across all files, and declared or
  defined in each file that calls it; every explicit instantiation appears once overall;
- every type a file uses is defined in it (or comes from the csrc contract), before its use;
- names are unique within each file;
- every schedule a heuristic rule picks is built for every type whose dispatch calls it.

Failures raise VerifyError naming the rule or symbol and where it came from.
"""

from __future__ import annotations

from collections import defaultdict
from typing import ClassVar

import attrs

from machete_ir import cpp_contract as C
from machete_ir import expr as E
from machete_ir import nodes as n

from .route import built_by_callers, chain_picks, heuristic_functions, is_heuristic_chain


class VerifyError(ValueError):
    pass


def _file_scope(unit: n.TranslationUnit):
    for d in unit.body:
        if isinstance(d, n.Namespace):
            yield from d.body
        else:
            yield d


def check_heuristic_chain(chain: n.IfChain, where: str) -> None:
    """Exhaustive (ends in an unconditional else) and every rule reachable; near-linear in the
    rules (``E.reachable_boxes``)."""
    label = f"{where}: heuristic {chain.role.split(':', 1)[-1]}"
    if chain.else_body is None:
        raise VerifyError(f"{label}: the default rule is missing (the chain must end in an "
                          f"unconditional else)")
    boxes = []
    for i, b in enumerate(chain.branches, start=1):
        try:
            boxes.append(E.box_of(b.cond))
        except ValueError as e:
            raise VerifyError(f"{label}: rule {i} ({E.render(b.cond)}): {e}") from None
    for i, (b, box, reachable) in enumerate(zip(chain.branches, boxes, E.reachable_boxes(boxes)),
                                            start=1):
        if E.box_empty(box):
            raise VerifyError(f"{label}: rule {i} ({E.render(b.cond)}) matches no (M, N, K): "
                              f"the sizes are int64_t values >= 1")
        if not reachable:
            raise VerifyError(f"{label}: rule {i} ({E.render(b.cond)}) is unreachable: "
                              f"earlier rules cover every (M, N, K) it matches")


def check_heuristics_pick_built_schedules(program: n.Program) -> int:
    """Every schedule a heuristic rule returns is one that each type dispatch calling the
    heuristic selects by name (else a call without a schedule throws "not built"). Returns the
    number of (rule, caller) pairs checked."""
    heuristics = heuristic_functions(program)
    checked = 0
    for fn, callers in built_by_callers(program, heuristics).items():
        picks = [p for c in n.walk(heuristics[fn].body) if is_heuristic_chain(c) for p in chain_picks(c)]
        for caller, built in callers:
            built_set = set(built)
            for label, sched in picks:
                if sched not in built_set:
                    raise VerifyError(f"{fn}: {label} picks {sched}, which {caller} does not build "
                                      f"(built: {', '.join(built)}); the route pass maps such rules "
                                      f"onto built schedules")
                checked += 1
    return checked


def _verify(program: n.Program) -> n.Program:
    defined_in: dict[str, list[str]] = defaultdict(list)
    instantiated_in: dict[str, list[str]] = defaultdict(list)
    origins: dict[str, str] = {}
    checked_chains = 0

    for unit in program.units:
        local: dict[str, str] = {}  # name -> kind, in definition order
        declared: set[str] = set()
        for d in _file_scope(unit):
            origin = getattr(d, "origin", "") or type(d).__name__
            # uses must precede: check before adding this declaration's own names
            uses = n.referenced_names(d)
            own = n.defined_names(d)
            for name in uses:
                if name in own or name in C.EXTERNAL_NAMES or name in local or name in declared:
                    continue
                if isinstance(d, n.TemplateAlias) and name in d.params:
                    continue
                raise VerifyError(f"{unit.filename}: {origin}: uses '{name}', which is neither "
                                  f"declared before it in this file nor part of the csrc contract")
            for name in own:
                if name in local:
                    raise VerifyError(f"{unit.filename}: '{name}' is defined twice in one file "
                                      f"({origin})")
                local[name] = type(d).__name__
                origins.setdefault(name, origin)
            if isinstance(d, (n.FunctionDef, n.KernelInstance)):
                defined_in[own[0]].append(unit.filename)
            if isinstance(d, (n.ExternDecl, n.FunctionDecl)):
                declared.add(d.sig.name)
                origins.setdefault(d.sig.name, origin)
            insts = ([d] if isinstance(d, n.ExplicitInstantiation) else
                     [d.instantiation] if isinstance(d, n.KernelInstance) else [])
            for inst in insts:
                key = repr(inst.type)
                if unit.filename in instantiated_in[key]:
                    raise VerifyError(f"{unit.filename}: {inst.origin}: instantiated twice")
                instantiated_in[key].append(unit.filename)
                if len(instantiated_in[key]) > 1:
                    raise VerifyError(f"{inst.origin}: explicit instantiation appears in "
                                      f"{' and '.join(instantiated_in[key])}")
            for node in n.walk(d):
                if isinstance(node, n.IfChain) and node.role.startswith("heuristic:"):
                    check_heuristic_chain(node, unit.filename)
                    checked_chains += 1

    for name, files in sorted(defined_in.items()):
        if len(files) > 1:
            raise VerifyError(f"'{name}' ({origins.get(name, '?')}) is defined in "
                              f"{len(files)} files: {', '.join(files)}")
    # every declared-but-not-defined function must be defined somewhere in the program
    for unit in program.units:
        for d in _file_scope(unit):
            if isinstance(d, (n.ExternDecl, n.FunctionDecl)) and d.sig.name not in defined_in \
                    and d.sig.name not in C.EXTERNAL_NAMES:
                raise VerifyError(f"{unit.filename}: '{d.sig.name}' ({d.origin}) is declared "
                                  f"but no generated file defines it")
    routed = check_heuristics_pick_built_schedules(program)
    return program.with_note(f"verify: {len(defined_in)} functions defined once, "
                             f"{sum(map(len, instantiated_in.values()))} instantiations, "
                             f"{checked_chains} heuristic chain(s) exhaustive and reachable, "
                             f"{routed} (rule, type) picks built")


@attrs.frozen
class Verify:
    """Check the program (raises VerifyError) and report what was checked; changes nothing."""

    name: ClassVar[str] = "verify"

    def __call__(self, program: n.Program) -> n.Program:
        return _verify(program)


verify = Verify()
