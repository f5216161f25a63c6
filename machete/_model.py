"""Type configurations and schedules, as the runtime sees them.

Answers come from the build manifest (``machete/_build_manifest.json``, see ``_manifest.py``):
the types, schedules and heuristic rules of exactly what was built, written by the generator, so
the runtime and the generated kernels agree by construction and the runtime needs neither the
generator (``machete_ir``) nor ``cutlass_library``.

Everything here speaks the SPEC short names (``f16``, ``u4b8``, ``void``, ...); the mapping
from torch dtypes and :class:`~machete.scalar_types.ScalarType` lives in :func:`short_name`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional, Sequence, Tuple

import torch

from . import _manifest, _scalar_table
from .scalar_types import ScalarType

VOID = "void"

# torch dtype -> short name, from the table's torch_dtype column (f16, bf16, f32, s32, s8, e4m3)
_DTYPE_SHORT = {getattr(torch, r.torch_dtype): r.short for r in _scalar_table.SCALARS if r.torch_dtype}
_SHORT_DTYPE = {v: k for k, v in _DTYPE_SHORT.items()}



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
    """Accept the older single-underscore spelling and return the canonical one (names that are
    not schedule names at all pass through, for the caller's "unknown schedule" error)."""
    return _manifest.normalize_schedule_name(name)


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
        self.matching = {}  # sorted (field, value) pairs -> configs with those fields, filled on first use


class _Backend:
    source = "?"

    @functools.cached_property
    def index(self) -> Index:
        return Index(self.type_configs())


class _Manifest(_Backend):
    """The build manifest (types, schedules in dispatch order, heuristic rules as data)."""

    source = "manifest"

    def __init__(self, data: dict) -> None:
        self.data = data
        self._types = {}
        for t in data["types"]:
            key = TypeKey(*(t[f] for f in TypeKey._fields))
            self._types[key] = t
        self._heuristics = data["heuristics"]

    def type_configs(self) -> Tuple[TypeKey, ...]:
        return tuple(self._types)

    def schedules_for(self, key: TypeKey) -> Tuple[str, ...]:
        t = self._types.get(key)
        return () if t is None else tuple(t["schedules"])

    def table_for(self, key: TypeKey, device_name: Optional[str] = None) -> str:
        """The name of the heuristic table the dispatch uses for this type on a device of this name:
        the first per-GPU table whose pattern the name contains, else the type's default."""
        t = self._types[key]
        for d in t.get("device_heuristics", ()):
            if device_name and d["device"] in device_name:
                return d["heuristic"]
        return t["heuristic"]

    def select_schedule(self, key: TypeKey, M: int, N: int, K: int, device_name: Optional[str] = None) -> str:
        return _manifest.select(self._heuristics[self.table_for(key, device_name)], M, N, K)


class _Generator(_Backend):
    """Adapter over machete_ir.model (TYPE_CONFIGS, schedules_for, select_schedule, Dt); for tests
    and tools that compare the runtime with the generator (the runtime itself never uses it)."""

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
        return tuple(s.name for s in self.m.schedules_for(tc))

    def select_schedule(self, key: TypeKey, M: int, N: int, K: int, device_name: Optional[str] = None) -> str:
        tc = self._by_key[key]
        return self.m.select_schedule(tc, M, N, K, device_name=device_name).name


@functools.lru_cache(maxsize=None)
def backend():
    """The build manifest this package carries (``$MACHETE_BUILD_MANIFEST`` overrides)."""
    return _Manifest(_manifest.load())


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


def select_schedule(key: TypeKey, M: int, N: int, K: int, device_name: Optional[str] = None) -> str:
    """The schedule the dispatch picks on a device of this name (None: the default table)."""
    return backend().select_schedule(key, M, N, K, device_name)


def configs_matching(**fields: str) -> Sequence[TypeKey]:
    """The type configurations with these field values (cached per backend: mm validates per call)."""
    cache = index().matching
    key = tuple(sorted(fields.items()))
    try:
        return cache[key]
    except KeyError:
        cache[key] = result = tuple(k for k in type_configs() if all(getattr(k, f) == v for f, v in fields.items()))
        return result
