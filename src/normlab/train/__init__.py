"""Training: a typed config, the loop, checkpoints, and the post's own API.

``train(config) -> RunRecord`` is normlab's API; ``ConvolutionalNeuralNet`` is the post's.
"""

from normlab._lazy import lazy_exports

# PEP 562: each name is imported on first use, so that the config and the callback protocol
# (which the command line needs) come without torch, which the loop needs.
_EXPORTS = {
    "Callback": "normlab.train.callbacks",
    "ConvolutionalNeuralNet": "normlab.train.blog",
    "load_checkpoint": "normlab.train.checkpoint",
    "save_checkpoint": "normlab.train.checkpoint",
    "PROTOCOLS": "normlab.train.config",
    "Protocol": "normlab.train.config",
    "TrainConfig": "normlab.train.config",
    "get_protocol": "normlab.train.config",
    "EvalResult": "normlab.train.loop",
    "build_model": "normlab.train.loop",
    "evaluate": "normlab.train.loop",
    "fit": "normlab.train.loop",
    "resolve_device": "normlab.train.loop",
    "seed_everything": "normlab.train.loop",
    "train": "normlab.train.loop",
    "tune_malloc": "normlab.fast.malloc",
    "RunRecord": "normlab.train.record",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
