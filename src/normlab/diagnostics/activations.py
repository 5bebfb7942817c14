"""Activation statistics: the distribution of the input to every nonlinearity over training.

Ioffe & Szegedy (2015, figure 1 b, c) show the 15th, 50th and 85th percentiles of the input to a
typical sigmoid of an MNIST network's last hidden layer over training: without batch norm they
drift, with it they stay put. :class:`ActivationRecorder` records the same quantities for every
nonlinearity of the model (``act1``.. ``act4`` of :class:`~normlab.models.LeNet5`).

What is measured, exactly:

- *When*: at the scheduled steps (every ``every`` steps, and step 0), during the step's own
  training forward pass, so with the weights before that step's update, the step's batch, the
  model's mode at the time (train mode, or eval mode in epochs 2+ of the blog protocol) and,
  for noisy batch norm, the step's noise. Nothing is recomputed, so recording cannot change a
  training number.
- *How*: a forward pre-hook on each nonlinearity reads its input. The hooks are registered just
  before the scheduled step and each removes itself once it has fired; the callback removes any
  left over after the step and when training ends. Between scheduled steps no hook is attached.
- *Per unit*: a unit is a channel of a convolution (its values pooled over the batch and all
  spatial positions, as batch norm pools them) or a feature of a fully-connected layer (pooled
  over the batch). Per unit the 15th, 50th and 85th percentiles (linear interpolation, as
  ``numpy.percentile``), the mean and the standard deviation (``ddof=0``) are computed.
- *Stored*: for each layer, the statistics of one chosen unit (``unit``, default 0: Ioffe &
  Szegedy's figure also follows a single unit) and the ``summary``: each statistic averaged over
  all units of the layer. Every unit's history would be large (226 units per step), so per unit
  only a running *drift* is kept: the range of the unit's median over the recorded steps, its
  mean 15-85 spread, and their ratio ``drift = (max median - min median) / mean spread``, a
  scale-free measure of how far the distribution moved relative to its own width.
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from normlab.diagnostics.base import Measurement, Schedule, check_options
from normlab.errors import ConfigError

__all__ = ["ACTIVATION_TYPES", "PERCENTILES", "STATS", "ActivationRecorder", "percentiles", "unit_statistics"]

PERCENTILES = (15, 50, 85)
STATS = ("p15", "p50", "p85", "mean", "std")
DEFAULTS = {"every": 100, "unit": 0}

#: Modules treated as nonlinearities in a model without ``nonlinearities()``.
ACTIVATION_TYPES = (nn.Tanh, nn.ReLU, nn.Sigmoid, nn.GELU, nn.ELU, nn.LeakyReLU, nn.SiLU, nn.Softplus)


def percentiles(values: np.ndarray, qs: tuple[float, ...] = PERCENTILES) -> np.ndarray:
    """Percentiles of each row of ``values`` ``(U, K)``: a ``(len(qs), U)`` float64 array.

    ``numpy.percentile`` with its default linear interpolation between order statistics. It
    selects with a partial sort, faster than a full ``torch.sort`` (``torch.quantile`` sorts
    too, and refuses more than 16M values).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] == 0:
        raise ConfigError(f"percentiles need a (units, values) array with values; got shape {values.shape}")
    return np.percentile(values, qs, axis=1)


def unit_statistics(x: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-unit statistics of a layer's values ``x`` (``(N, C)`` or ``(N, C, H, W)``).

    Dimension 1 indexes the units; every other dimension is pooled. Returns ``p15``, ``p50``,
    ``p85``, ``mean`` and ``std`` (``ddof=0``), each a float64 array of shape ``(C,)``.
    """
    if x.dim() < 2:
        raise ConfigError(f"unit statistics need a (N, C, ...) tensor; got shape {tuple(x.shape)}")
    units = x.detach().transpose(0, 1).reshape(x.shape[1], -1).cpu().double().numpy()
    p = percentiles(units)
    return {"p15": p[0], "p50": p[1], "p85": p[2], "mean": units.mean(axis=1), "std": units.std(axis=1)}


def _nonlinearities(model: nn.Module) -> dict[str, nn.Module]:
    if hasattr(model, "nonlinearities"):
        return dict(model.nonlinearities())
    found = {name: m for name, m in model.named_modules() if isinstance(m, ACTIVATION_TYPES)}
    if not found:
        raise ConfigError(f"{type(model).__name__} has no nonlinearity modules to record "
                          f"(looked for {', '.join(t.__name__ for t in ACTIVATION_TYPES)})")
    return found


class ActivationRecorder(Measurement):
    """Percentiles, mean and std of the input to each nonlinearity at the scheduled steps.

    Settings: ``every`` (steps between records, default 100) and ``unit`` (the unit followed in
    every layer, default 0; a layer with fewer units follows its last one). See the module docs
    for what is measured and how it is stored.
    """

    name = "activations"
    phase = "hook"
    extra_keys = ("layers", "drift")

    def __init__(self, schedule: Schedule, *, unit: int = 0) -> None:
        super().__init__(schedule)
        if isinstance(unit, bool) or not isinstance(unit, int) or unit < 0:
            raise ConfigError(f"diagnostics['activations']['unit']={unit!r} is not valid; give a unit index >= 0")
        self.unit = unit
        self.handles: dict[str, Any] = {}
        self.layers: dict[str, dict[str, Any]] = {}
        self.drift: dict[str, dict[str, Any]] = {}
        self._row: dict | None = None

    @classmethod
    def from_options(cls, options: Any) -> "ActivationRecorder":
        """Build from the ``diagnostics["activations"]`` settings of a config."""
        opts = check_options("activations", options, DEFAULTS)
        return cls(Schedule(opts["every"]), unit=opts["unit"])

    def settings(self) -> dict[str, Any]:
        return {"every": self.schedule.every, "unit": self.unit, "percentiles": list(PERCENTILES),
                "when": "the training forward of the step, before its update"}

    def attach(self, model: nn.Module, optimizer, loss_fn: Callable) -> None:
        super().attach(model, optimizer, loss_fn)
        self.modules = _nonlinearities(model)

    def before_step(self, step: int, epoch: int, x: torch.Tensor, y: torch.Tensor) -> None:
        self.remove_hooks()
        self._row = {"step": step, "epoch": epoch, "stats": {}}
        for name, module in self.modules.items():
            self.handles[name] = module.register_forward_pre_hook(partial(self._hook, name))

    def _hook(self, name: str, module: nn.Module, inputs: tuple) -> None:
        start = time.perf_counter()
        handle = self.handles.pop(name, None)
        if handle is not None:
            handle.remove()  # one observation per scheduled step; the module runs hook-free after
        if self._row is not None and inputs and isinstance(inputs[0], torch.Tensor) and inputs[0].dim() >= 2:
            self._observe(name, inputs[0])
        self.in_step_seconds += time.perf_counter() - start

    def _observe(self, name: str, x: torch.Tensor) -> None:
        stats = unit_statistics(x)
        units = x.shape[1]
        unit = min(self.unit, units - 1)
        self.layers.setdefault(name, {"kind": "conv" if x.dim() > 2 else "linear", "units": units, "unit": unit})
        self._row["stats"][name] = {
            "unit": {k: float(v[unit]) for k, v in stats.items()},
            "summary": {k: float(v.mean()) for k, v in stats.items()},
        }
        self._accumulate(name, stats["p50"].tolist(), (stats["p85"] - stats["p15"]).tolist())

    def _accumulate(self, name: str, median: list[float], spread: list[float]) -> None:
        d = self.drift.get(name)
        if d is None or len(d["median_min"]) != len(median):
            self.drift[name] = {"median_min": median, "median_max": list(median), "spread_sum": spread, "count": 1}
            return
        d["median_min"] = [min(a, b) for a, b in zip(d["median_min"], median)]
        d["median_max"] = [max(a, b) for a, b in zip(d["median_max"], median)]
        d["spread_sum"] = [a + b for a, b in zip(d["spread_sum"], spread)]
        d["count"] += 1

    def after_step(self, step: int, epoch: int, x, y, loss) -> None:
        self.remove_hooks()
        self._flush()

    def _flush(self) -> None:
        if self._row is not None and self._row["stats"]:
            self.records.append(self._row)
        self._row = None

    def remove_hooks(self) -> None:
        """Remove every hook this recorder attached (idempotent)."""
        for handle in self.handles.values():
            handle.remove()
        self.handles.clear()

    def detach(self) -> None:
        self.remove_hooks()
        self._flush()  # a run that stopped inside a scheduled step (diverged) keeps its last record

    def extra(self) -> dict[str, Any]:
        drift = {}
        for name, d in self.drift.items():
            spread = [s / d["count"] for s in d["spread_sum"]]
            ratio = [(hi - lo) / s if s > 0 else math.nan
                     for lo, hi, s in zip(d["median_min"], d["median_max"], spread)]
            finite = [r for r in ratio if math.isfinite(r)]
            drift[name] = {**d, "spread_mean": spread, "drift": ratio,
                           "mean_drift": sum(finite) / len(finite) if finite else math.nan}
        return {"layers": dict(self.layers), "drift": drift}

    def load_extra(self, data: dict[str, Any]) -> None:
        for name, info in (data.get("layers") or {}).items():
            self.layers.setdefault(name, info)
        for name, old in (data.get("drift") or {}).items():
            new = self.drift.get(name)
            keep = {k: old[k] for k in ("median_min", "median_max", "spread_sum", "count") if k in old}
            if len(keep) < 4:
                continue
            if new is None or len(new["median_min"]) != len(keep["median_min"]):
                self.drift[name] = keep
                continue
            new["median_min"] = [min(a, b) for a, b in zip(new["median_min"], keep["median_min"])]
            new["median_max"] = [max(a, b) for a, b in zip(new["median_max"], keep["median_max"])]
            new["spread_sum"] = [a + b for a, b in zip(new["spread_sum"], keep["spread_sum"])]
            new["count"] += keep["count"]
