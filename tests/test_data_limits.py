"""Bounded input: a gzip bomb or a huge sparse file fails fast, naming the file, in bounded memory.

Each file is decompressed in a stream that stops one byte past the size the registry expects
(or, without a registry entry, the size the IDX header declares), and a raw file's size is
checked before anything is read. Peak memory is measured in a subprocess and compared, as a
ratio, with the normal load of the real MNIST file of the same name.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from normlab.cli import main
from normlab.data.download import check_file
from normlab.data.idx import gunzip_bytes, read_decompressed, read_idx, read_idx_bytes
from normlab.errors import IDXFormatError

MNIST_TRAIN_IMAGES = 47040016  # the registry's size of train-images-idx3-ubyte
TRAIN_HEADER = bytes([0, 0, 8, 3]) + struct.pack(">3I", 60000, 28, 28)
MIB = 1 << 20


def write_bomb(path: Path, header: bytes, mib: int) -> Path:
    """A single-stream gzip of ``header`` and ``mib`` MiB of zeros, valid to its CRC.

    Built block by block: after a full flush deflate starts afresh, so every further MiB of
    zeros compresses to the same ~1 KB, and a >1 GiB bomb takes milliseconds to write.
    """
    zeros = bytes(MIB)
    co = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = co.compress(header) + co.flush(zlib.Z_FULL_FLUSH)
    block = co.compress(zeros) + co.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(header)
    with open(path, "wb") as fh:
        fh.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + head)
        for _ in range(mib):
            fh.write(block)
            crc = zlib.crc32(zeros, crc)
        size = (len(header) + mib * MIB) & 0xFFFFFFFF
        fh.write(co.flush() + struct.pack("<II", crc, size))
    return path


def write_sparse(path: Path, size: int, header: bytes = b"") -> Path:
    """A file of ``size`` bytes that takes no disk space: ``header``, then a hole of zeros."""
    with open(path, "wb") as fh:
        fh.write(header)
        fh.truncate(size)
    return path


def _bomb_dir(directory: Path, data_dir: Path, mib: int) -> Path:
    """Real MNIST (linked) with a gzip bomb as its training images."""
    directory.mkdir()
    for src in data_dir.iterdir():
        if not src.name.startswith("train-images"):
            (directory / src.name).symlink_to(src.resolve())
    write_bomb(directory / "train-images-idx3-ubyte.gz", TRAIN_HEADER, mib)
    return directory


def test_bomb_helper_writes_a_valid_gzip(tmp_path):
    # The helper must build what it claims, or the tests below would prove nothing.
    path = write_bomb(tmp_path / "b.gz", b"\x00\x00\x08\x01abc", 3)
    assert gzip.decompress(path.read_bytes()) == b"\x00\x00\x08\x01abc" + bytes(3 * MIB)
    assert path.stat().st_size < 5000


# --- in-process behaviour: the errors ----------------------------------------------------


def test_gunzip_stops_one_byte_past_max_size():
    data = gzip.compress(bytes(10 * MIB))
    expected = r"^mem\.gz: too large: .* more than the 1000 bytes expected"
    with pytest.raises(IDXFormatError, match=expected):
        gunzip_bytes(data, "mem.gz", max_size=1000)
    assert len(gunzip_bytes(data, "mem.gz", max_size=10 * MIB)) == 10 * MIB


def test_without_a_size_the_header_bounds_the_output(tmp_path):
    # The header declares 10 bytes of uint8; the stream holds 64 MiB more.
    header = bytes([0, 0, 8, 1]) + struct.pack(">I", 10)
    path = write_bomb(tmp_path / "small-header.gz", header, 64)
    tracemalloc.start()
    try:
        with pytest.raises(IDXFormatError) as info:
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MIB  # one inflate chunk at most, never the 64 MiB
    assert str(info.value).startswith(f"{path}: trailing bytes")
    assert "shape (10,)" in str(info.value)
    with pytest.raises(IDXFormatError, match="mem: trailing bytes"):
        read_idx_bytes(path.read_bytes(), "mem")
    # a bad header is refused before the stream is inflated further
    path = write_bomb(tmp_path / "no-header.gz", b"", 64)
    with pytest.raises(IDXFormatError, match="unknown type code 0x00"):
        read_idx(path)


def test_raw_file_size_is_checked_before_reading(tmp_path, monkeypatch):
    huge = write_sparse(tmp_path / "train-images-idx3-ubyte", 2 << 30, TRAIN_HEADER)
    allocations = []
    real_empty = np.empty

    def tracking_empty(shape, *args, **kwargs):
        allocations.append(int(np.prod(shape)))
        return real_empty(shape, *args, **kwargs)

    monkeypatch.setattr(np, "empty", tracking_empty)
    with pytest.raises(IDXFormatError) as info:
        read_decompressed(huge, max_size=MNIST_TRAIN_IMAGES)
    assert str(info.value) == (
        f"{huge}: too large: {2 << 30} bytes, more than the {MNIST_TRAIN_IMAGES} bytes "
        f"expected"
    )
    with pytest.raises(IDXFormatError, match="trailing bytes"):
        read_idx(huge)  # the header's 47,040,016 bytes bound it
    check = check_file("mnist", "train_images", huge)
    assert not check.ok and "too large" in check.fault and str(huge) in check.fault
    assert max(allocations, default=0) < 4096  # the 2 GiB were never allocated


def test_bomb_as_mnist_is_refused_by_verify_and_load(tmp_path, data_dir, capsys):
    bombs = _bomb_dir(tmp_path / "bombs", data_dir, 64)
    bomb = bombs / "train-images-idx3-ubyte.gz"
    assert main(["data", "verify", "--data-dir", str(bombs)]) == 1
    out = capsys.readouterr().out
    assert f"fault: {bomb}: too large" in out and "mnist: 3 of 4 files OK" in out
    assert main(["data", "stats", "--data-dir", str(bombs)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"normlab: error: {bomb}: too large") and "Traceback" not in err


# --- peak memory, measured in fresh processes --------------------------------------------

_PROBE = r"""
import json, resource, sys, tracemalloc
from normlab.data import load_splits
from normlab.data.download import check_file
from normlab.data.idx import read_idx
from normlab.errors import NormlabError

def measure(fn, *args):
    tracemalloc.start()
    try:
        result = fn(*args)
        outcome = "ok" if getattr(result, "ok", True) else "fault: " + result.fault
    except NormlabError as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    result = None
    return {"peak": peak, "outcome": outcome}

def load(data_dir):
    return load_splits("mnist", transform="none", data_dir=data_dir)

normal, bomb, bomb_header, sparse, sparse_header, normal_dir, bomb_dir = sys.argv[1:8]
print(json.dumps({
    "normal": measure(check_file, "mnist", "train_images", normal),
    "bomb": measure(check_file, "mnist", "train_images", bomb),
    "bomb_read": measure(read_idx, bomb_header),
    "sparse": measure(check_file, "mnist", "train_images", sparse),
    "sparse_read": measure(read_idx, sparse_header),
    "normal_load": measure(load, normal_dir),
    "bomb_load": measure(load, bomb_dir),
}))
"""

_RSS = r"""
import resource, sys
from normlab.cli import main
code = main(["data", "verify", "--data-dir", sys.argv[1]])
print(code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _python(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-c", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_peak_memory_of_bomb_and_sparse_file_stays_under_the_normal_load(tmp_path, data_dir):
    normal = data_dir / "train-images-idx3-ubyte.gz"
    bomb = write_bomb(tmp_path / "train-images-idx3-ubyte.gz", TRAIN_HEADER, 1100)  # 1.1 GiB
    assert bomb.stat().st_size < 2 * MIB
    header_bomb = write_bomb(tmp_path / "bomb-with-header.gz", TRAIN_HEADER, 1100)
    sparse = write_sparse(tmp_path / "train-images-idx3-ubyte", 2 << 30)
    sparse_header = write_sparse(tmp_path / "sparse-with-header", 2 << 30, TRAIN_HEADER)
    bombs = _bomb_dir(tmp_path / "bombs", data_dir, 1100)
    got = json.loads(_python(_PROBE, str(normal), str(bomb), str(header_bomb), str(sparse),
                             str(sparse_header), str(data_dir), str(bombs)))
    assert got["normal"]["outcome"] == got["normal_load"]["outcome"] == "ok"
    assert got["normal"]["peak"] >= MNIST_TRAIN_IMAGES  # the measurement sees numpy's buffers
    assert got["bomb"]["outcome"] == (
        f"fault: {bomb}: too large: the decompressed content is more than the "
        f"{MNIST_TRAIN_IMAGES} bytes expected"
    )
    assert got["bomb_read"]["outcome"].startswith(f"IDXFormatError: {header_bomb}: trailing bytes")
    assert got["sparse"]["outcome"].startswith(f"fault: {sparse}: too large: {2 << 30} bytes")
    assert got["sparse_read"]["outcome"].startswith(
        f"IDXFormatError: {sparse_header}: trailing bytes")
    assert got["bomb_load"]["outcome"].startswith(
        f"IDXFormatError: {bombs / 'train-images-idx3-ubyte.gz'}: too large")
    # The bomb fills the buffer a good file fills, and stops: checking it costs what checking
    # the real file costs, give or take one inflate slice, and less than loading the dataset.
    for case in ("bomb", "bomb_read"):
        assert got[case]["peak"] <= got["normal"]["peak"] * 1.02, (case, got)
    assert got["bomb_load"]["peak"] < got["normal_load"]["peak"], got
    for case in ("sparse", "sparse_read"):
        assert got[case]["peak"] < MIB, (case, got)


def test_verify_of_a_bomb_uses_no_more_resident_memory_than_a_normal_verify(tmp_path, data_dir):
    bombs = _bomb_dir(tmp_path / "bombs", data_dir, 1100)
    normal_code, normal_rss = map(int, _python(_RSS, str(data_dir)).splitlines()[-1].split())
    bomb_code, bomb_rss = map(int, _python(_RSS, str(bombs)).splitlines()[-1].split())
    assert (normal_code, bomb_code) == (0, 1)
    # Both processes carry the same interpreter, numpy and torch; the bomb may add no more
    # than a few MB of zlib's input and output chunks to the normal verify's peak.
    assert bomb_rss <= normal_rss * 1.05, (normal_rss, bomb_rss)
