"""Scalar types of the quantized operand B and their integer ids (SPEC section 5).

An id packs the fields of a :class:`ScalarType`, least significant field first::

    exponent (8 bits) | mantissa (8) | signed (1) | bias (32) | finite-values-only (1) | nan-repr (8)

Integer types have exponent 0 and mantissa = number of value bits (``bits`` if unsigned,
``bits - 1`` if signed). The ``b_type`` argument of the ops accepts either a
:class:`ScalarType` or its integer id.

The known types (``ALL``) are the ``b_type`` rows of ``machete/_scalar_table.py``, the one table
of scalar facts; the id layout lives there too.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from typing import Union

from . import _scalar_table as _table

__all__ = [
    "NanRepr",
    "ScalarType",
    "ScalarTypeLike",
    "uint4b8",
    "uint8b128",
    "uint4",
    "uint8",
    "int4",
    "int8",
    "ALL",
    "from_id",
    "as_scalar_type",
]


class NanRepr(enum.IntEnum):
    NONE = 0
    IEEE_754 = 1
    EXTD_RANGE_MAX_MIN = 2


# (name, width in bits) of each field, LSB first.
_FIELDS = _table.ID_FIELDS


@dataclasses.dataclass(frozen=True)
class ScalarType:
    exponent: int
    mantissa: int
    signed: bool
    bias: int = 0
    finite_values_only: bool = False
    nan_repr: NanRepr = NanRepr.IEEE_754

    def __post_init__(self) -> None:
        for name, width in _FIELDS:
            value = int(getattr(self, name))
            if name == "bias":
                if not -(1 << 31) <= value < (1 << 31):
                    raise ValueError(f"ScalarType: bias {value} does not fit in 32 bits")
            elif not 0 <= value < (1 << width):
                raise ValueError(f"ScalarType: {name}={value} does not fit in {width} bits")

    # ---- derived properties -------------------------------------------------------------
    @functools.cached_property
    def id(self) -> int:
        """The integer id (SPEC section 5 encoding), computed from the fields."""
        return _table.encode_type_id(self.exponent, self.mantissa, self.signed, self.bias,
                                     self.finite_values_only, int(self.nan_repr))

    @property
    def size_bits(self) -> int:
        return self.exponent + self.mantissa + int(self.signed)

    @property
    def is_signed(self) -> bool:
        return bool(self.signed)

    @property
    def is_integer(self) -> bool:
        return self.exponent == 0

    @property
    def is_floating_point(self) -> bool:
        return self.exponent != 0

    @property
    def has_bias(self) -> bool:
        return self.bias != 0

    @property
    def name(self) -> str:
        if self.is_integer:
            return _table.integer_type_name(self.size_bits, bool(self.signed), self.bias)
        base = f"float{self.size_bits}_e{self.exponent}m{self.mantissa}"
        if self.finite_values_only:
            base += "f"
        if self.nan_repr == NanRepr.NONE:
            base += "n"
        return base

    @functools.cached_property
    def short_name(self) -> str:
        """The generator's short name (``u4b8``, ``u8b128``, ``u4``, ``u8``, ``s4``, ``s8``)."""
        if not self.is_integer:
            raise ValueError(f"{self.name} has no short name")
        base = f"{'s' if self.signed else 'u'}{self.size_bits}"
        return base + (f"b{self.bias}" if self.bias else "")

    # Range of the stored bit pattern (always non-negative) and of the represented value.
    @property
    def storage_min(self) -> int:
        return 0

    @property
    def storage_max(self) -> int:
        return (1 << self.size_bits) - 1

    @property
    def min_value(self) -> int:
        if not self.is_integer:
            raise ValueError(f"min_value is only defined for integer types, not {self.name}")
        low = -(1 << (self.size_bits - 1)) if self.signed else 0
        return low - self.bias

    @property
    def max_value(self) -> int:
        if not self.is_integer:
            raise ValueError(f"max_value is only defined for integer types, not {self.name}")
        high = (1 << (self.size_bits - 1)) - 1 if self.signed else (1 << self.size_bits) - 1
        return high - self.bias

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"ScalarType({self.name}, id={self.id:#x})"

    # ---- constructors -------------------------------------------------------------------
    @classmethod
    def int_(cls, size_bits: int, bias: int = 0) -> "ScalarType":
        return cls(0, size_bits - 1, True, bias)

    @classmethod
    def uint(cls, size_bits: int, bias: int = 0) -> "ScalarType":
        return cls(0, size_bits, False, bias)


def _from_row(row: _table.Scalar) -> ScalarType:
    return (ScalarType.int_ if row.signed else ScalarType.uint)(row.bits, row.bias)


# Every b_type row of the table, in its order (uint4b8, uint8b128, uint4, uint8, int4, int8).
ALL = tuple(_from_row(r) for r in _table.B_TYPES)
_BY_ID = {t.id: t for t in ALL}
_BY_NAME = {t.name: t for t in ALL}

# Named constants (a new table row is reachable through from_id / from_name without one).
uint4b8 = _BY_NAME["uint4b8"]  # GPTQ 4-bit: stores x + 8, value range -8..7
uint8b128 = _BY_NAME["uint8b128"]  # GPTQ 8-bit: stores x + 128
uint4 = _BY_NAME["uint4"]  # AWQ 4-bit (zero points passed as group zeros)
uint8 = _BY_NAME["uint8"]  # AWQ 8-bit
int4 = _BY_NAME["int4"]
int8 = _BY_NAME["int8"]

ScalarTypeLike = Union[ScalarType, int]


def from_id(type_id: int) -> ScalarType:
    """The known scalar type with this id; ValueError for anything else."""
    if isinstance(type_id, bool) or not isinstance(type_id, int):
        raise TypeError(f"scalar type id must be an int, got {type(type_id).__name__}")
    try:
        return _BY_ID[type_id]
    except KeyError:
        known = ", ".join(f"{t.name}={t.id:#x}" for t in ALL)
        raise ValueError(f"unknown scalar type id {type_id:#x} (known: {known})") from None


def from_name(name: str) -> ScalarType:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown scalar type name {name!r} (known: {', '.join(_BY_NAME)})") from None


def as_scalar_type(value: ScalarTypeLike, arg: str = "b_type") -> ScalarType:
    """Accept a ScalarType or its integer id (errors name the argument)."""
    if isinstance(value, ScalarType):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{arg} must be a machete.scalar_types.ScalarType or its integer id, "
            f"got {type(value).__name__}"
        )
    try:
        return from_id(value)
    except ValueError as e:
        raise ValueError(f"{arg}: {e}") from None
