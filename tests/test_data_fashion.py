"""Fashion-MNIST, offline from $NORMLAB_DATA/fashion-mnist/, verified by its decompressed content.

The published checksums of the decompressed files (../shared/datasets/README.md) are what is
compared, as for MNIST: a recompressed copy (Debian's, say) passes, and MNIST's files, which
have the same names and sizes, no longer do. KMNIST keeps the published MD5s of its .gz
files, the only checksums known for it.
"""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest
import torch

from normlab.cli import main
from normlab.data import channel_stats, load_splits, verify_files
from normlab.data.download import check_file
from normlab.data.idx import write_idx
from normlab.data.registry import FILE_KEYS, get_dataset_spec
from normlab.errors import DownloadError

# Decompressed content, from the dataset README (Zalando's files, as published).
FASHION_MD5 = {
    "train_images": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train_labels": "9018921c3c673c538a1fc5bad174d6f9",
    "test_images": "8181f5470baa50b63fa0f6fddb340f0a",
    "test_labels": "15d484375f8d13e6eb1aabb0c3f46965",
}
FASHION_TRAIN_IMAGES_SHA256 = "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"


def test_registry_has_the_published_content_checksums():
    spec = get_dataset_spec("fashion-mnist")
    assert {k: spec.files[k].md5 for k in FILE_KEYS} == FASHION_MD5
    assert spec.files["train_images"].sha256 == FASHION_TRAIN_IMAGES_SHA256
    assert spec.files["test_labels"].sha256 == (
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34")


def test_load_splits_offline_from_normlab_data(fashion_dir):
    splits = load_splits("fashion-mnist", transform="none", download=False)
    assert len(splits.train) == 60000 and len(splits.test) == 10000
    assert torch.bincount(splits.train.labels, minlength=10).tolist() == [6000] * 10
    assert torch.bincount(splits.test.labels, minlength=10).tolist() == [1000] * 10
    assert splits.train.class_names[0] == "T-shirt/top" and splits.train.num_classes == 10
    (mean,), (std,) = channel_stats(splits.train)
    assert mean == pytest.approx(0.2860, abs=5e-5) and std == pytest.approx(0.3530, abs=5e-5)


def test_verify_compares_the_decompressed_content(fashion_dir, capsys):
    checks = verify_files("fashion-mnist")
    assert all(c.ok for c in checks), checks
    assert {c.key: c.md5 for c in checks} == FASHION_MD5
    assert {c.path.parent for c in checks} == {fashion_dir}
    assert all(c.checked == ("size", "md5", "sha256", "idx") for c in checks)
    assert main(["data", "verify", "--dataset", "fashion-mnist"]) == 0
    out = capsys.readouterr().out
    assert FASHION_TRAIN_IMAGES_SHA256 in out and "fashion-mnist: 4 of 4 files OK" in out


def test_a_recompressed_or_decompressed_copy_passes(fashion_dir, tmp_path):
    for src in fashion_dir.iterdir():
        if "labels" not in src.name:
            (tmp_path / src.name).symlink_to(src.resolve())
    train = gzip.decompress((fashion_dir / "train-labels-idx1-ubyte.gz").read_bytes())
    recompressed = gzip.compress(train, compresslevel=1, mtime=1234567)
    assert recompressed != (fashion_dir / "train-labels-idx1-ubyte.gz").read_bytes()
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(recompressed)
    test = gzip.decompress((fashion_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(test)
    checks = verify_files("fashion-mnist", tmp_path)
    assert all(c.ok for c in checks), [c.fault for c in checks]
    # a changed label is caught, although size and IDX structure are fine
    changed = bytearray(test)
    changed[8] = (changed[8] + 1) % 10
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(bytes(changed))
    check = check_file("fashion-mnist", "test_labels", tmp_path / "t10k-labels-idx1-ubyte")
    assert not check.ok and f"expected {FASHION_MD5['test_labels']}" in check.fault


def test_mnist_files_do_not_pass_as_fashion_mnist(data_dir, tmp_path, capsys):
    # Same names, same sizes: only the content tells them apart. Decompressed, MNIST's
    # label files have no .gz MD5 to compare either.
    for src in data_dir.iterdir():
        if "labels" in src.name:
            (tmp_path / src.name.removesuffix(".gz")).write_bytes(gzip.decompress(src.read_bytes()))
        else:
            (tmp_path / src.name).symlink_to(src.resolve())
    assert main(["data", "verify", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "fashion-mnist: 0 of 4 files OK" in out
    assert f"expected {FASHION_MD5['test_labels']}" in out
    with pytest.raises(DownloadError, match="failed verification"):
        load_splits("fashion-mnist", data_dir=tmp_path)


def test_kmnist_still_verifies_by_the_published_gz_md5(tmp_path):
    spec = get_dataset_spec("kmnist")
    assert not any(f.has_content_hash for f in spec.files.values())
    assert all(f.gz_md5 for f in spec.files.values())
    # right size and structure, but not the published .gz: refused by its .gz MD5
    path = write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(10000, np.uint8))
    check = check_file(spec, "test_labels", path)
    assert check.checked == ("size", "gz-md5", "idx") and not check.ok
    assert hashlib.md5(path.read_bytes()).hexdigest() in check.fault
    assert spec.files["test_labels"].gz_md5 in check.fault
