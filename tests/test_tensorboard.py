"""--tensorboard: event files with hierarchical tags, one folder per (variant, seed); a clear error without the extra."""

from __future__ import annotations

import sys

import pytest

from normlab.cli import main


def test_study_writes_one_event_folder_per_run(tmp_path, data_dir):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = tmp_path / "tb"
    code = main(["study", "--variants", "lenet5", "lenet5-bn", "--seeds", "2", "--epochs", "2", "--subset", "512",
                 "--device", "cpu", "--workers", "1", "--no-report", "--quiet", "--out", str(tmp_path / "s"),
                 "--data-dir", str(data_dir), "--tensorboard", str(tb)])
    assert code == 0
    folders = sorted(p.name for p in tb.iterdir())
    assert folders == ["lenet5-bn_seed0", "lenet5-bn_seed1", "lenet5_seed0", "lenet5_seed1"]
    events = EventAccumulator(str(tb / "lenet5-bn_seed1"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss/train", "loss/val", "accuracy/train", "accuracy/val"} <= tags
    assert [e.step for e in events.Scalars("accuracy/val")] == [1, 2]
    assert len(events.Scalars("loss/train")) == 2 * (512 // 64)


def test_missing_extra_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard now raises ImportError
    code = main(["study", "--seeds", "1", "--epochs", "1", "--out", str(tmp_path), "--tensorboard", str(tmp_path / "tb")])
    assert code == 2
    assert "normlab[tensorboard]" in capsys.readouterr().err
