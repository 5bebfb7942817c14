"""LeNet-5 variants, the norm-layer factory and the model registry: plain PyTorch modules.

Typical use::

    from normlab.models import create_model, apply_blog_init

    model = create_model("lenet5-bn", head="softmax")        # the post's LeNet5_BatchNorm
    model = create_model("lenet5:norm=group,activation=relu")
    apply_blog_init(model)                                    # the post's weight init

See :mod:`normlab.models.spec` for the spec syntax, the options and the built-in names (all
without torch), :mod:`normlab.models.norm` for the norm layers and :mod:`normlab.models.lenet`
for the network. The CPU speed-ups live apart, in :mod:`normlab.fast`.
"""

from normlab._lazy import lazy_exports

from normlab.models.spec import (ACTIVATIONS, HEADS, NORM_IN, NORM_POSITIONS, POOLS, LeNetConfig, format_variant,
                                 is_norm_layer, list_models, list_norm_layers, model_config, model_description,
                                 model_options, parse_variant, register_model)

# PEP 562: the torch parts load on first use, so that naming and checking models costs no torch.
__getattr__, __dir__, _torch_names = lazy_exports(__name__, {
    "normlab.models.lenet": "INITS LeNet5 apply_blog_init apply_init create_model init_weights_blog "
                            "init_weights_d2l",
    "normlab.models.norm": "GroupNorm GroupNorm1 create_norm_layer default_num_groups get_norm_layer "
                           "register_norm_layer",
}, globals())

__all__ = ["ACTIVATIONS", "HEADS", "NORM_IN", "NORM_POSITIONS", "POOLS", "LeNetConfig", "format_variant",
           "is_norm_layer", "list_models", "list_norm_layers", "model_config", "model_description",
           "model_options", "parse_variant", "register_model", *_torch_names]
