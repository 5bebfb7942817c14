"""How fast the driver records results, and how big the database grows.

Each result is what the post's run produces: 10 epochs, 9,380 training batch losses (60,000
images / batch 64 x 10 epochs) and 1,570 validation batch losses (10,000 / 64 x 10). The
timed write is ``start_run`` + ``finish_run``, one transaction each, as ``normlab study`` does.
Reads are timed too: ``list_runs`` (the report's tables) and ``get_run`` (one run in full).

Run: ``python benchmarks/bench_store.py [--runs 200]``. Prints one line per setting.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from normlab.experiments.store import ResultsDB
from normlab.train.record import RunRecord


def synthetic_result(seed: int, *, epochs: int, n_train: int, n_val: int) -> dict:
    """A result dict with realistic, incompressible-looking values (noisy decaying losses)."""
    rng = random.Random(seed)
    train = [2.3 * (1 + k) ** -0.4 * (1 + 0.2 * rng.gauss(0, 1)) for k in range(n_train)]
    val = [0.1 * (1 + 0.3 * rng.gauss(0, 1)) for _ in range(n_val)]
    config = {"model": "lenet5-bn", "seed": seed, "epochs": epochs, "lr": 1e-3, "batch_size": 64,
              "protocol": "standard", "optimizer": "adam", "dataset": "mnist", "transform": "resize32"}
    return RunRecord(
        config=config, train_loss_per_batch=train, val_loss_per_batch=val,
        train_accuracy=[0.95 + 0.004 * e for e in range(epochs)],
        val_accuracy=[0.97 + 0.002 * e + rng.random() * 1e-3 for e in range(epochs)],
        train_loss=[0.2 / (e + 1) for e in range(epochs)], val_loss=[0.08 / (e + 1) for e in range(epochs)],
        epoch_seconds=[12.0 + rng.random() for _ in range(epochs)],
        train_seconds=[9.0 + rng.random() for _ in range(epochs)],
        images_per_second=[6600.0 + rng.random() for _ in range(epochs)],
        status="done", device="cpu",
    ).to_dict()


def bench(folder: Path, results: list[dict], runs: int, *, synchronous: str, compress: bool) -> dict:
    """Write ``runs`` results into a fresh database; return the timings and sizes."""
    path = folder / f"bench-{synchronous.lower()}-{'zlib' if compress else 'raw'}.db"
    write_times = []
    with ResultsDB(path, synchronous=synchronous, compress=compress) as db:
        for i in range(runs):
            result = results[i % len(results)]
            t0 = time.perf_counter()
            run_id = db.start_run(study="bench", variant="lenet5-bn", seed=i, config=result["config"],
                                  config_hash=f"{i:016x}", device="cpu")
            db.finish_run(run_id, result)
            write_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        listed = db.list_runs("bench")
        list_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for run_id in (1, runs // 2, runs):
            db.get_run(run_id)
        get_s = (time.perf_counter() - t0) / 3
        assert len(listed) == runs
    size = path.stat().st_size  # after close: the WAL is checkpointed into the file
    return {
        "results_per_s": runs / sum(write_times),
        "median_ms": 1000 * statistics.median(write_times),
        "p99_ms": 1000 * sorted(write_times)[int(0.99 * (len(write_times) - 1))],
        "kib_per_run": size / runs / 1024,
        "list_ms": 1000 * list_s,
        "get_ms": 1000 * get_s,
    }


def main() -> None:
    """Parse arguments, run the settings, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="results written per setting (default: 200)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per result (default: 10)")
    parser.add_argument("--train-batches", type=int, default=9380, help="train losses per result (default: 9380)")
    parser.add_argument("--val-batches", type=int, default=1570, help="val losses per result (default: 1570)")
    parser.add_argument("--dir", default=None, help="folder for the databases (default: a temporary one)")
    args = parser.parse_args()

    results = [synthetic_result(s, epochs=args.epochs, n_train=args.train_batches, n_val=args.val_batches)
               for s in range(8)]
    print(f"{args.runs} results per setting: {args.epochs} epochs, {args.train_batches} train + "
          f"{args.val_batches} val batch losses each; {os.cpu_count()} CPUs")
    print(f"{'setting':<22} {'results/s':>10} {'median ms':>10} {'p99 ms':>8} {'KiB/run':>8} "
          f"{'list_runs ms':>13} {'get_run ms':>11}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for synchronous, compress in (("FULL", False), ("NORMAL", False), ("FULL", True)):
            r = bench(Path(tmp), results, args.runs, synchronous=synchronous, compress=compress)
            name = f"{synchronous}{' + zlib' if compress else ''}"
            print(f"{name:<22} {r['results_per_s']:>10.0f} {r['median_ms']:>10.2f} {r['p99_ms']:>8.2f} "
                  f"{r['kib_per_run']:>8.1f} {r['list_ms']:>13.1f} {r['get_ms']:>11.2f}")


if __name__ == "__main__":
    main()
