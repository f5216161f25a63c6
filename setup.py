"""Builds the CUDA extension machete._C_ext, wrapped by machete/_C.py (metadata lives in setup.cfg / pyproject.toml).

    MACHETE_TYPES=<sigs> MACHETE_SCHEDULES=<names> MAX_JOBS=<n> \
        pip install --no-build-isolation --no-deps -e .

1. runs `generate_machete.py --output-dir build/generated [--types ...] [--schedules ...]`
   (comma lists; unset = every type / schedule),
2. compiles the generated .cu files + csrc/torch_bindings.cpp into machete._C for sm_90a
   (ninja, MAX_JOBS parallel jobs; each CUTLASS TU needs ~5-9 GB of memory).

Environment:
  MACHETE_SKIP_EXT=1        install the pure-Python parts only.
  MACHETE_PREBUILT_OBJS=DIR link the kernel objects DIR/*.o (from scripts/compile_kernels.sh,
                            same generated sources) instead of compiling the .cu files here.
  MACHETE_GEN_DIR=DIR       where the generator writes (default build/generated).
Without CUDA (torch missing, no nvcc / CUDA_HOME) the extension is skipped with a message.
"""
import glob
import os
import subprocess
import sys

from setuptools import setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def _skip(reason):
    print(f"machete setup: {reason}: building WITHOUT the CUDA extension machete._C "
          "(pure-Python install; machete.mm will raise until it is built)", file=sys.stderr)
    return {}


def _ext_kwargs():
    if os.environ.get("MACHETE_SKIP_EXT", "") not in ("", "0"):
        return _skip("MACHETE_SKIP_EXT is set")
    try:
        import torch  # noqa: F401
        from torch.utils import cpp_extension
    except Exception as e:  # pragma: no cover
        return _skip(f"torch is not importable ({e})")
    if cpp_extension.CUDA_HOME is None:
        return _skip("no CUDA toolkit found (CUDA_HOME / nvcc)")
    try:
        import cutlass_library
    except Exception as e:
        return _skip(f"nvidia-cutlass is not importable ({e})")

    gen_dir = os.environ.get("MACHETE_GEN_DIR", os.path.join("build", "generated"))
    cmd = [sys.executable, os.path.join(ROOT, "generate_machete.py"), "--output-dir", gen_dir]
    if os.environ.get("MACHETE_TYPES"):
        cmd += ["--types", os.environ["MACHETE_TYPES"]]
    if os.environ.get("MACHETE_SCHEDULES"):
        cmd += ["--schedules", os.environ["MACHETE_SCHEDULES"]]
    print("machete setup: " + " ".join(cmd), file=sys.stderr)
    subprocess.check_call(cmd, cwd=ROOT)

    # CUTLASS needs the half/bfloat16 operators that torch's default nvcc flags switch off; the
    # kernel TUs include no torch header, so drop those defines.
    cpp_extension.COMMON_NVCC_FLAGS[:] = [
        f for f in cpp_extension.COMMON_NVCC_FLAGS
        if not any(s in f for s in ("NO_HALF", "NO_BFLOAT16"))
    ]

    cutlass_src = cutlass_library.source_path
    include_dirs = [os.path.join(ROOT, "csrc"), os.path.join(cutlass_src, "include"),
                    os.path.join(cutlass_src, "tools", "util", "include")]
    sources = [os.path.join("csrc", "torch_bindings.cpp")]
    extra_objects = []
    prebuilt = os.environ.get("MACHETE_PREBUILT_OBJS")
    if prebuilt:
        extra_objects = sorted(glob.glob(os.path.join(prebuilt, "*.o")))
        if not extra_objects:
            raise RuntimeError(f"MACHETE_PREBUILT_OBJS={prebuilt}: no .o files there")
    else:
        sources += sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, gen_dir, "*.cu")))

    nvcc_flags = ["-gencode=arch=compute_90a,code=sm_90a", "-std=c++17", "--expt-relaxed-constexpr",
                  "-O3", "-DNDEBUG"]
    ext = cpp_extension.CUDAExtension(
        name="machete._C_ext",
        sources=sources,
        include_dirs=include_dirs,
        extra_objects=extra_objects,
        extra_compile_args={"cxx": ["-O3", "-DNDEBUG"], "nvcc": nvcc_flags},
    )
    build_ext = cpp_extension.BuildExtension.with_options(use_ninja=True)
    return {"ext_modules": [ext], "cmdclass": {"build_ext": build_ext}}


setup(**_ext_kwargs())
