"""Training: a typed config, the loop, checkpoints, and the post's own API.

``train(config) -> RunResult`` is normlab's API; ``ConvolutionalNeuralNet`` is the post's.
"""

from normlab.train.blog import ConvolutionalNeuralNet
from normlab.train.checkpoint import load_checkpoint, save_checkpoint
from normlab.train.config import PROTOCOLS, Protocol, TrainConfig, get_protocol
from normlab.train.loop import (
    Callback,
    EvalResult,
    build_model,
    evaluate,
    fit,
    resolve_device,
    seed_everything,
    train,
)
from normlab.fast.malloc import tune_malloc
from normlab.train.result import RunResult

__all__ = [
    "Callback", "ConvolutionalNeuralNet", "EvalResult", "PROTOCOLS", "Protocol", "RunResult",
    "TrainConfig", "build_model", "evaluate", "fit", "get_protocol", "load_checkpoint",
    "resolve_device", "save_checkpoint", "seed_everything", "train", "tune_malloc",
]
