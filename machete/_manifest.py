"""The build manifest: what this package's kernels were built for, as data.

``generate_machete.py`` writes ``machete_build_manifest.json`` next to the generated C++ (format in
``emitters/manifest.py``); ``setup.py`` copies the one it generated into the package as
``machete/_build_manifest.json``, so an installed (or in-place) build carries the manifest of
exactly what it compiled (``MACHETE_TYPES`` / ``MACHETE_SCHEDULES`` respected). The copy in the
repository is the full default build's (``tests/test_manifest.py`` checks it is up to date).

This module needs neither the generator (``machete_ir``) nor ``cutlass_library``.
"""

from __future__ import annotations

import json
import operator
import os
from pathlib import Path
from typing import Mapping

PACKAGE_MANIFEST = Path(__file__).resolve().parent / "_build_manifest.json"
FORMAT = 1

# SPEC §3 canonical schedule suffix (double underscore) and the older single-underscore alias.
_SUFFIX = "_TmaMI__TmaCoop_streamK"
_SUFFIX_ALIAS = "_TmaMI_TmaCoop_streamK"

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
        "==": operator.eq, "!=": operator.ne}


def normalize_schedule_name(name: str) -> str:
    """The canonical spelling of a schedule name: ``..._TmaMI_TmaCoop_streamK`` (alias) becomes
    ``..._TmaMI__TmaCoop_streamK``; any other string is returned unchanged."""
    if name.endswith(_SUFFIX_ALIAS) and not name.endswith(_SUFFIX):
        return name[: -len(_SUFFIX_ALIAS)] + _SUFFIX
    return name


def manifest_path() -> Path:
    """``$MACHETE_BUILD_MANIFEST`` if set, else the package's ``_build_manifest.json``."""
    return Path(os.environ.get("MACHETE_BUILD_MANIFEST") or PACKAGE_MANIFEST)


def load(path: Path | None = None) -> dict:
    path = path or manifest_path()
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise RuntimeError(f"machete: cannot read the build manifest {path}: {e}") from None
    if data.get("format") != FORMAT:
        raise RuntimeError(f"machete: build manifest {path} has format {data.get('format')!r}, "
                           f"this package reads format {FORMAT}")
    return data


def _value(x, env: Mapping[str, int]):
    return env[x] if isinstance(x, str) else x


def evaluate(cond, env: Mapping[str, int]) -> bool:
    """A manifest condition (``None``, ``{"all": [...]}``, ``{"any": [...]}``,
    ``{"lhs": .., "op": .., "rhs": ..}``) evaluated with ``env`` binding M, N, K."""
    if cond is None:
        return True
    if "all" in cond:
        return all(evaluate(t, env) for t in cond["all"])
    if "any" in cond:
        return any(evaluate(t, env) for t in cond["any"])
    return bool(_OPS[cond["op"]](_value(cond["lhs"], env), _value(cond["rhs"], env)))


def select(rules, M: int, N: int, K: int) -> str:
    """The schedule the first matching rule names (the last rule is unconditional)."""
    env = {"M": M, "N": N, "K": K}
    for r in rules:
        if evaluate(r["when"], env):
            return r["schedule"]
    raise RuntimeError("machete: build manifest heuristic has no default rule")
