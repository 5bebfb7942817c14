"""``FastConv2d``: an ``nn.Conv2d`` computed by normlab's C kernels where they apply."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn

from normlab.fast.kernels import conv5x5, conv5x5_applies

__all__ = ["FastConv2d", "KERNEL_MAX_THREADS", "fits_kernels"]

#: The kernels run on one thread; beyond this many torch threads PyTorch's parallel convolution
#: was measured faster (benchmarks/RESULTS.md), so it runs instead.
KERNEL_MAX_THREADS = 2


def fits_kernels(conv: nn.Conv2d) -> bool:
    """Whether ``conv``'s settings are the kernels' (5x5, stride 1, no padding or dilation, one group, a bias)."""
    return (conv.kernel_size == (5, 5) and conv.stride == (1, 1) and conv.padding in ((0, 0), "valid")
            and conv.dilation == (1, 1) and conv.groups == 1 and conv.bias is not None)


class FastConv2d(nn.Conv2d):
    """``nn.Conv2d``, computed by :func:`normlab.fast.kernels.conv5x5` where it applies; same parameters.

    LeNet-5's convolutions (5x5, stride 1, no padding) on CPU float32 batches run through the
    kernels, with the same results up to float rounding. Anything else (other shapes, dtypes or
    devices, autocast, tracing or ``torch.compile``, no C compiler on the machine,
    ``NORMLAB_KERNELS=0``, more than :data:`KERNEL_MAX_THREADS` torch threads) uses
    ``nn.Conv2d``'s own forward. Module hooks see the same input and output either way.
    """

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
        if (fits_kernels(self) and torch.get_num_threads() <= KERNEL_MAX_THREADS
                and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling()
                and not torch.jit.is_tracing() and conv5x5_applies(input, weight, bias)):
            return conv5x5(input, weight, bias)
        return super()._conv_forward(input, weight, bias)
