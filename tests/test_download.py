"""Downloads against a real HTTP server on 127.0.0.1, and where files are looked up.

The server plays several mirrors, one per path prefix: good files, a recompressed copy (other
gzip bytes, same content), truncated files, corrupted files (right size, wrong bytes), a
missing mirror (404), a stalling one (for timeouts), a flaky one (503 once) and one that
closes the connection early.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import stat
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from normlab.data.download import (
    DownloadConfig,
    cache_dir,
    check_file,
    data_directory,
    download_file,
    resolve_files,
    verify_files,
)
from normlab.data.idx import read_idx, write_idx
from normlab.data.registry import FILE_KEYS, DatasetSpec, FileSpec
from normlab.errors import ConfigError, DownloadError

NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
FAST = DownloadConfig(timeout=0.25, retries=1, backoff=0.01)


def _idx_bytes(array: np.ndarray, tmp: Path) -> bytes:
    path = tmp / "x.idx"
    write_idx(path, array, compress=False)
    return path.read_bytes()


@pytest.fixture(scope="module")
def payloads(tmp_path_factory):
    """Decompressed content, original gzip and a recompressed gzip of four tiny IDX files."""
    tmp = tmp_path_factory.mktemp("payloads")
    rng = np.random.default_rng(1)
    arrays = {
        "train_images": rng.integers(0, 256, (12, 6, 6), dtype=np.uint8),
        "train_labels": rng.integers(0, 3, 12).astype(np.uint8),
        "test_images": rng.integers(0, 256, (5, 6, 6), dtype=np.uint8),
        "test_labels": rng.integers(0, 3, 5).astype(np.uint8),
    }
    out = {}
    for key, array in arrays.items():
        raw = _idx_bytes(array, tmp)
        out[key] = {
            "array": array,
            "raw": raw,
            "gz": gzip.compress(raw, compresslevel=9, mtime=0),
            "regz": gzip.compress(raw, compresslevel=1, mtime=123456789),
        }
        assert out[key]["gz"] != out[key]["regz"]
    return out


class _Handler(BaseHTTPRequestHandler):
    payloads: dict = {}
    hits: Counter = Counter()
    lock = threading.Lock()

    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, body: bytes, *, status: int = 200, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with self.lock:
            self.hits[self.path] += 1
            hit = self.hits[self.path]
        _, mirror, filename = self.path.split("/", 2)
        key = next((k for k, n in NAMES.items() if filename == n + ".gz"), None)
        if key is None or mirror == "missing":
            self._send(b"not found", status=404)
            return
        p = self.payloads[key]
        if mirror == "good":
            self._send(p["gz"])
        elif mirror == "recompressed":
            self._send(p["regz"])
        elif mirror == "plain":
            self._send(p["raw"])
        elif mirror == "truncated":
            self._send(p["gz"][: len(p["gz"]) // 2])
        elif mirror == "corrupt":
            content = bytearray(p["raw"])
            content[-1] ^= 0xFF  # same size, one wrong byte
            self._send(gzip.compress(bytes(content), mtime=0))
        elif mirror == "short":
            # Announce the full length, send half, close: a truncated transfer.
            self._send(p["gz"][: len(p["gz"]) // 2], length=len(p["gz"]))
            self.close_connection = True
        elif mirror == "flaky":
            if hit == 1:
                self._send(b"busy", status=503)
            else:
                self._send(p["gz"])
        elif mirror == "huge":
            # The file, then megabytes of zero padding (which gzip allows): far more than
            # any copy of the file can take, so the client must stop reading.
            with contextlib.suppress(OSError):  # the client hangs up early
                self._send(p["gz"] + bytes(8 << 20))
        elif mirror == "stall":
            time.sleep(1.0)  # far beyond the client's timeout, but bounded
            with contextlib.suppress(OSError):  # the client gave up long ago
                self._send(p["gz"])
        else:
            self._send(b"?", status=404)


@pytest.fixture(scope="module")
def server(payloads):
    _Handler.payloads = payloads
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield base
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _reset_hits(monkeypatch, tmp_path):
    _Handler.hits.clear()
    # Never touch the real environment's data or cache.
    monkeypatch.delenv("NORMLAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def make_spec(payloads, base: str, mirrors: list[str], *, hashes: str = "content") -> DatasetSpec:
    files = {}
    for key in FILE_KEYS:
        p = payloads[key]
        if hashes == "content":
            fs = FileSpec(
                NAMES[key],
                md5=hashlib.md5(p["raw"]).hexdigest(),
                sha256=hashlib.sha256(p["raw"]).hexdigest(),
                size=len(p["raw"]),
            )
        else:  # like Fashion-MNIST: only the MD5 of the original .gz is known
            fs = FileSpec(NAMES[key], size=len(p["raw"]), gz_md5=hashlib.md5(p["gz"]).hexdigest())
        files[key] = fs
    return DatasetSpec(
        name="tiny",
        files=files,
        mirrors=tuple(f"{base}/{m}/" for m in mirrors),
        num_classes=3,
        class_names=("a", "b", "c"),
    )


def _no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.rglob("*") if p.name.startswith(".") or p.suffix == ".part"]


def test_download_good_mirror(payloads, server, tmp_path):
    spec = make_spec(payloads, server, ["good"])
    target = tmp_path / "data"
    paths = resolve_files(spec, target, download=True, config=FAST)
    assert list(paths) == list(FILE_KEYS)
    for key, path in paths.items():
        assert path == target / (NAMES[key] + ".gz")
        assert path.read_bytes() == payloads[key]["gz"]
        np.testing.assert_array_equal(read_idx(path), payloads[key]["array"])
    assert _no_temp_files(target)
    assert all(c.ok for c in verify_files(spec, target))


def test_recompressed_mirror_passes_because_content_is_verified(payloads, server, tmp_path):
    spec = make_spec(payloads, server, ["recompressed"])
    paths = resolve_files(spec, tmp_path, download=True, config=FAST)
    for key, path in paths.items():
        assert path.read_bytes() == payloads[key]["regz"]
        assert path.read_bytes() != payloads[key]["gz"]


def test_uncompressed_mirror_is_saved_under_decompressed_name(payloads, server, tmp_path):
    spec = make_spec(payloads, server, ["plain"])
    path = download_file(spec, "train_labels", tmp_path, config=FAST)
    assert path == tmp_path / NAMES["train_labels"]
    assert path.read_bytes() == payloads["train_labels"]["raw"]


def test_fallback_to_next_mirror(payloads, server, tmp_path):
    spec = make_spec(payloads, server, ["missing", "truncated", "corrupt", "good"])
    log: list[str] = []
    paths = resolve_files(spec, tmp_path, download=True, config=FAST, log=log.append)
    for key, path in paths.items():
        assert path.read_bytes() == payloads[key]["gz"]
    assert _no_temp_files(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n + ".gz" for n in NAMES.values())
    # every mirror was asked for every file, in order
    for mirror in ("missing", "truncated", "corrupt", "good"):
        assert _Handler.hits[f"/{mirror}/{NAMES['test_images']}.gz"] == 1
    assert any("failed" in line and "/missing/" in line for line in log)


def test_all_mirrors_fail_lists_every_url_and_reason(payloads, server, tmp_path):
    mirrors = ["missing", "truncated", "corrupt", "short", "stall"]
    spec = make_spec(payloads, server, mirrors)
    started = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download_file(spec, "train_images", tmp_path, config=FAST)
    elapsed = time.monotonic() - started
    message = str(info.value)
    lines = {m: next(ln for ln in message.splitlines() if f"/{m}/" in ln) for m in mirrors}
    assert "HTTP 404" in lines["missing"]
    assert "corrupt gzip" in lines["truncated"] and "truncated" in lines["truncated"]
    assert "MD5" in lines["corrupt"] and "SHA-256" in lines["corrupt"]
    assert "truncated transfer" in lines["short"] and "2 attempts" in lines["short"]
    assert "timed out after 0.25 s" in lines["stall"] and "2 attempts" in lines["stall"]
    assert NAMES["train_images"] in message and str(tmp_path) in message
    assert isinstance(info.value, OSError)
    assert list(tmp_path.iterdir()) == []  # nothing partial left behind
    # transient faults are retried (retries=1), permanent ones are not
    assert _Handler.hits[f"/short/{NAMES['train_images']}.gz"] == 2
    assert _Handler.hits[f"/stall/{NAMES['train_images']}.gz"] == 2
    assert _Handler.hits[f"/missing/{NAMES['train_images']}.gz"] == 1
    assert _Handler.hits[f"/corrupt/{NAMES['train_images']}.gz"] == 1
    assert elapsed < 5  # two 0.25 s timeouts, not the server's 1 s stall each


def test_retry_recovers_from_transient_error(payloads, server, tmp_path):
    spec = make_spec(payloads, server, ["flaky"])
    path = download_file(spec, "test_labels", tmp_path, config=FAST)
    assert path.read_bytes() == payloads["test_labels"]["gz"]
    assert _Handler.hits[f"/flaky/{NAMES['test_labels']}.gz"] == 2


def test_no_retries_means_one_attempt(payloads, server, tmp_path):
    spec = make_spec(payloads, server, ["flaky"])
    cfg = DownloadConfig(timeout=0.25, retries=0, backoff=0)
    with pytest.raises(DownloadError, match="HTTP 503"):
        download_file(spec, "test_labels", tmp_path, config=cfg)
    assert _Handler.hits[f"/flaky/{NAMES['test_labels']}.gz"] == 1
    assert list(tmp_path.iterdir()) == []


def test_gz_md5_only_spec(payloads, server, tmp_path):
    spec = make_spec(payloads, server, ["good"], hashes="gz")
    paths = resolve_files(spec, tmp_path / "ok", download=True, config=FAST)
    assert all(c.ok and "gz-md5" in c.checked for c in verify_files(spec, tmp_path / "ok"))
    assert set(paths) == set(FILE_KEYS)
    # A recompressed copy cannot be verified without decompressed checksums: refused.
    spec = make_spec(payloads, server, ["recompressed"], hashes="gz")
    target = tmp_path / "ok2"
    target.mkdir()
    with pytest.raises(DownloadError, match="recompressed copy cannot be verified"):
        download_file(spec, "train_labels", target, config=FAST)
    assert list(target.iterdir()) == []


def test_an_oversized_response_is_refused_without_reading_it_all(payloads, server, tmp_path):
    spec = make_spec(payloads, server, ["huge"])
    size = spec.files["train_labels"].size
    with pytest.raises(DownloadError) as info:
        download_file(spec, "train_labels", tmp_path, config=FAST)
    assert f"the response is larger than the {size}-byte file can be" in str(info.value)
    assert list(tmp_path.iterdir()) == []
    assert _Handler.hits[f"/huge/{NAMES['train_labels']}.gz"] == 1  # not retried


def test_unreachable_host_fails_fast(payloads, tmp_path):
    spec = make_spec(payloads, "http://127.0.0.1:9", ["x"])  # port 9: nothing listens
    with pytest.raises(DownloadError, match="connection failed"):
        download_file(spec, "train_labels", tmp_path, config=FAST)
    assert list(tmp_path.iterdir()) == []


# --- where files are looked up -------------------------------------------------------------


def _fill(directory: Path, payloads, keys=FILE_KEYS, *, compressed=True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for key in keys:
        if compressed:
            (directory / (NAMES[key] + ".gz")).write_bytes(payloads[key]["gz"])
        else:
            (directory / NAMES[key]).write_bytes(payloads[key]["raw"])
    return directory


def test_resolution_order(payloads, server, tmp_path, monkeypatch):
    spec = make_spec(payloads, server, ["good"])
    explicit = _fill(tmp_path / "explicit", payloads)
    env = _fill(tmp_path / "env" / "tiny", payloads, compressed=False)
    cache = cache_dir("tiny")
    assert cache == tmp_path / "xdg" / "normlab" / "tiny"
    _fill(cache, payloads)
    monkeypatch.setenv("NORMLAB_DATA", str(tmp_path / "env"))

    # 1. explicit argument beats everything
    assert set(resolve_files(spec, explicit).values()) == {
        explicit / (n + ".gz") for n in NAMES.values()
    }
    # 2. then $NORMLAB_DATA/<name>/ (decompressed names count too)
    assert set(resolve_files(spec).values()) == {env / n for n in NAMES.values()}
    assert data_directory("tiny") == (env, "NORMLAB_DATA")
    # 3. then the cache
    monkeypatch.delenv("NORMLAB_DATA")
    assert set(resolve_files(spec).values()) == {cache / (n + ".gz") for n in NAMES.values()}
    assert sum(_Handler.hits.values()) == 0
    # 4. then a download into the cache
    for p in cache.iterdir():
        p.unlink()
    paths = resolve_files(spec, config=FAST)
    assert set(paths.values()) == {cache / (n + ".gz") for n in NAMES.values()}
    assert sum(_Handler.hits.values()) == 4


def test_cache_defaults_to_home(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir("mnist") == tmp_path / "home" / ".cache" / "normlab" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored per the XDG spec
    assert cache_dir("mnist") == tmp_path / "home" / ".cache" / "normlab" / "mnist"


def test_explicit_dir_without_files_is_an_error_not_a_silent_download(payloads, server, tmp_path):
    spec = make_spec(payloads, server, ["good"])
    explicit = _fill(tmp_path / "explicit", payloads, keys=("train_images", "train_labels"))
    with pytest.raises(DownloadError) as info:
        resolve_files(spec, explicit, config=FAST)
    message = str(info.value)
    assert str(explicit) in message
    assert NAMES["test_images"] in message and NAMES["test_labels"] in message
    # a hint for both audiences: the command for CLI users, the argument for library users
    assert f"`normlab data download --dataset tiny --data-dir {explicit}`" in message
    assert "pass download=True" in message
    assert NAMES["train_images"] not in message
    assert sum(_Handler.hits.values()) == 0
    assert not cache_dir("tiny").exists()
    # download=True fetches only the missing files, into that directory
    paths = resolve_files(spec, explicit, download=True, config=FAST)
    assert all(p.parent == explicit for p in paths.values())
    assert sum(_Handler.hits.values()) == 2


def test_env_dataset_folder_without_files_is_an_error(payloads, server, tmp_path, monkeypatch):
    # $NORMLAB_DATA/<name>/ exists, so the user chose it for this dataset: no silent download
    # elsewhere, but `normlab data download` (download=True) fills that folder.
    spec = make_spec(payloads, server, ["good"])
    env = tmp_path / "env" / "tiny"
    env.mkdir(parents=True)
    monkeypatch.setenv("NORMLAB_DATA", str(tmp_path / "env"))
    with pytest.raises(DownloadError) as info:
        resolve_files(spec, config=FAST)
    message = str(info.value)
    assert str(env) in message and "NORMLAB_DATA" in message
    assert f"--data-dir {env}" in message
    assert sum(_Handler.hits.values()) == 0
    assert not cache_dir("tiny").exists()
    paths = resolve_files(spec, download=True, config=FAST)
    assert all(p.parent == env for p in paths.values())


def test_env_without_the_dataset_falls_through_to_cache_then_download(
    payloads, server, tmp_path, monkeypatch
):
    spec = make_spec(payloads, server, ["good"])
    env = _fill(tmp_path / "env" / "other", payloads)  # a folder for another dataset only
    monkeypatch.setenv("NORMLAB_DATA", str(env.parent))
    assert data_directory("tiny") == (cache_dir("tiny"), "cache")
    log: list[str] = []
    paths = resolve_files(spec, config=FAST, log=log.append)
    assert set(paths.values()) == {cache_dir("tiny") / (n + ".gz") for n in NAMES.values()}
    assert sum(_Handler.hits.values()) == 4
    assert any("provides no tiny/ folder" in line for line in log)
    # now the cache has them: found there, nothing downloaded
    assert resolve_files(spec, config=FAST) == paths
    assert sum(_Handler.hits.values()) == 4


def test_env_folder_itself_counts_for_mnist_only(payloads, tmp_path, monkeypatch):
    # Fashion-MNIST and KMNIST use MNIST's file names: files directly in $NORMLAB_DATA (how CI
    # points it at MNIST) must never be taken for them.
    env = _fill(tmp_path / "env", payloads)
    monkeypatch.setenv("NORMLAB_DATA", str(env))
    mnist = resolve_files("mnist", download=False)
    assert set(mnist.values()) == {env / (n + ".gz") for n in NAMES.values()}
    assert data_directory("mnist") == (env, "NORMLAB_DATA")
    for name in ("kmnist", "fashion-mnist"):
        assert data_directory(name) == (cache_dir(name), "cache")
        with pytest.raises(DownloadError) as info:
            resolve_files(name, download=False)
        message = str(info.value)
        assert f"cache directory {cache_dir(name)}" in message
        assert f"provides no {name}/ folder" in message
    # the per-dataset layout: $NORMLAB_DATA/<name>/, which for MNIST wins over the folder itself
    kmnist = _fill(env / "kmnist", payloads, compressed=False)
    assert set(resolve_files("kmnist", download=False).values()) == {
        kmnist / n for n in NAMES.values()
    }
    sub = _fill(env / "mnist", payloads)
    assert data_directory("mnist") == (sub, "NORMLAB_DATA")
    # verify_files looks where resolve_files does
    assert {c.path for c in verify_files("kmnist")} == {kmnist / n for n in NAMES.values()}
    # an empty or missing $NORMLAB_DATA provides nothing
    monkeypatch.setenv("NORMLAB_DATA", str(tmp_path / "nowhere"))
    assert data_directory("mnist") == (cache_dir("mnist"), "cache")


def test_download_false_never_downloads(payloads, server, tmp_path):
    spec = make_spec(payloads, server, ["good"])
    with pytest.raises(DownloadError, match="cache directory"):
        resolve_files(spec, download=False, config=FAST)
    assert sum(_Handler.hits.values()) == 0


def test_verify_files_reports_faults(payloads, server, tmp_path):
    spec = make_spec(payloads, server, ["good"])
    directory = _fill(
        tmp_path / "d", payloads, keys=("train_images", "train_labels", "test_images")
    )
    bad = bytearray(payloads["test_images"]["raw"])
    bad[100] ^= 1
    (directory / (NAMES["test_images"] + ".gz")).write_bytes(gzip.compress(bytes(bad)))
    checks = {c.key: c for c in verify_files(spec, directory)}
    assert checks["train_images"].ok and checks["train_labels"].ok
    assert checks["train_images"].md5 == hashlib.md5(payloads["train_images"]["raw"]).hexdigest()
    assert checks["train_images"].size == len(payloads["train_images"]["raw"])
    assert not checks["test_images"].ok and "MD5" in checks["test_images"].fault
    assert checks["test_images"].size == len(bad)  # right size, wrong bytes
    assert not checks["test_labels"].ok and checks["test_labels"].path is None
    assert (
        "missing" in checks["test_labels"].fault and str(directory) in checks["test_labels"].fault
    )
    # an unreadable gzip is a fault, not an exception
    (directory / (NAMES["train_labels"] + ".gz")).write_bytes(b"\x1f\x8bnonsense")
    check = check_file(spec, "train_labels", directory / (NAMES["train_labels"] + ".gz"))
    assert not check.ok and "corrupt gzip" in check.fault


def test_download_config_validation():
    with pytest.raises(ConfigError, match="timeout"):
        DownloadConfig(timeout=0)
    with pytest.raises(ConfigError, match="retries"):
        DownloadConfig(retries=-1)
    with pytest.raises(ConfigError, match="backoff"):
        DownloadConfig(backoff=-1)


def test_downloaded_files_get_ordinary_permissions(payloads, server, tmp_path):
    # Written through normlab.fileio.atomic_writer: not the 0600 of a bare mkstemp.
    spec = make_spec(payloads, server, ["good"])
    path = download_file(spec, "test_labels", tmp_path, config=FAST)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_failed_verification_leaves_an_existing_file_untouched(payloads, server, tmp_path):
    spec = make_spec(payloads, server, ["corrupt"])
    existing = tmp_path / (NAMES["test_labels"] + ".gz")
    existing.write_bytes(b"old")
    with pytest.raises(DownloadError, match="verification failed"):
        download_file(spec, "test_labels", tmp_path, config=FAST)
    assert existing.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == [existing.name]


def test_write_error_is_a_download_error(payloads, server, tmp_path, monkeypatch):
    import normlab.data.download as download

    real = download.atomic_writer

    class FullDisk:
        def write(self, data):
            raise OSError(28, "No space left on device")

    @contextlib.contextmanager
    def full_disk_writer(path):
        with real(path):  # the real writer must clean up its temporary file
            yield FullDisk()

    monkeypatch.setattr(download, "atomic_writer", full_disk_writer)
    spec = make_spec(payloads, server, ["good", "recompressed"])
    with pytest.raises(DownloadError, match="cannot write .*No space left on device"):
        download_file(spec, "test_labels", tmp_path, config=FAST)
    assert list(tmp_path.iterdir()) == []
    # a disk fault is not retried, nor is another mirror asked
    assert _Handler.hits[f"/good/{NAMES['test_labels']}.gz"] == 1
    assert _Handler.hits[f"/recompressed/{NAMES['test_labels']}.gz"] == 0
