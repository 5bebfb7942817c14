"""BatchLoader: batch counts, order, seeded shuffling and resumable generator state."""

from __future__ import annotations

import pytest
import torch

from normlab.data import BatchLoader, ImageDataset
from normlab.errors import ConfigError


def make_dataset(n: int = 103, transform: str = "none") -> ImageDataset:
    # Pixel (0, 0) of image i encodes i (mod 256) and label i % 10, so batches reveal the order.
    images = torch.zeros((n, 28, 28), dtype=torch.uint8)
    images[:, 0, 0] = torch.arange(n) % 256
    images[:, 0, 1] = torch.arange(n) // 256
    labels = torch.arange(n) % 10
    return ImageDataset(images, labels, "train", transform=transform, name="toy")


def order_of(loader: BatchLoader) -> list[int]:
    """The sample indices of one epoch, decoded from the pixels."""
    out = []
    for images, labels in loader:
        idx = (images[:, 0, 0, 0] * 255).round().long() + 256 * (
            images[:, 0, 0, 1] * 255
        ).round().long()
        assert torch.equal(labels, idx % 10)
        out += idx.tolist()
    return out


@pytest.mark.parametrize(
    "n, batch, drop_last, expected",
    [
        (103, 10, False, 11),
        (103, 10, True, 10),
        (100, 10, True, 10),
        (100, 10, False, 10),
        (5, 10, False, 1),
        (5, 10, True, 0),
    ],
)
def test_len(n, batch, drop_last, expected):
    loader = BatchLoader(make_dataset(n), batch, drop_last=drop_last)
    assert len(loader) == expected
    batches = list(loader)
    assert len(batches) == expected
    sizes = [len(b[1]) for b in batches]
    if drop_last:
        assert all(s == batch for s in sizes)
    else:
        assert sum(sizes) == n


def test_batches_have_the_right_form():
    ds = make_dataset(40, transform="resize32")
    images, labels = next(iter(BatchLoader(ds, 16)))
    assert images.shape == (16, 1, 32, 32) and images.dtype == torch.float32
    assert labels.shape == (16,) and labels.dtype == torch.int64
    assert torch.equal(images, ds.transform_batch(ds.images[:16]))


def test_no_shuffle_is_the_identity_order():
    assert order_of(BatchLoader(make_dataset(103), 8)) == list(range(103))


def test_same_seed_same_order_and_different_seeds_differ():
    ds = make_dataset(300)
    a = BatchLoader(ds, 32, shuffle=True, seed=7)
    b = BatchLoader(ds, 32, shuffle=True, seed=7)
    c = BatchLoader(ds, 32, shuffle=True, seed=8)
    epochs_a = [order_of(a) for _ in range(3)]
    epochs_b = [order_of(b) for _ in range(3)]
    assert epochs_a == epochs_b
    assert epochs_a[0] != epochs_a[1]  # each epoch draws a new order
    assert order_of(c) != epochs_a[0]
    assert epochs_a[0] != list(range(300))


def test_every_sample_once_per_epoch():
    ds = make_dataset(257)
    loader = BatchLoader(ds, 16, shuffle=True, seed=3)
    for _ in range(2):
        assert sorted(order_of(loader)) == list(range(257))
    dropped = order_of(BatchLoader(ds, 16, shuffle=True, seed=3, drop_last=True))
    assert len(dropped) == 256 and len(set(dropped)) == 256


def test_generator_state_restore_reproduces_next_epoch():
    ds = make_dataset(200)
    loader = BatchLoader(ds, 50, shuffle=True, seed=11)
    order_of(loader)
    saved = loader.generator.get_state()  # what a checkpoint stores after epoch 1
    epoch2 = order_of(loader)
    epoch3 = order_of(loader)

    resumed = BatchLoader(ds, 50, shuffle=True, seed=999)
    resumed.generator.set_state(saved)
    assert order_of(resumed) == epoch2
    assert order_of(resumed) == epoch3


def test_explicit_generator_and_global_seed():
    ds = make_dataset(64)
    g = torch.Generator().manual_seed(5)
    first = order_of(BatchLoader(ds, 8, shuffle=True, generator=g))
    assert first == order_of(
        BatchLoader(ds, 8, shuffle=True, generator=torch.Generator().manual_seed(5))
    )
    torch.manual_seed(1)
    x = order_of(BatchLoader(ds, 8, shuffle=True))
    torch.manual_seed(1)
    y = order_of(BatchLoader(ds, 8, shuffle=True))
    assert x == y


def test_non_shuffling_loader_leaves_the_global_rng_alone():
    # Noisy batch norm draws from the global stream: building evaluation loaders must not
    # shift it, whatever their number.
    ds = make_dataset(40)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    loaders = [BatchLoader(ds, 8), BatchLoader(ds, 8, seed=5), BatchLoader(ds, 8, drop_last=True)]
    for loader in loaders:
        assert order_of(loader)[:8] == list(range(8))
    assert torch.equal(torch.get_rng_state(), before)
    assert all(isinstance(loader.generator, torch.Generator) for loader in loaders)
    # a shuffling loader without a seed does draw its seed from the global stream
    BatchLoader(ds, 8, shuffle=True)
    assert not torch.equal(torch.get_rng_state(), before)


def test_bad_seed_is_rejected_without_shuffle_too():
    with pytest.raises(ConfigError, match="seed must be an integer"):
        BatchLoader(make_dataset(10), 2, seed="1")


def test_generic_torch_dataset_fallback():
    class Squares(torch.utils.data.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return torch.full((1, 2, 2), float(i * i)), i % 3

    loader = BatchLoader(Squares(), 4, shuffle=True, seed=0)
    seen = []
    for images, labels in loader:
        assert images.shape[1:] == (1, 2, 2) and images.dtype == torch.float32
        roots = images[:, 0, 0, 0].sqrt().round().long()
        assert torch.equal(labels, roots % 3)
        seen += roots.tolist()
    assert sorted(seen) == list(range(10)) and len(loader) == 3


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "8", None])
def test_batch_size_validation(bad):
    with pytest.raises(ConfigError, match="batch_size must be a positive integer"):
        BatchLoader(make_dataset(10), bad)


def test_seed_and_generator_are_exclusive():
    with pytest.raises(ConfigError, match="either a generator or a seed"):
        BatchLoader(make_dataset(10), 2, seed=1, generator=torch.Generator())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_device_batches():
    ds = make_dataset(100, transform="resize32")
    loader = BatchLoader(ds, 32, shuffle=True, seed=0, device="cuda")
    images, labels = next(iter(loader))
    assert images.device.type == "cuda" and labels.device.type == "cuda"
    cpu = BatchLoader(ds, 32, shuffle=True, seed=0)
    cpu_images, cpu_labels = next(iter(cpu))
    assert torch.equal(labels.cpu(), cpu_labels)
    torch.testing.assert_close(images.cpu(), cpu_images)


def test_unused_iterators_do_not_advance_the_shuffle(data_dir):
    """tqdm calls iter() twice; only the iterator that is consumed may draw an order."""
    from normlab.data import BatchLoader, load_splits

    train = load_splits("mnist", subset=256, data_dir=data_dir).train
    a = BatchLoader(train, 64, shuffle=True, seed=3)
    b = BatchLoader(train, 64, shuffle=True, seed=3)
    iter(a)
    iter(a)  # discarded, as tqdm does
    first_a = next(iter(a))[1]
    first_b = next(iter(b))[1]
    assert torch.equal(first_a, first_b)


@pytest.mark.parametrize("transform", ["resize32", "pad32", "none"])
@pytest.mark.parametrize("standardize", [False, True])
def test_cached_loader_gives_the_same_batches_bit_for_bit(data_dir, transform, standardize):
    """The cache transforms in chunks of 2,048; batches of 64 must not differ by one bit."""
    from normlab.data import load_splits

    train = load_splits("mnist", subset=3000, transform=transform, standardize=standardize,
                        data_dir=data_dir).train
    plain = BatchLoader(train, 64, shuffle=True, seed=5)
    cached = BatchLoader(train, 64, shuffle=True, seed=5, cache=True)
    count = 0
    for (x, y), (cx, cy) in zip(plain, cached):
        assert torch.equal(x, cx) and torch.equal(y, cy)
        count += 1
    assert count == len(plain) == len(cached)


def test_cache_is_shared_between_loaders_and_follows_standardisation():
    ds = make_dataset(50, transform="resize32")
    a = BatchLoader(ds, 10, cache=True)
    b = BatchLoader(ds, 25, cache=True)
    assert a._images.data_ptr() == b._images.data_ptr()  # one copy, not one per loader
    # A caller that sets mean/std afterwards must not get the stale unstandardised copy.
    ds.mean, ds.std = 0.5, 0.25
    c = BatchLoader(ds, 10, cache=True)
    assert torch.equal(next(iter(c))[0], next(iter(BatchLoader(ds, 10)))[0])
    assert not torch.equal(next(iter(c))[0], next(iter(a))[0])
