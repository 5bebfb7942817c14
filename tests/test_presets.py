"""Ablation presets (normlab.experiments.presets) and the report sections that read their grids.

The grids are checked label by label; the report sections are fed synthetic runs whose outcome
is set by hand, once agreeing and once disagreeing with the paper behind the section, so a
reading that did not compute its conclusion would fail one of the two.
"""

from __future__ import annotations


import numpy as np
import pytest
from scipy import stats as sps

from conftest import run_record
from normlab.errors import ConfigError
from normlab.experiments.store import RunRecord
from normlab.experiments.presets import (
    ADAM_LRS,
    BATCH_SIZES,
    PRESETS,
    SGD_LRS,
    build_preset,
)
from normlab.train import TrainConfig

BASE = TrainConfig()


def labels(spec) -> list[str]:
    return [v.label for v in spec.variants]


# --------------------------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------------------------


def test_every_preset_builds_valid_configs_full_and_quick():
    assert list(PRESETS) == ["blog", "lr-sweep", "batch-size", "batch-size-scaled", "placement", "noisy-bn",
                             "mode-bug"]
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
    spec = build_preset("lr-sweep", base=BASE)
    assert len(spec.variants) == 2 * len(ADAM_LRS) == 12 and spec.seeds == [0, 1, 2]
    assert ADAM_LRS == (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
    assert labels(spec)[:2] == ["lenet5 lr=0.0001", "lenet5 lr=0.0003"]
    assert labels(spec)[-1] == "lenet5-bn lr=0.03"
    assert spec.variants[-1].overrides == {"model": "lenet5-bn", "lr": 0.03}
    configs = {(c.model, c.lr) for _, _, c in spec.configs()}
    assert configs == {(m, lr) for m in ("lenet5", "lenet5-bn") for lr in ADAM_LRS}
    sgd = build_preset("lr-sweep", base=BASE.replace(optimizer="sgd"), explicit={"optimizer"})
    assert sorted({c.lr for _, _, c in sgd.configs()}) == list(SGD_LRS)


def test_batch_size_grids():
    spec = build_preset("batch-size", base=BASE)
    assert len(spec.variants) == 4 * 7 and spec.base.epochs == 5 and len(spec.seeds) == 3
    assert BATCH_SIZES == (2, 4, 8, 16, 32, 64, 128)
    assert {v.overrides["model"] for v in spec.variants} == {"lenet5", "lenet5-bn", "lenet5-gn", "lenet5-ln"}
    assert all(c.lr == BASE.lr for _, _, c in spec.configs())  # fixed learning rate
    assert spec.variants[0] == spec.variants[0].__class__("lenet5 bs=2", {"model": "lenet5", "batch_size": 2})
    quick = build_preset("batch-size", base=BASE, quick=True)
    assert labels(quick) == labels(spec)
    assert (quick.base.epochs, quick.base.subset) == (1, 4096)
    scaled = build_preset("batch-size-scaled", base=BASE)
    for _, _, c in scaled.configs():
        assert c.lr == pytest.approx(BASE.lr * c.batch_size / 64)
    # A typed --lr is the base rate the rule scales, not a conflict.
    typed = build_preset("batch-size-scaled", base=BASE.replace(lr=0.002), explicit={"lr"})
    lrs = {c.batch_size: c.lr for _, _, c in typed.configs()}
    assert lrs[64] == 0.002 and lrs[2] == pytest.approx(0.002 * 2 / 64)


def test_placement_noisy_and_mode_bug_grids():
    placement = build_preset("placement", base=BASE)
    assert labels(placement) == ["lenet5-bn", "lenet5-bn-before", "lenet5-bn-all", "lenet5-bn-before-all"]
    assert placement.base.diagnostics == {"activations": {"every": 100}}
    noisy = build_preset("noisy-bn", base=BASE, quick=True)
    assert labels(noisy) == ["lenet5", "lenet5-bn", "lenet5-noisy-bn"]
    assert noisy.base.diagnostics == {"activations": {"every": 20}, "smoothness": {"every": 20}}
    bug = build_preset("mode-bug", base=BASE)
    assert [v.overrides for v in bug.variants] == [
        {"model": "lenet5-bn", "protocol": "standard"}, {"model": "lenet5-bn", "protocol": "blog"},
        {"model": "lenet5", "protocol": "standard"}, {"model": "lenet5", "protocol": "blog"}]
    assert {(c.model, c.protocol) for _, _, c in bug.configs()} == {
        (m, p) for m in ("lenet5-bn", "lenet5") for p in ("standard", "blog")}


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
    with pytest.raises(ConfigError, match="--lr conflicts with preset 'lr-sweep'.*0.0001"):
        build_preset("lr-sweep", base=BASE.replace(lr=0.01), explicit={"lr"})
    with pytest.raises(ConfigError, match="--batch-size conflicts with preset 'batch-size'"):
        build_preset("batch-size", base=BASE, explicit={"batch_size"})
    with pytest.raises(ConfigError, match="--protocol conflicts with preset 'mode-bug'"):
        build_preset("mode-bug", base=BASE, explicit={"protocol"})


def test_seeds_variants_and_name():
    spec = build_preset("lr-sweep", base=BASE, seeds="10-11", variants=["lenet5-bn"], name="mine")
    assert spec.seeds == [10, 11] and spec.name == "mine"
    assert all(v.overrides["model"] == "lenet5-bn" for v in spec.variants) and len(spec.variants) == 6
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


# --------------------------------------------------------------------------------------------
# Report sections on synthetic grids
# --------------------------------------------------------------------------------------------


def _run(i: int, variant: str, seed: int, final: float, status: str = "done", **config) -> RunRecord:
    cfg = TrainConfig(seed=seed, epochs=2, **config).to_dict()
    epochs = [] if status != "done" else [
        {"epoch": 1, "val_accuracy": final - 0.01, "val_loss": 0.3, "train_loss": 0.4, "seconds": 1.0},
        {"epoch": 2, "val_accuracy": final, "val_loss": 0.2, "train_loss": 0.3, "seconds": 1.0}]
    return run_record(id=i, variant=variant, seed=seed, config=cfg, status=status, epochs=epochs, config_hash=f"{i:x}")


def _report(runs):
    from normlab.report import build_report

    return build_report(runs, generated_at=0)


NOISE = (0.0, 0.002, -0.001)  # per seed, so intervals exist


def _noise(variant_index: int, seed: int) -> float:
    """Seed noise that differs a little between variants, so paired differences have a spread."""
    return NOISE[seed] + 0.0007 * ((variant_index * 7 + seed * 3) % 4 - 1.5)


def _lr_runs(plain_top: float, bn_top: float) -> list[RunRecord]:
    runs, i = [], 0
    for model, top in (("lenet5", plain_top), ("lenet5-bn", bn_top)):
        for lr in ADAM_LRS:
            for seed, noise in enumerate(NOISE):
                i += 1
                if lr > top:
                    runs.append(_run(i, f"{model} lr={lr:g}", seed, 0, status="diverged", model=model, lr=lr))
                else:
                    runs.append(_run(i, f"{model} lr={lr:g}", seed, 0.97 + noise, model=model, lr=lr))
    return runs


def test_lr_section_agrees_when_bn_trains_at_higher_rates():
    report = _report(_lr_runs(plain_top=3e-3, bn_top=3e-2))
    sec = report.section("learning-rate")
    reading = sec.paragraphs[-1].text
    assert "lenet5 trains up to 0.003 and lenet5-bn trains up to 0.03" in reading
    assert "10 times lenet5's: this run agrees" in reading
    assert len(sec.figures) == 1 and sec.figures[0].png.startswith(b"\x89PNG")
    table = sec.tables[0]
    assert table.column("learning rate") == [f"{lr:g}" for lr in ADAM_LRS]
    assert table.column("lenet5 (%)")[-1] == "n/a; 3 diverged"
    assert table.column("lenet5-bn (%)")[-1].endswith("✓")


def test_lr_section_disagrees_when_bn_does_not():
    reading = _report(_lr_runs(plain_top=1e-2, bn_top=1e-3)).section("learning-rate").paragraphs[-1].text
    assert "lenet5-bn's highest trainable rate is below lenet5's: this run disagrees" in reading
    same = _report(_lr_runs(plain_top=3e-2, bn_top=3e-2)).section("learning-rate").paragraphs[-1].text
    assert "share the same highest trainable rate, the top of the grid" in same


def _bs_runs(bn_drop: float, gn_drop: float) -> list[RunRecord]:
    runs, i = [], 0
    for k, (model, drop) in enumerate((("lenet5-bn", bn_drop), ("lenet5-gn", gn_drop))):
        for j, bs in enumerate((2, 8, 128)):
            for seed in range(3):
                i += 1
                acc = 0.97 - (drop if bs == 2 else 0.0) + _noise(3 * k + j, seed)
                runs.append(_run(i, f"{model} bs={bs}", seed, acc, model=model, batch_size=bs))
    return runs


def _finals(runs: list[RunRecord], variant: str) -> np.ndarray:
    return np.array([r.val_accuracy[-1] for r in sorted(runs, key=lambda r: r.seed) if r.variant == variant])


def test_batch_size_section_computes_its_verdict():
    runs = _bs_runs(bn_drop=0.08, gn_drop=0.0)
    agree = _report(runs).section("batch-size")
    text = agree.paragraphs[-1].text
    bn_change = (_finals(runs, "lenet5-bn bs=2") - _finals(runs, "lenet5-bn bs=128")).mean()
    gn_change = (_finals(runs, "lenet5-gn bs=2") - _finals(runs, "lenet5-gn bs=128")).mean()
    assert f"lenet5-bn changed by {bn_change * 100:+.2f} pp and lenet5-gn by {gn_change * 100:+.2f} pp" in text
    assert "this run agrees: batch norm loses significantly more than group norm" in text
    assert "learning rate was held fixed at 0.001" in agree.paragraphs[0].text
    disagree = _report(_bs_runs(bn_drop=0.0, gn_drop=0.05)).section("batch-size").paragraphs[-1].text
    assert "this run does not agree" in disagree and "better than group norm" in disagree


def test_mode_bug_section_isolates_the_eval_mode_effect():
    runs, i = [], 0
    finals = {("lenet5-bn", "standard"): 0.985, ("lenet5-bn", "blog"): 0.970,
              ("lenet5", "standard"): 0.980, ("lenet5", "blog"): 0.978}
    for k, ((model, protocol), final) in enumerate(finals.items()):
        for seed in range(3):
            i += 1
            runs.append(_run(i, f"{model} {protocol}", seed, final + _noise(k, seed), model=model, protocol=protocol))
    sec = _report(runs).section("mode-bug")
    text = sec.paragraphs[-1].text
    bn_gap = _finals(runs, "lenet5-bn blog") - _finals(runs, "lenet5-bn standard")
    plain_gap = _finals(runs, "lenet5 blog") - _finals(runs, "lenet5 standard")
    assert sec.tables[0].column("blog − standard (pp)") == [f"{bn_gap.mean() * 100:+.2f}", f"{plain_gap.mean() * 100:+.2f}"]
    assert f"Batch norm's gap minus the plain network's is {(bn_gap - plain_gap).mean() * 100:+.2f} pp" in text
    assert "training in eval mode lowered lenet5-bn's accuracy" in text


def test_placement_and_noisy_sections():
    runs, i = [], 0
    for k, (model, final) in enumerate((("lenet5", 0.975), ("lenet5-bn", 0.985), ("lenet5-bn-before", 0.986),
                                        ("lenet5-noisy-bn", 0.984))):
        for seed in range(3):
            i += 1
            runs.append(_run(i, model, seed, final + _noise(k, seed), model=model))
    report = _report(runs)
    placement = report.section("placement")
    assert placement.tables[0].column("Position") == ["after", "before"]
    noisy = report.section("noisy-bn").paragraphs[-1].text
    # 3 seeds, difference -0.15 pp with a CI reaching past -0.5 pp: no significant difference, but no
    # evidence that the two train equally well either.
    cmp = _finals(runs, "lenet5-noisy-bn") - _finals(runs, "lenet5-bn")
    half = sps.t.ppf(0.975, 2) * cmp.std(ddof=1) / np.sqrt(3)
    assert cmp.mean() - half < -0.005 < cmp.mean()
    assert (f"these runs could not tell noisy BN and BN apart (difference {cmp.mean() * 100:+.2f} pp, 95% CI "
            f"{(cmp.mean() - half) * 100:+.2f} to {(cmp.mean() + half) * 100:+.2f} pp), but the interval reaches beyond "
            "the ±0.5 pp equivalence margin") in noisy
    assert "not significantly worse than BN, which agrees" not in noisy
    assert "it is significantly better than no norm, which agrees" in noisy
    assert "equivalence margin" in report.headline[1] and "which agrees;" not in report.headline[1]


def _noisy_runs(delta: float, jitter: tuple[float, ...]) -> list[RunRecord]:
    """Plain, BN and noisy BN; noisy BN = BN + ``delta`` + ``jitter[seed]`` on each seed."""
    runs, i = [], 0
    for seed, j in enumerate(jitter):
        for model, final in (("lenet5", 0.975 + NOISE[seed]), ("lenet5-bn", 0.985 + NOISE[seed]),
                             ("lenet5-noisy-bn", 0.985 + NOISE[seed] + delta + j)):
            i += 1
            runs.append(_run(i, model, seed, final, model=model))
    return runs


def test_noisy_bn_agrees_only_when_the_interval_lies_inside_the_equivalence_margin():
    from normlab.report.diagnostics_sections import EQUIVALENCE_MARGIN

    assert EQUIVALENCE_MARGIN == 0.005
    # Differences -0.00, -0.05, -0.04 pp: the 95% CI (about -0.10 to +0.04 pp) lies inside ±0.5 pp.
    same = _report(_noisy_runs(-0.0003, (0.0003, -0.0002, -0.0001))).section("noisy-bn").paragraphs[-1].text
    assert "noisy BN and BN train equally well within the ±0.5 pp equivalence margin" in same
    assert "which agrees" in same and "could not tell" not in same
    worse = _report(_noisy_runs(-0.01, (0.001, -0.001, 0.0))).section("noisy-bn").paragraphs[-1].text
    assert "noisy BN is significantly worse than BN (difference -1.00 pp" in worse and "which does not agree" in worse
    # Two seeds with a wide spread: not significant, and the interval is far wider than the margin.
    wide = _report(_noisy_runs(-0.001, (0.004, -0.004))).section("noisy-bn").paragraphs[-1].text
    assert "could not tell noisy BN and BN apart (difference -0.10 pp" in wide
    assert "beyond the ±0.5 pp equivalence margin, so they do not show that the two train equally well" in wide


def _preset_runs(name: str, finals, *, models=("lenet5-bn", "lenet5-gn"), seeds: int = 3) -> list[RunRecord]:
    """Synthetic finished runs with the preset's own configs; ``finals(model, config)`` sets the accuracy."""
    spec = build_preset(name, base=BASE, quick=True, variants=list(models))
    runs, i = [], 0
    for k, variant in enumerate(spec.variants):
        for seed in range(seeds):
            i += 1
            cfg = spec.base.replace(**variant.overrides, seed=seed).to_dict()
            final = finals(cfg["model"], cfg) + _noise(k % 7, seed)
            runs.append(run_record(id=i, variant=variant.label, seed=seed, config=cfg, config_hash=f"{i:x}", epochs=[
                {"epoch": 1, "val_accuracy": final, "val_loss": 0.3, "train_loss": 0.4, "seconds": 1.0}]))
    return runs


def test_batch_size_scaled_is_a_batch_size_sweep_not_a_learning_rate_one():
    def finals(model, cfg):  # batch norm loses 8 pp at batch 2, group norm nothing
        return 0.95 - (0.08 if model == "lenet5-bn" and cfg["batch_size"] == 2 else 0.0)

    runs = _preset_runs("batch-size-scaled", finals)
    assert len({r.config["lr"] for r in runs}) == len(BATCH_SIZES)  # the rate changes with the batch size
    report = _report(runs)
    anchors = [s.anchor for s in report.sections]
    assert "batch-size" in anchors and "learning-rate" not in anchors
    assert "learning rate was scaled with the batch size (linear scaling rule" in \
        report.section("batch-size").paragraphs[0].text
    assert report.headline[0].startswith("Batch-size sweep (Wu & He 2018")
    assert not any("Bjorck" in line or "Learning-rate sweep" in line for line in report.headline)
    assert report.meta["Variants"].startswith("14: 2 models (lenet5-bn, lenet5-gn) × 7 batch sizes")


def test_sweep_sections_need_everything_else_equal():
    # lr-sweep, where weight decay also changes with the rate: not a learning-rate sweep.
    runs = _lr_runs(plain_top=3e-3, bn_top=3e-2)
    for r in runs:
        r.config["weight_decay"] = r.config["lr"] / 10
    assert "learning-rate" not in {s.anchor for s in _report(runs).sections}
    # A batch-size sweep whose rate changes without the linear scaling rule: not a batch-size sweep.
    bs = _bs_runs(bn_drop=0.08, gn_drop=0.0)
    for r in bs:
        r.config["lr"] = {2: 1e-3, 8: 3e-3, 128: 2e-3}[r.config["batch_size"]]
    assert "batch-size" not in {s.anchor for s in _report(bs).sections}
    # One model at several rates, nothing else varying, is still a sweep (the comparisons need two models).
    one = [r for r in _lr_runs(plain_top=3e-3, bn_top=3e-2) if r.config["model"] == "lenet5"]
    report = _report(one)
    assert "learning-rate" in {s.anchor for s in report.sections}


def test_sections_stay_out_without_their_data():
    runs = [_run(i, m, s, 0.98 + n, model=m) for i, (m, (s, n)) in
            enumerate(((m, sn) for m in ("lenet5", "lenet5-bn") for sn in enumerate(NOISE)), start=1)]
    anchors = {s.anchor for s in _report(runs).sections}
    assert not anchors & {"learning-rate", "batch-size", "placement", "noisy-bn", "mode-bug", "activations",
                          "smoothness", "grad-norms"}


def _activations(drift: float) -> dict:
    steps = [0, 10, 20]
    unit = {"p15": [-1.0, -1.0 + drift, -1.0], "p50": [0.0, drift, 0.0], "p85": [1.0, 1.0 + drift, 1.0],
            "mean": [0.0, drift, 0.0], "std": [1.0, 1.0, 1.0]}
    return {"settings": {"every": 10, "unit": 0}, "step": steps, "epoch": [1, 1, 1],
            "layers": {"act4": {"kind": "linear", "units": 84, "unit": 0}},
            "stats": {"act4": {"unit": unit, "summary": unit}},
            "drift": {"act4": {"mean_drift": drift / 2}}}


def _smoothness(scale: float) -> dict:
    steps = [0, 10, 20]
    return {"settings": {"every": 10, "scales": [0.5, 4.0]}, "step": steps, "epoch": [1, 1, 1],
            "loss_min": [1.0, 0.5, 0.3], "loss_max": [1.0 + scale, 0.5 + scale, 0.3 + scale],
            "grad_diff_min": [scale / 10] * 3, "grad_diff_max": [scale] * 3, "beta": [10 * scale] * 3}


@pytest.mark.parametrize("bn_drift,expect", [(0.1, "these runs agree in direction"), (2.0, "these runs do not agree")])
def test_activation_and_smoothness_readings_follow_the_data(bn_drift, expect):
    runs, i = [], 0
    for k, (model, drift, scale) in enumerate((("lenet5", 1.0, 0.2), ("lenet5-bn", bn_drift, bn_drift / 5))):
        for seed in range(3):
            i += 1
            run = _run(i, model, seed, 0.98 + _noise(k, seed), model=model)
            run.diagnostics = {"activations": _activations(drift * (1 + 0.05 * seed)),
                               "smoothness": _smoothness(scale * (1 + 0.05 * seed))}
            runs.append(run)
    report = _report(runs)
    act = report.section("activations")
    assert expect in act.paragraphs[-1].text
    assert act.tables[0].column("act4") == ["0.53", f"{bn_drift / 2 * 1.05:.2g}"]
    smooth = report.section("smoothness").paragraphs[-1].text
    assert ("agree on every measure" in smooth) == (bn_drift < 1.0)
    assert ("do not agree on any measure" in smooth) == (bn_drift > 1.0)
