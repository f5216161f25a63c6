from __future__ import annotations

import sys
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class CppSnapshotExtension(SingleFileSnapshotExtension):
    """One reviewable .cu file per snapshot (tests/__snapshots__/<test file>/<test name>.cu)."""

    file_extension = "cu"
    _write_mode = WriteMode.TEXT


@pytest.fixture
def cpp_snapshot(snapshot):
    return snapshot.use_extension(CppSnapshotExtension)


class JsonSnapshotExtension(SingleFileSnapshotExtension):
    """The build manifest, one reviewable .json file."""

    file_extension = "json"
    _write_mode = WriteMode.TEXT


@pytest.fixture
def json_snapshot(snapshot):
    return snapshot.use_extension(JsonSnapshotExtension)
