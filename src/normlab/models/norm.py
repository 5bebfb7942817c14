"""Norm-layer factory, in the style of ``timm.layers.create_norm_layer``.

A flat map associates each name with a *constructor*. Every constructor takes the channel count
first, then a keyword ``kind`` saying where the layer sits:

- ``kind="2d"``: after a convolution, input ``(N, C, H, W)``;
- ``kind="1d"``: after a fully-connected layer, input ``(N, C)``.

Resolving a name (:func:`get_norm_layer`) and building a layer (:func:`create_norm_layer`) are
separate steps, so a model can validate its configuration once and build many layers later.

Built-in names:

========== ================================================ =========================================
name       conv (``kind="2d"``)                             fully-connected (``kind="1d"``)
========== ================================================ =========================================
none       no layer (:func:`get_norm_layer` returns None)   no layer
batch      ``nn.BatchNorm2d(C)``                            ``nn.BatchNorm1d(C)``
group      :class:`GroupNorm` ``(C)``, groups by             same (``nn.GroupNorm`` accepts ``(N, C)``)
           :func:`default_num_groups`
layer      :class:`GroupNorm1` ``(C)``: statistics over      ``nn.LayerNorm(C)``
           ``(C, H, W)`` per sample, per-channel affine
instance   ``nn.InstanceNorm2d(C, affine=True)``            :class:`~normlab.errors.ConfigError`
========== ================================================ =========================================

``noisy-batch`` is batch norm followed by Santurkar et al.'s (2018, Algorithm 1) random scale and
shift noise in training mode (:mod:`normlab.models.noisy_bn`). Instance norm would zero a
fully-connected layer's output, so the factory refuses it there
(:data:`~normlab.models.spec.INSTANCE_NORM_FC` says why).

Add a name with :func:`register_norm_layer`::

    def slow_batch_norm(num_channels, *, kind="2d", **kwargs):
        return create_norm_layer("batch", num_channels, kind=kind, momentum=0.01, **kwargs)
    register_norm_layer("slow-batch", slow_batch_norm)

The names alone (for validation, help texts) are in :mod:`normlab.models.spec`, without torch.
"""

from __future__ import annotations

from typing import Callable, Optional, Union

import torch.nn as nn

from normlab.errors import ConfigError
from normlab.models.noisy_bn import noisy_batch_norm
from normlab.models.spec import INSTANCE_NORM_FC, add_norm_name, is_norm_layer, list_norm_layers

__all__ = ["NormConstructor", "GroupNorm", "GroupNorm1", "KINDS", "default_num_groups", "get_norm_layer",
           "create_norm_layer", "register_norm_layer", "list_norm_layers", "is_norm_layer"]

#: A norm-layer constructor: ``ctor(num_channels, *, kind="2d", **kwargs) -> nn.Module``.
NormConstructor = Callable[..., nn.Module]

#: Where a norm layer sits: after a convolution ("2d") or after a fully-connected layer ("1d").
KINDS = ("2d", "1d")

# The preferred group counts, largest first. Eight groups is the smallest count Wu & He (2018,
# table 3) found within a fraction of a percent of their 32-group default; LeNet's layers are too
# narrow (6, 16 channels) for 32 groups.
_GROUP_CANDIDATES = (8, 4, 2, 1)


def default_num_groups(num_channels: int) -> int:
    """The number of groups :class:`GroupNorm` uses when none is given.

    Rule: the largest of 8, 4, 2, 1 that divides ``num_channels`` and leaves at least two
    channels in each group (one channel per group would be instance norm, not group norm).
    A single channel gets one group.

    >>> [default_num_groups(c) for c in (6, 16, 120, 84, 1, 2, 3)]
    [2, 8, 8, 4, 1, 1, 1]
    """
    _check_channels(num_channels)
    for groups in _GROUP_CANDIDATES:
        if num_channels % groups == 0 and num_channels // groups >= 2:
            return groups
    return 1


class GroupNorm(nn.GroupNorm):
    """``nn.GroupNorm`` with the channel count first and a default group count.

    ``nn.GroupNorm`` takes ``(num_groups, num_channels)``; every factory layer takes the channel
    count first, so models can build any norm the same way. ``num_groups=None`` uses
    :func:`default_num_groups`. The parameters (``weight``, ``bias``) are those of
    ``nn.GroupNorm``, so state dicts are interchangeable.
    """

    def __init__(self, num_channels: int, num_groups: Optional[int] = None, eps: float = 1e-5, affine: bool = True,
                 **kwargs):
        if num_groups is None:
            num_groups = default_num_groups(num_channels)
        if not isinstance(num_groups, int) or num_groups < 1 or num_channels % num_groups != 0:
            raise ConfigError(f"num_groups={num_groups!r} must be a positive integer dividing "
                              f"num_channels={num_channels}")
        super().__init__(num_groups, num_channels, eps=eps, affine=affine, **kwargs)


class GroupNorm1(nn.GroupNorm):
    """Layer norm for convolutional features: ``nn.GroupNorm`` with one group.

    Each sample is normalised over all of ``(C, H, W)``, as Ba et al. (2016) define layer
    normalisation, and the affine transform is per channel (``weight``/``bias`` of shape ``(C,)``),
    as in ``timm.layers.GroupNorm1``. ``nn.LayerNorm([C, H, W])`` would normalise the same way but
    tie the layer to one spatial size and learn one scale per position.
    """

    def __init__(self, num_channels: int, eps: float = 1e-5, affine: bool = True, **kwargs):
        super().__init__(1, num_channels, eps=eps, affine=affine, **kwargs)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"kind={kind!r} is not valid; choose one of: {', '.join(KINDS)}")


def _check_channels(num_channels: int) -> None:
    if not isinstance(num_channels, int) or isinstance(num_channels, bool) or num_channels < 1:
        raise ConfigError(f"num_channels must be a positive integer, got {num_channels!r}")


def _batch_norm(num_channels: int, *, kind: str = "2d", **kwargs) -> nn.Module:
    _check_kind(kind)
    cls = nn.BatchNorm2d if kind == "2d" else nn.BatchNorm1d
    return cls(num_channels, **kwargs)


def _group_norm(num_channels: int, *, kind: str = "2d", **kwargs) -> nn.Module:
    # nn.GroupNorm accepts (N, C) as well as (N, C, H, W), so one class serves both kinds.
    _check_kind(kind)
    return GroupNorm(num_channels, **kwargs)


def _layer_norm(num_channels: int, *, kind: str = "2d", **kwargs) -> nn.Module:
    _check_kind(kind)
    if kind == "2d":
        return GroupNorm1(num_channels, **kwargs)
    return nn.LayerNorm(num_channels, **kwargs)


def _instance_norm(num_channels: int, *, kind: str = "2d", **kwargs) -> nn.Module:
    _check_kind(kind)
    if kind == "1d":
        raise ConfigError(INSTANCE_NORM_FC)
    kwargs.setdefault("affine", True)
    return nn.InstanceNorm2d(num_channels, **kwargs)


# The flat map. ``None`` marks "no normalisation": get_norm_layer returns it as is, so callers can
# write ``if layer is None`` instead of comparing names.
_NORM_LAYERS: dict[str, Optional[NormConstructor]] = {"none": None, "batch": _batch_norm, "group": _group_norm,
                                                      "layer": _layer_norm, "instance": _instance_norm,
                                                      "noisy-batch": noisy_batch_norm}


def _canonical(name: str) -> str:
    return name.strip().lower()


def register_norm_layer(name: str, constructor: NormConstructor, *, overwrite: bool = False) -> None:
    """Register ``constructor`` under ``name``.

    ``constructor(num_channels, *, kind="2d", **kwargs)`` must return an ``nn.Module`` for
    ``kind="2d"`` (input ``(N, C, H, W)``) and ``kind="1d"`` (input ``(N, C)``), or raise
    :class:`~normlab.errors.ConfigError` for a kind it does not support: it is called once here
    with ``kind="1d"`` to find out, so that a model config combining the norm with
    ``norm_in="all"`` fails when it is made. Names are case-insensitive. Registering an existing
    name raises ``ConfigError`` unless ``overwrite``.
    """
    if not isinstance(name, str) or not _canonical(name):
        raise ConfigError(f"a norm name must be a non-empty string, got {name!r}")
    if not callable(constructor):
        raise ConfigError(f"the constructor for norm {name!r} must be callable, got {constructor!r}")
    key = _canonical(name)
    if key in _NORM_LAYERS and not overwrite:
        raise ConfigError(f"norm {key!r} is already registered; pass overwrite=True to replace it")
    try:
        constructor(2, kind="1d")
        no_fc_form = ""
    except ConfigError as exc:
        no_fc_form = str(exc)
    _NORM_LAYERS[key] = constructor
    add_norm_name(key, no_fc_form)


def get_norm_layer(name: Union[str, NormConstructor, None]) -> Optional[NormConstructor]:
    """Resolve ``name`` to its constructor, or to ``None`` for ``"none"``.

    A callable is returned unchanged (so a caller may pass its own constructor), and ``None``
    stays ``None``. An unknown name raises :class:`~normlab.errors.ConfigError` listing the
    valid names.
    """
    if name is None:
        return None
    if callable(name):
        return name
    if not isinstance(name, str):
        raise ConfigError(f"norm must be a name or a callable, got {type(name).__name__} {name!r}; "
                          f"valid names: {', '.join(list_norm_layers())}")
    key = _canonical(name)
    if key not in _NORM_LAYERS:
        raise ConfigError(f"unknown norm {name!r}; valid names: {', '.join(list_norm_layers())}")
    return _NORM_LAYERS[key]


def create_norm_layer(name: Union[str, NormConstructor, None], num_channels: int, *, kind: str = "2d",
                      **kwargs) -> nn.Module:
    """Build the norm layer ``name`` for ``num_channels`` channels.

    ``kind`` is ``"2d"`` after a convolution or ``"1d"`` after a fully-connected layer; extra
    keyword arguments (``eps``, ``momentum``, ``affine``, ``num_groups``...) go to the layer.
    ``"none"`` gives ``nn.Identity()`` so the result is always a module; models that must not
    gain a submodule should call :func:`get_norm_layer` first and skip ``None``.
    """
    _check_kind(kind)
    _check_channels(num_channels)
    constructor = get_norm_layer(name)
    if constructor is None:
        return nn.Identity()
    return constructor(num_channels, kind=kind, **kwargs)
