"""Typed node builders for the Machete constructs. Emitters compose these; no emitter writes C++
text. Each builder targets a name in cpp_contract.py, so the generated files and csrc/ stay in step.
"""

from __future__ import annotations

from typing import Callable, Sequence

from . import cpp_contract as C
from . import names
from .expr import Call, Cmp, CmpOp, Cond, EnumLit, IntLit, IsNull, OnDevice, StrLit, Var, all_of
from .model import Dt, Heuristic, ImplConfig, ScheduleConfig, TypeConfig, schedule_alias
from .nodes import (
    VOID, Assign, Branch, ConstPtr, CuteInt, EnumDef, Enumerator, ExplicitInstantiation, ExprStmt,
    ExternDecl, FunctionDef, FunctionSig, IfChain, InitList, KernelInstance, NameCase, NamedType,
    Param, Raise, Return, SelectByName, StaticCall, Struct, Switch, SwitchCase, TemplateAlias,
    UsingAlias, XMacro,
)
from .scalar_table import Scalar

ARGS = Var(name=C.ARGS)
SCHEDULE = Var(name="schedule")
CHAR_PTR = ConstPtr(inner=NamedType(name="char"))


def _origin(t: TypeConfig, s: ScheduleConfig | None = None) -> str:
    return f"{t} / schedule {s.name}" if s is not None else str(t)


def _arg(field: str) -> Var:
    return Var(name=f"{C.ARGS}.{field}")


def _kind(d: Dt) -> EnumLit:
    return EnumLit(enum=C.SCALAR_KIND, member=C.scalar_kind(d))


def _tag(d: Dt) -> NamedType:
    return NamedType(name=C.cpp_tag(d))


def cute_shape(*dims: int) -> NamedType:
    return NamedType(name="cute::Shape", args=tuple(CuteInt(value=d) for d in dims))


# ---- impl files ------------------------------------------------------------------------------

def schedule_struct(s: ScheduleConfig) -> Struct:
    def alias(name: str, t: NamedType) -> UsingAlias:
        return UsingAlias(name=name, type=t)

    if s.is_decode:
        return Struct(
            name=names.schedule_struct(s),
            members=(
                alias("TileShapeNM", cute_shape(s.tile_n, s.tile_m)),
                alias("KernelSchedule", NamedType(name=C.DECODE_MAINLOOP_TEMPLATE,
                                                  args=(s.warps, s.stages, s.k_chunk))),
            ),
            origin=f"schedule {s.name}",
        )
    if s.is_promote:
        return Struct(
            name=names.schedule_struct(s),
            members=(
                alias("TileShapeNM", cute_shape(s.tile_n, s.tile_m)),
                alias("KernelSchedule", NamedType(name=C.PROMOTE_MAINLOOP_TEMPLATE, args=(s.stages,))),
            ),
            origin=f"schedule {s.name}",
        )
    return Struct(
        name=names.schedule_struct(s),
        members=(
            alias("TileShapeNM", cute_shape(s.tile_n, s.tile_m)),
            alias("ClusterShape", cute_shape(*s.cluster)),
            alias("KernelSchedule", NamedType(name=C.kernel_schedule_tag(s))),
            alias("EpilogueSchedule", NamedType(name=C.epilogue_schedule_tag(s))),
            alias("TileScheduler", NamedType(name=C.tile_scheduler_tag(s))),
            alias("EpilogueTileType", NamedType(name="cutlass::epilogue::collective::EpilogueTileAuto")),
        ),
        origin=f"schedule {s.name}",
    )


def types_alias(t: TypeConfig) -> UsingAlias:
    return UsingAlias(
        name=names.types_alias(t),
        type=NamedType(name=C.TYPE_CONFIG_TEMPLATE, args=tuple(_tag(d) for d in t.fields)),
        origin=_origin(t),
    )


def kernel_alias(t: TypeConfig) -> TemplateAlias:
    return TemplateAlias(
        name=names.kernel_alias(t),
        params=("Schedule",),
        type=NamedType(name=C.KERNEL_TEMPLATE,
                       args=(NamedType(name=names.types_alias(t)), NamedType(name="Schedule"))),
        origin=_origin(t),
    )


def entry_sig(t: TypeConfig, s: ScheduleConfig) -> FunctionSig:
    return FunctionSig(name=names.entry_point(t, s), ret=VOID, params=(C.MM_ARGS_PARAM,))


def kernel_instance(t: TypeConfig, s: ScheduleConfig) -> KernelInstance:
    kernel = NamedType(name=names.kernel_alias(t), args=(NamedType(name=names.schedule_struct(s)),))
    origin = _origin(t, s)
    return KernelInstance(
        instantiation=ExplicitInstantiation(
            type=NamedType(name=C.KERNEL_TEMPLATE,
                           args=(NamedType(name=names.types_alias(t)),
                                 NamedType(name=names.schedule_struct(s)))),
            origin=origin),
        entry=FunctionDef(sig=entry_sig(t, s),
                          body=(ExprStmt(expr=StaticCall(type=kernel, fn=C.KERNEL_RUN, args=(ARGS,))),),
                          origin=origin),
        tile_n=s.tile_n,
        tile_m=s.tile_m,
        family=s.kind.value,
        origin=origin,
    )


# ---- dispatch file ---------------------------------------------------------------------------

def entry_decl(t: TypeConfig, s: ScheduleConfig) -> ExternDecl:
    return ExternDecl(sig=entry_sig(t, s), origin=_origin(t, s))


def heuristic_sig(h: Heuristic) -> FunctionSig:
    return FunctionSig(name=names.heuristic_fn(h.name), ret=CHAR_PTR, static=True,
                       params=tuple(Param(type=C.INT64, name=v) for v in ("M", "N", "K")))


def heuristic_function(h: Heuristic) -> FunctionDef:
    """``static char const* heuristic_<h>(int64_t M, int64_t N, int64_t K)``: the rule chain."""
    *conditional, default = h.rules
    chain = IfChain(
        branches=tuple(Branch(cond=r.cond, body=(Return(value=StrLit(value=r.schedule.name)),))
                       for r in conditional),
        else_body=(Return(value=StrLit(value=default.schedule.name)),),
        role=f"heuristic:{h.name}",
    )
    return FunctionDef(sig=heuristic_sig(h), body=(chain,), origin=f"heuristic {h.name}")


def type_dispatch_sig(t: TypeConfig) -> FunctionSig:
    return FunctionSig(name=names.type_dispatch(t), ret=VOID, static=True,
                       params=(C.MM_ARGS_PARAM, C.SCHEDULE_PARAM))


def _heuristic_call(h: Heuristic) -> Call:
    return Call(fn=names.heuristic_fn(h.name), args=tuple(_arg(v) for v in ("M", "N", "K")))


def by_device(impl: ImplConfig, body: Callable[[Call], tuple]) -> tuple:
    """``body(heuristic call)`` for the default table, preceded by an if-chain over the per-GPU
    tables (``device_name_contains(args, "H200")``) when the type has any."""
    default = body(_heuristic_call(impl.heuristic))
    if not impl.device_heuristics:
        return default
    return (IfChain(branches=tuple(Branch(cond=OnDevice(args=Var(name=C.ARGS), text=d.device),
                                          body=body(_heuristic_call(d.heuristic)))
                                   for d in impl.device_heuristics),
                    else_body=default, role="device"),)


def type_dispatch(impl: ImplConfig) -> FunctionDef:
    """Per type: no schedule name -> the heuristic (per GPU); a name (or its alias) -> that entry point."""
    t = impl.types
    cases = []
    for s in impl.schedules:
        alias = schedule_alias(s.name)
        cases.append(NameCase(
            names=(s.name,) + ((alias,) if alias else ()),
            body=(ExprStmt(expr=Call(fn=names.entry_point(t, s), args=(ARGS,))), Return())))
    built = ", ".join(s.name for s in impl.schedules)
    body = (
        IfChain(branches=(Branch(cond=IsNull(var=SCHEDULE),
                                 body=by_device(impl, lambda call: (Assign(target=SCHEDULE, value=call),))),)),
        SelectByName(var=SCHEDULE, cases=tuple(cases), default=(
            Raise(exc="std::invalid_argument",
                  parts=("machete::mm: schedule '", SCHEDULE,
                         f"' is not built for type {t.signature}; built schedules: {built}")),)),
    )
    return FunctionDef(sig=type_dispatch_sig(t), body=body, origin=_origin(t))


def type_match(t: TypeConfig, prefix: str = f"{C.ARGS}.") -> Cond:
    """``args.a_type == ScalarKind::F16 && ...`` over the seven MMArgs type fields (``prefix``
    "" for a function taking the seven kinds as parameters of the same names)."""
    values = (t.a, t.b, t.b_group_scale, t.b_group_zeropoint, t.b_channel_scale,
              t.a_token_scale, t.out)
    return all_of(*(Cmp(lhs=Var(name=prefix + f), op=CmpOp.EQ, rhs=_kind(d))
                    for f, d in zip(C.MM_TYPE_FIELDS, values)))


def _no_type_error(fn: str, impls: Sequence[ImplConfig]) -> Raise:
    sigs = ", ".join(i.types.signature for i in impls)
    return Raise(exc="std::invalid_argument",
                 parts=(f"machete::{fn}: no kernel for this combination of types; implemented: {sigs}",))


def mm_dispatch(impls: Sequence[ImplConfig]) -> FunctionDef:
    chain = IfChain(
        branches=tuple(Branch(cond=type_match(i.types), body=(
            ExprStmt(expr=Call(fn=names.type_dispatch(i.types), args=(ARGS, SCHEDULE))), Return()))
            for i in impls),
        role="types")
    return FunctionDef(
        sig=FunctionSig(name=C.MM_DISPATCH_FN, ret=VOID, params=(C.MM_ARGS_PARAM, C.SCHEDULE_PARAM)),
        body=(chain, _no_type_error(C.MM_DISPATCH_FN, impls)), origin="mm_dispatch")


def heuristic_schedule(impls: Sequence[ImplConfig]) -> FunctionDef:
    chain = IfChain(
        branches=tuple(Branch(cond=type_match(i.types),
                              body=by_device(i, lambda call: (Return(value=call),))) for i in impls),
        role="types")
    return FunctionDef(
        sig=FunctionSig(name=C.HEURISTIC_SCHEDULE_FN, ret=C.STRING, params=(C.MM_ARGS_PARAM,)),
        body=(chain, _no_type_error(C.HEURISTIC_SCHEDULE_FN, impls)), origin="heuristic_schedule")


def supported_schedules(impls: Sequence[ImplConfig]) -> FunctionDef:
    """Names for a type (empty if none), from the kinds of the seven type fields."""
    params = tuple(Param(type=C.SCALAR_KIND_T, name=f) for f in C.MM_TYPE_FIELDS)
    chain = IfChain(
        branches=tuple(Branch(
            cond=type_match(i.types, prefix=""),
            body=(Return(value=InitList(items=tuple(StrLit(value=s.name) for s in i.schedules))),))
            for i in impls),
        role="types")
    return FunctionDef(
        sig=FunctionSig(name=C.SUPPORTED_SCHEDULES_FN, ret=C.STRING_VECTOR, params=params),
        body=(chain, Return(value=InitList(items=()))), origin="supported_schedules")


# ---- prepack file ----------------------------------------------------------------------------

def prepack_key(t: TypeConfig) -> tuple[Dt, int, Dt]:
    """Prepack variants are keyed on (a, bits(b), convert type) (SPEC §4)."""
    return (t.a, t.b.bits, t.convert_type)


def prepack_type(t: TypeConfig) -> NamedType:
    a, bits, convert = prepack_key(t)
    return NamedType(name=C.PREPACK_TEMPLATE, args=(_tag(a), bits, _tag(convert)))


def prepack_instantiation(t: TypeConfig) -> ExplicitInstantiation:
    return ExplicitInstantiation(type=prepack_type(t), origin=f"prepack for {t}")


def prepack_branch(t: TypeConfig) -> Branch:
    a, bits, convert = prepack_key(t)
    cond = all_of(
        Cmp(lhs=_arg("a_type"), op=CmpOp.EQ, rhs=_kind(a)),
        Cmp(lhs=Call(fn=C.SCALAR_BITS_FN, args=(_arg("b_type"),)), op=CmpOp.EQ, rhs=IntLit(value=bits)),
        Cmp(lhs=_arg("convert_type"), op=CmpOp.EQ, rhs=_kind(convert)),
    )
    return Branch(cond=cond, body=(ExprStmt(expr=StaticCall(type=prepack_type(t), fn=C.KERNEL_RUN,
                                                             args=(ARGS,))), Return()))


def prepack_dispatch(impls: Sequence[ImplConfig]) -> FunctionDef:
    keys = ", ".join(dict.fromkeys(
        f"({a.value}, {bits}-bit, {c.value})" for a, bits, c in (prepack_key(i.types) for i in impls)))
    return FunctionDef(
        sig=FunctionSig(name=C.PREPACK_DISPATCH_FN, ret=VOID, params=(C.PREPACK_ARGS_PARAM,)),
        body=(IfChain(branches=tuple(prepack_branch(i.types) for i in impls), role="prepack"),
              Raise(exc="std::invalid_argument",
                    parts=(f"machete::prepack_B: no prepack variant for these types; implemented "
                           f"(a, bits(b), convert): {keys}",))),
        origin="prepack_B_dispatch")


# ---- the scalar header (csrc/machete/scalar_kind.h), from the scalar table -------------------

SCALAR_K = Var(name="k")


def _kind_of(row: Scalar) -> EnumLit:
    return EnumLit(enum=C.SCALAR_KIND, member=row.kind)


def _kind_param() -> tuple[Param, ...]:
    return (Param(type=C.SCALAR_KIND_T, name=SCALAR_K.name),)


def _cases_by_value(rows: Sequence[Scalar], value: Callable[[Scalar], int]) -> tuple[SwitchCase, ...]:
    """One case per distinct non-zero value (ascending), its kinds in table order."""
    groups: dict[int, list[Scalar]] = {}
    for r in rows:
        if value(r):
            groups.setdefault(value(r), []).append(r)
    return tuple(SwitchCase(labels=tuple(_kind_of(r) for r in groups[v]), body=(Return(value=IntLit(value=v)),))
                 for v in sorted(groups))


def scalar_kind_enum(rows: Sequence[Scalar]) -> EnumDef:
    """``enum class ScalarKind : int32_t``: one enumerator per row, its value the row's kind_id."""
    return EnumDef(name=C.SCALAR_KIND, underlying=NamedType(name="int32_t"),
                   members=tuple(Enumerator(name=r.kind, value=r.kind_id, comment=r.note) for r in rows),
                   origin="scalar table")


def scalar_bits_function(rows: Sequence[Scalar]) -> FunctionDef:
    """``constexpr int scalar_bits(ScalarKind k)``: storage bits, 0 for Void."""
    return FunctionDef(
        sig=FunctionSig(name=C.SCALAR_BITS_FN, ret=NamedType(name="int"), params=_kind_param(), constexpr=True),
        body=(Switch(value=SCALAR_K, cases=_cases_by_value(rows, lambda r: r.bits),
                     default=(Return(value=IntLit(value=0)),)),), origin="scalar table")


def scalar_bias_flip_function(rows: Sequence[Scalar]) -> FunctionDef:
    """``constexpr uint32_t scalar_bias_flip(ScalarKind k)``: the xor mask prepack applies to every
    stored value (a biased type's bias, 2^(bits-1)), 0 for every other kind."""
    return FunctionDef(
        sig=FunctionSig(name=C.SCALAR_BIAS_FLIP_FN, ret=NamedType(name="uint32_t"), params=_kind_param(),
                        constexpr=True),
        body=(Switch(value=SCALAR_K, cases=_cases_by_value(rows, lambda r: r.bias_flip),
                     default=(Return(value=IntLit(value=0)),)),), origin="scalar table")


def scalar_kind_of_b_type_id_function(rows: Sequence[Scalar]) -> FunctionDef:
    """``constexpr ScalarKind scalar_kind_of_b_type_id(int64_t id)``: the kind of a b_type's SPEC §5
    id (machete.scalar_types), Void for any other id."""
    cases = tuple(SwitchCase(labels=(IntLit(value=r.type_id),), body=(Return(value=_kind_of(r)),),
                             comment=f"{r.type_name} = {r.type_id:#x}")
                  for r in rows if r.b_type)
    return FunctionDef(
        sig=FunctionSig(name=C.SCALAR_KIND_OF_B_TYPE_ID_FN, ret=C.SCALAR_KIND_T,
                        params=(Param(type=NamedType(name="int64_t"), name="id"),), constexpr=True),
        body=(Switch(value=Var(name="id"), cases=cases,
                     default=(Return(value=_kind_of(next(r for r in rows if r.short == "void"))),)),),
        origin="scalar table")


def torch_dtype_kinds_macro(rows: Sequence[Scalar]) -> XMacro:
    """``X(c10 ScalarType enumerator, ScalarKind enumerator)`` for every kind with a torch dtype
    (the binding's dtype switch; this header includes no torch)."""
    return XMacro(name=C.TORCH_DTYPE_KINDS_MACRO, rows=tuple((r.at_dtype, r.kind) for r in rows if r.at_dtype),
                  origin="scalar table")
