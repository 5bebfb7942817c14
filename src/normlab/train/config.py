"""Typed configuration for one training run, and the two protocols.

A :class:`TrainConfig` fully describes a run: the same config on the CPU gives identical
numbers. Configs round-trip through plain dicts (checkpoints, JSON, the results database);
unknown keys and wrongly-typed values fail at once with the key named.

This module checks types and ranges only, and imports nothing of normlab but its errors, so the
command line can build its flags from the fields cheaply; whether names exist is
:func:`normlab.train.resolve.resolve`'s question. Each field's ``metadata`` holds what the
command line shows (:func:`option`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any

from normlab.errors import ConfigError

PROTOCOL_NAMES = ("standard", "blog")
OPTIMIZERS = ("adam", "sgd")
TRANSFORM_NAMES = ("resize32", "pad32", "none")  # normlab.data.transforms.TRANSFORMS (a test keeps them equal)
HEADS = ("logits", "softmax")
INIT_NAMES = ("blog", "d2l")  # normlab.models.lenet.INITS (a test keeps them equal)
INPUT_NORM_NAMES = ("raw", "minmax", "zscore")  # normlab.data.datasets.INPUT_NORMS (a test keeps them equal)
LR_SCHEDULES = ("constant", "cosine", "onecycle")  # built by normlab.train.loop.build_scheduler
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class Protocol:
    """How a run is trained and evaluated.

    ``blog`` reproduces the post exactly, flaws included; ``standard`` is what the post meant to
    do. The difference changes what batch norm appears to do, so the README documents both.
    """

    name: str
    shuffle: bool  # blog: False, the post's DataLoader has no shuffle
    mode_bug: bool  # blog: True, train() is called once and evaluation leaves the model in eval()
    full_train_accuracy: bool  # blog: an extra pass over the whole training set after each epoch
    head: str  # blog: "softmax" (probabilities fed to CrossEntropyLoss); standard: "logits"


PROTOCOLS = {
    "blog": Protocol("blog", shuffle=False, mode_bug=True, full_train_accuracy=True, head="softmax"),
    "standard": Protocol("standard", shuffle=True, mode_bug=False, full_train_accuracy=False, head="logits"),
}


def input_size_for(transform: str) -> int:
    """Side length of the images a transform produces (LeNet-5 needs it for its flatten size)."""
    return 28 if transform == "none" else 32


def get_protocol(name: str) -> Protocol:
    """Return the :class:`Protocol` called ``name`` (``standard`` or ``blog``)."""
    try:
        return PROTOCOLS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown protocol {name!r}; valid protocols: {', '.join(PROTOCOL_NAMES)}") from None


def option(default: Any = dataclasses.MISSING, help: str = "", *, choices: tuple[str, ...] | None = None,
           default_help: str | None = None, flag: bool = True, added_later: bool = False,
           default_factory: Any = dataclasses.MISSING) -> Any:
    """A config field with its command-line description: ``help``, ``choices`` (a fixed set of
    names), ``default_help`` (the default in words) and ``flag`` (False: set another way, such as
    ``--record-*`` for ``diagnostics``).

    ``added_later`` marks a field added after configs were first hashed: at its default it is
    left out of :meth:`TrainConfig.config_hash`, so results recorded before it existed still match.
    """
    metadata = {"help": help, "choices": choices, "default_help": default_help, "flag": flag,
                "added_later": added_later}
    return field(default=default, default_factory=default_factory, metadata=metadata)


@dataclass
class TrainConfig:
    """Everything that defines one training run. Defaults are the post's settings."""

    model: str = option("lenet5-bn", "registry name, optionally with overrides such as lenet5:norm=group")
    dataset: str = option("mnist", "dataset name, e.g. mnist, fashion-mnist or kmnist (normlab data list shows all)")
    protocol: str = option("standard", "blog reproduces the post exactly, flaws included", choices=PROTOCOL_NAMES)
    optimizer: str = option("adam", "optimizer", choices=OPTIMIZERS)
    lr: float = option(1e-3, "learning rate, per step of batch-size images")
    momentum: float = option(0.9, "momentum, in [0, 1) (sgd only)")
    weight_decay: float = option(0.0, "L2 penalty added to the gradient, >= 0")
    lr_schedule: str = option(
        "constant", "learning-rate schedule, stepped every batch: constant keeps --lr; cosine anneals it to 0 over the "
                    "run; onecycle rises from --lr/25 to --lr over the first 30 percent of the steps, then anneals to "
                    "--lr/250000 (torch's CosineAnnealingLR and OneCycleLR; momentum is not cycled)",
        choices=LR_SCHEDULES, added_later=True)
    epochs: int = option(10, "epochs")
    batch_size: int = option(64, "batch size")
    # The initial weights and the data order each draw from their own stream of this seed.
    seed: int = option(0, "seed for weights and data order")
    transform: str = option("resize32", "input transform: resize32 as the post, pad32 as LeCun, none keeps 28x28",
                            choices=TRANSFORM_NAMES)
    # One setting, two spellings: standardize=True, kept for old configs and databases, is input_norm
    # zscore, and the two always agree (__post_init__, replace).
    standardize: bool = option(False, "the old spelling of --input-norm zscore")
    input_norm: str = option("minmax", "input scaling, fitted on the training split: raw keeps the pixel values "
                                       "0-255; minmax maps the pixels' range to [0, 1] (x/255 on MNIST and "
                                       "Fashion-MNIST, as the post's ToTensor); zscore subtracts the transformed "
                                       "images' mean and divides by their std", choices=INPUT_NORM_NAMES,
                             added_later=True)
    val_split: int = option(0, "hold out the last N training images for validation; test is then evaluated once "
                               "at the end", default_help="0, the post's protocol: test serves as validation")
    subset: int | None = option(None, "train on the first N training images", default_help="all")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps; auto picks cuda, then mps, then cpu")
    threads: int | None = option(None, "torch CPU threads", default_help="torch's choice")
    # Results do not depend on it (evaluation runs in eval mode); 256 keeps activations in cache
    # and memory low.
    eval_batch_size: int = option(256, "batch size of the evaluation passes; results do not depend on it")
    head: str | None = option(None, "output head: logits, or softmax probabilities fed to the cross-entropy (the "
                                    "post's bug)", choices=HEADS,
                              default_help="the protocol's: softmax for blog, logits for standard")
    init: str = option("blog", "initial weights: blog, the post's (Xavier-uniform weights, biases 0.01); d2l, Dive "
                               "into Deep Learning's init_cnn (Xavier-uniform weights, PyTorch's default biases)",
                       choices=INIT_NAMES, added_later=True)
    accelerate: bool = option(True, "use normlab's CPU fast path: C convolution kernels, fast pooling, eval-BN "
                                    "after pool, fused Adam; off: plain PyTorch", added_later=True)
    diagnostics: dict[str, Any] = option(
        help="opt-in measurements, see normlab.diagnostics", flag=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()
        if self.standardize:
            self.input_norm = "zscore"
        self.standardize = self.input_norm == "zscore"

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first field of a wrong type or out of range."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            _check_type(f.name, value)
            choices = f.metadata["choices"]
            if choices and value is not None and value not in choices:
                raise ConfigError(f"{f.name}={value!r} is invalid; valid: {', '.join(choices)}")
        if not re.fullmatch(r"auto|cpu|(cuda|mps)(:\d+)?", self.device):
            raise ConfigError(f"device={self.device!r} is invalid; valid: {', '.join(DEVICES)}, cuda:N or mps:N")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not 0 <= self.seed < 2**63:
            raise ConfigError(f"seed must be an integer in [0, 2**63), got {self.seed!r}")
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise ConfigError(f"lr must be a finite positive number, got {self.lr!r}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if not math.isfinite(self.weight_decay) or self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if self.val_split < 0:
            raise ConfigError(f"val_split must be an integer >= 0, got {self.val_split!r}")
        for name in ("subset", "threads"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer or None, got {getattr(self, name)!r}")
        if self.standardize and self.input_norm == "raw":
            raise ConfigError("standardize=True is input_norm='zscore' (its old spelling); it contradicts "
                              "input_norm='raw'")
        if not all(isinstance(key, str) for key in self.diagnostics):
            raise ConfigError(f"diagnostics must map measurement names to settings, got {self.diagnostics!r}")

    @property
    def resolved_head(self) -> str:
        """The output head actually used: the explicit one, else the protocol's."""
        return self.head or get_protocol(self.protocol).head

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a JSON-serialisable dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build a config from a dict; an unknown key is a :class:`ConfigError` naming it."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown config key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(names))}")
        return cls(**data)

    def replace(self, **changes: Any) -> "TrainConfig":
        """Return a copy with ``changes`` applied (validated)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown config key(s): {', '.join(unknown)}")
        # standardize and input_norm are one setting: changing one changes the other with it.
        if "input_norm" in changes and "standardize" not in changes:
            changes["standardize"] = changes["input_norm"] == "zscore"
        elif "standardize" in changes and "input_norm" not in changes:
            keep = "minmax" if self.input_norm == "zscore" else self.input_norm
            changes["input_norm"] = "zscore" if changes["standardize"] else keep
        return dataclasses.replace(self, **changes)

    def identity(self) -> dict[str, Any]:
        """The fields that define the run's numbers: everything but where, how fast and how long it runs.

        A checkpoint may be resumed with a different ``epochs`` (under a constant learning rate:
        a schedule spans the run's steps, so another length changes every later rate), ``device``,
        ``threads`` or ``accelerate`` (which, like the device, changes numbers only by float
        rounding), never with a different model, data or optimisation setting.
        """
        data = self.to_dict()
        for key in ("device", "threads", "eval_batch_size", "accelerate"):
            data.pop(key)
        if self.lr_schedule == "constant":
            data.pop("epochs")
        return data

    def config_hash(self) -> str:
        """A short stable hash of the full config, used to find a run again in the database (fields
        added later count only away from their default: see :func:`option`)."""
        data = self.to_dict()
        for f in dataclasses.fields(self):
            if f.metadata["added_later"] and data[f.name] == f.default:
                del data[f.name]
        if data.get("input_norm") == "zscore":  # hashed before input_norm existed as standardize=True, still there
            del data["input_norm"]
        payload = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@functools.cache
def field_types() -> dict[str, tuple[type, bool]]:
    """Each :class:`TrainConfig` field's type and whether it may be None (``int | None``: ``(int, True)``)."""
    out = {}
    for name, hint in typing.get_type_hints(TrainConfig).items():
        args = typing.get_args(hint)
        optional = type(None) in args
        if optional:
            hint = next(a for a in args if a is not type(None))
        out[name] = (typing.get_origin(hint) or hint, optional)
    return out


_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "True or False", dict: "a dict"}


def _check_type(name: str, value: Any) -> None:
    kind, optional = field_types()[name]
    if value is None and optional:
        return
    ok = {int: _is_int, float: _is_number}.get(kind, lambda v: isinstance(v, kind))(value)
    if not ok:
        raise ConfigError(f"{name} must be {_TYPE_WORDS[kind]}{' or None' if optional else ''}, got {value!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
