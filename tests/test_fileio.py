"""normlab.fileio: atomic writes, and one clear OutputError when an output cannot be written."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest
import torch

from normlab import fileio
from normlab.errors import NormlabError, OutputError
from normlab.fileio import atomic_write_bytes, atomic_write_text, atomic_writer, ensure_dir


@pytest.fixture
def full_disk(monkeypatch):
    """Temporary files are created as usual, but every write to them fails as on a full disk
    (their descriptor is pointed at /dev/full, which answers ENOSPC)."""
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    real = tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        fd, name = real(*args, **kwargs)
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, fd)
        os.close(full)
        return fd, name

    monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_full_disk_is_one_clear_line_and_leaves_the_old_file(tmp_path, full_disk):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(OutputError) as info:
        atomic_write_text(target, "new" * 10_000)
    assert str(info.value) == f"cannot write {target}: no space left on device"
    assert isinstance(info.value, NormlabError) and isinstance(info.value, OSError)
    assert info.value.errno == errno.ENOSPC
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == ["metrics.json"]  # the temporary file is gone


def test_torch_save_on_a_full_disk_names_the_cause_not_inline_container(tmp_path, full_disk):
    # torch.save turns the failed write into "RuntimeError: [enforce fail at inline_container.cc...]".
    target = tmp_path / "model.pt"
    with pytest.raises(OutputError, match=f"^cannot write {target}: no space left on device$"):
        with atomic_writer(target) as fh:
            torch.save({"w": torch.zeros(100_000)}, fh)
    assert _leftovers(tmp_path) == []


def test_read_only_folder(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(fileio.tempfile, "mkstemp", read_only)
    with pytest.raises(OutputError, match=f"^cannot write {tmp_path / 'a.txt'}: read-only file system$"):
        atomic_write_bytes(tmp_path / "a.txt", b"x")


def test_folder_that_cannot_be_created(tmp_path, monkeypatch):
    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    out = tmp_path / "runs" / "compare"
    with pytest.raises(OutputError, match=f"^cannot create folder {out}: read-only file system$"):
        ensure_dir(out)
    with pytest.raises(OutputError, match=f"^cannot create folder {out}: read-only file system$"):
        atomic_write_text(out / "metrics.json", "{}")


def test_ensure_dir_with_a_file_in_the_way(tmp_path):
    (tmp_path / "out").write_text("a file, not a folder")
    with pytest.raises(OutputError, match="cannot create folder .*out/sub: a file is in the way"):
        ensure_dir(tmp_path / "out" / "sub")
    assert ensure_dir(tmp_path / "new" / "sub") == tmp_path / "new" / "sub"
    assert (tmp_path / "new" / "sub").is_dir()


def test_failed_rename_removes_the_temporary_file(tmp_path, monkeypatch):
    def denied(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(fileio.os, "replace", denied)
    with pytest.raises(OutputError, match=f"^cannot write {tmp_path / 'r.csv'}: permission denied$"):
        atomic_write_text(tmp_path / "r.csv", "a,b\n")
    assert _leftovers(tmp_path) == []


def test_other_errors_in_the_body_pass_unchanged(tmp_path):
    # Only failures of the file itself are output errors; a caller's own exception is its own.
    with pytest.raises(ValueError, match="verification failed"):
        with atomic_writer(tmp_path / "data.gz") as fh:
            fh.write(b"partial")
            raise ValueError("verification failed")
    with pytest.raises(RuntimeError, match="not a disk problem"):
        with atomic_writer(tmp_path / "m.pt"):
            raise RuntimeError("not a disk problem")
    assert _leftovers(tmp_path) == []


def test_a_successful_write_replaces_the_file(tmp_path):
    target = tmp_path / "sub" / "t.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert _leftovers(target.parent) == ["t.txt"]
