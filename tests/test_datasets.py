"""In-memory datasets on the real MNIST files (from $NORMLAB_DATA) and their transforms."""

from __future__ import annotations

import gzip
import math
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import env_dataset_dir
from normlab.data import (
    ImageDataset,
    channel_stats,
    get_transform,
    load_dataset,
    load_splits,
    output_size,
)
from normlab.data.idx import read_idx, write_idx
from normlab.errors import ConfigError, DownloadError, IDXFormatError

# NORMLAB_DATA may be the folder of per-dataset folders or the MNIST folder itself.
DATA = env_dataset_dir("mnist")
needs_mnist = pytest.mark.skipif(DATA is None, reason="NORMLAB_DATA provides no MNIST folder")

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist():
    if DATA is None:
        pytest.skip("NORMLAB_DATA provides no MNIST folder")
    return load_splits("mnist", transform="resize32", data_dir=DATA, verify=True)


@needs_mnist
def test_counts_shapes_and_labels(mnist):
    assert len(mnist.train) == 60000 and len(mnist.test) == 10000
    assert mnist.val is None
    assert mnist.train.images.shape == (60000, 28, 28)
    assert mnist.train.images.dtype == torch.uint8
    assert mnist.train.labels.dtype == torch.int64
    assert torch.bincount(mnist.train.labels, minlength=10).tolist() == TRAIN_COUNTS
    assert torch.bincount(mnist.test.labels, minlength=10).tolist() == TEST_COUNTS
    assert mnist.train.input_shape == (1, 32, 32)
    assert mnist.train.class_names == tuple("0123456789") and mnist.train.num_classes == 10
    # the first training digit of MNIST is a 5, the first test digit a 7
    assert int(mnist.train.labels[0]) == 5 and int(mnist.test.labels[0]) == 7


@needs_mnist
def test_pixel_mean_and_std(mnist):
    raw = ImageDataset(mnist.train.images, mnist.train.labels, "train", transform="none")
    mean, std = channel_stats(raw)
    assert len(mean) == len(std) == 1
    assert mean[0] == pytest.approx(0.1307, abs=5e-5)
    assert std[0] == pytest.approx(0.3081, abs=5e-5)
    # chunking cannot change the result at all: the per-image terms are summed exactly
    assert channel_stats(raw, chunk=7001) == (mean, std)
    # and the result is the exact value to a few ulps. The transformed pixels take only 256
    # values, the float32 k / 255, so their histogram gives the exact mean and variance.
    counts = torch.bincount(raw.images.flatten(), minlength=256).tolist()
    values = [Fraction(v) for v in get_transform("none")(torch.arange(256, dtype=torch.uint8)
                                                          .view(1, 16, 16)).flatten().tolist()]
    n = sum(counts)
    exact_mean = sum(c * v for c, v in zip(counts, values)) / n
    exact_var = sum(c * (v - exact_mean) ** 2 for c, v in zip(counts, values)) / n
    assert mean[0] == pytest.approx(float(exact_mean), rel=4e-16)
    assert std[0] == pytest.approx(math.sqrt(exact_var), rel=4e-16)
    # and agree with a direct float64 computation on a subset
    sub = (mnist.train.images[:5000].float() / 255).double()  # the transform works in float32
    m, s = channel_stats(raw.subset(5000))
    assert m[0] == pytest.approx(float(sub.mean()), rel=1e-12)
    assert s[0] == pytest.approx(float(sub.std(unbiased=False)), rel=1e-10)


def test_channel_stats_per_channel_without_cancellation():
    # Channels far from zero relative to their spread: E[x^2] - E[x]^2 would lose every digit.
    gen = torch.Generator().manual_seed(0)
    scale = torch.tensor([1e-3, 1.0, 10.0], dtype=torch.float64).view(1, 3, 1, 1)
    offset = torch.tensor([1e4, -3.0, 0.0], dtype=torch.float64).view(1, 3, 1, 1)
    x = torch.randn(50, 3, 5, 7, generator=gen, dtype=torch.float64) * scale + offset
    before = x.clone()
    mean, std = channel_stats(x, chunk=7)
    assert torch.equal(x, before)  # the caller's tensor is left alone
    assert channel_stats(x, chunk=50) == (mean, std)
    ref = x.transpose(0, 1).reshape(3, -1).numpy()
    np.testing.assert_allclose(mean, ref.mean(axis=1), rtol=1e-15)
    np.testing.assert_allclose(std, ref.std(axis=1), rtol=1e-11)


@needs_mnist
def test_resize32_equals_torch_interpolate_with_antialias(mnist):
    raw = mnist.train.images[:777]
    expected = F.interpolate(
        raw.unsqueeze(1).float().div(255),
        size=(32, 32),
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )
    got = mnist.train.transform_batch(raw)
    assert got.dtype == torch.float32 and got.shape == (777, 1, 32, 32)
    assert torch.equal(got, expected)
    images, labels = mnist.train.subset(777).tensors(chunk=100)
    assert torch.equal(images, expected)
    assert torch.equal(labels, mnist.train.labels[:777])
    x, y = mnist.train[3]
    assert torch.equal(x, expected[3]) and y == int(mnist.train.labels[3])
    assert float(got.min()) >= 0.0 and float(got.max()) <= 1.0
    # antialiased resizing differs from the plain bilinear one: the test can tell them apart
    plain = F.interpolate(raw.unsqueeze(1).float().div(255), size=(32, 32), mode="bilinear")
    assert not torch.equal(got, plain)


@needs_mnist
def test_pad32_centres_the_image_with_a_zero_border(mnist):
    raw = mnist.test.images[:64]
    out = get_transform("pad32")(raw)
    assert out.shape == (64, 1, 32, 32) and out.dtype == torch.float32
    assert torch.equal(out[:, 0, 2:30, 2:30], raw.float() / 255)
    border = out.clone()
    border[:, :, 2:30, 2:30] = 0
    assert torch.count_nonzero(border) == 0
    assert output_size("pad32", (28, 28)) == (32, 32)


@needs_mnist
def test_none_transform_keeps_size(mnist):
    out = get_transform("none")(mnist.test.images[:8])
    assert out.shape == (8, 1, 28, 28)
    assert torch.equal(out[:, 0], mnist.test.images[:8].float() / 255)
    assert output_size("none", (28, 28)) == (28, 28)


@needs_mnist
def test_val_split_holds_out_last_images_and_subset_takes_first(mnist):
    splits = load_splits("mnist", data_dir=DATA, val_split=5000, subset=1000, verify=False)
    assert len(splits.train) == 1000 and len(splits.val) == 5000 and len(splits.test) == 10000
    assert splits.val.split == "val"
    assert torch.equal(splits.val.images, mnist.train.images[-5000:])
    assert torch.equal(splits.val.labels, mnist.train.labels[-5000:])
    assert torch.equal(splits.train.images, mnist.train.images[:1000])
    full = load_splits("mnist", data_dir=DATA, val_split=10000, verify=False)
    assert len(full.train) == 50000
    assert torch.equal(full.train.labels, mnist.train.labels[:50000])
    assert [s.split for s in full] == ["train", "val", "test"]


@needs_mnist
def test_standardisation_uses_train_statistics_only(mnist):
    splits = load_splits(
        "mnist", data_dir=DATA, transform="pad32", val_split=20000, standardize=True, verify=False
    )
    plain_train = ImageDataset(
        mnist.train.images[:40000], mnist.train.labels[:40000], "train", transform="pad32"
    )
    (m,), (s,) = channel_stats(plain_train)
    assert splits.train.mean == pytest.approx(m, rel=1e-12)
    assert splits.train.std == pytest.approx(s, rel=1e-12)
    for ds in (splits.val, splits.test):
        assert (ds.mean, ds.std) == (splits.train.mean, splits.train.std)
    # statistics over train + val would differ: the hold-out did not leak in
    (m_all,), _ = channel_stats(
        ImageDataset(mnist.train.images, mnist.train.labels, "train", transform="pad32")
    )
    assert abs(m_all - m) > 1e-5
    (mt,), (st,) = channel_stats(splits.train)
    # standardised float32 pixels: zero mean and unit std up to float32 rounding
    assert mt == pytest.approx(0.0, abs=1e-6) and st == pytest.approx(1.0, rel=1e-6)
    x = splits.test.transform_batch(mnist.test.images[:4])
    expected = (get_transform("pad32")(mnist.test.images[:4]) - m) / s
    torch.testing.assert_close(x, expected, rtol=0, atol=1e-6)


@needs_mnist
def test_load_dataset_single_split(mnist):
    test = load_dataset("mnist", "test", transform="none", data_dir=DATA)
    assert len(test) == 10000 and test.input_shape == (1, 28, 28)
    assert torch.equal(test.images, mnist.test.images)
    val = load_dataset("mnist", "val", val_split=100, data_dir=DATA, verify=False)
    assert len(val) == 100 and torch.equal(val.labels, mnist.train.labels[-100:])


@needs_mnist
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"transform": "resize64"}, "valid transforms: resize32, pad32, none"),
        ({"val_split": -1}, r"val_split must be in \[0, 60000\)"),
        ({"val_split": 60000}, r"val_split must be in \[0, 60000\)"),
        ({"val_split": 2.5}, "val_split must be an integer"),
        ({"val_split": 100, "subset": 59901}, r"subset must be in \[1, 59900\]"),
        ({"subset": 0}, "subset must be in"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        load_splits("mnist", data_dir=DATA, verify=False, **kwargs)


def test_bad_names_without_data():
    with pytest.raises(ConfigError, match="valid transforms: resize32, pad32, none"):
        get_transform("bicubic")
    with pytest.raises(ConfigError, match="valid datasets: fashion-mnist, kmnist, mnist"):
        load_splits("emnist")
    with pytest.raises(ConfigError, match="needs val_split"):
        load_dataset("mnist", "val")
    with pytest.raises(ConfigError, match="valid splits"):
        load_dataset("mnist", "validation")


def test_image_dataset_validation_and_indexing():
    images = torch.arange(5 * 4 * 4, dtype=torch.uint8).reshape(5, 4, 4)
    ds = ImageDataset(
        images,
        torch.tensor([0, 1, 2, 1, 0], dtype=torch.uint8),
        "train",
        transform="none",
        name="toy",
    )
    assert ds.labels.dtype == torch.int64 and ds.num_classes == 3
    x, y = ds[-1]
    assert torch.equal(x, images[4:5].float() / 255) and y == 0
    with pytest.raises(IndexError):
        ds[5]
    sub = ds.subset([4, 0])
    assert torch.equal(sub.images, images[[4, 0]]) and sub.labels.tolist() == [0, 0]
    assert len(ds.subset(2)) == 2
    with pytest.raises(ConfigError, match="subset indices"):
        ds.subset([7])
    with pytest.raises(ConfigError, match="uint8"):
        ImageDataset(images.float(), torch.zeros(5), "train")
    with pytest.raises(ConfigError, match="5 images but 4 labels"):
        ImageDataset(images, torch.zeros(4, dtype=torch.int64), "train")
    with pytest.raises(ConfigError, match="valid splits"):
        ImageDataset(images, torch.zeros(5, dtype=torch.int64), "dev")
    with pytest.raises(ConfigError, match="std must be finite and > 0"):
        ImageDataset(images, torch.zeros(5, dtype=torch.int64), "train", mean=0.1, std=0.0)
    with pytest.raises(ConfigError, match="valid transforms"):
        ImageDataset(images, torch.zeros(5, dtype=torch.int64), "train", transform="x")
    assert "n=5" in repr(ds)


# --- damaged copies of the real files --------------------------------------------------------


@pytest.fixture()
def mnist_copy(tmp_path):
    """A directory with the real MNIST files: big ones linked, label files copied."""
    if DATA is None:
        pytest.skip("NORMLAB_DATA provides no MNIST folder")
    for src in DATA.iterdir():
        if "labels" in src.name:
            shutil.copy(src, tmp_path / src.name)
        else:
            (tmp_path / src.name).symlink_to(src.resolve())
    return tmp_path


def _rewrite_labels(directory: Path, name: str, change) -> None:
    path = next(directory.glob(name + "*"))
    labels = read_idx(path)
    path.unlink()
    write_idx(directory / (name + ".gz"), change(labels))


def test_verify_catches_changed_labels(mnist_copy):
    def flip(labels):
        labels[0] = (labels[0] + 1) % 10
        return labels

    _rewrite_labels(mnist_copy, "t10k-labels-idx1-ubyte", flip)
    with pytest.raises(DownloadError) as info:
        load_splits("mnist", data_dir=mnist_copy, verify=True)
    assert "t10k-labels-idx1-ubyte" in str(info.value) and "MD5" in str(info.value)
    splits = load_splits("mnist", data_dir=mnist_copy, verify=False)
    assert int(splits.test.labels[0]) == 8


def test_out_of_range_label_and_count_mismatch(mnist_copy):
    def bad_label(labels):
        labels[17] = 12
        return labels

    _rewrite_labels(mnist_copy, "t10k-labels-idx1-ubyte", bad_label)
    with pytest.raises(IDXFormatError, match=r"label 12 at index 17 is outside \[0, 10\)"):
        load_splits("mnist", data_dir=mnist_copy, verify=False)
    _rewrite_labels(mnist_copy, "t10k-labels-idx1-ubyte", lambda labels: labels[:9999] % 10)
    with pytest.raises(IDXFormatError) as info:
        load_splits("mnist", data_dir=mnist_copy, verify=False)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message
    assert "10000 images" in message and "9999 labels" in message


def test_truncated_image_file_is_reported(mnist_copy):
    src = next(mnist_copy.glob("t10k-images*"))
    data = gzip.decompress(src.read_bytes())
    src.unlink()
    (mnist_copy / "t10k-images-idx3-ubyte").write_bytes(data[:-100])
    with pytest.raises(IDXFormatError, match="truncated data"):
        load_dataset("mnist", "test", data_dir=mnist_copy, verify=False)
    with pytest.raises(DownloadError, match="size 7839916 bytes, expected 7840016"):
        load_dataset("mnist", "test", data_dir=mnist_copy, verify=True)


def test_numpy_inputs_are_accepted():
    ds = ImageDataset(np.zeros((3, 28, 28), np.uint8), np.array([1, 2, 3]), "test")
    assert ds.images.dtype == torch.uint8 and ds.labels.dtype == torch.int64
    assert ds.transform_batch(ds.images).shape == (3, 1, 32, 32)
