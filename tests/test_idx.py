"""IDX reading and writing: round trips for every type, and every way a file can be broken."""

from __future__ import annotations

import gzip
import os
import stat
import struct

import numpy as np
import pytest

from normlab.data.idx import (
    IDX_DTYPES,
    gunzip_bytes,
    read_idx,
    read_idx_bytes,
    read_mnist_pair,
    write_idx,
)
from normlab.errors import ConfigError, DataFileError, IDXFormatError

DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]


def _sample(dtype: str, shape=(3, 4, 5)) -> np.ndarray:
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    return (rng.standard_normal(shape) * 1e3).astype(dtype)


def _idx(header_code: int, shape: tuple[int, ...], body: bytes) -> bytes:
    return bytes([0, 0, header_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + body


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_roundtrip_every_dtype(tmp_path, dtype, suffix):
    array = _sample(dtype)
    path = tmp_path / f"a-{dtype}{suffix}"
    write_idx(path, array)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    assert out.shape == array.shape
    np.testing.assert_array_equal(out, array)
    assert out.flags.writeable
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == (suffix == ".gz")


def test_file_layout_is_big_endian_per_spec(tmp_path):
    path = tmp_path / "x.idx"
    write_idx(path, np.array([[1, 2, 3], [256, -1, 7]], dtype=np.int16))
    raw = path.read_bytes()
    assert raw[:4] == bytes([0, 0, 0x0B, 2])
    assert struct.unpack(">II", raw[4:12]) == (2, 3)
    assert struct.unpack(">6h", raw[12:]) == (1, 2, 3, 256, -1, 7)


def test_compression_detected_by_content_not_name(tmp_path):
    array = _sample("int32", (7,))
    gz_named_raw = tmp_path / "raw.gz"
    write_idx(gz_named_raw, array, compress=False)
    plain_named_gz = tmp_path / "compressed.idx"
    write_idx(plain_named_gz, array, compress=True)
    np.testing.assert_array_equal(read_idx(gz_named_raw), array)
    np.testing.assert_array_equal(read_idx(plain_named_gz), array)


def test_gzip_output_is_deterministic(tmp_path):
    a = _sample("uint8")
    write_idx(tmp_path / "1.gz", a)
    write_idx(tmp_path / "2.gz", a)
    assert (tmp_path / "1.gz").read_bytes() == (tmp_path / "2.gz").read_bytes()


def test_read_idx_bytes_copies_and_handles_gzip():
    array = _sample("float64", (2, 3))
    raw = _idx(0x0E, (2, 3), array.astype(">f8").tobytes())
    buf = bytearray(raw)
    out = read_idx_bytes(buf, "mem")
    np.testing.assert_array_equal(out, array)
    out[0, 0] = 42.0
    assert buf == bytearray(raw)  # the caller's buffer is neither shared nor byte-swapped
    np.testing.assert_array_equal(read_idx_bytes(gzip.compress(raw), "mem.gz"), array)
    u8 = read_idx_bytes(_idx(0x08, (3,), b"\x01\x02\x03"))
    assert u8.flags.writeable and u8.tolist() == [1, 2, 3]


def test_multimember_gzip_and_zero_padding():
    raw = _idx(0x08, (4,), b"\x01\x02\x03\x04")
    two_members = gzip.compress(raw[:6]) + gzip.compress(raw[6:]) + b"\0" * 8
    assert read_idx_bytes(two_members, "mm").tolist() == [1, 2, 3, 4]


def test_gzip_larger_than_its_size_hint():
    # The buffer is sized from the last member's trailer; a small last member after a big
    # first one makes that guess far too small, and the data must still come back whole.
    raw = _idx(0x08, (300_000,), np.arange(300_000, dtype=np.uint8).tobytes())
    data = gzip.compress(raw[:-10]) + gzip.compress(raw[-10:])
    out = gunzip_bytes(data, "x")
    assert out.tobytes() == raw
    assert read_idx_bytes(data, "x").shape == (300_000,)


def test_write_is_atomic_and_leaves_no_temp(tmp_path):
    path = tmp_path / "a.idx"
    write_idx(path, _sample("uint8"))
    with pytest.raises(ConfigError, match="uint16"):
        write_idx(path, np.zeros(3, dtype=np.uint16))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.idx"]
    np.testing.assert_array_equal(read_idx(path), _sample("uint8"))


def test_write_gives_ordinary_permissions_and_creates_the_folder(tmp_path):
    # Written through normlab.fileio: mode as open() would give it, not mkstemp's 0600.
    path = write_idx(tmp_path / "new" / "a.idx.gz", _sample("int16"))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    np.testing.assert_array_equal(read_idx(path), _sample("int16"))


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize(
    "content, fault",
    [
        (b"\x00", "truncated header"),
        (b"\x00\x00\x08", "truncated header"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated header"),
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "bad magic"),
        (b"\x00\x07\x08\x01\x00\x00\x00\x01\x05", "bad magic"),
        (b"\x00\x00\x0a\x01\x00\x00\x00\x01\x05", "unknown type code 0x0A"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x03\x05\x06", "truncated data"),
        (b"\x00\x00\x0c\x01\x00\x00\x00\x01\x00\x00\x00", "truncated data"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x05\x06", "trailing bytes"),
    ],
)
def test_malformed_files_raise_idxformaterror_naming_file(tmp_path, content, fault, compressed):
    path = tmp_path / ("bad-file.idx.gz" if compressed else "bad-file.idx")
    path.write_bytes(gzip.compress(content) if compressed else content)
    with pytest.raises(IDXFormatError) as info:
        read_idx(path)
    message = str(info.value)
    assert "bad-file.idx" in message
    assert fault in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "mangle, fault",
    [
        (lambda gz: gz[: len(gz) // 2], "truncated"),
        (lambda gz: gz[:-6], "truncated"),
        (lambda gz: gz[:10] + bytes(b ^ 0xFF for b in gz[10:20]) + gz[20:], "corrupt gzip"),
        (lambda gz: gz[:-8] + b"\x00\x00\x00\x00" + gz[-4:], "corrupt gzip"),  # CRC mismatch
        (lambda gz: gz + b"garbage!", "trailing garbage"),
        (lambda gz: gz[:3], "corrupt gzip"),
    ],
)
def test_corrupt_gzip(tmp_path, mangle, fault):
    raw = _idx(0x08, (2000,), np.arange(2000, dtype=np.uint8).tobytes())
    path = tmp_path / "broken.gz"
    path.write_bytes(mangle(gzip.compress(raw)))
    with pytest.raises(IDXFormatError) as info:
        read_idx(path)
    assert "broken.gz" in str(info.value)
    assert fault in str(info.value)


def test_every_type_code_is_known():
    assert sorted(IDX_DTYPES) == [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]


def test_directory_is_not_an_idx_file(tmp_path):
    # a data file that cannot be read: DataFileError (an OSError), naming the path
    with pytest.raises(DataFileError, match=f"^cannot read {tmp_path}: it is a directory"):
        read_idx(tmp_path)


def test_mnist_pair_ok_and_count_mismatch(tmp_path):
    images = np.zeros((5, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "imgs.gz", images)
    write_idx(tmp_path / "lbls.gz", np.arange(5, dtype=np.uint8))
    write_idx(tmp_path / "short-lbls.gz", np.arange(4, dtype=np.uint8))
    x, y = read_mnist_pair(tmp_path / "imgs.gz", tmp_path / "lbls.gz")
    assert x.shape == (5, 28, 28) and y.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(IDXFormatError) as info:
        read_mnist_pair(tmp_path / "imgs.gz", tmp_path / "short-lbls.gz")
    message = str(info.value)
    assert "imgs.gz" in message and "short-lbls.gz" in message
    assert "5 images" in message and "4 labels" in message
    with pytest.raises(IDXFormatError, match="3 dimensions"):
        read_mnist_pair(tmp_path / "lbls.gz", tmp_path / "lbls.gz")
