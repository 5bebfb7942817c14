"""The model registry's old address: everything here is :mod:`normlab.models.spec` (torch-free)."""

from normlab.models.spec import (
    format_variant,
    list_models,
    model_config,
    model_description,
    model_options,
    parse_variant,
    register_model,
)

__all__ = ["format_variant", "list_models", "model_config", "model_description", "model_options", "parse_variant",
           "register_model"]
