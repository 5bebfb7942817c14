"""Reading and writing IDX files, the format MNIST and its drop-in replacements ship in.

The format (LeCun, Cortes and Burges) is a header followed by the data:

- bytes 0-1: zero;
- byte 2: the element type: ``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C`` int32,
  ``0x0D`` float32, ``0x0E`` float64;
- byte 3: the number of dimensions ``ndim``;
- ``ndim`` big-endian uint32 sizes, then the elements, big-endian, in C order.

Gzip is recognised by its magic bytes, never by the file name. Every malformed input raises
:class:`~normlab.errors.IDXFormatError` naming the file and the fault, so a damaged file never
yields a silently wrong array. Input is bounded (gzip is inflated only to one byte past the
expected size, a raw file's size is checked before it is read), so a gzip bomb or a huge sparse
file costs no more memory than the file it claims to be.
"""

from __future__ import annotations

import itertools
import math
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from normlab.errors import ConfigError, DataFileError, IDXFormatError
from normlab.fileio import atomic_write_bytes

__all__ = ["IDX_DTYPES", "read_idx", "read_idx_bytes", "read_decompressed", "inspect_idx", "parse_idx_content",
           "gunzip_bytes", "data_file_error", "write_idx", "read_mnist_pair"]

PathLike = str | os.PathLike
Buffer = bytes | bytearray | memoryview | np.ndarray

#: Type code -> big-endian numpy dtype of the elements as stored.
IDX_DTYPES: dict[int, np.dtype] = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
                                   0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODE_BY_KIND = {(dt.kind, dt.itemsize): code for code, dt in IDX_DTYPES.items()}
_VALID_TYPES = ", ".join(f"0x{code:02X} {dt.name}" for code, dt in IDX_DTYPES.items())

_GZIP_MAGIC = b"\x1f\x8b"
# Output is produced in slices of this size so that the decompressed file is written straight
# into one preallocated buffer instead of being assembled from a second full-size copy; small
# slices keep what a gzip bomb adds to that buffer small (zlib's output buffer can double).
_INFLATE_CHUNK = 1 << 18
# Compressed input is fed in slices of this size: a huge file is never held whole, and the
# input zlib hands back unconsumed (a copy) when the output is capped stays small.
_READ_CHUNK = 1 << 16
# The longest IDX header: 4 bytes and 255 dimensions of 4 bytes each.
_MAX_HEADER = 4 + 4 * 255
# Deflate inflates at most about 1032:1, so no buffer is sized beyond this bound, whatever a
# header or a registry claims.
_DEFLATE_RATIO = 1032


def _is_gzip(buf: Buffer) -> bool:
    return len(buf) >= 2 and bytes(buf[:2]) == _GZIP_MAGIC


def data_file_error(path: PathLike, exc: OSError) -> DataFileError:
    """A :class:`DataFileError` naming ``path`` and why ``exc`` says it cannot be read."""
    if isinstance(exc, IsADirectoryError):
        cause = "it is a directory, not a data file"
    elif isinstance(exc, PermissionError):
        cause = "permission denied; make it readable for this user (e.g. chmod a+r)"
    else:
        cause = (exc.strerror or str(exc)).lower()
    err = DataFileError(f"cannot read {path}: {cause}")
    err.errno = exc.errno
    return err


def _parse_header(buf: np.ndarray, name: str, complete: bool) -> tuple[np.dtype, tuple[int, ...], int] | None:
    """``(stored dtype, shape, header length)`` from the first bytes of IDX content.

    Returns None when ``buf`` is too short to tell yet and more may follow (``complete`` is
    false); raises :class:`IDXFormatError` for a bad magic number, an unknown type code, or a
    header cut short by the end of the content.
    """
    n = len(buf)
    if n >= 2 and (buf[0] != 0 or buf[1] != 0):
        raise IDXFormatError(f"{name}: bad magic number: expected the first two bytes to be 00 00, got "
                             f"{int(buf[0]):02x} {int(buf[1]):02x} (not an IDX file, or compressed in a format "
                             f"other than gzip)")
    if n >= 3 and int(buf[2]) not in IDX_DTYPES:
        raise IDXFormatError(f"{name}: unknown type code 0x{int(buf[2]):02X} in byte 2; valid codes: {_VALID_TYPES}")
    if n < 4:
        if not complete:
            return None
        raise IDXFormatError(f"{name}: truncated header: the file has {n} bytes, an IDX header needs at least 4")
    ndim = int(buf[3])
    header = 4 + 4 * ndim
    if n < header:
        if not complete:
            return None
        raise IDXFormatError(f"{name}: truncated header: {ndim} dimensions need a {header}-byte header, "
                             f"the file has {n} bytes")
    shape = tuple(int(d) for d in np.frombuffer(buf, dtype=">u4", count=ndim, offset=4))
    return IDX_DTYPES[int(buf[2])], shape, header


def _declared_size(dtype: np.dtype, shape: tuple[int, ...], header: int) -> int:
    return header + math.prod(shape) * dtype.itemsize


class _Sink:
    """Collects decompressed output in one buffer and refuses to grow past a limit.

    The limit is ``max_size`` when given, else the size the IDX header declares, known once
    the first bytes are in; ``capacity`` bounds the buffer allocated for it.
    """

    def __init__(self, name: str, max_size: int | None, capacity: int):
        self.name, self.limit, self.capacity = name, max_size, capacity
        self.declared: tuple[np.dtype, tuple[int, ...], int] | None = None
        self.total = 0
        self.head = bytearray()  # output while the header, and so the limit, is unknown
        self.buf: np.ndarray | None = None
        self.pos = 0
        self.extra: list[bytes] = []  # output beyond the buffer: only if capacity was too low

    def room(self) -> int:
        """How many bytes to ask the inflater for next: one past the limit at most."""
        if self.limit is None:
            return _MAX_HEADER
        return min(_INFLATE_CHUNK, self.limit + 1 - self.total)

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self.limit is None:
            self.head += chunk
            head = np.frombuffer(bytes(self.head), np.uint8)
            self.declared = _parse_header(head, self.name, complete=False)
            if self.declared is None:
                return
            self.limit = _declared_size(*self.declared)
            chunk, self.head = bytes(self.head), bytearray()
        if self.total > self.limit:
            raise _too_large(self.name, self.limit, self.declared, None)
        if self.buf is None:
            self.buf = np.empty(max(1, min(self.limit, self.capacity)), dtype=np.uint8)
        take = 0 if self.extra else min(len(self.buf) - self.pos, len(chunk))
        self.buf[self.pos : self.pos + take] = np.frombuffer(chunk, dtype=np.uint8, count=take)
        self.pos += take
        if take < len(chunk):
            self.extra.append(chunk[take:])

    def result(self) -> np.ndarray:
        if self.buf is None:  # the content ended before its header did, or was empty
            return np.frombuffer(bytes(self.head), dtype=np.uint8).copy()
        if self.extra:
            return np.concatenate([self.buf[: self.pos]] + [np.frombuffer(b, dtype=np.uint8) for b in self.extra])
        # A slice of the preallocated buffer is a view: no copy when the file is as expected.
        return self.buf[: self.pos]


def _too_large(name: str, limit: int, declared: tuple | None, size: int | None) -> IDXFormatError:
    what = "the decompressed content is" if size is None else f"{size} bytes,"
    if declared is None:
        return IDXFormatError(f"{name}: too large: {what} more than the {limit} bytes expected")
    dtype, shape, _ = declared
    return IDXFormatError(f"{name}: trailing bytes: {what} more than the {limit} bytes its header declares "
                          f"(shape {shape} of {dtype.name})")


def _inflate(source: Iterator[Buffer], sink: _Sink) -> np.ndarray:
    """Decompress the gzip members arriving in chunks from ``source`` into ``sink``."""
    name = sink.name
    data: Buffer = b""
    try:
        while True:  # one iteration per gzip member
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            while not inflater.eof:
                if not data:
                    data = next(source, b"")
                    if not data:
                        # The input has ended; zlib may still hold output for what it consumed.
                        chunk = inflater.decompress(b"", sink.room())
                        if not chunk:
                            break
                        sink.add(chunk)
                        continue
                sink.add(inflater.decompress(data, sink.room()))
                data = inflater.unconsumed_tail
            if not inflater.eof:
                raise IDXFormatError(f"{name}: corrupt gzip: the compressed stream is truncated "
                                     f"(it ends before the gzip end-of-stream marker)")
            data = inflater.unused_data
            while len(data) < 2 and (more := next(source, b"")):
                data = bytes(data) + bytes(more)
            if _is_gzip(data):
                continue
            # gzip tools allow zero padding after the last member, and nothing else
            if any(bytes(block).strip(b"\0") for block in itertools.chain([data], source)):
                raise IDXFormatError(f"{name}: corrupt gzip: trailing garbage after the compressed stream "
                                     f"(neither another gzip member nor zero padding)")
            return sink.result()
    except zlib.error as exc:
        raise IDXFormatError(f"{name}: corrupt gzip: {exc}") from None


def gunzip_bytes(data: Buffer, name: str, max_size: int | None = None) -> np.ndarray:
    """Decompress gzip-compressed IDX ``data`` (all members) into a writable 1-D uint8 array.

    Decompression stops one byte past ``max_size`` (None: the size the IDX header declares).
    Raises :class:`IDXFormatError` for content that is too long, a corrupt or truncated stream,
    bytes after the last member other than zero padding, or (without ``max_size``) a bad header.
    """
    view = memoryview(data).cast("B")
    chunks = (view[i : i + _READ_CHUNK] for i in range(0, len(view), _READ_CHUNK))
    return _inflate(chunks, _Sink(name, max_size, _DEFLATE_RATIO * len(view) + _MAX_HEADER))


def read_decompressed(path: PathLike, max_size: int | None = None) -> np.ndarray:
    """Return the content of ``path`` as a writable uint8 array, gunzipped if it is gzip.

    These are the bytes the decompressed checksums refer to. Content longer than ``max_size``
    (None: than its IDX header declares) is an :class:`IDXFormatError` found before more is read;
    a file that cannot be read is a :class:`~normlab.errors.DataFileError`.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(2)
            if head == _GZIP_MAGIC:
                chunks = itertools.chain([head], iter(lambda: fh.read(_READ_CHUNK), b""))
                capacity = _DEFLATE_RATIO * size + _MAX_HEADER
                return _inflate(chunks, _Sink(str(path), max_size, capacity))
            declared = None
            if max_size is None:
                head += fh.read(_MAX_HEADER - len(head))
                declared = _parse_header(np.frombuffer(head, np.uint8), str(path), True)
                max_size = _declared_size(*declared)
            if size > max_size:
                raise _too_large(str(path), max_size, declared, size)
            buf = np.empty(size, dtype=np.uint8)
            buf[: len(head)] = np.frombuffer(head, dtype=np.uint8)
            got = len(head) + (fh.readinto(memoryview(buf)[len(head) :]) or 0)
            if got != size:  # the file changed while we read it
                raise IDXFormatError(f"{path}: truncated read: expected {size} bytes, got {got}")
            return buf
    except OSError as exc:
        raise data_file_error(path, exc) from None


def inspect_idx(content: Buffer, name: str = "<bytes>") -> tuple[np.dtype, tuple[int, ...], int]:
    """Validate decompressed IDX ``content`` without building the array.

    Returns ``(stored dtype, shape, header length)``; raises :class:`IDXFormatError` for a bad
    magic number, an unknown type code, a truncated header or body, or trailing bytes.
    """
    buf = content if isinstance(content, np.ndarray) else np.frombuffer(content, dtype=np.uint8)
    n = len(buf)
    dtype, shape, header = _parse_header(buf, name, complete=True)
    expected = math.prod(shape) * dtype.itemsize
    body = n - header
    if body < expected:
        raise IDXFormatError(f"{name}: truncated data: shape {shape} of {dtype.name} needs {expected} bytes "
                             f"after the {header}-byte header, the file has {body}")
    if body > expected:
        raise IDXFormatError(f"{name}: trailing bytes: {body - expected} unexpected bytes after the "
                             f"{expected} bytes of data for shape {shape}")
    return dtype, shape, header


def _parse(buf: np.ndarray, name: str, owned: bool) -> np.ndarray:
    """Parse decompressed IDX content in ``buf`` (1-D uint8)."""
    dtype, shape, header = inspect_idx(buf, name)
    arr = np.frombuffer(buf, dtype=dtype, count=math.prod(shape), offset=header)
    if dtype.itemsize > 1 and not dtype.isnative:
        if owned and buf.flags.writeable:
            # Swap in place: the buffer is ours, so the result costs no extra copy.
            arr = arr.byteswap(inplace=True).view(dtype.newbyteorder("="))
        else:
            arr = arr.astype(dtype.newbyteorder("="))
    elif not (owned and buf.flags.writeable):
        arr = arr.copy()  # never hand out a view of the caller's (or an immutable) buffer
    return arr.reshape(shape)


def read_idx_bytes(data: Buffer, name: str = "<bytes>") -> np.ndarray:
    """Parse an IDX file held in memory (gzip or raw) into a native-endian array that never
    shares memory with ``data``; ``name`` is for error messages."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8 or data.ndim != 1:
            data = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
        buf = data
    else:
        buf = np.frombuffer(data, dtype=np.uint8)
    if _is_gzip(buf):
        return _parse(gunzip_bytes(buf, name), name, owned=True)
    return _parse(buf, name, owned=False)


def read_idx(path: PathLike) -> np.ndarray:
    """Read the IDX file at ``path`` (gzip or raw) into a writable, native-endian numpy array."""
    return parse_idx_content(read_decompressed(path), str(path))


def parse_idx_content(content: np.ndarray, name: str) -> np.ndarray:
    """Parse decompressed IDX ``content`` from :func:`read_decompressed`, reusing its buffer.

    ``content`` must not be used afterwards: multi-byte data are byte-swapped in place.
    """
    return _parse(content, name, owned=True)


def _idx_header(array: np.ndarray, path: str) -> tuple[bytes, np.dtype]:
    key = (array.dtype.kind, array.dtype.itemsize)
    if key not in _CODE_BY_KIND or array.dtype.kind not in "uif":
        raise ConfigError(f"{path}: cannot store dtype {array.dtype} in IDX; valid dtypes: "
                          f"uint8, int8, int16, int32, float32, float64")
    if array.ndim > 255:
        raise ConfigError(f"{path}: IDX stores at most 255 dimensions, got {array.ndim}")
    if any(d >= 2**32 for d in array.shape):
        raise ConfigError(f"{path}: IDX dimensions must be below 2**32, got {array.shape}")
    code = _CODE_BY_KIND[key]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header, IDX_DTYPES[code]


def write_idx(path: PathLike, array: np.ndarray, *, compress: bool | None = None, compresslevel: int = 6) -> Path:
    """Write ``array`` to ``path`` in IDX format, atomically; return the path.

    ``compress`` defaults to whether the name ends in ``.gz``. Gzip output has a zero
    timestamp, so equal arrays give byte-identical files.
    """
    path = Path(path)
    array = np.asarray(array)
    header, stored = _idx_header(array, str(path))
    payload = header + np.ascontiguousarray(array, dtype=stored).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        import gzip

        payload = gzip.compress(payload, compresslevel=compresslevel, mtime=0)
    atomic_write_bytes(path, payload)
    return path


def read_mnist_pair(images_path: PathLike, labels_path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read an images file (N x H x W) and its labels file (N); :func:`check_pair` checks that they match."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    check_pair(images, labels, str(images_path), str(labels_path))
    return images, labels


def check_pair(images: np.ndarray, labels: np.ndarray, images_name: str, labels_name: str) -> None:
    """Raise :class:`IDXFormatError` unless ``images`` is N x H x W and ``labels`` has N entries."""
    if images.ndim != 3:
        raise IDXFormatError(f"{images_name}: expected images with 3 dimensions (N x H x W), got shape {images.shape}")
    if labels.ndim != 1:
        raise IDXFormatError(f"{labels_name}: expected labels with 1 dimension (N), got shape {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise IDXFormatError(f"image and label counts disagree: {images_name} has {images.shape[0]} images, "
                             f"{labels_name} has {labels.shape[0]} labels")
