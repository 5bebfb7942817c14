"""Tests for normlab.experiments.stats against worked examples with known answers.

Expected numbers come from published examples (Student's sleep data) or are computed here from
the textbook formulas with math/numpy, independently of the code under test. The statistics are
numbers only; their verdicts in words are the report's (tests/test_report_phrasing.py).
"""

import math
import warnings

import numpy as np
import pytest
from scipy import special
from scipy import stats as sps

import normlab.stats as nstats
from normlab.errors import ConfigError, NormlabError
from normlab.experiments.stats import (
    ConfidenceInterval,
    VariantSummary,
    bootstrap_ci,
    check_run,
    curve_band,
    epochs_to_target,
    holm,
    is_significant,
    join_ints,
    mean_ci,
    paired_comparison,
    paired_values,
    rank_by_target,
    summarize_variant,
    time_to_target,
)
from normlab.train.record import RunRecord

# Student (1908) / Cushny & Peebles: extra hours of sleep under two drugs for the same 10 patients.
SLEEP_GROUP1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_GROUP2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
SLEEP_DIFFS = [1.2, 2.4, 1.3, 1.3, 0.0, 1.0, 1.8, 0.8, 4.6, 1.4]
# Published results (e.g. R: t.test(extra ~ group, data = sleep, paired = TRUE)).
SLEEP_MEAN = 1.58
SLEEP_T = 4.0621
SLEEP_DF = 9
SLEEP_P = 0.002833
SLEEP_CI = (0.7001, 2.4599)


def _run(seed, val_accuracy, epoch_seconds, status="done") -> RunRecord:
    """A run with what the statistics read."""
    return RunRecord(config={}, seed=seed, val_accuracy=list(val_accuracy), epoch_seconds=list(epoch_seconds),
                     status=status)


def runs_from_finals(finals, seeds=None, *, status="done"):
    """Two-epoch runs whose final accuracy is ``finals[i]`` (first epoch 0.5)."""
    seeds = range(len(finals)) if seeds is None else seeds
    return [
        _run(s, (0.5, f), (1.0, 1.0), status)
        for s, f in zip(seeds, finals)
    ]


def sleep_as_accuracies():
    """The sleep data mapped affinely into [0, 1]: t, p and d_z are unchanged, differences / 100."""
    a = runs_from_finals([0.5 + x / 100 for x in SLEEP_GROUP1])
    b = runs_from_finals([0.5 + x / 100 for x in SLEEP_GROUP2])
    return a, b


# ------------------------------------------------------------------------------------------
# Published example: Student's sleep data
# ------------------------------------------------------------------------------------------


def test_sleep_data_differences_are_the_published_ones():
    assert np.allclose(np.subtract(SLEEP_GROUP2, SLEEP_GROUP1), SLEEP_DIFFS)


def test_sleep_data_paired_t_test_matches_published_values():
    a, b = sleep_as_accuracies()
    cmp = paired_comparison(a, b, "final")
    assert cmp.n_pairs == 10
    assert cmp.df == SLEEP_DF
    assert cmp.mean_difference == pytest.approx(SLEEP_MEAN / 100, abs=1e-12)
    assert cmp.t_statistic == pytest.approx(SLEEP_T, abs=5e-5)
    assert cmp.t_pvalue == pytest.approx(SLEEP_P, abs=5e-7)
    assert cmp.ci.low == pytest.approx(SLEEP_CI[0] / 100, abs=5e-7)
    assert cmp.ci.high == pytest.approx(SLEEP_CI[1] / 100, abs=5e-7)
    assert cmp.ci.method == "t"


def test_sleep_data_by_hand_formula():
    d = np.array(SLEEP_DIFFS)
    n = d.size
    mean = math.fsum(d) / n
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in d) / (n - 1))
    t = mean / (sd / math.sqrt(n))
    # Two-sided Student-t p-value via the regularised incomplete beta function.
    p = special.betainc((n - 1) / 2, 0.5, (n - 1) / ((n - 1) + t * t))
    assert t == pytest.approx(SLEEP_T, abs=5e-5)
    assert p == pytest.approx(SLEEP_P, abs=5e-7)
    cmp = paired_comparison(*sleep_as_accuracies())
    assert cmp.t_statistic == pytest.approx(t, rel=1e-9)
    assert cmp.t_pvalue == pytest.approx(p, rel=1e-9)
    assert cmp.sd_difference == pytest.approx(sd / 100, rel=1e-9)
    # Cross-check with scipy directly.
    ref = sps.ttest_rel(SLEEP_GROUP2, SLEEP_GROUP1)
    assert cmp.t_pvalue == pytest.approx(ref.pvalue, rel=1e-9)


def test_sleep_data_effect_sizes():
    cmp = paired_comparison(*sleep_as_accuracies())
    d = np.array(SLEEP_DIFFS)
    dz = d.mean() / d.std(ddof=1)
    assert cmp.cohens_dz == pytest.approx(dz, rel=1e-9)
    assert cmp.cohens_dz == pytest.approx(1.2846, abs=1e-4)
    m = 9
    j = math.gamma(m / 2) / (math.sqrt(m / 2) * math.gamma((m - 1) / 2))
    assert j == pytest.approx(1 - 3 / (4 * m - 1), abs=1e-3)  # Hedges' usual approximation
    assert cmp.hedges_gz == pytest.approx(dz * j, rel=1e-9)


def test_sleep_data_wilcoxon_drops_zero_and_is_exact():
    cmp = paired_comparison(*sleep_as_accuracies())
    # One zero difference is discarded; the other nine are all positive, so W- = 0 and the
    # (permutation) two-sided p-value is 2 / 2**9.
    assert cmp.n_nonzero == 9
    assert cmp.wilcoxon_statistic == 0.0
    assert cmp.wilcoxon_pvalue == pytest.approx(2 / 2**9, rel=1e-12)
    assert any("zero difference" in note for note in cmp.notes)


def test_mean_ci_of_sleep_differences_matches_published_interval():
    mean, low, high = mean_ci(SLEEP_DIFFS)
    assert mean == pytest.approx(SLEEP_MEAN)
    assert (low, high) == pytest.approx(SLEEP_CI, abs=5e-5)


# ------------------------------------------------------------------------------------------
# Intervals
# ------------------------------------------------------------------------------------------


def test_mean_ci_known_sample_with_table_critical_value():
    values = [0.97, 0.98, 0.99]
    mean, low, high = mean_ci(values)
    # t_{0.975, 2} = 4.303 from any t table; sd = 0.01 exactly.
    half = 4.302653 * 0.01 / math.sqrt(3)
    assert mean == pytest.approx(0.98)
    assert low == pytest.approx(0.98 - half, abs=1e-8)
    assert high == pytest.approx(0.98 + half, abs=1e-8)


def test_mean_ci_confidence_level_changes_width():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    _, lo95, hi95 = mean_ci(values, 0.95)
    _, lo99, hi99 = mean_ci(values, confidence=0.99)
    sem = np.std(values, ddof=1) / math.sqrt(5)
    assert hi95 - 3.0 == pytest.approx(2.776445 * sem, rel=1e-6)  # t_{0.975,4}
    assert hi99 - 3.0 == pytest.approx(4.604095 * sem, rel=1e-6)  # t_{0.995,4}
    assert lo99 < lo95 and hi99 > hi95


def test_mean_ci_small_samples_are_nan_not_errors():
    assert all(math.isnan(x) for x in mean_ci([]))
    mean, low, high = mean_ci([0.97])
    assert mean == 0.97 and math.isnan(low) and math.isnan(high)
    assert mean_ci([0.5, 0.5]) == (0.5, 0.5, 0.5)


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.1, "high"])
def test_confidence_must_be_between_zero_and_one(confidence):
    with pytest.raises(ConfigError, match="confidence"):
        mean_ci([1.0, 2.0], confidence)


def test_mean_ci_rejects_non_finite_values():
    with pytest.raises(ConfigError, match="finite"):
        mean_ci([0.9, float("nan")])
    with pytest.raises(ConfigError):
        mean_ci("0.9")


def test_bootstrap_ci_is_reproducible_with_the_same_seed():
    values = [0.981, 0.984, 0.979, 0.986, 0.983]
    first = bootstrap_ci(values, 0.95, 2000, seed=7)
    second = bootstrap_ci(values, 0.95, 2000, seed=7)
    other = bootstrap_ci(values, 0.95, 2000, seed=8)
    assert first == second
    assert first != other
    mean, low, high = first
    assert mean == pytest.approx(np.mean(values))
    # Percentile bootstrap of the mean lies within the range of the data and around the mean.
    assert min(values) <= low < mean < high <= max(values)


def test_bootstrap_ci_agrees_with_t_interval_for_a_large_normal_sample():
    values = np.random.default_rng(0).normal(0.98, 0.002, size=400)
    _, tlo, thi = mean_ci(values)
    for method in ("percentile", "basic", "BCa"):
        _, blo, bhi = bootstrap_ci(values, n_resamples=4000, seed=1, method=method)
        assert blo == pytest.approx(tlo, abs=3e-5)
        assert bhi == pytest.approx(thi, abs=3e-5)


def test_bootstrap_ci_degenerate_inputs():
    assert all(math.isnan(x) for x in bootstrap_ci([]))
    mean, low, high = bootstrap_ci([0.9])
    assert mean == 0.9 and math.isnan(low) and math.isnan(high)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bootstrap_ci([0.9, 0.9, 0.9], method="BCa") == (0.9, 0.9, 0.9)


def test_bootstrap_ci_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="method"):
        bootstrap_ci([1.0, 2.0], method="studentized")
    with pytest.raises(ConfigError, match="n_resamples"):
        bootstrap_ci([1.0, 2.0], n_resamples=0)


def test_curve_band_handles_ragged_curves():
    band = curve_band([[0.90, 0.95, 0.97], [0.92, 0.96], [0.94, 0.97]])
    assert band.epochs.tolist() == [1, 2, 3]
    assert band.n.tolist() == [3, 3, 1]
    assert band.mean.tolist() == pytest.approx([0.92, 0.96, 0.97])
    m, lo, hi = mean_ci([0.90, 0.92, 0.94])
    assert band.low[0] == pytest.approx(lo) and band.high[0] == pytest.approx(hi)
    assert math.isnan(band.low[2]) and math.isnan(band.high[2])
    empty = curve_band([])
    assert empty.epochs.size == 0


# ------------------------------------------------------------------------------------------
# Epochs and time to target
# ------------------------------------------------------------------------------------------


def test_epochs_to_target_is_first_epoch_at_or_above_target_one_based():
    acc = [0.95, 0.975, 0.98, 0.99, 0.97]
    assert epochs_to_target(acc) == 3  # exactly at 0.98 counts
    assert epochs_to_target(acc, 0.985) == 4
    assert epochs_to_target(acc, 0.95) == 1
    assert epochs_to_target(acc, 0.995) is None
    assert epochs_to_target([], 0.5) is None


def test_time_to_target_is_cumulative_including_that_epoch():
    acc = [0.95, 0.975, 0.981, 0.99]
    secs = [10.0, 12.5, 11.0, 9.0]
    assert time_to_target(acc, secs) == pytest.approx(33.5)
    assert time_to_target(acc, secs, 0.95) == pytest.approx(10.0)
    assert time_to_target(acc, secs, 0.999) is None
    with pytest.raises(ConfigError, match="epoch_seconds"):
        time_to_target(acc, [1.0, 1.0], 0.98)


def test_target_must_be_a_fraction():
    with pytest.raises(ConfigError, match="divided by 100"):
        epochs_to_target([0.9], 98)
    with pytest.raises(ConfigError):
        epochs_to_target([0.9], 0)


def test_variant_summary_counts_runs_that_never_reach_the_target():
    runs = [
        {"seed": 0, "val_accuracy": [0.96, 0.981, 0.985], "epoch_seconds": [10, 10, 10], "status": "done"},
        {"seed": 1, "val_accuracy": [0.97, 0.975, 0.979], "epoch_seconds": [11, 11, 11], "status": "done"},
        {"seed": 2, "val_accuracy": [0.982, 0.984, 0.983], "epoch_seconds": [9, 9, 9], "status": "done"},
        {"seed": 3, "val_accuracy": [0.95, 0.97, 0.990], "epoch_seconds": [10, 12, 14], "status": "done"},
        {"seed": 4, "val_accuracy": [0.90, 0.93, 0.95], "epoch_seconds": [10, 10, 10], "status": "done"},
    ]
    s = summarize_variant("lenet5", runs)
    t = s.target
    assert t.target == 0.98
    assert t.epochs == (2, None, 1, 3, None)
    assert t.seconds == (20.0, None, 9.0, 36.0, None)
    assert (t.n_runs, t.n_reached, t.n_not_reached, t.last_epoch) == (5, 3, 2, 3)
    # The two runs that never reached it are censored ("later than epoch 3"): sorted 1, 2, 3, >3, >3.
    assert t.median_epochs == 3.0 and t.median_reached
    assert t.median_seconds == 36.0  # 9, 20, 36, >30, >36
    # Their epochs are unknown, so there is no mean.
    assert math.isnan(t.mean_epochs) and math.isnan(t.mean_seconds)

    t985 = summarize_variant("lenet5", runs, target=0.985).target
    assert t985.epochs == (3, None, None, 3, None)
    assert (t985.target, t985.n_reached) == (0.985, 2)


def test_runs_that_never_reach_the_target_are_censored_not_dropped():
    def runs(first_epochs, n_epochs=5):
        return [_run(i, [0.99 if e is not None and k + 1 >= e else 0.95 for k in range(n_epochs)], [2.0] * n_epochs)
                for i, e in enumerate(first_epochs)]

    # One lucky run at epoch 1, four that never reach 98% in 5 epochs: the median is "not reached".
    lucky = summarize_variant("lucky", runs([1, None, None, None, None])).target
    assert (lucky.n_reached, lucky.n_runs, lucky.last_epoch) == (1, 5, 5)
    assert math.isnan(lucky.median_epochs) and math.isnan(lucky.median_seconds) and not lucky.median_reached
    steady = summarize_variant("steady", runs([3, 3, 3, 4, 3])).target
    assert steady.median_epochs == 3.0 and steady.mean_epochs == pytest.approx(3.2)
    assert steady.median_seconds == 6.0 and steady.mean_seconds == pytest.approx(6.4)
    # Exactly half reached (2 of 4): the median lies between a reached run and a censored one.
    half = summarize_variant("half", runs([2, 2, None, None])).target
    assert math.isnan(half.median_epochs)
    # More than half: the censored runs still count, as later than the last epoch.
    most = summarize_variant("most", runs([1, 1, 4, None, None, 5, 5])).target
    assert most.median_epochs == 5.0 and math.isnan(most.mean_epochs)
    # The fastest is chosen by that median, never by the runs that reached it alone.
    assert rank_by_target({"lucky": lucky, "steady": steady, "most": most, "half": half}) == ["steady", "most"]


def test_rank_by_target_breaks_ties_by_share_reached_then_time_then_order():
    def summary(epochs, seconds):
        return summarize_variant("v", [_run(i, [0.99 if k + 1 >= e else 0.9 for k in range(4)] if e else [0.9] * 4,
                                             [seconds] * 4) for i, e in enumerate(epochs)]).target

    every = summary([2, 2, 2], 1.0)
    most = summary([2, 2, None], 1.0)
    slow = summary([2, 2, 2], 3.0)
    again = summary([2, 2, 2], 1.0)
    assert every.median_epochs == most.median_epochs == slow.median_epochs == 2.0
    assert rank_by_target({"most": most, "slow": slow, "again": again, "every": every}) == [
        "again", "every", "slow", "most"]
    assert rank_by_target({}) == []


def test_rank_by_target_never_ranks_summaries_of_different_targets():
    runs = [_run(i, [0.86, 0.99], [1.0, 1.0]) for i in range(3)]
    mnist = summarize_variant("mnist", runs, target=0.98).target
    fashion = summarize_variant("fashion", runs, target=0.85).target
    assert rank_by_target({"fashion": fashion}) == ["fashion"]
    with pytest.raises(ConfigError, match="one target at a time"):
        rank_by_target({"mnist": mnist, "fashion": fashion})


def test_two_pairs_are_too_few_to_test():
    # Both differences share a sign: the t-test would have 1 df, Wilcoxon's smallest p is 0.5.
    cmp = paired_comparison(runs_from_finals([0.980, 0.982]), runs_from_finals([0.983, 0.986]))
    assert cmp.n_pairs == 2 and cmp.df == 1 and not cmp.tested
    for x in (cmp.t_statistic, cmp.t_pvalue, cmp.wilcoxon_statistic, cmp.wilcoxon_pvalue, cmp.hedges_gz):
        assert math.isnan(x)
    assert cmp.mean_difference == pytest.approx(0.0035) and cmp.cohens_dz == pytest.approx(0.0035 / cmp.sd_difference)
    lo, hi = sps.t.interval(0.95, 1, loc=0.0035, scale=cmp.sd_difference / math.sqrt(2))
    assert (cmp.ci.low, cmp.ci.high) == pytest.approx((lo, hi))  # the interval stays: honest, and wide
    assert any("too few to test" in n and "1 degree of freedom" in n for n in cmp.notes)
    assert not is_significant(cmp)
    # Three pairs are tested, and g_z is defined from there on.
    three = paired_comparison(runs_from_finals([0.980, 0.982, 0.981]), runs_from_finals([0.983, 0.986, 0.9835]))
    assert three.tested and math.isfinite(three.t_pvalue) and math.isfinite(three.hedges_gz)
    one = paired_comparison(runs_from_finals([0.98]), runs_from_finals([0.99]))
    assert not one.tested and math.isnan(one.cohens_dz) and math.isnan(one.hedges_gz)


def test_variant_summary_no_run_reaches_target():
    s = summarize_variant("x", runs_from_finals([0.9, 0.91]))
    assert s.target.n_reached == 0
    assert s.target.epochs == (None, None)
    assert math.isnan(s.target.median_epochs) and math.isnan(s.target.mean_seconds)


# ------------------------------------------------------------------------------------------
# Variant summaries
# ------------------------------------------------------------------------------------------


def test_variant_summary_final_and_best_statistics():
    runs = [
        _run(3, (0.97, 0.985, 0.982), (1, 1, 1)),
        _run(1, (0.96, 0.981, 0.984), (1, 1, 1)),
        _run(2, (0.975, 0.990, 0.986), (1, 1, 1)),
        _run(0, (0.95, 0.980, 0.980), (1, 1, 1)),
    ]
    s = summarize_variant("lenet5-bn", runs, n_resamples=2000)
    assert isinstance(s, VariantSummary)
    assert s.seeds == (0, 1, 2, 3)  # sorted; per-run values follow this order
    assert s.n_runs == 4
    finals = [0.980, 0.984, 0.986, 0.982]
    bests = [0.980, 0.984, 0.990, 0.985]
    assert s.final.values == pytest.approx(finals)
    assert s.best.values == pytest.approx(bests)
    for summary, vals in ((s.final, finals), (s.best, bests)):
        mean = sum(vals) / 4
        sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / 3)
        half = 3.182446 * sd / 2  # t_{0.975,3}, sqrt(4) = 2
        assert summary.mean == pytest.approx(mean)
        assert summary.std == pytest.approx(sd)
        assert summary.t_ci.low == pytest.approx(mean - half, abs=1e-8)
        assert summary.t_ci.high == pytest.approx(mean + half, abs=1e-8)
        assert summary.t_ci.method == "t" and summary.t_ci.confidence == 0.95
        assert summary.bootstrap_ci.method == "bootstrap-percentile"
        assert min(vals) <= summary.bootstrap_ci.low < mean < summary.bootstrap_ci.high <= max(vals)
    assert s.metric("best") is s.best
    assert s.bootstrap_method == "percentile" and s.n_resamples == 2000


def test_variant_summary_is_reproducible_and_seed_dependent():
    runs = runs_from_finals([0.981, 0.984, 0.979, 0.986, 0.983])
    one = summarize_variant("v", runs, n_resamples=1000, seed=3)
    two = summarize_variant("v", runs, n_resamples=1000, seed=3)
    other = summarize_variant("v", runs, n_resamples=1000, seed=4)
    assert one == two
    assert one.final.bootstrap_ci != other.final.bootstrap_ci
    # The bootstrap inside the summary is the public bootstrap_ci with the same seed.
    assert bootstrap_ci(one.final.values, 0.95, 1000, seed=3)[1:] == (
        one.final.bootstrap_ci.low,
        one.final.bootstrap_ci.high,
    )


def test_variant_summary_single_run_has_undefined_intervals():
    s = summarize_variant("v", runs_from_finals([0.985]))
    assert s.n_runs == 1
    assert s.final.mean == 0.985
    assert math.isnan(s.final.std)
    for ci in (s.final.t_ci, s.final.bootstrap_ci, s.best.t_ci):
        assert isinstance(ci, ConfidenceInterval)
        assert not ci.defined
        assert math.isnan(ci.low) and math.isnan(ci.high)
        assert "n = 1" in ci.note
    assert any("only one run" in n for n in s.notes)


def test_variant_summary_no_runs():
    s = summarize_variant("v", [])
    assert s.n_runs == 0 and s.seeds == ()
    assert math.isnan(s.final.mean) and math.isnan(s.best.std)
    assert not s.final.t_ci.defined and "n = 0" in s.final.t_ci.note
    assert (s.target.n_runs, s.target.n_reached) == (0, 0)
    assert any("no runs" in n for n in s.notes)


def test_variant_summary_excludes_failed_and_diverged_runs_and_says_so():
    runs = runs_from_finals([0.98, 0.985]) + [
        _run(5, (), (), "failed"),
        _run(6, (0.3, float("nan")), (1.0, 1.0), "diverged"),
    ]
    s = summarize_variant("v", runs)
    assert s.seeds == (0, 1)
    assert s.excluded == ((5, "failed"), (6, "diverged"))
    assert any("seed 5 (failed)" in n and "seed 6 (diverged)" in n for n in s.notes)
    with pytest.raises(ConfigError, match="seed 6"):
        # Including diverged runs validates them, and NaN is not an accuracy.
        summarize_variant("v", runs, include_status=("done", "diverged"))
    kept = runs[:2] + [_run(7, (0.2, 0.1), (1, 1), "diverged")]
    ok = summarize_variant("v", kept, include_status=("done", "diverged"))
    assert ok.seeds == (0, 1, 7)


def test_variant_summary_uses_the_confidence_parameter():
    runs = runs_from_finals([0.981, 0.984, 0.979, 0.986, 0.983])
    s90 = summarize_variant("v", runs, confidence=0.90, n_resamples=500)
    s99 = summarize_variant("v", runs, confidence=0.99, n_resamples=500)
    assert s90.final.t_ci.confidence == 0.90
    assert (s99.final.t_ci.high - s99.final.t_ci.low) > (s90.final.t_ci.high - s90.final.t_ci.low)


# ------------------------------------------------------------------------------------------
# Input validation
# ------------------------------------------------------------------------------------------


def test_percent_accuracies_are_rejected_with_a_hint():
    with pytest.raises(ConfigError, match=r"fractions in \[0, 1\] \(percentages\? divide by 100\)"):
        summarize_variant("v", runs_from_finals([98.2, 98.4]))


def test_duplicate_seeds_are_rejected():
    with pytest.raises(ConfigError, match="seed 0"):
        summarize_variant("v", runs_from_finals([0.98, 0.99], seeds=[0, 0]))


def test_mismatched_epoch_seconds_are_rejected():
    with pytest.raises(ConfigError, match="epoch_seconds has 1 entries"):
        summarize_variant("v", [_run(0, (0.9, 0.95), (1.0,))])


def test_bad_runs_raise_config_error_not_raw_errors():
    with pytest.raises(ConfigError, match="missing epoch_seconds"):
        check_run({"seed": 1, "val_accuracy": [0.9]})
    with pytest.raises(ConfigError, match="lacks"):
        check_run(object())
    with pytest.raises(ConfigError, match="seed must be an integer"):
        check_run(_run("a", (0.9,), (1.0,)))
    with pytest.raises(ConfigError, match="val_accuracy"):
        check_run(_run(0, ["x"], [1.0]))
    with pytest.raises(ConfigError, match="list of runs"):
        summarize_variant("v", {"seed": 0})
    with pytest.raises(ConfigError, match="metric"):
        paired_comparison([], [], "mean")
    assert issubclass(ConfigError, NormlabError)


def test_check_run_accepts_objects_with_attributes():
    class Row:
        seed = 4
        val_accuracy = [0.9, 0.99]
        epoch_seconds = [2.0, 3.0]
        status = "done"

    r = check_run(Row())
    assert r == _run(seed=4, val_accuracy=[0.9, 0.99], epoch_seconds=[2.0, 3.0], status="done")
    assert r.final_val_accuracy == 0.99 and r.best_val_accuracy == 0.99


# ------------------------------------------------------------------------------------------
# Paired comparison
# ------------------------------------------------------------------------------------------


def test_paired_comparison_uses_shared_seeds_only_and_reports_the_rest():
    a = runs_from_finals([0.980, 0.981, 0.982, 0.983], seeds=[0, 1, 2, 3])
    b = runs_from_finals([0.984, 0.984, 0.987, 0.990], seeds=[1, 2, 3, 9])
    cmp = paired_comparison(a, b, a_name="lenet5", b_name="lenet5-bn")
    assert cmp.seeds == (1, 2, 3)
    assert cmp.only_a_seeds == (0,)
    assert cmp.only_b_seeds == (9,)
    assert cmp.a_values == pytest.approx((0.981, 0.982, 0.983))
    assert cmp.b_values == pytest.approx((0.984, 0.984, 0.987))
    assert cmp.differences == pytest.approx((0.003, 0.002, 0.004))
    assert cmp.mean_difference == pytest.approx(0.003)
    assert cmp.mean_a == pytest.approx(0.982) and cmp.mean_b == pytest.approx(0.985)
    assert any("only in lenet5: 0" in n and "only in lenet5-bn: 9" in n for n in cmp.notes)


def test_paired_comparison_treats_a_failed_partner_as_unpaired():
    a = runs_from_finals([0.980, 0.981, 0.982])
    b = runs_from_finals([0.983, 0.985]) + [_run(2, (), (), "failed")]
    cmp = paired_comparison(a, b)
    assert cmp.seeds == (0, 1)
    assert cmp.only_a_seeds == (2,)
    assert cmp.excluded_b == ((2, "failed"),)


def test_paired_comparison_best_metric():
    a = [_run(0, (0.98, 0.97), (1, 1)), _run(1, (0.975, 0.976), (1, 1))]
    b = [_run(0, (0.99, 0.98), (1, 1)), _run(1, (0.985, 0.982), (1, 1))]
    best = paired_comparison(a, b, "best")
    final = paired_comparison(a, b, "final")
    assert best.differences == pytest.approx((0.01, 0.009))
    assert final.differences == pytest.approx((0.01, 0.006))


def test_paired_comparison_matches_scipy_and_formulas():
    a = [0.980, 0.982, 0.981, 0.979, 0.983]
    d = [0.003, 0.004, 0.002, 0.0035, 0.0025]
    b = [x + y for x, y in zip(a, d)]
    cmp = paired_comparison(runs_from_finals(a), runs_from_finals(b))
    n = 5
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    assert cmp.t_statistic == pytest.approx(mean / (sd / math.sqrt(n)), rel=1e-6)
    assert cmp.t_pvalue == pytest.approx(sps.ttest_rel(b, a).pvalue, rel=1e-9)
    assert cmp.cohens_dz == pytest.approx(mean / sd, rel=1e-6)
    # All five differences positive and distinct: exact two-sided Wilcoxon p = 2 / 2**5.
    assert cmp.wilcoxon_pvalue == pytest.approx(0.0625)
    half = 2.776445 * sd / math.sqrt(n)
    assert cmp.ci.low == pytest.approx(mean - half, abs=1e-8)
    assert cmp.ci.high == pytest.approx(mean + half, abs=1e-8)


def test_paired_comparison_with_one_or_no_pairs_is_nan_not_an_error():
    one = paired_comparison(runs_from_finals([0.98]), runs_from_finals([0.99]))
    assert one.n_pairs == 1 and one.df == 0
    assert one.mean_difference == pytest.approx(0.01)
    for x in (one.sd_difference, one.t_pvalue, one.wilcoxon_pvalue, one.cohens_dz, one.ci.low):
        assert math.isnan(x)
    assert any("at least 3 pairs" in n for n in one.notes)

    none = paired_comparison(runs_from_finals([0.98], seeds=[0]), runs_from_finals([0.99], seeds=[1]))
    assert none.n_pairs == 0 and none.seeds == ()
    assert math.isnan(none.mean_difference) and math.isnan(none.mean_a)

    empty = paired_comparison([], [])
    assert empty.n_pairs == 0


def test_paired_comparison_all_zero_differences():
    a = runs_from_finals([0.98, 0.981, 0.982])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cmp = paired_comparison(a, a)
    assert cmp.n_nonzero == 0
    assert cmp.mean_difference == 0.0 and cmp.sd_difference == 0.0
    assert (cmp.ci.low, cmp.ci.high) == (0.0, 0.0)
    for x in (cmp.t_statistic, cmp.t_pvalue, cmp.wilcoxon_pvalue, cmp.cohens_dz, cmp.hedges_gz):
        assert math.isnan(x)
    assert any("Wilcoxon" in n and "zero" in n for n in cmp.notes)


def test_paired_comparison_float_noise_counts_as_equal_differences():
    a = [0.97, 0.98, 0.96]
    b = [0.98, 0.99, 0.97]  # differences 0.01 up to float rounding
    cmp = paired_comparison(runs_from_finals(a), runs_from_finals(b))
    assert math.isnan(cmp.t_pvalue)
    assert cmp.n_nonzero == 3
    assert cmp.wilcoxon_pvalue == pytest.approx(0.25)  # 2 / 2**3
    assert any("all paired differences are equal" in n for n in cmp.notes)


# ------------------------------------------------------------------------------------------
# Per-seed values
# ------------------------------------------------------------------------------------------


def test_paired_values_compare_any_finite_per_seed_values_like_paired_comparison():
    a = {0: 0.980, 1: 0.982, 2: 0.981, 3: 0.979, 4: 0.983}
    d = [0.003, 0.004, 0.002, 0.0035, 0.0025]
    b = {s: a[s] + d[s] for s in a}
    by_values = paired_values(a, b, a_name="plain", b_name="bn")
    by_runs = paired_comparison(runs_from_finals(list(a.values())), runs_from_finals(list(b.values())),
                                a_name="plain", b_name="bn")
    for field in ("mean_difference", "t_pvalue", "wilcoxon_pvalue", "cohens_dz", "n_pairs"):
        assert getattr(by_values, field) == pytest.approx(getattr(by_runs, field)), field
    assert (by_values.ci.low, by_values.ci.high) == pytest.approx((by_runs.ci.low, by_runs.ci.high))
    assert by_values.metric == "value"
    # Not accuracies: differences of accuracies, negative values, numbers above 1.
    changes = paired_values({0: -0.05, 1: -0.07, 2: -0.06}, {0: 1.5, 1: 2.5, 2: 2.0}, metric="change")
    assert changes.mean_difference == pytest.approx(2.06)
    assert changes.t_pvalue == pytest.approx(sps.ttest_rel([1.5, 2.5, 2.0], [-0.05, -0.07, -0.06]).pvalue)
    # Seeds only one side has are left out and named.
    one_sided = paired_values({0: 0.1, 1: 0.2, 5: 0.3}, {0: 0.2, 1: 0.4, 7: 0.1})
    assert one_sided.seeds == (0, 1) and one_sided.only_a_seeds == (5,) and one_sided.only_b_seeds == (7,)
    assert paired_values({}, {0: 1.0}).n_pairs == 0


def test_paired_values_reject_non_finite_values_and_non_mappings():
    with pytest.raises(ConfigError, match="values of A"):
        paired_values({0: float("nan")}, {0: 1.0})
    with pytest.raises(ConfigError, match="mapping of seed to value"):
        paired_values([0.1, 0.2], {0: 1.0})


def test_constant_differences_up_to_float_noise_have_no_t_test():
    # Each seed's difference is -0.07 pp up to float rounding (1e-17): the t statistic of that noise
    # is meaningless, so there is no test (rather than a p < 0.001 from rounding).
    cmp = paired_values({0: 0.98105, 1: 0.98235, 2: 0.97865}, {0: 0.9803499999999999, 1: 0.98165, 2: 0.97795})
    assert 0 < np.std(cmp.differences) < 1e-15  # the float noise is there
    assert math.isnan(cmp.t_pvalue) and not is_significant(cmp)
    assert cmp.ci.low == pytest.approx(-0.0007) and cmp.ci.high == pytest.approx(-0.0007)
    assert sps.ttest_1samp(cmp.differences, 0.0).pvalue < 0.001  # what testing the noise would say


def test_normlab_stats_reexports_the_module():
    assert nstats.paired_comparison is paired_comparison and nstats.paired_values is paired_values
    assert set(nstats.__all__) >= {"summarize_variant", "paired_comparison", "mean_ci", "bootstrap_ci", "holm"}
    # Numbers only: the verdicts in words, and p-values and percentage points as text, are the report's.
    assert not set(nstats.__all__) & {"verdict", "p_words", "plural", "format_p", "format_pp"}


# ------------------------------------------------------------------------------------------
# Diverged runs in the target summary
# ------------------------------------------------------------------------------------------


def test_diverged_runs_count_as_not_reaching_the_target_but_stay_out_of_the_accuracy_means():
    runs = [
        _run(0, (0.97, 0.985), (10.0, 10.0)),
        _run(2, (0.975, 0.99), (10.0, 10.0)),
        # Reached 98% at epoch 1, then blew up: a diverged run did not train to the target.
        _run(1, (0.981, float("nan")), (10.0, 10.0), "diverged"),
        _run(3, (), (), "failed"),
    ]
    s = summarize_variant("v", runs)
    assert s.seeds == (0, 2) and s.n_runs == 2
    assert s.final.mean == pytest.approx((0.985 + 0.99) / 2)  # finished runs only
    t = s.target
    assert (t.n_runs, t.n_reached, t.n_not_reached, t.n_diverged) == (3, 2, 1, 1)
    assert t.seeds == (0, 1, 2)  # the failed run (a crash, not a training outcome) is left out
    assert t.epochs == (2, None, 2)
    assert t.seconds == (20.0, None, 20.0)
    assert t.median_epochs == 2.0
    assert s.notes[0] == ("2 run(s) excluded by status from the accuracy statistics: seed 1 (diverged), "
                          "seed 3 (failed)")
    # Only diverged runs: none reached, every one counted.
    only = summarize_variant("w", [_run(0, (0.2,), (1.0,), "diverged"), _run(1, (0.3,), (1.0,), "diverged")])
    assert (only.n_runs, only.target.n_runs, only.target.n_reached, only.target.n_diverged) == (0, 2, 0, 2)



def test_a_run_that_diverged_in_its_first_epoch_has_no_curve_and_is_set_aside_like_a_nan_run():
    # The loop's loss limit stops a run before its first evaluation: no epochs at all.
    a = [_run(0, (0.9, 0.95), (1.0, 1.0)), _run(1, (0.91, 0.96), (1.0, 1.0)), _run(2, (), (), "diverged")]
    b = [_run(s, (0.93, 0.97), (1.0, 1.0)) for s in range(3)]
    s = summarize_variant("a", a, target=0.95)
    assert (s.n_runs, s.excluded) == (2, ((2, "diverged"),))
    assert (s.target.n_runs, s.target.n_reached, s.target.n_diverged) == (3, 2, 1)
    cmp = paired_comparison(a, b, "final")
    assert cmp.seeds == (0, 1) and cmp.only_b_seeds == (2,)
    assert cmp.mean_difference == pytest.approx(((0.97 - 0.95) + (0.97 - 0.96)) / 2)

# ------------------------------------------------------------------------------------------
# Many comparisons: Holm's step-down correction
# ------------------------------------------------------------------------------------------


def test_holm_matches_a_worked_example():
    # By hand: sorted 0.005, 0.01, 0.03, 0.04 (m = 4) times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04;
    # the running maximum makes the last 0.06. Back in the given order:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx((0.03, 0.06, 0.06, 0.02))
    # A test that could not run (NaN) stays NaN and is not counted in m.
    adjusted = holm([0.01, float("nan"), 0.04, 0.03, 0.005])
    assert math.isnan(adjusted[1])
    assert [adjusted[i] for i in (0, 2, 3, 4)] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # Capped at 1; ties share a value; one test is its own correction; no tests, no values.
    assert holm([0.5, 0.6]) == (1.0, 1.0)
    assert holm([0.02, 0.02]) == pytest.approx((0.04, 0.04))
    assert holm([0.03]) == (0.03,)
    assert holm([]) == ()
    # Never below the raw p, never above Bonferroni's m * p.
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.2, size=12)
    adj = np.array(holm(p))
    assert np.all(adj >= p - 1e-15) and np.all(adj <= np.minimum(1, 12 * p) + 1e-15)


@pytest.mark.parametrize("bad", [[0.1, 1.5], [-0.01], "0.1", [None]])
def test_holm_rejects_values_that_are_not_p_values(bad):
    with pytest.raises(ConfigError):
        holm(bad)


def test_is_significant_is_the_verdicts_rule():
    a = [0.980, 0.982, 0.981, 0.979, 0.983]
    d = [0.003, 0.004, 0.002, 0.0035, 0.0025]
    cmp = paired_comparison(runs_from_finals(a), runs_from_finals([x + y for x, y in zip(a, d)]))
    assert cmp.t_pvalue < 0.05 and cmp.ci.low > 0
    assert is_significant(cmp, 0.05)
    # A replaced (e.g. Holm-adjusted) p-value decides instead of the raw one.
    assert not is_significant(cmp, 0.05, pvalue=0.2)
    assert not is_significant(cmp, 0.05, pvalue=float("nan"))
    # p and interval must agree: an interval containing 0 is not significant whatever p says.
    class Fake:
        t_pvalue = 0.01
        ci = ConfidenceInterval(-0.001, 0.004, 0.95, "t")

    assert not is_significant(Fake(), 0.05)
    Fake.ci = ConfidenceInterval(-0.004, -0.001, 0.95, "t")
    assert is_significant(Fake(), 0.05)
    Fake.ci = ConfidenceInterval(math.nan, math.nan, 0.95, "t")
    assert not is_significant(Fake(), 0.05)
    with pytest.raises(ConfigError, match="alpha"):
        is_significant(cmp, 1.5)


def test_join_ints_writes_runs_of_seeds_as_ranges():
    assert join_ints([5, 0, 2, 1, 3, 9, 10]) == "0-3, 5, 9, 10"
    assert join_ints([]) == ""


def test_stats_write_no_verdicts_and_the_report_no_statistics():
    """Verdict wording lives in the report's phrasing, statistics in stats; TRAINS_ACCURACY is defined once."""
    import ast
    import inspect
    import pkgutil

    import normlab.experiments.presets as presets
    import normlab.experiments.stats as st
    import normlab.report as report
    import normlab.report.figures.diagnostics as figures
    import normlab.report.sections.ablations as ablations

    for info in pkgutil.iter_modules(st.__path__):
        source = inspect.getsource(__import__(f"normlab.experiments.stats.{info.name}", fromlist=["_"]))
        for word in ("raised", "lowered", "No significant difference", "agrees"):
            assert word not in source, (info.name, word)
    for info in pkgutil.walk_packages(report.__path__, "normlab.report."):
        tree = ast.parse(inspect.getsource(__import__(info.name, fromlist=["_"])))
        names = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
        assert "TRAINS_ACCURACY" not in names, info.name
        assert not calls & {"ttest_rel", "ttest_1samp", "wilcoxon"}, info.name  # tests are run by stats only
    assert presets.TRAINS_ACCURACY is ablations.TRAINS_ACCURACY is figures.TRAINS_ACCURACY is st.TRAINS_ACCURACY
