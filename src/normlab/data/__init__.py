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
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "normlab.data.datasets": "INPUT_NORMS SPLITS DataSplits ImageDataset channel_stats fit_input_norm load_dataset "
                             "load_splits",
    "normlab.data.download": "ENV_VAR DownloadConfig FileCheck cache_dir check_file data_directory download_file "
                             "resolve_files verify_files",
    "normlab.data.idx": "IDX_DTYPES read_decompressed read_idx read_idx_bytes read_mnist_pair write_idx",
    "normlab.data.loader": "BatchLoader",
    "normlab.data.registry": "FILE_KEYS DatasetSpec FileSpec get_dataset_spec list_datasets register_dataset",
    "normlab.data.transforms": "TRANSFORMS get_transform output_size",
}, globals())
