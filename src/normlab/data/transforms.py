"""Batch transforms from raw uint8 pixels to float32 network inputs.

Every transform maps a uint8 batch of shape N x H x W (or N x 1 x H x W) to a float32 batch
N x 1 x H' x W' with values in [0, 1], on the device the input is on, in one vectorised call:

- ``resize32``: bilinear resize with antialiasing to 32 x 32, exactly
  ``F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)`` of
  ``x = raw.float().div(255)``, which is what torchvision's ``Resize((32, 32))`` does to a
  ``ToTensor()`` image (the blog post's preprocessing);
- ``pad32``: LeCun's original LeNet-5 input, the 28 x 28 image centred in a 32 x 32 field
  of zeros (2 pixels on every side);
- ``none``: the image as it is (28 x 28 for MNIST), scaled to [0, 1].

A float input is taken as already scaled to [0, 1] and only resized or padded.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from normlab.errors import ConfigError

__all__ = ["TRANSFORMS", "get_transform", "output_size", "to_unit_float"]

Transform = Callable[[torch.Tensor], torch.Tensor]

_SIZE = 32


def _as_nchw(raw: torch.Tensor) -> torch.Tensor:
    if not isinstance(raw, torch.Tensor):
        raise ConfigError(f"a transform needs a torch.Tensor, got {type(raw).__name__}")
    if raw.dim() == 3:
        return raw.unsqueeze(1)
    if raw.dim() == 4 and raw.shape[1] == 1:
        return raw
    raise ConfigError(f"a transform needs a batch of shape N x H x W or N x 1 x H x W, got {tuple(raw.shape)}")


def to_unit_float(raw: torch.Tensor) -> torch.Tensor:
    """Return ``raw`` as float32 N x 1 x H x W in [0, 1] (uint8 is divided by 255)."""
    x = _as_nchw(raw)
    if x.dtype == torch.uint8:
        # Division (not multiplication by 1/255) matches ToTensor() bit for bit.
        return x.to(torch.float32).div_(255)
    if not x.is_floating_point():
        raise ConfigError(f"a transform needs uint8 or floating-point pixels, got {x.dtype}")
    return x.to(torch.float32)


def _resize32(raw: torch.Tensor) -> torch.Tensor:
    return F.interpolate(to_unit_float(raw), size=(_SIZE, _SIZE), mode="bilinear", align_corners=False,
                         antialias=True)


def _pad_amounts(h: int, w: int) -> tuple[int, int, int, int]:
    if h > _SIZE or w > _SIZE:
        raise ConfigError(f"transform 'pad32' needs images of at most 32 x 32, got {h} x {w}")
    top, left = (_SIZE - h) // 2, (_SIZE - w) // 2
    return (left, _SIZE - w - left, top, _SIZE - h - top)


def _pad32(raw: torch.Tensor) -> torch.Tensor:
    x = _as_nchw(raw)
    pad = _pad_amounts(x.shape[-2], x.shape[-1])
    # Padding the uint8 batch first moves a quarter as many bytes; zero stays zero when scaled.
    return to_unit_float(F.pad(x, pad, mode="constant", value=0))


_TRANSFORMS: dict[str, Transform] = {"resize32": _resize32, "pad32": _pad32, "none": to_unit_float}

#: Names accepted by :func:`get_transform`.
TRANSFORMS: tuple[str, ...] = tuple(_TRANSFORMS)


def _check_name(name: str) -> str:
    if name not in _TRANSFORMS:
        raise ConfigError(f"unknown transform {name!r}; valid transforms: {', '.join(TRANSFORMS)}")
    return name


def get_transform(name: str) -> Transform:
    """Return the transform called ``name``; :class:`ConfigError` lists the valid names."""
    return _TRANSFORMS[_check_name(name)]


def output_size(name: str, input_hw: tuple[int, int]) -> tuple[int, int]:
    """The H' x W' that transform ``name`` produces from H x W images."""
    _check_name(name)
    h, w = (int(v) for v in input_hw)
    if name == "none":
        return (h, w)
    if name == "pad32":
        _pad_amounts(h, w)
    return (_SIZE, _SIZE)
