"""The repository's docs stand alone: no references to files outside the checkout, every relative
link resolves, and every results file a doc names by its full name (or by a glob) is in
benchmarks/results/ -- so a reader with only the repo can follow each figure to its data."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOCS = sorted({ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("csrc/*.md"), ROOT / "benchmarks" / "README.md",
               *ROOT.glob("scripts/**/README.md")})
_EXT = r"(?:md|csv|png|log|txt|json|jsonl)"
# `benchmarks/results/NAME.EXT` or a bare `h100_NAME.EXT` / `h200_...` in backticks; * is a glob
_RESULT = re.compile(rf"`(?:benchmarks/results/)?(h[12]00_[A-Za-z0-9_*\-.]*\.(?:{_EXT}|\*))`")
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_stands_alone(doc):
    text = doc.read_text()
    assert "../shared" not in text, f"{doc.name} points outside the repository (../shared)"
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        assert (doc.parent / target).exists(), f"{doc.relative_to(ROOT)}: link {target!r} does not resolve"
    names = {p.name for p in RESULTS.iterdir()}
    for name in _RESULT.findall(text):
        if "*" in name:
            assert list(RESULTS.glob(name)), f"{doc.relative_to(ROOT)}: no results file matches {name!r}"
        else:
            assert name in names, f"{doc.relative_to(ROOT)}: results file {name!r} is not in benchmarks/results/"


def test_the_check_sees_the_docs():
    # the patterns find what they are for (else the test above would pass on nothing)
    perf = (ROOT / "docs" / "PERFORMANCE.md").read_text()
    assert len(_RESULT.findall(perf)) > 50 and len(_LINK.findall((ROOT / "README.md").read_text())) >= 5
    assert len(DOCS) >= 7


# `README, "Section"` / `docs/PERFORMANCE.md, "Section"` in docs and code comments: the section (a
# heading, or a bold paragraph lead) is still there -- sections moved between the two files once
_SECTION_REF = re.compile(r'(README(?:\.md)?|PERFORMANCE\.md),?\s*\(?\s*"([^"\n]+(?:\n[^"\n]+)?)"')
_REF_SOURCES = [p for d in ("machete_ir", "machete", "csrc", "scripts", "docs", "benchmarks", "passes", "emitters")
                for p in (ROOT / d).rglob("*") if p.suffix in (".md", ".py", ".cuh", ".h", ".cu", ".cpp", ".sh")
                and "results" not in p.parts] + [ROOT / "README.md"]


def _sections(doc: Path) -> list[str]:
    text = doc.read_text()
    heads = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]
    bold = re.findall(r"^\*\*([^*]+)\*\*", text, flags=re.M)
    return heads + bold


def test_section_references_resolve():
    targets = {"README": _sections(ROOT / "README.md"), "PERFORMANCE": _sections(ROOT / "docs" / "PERFORMANCE.md")}
    seen = 0
    for src in _REF_SOURCES:
        for which, name in _SECTION_REF.findall(src.read_text(errors="replace")):
            name = re.sub(r"\s*(#\s*)?\n\s*(#\s*)?", " ", name).strip()
            heads = targets["PERFORMANCE" if "PERFORMANCE" in which else "README"]
            seen += 1
            assert any(h.startswith(name) or name.startswith(h) for h in heads), \
                f"{src.relative_to(ROOT)}: {which} has no section {name!r}"
    assert seen >= 10  # the pattern finds the references it is for
