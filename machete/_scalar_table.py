"""The one table of scalar-type facts (issue 8, "Layers"): every element type machete knows, with
its SPEC short name, its C++ ``machete::ScalarKind`` enumerator and value, storage bits, sign,
bias, whether it takes zero points, its torch dtype and whether it is a ``b_type`` with a SPEC §5
id. Everything else derives from these rows:

* runtime: ``machete.scalar_types`` (the ``ScalarType`` constants, ids), ``machete._model`` (torch
  dtype <-> short name), ``machete.prepack_layout`` (bits and bias flip per id),
  ``machete.reference`` (which types take zero points);
* generator: ``machete_ir.scalar_table`` loads this file; ``machete_ir.model`` (``Dt.bits``,
  ``Dt.cutlass``, the zero-point and bias checks), ``machete_ir.cpp_contract`` (``SCALAR_KINDS``,
  the biased types' element tags);
* C++: ``csrc/machete/scalar_kind.h`` is printed from it (``python generate_machete.py
  --scalar-header csrc/machete/scalar_kind.h``; ``tests/test_scalar_table.py`` fails when the
  checked-in header is stale): ``enum class ScalarKind``, ``scalar_bits``, ``scalar_bias_flip``,
  ``scalar_kind_of_b_type_id`` and the torch-dtype X-macro the binding switches on;
* ``benchmarks/bench_mm.py`` (bits and bias of a benchmarked type).

Standard library only and no imports from the package: the generator and the benchmark load this
file by path (``importlib``), without importing ``machete`` (whose ``__init__`` imports torch).
``tests/test_scalar_table.py`` checks that.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

# Layout of a SPEC §5 scalar-type id: (field, width in bits), least significant first.
ID_FIELDS = (
    ("exponent", 8),
    ("mantissa", 8),
    ("signed", 1),
    ("bias", 32),
    ("finite_values_only", 1),
    ("nan_repr", 8),
)
NAN_REPR_IEEE_754 = 1  # the default nan_repr of a ScalarType (machete.scalar_types.NanRepr)


def encode_type_id(exponent: int, mantissa: int, signed: bool, bias: int = 0,
                   finite_values_only: bool = False, nan_repr: int = NAN_REPR_IEEE_754) -> int:
    """The SPEC §5 id of a scalar type: its fields packed LSB first (bias in two's complement)."""
    values = dict(exponent=exponent, mantissa=mantissa, signed=signed, bias=bias,
                  finite_values_only=finite_values_only, nan_repr=nan_repr)
    result, offset = 0, 0
    for name, width in ID_FIELDS:
        result |= (int(values[name]) & ((1 << width) - 1)) << offset
        offset += width
    return result


def integer_type_name(bits: int, signed: bool, bias: int = 0) -> str:
    """``uint4b8``, ``int8``, ...: the ScalarType name of an integer type."""
    return f"{'int' if signed else 'uint'}{bits}" + (f"b{bias}" if bias else "")


class Scalar(NamedTuple):
    """One element type. Rows are in ``kind_id`` order; ``kind_id`` is ABI (prebuilt kernel
    objects read ``ScalarKind`` values): never renumber a row, append new ones."""

    short: str                  # SPEC short name (type signatures, build manifest): "u4b8"
    kind: str                   # the machete::ScalarKind enumerator: "U4B8"
    kind_id: int                # its value
    bits: int                   # storage bits of one element (0: void)
    is_float: bool = False
    signed: bool = False        # two's complement storage (integers), sign bit (floats)
    bias: int = 0               # stored = value + bias (GPTQ); prepack flips it away (see bias_flip)
    zero_points: bool = False   # quantized with integer zero points (AWQ): takes group zeros
    b_type: bool = False        # a weight type mm/prepack_B accept by ScalarType or SPEC §5 id
    torch_dtype: Optional[str] = None  # torch.<torch_dtype>, for activations, scales and outputs
    at_dtype: Optional[str] = None     # the same dtype's c10::ScalarType enumerator (binding switch)
    note: str = ""              # said next to the enumerator in scalar_kind.h

    @property
    def is_integer(self) -> bool:
        return not self.is_float and self.bits > 0

    @property
    def mantissa(self) -> int:
        """The ScalarType mantissa of an integer type: its value bits."""
        return self.bits - int(self.signed)

    @property
    def type_name(self) -> str:
        """The ScalarType name of a b_type (``uint4b8``); ValueError for other rows."""
        if not self.b_type:
            raise ValueError(f"{self.short} is not a b_type")
        return integer_type_name(self.bits, self.signed, self.bias)

    @property
    def type_id(self) -> int:
        """The SPEC §5 id of a b_type; ValueError for other rows."""
        if not self.b_type:
            raise ValueError(f"{self.short} is not a b_type")
        return encode_type_id(0, self.mantissa, self.signed, self.bias)

    @property
    def bias_flip(self) -> int:
        """The xor mask prepack applies to every stored value: the bias of a biased type (stored
        x + 2^(bits-1), so (x + 2^(bits-1)) ^ 2^(bits-1) is x in two's complement), else 0."""
        return self.bias


SCALARS: tuple[Scalar, ...] = (
    Scalar("void", "Void", 0, 0, note="an absent operand"),
    Scalar("f16", "F16", 1, 16, is_float=True, signed=True, torch_dtype="float16", at_dtype="Half"),
    Scalar("bf16", "BF16", 2, 16, is_float=True, signed=True, torch_dtype="bfloat16", at_dtype="BFloat16"),
    Scalar("f32", "F32", 3, 32, is_float=True, signed=True, torch_dtype="float32", at_dtype="Float"),
    Scalar("s32", "S32", 4, 32, signed=True, torch_dtype="int32", at_dtype="Int"),
    Scalar("s8", "S8", 5, 8, signed=True, b_type=True, torch_dtype="int8", at_dtype="Char"),
    Scalar("e4m3", "E4M3", 6, 8, is_float=True, signed=True, torch_dtype="float8_e4m3fn",
           at_dtype="Float8_e4m3fn"),
    Scalar("u4b8", "U4B8", 7, 4, bias=8, b_type=True, note="GPTQ 4-bit, stored x + 8"),
    Scalar("u8b128", "U8B128", 8, 8, bias=128, b_type=True, note="GPTQ 8-bit, stored x + 128"),
    Scalar("u4", "U4", 9, 4, zero_points=True, b_type=True, note="AWQ 4-bit (zero points in group_zeros)"),
    Scalar("u8", "U8", 10, 8, zero_points=True, b_type=True, note="AWQ 8-bit"),
    Scalar("s4", "S4", 11, 4, signed=True, b_type=True),
)


def _check(rows: tuple[Scalar, ...]) -> None:
    """The table's own rules; a bad row fails at import, naming it."""
    for i, r in enumerate(rows):
        if r.kind_id != i:
            raise ValueError(f"scalar table: {r.short} has kind_id {r.kind_id}, expected {i} "
                             f"(ScalarKind values are ABI: append rows, never renumber)")
        if not (r.short.isidentifier() and r.kind.isidentifier()):
            raise ValueError(f"scalar table: {r.short}: short name and kind must be identifiers")
        if r.bias and not (r.is_integer and not r.signed and r.bias == 1 << (r.bits - 1)):
            raise ValueError(f"scalar table: {r.short}: a bias must be 2^(bits-1) on an unsigned "
                             f"integer (prepack flips it to two's complement), got {r.bias}")
        if r.zero_points and not (r.is_integer and not r.signed and not r.bias):
            raise ValueError(f"scalar table: {r.short}: zero points need an unbiased unsigned integer")
        if r.b_type and not (r.is_integer and r.bits in (4, 8)):
            raise ValueError(f"scalar table: {r.short}: a b_type is a 4- or 8-bit integer")
        if (r.torch_dtype is None) != (r.at_dtype is None):
            raise ValueError(f"scalar table: {r.short}: torch_dtype and at_dtype go together")
        if r.is_integer and r.b_type and r.short != ("s" if r.signed else "u") + str(r.bits) + (
                f"b{r.bias}" if r.bias else ""):
            raise ValueError(f"scalar table: {r.short}: a b_type's short name is s|u<bits>[b<bias>]")
    for field in ("short", "kind"):
        seen = [getattr(r, field) for r in rows]
        dupes = sorted({x for x in seen if seen.count(x) > 1})
        if dupes:
            raise ValueError(f"scalar table: duplicate {field} {', '.join(dupes)}")


_check(SCALARS)
BY_SHORT = {r.short: r for r in SCALARS}
# The b_types in the order machete.scalar_types.ALL lists them: unsigned before signed, biased
# before plain, narrow before wide (uint4b8, uint8b128, uint4, uint8, int4, int8).
B_TYPES = tuple(sorted((r for r in SCALARS if r.b_type), key=lambda r: (r.signed, not r.bias, r.bits)))
