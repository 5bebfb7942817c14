"""The optimizer, with torch's fused Adam step where the device has one."""

from __future__ import annotations

import torch

from normlab.errors import ConfigError

__all__ = ["create_optimizer", "fused_adam_ok"]

_OPTIMIZERS = ("adam", "sgd")


def create_optimizer(name: str, params, *, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                     fused_adam: bool = True) -> torch.optim.Optimizer:
    """``torch.optim.Adam`` or ``SGD`` over ``params``; Adam is fused where the device has a fused kernel.

    The fused step is one kernel per parameter instead of about ten: the same update up to float
    rounding, and as deterministic (benchmarks/RESULTS.md has its speed). ``fused_adam=False``
    gives torch's default Adam. An unknown ``name`` raises :class:`~normlab.errors.ConfigError`.
    """
    params = list(params)
    if name == "adam":
        fused = fused_adam and fused_adam_ok(params)
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused or None)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ConfigError(f"unknown optimizer {name!r}; valid optimizers: {', '.join(_OPTIMIZERS)}")


def fused_adam_ok(params: list[torch.Tensor]) -> bool:
    """Whether torch has a fused Adam kernel for ``params``: floating point, all on one device that has one."""
    try:
        # Private, but it is what torch.optim itself checks; it knows which devices have fused
        # kernels in the installed version (the CPU one arrived in torch 2.4).
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices as fused_devices
    except ImportError:
        return False
    devices = {p.device for p in params}
    return (len(devices) == 1 and next(iter(devices)).type in fused_devices()
            and all(p.is_floating_point() for p in params))
