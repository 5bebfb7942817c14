"""The numbers one training run produces."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("done", "diverged", "failed", "running")


@dataclass
class RunResult:
    """Metrics of one run; lists are indexed by epoch (0-based) unless named per batch.

    Accuracies are fractions in [0, 1]. ``train_accuracy`` is, under the ``blog`` protocol, the
    post's extra pass over the whole training set after each epoch; under ``standard`` it is
    the running accuracy over the epoch's training batches (no extra pass).
    ``train_loss`` is the mean of the epoch's batch losses, as the post computes it; ``val_loss``
    is the per-sample mean. ``images_per_second`` counts training images over the training phase
    (the optimizer steps, plus any opt-in diagnostics recorded during them).
    """

    config: dict[str, Any]
    train_loss_per_batch: list[float] = field(default_factory=list)
    val_loss_per_batch: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    images_per_second: list[float] = field(default_factory=list)
    val_split_name: str = "test"  # which split served as validation: "val" or "test"
    test_accuracy: float | None = None  # with a held-out val split: test evaluated once, at the end
    test_loss: float | None = None
    test_epoch: int | None = None  # 1-based epoch whose weights were tested (best validation accuracy)
    status: str = "running"
    message: str = ""  # why a run diverged or failed: the epoch, the loss and the limit it crossed
    diverged_epoch: int | None = None
    diverged_batch: int | None = None  # the batch whose loss was NaN/inf; None when the epoch's mean crossed the limit
    diagnostics: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    host: str | None = None  # the machine that trained it (a Ray worker node, not the driver)
    # What ran (normlab.fast.accelerate's record: kernels, threads, torch version, fused Adam), since
    # it changes the numbers in the last bits. Empty in results from before it was recorded.
    environment: dict[str, Any] = field(default_factory=dict)

    @property
    def epochs_done(self) -> int:
        """How many epochs have finished."""
        return len(self.val_accuracy)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunResult":
        """Rebuild a result from :meth:`to_dict` output."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def log_dict(self) -> dict[str, list[float]]:
        """The post's log dict: its four keys, with accuracies rounded to 3 decimals as the post does."""
        return {
            "training_loss_per_batch": list(self.train_loss_per_batch),
            "validation_loss_per_batch": list(self.val_loss_per_batch),
            "training_accuracy_per_epoch": [round(a, 3) for a in self.train_accuracy],
            "validation_accuracy_per_epoch": [round(a, 3) for a in self.val_accuracy],
        }


def epoch_summary(result: RunResult, epoch: int) -> dict[str, float]:
    """The numbers of one finished epoch (1-based), for progress lines and live views."""
    i = epoch - 1
    return {
        "train_loss": result.train_loss[i],
        "train_accuracy": result.train_accuracy[i],
        "val_loss": result.val_loss[i],
        "val_accuracy": result.val_accuracy[i],
        "seconds": result.epoch_seconds[i],
        "images_per_second": result.images_per_second[i],
    }
