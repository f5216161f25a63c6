"""emitters/files.py: atomic, concurrent-safe writes (issue 8 item 4)."""

from __future__ import annotations

import errno
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from emitters import files as F

ROOT = Path(__file__).resolve().parent.parent
GEN = [sys.executable, str(ROOT / "generate_machete.py")]


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".tmp"))


def test_concurrent_writers_into_one_directory(tmp_path):
    """Eight threads rewrite the same files 25 times each with different contents: every write
    must succeed, every file must hold one writer's complete text, and no temp file may remain.
    (With one shared ``NAME.tmp`` per file, writers renamed each other's temp files away.)"""
    names = [f"f{i}.cu" for i in range(6)]
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(w: int) -> None:
        try:
            start.wait()
            for r in range(25):
                F.write_files(tmp_path, {n: f"// writer {w} round {r} {n}\n" * 200 for n in names})
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for n in names:
        lines = (tmp_path / n).read_text().splitlines()
        assert len(lines) == 200 and len(set(lines)) == 1 and lines[0].endswith(n)
    assert _leftovers(tmp_path) == []


def test_concurrent_cli_runs_into_one_directory(tmp_path):
    """Four generator processes at once into one fresh directory, twice (the issue's case)."""
    for rnd in range(2):
        out = tmp_path / f"gen{rnd}"
        procs = [subprocess.Popen(GEN + ["--output-dir", str(out)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        for p in procs:
            p.stdout.close()
            p.stderr.close()
        assert [rc for rc, _ in results] == [0] * 4, results
        assert len(list(out.iterdir())) == 12 and _leftovers(out) == []
        check = subprocess.run(GEN + ["--output-dir", str(out), "--check"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("fail_at", ["write", "replace"])
def test_a_failed_write_leaves_no_temp_file_and_the_old_content(tmp_path, monkeypatch, fail_at):
    target = tmp_path / "a.cu"
    target.write_text("old\n")
    if fail_at == "write":  # a character the file's encoding cannot hold fails mid-write
        text = "x" * 100000 + "\udc80"
        exc = UnicodeEncodeError
    else:  # e.g. the disk filled up
        def replace(src, dst):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(F.os, "replace", replace)
        text, exc = "new\n", OSError
    with pytest.raises(exc):
        F.write_files(tmp_path, {"a.cu": text})
    monkeypatch.undo()
    assert target.read_text() == "old\n"
    assert _leftovers(tmp_path) == []


def test_written_files_get_the_usual_permissions(tmp_path):
    """mkstemp creates 0600 files; a generated file gets 0666 minus the umask, like any other."""
    F.write_files(tmp_path, {"a.cu": "x\n"})
    assert stat.S_IMODE((tmp_path / "a.cu").stat().st_mode) == 0o666 & ~F._UMASK
