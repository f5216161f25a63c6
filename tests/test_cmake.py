"""CMake entry point (CMakeLists.txt + cmake/MacheteGen.cmake): configure into a temporary
directory (the generator runs at configure time), check the file list and the re-run
dependencies, and build only the dispatch object (seconds; the impl files take minutes each)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from machete_gen import build_flags

ROOT = Path(__file__).resolve().parent.parent
CMAKE, NVCC = shutil.which("cmake"), shutil.which("nvcc")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CMAKE is None or NVCC is None, reason="cmake or nvcc not installed")]

TYPE = "f16u4b8f16voidvoidvoidf16f32"
SCHEDULES = "128x16_1x1x1_TmaMI__TmaCoop_streamK;64x8_w8s6k64_DecodeMma_clusterK"


def test_cmake_configures_generates_and_builds_the_dispatch(tmp_path):
    build = tmp_path / "build"
    r = subprocess.run([CMAKE, "-G", "Unix Makefiles", "-S", str(ROOT), "-B", str(build), f"-DPython3_EXECUTABLE={sys.executable}",
                        f"-DMACHETE_TYPES={TYPE}", f"-DMACHETE_SCHEDULES={SCHEDULES}",
                        f"-DMACHETE_EXT_OUTPUT_DIR={tmp_path / 'ext'}"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "machete-gen: 12 files in" in r.stdout  # 10 sources, the build manifest, the run manifest
    gen = build / "generated"
    names = sorted(p.name for p in gen.iterdir())
    assert "machete_mm_dispatch.cu" in names and "machete_build_manifest.json" in names
    assert len([n for n in names if n.startswith("machete_mm_impl_part")]) == 8
    # the generator's sources are configure dependencies: editing one re-runs the generator
    deps = (build / "CMakeFiles" / "Makefile.cmake").read_text()
    for src in ("generate_machete.py", "machete_ir/model.py", "passes/route.py", "emitters/printer.py",
                "machete_gen/build_flags.py"):
        assert str(ROOT / src) in deps, src
    # the CUDA targets compile with machete_gen/build_flags.py's flags, after CMake's spelling of
    # -fPIC (and, where torch has CUDA, the CMAKE_CUDA_FLAGS that find_package(Torch) adds in front)
    for target in ("machete_dispatch", "machete_kernels"):
        flags_make = (build / "CMakeFiles" / f"{target}.dir" / "flags.make").read_text()
        cuda_flags = re.search(r"^CUDA_FLAGS = (.*)$", flags_make, re.M).group(1).split()
        ours = ["-Xcompiler=-fPIC", *build_flags.NVCC_FLAGS]
        assert cuda_flags[-len(ours):] == ours, cuda_flags
    r = subprocess.run([CMAKE, "--build", str(build), "--target", "machete_dispatch"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    (obj,) = build.glob("CMakeFiles/machete_dispatch.dir/**/machete_mm_dispatch.cu.o")
    assert obj.stat().st_size > 0


def test_machete_generate_rejects_a_bad_type(tmp_path):
    r = subprocess.run([CMAKE, "-S", str(ROOT), "-B", str(tmp_path / "b"), f"-DPython3_EXECUTABLE={sys.executable}",
                        "-DMACHETE_TYPES=f16u9"], capture_output=True, text=True, timeout=600)
    assert r.returncode != 0
    assert "unknown type signature(s) f16u9" in r.stdout + r.stderr
