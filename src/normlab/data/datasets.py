"""In-memory image datasets that keep raw pixels and transform whole batches at once.

A float32 copy of the 70,000 MNIST images resized to 32 x 32 takes 287 MB, more than torch
itself, so a dataset keeps the RAW uint8 pixels (55 MB, shared with the buffer the file was
decompressed into) and transforms each batch, vectorised, on the batch's device
(``benchmarks/bench_data.py`` measures the cost).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from normlab.data.download import DownloadConfig, check_file, resolve_files
from normlab.data.idx import check_pair, parse_idx_content, read_decompressed
from normlab.data.registry import DatasetSpec, get_dataset_spec
from normlab.data.transforms import get_transform, output_size
from normlab.errors import ConfigError, DownloadError, IDXFormatError
from normlab.normalize import MinMaxScaler, StandardScaler

__all__ = ["INPUT_NORMS", "SPLITS", "ImageDataset", "DataSplits", "load_splits", "load_dataset", "channel_stats",
           "fit_input_norm"]

#: The split names an :class:`ImageDataset` may carry.
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: The input normalisations :func:`fit_input_norm` fits: pixel values, min-max to [0, 1], z-scores.
INPUT_NORMS: tuple[str, ...] = ("raw", "minmax", "zscore")

# Images per transformed chunk (8 MB of float32 at 32 x 32): larger ones only raise the peak memory.
_CHUNK = 2048


@dataclass(eq=False)
class ImageDataset(torch.utils.data.Dataset):
    """Raw uint8 images with labels; the transform is applied per batch.

    ``images`` is a uint8 tensor N x H x W (N x 1 x H x W is squeezed), ``labels`` an integer
    tensor N. ``transform`` is one of :data:`normlab.data.transforms.TRANSFORMS`; with ``mean``
    and ``std`` set, transformed images are scaled as ``(x - mean) / std`` (every input
    normalisation is such a map: :func:`fit_input_norm`). Indexing gives
    one transformed sample, for ``torch.utils.data``; :class:`~normlab.data.loader.BatchLoader`
    is the fast way.
    """

    images: torch.Tensor
    labels: torch.Tensor
    split: str
    transform: str = "resize32"
    mean: float | None = None
    std: float | None = None
    name: str = "mnist"
    class_names: tuple[str, ...] = ()
    _device_cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict, init=False, repr=False)
    _transformed_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict, init=False,
                                                                               repr=False)

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        if isinstance(images, np.ndarray):
            images = torch.from_numpy(images)
        if isinstance(labels, np.ndarray):
            labels = torch.from_numpy(labels)
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
            raise ConfigError(f"ImageDataset images must be a uint8 tensor, got "
                              f"{getattr(images, 'dtype', type(images).__name__)}")
        if images.dim() == 4 and images.shape[1] == 1:
            images = images[:, 0]
        if images.dim() != 3:
            raise ConfigError(f"ImageDataset images must have shape N x H x W, got {tuple(images.shape)}")
        if not isinstance(labels, torch.Tensor) or labels.dim() != 1:
            raise ConfigError(f"ImageDataset labels must be a 1-D tensor, got {tuple(getattr(labels, 'shape', ()))}")
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise ConfigError(f"ImageDataset labels must be integers, got {labels.dtype}")
        if labels.dtype != torch.int64:
            labels = labels.to(torch.int64)
        if len(images) != len(labels):
            raise ConfigError(f"ImageDataset has {len(images)} images but {len(labels)} labels")
        if self.split not in SPLITS:
            raise ConfigError(f"unknown split {self.split!r}; valid splits: {', '.join(SPLITS)}")
        output_size(self.transform, tuple(images.shape[1:]))  # validates the name and size
        if (self.mean is None) != (self.std is None):
            raise ConfigError("ImageDataset needs both mean and std for standardisation, or neither")
        if self.std is not None and not (math.isfinite(self.std) and self.std > 0):
            raise ConfigError(f"ImageDataset std must be finite and > 0, got {self.std}")
        if self.mean is not None and not math.isfinite(self.mean):
            raise ConfigError(f"ImageDataset mean must be finite, got {self.mean}")
        self.images, self.labels = images, labels
        self.class_names = tuple(self.class_names)

    def __repr__(self) -> str:
        h, w = self.images.shape[1:]
        norm = "" if self.mean is None else f", mean={self.mean:.4f}, std={self.std:.4f}"
        return (f"ImageDataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
                f"image={h}x{w}, transform={self.transform!r}{norm})")

    def __len__(self) -> int:
        """The number of images."""
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """One transformed sample ``(1 x H' x W' float32 tensor, label)``."""
        try:
            i = int(index)
        except (TypeError, ValueError):
            raise TypeError(f"ImageDataset indices must be integers, got {type(index).__name__}; "
                            f"use subset() for several") from None
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {index} is out of range for {n} images")
        return self.transform_batch(self.images[i : i + 1])[0], int(self.labels[i])

    @property
    def image_size(self) -> tuple[int, int]:
        """H x W of the raw images."""
        return (int(self.images.shape[1]), int(self.images.shape[2]))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """C x H' x W' of one transformed image."""
        return (1, *output_size(self.transform, self.image_size))

    @property
    def num_classes(self) -> int:
        """The number of classes (from the class names, else the largest label + 1)."""
        if self.class_names:
            return len(self.class_names)
        return int(self.labels.max()) + 1 if len(self) else 0

    def transform_batch(self, raw: torch.Tensor) -> torch.Tensor:
        """Transform uint8 ``raw`` (N x H x W, any device) to float32 N x 1 x H' x W' there."""
        x = get_transform(self.transform)(raw)
        if self.mean is not None:
            if raw.dtype == torch.uint8:  # the transform made a fresh tensor: reuse it
                x.sub_(self.mean).div_(self.std)
            else:
                x = (x - self.mean) / self.std
        return x

    def raw_on(self, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """The raw images and labels on ``device``, copied there once and then cached."""
        device = torch.device(device)
        if device == self.images.device:
            return self.images, self.labels
        key = str(device)
        if key not in self._device_cache:
            self._device_cache[key] = (self.images.to(device), self.labels.to(device))
        return self._device_cache[key]

    def tensors(self, device: str | torch.device = "cpu", *, chunk: int = _CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
        """All transformed images (N x 1 x H' x W' float32) and labels on ``device``, built
        chunk by chunk (the peak is the output plus one chunk)."""
        images, labels = self.raw_on(device)
        out = torch.empty((len(self), *self.input_shape), dtype=torch.float32, device=images.device)
        for start in range(0, len(self), chunk):
            out[start : start + chunk] = self.transform_batch(images[start : start + chunk])
        return out, labels

    def transformed_on(self, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`tensors` on ``device``, computed once and then cached on this dataset.

        The transform works image by image, so the cached images are bit for bit what a
        per-batch transform gives; the cache trades memory (246 MB for MNIST's training images
        at 32 x 32) for not resizing every image in every pass. Replacing ``mean``, ``std`` or
        ``transform`` rebuilds it; changing ``images`` in place does not.
        """
        device = torch.device(device)
        # mean/std are fields a caller may replace; the key keeps a stale copy from being used.
        key = (str(device), self.transform, self.mean, self.std, self.images.data_ptr(), len(self))
        if key not in self._transformed_cache:
            self._transformed_cache.clear()
            self._transformed_cache[key] = self.tensors(device)
        return self._transformed_cache[key]

    def subset(self, n_or_indices: int | Sequence[int] | torch.Tensor) -> ImageDataset:
        """A dataset of the first ``n`` images, or of the images at the given indices.

        The first form shares memory with this dataset; the second copies the selected images.
        """
        if isinstance(n_or_indices, (int, np.integer)) and not isinstance(n_or_indices, bool):
            n = int(n_or_indices)
            if not 0 < n <= len(self):
                raise ConfigError(f"subset size must be in [1, {len(self)}], got {n}")
            images, labels = self.images[:n], self.labels[:n]
        else:
            try:
                idx = torch.as_tensor(n_or_indices, dtype=torch.int64).reshape(-1)
            except (TypeError, ValueError, RuntimeError):
                raise ConfigError(f"subset needs a size or a sequence of integer indices, got "
                                  f"{type(n_or_indices).__name__}") from None
            if len(idx) and (int(idx.min()) < -len(self) or int(idx.max()) >= len(self)):
                raise ConfigError(f"subset indices must be in [{-len(self)}, {len(self)}), got "
                                  f"[{int(idx.min())}, {int(idx.max())}]")
            images, labels = self.images[idx], self.labels[idx]
        return dataclasses.replace(self, images=images, labels=labels)


@dataclass
class DataSplits:
    """The train, validation (optional) and test splits of a dataset, and the input normalisation
    they carry (None: the transform's output as it is, the pixels / 255)."""

    train: ImageDataset
    val: ImageDataset | None
    test: ImageDataset
    input_norm: str | None = None

    def __iter__(self):
        """Iterate over the splits that exist, train first."""
        return iter(s for s in (self.train, self.val, self.test) if s is not None)

    def scaled(self, input_norm: str) -> DataSplits:
        """These splits under ``input_norm`` (one of :data:`INPUT_NORMS`), fitted on the training
        split alone (:func:`fit_input_norm`) and applied to every split; ``self`` when they carry it
        already. The raw images are shared, so runs with different settings can share one load.
        """
        if input_norm == self.input_norm:
            return self
        mean, std = fit_input_norm(self.train, input_norm)
        return DataSplits(*(s if s is None else dataclasses.replace(s, mean=mean, std=std)
                            for s in (self.train, self.val, self.test)), input_norm=input_norm)


def fit_input_norm(train: ImageDataset, input_norm: str, *, chunk: int = _CHUNK) -> tuple[float | None, float | None]:
    """The ``(mean, std)`` of :class:`ImageDataset` that give the input normalisation ``input_norm``,
    fitted on ``train``.

    A dataset feeds the network ``(x - mean) / std`` of its transform's output x (the pixels / 255,
    resized or padded), so each setting is one affine map of x, the same for every split:

    - ``raw``: ``(0, 1/255)``, the pixel values 0-255 (to float32 rounding: 1/255 has no exact
      float, so 255 may come out one float32 step off).
    - ``minmax``: a :class:`~normlab.normalize.MinMaxScaler` fitted on the training split's raw
      pixels maps their range [lo, hi] to [0, 1]: ``(lo / 255, (hi - lo) / 255)``, and
      ``(None, None)`` (x itself, exactly ``ToTensor()``'s x/255) when lo = 0 and hi = 255, as in
      MNIST and Fashion-MNIST, whose first training image alone spans 0-255. The pixels give the
      range, not the transformed images: bilinear resizing blends neighbours, so few images keep a
      pure 0 or 255 through resize32, and a range read after it would change with the subset.
    - ``zscore``: a :class:`~normlab.normalize.StandardScaler` fitted on the transformed training
      images: their mean and population standard deviation.

    The scalers see ``chunk`` images at a time (memory: one chunk in float64), always the same
    chunks, so the result is exactly reproducible. Training images without spread are a
    :class:`ConfigError`, as is an unknown name.
    """
    if input_norm not in INPUT_NORMS:
        raise ConfigError(f"unknown input_norm {input_norm!r}; valid: {', '.join(INPUT_NORMS)}")
    if input_norm == "raw":
        return 0.0, 1 / 255
    if len(train) == 0:
        raise ConfigError(f"cannot fit input_norm {input_norm!r} on an empty training split")
    if input_norm == "minmax":
        scaler = MinMaxScaler(axis=(0, 2, 3))
        for start in range(0, len(train), chunk):
            scaler.partial_fit(train.images[start : start + chunk, None])
        lo, hi = float(scaler.data_min_[0]), float(scaler.data_max_[0])
        if lo == hi:
            raise ConfigError(f"cannot min-max scale {train.name}: every training pixel is {lo:g} (input_norm 'raw' "
                              "keeps the pixel values)")
        return (None, None) if (lo, hi) == (0, 255) else (lo / 255, (hi - lo) / 255)
    scaler = StandardScaler(axis=(0, 2, 3))
    transform = get_transform(train.transform)  # the transform alone: train may carry another setting's scaling
    for start in range(0, len(train), chunk):
        scaler.partial_fit(transform(train.images[start : start + chunk]))
    if not scaler.var_[0] > 0:
        raise ConfigError(f"cannot standardise {train.name}: the transformed training images have zero variance")
    return float(scaler.mean_[0]), float(scaler.scale_[0])


def _load_file(spec: DatasetSpec, key: str, path: Path, verify: bool) -> np.ndarray:
    # Bounded by the registry's size, so a gzip bomb or a huge file fails before it is read.
    content = read_decompressed(path, max_size=spec.files[key].size)
    if verify:
        check = check_file(spec, key, path, content=content)
        if not check.ok:
            raise DownloadError(f"{path} failed verification: {check.fault}. Delete it and run "
                                f"`normlab data download --dataset {spec.name}` (or restore a good copy)")
    return parse_idx_content(content, str(path))


def _check_images(images: np.ndarray, labels: np.ndarray, paths: dict[str, Path], part: str,
                  spec: DatasetSpec) -> None:
    img_name, lbl_name = str(paths[f"{part}_images"]), str(paths[f"{part}_labels"])
    check_pair(images, labels, img_name, lbl_name)
    if images.dtype != np.uint8:
        raise IDXFormatError(f"{img_name}: expected uint8 pixels (IDX type 0x08), got {images.dtype}")
    if labels.dtype.kind not in "iu":
        raise IDXFormatError(f"{lbl_name}: expected integer labels, got {labels.dtype}")
    if len(labels):
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= spec.num_classes:
            bad = int(np.flatnonzero((labels < 0) | (labels >= spec.num_classes))[0])
            raise IDXFormatError(f"{lbl_name}: label {int(labels[bad])} at index {bad} is outside "
                                 f"[0, {spec.num_classes}) for the {spec.num_classes} classes of {spec.name}")


def _load_tensors(spec: DatasetSpec, paths: dict[str, Path], parts: Sequence[str],
                  verify: bool) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``part -> (uint8 images, int64 labels)``, checked."""
    # Files are read one after another: threads would overlap decompression with hashing but
    # raise the peak memory through per-thread malloc arenas.
    arrays = {part: [_load_file(spec, f"{part}_{kind}", paths[f"{part}_{kind}"], verify)
                     for kind in ("images", "labels")] for part in parts}
    for part, (images, labels) in arrays.items():
        _check_images(images, labels, paths, part, spec)
    return {part: (torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)))
            for part, (images, labels) in arrays.items()}


def _as_count(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{what} must be an integer, got {value!r}")
    return int(value)


def load_splits(name: str | DatasetSpec = "mnist", *, transform: str = "resize32", val_split: int = 0,
                input_norm: str = "minmax", standardize: bool = False, subset: int | None = None,
                data_dir: str | os.PathLike | None = None, download: bool | None = None, verify: bool = True,
                download_config: DownloadConfig | None = None) -> DataSplits:
    """Load a dataset's train, validation and test splits.

    Files are found as :func:`normlab.data.download.resolve_files` describes; ``verify``
    checks the checksums of the decompressed files first.

    ``val_split=N`` holds out the LAST ``N`` training images as the ``val`` split.
    ``subset=N`` then keeps the first ``N`` of the remaining training images; the validation
    and test splits are unaffected, so a quick run on a subset is still evaluated on the same
    held-out images as a full one. ``input_norm`` (:func:`fit_input_norm`) is fitted on the
    training split after hold-out and subset, so nothing of the validation or test data leaks
    in, and applied to every split. ``standardize=True`` is its old spelling of ``"zscore"``.
    """
    spec = get_dataset_spec(name)
    get_transform(transform)  # fail on a bad name before reading anything
    if input_norm not in INPUT_NORMS:
        raise ConfigError(f"unknown input_norm {input_norm!r}; valid: {', '.join(INPUT_NORMS)}")
    if standardize and input_norm == "raw":
        raise ConfigError("standardize=True is input_norm='zscore' (its old spelling); it contradicts input_norm='raw'")
    val_split = _as_count(val_split, "val_split")
    if subset is not None:
        subset = _as_count(subset, "subset")
    paths = resolve_files(spec, data_dir, download=download, config=download_config)
    loaded = _load_tensors(spec, paths, ("train", "test"), verify)
    (train_x, train_y), (test_x, test_y) = loaded["train"], loaded["test"]
    n = len(train_x)
    if not 0 <= val_split < n:
        raise ConfigError(f"val_split must be in [0, {n}) for {n} training images, got {val_split}")
    keep = n - val_split
    if subset is not None and not 0 < subset <= keep:
        raise ConfigError(f"subset must be in [1, {keep}] (training images left after val_split={val_split}), "
                          f"got {subset}")
    common = dict(transform=transform, name=spec.name, class_names=spec.class_names)
    train = ImageDataset(train_x[: subset or keep], train_y[: subset or keep], "train", **common)
    val = ImageDataset(train_x[keep:], train_y[keep:], "val", **common) if val_split else None
    test = ImageDataset(test_x, test_y, "test", **common)
    return DataSplits(train=train, val=val, test=test).scaled("zscore" if standardize else input_norm)


def load_dataset(name: str | DatasetSpec = "mnist", split: str = "train", **kwargs) -> ImageDataset:
    """Load one split; takes the keyword arguments of :func:`load_splits`.

    The training files are read for every split: the input normalisation is fitted on them.
    """
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    if split == "val" and not kwargs.get("val_split"):
        raise ConfigError("split 'val' needs val_split > 0 (the number of held-out images)")
    return getattr(load_splits(name, **kwargs), split)


def channel_stats(dataset: ImageDataset | torch.Tensor, chunk: int = 8192) -> tuple[list[float], list[float]]:
    """Per-channel mean and (population) standard deviation of the transformed images.

    Streams over ``dataset`` in chunks of ``chunk`` images, so memory stays at one chunk. Each
    image's mean and sum of squared deviations are taken in float64 and merged with Chan's
    formula, the per-image terms summed exactly (``math.fsum``): the result does not depend
    on ``chunk`` and has no cancellation, whatever the offset of the data. A float tensor
    N x C x H x W is accepted too.
    """
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk <= 0:
        raise ConfigError(f"chunk must be a positive integer, got {chunk!r}")
    if isinstance(dataset, ImageDataset):
        n_images = len(dataset)

        def block(s: int) -> torch.Tensor:
            return dataset.transform_batch(dataset.images[s : s + chunk])
    elif isinstance(dataset, torch.Tensor) and dataset.dim() == 4:
        n_images = len(dataset)

        def block(s: int) -> torch.Tensor:
            return dataset[s : s + chunk]
    else:
        raise ConfigError(f"channel_stats needs an ImageDataset or an N x C x H x W tensor, got "
                          f"{type(dataset).__name__}")
    if n_images == 0:
        raise ConfigError("channel_stats needs at least one image")
    means = deviations = None  # per image and channel
    for start in range(0, n_images, chunk):
        # A copy even of float64 input: the deviations are computed in place.
        x = block(start).to(torch.float64, copy=True)
        if means is None:
            means = torch.empty((n_images, x.shape[1]), dtype=torch.float64, device=x.device)
            deviations = torch.empty_like(means)
        pixels = x.shape[2] * x.shape[3]
        stop = start + x.shape[0]
        means[start:stop] = x.mean(dim=(2, 3))
        x -= means[start:stop, :, None, None]
        deviations[start:stop] = x.square_().sum(dim=(2, 3))
        del x
    mean, std = [], []
    for m_i, d_i in zip(means.T.cpu().tolist(), deviations.T.cpu().tolist()):
        m = math.fsum(m_i) / n_images
        spread = math.fsum((v - m) ** 2 for v in m_i)
        var = (math.fsum(d_i) + pixels * spread) / (n_images * pixels)
        mean.append(m)
        std.append(math.sqrt(var))
    return mean, std
