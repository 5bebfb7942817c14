"""Inference on image files: convert a photo or scan of a digit the MNIST way, then classify it.

MNIST's own preparation (LeCun et al.): the digit is fitted into a 20x20 box keeping its aspect
ratio, with antialiasing, then placed in a 28x28 field so that its centre of mass is at the
centre. After that the model's input transform (resize32, pad32 or none) and standardisation
apply, exactly as in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from normlab.errors import NormlabError


class ImageReadError(NormlabError, ValueError):
    """An input file could not be read as an image."""


@dataclass
class Prediction:
    """The predicted class of one file and the probability of each class."""

    path: str
    label: int | None
    probabilities: list[float] | None
    error: str | None = None


def mnistify(image, *, invert: bool = False) -> np.ndarray:
    """Convert a PIL image of one digit to a 28x28 uint8 array laid out like MNIST.

    MNIST digits are light on a dark background: pass ``invert=True`` for dark ink on light paper.
    """
    from PIL import Image

    gray = np.asarray(image.convert("L"), dtype=np.float32)
    if invert:
        gray = 255.0 - gray
    # Ignore faint background texture (paper grain, JPEG noise) when finding the digit.
    mask = gray > max(gray.max() * 0.2, 1.0)
    if not mask.any():
        return np.zeros((28, 28), dtype=np.uint8)
    rows, cols = np.nonzero(mask)
    crop = gray[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    patch = Image.fromarray(crop.clip(0, 255).astype(np.uint8)).resize((new_w, new_h), Image.LANCZOS)
    patch = np.asarray(patch, dtype=np.float32)
    total = patch.sum()
    cy, cx = ((np.indices(patch.shape) * patch).reshape(2, -1).sum(1) / total) if total > 0 else (new_h / 2, new_w / 2)
    top = int(round(14 - cy))
    left = int(round(14 - cx))
    top = min(max(top, 0), 28 - new_h)
    left = min(max(left, 0), 28 - new_w)
    field = np.zeros((28, 28), dtype=np.float32)
    field[top: top + new_h, left: left + new_w] = patch
    return field.clip(0, 255).round().astype(np.uint8)


def load_image(path: str | Path, *, invert: bool = False) -> np.ndarray:
    """Read ``path`` (PNG, JPEG, any size) and return its MNIST-style 28x28 uint8 array.

    Raises :class:`ImageReadError` naming the file when it is missing, a directory, not an
    image, or larger than Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``).
    """
    from PIL import Image, UnidentifiedImageError

    if Path(path).is_dir():
        raise ImageReadError(f"{path}: is a directory, not an image file")
    try:
        with Image.open(path) as img:
            img.load()
            return mnistify(img, invert=invert)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageReadError(f"{path}: is a directory, not an image file") from None
    # DecompressionBombError is neither an OSError nor a ValueError: without it a huge image
    # would abort the whole batch instead of failing alone.
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise ImageReadError(f"{path}: not a readable image ({exc})") from None


@torch.no_grad()
def predict_files(model: torch.nn.Module, paths: Sequence[str | Path], *, transform: str, head: str = "logits",
                  mean: float | None = None, std: float | None = None, invert: bool = False) -> list[Prediction]:
    """Classify each file. A file that cannot be read gets an error entry; the others are still predicted.

    ``head`` is the model's output head: ``softmax`` models (the post's) already return
    probabilities, ``logits`` models get one softmax here.
    """
    from normlab.data.transforms import get_transform

    predictions: list[Prediction] = []
    arrays, ok = [], []
    for path in paths:
        try:
            arrays.append(load_image(path, invert=invert))
            ok.append(len(predictions))
            predictions.append(Prediction(str(path), None, None))
        except ImageReadError as exc:
            predictions.append(Prediction(str(path), None, None, error=str(exc)))
    if not arrays:
        return predictions
    device = next(model.parameters()).device
    raw = torch.from_numpy(np.stack(arrays)).to(device)
    x = get_transform(transform)(raw)
    if mean is not None and std is not None:
        x = (x - mean) / std
    model.eval()
    out = model(x)
    probs = out if head == "softmax" else torch.softmax(out, dim=1)
    for index, p in zip(ok, probs.cpu()):
        predictions[index].label = int(p.argmax())
        predictions[index].probabilities = [float(v) for v in p]
    return predictions



def load_model(checkpoint: str | Path, *, device: str = "cpu"):
    """Rebuild the model a checkpoint was trained with; return ``(model, config, data_stats)``."""
    from normlab.errors import CheckpointError
    from normlab.train import TrainConfig, build_model, load_checkpoint

    payload = load_checkpoint(checkpoint)
    config = TrainConfig.from_dict(payload["config"])
    model = build_model(config)
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {checkpoint} does not fit model {config.model!r}: {exc}") from exc
    return model.to(device).eval(), config, payload.get("data_stats") or {}
