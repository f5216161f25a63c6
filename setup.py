"""Builds the CUDA extension machete._C_ext, wrapped by machete/_C.py (metadata lives in setup.cfg / pyproject.toml).

    MACHETE_TYPES=<sigs> MACHETE_SCHEDULES=<names> MAX_JOBS=<n> \
        pip install --no-build-isolation --no-deps -e .

1. runs `generate_machete.py --output-dir build/generated [--types ...] [--schedules ...]`
   (comma lists; unset = every type / schedule) and copies its machete_build_manifest.json to
   machete/_build_manifest.json (what the runtime answers supported_schedules / heuristic from),
2. compiles the generated .cu files + csrc/torch_bindings.cpp into machete._C for sm_90a
   (ninja, MAX_JOBS parallel jobs; each CUTLASS TU needs ~5-9 GB of memory) with the flags of
   machete_gen/build_flags.py (the one place they are spelled).

Environment:
  MACHETE_W4A8=1            also build the W4A8 types (s8 / e4m3 activations x u4b8; generator --w4a8).
  MACHETE_SKIP_EXT=1        install the pure-Python parts only.
  MACHETE_PREBUILT_OBJS=DIR link the kernel objects DIR/*.o (from scripts/compile_kernels.sh,
                            same generated sources) instead of compiling the .cu files here.
  MACHETE_GEN_DIR=DIR       where the generator writes (default build/generated).
  MAX_JOBS=N                parallel compiles; default: free memory / 6 GB (a CUTLASS TU needs 5-9 GB),
                            at most the CPU count.
Without CUDA (torch missing, a CPU-only torch, no nvcc / CUDA_HOME, no nvidia-cutlass) the extension
is skipped and the reason printed on stderr and on the terminal (pip hides a build's output unless -v).
"""
import glob
import importlib.util
import os
import subprocess
import sys

from setuptools import setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def build_flags():
    """machete_gen/build_flags.py, the one place the compiler flags are spelled (loaded by path:
    standard library only, and never an installed copy of another checkout)."""
    path = os.path.join(ROOT, "machete_gen", "build_flags.py")
    spec = importlib.util.spec_from_file_location("machete_build_flags", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GB_PER_JOB = 6  # memory one CUTLASS translation unit takes to compile (5-9 GB measured)


def _say(msg):
    """A line the user sees: stderr, and the terminal too when stderr is captured (pip shows a
    build backend's output only with -v or on failure)."""
    line = f"machete setup: {msg}"
    print(line, file=sys.stderr, flush=True)
    if not sys.stderr.isatty():
        try:
            with open("/dev/tty", "w") as tty:
                tty.write(line + "\n")
        except OSError:
            pass


def _skip(reason):
    _say(f"{reason}: building WITHOUT the CUDA extension machete._C "
         "(pure-Python install; machete.mm will raise until it is built)")
    return {}


def cuda_problem(torch_mod, cuda_home):
    """Why the extension cannot be built with this torch / CUDA toolkit, or None."""
    cuda = getattr(getattr(torch_mod, "version", None), "cuda", None)
    if cuda is None:
        return (f"torch {getattr(torch_mod, '__version__', '?')} is a CPU-only build (torch.version.cuda is None); "
                "install a CUDA build of torch to compile the kernels")
    if cuda_home is None:
        return f"no CUDA toolkit found for torch's CUDA {cuda} (set CUDA_HOME or put nvcc on PATH)"
    return None


def default_max_jobs(meminfo_text, cpus):
    """MAX_JOBS from /proc/meminfo's MemAvailable: GB_PER_JOB per job, 1 <= jobs <= cpus."""
    for line in meminfo_text.splitlines():
        if line.startswith("MemAvailable:"):
            avail_gb = int(line.split()[1]) / 2**20  # kB -> GiB
            return max(1, min(int(cpus or 1), int(avail_gb // GB_PER_JOB))), avail_gb
    return max(1, int(cpus or 1) // 2), None


def _set_max_jobs(n_files):
    if os.environ.get("MAX_JOBS"):
        _say(f"compiling {n_files} files, MAX_JOBS={os.environ['MAX_JOBS']} (from the environment)")
        return
    try:
        with open("/proc/meminfo") as f:
            jobs, avail = default_max_jobs(f.read(), os.cpu_count())
    except OSError:
        jobs, avail = default_max_jobs("", os.cpu_count())
    os.environ["MAX_JOBS"] = str(jobs)
    why = f"{avail:.0f} GB available / {GB_PER_JOB} GB per CUTLASS file" if avail is not None else "half the CPUs"
    _say(f"compiling {n_files} files, MAX_JOBS={jobs} ({why}; set MAX_JOBS to override); "
         "each file takes minutes, progress lines with `pip install -v`")
    # ninja's progress line: [finished/total elapsed]
    os.environ.setdefault("NINJA_STATUS", "[%f/%t %es] ")


def install_build_manifest(gen_dir, package_dir=os.path.join(ROOT, "machete")):
    """Copy the manifest of what this build generates into the package (machete/_build_manifest.json,
    package data), so the runtime answers for exactly the types and schedules compiled. Written only
    if it changed; a MACHETE_TYPES / MACHETE_SCHEDULES build replaces the repository's default one
    (`make manifest` restores it)."""
    src = os.path.join(gen_dir, "machete_build_manifest.json")
    dst = os.path.join(package_dir, "_build_manifest.json")
    with open(src) as f:
        text = f.read()
    try:
        with open(dst) as f:
            if f.read() == text:
                return dst
    except OSError:
        pass
    tmp = dst + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, dst)
    _say(f"build manifest -> {os.path.relpath(dst, ROOT)}")
    return dst


def _ext_kwargs():
    if os.environ.get("MACHETE_SKIP_EXT", "") not in ("", "0"):
        return _skip("MACHETE_SKIP_EXT is set")
    try:
        import torch
        from torch.utils import cpp_extension
    except Exception as e:  # pragma: no cover
        return _skip(f"torch is not importable ({e})")
    problem = cuda_problem(torch, cpp_extension.CUDA_HOME)
    if problem:
        return _skip(problem)
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
    if os.environ.get("MACHETE_W4A8", "") not in ("", "0"):
        cmd += ["--w4a8"]
    print("machete setup: " + " ".join(cmd), file=sys.stderr)
    subprocess.check_call(cmd, cwd=ROOT)
    install_build_manifest(os.path.join(ROOT, gen_dir))

    flags = build_flags()
    # CUTLASS needs the half/bfloat16 operators that torch's default nvcc flags switch off; the
    # kernel TUs include no torch header, so drop those defines.
    cpp_extension.COMMON_NVCC_FLAGS[:] = flags.drop_torch_half_defines(cpp_extension.COMMON_NVCC_FLAGS)

    include_dirs = flags.include_dirs(ROOT, cutlass_src=cutlass_library.source_path)
    sources = [os.path.join("csrc", "torch_bindings.cpp")]
    extra_objects = []
    prebuilt = os.environ.get("MACHETE_PREBUILT_OBJS")
    if prebuilt:
        extra_objects = sorted(glob.glob(os.path.join(prebuilt, "*.o")))
        if not extra_objects:
            raise RuntimeError(f"MACHETE_PREBUILT_OBJS={prebuilt}: no .o files there")
    else:
        sources += sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, gen_dir, "*.cu")))

    _set_max_jobs(len([x for x in sources if x.endswith((".cu", ".cpp"))]))
    ext = cpp_extension.CUDAExtension(
        name="machete._C_ext",
        sources=sources,
        include_dirs=include_dirs,
        extra_objects=extra_objects,
        extra_compile_args={"cxx": list(flags.CXX_FLAGS), "nvcc": list(flags.NVCC_FLAGS)},
    )
    build_ext = cpp_extension.BuildExtension.with_options(use_ninja=True)
    return {"ext_modules": [ext], "cmdclass": {"build_ext": build_ext}}


if __name__ == "__main__":  # setuptools runs this file as __main__; tests import the helpers
    setup(**_ext_kwargs())
