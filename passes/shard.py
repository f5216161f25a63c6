"""shard: split the impl pool (the unit whose role is ``impl_pool``, machete_mm_impl.cu) into N
``impl_shard`` units balanced by compile cost, named after the pool: ``<stem>_part<i><suffix>``.

Cost model (seconds of one nvcc process): a fixed cost per translation unit (parsing CUTLASS and
cute dominates) plus a cost per kernel, optionally growing with its tile. The defaults were fitted
to compile times measured on the H100 host by `benchmarks/fit_shard_cost.py`. Policies: ``lpt`` (longest processing time first onto the least loaded
shard: makespan within 4/3 of optimal) and ``hash`` (stable sha1 of the entry name: a kernel
never moves when others are added). Each shard gets the schedule structs and type aliases its
kernels use, and nothing else.
"""

from __future__ import annotations

import hashlib
from typing import ClassVar, Sequence

import attrs

from machete_ir import nodes as n


@attrs.frozen(kw_only=True)
class CostModel:
    """Seconds of one nvcc process. Defaults fitted by benchmarks/fit_shard_cost.py to a build on
    the H100 host (2026-11-25, hash-sharded 72 kernels, 5-12 per file, 8 nvcc at once on 16 cores):
    ~126 s per translation unit + ~9.8 s per kernel; the tile-size term fitted negative, i.e. no
    measurable effect, so it is 0 (it was a guessed 0.25 s per 1024 tile elements before)."""

    tu_seconds: float = 125.9
    kernel_seconds: float = 9.8
    per_tile_kilo_elem: float = 0.0  # seconds per 1024 elements of the (N x M) tile
    # A decode-family kernel (plain CUDA, no CUTLASS collective): 21 of them compiled in ~9 s on the
    # 2-core dev machine (scripts/decode_dev/harness.cu), i.e. ~0.5 s each.
    decode_kernel_seconds: float = 0.5
    # A W4A8 promote kernel (cute, no CUTLASS collective): 7 configurations in ~18 s on the 2-core
    # dev machine (scripts/decode_dev/promote_harness.cu), i.e. ~2.6 s each.
    promote_kernel_seconds: float = 2.6

    def tile(self, tile_n: int, tile_m: int) -> float:
        return self.kernel_seconds + self.per_tile_kilo_elem * (tile_n * tile_m) / 1024.0

    def kernel(self, k: n.KernelInstance) -> float:
        if k.family == "decode":
            return self.decode_kernel_seconds
        if k.family == "promote":
            return self.promote_kernel_seconds
        return self.tile(k.tile_n, k.tile_m)

    def file(self, tiles: Sequence[tuple[int, int]]) -> float:
        """Estimated seconds for one translation unit holding kernels of these tiles."""
        return (self.tu_seconds if tiles else 0.0) + sum(self.tile(*t) for t in tiles)

    def shard(self, kernels: Sequence[n.KernelInstance]) -> float:
        return (self.tu_seconds if kernels else 0.0) + sum(self.kernel(k) for k in kernels)


POLICIES = ("lpt", "hash")


def assign_lpt(costs: Sequence[float], num_shards: int) -> list[int]:
    order = sorted(range(len(costs)), key=lambda i: (-costs[i], i))
    loads = [0.0] * num_shards
    out = [0] * len(costs)
    for i in order:
        s = min(range(num_shards), key=lambda j: (loads[j], j))
        out[i] = s
        loads[s] += costs[i]
    return out


def part_filename(pool_filename: str, i: int) -> str:
    """``machete_mm_impl.cu`` -> ``machete_mm_impl_part<i>.cu`` (1-based)."""
    stem, dot, suffix = pool_filename.rpartition(".")
    return f"{stem}_part{i}.{suffix}" if dot else f"{pool_filename}_part{i}"


def assign_hash(keys: Sequence[str], num_shards: int) -> list[int]:
    return [int.from_bytes(hashlib.sha1(k.encode()).digest()[:8], "big") % num_shards for k in keys]


@attrs.frozen(kw_only=True)
class Shard:
    """Options: ``num_shards`` files, ``policy`` (``lpt`` or ``hash``), the ``cost`` model."""

    name: ClassVar[str] = "shard"
    num_shards: int = attrs.field(default=8, validator=attrs.validators.ge(1))
    policy: str = attrs.field(default="lpt", validator=attrs.validators.in_(POLICIES))
    cost: CostModel = CostModel()

    def __call__(self, program: n.Program) -> n.Program:
        pools = program.units_with_role(n.ROLE_IMPL_POOL)
        if len(pools) != 1:
            raise ValueError(f"shard: expected one translation unit with role {n.ROLE_IMPL_POOL!r}, "
                             f"found {len(pools)}")
        (pool,) = pools
        includes = tuple(d for d in pool.body if not isinstance(d, n.Namespace))
        (ns,) = (d for d in pool.body if isinstance(d, n.Namespace))
        support = {name: d for d in ns.body if not isinstance(d, n.KernelInstance)
                   for name in n.defined_names(d)}
        kernels = [d for d in ns.body if isinstance(d, n.KernelInstance)]
        if self.policy == "lpt":
            where = assign_lpt([self.cost.kernel(k) for k in kernels], self.num_shards)
        else:
            where = assign_hash([k.entry.sig.name for k in kernels], self.num_shards)

        parts, loads = [], []
        for s in range(self.num_shards):
            mine = [k for k, w in zip(kernels, where) if w == s]  # generation order within a shard
            needed: dict[str, None] = {}
            for k in mine:
                _close_over(k, support, needed)
            body = tuple(d for d in ns.body if not isinstance(d, n.KernelInstance)
                         and n.defined_names(d)[0] in needed) + tuple(mine)
            # An empty shard keeps its file name (build systems list the files up front) but
            # includes nothing, so it costs nothing to compile.
            parts.append(n.TranslationUnit(
                filename=part_filename(pool.filename, s + 1), role=n.ROLE_IMPL_SHARD,
                body=includes + (attrs.evolve(ns, body=body),) if mine else
                (n.Comment(text="No kernel entry points in this shard (filtered build)."),)))
            loads.append(self.cost.shard(mine))

        units = []
        for u in program.units:
            units.extend(parts if u is pool else [u])
        mean = sum(loads) / len(loads)
        ratio = max(loads) / mean if mean else 1.0
        report = (f"shard[{self.policy}]: {len(kernels)} kernels over {self.num_shards} files; "
                  f"est. seconds {' '.join(f'{x:.0f}' for x in loads)}; makespan/mean {ratio:.3f}")
        return attrs.evolve(program, units=tuple(units)).with_note(report)


def _close_over(node: object, support: dict, needed: dict) -> None:
    """Add the support declarations ``node`` uses (and theirs), dependencies first."""
    for name in n.referenced_names(node):
        if name in support and name not in needed:
            _close_over(support[name], support, needed)
            needed[name] = None
