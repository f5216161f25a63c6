"""verify: the checks that make a generated build correct by construction.

- every rule of a ``heuristic:*`` if-chain is reachable (interval reasoning over integers
  M, N, K >= 1, first match wins) and the chain ends in an unconditional default;
- every function the files call is defined exactly once across all files, and declared or
  defined in each file that calls it; every explicit instantiation appears once overall;
- every type a file uses is defined in it (or comes from the csrc contract), before its use;
- names are unique within each file;
- every schedule a heuristic rule picks is built for every type whose dispatch calls it.

Each check is one function; ``CHECKS`` runs them in order and the first failure raises
VerifyError naming the rule or symbol and where it came from.
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


def _origin(d: object) -> str:
    return getattr(d, "origin", "") or type(d).__name__


def _declarations(program: n.Program):
    """(unit, file-scope declaration) in program order."""
    for unit in program.units:
        for d in _file_scope(unit):
            yield unit, d


def _defined_in(program: n.Program) -> dict[str, list[str]]:
    """Function name -> the files that define it (FunctionDef, KernelInstance), in program order."""
    defined_in: dict[str, list[str]] = defaultdict(list)
    for unit, d in _declarations(program):
        if isinstance(d, (n.FunctionDef, n.KernelInstance)):
            defined_in[n.defined_names(d)[0]].append(unit.filename)
    return defined_in


def check_uses_declared_before(program: n.Program) -> None:
    """Every type or function a declaration uses is defined or declared before it in its file, or
    is part of the csrc contract."""
    for unit in program.units:
        known: set[str] = set()
        for d in _file_scope(unit):
            own = n.defined_names(d)
            for name in n.referenced_names(d):
                if name in own or name in C.EXTERNAL_NAMES or name in known:
                    continue
                if isinstance(d, n.TemplateAlias) and name in d.params:
                    continue
                raise VerifyError(f"{unit.filename}: {_origin(d)}: uses '{name}', which is neither "
                                  f"declared before it in this file nor part of the csrc contract")
            known.update(own)
            if isinstance(d, (n.ExternDecl, n.FunctionDecl)):
                known.add(d.sig.name)


def check_names_unique_per_file(program: n.Program) -> None:
    """No name is defined twice in one file."""
    for unit in program.units:
        seen: set[str] = set()
        for d in _file_scope(unit):
            for name in n.defined_names(d):
                if name in seen:
                    raise VerifyError(f"{unit.filename}: '{name}' is defined twice in one file "
                                      f"({_origin(d)})")
                seen.add(name)


def check_instantiated_once(program: n.Program) -> int:
    """Every explicit instantiation appears once across all files. Returns how many there are."""
    instantiated_in: dict[str, list[str]] = defaultdict(list)
    for unit, d in _declarations(program):
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
    return sum(map(len, instantiated_in.values()))


def check_heuristic_chains(program: n.Program) -> int:
    """Every ``heuristic:*`` if-chain is exhaustive with every rule reachable
    (check_heuristic_chain). Returns how many chains were checked."""
    checked = 0
    for unit, d in _declarations(program):
        for node in n.walk(d):
            if isinstance(node, n.IfChain) and node.role.startswith("heuristic:"):
                check_heuristic_chain(node, unit.filename)
                checked += 1
    return checked


def check_defined_once(program: n.Program) -> int:
    """Every function is defined in one file only. Returns how many functions are defined."""
    defined_in = _defined_in(program)
    for name, files in sorted(defined_in.items()):
        if len(files) > 1:
            origins: dict[str, str] = {}  # name -> the first declaration defining or declaring it
            for _, d in _declarations(program):
                names = n.defined_names(d)
                if isinstance(d, (n.ExternDecl, n.FunctionDecl)):
                    names += (d.sig.name,)
                for other in names:
                    origins.setdefault(other, _origin(d))
            raise VerifyError(f"'{name}' ({origins.get(name, '?')}) is defined in "
                              f"{len(files)} files: {', '.join(files)}")
    return len(defined_in)


def check_declared_are_defined(program: n.Program) -> None:
    """Every declared-but-not-defined function is defined somewhere in the program (or comes
    from the csrc contract)."""
    defined_in = _defined_in(program)
    for unit, d in _declarations(program):
        if isinstance(d, (n.ExternDecl, n.FunctionDecl)) and d.sig.name not in defined_in \
                and d.sig.name not in C.EXTERNAL_NAMES:
            raise VerifyError(f"{unit.filename}: '{d.sig.name}' ({d.origin}) is declared "
                              f"but no generated file defines it")


# In this order: the first failing check raises. A check returns what it counted for the note, or None.
CHECKS = (
    check_uses_declared_before,
    check_names_unique_per_file,
    check_instantiated_once,
    check_heuristic_chains,
    check_defined_once,
    check_declared_are_defined,
    check_heuristics_pick_built_schedules,
)


def _verify(program: n.Program) -> n.Program:
    found = {check: check(program) for check in CHECKS}
    return program.with_note(f"verify: {found[check_defined_once]} functions defined once, "
                             f"{found[check_instantiated_once]} instantiations, "
                             f"{found[check_heuristic_chains]} heuristic chain(s) exhaustive and reachable, "
                             f"{found[check_heuristics_pick_built_schedules]} (rule, type) picks built")


@attrs.frozen
class Verify:
    """Check the program (raises VerifyError) and report what was checked; changes nothing."""

    name: ClassVar[str] = "verify"

    def __call__(self, program: n.Program) -> n.Program:
        return _verify(program)


verify = Verify()
