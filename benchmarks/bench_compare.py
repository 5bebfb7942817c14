"""End-to-end speed of ``normlab compare --protocol blog`` against the post's own pipeline.

Both run side by side in this one process tree, on the same data, so the ratio is meaningful on
a noisy machine. ``normlab compare`` is timed as a subprocess, start-up included (end to end).

    NORMLAB_DATA=../shared/datasets/mnist python benchmarks/bench_compare.py --epochs 10 --workers 2

``--workers`` lists the normlab configurations to time: 2 (two processes, one thread each,
the default on a 2-core CPU) and 1 (the models in turn, torch's default threads). The baseline
runs as a script in a subprocess too, so both sides pay their start-up. Each baseline run is
bracketed by normlab runs (the first ``--workers`` value) and set against their mean, because a
shared machine's speed drifts over the minutes a baseline takes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def _session_peaks(sid: int) -> dict[int, int]:
    """Peak RSS (VmHWM, KiB) of every live process in session ``sid``, by pid (Linux /proc)."""
    peaks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3]) != sid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[int(entry.name)] = int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return peaks


def time_normlab(epochs: int, workers: int, out: str) -> dict:
    cmd = [sys.executable, "-m", "normlab", "compare", "--protocol", "blog", "--epochs", str(epochs),
           "--workers", str(workers), "--device", "cpu", "--quiet", "--out", out]
    peaks: dict[int, int] = {}
    # Output to files, not pipes: nothing reads a pipe while the command runs, and a full one
    # would stall it.
    with tempfile.TemporaryFile("w+") as log:
        start = time.perf_counter()
        # Its own session, so that the workers (children of a forkserver, not of the command, and
        # not waited for by it) can be found and their peak RSS read while they live: getrusage's
        # RUSAGE_CHILDREN would not see them.
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        while True:
            # A scan of /proc costs about 1 ms of the CPU the command is using, so it runs twice a
            # second (VmHWM only grows, and the processes live for the whole run); wait() returns
            # the moment the command exits, so the timing gains no polling lag.
            for pid, kib in _session_peaks(proc.pid).items():
                peaks[pid] = max(kib, peaks.get(pid, 0))
            try:
                proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                continue
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            log.seek(0)
            raise SystemExit(f"normlab compare failed:\n{log.read()}")
    metrics = json.loads(Path(out, "metrics.json").read_text())
    return {"seconds": seconds, "final_val_accuracy": {k: v["val_accuracy"][-1] for k, v in metrics["runs"].items()},
            "peak_rss_mb": max(peaks.values(), default=0) / 1024, "processes": len(peaks)}


def time_baseline(epochs: int, data_dir: str) -> dict:
    """The post's pipeline as a script, timed like normlab: a subprocess, start-up included."""
    cmd = [sys.executable, str(Path(__file__).parent / "post_baseline.py"), "--epochs", str(epochs),
           "--data-dir", data_dir]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"the baseline failed:\n{proc.stdout}\n{proc.stderr}")
    base = json.loads(proc.stdout)
    return {"seconds": seconds, "training_seconds": base["total_seconds"],
            "final_val_accuracy": {k: base[k]["val_accuracy"][-1] for k in ("lenet5", "lenet5-bn")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="epochs per model (default: %(default)s)")
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 1],
                        help="normlab worker counts to time; the first is the one bracketed (default: 2 1)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="baseline runs, each bracketed by normlab runs (default: %(default)s)")
    parser.add_argument("--skip-baseline", action="store_true", help="time normlab only")
    args = parser.parse_args()
    from normlab.data.download import env_directory

    data_dir = env_directory("mnist")
    if not data_dir:
        raise SystemExit("set NORMLAB_DATA to the datasets folder (with mnist/) or to the MNIST folder")
    data_dir = str(data_dir)
    first, others = args.workers[0], args.workers[1:]
    label = f"normlab compare --protocol blog, {first} worker(s)"
    with tempfile.TemporaryDirectory() as tmp:
        extra = {w: time_normlab(args.epochs, w, f"{tmp}/w{w}") for w in others}
        # normlab, baseline, normlab, baseline, ..., normlab: the machine's speed drifts over
        # minutes (shared VM), so each baseline is set against the normlab runs on both sides.
        normlab = [time_normlab(args.epochs, first, f"{tmp}/n0")]
        baselines = []
        for r in range(0 if args.skip_baseline else args.rounds):
            baselines.append(time_baseline(args.epochs, data_dir))
            normlab.append(time_normlab(args.epochs, first, f"{tmp}/n{r + 1}"))
    print(f"{'run':56s} {'seconds':>9s}  final val acc")
    for i, row in enumerate(normlab):
        _print_row(f"{label} #{i + 1}", row)
        if i < len(baselines):
            _print_row(f"post's pipeline (baseline) #{i + 1}", baselines[i])
    for w, row in extra.items():
        _print_row(f"normlab compare --protocol blog, {w} worker(s)", row)
    ratios = [b["seconds"] / ((normlab[i]["seconds"] + normlab[i + 1]["seconds"]) / 2) for i, b in enumerate(baselines)]
    for i, ratio in enumerate(ratios):
        print(f"speed-up, baseline #{i + 1} / mean of the normlab runs around it: {ratio:.2f}x")
    if ratios and extra:
        base = sum(b["seconds"] for b in baselines) / len(baselines)
        for w, row in extra.items():
            print(f"speed-up, {w} worker(s), against the mean baseline: {base / row['seconds']:.2f}x")
    peak = max(row["peak_rss_mb"] for row in [*normlab, *extra.values()])
    print(f"peak RSS of the largest normlab process: {peak:.0f} MB")


def _print_row(name: str, row: dict) -> None:
    accs = ", ".join(f"{k} {v:.3f}" for k, v in row["final_val_accuracy"].items())
    print(f"{name:56s} {row['seconds']:9.1f}  {accs}")


if __name__ == "__main__":
    main()
