"""Gradient norms per parameter tensor.

At a scheduled step, after the optimizer step, each parameter's ``.grad`` still holds the
gradient of that step's loss (the loop clears it at the start of the next step), so reading it
costs no extra forward or backward pass. Recorded per scheduled step:

- ``grad``: ``‖∂L/∂θ‖₂`` for every parameter tensor ``θ`` by its name (``conv1.weight``, ...),
  the gradient the step used, at the weights before its update;
- ``total``: the norm of the whole gradient, ``sqrt(Σ ‖∂L/∂θ‖₂²)``;
- ``weight``: ``‖θ‖₂`` after the update, so the ratio of step to weight size can be read off.

A parameter without a gradient (frozen, or unused by the forward) is left out.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from normlab.diagnostics.base import Measurement, Schedule, check_options

__all__ = ["GradNormRecorder", "gradient_norms", "parameter_norms"]

DEFAULTS = {"every": 100}


def _norms(named: list[tuple[str, torch.Tensor]]) -> dict[str, float]:
    if not named:
        return {}
    # One stacked transfer to the host instead of one sync per tensor.
    values = torch.stack([torch.linalg.vector_norm(t.detach().double()) for _, t in named]).cpu().tolist()
    return {name: float(v) for (name, _), v in zip(named, values)}


def gradient_norms(model: nn.Module) -> dict[str, float]:
    """``‖p.grad‖₂`` of every named parameter that has a gradient."""
    return _norms([(n, p.grad) for n, p in model.named_parameters() if p.grad is not None])


def parameter_norms(model: nn.Module) -> dict[str, float]:
    """``‖p‖₂`` of every named parameter."""
    return _norms(list(model.named_parameters()))


class GradNormRecorder(Measurement):
    """Per-parameter gradient norms (and weight norms) at the scheduled steps. Setting: ``every`` (default 100)."""

    name = "grad_norms"
    phase = "probe"

    @classmethod
    def from_options(cls, options: Any) -> "GradNormRecorder":
        """Build from the ``diagnostics["grad_norms"]`` settings of a config."""
        opts = check_options("grad_norms", options, DEFAULTS)
        return cls(Schedule(opts["every"]))

    def settings(self) -> dict[str, Any]:
        return {"every": self.schedule.every,
                "when": "after the step's update: the step's gradient, the updated weights"}

    def after_step(self, step: int, epoch: int, x, y, loss) -> None:
        grads = gradient_norms(self.model)
        total = sum(v * v for v in grads.values()) ** 0.5 if grads else float("nan")
        self.records.append({"step": step, "epoch": epoch, "total": total, "grad": grads,
                             "weight": parameter_norms(self.model)})
