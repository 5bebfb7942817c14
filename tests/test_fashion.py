"""Fashion-MNIST everywhere (issue 15): every preset's --quick, compare, train, predict and the data
commands run on it, and the report names the dataset beside its numbers and compares with the
post (whose numbers are MNIST's) only on MNIST.

The files themselves (checksums, offline loading) are tested in tests/test_data_fashion.py.
"""

from __future__ import annotations

import json

import pytest

from conftest import run_record
from normlab.cli import main
from normlab.experiments.compare import CompareResult
from normlab.experiments.presets import build_preset, list_presets
from normlab.experiments.store import ResultsDB
from normlab.post import POST_REPORTED
from normlab.train import TrainConfig


# --------------------------------------------------------------------------------------------
# Every preset's --quick on Fashion-MNIST
# --------------------------------------------------------------------------------------------


def _sets_dataset(preset: str) -> bool:
    """Whether the preset's variants choose the dataset themselves (then --dataset cannot apply)."""
    spec = build_preset(preset, base=TrainConfig())
    return any("dataset" in v.overrides for v in spec.variants)


@pytest.mark.parametrize("preset", list_presets())
def test_every_preset_runs_quick_on_fashion_mnist(preset, fashion_dir, tmp_path, capsys):
    out = tmp_path / preset
    # A typed --subset and --epochs shrink --quick further, so that every preset fits in CI time.
    args = ["study", "--preset", preset, "--quick", "--dataset", "fashion-mnist", "--subset", "128", "--epochs", "1",
            "--quiet", "--out", str(out)]
    if _sets_dataset(preset):
        assert main(args) == 2
        assert "--dataset conflicts with preset" in capsys.readouterr().err
        return
    assert main(args) == 0, capsys.readouterr().err
    with ResultsDB(out / "normlab.db", readonly=True) as db:
        runs = db.list_runs(f"{preset}-quick")
    assert runs and {r.status for r in runs} <= {"done", "diverged"}
    assert {r.config["dataset"] for r in runs} == {"fashion-mnist"}
    page = (out / "report.html").read_text()
    held_out = runs[0].config.get("val_split", 0) > 0  # then validation is a held-out part of training
    assert f"validation (fashion-mnist{'' if held_out else ' test set'}) accuracy" in page
    assert '<section id="post">' not in page  # the post's numbers are MNIST's


# --------------------------------------------------------------------------------------------
# The report: the dataset beside every number, the post only on MNIST
# --------------------------------------------------------------------------------------------


def _runs(dataset: str, split: str = "test", **config):
    runs, i = [], 0
    for variant, final in (("lenet5", 0.86), ("lenet5-bn", 0.88)):
        for seed, noise in enumerate((0.0, 0.002, -0.001)):
            i += 1
            accs = [final - 0.05 + noise, final + noise]
            cfg = TrainConfig(model=variant, dataset=dataset, seed=seed, epochs=2, **config).to_dict()
            runs.append(run_record(id=i, variant=variant, seed=seed, config=cfg, config_hash=f"{i:x}", val_accuracy=accs,
                                   val_loss=[0.4, 0.3], train_loss=[0.5, 0.4], epoch_seconds=[2.0, 2.0],
                                   val_split_name=split))
    return runs


@pytest.mark.parametrize("dataset", ["fashion-mnist", "mnist"])
def test_the_report_names_the_dataset_where_it_gives_numbers(dataset):
    from normlab.report import build_report

    report = build_report(_runs(dataset), generated_at=0)
    label = f"validation ({dataset} test set)"
    assert report.meta["Scale"].startswith(dataset)
    # The verdicts' numbers under the headline, the tables' and the figures' captions.
    assert report.highlights[0].startswith(f"Final {label} accuracy, mean over seeds"), report.highlights
    captions = [t.caption for s in report.sections for t in s.tables if "accuracy" in t.caption.lower()]
    figures = [f.caption for s in report.sections for f in s.figures if "accuracy" in f.caption.lower()]
    assert captions and figures
    assert all(dataset in c for c in captions + figures), [c for c in captions + figures if dataset not in c]
    held_out = build_report(_runs(dataset, "val", val_split=1000), generated_at=0)
    assert any(f"validation ({dataset})" in t.caption for s in held_out.sections for t in s.tables)


# --------------------------------------------------------------------------------------------
# normlab compare
# --------------------------------------------------------------------------------------------


def _compare_result(dataset: str) -> CompareResult:
    records = {}
    for name in ("lenet5", "lenet5-bn"):
        config = TrainConfig(model=name, dataset=dataset, epochs=2).to_dict()
        records[name] = run_record(variant=name, config=config, val_accuracy=[0.8, 0.85], val_split_name="test")
    return CompareResult(records, seconds=1.0, workers=1, errors={})


def test_compares_table_sets_the_post_beside_mnist_only():
    from normlab.report.exports import comparison_table

    mnist = comparison_table(_compare_result("mnist"))
    assert mnist[0]["post, epoch 1"] == POST_REPORTED["lenet5"]["epoch1"]
    assert mnist[0]["dataset"] == "mnist"
    fashion = comparison_table(_compare_result("fashion-mnist"))
    assert [row["dataset"] for row in fashion] == ["fashion-mnist"] * 2
    assert not any("post" in key for key in fashion[0]) and fashion[0]["epoch 1"] == "80.00%"


def test_compare_on_fashion_mnist(fashion_dir, tmp_path, capsys, monkeypatch):
    import normlab.report.figures as figures

    labels = []
    plot = figures.val_accuracy_figure
    monkeypatch.setattr(figures, "val_accuracy_figure", lambda *a, **kw: labels.append(kw["val_label"]) or plot(*a, **kw))
    out = tmp_path / "cmp"
    assert main(["compare", "--dataset", "fashion-mnist", "--epochs", "1", "--subset", "256", "--quiet",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "fashion-mnist" in printed and "post" not in printed
    assert labels == ["validation (fashion-mnist test set)"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["post_reported"] is None
    assert {r["config"]["dataset"] for r in metrics["runs"].values()} == {"fashion-mnist"}


# --------------------------------------------------------------------------------------------
# train, predict and the data commands
# --------------------------------------------------------------------------------------------


def test_train_predict_and_data_commands_on_fashion_mnist(fashion_dir, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from normlab.data import load_splits

    out = tmp_path / "train"
    assert main(["train", "--dataset", "fashion-mnist", "--model", "lenet5-d2l-bn", "--init", "d2l", "--transform",
                 "none", "--optimizer", "sgd", "--momentum", "0", "--lr", "0.1", "--batch-size", "128", "--epochs", "2",
                 "--subset", "4096", "--device", "cpu", "--quiet", "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["config"]["dataset"] == "fashion-mnist" and result["val_accuracy"][0] > 0.3
    test = load_splits("fashion-mnist", transform="none").test
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"item{i}.png")
        Image.fromarray(np.asarray(test.images[i])).save(paths[-1])
    capsys.readouterr()
    assert main(["predict", "--checkpoint", str(out), *map(str, paths)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == list(map(str, paths))
    assert main(["data", "verify", "--dataset", "fashion-mnist"]) == 0
    assert main(["data", "stats", "--dataset", "fashion-mnist"]) == 0
    assert "fashion-mnist train: 60000 images" in capsys.readouterr().out
    assert main(["data", "show", "--dataset", "fashion-mnist", "--count", "8", "--out", str(tmp_path / "s.png")]) == 0
    assert Image.open(tmp_path / "s.png").size[0] > 0
