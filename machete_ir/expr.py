"""Typed conditions over the problem sizes M, N, K (and the few other C++ values dispatch tests).

A heuristic rule's condition is a value of these classes, never a C++ string, so one rule can be
evaluated in Python (``evaluate``), checked for reachability (``box_of`` / ``boxes_reachable``),
printed as C++ (the printer) and rendered as a table (``render``).
"""

from __future__ import annotations

import bisect
import enum
import re
from typing import Mapping, Sequence, Union

import attrs


class CmpOp(enum.Enum):
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    EQ = "=="
    NE = "!="


@attrs.frozen(kw_only=True)
class Var:
    """A named integer (M, N, K) or a C++ expression path such as ``args.a_type``."""

    name: str


# M, N, K are int64_t in C++ (csrc/machete/mm_args.h), so every constant they are compared with
# must be one too. INT64_MIN is left out: its literal is not an int64_t in C++ (``-`` applied to
# 9223372036854775808, which does not fit).
INT64_MAX = 2**63 - 1


def _int64(inst, attribute, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"integer constant expected, got {value!r}")
    if not -INT64_MAX <= value <= INT64_MAX:
        raise ValueError(f"integer constant {value} is outside the int64_t range "
                         f"[-{INT64_MAX}, {INT64_MAX}]")


@attrs.frozen(kw_only=True)
class IntLit:
    """An integer constant: a Python int (never a bool) that fits int64_t."""

    value: int = attrs.field(validator=_int64)


@attrs.frozen(kw_only=True)
class EnumLit:
    """A C++ enumerator, e.g. ``ScalarKind::F16`` (``enum`` is the qualified enum type)."""

    enum: str
    member: str


@attrs.frozen(kw_only=True)
class StrLit:
    value: str


@attrs.frozen(kw_only=True)
class Call:
    """A call of a function from the C++ contract (e.g. ``scalar_bits(args.b_type)``)."""

    fn: str
    args: tuple["Expr", ...]


Expr = Union[Var, IntLit, EnumLit, StrLit, Call]


@attrs.frozen(kw_only=True)
class Cmp:
    lhs: Expr
    op: CmpOp
    rhs: Expr


@attrs.frozen(kw_only=True)
class And:
    terms: tuple["Cond", ...] = attrs.field(validator=attrs.validators.min_len(1))


@attrs.frozen(kw_only=True)
class Or:
    terms: tuple["Cond", ...] = attrs.field(validator=attrs.validators.min_len(1))


@attrs.frozen(kw_only=True)
class StrEq:
    """``std::strcmp(var, value) == 0`` (schedule-name selection)."""

    var: Var
    value: str


@attrs.frozen(kw_only=True)
class IsNull:
    var: Var


def _device_text(inst, attribute, value) -> None:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}", value):
        raise ValueError(f"device name pattern must be 1-64 letters, digits, spaces or '_.-', got {value!r}")


@attrs.frozen(kw_only=True)
class OnDevice:
    """The device the call runs on has ``text`` in its name (``device_name_contains(args, text)``;
    per-GPU heuristic tables). ``args`` is the MMArgs variable."""

    args: Var
    text: str = attrs.field(validator=_device_text)


Cond = Union[Cmp, And, Or, StrEq, IsNull, OnDevice]

# The problem-size variables every heuristic is written over.
M = Var(name="M")
N = Var(name="N")
K = Var(name="K")
SIZE_VARS = (M, N, K)


def gt(v: Var, c: int) -> Cmp:
    return Cmp(lhs=v, op=CmpOp.GT, rhs=IntLit(value=c))


def ge(v: Var, c: int) -> Cmp:
    return Cmp(lhs=v, op=CmpOp.GE, rhs=IntLit(value=c))


def le(v: Var, c: int) -> Cmp:
    return Cmp(lhs=v, op=CmpOp.LE, rhs=IntLit(value=c))


def lt(v: Var, c: int) -> Cmp:
    return Cmp(lhs=v, op=CmpOp.LT, rhs=IntLit(value=c))


def all_of(*terms: Cond) -> Cond:
    return terms[0] if len(terms) == 1 else And(terms=tuple(terms))


_PY_OPS = {
    CmpOp.GT: lambda a, b: a > b,
    CmpOp.GE: lambda a, b: a >= b,
    CmpOp.LT: lambda a, b: a < b,
    CmpOp.LE: lambda a, b: a <= b,
    CmpOp.EQ: lambda a, b: a == b,
    CmpOp.NE: lambda a, b: a != b,
}


def _value(e: Expr, env: Mapping[str, object]) -> object:
    if isinstance(e, Var):
        if e.name not in env:
            raise KeyError(f"condition uses {e.name!r}, which the environment does not bind")
        return env[e.name]
    if isinstance(e, IntLit):
        return e.value
    if isinstance(e, StrLit):
        return e.value
    raise TypeError(f"cannot evaluate {e!r} in Python")


def evaluate(cond: Cond | None, env: Mapping[str, object]) -> bool:
    """Evaluate a condition (None = unconditional) with ``env`` binding its variables."""
    if cond is None:
        return True
    if isinstance(cond, Cmp):
        return bool(_PY_OPS[cond.op](_value(cond.lhs, env), _value(cond.rhs, env)))
    if isinstance(cond, And):
        return all(evaluate(t, env) for t in cond.terms)
    if isinstance(cond, Or):
        return any(evaluate(t, env) for t in cond.terms)
    if isinstance(cond, StrEq):
        return env[cond.var.name] == cond.value
    if isinstance(cond, IsNull):
        return env[cond.var.name] is None
    if isinstance(cond, OnDevice):
        return cond.text in (env.get("device_name") or "")
    raise TypeError(f"unknown condition {cond!r}")


def render(cond: Cond | None) -> str:
    """Human-readable form (tables, error messages); the printer owns the C++ form."""
    if cond is None:
        return "(default)"
    if isinstance(cond, Cmp):
        return f"{_render_expr(cond.lhs)} {cond.op.value} {_render_expr(cond.rhs)}"
    if isinstance(cond, And):
        return " && ".join(render(t) for t in cond.terms)
    if isinstance(cond, Or):
        return " || ".join(f"({render(t)})" for t in cond.terms)
    if isinstance(cond, StrEq):
        return f'{cond.var.name} == "{cond.value}"'
    if isinstance(cond, IsNull):
        return f"{cond.var.name} == null"
    if isinstance(cond, OnDevice):
        return f'device name contains "{cond.text}"'
    raise TypeError(f"unknown condition {cond!r}")


def _render_expr(e: Expr) -> str:
    if isinstance(e, Var):
        return e.name
    if isinstance(e, IntLit):
        return str(e.value)
    if isinstance(e, EnumLit):
        return f"{e.enum}::{e.member}"
    if isinstance(e, StrLit):
        return repr(e.value)
    if isinstance(e, Call):
        return f"{e.fn}({', '.join(_render_expr(a) for a in e.args)})"
    raise TypeError(f"unknown expression {e!r}")


# ---------------------------------------------------------------------------------------------
# Interval reasoning over integers (M, N, K >= 1): a conjunction of ``var op const`` is a box.

Box = tuple[tuple[int, int], ...]  # per SIZE_VARS: inclusive [lo, hi]


def full_box() -> Box:
    """Every (M, N, K) the C++ dispatch can see: int64_t values >= 1."""
    return tuple((1, INT64_MAX) for _ in SIZE_VARS)


def box_of(cond: Cond | None) -> Box:
    """The box of integer (M, N, K) points satisfying ``cond``; only ``And``/``Cmp`` over sizes."""
    box = [list(b) for b in full_box()]
    terms = () if cond is None else (cond.terms if isinstance(cond, And) else (cond,))
    names = [v.name for v in SIZE_VARS]
    for t in terms:
        if not (isinstance(t, Cmp) and isinstance(t.lhs, Var) and isinstance(t.rhs, IntLit)
                and t.lhs.name in names):
            raise ValueError(f"not an interval condition over M, N, K: {render(t)}")
        i, c = names.index(t.lhs.name), t.rhs.value
        lo, hi = box[i]
        if t.op is CmpOp.GT:
            lo = max(lo, c + 1)
        elif t.op is CmpOp.GE:
            lo = max(lo, c)
        elif t.op is CmpOp.LT:
            hi = min(hi, c - 1)
        elif t.op is CmpOp.LE:
            hi = min(hi, c)
        elif t.op is CmpOp.EQ:
            lo, hi = max(lo, c), min(hi, c)
        else:
            raise ValueError(f"'!=' is not an interval condition: {render(t)}")
        box[i] = [lo, hi]
    return tuple((lo, hi) for lo, hi in box)


def box_empty(b: Box) -> bool:
    return any(lo > hi for lo, hi in b)


def box_subtract(a: Box, b: Box) -> list[Box]:
    """a minus b as a list of disjoint boxes."""
    inter = tuple((max(alo, blo), min(ahi, bhi)) for (alo, ahi), (blo, bhi) in zip(a, b))
    if box_empty(inter):
        return [a]
    out: list[Box] = []
    rest = list(a)
    for i, ((alo, ahi), (ilo, ihi)) in enumerate(zip(a, inter)):
        if alo < ilo:
            piece = list(rest)
            piece[i] = (alo, ilo - 1)
            out.append(tuple(piece))
        if ihi < ahi:
            piece = list(rest)
            piece[i] = (ihi + 1, ahi)
            out.append(tuple(piece))
        rest[i] = (ilo, ihi)
    return out


class _Cover:
    """The cells of one axis (and, below each, the axes after it) that some box took.

    Cells are the compressed intervals of the axis; ``_nxt`` is a union-find "next cell that is
    not full" map (absent = the cell itself), so the cells a box spans that earlier boxes filled
    are skipped in near-constant time. A cell's child (the next axis) is created when first hit
    and dropped when full."""

    __slots__ = ("axis", "size", "_nxt", "_kids")

    def __init__(self, axis: int, size: int) -> None:
        self.axis, self.size = axis, size
        self._nxt: dict[int, int] = {}
        self._kids: dict[int, _Cover] = {}

    def _find(self, i: int) -> int:
        nxt, path = self._nxt, []
        while i in nxt:
            path.append(i)
            i = nxt[i]
        for p in path:
            nxt[p] = i
        return i

    def full(self) -> bool:
        return self._find(0) >= self.size

    def take(self, cells: list[tuple[int, int]], sizes: list[int]) -> bool:
        """Mark the cells of the box (per axis, an inclusive cell range); True if any was free."""
        lo, hi = cells[self.axis]
        last = self.axis == len(sizes) - 1
        hit = False
        i = self._find(lo)
        while i <= hi:
            if last:
                hit, full = True, True
            else:
                kid = self._kids.get(i)
                if kid is None:
                    kid = self._kids[i] = _Cover(self.axis + 1, sizes[self.axis + 1])
                hit = kid.take(cells, sizes) or hit
                full = kid.full()
            if full:
                self._nxt[i] = i + 1
                self._kids.pop(i, None)
            i = self._find(i + 1)
        return hit


def reachable_boxes(boxes: Sequence[Box]) -> list[bool]:
    """For rules with these boxes, tried in order (first match wins): whether each rule matches
    some (M, N, K) that no earlier rule matches.

    Each axis is cut at every box's bounds into cells (so a box is a range of whole cells per
    axis), and the cells earlier boxes took are kept per axis with "next free cell" links: a
    table of nested buckets (``M <= m`` split on N or K), a lookup grid of exact points or
    scattered boxes costs about O(rules x log rules) (10,000 rules: well under a second), where
    re-subtracting every earlier rule per rule (``reachable_region``) was quadratic. The cost is
    the number of cells that change: a staircase of rules each overlapping all earlier ones on
    two axes (``M <= i && N > c - i``) still changes quadratically many."""
    cuts = []
    for d in range(len(SIZE_VARS)):
        axis = {1}
        for b in boxes:
            if not box_empty(b):
                lo, hi = b[d]
                axis.add(lo)
                if hi < INT64_MAX:
                    axis.add(hi + 1)
        cuts.append(sorted(axis))
    sizes = [len(c) for c in cuts]
    root = _Cover(0, sizes[0])
    out = []
    for b in boxes:
        if box_empty(b):
            out.append(False)
            continue
        cells = [(bisect.bisect_left(cuts[d], lo), bisect.bisect_right(cuts[d], hi) - 1)
                 for d, (lo, hi) in enumerate(b)]
        out.append(root.take(cells, sizes))
    return out


def reachable_region(cond: Cond | None, earlier: list[Cond | None]) -> list[Box]:
    """Points that satisfy ``cond`` and none of ``earlier`` (first-match-wins semantics)."""
    region = [box_of(cond)]
    for e in earlier:
        eb = box_of(e)
        region = [piece for r in region for piece in box_subtract(r, eb)]
        if not region:
            break
    return [r for r in region if not box_empty(r)]
