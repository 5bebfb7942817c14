"""Eval-mode batch norm applied after the average pool, where that gives the same numbers.

A batch norm that normalises with its running statistics (eval mode, and every epoch after the
first under the post's mode bug) is a per-channel affine map, which commutes with average
pooling: ``pool(bn(act(h)))`` equals ``bn(pool(act(h)))`` up to float rounding, and the second
form normalises a quarter as many values. :func:`eval_bn_after_pool` makes a
:class:`~normlab.models.LeNet5` compute its conv stages so, in place, whenever at call time

- the norm after the activation is exactly ``nn.BatchNorm2d``, in eval mode, with running
  statistics, and the pool is :class:`~normlab.fast.pool.AvgPool2x2`;
- no hook observes the norm or the pool layer, and no global module hook is registered, so what
  a hook sees never changes (hooks on ``act1``.. ``act4`` see the same input either way).

Otherwise, in training mode for instance, the model computes the layers in their literal order.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules import module as _nn_module

from normlab.fast.pool import AvgPool2x2
from normlab.models.lenet import LeNet5

__all__ = ["LeNet5EvalBNAfterPool", "eval_bn_after_pool"]


def _no_hooks(*modules: nn.Module) -> bool:
    """True when neither these modules nor nn.Module globally have hooks that the reordering could mislead."""
    # torch has no public way to ask whether global module hooks are registered: these registries
    # are what nn.Module.__call__ itself consults.
    if (_nn_module._global_forward_hooks or _nn_module._global_forward_pre_hooks
            or _nn_module._global_backward_hooks or _nn_module._global_backward_pre_hooks):
        return False
    return not any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks
                   for m in modules)


def _uses_running_stats(norm: nn.Module) -> bool:
    """An ``nn.BatchNorm2d`` that normalises with its running statistics: a per-channel affine map."""
    return (type(norm) is nn.BatchNorm2d and not norm.training and norm.track_running_stats
            and norm.running_mean is not None)


class LeNet5EvalBNAfterPool(LeNet5):
    """:class:`~normlab.models.LeNet5` with its conv stages' eval-mode batch norm after the pool (module docs).

    Same parameters, buffers, state-dict keys and submodules; only ``forward`` differs, and only
    where the result is the same up to float rounding.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``LeNet5.forward``, with the two conv stages from :meth:`_conv_stage`."""
        h = self._as_images(x)
        h = self._conv_stage(self.conv1(h), self.act1, 0, self.pool1)
        h = self._conv_stage(self.conv2(h), self.act2, 1, self.pool2)
        h = self._activate(self.linear1(h.flatten(1)), self.act3, 2)
        h = self._activate(self.linear2(h), self.act4, 3)
        h = self.linear3(h)
        return F.softmax(h, dim=1) if self._softmax else h

    def _conv_stage(self, h: torch.Tensor, act: nn.Module, index: int, pool: nn.Module) -> torch.Tensor:
        name = self._norm_names[index]
        if name is not None and not self._norm_first and type(pool) is AvgPool2x2:
            norm = getattr(self, name)
            if _uses_running_stats(norm) and _no_hooks(norm, pool):
                return norm(pool(act(h)))
        return pool(self._activate(h, act, index))


def eval_bn_after_pool(model: nn.Module) -> list[str]:
    """Make a ``LeNet5`` apply eval-mode batch norm after its average pools (module docs); in place.

    Returns the norm layers concerned (``["batchnorm1", "batchnorm2"]`` for lenet5-bn), or ``[]``
    where none is: another model class, no batch norm after the activation in a conv stage, or
    pools that are not :class:`~normlab.fast.pool.AvgPool2x2` (call
    :func:`normlab.fast.accelerate`, which swaps the pools in first).
    """
    if type(model) not in (LeNet5, LeNet5EvalBNAfterPool) or model._norm_first:
        return []
    names = [name for name, pool in zip(model._norm_names[:2], (model.pool1, model.pool2))
             if name is not None and type(getattr(model, name)) is nn.BatchNorm2d and type(pool) is AvgPool2x2]
    if names:
        model.__class__ = LeNet5EvalBNAfterPool  # as torch.nn.utils.parametrize does: same object, new forward
    return names
