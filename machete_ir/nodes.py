"""The C++ IR: frozen, hashable attrs nodes named after the C++ construct they print.

Children are tuples; metadata that must not affect equality (``origin``: which model value a node
came from, used in error messages) is declared ``eq=False``. Passes transform these values; only
``emitters/printer.py`` turns them into text.
"""

from __future__ import annotations

import functools
from typing import Iterator, Union

import attrs

from .expr import Call, Cond, EnumLit, Expr, IntLit, StrLit, Var

# ---------------------------------------------------------------------------------------------
# Types


@attrs.frozen(kw_only=True)
class CuteInt:
    """A cute compile-time integer: ``cute::_128`` for a power of two, else ``cute::Int<96>``."""

    value: int = attrs.field(validator=attrs.validators.ge(0))


@attrs.frozen(kw_only=True)
class NamedType:
    """A (possibly templated) named type: ``cute::Shape<cute::_128, cute::_16>``."""

    name: str
    args: tuple["TypeArg", ...] = ()


@attrs.frozen(kw_only=True)
class ConstRef:
    inner: "CppType"


@attrs.frozen(kw_only=True)
class ConstPtr:
    inner: "CppType"


CppType = Union[NamedType, CuteInt, ConstRef, ConstPtr]
TypeArg = Union[NamedType, CuteInt, int]

VOID = NamedType(name="void")

# ---------------------------------------------------------------------------------------------
# Statements (function bodies)


@attrs.frozen(kw_only=True)
class Return:
    value: Union[Expr, "InitList", None] = None


@attrs.frozen(kw_only=True)
class InitList:
    """``{a, b, c}`` (e.g. the returned list of schedule names)."""

    items: tuple[Expr, ...]


@attrs.frozen(kw_only=True)
class StaticCall:
    """``Type::fn(args...)``, e.g. ``MacheteKernel<types_x, sch_y>::run(args)``."""

    type: "NamedType"
    fn: str
    args: tuple[Expr, ...]


@attrs.frozen(kw_only=True)
class ExprStmt:
    expr: Union[Expr, StaticCall]


@attrs.frozen(kw_only=True)
class VarDecl:
    """``T const name = init;``"""

    type: CppType
    name: str
    init: Expr


@attrs.frozen(kw_only=True)
class Assign:
    target: Var
    value: Expr


@attrs.frozen(kw_only=True)
class Raise:
    """``throw Exc(std::string("...") + var + "...")``: parts are literals (str) or variables."""

    exc: str
    parts: tuple[Union[str, Var], ...]


@attrs.frozen(kw_only=True)
class Branch:
    cond: Cond
    body: tuple["Stmt", ...]


@attrs.frozen(kw_only=True)
class IfChain:
    """``if (...) {} else if (...) {} else {}``. ``role`` marks chains passes reason about
    (``heuristic:<name>`` chains must be exhaustive and every branch reachable)."""

    branches: tuple[Branch, ...]
    else_body: tuple["Stmt", ...] | None = None
    role: str = ""


@attrs.frozen(kw_only=True)
class NameCase:
    names: tuple[str, ...]  # canonical name first, then accepted aliases
    body: tuple["Stmt", ...]


@attrs.frozen(kw_only=True)
class SelectByName:
    """Selection by schedule name: the first case one of whose names equals ``var``."""

    var: Var
    cases: tuple[NameCase, ...]
    default: tuple["Stmt", ...]


@attrs.frozen(kw_only=True)
class SwitchCase:
    """``case a: case b: body``; ``comment`` is printed at the end of the case's first line."""

    labels: tuple[Expr, ...]
    body: tuple["Stmt", ...]
    comment: str = ""


@attrs.frozen(kw_only=True)
class Switch:
    """``switch (value) { case ...: ... default: ... }`` (the scalar header's constexpr lookups)."""

    value: Expr
    cases: tuple[SwitchCase, ...]
    default: tuple["Stmt", ...]


@attrs.frozen(kw_only=True)
class Comment:
    text: str


Stmt = Union[Return, ExprStmt, VarDecl, Assign, Raise, IfChain, SelectByName, Switch, Comment]

# ---------------------------------------------------------------------------------------------
# Declarations (file scope)


@attrs.frozen(kw_only=True)
class Include:
    path: str
    system: bool = False


@attrs.frozen(kw_only=True)
class Pragma:
    """``#pragma <text>`` (a header's ``#pragma once``)."""

    text: str


@attrs.frozen(kw_only=True)
class Enumerator:
    name: str
    value: int
    comment: str = ""


@attrs.frozen(kw_only=True)
class EnumDef:
    """``enum class name : underlying { A = 0, ... };``"""

    name: str
    underlying: "CppType"
    members: tuple[Enumerator, ...]
    origin: str = attrs.field(default="", eq=False)


@attrs.frozen(kw_only=True)
class XMacro:
    """An X-macro: ``#define name(X) X(a, b) X(c, d) ...``, one ``X(...)`` line per row."""

    name: str
    rows: tuple[tuple[str, ...], ...]
    origin: str = attrs.field(default="", eq=False)


@attrs.frozen(kw_only=True)
class UsingAlias:
    name: str
    type: CppType
    origin: str = attrs.field(default="", eq=False)


@attrs.frozen(kw_only=True)
class TemplateAlias:
    """``template <class P...> using name = type;`` (params appear in ``type`` as NamedType)."""

    name: str
    params: tuple[str, ...]
    type: CppType
    origin: str = attrs.field(default="", eq=False)


@attrs.frozen(kw_only=True)
class Struct:
    name: str
    members: tuple[Union[UsingAlias, Comment], ...]
    origin: str = attrs.field(default="", eq=False)


@attrs.frozen(kw_only=True)
class Param:
    type: CppType
    name: str


@attrs.frozen(kw_only=True)
class FunctionSig:
    name: str
    ret: CppType
    params: tuple[Param, ...]
    static: bool = False
    constexpr: bool = False


@attrs.frozen(kw_only=True)
class FunctionDecl:
    sig: FunctionSig
    origin: str = attrs.field(default="", eq=False)


@attrs.frozen(kw_only=True)
class ExternDecl:
    """``extern <sig>;``: a symbol defined in another translation unit."""

    sig: FunctionSig
    origin: str = attrs.field(default="", eq=False)


@attrs.frozen(kw_only=True)
class FunctionDef:
    sig: FunctionSig
    body: tuple[Stmt, ...]
    origin: str = attrs.field(default="", eq=False)


@attrs.frozen(kw_only=True)
class ExplicitInstantiation:
    """``template struct <type>;``"""

    type: NamedType
    origin: str = attrs.field(default="", eq=False)


@attrs.frozen(kw_only=True)
class KernelInstance:
    """One kernel entry point: the explicit instantiation and the extern "C++" function that
    runs it. ``tile_n``/``tile_m`` and ``family`` (the schedule's KernelKind value: "cutlass",
    "decode" or "promote") feed the shard pass's compile-cost model."""

    instantiation: ExplicitInstantiation
    entry: FunctionDef
    tile_n: int
    tile_m: int
    family: str = "cutlass"
    origin: str = attrs.field(default="", eq=False)


@attrs.frozen(kw_only=True)
class Namespace:
    name: str
    body: tuple["Decl", ...]


Decl = Union[Include, Pragma, Comment, UsingAlias, TemplateAlias, Struct, EnumDef, XMacro,
             FunctionDecl, ExternDecl, FunctionDef, ExplicitInstantiation, KernelInstance, Namespace]


# What a translation unit is for. Passes select units by role, never by file name (the file
# names belong to the lowering): the shard pass splits the ``impl_pool`` unit into ``impl_shard``
# units; ``other`` is for units no pass looks for (tests, experiments).
ROLE_DISPATCH = "dispatch"
ROLE_IMPL_POOL = "impl_pool"
ROLE_IMPL_SHARD = "impl_shard"
ROLE_PREPACK = "prepack"
ROLE_OTHER = "other"
UNIT_ROLES = (ROLE_DISPATCH, ROLE_IMPL_POOL, ROLE_IMPL_SHARD, ROLE_PREPACK, ROLE_OTHER)


@attrs.frozen(kw_only=True)
class TranslationUnit:
    """One generated file. ``header`` is the ``@generated`` comment the printer puts first."""

    filename: str
    body: tuple[Decl, ...]
    role: str = attrs.field(default=ROLE_OTHER, validator=attrs.validators.in_(UNIT_ROLES))


@attrs.frozen(kw_only=True)
class Program:
    """Everything one run generates. ``notes`` carry pass reports (not part of equality)."""

    units: tuple[TranslationUnit, ...]
    notes: tuple[str, ...] = attrs.field(default=(), eq=False)

    def unit(self, filename: str) -> TranslationUnit:
        for u in self.units:
            if u.filename == filename:
                return u
        raise KeyError(filename)

    def units_with_role(self, role: str) -> tuple[TranslationUnit, ...]:
        if role not in UNIT_ROLES:
            raise ValueError(f"unknown translation unit role {role!r}; known: {', '.join(UNIT_ROLES)}")
        return tuple(u for u in self.units if u.role == role)

    def with_note(self, note: str) -> "Program":
        return attrs.evolve(self, notes=self.notes + (note,))


# ---------------------------------------------------------------------------------------------
# Generic traversal (xDSL-style walk over attrs fields)


@functools.lru_cache(maxsize=None)
def _is_node(cls: type) -> bool:
    return attrs.has(cls)


@functools.lru_cache(maxsize=None)
def _child_fields(cls: type) -> tuple[str, ...]:
    """The fields of an attrs node class that take part in equality (the IR's children), in order."""
    return tuple(f.name for f in attrs.fields(cls) if f.eq is not False) if attrs.has(cls) else ()


def children(node: object) -> Iterator[object]:
    if isinstance(node, tuple):
        yield from node
        return
    for name in _child_fields(type(node)):
        v = getattr(node, name)
        if isinstance(v, tuple) or _is_node(type(v)):
            yield v


def walk(node: object, descend=None) -> Iterator[object]:
    """Pre-order over every node (tuples are traversed, not yielded). ``descend(node)`` False stops
    the walk below that node (it is still yielded), e.g. at function bodies when only the
    definitions are wanted."""
    if not isinstance(node, tuple):
        yield node
        if descend is not None and not descend(node):
            return
    for c in children(node):
        yield from walk(c, descend)


def defined_names(decl: object) -> tuple[str, ...]:
    """Names a file-scope declaration defines (types and functions)."""
    if isinstance(decl, (UsingAlias, TemplateAlias, Struct, EnumDef, XMacro)):
        return (decl.name,)
    if isinstance(decl, FunctionDef):
        return (decl.sig.name,)
    if isinstance(decl, KernelInstance):
        return (decl.entry.sig.name,)
    return ()


def referenced_names(node: object) -> tuple[str, ...]:
    """Type names and called functions a node uses, in first-use order."""
    out: dict[str, None] = {}
    for n in walk(node):
        if isinstance(n, NamedType):
            out.setdefault(n.name, None)
        elif isinstance(n, Call):
            out.setdefault(n.fn, None)
    return tuple(out)


__all__ = [name for name in dir() if not name.startswith("_")] + [
    "Call", "EnumLit", "IntLit", "StrLit", "Var"]
