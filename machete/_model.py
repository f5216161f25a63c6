"""Type configurations and schedules, as the runtime sees them.

Answers come from the generator's model (``machete_ir.model``) when it is importable, so the
runtime and the generated kernels agree by construction. Without it (an installed package that
does not ship the generator) a built-in copy of SPEC sections 2 and 3 is used;
tests/test_ops_validation.py checks the two agree whenever the generator model is present.

Everything here speaks the SPEC short names (``f16``, ``u4b8``, ``void``, ...); the mapping
from torch dtypes and :class:`~machete.scalar_types.ScalarType` lives in :func:`short_name`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional, Sequence, Tuple

import torch

from .scalar_types import ScalarType

VOID = "void"

_DTYPE_SHORT = {
    torch.float16: "f16",
    torch.bfloat16: "bf16",
    torch.float32: "f32",
    torch.int32: "s32",
    torch.int8: "s8",
    torch.float8_e4m3fn: "e4m3",
}
_SHORT_DTYPE = {v: k for k, v in _DTYPE_SHORT.items()}

CANONICAL_SUFFIX = "_TmaMI__TmaCoop_streamK"
ALIAS_SUFFIX = "_TmaMI_TmaCoop_streamK"


def short_name(t) -> str:
    """torch dtype / ScalarType / None -> SPEC short name."""
    if t is None:
        return VOID
    if isinstance(t, ScalarType):
        return t.short_name
    if isinstance(t, torch.dtype):
        try:
            return _DTYPE_SHORT[t]
        except KeyError:
            raise TypeError(f"dtype {t} is not an element type machete knows") from None
    raise TypeError(f"expected a torch.dtype or ScalarType, got {type(t).__name__}")


def torch_dtype(short: str) -> Optional[torch.dtype]:
    return _SHORT_DTYPE.get(short)


class TypeKey(NamedTuple):
    a: str
    b: str
    b_group_scale: str
    b_group_zeropoint: str
    b_channel_scale: str
    a_token_scale: str
    out: str
    accumulator: str

    @property
    def signature(self) -> str:
        return "".join(self)


def normalize_schedule_name(name: str) -> str:
    """Accept the older single-underscore spelling and return the canonical one."""
    if name.endswith(ALIAS_SUFFIX) and not name.endswith(CANONICAL_SUFFIX):
        return name[: -len(ALIAS_SUFFIX)] + CANONICAL_SUFFIX
    return name


# ---- the built-in copy of SPEC sections 2 and 3 -----------------------------------------------

def _fallback_type_configs() -> Tuple[TypeKey, ...]:
    out = []
    for b in ("u4b8", "u8b128", "u4", "u8"):
        for a in ("f16", "bf16"):
            zero = a if b in ("u4", "u8") else VOID
            out.append(TypeKey(a, b, a, zero, VOID, VOID, a, "f32"))
    return tuple(out)


# (condition on M, N, K) -> (tile N, tile M, cluster). Rules tried in order, first match wins.
# Note `4069` (not 4096) is what the reference heuristic says; kept on purpose (SPEC section 3).
_FALLBACK_RULES = (
    (lambda M, N, K: M > 256 and K <= 16384 and N <= 4096, (128, 128), (2, 1, 1)),
    (lambda M, N, K: M > 256, (128, 256), (2, 1, 1)),
    (lambda M, N, K: M > 128 and K <= 4096 and N <= 4096, (128, 64), (2, 1, 1)),
    (lambda M, N, K: M > 128 and K <= 8192 and N <= 8192, (128, 128), (2, 1, 1)),
    (lambda M, N, K: M > 128, (128, 256), (2, 1, 1)),
    (lambda M, N, K: M > 64 and K <= 4069 and N <= 4069, (128, 32), (2, 1, 1)),
    (lambda M, N, K: M > 64 and K <= 4069 and N <= 8192, (128, 64), (2, 1, 1)),
    (lambda M, N, K: M > 64 and K >= 8192 and N >= 12288, (256, 128), (2, 1, 1)),
    (lambda M, N, K: M > 64, (128, 128), (2, 1, 1)),
    (lambda M, N, K: M > 32 and K <= 6144 and N <= 6144, (128, 16), (1, 1, 1)),
    (lambda M, N, K: M > 32 and K >= 16384 and N >= 12288, (256, 64), (2, 1, 1)),
    (lambda M, N, K: M > 32, (128, 64), (2, 1, 1)),
    (lambda M, N, K: M > 16 and K <= 12288 and N <= 8192, (128, 32), (2, 1, 1)),
    (lambda M, N, K: M > 16, (256, 32), (2, 1, 1)),
    (lambda M, N, K: N >= 26624, (256, 16), (1, 1, 1)),
    (lambda M, N, K: True, (128, 16), (1, 1, 1)),
)


def _schedule_name(tile, cluster) -> str:
    return f"{tile[0]}x{tile[1]}_{cluster[0]}x{cluster[1]}x{cluster[2]}{CANONICAL_SUFFIX}"


def _fallback_schedules() -> Tuple[str, ...]:
    seen = []
    for _, tile, cluster in _FALLBACK_RULES:
        name = _schedule_name(tile, cluster)
        if name not in seen:
            seen.append(name)
    return tuple(seen)


class Index:
    """Lookup tables over one backend's type configurations (built once: mm validates per call)."""

    def __init__(self, configs: Sequence[TypeKey]) -> None:
        self.configs = tuple(configs)
        self.a_types = frozenset(k.a for k in self.configs)
        self.b_types = frozenset(k.b for k in self.configs)
        self.zero_b_types = frozenset(k.b for k in self.configs if k.b_group_zeropoint != VOID)
        self.channel_scale_types = frozenset(k.b_channel_scale for k in self.configs) - {VOID}
        self.token_scale_types = frozenset(k.a_token_scale for k in self.configs) - {VOID}
        self.by_fields = {tuple(k[:7]): k for k in self.configs}
        self.schedules = {}  # TypeKey -> tuple of names, filled on first use


class _Backend:
    source = "?"

    @functools.cached_property
    def index(self) -> Index:
        return Index(self.type_configs())


class _Fallback(_Backend):
    source = "builtin"

    def type_configs(self) -> Tuple[TypeKey, ...]:
        return _fallback_type_configs()

    def schedules_for(self, key: TypeKey) -> Tuple[str, ...]:
        return _fallback_schedules() if key in _fallback_type_configs() else ()

    def select_schedule(self, key: TypeKey, M: int, N: int, K: int) -> str:
        for cond, tile, cluster in _FALLBACK_RULES:
            if cond(M, N, K):
                return _schedule_name(tile, cluster)
        raise AssertionError("unreachable: the last rule has no condition")


class _Generator(_Backend):
    """Adapter over machete_ir.model (TYPE_CONFIGS, schedules_for, select_schedule, Dt)."""

    source = "machete_ir.model"

    def __init__(self, model) -> None:
        self.m = model
        self._by_key = {}
        for tc in model.TYPE_CONFIGS:
            key = TypeKey(*(self._short(getattr(tc, f)) for f in TypeKey._fields))
            self._by_key[key] = tc

    @staticmethod
    def _short(dt) -> str:
        name = getattr(dt, "name", dt)
        return str(name)

    def type_configs(self) -> Tuple[TypeKey, ...]:
        return tuple(self._by_key)

    def schedules_for(self, key: TypeKey) -> Tuple[str, ...]:
        tc = self._by_key.get(key)
        if tc is None:
            return ()
        return tuple(normalize_schedule_name(s.name) for s in self.m.schedules_for(tc))

    def select_schedule(self, key: TypeKey, M: int, N: int, K: int) -> str:
        tc = self._by_key[key]
        return normalize_schedule_name(self.m.select_schedule(tc, M, N, K).name)


@functools.lru_cache(maxsize=None)
def backend():
    try:
        from machete_ir import model  # noqa: WPS433 (optional dependency)
    except ImportError:
        return _Fallback()
    if not all(hasattr(model, n) for n in ("TYPE_CONFIGS", "schedules_for", "select_schedule")):
        return _Fallback()
    return _Generator(model)


# ---- queries used by machete.ops ---------------------------------------------------------------

def index() -> Index:
    return backend().index


def type_configs() -> Tuple[TypeKey, ...]:
    return index().configs


def find_type_config(a, b, group_scale, group_zero, channel_scale, token_scale, out) -> Optional[TypeKey]:
    """Match on every field but the accumulator (all short names)."""
    return index().by_fields.get((a, b, group_scale, group_zero, channel_scale, token_scale, out))


def schedules_for(key: TypeKey) -> Tuple[str, ...]:
    cache = index().schedules
    try:
        return cache[key]
    except KeyError:
        cache[key] = result = tuple(backend().schedules_for(key))
        return result


def select_schedule(key: TypeKey, M: int, N: int, K: int) -> str:
    return backend().select_schedule(key, M, N, K)


def configs_matching(**fields: str) -> Sequence[TypeKey]:
    return [k for k in type_configs() if all(getattr(k, f) == v for f, v in fields.items())]
