"""Checkpoints: written atomically at every epoch end, loaded without running code.

A checkpoint holds everything needed to resume with results identical (on the CPU) to a run
that was never stopped: model and optimizer state, the RNG states (global torch RNG and the
loader's shuffling generator), the model's train/eval mode (the ``blog`` protocol trains in
eval mode from epoch 2 on), the finished epochs' metrics and the config.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from normlab.errors import CheckpointError
from normlab.fileio import atomic_writer

FORMAT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    with atomic_writer(path) as fh:
        torch.save({"format_version": FORMAT_VERSION, **payload}, fh)
    return Path(path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``: a checkpoint can never run code.

    Raises :class:`CheckpointError` naming the file when it is missing, truncated, not a
    checkpoint, or from an unknown format version.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        raise CheckpointError(
            f"checkpoint {path} is unreadable (truncated or not a normlab checkpoint): {exc}"
        ) from exc
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(f"checkpoint {path} is not a normlab checkpoint")
    if payload["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {payload['format_version']}; "
            f"this normlab reads version {FORMAT_VERSION}"
        )
    for key in ("config", "model", "epoch", "optimizer", "rng", "result"):
        if key not in payload:
            raise CheckpointError(f"checkpoint {path} lacks its {key!r} entry")
    return payload


def check_compatible(path: str | os.PathLike, saved: dict[str, Any], expected: dict[str, Any]) -> None:
    """Raise :class:`CheckpointError` listing the fields where a checkpoint's config differs."""
    diffs = [
        f"{key}: checkpoint {saved.get(key)!r} vs requested {expected.get(key)!r}"
        for key in sorted(set(saved) | set(expected))
        if saved.get(key) != expected.get(key)
    ]
    if diffs:
        raise CheckpointError(
            f"checkpoint {path} was written by another model or config; differences: " + "; ".join(diffs)
        )
