"""The one table of scalar facts (machete/_scalar_table.py, issue 8 "Layers") and what derives
from it: the checked-in C++ header csrc/machete/scalar_kind.h (stale -> this fails), the
generator's Dt / cpp_contract, and the runtime's scalar types, dtype names and prepack flips."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import generate_machete
from machete_gen_pipeline import scalar_header
from machete_ir import cpp_contract as C
from machete_ir import model as M
from machete_ir import scalar_table as T

ROOT = Path(__file__).resolve().parent.parent
HEADER = ROOT / "csrc" / C.SCALAR_KIND_HEADER
TABLE_FILE = ROOT / "machete" / "_scalar_table.py"

# The ScalarKind values are ABI (prebuilt kernel objects read them): pinned here on purpose,
# independently of the table. A new row appends; an existing one never changes.
ABI_KIND_IDS = {"Void": 0, "F16": 1, "BF16": 2, "F32": 3, "S32": 4, "S8": 5, "E4M3": 6, "U4B8": 7,
                "U8B128": 8, "U4": 9, "U8": 10, "S4": 11}


def test_checked_in_header_is_current():
    """csrc/machete/scalar_kind.h is exactly what the printer makes of the table today.
    Fix: `make scalar-header` (python generate_machete.py --scalar-header csrc/machete/scalar_kind.h)."""
    assert HEADER.read_text() == scalar_header(), (
        f"{HEADER.relative_to(ROOT)} is stale: run `make scalar-header` and commit it")


def test_cli_writes_and_checks_the_header(tmp_path, capsys):
    assert generate_machete.main(["--scalar-header", str(HEADER), "--check"]) == 0
    out = tmp_path / "scalar_kind.h"
    assert generate_machete.main(["--scalar-header", str(out), "--check"]) == 1
    assert "missing: " in capsys.readouterr().err
    assert generate_machete.main(["--scalar-header", str(out)]) == 0
    assert out.read_text() == HEADER.read_text()
    out.write_text(out.read_text().replace("U4B8 = 7", "U4B8 = 70"))
    assert generate_machete.main(["--scalar-header", str(out), "--check"]) == 1
    assert "stale: " in capsys.readouterr().err


def test_abi_kind_ids_unchanged():
    got = {r.kind: r.kind_id for r in T.SCALARS}
    assert {k: got[k] for k in ABI_KIND_IDS} == ABI_KIND_IDS
    assert [r.kind_id for r in T.SCALARS] == list(range(len(T.SCALARS)))  # appended, dense


def test_table_file_is_stdlib_only():
    """The generator and tools load the file by path, without the machete package (torch)."""
    tree = ast.parse(TABLE_FILE.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module in ("__future__", "typing"), ast.unparse(node)
        elif isinstance(node, ast.Import):
            raise AssertionError(f"the table imports {ast.unparse(node)}")


def test_generator_loads_the_table_without_torch_or_the_runtime():
    code = ("import sys; import machete_ir.cpp_contract, machete_gen_pipeline; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'machete')))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_generator_and_runtime_read_the_same_file():
    import machete._scalar_table as runtime_table

    assert Path(runtime_table.__file__).resolve() == T.TABLE_PATH
    assert [tuple(r) for r in runtime_table.SCALARS] == [tuple(r) for r in T.SCALARS]


def test_table_rules_reject_bad_rows():
    Scalar, check = T.Scalar, T._table._check
    with pytest.raises(ValueError, match="never renumber"):
        check((Scalar("void", "Void", 1, 0),))
    with pytest.raises(ValueError, match="bias must be 2"):
        check((Scalar("u4b7", "U4B7", 0, 4, bias=7, b_type=True),))
    with pytest.raises(ValueError, match="zero points need"):
        check((Scalar("u4b8", "U4B8", 0, 4, bias=8, zero_points=True),))
    with pytest.raises(ValueError, match="duplicate short"):
        check((Scalar("u4", "U4", 0, 4), Scalar("u4", "U4X", 1, 4)))


# ---- what the generator derives -----------------------------------------------------------

def test_dt_has_one_member_per_row():
    assert {d.value for d in M.Dt} == {r.short for r in T.SCALARS}
    for d in M.Dt:
        row = T.BY_SHORT[d.value]
        assert (d.bits, d.bias, d.zero_points) == (row.bits, row.bias, row.zero_points)
        assert C.scalar_kind(d) == row.kind
    assert M.Dt.u4b8.cutlass is None and M.Dt.u4.cutlass is not None
    assert C.BIASED_TYPE_TAGS == {M.Dt.u4b8: "machete::uint4b8_t", M.Dt.u8b128: "machete::uint8b128_t"}


def test_model_type_checks_follow_the_table():
    assert {t.b for t in M.TYPE_CONFIGS if t.b_group_zeropoint is not M.Dt.void} == {M.Dt.u4, M.Dt.u8}
    with pytest.raises(ValueError, match="carries its zero in the type"):
        M.TypeConfig(a=M.Dt.f16, b=M.Dt.u8b128, b_group_scale=M.Dt.f16, b_group_zeropoint=M.Dt.f16,
                     b_channel_scale=M.Dt.void, a_token_scale=M.Dt.void, out=M.Dt.f16,
                     accumulator=M.Dt.f32)


# ---- what the runtime derives -------------------------------------------------------------

def test_runtime_derives_from_the_table():
    import torch

    from machete import _model, prepack_layout, reference, scalar_types as st

    assert [t.name for t in st.ALL] == ["uint4b8", "uint8b128", "uint4", "uint8", "int4", "int8"]
    for t in st.ALL:
        row = T.BY_SHORT[t.short_name]
        assert (t.id, t.name, t.size_bits, t.bias) == (row.type_id, row.type_name, row.bits, row.bias)
        assert prepack_layout.b_type_bits_and_flip(t.id) == (row.bits, row.bias_flip)
    assert prepack_layout.b_type_bits_and_flip(st.uint4b8.id) == (4, 0x8)
    assert prepack_layout.b_type_bits_and_flip(st.uint8b128.id) == (8, 0x80)
    assert reference._ZERO_POINT_TYPES == (st.uint4, st.uint8)
    assert _model._DTYPE_SHORT == {torch.float16: "f16", torch.bfloat16: "bf16", torch.float32: "f32",
                                   torch.int32: "s32", torch.int8: "s8", torch.float8_e4m3fn: "e4m3"}


# ---- the header's facts, evaluated by a C++ compiler ------------------------------------------

CXX = shutil.which("g++") or shutil.which("c++")


@pytest.mark.skipif(CXX is None, reason="needs a host C++ compiler")
def test_header_constexpr_facts_compile(tmp_path):
    """static_asserts from the table: bits, bias flips and b_type ids, as the C++ compiler sees them
    (the header needs only <cstdint>: no CUDA, no torch)."""
    asserts = []
    for r in T.SCALARS:
        k = f"machete::ScalarKind::{r.kind}"
        asserts.append(f"static_assert(static_cast<int>({k}) == {r.kind_id}, \"{r.kind}\");")
        asserts.append(f"static_assert(machete::scalar_bits({k}) == {r.bits}, \"{r.kind} bits\");")
        asserts.append(f"static_assert(machete::scalar_bias_flip({k}) == {r.bias_flip}u, \"{r.kind} flip\");")
        if r.b_type:
            asserts.append(f"static_assert(machete::scalar_kind_of_b_type_id({r.type_id:#x}LL) == {k}, "
                           f"\"{r.type_name}\");")
    asserts.append("static_assert(machete::scalar_kind_of_b_type_id(0x1234) == machete::ScalarKind::Void, \"\");")
    asserts.append("#define PAIR(T, K) +1\nstatic_assert(0 MACHETE_FOREACH_TORCH_SCALAR_KIND(PAIR) == "
                   f"{sum(1 for r in T.SCALARS if r.at_dtype)}, \"dtypes\");")
    src = tmp_path / "t.cpp"
    src.write_text('#include "machete/scalar_kind.h"\n' + "\n".join(asserts) + "\nint main() { return 0; }\n")
    r = subprocess.run([CXX, "-std=c++17", "-fsyntax-only", "-Wall", "-Werror", f"-I{ROOT / 'csrc'}", str(src)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
