"""The scalar-type table, for the generator: ``machete/_scalar_table.py`` loaded by path.

The table lives in the runtime package (the runtime is the lower layer: it must never import
``machete_ir``), but ``import machete._scalar_table`` would run ``machete/__init__``, which imports
torch; the generator needs no torch. So this module loads the stdlib-only table file on its own
(``machete/`` and ``machete_ir/`` are siblings in the checkout and in an installed wheel). If the
runtime already imported it, that module is used, so both see the same rows.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

TABLE_PATH = Path(__file__).resolve().parent.parent / "machete" / "_scalar_table.py"
_RUNTIME_NAME = "machete._scalar_table"
_OWN_NAME = "machete_ir._runtime_scalar_table"


def _load():
    for name in (_RUNTIME_NAME, _OWN_NAME):
        mod = sys.modules.get(name)
        if mod is not None and Path(getattr(mod, "__file__", "")).resolve() == TABLE_PATH:
            return mod
    spec = importlib.util.spec_from_file_location(_OWN_NAME, TABLE_PATH)
    if spec is None or spec.loader is None or not TABLE_PATH.is_file():
        raise ImportError(f"machete_ir: the scalar table {TABLE_PATH} is missing (machete/ must sit "
                          f"next to machete_ir/)")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[_OWN_NAME] = mod  # before exec: NamedTuple looks its module up
    spec.loader.exec_module(mod)
    return mod


_table = _load()

Scalar = _table.Scalar
SCALARS: tuple = _table.SCALARS
BY_SHORT: dict = _table.BY_SHORT
B_TYPES: tuple = _table.B_TYPES

__all__ = ["TABLE_PATH", "Scalar", "SCALARS", "BY_SHORT", "B_TYPES"]
