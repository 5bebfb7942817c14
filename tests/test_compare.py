"""normlab compare: the main job's outputs, its table, and its errors."""

from __future__ import annotations

import csv
import json

from PIL import Image

from normlab.cli import main


def test_compare_writes_figures_metrics_csv_and_table(tmp_path, data_dir, capsys):
    out = tmp_path / "cmp"
    code = main(["compare", "--epochs", "2", "--subset", "1024", "--device", "cpu", "--protocol", "blog",
                 "--out", str(out), "--data-dir", str(data_dir)])
    assert code == 0
    printed = capsys.readouterr().out
    # One line per epoch per model, then the table beside the post's values.
    assert printed.count("validation_accuracy:") == 4
    assert "about 93%" in printed and "about 98.5%" in printed
    for name in ("accuracy_lenet5.png", "accuracy_lenet5-bn.png", "val_accuracy.png", "losses.png"):
        with Image.open(out / name) as img:
            assert img.width > 300 and img.height > 200
    metrics = json.loads((out / "metrics.json").read_text(), parse_constant=lambda c: 1 / 0)  # strict JSON
    runs = metrics["runs"]
    assert set(runs) == {"lenet5", "lenet5-bn"}
    for run in runs.values():
        assert run["config"]["protocol"] == "blog" and run["status"] == "done"
        assert len(run["log_dict"]["training_loss_per_batch"]) == 2 * 16
        assert len(run["log_dict"]["validation_accuracy_per_epoch"]) == 2
    with open(out / "per_epoch.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["model"], r["epoch"]) for r in rows] == [("lenet5", "1"), ("lenet5", "2"),
                                                         ("lenet5-bn", "1"), ("lenet5-bn", "2")]
    assert float(rows[-1]["val_accuracy"]) == runs["lenet5-bn"]["val_accuracy"][-1]
    with open(out / "per_batch.csv") as fh:
        batches = list(csv.DictReader(fh))
    assert len(batches) == 2 * (2 * 16 + 2 * 157)  # train batches + full test set at batch 64, per model
    assert (out / "checkpoints" / "lenet5-bn.pt").exists()


def test_compare_rejects_unknown_and_repeated_models(tmp_path, capsys):
    assert main(["compare", "--models", "lenet5", "resnet", "--out", str(tmp_path)]) == 2
    assert "resnet" in capsys.readouterr().err
    assert main(["compare", "--models", "lenet5", "lenet5", "--out", str(tmp_path)]) == 2
    assert "more than once" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written for a bad command
