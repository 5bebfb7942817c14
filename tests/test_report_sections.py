"""The report's ablation and diagnostics sections on synthetic runs (moved here from test_presets.py).

Each section is fed runs whose outcome is set by hand, once agreeing and once disagreeing with the
paper behind it, so a reading that did not compute its conclusion would fail one of the two. The
conclusions are checked as readings (verdict and numbers, computed here with numpy/scipy from the
same finals); the sentences only for the words that carry them.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from conftest import run_record
from normlab.experiments.presets import ADAM_LRS, BATCH_SIZES, build_preset
from normlab.train import TrainConfig
from normlab.train.record import RunRecord

BASE = TrainConfig()
NOISE = (0.0, 0.002, -0.001)  # per seed, so intervals exist


def _run(i: int, variant: str, seed: int, final: float, status: str = "done", **config) -> RunRecord:
    cfg = TrainConfig(seed=seed, epochs=2, **config).to_dict()
    epochs = {} if status != "done" else dict(
        val_accuracy=[final - 0.01, final], val_loss=[0.3, 0.2], train_loss=[0.4, 0.3], epoch_seconds=[1.0, 1.0])
    return run_record(id=i, variant=variant, seed=seed, config=cfg, status=status, config_hash=f"{i:x}", **epochs)


def _report(runs):
    from normlab.report import build_report

    return build_report(runs, generated_at=0)


def _noise(variant_index: int, seed: int) -> float:
    """Seed noise that differs a little between variants, so paired differences have a spread."""
    return NOISE[seed] + 0.0007 * ((variant_index * 7 + seed * 3) % 4 - 1.5)


def _finals(runs: list[RunRecord], variant: str) -> np.ndarray:
    return np.array([r.val_accuracy[-1] for r in sorted(runs, key=lambda r: r.seed) if r.variant == variant])


def _t_interval(values: np.ndarray) -> tuple[float, float]:
    half = sps.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return values.mean() - half, values.mean() + half


# --------------------------------------------------------------------------------------------
# Sweeps
# --------------------------------------------------------------------------------------------


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
    (reading,) = sec.readings
    assert (reading.question, reading.verdict, reading.subject) == ("learning-rate", "agree", "lenet5-bn")
    assert (reading.numbers["highest"], reading.numbers["reference_highest"]) == (3e-2, 3e-3)
    assert reading.effect == pytest.approx(10.0) and reading.numbers["reference"] == "lenet5"
    assert "lenet5 trains up to 0.003 and lenet5-bn trains up to 0.03" in sec.paragraphs[-1].text
    assert "this run agrees" in sec.paragraphs[-1].text
    assert len(sec.figures) == 1 and sec.figures[0].png.startswith(b"\x89PNG")
    table = sec.tables[0]
    assert table.column("learning rate") == [f"{lr:g}" for lr in ADAM_LRS]
    assert table.column("lenet5 (%)")[-1] == "n/a; 3 diverged"
    assert table.column("lenet5-bn (%)")[-1].endswith("✓")
    # At the largest rate the plain network has no finished run, BN its mean.
    assert reading.numbers["largest"] == max(ADAM_LRS) and np.isnan(reading.numbers["reference_mean"])
    assert reading.numbers["mean"] == pytest.approx(0.97 + np.mean(NOISE))


def test_lr_section_disagrees_when_bn_does_not():
    (worse,) = _report(_lr_runs(plain_top=1e-2, bn_top=1e-3)).section("learning-rate").readings
    assert worse.verdict == "disagree" and (worse.numbers["highest"], worse.numbers["reference_highest"]) == (1e-3, 1e-2)
    assert worse.effect == pytest.approx(0.1)
    sec = _report(_lr_runs(plain_top=3e-2, bn_top=3e-2)).section("learning-rate")
    (same,) = sec.readings
    assert same.verdict == "undecided" and same.numbers["highest"] == same.numbers["reference_highest"] == 3e-2
    assert same.numbers["at_top"]  # the grid stops there: it cannot show a difference
    assert "the top of the grid" in sec.paragraphs[-1].text and "does not show the claim" in sec.paragraphs[-1].text


def _bs_runs(bn_drop: float, gn_drop: float) -> list[RunRecord]:
    runs, i = [], 0
    for k, (model, drop) in enumerate((("lenet5-bn", bn_drop), ("lenet5-gn", gn_drop))):
        for j, bs in enumerate((2, 8, 128)):
            for seed in range(3):
                i += 1
                acc = 0.97 - (drop if bs == 2 else 0.0) + _noise(3 * k + j, seed)
                runs.append(_run(i, f"{model} bs={bs}", seed, acc, model=model, batch_size=bs))
    return runs


def test_batch_size_section_computes_its_verdict():
    runs = _bs_runs(bn_drop=0.08, gn_drop=0.0)
    agree = _report(runs).section("batch-size")
    bn_change = _finals(runs, "lenet5-bn bs=2") - _finals(runs, "lenet5-bn bs=128")
    gn_change = _finals(runs, "lenet5-gn bs=2") - _finals(runs, "lenet5-gn bs=128")
    *changes, claim = agree.readings
    assert [c.numbers["model"] for c in changes] == ["lenet5-bn", "lenet5-gn"]
    assert [c.effect for c in changes] == pytest.approx([bn_change.mean(), gn_change.mean()])
    assert (claim.question, claim.verdict, claim.n) == ("batch-size", "agree", 3)
    assert claim.numbers["bn_change"] == pytest.approx(bn_change.mean())
    assert claim.numbers["gn_change"] == pytest.approx(gn_change.mean())
    assert (claim.numbers["small"], claim.numbers["large"]) == (2, 128)
    # Group norm's change minus batch norm's, seed by seed: positive, batch norm lost more.
    assert claim.effect == pytest.approx((gn_change - bn_change).mean()) and claim.effect > 0
    assert claim.interval == pytest.approx(_t_interval(gn_change - bn_change))
    assert claim.p == pytest.approx(sps.ttest_rel(gn_change, bn_change).pvalue) and claim.p < 0.05
    text = agree.paragraphs[-1].text
    assert f"lenet5-bn changed by {bn_change.mean() * 100:+.2f} pp and lenet5-gn by {gn_change.mean() * 100:+.2f} pp" \
        in text and "this run agrees" in text
    assert "learning rate was held fixed at 0.001" in agree.paragraphs[0].text
    assert agree.summary.startswith("Batch-size sweep (Wu & He 2018")
    disagree = _report(_bs_runs(bn_drop=0.0, gn_drop=0.05)).section("batch-size").readings[-1]
    assert disagree.verdict == "disagree" and disagree.effect == pytest.approx(-0.05, abs=0.003)


def _bs_grid(acc) -> list[RunRecord]:
    """BN and GN at batches 2, 8 and 128; ``acc(model, bs)`` sets the accuracy before the seeds' noise."""
    runs, i = [], 0
    for k, model in enumerate(("lenet5-bn", "lenet5-gn")):
        for j, bs in enumerate((2, 8, 128)):
            for seed in range(3):
                i += 1
                runs.append(_run(i, f"{model} bs={bs}", seed, acc(model, bs) + _noise(3 * k + j, seed), model=model,
                                 batch_size=bs))
    return runs


# At batch 2 both collapse to chance, batch norm a little lower: read there, batch norm "lost more"
# significantly, which today's two chance-level networks cannot show.
CHANCE = {"lenet5-bn": 0.09, "lenet5-gn": 0.11}


def test_batch_size_claim_skips_a_batch_where_bn_and_gn_did_not_learn():
    runs = _bs_grid(lambda m, bs: CHANCE[m] if bs == 2 else 0.97 - (0.01 if m == "lenet5-gn" and bs == 8 else 0.0))
    sec = _report(runs).section("batch-size")
    *changes, claim = sec.readings
    assert claim.verdict != "agree"
    # Read from 128 down to 8, the smallest batch at which every run of both learned.
    assert (claim.numbers["small"], claim.numbers["smallest"], claim.numbers["large"]) == (8, 2, 128)
    assert claim.numbers["skipped"] == {2: {"lenet5-bn": (3, 3), "lenet5-gn": (3, 3)}}
    bn_change = _finals(runs, "lenet5-bn bs=8") - _finals(runs, "lenet5-bn bs=128")
    gn_change = _finals(runs, "lenet5-gn bs=8") - _finals(runs, "lenet5-gn bs=128")
    assert claim.numbers["bn_change"] == pytest.approx(bn_change.mean())
    assert claim.numbers["gn_change"] == pytest.approx(gn_change.mean())
    assert claim.effect == pytest.approx((gn_change - bn_change).mean()) and claim.effect < 0
    assert claim.verdict == "disagree"
    # The Holm family: the two changes (to batch 2, kept) and the difference at batch 8.
    assert claim.numbers["tests"] == 3 and claim.numbers["holm_p"] >= claim.p
    # The per-model changes keep batch 2 and its numbers, marked as runs that did not learn.
    assert [(c.numbers["small"], c.numbers["chance_small"]) for c in changes] == [(2, 3), (2, 3)]
    bn_to_2 = _finals(runs, "lenet5-bn bs=2") - _finals(runs, "lenet5-bn bs=128")
    assert changes[0].effect == pytest.approx(bn_to_2.mean())
    text = sec.paragraphs[-1].text
    assert "At batch 2 lenet5-bn and lenet5-gn did not learn in 3 of 3 seeds each (chance accuracy)" in text
    assert "going from batch 128 to 8 instead" in text and "the direction agrees" not in text
    assert text.count("where it did not learn in 3 of 3 seeds") == 2
    assert "batch 2 cannot compare them" in sec.summary


def test_batch_size_claim_is_undecided_when_no_smaller_batch_learned():
    runs = _bs_grid(lambda m, bs: CHANCE[m] if bs < 128 else 0.97)
    sec = _report(runs).section("batch-size")
    *changes, claim = sec.readings
    assert (claim.verdict, claim.numbers["small"], claim.numbers["large"]) == ("undecided", None, 128)
    assert np.isnan(claim.effect) and np.isnan(claim.p) and claim.n == 0
    assert set(claim.numbers["skipped"]) == {2, 8}
    assert [c.numbers["tests"] for c in changes] == [2, 2]  # no difference tested: the family is the two changes
    text = sec.paragraphs[-1].text
    assert "no batch below 128 has every run of both learning" in text and "nor can batch 8" in text
    assert "agree (" not in text and "lost" not in text and "fared" not in text


def test_batch_size_claim_unchanged_when_every_run_learned():
    sec = _report(_bs_runs(bn_drop=0.08, gn_drop=0.0)).section("batch-size")
    *changes, claim = sec.readings
    assert claim.verdict == "agree" and claim.numbers["tests"] == 3
    assert (claim.numbers["small"], claim.numbers["smallest"], claim.numbers["skipped"]) == (2, 2, {})
    assert [c.numbers["chance_small"] for c in changes] == [0, 0]
    assert "did not learn" not in sec.paragraphs[-1].text and "instead" not in sec.summary
    assert "going from batch 128 to 2, lenet5-bn changed by" in sec.paragraphs[-1].text.lower()


def _preset_runs(name: str, finals, *, models=("lenet5-bn", "lenet5-gn"), seeds: int = 3) -> list[RunRecord]:
    """Synthetic finished runs with the preset's own configs; ``finals(model, config)`` sets the accuracy."""
    spec = build_preset(name, base=BASE, quick=True, variants=list(models))
    runs, i = [], 0
    for k, variant in enumerate(spec.variants):
        for seed in range(seeds):
            i += 1
            cfg = spec.base.replace(**variant.overrides, seed=seed).to_dict()
            final = finals(cfg["model"], cfg) + _noise(k % 7, seed)
            runs.append(run_record(id=i, variant=variant.label, seed=seed, config=cfg, config_hash=f"{i:x}",
                                   val_accuracy=[final], val_loss=[0.3], train_loss=[0.4], epoch_seconds=[1.0]))
    return runs


def test_batch_size_scaled_is_a_batch_size_sweep_not_a_learning_rate_one():
    def finals(model, cfg):  # batch norm loses 8 pp at batch 2, group norm nothing
        return 0.95 - (0.08 if model == "lenet5-bn" and cfg["batch_size"] == 2 else 0.0)

    runs = _preset_runs("batch-size-scaled", finals)
    assert len({r.config["lr"] for r in runs}) == len(BATCH_SIZES)  # the rate changes with the batch size
    report = _report(runs)
    anchors = [s.anchor for s in report.sections]
    assert "batch-size" in anchors and "learning-rate" not in anchors
    sec = report.section("batch-size")
    assert "learning rate was scaled with the batch size (linear scaling rule" in sec.paragraphs[0].text
    # The synthetic seeds lose exactly 8 pp each: the direction agrees, but identical differences have no test.
    claim = sec.readings[-1]
    assert claim.verdict == "undecided" and claim.effect == pytest.approx(0.08) and np.isnan(claim.p)
    assert report.headline[0].startswith(sec.summary.rstrip("."))
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
    sec = _report(one).section("learning-rate")
    assert [(r.verdict, r.subject) for r in sec.readings] == [("not tested", "")]
    assert "so the claim is not tested" in sec.paragraphs[-1].text


# --------------------------------------------------------------------------------------------
# Placement, noisy batch norm, the mode bug
# --------------------------------------------------------------------------------------------


def test_mode_bug_section_isolates_the_eval_mode_effect():
    runs, i = [], 0
    finals = {("lenet5-bn", "standard"): 0.985, ("lenet5-bn", "blog"): 0.970,
              ("lenet5", "standard"): 0.980, ("lenet5", "blog"): 0.978}
    for k, ((model, protocol), final) in enumerate(finals.items()):
        for seed in range(3):
            i += 1
            runs.append(_run(i, f"{model} {protocol}", seed, final + _noise(k, seed), model=model, protocol=protocol))
    sec = _report(runs).section("mode-bug")
    bn_gap = _finals(runs, "lenet5-bn blog") - _finals(runs, "lenet5-bn standard")
    plain_gap = _finals(runs, "lenet5 blog") - _finals(runs, "lenet5 standard")
    assert sec.tables[0].column("blog − standard (pp)") == [f"{bn_gap.mean() * 100:+.2f}", f"{plain_gap.mean() * 100:+.2f}"]
    *gaps, effect = sec.readings
    assert [g.effect for g in gaps] == pytest.approx([bn_gap.mean(), plain_gap.mean()])
    assert (effect.question, effect.verdict, effect.numbers["bn"]) == ("eval-mode", "significant difference", "lenet5-bn")
    assert effect.effect == pytest.approx((bn_gap - plain_gap).mean()) and effect.effect < 0  # lowered BN's accuracy
    assert effect.interval == pytest.approx(_t_interval(bn_gap - plain_gap))
    advantage = {p: (_finals(runs, f"lenet5-bn {p}") - _finals(runs, f"lenet5 {p}")).mean() for p in ("blog", "standard")}
    assert effect.numbers["advantage_blog"] == pytest.approx(advantage["blog"])
    assert effect.numbers["advantage_standard"] == pytest.approx(advantage["standard"])
    text = sec.paragraphs[-1].text
    assert f"Batch norm's gap minus the plain network's is {(bn_gap - plain_gap).mean() * 100:+.2f} pp" in text
    assert "training in eval mode lowered lenet5-bn's accuracy" in text
    # Without the plain network under both protocols the effect cannot be separated.
    alone = _report([r for r in runs if r.config["model"] == "lenet5-bn"]).section("mode-bug")
    assert alone.readings[-1].verdict == "not tested" and alone.summary == ""


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
    (before,) = placement.readings
    diff = _finals(runs, "lenet5-bn-before") - _finals(runs, "lenet5-bn")
    assert (before.question, before.subject, before.numbers["position"]) == ("placement", "lenet5-bn-before − lenet5-bn",
                                                                             "before")
    assert before.effect == pytest.approx(diff.mean()) and before.interval == pytest.approx(_t_interval(diff))
    noisy = report.section("noisy-bn")
    claims = {r.question: r for r in noisy.readings if r.question != "comparison"}
    # 3 seeds, difference -0.15 pp with a CI reaching past -0.5 pp: no significant difference, but no
    # evidence that the two train equally well either.
    cmp = _finals(runs, "lenet5-noisy-bn") - _finals(runs, "lenet5-bn")
    lo, hi = _t_interval(cmp)
    assert lo < -0.005 < cmp.mean()
    vs_bn = claims["noisy-vs-bn"]
    assert (vs_bn.verdict, vs_bn.numbers["within"], vs_bn.numbers["reference"]) == ("undecided", False, "lenet5-bn")
    assert vs_bn.effect == pytest.approx(cmp.mean()) and vs_bn.interval == pytest.approx((lo, hi))
    vs_plain = claims["noisy-vs-plain"]
    assert vs_plain.verdict == "agree" and vs_plain.numbers["reference"] == "lenet5"
    assert vs_plain.effect == pytest.approx((_finals(runs, "lenet5-noisy-bn") - _finals(runs, "lenet5")).mean())
    text = noisy.paragraphs[-1].text
    assert (f"these runs could not tell noisy BN and BN apart (difference {cmp.mean() * 100:+.2f} pp, 95% CI "
            f"{lo * 100:+.2f} to {hi * 100:+.2f} pp), but the interval reaches beyond the ±0.5 pp equivalence "
            "margin") in text
    assert report.headline[1].startswith(noisy.summary.rstrip(".")) and "which agrees;" not in report.headline[1]


def test_a_difference_constant_up_to_float_noise_is_not_called_significant():
    # Every seed's difference is +0.03 pp up to float rounding (1e-17); testing that noise once gave
    # "p < 0.001: significant". The main comparisons already said the t-test is undefined; now every section does.
    runs, i = [], 0
    for k, (model, final) in enumerate((("lenet5-bn", 0.985), ("lenet5-bn-before", 0.986))):
        for seed in range(3):
            i += 1
            runs.append(_run(i, model, seed, 0.98 + (final - 0.98) + _noise(k + 1, seed), model=model))
    diff = _finals(runs, "lenet5-bn-before") - _finals(runs, "lenet5-bn")
    assert 0 < diff.std() < 1e-15
    report = _report(runs)
    sec = report.section("placement")
    (before,) = sec.readings
    assert before.verdict == "not tested" and np.isnan(before.p) and not before.significant
    assert sec.tables[0].column("paired t p") == ["—", "n/a"]
    found = ("no placement was tested against lenet5-bn (identical differences on every seed), so its differences "
             "are directions, not findings")
    assert f"So {found}." in sec.paragraphs[-1].text and "differs significantly" not in sec.paragraphs[-1].text
    assert sec.summary == f"Batch-norm placement: {found}."


def _noisy_runs(delta: float, jitter: tuple[float, ...]) -> list[RunRecord]:
    """Plain, BN and noisy BN; noisy BN = BN + ``delta`` + ``jitter[seed]`` on each seed."""
    runs, i = [], 0
    for seed, j in enumerate(jitter):
        for model, final in (("lenet5", 0.975 + NOISE[seed]), ("lenet5-bn", 0.985 + NOISE[seed]),
                             ("lenet5-noisy-bn", 0.985 + NOISE[seed] + delta + j)):
            i += 1
            runs.append(_run(i, model, seed, final, model=model))
    return runs


def _vs_bn(runs):
    section = _report(runs).section("noisy-bn")
    return next(r for r in section.readings if r.question == "noisy-vs-bn"), section.paragraphs[-1].text


def test_noisy_bn_agrees_only_when_the_interval_lies_inside_the_equivalence_margin():
    from normlab.report.sections.ablations import EQUIVALENCE_MARGIN

    assert EQUIVALENCE_MARGIN == 0.005
    # Differences -0.00, -0.05, -0.04 pp: the 95% CI (about -0.10 to +0.04 pp) lies inside ±0.5 pp.
    same, text = _vs_bn(_noisy_runs(-0.0003, (0.0003, -0.0002, -0.0001)))
    assert (same.verdict, same.numbers["within"], same.numbers["margin"]) == ("agree", True, 0.005)
    assert -0.005 < same.interval[0] < same.interval[1] < 0.005 and same.effect == pytest.approx(-0.0003)
    assert "train equally well within the ±0.5 pp equivalence margin" in text and "could not tell" not in text
    worse, text = _vs_bn(_noisy_runs(-0.01, (0.001, -0.001, 0.0)))
    assert (worse.verdict, worse.numbers["within"]) == ("disagree", False) and worse.effect == pytest.approx(-0.01)
    assert "noisy BN is significantly worse than BN (difference -1.00 pp" in text and "which does not agree" in text
    # Three seeds with a wide spread: not significant, and the interval is far wider than the margin.
    wide, text = _vs_bn(_noisy_runs(-0.001, (0.004, -0.004, 0.0)))
    assert (wide.verdict, wide.numbers["within"], wide.n) == ("undecided", False, 3)
    assert wide.effect == pytest.approx(-0.001) and wide.interval[0] < -0.005
    assert "could not tell noisy BN and BN apart (difference -0.10 pp" in text
    # Two seeds are too few to test at all: neither agreement nor disagreement.
    two, text = _vs_bn(_noisy_runs(-0.001, (0.004, -0.004)))
    assert (two.verdict, two.n) == ("not tested", 2) and np.isnan(two.p)
    assert "noisy BN against lenet5-bn was not tested (n = 2; a paired test needs at least 3)" in text
    better, _ = _vs_bn(_noisy_runs(0.01, (0.001, -0.001, 0.0)))
    assert (better.verdict, better.numbers["within"]) == ("agree", False) and better.effect == pytest.approx(0.01)


def test_sections_stay_out_without_their_data():
    runs = [_run(i, m, s, 0.98 + n, model=m) for i, (m, (s, n)) in
            enumerate(((m, sn) for m in ("lenet5", "lenet5-bn") for sn in enumerate(NOISE)), start=1)]
    anchors = {s.anchor for s in _report(runs).sections}
    assert not anchors & {"learning-rate", "batch-size", "placement", "noisy-bn", "mode-bug", "activations",
                          "smoothness", "grad-norms"}


# --------------------------------------------------------------------------------------------
# Diagnostics
# --------------------------------------------------------------------------------------------


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


def _grad_norms(scale: float) -> dict:
    return {"settings": {"every": 10}, "step": [0, 10, 20], "epoch": [1, 1, 1], "total": [scale, scale / 2, scale / 4],
            "grad": {"conv1.weight": [0.2, 0.1, 0.05], "conv1.bias": [1.0] * 3, "linear3.weight": [0.4, 0.4, 0.1]}}


def _diagnostic_runs(bn_drift: float, models=("lenet5", "lenet5-bn")) -> list[RunRecord]:
    runs, i = [], 0
    for k, model in enumerate(models):
        drift, scale = (1.0, 0.2) if model == "lenet5" else (bn_drift, bn_drift / 5)
        for seed in range(3):
            i += 1
            run = _run(i, model, seed, 0.98 + _noise(k, seed), model=model)
            run.diagnostics = {"activations": _activations(drift * (1 + 0.05 * seed)),
                               "smoothness": _smoothness(scale * (1 + 0.05 * seed)),
                               "grad_norms": _grad_norms(1.0 + k + 0.1 * seed)}
            runs.append(run)
    return runs


@pytest.mark.parametrize("bn_drift,verdict", [(0.1, "agree"), (2.0, "disagree")])
def test_activation_and_smoothness_readings_follow_the_data(bn_drift, verdict):
    # Batch norm before the activation in every layer: act4's input is a batch-norm output, as in Ioffe & Szegedy's
    # figure (tests/test_diagnostics_report.py has the placements that cannot test it).
    report = _report(_diagnostic_runs(bn_drift, models=("lenet5", "lenet5-bn-before-all")))
    act = report.section("activations")
    assert act.tables[0].column("act4") == ["0.53", f"{bn_drift / 2 * 1.05:.2g}"]
    (drift,) = act.readings
    assert (drift.question, drift.verdict, drift.subject, drift.n) == ("drift", verdict, "lenet5-bn-before-all", 3)
    assert drift.numbers["drift"] == pytest.approx(bn_drift / 2 * 1.05)
    assert drift.numbers["reference_drift"] == pytest.approx(0.5 * 1.05)
    assert drift.effect == pytest.approx(bn_drift) and drift.numbers["lower"] == (3 if bn_drift < 1 else 0)
    assert ("these runs agree in direction" in act.paragraphs[-1].text) == (verdict == "agree")
    (smooth,) = report.section("smoothness").readings
    assert (smooth.verdict, smooth.numbers["agreed"]) == ((verdict, 3) if verdict == "agree" else (verdict, 0))
    # Loss range, gradient change and beta of the plain network (scale 0.2, seeds x1, x1.05, x1.1).
    assert [m[2] for m in smooth.numbers["measures"]] == pytest.approx([0.21, 0.21, 2.1])
    assert [m[3] for m in smooth.numbers["measures"]] == [3 if verdict == "agree" else 0] * 3


def test_drift_is_not_tested_without_a_plain_network():
    runs = _diagnostic_runs(0.5, models=("lenet5-bn", "lenet5-gn"))
    act = _report(runs).section("activations")
    (reading,) = act.readings
    assert (reading.verdict, reading.numbers["missing"]) == ("not tested", "un-normalised")
    assert [v for v, _ in reading.numbers["ranking"]] == ["lenet5-bn", "lenet5-gn"]
    assert "cannot test that" in act.paragraphs[-1].text


def test_grad_norms_section_reads_the_records():
    sec = _report(_diagnostic_runs(0.5)).section("grad-norms")
    table = sec.tables[0]
    assert table.column("Variant") == ["lenet5", "lenet5-bn"]
    # Total norm, mean over seeds (1.0, 1.1, 1.2 x the series for lenet5): first and last record.
    assert table.column("first record") == ["1.1", "2.1"] and table.column("last record") == ["0.275", "0.525"]
    # conv1 / linear3 weight norms per record: 0.5, 0.25, 0.5; their mean.
    assert table.column("conv1.weight / linear3.weight") == ["0.42", "0.42"]
    assert len(sec.figures) == 1 and "biases" in sec.paragraphs[0].text
