"""A configurable LeNet-5, faithful by default to the blog post's two networks.

The post's ``LeNet5`` and ``LeNet5_BatchNorm`` are ``LeNet5(norm="none", head="softmax")`` and
``LeNet5(norm="batch", head="softmax")``: same layers, same parameter names, same forward
computation, so their state dicts load with ``strict=True``. The options vary one thing at a
time around that baseline (see :class:`LeNetConfig`).

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
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable
from torch.nn.modules import module as _nn_module

from normlab.errors import ConfigError
from normlab.kernels import conv5x5, conv5x5_applies
from normlab.models.norm import create_norm_layer, list_norm_layers

__all__ = [
    "AvgPool2x2",
    "MaxPool2x2",
    "FastConv2d",
    "LeNetConfig",
    "LeNet5",
    "NORM_POSITIONS",
    "NORM_IN",
    "ACTIVATIONS",
    "POOLS",
    "HEADS",
    "init_weights_blog",
    "apply_blog_init",
]

NORM_POSITIONS = ("after", "before")
NORM_IN = ("conv", "all")
ACTIVATIONS = ("tanh", "relu")
POOLS = ("avg", "max")
HEADS = ("logits", "softmax")

# The smallest input for which two (5x5 conv, 2x2 pool) stages leave at least one pixel.
_MIN_INPUT_SIZE = 16


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------


class _AvgPool2x2Function(torch.autograd.Function):
    """2x2/stride-2 average pooling as strided sums, with a hand-written backward.

    On one CPU thread, on LeNet-5's pool inputs, ``aten::avg_pool2d`` takes 3-4x as long as the
    strided sums, and forward + backward 2-3x as long as this function (benchmarks/bench_pool.py).
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
    # The strided kernels were measured on CPU only, where aten's pooling is a generic windowed
    # loop; other devices keep the library kernel. Odd sizes (floor mode drops the last
    # row/column) and non-float dtypes go to the library too.
    return (
        x.device.type == "cpu"
        and x.is_floating_point()
        and x.dim() in (3, 4)
        and x.shape[-1] % 2 == 0
        and x.shape[-2] % 2 == 0
        and x.shape[-1] > 0
        and x.shape[-2] > 0
    )


class AvgPool2x2(nn.Module):
    """``nn.AvgPool2d(2)`` computed faster on CPU; no parameters.

    Equal to ``nn.AvgPool2d(2)`` up to float rounding (the four values are summed in another
    order; max difference ~1 ulp of the inputs' magnitude), gradients included. Inputs with an
    odd height or width, non-float inputs and non-CPU tensors use ``F.avg_pool2d`` itself.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _fast_path(x):
            return _AvgPool2x2Function.apply(x)
        return F.avg_pool2d(x, 2)


def _no_hooks(*modules: nn.Module) -> bool:
    """True when neither these modules nor nn.Module globally have hooks that a rewrite could mislead."""
    if (_nn_module._global_forward_hooks or _nn_module._global_forward_pre_hooks
            or _nn_module._global_backward_hooks or _nn_module._global_backward_pre_hooks):
        return False
    return not any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks
                   for m in modules)


def _uses_running_stats(norm: nn.Module) -> bool:
    """An ``nn.BatchNorm2d`` that normalises with its running statistics: a per-channel affine map."""
    return (type(norm) is nn.BatchNorm2d and not norm.training and norm.track_running_stats
            and norm.running_mean is not None)


class MaxPool2x2(nn.Module):
    """``nn.MaxPool2d(2)``; in inference, computed faster on CPU. No parameters.

    Without autograd (eval, ``torch.no_grad``) the maximum of the four strided slices gives the
    same values as ``nn.MaxPool2d(2)`` exactly, NaNs included, several times faster on one CPU
    thread. With autograd it calls ``F.max_pool2d``, whose backward routes each gradient to one
    position of the window (the first maximum); an elementwise-max backward would split it
    between ties, which are common after ReLU. (A hand-written first-maximum backward was tried
    and was no faster than aten's at batch 64.)
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _fast_path(x) and not (x.requires_grad and torch.is_grad_enabled()):
            rows = torch.maximum(x[..., 0::2, :], x[..., 1::2, :])
            return torch.maximum(rows[..., 0::2], rows[..., 1::2])
        return F.max_pool2d(x, 2)


# --------------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------------


_KERNEL_MAX_THREADS = 2


class FastConv2d(nn.Conv2d):
    """``nn.Conv2d``, computed by normlab's C kernels where they apply; same parameters.

    LeNet-5's convolutions (5x5, stride 1, no padding) on CPU float32 batches run through
    :func:`normlab.kernels.conv5x5`: on one CPU thread, at LeNet-5's sizes, about 2.5x as fast
    as PyTorch's oneDNN convolution for ``conv1`` (forward + backward) and 1.4x for ``conv2``
    (benchmarks/RESULTS.md), with the same results up to float rounding.
    Anything else (other shapes, dtypes or devices, autocast, tracing or ``torch.compile``, no C
    compiler on the machine, ``NORMLAB_KERNELS=0``) uses ``nn.Conv2d``'s own forward. So do
    more than two torch threads: the kernels run on one thread, and were measured faster than
    PyTorch's parallel convolution only up to two (the development machine's cores). Module
    hooks see the same input and output either way.
    """

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
        if (
            self.padding in ((0, 0), "valid")
            and self.stride == (1, 1)
            and self.dilation == (1, 1)
            and self.groups == 1
            and torch.get_num_threads() <= _KERNEL_MAX_THREADS
            and not torch.is_autocast_enabled("cpu")
            and not torch.compiler.is_compiling()
            and not torch.jit.is_tracing()
            and conv5x5_applies(input, weight, bias)
        ):
            return conv5x5(input, weight, bias)
        return super()._conv_forward(input, weight, bias)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


def _choice(option: str, value: Any, valid: tuple[str, ...] | list[str]) -> str:
    if not isinstance(value, str) or value.strip().lower() not in valid:
        raise ConfigError(
            f"{option}={value!r} is not valid; choose one of: {', '.join(valid)}"
        )
    return value.strip().lower()


def _positive_int(option: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{option}={value!r} is not valid; it must be an integer >= {minimum}")
    return value


@dataclass(frozen=True)
class LeNetConfig:
    """Options of :class:`LeNet5`. Defaults give the post's plain LeNet-5 with a logits head.

    Attributes:
        norm: normalisation layer, a name from :func:`normlab.models.norm.list_norm_layers`
            (``none``, ``batch``, ``group``, ``layer``, ``instance``, and any registered later).
        norm_position: ``"after"`` the activation, as in the post, or ``"before"`` it, as in
            Ioffe & Szegedy (2015, section 3.2).
        norm_in: ``"conv"``: normalise the two convolutional layers only (the post);
            ``"all"``: also the hidden fully-connected layers ``linear1`` and ``linear2``.
        activation: ``"tanh"`` (the post) or ``"relu"``.
        pool: ``"avg"`` (the post) or ``"max"``; both 2x2 with stride 2.
        head: ``"logits"``: return raw scores, for ``nn.CrossEntropyLoss``; ``"softmax"``:
            return probabilities, as the post does (its loss then applies a second softmax).
        in_channels: channels of the input image.
        num_classes: outputs of ``linear3``.
        input_size: height and width of the (square) input, at least 16; 32 is the post's padded
            MNIST, 28 raw MNIST.

    Invalid values raise :class:`~normlab.errors.ConfigError` naming the option and the valid
    values. Choice strings are stored lower-case.
    """

    norm: str = "none"
    norm_position: str = "after"
    norm_in: str = "conv"
    activation: str = "tanh"
    pool: str = "avg"
    head: str = "logits"
    in_channels: int = 1
    num_classes: int = 10
    input_size: int = 32

    def __post_init__(self):
        # frozen dataclass: normalised values are written with object.__setattr__.
        set_ = object.__setattr__
        set_(self, "norm", _choice("norm", self.norm, list_norm_layers()))
        set_(self, "norm_position", _choice("norm_position", self.norm_position, NORM_POSITIONS))
        set_(self, "norm_in", _choice("norm_in", self.norm_in, NORM_IN))
        set_(self, "activation", _choice("activation", self.activation, ACTIVATIONS))
        set_(self, "pool", _choice("pool", self.pool, POOLS))
        set_(self, "head", _choice("head", self.head, HEADS))
        _positive_int("in_channels", self.in_channels)
        _positive_int("num_classes", self.num_classes)
        _positive_int("input_size", self.input_size, _MIN_INPUT_SIZE)
        if self.norm != "none" and self.norm_in == "all":
            # Build a throwaway fc norm so that a norm without a fully-connected form (instance,
            # or one registered later) fails here, naming both options, not deep in __init__.
            try:
                create_norm_layer(self.norm, 2, kind="1d")
            except ConfigError as exc:
                raise ConfigError(
                    f"norm={self.norm!r} cannot be combined with norm_in='all': {exc}"
                ) from exc

    @classmethod
    def option_names(cls) -> list[str]:
        """The option names, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def option_types(cls) -> dict[str, type]:
        """Each option's Python type (``str`` or ``int``), for parsing option strings."""
        hints = {"str": str, "int": int}
        return {f.name: hints[f.type] if isinstance(f.type, str) else f.type for f in dataclasses.fields(cls)}

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "LeNetConfig":
        """Build a config from a dict, raising ConfigError (not TypeError) for unknown keys."""
        unknown = sorted(set(options) - set(cls.option_names()))
        if unknown:
            raise ConfigError(
                f"unknown LeNet option(s) {', '.join(map(repr, unknown))}; "
                f"valid options: {', '.join(cls.option_names())}"
            )
        return cls(**options)

    def replace(self, **changes: Any) -> "LeNetConfig":
        """A copy with ``changes`` applied (validated; unknown keys raise ConfigError)."""
        return self.from_options({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """The options as a plain dict (JSON-serialisable)."""
        return dataclasses.asdict(self)

    @property
    def flatten_size(self) -> int:
        """Features entering ``linear1``: 16 * s * s, s the side after the second pool."""
        return 16 * _feature_side(self.input_size) ** 2


def _feature_side(input_size: int) -> int:
    side = (input_size - 4) // 2  # conv1 (5x5, no padding), pool1
    return (side - 4) // 2  # conv2, pool2


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class LeNet5(nn.Module):
    """LeNet-5 as in the blog post, with configurable normalisation, activation, pool and head.

    Build it from a :class:`LeNetConfig`, from keyword options, or both (keywords override the
    config)::

        LeNet5()                                   # the post's LeNet5, logits head
        LeNet5(norm="batch", head="softmax")       # the post's LeNet5_BatchNorm, verbatim
        LeNet5(LeNetConfig(norm="group"), activation="relu")

    Weights use PyTorch's default initialisation; :func:`apply_blog_init` applies the post's.
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

        pool = AvgPool2x2 if c.pool == "avg" else MaxPool2x2
        act = nn.Tanh if c.activation == "tanh" else nn.ReLU
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
        self.conv1 = FastConv2d(c.in_channels, 6, 5, stride=1)
        add_act_and_norm(1)
        self.pool1 = pool()
        self.conv2 = FastConv2d(6, 16, 5, stride=1)
        add_act_and_norm(2)
        self.pool2 = pool()
        self.linear1 = nn.Linear(c.flatten_size, 120)
        add_act_and_norm(3)
        self.linear2 = nn.Linear(120, 84)
        add_act_and_norm(4)
        self.linear3 = nn.Linear(84, c.num_classes)
        self._norm_names: tuple[Optional[str], ...] = tuple(names)
        self._norm_first = c.norm_position == "before"
        self._softmax = c.head == "softmax"
        self._image_shape = (c.in_channels, c.input_size, c.input_size)

    # -- introspection -----------------------------------------------------------------------

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
        return (
            f"norm={c.norm!r}, norm_position={c.norm_position!r}, norm_in={c.norm_in!r}, "
            f"activation={c.activation!r}, pool={c.pool!r}, head={c.head!r}"
        )

    # -- forward ----------------------------------------------------------------------------

    def _as_images(self, x: torch.Tensor) -> torch.Tensor:
        shape = self._image_shape
        if x.dim() == 4 and tuple(x.shape[1:]) == shape:
            return x
        if x.dim() == 3 and shape[0] == 1 and tuple(x.shape[1:]) == shape[1:]:
            return x.unsqueeze(1)
        if x.dim() == 2 and x.shape[1] == shape[0] * shape[1] * shape[2]:
            return x.view(-1, *shape)
        c, s, _ = shape
        raise ConfigError(
            f"LeNet5 was built for input_size={s}, in_channels={c}: it takes (N, {c}, {s}, {s})"
            + (f", (N, {s}, {s})" if c == 1 else "")
            + f" or (N, {c * s * s}), got {tuple(x.shape)}"
        )

    def _activate(self, h: torch.Tensor, act: nn.Module, index: int) -> torch.Tensor:
        name = self._norm_names[index]
        if name is None:
            return act(h)
        norm = getattr(self, name)
        if self._norm_first:
            return act(norm(h))
        return norm(act(h))

    def _conv_stage(self, h: torch.Tensor, act: nn.Module, index: int, pool: nn.Module) -> torch.Tensor:
        """``pool(norm(act(h)))`` (or the configured order) after a convolution.

        A batch norm after the activation that uses its running statistics (eval mode, and every
        epoch after the first under the post's mode bug) is a per-channel affine map, which
        commutes with average pooling. So it is applied after the pool, to a quarter as many
        values: the same result up to float rounding, and evaluation of lenet5-bn at batch 256
        about 13% faster on one CPU thread (benchmarks/RESULTS.md). Hooks on the norm or pool
        layer (or global ones) keep the literal order, so what they observe never changes.
        """
        name = self._norm_names[index]
        if name is not None and not self._norm_first and type(pool) is AvgPool2x2:
            norm = getattr(self, name)
            if _uses_running_stats(norm) and _no_hooks(norm, pool):
                return norm(pool(act(h)))
        return pool(self._activate(h, act, index))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``(N, num_classes)``: logits, or probabilities with ``head="softmax"``."""
        h = self._as_images(x)
        h = self._conv_stage(self.conv1(h), self.act1, 0, self.pool1)
        h = self._conv_stage(self.conv2(h), self.act2, 1, self.pool2)
        h = h.flatten(1)
        h = self._activate(self.linear1(h), self.act3, 2)
        h = self._activate(self.linear2(h), self.act4, 3)
        h = self.linear3(h)
        if self._softmax:
            return F.softmax(h, dim=1)
        return h


# --------------------------------------------------------------------------------------------
# The post's initialisation
# --------------------------------------------------------------------------------------------


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
