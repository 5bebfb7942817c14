"""Dive into Deep Learning's batch-norm chapter: the init choice, the fast path on sigmoid networks,
and the ``d2l`` preset (BNLeNet against the same network without BN on Fashion-MNIST).

The models themselves (sigmoid, lenet5-d2l, lenet5-d2l-bn against d2l's Sequential networks) are
tested in tests/test_models.py.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch

from conftest import assert_same_forward_and_grads
from normlab.cli import main
from normlab.errors import ConfigError
from normlab.experiments.presets import PRESETS, build_preset
from normlab.experiments.store import ResultsDB
from normlab.fast import accelerate, kernels
from normlab.models import INITS, apply_init, create_model
from normlab.models.spec import model_options
from normlab.train import TrainConfig, build_model
from normlab.train.config import INIT_NAMES

BASE = TrainConfig()


# --------------------------------------------------------------------------------------------
# TrainConfig.init
# --------------------------------------------------------------------------------------------


def test_init_is_a_config_choice_that_counts_in_the_hash_only_away_from_the_posts():
    assert INIT_NAMES == tuple(INITS) == ("blog", "d2l")
    assert BASE.init == "blog"
    d2l = TrainConfig(init="d2l")
    assert d2l.config_hash() != BASE.config_hash() and "init" in d2l.identity()
    with pytest.raises(ConfigError, match="init='he' is invalid; valid: blog, d2l"):
        TrainConfig(init="he")
    assert TrainConfig.from_dict({k: v for k, v in BASE.to_dict().items() if k != "init"}).init == "blog"


def test_build_model_applies_the_configs_init():
    for init in INIT_NAMES:
        config = TrainConfig(model="lenet5-d2l-bn", transform="none", init=init, seed=3)
        torch.manual_seed(3)
        expected = apply_init(create_model("lenet5-d2l-bn", input_size=28), init)
        built = build_model(config)
        assert built.state_dict().keys() == expected.state_dict().keys()
        for key, value in expected.state_dict().items():
            assert torch.equal(built.state_dict()[key], value), (init, key)
    biases = {init: build_model(TrainConfig(model="lenet5-d2l", init=init)).linear1.bias for init in INIT_NAMES}
    assert torch.all(biases["blog"] == 0.01) and not torch.any(biases["d2l"] == 0.01)


def test_the_init_flag_reaches_the_config(tmp_path, data_dir, capsys):
    assert main(["train", "--model", "lenet5-d2l", "--init", "d2l", "--transform", "none", "--epochs", "1",
                 "--subset", "128", "--device", "cpu", "--quiet", "--out", str(tmp_path / "t")]) == 0
    assert json.loads((tmp_path / "t" / "result.json").read_text())["config"]["init"] == "d2l"
    with pytest.raises(SystemExit) as info:
        main(["train", "--init", "kaiming", "--out", str(tmp_path / "u")])
    assert info.value.code == 2
    assert "--init: invalid choice: 'kaiming' (choose from 'blog', 'd2l')" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# The CPU fast path on sigmoid networks
# --------------------------------------------------------------------------------------------


@pytest.fixture
def threads():
    """Set torch's thread count for one test, restoring it afterwards."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.mark.parametrize("spec", ["lenet5-d2l", "lenet5-d2l-bn", "lenet5-bn:activation=sigmoid"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_an_accelerated_sigmoid_model_computes_what_the_plain_one_does(spec, mode, threads):
    threads(1)
    torch.manual_seed(3)
    plain = create_model(spec, input_size=28)
    for norm in plain.norm_layers().values():  # statistics that make a reordering show in eval mode
        for tensor in (norm.weight, norm.bias, norm.running_mean):
            tensor.data.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2)
    fast = copy.deepcopy(plain)
    record = accelerate(fast)
    assert record["pool"] == ["pool1", "pool2"]
    if kernels.load() is not None:
        assert record["conv"] == ["conv1", "conv2"]
    # Batch norm after the sigmoid commutes with the average pool in eval mode, as after tanh.
    assert record["eval_bn_after_pool"] == (["batchnorm1", "batchnorm2"] if spec.startswith("lenet5-bn") else [])
    plain.train(mode == "train")
    fast.train(mode == "train")
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    assert_same_forward_and_grads(fast, plain, x, torch.arange(16) % 10,
                                  out_tol=dict(atol=1e-5, rtol=1e-5), grad_tol=dict(atol=1e-5, rtol=1e-4))


def test_training_a_sigmoid_model_accelerated_and_plain_agree(fashion_dir, threads):
    from normlab.data import load_splits
    from normlab.train import train

    threads(1)
    splits = load_splits("fashion-mnist", transform="none", subset=512)
    splits.test = splits.test.subset(512)
    config = TrainConfig(model="lenet5-d2l-bn", dataset="fashion-mnist", transform="none", init="d2l", optimizer="sgd",
                         momentum=0.0, lr=0.1, batch_size=128, epochs=1, device="cpu")
    fast = train(config, splits=splits, progress=False)
    plain = train(config.replace(accelerate=False), splits=splits, progress=False)
    if kernels.load() is not None:
        assert fast.environment["conv"] == ["conv1", "conv2"]
    assert plain.environment["accelerated"] is False
    torch.testing.assert_close(torch.tensor(fast.train_loss_per_batch), torch.tensor(plain.train_loss_per_batch),
                               atol=1e-5, rtol=1e-5)
    assert abs(fast.val_accuracy[0] - plain.val_accuracy[0]) <= 2 / 512


# --------------------------------------------------------------------------------------------
# The d2l preset
# --------------------------------------------------------------------------------------------


def test_the_d2l_preset_has_the_chapters_settings():
    spec = build_preset("d2l", base=BASE)
    assert [v.label for v in spec.variants] == ["lenet5-d2l", "lenet5-d2l-bn"]
    assert model_options("lenet5-d2l-bn") == model_options(
        "lenet5:activation=sigmoid,norm=batch,norm_position=before,norm_in=all")
    b = spec.base
    assert (b.dataset, b.transform, b.standardize, b.batch_size, b.optimizer, b.momentum, b.weight_decay, b.lr,
            b.epochs, b.protocol, b.val_split, b.init, b.subset) == (
        "fashion-mnist", "none", False, 128, "sgd", 0.0, 0.0, 0.1, 10, "standard", 0, "d2l", None)
    assert spec.seeds == [0, 1, 2, 3, 4] and spec.name == "d2l"
    configs = spec.configs()
    assert len(configs) == 10 and {c.resolved_head for _, _, c in configs} == {"logits"}
    # Paired seeds: each seed's two runs start from the same conv and linear weights.
    for seed in spec.seeds:
        plain, bn = (build_model(c) for _, s, c in configs if s == seed)
        for key, value in plain.state_dict().items():
            assert torch.equal(bn.state_dict()[key], value), key
    description = PRESETS["d2l"].description
    for words in ("Dive into Deep Learning", "BNLeNet", "lr 0.1", "batch 128", "Xavier", "PyTorch's default",
                  "5 seeds", "seeded", "evaluation batch", "validation"):
        assert words in description, words


def test_the_d2l_preset_quick_and_what_a_user_types():
    quick = build_preset("d2l", base=BASE, quick=True)
    full = build_preset("d2l", base=BASE)
    assert quick.name == "d2l-quick" and quick.seeds == [0, 1]
    assert quick.base.epochs < full.base.epochs and quick.base.subset is not None
    assert PRESETS["d2l"].quick_note.startswith("--quick")
    # Typed flags win over the chapter's settings: MNIST, another rate, Adam with its own settings.
    typed = build_preset("d2l", base=BASE.replace(dataset="mnist", lr=0.05), explicit={"dataset", "lr"})
    assert (typed.base.dataset, typed.base.lr, typed.base.optimizer) == ("mnist", 0.05, "sgd")
    adam = build_preset("d2l", base=BASE.replace(optimizer="adam"), explicit={"optimizer"})
    assert (adam.base.optimizer, adam.base.lr) == ("adam", BASE.lr)
    padded = build_preset("d2l", base=BASE.replace(transform="pad32"), explicit={"transform"})
    assert {c.transform for _, _, c in padded.configs()} == {"pad32"}


@pytest.mark.parametrize("dataset", ["fashion-mnist", "mnist"])
def test_study_preset_d2l_quick_runs_on_both_datasets(dataset, tmp_path, capsys, request):
    request.getfixturevalue("fashion_dir" if dataset == "fashion-mnist" else "data_dir")
    out = tmp_path / dataset
    # --subset and --epochs shrink the quick grid further so the test stays short; the grid is --quick's.
    args = ["study", "--preset", "d2l", "--quick", "--subset", "512", "--epochs", "1", "--quiet", "--out", str(out)]
    if dataset == "mnist":
        args += ["--dataset", "mnist"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "study 'd2l-quick': 2 variant(s) x 2 seed(s) = 4 runs" in printed
    with ResultsDB(out / "normlab.db", readonly=True) as db:
        runs = db.list_runs("d2l-quick")
    configs = [run.config for run in runs]
    assert {run.status for run in runs} == {"done"} and len(configs) == 4 and {c["dataset"] for c in configs} == {dataset}
    assert {(c["model"], c["init"], c["optimizer"], c["lr"], c["batch_size"]) for c in configs} == {
        (m, "d2l", "sgd", 0.1, 128) for m in ("lenet5-d2l", "lenet5-d2l-bn")}
    report = (out / "report.html").read_text()
    assert "lenet5-d2l-bn" in report and dataset in report.lower()
