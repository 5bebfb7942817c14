"""Benchmark the data layer: load + check + transform all 70,000 MNIST images.

Each configuration runs in a fresh Python process (so the peak resident set size, from
``resource.getrusage``, belongs to that configuration alone) and is repeated; the table
shows the median times and the largest peak RSS. Measured per run:

- ``load``: ``load_splits(...)`` — find, decompress and parse the four IDX files, check
  counts and label ranges, and (with ``verify``) MD5 + SHA-256 of the decompressed content;
- ``transform``: one pass transforming all 70,000 images (train + test) in chunks of 2,048,
  as ``ImageDataset.tensors`` / the loaders do, without keeping the results;
- ``epoch``: one shuffled epoch of ``BatchLoader(train, 128)`` (batches gathered and
  transformed on the CPU), i.e. the data cost of one training epoch;
- ``rss``: peak RSS of the process, including torch itself (``torch rss``: right after
  ``import torch``).

Usage::

    NORMLAB_DATA=../shared/datasets/mnist .venv/bin/python benchmarks/bench_data.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = {
    "resize32, verify": dict(transform="resize32", verify=True),
    "resize32, no verify": dict(transform="resize32", verify=False),
    "pad32, verify": dict(transform="pad32", verify=True),
    "resize32, verify, standardize": dict(transform="resize32", verify=True, standardize=True),
}


def _rss_mb() -> float:
    import resource

    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1 / (1024 * 1024) if sys.platform == "darwin" else 1 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def child(config: str, data_dir: str) -> None:
    """Run one configuration and print its measurements as JSON."""
    import torch

    torch_rss = _rss_mb()
    from normlab.data import BatchLoader, load_splits

    kwargs = CONFIGS[config]
    t0 = time.perf_counter()
    splits = load_splits("mnist", data_dir=data_dir, **kwargs)
    t1 = time.perf_counter()
    n = 0
    checksum = 0.0
    for ds in (splits.train, splits.test):
        for start in range(0, len(ds), 2048):
            x = ds.transform_batch(ds.images[start : start + 2048])
            checksum += float(x[:, :, 16, 16].sum())  # touch the result
            n += len(x)
    t2 = time.perf_counter()
    assert n == 70000, n
    rss_after_pass = _rss_mb()
    loader = BatchLoader(splits.train, 128, shuffle=True, seed=0)
    t3 = time.perf_counter()
    for _images, _labels in loader:
        pass
    t4 = time.perf_counter()
    print(
        json.dumps(
            dict(
                load=t1 - t0,
                transform=t2 - t1,
                epoch=t4 - t3,
                rss=rss_after_pass,
                rss_with_epoch=_rss_mb(),
                torch_rss=torch_rss,
                threads=torch.get_num_threads(),
                torch_version=torch.__version__,
                checksum=checksum,
            )
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="MNIST directory (default: $NORMLAB_DATA)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration (default: 3)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from normlab.data.download import env_directory

    data_dir = args.data_dir or env_directory("mnist")
    if not data_dir:
        default = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "mnist"
        data_dir = str(default)
    if args.child:
        child(args.child, data_dir)
        return 0

    # Round-robin over configurations, so a burst of load from another process on the
    # machine hits all of them alike; the table gives the best and the median run.
    runs: dict[str, list[dict]] = {name: [] for name in CONFIGS}
    for _ in range(args.repeat):
        for name in CONFIGS:
            out = subprocess.run(
                [sys.executable, __file__, "--child", name, "--data-dir", data_dir],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            runs[name].append(json.loads(out.strip().splitlines()[-1]))

    def cell(rs: list[dict], key: str) -> str:
        values = [r[key] for r in rs]
        return f"{min(values):.2f} / {statistics.median(values):.2f}"

    first = next(iter(runs.values()))[0]
    print(
        f"MNIST data layer: {args.repeat} runs per configuration, times best / median, "
        f"torch {first['torch_version']}, {first['threads']} threads"
    )
    print(
        "| configuration | load s | transform 70k s | load + transform s | peak RSS MB "
        "| shuffled epoch, bs 128 s |"
    )
    print("|---|---|---|---|---|---|")
    for name, rs in runs.items():
        for r in rs:
            r["total"] = r["load"] + r["transform"]
        print(
            f"| {name} | {cell(rs, 'load')} | {cell(rs, 'transform')} | {cell(rs, 'total')} "
            f"| {max(r['rss'] for r in rs):.0f} | {cell(rs, 'epoch')} |"
        )
    print(
        f"peak RSS is the largest over the runs, after load + transform (torch alone: "
        f"{max(r['torch_rss'] for rs in runs.values() for r in rs):.0f} MB; with the epoch: "
        f"{max(r['rss_with_epoch'] for rs in runs.values() for r in rs):.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
