"""Packaging: LICENSE, version, py.typed, the nvidia-cutlass pin, setup.py's messages and MAX_JOBS."""
import configparser
import importlib.util
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import machete

ROOT = Path(__file__).resolve().parents[1]


def _cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg


def _setup_module():
    spec = importlib.util.spec_from_file_location("machete_setup_py", ROOT / "setup.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # defines the helpers; setup() runs only as __main__
    return mod


def test_license_is_apache_2():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX" in text
    assert _cfg()["metadata"]["license"] == "Apache-2.0"
    assert _cfg()["metadata"]["license_files"].strip() == "LICENSE"


def test_version_single_source():
    assert re.fullmatch(r"\d+\.\d+\.\d+", machete.__version__)
    assert _cfg()["metadata"]["version"] == "attr: machete.__version__"


def test_py_typed_ships():
    assert (ROOT / "machete" / "py.typed").exists()
    assert "py.typed" in _cfg()["options.package_data"]["machete"]


def test_cutlass_pinned_the_same():
    reqs = _cfg()["options"]["install_requires"]
    cfg_pin = re.search(r"nvidia-cutlass\s*==\s*([\d.]+)", reqs)
    mk_pin = re.search(r"^CUTLASS_PIN\s*:?=\s*nvidia-cutlass==([\d.]+)\s*$", (ROOT / "Makefile").read_text(), re.M)
    assert cfg_pin and mk_pin and cfg_pin.group(1) == mk_pin.group(1)


def test_cuda_problem_says_the_real_reason():
    s = _setup_module()
    cpu_torch = types.SimpleNamespace(__version__="2.13.0+cpu", version=types.SimpleNamespace(cuda=None))
    msg = s.cuda_problem(cpu_torch, "/usr/local/cuda")
    assert "CPU-only build" in msg and "torch.version.cuda is None" in msg and "2.13.0+cpu" in msg
    cuda_torch = types.SimpleNamespace(__version__="2.13.0", version=types.SimpleNamespace(cuda="12.8"))
    assert "no CUDA toolkit" in s.cuda_problem(cuda_torch, None)
    assert s.cuda_problem(cuda_torch, "/usr/local/cuda") is None


def test_default_max_jobs_by_memory():
    s = _setup_module()
    gib = 2 ** 20  # kB
    assert s.default_max_jobs(f"MemTotal: 1 kB\nMemAvailable: {100 * gib} kB\n", 16)[0] == 100 // s.GB_PER_JOB
    assert s.default_max_jobs(f"MemAvailable: {500 * gib} kB\n", 16)[0] == 16  # capped by the CPUs
    assert s.default_max_jobs(f"MemAvailable: {2 * gib} kB\n", 16)[0] == 1     # at least one
    assert s.default_max_jobs("", 8) == (4, None)                                # no /proc/meminfo


def test_setup_py_on_this_machine_says_why_it_skips():
    import torch
    env = {k: v for k, v in os.environ.items() if k != "MACHETE_SKIP_EXT"}
    if torch.version.cuda is not None:  # a CUDA torch: don't run the generator from a test
        env["MACHETE_SKIP_EXT"] = "1"
    r = subprocess.run([sys.executable, "setup.py", "--version"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == machete.__version__
    if torch.version.cuda is None:
        assert "CPU-only build (torch.version.cuda is None)" in r.stderr
        assert "building WITHOUT the CUDA extension" in r.stderr


def test_build_manifest_ships_and_setup_copies_the_generated_one(tmp_path):
    assert "_build_manifest.json" in _cfg()["options.package_data"]["machete"]
    setup_py = _setup_module()
    gen, pkg = tmp_path / "gen", tmp_path / "pkg"
    gen.mkdir(), pkg.mkdir()
    (gen / "machete_build_manifest.json").write_text('{"format": 1}\n')
    dst = setup_py.install_build_manifest(str(gen), str(pkg))
    assert Path(dst) == pkg / "_build_manifest.json"
    assert (pkg / "_build_manifest.json").read_text() == '{"format": 1}\n'
    assert [p.name for p in pkg.iterdir()] == ["_build_manifest.json"]  # no temporary left


def test_wheel_installs_no_generic_top_level_names(tmp_path):
    """`pip wheel` (pure Python): only machete, machete_ir and machete_gen at the top level; the
    repo's passes / emitters / generate_machete.py live under machete_gen/_gen; the machete-gen
    console script runs the generator from the unpacked wheel."""
    import zipfile

    env = dict(os.environ, MACHETE_SKIP_EXT="1")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        str(ROOT), "-w", str(tmp_path / "whl")], env=env, capture_output=True, text=True,
                       timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    (whl,) = (tmp_path / "whl").glob("*.whl")
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        z.extractall(tmp_path / "site")
        entry_points = z.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"machete", "machete_ir", "machete_gen"}
    assert "machete_gen/_gen/generate_machete.py" in names
    assert "machete_gen/_gen/passes/route.py" in names and "machete_gen/_gen/emitters/printer.py" in names
    assert "machete/_build_manifest.json" in names and "machete/py.typed" in names
    assert "machete-gen = machete_gen:main" in entry_points
    # the console script's entry point, from the unpacked wheel only (not the repository)
    out = tmp_path / "gen"
    r = subprocess.run([sys.executable, "-c", "import sys, machete_gen; sys.exit(machete_gen.main(sys.argv[1:]))",
                        "--output-dir", str(out), "--types", "f16u4b8f16voidvoidvoidf16f32",
                        "--schedules", "128x16_1x1x1_TmaMI__TmaCoop_streamK"],
                       env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(tmp_path / "site")},
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "machete_mm_dispatch.cu").exists()
    import json
    manifest = json.loads((out / "machete_build_manifest.json").read_text())
    assert manifest["version"] == machete.__version__
    assert manifest["types"][0]["schedules"] == ["128x16_1x1x1_TmaMI__TmaCoop_streamK"]


def test_machete_gen_entry_point_in_a_checkout(capsys):
    import machete_gen

    assert Path(machete_gen.generator_path()) == ROOT  # no machete_gen/_gen in the repository
    assert machete_gen.main(["--list", "--types", "f16u4b8f16voidvoidvoidf16f32"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 26 and lines[0].startswith("f16u4b8f16voidvoidvoidf16f32 ")
