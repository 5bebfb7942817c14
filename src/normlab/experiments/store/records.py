"""Runs as the database returns them (:class:`RunRecord`), and the packing of losses into blobs."""

from __future__ import annotations

import math
import sys
import zlib
from array import array
from dataclasses import dataclass, field, fields
from typing import Any, Iterable

from normlab.experiments.store.schema import FINISHED_STATUSES, RESULT_EPOCH_KEYS, StoreError


def _epoch_column(name: str, doc: str) -> property:
    return property(lambda self: [e[name] for e in self.epochs], doc=doc)


@dataclass
class RunRecord:
    """One run as stored: identity, status, environment, metrics.

    Times are unix seconds. ``epochs`` holds one dict per finished epoch (``epoch`` is 1-based),
    with float metrics, NaN where a value was not finite or not recorded. ``environment`` is what
    the run's CPU fast path did (``RunResult.environment``), empty for runs recorded before
    normlab stored it. The per-batch losses come back as float32 values (as stored); they and
    ``diagnostics`` are empty unless the record was read in full (:meth:`ResultsDB.get_run`,
    ``list_runs(full=True)``).
    """

    id: int
    study: str
    variant: str
    seed: int
    config: dict
    config_hash: str
    status: str
    started_at: float | None
    finished_at: float | None
    message: str
    normlab_version: str | None
    git_rev: str | None
    torch_version: str | None
    device: str | None
    host: str | None
    test_accuracy: float | None
    test_loss: float | None
    test_epoch: int | None
    val_split_name: str | None
    diverged_epoch: int | None
    diverged_batch: int | None
    environment: dict = field(default_factory=dict)
    epochs: list[dict] = field(default_factory=list)
    train_loss_per_batch: list[float] = field(default_factory=list)
    val_loss_per_batch: list[float] = field(default_factory=list)
    diagnostics: dict = field(default_factory=dict)

    val_accuracy = _epoch_column("val_accuracy", "Validation accuracy (fraction) per epoch.")
    train_accuracy = _epoch_column("train_accuracy", "Training accuracy (fraction) per epoch.")
    val_loss = _epoch_column("val_loss", "Mean validation loss per epoch.")
    train_loss = _epoch_column("train_loss", "Mean training loss per epoch.")
    epoch_seconds = _epoch_column("seconds", "Wall seconds per epoch (training and evaluation).")

    @property
    def final_val_accuracy(self) -> float | None:
        """Validation accuracy after the last recorded epoch; None without epochs."""
        return self.epochs[-1]["val_accuracy"] if self.epochs else None

    @property
    def best_val_accuracy(self) -> float | None:
        """Best validation accuracy over the epochs (NaN ignored); None without a finite one."""
        finite = [a for a in self.val_accuracy if a is not None and math.isfinite(a)]
        return max(finite) if finite else None

    @property
    def wall_seconds(self) -> float | None:
        """Seconds from start to finish; None while unfinished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def finished(self) -> bool:
        """True for a result: status ``done`` or ``diverged``."""
        return self.status in FINISHED_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict (the JSON export's item), in declaration order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_result_dict(self) -> dict[str, Any]:
        """The run in ``RunResult.to_dict()`` form, for code written against ``RunResult``.

        ``RunResult.from_dict(record.to_result_dict())`` rebuilds the result (read the record
        in full first to get the per-batch losses and diagnostics).
        """
        return {
            "config": self.config,
            "train_loss_per_batch": list(self.train_loss_per_batch),
            "val_loss_per_batch": list(self.val_loss_per_batch),
            **{key: [e[col] for e in self.epochs] for col, key in RESULT_EPOCH_KEYS.items()},
            "val_split_name": self.val_split_name or "test",
            "test_accuracy": self.test_accuracy,
            "test_loss": self.test_loss,
            "test_epoch": self.test_epoch,
            "status": self.status,
            "message": self.message,
            "diverged_epoch": self.diverged_epoch,
            "diverged_batch": self.diverged_batch,
            "diagnostics": dict(self.diagnostics),
            "device": self.device or "cpu",
            "host": self.host,
            "environment": dict(self.environment),
        }


# The runs table's columns: RunRecord's fields but those kept in tables of their own.
RUN_COLUMNS = tuple(f.name for f in fields(RunRecord)
                    if f.name not in ("epochs", "train_loss_per_batch", "val_loss_per_batch", "diagnostics"))


def encode_losses(values: Iterable[float], *, compress: bool = False) -> tuple[bytes, str, int]:
    """Pack losses as little-endian float32; return ``(data, encoding, count)``.

    Values beyond float32's range become +-inf, as a float32 tensor would hold them.
    """
    arr = array("f", values)
    if sys.byteorder == "big":
        arr.byteswap()
    data = arr.tobytes()
    if compress:
        return zlib.compress(data, 6), "f32le+zlib", len(arr)
    return data, "f32le", len(arr)


def decode_losses(data: bytes, encoding: str, count: int) -> list[float]:
    """Unpack what :func:`encode_losses` packed; a mismatch is a :class:`StoreError`."""
    if encoding == "f32le+zlib":
        try:
            data = zlib.decompress(data)
        except zlib.error as exc:
            raise StoreError(f"corrupt compressed batch losses: {exc}") from None
    elif encoding != "f32le":
        raise StoreError(f"unknown batch-loss encoding {encoding!r}; known: f32le, f32le+zlib")
    if len(data) != 4 * count:
        raise StoreError(f"batch-loss blob holds {len(data)} bytes, expected {4 * count} bytes for {count} values")
    arr = array("f")
    arr.frombytes(data)
    if sys.byteorder == "big":
        arr.byteswap()
    return arr.tolist()
