"""Each pass on small hand-built IR: dedupe counts, shard loads, verify failures."""

from __future__ import annotations

import attrs
import pytest

from emitters.lower import IMPL_POOL_FILE, lower
from machete_ir import builders as B
from machete_ir import expr as E
from machete_ir import model as M
from machete_ir import nodes as n
from passes import REGISTRY, CostModel, Shard, VerifyError, build_pipeline, dedupe, route, run_pipeline, verify
from passes.shard import assign_hash, assign_lpt

T0, T1 = M.TYPE_CONFIGS[0], M.TYPE_CONFIGS[1]
S16, S128 = M.schedule("128x16", "1x1x1"), M.schedule("128x128", "2x1x1")


def _pool(*pairs) -> n.Program:
    body = []
    for t, s in pairs:
        body += [B.schedule_struct(s), B.types_alias(t), B.kernel_alias(t), B.kernel_instance(t, s)]
    unit = n.TranslationUnit(filename=IMPL_POOL_FILE, role=n.ROLE_IMPL_POOL,
                             body=(n.Include(path="machete/mm_kernel.cuh"),
                                   n.Namespace(name="machete", body=tuple(body))))
    return n.Program(units=(unit,))


def test_lowered_units_carry_their_roles():
    p = lower(M.impl_configs())
    assert [(u.filename, u.role) for u in p.units] == [
        ("machete_mm_dispatch.cu", "dispatch"), ("machete_mm_impl.cu", "impl_pool"),
        ("machete_prepack.cu", "prepack")]
    with pytest.raises(ValueError):
        n.TranslationUnit(filename="x.cu", body=(), role="pool")


def test_shard_selects_the_pool_by_role_not_file_name():
    pool = _pool((T0, S16), (T1, S16), (T0, S128)).units[0]
    renamed = n.Program(units=(attrs.evolve(pool, filename="other_impls.cu"),))
    p = Shard(num_shards=2)(renamed)
    assert [(u.filename, u.role) for u in p.units] == [("other_impls_part1.cu", "impl_shard"),
                                                       ("other_impls_part2.cu", "impl_shard")]
    # a unit with the pool's file name but no pool role is left alone, and shard says why it stops
    no_role = n.Program(units=(attrs.evolve(pool, role=n.ROLE_OTHER),))
    with pytest.raises(ValueError, match="role 'impl_pool'"):
        Shard(num_shards=2)(no_role)


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
    assert sum(len([d for d in n.walk(u) if isinstance(d, n.KernelInstance)]) for u in parts) == 208
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
    with pytest.raises(VerifyError, match=r"rule 2 \(M > 32\) is unreachable") as e:
        verify(_heuristic_program(rules))
    assert str(e.value).startswith("x.cu: heuristic t: rule 2 (M > 32)")  # the name once


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


def test_verify_reports_name_defined_twice_in_one_file():
    unit = n.TranslationUnit(filename="s.cu", body=(B.schedule_struct(S16), B.schedule_struct(S16)))
    with pytest.raises(VerifyError, match=r"^s\.cu: 'sch_128x16_1x1x1_\w+' is defined twice in one file \(schedule "):
        verify(n.Program(units=(unit,)))


def test_verify_reports_function_defined_in_two_files():
    unit = _heuristic_program([M.HeuristicRule(cond=None, schedule=S16)]).units[0]
    p = n.Program(units=(unit, attrs.evolve(unit, filename="y.cu")))
    with pytest.raises(VerifyError, match=r"^'heuristic_t' \(heuristic t\) is defined in 2 files: x\.cu, y\.cu$"):
        verify(p)


def test_pipeline_registry():
    assert set(REGISTRY) >= {"dedupe", "shard", "verify"}
    with pytest.raises(ValueError, match="unknown pass"):
        build_pipeline(("dedupe", "nope"))


def test_passes_are_frozen_classes_with_typed_options():
    from passes import PASSES

    for cls in PASSES:
        assert attrs.has(cls) and REGISTRY[cls.name] is cls
        p = cls()  # every pass has defaults
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            p.x = 1
    with pytest.raises(ValueError):
        Shard(num_shards=0)
    with pytest.raises(ValueError):
        Shard(policy="random")
    assert route == REGISTRY["route"]() and verify == REGISTRY["verify"]()


def test_build_pipeline_uses_configured_passes_by_name():
    shard4 = Shard(num_shards=4, policy="hash")
    pipe = build_pipeline(configured=(shard4,))
    assert [p.name for p in pipe] == ["route", "dedupe", "shard", "verify"]
    assert pipe[2] is shard4 and pipe[0] == route
    assert build_pipeline(("dedupe",), (shard4,)) == (dedupe,)  # configured but not run: ignored
    with pytest.raises(ValueError, match="not a registered pass"):
        build_pipeline(configured=(lambda program: program,))
    p = run_pipeline(lower(M.impl_configs()), pipe)
    assert len(p.units_with_role(n.ROLE_IMPL_SHARD)) == 4


def _tuner_shaped_rules(count: int) -> list:
    """Buckets ``M <= m`` (some split on N or K), as benchmarks/tune.py fit writes, ``count`` rules."""
    import random

    rng = random.Random(7)
    rules, m = [], 0
    while len(rules) < count - 1:
        m += rng.randint(1, 5)
        if rng.random() < 0.5 and len(rules) < count - 2:
            v = rng.choice((E.N, E.K))
            rules.append(M.HeuristicRule(cond=E.all_of(E.le(E.M, m), E.le(v, rng.choice((2048, 8192)))),
                                         schedule=rng.choice(M.SCHEDULES)))
        rules.append(M.HeuristicRule(cond=E.le(E.M, m), schedule=rng.choice(M.SCHEDULES)))
    return rules + [M.HeuristicRule(cond=None, schedule=S16)]


def _lookup_grid_rules() -> list:
    """One exact (M, N, K) point per rule: 20 x 20 x 25 = 10,000 rules."""
    import itertools

    def eq(v, c):
        return E.Cmp(lhs=v, op=E.CmpOp.EQ, rhs=E.IntLit(value=c))

    ms = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 2048, 4096, 8192]
    return [M.HeuristicRule(cond=E.all_of(eq(E.M, m), eq(E.N, 1024 * n), eq(E.K, 512 * k)),
                            schedule=M.SCHEDULES[(m + n + k) % 9])
            for m, n, k in itertools.product(ms, range(1, 21), range(1, 26))] + [
        M.HeuristicRule(cond=None, schedule=S16)]


@pytest.mark.parametrize("shape", ["tuner", "lookup"])
def test_verify_checks_10000_rules_in_seconds(shape):
    """The old check re-subtracted every earlier rule for each rule: 2,000 tuner-shaped rules took
    22 s on the dev machine, 10,000 several minutes. Now ~0.3 s; the bound is generous."""
    import time

    rules = _tuner_shaped_rules(10_000) if shape == "tuner" else _lookup_grid_rules()
    assert len(rules) in (10_000, 10_001)
    program = _heuristic_program(rules)
    t = time.perf_counter()
    p = verify(program)
    assert time.perf_counter() - t < 20
    assert "1 heuristic chain(s) exhaustive and reachable" in p.notes[-1]
    # ... and it still finds an unreachable rule at the end of a long table
    shadowed = rules[:-1] + [M.HeuristicRule(cond=rules[0].cond, schedule=S128), rules[-1]]
    t = time.perf_counter()
    with pytest.raises(VerifyError, match=f"rule {len(shadowed) - 1} \\(M .* is unreachable"):
        verify(_heuristic_program(shadowed))
    assert time.perf_counter() - t < 20


# ---- route ---------------------------------------------------------------------------------------

def _filtered(*schedules: str, w4a8: bool = False) -> n.Program:
    from machete_gen_pipeline import Options, select_impls

    return lower(select_impls(Options(schedules=schedules, w4a8=w4a8)))


def _picks(program: n.Program) -> dict[str, list[str]]:
    from passes.route import chain_picks, heuristic_functions, is_heuristic_chain

    return {fn: [s for c in n.walk(f.body) if is_heuristic_chain(c) for _, s in chain_picks(c)]
            for fn, f in heuristic_functions(program).items()}


def test_route_is_a_no_op_when_every_schedule_is_built():
    p = lower(M.impl_configs(w4a8=True))
    routed = route(p)
    assert routed == p and routed.notes == ("route: every heuristic rule picks a built schedule",)


def test_route_maps_unbuilt_picks_to_the_nearest_built_schedule():
    s16, s64 = "128x16_1x1x1_TmaMI__TmaCoop_streamK", "256x64_2x1x1_TmaMI__TmaCoop_streamK"
    p = route(_filtered(s16, s64))
    picks = _picks(p)["heuristic_h100"]
    assert set(picks) == {s16, s64}
    # rule 1 (128x128) -> 256x64: tile distance 2 (M 128->64, N 128->256) beats 3 (M 128->16);
    # decode schedules (keys with a warps field) route by their tile like any other
    want = {"128x128": s64, "128x256": s64, "128x64": s64, "128x32": s16, "256x128": s64,
            "256x64": s64, "256x32": s64, "256x16": s16, "128x16": s16,
            "64x8": s16, "128x8": s16, "256x8": s16, "64x16": s16, "48x8": s16, "80x8": s16, "48x16": s16,
            "80x16": s16, "96x8": s16, "96x16": s16, "112x8": s16, "112x16": s16}
    for rule, got in zip(M.H100_RULES, picks):
        assert got == want[rule.schedule.name.split("_")[0]], rule
    (note,) = [x for x in p.notes if x.startswith("route:")]

    def rerouted(name: str, to: str) -> str:  # the note's entry for one schedule: its 1-based rule numbers
        nums = [str(i + 1) for i, r in enumerate(M.H100_RULES[:-1]) if r.schedule.name == name]
        assert nums, name
        return f"{name.removesuffix('_TmaMI__TmaCoop_streamK')} -> {to} (rule{'s' if len(nums) > 1 else ''} {', '.join(nums)})"

    # entries in the order of each schedule's first rule
    first = M.H100_RULES[0].schedule.name
    to = want[first.split("_")[0]].removesuffix("_TmaMI__TmaCoop_streamK")
    assert note.startswith("route: heuristic_h100: 21 picked schedule(s) not built, rerouted to the nearest of 2 "
                           "built: " + rerouted(first, to) + "; ")
    assert rerouted("128x32_2x1x1_TmaMI__TmaCoop_streamK", "128x16_1x1x1") in note
    assert rerouted("256x128_2x1x1_TmaMI__TmaCoop_streamK", "256x64_2x1x1") in note
    for d in ("48x8_w16s3k64", "64x8_w16s3k64", "80x8_w16s3k64"):
        assert rerouted(d + "_DecodeMma_clusterK", "128x16_1x1x1") in note
    # the one-wave rules (five M bands) route with the rest
    entry = rerouted("48x16_w16s2k64_DecodeMma_clusterK", "128x16_1x1x1")
    # 16-token one-wave bands ending at M = 48, 64, 96, 128, 160, 192, 224, 256, and N <= 6144 / 8192
    assert entry in note and entry.count(",") == 9
    assert note.endswith("; 18 trailing rule(s) now equal to the default dropped")
    # the conditions of the rules kept are untouched; the 18 trailing rules that became the
    # default (128x16) were dropped
    (chain,) = [c for c in n.walk(p.units) if isinstance(c, n.IfChain) and c.role.startswith("heuristic:")][:1]
    assert [b.cond for b in chain.branches] == [r.cond for r in M.H100_RULES[:len(M.H100_RULES) - 19]]


def test_route_to_a_single_schedule_leaves_one_return_and_verifies():
    s = "128x16_w8s3k64_DecodeMma_clusterK"  # built for the 16-bit and the W4A8 types

    p = run_pipeline(_filtered(s, w4a8=True), build_pipeline())
    chains = [c for c in n.walk(p.units) if isinstance(c, n.IfChain) and c.role.startswith("heuristic:")]
    assert {c.role for c in chains} == {"heuristic:h100", "heuristic:w4a8", "heuristic:w4a8_channel"}
    assert all(c.branches == () and c.else_body == (n.Return(value=n.StrLit(value=s)),) for c in chains)
    assert "12 (rule, type) picks built" in p.notes[-1]  # 8 + 4 types, one pick each


def test_nearest_schedule_order():
    from passes.route import nearest

    sc = M.schedule
    built = [sc("128x16", "1x1x1"), sc("128x64", "2x1x1"), sc("256x32", "2x1x1")]
    assert nearest(sc("128x32", "2x1x1"), built) == sc("256x32", "2x1x1")  # same M tile wins a tie
    assert nearest(sc("128x32", "2x1x1"), built[:2]) == sc("128x16", "1x1x1")  # then the smaller tile
    assert nearest(sc("128x256", "2x1x1"), built) == sc("128x64", "2x1x1")
    assert nearest(sc("128x16", "2x1x1"), [sc("128x16", "1x1x1"), sc("128x16", "2x1x1")]) == sc("128x16", "2x1x1")


def test_verify_rejects_a_pick_that_is_not_built():
    p = _filtered("128x16_1x1x1_TmaMI__TmaCoop_streamK")
    with pytest.raises(VerifyError, match=rf"heuristic_h100: rule 1 picks {M.H100_RULES[0].schedule.name}, "
                                          r"which mm_f16u4b8f16voidvoidvoidf16f32 does not build"):
        verify(dedupe(p))
    verify(dedupe(route(p)))


def test_route_is_registered_first_in_the_default_pipeline():
    from passes import DEFAULT_PIPELINE

    assert DEFAULT_PIPELINE == ("route", "dedupe", "shard", "verify") and "route" in REGISTRY
