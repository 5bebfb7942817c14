"""The post-style outputs of ``normlab compare``, exported from its runs in the results store.

:func:`normlab.experiments.compare.run_compare` trains through the store and hands the recorded
runs (a :class:`~normlab.experiments.compare.CompareResult`) to :func:`write_compare_outputs`,
which writes the post's figures, ``metrics.json`` and the CSV files; :func:`comparison_table` is
the table the command prints beside the post's numbers.
"""

from __future__ import annotations

import csv
import io
import platform
from pathlib import Path

from normlab.experiments.compare import CompareResult
from normlab.fileio import atomic_write_text, ensure_dir, json_dumps
from normlab.post import POST_REPORTED, POST_SETTINGS
from normlab.train.record import RunRecord


def _dataset(result: CompareResult) -> str:
    return next((str(r.config.get("dataset")) for r in result.results.values()), POST_SETTINGS["dataset"])


def comparison_table(result: CompareResult) -> list[dict[str, str]]:
    """Rows of the printed table: each model's accuracy after epoch 1 and the last epoch, on its dataset,
    beside the post's on MNIST (the post's numbers are MNIST's, so another dataset gets no post columns)."""
    on_post_data = _dataset(result) == POST_SETTINGS["dataset"]
    rows = []
    for name, run in result.results.items():
        post = POST_REPORTED.get(name, {})
        row = {"model": name, "dataset": str(run.config.get("dataset")),
               "epoch 1": f"{run.val_accuracy[0] * 100:.2f}%" if run.val_accuracy else "-",
               "post, epoch 1": post.get("epoch1", "-"),
               "last epoch": f"{run.val_accuracy[-1] * 100:.2f}% ({len(run.val_accuracy)})" if run.val_accuracy else "-",
               "post, epoch 10": post.get("final", "-"), "status": run.status}
        rows.append(row if on_post_data else {k: v for k, v in row.items() if not k.startswith("post")})
    return rows


def environment(result: CompareResult) -> dict[str, str]:
    """Versions and host, saved beside results so a number can be traced to where it came from.

    torch's version and the kernels' status come from what the runs recorded (the fast path
    changes results in the last bits, so a result says whether it ran).
    """
    from normlab import __version__

    recorded = next((r.environment for r in result.results.values() if r.environment), {})
    return {"normlab": __version__, "torch": recorded.get("torch", "unknown"),
            "python": platform.python_version(), "platform": platform.platform(), "host": platform.node(),
            "kernels": recorded.get("kernels", "not recorded")}


def write_compare_outputs(out_dir: str | Path, result: CompareResult) -> list[Path]:
    """Write the post's figures, ``metrics.json``, ``per_epoch.csv`` and ``per_batch.csv``.

    ``metrics.json``'s ``seconds`` is the training time of the runs this call trained; ``skipped``
    names the models that an earlier call had finished.
    """
    from normlab.report.figures import accuracy_figure, loss_figure, save_figure, val_accuracy_figure
    from normlab.report.figures.base import val_label

    out = ensure_dir(out_dir)
    written = []
    runs = result.results
    label = val_label(next((r.val_split_name for r in runs.values()), "test") != "val", [_dataset(result)])
    for name, run in runs.items():
        written.append(save_figure(accuracy_figure(name, run.train_accuracy, run.val_accuracy, val_label=label),
                                   out / f"accuracy_{name}.png"))
    written.append(save_figure(val_accuracy_figure({n: r.val_accuracy for n, r in runs.items()}, val_label=label),
                               out / "val_accuracy.png"))
    written.append(save_figure(loss_figure({n: r.train_loss_per_batch for n, r in runs.items()},
                                           {n: r.val_loss_per_batch for n, r in runs.items()}),
                               out / "losses.png"))
    metrics = {
        "environment": environment(result),
        "seconds": result.seconds,
        "workers": result.workers,
        "post_reported": POST_REPORTED if _dataset(result) == POST_SETTINGS["dataset"] else None,
        "runs": {n: {**r.to_dict(), "log_dict": r.log_dict()} for n, r in runs.items()},
        "errors": result.errors,
        "skipped": result.skipped,
    }
    written.append(atomic_write_text(out / "metrics.json", json_dumps(metrics)))
    written.append(atomic_write_text(out / "per_epoch.csv", _per_epoch_csv(runs)))
    written.append(atomic_write_text(out / "per_batch.csv", _per_batch_csv(runs)))
    return written


def _per_epoch_csv(runs: dict[str, RunRecord]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["model", "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                     "epoch_seconds", "images_per_second"])
    for name, r in runs.items():
        for i in range(len(r.val_accuracy)):
            writer.writerow([name, i + 1, r.train_loss[i], r.train_accuracy[i], r.val_loss[i],
                             r.val_accuracy[i], r.epoch_seconds[i], r.images_per_second[i]])
    return buf.getvalue()


def _per_batch_csv(runs: dict[str, RunRecord]) -> str:
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
