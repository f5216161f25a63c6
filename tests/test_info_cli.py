"""``python -m machete``: the build report (manifest, W4A8, extension, device and its table)."""
from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import torch

import machete.__main__ as info

ROOT = Path(__file__).resolve().parent.parent


def _run(env=None):
    return subprocess.run([sys.executable, "-m", "machete"], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "", **(env or {})}, timeout=300)


def test_report_of_the_default_build_without_a_gpu():
    r = _run()
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("machete 0.1.0 (torch ")
    assert lines[2] == "types: 8 (208 kernel entry points)"
    rows = [line.split() for line in lines[3:11]]
    assert [row[0] for row in rows][:2] == ["f16u4b8f16voidvoidvoidf16f32", "bf16u4b8bf16voidvoidvoidbf16f32"]
    assert all(row[1:] == ["26", "schedules", "heuristic", "h100"] for row in rows)
    assert "W4A8 types: not built (MACHETE_W4A8=1 builds them, docs/W4A8.md)" in lines
    assert any(line.startswith("CUDA extension: ") for line in lines)
    assert lines[-1] == "device: no CUDA device visible to torch; heuristic table(s) answered by heuristic_schedule: h100"


def test_report_of_a_w4a8_build_with_a_device_table_on_a_gpu(monkeypatch, tmp_path):
    # a W4A8 manifest with an H200 table, and torch.cuda stubbed to an H200 (the GPU branch, on CPU)
    from machete_gen_pipeline import Options, generate
    from machete_ir import model as IR

    tables = (IR.DeviceHeuristic(device="H200", heuristic=IR.SPEC_HEURISTIC),)
    manifest = tmp_path / "m.json"
    manifest.write_text(generate(Options(w4a8=True, device_heuristics=tables))[1]["machete_build_manifest.json"])
    monkeypatch.setenv("MACHETE_BUILD_MANIFEST", str(manifest))
    monkeypatch.delenv("MACHETE_DEVICE_NAME", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "NVIDIA H200")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (9, 0))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda *a: types.SimpleNamespace(multi_processor_count=132))
    lines = info.report()
    assert lines[2] == "types: 12 (271 kernel entry points)"
    assert "W4A8 types: 4 built" in lines
    f16 = next(line for line in lines if line.strip().startswith("f16u4b8f16voidvoidvoidf16f32"))
    assert f16.endswith("heuristic h100, 'H200': spec")
    assert lines[-1] == "device: cuda:0 NVIDIA H200 (sm_90, 132 SMs); heuristic table(s) used: spec, w4a8, w4a8_channel"
    # $MACHETE_DEVICE_NAME stands in for the device, as for mm
    monkeypatch.setenv("MACHETE_DEVICE_NAME", "NVIDIA H100 80GB HBM3")
    assert info.report()[-1].endswith("heuristic table(s) used: h100, w4a8, w4a8_channel "
                                      "($MACHETE_DEVICE_NAME='NVIDIA H100 80GB HBM3')")


def test_unreadable_manifest_is_one_line_and_exit_1(tmp_path):
    r = _run({"MACHETE_BUILD_MANIFEST": str(tmp_path / "missing.json")})
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("machete: cannot read the build manifest ") and r.stderr.count("\n") == 1
