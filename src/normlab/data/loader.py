"""A batch loader that indexes and transforms whole batches on the target device.

``torch.utils.data.DataLoader`` collates samples one by one in Python, which for MNIST-sized
images costs more than the LeNet-5 step it feeds. :class:`BatchLoader` moves the raw images to
the device once and gathers each batch with one index operation.

Shuffling uses the loader's own CPU ``torch.Generator`` (one ``randperm`` per epoch), so the
epochs are reproducible from the seed and resumable from ``loader.generator.get_state()``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from normlab.data.datasets import ImageDataset
from normlab.errors import ConfigError

__all__ = ["BatchLoader"]


class BatchLoader:
    """Iterate over ``(images, labels)`` batches of a dataset on ``device``.

    Images are float32 ``B x 1 x H x W`` (transformed as the dataset says), labels int64
    ``B``. Without ``shuffle`` the order is the dataset's (0 .. N-1). With ``shuffle`` the
    order is drawn from ``generator`` (a CPU ``torch.Generator``); give either a generator or
    a ``seed``; with neither, the generator is seeded from torch's global RNG, so
    ``torch.manual_seed`` still makes runs reproducible. A loader that does not shuffle never
    touches the global RNG (its ``generator`` is seeded with ``seed``, or 0, and unused).
    ``drop_last`` drops a final partial batch. With ``cache`` an :class:`ImageDataset` is
    transformed once, whole, and kept on the device (:meth:`ImageDataset.transformed_on`): the
    same batches, bit for bit. Any other map-style dataset is materialised once into stacked
    tensors (fine for small datasets).
    """

    def __init__(self, dataset: ImageDataset | torch.utils.data.Dataset, batch_size: int, *, shuffle: bool = False,
                 generator: torch.Generator | None = None, seed: int | None = None, drop_last: bool = False,
                 device: str | torch.device = "cpu", cache: bool = False) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        if generator is not None and seed is not None:
            raise ConfigError("give BatchLoader either a generator or a seed, not both")
        if generator is not None:
            if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
                raise ConfigError("BatchLoader generator must be a CPU torch.Generator")
        else:
            if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
                raise ConfigError(f"seed must be an integer, got {seed!r}")
            if seed is None and shuffle:
                # Drawn from the global RNG, as DataLoader does, so torch.manual_seed governs it.
                seed = int(torch.empty((), dtype=torch.int64).random_().item())
            # Without shuffling the generator is never used: seeding it from the global RNG
            # would shift that stream (which noisy batch norm draws from) by one draw per
            # loader built, so evaluation loaders would change training noise.
            generator = torch.Generator().manual_seed(0 if seed is None else seed)
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.device = torch.device(device)
        self.generator = generator
        if isinstance(dataset, ImageDataset) and cache:
            self._images, self._labels = dataset.transformed_on(self.device)
            self._transform = None
        elif isinstance(dataset, ImageDataset):
            self._images, self._labels = dataset.raw_on(self.device)
            self._transform = dataset.transform_batch
        else:
            self._images, self._labels = _materialise(dataset, self.device)
            self._transform = None

    @property
    def num_samples(self) -> int:
        """The number of samples in the dataset."""
        return int(self._labels.shape[0])

    def __len__(self) -> int:
        """The number of batches per epoch."""
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of batches; a shuffled order is drawn at the first batch.

        Drawing lazily matters: wrappers such as tqdm call ``iter()`` more than once, and an
        order drawn for an iterator that is never used would silently advance the generator.
        """
        order = None
        if self.shuffle:
            order = torch.randperm(self.num_samples, generator=self.generator).to(self.device)
        b = self.batch_size
        for i in range(len(self)):
            if order is None:
                raw, labels = self._images[i * b : (i + 1) * b], self._labels[i * b : (i + 1) * b]
            else:
                idx = order[i * b : (i + 1) * b]
                raw, labels = self._images[idx], self._labels[idx]
            yield (self._transform(raw) if self._transform else raw), labels


def _materialise(dataset: torch.utils.data.Dataset, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        n = len(dataset)  # type: ignore[arg-type]
    except TypeError:
        raise ConfigError(f"BatchLoader needs a dataset with a length, got {type(dataset).__name__}") from None
    if n == 0:
        raise ConfigError("BatchLoader needs a non-empty dataset")
    xs, ys = [], []
    for i in range(n):
        sample = dataset[i]
        if not (isinstance(sample, (tuple, list)) and len(sample) == 2):
            raise ConfigError(f"BatchLoader needs samples of the form (image, label); item {i} of "
                              f"{type(dataset).__name__} is {type(sample).__name__}")
        xs.append(torch.as_tensor(sample[0]))
        ys.append(int(sample[1]))
    images = torch.stack(xs).to(torch.float32)
    return images.to(device), torch.tensor(ys, dtype=torch.int64, device=device)
