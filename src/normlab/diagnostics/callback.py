"""The training callback that runs the measurements and stores them in ``RunRecord.diagnostics``.

:class:`DiagnosticsCallback` drives a list of :class:`~normlab.diagnostics.base.Measurement`
objects through the loop's hooks and times each of them, so the cost of measuring is recorded
beside the measurements (``diagnostics["cost"]``):

- ``mean_step_seconds``: the training step's mean wall time without the measurements: the
  epochs' training time (``RunRecord.train_seconds``) less the time spent measuring in them,
  divided by their steps (before the first epoch ends, the steps' own wall clock);
- per measurement: ``count``, ``total_seconds``, ``mean_seconds`` (one record), its
  ``fraction_of_step`` (``mean_seconds / mean_step_seconds``: 9.0 means a record costs nine
  training steps) and its ``share_of_training`` (its total over the training time with all
  measurements).

On a GPU the clock is synchronised around each measurement so its time is its own.

The data is written into ``result.diagnostics`` at the end of every epoch (so checkpoints carry
it) and when training ends. A resumed run keeps the records of its earlier session.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Sequence

import torch
from torch import nn

from normlab.diagnostics.base import Measurement
from normlab.train.callbacks import Callback

__all__ = ["DiagnosticsCallback"]

COST_KEY = "cost"


def _sync(model: nn.Module | None) -> None:
    if model is None or not torch.cuda.is_available():
        return
    device = next(model.parameters(), torch.empty(0)).device
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class DiagnosticsCallback(Callback):
    """Run ``measurements`` on their schedules and store them in ``RunRecord.diagnostics``.

    ``settings`` is the ``TrainConfig.diagnostics`` dict they were built from (see
    :attr:`normlab.train.callbacks.Callback.diagnostics`). With no measurements (all switched
    off) nothing is stored.
    """

    def __init__(self, measurements: Sequence[Measurement], settings: dict[str, Any] | None = None) -> None:
        self.diagnostics = settings
        names = [m.name for m in measurements]
        if len(set(names)) != len(names):
            raise ValueError(f"measurement names must be unique; got {names}")
        # Probes run their own forward passes first; hooks are attached last so they observe
        # only the training forward.
        self.measurements = sorted(measurements, key=lambda m: m.phase == "hook")
        self.model: nn.Module | None = None
        self._due: list[Measurement] = []
        self._spent: dict[str, float] = {m.name: 0.0 for m in measurements}
        self._count: dict[str, int] = {m.name: 0 for m in measurements}
        self._step_start: float | None = None
        self._steps = 0
        self._step_seconds = 0.0  # the steps' own clock, without measurements
        self._epoch_steps = 0
        self._epoch_spent = 0.0
        self._epochs_train_seconds = 0.0
        self._epochs_steps = 0
        self._epochs_spent = 0.0
        self._loaded = False

    # -- loop hooks --------------------------------------------------------------------------

    def on_train_start(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable) -> None:
        """Attach every measurement to the model."""
        self.model = model
        for m in self.measurements:
            m.attach(model, optimizer, loss_fn)

    def on_step_start(self, step: int, epoch: int, x: torch.Tensor, y: torch.Tensor) -> None:
        """Run the measurements due at ``step`` that act before the forward; attach hooks."""
        self._due = [m for m in self.measurements if m.schedule.due(step)]
        if self._due:
            _sync(self.model)
        for m in self._due:
            m.in_step_seconds = 0.0
            start = time.perf_counter()
            m.before_step(step, epoch, x, y)
            _sync(self.model)
            self._charge(m, time.perf_counter() - start)
        self._step_start = time.perf_counter()

    def on_step_end(self, step: int, epoch: int, x: torch.Tensor, y: torch.Tensor, loss: torch.Tensor) -> None:
        """Run the measurements due at ``step`` that act after the update; detach hooks."""
        now = time.perf_counter()
        in_step = sum(m.in_step_seconds for m in self._due)
        if self._step_start is not None:
            self._step_seconds += now - self._step_start - in_step
        self._steps += 1
        self._epoch_steps += 1
        if self._due:
            _sync(self.model)
        for m in self._due:
            start = time.perf_counter()
            m.after_step(step, epoch, x, y, loss)
            _sync(self.model)
            self._charge(m, time.perf_counter() - start + m.in_step_seconds)
            self._count[m.name] += 1
            m.in_step_seconds = 0.0
        self._due = []
        self._step_start = None

    def on_epoch_end(self, epoch: int, result) -> None:
        """Store the data so far (a checkpoint written now carries it)."""
        if result.train_seconds:
            self._epochs_train_seconds += float(result.train_seconds[-1])
            self._epochs_steps += self._epoch_steps
            self._epochs_spent += self._epoch_spent
        self._epoch_steps = 0
        self._epoch_spent = 0.0
        self.publish(result)

    def on_train_end(self, result) -> None:
        """Detach every measurement (hooks removed) and store the data."""
        for m in self.measurements:
            m.detach()
        self.publish(result)

    # -- data ---------------------------------------------------------------------------------

    def _charge(self, m: Measurement, seconds: float) -> None:
        self._spent[m.name] += seconds
        self._epoch_spent += seconds

    def mean_step_seconds(self) -> float:
        """Mean wall time of a training step without measurements (see the module docs)."""
        if self._epochs_steps:
            return max(self._epochs_train_seconds - self._epochs_spent, 0.0) / self._epochs_steps
        return self._step_seconds / self._steps if self._steps else math.nan

    def cost(self) -> dict[str, Any]:
        """The measurements' cost beside the training step's (see the module docs)."""
        step = self.mean_step_seconds()
        steps = self._epochs_steps or self._steps
        total_spent = sum(self._spent.values())
        training = step * steps + total_spent if math.isfinite(step) else math.nan
        out: dict[str, Any] = {"mean_step_seconds": step, "steps": steps, "measurements": {}}
        for m in self.measurements:
            count, spent = self._count[m.name], self._spent[m.name]
            mean = spent / count if count else math.nan
            out["measurements"][m.name] = {
                "count": count,
                "total_seconds": spent,
                "mean_seconds": mean,
                "fraction_of_step": mean / step if count and step and math.isfinite(step) else math.nan,
                "share_of_training": spent / training if training and math.isfinite(training) else math.nan,
            }
        return out

    def publish(self, result) -> None:
        """Write every measurement's data and the cost into ``result.diagnostics``."""
        if not self.measurements:
            return
        if not self._loaded:
            # A resumed run's result comes from its checkpoint with the earlier session's data.
            for m in self.measurements:
                if m.name in result.diagnostics:
                    m.load_previous(result.diagnostics[m.name])
            self._loaded = True
        for m in self.measurements:
            result.diagnostics[m.name] = m.to_dict()
        result.diagnostics[COST_KEY] = self.cost()
