"""Check a config's names against the registries: the model spec, the dataset, the transform.

:class:`~normlab.train.config.TrainConfig` checks types and ranges only; :func:`resolve` asks the
model and data registries whether the names exist and agree with each other. :func:`normlab.train.train`
calls it, and so do the drivers (studies, compare) before any worker starts, so a bad name is one
error up front rather than one per run.
"""

from __future__ import annotations

from normlab.data.registry import get_dataset_spec
from normlab.data.transforms import TRANSFORMS
from normlab.errors import ConfigError
from normlab.models.spec import model_options, parse_variant
from normlab.train.config import TrainConfig, input_size_for


def resolve(config: TrainConfig) -> TrainConfig:
    """Return ``config`` once its fields are valid and its names known; :class:`ConfigError` otherwise.

    The error names the field and the valid names. A model spec may not set ``input_size`` or
    ``head``: the trainer takes those from the transform and the protocol (or ``head``).
    """
    config.validate()
    if config.transform not in TRANSFORMS:
        raise ConfigError(f"transform={config.transform!r} is invalid; valid: {', '.join(TRANSFORMS)}")
    get_dataset_spec(config.dataset)
    model_options(config.model)
    _, overrides = parse_variant(config.model)
    size = input_size_for(config.transform)
    if overrides.get("input_size", size) != size:
        raise ConfigError(f"model {config.model!r} sets input_size={overrides['input_size']}, but "
                          f"transform={config.transform!r} gives {size}x{size} images")
    if overrides.get("head", config.resolved_head) != config.resolved_head:
        raise ConfigError(f"model {config.model!r} sets head={overrides['head']!r}; the head comes from the "
                          f"protocol or the config's head field ({config.resolved_head!r} here)")
    return config
