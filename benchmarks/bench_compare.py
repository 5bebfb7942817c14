"""End-to-end speed of ``normlab compare --protocol blog`` against the post's own pipeline.

Both run side by side in this one process tree, on the same data, so the ratio is meaningful on
a noisy machine. ``normlab compare`` is timed as a subprocess, start-up included (end to end).

    NORMLAB_DATA=../shared/datasets/mnist python benchmarks/bench_compare.py --epochs 10

``--workers`` lists the normlab configurations to time: 2 (two processes, one thread each,
the default on a 2-core CPU) and 1 (the models in turn, torch's default threads). The baseline
runs as a script in a subprocess too, so both sides pay their start-up.
"""

from __future__ import annotations

import argparse
import json
import os
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
    start = time.perf_counter()
    # Its own session, so that the workers (children of a forkserver, not of the command, and
    # not waited for by it) can be found and their peak RSS read while they live: getrusage's
    # RUSAGE_CHILDREN would not see them.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    peaks: dict[int, int] = {}
    while proc.poll() is None:
        for pid, kib in _session_peaks(proc.pid).items():
            peaks[pid] = max(kib, peaks.get(pid, 0))
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"normlab compare failed:\n{stdout}\n{stderr}")
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
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 1], help="normlab worker counts to time (default: 2 1)")
    parser.add_argument("--skip-baseline", action="store_true", help="time normlab only")
    args = parser.parse_args()
    data_dir = os.environ.get("NORMLAB_DATA")
    if not data_dir:
        raise SystemExit("set NORMLAB_DATA to the MNIST folder")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for w in args.workers:
            rows[f"normlab compare --protocol blog, {w} worker(s)"] = time_normlab(args.epochs, w, f"{tmp}/w{w}")
    if not args.skip_baseline:
        rows["post's pipeline (baseline)"] = time_baseline(args.epochs, data_dir)
    base_s = rows.get("post's pipeline (baseline)", {}).get("seconds")
    print(f"{'configuration':48s} {'seconds':>9s} {'speed-up':>9s}  final val acc")
    for name, row in rows.items():
        ratio = f"{base_s / row['seconds']:.2f}x" if base_s else "-"
        accs = ", ".join(f"{k} {v:.3f}" for k, v in row["final_val_accuracy"].items())
        print(f"{name:48s} {row['seconds']:9.1f} {ratio:>9s}  {accs}")
    for name, row in rows.items():
        if "peak_rss_mb" in row:
            print(f"{name}: peak RSS of its largest process {row['peak_rss_mb']:.0f} MB "
                  f"({row['processes']} processes seen)")


if __name__ == "__main__":
    main()
