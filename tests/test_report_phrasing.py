"""Readings of paired comparisons, and the report's words for them (normlab.report.readings, .phrasing, .format).

A comparison's verdict is checked as data (the reading's verdict and numbers, computed here from
the same lists with numpy/scipy); the sentences are checked for the words that carry the verdict
and the numbers, not letter by letter.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from normlab.errors import ConfigError
from normlab.experiments.stats import holm, paired_comparison
from normlab.report.format import format_p, format_pp, join_names, join_words, p_words, plural
from normlab.report.phrasing import comparison_sentence, difference_words, short_verdict
from normlab.report.readings import Reading, comparison_reading, family_readings
from normlab.train.record import RunRecord

A = [0.980, 0.982, 0.981, 0.979, 0.983]
RAISE = [0.003, 0.004, 0.002, 0.0035, 0.0025]


def runs(finals, seeds=None):
    """Two-epoch runs whose final accuracy is ``finals[i]`` (first epoch 0.5)."""
    seeds = range(len(finals)) if seeds is None else seeds
    return [RunRecord(config={}, seed=s, val_accuracy=[0.5, f], epoch_seconds=[1.0, 1.0], status="done")
            for s, f in zip(seeds, finals)]


def compare(a, d, metric="final", **kw):
    return paired_comparison(runs(a), runs([x + y for x, y in zip(a, d)]), metric, **kw)


def t_interval(values, confidence=0.95):
    v = np.asarray(values, dtype=float)
    half = sps.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return v.mean() - half, v.mean() + half


def test_a_significant_raise_is_read_with_its_numbers():
    r = comparison_reading(compare(A, RAISE, a_name="lenet5", b_name="lenet5-bn"))
    assert (r.question, r.verdict, r.subject, r.n) == ("comparison", "significant difference", "lenet5-bn − lenet5", 5)
    assert r.significant and r.effect == pytest.approx(0.003)
    # 0.30 -/+ 2.776445 * 0.0790569 / sqrt(5) pp = 0.20 .. 0.40; p = 0.00106.
    assert r.interval == pytest.approx(t_interval(RAISE))
    assert (round(r.interval[0] * 100, 2), round(r.interval[1] * 100, 2)) == (0.20, 0.40)
    assert r.p == pytest.approx(sps.ttest_rel(np.add(A, RAISE), A).pvalue) and round(r.p, 4) == 0.0011
    x = r.numbers
    assert x["wilcoxon_p"] == pytest.approx(0.0625) and x["n_nonzero"] == 5 and round(x["d_z"], 2) == 3.79
    assert (x["a"], x["b"], x["metric"], x["confidence"], x["alpha"]) == ("lenet5", "lenet5-bn", "final", 0.95, 0.05)
    text = comparison_sentence(r)
    assert text.startswith("lenet5-bn raised final validation accuracy by 0.30 pp over lenet5 (95% CI 0.20 to 0.40")
    for part in ("paired t-test p = 0.0011", "Wilcoxon p = 0.062", "d_z = 3.79", "5 seeds"):
        assert part in text
    # 2 / 2**5 = 0.0625 is the smallest two-sided exact Wilcoxon p with 5 pairs: the sentence says why it disagrees.
    assert text.endswith("With 5 non-zero paired differences the Wilcoxon test cannot reach p < 0.05.")


def test_a_significant_drop_is_read_as_negative():
    a = np.add(A, RAISE).tolist()
    r = comparison_reading(paired_comparison(runs(a), runs(A), a_name="lenet5-bn", b_name="lenet5"))
    assert r.verdict == "significant difference" and r.effect == pytest.approx(-0.003)
    assert r.interval == pytest.approx((-0.004, -0.002), abs=5e-5) and round(r.numbers["d_z"], 2) == -3.79
    text = comparison_sentence(r)
    assert text.startswith("lenet5 lowered final validation accuracy by 0.30 pp relative to lenet5-bn") and "raised" not in text
    assert short_verdict(r) == "lowered"


def test_no_significant_difference_is_read_with_its_numbers():
    d = [0.001, -0.002, 0.0005, 0.0015, -0.001]  # mean 0, sd 0.001458
    r = comparison_reading(compare(A, d, "best", a_name="lenet5", b_name="lenet5-bn"))
    assert r.verdict == "no significant difference" and not r.significant
    assert r.effect == pytest.approx(0.0, abs=1e-12) and r.numbers["metric"] == "best"
    assert r.interval == pytest.approx(t_interval(d)) and round(r.interval[1] * 100, 2) == 0.18
    assert r.p == pytest.approx(1.0) and r.numbers["wilcoxon_p"] == pytest.approx(1.0)
    assert comparison_sentence(r).startswith(
        "No significant difference in best validation accuracy between lenet5-bn and lenet5: 0.00 pp (95% CI -0.18 to 0.18")
    assert short_verdict(r) == "not significant"


def test_the_verdict_follows_the_numbers_not_the_names():
    d = [0.004, -0.002, 0.003, 0.001, -0.001]  # positive but noisy
    cmp = compare(A, d, a_name="lenet5", b_name="lenet5-bn")
    r = comparison_reading(cmp)
    assert r.effect > 0 and r.p > 0.05 and r.interval[0] < 0 < r.interval[1]
    assert r.verdict == "no significant difference"
    assert f"paired t-test {format_p(cmp.t_pvalue)}" in comparison_sentence(r)
    # The same numbers with a lax alpha become a raise: alpha is not hard-coded.
    lax = comparison_reading(compare(A, d, confidence=0.5), alpha=0.5)
    assert lax.verdict == "significant difference" and lax.numbers["alpha"] == 0.5
    with pytest.raises(ConfigError, match="alpha"):
        comparison_reading(cmp, alpha=5)


def test_p_and_interval_must_agree():
    # At 99.99% confidence the interval includes 0 although p = 0.001 < 0.05: no claim.
    r = comparison_reading(compare(A, RAISE, confidence=0.9999))
    assert r.p < 0.05 and r.interval[0] < 0 < r.interval[1]
    assert r.verdict == "no significant difference" and r.numbers["confidence"] == 0.9999
    assert "99.99% CI" in comparison_sentence(r)


def test_too_few_pairs_are_not_tested_and_unpaired_seeds_are_named():
    one = comparison_reading(paired_comparison(runs([0.98, 0.97], seeds=[0, 1]), runs([0.99], seeds=[0]),
                                               a_name="lenet5", b_name="lenet5-bn"))
    assert (one.verdict, one.n, one.numbers["seeds"], one.numbers["only_a"]) == ("not tested", 1, (0,), (1,))
    assert math.isnan(one.p) and not one.defined
    text = comparison_sentence(one)
    assert text.startswith("Final validation accuracy of lenet5-bn against lenet5: not tested, too few seeds (n = 1; "
                           "a paired test needs at least 3). On the one paired seed (seed 0) lenet5-bn − lenet5 is "
                           "+1.00 pp: a direction, not a finding.")
    assert text.endswith("Unpaired seed excluded: 1 (lenet5 only).")
    assert short_verdict(one) == "not tested (too few seeds)"
    none = comparison_reading(paired_comparison([], runs([0.99])))
    assert none.n == 0 and "they share no paired seed" in comparison_sentence(none)
    a = runs(A) + runs([0.97], seeds=[10])
    b = runs(np.add(A, RAISE).tolist()) + runs([0.97, 0.96], seeds=[11, 12])
    r = comparison_reading(paired_comparison(a, b, a_name="lenet5", b_name="lenet5-bn"))
    assert (r.n, r.numbers["only_a"], r.numbers["only_b"]) == (5, (10,), (11, 12))
    assert comparison_sentence(r).endswith("Unpaired seeds excluded: 10 (lenet5 only); 11, 12 (lenet5-bn only).")


def test_identical_and_constant_differences_are_not_tested():
    a = runs([0.98, 0.981, 0.982])
    same = comparison_reading(paired_comparison(a, a, a_name="x", b_name="y"))
    assert (same.verdict, same.effect, same.numbers["n_nonzero"]) == ("not tested", 0.0, 0)
    assert comparison_sentence(same).startswith("No difference in final validation accuracy between y and x: identical")
    up = comparison_reading(paired_comparison(a, runs([0.99, 0.991, 0.992]), a_name="x", b_name="y"))
    assert (up.verdict, up.numbers["n_nonzero"]) == ("not tested", 3) and up.effect == pytest.approx(0.01)
    assert comparison_sentence(up).startswith("y raised final validation accuracy by 1.00 pp relative to x on every one "
                                              "of 3 paired seeds")


def test_holm_decides_every_family_of_two_or_more():
    cmp = compare(A, RAISE, a_name="plain", b_name="bn")
    kept = comparison_reading(cmp, holm_p=0.004, tests=6)
    lost = comparison_reading(cmp, holm_p=0.2, tests=6)
    assert kept.significant and kept.numbers["corrected"] and kept.numbers["holm_p"] == 0.004
    # The adjusted p decides: significant alone, not after the correction.
    assert lost.verdict == "no significant difference" and lost.numbers["uncorrected_significant"]
    assert "Holm-adjusted over 6 comparisons p = 0.004" in comparison_sentence(kept)
    assert comparison_sentence(lost).startswith("No significant difference after Holm's correction in final "
                                                "validation accuracy between bn and plain: +0.30 pp")
    assert "Holm-adjusted over 6 comparisons p = 0.2" in comparison_sentence(lost)
    assert (short_verdict(kept), short_verdict(lost)) == ("raised", "not significant after Holm")
    assert difference_words(lost).endswith(", Holm-adjusted over 6 tests p = 0.2): not significant after Holm's "
                                           "correction")
    # A family of two is corrected too: here the smaller p doubles past alpha (p = 0.047 each alone).
    weak = [0.003, 0.001, 0.004, 0.0, 0.002]
    family = [compare(A, RAISE), compare(A, weak), compare(A, weak[::-1])]
    readings = family_readings(family[1:])
    adjusted = holm([c.t_pvalue for c in family[1:]])
    assert family[1].t_pvalue < 0.05 <= adjusted[0] and adjusted[0] == pytest.approx(2 * family[1].t_pvalue)
    assert [r.numbers["holm_p"] for r in readings] == pytest.approx(adjusted)
    assert [r.numbers["tests"] for r in readings] == [2, 2]
    assert [r.verdict for r in readings] == ["no significant difference"] * 2
    assert comparison_reading(family[1]).verdict == "significant difference"  # uncorrected, alone
    assert [r.verdict for r in family_readings(family[:2])] == ["significant difference"] * 2  # step-down
    # A family of one is its own correction, and says nothing of Holm.
    alone = family_readings([family[1]])[0]
    assert alone.significant and not alone.numbers["corrected"] and "Holm" not in comparison_sentence(alone)
    # Untested comparisons are not counted in the family.
    two = paired_comparison(runs(A[:2]), runs(np.add(A[:2], RAISE[:2]).tolist()))
    mixed = family_readings([family[1], two])
    assert mixed[0].numbers["tests"] == 1 and mixed[0].significant and mixed[1].verdict == "not tested"


def test_two_seeds_whose_differences_share_a_sign_are_not_a_finding():
    r = comparison_reading(paired_comparison(runs([0.980, 0.982]), runs([0.983, 0.986]), a_name="lenet5",
                                             b_name="lenet5-bn"))
    assert (r.verdict, r.n, r.numbers["why"], r.numbers["higher"], r.numbers["lower"]) == ("not tested", 2, "pairs", 2, 0)
    assert math.isnan(r.p) and r.defined and r.effect == pytest.approx(0.0035)
    text = comparison_sentence(r)
    assert text.startswith("Final validation accuracy of lenet5-bn against lenet5: not tested, too few seeds (n = 2; "
                           "a paired test needs at least 3). On both seeds lenet5-bn is higher; mean difference +0.35 pp, 95% CI ")
    assert text.endswith("a direction, not a finding.")
    assert "significant" not in text and "raised" not in text
    assert short_verdict(r) == "not tested (too few seeds)"
    words = difference_words(r)
    assert words.startswith("+0.35 pp (2 seeds, 95% CI ") and words.endswith(
        "): not tested with 2 seeds, so direction only")
    assert "p =" not in words
    mixed = comparison_reading(paired_comparison(runs([0.980, 0.982]), runs([0.983, 0.981])))
    assert mixed.verdict == "not tested"
    assert "Of 2 seeds, B is higher on 1 and lower on 1; mean difference" in comparison_sentence(mixed)
    same = comparison_reading(paired_comparison(runs([0.980, 0.982]), runs([0.980, 0.982])))
    assert "On both seeds B and A are equal; mean difference 0.00 pp" in comparison_sentence(same)


def test_difference_words_say_whether_a_difference_is_significant():
    r = comparison_reading(compare(A, RAISE))
    assert difference_words(r) == f"+0.30 pp (5 seeds, 95% CI +0.20 to +0.40 pp, p {p_words(r.p)}): significant"
    one = comparison_reading(paired_comparison(runs([0.98]), runs([0.99])))
    assert difference_words(one) == "+1.00 pp (1 seed): not tested with 1 seed, so direction only"
    assert difference_words(None) == "no paired runs to compare"


def test_a_reading_names_a_known_question_and_verdict():
    with pytest.raises(ConfigError, match="question"):
        Reading("is it good", "agree")
    with pytest.raises(ConfigError, match="verdict"):
        Reading("comparison", "maybe")
    assert not Reading("drift", "agree").defined


@pytest.mark.parametrize(("p", "alpha", "expected"), [
    (0.0004, None, "p < 0.001"), (0.002833, None, "p = 0.0028"), (0.41, None, "p = 0.41"),
    (0.0496, 0.05, "p = 0.0496"), (0.0504, 0.05, "p = 0.0504"), (0.0496, None, "p = 0.05"), (1.0, None, "p = 1"),
    (float("nan"), None, "p = n/a"),
])
def test_format_p(p, alpha, expected):
    assert format_p(p, alpha) == expected


@pytest.mark.parametrize(("diff", "signed", "expected"), [
    (0.0031, False, "0.31 pp"), (0.0031, True, "+0.31 pp"), (-0.0031, True, "-0.31 pp"), (-1e-17, True, "0.00 pp"),
    (0.00002, False, "0.002 pp"), (float("nan"), False, "n/a"),
])
def test_format_pp(diff, signed, expected):
    assert format_pp(diff, signed=signed) == expected


def test_text_helpers():
    assert plural(1, "seed") == "1 seed" and plural(0, "seed") == "0 seeds" and plural(3, "run") == "3 runs"
    assert p_words(0.0004) == "< 0.001" and p_words(0.012) == "= 0.012" and p_words(float("nan")) == "= n/a"
    assert p_words(0.0496, 0.05) == "= 0.0496"
    assert join_words(["a", "", "b", "c"]) == "a, b and c" and join_words(["a"]) == "a"
    assert join_names(list("abcdefgh")) == "a, b, c, d, e, f and 2 more"


def test_a_rate_at_which_runs_diverged_reads_diverged_not_a_missing_number():
    import math

    from normlab.report.phrasing import learning_rate_summary
    from normlab.report.readings import Reading

    r = Reading("learning-rate", "undecided", "lenet5-bn", math.nan,
                numbers={"reference": "lenet5", "highest": 0.1, "reference_highest": 0.1, "at_top": False,
                         "largest": 1.0, "mean": math.nan, "reference_mean": math.nan, "diverged": 2,
                         "reference_diverged": 2})
    text = learning_rate_summary([r], {"lenet5": 0.1, "lenet5-bn": 0.1}, 0.9)
    assert "at the largest rate, 1, lenet5 diverged and lenet5-bn diverged" in text
    assert "n/a" not in text
