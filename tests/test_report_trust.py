"""The report says how much to trust its verdicts (issue 14, part B).

Censored epochs to target, Holm's correction of every family of two or more tests, no verdict from
two seeds, the scale of the runs in the header, the post's values compared only at the post's
scale, a --quick run's verdicts marked indicative, Hedges' g_z n/a where undefined, and interval
bars inside their axes. Each is checked on synthetic runs whose outcome is set by hand; verdicts as
readings, the sentences only for the words that carry them.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import run_record
from normlab.experiments.stats import holm, is_significant, paired_values
from normlab.train import TrainConfig
from normlab.train.record import RunRecord

#: Seed noise shared by every variant (paired differences cancel it).
NOISE = (0.0, 0.002, -0.001, 0.001, -0.002)
#: Per-seed differences whose paired t-test alone gives p = 0.047, in either order: significant
#: alone, not after Holm's correction for two such tests (2 x 0.047 > 0.05).
WEAK = (0.003, 0.001, 0.004, 0.0, 0.002)


def _run(i: int, variant: str, seed: int, accs, *, study: str = "s", **config) -> RunRecord:
    n = len(accs)
    config.setdefault("model", variant)
    cfg = TrainConfig(seed=seed, epochs=n, **config).to_dict()
    return run_record(id=i, study=study, variant=variant, seed=seed, config=cfg, status="done", config_hash=f"{i:x}",
                      val_accuracy=list(accs), val_loss=[0.3] * n, train_loss=[0.4] * n, epoch_seconds=[2.0] * n)


def _study(finals: dict[str, list[float]], *, study: str = "s", configs: dict | None = None, **config):
    """Two-epoch runs with the given final accuracies, one list per variant (seed = position)."""
    runs, i = [], 0
    for variant, values in finals.items():
        for seed, final in enumerate(values):
            i += 1
            runs.append(_run(i, variant, seed, [final - 0.01, final], study=study,
                             **{**config, **(configs or {}).get(variant, {})}))
    return runs


def _report(runs, **kw):
    from normlab.report import build_report

    return build_report(runs, generated_at=0, **kw)


def _shifted(values, shifts):
    return [v + d for v, d in zip(values, shifts)]


BASE = [0.98 + n for n in NOISE]


# --------------------------------------------------------------------------------------------
# Epochs to target: runs that never reach it are censored
# --------------------------------------------------------------------------------------------


def _target_runs(first: dict[str, list[int | None]], n_epochs: int = 5) -> list[RunRecord]:
    """Runs that reach 99% from epoch ``e`` on (95% before), or never (None)."""
    runs, i = [], 0
    for variant, epochs in first.items():
        for seed, e in enumerate(epochs):
            i += 1
            accs = [0.99 if e is not None and k + 1 >= e else 0.95 for k in range(n_epochs)]
            runs.append(_run(i, variant, seed, accs, model="lenet5"))
    return runs


def test_one_lucky_run_does_not_make_a_variant_fast():
    lucky, steady = [1, None, None, None, None], [3, 3, 3, 3, 3]
    report = _report(_target_runs({"steady": steady, "lucky": lucky}))
    table = report.section("statistics").tables[1]
    rows = dict(zip(table.column("Variant"), zip(table.column("Reached 98%"), table.column("median epochs"),
                                                 table.column("mean epochs"), table.column("range (epochs)"))))
    assert rows["lucky"] == ("1 of 5", "not reached (> 5)", "n/a", "1–> 5")
    assert rows["steady"] == ("5 of 5", "3.0", "3.00", "3–3")
    reading = report.section("statistics").paragraphs[-1].text
    assert "1 of 5 runs of lucky reached 98%: not reached by most runs" in reading
    assert "5 of 5 runs of steady reached 98%, after a median of 3 epochs" in reading
    # With many variants the reading names the fastest: by the censored median, not by the lucky run.
    many = _report(_target_runs({"steady": steady, "lucky": lucky, "late": [4, 4, 5, None, 4],
                                 "never": [None] * 5, "slow": [5, 5, 5, 5, 5]}))
    reading = many.section("statistics").paragraphs[-1].text
    assert "the fastest by the median (runs that did not reach it counted as later than the last epoch) is steady, " \
           "after a median of 3 epochs" in reading
    assert "In lucky half of the runs or more did not reach it (not reached)." in reading
    assert "No run reached it for never." in reading
    assert many.summaries["late"].target.median_epochs == 4.0  # 4, 4, 4, 5, >5


# --------------------------------------------------------------------------------------------
# Holm's correction of every family of two or more
# --------------------------------------------------------------------------------------------


def test_the_main_comparisons_are_corrected_from_two_on():
    report = _report(_study({"lenet5:norm=none": BASE, "lenet5:norm=batch": _shifted(BASE, WEAK),
                             "lenet5:norm=group": _shifted(BASE, WEAK[::-1])}))
    final = [(c, r) for c, r in zip(report.comparisons, report.readings) if c.metric == "final"]
    assert len(final) == 2
    adjusted = holm([c.t_pvalue for c, _ in final])
    for (c, r), p in zip(final, adjusted):
        assert c.t_pvalue < 0.05 and is_significant(c)  # each alone would read as a finding
        assert (r.numbers["tests"], r.numbers["corrected"]) == (2, True)
        assert r.numbers["holm_p"] == pytest.approx(p) and p > 0.05
        assert r.verdict == "no significant difference" and r.numbers["uncorrected_significant"]
    verdicts = [p.text for p in report.section("comparisons").paragraphs if p.kind == "verdict"]
    assert all(v.startswith("No significant difference after Holm's correction") for v in verdicts)
    assert report.adjusted_pvalues[:1] == pytest.approx(adjusted[:1])


def _family(readings, numbers_of):
    p = holm([numbers_of(r) for r in readings])
    assert [r.numbers["holm_p"] for r in readings] == pytest.approx(p)
    return p


def test_placement_is_one_family():
    report = _report(_study({"lenet5-bn": BASE, "lenet5-bn-before": _shifted(BASE, WEAK),
                             "lenet5-bn-all": _shifted(BASE, WEAK[::-1])}))
    sec = report.section("placement")
    assert [r.question for r in sec.readings] == ["placement", "placement"]
    assert all(r.numbers["tests"] == 2 and r.p < 0.05 for r in sec.readings)
    _family(sec.readings, lambda r: r.p)
    assert [r.verdict for r in sec.readings] == ["no significant difference"] * 2
    assert sec.tables[0].column("Holm p")[1:] == [f"{r.numbers['holm_p']:.2g}" for r in sec.readings]
    assert "no tested placement differs significantly from lenet5-bn in final accuracy after Holm's correction" \
        in sec.paragraphs[-1].text


def test_noisy_bn_is_one_family():
    noisy = [0.985 + n for n in NOISE]
    report = _report(_study({"lenet5": _shifted(noisy, [-w for w in WEAK[::-1]]),
                             "lenet5-bn": _shifted(noisy, [-w for w in WEAK]), "lenet5-noisy-bn": noisy}))
    sec = report.section("noisy-bn")
    comparisons = [r for r in sec.readings if r.question == "comparison"]
    assert [r.numbers["role"] for r in comparisons] == ["batch norm", "no norm"]
    assert all(r.numbers["tests"] == 2 and r.p < 0.05 for r in comparisons)
    _family(comparisons, lambda r: r.p)
    plain = next(r for r in sec.readings if r.question == "noisy-vs-plain")
    # Ahead of no norm, significant alone but not after the correction: the claim stays undecided.
    assert plain.verdict == "undecided" and plain.effect > 0
    assert sec.tables[0].column("Holm p") == [f"{r.numbers['holm_p']:.2g}" for r in comparisons]


def test_an_equivalence_read_from_the_uncorrected_interval_says_so():
    # Noisy BN within ±0.02 pp of BN on every seed, far ahead of no norm: equivalent by the 95% CI, which Holm's
    # correction of the section's two tests leaves as it is.
    noisy = [0.985 + n for n in NOISE]
    report = _report(_study({"lenet5": _shifted(noisy, [-0.01, -0.012, -0.009, -0.011, -0.0095]),
                             "lenet5-noisy-bn": noisy,
                             "lenet5-bn": _shifted(noisy, [0.0002, -0.0001, 0.0, 0.0001, -0.0002])}))
    sec = report.section("noisy-bn")
    equal = next(r for r in sec.readings if r.question == "noisy-vs-bn")
    assert (equal.verdict, equal.numbers["within"], equal.numbers["uncorrected"]) == ("agree", True, True)
    assert "train equally well within the ±0.5 pp equivalence margin" in sec.paragraphs[-1].text
    assert "which agrees (uncorrected: equivalence rests on the interval" in sec.paragraphs[-1].text


def test_the_eval_mode_bug_is_one_family():
    gap_plain = [-0.001, 0.0, -0.002, 0.001, -0.001]
    gap_bn = [-0.006, -0.004, -0.007, -0.005, -0.003]
    finals, configs = {}, {}
    for model, gap in (("lenet5", gap_plain), ("lenet5-bn", gap_bn)):
        for protocol in ("standard", "blog"):
            label = f"{model} {protocol}"
            finals[label] = BASE if protocol == "standard" else _shifted(BASE, gap)
            configs[label] = {"model": model, "protocol": protocol}
    report = _report(_study(finals, configs=configs))
    sec = report.section("mode-bug")
    assert [r.question for r in sec.readings] == ["comparison", "comparison", "eval-mode"]
    assert all(r.numbers["tests"] == 3 for r in sec.readings)
    p = _family(sec.readings, lambda r: r.p)
    for r, adjusted in zip(sec.readings, p):
        assert r.significant == (adjusted < 0.05 and (r.interval[0] > 0 or r.interval[1] < 0))
    assert sec.tables[0].column("Holm p") == [f"{x:.2g}" if x >= 0.001 else "< 0.001" for x in p[:2]]


# --------------------------------------------------------------------------------------------
# Two seeds: no test, no finding, g_z n/a
# --------------------------------------------------------------------------------------------


def test_two_seeds_sharing_a_sign_are_not_tested():
    report = _report(_study({"lenet5": [0.980, 0.984], "lenet5-bn": [0.984, 0.9885]}))
    final = report.readings[0]
    assert (final.verdict, final.n, final.numbers["why"]) == ("not tested", 2, "pairs")
    assert np.isnan(final.p) and final.effect == pytest.approx(0.00425)
    headline = " ".join(report.headline)
    assert "not tested, too few seeds (n = 2" in headline and "significant" not in headline
    table = report.section("comparisons").tables[0]
    assert table.column("g_z") == ["n/a", "n/a"] and table.column("paired t p") == ["n/a", "n/a"]
    assert table.column("d_z")[0] != "n/a"  # d_z of two differences is defined; only g_z (J(1) = 0) is not


# --------------------------------------------------------------------------------------------
# The scale of the runs, the post, --quick
# --------------------------------------------------------------------------------------------


def test_the_header_shows_the_scale_of_the_runs():
    runs = _study({"lenet5": BASE[:3], "lenet5-bn": BASE[:3]}, subset=2000)
    assert _report(runs).meta["Scale"] == ("mnist, 2,000 of 60,000 training images, 2 epochs, standard protocol, up "
                                           "to 3 seeds per variant")
    full = _report(_study({"lenet5": BASE[:3]}, dataset="fashion-mnist", val_split=10000))
    assert full.meta["Scale"].startswith("fashion-mnist, 50,000 of 60,000 training images, 2 epochs")
    assert _report(_study({"lenet5": BASE[:3]})).meta["Scale"].startswith("mnist, all 60,000 training images")


def _post_runs(**config) -> list[RunRecord]:
    """lenet5 and lenet5-bn for 10 epochs: epoch 1 at 93.0% / 96.0% (the post: 93% / 95%), epoch 10 at 98.0% / 98.5%."""
    runs, i = [], 0
    for variant, first, last in (("lenet5", 0.930, 0.980), ("lenet5-bn", 0.960, 0.985)):
        for seed, n in enumerate(NOISE[:3]):
            i += 1
            runs.append(_run(i, variant, seed, [first + n] + [last + n] * 9, **config))
    return runs


def test_the_post_is_compared_only_at_its_scale():
    at_scale = _report(_post_runs(protocol="blog"))
    post = {(r.subject, r.numbers["epoch"]): r for r in at_scale.section("post").readings}
    assert post[("lenet5-bn", "epoch 1")].verdict == "disagree"
    assert post[("lenet5-bn", "epoch 1")].numbers["direction"] == "above"
    assert post[("lenet5", "epoch 1")].verdict == "agree" and post[("lenet5", "epoch 10")].verdict == "agree"
    assert all(not r.numbers["differences"] for r in post.values())
    # 2,000 images: not comparable, whatever the numbers say; the numbers are still shown.
    small = _report(_post_runs(protocol="blog", subset=2000))
    readings = small.section("post").readings
    assert {r.verdict for r in readings} == {"not comparable"}
    assert readings[1].numbers["differences"] == [("training images", "2,000", "all")]
    table = small.section("post").tables[0]
    assert set(table.column("Post vs our interval")) == {"not comparable"}
    assert table.column("ours: mean (%)")[2] == "96.03"
    text = small.section("post").paragraphs[-1].text
    assert text.startswith("Not comparable at this scale for lenet5 at epoch 1, lenet5 at epoch 10, lenet5-bn at "
                           "epoch 1, lenet5-bn at epoch 10: these runs differ from the post's in training images "
                           "2,000 (the post: all)")
    assert "below" not in text and "above" not in text
    # The standard protocol is not the post's either; fewer epochs matter for the last epoch only.
    standard = _report(_post_runs())
    assert ("protocol", "standard", "blog") in standard.section("post").readings[0].numbers["differences"]
    short = _report([_run(i, r.variant, r.seed, r.val_accuracy[:3], protocol="blog")
                     for i, r in enumerate(_post_runs(), 1)])
    verdicts = {r.numbers["epoch"]: r.verdict for r in short.section("post").readings if r.subject == "lenet5"}
    assert verdicts == {"epoch 1": "agree", "last epoch (3)": "not comparable"}


def test_the_post_used_mnist_so_other_datasets_get_no_post_section():
    report = _report(_post_runs(protocol="blog", dataset="fashion-mnist"))
    assert "post" not in {s.anchor for s in report.sections}


def test_a_quick_run_says_its_verdicts_are_indicative_only():
    runs = _study({"lenet5": BASE, "lenet5-bn": _shifted(BASE, [0.01] * 4 + [0.012])}, study="blog-quick")
    report = _report(runs)
    assert report.warnings[0].startswith("This study is a preset's --quick run (mnist, all 60,000 training images")
    assert "indicative only" in report.warnings[0]
    assert report.meta["Scale"].endswith("; a preset's --quick run: its verdicts are indicative only")
    assert all(line.endswith("Indicative only (quick run).") for line in report.headline)
    assert all(v.endswith("Indicative only (quick run).") for v in report.verdicts)
    for sec in report.sections:
        for p in sec.paragraphs:
            if p.kind in ("verdict", "reading"):
                assert p.text.endswith("Indicative only (quick run)."), (sec.anchor, p.text)
    best = [p for p in report.section("comparisons").paragraphs if "best validation accuracy" in p.text]
    assert best and all(p.text.endswith("Indicative only (quick run).") for p in best)
    assert report.readings[0].verdict == "significant difference"  # the reading itself is unchanged
    # Said explicitly, either way, whatever the study's name.
    assert not any("quick" in w for w in _report(runs, quick=False).warnings)
    named = _study({"lenet5": BASE, "lenet5-bn": BASE}, study="mine")
    assert "--quick" in _report(named, quick=True).warnings[0] and not _report(named).warnings


# --------------------------------------------------------------------------------------------
# Interval bars stay inside their axes
# --------------------------------------------------------------------------------------------


def _outside(fig) -> list[str]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    bad = []
    for ax in fig.axes:
        box = ax.get_window_extent(renderer)
        for artist in ax.lines + ax.collections:
            e = artist.get_window_extent(renderer)
            if e.width == 0 and e.height == 0:
                continue
            if e.x0 < box.x0 - 0.5 or e.x1 > box.x1 + 0.5 or e.y0 < box.y0 - 0.5 or e.y1 > box.y1 + 0.5:
                bad.append(f"{type(artist).__name__} {artist.get_label()}: x {e.x0:.0f}-{e.x1:.0f} of axes "
                           f"{box.x0:.0f}-{box.x1:.0f}")
    return bad


def test_interval_bars_stay_inside_the_axes():
    from normlab.report.figures.study import paired_differences_figure

    # Two seeds far apart: a t interval with one degree of freedom runs far past the dots on both sides.
    wide = paired_values({0: 0.98, 1: 0.97}, {0: 0.99, 1: 0.975}, a_name="a", b_name="b")
    narrow = paired_values({0: 0.98, 1: 0.97, 2: 0.975}, {0: 0.981, 1: 0.972, 2: 0.976}, a_name="a", b_name="c")
    assert wide.ci.low * 100 < -2 and wide.ci.high * 100 > 3
    fig = paired_differences_figure([wide, narrow])
    assert _outside(fig) == []
    lo, hi = fig.axes[0].get_xlim()
    assert wide.ci.low * 100 < lo and hi < wide.ci.high * 100  # cut, not stretched: the dots stay readable
