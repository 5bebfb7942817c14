"""Inference on image files: convert a photo or scan the way the model's dataset was made, then classify it.

MNIST's own preparation (LeCun et al.): the digit is fitted into a 20x20 box keeping its aspect
ratio, with antialiasing, then placed in a 28x28 field so that its centre of mass is at the
centre. Fashion-MNIST's (Xiao et al.): the article is trimmed and resized so that its longer
side fills the 28x28 frame, centred. After that the model's input transform (resize32, pad32 or
none) and standardisation apply, exactly as in training.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from normlab.errors import CheckpointError, NormlabError

#: The most pixels one image may have, checked before decoding. Reading an image costs at most
#: about 12.5 bytes a pixel, so one stays well under 1 GB, which Pillow's own limit does not ensure
#: (a small PNG can declare 13000 x 13000 pixels); a 24-megapixel photo fits with room to spare.
MAX_PIXELS = 30_000_000

#: A picture whose grey levels span fewer than this many of 255 is treated as blank: JPEG noise
#: and paper grain on an empty page stay within a few levels, while a stroke anyone can see
#: differs from its paper by far more. Also the colour spread below which a transparent
#: image's colour carries no drawing, so that its alpha channel is the ink.
BLANK_RANGE = 16

_ORIENTATION = 0x0112  # the EXIF tag


class ImageReadError(NormlabError, ValueError):
    """An input file could not be read as an image."""


@dataclass
class Prediction:
    """The predicted class of one file and the probability of each class.

    ``notes`` say how the image was read when it was not plain (the alpha channel used as the
    ink, say); ``warning`` says why the answer should not be trusted (a blank image, NaN
    probabilities); ``error`` why there is no answer.
    """

    path: str
    label: int | None
    probabilities: list[float] | None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    warning: str | None = None
    name: str | None = None  # the class's name in the dataset (Fashion-MNIST's "Sneaker"; MNIST's "7")


def to_grayscale(image, *, invert: bool = False) -> tuple[np.ndarray, list[str]]:
    """Return a PIL image as uint8 grey levels, light ink on dark as in MNIST, and notes on how.

    16-bit greyscale is scaled to 8 bits (Pillow's ``convert("L")`` would clip it to white).
    A transparent image whose visible colour is constant (a digit drawn only in the alpha
    channel) gets its alpha channel as the ink, whatever ``invert`` says: transparency has no
    paper to be light or dark. Any other transparent image is composited onto the paper
    ``invert`` names (white for dark ink, else black), then read as an opaque one.
    """
    notes: list[str] = []
    if image.mode.startswith("I;16") or image.mode == "I":
        gray = _eight_bits(image)
    elif image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        gray, is_ink = _flatten_alpha(image, invert, notes)
        if is_ink:
            return gray, notes
    else:
        gray = np.asarray(image.convert("L"))
    return (255 - gray if invert else gray), notes


def _eight_bits(image) -> np.ndarray:
    """A 16-bit greyscale image's levels as 8-bit ones."""
    wide = image.mode == "I"  # 32 bits: an older Pillow's 16-bit PNG, or 8-bit levels held wide
    levels = np.asarray(image.convert("I;16") if wide else image)  # the conversion clips to 0..65535
    if wide and levels.max(initial=0) <= 255:
        return levels.astype(np.uint8)
    return (levels >> 8).astype(np.uint8)  # 257 * v >> 8 == v: exact for 8-bit levels widened


def _flatten_alpha(image, invert: bool, notes: list[str]) -> tuple[np.ndarray, bool]:
    """Grey levels of a transparent image, and whether they are already ink (the alpha channel)."""
    if image.mode not in ("RGBA", "LA"):
        image = image.convert("RGBA")
    alpha = np.asarray(image.getchannel("A"))
    luma = np.asarray(image.convert("L"))
    if alpha.min() == 255:  # transparency declared but unused
        return luma, False
    seen = alpha > 0
    if not seen.any() or int(luma.max(where=seen, initial=0)) - int(luma.min(where=seen, initial=255)) < BLANK_RANGE:
        notes.append("alpha channel used as ink" + ("; --invert does not apply to it" if invert else ""))
        return alpha, True
    del seen
    # luma * alpha + paper * (255 - alpha), rounded, in place: this is the largest image to convert.
    a = alpha.astype(np.uint16)
    mixed = luma * a
    if invert:  # white paper
        np.subtract(255, a, out=a)
        a *= 255
        mixed += a
    del a
    mixed += 127
    mixed //= 255
    notes.append(f"transparent areas composited onto {'white' if invert else 'black'}")
    return mixed.astype(np.uint8), False


def mnistify(image, *, invert: bool = False) -> np.ndarray:
    """Convert a PIL image of one digit to a 28x28 uint8 array laid out like MNIST.

    MNIST digits are light on a dark background: pass ``invert=True`` for dark ink on light
    paper. See :func:`to_grayscale` for 16-bit and transparent images.
    """
    return fit_digit(to_grayscale(image, invert=invert)[0])


def fit_digit(gray: np.ndarray) -> np.ndarray:
    """Fit the digit in ``gray`` (uint8, light ink on dark) into 20x20, centred by mass in 28x28."""
    from PIL import Image

    # Ignore faint background texture (paper grain, JPEG noise) when finding the digit.
    mask = gray > max(int(gray.max(initial=0)) * 0.2, 1.0)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return np.zeros((28, 28), dtype=np.uint8)
    crop = gray[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    patch = Image.fromarray(np.ascontiguousarray(crop)).resize((new_w, new_h), Image.LANCZOS)
    patch = np.asarray(patch, dtype=np.float32)
    total = patch.sum()
    cy, cx = ((np.indices(patch.shape) * patch).reshape(2, -1).sum(1) / total) if total > 0 else (new_h / 2, new_w / 2)
    top = min(max(int(round(14 - cy)), 0), 28 - new_h)
    left = min(max(int(round(14 - cx)), 0), 28 - new_w)
    field_ = np.zeros((28, 28), dtype=np.float32)
    field_[top: top + new_h, left: left + new_w] = patch
    return field_.clip(0, 255).round().astype(np.uint8)


#: Datasets whose images fill their frame (the object trimmed and scaled to 28 pixels on its longer
#: side) rather than being fitted into 20x20 and centred by mass as MNIST's digits are.
FRAMED_DATASETS = ("fashion-mnist",)


def fit_object(gray: np.ndarray) -> np.ndarray:
    """Fit the object in ``gray`` (uint8, light on dark) the Fashion-MNIST way: trimmed, its longer
    side scaled to 28 pixels, centred in 28x28."""
    from PIL import Image

    mask = gray > max(int(gray.max(initial=0)) * 0.2, 1.0)  # as fit_digit: faint texture is not the object
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return np.zeros((28, 28), dtype=np.uint8)
    crop = gray[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    h, w = crop.shape
    new_h, new_w = max(1, round(h * 28 / max(h, w))), max(1, round(w * 28 / max(h, w)))
    patch = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((new_w, new_h), Image.LANCZOS))
    out = np.zeros((28, 28), dtype=np.uint8)
    top, left = (28 - new_h) // 2, (28 - new_w) // 2
    out[top: top + new_h, left: left + new_w] = patch
    return out


@dataclass
class DigitImage:
    """An image file read the MNIST way: the 28x28 array, notes on how, and a warning if blank."""

    array: np.ndarray
    notes: list[str]
    warning: str | None = None


def read_digit(path: str | Path, *, invert: bool = False, framed: bool = False) -> DigitImage:
    """Read ``path`` (PNG, JPEG, any size up to :data:`MAX_PIXELS`) into a :class:`DigitImage`.

    ``framed=True`` fits the image as Fashion-MNIST's articles (:func:`fit_object`), else as
    MNIST's digits (:func:`fit_digit`).

    The EXIF orientation is applied, as image viewers do. A nearly constant image (grey levels
    spanning fewer than :data:`BLANK_RANGE`) gets a warning. A file that is missing, not an image
    or too large is an :class:`ImageReadError` naming it.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if Path(path).is_dir():
        raise ImageReadError(f"{path}: is a directory, not an image file")
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 million pixels; the limit here is lower and says more.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ImageReadError(
                    f"{path}: {width}x{height} is {width * height:,} pixels, more than the {MAX_PIXELS:,} "
                    "normlab decodes (a possible decompression bomb); scale the image down")
            img.load()
            if img.getexif().get(_ORIENTATION, 1) != 1:
                img = ImageOps.exif_transpose(img)  # a copy, so only when there is something to turn
            gray, notes = to_grayscale(img, invert=invert)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageReadError(f"{path}: is a directory, not an image file") from None
    # DecompressionBombError is neither an OSError nor a ValueError: without it a huge image
    # would abort the whole batch instead of failing alone.
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise ImageReadError(f"{path}: not a readable image ({exc})") from None
    spread = int(gray.max()) - int(gray.min()) if gray.size else 0
    warning = None
    if spread < BLANK_RANGE:
        warning = (f"{path}: the image is nearly blank (its grey levels span {spread} of 255, a digit needs "
                   f"at least {BLANK_RANGE}): there is no digit to classify")
    return DigitImage(fit_object(gray) if framed else fit_digit(gray), notes, warning)


def load_image(path: str | Path, *, invert: bool = False) -> np.ndarray:
    """Read ``path`` and return its MNIST-style 28x28 uint8 array (see :func:`read_digit`)."""
    return read_digit(path, invert=invert).array


@torch.no_grad()
def predict_files(model: torch.nn.Module, paths: Sequence[str | Path], *, transform: str, head: str = "logits",
                  mean: float | None = None, std: float | None = None, invert: bool = False,
                  dataset: str = "mnist") -> list[Prediction]:
    """Classify each file. A file that cannot be read gets an error entry; the others are still predicted.

    ``dataset`` is the one the model was trained on: it decides how an image is fitted into 28x28
    (:data:`FRAMED_DATASETS`) and the class names.

    ``head`` is the model's output head: ``softmax`` models (the post's) already return
    probabilities, ``logits`` models get one softmax here. A blank image keeps its label but
    gets a warning; probabilities that are not finite (a broken checkpoint) get a warning and
    no label.
    """
    from normlab.data.registry import get_dataset_spec
    from normlab.data.transforms import get_transform

    names = get_dataset_spec(dataset).class_names
    predictions: list[Prediction] = []
    arrays, ok = [], []
    for path in paths:
        try:
            digit = read_digit(path, invert=invert, framed=dataset in FRAMED_DATASETS)
        except ImageReadError as exc:
            predictions.append(Prediction(str(path), None, None, error=str(exc)))
            continue
        arrays.append(digit.array)
        ok.append(len(predictions))
        predictions.append(Prediction(str(path), None, None, notes=digit.notes, warning=digit.warning))
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
        prediction = predictions[index]
        prediction.probabilities = [float(v) for v in p]
        if not torch.isfinite(p).all():
            prediction.warning = (f"{prediction.path}: the model's probabilities are NaN or infinite, so there "
                                  "is no prediction: the checkpoint's weights are broken")
            continue
        prediction.label = int(p.argmax())
        prediction.name = names[prediction.label] if prediction.label < len(names) else None
    return predictions


def find_checkpoint(path: str | Path, *, model: str | None = None) -> Path:
    """The checkpoint ``path`` means: the file itself, or the one ``.pt`` file in the folder.

    A folder is searched three levels deep, which covers ``normlab train``'s ``OUT/checkpoint.pt``,
    ``normlab compare``'s and ``study``'s ``OUT/checkpoints/NAME.pt``, and checkpoints grouped in
    subfolders of ``checkpoints/``. When there are several, ``model`` picks the one whose file
    or folder is named so or, failing that, the one trained as that model. Raises
    :class:`CheckpointError` listing the candidates otherwise.
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path} does not exist")
    found = sorted(p for pattern in ("*.pt", "*/*.pt", "*/*/*.pt") for p in path.glob(pattern)
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not found:
        raise CheckpointError(
            f"no checkpoint (*.pt) in {path}: pass the file, or the folder that normlab train or compare "
            "wrote (OUT/checkpoint.pt, OUT/checkpoints/NAME.pt)")
    if model is None and len(found) == 1:
        return found[0]
    configs = {p: _saved_config(p) for p in found}
    if model is not None:
        chosen = ([p for p in found if model == p.stem or model in p.relative_to(path).parent.parts]
                  or [p for p in found if configs[p].get("model") == model])
        if len(chosen) == 1:
            return chosen[0]

    def describe(p: Path) -> str:
        config = configs[p]
        trained = f" ({config['model']}, seed {config.get('seed')})" if "model" in config else ""
        return f"{p.relative_to(path)}{trained}"

    names = ", ".join(describe(p) for p in found[:20]) + (f" and {len(found) - 20} more" if len(found) > 20 else "")
    which = (f"--model {model} matches {len(chosen)} of them" if model is not None
             else "choose one with --model NAME (a model, file or folder name) or pass the file")
    raise CheckpointError(f"{path} holds {len(found)} checkpoints: {names}; {which}")


def _saved_config(path: Path) -> dict:
    """The config a checkpoint was trained with, or ``{}`` for a file that is none (only to list it)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)  # tensors stay on disk
        config = payload.get("config") if isinstance(payload, dict) else None
    except Exception:  # any unreadable file is simply listed by name
        return {}
    return config if isinstance(config, dict) else {}


def load_model(checkpoint: str | Path, *, device: str = "cpu"):
    """Rebuild the model a checkpoint was trained with; return ``(model, config, data_stats)``."""
    from normlab.train import TrainConfig, build_model, load_checkpoint

    payload = load_checkpoint(checkpoint)
    config = TrainConfig.from_dict(payload["config"])
    model = build_model(config)
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {checkpoint} does not fit model {config.model!r}: {exc}") from exc
    return model.to(device).eval(), config, payload.get("data_stats") or {}
