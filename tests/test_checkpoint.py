"""Checkpoints: malformed entries are a CheckpointError naming the field; saving fails clearly."""

from __future__ import annotations

import os
import tempfile

import pytest
import torch

from normlab.cli import main
from normlab.errors import CheckpointError, OutputError
from normlab.train import RunRecord, TrainConfig, build_model, load_checkpoint, save_checkpoint, train
from normlab.train.checkpoint import FORMAT_VERSION


def _valid_payload() -> dict:
    """What the trainer writes after one epoch, built without training."""
    config = TrainConfig(model="lenet5", transform="none", epochs=1, device="cpu")
    model = build_model(config)
    optimizer = torch.optim.Adam(model.parameters())
    result = RunRecord(config=config.to_dict(), train_accuracy=[0.5], val_accuracy=[0.5], train_loss=[1.0],
                       val_loss=[1.0])
    return {
        "config": config.to_dict(), "data_stats": {"mean": 0.13, "std": 0.31}, "epoch": 1,
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "training_mode": True,
        "rng": {"torch": torch.get_rng_state(), "loader": torch.Generator().get_state()},
        "result": result.to_dict(), "best_state": None, "best_accuracy": -1.0,
    }


def test_a_valid_checkpoint_loads(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", _valid_payload())
    payload = load_checkpoint(path)
    assert payload["epoch"] == 1 and payload["format_version"] == FORMAT_VERSION


_MALFORMED = {
    # field (as the message names it): (how to break the payload, what the message says)
    "config": (lambda p: p.update(config=["lenet5"]), "'config' must be a dict"),
    "config.lr": (lambda p: p["config"].update(lr="fast"), "'config' is invalid: lr must be"),
    "config.key": (lambda p: p["config"].update(colour="red"), "'config' is invalid: unknown config key"),
    "config.model": (lambda p: p["config"].update(model="lenet6"), "'config' is invalid: unknown model 'lenet6'"),
    "epoch<0": (lambda p: p.update(epoch=-1), "'epoch' must be the number of finished epochs, an integer >= 0"),
    "epoch type": (lambda p: p.update(epoch="1"), "'epoch' must be"),
    "epoch bool": (lambda p: p.update(epoch=True), "'epoch' must be"),
    "epoch vs result": (lambda p: p.update(epoch=3), "'epoch' is 3 but 'result' holds 1 epochs"),
    "model": (lambda p: p.update(model=[torch.zeros(2)]), "'model' must be a state dict"),
    "model values": (lambda p: p.update(model={"w": 1.0}), "'model' must be a state dict"),
    "best_state": (lambda p: p.update(best_state="best"), "'best_state' must be a state dict"),
    "optimizer": (lambda p: p.update(optimizer={"lr": 0.1}), "'optimizer' must be an optimizer state dict"),
    "rng": (lambda p: p.update(rng=torch.get_rng_state()), "'rng' must be a dict"),
    "rng.torch dtype": (lambda p: p["rng"].update(torch=torch.zeros(5056)), "'rng.torch' must be a CPU generator"),
    "rng.torch size": (lambda p: p["rng"].update(torch=torch.zeros(3, dtype=torch.uint8)),
                       "'rng.torch' is not a valid generator state"),
    "rng.loader": (lambda p: p["rng"].pop("loader"), "'rng.loader' must be a CPU generator"),
    "rng.cuda": (lambda p: p["rng"].update(cuda="state"), "'rng.cuda' must be a list"),
    "result": (lambda p: p.update(result=[0.5]), "'result' must be a dict"),
    "result.val_accuracy": (lambda p: p["result"].update(val_accuracy=0.5), "'result.val_accuracy' must be a list"),
    "result.config": (lambda p: p["result"].pop("config"), "'result' is invalid"),
    "training_mode": (lambda p: p.update(training_mode="yes"), "'training_mode' must be True or False"),
    "best_accuracy": (lambda p: p.update(best_accuracy="0.9"), "'best_accuracy' must be a number"),
    "data_stats": (lambda p: p.update(data_stats=[0.1, 0.3]), "'data_stats' must be a dict"),
    "data_stats.std": (lambda p: p["data_stats"].update(std=0.0), "'data_stats.std' must be a positive number"),
    "data_stats.mean": (lambda p: p["data_stats"].update(mean=float("nan")), "'data_stats.mean' must be a finite"),
}


@pytest.mark.parametrize("case", sorted(_MALFORMED))
def test_a_malformed_entry_is_named(tmp_path, case):
    breaks, message = _MALFORMED[case]
    payload = _valid_payload()
    breaks(payload)
    path = tmp_path / "c.pt"
    torch.save({"format_version": FORMAT_VERSION, **payload}, path)
    with pytest.raises(CheckpointError, match=f"^checkpoint {path}: .*") as info:
        load_checkpoint(path)
    assert message in str(info.value)


def test_predict_names_the_malformed_field(tmp_path, capsys):
    payload = _valid_payload()
    payload["config"] = "lenet5"
    path = tmp_path / "c.pt"
    torch.save({"format_version": FORMAT_VERSION, **payload}, path)
    assert main(["predict", "--checkpoint", str(path), "x.png"]) == 2
    err = capsys.readouterr().err
    assert f"normlab: error: checkpoint {path}: 'config' must be a dict" in err and "Traceback" not in err


def test_a_negative_epoch_trains_no_extra_epochs(tmp_path, small_splits):
    config = TrainConfig(model="lenet5", epochs=1, device="cpu", subset=1024)
    path = tmp_path / "checkpoint.pt"
    train(config, splits=small_splits, checkpoint_path=path, progress=False)
    payload = torch.load(path, weights_only=True)
    payload["epoch"] = -1  # range(epoch + 1, epochs + 1) would have run epochs 0 and 1
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="'epoch' must be the number of finished epochs"):
        train(config, splits=small_splits, checkpoint_path=path, resume=True, progress=False)


def test_a_full_disk_during_training_is_one_line(tmp_path, data_dir, capsys, monkeypatch):
    # Every temporary file writes to /dev/full: torch.save fails inside its zip writer.
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    from normlab import fileio

    real = tempfile.mkstemp

    def full_mkstemp(*args, **kwargs):
        fd, name = real(*args, **kwargs)
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, fd)
        os.close(full)
        return fd, name

    monkeypatch.setattr(fileio.tempfile, "mkstemp", full_mkstemp)
    out = tmp_path / "run"
    code = main(["train", "--model", "lenet5", "--epochs", "1", "--subset", "256", "--device", "cpu", "--quiet",
                 "--out", str(out), "--data-dir", str(data_dir)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == f"normlab: error: cannot write {out / 'checkpoint.pt'}: no space left on device"
    assert list(out.iterdir()) == []  # nothing half-written


def test_save_checkpoint_to_a_read_only_folder(tmp_path, monkeypatch):
    import errno

    from normlab import fileio

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(fileio.tempfile, "mkstemp", read_only)
    with pytest.raises(OutputError, match=f"^cannot write {tmp_path / 'c.pt'}: read-only file system$"):
        save_checkpoint(tmp_path / "c.pt", _valid_payload())
