"""Ablation presets (normlab.experiments.presets): their grids, checked label by label.

The report sections that read these grids are tested in tests/test_report_sections.py.
"""

from __future__ import annotations


import pytest

from normlab.errors import ConfigError
from normlab.experiments.presets import (
    ADAM_LRS,
    BATCH_SIZES,
    PRESETS,
    SGD_BASE_LR,
    SGD_LRS,
    SGD_MOMENTUM,
    build_preset,
)
from normlab.models.spec import model_options
from normlab.train import TrainConfig

BASE = TrainConfig()


def labels(spec) -> list[str]:
    return [v.label for v in spec.variants]


# --------------------------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------------------------


def test_every_preset_builds_valid_configs_full_and_quick():
    assert list(PRESETS) == ["blog", "lr-sweep", "batch-size", "batch-size-scaled", "placement", "noisy-bn",
                             "mode-bug", "d2l", "lecun", "input-norm"]
    for name, preset in PRESETS.items():
        assert preset.description and preset.quick_note.startswith("--quick") and preset.full_time
        for quick in (False, True):
            spec = build_preset(name, base=BASE, quick=quick)
            assert spec.preset == name
            assert spec.name == (f"{name}-quick" if quick else name)
            assert len(set(labels(spec))) == len(spec.variants)
            grid = spec.configs()  # validates every config
            assert len(grid) == len(spec.variants) * len(spec.seeds)
            if quick:
                assert len(spec.seeds) == 2 and spec.base.subset is not None
                assert spec.base.epochs < build_preset(name, base=BASE).base.epochs


def test_blog_preset():
    spec = build_preset("blog", base=BASE)
    assert labels(spec) == ["lenet5", "lenet5-bn"]
    assert spec.base.protocol == "blog" and spec.base.epochs == 10 and spec.seeds == [0, 1, 2, 3, 4]
    quick = build_preset("blog", base=BASE, quick=True)
    assert (quick.base.epochs, quick.base.subset, quick.seeds) == (3, 10_000, [0, 1])


def test_lr_sweep_grid():
    # Bjorck et al. (2018) trained with SGD with momentum: the preset's default, whatever the base optimizer.
    spec = build_preset("lr-sweep", base=BASE)
    assert BASE.optimizer == "adam" and (spec.base.optimizer, spec.base.momentum) == ("sgd", SGD_MOMENTUM) == ("sgd", 0.9)
    assert len(spec.variants) == 2 * len(SGD_LRS) == 14 and spec.seeds == [0, 1, 2]
    assert SGD_LRS == (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
    assert labels(spec)[:2] == ["lenet5 lr=0.001", "lenet5 lr=0.003"] and labels(spec)[-1] == "lenet5-bn lr=1"
    assert spec.variants[-1].overrides == {"model": "lenet5-bn", "lr": 1.0}
    configs = {(c.model, c.optimizer, c.momentum, c.lr) for _, _, c in spec.configs()}
    assert configs == {(m, "sgd", 0.9, lr) for m in ("lenet5", "lenet5-bn") for lr in SGD_LRS}
    # --optimizer adam: the post's Adam, over Adam's grid.
    adam = build_preset("lr-sweep", base=BASE, explicit={"optimizer"})
    assert len(adam.variants) == 2 * len(ADAM_LRS) == 12
    assert ADAM_LRS == (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
    assert {(c.optimizer, c.lr) for _, _, c in adam.configs()} == {("adam", lr) for lr in ADAM_LRS}
    # A typed momentum stays (--optimizer sgd --momentum 0: plain SGD).
    plain = build_preset("lr-sweep", base=BASE.replace(optimizer="sgd", momentum=0.0), explicit={"optimizer", "momentum"})
    assert {c.momentum for _, _, c in plain.configs()} == {0.0}


def test_batch_size_grids():
    spec = build_preset("batch-size", base=BASE)
    assert len(spec.variants) == 4 * 7 and spec.base.epochs == 5 and len(spec.seeds) == 3
    assert BATCH_SIZES == (2, 4, 8, 16, 32, 64, 128)
    assert {v.overrides["model"] for v in spec.variants} == {"lenet5", "lenet5-bn", "lenet5-gn", "lenet5-ln"}
    # Wu & He (2018) trained with SGD with momentum 0.9; the rate is held fixed at the preset's SGD rate.
    assert {(c.optimizer, c.momentum, c.lr) for _, _, c in spec.configs()} == {("sgd", 0.9, SGD_BASE_LR)}
    assert spec.variants[0] == spec.variants[0].__class__("lenet5 bs=2", {"model": "lenet5", "batch_size": 2})
    quick = build_preset("batch-size", base=BASE, quick=True)
    assert labels(quick) == labels(spec)
    assert (quick.base.epochs, quick.base.subset) == (1, 4096)
    # Wu & He's linear scaling rule (after Goyal et al.): the rate in proportion to the batch, with SGD.
    scaled = build_preset("batch-size-scaled", base=BASE)
    for _, _, c in scaled.configs():
        assert (c.optimizer, c.momentum) == ("sgd", 0.9) and c.lr == pytest.approx(SGD_BASE_LR * c.batch_size / 64)
    # A typed --lr is the base rate the rule scales, not a conflict.
    typed = build_preset("batch-size-scaled", base=BASE.replace(lr=0.002), explicit={"lr"})
    lrs = {c.batch_size: c.lr for _, _, c in typed.configs()}
    assert lrs[64] == 0.002 and lrs[2] == pytest.approx(0.002 * 2 / 64)
    # --optimizer adam: the post's Adam at its rate, 0.001 at batch 64, scaled the same way.
    adam = build_preset("batch-size-scaled", base=BASE, explicit={"optimizer"})
    assert {(c.optimizer, c.lr) for _, _, c in adam.configs() if c.batch_size == 64} == {("adam", 0.001)}
    fixed_adam = build_preset("batch-size", base=BASE, explicit={"optimizer"})
    assert {(c.optimizer, c.lr) for _, _, c in fixed_adam.configs()} == {("adam", BASE.lr)}


def test_placement_noisy_and_mode_bug_grids():
    placement = build_preset("placement", base=BASE)
    assert labels(placement) == ["lenet5", "lenet5-bn", "lenet5-bn-before", "lenet5-bn-all", "lenet5-bn-before-all"]
    assert placement.base.diagnostics == {"activations": {"every": 100}}
    assert labels(build_preset("placement", base=BASE, quick=True)) == labels(placement)
    noisy = build_preset("noisy-bn", base=BASE, quick=True)
    assert labels(noisy) == ["lenet5", "lenet5-bn", "lenet5-noisy-bn", "lenet5-bn-before"]
    assert noisy.base.diagnostics == {"activations": {"every": 20}, "smoothness": {"every": 20}}
    bug = build_preset("mode-bug", base=BASE)
    assert [v.overrides for v in bug.variants] == [
        {"model": "lenet5-bn", "protocol": "standard"}, {"model": "lenet5-bn", "protocol": "blog"},
        {"model": "lenet5", "protocol": "standard"}, {"model": "lenet5", "protocol": "blog"}]
    assert {(c.model, c.protocol) for _, _, c in bug.configs()} == {
        (m, p) for m in ("lenet5-bn", "lenet5") for p in ("standard", "blog")}


def _feeds_bn_output(spec: str) -> bool:
    """Whether some nonlinearity of the model takes a batch-norm output as its input."""
    opts = model_options(spec)
    return opts["norm"] == "batch" and opts["norm_position"] == "before"


def _architecture(spec: str) -> dict:
    return {k: v for k, v in model_options(spec).items() if k not in ("norm", "norm_position", "norm_in")}


@pytest.mark.parametrize("quick", [False, True])
def test_presets_that_record_activations_can_test_ioffe_and_szegedys_figure(quick):
    """Figure 1 follows a nonlinearity whose input is a batch-norm output: each preset recording
    activations has such a model and the plain network of the same architecture to set it against."""
    recording = []
    for name in PRESETS:
        spec = build_preset(name, base=BASE, quick=quick)
        if "activations" not in spec.base.diagnostics:
            continue
        recording.append(name)
        models = [v.overrides["model"] for v in spec.variants]
        fed = [m for m in models if _feeds_bn_output(m)]
        plain = [m for m in models if model_options(m)["norm"] == "none"]
        assert fed and any(_architecture(p) == _architecture(m) for p in plain for m in fed), name
    assert recording == ["placement", "noisy-bn"]


def test_descriptions_name_the_papers_settings():
    for name, paper in (("lr-sweep", "Bjorck"), ("batch-size", "Wu & He"), ("batch-size-scaled", "Wu & He")):
        text = PRESETS[name].description
        assert paper in text and "SGD with momentum 0.9" in text and "--optimizer adam" in text, name
        assert next(iter(PRESETS[name].optimizers)) == "sgd"
    assert "linear scaling" in PRESETS["batch-size-scaled"].description
    assert "lenet5 as the plain control" in PRESETS["placement"].description


def test_explicit_flags_win_over_the_preset():
    base = BASE.replace(epochs=3, subset=2048, diagnostics={"smoothness": {"every": 7}})
    spec = build_preset("noisy-bn", base=base, quick=True, explicit={"epochs", "subset", "record_smoothness"})
    assert (spec.base.epochs, spec.base.subset) == (3, 2048)
    # The preset still adds what the user did not type; the typed measurement keeps its setting.
    assert spec.base.diagnostics == {"smoothness": {"every": 7}, "activations": {"every": 20}}
    off = build_preset("placement", base=BASE, explicit={"record_activations"})  # typed as 0: off
    assert off.base.diagnostics == {}
    blog = build_preset("blog", base=BASE.replace(protocol="standard"), explicit={"protocol"})
    assert blog.base.protocol == "standard"
    # Without the flag typed, the preset's values apply even where the base differs.
    assert build_preset("blog", base=BASE.replace(epochs=3)).base.epochs == 10


def test_a_typed_flag_the_grid_varies_is_an_error():
    with pytest.raises(ConfigError, match="--lr conflicts with preset 'lr-sweep'.*0.001, 0.003"):
        build_preset("lr-sweep", base=BASE.replace(lr=0.01), explicit={"lr"})
    with pytest.raises(ConfigError, match="--batch-size conflicts with preset 'batch-size'"):
        build_preset("batch-size", base=BASE, explicit={"batch_size"})
    with pytest.raises(ConfigError, match="--protocol conflicts with preset 'mode-bug'"):
        build_preset("mode-bug", base=BASE, explicit={"protocol"})


def test_seeds_variants_and_name():
    spec = build_preset("lr-sweep", base=BASE, seeds="10-11", variants=["lenet5-bn"], name="mine")
    assert spec.seeds == [10, 11] and spec.name == "mine"
    assert all(v.overrides["model"] == "lenet5-bn" for v in spec.variants) and len(spec.variants) == len(SGD_LRS)
    one = build_preset("lr-sweep", base=BASE, variants=["lenet5 lr=0.001", "lenet5-bn lr=0.03"])
    assert labels(one) == ["lenet5 lr=0.001", "lenet5-bn lr=0.03"]
    with pytest.raises(ConfigError, match="not in preset 'blog'.*lenet5, lenet5-bn"):
        build_preset("blog", base=BASE, variants=["lenet5-gn"])
    with pytest.raises(ConfigError, match="--seeds"):
        build_preset("blog", base=BASE, seeds="x")


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ConfigError) as info:
        build_preset("lr-seep", base=BASE)
    for name in PRESETS:
        assert name in str(info.value)


def test_cli_lists_presets_and_rejects_conflicts(capsys, monkeypatch):
    from normlab.cli import main

    assert main(["study", "--list-presets"]) == 0
    out = capsys.readouterr().out
    for name in PRESETS:
        assert name in out
    argv = ["study", "--preset", "lr-sweep", "--lr", "0.01", "--out", "/nonexistent/never-created"]
    assert main(argv) == 2
    assert "--lr conflicts with preset 'lr-sweep'" in capsys.readouterr().err
    argv = ["study", "--preset", "nope"]
    assert main(argv) == 2
    assert "unknown preset 'nope'; valid presets: blog, lr-sweep" in capsys.readouterr().err


def test_preset_study_end_to_end(data_dir, tmp_path, monkeypatch):
    """mode-bug on 512 images: four runs into the database, and its section in the report."""
    from normlab.cli import main
    from normlab.experiments.store import ResultsDB

    out = tmp_path / "bug"
    argv = ["study", "--preset", "mode-bug", "--subset", "512", "--epochs", "2", "--seeds", "1", "--out", str(out),
            "--workers", "1", "--device", "cpu", "--data-dir", str(data_dir), "--quiet"]
    assert main(argv) == 0
    with ResultsDB(out / "normlab.db") as db:
        runs = db.list_runs("mode-bug")
    assert sorted((r.config["model"], r.config["protocol"], r.config["epochs"], r.config["subset"]) for r in runs) == [
        ("lenet5", "blog", 2, 512), ("lenet5", "standard", 2, 512),
        ("lenet5-bn", "blog", 2, 512), ("lenet5-bn", "standard", 2, 512)]
    page = (out / "report.html").read_text()
    assert 'id="mode-bug"' in page and "eval-mode bug" in page

