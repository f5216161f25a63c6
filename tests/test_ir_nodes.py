"""One small snapshot per IR node kind: what each node prints as C++."""

from __future__ import annotations

import pytest

from emitters.printer import decl, stmt
from machete_ir import builders as B
from machete_ir import expr as E
from machete_ir import model as M
from machete_ir import nodes as n
from machete_ir.scalar_table import SCALARS

T = M.TYPE_CONFIGS[4]  # f16 u4 with zeros
S = M.schedule("128x16", "1x1x1")
ARGS = n.Var(name="args")
INT64 = n.NamedType(name="int64_t")

STMTS = {
    "Return": n.Return(value=n.IntLit(value=3)),
    "ReturnInitList": n.Return(value=n.InitList(items=(n.StrLit(value="a"), n.StrLit(value='q"uote')))),
    "ExprStmt": n.ExprStmt(expr=n.Call(fn="f", args=(ARGS, n.IntLit(value=1)))),
    "StaticCall": n.ExprStmt(expr=n.StaticCall(type=n.NamedType(name="K", args=(n.CuteInt(value=96),)),
                                               fn="run", args=(ARGS,))),
    "VarDecl": n.VarDecl(type=INT64, name="M", init=n.Var(name="args.M")),
    "Assign": n.Assign(target=n.Var(name="schedule"), value=n.StrLit(value="x")),
    "Raise": n.Raise(exc="std::invalid_argument", parts=("bad '", n.Var(name="schedule"), "'")),
    "Comment": n.Comment(text="why, not what"),
    "IfChain": n.IfChain(branches=(
        n.Branch(cond=E.all_of(E.gt(E.M, 256), E.le(E.K, 16384)), body=(n.Return(value=n.IntLit(value=1)),)),
        n.Branch(cond=E.Or(terms=(E.gt(E.M, 1), E.le(E.N, 2))), body=(n.Return(value=n.IntLit(value=2)),))),
        else_body=(n.Return(value=n.IntLit(value=0)),)),
    "SelectByName": n.SelectByName(var=n.Var(name="schedule"), cases=(
        n.NameCase(names=("a__b", "a_b"), body=(n.Return(),)),
        n.NameCase(names=("c",), body=(n.Return(),))),
        default=(n.Raise(exc="std::invalid_argument", parts=("unknown",)),)),
    "Switch": n.Switch(value=n.Var(name="k"), cases=(
        n.SwitchCase(labels=(n.EnumLit(enum="ScalarKind", member="U4"), n.EnumLit(enum="ScalarKind", member="S4")),
                     body=(n.Return(value=n.IntLit(value=4)),), comment="4-bit"),
        n.SwitchCase(labels=(n.IntLit(value=7),), body=(n.Comment(text="two lines"), n.Return(value=n.IntLit(value=1))))),
        default=(n.Return(value=n.IntLit(value=0)),)),
}

DECLS = {
    "Include": n.Include(path="machete/mm_args.h"),
    "IncludeSystem": n.Include(path="vector", system=True),
    "UsingAlias": B.types_alias(T),
    "TemplateAlias": B.kernel_alias(T),
    "Struct": B.schedule_struct(S),
    "FunctionDecl": n.FunctionDecl(sig=B.heuristic_sig(M.H100_HEURISTIC)),
    "ExternDecl": B.entry_decl(T, S),
    "FunctionDef": B.heuristic_function(M.W4A8_HEURISTIC),
    "ExplicitInstantiation": B.prepack_instantiation(T),
    "KernelInstance": B.kernel_instance(T, S),
    "Namespace": n.Namespace(name="machete", body=(B.entry_decl(T, S), B.entry_decl(T, M.SCHEDULES[0]),
                                                   B.types_alias(T))),
    "CuteIntNonPow2": n.UsingAlias(name="Tile", type=B.cute_shape(96, 128, 1)),
    "Pragma": n.Pragma(text="once"),
    # the first rows of the scalar table (append-only: these never change)
    "EnumDef": B.scalar_kind_enum(SCALARS[:3]),
    "ConstexprFunctionDef": B.scalar_bits_function(SCALARS[:3]),
    "XMacro": B.torch_dtype_kinds_macro(SCALARS[:3]),
}


@pytest.mark.parametrize("kind", sorted(STMTS))
def test_statement_prints(kind, cpp_snapshot):
    assert "\n".join(stmt(STMTS[kind]).generate()) + "\n" == cpp_snapshot


@pytest.mark.parametrize("kind", sorted(DECLS))
def test_declaration_prints(kind, cpp_snapshot):
    assert "\n".join(decl(DECLS[kind]).generate()) + "\n" == cpp_snapshot


def test_every_node_kind_has_a_snapshot():
    covered = {type(x).__name__ for x in [*STMTS.values(), *DECLS.values()]}
    kinds = {"Return", "ExprStmt", "VarDecl", "Assign", "Raise", "Comment", "IfChain",
             "SelectByName", "Include", "UsingAlias", "TemplateAlias", "Struct", "FunctionDecl",
             "ExternDecl", "FunctionDef", "ExplicitInstantiation", "KernelInstance", "Namespace",
             "Switch", "Pragma", "EnumDef", "XMacro"}
    assert kinds <= covered


def test_nodes_hash_by_value():
    assert B.schedule_struct(S) == B.schedule_struct(M.schedule("128x16", "1x1x1"))
    assert len({B.kernel_instance(T, S), B.kernel_instance(T, S)}) == 1
    # origin is metadata: it does not affect equality
    a = n.UsingAlias(name="x", type=INT64, origin="one")
    assert a == n.UsingAlias(name="x", type=INT64, origin="two")


def test_if_chain_without_conditional_branches_prints_no_empty_block():
    """A heuristic with only the default rule is one return, never ``{ } else {`` (issue 8)."""
    one = M.Heuristic(name="single", rules=(M.HeuristicRule(cond=None, schedule=S),))
    text = "\n".join(decl(B.heuristic_function(one)).generate())
    assert text == ("static char const* heuristic_single(int64_t M, int64_t N, int64_t K)\n{\n"
                    f'  return "{S.name}";\n'
                    "}")
    # declarations in an unwrapped else body stay in their own scope; an empty chain prints nothing
    var = n.VarDecl(type=INT64, name="x", init=n.IntLit(value=1))
    assert list(stmt(n.IfChain(branches=(), else_body=(var, n.Return()))).generate()) == [
        "{", "  int64_t const x = 1;", "  return;", "}"]
    assert list(stmt(n.IfChain(branches=())).generate()) == []
    assert list(stmt(n.SelectByName(var=ARGS, cases=(), default=(n.Return(),))).generate()) == ["return;"]
