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

from normlab._lazy import lazy_exports

# PEP 562: the registry and the file checks (which the report and the command line use) come
# without torch; the datasets and the loader import it when first used.
_EXPORTS = {
    "SPLITS": "normlab.data.datasets",
    "DataSplits": "normlab.data.datasets",
    "ImageDataset": "normlab.data.datasets",
    "channel_stats": "normlab.data.datasets",
    "load_dataset": "normlab.data.datasets",
    "load_splits": "normlab.data.datasets",
    "ENV_VAR": "normlab.data.download",
    "DownloadConfig": "normlab.data.download",
    "FileCheck": "normlab.data.download",
    "cache_dir": "normlab.data.download",
    "check_file": "normlab.data.download",
    "data_directory": "normlab.data.download",
    "download_file": "normlab.data.download",
    "resolve_files": "normlab.data.download",
    "verify_files": "normlab.data.download",
    "IDX_DTYPES": "normlab.data.idx",
    "read_decompressed": "normlab.data.idx",
    "read_idx": "normlab.data.idx",
    "read_idx_bytes": "normlab.data.idx",
    "read_mnist_pair": "normlab.data.idx",
    "write_idx": "normlab.data.idx",
    "BatchLoader": "normlab.data.loader",
    "FILE_KEYS": "normlab.data.registry",
    "DatasetSpec": "normlab.data.registry",
    "FileSpec": "normlab.data.registry",
    "get_dataset_spec": "normlab.data.registry",
    "list_datasets": "normlab.data.registry",
    "register_dataset": "normlab.data.registry",
    "TRANSFORMS": "normlab.data.transforms",
    "get_transform": "normlab.data.transforms",
    "output_size": "normlab.data.transforms",
}


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

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
