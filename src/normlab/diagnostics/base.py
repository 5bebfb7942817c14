"""What every measurement shares: its schedule, its records and the columnar form they are stored in.

A measurement keeps one *record* per scheduled step, a nested dict with the step, the epoch,
its values and the seconds it cost. :meth:`Measurement.to_dict` stores the records as columns
(``{"step": [0, 100, ...], "stats": {"act1": {"unit": {"p50": [...]}}}}``): one list per value,
so a figure reads a series without a loop, and the JSON stays compact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from normlab.errors import ConfigError


@dataclass(frozen=True)
class Schedule:
    """When a measurement runs: every ``every`` steps, counting from 0 over the whole run.

    Step 0 is always measured (0 is a multiple of any ``every``), so every measurement has a
    value before the first update. ``every=0`` disables the measurement.
    """

    every: int

    def __post_init__(self) -> None:
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 0:
            raise ConfigError(f"every={self.every!r} is not valid; give a number of steps >= 1 (0 turns it off)")

    def due(self, step: int) -> bool:
        """Whether ``step`` (0-based over the run) is measured."""
        return self.every > 0 and step % self.every == 0


def check_options(name: str, options: Any, valid: dict[str, Any]) -> dict[str, Any]:
    """``options`` (a dict) checked against ``valid`` (name -> default); defaults filled in."""
    if options is None:
        options = {}
    if isinstance(options, bool) and options:
        options = {}
    if isinstance(options, int) and not isinstance(options, bool):
        options = {"every": options}
    if not isinstance(options, dict):
        raise ConfigError(f"diagnostics[{name!r}] must be a dict of settings such as {{'every': 100}}, "
                          f"got {options!r}")
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(f"diagnostics[{name!r}]: unknown setting(s) {', '.join(unknown)}; "
                          f"valid: {', '.join(valid)}")
    return {**valid, **options}


# --------------------------------------------------------------------------------------------
# Records <-> columns
# --------------------------------------------------------------------------------------------


def _flatten(record: dict, prefix: tuple = ()) -> dict[tuple, Any]:
    out: dict[tuple, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(_flatten(value, (*prefix, key)))
        else:
            out[(*prefix, key)] = value
    return out


def _nest(flat: dict[tuple, Any]) -> dict:
    out: dict = {}
    for path, value in flat.items():
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return out


def to_columns(records: list[dict]) -> dict:
    """Records (nested dicts of the same shape) as one nested dict of lists."""
    columns: dict[tuple, list] = {}
    for i, record in enumerate(records):
        for path, value in _flatten(record).items():
            # A key first seen later (a layer that appeared) is padded with None before it.
            columns.setdefault(path, [None] * i).append(value)
        for path, column in columns.items():
            if len(column) < i + 1:
                column.append(None)
    return _nest(columns)


def to_records(columns: dict) -> list[dict]:
    """The inverse of :func:`to_columns`."""
    flat = _flatten(columns)
    n = max((len(v) for v in flat.values() if isinstance(v, list)), default=0)
    return [_nest({path: values[i] for path, values in flat.items() if isinstance(values, list) and i < len(values)})
            for i in range(n)]


# --------------------------------------------------------------------------------------------
# The measurement interface
# --------------------------------------------------------------------------------------------


class Measurement:
    """One opt-in measurement driven by :class:`~normlab.diagnostics.callback.DiagnosticsCallback`.

    Subclasses set :attr:`name` and override what they need:

    - :meth:`attach` once before training (also on resume);
    - :meth:`before_step` at a scheduled step, before the step's forward (``phase = "probe"``
      measurements run first, then ``phase = "hook"`` ones register their hooks, so a probe's
      own forward passes are never observed by a hook);
    - :meth:`after_step` at a scheduled step, after the optimizer step;
    - :meth:`detach` when training ends, however it ends.

    ``in_step_seconds`` is time the measurement spent *inside* the training step (in a forward
    hook); the callback moves it from the step's time to the measurement's.
    """

    name: str = ""
    phase: str = "probe"
    #: Top-level keys of :meth:`to_dict` that are not record columns (see :meth:`extra`).
    extra_keys: tuple[str, ...] = ()

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.records: list[dict] = []
        self.previous: list[dict] = []  # records of an earlier session of a resumed run
        self.in_step_seconds = 0.0

    def attach(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable) -> None:
        """Called once before training."""
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn

    def before_step(self, step: int, epoch: int, x: torch.Tensor, y: torch.Tensor) -> None:
        """At a scheduled step, before its forward pass."""

    def after_step(self, step: int, epoch: int, x: torch.Tensor, y: torch.Tensor, loss: torch.Tensor) -> None:
        """At a scheduled step, after its optimizer step."""

    def detach(self) -> None:
        """Release everything attached to the model (hooks)."""

    def settings(self) -> dict[str, Any]:
        """The settings stored with the data."""
        return {"every": self.schedule.every}

    def extra(self) -> dict[str, Any]:
        """Data stored beside the records (keys in :attr:`extra_keys`)."""
        return {}

    def load_extra(self, data: dict[str, Any]) -> None:
        """Take over :meth:`extra` data of an earlier session (see :meth:`load_previous`)."""

    def to_dict(self) -> dict[str, Any]:
        """The measurement as JSON-serialisable data: settings, extra data, then the records as columns."""
        first = self.records[0]["step"] if self.records else math.inf
        records = [r for r in self.previous if r.get("step", -1) < first] + self.records
        return {"settings": self.settings(), **self.extra(), **to_columns(records)}

    def load_previous(self, data: dict[str, Any]) -> None:
        """Keep the data of an earlier session (a resumed run's checkpoint) to store with ours."""
        if not isinstance(data, dict):
            return
        columns = {k: v for k, v in data.items() if k != "settings" and k not in self.extra_keys}
        self.previous = to_records(columns)
        self.load_extra(data)
