"""``normlab data``: download, verify and inspect the datasets.

Sub-commands: ``list``, ``download``, ``verify``, ``stats`` and ``show``; the files are looked
up as :mod:`normlab.data.download` says.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from normlab.errors import ConfigError
from normlab.fileio import atomic_writer


def _add_common(parser: argparse.ArgumentParser) -> None:
    # Registering must stay cheap (no torch import): every `normlab` call builds all parsers.
    parser.add_argument("--dataset", default="mnist", metavar="NAME",
                        help="dataset to use, e.g. mnist, fashion-mnist, kmnist; `normlab data list` shows all "
                             "(default: %(default)s)")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="directory holding the IDX files (default: $NORMLAB_DATA/NAME if it exists, for mnist "
                             "also $NORMLAB_DATA itself when it holds the MNIST files, else the cache "
                             "$XDG_CACHE_HOME/normlab/NAME)")


def register(subparsers) -> None:
    """Add the ``data`` command and its sub-commands."""
    parser = subparsers.add_parser("data", help="download, verify and inspect datasets",
                                   description="Download, verify and inspect the MNIST-style datasets normlab uses.")
    parser.set_defaults(func=lambda args: _print_help(parser))
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")

    p = sub.add_parser("list", help="list the known datasets")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("download", help="fetch the files (or find them) and print their checksums",
                       description="Find the dataset's files, download the missing ones, verify all of them "
                                   "and print each file with its checksums.")
    _add_common(p)
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait for each network operation (default: %(default)s)")
    p.add_argument("--retries", type=int, default=2,
                   help="extra attempts per mirror after a transient failure (default: %(default)s)")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("verify", help="check the files' checksums without downloading; exit 1 on any fault",
                       description="Check size, MD5, SHA-256 and IDX structure of each file. Downloads "
                                   "nothing. Exits with 1 if a file is missing or faulty.")
    _add_common(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("stats", help="per-channel mean and standard deviation of the training split",
                       description="Stream over the training split and print the per-channel mean and "
                                   "(population) standard deviation of the transformed pixels.")
    _add_common(p)
    p.add_argument("--transform", default="none",
                   help="transform applied before measuring: resize32, pad32 or none (default: %(default)s)")
    p.add_argument("--digits", type=int, default=4, help="decimal places to print (default: %(default)s)")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("show", help="save a PNG grid of sample images with their labels",
                       description="Save a grid of sample images with their labels as a PNG.")
    _add_common(p)
    p.add_argument("--out", default=None, metavar="PNG",
                   help="PNG file to write (default: runs/data/DATASET-SPLIT.png)")
    p.add_argument("--count", type=int, default=25, help="number of images, 1 to 400 (default: %(default)s)")
    p.add_argument("--split", default="train", choices=("train", "test"),
                   help="split to draw from (default: %(default)s)")
    p.add_argument("--seed", type=int, default=None,
                   help="draw a random sample with this seed instead of the first images (default: the first images)")
    p.set_defaults(func=cmd_show)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def cmd_list(args: argparse.Namespace) -> int:
    """Print the registered datasets."""
    from normlab.data.registry import get_dataset_spec, list_datasets

    for name in list_datasets():
        spec = get_dataset_spec(name)
        print(f"{name:14} {spec.num_classes} classes  {spec.description}")
    return 0


def _print_checks(name: str, checks) -> int:
    for c in checks:
        status = "OK" if c.ok else "FAULT"
        print(f"{status:6} {c.key:13} {c.path if c.path is not None else '(missing)'}")
        if c.size is not None:
            print(f"{'':6} size {c.size} bytes  md5 {c.md5}  sha256 {c.sha256}")
        if c.checked:
            print(f"{'':6} checked: {', '.join(c.checked)}")
        if c.fault:
            print(f"{'':6} fault: {c.fault}")
    bad = sum(not c.ok for c in checks)
    print(f"{name}: {len(checks) - bad} of {len(checks)} files OK")
    return 1 if bad else 0


def cmd_download(args: argparse.Namespace) -> int:
    """Find or download the files, then verify and print them."""
    from normlab.data.download import DownloadConfig, resolve_files, verify_files
    from normlab.data.registry import get_dataset_spec

    spec = get_dataset_spec(args.dataset)
    config = DownloadConfig(timeout=args.timeout, retries=args.retries)
    resolve_files(spec, args.data_dir, download=True, config=config, log=lambda msg: print(msg, file=sys.stderr))
    return _print_checks(spec.name, verify_files(spec, args.data_dir))


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify the files where they would be looked up; download nothing."""
    from normlab.data.download import verify_files
    from normlab.data.registry import get_dataset_spec

    spec = get_dataset_spec(args.dataset)
    return _print_checks(spec.name, verify_files(spec, args.data_dir))


def cmd_stats(args: argparse.Namespace) -> int:
    """Print the per-channel mean and std of the transformed training split."""
    from normlab.data.datasets import channel_stats, load_dataset

    if not 0 <= args.digits <= 12:
        raise ConfigError(f"--digits must be in [0, 12], got {args.digits}")
    ds = load_dataset(args.dataset, "train", transform=args.transform, data_dir=args.data_dir)
    mean, std = channel_stats(ds)
    c, h, w = ds.input_shape
    print(f"{ds.name} train: {len(ds)} images, transform {ds.transform} ({c}x{h}x{w})")
    fmt = f".{args.digits}f"
    print(f"mean {' '.join(format(m, fmt) for m in mean)} std {' '.join(format(s, fmt) for s in std)}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Save a grid of sample images with their labels."""
    import torch
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from normlab.data.datasets import load_dataset

    if not 1 <= args.count <= 400:
        raise ConfigError(f"--count must be in [1, 400], got {args.count}")
    if args.out is not None and Path(args.out).suffix.lower() != ".png":
        raise ConfigError(f"--out must name a .png file, got {args.out}")
    ds = load_dataset(args.dataset, args.split, transform="none", data_dir=args.data_dir)
    # Under runs/ like every other command's output, never loose in the current directory.
    out = Path(args.out if args.out is not None else f"runs/data/{ds.name}-{ds.split}.png")
    if args.count > len(ds):
        raise ConfigError(f"--count {args.count} exceeds the {len(ds)} images of the split")
    if args.seed is None:
        idx = torch.arange(args.count)
    else:
        gen = torch.Generator().manual_seed(args.seed)
        idx = torch.randperm(len(ds), generator=gen)[: args.count]
    images, labels = ds.images[idx], ds.labels[idx]

    cols = math.ceil(math.sqrt(args.count))
    rows = math.ceil(args.count / cols)
    fig = Figure(figsize=(1.3 * cols, 1.5 * rows), dpi=100)
    FigureCanvasAgg(fig)
    for k in range(rows * cols):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.axis("off")
        if k < args.count:
            ax.imshow(images[k].numpy(), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            label = int(labels[k])
            name = ds.class_names[label] if label < len(ds.class_names) else str(label)
            ax.set_title(f"Label: {name}", fontsize=9)
    fig.suptitle(f"{ds.name} {ds.split} samples", fontsize=11)
    fig.tight_layout()

    # A path below a file, a read-only folder, a full disk: an OutputError naming the cause.
    with atomic_writer(out) as fh:
        fig.savefig(fh, format="png")
    print(f"saved {args.count} {ds.name} {ds.split} images to {out}")
    return 0
