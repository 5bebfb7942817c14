"""``accelerate(model)``: swap normlab's CPU speed-ups into a plain model, and say what was done."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from normlab.fast import kernels
from normlab.fast.conv import KERNEL_MAX_THREADS, FastConv2d, fits_kernels
from normlab.fast.eval_bn import eval_bn_after_pool
from normlab.fast.pool import AvgPool2x2, MaxPool2x2, is_2x2

__all__ = ["accelerate"]


def accelerate(model: nn.Module, *, enabled: bool = True) -> dict[str, Any]:
    """Swap the CPU speed-ups into ``model`` where they apply, in place; return a JSON-able record.

    ``nn.Conv2d`` layers with the C kernels' settings (5x5, stride 1, no padding) become
    :class:`~normlab.fast.conv.FastConv2d` where the kernels are built; 2x2/stride-2 pools become
    :class:`~normlab.fast.pool.AvgPool2x2` / ``MaxPool2x2``; a ``LeNet5`` applies eval-mode batch
    norm after its average pools where that is exact (:mod:`normlab.fast.eval_bn`). Each swap
    changes a module's class only, so parameters, buffers, hooks and state-dict keys stay; every
    layer falls back to PyTorch for inputs its fast form does not cover, and the results equal the
    plain model's up to float rounding. ``enabled=False`` changes nothing and records only that
    (like ``torch.autocast(enabled=...)``, so that a caller needs no branch). The record::

        {"accelerated": True, "kernels": "C kernels loaded from ~/.cache/normlab/kernels/...",
         "conv": ["conv1", "conv2"], "pool": ["pool1", "pool2"],
         "eval_bn_after_pool": ["batchnorm1", "batchnorm2"], "threads": 1, "torch": "2.13.0"}

    ``conv`` names the layers the kernels compute at this thread count, device and dtype
    (``kernels`` says why when none); ``threads`` and ``torch`` are recorded either way, since
    both change results in the last bits.
    """
    threads = torch.get_num_threads()
    record: dict[str, Any] = {"accelerated": bool(enabled)}
    if enabled:
        conv, pool = _swap_layers(model, kernels.load() is not None)
        on_cpu = all(p.device.type == "cpu" and p.dtype == torch.float32 for n in conv
                     for p in model.get_submodule(n).parameters())
        status = kernels.status()
        if conv and not on_cpu:
            status, conv = status + "; not used: the model is not on the CPU in float32", []
        elif conv and threads > KERNEL_MAX_THREADS:
            status, conv = status + f"; not used with {threads} torch threads (at most {KERNEL_MAX_THREADS})", []
        record.update(kernels=status, conv=conv, pool=pool, eval_bn_after_pool=eval_bn_after_pool(model))
    # str(): torch.__version__ is a TorchVersion, which a weights-only checkpoint load refuses.
    return {**record, "threads": threads, "torch": str(torch.__version__)}


def _swap_layers(model: nn.Module, with_kernels: bool) -> tuple[list[str], list[str]]:
    """Switch the convolutions and pools that fit to their fast classes; return their names."""
    conv, pool = [], []
    for name, module in model.named_modules():
        if with_kernels and type(module) in (nn.Conv2d, FastConv2d) and fits_kernels(module):
            module.__class__ = FastConv2d
            conv.append(name)
        elif type(module) in (nn.AvgPool2d, AvgPool2x2) and is_2x2(module):
            module.__class__ = AvgPool2x2
            pool.append(name)
        elif type(module) in (nn.MaxPool2d, MaxPool2x2) and is_2x2(module):
            module.__class__ = MaxPool2x2
            pool.append(name)
    return conv, pool
