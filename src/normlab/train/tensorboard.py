"""TensorBoard logging, an optional extra: ``pip install 'normlab[tensorboard]'``.

Tags follow TensorBoard's hierarchy: ``loss/train`` and ``loss/val`` (per batch, step = global
batch index of that split), ``loss_epoch/train``, ``loss_epoch/val``, ``accuracy/train`` and
``accuracy/val`` (per epoch, step = epoch).
"""

from __future__ import annotations

from normlab.errors import require_extra
from normlab.train.callbacks import Callback


def check_tensorboard() -> None:
    """Raise :class:`normlab.errors.MissingExtraError` naming the extra when TensorBoard is missing."""
    require_extra("tensorboard", "tensorboard", "--tensorboard")
    require_extra("torch.utils.tensorboard", "tensorboard", "--tensorboard")


class TensorBoardCallback(Callback):
    """Write one run's metrics as TensorBoard event files into ``log_dir``."""

    def __init__(self, log_dir: str):
        check_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=log_dir)
        self._train_logged = 0
        self._val_logged = 0

    def on_epoch_end(self, epoch, result):
        # Per-batch losses are written from the result once per epoch: no host sync per step.
        if self._train_logged == 0 and epoch > 1:
            # A resumed run: earlier epochs were logged before the stop.
            per_epoch_train = len(result.train_loss_per_batch) // epoch
            per_epoch_val = len(result.val_loss_per_batch) // epoch
            self._train_logged = per_epoch_train * (epoch - 1)
            self._val_logged = per_epoch_val * (epoch - 1)
        for i in range(self._train_logged, len(result.train_loss_per_batch)):
            self.writer.add_scalar("loss/train", result.train_loss_per_batch[i], i + 1)
        for i in range(self._val_logged, len(result.val_loss_per_batch)):
            self.writer.add_scalar("loss/val", result.val_loss_per_batch[i], i + 1)
        self._train_logged = len(result.train_loss_per_batch)
        self._val_logged = len(result.val_loss_per_batch)
        e = epoch - 1
        self.writer.add_scalar("loss_epoch/train", result.train_loss[e], epoch)
        self.writer.add_scalar("loss_epoch/val", result.val_loss[e], epoch)
        self.writer.add_scalar("accuracy/train", result.train_accuracy[e], epoch)
        self.writer.add_scalar("accuracy/val", result.val_accuracy[e], epoch)
        self.writer.add_scalar("perf/images_per_second", result.images_per_second[e], epoch)
        self.writer.flush()

    def on_train_end(self, result):
        self.writer.close()
