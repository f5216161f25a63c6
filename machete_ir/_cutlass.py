"""cutlass_library, imported without letting it read the command line.

Importing cutlass_library imports cutlass_library.generator, which parses ``sys.argv`` with
argparse at import time (for its ``--disable-cutlass-package-imports`` flag), so
``benchmarks/tune.py --help`` printed CUTLASS's usage and exited. machete_ir imports
cutlass_library only through this module, which shows it an argv without arguments for that one
import: ``from ._cutlass import DataType`` is ``from cutlass_library import DataType``.
"""

from __future__ import annotations

import sys

if "cutlass_library" not in sys.modules:
    _argv = getattr(sys, "argv", None)
    sys.argv = (_argv or [""])[:1]
    try:
        import cutlass_library  # noqa: F401
    finally:
        if _argv is None:
            del sys.argv
        else:
            sys.argv = _argv

import cutlass_library  # noqa: E402  (already imported above, or by the caller with its argv)


def __getattr__(name: str):
    return getattr(cutlass_library, name)
