"""The post's own API, so its readers' code runs unchanged after the imports.

The post's code::

    model = ConvolutionalNeuralNet(LeNet5())
    log_dict = model.train(nn.CrossEntropyLoss(), epochs=10, batch_size=64,
                           training_set=training_set, validation_set=validation_set)

``ConvolutionalNeuralNet`` keeps that interface and the post's behaviour (``blog`` protocol:
Xavier initialisation, Adam at 1e-3, no shuffling, full-training-set accuracy after each epoch,
and the eval-mode bug) on top of normlab's fast loop. Datasets may be normlab datasets or any
torch ``Dataset`` yielding ``(image, label)``.
"""

from __future__ import annotations

import torch
from torch import nn

from normlab.errors import DivergenceError
from normlab.fast.apply import accelerate
from normlab.fast.optim import create_optimizer
from normlab.train.config import PROTOCOLS
from normlab.train.loop import fit, per_sample_loss, resolve_device
from normlab.train.record import RunRecord


class ConvolutionalNeuralNet:
    """The post's training wrapper: ``train(...)`` returns its log dict, ``predict(x)`` the outputs."""

    def __init__(self, network: nn.Module, *, device: str = "auto", progress: bool | None = None):
        self.device = resolve_device(device)
        self.network = network.to(self.device)
        # normlab's CPU fast path, as train() applies it (same numbers up to float rounding).
        self.environment = accelerate(self.network)
        self.optimizer = create_optimizer("adam", self.network.parameters(), lr=1e-3)
        self.progress = progress
        self.result: RunRecord | None = None

    def train(self, loss_function, epochs: int, batch_size: int, training_set, validation_set) -> dict:
        """Train as the post does and return its log dict.

        Keys: ``training_loss_per_batch`` (loss of every training batch),
        ``validation_loss_per_batch`` (loss of every validation batch, each epoch),
        ``training_accuracy_per_epoch`` and ``validation_accuracy_per_epoch`` (fractions rounded
        to 3 decimals, measured after each epoch in eval mode over the whole set).
        """
        from normlab.data import BatchLoader
        from normlab.models import apply_blog_init

        apply_blog_init(self.network)
        eval_batch = max(batch_size, 256)
        train_loader = BatchLoader(training_set, batch_size, device=self.device, cache=True)
        # Validation losses are logged per batch of batch_size, as in the post; with a loss that
        # has a per-sample form they come from faster, larger forward batches.
        per_sample = per_sample_loss(loss_function) is not None
        val_loader = BatchLoader(validation_set, eval_batch if per_sample else batch_size, device=self.device,
                                 cache=True)
        train_eval = BatchLoader(training_set, eval_batch, device=self.device, cache=True)
        self.result = fit(self.network, self.optimizer, loss_function, train_loader, val_loader, epochs=epochs,
                          protocol=PROTOCOLS["blog"], result=RunRecord(config={}), train_eval_loader=train_eval,
                          val_loss_batch_size=batch_size if per_sample else None, progress=self.progress)
        if self.result.status == "diverged":
            raise DivergenceError(self.result.message, epoch=self.result.diverged_epoch,
                                  batch=self.result.diverged_batch)
        return self.result.log_dict()

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Return the network's output for ``x`` (probabilities for the post's softmax head)."""
        return self.network(x.to(self.device))
