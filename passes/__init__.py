"""IR passes: Program -> Program, run in order by ``run_pipeline``.

A pass is a frozen attrs class: its options are typed attrs fields (validated on construction),
``name`` is the class-level name the pipeline knows it by, and ``__call__(program)`` returns the
new Program (passes never mutate; reports go into ``Program.notes``). Adding a pass = one module
defining the class + one entry in ``PASSES`` (and, if it belongs in the default pipeline, its name
in ``DEFAULT_PIPELINE``). Passes see translation units through their ``role``, never their file
name, and import nothing from emitters/ (tests/test_layers.py).
"""

from __future__ import annotations

from typing import ClassVar, Protocol, Sequence

from machete_ir.nodes import Program

from .dedupe import Dedupe, dedupe
from .route import Route, route
from .shard import CostModel, Shard
from .verify import Verify, VerifyError, verify


class Pass(Protocol):
    name: ClassVar[str]

    def __call__(self, program: Program) -> Program: ...


PASSES: tuple[type, ...] = (Route, Dedupe, Shard, Verify)
# name -> pass class; ``REGISTRY[name]()`` is the pass with its default options
REGISTRY: dict[str, type] = {cls.name: cls for cls in PASSES}
DEFAULT_PIPELINE = ("route", "dedupe", "shard", "verify")


def build_pipeline(names: Sequence[str] = DEFAULT_PIPELINE, configured: Sequence[Pass] = ()) -> tuple[Pass, ...]:
    """The passes ``names``, in order. ``configured`` holds pass instances built with non-default
    options (e.g. ``Shard(num_shards=4)``); each is used wherever its name appears in ``names``,
    every other pass runs with its defaults."""
    unknown = [x for x in names if x not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown pass(es): {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
    by_name: dict[str, Pass] = {}
    for p in configured:
        cls = REGISTRY.get(getattr(p, "name", None))
        if cls is None or not isinstance(p, cls):
            raise ValueError(f"not a registered pass: {p!r}")
        by_name[p.name] = p
    return tuple(by_name.get(x) or REGISTRY[x]() for x in names)


def run_pipeline(program: Program, pipeline: Sequence[Pass]) -> Program:
    for p in pipeline:
        program = p(program)
    return program


__all__ = ["PASSES", "REGISTRY", "DEFAULT_PIPELINE", "Pass", "build_pipeline", "run_pipeline",
           "Route", "Dedupe", "Shard", "Verify", "route", "dedupe", "verify", "CostModel", "VerifyError"]
