"""``python -m machete``: what this install was built with, and what it would run here.

Prints the package version, the build manifest it answers from (its types, how many schedules each
has, the heuristic table of each and any per-GPU tables), whether the CUDA extension imports, and
the GPU it sees with the table ``mm`` would use there. Needs no GPU; exits 1 only when the manifest
cannot be read.
"""
from __future__ import annotations

import sys


def _extension_status() -> str:
    try:
        from . import _C  # noqa: F401
    except ImportError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return f"not built or not loadable ({first}); machete.mm raises until it is"
    return "built (machete._C_ext imports)"


def report() -> list[str]:
    import torch

    from . import __version__, _manifest, _model
    from .ops import _W4A8_A, current_device_name

    path = _manifest.manifest_path()
    build = _model._Manifest(_manifest.load(path))  # not the cached backend(): this path, read now
    data = build.data
    types = data["types"]
    w4a8 = [t for t in types if t["a"] in _W4A8_A]
    lines = [f"machete {__version__} (torch {torch.__version__})",
             f"build manifest: {path} (format {data['format']}, {data.get('generator', '?')} "
             f"{data.get('version', '?')})",
             f"types: {len(types)} ({sum(len(t['schedules']) for t in types)} kernel entry points)"]
    width = max(len(t["signature"]) for t in types)
    for t in types:
        extra = "".join(f", {d['device']!r}: {d['heuristic']}" for d in t.get("device_heuristics", ()))
        lines.append(f"  {t['signature']:<{width}}  {len(t['schedules']):>3} schedules  "
                     f"heuristic {t['heuristic']}{extra}")
    lines.append("W4A8 types: " + (f"{len(w4a8)} built" if w4a8 else
                                   "not built (MACHETE_W4A8=1 builds them, docs/W4A8.md)"))
    lines.append(f"CUDA extension: {_extension_status()}")
    name = current_device_name()  # $MACHETE_DEVICE_NAME, else the current GPU's, else None
    tables = ", ".join(sorted({build.table_for(k, name) for k in build.type_configs()}))
    if torch.cuda.is_available():
        dev = torch.cuda.current_device()
        gpu = torch.cuda.get_device_name(dev)
        lines.append(f"device: cuda:{dev} {gpu} "
                     f"(sm_{''.join(map(str, torch.cuda.get_device_capability(dev)))}, "
                     f"{torch.cuda.get_device_properties(dev).multi_processor_count} SMs); "
                     f"heuristic table(s) used: {tables}"
                     + (f" ($MACHETE_DEVICE_NAME={name!r})" if name != gpu else ""))
    else:
        lines.append(f"device: no CUDA device visible to torch; heuristic table(s) answered by "
                     f"heuristic_schedule: {tables}" + (f" ($MACHETE_DEVICE_NAME={name!r})" if name else ""))
    return lines


def main() -> int:
    try:
        lines = report()
    except RuntimeError as e:  # an unreadable or foreign manifest (_manifest.load's one line)
        print(e, file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
