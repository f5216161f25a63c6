"""machete-gen's generator, installed under the project's namespace.

In the repository the generator is the top-level ``generate_machete.py`` with its packages
``passes`` and ``emitters`` (they import each other by those names). A wheel does not install
such generic top-level names: setup.cfg maps them into ``machete_gen/_gen/`` (not on ``sys.path``),
and :func:`generator_path` puts that folder (or, in a checkout, the repository root) on
``sys.path`` for the ``machete-gen`` console script only. ``machete_ir`` stays a top-level package.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def generator_path() -> str:
    """The folder holding generate_machete.py, passes/ and emitters/ (installed or checkout)."""
    installed = os.path.join(_HERE, "_gen")
    if os.path.isfile(os.path.join(installed, "generate_machete.py")):
        return installed
    return os.path.dirname(_HERE)  # the repository root


def main(argv: list[str] | None = None) -> int:
    """The ``machete-gen`` console script: ``generate_machete.py``'s CLI."""
    path = generator_path()
    if path not in sys.path:
        sys.path.insert(0, path)
    import generate_machete

    return generate_machete.main(argv)
