"""Finding a dataset's files on disk, downloading them from mirrors, and verifying them.

A dataset's folder is the ``data_dir`` argument, else what ``$NORMLAB_DATA`` provides for it
(:func:`env_directory`), else the cache; only the cache is filled from the mirrors unasked: a
folder the user chose that lacks files is an error naming it, rather than a silent fetch
elsewhere. A folder provides a file under its decompressed name or its ``.gz`` one.

Downloads are verified against the checksums of the DECOMPRESSED content (so a mirror that
recompressed the files passes) before they are renamed into place, so a partial or corrupt
file is never left where a later run would trust it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shlex
import socket
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from normlab import __version__
from normlab.data.idx import data_file_error, gunzip_bytes, inspect_idx, read_decompressed
from normlab.data.registry import FILE_KEYS, DatasetSpec, FileSpec, get_dataset_spec
from normlab.errors import ConfigError, DownloadError, IDXFormatError
from normlab.fileio import atomic_writer, user_cache_dir

__all__ = ["ENV_VAR", "DownloadConfig", "FileCheck", "cache_dir", "data_directory", "env_directory", "find_file",
           "resolve_files", "download_file", "check_content", "check_file", "verify_files"]

#: Environment variable naming a directory with one subfolder per dataset (or MNIST's files).
ENV_VAR = "NORMLAB_DATA"

_GZIP_MAGIC = b"\x1f\x8b"

Log = Callable[[str], None]


@dataclass(frozen=True)
class DownloadConfig:
    """How downloads behave.

    ``timeout`` (seconds) bounds each network operation (connecting, each read); a mirror
    that fails with a transient fault (timeout, connection error, HTTP 5xx, truncated
    transfer) is tried ``retries`` more times, sleeping ``backoff * 2**attempt`` seconds in
    between, before the next mirror is tried.
    """

    timeout: float = 30.0
    retries: int = 2
    backoff: float = 1.0
    chunk_size: int = 1 << 20

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ConfigError(f"download timeout must be > 0 seconds, got {self.timeout}")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise ConfigError(f"download retries must be an integer >= 0, got {self.retries!r}")
        if not self.backoff >= 0:
            raise ConfigError(f"download backoff must be >= 0 seconds, got {self.backoff}")
        if self.chunk_size <= 0:
            raise ConfigError(f"download chunk_size must be > 0, got {self.chunk_size}")


@dataclass(frozen=True)
class FileCheck:
    """The result of checking one file of a dataset.

    ``size``, ``md5`` and ``sha256`` describe the decompressed content (``None`` when the
    file is missing or unreadable). ``checked`` names what was compared with the spec
    (``size``, ``md5``, ``sha256``, ``gz-md5``, ``idx``); ``fault`` says what is wrong.
    """

    key: str
    path: Path | None
    size: int | None
    md5: str | None
    sha256: str | None
    ok: bool
    fault: str | None = None
    checked: tuple[str, ...] = ()


class _Transient(Exception):
    """A fault worth retrying on the same mirror."""


class _Permanent(Exception):
    """A fault that retrying the same mirror will not fix."""


def cache_dir(name: str) -> Path:
    """The cache directory of dataset ``name`` (:func:`normlab.fileio.user_cache_dir`)."""
    return user_cache_dir(name)


def data_directory(name: str | DatasetSpec, data_dir: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Return the directory to use for dataset ``name`` and where that choice came from.

    The second item is ``"argument"``, ``"NORMLAB_DATA"`` or ``"cache"``. ``$NORMLAB_DATA``
    is used only when it provides the dataset (see :func:`env_directory`); otherwise the
    cache is.
    """
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser(), "argument"
    name = name.name if isinstance(name, DatasetSpec) else name
    env = env_directory(name)
    if env is not None:
        return env, ENV_VAR
    return cache_dir(name), "cache"


def env_directory(name: str) -> Path | None:
    """The directory ``$NORMLAB_DATA`` provides for dataset ``name``, or None.

    That is ``$NORMLAB_DATA/<name>/`` when it is a directory (even an empty one: the user made
    it for this dataset, so ``normlab data download`` fills it). For ``mnist`` only, the folder
    itself counts too when it holds any of MNIST's files: the other MNIST-style datasets use
    the same file names, so their files are never taken from there.
    """
    env = os.environ.get(ENV_VAR, "")
    if not env:
        return None
    root = Path(env).expanduser()
    sub = root / name
    if sub.is_dir():
        return sub
    if name == "mnist" and root.is_dir():
        mnist = get_dataset_spec("mnist")
        if any(find_file(root, fspec) is not None for fspec in mnist.files.values()):
            return root
    return None


def find_file(directory: Path, fspec: FileSpec) -> Path | None:
    """The path of ``fspec`` in ``directory`` (decompressed name first, then ``.gz``), or None.

    A file is preferred; failing that, anything else under one of the names (a folder, say)
    is returned too, so that reading it reports what is in the file's place rather than a
    missing file. Raises :class:`DataFileError` when ``directory`` cannot be searched.
    """
    found: list[tuple[Path, bool]] = []
    for candidate in (directory / fspec.filename, directory / fspec.gz_name):
        try:
            found.append((candidate, stat.S_ISREG(candidate.stat().st_mode)))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:  # e.g. a folder without search permission
            raise data_file_error(candidate, exc) from None
    found.sort(key=lambda item: not item[1])  # stable: a file first, in name order
    return found[0][0] if found else None


def _describe_source(directory: Path, source: str) -> str:
    if source == "argument":
        return f"data directory {directory}"
    if source == ENV_VAR:
        return f"directory {directory} (from ${ENV_VAR})"
    env = os.environ.get(ENV_VAR, "")
    if env:
        # Say why $NORMLAB_DATA was passed over, or the user wonders why it is not used.
        return f"cache directory {directory} (${ENV_VAR}={env} provides no {directory.name}/ folder)"
    return f"cache directory {directory}"


def resolve_files(name: str | DatasetSpec, data_dir: str | os.PathLike | None = None, *,
                  download: bool | None = None, config: DownloadConfig | None = None,
                  log: Log | None = None) -> dict[str, Path]:
    """Return the path of each of the dataset's four files, downloading missing ones if allowed.

    ``download=None`` (the default) downloads only into the cache, i.e. when neither
    ``data_dir`` nor ``$NORMLAB_DATA`` provides the dataset; ``True`` also downloads the
    missing files into a chosen directory; ``False`` never downloads. Files that are found
    are returned as they are (see :func:`verify_files` / ``verify=True`` in the loaders to
    check them); downloaded files are always verified. Raises :class:`DownloadError` naming
    the directory and the missing files when they may not be downloaded, or listing every URL
    tried and why it failed when the download fails.
    """
    spec = get_dataset_spec(name)
    directory, source = data_directory(spec.name, data_dir)
    if directory.exists() and not directory.is_dir():
        raise DownloadError(f"{_describe_source(directory, source)} is not a directory")
    found = {key: find_file(directory, spec.files[key]) for key in FILE_KEYS}
    missing = [key for key, path in found.items() if path is None]
    if not missing:
        return found
    allowed = download if download is not None else source == "cache"
    if not allowed:
        names = ", ".join(f"{spec.files[k].filename} (or {spec.files[k].gz_name})" for k in missing)
        command = f"normlab data download --dataset {shlex.quote(spec.name)} --data-dir {shlex.quote(str(directory))}"
        raise DownloadError(f"dataset {spec.name!r}: {_describe_source(directory, source)} lacks {names}; "
                            f"put the files there, or run `{command}` to fetch them into it "
                            f"(from Python: pass download=True)")
    if log and source == "cache" and os.environ.get(ENV_VAR):
        log(f"${ENV_VAR} provides no {spec.name}/ folder; using the cache {directory}")
    failures: list[str] = []
    for key in missing:
        try:
            found[key] = download_file(spec, key, directory, config=config, log=log)
        except DownloadError as exc:
            failures.append(str(exc))
    if failures:
        raise DownloadError("\n".join(failures))
    return found


def _fetch(url: str, cfg: DownloadConfig) -> Iterator[bytes]:
    """Yield the body of ``url`` in chunks; network faults become ``_Transient``/``_Permanent``.

    A generator, so that the caller can look at the first bytes before choosing the file
    name (a mirror may serve the data uncompressed).
    """
    request = urllib.request.Request(url, headers={"User-Agent": f"normlab/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=cfg.timeout) as response:
            length = response.headers.get("Content-Length")
            total = 0
            while True:
                block = response.read(cfg.chunk_size)
                if not block:
                    break
                total += len(block)
                yield block
    except ValueError as exc:  # urllib rejects malformed URLs with ValueError
        raise _Permanent(f"invalid URL ({exc})") from None
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code} {exc.reason}"
        if 500 <= exc.code < 600 or exc.code in (408, 429):
            raise _Transient(reason) from None
        raise _Permanent(reason) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _Transient(f"timed out after {cfg.timeout:g} s") from None
        if isinstance(exc.reason, socket.gaierror):
            raise _Permanent(f"host not found ({exc.reason})") from None
        raise _Transient(f"connection failed ({exc.reason})") from None
    except TimeoutError:
        raise _Transient(f"timed out after {cfg.timeout:g} s") from None
    except http.client.IncompleteRead as exc:
        got = f"got {len(exc.partial)} more bytes, expected {exc.expected} more"
        raise _Transient(f"truncated transfer: {got}") from None
    except (http.client.HTTPException, OSError) as exc:  # a dropped connection, a socket or TLS error
        raise _Transient(f"connection failed ({type(exc).__name__}: {exc})") from None
    if length is not None and length.isdigit() and total != int(length):
        raise _Transient(f"truncated transfer: got {total} of {length} bytes")


def _download_once(url: str, fspec: FileSpec, directory: Path, cfg: DownloadConfig) -> Path:
    """Download ``url`` into ``directory`` and verify it; return the final path.

    Raises ``_Transient``/``_Permanent`` for network and verification faults and
    :class:`OSError` when writing fails; in every case nothing is left in ``directory``.
    """
    chunks = _fetch(url, cfg)
    # Gzip never makes a file much bigger (stored blocks cost 5 bytes in 64 KiB, plus its
    # header), so a longer response is refused before it fills memory or disk.
    limit = None if fspec.size is None else fspec.size + fspec.size // 100 + (1 << 16)
    try:
        raw = bytearray()
        # Enough of the start to see whether the data are gzip-compressed.
        for block in chunks:
            raw += block
            if len(raw) >= len(_GZIP_MAGIC):
                break
        is_gzip = raw[: len(_GZIP_MAGIC)] == _GZIP_MAGIC
        # Keep the name that matches the content: a mirror may serve it uncompressed.
        final = directory / (fspec.gz_name if is_gzip else fspec.filename)
        with atomic_writer(final) as fh:
            fh.write(raw)
            for block in chunks:
                if limit is not None and len(raw) + len(block) > limit:
                    raise _Permanent(f"the response is larger than the {fspec.size}-byte file can be, "
                                     f"even compressed; stopped after {len(raw)} bytes")
                fh.write(block)
                raw += block
            # Raised inside the block, so the unverified data never replace ``final``.
            _verify_download(fspec, raw, is_gzip)
    finally:
        chunks.close()
    return final


def download_file(spec: DatasetSpec | str, key: str, directory: str | os.PathLike, *,
                  config: DownloadConfig | None = None, log: Log | None = None) -> Path:
    """Download file ``key`` of ``spec`` into ``directory``, trying each mirror in turn.

    The data stream into a temporary file in ``directory``, are verified with
    :func:`check_content` and are renamed into place only when they pass. Returns the final
    path. Raises :class:`DownloadError` listing every URL tried and why each failed; no
    temporary file is left behind in any case.
    """
    spec = get_dataset_spec(spec)
    cfg = config or DownloadConfig()
    fspec = spec.files[key]
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the data directory {directory}: {exc}") from None
    tried: list[str] = []
    for mirror in spec.mirrors:
        url = spec.url(mirror, key)
        reason = "not tried"
        for attempt in range(cfg.retries + 1):
            if attempt:
                time.sleep(cfg.backoff * 2 ** (attempt - 1))
            if log:
                retry = f" (attempt {attempt + 1} of {cfg.retries + 1})" if attempt else ""
                log(f"downloading {url}{retry}")
            try:
                final = _download_once(url, fspec, directory, cfg)
                if log:
                    log(f"saved {final}")
                return final
            except _Transient as exc:
                reason = str(exc)
                if attempt < cfg.retries:
                    continue
                if cfg.retries:
                    reason += f" ({cfg.retries + 1} attempts)"
            except _Permanent as exc:
                reason = str(exc)
            except OSError as exc:  # disk full, permissions, ...: no mirror can fix that
                raise DownloadError(f"cannot write {spec.name} file {fspec.gz_name} into {directory}: {exc}") from None
            break
        tried.append(f"  {url}: {reason}")
        if log:
            log(f"failed {url}: {reason}")
    listing = "\n".join(tried) if tried else "  (the dataset lists no mirrors)"
    raise DownloadError(f"could not download {spec.name} file {fspec.gz_name} into {directory}; tried:\n{listing}")


def _verify_download(fspec: FileSpec, raw: bytearray, is_gzip: bool) -> None:
    """Raise :class:`_Permanent` unless the downloaded bytes ``raw`` match ``fspec``."""
    name = "downloaded " + fspec.gz_name  # the URL heads the error line already
    try:
        if is_gzip:
            content = gunzip_bytes(raw, name, max_size=fspec.size)
        else:
            content = np.frombuffer(raw, dtype=np.uint8)
    except IDXFormatError as exc:
        raise _Permanent(f"verification failed: {exc}") from None
    gz_md5 = hashlib.md5(raw, usedforsecurity=False).hexdigest() if is_gzip else None
    _, _, fault, _ = check_content(fspec, content, gz_md5=gz_md5, name=name)
    if fault:
        raise _Permanent(f"verification failed: {fault}")


def check_content(fspec: FileSpec, content: np.ndarray, *, gz_md5: str | None = None,
                  name: str = "<content>") -> tuple[str, str, str | None, tuple[str, ...]]:
    """Compare decompressed ``content`` with ``fspec``; return ``(md5, sha256, fault, checked)``.

    Known values are compared: the size, the MD5 and the SHA-256 of the decompressed bytes,
    and the IDX structure. When the spec has no decompressed checksum, the MD5 of the ``.gz``
    file as served by the original mirrors is compared instead, if the caller passes the
    file's ``gz_md5``. ``fault`` is None when everything compared equal.
    """
    md5 = hashlib.md5(content, usedforsecurity=False).hexdigest()
    sha256 = hashlib.sha256(content).hexdigest()
    checked: list[str] = []
    faults: list[str] = []
    if fspec.size is not None:
        checked.append("size")
        if len(content) != fspec.size:
            faults.append(f"size {len(content)} bytes, expected {fspec.size}")
    if fspec.md5:
        checked.append("md5")
        if md5 != fspec.md5:
            faults.append(f"MD5 {md5}, expected {fspec.md5}")
    if fspec.sha256:
        checked.append("sha256")
        if sha256 != fspec.sha256:
            faults.append(f"SHA-256 {sha256}, expected {fspec.sha256}")
    if not fspec.has_content_hash and fspec.gz_md5 and gz_md5 is not None:
        checked.append("gz-md5")
        if gz_md5 != fspec.gz_md5:
            faults.append(f"MD5 of the .gz file {gz_md5}, expected the published {fspec.gz_md5} (no checksum "
                          f"of the decompressed file is published, so a recompressed copy cannot be verified)")
    try:
        inspect_idx(content, name)
        checked.append("idx")
    except IDXFormatError as exc:
        faults.append(str(exc))
    return md5, sha256, ("; ".join(faults) or None), tuple(checked)


def _gz_md5(path: Path) -> str | None:
    """The MD5 of the file at ``path`` if it is gzip-compressed, else None; read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with open(path, "rb") as fh:
            if fh.read(2) != _GZIP_MAGIC:
                return None
            digest.update(_GZIP_MAGIC)
            while block := fh.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        raise data_file_error(path, exc) from None
    return digest.hexdigest()


def check_file(spec: DatasetSpec | str, key: str, path: str | os.PathLike, *,
               content: np.ndarray | None = None) -> FileCheck:
    """Read, decompress and check file ``key`` of ``spec`` at ``path``; never raises for bad data.

    Pass ``content`` (from :func:`~normlab.data.idx.read_decompressed`) when it is already in
    memory, to avoid decompressing the file twice.
    """
    spec = get_dataset_spec(spec)
    fspec = spec.files[key]
    path = Path(path)
    try:
        if content is None:
            content = read_decompressed(path, max_size=fspec.size)
        gz_md5 = None
        if not fspec.has_content_hash and fspec.gz_md5:
            gz_md5 = _gz_md5(path)
    except (IDXFormatError, OSError) as exc:
        return FileCheck(key, path, None, None, None, False, str(exc))
    md5, sha256, fault, checked = check_content(fspec, content, gz_md5=gz_md5, name=str(path))
    return FileCheck(key, path, len(content), md5, sha256, fault is None, fault, checked)


def verify_files(name: str | DatasetSpec, data_dir: str | os.PathLike | None = None) -> list[FileCheck]:
    """Check every file of ``name`` where :func:`resolve_files` would look; download nothing.

    Returns one :class:`FileCheck` per file in the order train images, train labels, test
    images, test labels; missing files are reported as faults.
    """
    spec = get_dataset_spec(name)
    directory, source = data_directory(spec.name, data_dir)
    checks = []
    for key in FILE_KEYS:
        fspec = spec.files[key]
        path = find_file(directory, fspec)
        if path is None:
            fault = f"missing: neither {fspec.filename} nor {fspec.gz_name} in {_describe_source(directory, source)}"
            checks.append(FileCheck(key, None, None, None, None, False, fault))
        else:
            checks.append(check_file(spec, key, path))
    return checks
