"""``normlab compare``: the post's experiment, plain LeNet-5 against LeNet-5 with BatchNorm.

The library side: run the two models (in parallel worker processes where that is faster),
then write the post's figures, ``metrics.json`` and CSV files, and build the table that sets
our numbers beside the post's.
"""

from __future__ import annotations

import csv
import io
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from normlab.errors import ConfigError
from normlab.experiments.engines.local import RunTask, TaskOutcome, run_local
from normlab.fileio import atomic_write_text, json_dumps
from normlab.train import RunResult, TrainConfig

#: What the post reports (its single run per model), for the table beside ours.
POST_REPORTED = {
    "lenet5": {"epoch1": "about 93%", "epoch1_value": 0.93, "final": "just above 98%", "final_value": 0.98},
    "lenet5-bn": {"epoch1": "just above 95%", "epoch1_value": 0.95, "final": "about 98.5%", "final_value": 0.985},
}
DEFAULT_MODELS = ("lenet5", "lenet5-bn")


@dataclass
class CompareResult:
    """The runs of a comparison, keyed by model name, and how long it took."""

    results: dict[str, RunResult]
    seconds: float
    workers: int
    errors: dict[str, str]


def run_compare(
    base: TrainConfig,
    models: Sequence[str] = DEFAULT_MODELS,
    *,
    workers: int = 1,
    data_dir: str | None = None,
    checkpoint_dir: str | Path | None = None,
    on_done: Callable[[TaskOutcome], None] | None = None,
    on_epoch: Callable[[str, int, dict], None] | None = None,
) -> CompareResult:
    """Train each of ``models`` with ``base``'s settings (same seed: same data order and weights).

    With ``workers > 1`` the models train at the same time in worker processes with one torch
    thread each; with one worker they train in turn in this process with torch's default threads.
    With ``checkpoint_dir``, each model's checkpoint is written there (for ``normlab predict``).
    """
    from normlab.models import model_options

    for m in models:
        model_options(m)  # an unknown model fails here, naming the valid ones, not in a worker
    repeated = sorted({m for m in models if list(models).count(m) > 1})
    if repeated:
        raise ConfigError(f"--models lists {', '.join(repeated)} more than once")
    threads = 1 if workers > 1 else base.threads
    tasks = [RunTask(key=m, config=base.replace(model=m).to_dict(), data_dir=data_dir, threads=threads,
                     checkpoint_path=str(Path(checkpoint_dir) / f"{m}.pt") if checkpoint_dir else None,
                     resume=False)
             for m in models]
    start = time.perf_counter()
    outcomes = run_local(tasks, workers=min(workers, len(tasks)), on_done=on_done, on_epoch=on_epoch)
    seconds = time.perf_counter() - start
    by_key = {o.task.key: o for o in outcomes}
    results = {m: RunResult.from_dict(by_key[m].result) for m in models if by_key[m].result is not None}
    errors = {m: by_key[m].error for m in models if by_key[m].error is not None}
    return CompareResult(results=results, seconds=seconds, workers=workers, errors=errors)


def comparison_table(result: CompareResult) -> list[dict[str, str]]:
    """Rows of the printed table: each model's accuracy after epoch 1 and the last epoch, beside the post's."""
    rows = []
    for name, run in result.results.items():
        post = POST_REPORTED.get(name, {})
        rows.append({
            "model": name,
            "epoch 1": f"{run.val_accuracy[0] * 100:.2f}%" if run.val_accuracy else "-",
            "post, epoch 1": post.get("epoch1", "-"),
            "last epoch": f"{run.val_accuracy[-1] * 100:.2f}% ({len(run.val_accuracy)})" if run.val_accuracy else "-",
            "post, epoch 10": post.get("final", "-"),
            "status": run.status,
        })
    return rows


def environment() -> dict[str, str]:
    """Versions and host, saved beside results so a number can be traced to where it came from."""
    import torch

    from normlab import __version__
    from normlab.kernels import status

    # The kernels change results in the last bits, so a result records whether they ran.
    return {"normlab": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "host": platform.node(), "kernels": status()}


def write_outputs(out_dir: str | Path, result: CompareResult) -> list[Path]:
    """Write the post's figures, ``metrics.json``, ``per_epoch.csv`` and ``per_batch.csv``."""
    from normlab.report.figures import accuracy_figure, loss_figure, save_figure, val_accuracy_figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    runs = result.results
    val_label = next((r.val_split_name for r in runs.values()), "test")
    val_label = "validation" if val_label == "val" else "validation (test set)"
    for name, run in runs.items():
        written.append(save_figure(accuracy_figure(name, run.train_accuracy, run.val_accuracy, val_label=val_label),
                                   out / f"accuracy_{name}.png"))
    written.append(save_figure(val_accuracy_figure({n: r.val_accuracy for n, r in runs.items()}, val_label=val_label),
                               out / "val_accuracy.png"))
    written.append(save_figure(loss_figure({n: r.train_loss_per_batch for n, r in runs.items()},
                                           {n: r.val_loss_per_batch for n, r in runs.items()}),
                               out / "losses.png"))
    metrics = {
        "environment": environment(),
        "seconds": result.seconds,
        "workers": result.workers,
        "post_reported": POST_REPORTED,
        "runs": {n: {**r.to_dict(), "log_dict": r.log_dict()} for n, r in runs.items()},
        "errors": result.errors,
    }
    written.append(atomic_write_text(out / "metrics.json", json_dumps(metrics)))
    written.append(atomic_write_text(out / "per_epoch.csv", _per_epoch_csv(runs)))
    written.append(atomic_write_text(out / "per_batch.csv", _per_batch_csv(runs)))
    return written


def _per_epoch_csv(runs: dict[str, RunResult]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["model", "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                     "epoch_seconds", "images_per_second"])
    for name, r in runs.items():
        for i in range(len(r.val_accuracy)):
            writer.writerow([name, i + 1, r.train_loss[i], r.train_accuracy[i], r.val_loss[i],
                             r.val_accuracy[i], r.epoch_seconds[i], r.images_per_second[i]])
    return buf.getvalue()


def _per_batch_csv(runs: dict[str, RunResult]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["model", "split", "epoch", "batch", "loss"])
    for name, r in runs.items():
        epochs = max(len(r.val_accuracy), 1)
        for split, losses in (("train", r.train_loss_per_batch), ("val", r.val_loss_per_batch)):
            per_epoch = len(losses) // epochs if losses else 0
            for i, loss in enumerate(losses):
                writer.writerow([name, split, i // per_epoch + 1 if per_epoch else 1,
                                 i % per_epoch + 1 if per_epoch else i + 1, loss])
    return buf.getvalue()
