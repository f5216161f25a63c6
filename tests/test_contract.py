"""The generated files and csrc/ stay in step: every name the builders emit that the generated
files do not define themselves is declared in a csrc header."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from machete_gen_pipeline import Options, generate
from machete_ir import cpp_contract as C
from machete_ir.model import Dt

CSRC = Path(__file__).resolve().parent.parent / "csrc"


def _headers() -> str:
    return "\n".join(p.read_text() for p in sorted(CSRC.rglob("*")) if p.suffix in (".h", ".cuh", ".hpp"))


def test_headers_named_by_the_contract_exist():
    for h in (C.ARGS_HEADER, C.SCALAR_KIND_HEADER, C.KERNEL_HEADER, C.PREPACK_HEADER):
        assert (CSRC / h).is_file(), h
    # the dispatch includes only mm_args.h, which brings the generated scalar header
    assert f'#include "{C.SCALAR_KIND_HEADER}"' in (CSRC / C.ARGS_HEADER).read_text()


@pytest.mark.parametrize("name,pattern", [
    (C.TYPE_CONFIG_TEMPLATE, r"struct\s+{}\b"),
    (C.DECODE_MAINLOOP_TEMPLATE.split("::")[-1], r"template\s*<int Warps, int Stages, int KChunk>\s*struct\s+{}\b"),
    (C.PROMOTE_MAINLOOP_TEMPLATE.split("::")[-1], r"template\s*<int Stages>\s*struct\s+{}\b"),
    (C.KERNEL_TEMPLATE, r"struct\s+{}\b"),
    (C.PREPACK_TEMPLATE, r"struct\s+{}\b"),
    (C.SCALAR_KIND, r"enum\s+class\s+{}\b"),
    ("MMArgs", r"struct\s+{}\b"),
    ("PrepackArgs", r"struct\s+{}\b"),
    (C.SCALAR_BITS_FN, r"\b{}\s*\("),
    (C.SCALAR_BIAS_FLIP_FN, r"\b{}\s*\("),
    (C.SCALAR_KIND_OF_B_TYPE_ID_FN, r"\b{}\s*\("),
    (C.TORCH_DTYPE_KINDS_MACRO, r"#define\s+{}\("),
    (C.MM_DISPATCH_FN, r"void\s+{}\s*\(\s*MMArgs const&"),
    (C.SUPPORTED_SCHEDULES_FN, r"std::vector<std::string>\s+{}\s*\("),
    (C.HEURISTIC_SCHEDULE_FN, r"std::string\s+{}\s*\("),
    (C.PREPACK_DISPATCH_FN, r"void\s+{}\s*\(\s*PrepackArgs const&"),
])
def test_contract_name_is_declared(name, pattern):
    assert re.search(pattern.format(re.escape(name)), _headers()), f"{name} not declared in csrc/"


def test_scalar_kinds_and_fields_exist():
    kinds = (CSRC / C.SCALAR_KIND_HEADER).read_text()
    for d in Dt:
        assert re.search(rf"\b{C.scalar_kind(d)}\s*=", kinds), d
    text = (CSRC / C.ARGS_HEADER).read_text()
    for field in C.MM_TYPE_FIELDS + ("M", "N", "K"):
        assert re.search(rf"\b{field}\b", text), field
    for tag in C.BIASED_TYPE_TAGS.values():
        short = tag.split("::")[-1]
        assert re.search(rf"\b{short}\b", _headers()), tag


def test_generated_dispatch_uses_only_contract_kinds():
    files = generate(Options(w4a8=True))[1]
    used = set(re.findall(r"ScalarKind::(\w+)", files["machete_mm_dispatch.cu"]))
    declared = set(re.findall(r"^\s*(\w+)\s*=\s*\d+", (CSRC / C.SCALAR_KIND_HEADER).read_text(), re.M))
    assert used and used <= declared
