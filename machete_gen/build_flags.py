"""The compiler flags of every build of the generated sources, in one place (standard library only).

setup.py (the torch extension), CMake (``cmake/MacheteGen.cmake``), ``scripts/compile_kernels.sh``,
``tests/test_nvcc_compile.py`` and the decode dev harness (``scripts/decode_dev/``) all take their
nvcc flags from here; ``tests/test_build_flags.py`` checks that none of them spells its own.

Why these flags (Hopper, CUTLASS 4.2):
  ``-gencode=arch=compute_90a,code=sm_90a``  wgmma and the TMA instructions need sm_90a (not sm_90)
  ``-std=c++17``                             CUTLASS 3.x/4.x's minimum
  ``--expt-relaxed-constexpr``               CUTLASS/cute call constexpr host functions from device code
  ``-O3 -DNDEBUG``                           without NDEBUG ptxas serialises the tensor-core
                                             instructions (slow kernels)
Include directories: ``csrc/`` and, from the ``nvidia-cutlass`` package
(``cutlass_library.source_path``), ``include/`` and ``tools/util/include/``.

Shell use (from the repository root)::

    nvcc $(python3 -m machete_gen.build_flags) -c file.cu        # flags + -I csrc + CUTLASS includes
    python3 -m machete_gen.build_flags --pic --lines             # one per line, + -Xcompiler -fPIC
    python3 -m machete_gen.build_flags --no-cutlass              # -I csrc only (no nvidia-cutlass needed)
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout (or site-packages)

GENCODE = "-gencode=arch=compute_90a,code=sm_90a"
CXX_STANDARD = "-std=c++17"
# nvcc flags of every generated translation unit (and of the decode dev harness).
NVCC_FLAGS: tuple[str, ...] = (GENCODE, CXX_STANDARD, "--expt-relaxed-constexpr", "-O3", "-DNDEBUG")
# host-compiler flags of the binding (csrc/torch_bindings.cpp) in setup.py and CMake.
CXX_FLAGS: tuple[str, ...] = ("-O3", "-DNDEBUG")
# position-independent objects, for linking into a shared library (torch's BuildExtension and
# CMake's POSITION_INDEPENDENT_CODE add their own spelling of it).
PIC_FLAGS: tuple[str, ...] = ("-Xcompiler", "-fPIC")
# torch's default nvcc flags define __CUDA_NO_HALF_OPERATORS__ & co; CUTLASS needs those operators
# (the kernel TUs include no torch header), so setup.py drops every default containing one of these.
TORCH_NVCC_DEFINES_DROPPED: tuple[str, ...] = ("NO_HALF", "NO_BFLOAT16")


def drop_torch_half_defines(flags: list[str] | tuple[str, ...]) -> list[str]:
    """torch's COMMON_NVCC_FLAGS without the defines that switch off the half/bfloat16 operators."""
    return [f for f in flags if not any(s in f for s in TORCH_NVCC_DEFINES_DROPPED)]


def cutlass_source_path() -> str:
    """The folder of the nvidia-cutlass package that holds include/ and tools/util/include/."""
    import cutlass_library

    return cutlass_library.source_path


def cutlass_include_dirs(cutlass_src: str | None = None) -> list[str]:
    src = cutlass_source_path() if cutlass_src is None else cutlass_src
    return [os.path.join(src, "include"), os.path.join(src, "tools", "util", "include")]


def include_dirs(root: str = ROOT, cutlass: bool = True, cutlass_src: str | None = None) -> list[str]:
    """csrc/, then (``cutlass=True``) the CUTLASS include directories."""
    return [os.path.join(root, "csrc")] + (cutlass_include_dirs(cutlass_src) if cutlass else [])


def nvcc_command_flags(pic: bool = False, includes: bool = True, cutlass: bool = True,
                       root: str = ROOT, cutlass_src: str | None = None) -> list[str]:
    """The flags of a plain ``nvcc -c`` of a generated file: NVCC_FLAGS, [PIC_FLAGS], -I dirs."""
    flags = list(NVCC_FLAGS) + (list(PIC_FLAGS) if pic else [])
    if includes:
        flags += [f"-I{d}" for d in include_dirs(root, cutlass, cutlass_src)]
    return flags


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m machete_gen.build_flags",
                                description="Print the nvcc flags of the generated sources.")
    p.add_argument("--pic", action="store_true", help="add -Xcompiler -fPIC (objects for a shared library)")
    p.add_argument("--no-cutlass", action="store_true", help="-I csrc only (nvidia-cutlass not needed)")
    p.add_argument("--no-includes", action="store_true", help="no -I flags at all")
    p.add_argument("--lines", action="store_true", help="one flag per line (for bash `mapfile -t`)")
    args = p.parse_args(argv)
    try:
        flags = nvcc_command_flags(pic=args.pic, includes=not args.no_includes, cutlass=not args.no_cutlass)
    except ImportError as e:
        print(f"{p.prog}: nvidia-cutlass is not importable by {sys.executable} ({e}); "
              "install nvidia-cutlass==4.2.0.0 or pass --no-cutlass", file=sys.stderr)
        return 2
    print("\n".join(flags) if args.lines else shlex.join(flags))
    return 0


if __name__ == "__main__":
    sys.exit(main())
