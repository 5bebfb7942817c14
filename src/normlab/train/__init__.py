"""Training: a typed config, the loop, checkpoints, and the post's own API.

``train(config) -> RunRecord`` is normlab's API; ``ConvolutionalNeuralNet`` is the post's.
"""

from normlab._lazy import lazy_exports

# PEP 562: each name is imported on first use, so that the config and the callback protocol
# (which the command line needs) come without torch, which the loop needs.
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "normlab.train.callbacks": "Callback",
    "normlab.train.blog": "ConvolutionalNeuralNet",
    "normlab.train.checkpoint": "load_checkpoint save_checkpoint",
    "normlab.train.config": "PROTOCOLS Protocol TrainConfig get_protocol",
    "normlab.train.loop": "EvalResult build_model evaluate fit resolve_device seed_everything train",
    "normlab.fast.malloc": "tune_malloc",
    "normlab.train.record": "RunRecord",
}, globals())
