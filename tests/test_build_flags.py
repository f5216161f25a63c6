"""The compiler flags live in one place (machete_gen/build_flags.py): setup.py, CMake,
scripts/compile_kernels.sh, the nvcc compile test and the decode dev harness take them from there,
and the device scripts share one preamble (scripts/device_env.sh)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from machete_gen import build_flags as bf

ROOT = Path(__file__).resolve().parent.parent
CMAKE = shutil.which("cmake")


def test_the_flags():
    # sm_90a (wgmma, TMA), CUTLASS's C++17, constexpr host calls from device code, and NDEBUG
    # (without it ptxas serialises the tensor-core instructions)
    assert bf.NVCC_FLAGS == ("-gencode=arch=compute_90a,code=sm_90a", "-std=c++17", "--expt-relaxed-constexpr",
                             "-O3", "-DNDEBUG")
    assert bf.CXX_FLAGS == ("-O3", "-DNDEBUG")
    assert Path(bf.ROOT) == ROOT


def test_include_dirs_and_command_flags():
    src = "/opt/cutlass"
    assert bf.include_dirs(str(ROOT), cutlass_src=src) == [
        str(ROOT / "csrc"), "/opt/cutlass/include", "/opt/cutlass/tools/util/include"]
    assert bf.nvcc_command_flags(pic=True, cutlass=False) == [*bf.NVCC_FLAGS, "-Xcompiler", "-fPIC", f"-I{ROOT / 'csrc'}"]
    assert bf.nvcc_command_flags(includes=False) == list(bf.NVCC_FLAGS)
    import cutlass_library

    assert bf.cutlass_include_dirs() == [os.path.join(cutlass_library.source_path, "include"),
                                         os.path.join(cutlass_library.source_path, "tools", "util", "include")]


def test_torch_half_defines_dropped():
    from torch.utils import cpp_extension

    kept = bf.drop_torch_half_defines(cpp_extension.COMMON_NVCC_FLAGS)
    assert not [f for f in kept if "NO_HALF" in f or "NO_BFLOAT16" in f]
    assert [f for f in cpp_extension.COMMON_NVCC_FLAGS if f not in kept]  # torch still sets some
    assert bf.drop_torch_half_defines(["-D__CUDA_NO_HALF_OPERATORS__", "--x"]) == ["--x"]


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "machete_gen.build_flags", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, **kw)


def test_cli():
    r = _cli("--no-cutlass", "--lines", "--pic")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == bf.nvcc_command_flags(pic=True, cutlass=False)
    r = _cli()
    assert r.returncode == 0 and r.stdout.split() == bf.nvcc_command_flags()
    code = ("import sys; sys.modules['cutlass_library'] = None; from machete_gen.build_flags import main; "
            "sys.exit(main([]))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "nvidia-cutlass is not importable" in r.stderr and "--no-cutlass" in r.stderr


def test_nobody_else_spells_the_flags():
    """Build files, scripts and tests take the flags from machete_gen/build_flags.py."""
    files = [ROOT / "setup.py", ROOT / "CMakeLists.txt", ROOT / "Makefile", *ROOT.glob("cmake/*.cmake"),
             *ROOT.glob("scripts/**/*.sh"), *ROOT.glob("scripts/**/*.py"), *ROOT.glob("tests/**/*.py"),
             *ROOT.glob("benchmarks/*.py")]
    spelled = [str(p.relative_to(ROOT)) for p in files
               if p.name != "test_build_flags.py" and re.search(r"compute_90a|expt-relaxed-constexpr", p.read_text())]
    assert not spelled
    setup = (ROOT / "setup.py").read_text()
    assert "flags.NVCC_FLAGS" in setup and "flags.CXX_FLAGS" in setup and "flags.include_dirs(" in setup
    assert "machete_build_flags(NVCC_FLAGS" in (ROOT / "CMakeLists.txt").read_text()


def test_setup_py_loads_this_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("machete_setup_py", ROOT / "setup.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    flags = mod.build_flags()
    assert flags.NVCC_FLAGS == bf.NVCC_FLAGS and flags.CXX_FLAGS == bf.CXX_FLAGS


@pytest.mark.skipif(CMAKE is None, reason="cmake not installed")
def test_cmake_takes_the_same_flags(tmp_path):
    script = tmp_path / "flags.cmake"
    script.write_text(f"""
include("{ROOT / 'cmake' / 'MacheteGen.cmake'}")
machete_build_flags(NVCC_FLAGS nvcc)
machete_build_flags(CXX_FLAGS cxx)
machete_cutlass_includes(inc)
message(STATUS "NVCC=${{nvcc}}")
message(STATUS "CXX=${{cxx}}")
message(STATUS "INC=${{inc}}")
""")
    r = subprocess.run([CMAKE, f"-DMACHETE_GEN_PYTHON={sys.executable}", "-P", str(script)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    got = dict(line.removeprefix("-- ").split("=", 1) for line in r.stdout.splitlines() if line.startswith("-- "))
    assert got["NVCC"].split(";") == list(bf.NVCC_FLAGS)
    assert got["CXX"].split(";") == list(bf.CXX_FLAGS)
    assert got["INC"].split(";") == bf.cutlass_include_dirs()


def test_compile_kernels_passes_the_flags(tmp_path):
    """scripts/compile_kernels.sh with a stand-in nvcc that records its arguments."""
    bin_dir, gen, obj = tmp_path / "bin", tmp_path / "gen dir", tmp_path / "obj"
    bin_dir.mkdir()
    gen.mkdir()
    (bin_dir / "nvcc").write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    (bin_dir / "nvcc").chmod(0o755)
    for name in ("a.cu", "b.cu"):
        (gen / name).write_text("")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHON": sys.executable}
    r = subprocess.run(["bash", str(ROOT / "scripts" / "compile_kernels.sh"), str(gen), str(obj), "2"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(line.split()[:2] for line in r.stdout.splitlines()) == [["ok", "a"], ["ok", "b"]]
    for name in ("a", "b"):
        args = (obj / f"{name}.log").read_text().splitlines()
        assert args == ["-c", *bf.nvcc_command_flags(pic=True), "-o", str(obj / f"{name}.o"), str(gen / f"{name}.cu")]


DEVICE_SCRIPTS = sorted(ROOT.glob("scripts/device_*.sh"))


def test_device_scripts_share_one_preamble():
    names = {p.name for p in DEVICE_SCRIPTS}
    assert names == {"device_env.sh", "device_bench.sh", "device_cmake.sh", "device_decode.sh", "device_full.sh"}
    for p in DEVICE_SCRIPTS:
        text = p.read_text()
        r = subprocess.run(["bash", "-n", str(p)], capture_output=True, text=True)
        assert r.returncode == 0, f"{p.name}: {r.stderr}"
        if p.name == "device_env.sh":
            continue
        assert 'source "$(dirname "$0")/device_env.sh" || exit 1' in text, p.name
        # what the preamble does is not repeated (comments may name it)
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        for repeated in (".whl/*.whl", "PYTHONPATH=", "OUT=${OUT:-", "set -uo pipefail", "nvidia-smi",
                         "MACHETE_PREBUILT_OBJS=", "-m pytest", "compute-sanitizer"):
            assert repeated not in code, f"{p.name} repeats {repeated!r}"
