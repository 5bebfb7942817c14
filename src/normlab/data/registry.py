"""The datasets normlab knows how to find, download and verify.

A :class:`DatasetSpec` names the four IDX files of an MNIST-style dataset, their checksums and
the mirrors that serve them. Checksums describe the DECOMPRESSED content, so a mirror (or a
local copy) that recompressed the files still verifies.

Provenance of the checksums (never invent one: a value we could not confirm stays ``None``):

- MNIST: decompressed MD5, SHA-256 and sizes are published (the project's dataset README,
  matching the originals by LeCun, Cortes and Burges); ``gz_md5`` is the widely published MD5 of
  the mirrors' ``.gz`` files (as used by torchvision).
- Fashion-MNIST: decompressed MD5 and SHA-256 from the project's dataset README, computed from
  Zalando's files, whose ``.gz`` MD5s match the published ones (the Fashion-MNIST README) also
  kept here as ``gz_md5``. The content is what is checked, so a recompressed copy (Debian's
  ``dataset-fashion-mnist`` rewrote the gzip headers) passes and MNIST's files do not.
- KMNIST: only the MD5 of each ``.gz`` file is published (the KMNIST resource list used by
  torchvision); its decompressed MD5 / SHA-256 are NOT known here and are ``None``. The
  decompressed sizes follow from the published shapes (60,000 / 10,000 images of 28 x 28
  uint8 plus a 16-byte header; labels plus an 8-byte header), so they are checked. Without
  decompressed hashes, verification falls back to the published ``.gz`` MD5, which holds
  for files as served by the original mirrors but not for recompressed copies (see
  :func:`normlab.data.download.check_content`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from normlab.errors import ConfigError

__all__ = ["FILE_KEYS", "FileSpec", "DatasetSpec", "register_dataset", "get_dataset_spec", "list_datasets"]

#: The four files every dataset provides, in this order.
FILE_KEYS: tuple[str, ...] = ("train_images", "train_labels", "test_images", "test_labels")


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset, identified by its decompressed content.

    ``filename`` is the decompressed name (``train-images-idx3-ubyte``); mirrors serve
    ``filename + ".gz"``. ``md5``, ``sha256`` and ``size`` describe the decompressed bytes;
    ``gz_md5`` is the MD5 of the ``.gz`` file as the original mirrors serve it. Any of them may
    be ``None`` when no trustworthy published value exists.
    """

    filename: str
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None
    gz_md5: str | None = None

    @property
    def gz_name(self) -> str:
        """The compressed file name as served by mirrors."""
        return self.filename + ".gz"

    @property
    def has_content_hash(self) -> bool:
        """Whether a checksum of the decompressed content is known."""
        return bool(self.md5 or self.sha256)


@dataclass(frozen=True, eq=False)
class DatasetSpec:
    """An MNIST-style dataset: its files, mirrors and classes."""

    name: str
    files: Mapping[str, FileSpec]
    mirrors: tuple[str, ...]
    num_classes: int
    class_names: tuple[str, ...]
    description: str = ""
    image_shape: tuple[int, int] = (28, 28)
    homepage: str = ""
    license: str = ""
    train_size: int | None = None
    test_size: int | None = None

    def __post_init__(self) -> None:
        missing = [k for k in FILE_KEYS if k not in self.files]
        if missing:
            raise ConfigError(f"dataset {self.name!r}: files missing for {', '.join(missing)}; "
                              f"every dataset needs {', '.join(FILE_KEYS)}")
        if len(self.class_names) != self.num_classes:
            raise ConfigError(f"dataset {self.name!r}: {len(self.class_names)} class names for "
                              f"{self.num_classes} classes")
        # Base URLs are joined with file names, so each must end in exactly one slash.
        object.__setattr__(self, "mirrors", tuple(m.rstrip("/") + "/" for m in self.mirrors))
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))

    def url(self, mirror: str, key: str) -> str:
        """The URL of file ``key`` on ``mirror``."""
        return mirror + self.files[key].gz_name


def _mnist_files(sizes: tuple[int, int], md5: tuple[str | None, ...], sha256: tuple[str | None, ...],
                 gz_md5: tuple[str | None, ...]) -> dict[str, FileSpec]:
    n_train, n_test = sizes
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    # IDX header sizes: 4 bytes + 4 per dimension (3 for images, 1 for labels).
    byte_sizes = (16 + n_train * 784, 8 + n_train, 16 + n_test * 784, 8 + n_test)
    return {key: FileSpec(name, md5[i], sha256[i], byte_sizes[i], gz_md5[i])
            for i, (key, name) in enumerate(zip(FILE_KEYS, names, strict=True))}


_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec, *, overwrite: bool = False) -> DatasetSpec:
    """Add ``spec`` to the registry under ``spec.name``; return it. A taken name is a
    :class:`ConfigError` unless ``overwrite`` is true."""
    if spec.name in _REGISTRY and not overwrite:
        raise ConfigError(f"dataset {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def get_dataset_spec(name: str | DatasetSpec) -> DatasetSpec:
    """Return the spec registered as ``name`` (a spec is returned unchanged); an unknown name is a
    :class:`ConfigError` listing the valid ones."""
    if isinstance(name, DatasetSpec):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown dataset {name!r}; valid datasets: {', '.join(list_datasets())}") from None


def list_datasets() -> list[str]:
    """The names of all registered datasets, sorted."""
    return sorted(_REGISTRY)


register_dataset(
    DatasetSpec(
        name="mnist",
        files=_mnist_files(
            (60000, 10000),
            md5=(
                "6bbc9ace898e44ae57da46a324031adb",
                "a25bea736e30d166cdddb491f175f624",
                "2646ac647ad5339dbf082846283269ea",
                "27ae3e4e09519cfbb04c329615203637",
            ),
            sha256=(
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ),
            gz_md5=(
                "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "d53e105ee54ea40749a09fcbcd1e9432",
                "9fb629c4189551a2d022fa330f9573f3",
                "ec29112dd5afa0611ce80d1b7f02629c",
            ),
        ),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        num_classes=10,
        class_names=tuple(str(d) for d in range(10)),
        description="Handwritten digits 0-9 (LeCun, Cortes and Burges), 28x28 grayscale.",
        homepage="http://yann.lecun.com/exdb/mnist/",
        license="CC BY-SA 3.0",
        train_size=60000,
        test_size=10000,
    )
)

register_dataset(
    DatasetSpec(
        name="fashion-mnist",
        files=_mnist_files(
            (60000, 10000),
            md5=(
                "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                "9018921c3c673c538a1fc5bad174d6f9",
                "8181f5470baa50b63fa0f6fddb340f0a",
                "15d484375f8d13e6eb1aabb0c3f46965",
            ),
            sha256=(
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ),
            gz_md5=(
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "25c81989df183df01b3e8a0aad5dffbe",
                "bef4ecab320f06d8554ea6380940ec79",
                "bb300cfdad3c16e7a12a480ee83cd310",
            ),
        ),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        num_classes=10,
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                     "Ankle boot"),
        description="Zalando article images in 10 classes (Xiao, Rasul and Vollgraf), 28x28.",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        license="MIT",
        train_size=60000,
        test_size=10000,
    )
)

register_dataset(
    DatasetSpec(
        name="kmnist",
        files=_mnist_files(
            (60000, 10000),
            # Decompressed checksums are not published; only the .gz MD5s below are.
            md5=(None, None, None, None),
            sha256=(None, None, None, None),
            gz_md5=(
                "bdb82020997e1d708af4cf47b453dcf7",
                "e144d726b3acfaa3e44228e80efcd344",
                "5c965bf0a639b31b8f53240b1b52f4d7",
                "7320c461ea6c1c855c0b718fb2a4b134",
            ),
        ),
        mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        num_classes=10,
        class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        description="Kuzushiji-MNIST: 10 cursive Japanese hiragana (Clanuwat et al.), 28x28.",
        homepage="https://github.com/rois-codh/kmnist",
        license="CC BY-SA 4.0",
        train_size=60000,
        test_size=10000,
    )
)
