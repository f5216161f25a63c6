"""The generator's layers, read from its own imports (issue 8, "Layers").

    machete_ir.model (+ expr, nodes, _cutlass)   the domain: no C++ spelling, no names module
    machete_ir.names, cpp_contract, builders...  names and the C++ mapping, above the model
    passes/                                      Program -> Program; nothing from emitters/
    emitters/                                    lowering, printing, files; nothing from passes/
    pipeline driver                              above passes and emitters

Every import counts, function-local ones included (they hid the old model <-> cpp_contract <->
names circle), and ``if TYPE_CHECKING:`` imports do not (they never run).

The runtime package ``machete`` sits apart: it never imports the generator (tests/test_manifest.py)
and the generator never imports it (``import machete`` pulls in torch). Their one shared piece, the
scalar table ``machete/_scalar_table.py`` (stdlib only), is imported by the runtime and loaded by
path by ``machete_ir.scalar_table``, the bottom of the generator's model.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("machete_ir", "passes", "emitters")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(path: Path) -> set[str]:
    """Modules ``path`` imports at run time (absolute names; ``from . import x`` gives pkg.x)."""
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            for a in node.names:  # ``from pkg import submodule``
                if (ROOT / Path(*target.split(".")) / f"{a.name}.py").exists():
                    out.add(f"{target}.{a.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return out


def _graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).glob("*.py")]
    files += [p for p in ROOT.glob("*.py") if p.name not in ("setup.py",)]
    mods = {_module_name(p): p for p in files}
    return {m: {i for i in _imports(p) if i in mods and i != m} for m, p in mods.items()}


GRAPH = _graph()


def _reaches(src: str, dst: str) -> bool:
    seen, todo = set(), [src]
    while todo:
        m = todo.pop()
        for d in GRAPH.get(m, ()):
            if d == dst:
                return True
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return False


def test_graph_was_read():
    assert "machete_ir.model" in GRAPH and "machete_ir.cpp_contract" in GRAPH["machete_ir.builders"]
    assert "machete_ir.model" in GRAPH["machete_ir.cpp_contract"]


def test_names_imports_the_model_for_typing_only():
    assert "machete_ir.model" not in GRAPH["machete_ir.names"]
    text = (ROOT / "machete_ir" / "names.py").read_text()
    assert "from .model import ScheduleConfig, TypeConfig" in text  # under TYPE_CHECKING


def test_model_imports_neither_names_nor_cpp_contract():
    assert not GRAPH["machete_ir.model"] & {"machete_ir.names", "machete_ir.cpp_contract"}
    # nor anything that does: the model is the bottom of the C++ side
    assert not _reaches("machete_ir.model", "machete_ir.names")
    assert not _reaches("machete_ir.model", "machete_ir.cpp_contract")


def test_model_holds_no_cpp_spelling():
    from machete_ir import model as M

    for attr in ("cpp_tag", "scalar_kind"):
        assert not hasattr(M.Dt, attr), attr
    for attr in ("kernel_schedule_tag", "epilogue_schedule_tag", "tile_scheduler_tag"):
        assert not hasattr(M.ScheduleConfig, attr), attr
    text = (ROOT / "machete_ir" / "model.py").read_text()
    assert "Tag" not in "".join(ast.unparse(n) for n in ast.parse(text).body
                                if isinstance(n, (ast.Import, ast.ImportFrom)))


@pytest.mark.parametrize("mod", sorted(GRAPH))
def test_no_import_cycle(mod):
    assert not _reaches(mod, mod), f"{mod} imports itself through {sorted(GRAPH[mod])}"


def test_generator_never_imports_the_runtime_package():
    """The scalar table is read by path (machete_ir/scalar_table.py), never through ``machete``."""
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).glob("*.py")]
    files += [p for p in ROOT.glob("*.py") if p.name != "setup.py"]
    for p in files:
        bad = {i for i in _imports(p) if i == "machete" or i.startswith("machete.")}
        assert not bad, f"{p.relative_to(ROOT)} imports {bad}"
    assert not GRAPH["machete_ir.scalar_table"], "the table loader imports nothing of the generator"
    assert "machete_ir.scalar_table" in GRAPH["machete_ir.model"]


def test_machete_ir_imports_no_higher_layer():
    for m, deps in GRAPH.items():
        if m.startswith("machete_ir"):
            bad = {d for d in deps if not d.startswith("machete_ir")}
            assert not bad, f"{m} imports {bad}"


def test_passes_import_nothing_from_emitters():
    for m, deps in GRAPH.items():
        if m.startswith("passes"):
            bad = {d for d in deps if d.startswith(("emitters", "machete_gen_pipeline"))}
            assert not bad, f"{m} imports {bad}"


def test_emitters_import_nothing_from_passes_or_the_driver():
    for m, deps in GRAPH.items():
        if m.startswith("emitters"):
            bad = {d for d in deps if d.startswith(("passes", "machete_gen_pipeline"))}
            assert not bad, f"{m} imports {bad}"


def test_the_driver_sits_above_passes_and_emitters():
    deps = GRAPH["machete_gen_pipeline"]
    assert {"passes", "emitters.lower", "emitters.printer"} <= deps
    assert "emitters.pipeline" not in GRAPH  # moved up, not copied
    assert GRAPH["generate_machete"] >= {"machete_gen_pipeline"}
