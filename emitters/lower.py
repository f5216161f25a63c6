"""Lowering: ImplConfigs -> a Program of three families (dispatch, impl pool, prepack).

Each family is written naively (one schedule struct per kernel, one heuristic per type, one
prepack instantiation per type); the dedupe pass merges the repeats and the shard pass splits
the impl pool into machete_mm_impl_part1..N.cu.
"""

from __future__ import annotations

from typing import Sequence

from machete_ir import builders as B
from machete_ir import cpp_contract as C
from machete_ir.model import ImplConfig
from machete_ir import nodes as n
from machete_ir.nodes import Include, Namespace, Program, TranslationUnit

DISPATCH_FILE = "machete_mm_dispatch.cu"
IMPL_POOL_FILE = "machete_mm_impl.cu"  # split by the shard pass into machete_mm_impl_part<i>.cu
PREPACK_FILE = "machete_prepack.cu"


def lower_dispatch(impls: Sequence[ImplConfig]) -> TranslationUnit:
    decls = []
    for impl in impls:
        decls += [B.entry_decl(impl.types, s) for s in impl.schedules]
    decls += [B.heuristic_function(h) for impl in impls for h in impl.heuristics]
    decls += [B.type_dispatch(impl) for impl in impls]
    decls += [B.mm_dispatch(impls), B.heuristic_schedule(impls), B.supported_schedules(impls)]
    return TranslationUnit(
        filename=DISPATCH_FILE, role=n.ROLE_DISPATCH,
        body=(Include(path=C.ARGS_HEADER),)
        + tuple(Include(path=h, system=True) for h in C.DISPATCH_SYSTEM_HEADERS)
        + (Namespace(name=C.NAMESPACE, body=tuple(decls)),))


def lower_impl_pool(impls: Sequence[ImplConfig]) -> TranslationUnit:
    decls = []
    for impl in impls:
        for s in impl.schedules:
            decls += [B.schedule_struct(s), B.types_alias(impl.types), B.kernel_alias(impl.types),
                      B.kernel_instance(impl.types, s)]
    return TranslationUnit(filename=IMPL_POOL_FILE, role=n.ROLE_IMPL_POOL,
                           body=(Include(path=C.KERNEL_HEADER),
                                 Namespace(name=C.NAMESPACE, body=tuple(decls))))


def lower_prepack(impls: Sequence[ImplConfig]) -> TranslationUnit:
    decls = [B.prepack_instantiation(impl.types) for impl in impls] + [B.prepack_dispatch(impls)]
    return TranslationUnit(filename=PREPACK_FILE, role=n.ROLE_PREPACK,
                           body=(Include(path=C.PREPACK_HEADER),
                                 Include(path="stdexcept", system=True),
                                 Namespace(name=C.NAMESPACE, body=tuple(decls))))


def lower(impls: Sequence[ImplConfig]) -> Program:
    if not impls:
        raise ValueError("nothing to generate: the type/schedule filters selected no kernel")
    return Program(units=(lower_dispatch(impls), lower_impl_pool(impls), lower_prepack(impls)))
