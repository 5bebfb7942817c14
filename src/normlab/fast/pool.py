"""2x2/stride-2 pooling computed as strided slices on the CPU: drop-in ``nn.AvgPool2d(2)`` and ``nn.MaxPool2d(2)``.

aten's CPU pooling is a generic windowed loop; on LeNet-5's pool inputs the strided forms are
several times faster (benchmarks/bench_pool.py, benchmarks/RESULTS.md). Both classes subclass
the module they replace, with its settings, so :func:`normlab.fast.accelerate` can switch a
model's pools in place and ``isinstance`` checks still hold.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.autograd.function import once_differentiable

__all__ = ["AvgPool2x2", "MaxPool2x2", "is_2x2"]


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def is_2x2(pool: nn.Module) -> bool:
    """Whether ``pool`` is a 2x2, stride-2, unpadded ``nn.AvgPool2d`` or ``nn.MaxPool2d`` (floor mode)."""
    if isinstance(pool, nn.AvgPool2d):
        extra = pool.divisor_override is None
    elif isinstance(pool, nn.MaxPool2d):
        extra = _pair(pool.dilation) == (1, 1) and not pool.return_indices
    else:
        return False
    return (extra and _pair(pool.kernel_size) == (2, 2) and _pair(pool.stride) == (2, 2)
            and _pair(pool.padding) == (0, 0) and not pool.ceil_mode)


class _AvgPool2x2Function(torch.autograd.Function):
    """2x2/stride-2 average pooling as strided sums, with a hand-written backward.

    Autograd through the strided sums would be slower than aten: each slice's backward allocates
    and fills a full-size zero tensor.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        # Rows first: the first sum then reads contiguous rows, and the second sum touches half
        # as much memory as it would the other way round.
        rows = x[..., 0::2, :] + x[..., 1::2, :]
        return (rows[..., 0::2] + rows[..., 1::2]).mul_(0.25)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        *lead, h2, w2 = grad.shape
        # Each output gradient, scaled by 1/4, goes to the 2x2 window it came from: duplicate
        # along the width (two strided writes), then duplicate whole rows (two contiguous writes).
        pairs = grad.new_empty((*lead, h2, w2, 2))
        torch.mul(grad, 0.25, out=pairs[..., 0])
        pairs[..., 1] = pairs[..., 0]
        wide = pairs.view(*lead, h2, 1, 2 * w2)
        out = grad.new_empty((*lead, h2, 2, 2 * w2))
        out[..., 0:1, :] = wide
        out[..., 1:2, :] = wide
        return out.view(*lead, 2 * h2, 2 * w2)


def _fast_path(x: torch.Tensor) -> bool:
    # The strided forms were measured on CPU only; other devices keep the library kernel. Odd
    # sizes (floor mode drops the last row/column) and non-float dtypes go to the library too.
    return (x.device.type == "cpu" and x.is_floating_point() and x.dim() in (3, 4)
            and x.shape[-1] % 2 == 0 and x.shape[-2] % 2 == 0 and x.shape[-1] > 0 and x.shape[-2] > 0)


class AvgPool2x2(nn.AvgPool2d):
    """``nn.AvgPool2d(2)`` computed faster on CPU; no parameters.

    Equal to ``nn.AvgPool2d(2)`` up to float rounding (the four values are summed in another
    order; max difference ~1 ulp of the inputs' magnitude), gradients included. Inputs with an
    odd height or width, non-float inputs and non-CPU tensors use ``nn.AvgPool2d`` itself.
    """

    def __init__(self) -> None:
        super().__init__(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _fast_path(x):
            return _AvgPool2x2Function.apply(x)
        return super().forward(x)


class MaxPool2x2(nn.MaxPool2d):
    """``nn.MaxPool2d(2)``; in inference, computed faster on CPU. No parameters.

    Without autograd (eval, ``torch.no_grad``) the maximum of the four strided slices gives the
    same values as ``nn.MaxPool2d(2)`` exactly, NaNs included. With autograd it is
    ``nn.MaxPool2d``, whose backward routes each gradient to one position of the window (the
    first maximum); an elementwise-max backward would split it between ties, which are common
    after ReLU. (A hand-written first-maximum backward was tried and was no faster than aten's.)
    """

    def __init__(self) -> None:
        super().__init__(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _fast_path(x) and not (x.requires_grad and torch.is_grad_enabled()):
            rows = torch.maximum(x[..., 0::2, :], x[..., 1::2, :])
            return torch.maximum(rows[..., 0::2], rows[..., 1::2])
        return super().forward(x)
