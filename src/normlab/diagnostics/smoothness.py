"""Loss-landscape smoothness along the optimizer's step, after Santurkar et al. (2018), section 3.1 and appendix A.2.

At a point ``w`` of training (the parameters before a scheduled step's update) and on that
step's batch, take a direction ``d`` and walk along it: for each scale ``s`` of a grid, evaluate
``L(w + s·d)`` and ``∇L(w + s·d)`` on the *same* batch. The direction (``direction`` setting):

- ``"update"`` (the default): ``d = u``, the update the optimizer would make on this batch,
  ``u = w_next - w``, computed by running its step on a saved copy of its state (see
  :func:`optimizer_update`); scales log-spaced from 0.25 to 2 (7 points, powers of √2), so
  ``s = 1`` is the optimizer's own next step and the walk spans it. Under Adam the update is
  not a multiple of the gradient and is far longer than a few learning rates times it, so a
  walk along the raw gradient would probe a neighbourhood the optimizer never visits.
- ``"gradient"``: ``d = -g`` with ``g = ∇L(w)``, scales ``η = scale × lr`` for ``scale``
  log-spaced from 0.5 to 4 (8 points), the ``[0.5, 4] × lr`` range Santurkar et al. describe
  for SGD. With plain SGD (no momentum, no weight decay) ``u = -lr·g``: both walks coincide.

Recorded per scheduled step:

- ``loss_min``, ``loss_max``: the range of the loss over the walk, the "loss landscape" band
  of the paper's figure 4(a) (a narrow band: a smooth landscape);
- ``grad_diff_min``, ``grad_diff_max``: the range of ``‖∇L(w + s·d) - ∇L(w)‖₂``, the "gradient
  predictiveness" of figure 4(b);
- ``beta``: the "effective β-smoothness" of figure 4(c), ``max over s of
  ‖∇L(w + s·d) - ∇L(w)‖₂ / ‖s·d‖₂``, a local Lipschitz constant of the gradient;
- per grid point ``losses``, ``grad_diffs`` and ``distances`` (``‖s·d‖₂``); the base ``loss``
  and ``grad_norm`` ``‖g‖₂``; ``update_norm`` ``‖u‖₂`` (in either direction, so the walk's
  reach can be set against the optimizer's step); ``direction``; and ``lr``.

A measurement only. :func:`probe_smoothness` puts back, exactly, the parameters, every buffer
(batch norm's running statistics and ``num_batches_tracked`` included), the parameters'
``.grad``, each module's train/eval mode, the random number generators (torch's global CPU
generator, the CUDA generators, and any ``torch.Generator`` held by a module, such as a noisy
batch norm's) and the optimizer's state and settings (:func:`preserved_optimizer`: the same
tensor objects with the same values). The model is probed in the mode it is in (train mode:
batch statistics, as training sees them). Each forward pass starts from the same generator
state, so a noisy batch norm draws the *same* noise at every point of the walk: the walk sees
one fixed landscape, not a fresh sample of noise. Step hooks registered on the optimizer see
the probe's step too (normlab registers none).
"""

from __future__ import annotations

import copy
import math
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from normlab.diagnostics.base import Measurement, Schedule, check_options
from normlab.errors import ConfigError

__all__ = ["DEFAULT_SCALES", "DIRECTIONS", "SmoothnessRecorder", "optimizer_update", "preserved_optimizer",
           "preserved_state", "probe_smoothness"]

#: What the walk follows: the optimizer's update, or the raw (negative) gradient.
DIRECTIONS = ("update", "gradient")
#: The default scales by direction: multiples of the update (0.25 ... 2, powers of √2, 1 exactly
#: included), or of the learning rate (8 points log-spaced over [0.5, 4], Santurkar et al.'s range).
DEFAULT_SCALES = {"update": tuple(2.0 ** (k / 2) for k in range(-4, 3)),
                  "gradient": tuple(float(s) for s in np.geomspace(0.5, 4.0, 8))}
DEFAULTS = {"every": 100, "direction": "update", "scales": None}


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


@contextmanager
def preserved_optimizer(optimizer: torch.optim.Optimizer) -> Iterator[None]:
    """Run the body, then restore the optimizer's state and param groups exactly as they were.

    Each parameter's state keeps its tensor objects, with their values copied back in place;
    state the body created (an Adam state before its first step) is removed; every param-group
    setting (``lr``, ``betas``...) is put back.
    """
    state = {p: dict(s) for p, s in optimizer.state.items()}
    values = {p: {k: v.clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v) for k, v in s.items()}
              for p, s in state.items()}
    groups = [{k: v if k == "params" else copy.deepcopy(v) for k, v in g.items()} for g in optimizer.param_groups]
    try:
        yield
    finally:
        for p in [p for p in optimizer.state if p not in state]:
            del optimizer.state[p]
        with torch.no_grad():
            for p, saved in state.items():
                live = optimizer.state[p]
                live.clear()
                for k, v in saved.items():
                    if isinstance(v, torch.Tensor):
                        v.copy_(values[p][k])
                    live[k] = v if isinstance(v, torch.Tensor) else values[p][k]
        for g, saved in zip(optimizer.param_groups, groups):
            g.clear()
            g.update(saved)


def optimizer_update(optimizer: torch.optim.Optimizer, params: Sequence[torch.Tensor],
                     grads: Sequence[torch.Tensor | None]) -> list[torch.Tensor]:
    """``w_next - w`` for each of ``params``: the change ``optimizer.step()`` makes with gradients ``grads``.

    The step really runs (so any optimizer, fused or not, with momentum or weight decay, gives its
    own update), then the parameters, their ``.grad`` and the optimizer (:func:`preserved_optimizer`)
    are restored exactly. A ``None`` gradient leaves its parameter out of the step, as in training.
    """
    params = list(params)
    start = [p.detach().clone() for p in params]
    saved_grads = [p.grad for p in params]
    try:
        with preserved_optimizer(optimizer):
            for p, g in zip(params, grads):
                p.grad = None if g is None else g.clone()  # a step may work on .grad in place
            optimizer.step()
            return [p.detach() - w for p, w in zip(params, start)]
    finally:
        with torch.no_grad():
            for p, w, g in zip(params, start, saved_grads):
                p.copy_(w)
                p.grad = g


def probe_smoothness(
    model: nn.Module,
    loss_fn: Callable,
    x: torch.Tensor,
    y: torch.Tensor,
    scales: Sequence[float],
    *,
    optimizer: torch.optim.Optimizer | None = None,
    direction: str = "update",
) -> dict[str, Any]:
    """Walk from the current weights ``w`` along ``direction``, evaluating ``loss_fn(model(x), y)``.

    ``direction="update"``: the points are ``w + s·u`` for ``s`` in ``scales``, ``u`` the update
    ``optimizer`` would make on this batch (:func:`optimizer_update`; the optimizer is required).
    ``direction="gradient"``: the points are ``w - η·g`` for the step sizes ``η`` in ``scales``.

    Returns ``loss``, ``grad_norm``, ``update_norm`` (NaN without an optimizer), ``direction``,
    ``scales``, per-point ``losses``, ``grad_diffs`` (``‖∇L(w + s·d) - ∇L(w)‖₂``) and
    ``distances`` (``‖s·d‖₂``), ``loss_min``/``loss_max``, ``grad_diff_min``/``grad_diff_max``
    and ``beta`` (the largest ``grad_diff / distance``). The model, its gradients, its modes, the
    random generators and the optimizer are restored exactly (see :func:`preserved_state`).
    """
    scales = [float(s) for s in scales]
    if not scales or any(not (math.isfinite(s) and s > 0) for s in scales):
        raise ConfigError(f"the walk's scales must be positive numbers; got {scales!r}")
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction={direction!r} is not valid; choose one of: {', '.join(DIRECTIONS)}")
    if direction == "update" and optimizer is None:
        raise ConfigError("direction='update' walks along the optimizer's step: pass the optimizer, "
                          "or walk along the gradient with direction='gradient'")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("the model has no trainable parameters to probe")
    with preserved_state(model):
        cpu_rng = torch.get_rng_state()
        cuda_rng = [(d, torch.cuda.get_rng_state(d)) for d in _cuda_devices(model)]
        gens = [(g, g.get_state()) for g in _generators(model)]
        buffers = list(model.buffers())
        start_buffers = [b.detach().clone() for b in buffers]

        def loss_and_grad() -> tuple[torch.Tensor, list[torch.Tensor | None]]:
            # Same generator state and same running statistics before every evaluation: each
            # point of the walk sees the same noise and the same batch-norm state.
            _restore_rng(cpu_rng, cuda_rng, gens)
            with torch.no_grad():
                for b, saved in zip(buffers, start_buffers):
                    b.copy_(saved)
            with torch.enable_grad():
                loss = loss_fn(model(x), y)
                grads = torch.autograd.grad(loss, params, allow_unused=True)
            return loss.detach(), list(grads)

        def filled(grads: list[torch.Tensor | None]) -> list[torch.Tensor]:
            return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]

        loss0, raw = loss_and_grad()
        g0 = filled(raw)
        start = [p.detach().clone() for p in params]
        update = optimizer_update(optimizer, params, raw) if optimizer is not None else None
        d = update if direction == "update" else [-g for g in g0]
        d_norm = _norm(d)
        losses, diffs, distances = [], [], []
        for s in scales:
            with torch.no_grad():
                for p, p0, step in zip(params, start, d):
                    p.copy_(p0.add(step, alpha=s))
            loss, grads = loss_and_grad()
            losses.append(loss)
            diffs.append(_norm([a - b for a, b in zip(filled(grads), g0)]))
            distances.append(s * d_norm)
        update_norm = _norm(update) if update is not None else torch.tensor(math.nan, dtype=torch.float64)
        # One host transfer for the whole walk.
        values = torch.stack([loss0.double(), _norm(g0), update_norm.to(d_norm.device),
                              *[l.double() for l in losses], *diffs, *distances]).cpu().tolist()
    n = len(scales)
    losses_v, diffs_v, dist_v = values[3:3 + n], values[3 + n:3 + 2 * n], values[3 + 2 * n:]
    ratios = [diff / dist for diff, dist in zip(diffs_v, dist_v) if dist > 0 and math.isfinite(diff / dist)]
    return {
        "loss": values[0],
        "grad_norm": values[1],
        "update_norm": values[2],
        "direction": direction,
        "scales": scales,
        "losses": losses_v,
        "grad_diffs": diffs_v,
        "distances": dist_v,
        "loss_min": min(losses_v),
        "loss_max": max(losses_v),
        "grad_diff_min": min(diffs_v),
        "grad_diff_max": max(diffs_v),
        "beta": max(ratios) if ratios else math.nan,
    }


class SmoothnessRecorder(Measurement):
    """:func:`probe_smoothness` at the scheduled steps, before the step's update, on its batch.

    Settings: ``every`` (default 100), ``direction`` (``"update"``, the default: along the
    optimizer's next step; ``"gradient"``: along the raw gradient) and ``scales`` (multiples of
    the update, or of the optimizer's current learning rate for the gradient walk; default
    :data:`DEFAULT_SCALES` for the direction).
    """

    name = "smoothness"
    phase = "probe"

    def __init__(self, schedule: Schedule, *, direction: str = "update",
                 scales: Sequence[float] | None = None) -> None:
        super().__init__(schedule)
        if direction not in DIRECTIONS:
            raise ConfigError(f"diagnostics['smoothness']['direction']={direction!r} is not valid; choose 'update' "
                              "(along the optimizer's next step) or 'gradient' (along the raw gradient)")
        self.direction = direction
        try:
            self.scales = [float(s) for s in (DEFAULT_SCALES[direction] if scales is None else scales)]
        except (TypeError, ValueError):
            raise ConfigError(f"diagnostics['smoothness']['scales'] must be a list of numbers; got {scales!r}") from None
        if not self.scales or any(not (math.isfinite(s) and s > 0) for s in self.scales):
            raise ConfigError(f"diagnostics['smoothness']['scales'] must be positive numbers; got {scales!r}")

    @classmethod
    def from_options(cls, options: Any) -> "SmoothnessRecorder":
        """Build from the ``diagnostics["smoothness"]`` settings of a config."""
        opts = check_options("smoothness", options, DEFAULTS)
        return cls(Schedule(opts["every"]), direction=opts["direction"], scales=opts["scales"])

    def settings(self) -> dict[str, Any]:
        return {"every": self.schedule.every, "direction": self.direction, "scales": list(self.scales),
                "when": "before the step's update, on the step's batch, in the model's current mode"}

    def before_step(self, step: int, epoch: int, x: torch.Tensor, y: torch.Tensor) -> None:
        lr = float(self.optimizer.param_groups[0]["lr"])
        scales = self.scales if self.direction == "update" else [s * lr for s in self.scales]
        probe = probe_smoothness(self.model, self.loss_fn, x, y, scales, optimizer=self.optimizer,
                                 direction=self.direction)
        probe.pop("scales")
        self.records.append({"step": step, "epoch": epoch, "lr": lr, **probe})
