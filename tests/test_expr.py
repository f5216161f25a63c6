from __future__ import annotations

import itertools

import pytest

from machete_ir import expr as E
from machete_ir.expr import K, M, N


def test_evaluate_and_render():
    c = E.all_of(E.gt(M, 256), E.le(K, 16384), E.le(N, 4096))
    assert E.evaluate(c, {"M": 257, "N": 4096, "K": 16384})
    assert not E.evaluate(c, {"M": 256, "N": 4096, "K": 16384})
    assert not E.evaluate(c, {"M": 257, "N": 4097, "K": 1})
    assert E.render(c) == "M > 256 && K <= 16384 && N <= 4096"
    assert E.evaluate(None, {})


def test_box_of():
    b = E.box_of(E.all_of(E.gt(M, 64), E.le(K, 4069), E.ge(N, 12288)))
    assert b == ((65, E.INT64_MAX), (12288, E.INT64_MAX), (1, 4069))
    with pytest.raises(ValueError, match="not an interval condition"):
        E.box_of(E.Cmp(lhs=M, op=E.CmpOp.NE, rhs=E.IntLit(value=3)))


def test_reachable_region_matches_brute_force():
    rules = [E.all_of(E.gt(M, 4), E.le(N, 3)), E.gt(M, 4), E.all_of(E.le(M, 4), E.ge(K, 2)),
             E.le(K, 5), E.all_of(E.gt(M, 2), E.le(M, 4), E.ge(K, 1))]
    pts = list(itertools.product(range(1, 8), repeat=3))
    for i, r in enumerate(rules):
        region = E.reachable_region(r, rules[:i])
        brute = [p for p in pts if E.evaluate(r, dict(zip("MNK", p)))
                 and not any(E.evaluate(e, dict(zip("MNK", p))) for e in rules[:i])]
        in_region = [p for p in pts if any(all(lo <= v <= hi for v, (lo, hi) in zip(p, box))
                                           for box in region)]
        assert in_region == brute, f"rule {i}"
    # the last rule is covered by rule 2 (M>4) and rule 3 (M<=4, K>=2) and rule 4 (K<=5)
    assert E.reachable_region(rules[4], rules[:4]) == []


def test_reachable_boxes_matches_brute_force_on_random_chains():
    """The near-linear reachability check agrees with enumeration on small random chains."""
    import random

    rng = random.Random(8)
    ops = [E.CmpOp.GT, E.CmpOp.GE, E.CmpOp.LT, E.CmpOp.LE, E.CmpOp.EQ]
    for _ in range(300):
        rules = [E.all_of(*(E.Cmp(lhs=v, op=rng.choice(ops), rhs=E.IntLit(value=rng.randint(0, 7)))
                            for v in rng.sample(E.SIZE_VARS, rng.randint(1, 3))))
                 for _ in range(rng.randint(1, 8))]
        # with constants <= 7 every point past 8 behaves like 8, so the grid 1..8 decides
        grid = list(itertools.product(range(1, 9), repeat=3))
        env = [dict(zip("MNK", p)) for p in grid]
        first = [next((i for i, r in enumerate(rules) if E.evaluate(r, e)), None) for e in env]
        want = [i in first for i in range(len(rules))]
        assert E.reachable_boxes([E.box_of(r) for r in rules]) == want, [E.render(r) for r in rules]
    assert E.reachable_boxes([E.box_of(E.gt(M, E.INT64_MAX - 1)), E.box_of(E.le(M, 0))]) == [True, False]
