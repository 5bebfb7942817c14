"""How fast do the local and Ray engines get through the same study, and what does Ray add?

On this machine, one after the other:

1. **local**: the study on the local engine with ``--cpus`` worker processes.
2. **ray**: the same study on a local Ray instance with ``--cpus`` CPUs: Ray's start-up, then the
   study twice, in fresh folders: ``cold`` (Ray starts its worker processes, which import torch)
   and ``warm`` (they are reused), as a long study sees after its first runs.

   Steps 1 and 2 are repeated ``--rounds`` times, interleaved, and the medians are compared: on a
   shared machine the load drifts, and interleaving spreads the drift over both engines.
3. **Ray's own costs**: the round trip of an empty task, the throughput of empty tasks, and the
   dataset in the object store: its size, ``ray.put`` time, and the time a task takes to rebuild
   the splits from it (zero-copy) against loading them from the files (what each worker process
   would pay without the object store).
4. **--nodes K** (optional): a simulated K-node cluster on this machine (``ray.cluster_utils``,
   one CPU per node): the study runs on it and the benchmark reports how many nodes hold a
   copy of the dataset object afterwards, i.e. how many times it crossed the network.
5. **the driver's database writes**, via ``benchmarks/bench_store.py``: results per second for a
   result of this study's size and of the blog post's (10 epochs, 10,950 batch losses).

"slot-s/run" is wall time x CPUs / runs: the seconds of one CPU each run costs, overhead
included. "run s" is the mean of a run's own training and evaluation time (its epochs'
seconds). "overhead" is their difference: what each run costs outside its epochs (process and
Ray start-up, imports, data loading, model building, scheduling, the driver's database write,
idle CPUs at the end of the study). It is measured within one engine's run, so it is less
disturbed by the machine's load than a comparison of wall times between engines.

Usage::

    NORMLAB_DATA=... python benchmarks/bench_engines.py              # 3 rounds of 12 runs, ~3 minutes
    NORMLAB_DATA=... python benchmarks/bench_engines.py --seeds 2 --nodes 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from normlab.experiments.store import ResultsDB
from normlab.experiments.study import StudySpec, Variant, run_study
from normlab.train import TrainConfig


def build_spec(args) -> StudySpec:
    """The benchmark's study: ``--variants`` x ``--seeds`` on a subset, on the CPU."""
    return StudySpec(name="bench", variants=[Variant.parse(v) for v in args.variants],
                     seeds=list(range(args.seeds)),
                     base=TrainConfig(epochs=args.epochs, subset=args.subset, device="cpu"))


def run_length(db_path: Path) -> float:
    """Mean seconds of a run's own epochs (training + evaluation) in a study's database."""
    with ResultsDB(db_path) as db:
        runs = db.list_runs("bench")
    assert runs and all(r.status == "done" for r in runs), [r.status for r in runs]
    return statistics.mean(sum(r.epoch_seconds) for r in runs)


def timed_study(spec, out: Path, **kwargs) -> dict:
    """Run the study into ``out``; return wall seconds, runs/minute, slot-seconds and run length."""
    t0 = time.perf_counter()
    outcome = run_study(spec, out, **kwargs)
    wall = time.perf_counter() - t0
    n = outcome.progress.done
    assert n == len(spec.configs()), outcome.progress
    return {"wall": wall, "runs": n, "per_min": 60 * n / wall, "run_s": run_length(outcome.db_path)}


def row(name: str, r: dict, cpus: int) -> str:
    """One line of the engines table."""
    slot = r["wall"] * cpus / r["runs"]
    return (f"{name:<18} {r['runs']:>5} {r['wall']:>8.1f} {r['per_min']:>9.1f} "
            f"{slot:>12.2f} {r['run_s']:>7.2f} {slot - r['run_s']:>10.2f}")


def ray_costs(ray, splits_ref, packed_bytes: int, load_s: float) -> None:
    """Print the round trip of an empty task, empty-task throughput and the data's cost per task."""
    from normlab.experiments.engines.ray_engine import unpack_splits

    @ray.remote(num_cpus=1)
    def noop():
        return None

    @ray.remote(num_cpus=1)
    def rebuild(packed):
        t0 = time.perf_counter()
        splits = unpack_splits(packed)
        return time.perf_counter() - t0, len(splits.train)

    ray.get([noop.remote() for _ in range(8)])  # start the workers
    latencies = []
    for _ in range(100):
        t0 = time.perf_counter()
        ray.get(noop.remote())
        latencies.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    ray.get([noop.remote() for _ in range(1000)])
    throughput = 1000 / (time.perf_counter() - t0)
    ray.get([rebuild.remote(splits_ref) for _ in range(4)])  # imports normlab.data in the workers
    rebuilds = ray.get([rebuild.remote(splits_ref) for _ in range(20)])
    print(f"empty task round trip: median {1000 * statistics.median(latencies):.2f} ms, "
          f"p90 {1000 * sorted(latencies)[89]:.2f} ms; {throughput:.0f} empty tasks/s")
    print(f"dataset object: {packed_bytes / 1e6:.1f} MB; rebuilding the splits from it in a task: median "
          f"{1e3 * statistics.median(t for t, _ in rebuilds):.3f} ms (zero-copy), against "
          f"{load_s:.2f} s to load them from the files")


def simulated_cluster(args, spec, data_dir) -> None:
    """Run the study on ``--nodes`` simulated nodes; count the nodes holding the dataset object."""
    import ray
    from ray.cluster_utils import Cluster

    from normlab.experiments.engines.ray_engine import make_ray_engine

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        for _ in range(args.nodes - 1):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level="WARNING")
        kept = []
        put = ray.put

        def keeping_put(value, **kwargs):
            # Hold the engine's data reference, so its locations can be read after the study.
            kept.append(put(value, **kwargs))
            return kept[-1]

        ray.put = keeping_put
        try:
            with tempfile.TemporaryDirectory() as tmp:
                r = timed_study(spec, Path(tmp) / "study", engine=make_ray_engine(), workers=0, data_dir=data_dir)
        finally:
            ray.put = put
        where = ray.experimental.get_object_locations(kept)
        for ref in kept:
            info = where[ref]
            print(f"{args.nodes} simulated nodes x 1 CPU: {r['runs']} runs in {r['wall']:.1f}s; the dataset "
                  f"object ({info['object_size'] / 1e6:.1f} MB) is on {len(info['node_ids'])} node(s): "
                  f"{(len(info['node_ids']) - 1) * info['object_size'] / 1e6:.1f} MB moved for {r['runs']} tasks "
                  f"(a copy per task would move {(r['runs'] - 1) * info['object_size'] / 1e6:.0f} MB)")
        kept.clear()
        ray.shutdown()
    finally:
        cluster.shutdown()


def store_rates(spec) -> None:
    """Results per second the driver writes, for this study's results and the post's."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_store import bench, synthetic_result

    batches = -(-spec.base.subset // spec.base.batch_size) if spec.base.subset else 938
    sizes = {f"this study ({spec.base.epochs} epoch, {batches} + 157 losses)":
             dict(epochs=spec.base.epochs, n_train=batches * spec.base.epochs, n_val=157 * spec.base.epochs),
             "the post (10 epochs, 9,380 + 1,570 losses)": dict(epochs=10, n_train=9380, n_val=1570)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, size in sizes.items():
            results = [synthetic_result(s, **size) for s in range(8)]
            r = bench(Path(tmp), results, 100, synchronous="FULL", compress=False)
            (Path(tmp) / "bench-full-raw.db").unlink()
            print(f"driver DB writes, synchronous=FULL, {name}: {r['results_per_s']:.0f} results/s "
                  f"(median {r['median_ms']:.1f} ms)")


def main() -> None:
    """Parse arguments, run the engines, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["lenet5", "lenet5-bn"], help="(default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=6, help="seeds per variant (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per run (default: %(default)s)")
    parser.add_argument("--subset", type=int, default=2000, help="training images (default: %(default)s)")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1,
                        help="local workers and Ray CPUs (default: this machine's, %(default)s)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds of the engines (default: %(default)s)")
    parser.add_argument("--nodes", type=int, default=0,
                        help="also simulate a cluster of this many nodes (default: off)")
    parser.add_argument("--data-dir", default=None, help="MNIST folder (default: $NORMLAB_DATA, then the cache)")
    args = parser.parse_args()

    import ray

    from normlab.experiments.engines.ray_engine import make_ray_engine, pack_splits
    from normlab.train.loop import load_data

    spec = build_spec(args)
    n = len(spec.configs())
    print(f"study: {len(args.variants)} variants x {args.seeds} seeds = {n} runs, {args.epochs} epoch(s), "
          f"subset {args.subset}; {args.cpus} CPUs; ray {ray.__version__}; load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    print(f"{'engine':<18} {'runs':>5} {'wall s':>8} {'runs/min':>9} {'slot-s/run':>12} {'run s':>7} "
          f"{'overhead':>10}")
    rows: dict[str, list[dict]] = {"local": [], "ray (cold)": [], "ray (warm)": []}
    inits = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # Rounds interleave the engines, so a change in the machine's load hits both alike.
        for k in range(args.rounds):
            rows["local"].append(timed_study(spec, tmp / f"local{k}", workers=args.cpus, data_dir=args.data_dir))
            print(row("local", rows["local"][-1], args.cpus), flush=True)
            t0 = time.perf_counter()
            ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, logging_level="WARNING")
            inits.append(time.perf_counter() - t0)
            engine = make_ray_engine()
            for name in ("ray (cold)", "ray (warm)"):
                rows[name].append(timed_study(spec, tmp / f"{name[5:9]}{k}", engine=engine, workers=0,
                                              data_dir=args.data_dir))
                print(row(name, rows[name][-1], args.cpus), flush=True)
            if k < args.rounds - 1:
                ray.shutdown()
        print(f"median over {args.rounds} round(s):")
        med = {name: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for name, rs in rows.items()}
        for name, r in med.items():
            print(row(name, r, args.cpus))
        print(f"ray.init (local instance): median {statistics.median(inits):.1f}s, once per study")
        for name, r in med.items():
            extra = r["wall"] * args.cpus / n - r["run_s"]
            print(f"{name}: {extra:.2f} CPU-s per run outside the run's own epochs, "
                  f"{100 * extra / r['run_s']:.0f}% of a run of {r['run_s']:.2f}s")

        t0 = time.perf_counter()
        splits = load_data(spec.base, args.data_dir)
        load_s = time.perf_counter() - t0
        packed = pack_splits(splits)
        t0 = time.perf_counter()
        ref = ray.put(packed)
        put_s = time.perf_counter() - t0
        size = ray.experimental.get_object_locations([ref])[ref]["object_size"]
        print(f"ray.put of the dataset: {put_s * 1000:.0f} ms")
        ray_costs(ray, ref, size, load_s)
        del ref
        ray.shutdown()

    if args.nodes > 1:
        simulated_cluster(args, spec, args.data_dir)
    store_rates(spec)


if __name__ == "__main__":
    main()
