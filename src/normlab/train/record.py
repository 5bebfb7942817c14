"""One run, as :func:`normlab.train.train` returns it and the results store keeps it (:class:`RunRecord`).

A leaf module: it imports nothing of normlab and no torch, so the store, the statistics and the
report read runs without the training stack.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

FINISHED_STATUSES = ("done", "diverged")  # results, skipped on resume; a diverged run is a finding


@dataclass
class RunRecord:
    """One training run: its config, metrics, status, and (once stored) identity and provenance.

    Lists are indexed by epoch (0-based) unless named per batch. Accuracies are fractions in
    [0, 1]. ``train_accuracy`` is, under the ``blog`` protocol, the post's extra pass over the
    whole training set after each epoch; under ``standard`` it is the running accuracy over the
    epoch's training batches (no extra pass). ``train_loss`` is the mean of the epoch's batch
    losses, as the post computes it; ``val_loss`` is the per-sample mean. ``images_per_second``
    counts training images over the training phase (the optimizer steps, plus any opt-in
    diagnostics recorded during them).

    :func:`~normlab.train.train` fills the metrics and leaves the identity fields (``id`` to
    ``torch_version``) None; :class:`~normlab.experiments.store.ResultsDB` fills them. A stored
    run's per-epoch values are NaN where one was not finite or not recorded (a diverged run's
    lists are padded to its longest), its per-batch losses are float32 values, and both those and
    ``diagnostics`` are empty unless it was read in full. Times are unix seconds.
    """

    config: dict[str, Any]  # TrainConfig.to_dict()
    train_loss_per_batch: list[float] = field(default_factory=list)
    val_loss_per_batch: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)  # wall seconds: training and evaluation
    train_seconds: list[float] = field(default_factory=list)
    images_per_second: list[float] = field(default_factory=list)
    val_split_name: str | None = "test"  # which split served as validation: "val" or "test"
    test_accuracy: float | None = None  # with a held-out val split: test evaluated once, at the end
    test_loss: float | None = None
    test_epoch: int | None = None  # 1-based epoch whose weights were tested (best validation accuracy)
    status: str = "running"
    message: str = ""  # why a run diverged or failed: the epoch, the loss and the limit it crossed
    diverged_epoch: int | None = None
    diverged_batch: int | None = None  # the batch whose loss was NaN/inf; None when the epoch's mean crossed the limit
    diagnostics: dict[str, Any] = field(default_factory=dict)
    device: str | None = "cpu"
    host: str | None = None  # the machine that trained it (a Ray worker node, not the driver)
    # What ran (normlab.fast.accelerate's record: kernels, threads, torch version, fused Adam), since
    # it changes the numbers in the last bits. Empty in runs from before it was recorded.
    environment: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    study: str | None = None
    variant: str | None = None
    seed: int | None = None
    config_hash: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    normlab_version: str | None = None
    git_rev: str | None = None
    torch_version: str | None = None

    @property
    def epochs_done(self) -> int:
        """How many epochs have finished."""
        return len(self.val_accuracy)

    @property
    def final_val_accuracy(self) -> float | None:
        """Validation accuracy after the last epoch; None without epochs."""
        return self.val_accuracy[-1] if self.val_accuracy else None

    @property
    def best_val_accuracy(self) -> float | None:
        """Best validation accuracy over the epochs (NaN ignored); None without a finite one."""
        finite = [a for a in self.val_accuracy if a is not None and math.isfinite(a)]
        return max(finite) if finite else None

    @property
    def wall_seconds(self) -> float | None:
        """Seconds from start to finish as the store timed them; None while unfinished or unstored."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def finished(self) -> bool:
        """True for a result: status ``done`` or ``diverged``."""
        return self.status in FINISHED_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-serialisable dict, in declaration order."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunRecord":
        """Rebuild a record from :meth:`to_dict` output (unknown keys are ignored, missing ones default)."""
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

    def epoch_summary(self, epoch: int) -> dict[str, float]:
        """The numbers of one finished epoch (1-based), for progress lines, live views and tables."""
        i = epoch - 1
        return {"train_loss": self.train_loss[i], "train_accuracy": self.train_accuracy[i],
                "val_loss": self.val_loss[i], "val_accuracy": self.val_accuracy[i],
                "seconds": self.epoch_seconds[i], "images_per_second": self.images_per_second[i]}
