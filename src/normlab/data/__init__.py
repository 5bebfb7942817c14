"""Data: IDX files, the dataset registry, downloads, in-memory datasets and batch loaders.

Typical use::

    from normlab.data import BatchLoader, load_splits

    splits = load_splits("mnist", transform="resize32", val_split=5000)
    for images, labels in BatchLoader(splits.train, 128, shuffle=True, seed=0):
        ...

Files are looked up in ``data_dir``, then ``$NORMLAB_DATA/<name>/`` (for MNIST also
``$NORMLAB_DATA`` itself), then the cache
(``$XDG_CACHE_HOME/normlab/<name>``), and downloaded into the cache from the dataset's
mirrors when missing there; see :mod:`normlab.data.download`.
"""

from normlab.data.datasets import (
    SPLITS,
    DataSplits,
    ImageDataset,
    channel_stats,
    load_dataset,
    load_splits,
)
from normlab.data.download import (
    ENV_VAR,
    DownloadConfig,
    FileCheck,
    cache_dir,
    check_file,
    data_directory,
    download_file,
    resolve_files,
    verify_files,
)
from normlab.data.idx import (
    IDX_DTYPES,
    read_decompressed,
    read_idx,
    read_idx_bytes,
    read_mnist_pair,
    write_idx,
)
from normlab.data.loader import BatchLoader
from normlab.data.registry import (
    FILE_KEYS,
    DatasetSpec,
    FileSpec,
    get_dataset_spec,
    list_datasets,
    register_dataset,
)
from normlab.data.transforms import TRANSFORMS, get_transform, output_size

__all__ = [
    "BatchLoader",
    "DataSplits",
    "DatasetSpec",
    "DownloadConfig",
    "ENV_VAR",
    "FILE_KEYS",
    "FileCheck",
    "FileSpec",
    "IDX_DTYPES",
    "ImageDataset",
    "SPLITS",
    "TRANSFORMS",
    "cache_dir",
    "channel_stats",
    "check_file",
    "data_directory",
    "download_file",
    "get_dataset_spec",
    "get_transform",
    "list_datasets",
    "load_dataset",
    "load_splits",
    "output_size",
    "read_decompressed",
    "read_idx",
    "read_idx_bytes",
    "read_mnist_pair",
    "register_dataset",
    "resolve_files",
    "verify_files",
    "write_idx",
]
