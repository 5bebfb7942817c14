"""``normlab data`` sub-commands against the real MNIST files in $NORMLAB_DATA."""

from __future__ import annotations

import dataclasses
import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import env_dataset_dir
from normlab.cli import main
from normlab.data import registry
from normlab.data.idx import write_idx
from normlab.data.registry import FileSpec

# NORMLAB_DATA may be the folder of per-dataset folders or the MNIST folder itself.
MNIST = env_dataset_dir("mnist")
DATA = str(MNIST) if MNIST is not None else None
pytestmark = pytest.mark.skipif(DATA is None, reason="NORMLAB_DATA provides no MNIST folder")


def test_verify_ok(capsys):
    assert main(["data", "verify", "--data-dir", DATA]) == 0
    out = capsys.readouterr().out
    assert out.count("OK ") == 4
    assert "6bbc9ace898e44ae57da46a324031adb" in out  # train images, decompressed MD5
    assert "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2" in out
    assert "mnist: 4 of 4 files OK" in out


def test_verify_uses_normlab_data_env(capsys):
    assert main(["data", "verify"]) == 0  # NORMLAB_DATA is set for the test run
    assert str(Path(DATA)) in capsys.readouterr().out


def test_verify_reports_faults_with_exit_1(tmp_path, capsys):
    for src in Path(DATA).iterdir():
        if "t10k-labels" not in src.name:
            (tmp_path / src.name).symlink_to(src.resolve())
    data = bytearray(gzip.decompress((Path(DATA) / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    data[8] = (data[8] + 1) % 10
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(bytes(data))
    assert main(["data", "verify", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAULT  test_labels" in out and "expected 27ae3e4e09519cfbb04c329615203637" in out
    assert "mnist: 3 of 4 files OK" in out


def test_verify_missing_directory_exit_1(tmp_path, capsys):
    assert main(["data", "verify", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.count("missing: neither") == 4


def test_download_finds_existing_files_without_network(tmp_path, capsys):
    for src in Path(DATA).iterdir():
        shutil.copy(src, tmp_path / src.name)
    assert main(["data", "download", "--data-dir", str(tmp_path), "--retries", "0"]) == 0
    assert "mnist: 4 of 4 files OK" in capsys.readouterr().out


def test_stats(capsys):
    assert main(["data", "stats", "--data-dir", DATA]) == 0
    out = capsys.readouterr().out
    assert "mean 0.1307 std 0.3081" in out
    assert "60000 images" in out


def test_stats_bad_transform_is_a_clean_error(capsys):
    assert main(["data", "stats", "--transform", "zoom"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("normlab: error:") and "valid transforms" in err


def test_unknown_dataset(capsys):
    assert main(["data", "verify", "--dataset", "cifar"]) == 2
    assert "valid datasets: fashion-mnist, kmnist, mnist" in capsys.readouterr().err


def test_show_writes_png(tmp_path, capsys):
    out = tmp_path / "sub" / "digits.png"
    assert main(["data", "show", "--out", str(out), "--count", "16", "--split", "test"]) == 0
    assert out.is_file()
    assert "saved 16 mnist test images" in capsys.readouterr().out
    with Image.open(out) as img:
        assert img.format == "PNG"
        width, height = img.size
        pixels = np.asarray(img.convert("L"), dtype=np.float64)
    assert width >= 300 and height >= 300
    # a real figure: dark digit backgrounds and white strokes and page, not a blank canvas
    assert pixels.std() > 50
    assert (pixels < 30).mean() > 0.2 and (pixels > 220).mean() > 0.1
    assert [p.name for p in out.parent.iterdir()] == ["digits.png"]  # no temp file left


def test_show_validates_count(tmp_path, capsys):
    assert main(["data", "show", "--out", str(tmp_path / "x.png"), "--count", "0"]) == 2
    assert "--count must be in [1, 400]" in capsys.readouterr().err


def test_data_without_action_prints_help(capsys):
    assert main(["data"]) == 2
    assert "verify" in capsys.readouterr().out


def test_show_out_below_a_file_is_a_clean_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = blocker / "x.png"
    code = main(["data", "show", "--out", str(out), "--count", "4", "--split", "test"])
    assert code == 2
    err = capsys.readouterr().err
    # normlab.fileio's OutputError: the path that cannot be made and why, on one line
    assert err == (f"normlab: error: cannot create folder {blocker}: a file is in the way of a "
                   f"folder on that path\n")
    assert blocker.read_text() == "x" and [p.name for p in tmp_path.iterdir()] == ["file"]


def test_show_writes_under_runs_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["data", "show", "--count", "4", "--split", "test"]) == 0
    out = Path("runs") / "data" / "mnist-test.png"
    assert f"saved 4 mnist test images to {out}" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["runs"]  # nothing else in the cwd
    with Image.open(out) as img:
        assert img.format == "PNG"


def test_show_help_states_the_default(capsys):
    with pytest.raises(SystemExit):
        main(["data", "show", "--help"])
    help_text = "".join(capsys.readouterr().out.split())  # argparse wraps lines at hyphens
    assert "(default:runs/data/DATASET-SPLIT.png)" in help_text


def test_show_writes_an_ordinary_file(tmp_path, capsys):
    out = tmp_path / "d.png"
    assert main(["data", "show", "--out", str(out), "--count", "1", "--split", "test"]) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not a 0600 temp file renamed


def _tiny_kmnist(monkeypatch, tmp_path) -> Path:
    """A KMNIST with no checksums whose (tiny) files sit in the cache under tmp_path."""
    spec = registry.get_dataset_spec("kmnist")
    files = {k: FileSpec(f.filename) for k, f in spec.files.items()}
    tiny = dataclasses.replace(spec, files=files, mirrors=())
    monkeypatch.setitem(registry._REGISTRY, "kmnist", tiny)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = tmp_path / "xdg" / "normlab" / "kmnist"
    rng = np.random.default_rng(0)
    for key, n in (("train", 12), ("test", 5)):
        write_idx(
            cache / (files[f"{key}_images"].filename + ".gz"),
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        )
        labels = np.arange(n, dtype=np.uint8) % 10
        write_idx(cache / (files[f"{key}_labels"].filename + ".gz"), labels)
    return cache


@pytest.mark.parametrize("layout", ["mnist-folder", "per-dataset-folders"])
def test_normlab_data_without_kmnist_is_not_used_for_kmnist(layout, tmp_path, monkeypatch, capsys):
    # NORMLAB_DATA is the MNIST folder itself (the old CI setting), or a folder of per-dataset
    # folders without kmnist/ (the Makefile's): either way KMNIST, whose file names are
    # MNIST's, must come from the cache, not from MNIST's folder.
    cache = _tiny_kmnist(monkeypatch, tmp_path)
    if layout == "mnist-folder":
        monkeypatch.setenv("NORMLAB_DATA", DATA)
    else:
        (tmp_path / "datasets").mkdir()
        (tmp_path / "datasets" / "mnist").symlink_to(MNIST)
        monkeypatch.setenv("NORMLAB_DATA", str(tmp_path / "datasets"))
    assert main(["data", "stats", "--dataset", "kmnist"]) == 0
    assert "kmnist train: 12 images" in capsys.readouterr().out
    assert main(["data", "verify", "--dataset", "kmnist"]) == 0
    out = capsys.readouterr().out
    assert out.count(str(cache)) == 4 and "kmnist: 4 of 4 files OK" in out
    # MNIST itself is still read from its folder
    assert main(["data", "verify"]) == 0
    mnist_dir = DATA if layout == "mnist-folder" else str(tmp_path / "datasets" / "mnist")
    assert capsys.readouterr().out.count(mnist_dir) == 4


def test_missing_data_error_names_the_download_command(tmp_path, capsys):
    code = main(["data", "stats", "--data-dir", str(tmp_path / "empty")])
    assert code == 2
    err = capsys.readouterr().err
    assert f"normlab data download --dataset mnist --data-dir {tmp_path / 'empty'}" in err
