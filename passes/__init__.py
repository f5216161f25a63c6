"""IR passes: pure functions Program -> Program, run in order by ``run_pipeline``.

Adding a pass = one new module defining it + one line in ``REGISTRY`` (and, if it belongs in
the default pipeline, in ``DEFAULT_PIPELINE``).
"""

from __future__ import annotations

from typing import Callable, Sequence

from machete_ir.nodes import Program

from .dedupe import dedupe
from .route import route
from .shard import CostModel, Shard
from .verify import VerifyError, verify

Pass = Callable[[Program], Program]

# name -> factory taking the pipeline options (so passes with options are frozen callables)
REGISTRY: dict[str, Callable[..., Pass]] = {
    "route": lambda **opts: route,
    "dedupe": lambda **opts: dedupe,
    "shard": lambda num_shards=8, shard_policy="lpt", cost_model=None, **opts: Shard(
        num_shards=num_shards, policy=shard_policy, cost=cost_model or CostModel()),
    "verify": lambda **opts: verify,
}
DEFAULT_PIPELINE = ("route", "dedupe", "shard", "verify")


def build_pipeline(names: Sequence[str] = DEFAULT_PIPELINE, **options) -> tuple[Pass, ...]:
    unknown = [x for x in names if x not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown pass(es): {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
    return tuple(REGISTRY[x](**options) for x in names)


def run_pipeline(program: Program, pipeline: Sequence[Pass]) -> Program:
    for p in pipeline:
        program = p(program)
    return program


__all__ = ["REGISTRY", "DEFAULT_PIPELINE", "build_pipeline", "run_pipeline", "route", "dedupe", "Shard",
           "CostModel", "verify", "VerifyError"]
