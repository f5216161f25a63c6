"""The whole generator as one pure function of its options: model -> IR -> passes -> text.
The CLI (generate_machete.py) parses argv and owns the filesystem; everything here is pure.

This driver is the top layer of the generator: it imports machete_ir (model, IR), emitters
(lowering, printer) and passes, which import neither each other nor this module
(tests/test_layers.py checks it). It was emitters/pipeline.py."""

from __future__ import annotations

from typing import Sequence

import attrs

from machete_ir import model as M
from machete_ir.model import Heuristic, ImplConfig
from machete_ir.model import canonical_schedule_name, parse_schedule_name
from machete_ir.nodes import Program
from emitters.lower import SCALAR_HEADER_BANNER, lower, lower_scalar_header
from emitters.manifest import MANIFEST_FILE, manifest_text
from emitters.printer import cpp_cond, cpp_expr, cpp_type, print_program, print_unit
from passes import DEFAULT_PIPELINE, Shard, build_pipeline, run_pipeline


@attrs.frozen(kw_only=True)
class Options:
    types: tuple[str, ...] = ()        # type signatures; empty = all
    schedules: tuple[str, ...] = ()    # schedule names (aliases accepted); empty = all
    w4a8: bool = False
    num_shards: int = 8
    shard_policy: str = "lpt"
    heuristic: Heuristic | None = None  # None = the default (H100) heuristic
    # per-GPU tables tried first by device name; None = the built-in ones (none if `heuristic` is set)
    device_heuristics: tuple[M.DeviceHeuristic, ...] | None = None
    passes: tuple[str, ...] = DEFAULT_PIPELINE


def select_impls(opts: Options) -> tuple[ImplConfig, ...]:
    """Apply the --types / --schedules filters; unknown names raise ValueError naming them."""
    impls = M.impl_configs(w4a8=opts.w4a8, heuristic=opts.heuristic, device_heuristics=opts.device_heuristics)
    by_name: dict[str, Heuristic] = {}
    for h in (h for i in impls for h in i.heuristics):
        if by_name.setdefault(h.name, h) != h:  # two functions heuristic_<name>
            raise ValueError(f"heuristic table name {h.name!r} is the name of a built-in heuristic "
                             f"generated alongside it; rename the table")
    if opts.types:
        known = {i.types.signature: i for i in impls}
        unknown = [t for t in opts.types if t not in known]
        if unknown:
            raise ValueError(f"unknown type signature(s) {', '.join(unknown)}; known: "
                             f"{', '.join(known)}" + ("" if opts.w4a8 else " (W4A8 types need --w4a8)"))
        impls = tuple(i for i in impls if i.types.signature in opts.types)
    if opts.schedules:
        wanted = []
        for name in opts.schedules:
            sched = parse_schedule_name(name)  # raises on a malformed name or invalid tile/cluster
            if not any(sched in i.schedules for i in impls):
                raise ValueError(f"schedule {canonical_schedule_name(name)} is valid but not one of "
                                 f"the generated schedules: "
                                 f"{', '.join(dict.fromkeys(s.name for i in impls for s in i.schedules))}")
            wanted.append(sched)
        impls = tuple(attrs.evolve(i, schedules=tuple(s for s in i.schedules if s in wanted))
                      for i in impls if any(s in wanted for s in i.schedules))
    return impls


def entry_points(opts: Options) -> list[tuple[str, str]]:
    """(type signature, schedule name) per kernel entry point, in generation order."""
    return [(i.types.signature, s.name) for i in select_impls(opts) for s in i.schedules]


def build_program(opts: Options) -> Program:
    program = lower(select_impls(opts))
    configured = (Shard(num_shards=opts.num_shards, policy=opts.shard_policy),) if "shard" in opts.passes else ()
    pipeline = build_pipeline(opts.passes, configured)
    return run_pipeline(program, pipeline)


def scalar_header() -> str:
    """The text of csrc/machete/scalar_kind.h, printed from the scalar table (machete/_scalar_table.py)."""
    return print_unit(lower_scalar_header(), header=SCALAR_HEADER_BANNER)


def generate(opts: Options) -> tuple[Program, dict[str, str]]:
    program = build_program(opts)
    files = print_program(program)
    files[MANIFEST_FILE] = manifest_text(program, select_impls(opts))  # the build manifest (data)
    return program, files


def dump_ir(node: object, indent: int = 0) -> list[str]:
    """A readable, deterministic dump of the IR (``--emit-ir``)."""
    pad = "  " * indent
    if isinstance(node, tuple):
        if not node:
            return [pad + "()"]
        return [line for item in node for line in dump_ir(item, indent)]
    if not attrs.has(type(node)):
        return [pad + repr(node)]
    simple, nested = [], []
    for f in attrs.fields(type(node)):
        if f.eq is False or f.name == "notes":
            continue
        v = getattr(node, f.name)
        if isinstance(v, tuple) and v and all(attrs.has(type(x)) or isinstance(x, tuple) for x in v):
            nested.append((f.name, v))
        elif attrs.has(type(v)) and not _is_leafish(v):
            nested.append((f.name, (v,)))
        else:
            simple.append(f"{f.name}={_short(v)}")
    lines = [f"{pad}{type(node).__name__}({', '.join(simple)})"]
    for name, items in nested:
        lines.append(f"{pad}  .{name}:")
        lines += dump_ir(items, indent + 2)
    return lines


def _is_leafish(v: object) -> bool:
    try:
        cpp_type(v)
        return True
    except TypeError:
        return False


def _short(v: object) -> str:
    for f in (cpp_type, cpp_expr, cpp_cond):
        try:
            return f(v)
        except TypeError:
            pass
    return repr(v)
