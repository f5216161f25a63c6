import dataclasses

import pytest

from machete import scalar_types as st

KNOWN_IDS = {
    "uint4b8": 0x4000000100400,
    "uint8b128": 0x4000001000800,
    "uint4": 0x4000000000400,
    "uint8": 0x4000000000800,
    "int4": 0x4000000010300,
    "int8": 0x4000000010700,
}


@pytest.mark.parametrize("name", sorted(KNOWN_IDS))
def test_computed_id_equals_known_constant(name):
    t = getattr(st, name)
    assert t.id == KNOWN_IDS[name]
    assert t.name == name
    assert st.from_id(KNOWN_IDS[name]) is t


def test_id_is_computed_from_fields_not_tabled():
    # A type not in the registry still gets an id from its fields (LSB-first layout).
    t = st.ScalarType(exponent=5, mantissa=10, signed=True, bias=3, finite_values_only=True,
                      nan_repr=st.NanRepr.EXTD_RANGE_MAX_MIN)
    expected = 5 | (10 << 8) | (1 << 16) | (3 << 17) | (1 << 49) | (2 << 50)
    assert t.id == expected
    # Changing any single field changes the id.
    for field, value in (("exponent", 4), ("mantissa", 9), ("signed", False), ("bias", 4),
                         ("finite_values_only", False), ("nan_repr", st.NanRepr.NONE)):
        assert dataclasses.replace(t, **{field: value}).id != expected, field


@pytest.mark.parametrize(
    "t, bits, bias, signed, lo, hi, short",
    [
        (st.uint4b8, 4, 8, False, -8, 7, "u4b8"),
        (st.uint8b128, 8, 128, False, -128, 127, "u8b128"),
        (st.uint4, 4, 0, False, 0, 15, "u4"),
        (st.uint8, 8, 0, False, 0, 255, "u8"),
        (st.int4, 4, 0, True, -8, 7, "s4"),
        (st.int8, 8, 0, True, -128, 127, "s8"),
    ],
)
def test_properties(t, bits, bias, signed, lo, hi, short):
    assert t.size_bits == bits
    assert t.bias == bias
    assert t.is_signed is signed
    assert (t.min_value, t.max_value) == (lo, hi)
    assert t.short_name == short
    assert t.is_integer


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.uint4b8.bias = 0


def test_from_id_unknown():
    with pytest.raises(ValueError, match=r"unknown scalar type id 0x1234.*uint4b8=0x4000000100400"):
        st.from_id(0x1234)
    with pytest.raises(TypeError, match="must be an int"):
        st.from_id("uint4b8")


def test_as_scalar_type_accepts_object_or_id():
    assert st.as_scalar_type(st.uint4) is st.uint4
    assert st.as_scalar_type(st.uint4.id) is st.uint4
    with pytest.raises(ValueError, match=r"^b_type: unknown scalar type id"):
        st.as_scalar_type(7)
    with pytest.raises(TypeError, match=r"^b_type must be a machete.scalar_types.ScalarType"):
        st.as_scalar_type(4.0)
    with pytest.raises(TypeError):
        st.as_scalar_type(True)


def test_field_range_checked():
    with pytest.raises(ValueError, match="mantissa"):
        st.ScalarType(0, 256, False)
    with pytest.raises(ValueError, match="bias"):
        st.ScalarType(0, 4, False, 1 << 31)


def test_ids_unique_and_hashable():
    assert len({t.id for t in st.ALL}) == len(st.ALL)
    assert len(set(st.ALL)) == len(st.ALL)
    assert st.from_name("uint8b128") is st.uint8b128
