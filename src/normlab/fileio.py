"""Atomic file writes: every file normlab produces is written through these."""

from __future__ import annotations

import os
import tempfile
import json
import math
from pathlib import Path
from typing import Any

# Read once: os.umask can only be read by setting it, which would race with other threads.
_UMASK = os.umask(0)
os.umask(_UMASK)


def user_cache_dir(name: str) -> Path:
    """normlab's cache directory ``name``: ``$XDG_CACHE_HOME/normlab/<name>``.

    Falls back to ``~/.cache`` when ``XDG_CACHE_HOME`` is unset, empty or relative (as the
    XDG specification requires).
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "normlab" / name


def set_default_mode(path: str | Path, mode: int = 0o666) -> None:
    """``chmod`` ``path`` to ``mode`` less the umask: what creating it with ``open`` would give."""
    os.chmod(path, mode & ~_UMASK)


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
        set_default_mode(self.tmp)
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


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def json_dumps(data: Any, *, indent: int | None = 1) -> str:
    """Strict JSON: NaN and infinities (a diverged run's losses) become ``null``, which every reader accepts."""
    return json.dumps(_finite(data), indent=indent, allow_nan=False)
