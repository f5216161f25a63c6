"""CI compile check: nvcc (sm_90a) compiles the generated dispatch, prepack and one impl file
against the CUTLASS headers of the nvidia-cutlass package, so a change that breaks the C++ fails
CI without a GPU. One kernel (a filtered build) keeps it inside CI's budget (2 cores, ~6 GB and
about 2 minutes per nvcc process). Skipped where nvcc is not installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from machete_gen import build_flags
from machete_gen_pipeline import Options, generate

ROOT = Path(__file__).resolve().parent.parent
NVCC = shutil.which("nvcc")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(NVCC is None, reason="nvcc not installed")]

TYPE = "f16u4b8f16voidvoidvoidf16f32"
SCHEDULE = "128x16_1x1x1_TmaMI__TmaCoop_streamK"


def nvcc_flags() -> list[str]:
    """The build's flags (machete_gen/build_flags.py: setup.py's, CMake's) and -I dirs; -w keeps
    CUTLASS's warnings out of a failure message."""
    return build_flags.nvcc_command_flags(root=str(ROOT)) + ["-w"]


def _compile(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([NVCC, *nvcc_flags(), "-c", str(path), "-o", str(path.with_suffix(".o"))],
                          capture_output=True, text=True, timeout=900)


def _compile_all(targets: list[Path]) -> None:
    """Compile each file to an object, at most 2 nvcc processes at once (CI has 2 cores and 24 GB)."""
    jobs = int(os.environ.get("MACHETE_TEST_NVCC_JOBS", "2"))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(_compile, targets))
    for path, r in zip(targets, results):
        assert r.returncode == 0, f"{path.name} failed to compile:\n{r.stderr[-4000:]}"
        assert path.with_suffix(".o").stat().st_size > 0


def test_generated_sources_compile_for_sm90a(tmp_path):
    files = generate(Options(types=(TYPE,), schedules=(SCHEDULE,), num_shards=1))[1]
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    targets = [tmp_path / "machete_mm_dispatch.cu", tmp_path / "machete_mm_impl_part1.cu",
               tmp_path / "machete_prepack.cu"]
    _compile_all(targets)
    # the impl object really holds the sm_90a kernel
    cuobjdump = shutil.which("cuobjdump")
    if cuobjdump:
        sass = subprocess.run([cuobjdump, "--list-elf", str(targets[1].with_suffix(".o"))],
                              capture_output=True, text=True)
        assert sass.returncode == 0 and "sm_90a" in sass.stdout


def test_decode_family_compiles_for_sm90a(tmp_path):
    """Every decode schedule on a 4-bit f16 GPTQ type and an 8-bit bf16 AWQ type (zeros, bf16, the
    8-bit conversion and the shared-memory stage fitting): one impl file, compiled."""
    from machete_ir import model as M

    types = ("f16u4b8f16voidvoidvoidf16f32", "bf16u8bf16bf16voidvoidbf16f32")
    files = generate(Options(types=types, schedules=tuple(s.name for s in M.DECODE_SCHEDULES), num_shards=1))[1]
    path = tmp_path / "machete_mm_impl_part1.cu"
    path.write_text(files["machete_mm_impl_part1.cu"])
    assert path.read_text().count("DecodeMainloop<") == len(M.DECODE_SCHEDULES)
    r = _compile(path)
    assert r.returncode == 0, f"decode impl failed to compile:\n{r.stderr[-4000:]}"
    assert path.with_suffix(".o").stat().st_size > 0


def test_w4a8_compiles_for_sm90a(tmp_path):
    """W4A8 (--w4a8): the s8 CUTLASS path without group scales (RS s8 wgmma, 8-bit-MMA layout, the
    channel x token EVT epilogue) on one schedule, the decode family for all four W4A8 types on one
    k32 and one k64 schedule, and the W4A8 prepack variants (both layouts)."""
    types = ("s8u4b8voidvoidf32f32f16s32", "s8u4b8f16voidf32f32f16s32",
             "e4m3u4b8f16voidf32f32f16f32", "e4m3u4b8voidvoidf32f32f16f32")
    schedules = ("128x64_2x1x1_TmaMI__TmaCoop_streamK", "128x8_w8s4k64_DecodeMma_clusterK",
                 "128x32_w8s3k32_DecodeMma_clusterK")
    files = generate(Options(types=types, schedules=schedules, w4a8=True, num_shards=1))[1]
    impl = files["machete_mm_impl_part1.cu"]
    assert impl.count("template struct MacheteKernel<") == 1 + 4 * 2  # CUTLASS only for s8 channel
    targets = [tmp_path / "machete_mm_impl_part1.cu", tmp_path / "machete_prepack.cu"]
    for t in targets:
        t.write_text(files[t.name])
    _compile_all(targets)
