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


# -- issue 12: compare is a one-seed study: resume, the out-folder rule, data up front, SIGINT ------

import os
import signal
import subprocess
import sys
import time

from normlab.experiments.store import ResultsDB


def _compare(out, data_dir, *extra):
    return ["compare", "--epochs", "1", "--subset", "512", "--device", "cpu", "--workers", "1",
            "--out", str(out), "--data-dir", str(data_dir), *extra]


def test_compare_records_its_runs_and_the_same_command_again_retrains_nothing(tmp_path, data_dir, capsys):
    out = tmp_path / "cmp"
    assert main(_compare(out, data_dir)) == 0
    first = capsys.readouterr().out
    assert first.count("validation_accuracy:") == 2
    with ResultsDB(out / "normlab.db") as db:
        assert db.studies() == ["compare"]
        assert sorted(r.variant for r in db.list_runs()) == ["lenet5", "lenet5-bn"]
    metrics = json.loads((out / "metrics.json").read_text())
    files = sorted(p.relative_to(out) for p in out.rglob("*"))

    assert main(_compare(out, data_dir)) == 0
    again = capsys.readouterr().out
    assert "validation_accuracy:" not in again  # nothing trained again
    assert "2 run(s) finished earlier" in again
    table = first[first.index("model "):first.rindex("\n\n")]
    assert table in again  # the same table, from the database
    assert json.loads((out / "metrics.json").read_text())["runs"] == metrics["runs"]
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == files
    assert main(["runs", "list", str(out)]) == 0
    assert "lenet5-bn" in capsys.readouterr().out


def test_compare_refuses_another_runs_out_unless_told_to_overwrite(tmp_path, data_dir, capsys):
    out = tmp_path / "cmp"
    assert main(_compare(out, data_dir)) == 0
    capsys.readouterr()
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    assert main(_compare(out, data_dir, "--epochs", "2")) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "epochs 1 there, 2 here" in err and str(out) in err
    # The same settings as a study over seeds would put its report beside the figures of one seed.
    assert main(_compare(out, data_dir, "--seeds", "2")) == 2
    err = capsys.readouterr().err
    assert "outputs of another comparison: " in err and "metrics.json" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # untouched

    assert main(_compare(out, data_dir, "--epochs", "2", "--models", "lenet5", "--overwrite")) == 0
    capsys.readouterr()
    # No stale file of the earlier run beside the new ones.
    assert not (out / "accuracy_lenet5-bn.png").exists()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["lenet5.pt"]
    with ResultsDB(out / "normlab.db") as db:
        assert [(r.variant, r.epochs_done) for r in db.list_runs()] == [("lenet5", 2)]
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["runs"]) == ["lenet5"] and len(metrics["runs"]["lenet5"]["val_accuracy"]) == 2

    # What compare did not write, it never deletes.
    (out / "notes.txt").write_text("mine")
    assert main(_compare(out, data_dir, "--overwrite")) == 2
    assert "notes.txt" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine" and (out / "metrics.json").exists()


def test_compare_with_an_empty_data_dir_stops_before_writing_anything(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["compare", "--epochs", "1", "--out", str(tmp_path / "cmp"), "--data-dir", str(empty)]) == 2
    err = capsys.readouterr().err
    assert err.count("normlab: error:") == 1 and str(empty) in err
    assert not (tmp_path / "cmp").exists()


def test_compare_seed_limits_and_conflicts_are_clear(tmp_path, capsys):
    from normlab.experiments.study import MAX_SEEDS

    assert main(["compare", "--seeds", "999999999", "--out", str(tmp_path / "a")]) == 2
    assert f"at most {MAX_SEEDS:,}" in capsys.readouterr().err
    assert main(["compare", "--seeds", "3", "--seed", "4", "--out", str(tmp_path / "b")]) == 2
    assert "--seed" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_sigint_to_the_compare_driver_keeps_finished_epochs_and_the_same_command_resumes(tmp_path, data_dir):
    out = tmp_path / "cmp"
    epochs = 8
    cmd = [sys.executable, "-m", "normlab", "compare", "--epochs", str(epochs), "--subset", "4096",
           "--device", "cpu", "--workers", "2", "--out", str(out), "--data-dir", str(data_dir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list(out.glob("checkpoints/*.pt"))) < 2:
            time.sleep(0.05)
        assert len(list(out.glob("checkpoints/*.pt"))) == 2, "the runs never finished an epoch"
        os.kill(proc.pid, signal.SIGINT)
        interrupted = time.monotonic()
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and time.monotonic() - interrupted < 10
    assert len(stderr.splitlines()) == 1 and "interrupted" in stderr and "same command" in stderr
    assert not (out / "metrics.json").exists()  # no outputs from half a comparison
    trained = {m: stdout.count(f"{m} epoch ") for m in ("lenet5", "lenet5-bn")}
    assert min(trained.values()) < epochs

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    for model, done in trained.items():
        lines = [line for line in again.stdout.splitlines() if line.startswith(f"{model} epoch ")]
        # Epochs finished before the interrupt are not trained again.
        assert len(lines) <= epochs - done + 1 and lines[-1].startswith(f"{model} epoch {epochs}:")
    metrics = json.loads((out / "metrics.json").read_text())
    assert all(len(r["val_accuracy"]) == epochs and r["status"] == "done" for r in metrics["runs"].values())


def test_an_out_that_cannot_be_created_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    assert main(["compare", "--epochs", "1", "--out", str(tmp_path / "file" / "cmp")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("normlab: error: cannot create folder") and str(tmp_path / "file") in err
    assert "Traceback" not in err
