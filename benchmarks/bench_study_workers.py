"""Study throughput: two worker processes with one thread each against one process with two.

The same small study (variants x seeds) runs both ways, side by side, each into a fresh
database; the figure of merit is runs per minute and the ratio between the two.

    NORMLAB_DATA=../shared/datasets/mnist python benchmarks/bench_study_workers.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time


def run(args, workers: int, threads: int | None, out: str) -> float:
    cmd = [sys.executable, "-m", "normlab", "study", "--variants", "lenet5", "lenet5-bn", "--seeds", str(args.seeds),
           "--epochs", str(args.epochs), "--subset", str(args.subset), "--device", "cpu", "--workers", str(workers),
           "--no-report", "--quiet", "--out", out]
    if threads:
        cmd += ["--threads", str(threads)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="seeds per variant (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per run (default: %(default)s)")
    parser.add_argument("--subset", type=int, default=20000, help="training images (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best counts (default: %(default)s)")
    args = parser.parse_args()
    runs = 2 * args.seeds
    times = {"2 workers x 1 thread": [], "1 process x 2 threads": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            times["2 workers x 1 thread"].append(run(args, 2, None, f"{tmp}/w2_{r}"))
            times["1 process x 2 threads"].append(run(args, 1, 2, f"{tmp}/w1_{r}"))
    best = {k: min(v) for k, v in times.items()}
    print(f"study: 2 variants x {args.seeds} seeds = {runs} runs, {args.epochs} epoch(s) on {args.subset} images")
    for name, t in best.items():
        print(f"{name:24s} {t:7.1f} s  {runs / t * 60:6.2f} runs/min")
    ratio = best["1 process x 2 threads"] / best["2 workers x 1 thread"]
    print(f"throughput ratio, 2 workers / 1 process: {ratio:.2f}x (target >= 1.25x)")


if __name__ == "__main__":
    main()
