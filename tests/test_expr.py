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
    assert b == ((65, E.INF), (12288, E.INF), (1, 4069))
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
