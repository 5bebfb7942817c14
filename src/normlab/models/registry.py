"""Named models and variant specs.

A registry entry names an architecture: a set of :class:`~normlab.models.lenet.LeNetConfig`
options. A *spec* is a name optionally followed by overrides::

    lenet5
    lenet5:norm=group
    lenet5-bn:norm_position=before,norm_in=all
    lenet5:activation=relu,pool=max,input_size=28

Options resolve in this order, later winning: :class:`LeNetConfig` defaults, the entry, the
spec's overrides, keyword overrides. Entries leave ``head`` at its default (``"logits"``): the
output head belongs to the training protocol (the post's protocol passes ``head="softmax"``),
not to the architecture.

Built-in names:

====================== =======================================================================
lenet5                 the post's ``LeNet5``: tanh, average pooling, no normalisation
lenet5-bn              the post's ``LeNet5_BatchNorm``: batch norm after tanh, conv layers only
lenet5-bn-before       batch norm before the activation (Ioffe & Szegedy, section 3.2)
lenet5-bn-all          batch norm in the conv layers and the hidden fully-connected layers
lenet5-gn              group norm in place of batch norm
lenet5-ln              layer norm in place of batch norm
lenet5-in              instance norm in place of batch norm (conv layers only)
lenet5-bn-before-all   batch norm before the activation, conv and hidden fully-connected layers
lenet5-noisy-bn        lenet5-bn with noisy batch norm (Santurkar et al. 2018, Algorithm 1)
====================== =======================================================================
"""

from __future__ import annotations

import difflib
from typing import Any

from normlab.errors import ConfigError
from normlab.models.lenet import LeNet5, LeNetConfig

__all__ = [
    "register_model",
    "list_models",
    "model_description",
    "parse_variant",
    "format_variant",
    "model_config",
    "model_options",
    "create_model",
]

_MODELS: dict[str, dict[str, Any]] = {}
_DESCRIPTIONS: dict[str, str] = {}

# Characters that delimit a spec; a name containing one could not be parsed back.
_RESERVED = set(":,= \t\n")


def _canonical(name: str) -> str:
    return name.strip().lower()


def register_model(
    name: str, *, description: str = "", overwrite: bool = False, **options: Any
) -> None:
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
        raise ConfigError(
            f"model name {name!r} may not contain ':', ',', '=' or whitespace "
            "(they separate a spec's overrides)"
        )
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
        raise ConfigError(
            f"unknown model {name!r}{hint}; valid names: {', '.join(_MODELS)}"
        )
    return key


def parse_variant(spec: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name:key=value,key=value"`` into ``(name, {key: value})``.

    Values are converted to each option's type (``input_size=28`` gives the int 28) and
    validated; choice values are lower-cased. Whitespace around names, keys and values is
    ignored, and so are empty items, so ``"lenet5:"`` is ``("lenet5", {})``. An item without
    ``=``, an unknown key, a repeated key or an invalid value raises
    :class:`~normlab.errors.ConfigError` naming the valid keys or values. The name itself is not
    looked up here (see :func:`create_model`).
    """
    if not isinstance(spec, str):
        raise ConfigError(f"a model spec must be a string, got {type(spec).__name__} {spec!r}")
    base, _, rest = spec.partition(":")
    base = _canonical(base)
    if not base:
        raise ConfigError(
            f"model spec {spec!r} has no model name; expected 'name' or 'name:key=value,...' "
            f"with a name from: {', '.join(_MODELS)}"
        )
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
            raise ConfigError(
                f"model spec {spec!r}: override {item!r} is not of the form key=value; "
                f"valid keys: {valid_keys}"
            )
        if key not in types:
            raise ConfigError(
                f"model spec {spec!r}: unknown option {key!r}; valid keys: {valid_keys}"
            )
        if key in overrides:
            raise ConfigError(f"model spec {spec!r}: option {key!r} is given twice")
        if not value:
            raise ConfigError(f"model spec {spec!r}: option {key!r} has no value")
        if types[key] is int:
            try:
                overrides[key] = int(value)
            except ValueError:
                raise ConfigError(
                    f"model spec {spec!r}: option {key!r} expects an integer, got {value!r}"
                ) from None
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


def create_model(name_or_spec: str, **overrides: Any) -> LeNet5:
    """Build the model named by ``name_or_spec`` (a name or a spec with overrides).

    ``overrides`` are :class:`LeNetConfig` options and win over the spec's; for example
    ``create_model("lenet5-bn", head="softmax")`` is the post's ``LeNet5_BatchNorm``. Unknown
    names, options or values raise :class:`~normlab.errors.ConfigError` listing the valid ones.
    Weights use PyTorch's default initialisation (see :func:`~normlab.models.apply_blog_init`).
    """
    return LeNet5(model_config(name_or_spec, **overrides))


register_model("lenet5", description="the post's LeNet5: tanh, average pooling, no normalisation")
register_model(
    "lenet5-bn",
    norm="batch",
    description="the post's LeNet5_BatchNorm: batch norm after tanh in the conv layers",
)
register_model(
    "lenet5-bn-before",
    norm="batch",
    norm_position="before",
    description="batch norm before the activation (Ioffe & Szegedy, section 3.2)",
)
register_model(
    "lenet5-bn-all",
    norm="batch",
    norm_in="all",
    description="batch norm in the conv and hidden fully-connected layers",
)
register_model("lenet5-gn", norm="group", description="group norm in the conv layers")
register_model("lenet5-ln", norm="layer", description="layer norm in the conv layers")
register_model("lenet5-in", norm="instance", description="instance norm in the conv layers")
register_model(
    "lenet5-bn-before-all",
    norm="batch",
    norm_position="before",
    norm_in="all",
    description="batch norm before the activation, in the conv and hidden fully-connected layers",
)
register_model(
    "lenet5-noisy-bn",
    norm="noisy-batch",
    description="lenet5-bn with Santurkar et al.'s noisy batch norm (Algorithm 1) in the conv layers",
)
