"""Reading and writing IDX files, the format MNIST and its drop-in replacements ship in.

The format (LeCun, Cortes and Burges) is a header followed by the data:

- bytes 0-1: zero;
- byte 2: the element type: ``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C`` int32,
  ``0x0D`` float32, ``0x0E`` float64;
- byte 3: the number of dimensions ``ndim``;
- ``ndim`` big-endian uint32 sizes, then the elements, big-endian, in C order.

Files may be gzip-compressed; compression is recognised by the gzip magic bytes ``1f 8b``,
never by the file name. Every malformed input raises :class:`~normlab.errors.IDXFormatError`
whose message starts with the file name and says what is wrong: a damaged file never yields
a silently wrong array.
"""

from __future__ import annotations

import math
import os
import zlib
from pathlib import Path

import numpy as np

from normlab.errors import ConfigError, IDXFormatError
from normlab.fileio import atomic_write_bytes

__all__ = [
    "IDX_DTYPES",
    "read_idx",
    "read_idx_bytes",
    "read_decompressed",
    "inspect_idx",
    "parse_idx_content",
    "gunzip_bytes",
    "write_idx",
    "read_mnist_pair",
]

PathLike = str | os.PathLike
Buffer = bytes | bytearray | memoryview | np.ndarray

#: Type code -> big-endian numpy dtype of the elements as stored.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_BY_KIND = {(dt.kind, dt.itemsize): code for code, dt in IDX_DTYPES.items()}
_VALID_TYPES = ", ".join(f"0x{code:02X} {dt.name}" for code, dt in IDX_DTYPES.items())

_GZIP_MAGIC = b"\x1f\x8b"
# Output is produced in slices of this size so that the decompressed file is written straight
# into one preallocated buffer instead of being assembled from a second full-size copy.
_INFLATE_CHUNK = 1 << 22


def _is_gzip(buf: Buffer) -> bool:
    return len(buf) >= 2 and bytes(buf[:2]) == _GZIP_MAGIC


def gunzip_bytes(data: Buffer, name: str) -> np.ndarray:
    """Decompress gzip ``data`` (all members) into a writable 1-D uint8 array.

    ``name`` is only used in error messages. Raises :class:`IDXFormatError` for a corrupt or
    truncated stream, a CRC or length mismatch, or bytes after the last member that are
    neither another gzip member nor zero padding.
    """
    view = data if isinstance(data, bytes) else memoryview(data).cast("B")
    # The gzip trailer stores the uncompressed size of the last member modulo 2**32: a good
    # first guess for the buffer size. A corrupt trailer can claim anything, so the guess is
    # capped; output beyond the buffer is still kept, only copied once more at the end.
    hint = int.from_bytes(bytes(view[-4:]), "little") if len(view) >= 18 else 0
    hint = min(hint, 128 * len(view) + (1 << 20))
    out = np.empty(max(hint, 1), dtype=np.uint8)
    pos = 0
    extra: list[bytes] = []  # output beyond the preallocated buffer

    def store(chunk: bytes) -> None:
        nonlocal pos
        room = len(out) - pos
        if extra or room <= 0:
            extra.append(chunk)
            return
        take = min(room, len(chunk))
        out[pos : pos + take] = np.frombuffer(chunk, dtype=np.uint8, count=take)
        pos += take
        if take < len(chunk):
            extra.append(chunk[take:])

    pending: Buffer = view
    try:
        while True:  # one iteration per gzip member
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            feed: Buffer = pending
            while True:
                chunk = inflater.decompress(feed, _INFLATE_CHUNK)
                store(chunk)
                if inflater.eof:
                    break
                if inflater.unconsumed_tail:
                    feed = inflater.unconsumed_tail
                elif len(chunk) == _INFLATE_CHUNK:
                    feed = b""  # zlib may still hold output for input it already consumed
                else:
                    break
            if not inflater.eof:
                store(inflater.flush())
            if not inflater.eof:
                raise IDXFormatError(
                    f"{name}: corrupt gzip: the compressed stream is truncated "
                    f"(it ends before the gzip end-of-stream marker)"
                )
            rest = inflater.unused_data
            if not rest or not any(rest):
                break  # gzip tools allow zero padding after the last member
            if not _is_gzip(rest):
                raise IDXFormatError(
                    f"{name}: corrupt gzip: {len(rest)} bytes of trailing garbage after the "
                    f"compressed stream"
                )
            pending = rest
    except zlib.error as exc:
        raise IDXFormatError(f"{name}: corrupt gzip: {exc}") from None
    if extra:
        return np.concatenate([out[:pos]] + [np.frombuffer(b, dtype=np.uint8) for b in extra])
    # A slice of the preallocated buffer is a view: no copy when the guess was right.
    return out[:pos]


def read_decompressed(path: PathLike) -> np.ndarray:
    """Return the content of ``path`` as a writable uint8 array, gunzipped if it is gzip.

    This is the exact byte sequence that checksums of the decompressed file refer to, and
    :func:`read_idx_bytes` parses it without another copy.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(2)
            if head == _GZIP_MAGIC:
                return gunzip_bytes(head + fh.read(), str(path))
            buf = np.empty(size, dtype=np.uint8)
            buf[: len(head)] = np.frombuffer(head, dtype=np.uint8)
            got = len(head) + (fh.readinto(memoryview(buf)[len(head) :]) or 0)
            if got != size:  # the file changed while we read it
                raise IDXFormatError(f"{path}: truncated read: expected {size} bytes, got {got}")
            return buf
    except IsADirectoryError:
        raise IDXFormatError(f"{path}: is a directory, not an IDX file") from None


def inspect_idx(content: Buffer, name: str = "<bytes>") -> tuple[np.dtype, tuple[int, ...], int]:
    """Validate decompressed IDX ``content`` without building the array.

    Returns ``(stored dtype, shape, header length)``; raises :class:`IDXFormatError` for a bad
    magic number, an unknown type code, a truncated header or body, or trailing bytes.
    """
    buf = content if isinstance(content, np.ndarray) else np.frombuffer(content, dtype=np.uint8)
    n = len(buf)
    if n < 4:
        raise IDXFormatError(
            f"{name}: truncated header: the file has {n} bytes, an IDX header needs at least 4"
        )
    b0, b1, code, ndim = (int(v) for v in buf[:4])
    if b0 != 0 or b1 != 0:
        raise IDXFormatError(
            f"{name}: bad magic number: expected the first two bytes to be 00 00, got "
            f"{b0:02x} {b1:02x} (not an IDX file, or compressed in a format other than gzip)"
        )
    if code not in IDX_DTYPES:
        raise IDXFormatError(
            f"{name}: unknown type code 0x{code:02X} in byte 2; valid codes: {_VALID_TYPES}"
        )
    header = 4 + 4 * ndim
    if n < header:
        raise IDXFormatError(
            f"{name}: truncated header: {ndim} dimensions need a {header}-byte header, "
            f"the file has {n} bytes"
        )
    shape = tuple(int(d) for d in np.frombuffer(buf, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    body = n - header
    if body < expected:
        raise IDXFormatError(
            f"{name}: truncated data: shape {shape} of {dtype.name} needs {expected} bytes "
            f"after the {header}-byte header, the file has {body}"
        )
    if body > expected:
        raise IDXFormatError(
            f"{name}: trailing bytes: {body - expected} unexpected bytes after the "
            f"{expected} bytes of data for shape {shape}"
        )
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
    """Parse an IDX file held in memory (gzip-compressed or raw) into a native-endian array.

    ``name`` identifies the data in error messages. The result never shares memory with
    ``data``. Raises :class:`IDXFormatError` for every malformed input.
    """
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
    """Read the IDX file at ``path`` (gzip or raw, detected by content) into a numpy array.

    The array has native byte order and owns (or solely views) a buffer read for it, so it
    is writable. Raises :class:`IDXFormatError` naming the file for every malformed input.
    """
    return parse_idx_content(read_decompressed(path), str(path))


def parse_idx_content(content: np.ndarray, name: str) -> np.ndarray:
    """Parse decompressed IDX ``content`` from :func:`read_decompressed`, reusing its buffer.

    ``content`` must not be used afterwards: multi-byte data are byte-swapped in place.
    """
    return _parse(content, name, owned=True)


def _idx_header(array: np.ndarray, path: str) -> tuple[bytes, np.dtype]:
    key = (array.dtype.kind, array.dtype.itemsize)
    if key not in _CODE_BY_KIND or array.dtype.kind not in "uif":
        raise ConfigError(
            f"{path}: cannot store dtype {array.dtype} in IDX; valid dtypes: "
            f"uint8, int8, int16, int32, float32, float64"
        )
    if array.ndim > 255:
        raise ConfigError(f"{path}: IDX stores at most 255 dimensions, got {array.ndim}")
    if any(d >= 2**32 for d in array.shape):
        raise ConfigError(f"{path}: IDX dimensions must be below 2**32, got {array.shape}")
    code = _CODE_BY_KIND[key]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header, IDX_DTYPES[code]


def write_idx(
    path: PathLike, array: np.ndarray, *, compress: bool | None = None, compresslevel: int = 6
) -> Path:
    """Write ``array`` to ``path`` in IDX format, atomically; return the path.

    ``compress`` defaults to whether the name ends in ``.gz``. Gzip output has a zero
    timestamp, so equal arrays give byte-identical files. The data go to a temporary file in
    the same directory that replaces ``path`` only once complete.
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
    """Read an images file (N x H x W) and its labels file (N) and check that they match.

    Raises :class:`IDXFormatError` naming both files when the counts disagree or when either
    file has the wrong number of dimensions.
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    check_pair(images, labels, str(images_path), str(labels_path))
    return images, labels


def check_pair(images: np.ndarray, labels: np.ndarray, images_name: str, labels_name: str) -> None:
    """Raise :class:`IDXFormatError` unless ``images`` is N x H x W and ``labels`` has N entries."""
    if images.ndim != 3:
        raise IDXFormatError(
            f"{images_name}: expected images with 3 dimensions (N x H x W), got shape "
            f"{images.shape}"
        )
    if labels.ndim != 1:
        raise IDXFormatError(
            f"{labels_name}: expected labels with 1 dimension (N), got shape {labels.shape}"
        )
    if images.shape[0] != labels.shape[0]:
        raise IDXFormatError(
            f"image and label counts disagree: {images_name} has {images.shape[0]} images, "
            f"{labels_name} has {labels.shape[0]} labels"
        )
