"""Loss-landscape smoothness along the gradient, after Santurkar et al. (2018), section 3.1 and appendix A.2.

At a point ``w`` of training (the parameters before a scheduled step's update) and on that
step's batch, take the gradient ``g = ∇L(w)`` and walk along it: for each step size ``η`` of a
grid, evaluate ``L(w - ηg)`` and ``∇L(w - ηg)`` on the *same* batch. Recorded per scheduled step:

- ``loss_min``, ``loss_max``: the range of ``L(w - ηg)`` over the grid, the "loss landscape"
  band of the paper's figure 4(a): a narrow band means the loss changes little along the
  gradient, a smooth landscape;
- ``grad_diff_min``, ``grad_diff_max``: the range of ``‖∇L(w - ηg) - ∇L(w)‖₂``, the "gradient
  predictiveness" of figure 4(b): how far the gradient one step away differs from the current
  one (small: the gradient predicts its neighbourhood well);
- ``beta``: the "effective β-smoothness" of figure 4(c), ``max over η of
  ‖∇L(w - ηg) - ∇L(w)‖₂ / ‖ηg‖₂``, a local Lipschitz constant of the gradient;
- per grid point ``losses`` and ``grad_diffs``, the base ``loss`` and ``grad_norm`` ``‖g‖₂``, and
  ``lr``.

The grid: ``η = scale × lr`` for ``scales`` log-spaced from 0.5 to 4 (8 points by default, the
``[0.5, 4] × lr`` range the paper describes), with ``lr`` the optimizer's current learning rate.
The walk is along the raw gradient, as in the paper; an adaptive optimizer (Adam, the post's)
takes a differently shaped step, so the band describes the landscape around the point, not the
optimizer's own next step.

A measurement only. :func:`probe_smoothness` puts back, exactly, the parameters, every buffer
(batch norm's running statistics and ``num_batches_tracked`` included), the parameters'
``.grad``, each module's train/eval mode and the random number generators (torch's global CPU
generator, the CUDA generators, and any ``torch.Generator`` held by a module, such as a noisy
batch norm's). It never calls the optimizer, so its state is untouched. The model is probed in
the mode it is in (train mode: batch statistics, as training sees them). Each of the forward
passes starts from the same generator state, so a noisy batch norm draws the *same* noise at
every point of the grid: the walk sees one fixed landscape, not a fresh sample of noise.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from normlab.diagnostics.base import Measurement, Schedule, check_options
from normlab.errors import ConfigError

__all__ = ["DEFAULT_SCALES", "SmoothnessRecorder", "preserved_state", "probe_smoothness"]

#: Step sizes as multiples of the learning rate: 8 points log-spaced over [0.5, 4].
DEFAULT_SCALES = tuple(float(s) for s in np.geomspace(0.5, 4.0, 8))
DEFAULTS = {"every": 100, "scales": list(DEFAULT_SCALES)}


def _generators(model: nn.Module) -> list[torch.Generator]:
    gens = []
    for module in model.modules():
        for value in vars(module).values():
            if isinstance(value, torch.Generator) and all(value is not g for g in gens):
                gens.append(value)
    return gens


def _cuda_devices(model: nn.Module) -> list[torch.device]:
    return sorted({p.device for p in model.parameters() if p.device.type == "cuda"}, key=str)


@contextmanager
def preserved_state(model: nn.Module) -> Iterator[None]:
    """Run the body, then restore ``model`` and the random generators exactly as they were.

    Restored: parameter values (copied back in place, so optimizer references stay valid),
    buffers, each parameter's ``.grad`` (the same tensor object), each module's ``training``
    flag, torch's CPU generator, the CUDA generators of the model's devices and any
    ``torch.Generator`` a module holds as an attribute.
    """
    params = list(model.parameters())
    buffers = list(model.buffers())
    saved_params = [p.detach().clone() for p in params]
    saved_buffers = [b.detach().clone() for b in buffers]
    saved_grads = [p.grad for p in params]
    modes = [(m, m.training) for m in model.modules()]
    cpu_rng = torch.get_rng_state()
    cuda_rng = [(d, torch.cuda.get_rng_state(d)) for d in _cuda_devices(model)]
    gens = [(g, g.get_state()) for g in _generators(model)]
    try:
        yield
    finally:
        with torch.no_grad():
            for p, saved in zip(params, saved_params):
                p.copy_(saved)
            for b, saved in zip(buffers, saved_buffers):
                b.copy_(saved)
        for p, grad in zip(params, saved_grads):
            p.grad = grad
        for m, training in modes:
            m.training = training
        _restore_rng(cpu_rng, cuda_rng, gens)


def _restore_rng(cpu_rng, cuda_rng, gens) -> None:
    torch.set_rng_state(cpu_rng)
    for device, state in cuda_rng:
        torch.cuda.set_rng_state(state, device)
    for g, state in gens:
        g.set_state(state)


def _norm(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.sqrt(sum((t.double() ** 2).sum() for t in tensors))


def probe_smoothness(
    model: nn.Module,
    loss_fn: Callable,
    x: torch.Tensor,
    y: torch.Tensor,
    etas: Sequence[float],
) -> dict[str, Any]:
    """Walk along the gradient of ``loss_fn(model(x), y)`` with the step sizes ``etas``.

    Returns ``loss``, ``grad_norm``, ``etas``, per-η ``losses`` and ``grad_diffs``
    (``‖∇L(w - ηg) - ∇L(w)‖₂``), ``loss_min``/``loss_max``, ``grad_diff_min``/``grad_diff_max``
    and ``beta`` (``max ‖∇L(w - ηg) - ∇L(w)‖₂ / ‖ηg‖₂``), all Python floats. The model, its
    gradients, its modes and the random generators are restored exactly (see
    :func:`preserved_state`); the model is evaluated in its current mode.
    """
    etas = [float(e) for e in etas]
    if not etas or any(not (math.isfinite(e) and e > 0) for e in etas):
        raise ConfigError(f"step sizes must be positive numbers; got {etas!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("the model has no trainable parameters to probe")
    with preserved_state(model):
        cpu_rng = torch.get_rng_state()
        cuda_rng = [(d, torch.cuda.get_rng_state(d)) for d in _cuda_devices(model)]
        gens = [(g, g.get_state()) for g in _generators(model)]
        buffers = list(model.buffers())
        start_buffers = [b.detach().clone() for b in buffers]

        def loss_and_grad() -> tuple[torch.Tensor, list[torch.Tensor]]:
            # Same generator state and same running statistics before every evaluation: each
            # point of the walk sees the same noise and the same batch-norm state.
            _restore_rng(cpu_rng, cuda_rng, gens)
            with torch.no_grad():
                for b, saved in zip(buffers, start_buffers):
                    b.copy_(saved)
            with torch.enable_grad():
                loss = loss_fn(model(x), y)
                grads = torch.autograd.grad(loss, params, allow_unused=True)
            return loss.detach(), [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]

        loss0, g0 = loss_and_grad()
        start = [p.detach().clone() for p in params]
        grad_norm = _norm(g0)
        losses, diffs, ratios = [], [], []
        for eta in etas:
            with torch.no_grad():
                for p, p0, g in zip(params, start, g0):
                    p.copy_(p0.add(g, alpha=-eta))
            loss, grads = loss_and_grad()
            diff = _norm([a - b for a, b in zip(grads, g0)])
            losses.append(loss)
            diffs.append(diff)
            ratios.append(diff / (eta * grad_norm))
        # One host transfer for the whole walk.
        values = torch.stack([loss0.double(), grad_norm, *[l.double() for l in losses], *diffs, *ratios]).cpu().tolist()
    n = len(etas)
    loss_value, norm_value = values[0], values[1]
    losses_v, diffs_v, ratios_v = values[2:2 + n], values[2 + n:2 + 2 * n], values[2 + 2 * n:]
    finite_ratios = [r for r in ratios_v if math.isfinite(r)]
    return {
        "loss": loss_value,
        "grad_norm": norm_value,
        "etas": etas,
        "losses": losses_v,
        "grad_diffs": diffs_v,
        "loss_min": min(losses_v),
        "loss_max": max(losses_v),
        "grad_diff_min": min(diffs_v),
        "grad_diff_max": max(diffs_v),
        "beta": max(finite_ratios) if finite_ratios else math.nan,
    }


class SmoothnessRecorder(Measurement):
    """:func:`probe_smoothness` at the scheduled steps, before the step's update, on its batch.

    Settings: ``every`` (default 100) and ``scales`` (the step sizes as multiples of the
    optimizer's current learning rate; default 8 points log-spaced over [0.5, 4]).
    """

    name = "smoothness"
    phase = "probe"

    def __init__(self, schedule: Schedule, *, scales: Sequence[float] = DEFAULT_SCALES) -> None:
        super().__init__(schedule)
        try:
            self.scales = [float(s) for s in scales]
        except (TypeError, ValueError):
            raise ConfigError(f"diagnostics['smoothness']['scales'] must be a list of numbers; got {scales!r}") from None
        if not self.scales or any(not (math.isfinite(s) and s > 0) for s in self.scales):
            raise ConfigError(f"diagnostics['smoothness']['scales'] must be positive numbers; got {scales!r}")

    @classmethod
    def from_options(cls, options: Any) -> "SmoothnessRecorder":
        """Build from the ``diagnostics["smoothness"]`` settings of a config."""
        opts = check_options("smoothness", options, DEFAULTS)
        return cls(Schedule(opts["every"]), scales=opts["scales"])

    def settings(self) -> dict[str, Any]:
        return {"every": self.schedule.every, "scales": list(self.scales),
                "when": "before the step's update, on the step's batch, in the model's current mode"}

    def before_step(self, step: int, epoch: int, x: torch.Tensor, y: torch.Tensor) -> None:
        lr = float(self.optimizer.param_groups[0]["lr"])
        probe = probe_smoothness(self.model, self.loss_fn, x, y, [s * lr for s in self.scales])
        probe.pop("etas")
        self.records.append({"step": step, "epoch": epoch, "lr": lr, **probe})
