"""The lecun preset and its report section (issue 15C): how close LeNet-5 with and without batch norm
comes, in 10 epochs under the honest protocol, to LeCun et al.'s (1998) 0.95% MNIST test error.

The section is fed runs whose test errors are set by hand (falling short, matching, exceeding the
reference), and its readings are checked against intervals computed here with scipy; the preset's
--quick runs end to end on MNIST and Fashion-MNIST.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from conftest import run_record
from normlab.cli import main
from normlab.experiments.presets import build_preset
from normlab.experiments.store import ResultsDB
from normlab.post import LECUN_TEST_ERROR
from normlab.train import TrainConfig

# --------------------------------------------------------------------------------------------
# The preset
# --------------------------------------------------------------------------------------------


def test_the_preset_trains_lenet5_with_and_without_bn_under_the_honest_protocol():
    spec = build_preset("lecun", base=TrainConfig())
    assert [v.label for v in spec.variants] == ["lenet5", "lenet5-bn"] and spec.seeds == [0, 1, 2, 3, 4]
    b = spec.base
    assert (b.protocol, b.resolved_head, b.epochs, b.val_split, b.subset) == ("standard", "logits", 10, 10_000, None)
    assert (b.transform, b.input_norm, b.optimizer, b.lr, b.lr_schedule) == ("pad32", "zscore", "adam", 1e-3, "cosine")
    quick = build_preset("lecun", base=TrainConfig(), quick=True)
    assert (quick.name, quick.seeds, quick.base.epochs, quick.base.subset) == ("lecun-quick", [0, 1], 2, 10_000)
    assert quick.base.val_split == 10_000  # the same held-out images as a full run
    # A typed flag wins over the preset's setting.
    typed = build_preset("lecun", base=TrainConfig(lr_schedule="onecycle", lr=3e-3, input_norm="minmax"),
                         explicit={"lr_schedule", "lr", "input_norm"})
    assert (typed.base.lr_schedule, typed.base.lr, typed.base.transform) == ("onecycle", 3e-3, "pad32")
    assert (typed.base.input_norm, typed.base.standardize) == ("minmax", False)


def test_the_description_says_what_differs_from_lecun_et_al():
    from normlab.experiments.presets import PRESETS

    text = PRESETS["lecun"].description
    for words in ("0.95%", "RBF", "20", "Levenberg-Marquardt", "60,000", "50,000", "pad32", "cosine",
                  "evaluated once"):
        assert words in text, words


def _quick(tmp_path, capsys, dataset: str, data: str) -> tuple[list, str]:
    out = tmp_path / dataset
    assert main(["study", "--preset", "lecun", "--quick", "--dataset", dataset, "--data-dir", data, "--quiet",
                 "--out", str(out)]) == 0, capsys.readouterr().err
    with ResultsDB(out / "normlab.db", readonly=True) as db:
        runs = db.list_runs("lecun-quick", full=True)
    return runs, (out / "report.html").read_text()


def test_quick_on_mnist_tests_once_and_reads_against_the_reference(data_dir, tmp_path, capsys):
    runs, page = _quick(tmp_path, capsys, "mnist", str(data_dir))
    assert len(runs) == 4 and {r.status for r in runs} == {"done"}
    assert all(r.val_split_name == "val" and 0.5 < r.test_accuracy <= 1 and r.test_epoch in (1, 2) for r in runs)
    assert all(len(r.diagnostics["learning_rate"]["epoch_start"]) == 2 for r in runs)
    assert '<section id="lecun">' in page and "LeCun et al." in page
    assert "not tested with 2 runs" in page and "Indicative only (quick run)." in page


def test_quick_on_fashion_mnist_runs_without_the_mnist_reference(fashion_dir, tmp_path, capsys):
    runs, page = _quick(tmp_path, capsys, "fashion-mnist", str(fashion_dir))
    assert len(runs) == 4 and {r.status for r in runs} == {"done"}
    assert {r.config["dataset"] for r in runs} == {"fashion-mnist"} and all(r.test_accuracy > 0.5 for r in runs)
    assert '<section id="lecun">' not in page  # LeCun et al.'s figure is MNIST's
    assert '<section id="test">' in page


# --------------------------------------------------------------------------------------------
# The section, on synthetic runs
# --------------------------------------------------------------------------------------------

ERRORS = {  # test errors per seed, by variant
    "lenet5": (0.0121, 0.0115, 0.0118),  # falls short: the whole interval above 0.95%
    "lenet5-bn": (0.0090, 0.0101, 0.0096),  # matches: the interval contains 0.95%
    "lenet5-bn-before": (0.0081, 0.0079, 0.0084),  # exceeds: the whole interval below
}


def _runs(errors=ERRORS, dataset="mnist", val_split=10_000, seeds=None):
    runs = []
    for variant, errs in errors.items():
        for seed, err in enumerate(errs[:seeds]):
            cfg = TrainConfig(model=variant, dataset=dataset, seed=seed, epochs=10, val_split=val_split,
                              transform="pad32", lr_schedule="cosine").to_dict()
            runs.append(run_record(id=len(runs) + 1, variant=variant, seed=seed, config=cfg, config_hash=str(len(runs)),
                                   val_accuracy=[0.98, 0.99], val_loss=[0.1, 0.05], train_loss=[0.2, 0.1],
                                   epoch_seconds=[1.0, 1.0], val_split_name="val" if val_split else "test",
                                   test_accuracy=1 - err if val_split else None, test_epoch=2 if val_split else None))
    return runs


def _section(runs, **kw):
    from normlab.report import build_report

    report = build_report(runs, generated_at=0, **kw)
    return report, next((s for s in report.sections if s.anchor == "lecun"), None)


def test_each_variant_falls_short_matches_or_exceeds_by_its_interval():
    report, sec = _section(_runs())
    by = {r.subject: r for r in sec.readings}
    for variant, errs in ERRORS.items():
        e = np.array(errs)
        half = sps.t.ppf(0.975, 2) * e.std(ddof=1) / np.sqrt(3)
        r = by[variant]
        assert r.question == "lecun" and r.n == 3
        assert r.effect == pytest.approx(e.mean() - LECUN_TEST_ERROR)
        assert r.interval == pytest.approx((e.mean() - half - LECUN_TEST_ERROR, e.mean() + half - LECUN_TEST_ERROR))
    assert [(by[v].verdict, by[v].numbers["position"]) for v in ERRORS] == [
        ("disagree", "short"), ("agree", "matches"), ("agree", "exceeds")]
    text = sec.paragraphs[-1].text
    short = by["lenet5"]
    assert (f"lenet5 falls short of 0.95% by {short.effect * 100:.2f} pp (95% CI +{short.interval[0] * 100:.2f} to "
            f"+{short.interval[1] * 100:.2f} pp)") in text
    assert f"{np.mean(ERRORS['lenet5']) * 100:.2f}% for lenet5 (95% CI" in text
    assert "lenet5-bn matches 0.95%" in text and "lenet5-bn-before exceeds LeCun et al.'s 99.05% accuracy" in text
    assert "after 10 epochs on 50,000 training images" in text
    # The verdicts lead the headline.
    assert any(line.startswith("Against LeCun et al.'s 0.95% MNIST test error") for line in report.headline)


def test_the_reading_names_the_data_it_compares():
    _, sec = _section(_runs())
    table = next(b for b in sec.blocks if hasattr(b, "rows"))
    assert [row[0] for row in table.rows] == list(ERRORS)
    assert table.rows[0][2] == f"{np.mean(ERRORS['lenet5']) * 100:.2f}"


def test_fewer_than_three_runs_give_a_direction_only():
    _, sec = _section(_runs(seeds=2))
    assert {r.verdict for r in sec.readings} == {"not tested"}
    text = sec.paragraphs[-1].text
    assert ("lenet5, lenet5-bn and lenet5-bn-before: not tested with 2 runs (a verdict needs at least 3), so "
            "directions only: lenet5 above 0.95% by 0.23 pp, lenet5-bn above 0.95% by 0.01 pp and lenet5-bn-before "
            "below 0.95% by 0.15 pp") in text
    _, one = _section(_runs(seeds=1))
    assert "not tested with 1 run (a verdict needs at least 3)" in one.paragraphs[-1].text


def test_quick_runs_are_marked_indicative():
    _, sec = _section(_runs(), quick=True)
    assert sec.paragraphs[-1].text.endswith("Indicative only (quick run).")


@pytest.mark.parametrize("kw", [{"dataset": "fashion-mnist"}, {"val_split": 0}])
def test_no_section_without_a_test_error_on_mnist(kw):
    assert _section(_runs(**kw))[1] is None
