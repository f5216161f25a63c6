"""Each pass on small hand-built IR: dedupe counts, shard loads, verify failures."""

from __future__ import annotations

import attrs
import pytest

from emitters.lower import IMPL_POOL_FILE, lower
from machete_ir import builders as B
from machete_ir import expr as E
from machete_ir import model as M
from machete_ir import nodes as n
from passes import REGISTRY, CostModel, Shard, VerifyError, build_pipeline, dedupe, verify
from passes.shard import assign_hash, assign_lpt

T0, T1 = M.TYPE_CONFIGS[0], M.TYPE_CONFIGS[1]
S16, S128 = M.schedule("128x16", "1x1x1"), M.schedule("128x128", "2x1x1")


def _pool(*pairs) -> n.Program:
    body = []
    for t, s in pairs:
        body += [B.schedule_struct(s), B.types_alias(t), B.kernel_alias(t), B.kernel_instance(t, s)]
    unit = n.TranslationUnit(filename=IMPL_POOL_FILE, body=(n.Include(path="machete/mm_kernel.cuh"),
                                                            n.Namespace(name="machete", body=tuple(body))))
    return n.Program(units=(unit,))


def test_dedupe_merges_identical_structs_aliases_and_reports_counts():
    p = dedupe(_pool((T0, S16), (T1, S16), (T0, S128)))
    (ns,) = [d for d in p.units[0].body if isinstance(d, n.Namespace)]
    kinds = [type(d).__name__ for d in ns.body]
    assert kinds.count("Struct") == 2 and kinds.count("UsingAlias") == 2
    assert kinds.count("TemplateAlias") == 2 and kinds.count("KernelInstance") == 3
    assert p.notes == ("dedupe: Struct 3->2, TemplateAlias 3->2, UsingAlias 21->14",)


def test_dedupe_prepack_variants_four_for_eight_types():
    p = dedupe(lower(M.impl_configs()))
    prepack = p.unit("machete_prepack.cu")
    insts = [x for x in n.walk(prepack) if isinstance(x, n.ExplicitInstantiation)]
    assert len(insts) == 4
    (chain,) = [x for x in n.walk(prepack) if isinstance(x, n.IfChain)]
    assert len(chain.branches) == 4


def test_lpt_and_hash_assignment():
    assert assign_lpt([5, 4, 3, 3, 3], 2) == [0, 1, 1, 0, 1]  # loads 8 / 10
    keys = [f"k{i}" for i in range(50)]
    a = assign_hash(keys, 8)
    assert a == assign_hash(keys, 8) and set(a) <= set(range(8))
    assert assign_hash(keys[:10], 8) == a[:10]  # a kernel never moves when others are added


def test_shard_balances_and_emits_needed_structs_once_per_shard():
    impls = M.impl_configs()
    p = Shard(num_shards=4)(dedupe(lower(impls)))
    parts = [u for u in p.units if u.filename.startswith("machete_mm_impl_part")]
    assert [u.filename for u in parts] == [f"machete_mm_impl_part{i}.cu" for i in range(1, 5)]
    cost = CostModel()
    loads = []
    for u in parts:
        (ns,) = [d for d in u.body if isinstance(d, n.Namespace)]
        kernels = [d for d in ns.body if isinstance(d, n.KernelInstance)]
        structs = [d.name for d in ns.body if isinstance(d, n.Struct)]
        used = {k.instantiation.type.args[1].name for k in kernels}
        assert sorted(structs) == sorted(used)  # exactly the structs it needs, once each
        loads.append(cost.shard(kernels))
    assert sum(len([d for d in n.walk(u) if isinstance(d, n.KernelInstance)]) for u in parts) == 120
    assert max(loads) / (sum(loads) / len(loads)) < 1.05
    assert "makespan/mean" in p.notes[-1]


def test_lpt_beats_hash_on_makespan():
    prog = dedupe(lower(M.impl_configs()))
    ratio = {}
    for policy in ("lpt", "hash"):
        note = Shard(num_shards=8, policy=policy)(prog).notes[-1]
        ratio[policy] = float(note.rsplit(" ", 1)[1])
    assert ratio["lpt"] < ratio["hash"]


def test_verify_accepts_the_default_program():
    p = verify(Shard()(dedupe(lower(M.impl_configs()))))
    assert "1 heuristic chain(s)" in p.notes[-1]


def _heuristic_program(rules) -> n.Program:
    h = M.Heuristic(name="t", rules=tuple(rules))
    fn = B.heuristic_function(h)
    return n.Program(units=(n.TranslationUnit(filename="x.cu", body=(fn,)),))


def test_verify_reports_unreachable_rule():
    rules = [M.HeuristicRule(cond=E.gt(E.M, 16), schedule=S128),
             M.HeuristicRule(cond=E.gt(E.M, 32), schedule=S16),  # shadowed by rule 1
             M.HeuristicRule(cond=None, schedule=S16)]
    with pytest.raises(VerifyError, match=r"rule 2 \(M > 32\) is unreachable"):
        verify(_heuristic_program(rules))


def test_verify_reports_missing_default():
    p = _heuristic_program([M.HeuristicRule(cond=E.gt(E.M, 16), schedule=S128),
                            M.HeuristicRule(cond=None, schedule=S16)])
    fn = p.units[0].body[0]
    chain = attrs.evolve(fn.body[0], else_body=None)
    p = attrs.evolve(p, units=(attrs.evolve(p.units[0], body=(attrs.evolve(fn, body=(chain,)),)),))
    with pytest.raises(VerifyError, match="default rule is missing"):
        verify(p)


def test_verify_reports_symbol_defined_in_two_shards():
    k = B.kernel_instance(T0, S16)
    support = (B.schedule_struct(S16), B.types_alias(T0), B.kernel_alias(T0))
    units = tuple(n.TranslationUnit(filename=f"p{i}.cu", body=(n.Namespace(name="machete", body=support + (k,)),))
                  for i in (1, 2))
    with pytest.raises(VerifyError, match="appears in p1.cu and p2.cu|defined in 2 files"):
        verify(n.Program(units=units))


def test_verify_reports_undeclared_symbol_with_origin():
    k = B.kernel_instance(T0, S16)  # without its schedule struct / aliases
    p = n.Program(units=(n.TranslationUnit(filename="p.cu", body=(k,)),))
    with pytest.raises(VerifyError, match=r"TypeConfig\(f16,u4b8\) / schedule 128x16.*uses 'types_f16u4b8"):
        verify(p)


def test_verify_reports_declared_but_undefined():
    p = n.Program(units=(n.TranslationUnit(filename="d.cu", body=(B.entry_decl(T0, S16),)),))
    with pytest.raises(VerifyError, match="declared but no generated file defines it"):
        verify(p)


def test_pipeline_registry():
    assert set(REGISTRY) >= {"dedupe", "shard", "verify"}
    with pytest.raises(ValueError, match="unknown pass"):
        build_pipeline(("dedupe", "nope"))
