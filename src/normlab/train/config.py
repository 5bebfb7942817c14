"""Typed configuration for one training run, and the two protocols.

A :class:`TrainConfig` fully describes a run: with the same config (and so the same seed) on
the CPU, :func:`normlab.train.train` returns identical numbers. Configs round-trip through plain
dicts (``to_dict`` / ``from_dict``) so they can be stored in checkpoints, JSON and the results
database; unknown keys and wrongly-typed values fail at once with the key named.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from normlab.errors import ConfigError

PROTOCOL_NAMES = ("standard", "blog")
OPTIMIZERS = ("adam", "sgd")
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
    "standard": Protocol(
        "standard", shuffle=True, mode_bug=False, full_train_accuracy=False, head="logits"
    ),
}


def get_protocol(name: str) -> Protocol:
    """Return the :class:`Protocol` called ``name`` (``standard`` or ``blog``)."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ConfigError(
            f"unknown protocol {name!r}; valid protocols: {', '.join(PROTOCOL_NAMES)}"
        ) from None


@dataclass
class TrainConfig:
    """Everything that defines one training run. Defaults are the post's settings."""

    model: str = "lenet5-bn"  # registry name, optionally with overrides: "lenet5:norm=group"
    dataset: str = "mnist"
    protocol: str = "standard"  # "blog" reproduces the post, flaws included
    optimizer: str = "adam"
    lr: float = 1e-3  # per step, batch of `batch_size` images
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0
    epochs: int = 10
    batch_size: int = 64
    seed: int = 0  # drives the initial weights and the data order, each from its own stream
    transform: str = "resize32"  # "resize32" (the post), "pad32" (LeCun) or "none" (28x28)
    standardize: bool = False  # z-score inputs with the training split's mean and std
    val_split: int = 0  # >0: hold out the last N training images for validation; test is then used once
    subset: int | None = None  # train on the first N training images (quick looks, tests)
    device: str = "auto"  # auto picks cuda, then mps, then cpu
    threads: int | None = None  # torch CPU threads; None leaves torch's default
    eval_batch_size: int = 256  # evaluation only; results do not depend on it in eval mode; 256 keeps
    # activations in cache (fastest per image on the CPU) and memory low
    head: str | None = None  # None: the protocol's head ("softmax" for blog, "logits" otherwise)
    diagnostics: dict[str, Any] = field(default_factory=dict)  # opt-in measurements, see normlab.diagnostics

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid field and what would be valid."""
        get_protocol(self.protocol)
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer={self.optimizer!r} is invalid; valid: {', '.join(OPTIMIZERS)}")
        if not isinstance(self.device, str) or not re.fullmatch(r"auto|cpu|(cuda|mps)(:\d+)?", self.device):
            raise ConfigError(f"device={self.device!r} is invalid; valid: {', '.join(DEVICES)}, cuda:N or mps:N")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if not _is_int(self.seed) or not 0 <= self.seed < 2**63:
            raise ConfigError(f"seed must be an integer in [0, 2**63), got {self.seed!r}")
        if not _is_number(self.lr) or not math.isfinite(self.lr) or self.lr <= 0:
            raise ConfigError(f"lr must be a finite positive number, got {self.lr!r}")
        if not _is_number(self.momentum) or not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if not _is_number(self.weight_decay) or not math.isfinite(self.weight_decay) or self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if not isinstance(self.standardize, bool):
            raise ConfigError(f"standardize must be True or False, got {self.standardize!r}")
        if not _is_int(self.val_split) or self.val_split < 0:
            raise ConfigError(f"val_split must be an integer >= 0, got {self.val_split!r}")
        if self.subset is not None and (not _is_int(self.subset) or self.subset < 1):
            raise ConfigError(f"subset must be a positive integer or None, got {self.subset!r}")
        if self.threads is not None and (not _is_int(self.threads) or self.threads < 1):
            raise ConfigError(f"threads must be a positive integer or None, got {self.threads!r}")
        if self.head not in (None, "logits", "softmax"):
            raise ConfigError(f"head={self.head!r} is invalid; valid: logits, softmax (or None for the protocol's)")
        self._validate_names()

        from normlab.diagnostics import validate_diagnostics

        validate_diagnostics(self.diagnostics)

    def _validate_names(self) -> None:
        """Look the model, dataset and transform up in their registries."""
        from normlab.data.registry import get_dataset_spec
        from normlab.data.transforms import TRANSFORMS
        from normlab.models import parse_variant
        from normlab.models.registry import model_options

        if self.transform not in TRANSFORMS:
            raise ConfigError(f"transform={self.transform!r} is invalid; valid: {', '.join(TRANSFORMS)}")
        if not isinstance(self.dataset, str):
            raise ConfigError(f"dataset must be a name, got {self.dataset!r}")
        get_dataset_spec(self.dataset)
        if not isinstance(self.model, str):
            raise ConfigError(f"model must be a registry name or spec, got {self.model!r}")
        model_options(self.model)
        # The trainer sets these two from the transform and the protocol; a spec may not contradict it.
        _, overrides = parse_variant(self.model)
        size = 28 if self.transform == "none" else 32
        if overrides.get("input_size", size) != size:
            raise ConfigError(f"model {self.model!r} sets input_size={overrides['input_size']}, but "
                              f"transform={self.transform!r} gives {size}x{size} images")
        if overrides.get("head", self.resolved_head) != self.resolved_head:
            raise ConfigError(f"model {self.model!r} sets head={overrides['head']!r}; the head comes from the "
                              f"protocol or the config's head field ({self.resolved_head!r} here)")

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
            raise ConfigError(
                f"unknown config key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(names))}"
            )
        return cls(**data)

    def replace(self, **changes: Any) -> "TrainConfig":
        """Return a copy with ``changes`` applied (validated)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown config key(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    def identity(self) -> dict[str, Any]:
        """The fields that define the run's numbers: everything but where and how long it runs.

        A checkpoint may be resumed with a different ``epochs``, ``device`` or ``threads``, never
        with a different model, data or optimisation setting.
        """
        data = self.to_dict()
        for key in ("epochs", "device", "threads", "eval_batch_size"):
            data.pop(key)
        return data

    def config_hash(self) -> str:
        """A short stable hash of the full config, used to find a run again in the database."""
        payload = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
