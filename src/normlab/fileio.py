"""Atomic file writes: every file normlab produces is written through these."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from normlab.errors import OutputError

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

    A reader never sees a half-written file, and a crash leaves the old file intact. A write
    that fails (full disk, read-only, permissions) is an :class:`OutputError`.
    """
    with atomic_writer(path) as fh:
        fh.write(data)
    return Path(path)


# Plain words for the causes a user can fix; any other OSError gets the system's own text.
_CAUSES = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EFBIG: "file too large",
    errno.ENOTDIR: "a file is in the way of a folder on that path",
    errno.EEXIST: "a file is in the way of a folder on that path",
}


def output_error(path: str | Path, exc: OSError, *, what: str = "write") -> OutputError:
    """An :class:`OutputError` for ``exc``: one line, ``cannot write PATH: no space left on device``.

    Keeps ``exc.errno`` so callers can still tell the causes apart.
    """
    cause = _CAUSES.get(exc.errno) or (os.strerror(exc.errno).lower() if exc.errno else str(exc))
    err = OutputError(f"cannot {what} {path}: {cause}")
    err.errno = exc.errno
    return err


def ensure_dir(path: str | Path) -> Path:
    """Create folder ``path`` and its parents if needed; an :class:`OutputError` naming it if that fails."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(path, exc, what="create folder") from exc
    return path


def atomic_writer(path: str | Path):
    """Context manager yielding a binary file handle whose content replaces ``path`` atomically.

    For writers that stream (``torch.save``, a download): on any exception the temporary file
    is removed and ``path`` is left as it was. A failed write to the handle, or a failed
    flush, sync or rename, is raised as an :class:`OutputError` naming ``path`` and the cause,
    also when ``torch.save`` has turned it into a ``RuntimeError``; other exceptions pass unchanged.
    """
    return _AtomicWriter(Path(path))


class _TrackedWriter(io.BufferedWriter):
    """A file that remembers its first failed write: ``torch.save`` reports one as a
    ``RuntimeError`` ("enforce fail at inline_container.cc") that no longer says why."""

    error: OSError | None = None

    def _tracked(self, method, *args):
        try:
            return method(*args)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def write(self, data):
        return self._tracked(super().write, data)

    def flush(self):
        return self._tracked(super().flush)


class _AtomicWriter:
    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        ensure_dir(self.path.parent)
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        except OSError as exc:
            raise output_error(self.path, exc) from exc
        try:
            # mkstemp creates 0600 files; give outputs the permissions an ordinary open() would.
            set_default_mode(self.tmp)
        except OSError as exc:
            os.close(fd)
            Path(self.tmp).unlink(missing_ok=True)
            raise output_error(self.path, exc) from exc
        self.fh = _TrackedWriter(io.FileIO(fd, "wb"))
        return self.fh

    def __exit__(self, exc_type, exc, tb):
        replaced = False
        failure = None  # an OSError while finishing the file
        try:
            if exc is None:
                self.fh.flush()
                os.fsync(self.fh.fileno())
                self.fh.close()
                os.replace(self.tmp, self.path)
                replaced = True
        except OSError as err:
            failure = err
        finally:
            if not replaced:
                # Closing flushes what is buffered, which fails again on a full disk: the first
                # error is the one to report.
                with contextlib.suppress(OSError):
                    self.fh.close()
                with contextlib.suppress(OSError):
                    Path(self.tmp).unlink(missing_ok=True)
        cause = failure or self.fh.error
        if cause is not None and (failure is not None or isinstance(exc, (OSError, RuntimeError))):
            raise output_error(self.path, cause) from (exc or failure)
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
