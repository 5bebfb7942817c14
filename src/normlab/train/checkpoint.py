"""Checkpoints: written atomically at every epoch end, loaded without running code.

A checkpoint holds everything needed to resume with results identical (on the CPU) to a run
that was never stopped: model and optimizer state, the learning-rate scheduler's state (None
under a constant rate), the RNG states (global torch RNG and the loader's shuffling generator),
the model's train/eval mode (the ``blog`` protocol trains in eval mode from epoch 2 on), the
finished epochs' metrics and the config.
"""

from __future__ import annotations

import dataclasses
import math
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
    """Read a checkpoint with ``weights_only=True``: a checkpoint can never run code. A missing,
    truncated or foreign file is a :class:`CheckpointError` naming it; a malformed entry, one
    naming the field."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        raise CheckpointError(f"checkpoint {path} is unreadable (truncated or not a normlab checkpoint): "
                              f"{exc}") from exc
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(f"checkpoint {path} is not a normlab checkpoint")
    if payload["format_version"] != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {payload['format_version']}; "
                              f"this normlab reads version {FORMAT_VERSION}")
    for key in ("config", "model", "epoch", "optimizer", "rng", "result"):
        if key not in payload:
            raise CheckpointError(f"checkpoint {path} lacks its {key!r} entry")
    _validate(path, payload)
    return payload


def _validate(path: Path, payload: dict[str, Any]) -> None:
    """Check every entry the trainer and ``predict`` read, so a malformed one is named here
    instead of surfacing as a ``TypeError`` deep in a resume (or, for a negative epoch, as extra
    epochs trained)."""
    from normlab.errors import ConfigError
    from normlab.train.config import TrainConfig, _is_int, _is_number
    from normlab.train.resolve import resolve
    from normlab.train.record import RunRecord

    def bad(field: str, expected: str, value: Any) -> CheckpointError:
        shown = (f"a {value.dtype} tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor)
                 else repr(value))
        return CheckpointError(f"checkpoint {path}: {field!r} must be {expected}, got {shown[:200]}")

    config = payload["config"]
    if not isinstance(config, dict):
        raise bad("config", "a dict of TrainConfig fields", config)
    try:
        resolve(TrainConfig.from_dict(config))
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path}: 'config' is invalid: {exc}") from None

    epoch = payload["epoch"]
    if not _is_int(epoch) or epoch < 0:
        raise bad("epoch", "the number of finished epochs, an integer >= 0", epoch)

    for field in ("model", "best_state"):
        state = payload.get(field)
        if field == "best_state" and state is None:
            continue
        if not isinstance(state, dict) or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
            raise bad(field, "a state dict (parameter names to tensors)", type(state).__name__)

    optimizer = payload["optimizer"]
    if not (isinstance(optimizer, dict) and isinstance(optimizer.get("state"), dict)
            and isinstance(optimizer.get("param_groups"), list)
            and all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in optimizer["param_groups"])):
        raise bad("optimizer", "an optimizer state dict (with 'state' and 'param_groups')", optimizer)

    _validate_rng(path, payload["rng"], bad)

    scheduler = payload.get("scheduler")
    if scheduler is not None and not (
            isinstance(scheduler, dict) and _is_int(scheduler.get("last_epoch")) and scheduler["last_epoch"] >= 0
            and isinstance(scheduler.get("base_lrs"), list)
            and all(_is_number(lr) and math.isfinite(lr) for lr in scheduler["base_lrs"])):
        raise bad("scheduler", "a learning-rate scheduler's state dict ('last_epoch' an integer >= 0, 'base_lrs' a "
                  "list of numbers) or None", scheduler)

    result = payload["result"]
    if not isinstance(result, dict):
        raise bad("result", "a dict of RunRecord fields", type(result).__name__)
    for f in dataclasses.fields(RunRecord):
        if f.default_factory is list and not isinstance(result.get(f.name, []), list):
            raise bad(f"result.{f.name}", "a list", result[f.name])
    try:
        RunRecord.from_dict(result)
    except TypeError as exc:
        raise CheckpointError(f"checkpoint {path}: 'result' is invalid: {exc}") from None
    done = len(result.get("val_accuracy", []))
    if done != epoch:
        raise CheckpointError(f"checkpoint {path}: 'epoch' is {epoch} but 'result' holds {done} epochs")

    if not isinstance(payload.get("training_mode", True), bool):
        raise bad("training_mode", "True or False", payload["training_mode"])
    best = payload.get("best_accuracy", -1.0)
    if not _is_number(best):
        raise bad("best_accuracy", "a number", best)
    stats = payload.get("data_stats") or {}
    if not isinstance(stats, dict):
        raise bad("data_stats", "a dict with 'mean' and 'std'", stats)
    for key in ("mean", "std"):
        value = stats.get(key)
        if value is not None and not (_is_number(value) and math.isfinite(value)):
            raise bad(f"data_stats.{key}", "a finite number or None", value)
    if stats.get("std") is not None and stats["std"] <= 0:
        raise bad("data_stats.std", "a positive number", stats["std"])


def _validate_rng(path: Path, rng: Any, bad) -> None:
    if not isinstance(rng, dict):
        raise bad("rng", "a dict of generator states", type(rng).__name__)
    for key in ("torch", "loader"):
        state = rng.get(key)
        if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8:
            raise bad(f"rng.{key}", "a CPU generator state (a uint8 tensor)", state)
        try:
            torch.Generator().set_state(state)  # a throwaway generator: checks size and content
        except (RuntimeError, TypeError) as exc:
            raise CheckpointError(f"checkpoint {path}: 'rng.{key}' is not a valid generator state: {exc}") from None
    cuda = rng.get("cuda", [])
    if not isinstance(cuda, (list, tuple)) or not all(
            isinstance(t, torch.Tensor) and t.dtype == torch.uint8 for t in cuda):
        raise bad("rng.cuda", "a list of CUDA generator states (uint8 tensors)", cuda)


def check_compatible(path: str | os.PathLike, saved: dict[str, Any], expected: dict[str, Any]) -> None:
    """Raise :class:`CheckpointError` listing the fields where a checkpoint's config differs."""
    diffs = [f"{key}: checkpoint {saved.get(key)!r} vs requested {expected.get(key)!r}"
             for key in sorted(set(saved) | set(expected)) if saved.get(key) != expected.get(key)]
    if diffs:
        raise CheckpointError(f"checkpoint {path} was written by another model or config; differences: "
                              + "; ".join(diffs))
