"""LeNet-5 variants, the norm-layer factory and the model registry.

Typical use::

    from normlab.models import create_model, apply_blog_init

    model = create_model("lenet5-bn", head="softmax")        # the post's LeNet5_BatchNorm
    model = create_model("lenet5:norm=group,activation=relu")
    apply_blog_init(model)                                    # the post's weight init

See :mod:`normlab.models.norm` for the norm names, :mod:`normlab.models.lenet` for the
options and :mod:`normlab.models.registry` for the spec syntax and built-in names.
"""

from normlab.models.lenet import (
    ACTIVATIONS,
    HEADS,
    NORM_IN,
    NORM_POSITIONS,
    POOLS,
    AvgPool2x2,
    LeNet5,
    LeNetConfig,
    MaxPool2x2,
    apply_blog_init,
    init_weights_blog,
)
from normlab.models.norm import (
    GroupNorm,
    GroupNorm1,
    create_norm_layer,
    default_num_groups,
    get_norm_layer,
    is_norm_layer,
    list_norm_layers,
    register_norm_layer,
)
from normlab.models.registry import (
    create_model,
    format_variant,
    list_models,
    model_config,
    model_description,
    model_options,
    parse_variant,
    register_model,
)

__all__ = [
    "ACTIVATIONS",
    "HEADS",
    "NORM_IN",
    "NORM_POSITIONS",
    "POOLS",
    "AvgPool2x2",
    "MaxPool2x2",
    "LeNet5",
    "LeNetConfig",
    "apply_blog_init",
    "init_weights_blog",
    "GroupNorm",
    "GroupNorm1",
    "create_norm_layer",
    "default_num_groups",
    "get_norm_layer",
    "is_norm_layer",
    "list_norm_layers",
    "register_norm_layer",
    "create_model",
    "format_variant",
    "list_models",
    "model_config",
    "model_description",
    "model_options",
    "parse_variant",
    "register_model",
]
