"""Model names and options, without torch: what a model spec may say, and what it resolves to.

A registry entry names an architecture: a set of :class:`LeNetConfig` options. A *spec* is a name
optionally followed by overrides::

    lenet5
    lenet5:norm=group
    lenet5-bn:norm_position=before,norm_in=all
    lenet5:activation=relu,pool=max,input_size=28
    lenet5-d2l-bn

Options resolve in this order, later winning: :class:`LeNetConfig` defaults, the entry, the
spec's overrides, keyword overrides. Entries leave ``head`` at its default (``"logits"``): the
output head belongs to the training protocol, not to the architecture. The built-in names are
registered at the end of this module, each with its description (:func:`list_models`).

This module imports no torch, so the command line's help, the report and config checks can use
it cheaply. The norm names are listed here too; :mod:`normlab.models.norm` builds the layers, and
its :func:`~normlab.models.norm.register_norm_layer` adds names here.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any

from normlab.errors import ConfigError

__all__ = ["ACTIVATIONS", "HEADS", "NORM_IN", "NORM_POSITIONS", "POOLS", "LeNetConfig", "INSTANCE_NORM_FC",
           "add_norm_name", "list_norm_layers", "is_norm_layer", "register_model", "list_models", "model_description",
           "parse_variant", "format_variant", "model_config", "model_options"]

NORM_POSITIONS = ("after", "before")
NORM_IN = ("conv", "all")
ACTIVATIONS = ("tanh", "relu", "sigmoid")
POOLS = ("avg", "max")
HEADS = ("logits", "softmax")

# The smallest input for which two (5x5 conv, 2x2 pool) stages leave at least one pixel.
_MIN_INPUT_SIZE = 16

#: Why instance norm has no fully-connected form (the norm factory refuses to build one with it).
INSTANCE_NORM_FC = (
    "norm 'instance' is undefined for fully-connected features: instance norm normalises each channel "
    "over its spatial positions, and a fully-connected feature has one value per channel, so every output "
    "would be zero. Use it in convolutional layers only (norm_in='conv'), or pick 'batch', 'group' or 'layer'."
)

# The norm names, in registration order, each with the reason it has no fully-connected form
# ("" where it has one). normlab.models.norm holds their constructors and adds the names
# registered with register_norm_layer.
_NORMS: dict[str, str] = {"none": "", "batch": "", "group": "", "layer": "", "instance": INSTANCE_NORM_FC,
                          "noisy-batch": ""}


def list_norm_layers() -> list[str]:
    """The norm names a model may use, in registration order (``"none"`` first)."""
    return list(_NORMS)


def is_norm_layer(name: str) -> bool:
    """Whether ``name`` is a registered norm name (case-insensitive)."""
    return isinstance(name, str) and _canonical(name) in _NORMS


def add_norm_name(name: str, no_fc_form: str = "") -> None:
    """Make ``name`` a valid norm option; ``no_fc_form`` says why it cannot go into fully-connected
    layers. Register norms with :func:`normlab.models.norm.register_norm_layer`, which calls this."""
    _NORMS[_canonical(name)] = no_fc_form


def _choice(option: str, value: Any, valid: tuple[str, ...] | list[str]) -> str:
    if not isinstance(value, str) or value.strip().lower() not in valid:
        raise ConfigError(f"{option}={value!r} is not valid; choose one of: {', '.join(valid)}")
    return value.strip().lower()


def _positive_int(option: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{option}={value!r} is not valid; it must be an integer >= {minimum}")
    return value


@dataclass(frozen=True)
class LeNetConfig:
    """Options of :class:`~normlab.models.LeNet5`. Defaults give the post's plain LeNet-5 with a logits head.

    Attributes:
        norm: normalisation layer, a name from :func:`list_norm_layers` (``none``, ``batch``,
            ``group``, ``layer``, ``instance``, ``noisy-batch``, and any registered later).
        norm_position: ``"after"`` the activation, as in the post, or ``"before"`` it, as in
            Ioffe & Szegedy (2015, section 3.2).
        norm_in: ``"conv"``: normalise the two convolutional layers only (the post);
            ``"all"``: also the hidden fully-connected layers ``linear1`` and ``linear2``.
        activation: ``"tanh"`` (the post), ``"relu"`` or ``"sigmoid"`` (the logistic function, as in
            d2l's LeNet and BNLeNet).
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
        if self.norm_in == "all" and _NORMS[self.norm]:
            raise ConfigError(f"norm={self.norm!r} cannot be combined with norm_in='all': {_NORMS[self.norm]}")

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
            raise ConfigError(f"unknown LeNet option(s) {', '.join(map(repr, unknown))}; "
                              f"valid options: {', '.join(cls.option_names())}")
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
        side = (self.input_size - 4) // 2  # conv1 (5x5, no padding), pool1
        side = (side - 4) // 2  # conv2, pool2
        return 16 * side * side


_MODELS: dict[str, dict[str, Any]] = {}
_DESCRIPTIONS: dict[str, str] = {}

# Characters that delimit a spec; a name containing one could not be parsed back.
_RESERVED = set(":,= \t\n")


def _canonical(name: str) -> str:
    return name.strip().lower()


def register_model(name: str, *, description: str = "", overwrite: bool = False, **options: Any) -> None:
    """Register ``name`` as the LeNet-5 variant with ``options``.

    ``options`` are :class:`LeNetConfig` fields; they are validated now, so a bad entry fails at
    registration, not at first use. Names are case-insensitive and may not contain ``:``,
    ``,``, ``=`` or whitespace. Registering an existing name raises
    :class:`~normlab.errors.ConfigError` unless ``overwrite``.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"a model name must be a non-empty string, got {name!r}")
    key = _canonical(name)
    if _RESERVED & set(key):
        raise ConfigError(f"model name {name!r} may not contain ':', ',', '=' or whitespace "
                          "(they separate a spec's overrides)")
    if key in _MODELS and not overwrite:
        raise ConfigError(f"model {key!r} is already registered; pass overwrite=True to replace it")
    LeNetConfig.from_options(options)  # validate
    _MODELS[key] = dict(options)
    _DESCRIPTIONS[key] = description


def list_models() -> list[str]:
    """The registered model names, in registration order."""
    return list(_MODELS)


def model_description(name: str) -> str:
    """The one-line description given to :func:`register_model` (may be empty)."""
    return _DESCRIPTIONS[_lookup(name)]


def _lookup(name: str) -> str:
    key = _canonical(name)
    if key not in _MODELS:
        close = difflib.get_close_matches(key, list(_MODELS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown model {name!r}{hint}; valid names: {', '.join(_MODELS)}")
    return key


def parse_variant(spec: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name:key=value,key=value"`` into ``(name, {key: value})``.

    Values are converted to each option's type and validated; choice values are lower-cased.
    Whitespace and empty items are ignored (``"lenet5:"`` is ``("lenet5", {})``). A malformed
    item is a :class:`~normlab.errors.ConfigError` naming the valid keys or values. The name
    itself is not looked up here.
    """
    if not isinstance(spec, str):
        raise ConfigError(f"a model spec must be a string, got {type(spec).__name__} {spec!r}")
    base, _, rest = spec.partition(":")
    base = _canonical(base)
    if not base:
        raise ConfigError(f"model spec {spec!r} has no model name; expected 'name' or 'name:key=value,...' "
                          f"with a name from: {', '.join(_MODELS)}")
    types = LeNetConfig.option_types()
    valid_keys = ", ".join(types)
    overrides: dict[str, Any] = {}
    for item in rest.split(","):
        item = item.strip()
        if not item:
            continue
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            raise ConfigError(f"model spec {spec!r}: override {item!r} is not of the form key=value; "
                              f"valid keys: {valid_keys}")
        if key not in types:
            raise ConfigError(f"model spec {spec!r}: unknown option {key!r}; valid keys: {valid_keys}")
        if key in overrides:
            raise ConfigError(f"model spec {spec!r}: option {key!r} is given twice")
        if not value:
            raise ConfigError(f"model spec {spec!r}: option {key!r} has no value")
        if types[key] is int:
            try:
                overrides[key] = int(value)
            except ValueError:
                raise ConfigError(f"model spec {spec!r}: option {key!r} expects an integer, got {value!r}") from None
        else:
            overrides[key] = value
    # Validating the overrides on their own cannot reject a combination the entry would make
    # valid: the only cross-option rule (norm with norm_in='all') needs both in the overrides.
    config = LeNetConfig.from_options(overrides)
    return base, {key: getattr(config, key) for key in overrides}


def format_variant(name: str, options: dict[str, Any] | None = None) -> str:
    """The spec string for ``name`` with ``options`` (inverse of :func:`parse_variant`)."""
    if not options:
        return name
    return name + ":" + ",".join(f"{key}={value}" for key, value in options.items())


def model_config(spec: str, **overrides: Any) -> LeNetConfig:
    """The fully resolved :class:`LeNetConfig` for ``spec`` and keyword ``overrides``."""
    base, parsed = parse_variant(spec)
    entry = _MODELS[_lookup(base)]
    return LeNetConfig.from_options({**entry, **parsed, **overrides})


def model_options(spec: str, **overrides: Any) -> dict[str, Any]:
    """Every option of the resolved model as a plain dict, for configs and hashes.

    Two specs naming the same architecture give equal dicts (``"lenet5:norm=batch"`` and
    ``"lenet5-bn"``), and ``LeNetConfig(**model_options(spec))`` rebuilds the config.
    """
    return model_config(spec, **overrides).to_dict()


register_model("lenet5", description="the post's LeNet5: tanh, average pooling, no normalisation")
register_model("lenet5-bn", norm="batch",
               description="the post's LeNet5_BatchNorm: batch norm after tanh in the conv layers")
register_model("lenet5-bn-before", norm="batch", norm_position="before",
               description="batch norm before the activation (Ioffe & Szegedy, section 3.2)")
register_model("lenet5-bn-all", norm="batch", norm_in="all",
               description="batch norm in the conv and hidden fully-connected layers")
register_model("lenet5-gn", norm="group", description="group norm in the conv layers")
register_model("lenet5-ln", norm="layer", description="layer norm in the conv layers")
register_model("lenet5-in", norm="instance", description="instance norm in the conv layers")
register_model("lenet5-bn-before-all", norm="batch", norm_position="before", norm_in="all",
               description="batch norm before the activation, in the conv and hidden fully-connected layers")
register_model("lenet5-noisy-bn", norm="noisy-batch",
               description="lenet5-bn with Santurkar et al.'s noisy batch norm (Algorithm 1) in the conv layers")
register_model("lenet5-d2l", activation="sigmoid",
               description="d2l's LeNet (Dive into Deep Learning, 'Batch Normalization'): sigmoid, average "
                           "pooling, no normalisation")
register_model("lenet5-d2l-bn", activation="sigmoid", norm="batch", norm_position="before", norm_in="all",
               description="d2l's BNLeNet: lenet5-d2l with batch norm before the sigmoid in all four hidden layers")
