"""``normlab data`` sub-commands against the real MNIST files in $NORMLAB_DATA."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from normlab.cli import main

DATA = os.environ.get("NORMLAB_DATA")
pytestmark = pytest.mark.skipif(
    not DATA, reason="set NORMLAB_DATA to the directory holding the MNIST IDX files"
)


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
