"""Learning-rate schedules (issue 15C): constant, cosine and one-cycle, stepped after every batch.

Each schedule's rates, read from the optimizer at every training step, equal torch's scheduler's
and the closed forms torch documents; a run stopped midway resumes to the same numbers; constant
is the trainer as it was: no scheduler, the same hash, the same record.
"""

from __future__ import annotations

import math

import pytest
import torch

from normlab.cli import main
from normlab.errors import CheckpointError, ConfigError
from normlab.train import Callback, TrainConfig, load_checkpoint, train
from normlab.train.checkpoint import FORMAT_VERSION
from normlab.train.config import LR_SCHEDULES

STEPS_PER_EPOCH = 1024 // 64  # small_splits: 1,024 training images, batches of 64


def cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"model": "lenet5-bn", "epochs": 3, "device": "cpu", "subset": 1024, **kw})


class _Rates(Callback):
    """The learning rate of every training step, read from the optimizer before the step."""

    def __init__(self):
        self.rates: list[float] = []

    def on_train_start(self, model, optimizer, loss_fn):
        self.optimizer = optimizer

    def on_step_start(self, step, epoch, x, y):
        self.rates.append(self.optimizer.param_groups[0]["lr"])


def _torch_rates(schedule: str, lr: float, total: int) -> list[float]:
    """The rates torch's own scheduler gives on a fresh optimizer, stepped ``total`` times."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total) if schedule == "cosine" else
                 torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total, cycle_momentum=False))
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def _closed_form(schedule: str, lr: float, t: int, total: int) -> float:
    """The documented formulas: cosine from lr to 0 over the run; one-cycle from lr/25 up to lr over the first 30%
    of the steps and down to lr/25e4 by the last, each half a cosine."""
    def cos_anneal(start: float, end: float, pct: float) -> float:
        return end + (start - end) / 2 * (1 + math.cos(math.pi * pct))

    if schedule == "cosine":
        return cos_anneal(lr, 0.0, t / total)
    peak = 0.3 * total - 1
    if t <= peak:
        return cos_anneal(lr / 25, lr, t / peak)
    return cos_anneal(lr, lr / 25 / 1e4, (t - peak) / (total - 1 - peak))


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
@pytest.mark.parametrize("optimizer, lr", [("adam", 3e-3), ("sgd", 0.05)])
def test_each_schedule_gives_torchs_rates_step_by_step(small_splits, schedule, optimizer, lr):
    rates = _Rates()
    result = train(cfg(lr_schedule=schedule, optimizer=optimizer, lr=lr), splits=small_splits, progress=False,
                   callbacks=[rates])
    total = 3 * STEPS_PER_EPOCH
    assert result.status == "done" and len(rates.rates) == total
    assert rates.rates == _torch_rates(schedule, lr, total)  # per batch, over the whole run: bit for bit
    for t, rate in enumerate(rates.rates):
        assert rate == pytest.approx(_closed_form(schedule, lr, t, total), rel=1e-9, abs=1e-15), t
    # The record keeps the rate each epoch started at.
    starts = rates.rates[::STEPS_PER_EPOCH]
    assert result.diagnostics["learning_rate"] == {"epoch_start": starts}


def test_constant_is_the_trainer_as_it_was(small_splits):
    from normlab.train.loop import build_scheduler

    rates = _Rates()
    config = cfg(epochs=2)
    assert config.lr_schedule == "constant" and LR_SCHEDULES[0] == "constant"
    assert build_scheduler(config, torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1), 16) is None
    result = train(config, splits=small_splits, progress=False, callbacks=[rates])
    assert rates.rates == [config.lr] * 2 * STEPS_PER_EPOCH
    assert result.diagnostics == {}  # nothing new in a constant run's record
    # Configs written before the field existed keep their hashes (pinned in test_train) and load as constant.
    old = config.to_dict()
    del old["lr_schedule"]
    assert TrainConfig.from_dict(old) == config
    assert cfg(lr_schedule="cosine").config_hash() != config.config_hash()


class _StopAt(Callback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, step, epoch, x, y, loss):
        if step == self.step:
            raise KeyboardInterrupt


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_resume_midway_gives_the_uninterrupted_numbers(small_splits, tmp_path, schedule):
    config = cfg(lr_schedule=schedule, optimizer="sgd", lr=0.05)
    full_rates, resumed_rates = _Rates(), _Rates()
    full = train(config, splits=small_splits, progress=False, callbacks=[full_rates])
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(KeyboardInterrupt):  # in the middle of epoch 2: epoch 1's checkpoint survives
        train(config, splits=small_splits, progress=False, checkpoint_path=ckpt,
              callbacks=[_StopAt(STEPS_PER_EPOCH + 5)])
    payload = load_checkpoint(ckpt)
    assert payload["epoch"] == 1 and payload["scheduler"]["last_epoch"] == STEPS_PER_EPOCH
    resumed = train(config, splits=small_splits, progress=False, checkpoint_path=ckpt, resume=True,
                    callbacks=[resumed_rates])
    assert resumed_rates.rates == full_rates.rates[STEPS_PER_EPOCH:]
    assert resumed.train_loss_per_batch == full.train_loss_per_batch
    assert resumed.val_loss_per_batch == full.val_loss_per_batch and resumed.val_accuracy == full.val_accuracy
    assert resumed.diagnostics == full.diagnostics


def test_a_scheduled_checkpoint_resumes_only_over_the_same_epochs(small_splits, tmp_path):
    # The schedule spans the run's steps: another epoch count changes every rate after the checkpoint.
    ckpt = tmp_path / "ckpt.pt"
    train(cfg(lr_schedule="cosine", epochs=1), splits=small_splits, progress=False, checkpoint_path=ckpt)
    with pytest.raises(CheckpointError, match="epochs: checkpoint 1 vs requested 2"):
        train(cfg(lr_schedule="cosine", epochs=2), splits=small_splits, progress=False, checkpoint_path=ckpt,
              resume=True)
    with pytest.raises(CheckpointError, match="lr_schedule: checkpoint 'cosine' vs requested 'onecycle'"):
        train(cfg(lr_schedule="onecycle", epochs=1), splits=small_splits, progress=False, checkpoint_path=ckpt,
              resume=True)
    # A constant run may still be resumed for more epochs, as before.
    train(cfg(epochs=1), splits=small_splits, progress=False, checkpoint_path=ckpt)
    assert len(train(cfg(epochs=2), splits=small_splits, progress=False, checkpoint_path=ckpt,
                     resume=True).val_accuracy) == 2


@pytest.mark.parametrize("breaks, message", [
    (lambda p: p.update(scheduler=[1, 2]), "'scheduler' must be a learning-rate scheduler's state dict"),
    (lambda p: p["scheduler"].update(last_epoch="16"), "'scheduler' must be"),
    (lambda p: p["scheduler"].update(last_epoch=-3), "'scheduler' must be"),
    (lambda p: p["scheduler"].update(base_lrs=[float("nan")]), "'scheduler' must be"),
])
def test_a_malformed_scheduler_entry_is_named(small_splits, tmp_path, breaks, message):
    ckpt = tmp_path / "ckpt.pt"
    train(cfg(lr_schedule="cosine", epochs=1), splits=small_splits, progress=False, checkpoint_path=ckpt)
    payload = torch.load(ckpt, weights_only=True)
    assert payload["format_version"] == FORMAT_VERSION
    breaks(payload)
    torch.save(payload, ckpt)
    with pytest.raises(CheckpointError, match=f"^checkpoint {ckpt}: {message}"):
        load_checkpoint(ckpt)


def test_a_scheduled_run_resumes_only_from_its_own_schedule(small_splits, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    config = cfg(lr_schedule="cosine", epochs=2)
    with pytest.raises(KeyboardInterrupt):
        train(config, splits=small_splits, progress=False, checkpoint_path=ckpt, callbacks=[_StopAt(STEPS_PER_EPOCH)])
    payload = torch.load(ckpt, weights_only=True)
    for entry, message in ((None, "lacks its 'scheduler' entry, which the 'cosine' schedule needs to resume"),
                           ({**payload["scheduler"], "T_max": 99}, "was written for another schedule: T_max 99 vs 32")):
        torch.save({**payload, "scheduler": entry}, ckpt)
        with pytest.raises(CheckpointError, match=f"^checkpoint {ckpt} {message}"):
            train(config, splits=small_splits, progress=False, checkpoint_path=ckpt, resume=True)


def test_config_and_flag(capsys):
    with pytest.raises(ConfigError, match="lr_schedule='linear' is invalid; valid: constant, cosine, onecycle"):
        TrainConfig(lr_schedule="linear")
    with pytest.raises(SystemExit) as info:
        main(["train", "--lr-schedule", "linear"])
    assert info.value.code == 2
    assert "--lr-schedule: invalid choice: 'linear' (choose from 'constant', 'cosine', 'onecycle')" in \
        capsys.readouterr().err
    # Only a constant rate lets a checkpoint be resumed with another epoch count.
    assert "epochs" not in TrainConfig().identity()
    assert TrainConfig(lr_schedule="onecycle").identity()["epochs"] == 10
