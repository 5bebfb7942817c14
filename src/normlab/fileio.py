"""Atomic file writes: every file normlab produces is written through these."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename.

    A reader never sees a half-written file, and a crash leaves the old file intact.
    """
    with atomic_writer(path) as fh:
        fh.write(data)
    return Path(path)


def atomic_writer(path: str | Path):
    """Context manager yielding a binary file handle whose content replaces ``path`` atomically.

    For writers that stream (``torch.save``, a download): on any exception the temporary file
    is removed and ``path`` is left as it was.
    """
    return _AtomicWriter(Path(path))


class _AtomicWriter:
    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        # mkstemp creates 0600 files; give outputs the permissions an ordinary open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)
        self.fh = os.fdopen(fd, "wb")
        return self.fh

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.fh.flush()
                os.fsync(self.fh.fileno())
            self.fh.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
        finally:
            if exc_type is not None or os.path.exists(self.tmp):
                Path(self.tmp).unlink(missing_ok=True)
        return False


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))
