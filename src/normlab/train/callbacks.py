"""The hooks of the training loop, a leaf module: whatever observes training imports it from here.

Diagnostics, TensorBoard, the CLI's epoch lines and the engines' progress reports are all
callbacks; none of them needs the loop, and the loop needs none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import torch
    from torch import nn

    from normlab.train.record import RunRecord


class Callback:
    """Hooks into the loop. Subclass and override what you need; the defaults do nothing.

    ``on_step_end`` runs after every optimizer step: keep it cheap, or let it act on its own
    schedule (every N steps).

    ``diagnostics`` is the ``TrainConfig.diagnostics`` dict whose measurements this callback
    records (``normlab.diagnostics.build_diagnostics`` sets it). :func:`normlab.train.train` does
    not build measurements itself, so it refuses a config that asks for some unless one of its
    callbacks records exactly those.
    """

    diagnostics: dict[str, Any] | None = None

    def on_train_start(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable) -> None:
        """Called once before the first epoch (also on resume)."""

    def on_step_start(self, step: int, epoch: int, x: torch.Tensor, y: torch.Tensor) -> None:
        """Called before each step's forward pass, with the step's batch (``step`` as in ``on_step_end``)."""

    def on_step_end(self, step: int, epoch: int, x: torch.Tensor, y: torch.Tensor, loss: torch.Tensor) -> None:
        """Called after each optimizer step; ``step`` counts from 0 over the whole run."""

    def on_epoch_end(self, epoch: int, result: RunRecord) -> None:
        """Called after each epoch's metrics are in ``result`` (``epoch`` is 1-based)."""

    def on_train_end(self, result: RunRecord) -> None:
        """Called once when the run ends, whether done or diverged."""
