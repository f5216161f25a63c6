"""The build manifest: generated data that the runtime answers from without the generator."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from emitters.manifest import MANIFEST_FILE
from machete_gen_pipeline import Options, generate
from machete import _manifest
from machete_ir import model as M

ROOT = Path(__file__).resolve().parent.parent
GRID_M = (1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1024, 4096)
GRID_NK = (128, 4000, 4069, 4070, 4096, 6144, 6145, 8192, 8193, 12287, 12288, 14336, 16384, 16385,
           24576, 24577, 26623, 26624, 28672, 57344)


def _manifest_of(opts: Options) -> dict:
    return json.loads(generate(opts)[1][MANIFEST_FILE])


@pytest.fixture(scope="module")
def default_manifest() -> dict:
    return _manifest_of(Options())


def test_package_manifest_is_up_to_date(default_manifest):
    """machete/_build_manifest.json is the full default build's (regenerate: make manifest)."""
    assert _manifest.load(_manifest.PACKAGE_MANIFEST) == default_manifest
    text = generate(Options())[1][MANIFEST_FILE]
    assert _manifest.PACKAGE_MANIFEST.read_text() == text


def test_manifest_is_sorted_deterministic_json(default_manifest):
    text = generate(Options())[1][MANIFEST_FILE]
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True) + "\n"
    assert default_manifest["format"] == 1 and default_manifest["generator"] == "machete-gen"
    import machete
    assert default_manifest["version"] == machete.__version__


def test_manifest_types_and_schedules_match_the_model(default_manifest):
    types = default_manifest["types"]
    assert [t["signature"] for t in types] == [t.signature for t in M.TYPE_CONFIGS]
    for t, tc in zip(types, M.TYPE_CONFIGS):
        assert "".join(t[f] for f in ("a", "b", "b_group_scale", "b_group_zeropoint", "b_channel_scale",
                                      "a_token_scale", "out", "accumulator")) == t["signature"]
        assert t["schedules"] == [s.name for s in M.schedules_for(tc)]
        assert t["heuristic"] == "h100"
    # the decode family is carried verbatim
    assert "64x8_w8s6k64_DecodeMma_clusterK" in types[0]["schedules"]
    picks = [r["schedule"] for r in default_manifest["heuristics"]["h100"]]
    assert "48x8_w16s3k64_DecodeMma_clusterK" in picks and picks[-1] == "256x16_1x1x1_TmaMI__TmaCoop_streamK"


@pytest.mark.parametrize("w4a8", [False, True], ids=["default", "w4a8"])
def test_manifest_heuristic_equals_the_model_on_a_grid(w4a8):
    data = _manifest_of(Options(w4a8=w4a8))
    by_sig = {tc.signature: tc for tc in M.TYPE_CONFIGS + M.W4A8_TYPE_CONFIGS}
    assert len(data["types"]) == (12 if w4a8 else 8)
    for t in data["types"]:
        tc, rules = by_sig[t["signature"]], data["heuristics"][t["heuristic"]]
        assert M.select_schedule(tc, 1, 4096, 4096) == M.impl_for(tc).heuristic.select(1, 4096, 4096)
        model = M.impl_for(tc).heuristic  # what select_schedule evaluates (looked up once per type)
        for m in GRID_M:
            for n in GRID_NK:
                for k in GRID_NK:
                    assert _manifest.select(rules, m, n, k) == model.select(m, n, k).name, (
                        t["signature"], m, n, k)


def test_filtered_build_manifest_lists_what_was_built_and_routes_the_rules():
    keep = ("128x16_1x1x1_TmaMI__TmaCoop_streamK", "128x128_2x1x1_TmaMI__TmaCoop_streamK",
            "64x8_w8s6k64_DecodeMma_clusterK")
    data = _manifest_of(Options(types=("bf16u4bf16bf16voidvoidbf16f32",), schedules=keep))
    (t,) = data["types"]
    assert t["signature"] == "bf16u4bf16bf16voidvoidbf16f32"
    assert set(t["schedules"]) == set(keep)
    rules = data["heuristics"][t["heuristic"]]
    assert {r["schedule"] for r in rules} <= set(keep)
    for m in GRID_M:
        assert _manifest.select(rules, m, 4096, 4096) in keep


def test_condition_evaluation_and_alias():
    cond = {"all": [{"lhs": "M", "op": ">", "rhs": 16}, {"any": [{"lhs": "N", "op": "<=", "rhs": 4096},
                                                                 {"lhs": 8192, "op": "==", "rhs": "K"}]}]}
    assert _manifest.evaluate(cond, {"M": 17, "N": 4096, "K": 1})
    assert _manifest.evaluate(cond, {"M": 17, "N": 9999, "K": 8192})
    assert not _manifest.evaluate(cond, {"M": 16, "N": 4096, "K": 8192})
    assert _manifest.evaluate(None, {})
    norm = _manifest.normalize_schedule_name
    assert norm("128x16_1x1x1_TmaMI_TmaCoop_streamK") == "128x16_1x1x1_TmaMI__TmaCoop_streamK"
    assert norm("128x16_1x1x1_TmaMI__TmaCoop_streamK") == "128x16_1x1x1_TmaMI__TmaCoop_streamK"
    assert norm("64x8_w8s6k64_DecodeMma_clusterK") == "64x8_w8s6k64_DecodeMma_clusterK"
    assert norm("bogus") == "bogus"


def test_bad_manifest_is_one_clear_error(tmp_path):
    p = tmp_path / "m.json"
    p.write_text('{"format": 99}')
    with pytest.raises(RuntimeError, match="has format 99"):
        _manifest.load(p)
    with pytest.raises(RuntimeError, match="cannot read the build manifest"):
        _manifest.load(tmp_path / "missing.json")


BLOCKED = textwrap.dedent("""
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("cutlass_library", "machete_ir", "cutlass", "passes", "emitters"):
                raise ImportError(f"blocked: {name}")
            return None

    sys.meta_path.insert(0, Block())
    import torch
    import machete
    from machete import _model, ops
    from machete.scalar_types import uint4b8, uint4
    f16 = torch.float16
    assert _model.backend().source == "manifest"
    s = machete.supported_schedules(f16, uint4b8, f16)
    assert len(s) == 26 and s[-1] == "112x16_w8s4k64_DecodeMma_clusterK", s
    assert machete.heuristic_schedule(1, 4096, 4096, f16, uint4b8, f16) == "48x8_w16s3k64_DecodeMma_clusterK"
    assert machete.heuristic_schedule(4096, 8192, 8192, f16, uint4, f16, f16) == \\
        "256x128_2x1x1_TmaMI__TmaCoop_streamK"
    # mm's Python validation (CPU tensors: it stops at the device check after the type checks)
    a = torch.empty(16, 256, dtype=f16)
    b = torch.empty(256 // 8, 256, dtype=torch.int32).t().contiguous().t()
    try:
        machete.mm(a, b, uint4b8, group_scales=torch.empty(2, 256, dtype=f16), group_size=128,
                   schedule="128x16_1x1x1_TmaMI_TmaCoop_streamK")
    except ValueError as e:
        assert "CUDA" in str(e), e
    else:
        raise AssertionError("mm on the CPU did not raise")
    assert _model.normalize_schedule_name("128x16_1x1x1_TmaMI_TmaCoop_streamK") == \\
        "128x16_1x1x1_TmaMI__TmaCoop_streamK"
    bad = [m for m in sys.modules if m.split(".")[0] in ("cutlass_library", "machete_ir", "passes", "emitters")]
    assert not bad, bad
    print("ok")
""")


def test_runtime_imports_without_the_generator(tmp_path):
    """`import machete` and its queries with cutlass_library and machete_ir blocked (run outside
    the repository root so only the installed / in-tree machete package is found)."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-c", BLOCKED], capture_output=True, text=True, cwd=tmp_path,
                       env=env, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]
