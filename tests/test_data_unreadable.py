"""A data file that cannot be read is one clear error, naming the file and the cause, everywhere.

The tests run as root, whom ``chmod 000`` does not stop, so a file without read permission is
simulated: ``open`` of that path raises the ``PermissionError`` the kernel would give.
"""

from __future__ import annotations

import builtins
import errno
import os
from pathlib import Path

import pytest

from normlab.cli import main
from normlab.data import load_dataset, load_splits, read_idx, verify_files
from normlab.errors import DataFileError, NormlabError


@pytest.fixture()
def deny(monkeypatch):
    """``deny(path)``: from now on opening ``path`` fails with "Permission denied"."""
    denied: set[str] = set()
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.path.abspath(file) in denied:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    return lambda path: denied.add(os.path.abspath(path))


@pytest.fixture()
def mnist_links(tmp_path, data_dir) -> Path:
    """A folder of links to the real MNIST files, which a test may deny or replace."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    for src in data_dir.iterdir():
        (folder / src.name).symlink_to(src.resolve())
    return folder


def _assert_clean(err: str, path: Path, cause: str) -> None:
    assert err.startswith(f"normlab: error: cannot read {path}: {cause}"), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_read_idx_names_the_file_and_the_cause(tmp_path, deny):
    path = tmp_path / "x.idx"
    path.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07")
    assert read_idx(path).tolist() == [7]
    deny(path)
    with pytest.raises(DataFileError) as info:
        read_idx(path)
    assert str(info.value) == (
        f"cannot read {path}: permission denied; make it readable for this user (e.g. chmod a+r)"
    )
    assert isinstance(info.value, NormlabError) and isinstance(info.value, OSError)
    assert info.value.errno == errno.EACCES


def test_verify_reports_the_unreadable_file_as_a_fault(mnist_links, deny, capsys):
    deny(mnist_links / "t10k-labels-idx1-ubyte.gz")
    assert main(["data", "verify", "--data-dir", str(mnist_links)]) == 1
    out = capsys.readouterr().out
    assert "FAULT  test_labels" in out and "mnist: 3 of 4 files OK" in out
    labels = mnist_links / "t10k-labels-idx1-ubyte.gz"
    assert f"fault: cannot read {labels}: permission denied" in out


def test_stats_and_show_fail_with_one_line(mnist_links, deny, tmp_path, capsys):
    images = mnist_links / "train-images-idx3-ubyte.gz"
    deny(images)
    assert main(["data", "stats", "--data-dir", str(mnist_links)]) == 2
    _assert_clean(capsys.readouterr().err, images, "permission denied")
    assert main(["data", "show", "--data-dir", str(mnist_links), "--out",
                 str(tmp_path / "x.png"), "--count", "4"]) == 2
    _assert_clean(capsys.readouterr().err, images, "permission denied")
    assert not (tmp_path / "x.png").exists()


def test_loading_for_training_raises_data_file_error(mnist_links, deny):
    # load_splits is what train, compare and study call
    deny(mnist_links / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DataFileError, match="t10k-images-idx3-ubyte.gz: permission denied"):
        load_splits("mnist", data_dir=mnist_links)
    with pytest.raises(DataFileError, match="permission denied"):
        load_dataset("mnist", "test", data_dir=mnist_links, verify=False)


def test_train_command_fails_with_one_line(mnist_links, deny, tmp_path, capsys):
    deny(mnist_links / "train-labels-idx1-ubyte.gz")
    code = main(["train", "--data-dir", str(mnist_links), "--epochs", "1", "--subset", "64",
                 "--out", str(tmp_path / "run"), "--quiet", "--device", "cpu"])
    assert code == 2
    _assert_clean(capsys.readouterr().err, mnist_links / "train-labels-idx1-ubyte.gz",
                  "permission denied")


def test_a_folder_in_the_place_of_a_file_is_reported_as_such(mnist_links, data_dir, capsys):
    labels = mnist_links / "t10k-labels-idx1-ubyte.gz"
    labels.unlink()
    labels.mkdir()
    checks = {c.key: c for c in verify_files("mnist", mnist_links)}
    assert checks["test_labels"].path == labels
    assert checks["test_labels"].fault == (
        f"cannot read {labels}: it is a directory, not a data file")
    with pytest.raises(DataFileError, match="it is a directory"):
        load_splits("mnist", data_dir=mnist_links)
    assert main(["data", "stats", "--data-dir", str(mnist_links)]) == 2
    _assert_clean(capsys.readouterr().err, labels, "it is a directory")
    # a real file beside it is still preferred
    raw = mnist_links / "t10k-labels-idx1-ubyte"
    raw.symlink_to((data_dir / "t10k-labels-idx1-ubyte.gz").resolve())
    assert {c.key: c for c in verify_files("mnist", mnist_links)}["test_labels"].path == raw


def test_an_unreadable_data_folder_is_a_data_file_error(mnist_links, monkeypatch, capsys):
    real_stat = os.stat

    def denied_stat(path, *args, **kwargs):
        if Path(path).parent == mnist_links:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", denied_stat)
    with pytest.raises(DataFileError, match=f"cannot read {mnist_links}/.*: permission denied"):
        load_splits("mnist", data_dir=mnist_links)
    assert main(["data", "verify", "--data-dir", str(mnist_links)]) == 2
    assert "permission denied" in capsys.readouterr().err
