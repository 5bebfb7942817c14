"""LeNet-5 as the blog post draws it, with configurable normalisation, activation, pool and head.

The post's ``LeNet5`` and ``LeNet5_BatchNorm`` are ``LeNet5(norm="none", head="softmax")`` and
``LeNet5(norm="batch", head="softmax")``: same layers, same parameter names, same forward
computation, so their state dicts load with ``strict=True``. The options vary one thing at a
time around that baseline (see :class:`~normlab.models.spec.LeNetConfig`).

Layer layout for a 32x32 input (``input_size=28`` gives 24 -> 12 -> 8 -> 4)::

    conv1 (C->6, 5x5)   -> 28x28  -> [norm1] act1 [norm1] -> pool1 -> 14x14
    conv2 (6->16, 5x5)  -> 10x10  -> [norm2] act2 [norm2] -> pool2 -> 5x5
    flatten (16*5*5 = 400)
    linear1 (400->120)            -> [norm3] act3 [norm3]
    linear2 (120->84)             -> [norm4] act4 [norm4]
    linear3 (84->num_classes)     -> head (logits, or softmax as in the post)

A norm layer goes on one side of its activation (``norm_position``); ``norm3``/``norm4`` exist
only with ``norm_in="all"``.

Naming: with ``norm="batch"`` the norm layers are called ``batchnorm1``.. ``batchnorm4``, the
post's names, so its checkpoints load unchanged. Any other norm uses the neutral ``norm1``..
``norm4``: calling a group-norm layer "batchnorm" would mislead anyone reading a state dict, and
different names keep a batch-norm checkpoint from loading silently into a group-norm model whose
parameters happen to have the same shapes. With ``norm="none"`` there are no norm attributes at
all. The activations are modules (``act1``.. ``act4``) so forward hooks can observe the input
of every nonlinearity; they have no parameters and leave the state dict unchanged.

The layers are plain PyTorch (``nn.Conv2d``, ``nn.AvgPool2d``, ...). :func:`normlab.fast.accelerate`
swaps in CPU speed-ups that give the same results up to float rounding; training does so unless
the config says ``accelerate=False``.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from normlab.errors import ConfigError
from normlab.models.norm import create_norm_layer
from normlab.models.spec import LeNetConfig, model_config

__all__ = ["INITS", "LeNet5", "create_model", "init_weights_blog", "init_weights_d2l", "apply_blog_init",
           "apply_init"]


class LeNet5(nn.Module):
    """LeNet-5 as in the blog post, with configurable normalisation, activation, pool and head.

    Build it from a :class:`LeNetConfig`, from keyword options, or both (keywords override the
    config)::

        LeNet5()                                   # the post's LeNet5, logits head
        LeNet5(norm="batch", head="softmax")       # the post's LeNet5_BatchNorm, verbatim
        LeNet5(LeNetConfig(norm="group"), activation="relu")

    Weights use PyTorch's default initialisation; :func:`apply_init` applies the post's or d2l's.
    The input may be ``(N, C, S, S)``, ``(N, S, S)`` when ``C == 1``, or flat ``(N, C*S*S)``
    (the post reshapes with ``view(-1, 1, 32, 32)``); any other shape raises ConfigError rather
    than being silently reinterpreted as a different batch.
    """

    def __init__(self, config: Optional[LeNetConfig] = None, **options: Any):
        super().__init__()
        if config is None:
            config = LeNetConfig.from_options(options)
        elif not isinstance(config, LeNetConfig):
            raise ConfigError(f"config must be a LeNetConfig, got {type(config).__name__}")
        elif options:
            config = config.replace(**options)
        self.config = config
        c = config

        pool = nn.AvgPool2d if c.pool == "avg" else nn.MaxPool2d
        act = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}[c.activation]
        norm_widths: dict[int, tuple[int, str]] = {}
        if c.norm != "none":
            norm_widths = {1: (6, "2d"), 2: (16, "2d")}
            if c.norm_in == "all":
                norm_widths.update({3: (120, "1d"), 4: (84, "1d")})
        prefix = "batchnorm" if c.norm == "batch" else "norm"
        # Norm attribute names, one per activation (None: no norm there). forward looks them up
        # by name, so replacing a layer (model.batchnorm1 = ...) takes effect.
        names: list[Optional[str]] = [None] * 4

        def add_act_and_norm(i: int) -> None:
            # Registered in forward order so that print(model) reads like the computation.
            if c.norm_position == "after":
                setattr(self, f"act{i}", act())
            if i in norm_widths:
                names[i - 1] = f"{prefix}{i}"
                channels, kind = norm_widths[i]
                setattr(self, names[i - 1], create_norm_layer(c.norm, channels, kind=kind))
            if c.norm_position == "before":
                setattr(self, f"act{i}", act())

        # The layers with random initial weights are created in the post's order (conv1, conv2,
        # linear1, linear2, linear3), so a seed gives both models the same initial weights.
        self.conv1 = nn.Conv2d(c.in_channels, 6, 5, stride=1)
        add_act_and_norm(1)
        self.pool1 = pool(2)
        self.conv2 = nn.Conv2d(6, 16, 5, stride=1)
        add_act_and_norm(2)
        self.pool2 = pool(2)
        self.linear1 = nn.Linear(c.flatten_size, 120)
        add_act_and_norm(3)
        self.linear2 = nn.Linear(120, 84)
        add_act_and_norm(4)
        self.linear3 = nn.Linear(84, c.num_classes)
        self._norm_names: tuple[Optional[str], ...] = tuple(names)
        self._norm_first = c.norm_position == "before"
        self._softmax = c.head == "softmax"
        self._image_shape = (c.in_channels, c.input_size, c.input_size)

    def nonlinearities(self) -> dict[str, nn.Module]:
        """The activation modules ``act1``.. ``act4``, in forward order.

        Register forward hooks on them to observe the input (``inputs[0]``) and output of each
        nonlinearity; with ``norm_position="before"`` the input is the norm layer's output.
        """
        return {name: getattr(self, name) for name in ("act1", "act2", "act3", "act4")}

    def norm_layers(self) -> dict[str, nn.Module]:
        """The norm layers by attribute name, in forward order (empty with ``norm="none"``)."""
        return {name: getattr(self, name) for name in self._norm_names if name is not None}

    def extra_repr(self) -> str:
        c = self.config
        return (f"norm={c.norm!r}, norm_position={c.norm_position!r}, norm_in={c.norm_in!r}, "
                f"activation={c.activation!r}, pool={c.pool!r}, head={c.head!r}")

    def _as_images(self, x: torch.Tensor) -> torch.Tensor:
        shape = self._image_shape
        if x.dim() == 4 and tuple(x.shape[1:]) == shape:
            return x
        if x.dim() == 3 and shape[0] == 1 and tuple(x.shape[1:]) == shape[1:]:
            return x.unsqueeze(1)
        if x.dim() == 2 and x.shape[1] == shape[0] * shape[1] * shape[2]:
            return x.view(-1, *shape)
        c, s, _ = shape
        raise ConfigError(f"LeNet5 was built for input_size={s}, in_channels={c}: it takes (N, {c}, {s}, {s})"
                          + (f", (N, {s}, {s})" if c == 1 else "") + f" or (N, {c * s * s}), got {tuple(x.shape)}")

    def _activate(self, h: torch.Tensor, act: nn.Module, index: int) -> torch.Tensor:
        """``act`` and, on the configured side of it, the norm layer of stage ``index`` (0-based), if any."""
        name = self._norm_names[index]
        if name is None:
            return act(h)
        norm = getattr(self, name)
        if self._norm_first:
            return act(norm(h))
        return norm(act(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``(N, num_classes)``: logits, or probabilities with ``head="softmax"``."""
        h = self._as_images(x)
        h = self.pool1(self._activate(self.conv1(h), self.act1, 0))
        h = self.pool2(self._activate(self.conv2(h), self.act2, 1))
        h = self._activate(self.linear1(h.flatten(1)), self.act3, 2)
        h = self._activate(self.linear2(h), self.act4, 3)
        h = self.linear3(h)
        return F.softmax(h, dim=1) if self._softmax else h


def create_model(name_or_spec: str, **overrides: Any) -> LeNet5:
    """Build the model named by ``name_or_spec`` (a name or a spec with overrides; see :mod:`normlab.models.spec`).

    ``overrides`` are :class:`~normlab.models.spec.LeNetConfig` options and win over the spec's;
    for example ``create_model("lenet5-bn", head="softmax")`` is the post's ``LeNet5_BatchNorm``.
    Weights use PyTorch's default initialisation (see :func:`apply_init`).
    """
    return LeNet5(model_config(name_or_spec, **overrides))


def init_weights_blog(module: nn.Module) -> None:
    """The post's initialisation for one module (use with ``model.apply``).

    Every ``nn.Conv2d`` and ``nn.Linear`` gets Xavier-uniform weights and biases filled with
    0.01; every other module, norm layers included, keeps its own initialisation.
    """
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.constant_(module.bias, 0.01)


def apply_blog_init(model: nn.Module) -> nn.Module:
    """Apply :func:`init_weights_blog` to every submodule of ``model``; returns ``model``.

    Draws from torch's global generator: seed it (``torch.manual_seed``) for reproducibility.
    """
    model.apply(init_weights_blog)
    return model


def init_weights_d2l(module: nn.Module) -> None:
    """d2l's ``init_cnn`` for one module (use with ``model.apply``): Xavier-uniform weights for every
    ``nn.Conv2d`` and ``nn.Linear``; their biases keep PyTorch's default uniform initialisation."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)


#: The initialisations a run may ask for (``TrainConfig.init``), by name.
INITS = {"blog": init_weights_blog, "d2l": init_weights_d2l}


def apply_init(model: nn.Module, name: str) -> nn.Module:
    """Apply the initialisation ``name`` (a key of :data:`INITS`) to every submodule; returns ``model``.

    Draws from torch's global generator: seed it (``torch.manual_seed``) for reproducibility.
    """
    if name not in INITS:
        raise ConfigError(f"init {name!r} is not valid; choose one of: {', '.join(INITS)}")
    model.apply(INITS[name])
    return model
