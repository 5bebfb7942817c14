"""Paired comparisons of two variants over shared seeds, the significance rule, and Holm's correction."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from normlab.errors import ConfigError
from normlab.experiments.stats.intervals import scipy_stats, t_interval
from normlab.experiments.stats.records import (
    DEFAULT_CONFIDENCE,
    DEFAULT_INCLUDE_STATUS,
    MIN_TEST_PAIRS,
    PairedComparison,
    check_alpha,
    check_confidence,
    check_metric,
    check_values,
    join_ints,
    select_runs,
)
from normlab.train.record import RunRecord

# Differences are rounded before ranking so that float noise (0.99 - 0.98 vs 0.98 - 0.97) does
# not split what are really ties; accuracies are counts over a test set, far coarser than this.
_DIFF_DECIMALS = 12


def _hedges_factor(df: int) -> float:
    """Exact small-sample correction J(df) = Γ(df/2) / (sqrt(df/2) Γ((df-1)/2))."""
    if df < 1:
        return math.nan
    # gammaln(0) is +inf, which makes J(1) = 0 as the exact formula says.
    from scipy.special import gammaln

    return float(np.exp(gammaln(df / 2.0) - gammaln((df - 1) / 2.0) - 0.5 * math.log(df / 2.0)))


def paired_comparison(
    a_runs: Iterable[Any],
    b_runs: Iterable[Any],
    metric: str = "final",
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    include_status: Sequence[str] = DEFAULT_INCLUDE_STATUS,
    a_name: str = "A",
    b_name: str = "B",
) -> PairedComparison:
    """Compare variant B with variant A seed by seed; differences are ``B - A``.

    ``a_name`` / ``b_name`` label the variants in messages and notes and are kept in the result.
    Only seeds with a usable run (status in ``include_status``) in both variants are paired;
    the others are listed in ``only_a_seeds`` / ``only_b_seeds`` and the notes. Computes the mean
    difference with its t interval, the paired t-test (:func:`scipy.stats.ttest_rel`), the
    Wilcoxon signed-rank test (:func:`scipy.stats.wilcoxon`, two-sided, zeros discarded,
    ``method="auto"``: exact / exhaustive permutation for small samples) and the effect sizes
    Cohen's ``d_z`` and Hedges' ``g_z``.

    Degenerate cases return NaN with a note instead of raising: fewer than two pairs (no test,
    no interval), two pairs (an interval and ``d_z`` but no test and no ``g_z``: see
    :data:`~normlab.experiments.stats.records.MIN_TEST_PAIRS`), all differences equal (t-test and
    ``d_z`` undefined), all differences zero (Wilcoxon undefined as well).
    """
    m = check_metric(metric)
    a_used, a_excl = select_runs(a_runs, include_status, f"variant {a_name!r}")
    b_used, b_excl = select_runs(b_runs, include_status, f"variant {b_name!r}")

    def value(r: RunRecord) -> float:
        return r.final_val_accuracy if m == "final" else r.best_val_accuracy

    return _compare({r.seed: value(r) for r in a_used}, {r.seed: value(r) for r in b_used}, m,
                    check_confidence(confidence), a_name, b_name, a_excl, b_excl)


def paired_values(
    a: Mapping[int, float],
    b: Mapping[int, float],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    a_name: str = "A",
    b_name: str = "B",
    metric: str = "value",
) -> PairedComparison:
    """:func:`paired_comparison` of per-seed values (``{seed: value}``), any finite numbers.

    For quantities other than an accuracy curve's final or best value: a run's accuracy at one
    setting against another, or each seed's change of accuracy between two settings. ``metric``
    labels what is compared. Raises :class:`ConfigError` for a non-finite value.
    """
    values = []
    for name, side in ((a_name, a), (b_name, b)):
        if not isinstance(side, Mapping):
            raise ConfigError(f"values of {name} must be a mapping of seed to value; got {type(side).__name__}")
        values.append({int(s): float(v) for s, v in zip(side, check_values(list(side.values()), f"values of {name}"))})
    return _compare(values[0], values[1], metric, check_confidence(confidence), a_name, b_name, (), ())


def _compare(a_by_seed: Mapping[int, float], b_by_seed: Mapping[int, float], metric: str, confidence: float,
             a_name: str, b_name: str, a_excl: tuple, b_excl: tuple) -> PairedComparison:
    seeds = tuple(sorted(a_by_seed.keys() & b_by_seed.keys()))
    only_a = tuple(sorted(a_by_seed.keys() - b_by_seed.keys()))
    only_b = tuple(sorted(b_by_seed.keys() - a_by_seed.keys()))
    a_vals = np.array([a_by_seed[s] for s in seeds], dtype=float)
    b_vals = np.array([b_by_seed[s] for s in seeds], dtype=float)
    diffs = b_vals - a_vals
    n = len(seeds)
    notes: list[str] = []
    if only_a or only_b:
        parts = [f"only in {name}: {join_ints(only)}" for name, only in ((a_name, only_a), (b_name, only_b)) if only]
        notes.append("unpaired seeds excluded: " + "; ".join(parts))
    for label, excl in ((a_name, a_excl), (b_name, b_excl)):
        if excl:
            notes.append(f"{label} runs excluded by status: " + ", ".join(f"seed {s} ({st})" for s, st in excl))

    mean_d = float(np.mean(diffs)) if n else math.nan
    sd_d = float(np.std(diffs, ddof=1)) if n >= 2 else math.nan
    t_stat = t_p = w_stat = w_p = dz = gz = math.nan
    rounded = np.round(diffs, _DIFF_DECIMALS)
    n_nonzero = int(np.count_nonzero(rounded))

    if n < MIN_TEST_PAIRS:
        notes.append(f"{n} paired seed(s): too few to test (the tests need at least {MIN_TEST_PAIRS} pairs"
                     + ("; with 2 the t-test has 1 degree of freedom and the Wilcoxon test cannot reach p < 0.5)"
                        if n == 2 else ")"))
        if n == 2 and sd_d > 0:
            dz = mean_d / sd_d
    else:
        if np.ptp(rounded) == 0.0:
            # Zero variance: t = mean / 0 is 0/0 or ±inf, neither a meaningful test result.
            notes.append(
                "all paired differences are equal, so the t-test and d_z are undefined"
                if n_nonzero
                else "all paired differences are zero (identical results), so the t-test and d_z are undefined"
            )
        else:
            res = scipy_stats().ttest_rel(b_vals, a_vals)
            t_stat, t_p = float(res.statistic), float(res.pvalue)
            dz = mean_d / sd_d
            gz = dz * _hedges_factor(n - 1)
        if n_nonzero == 0:
            notes.append("the Wilcoxon signed-rank test is undefined when every difference is zero")
        else:
            with warnings.catch_warnings():
                # Ties and zeros make scipy fall back from the exact distribution; that is expected.
                warnings.simplefilter("ignore")
                wres = scipy_stats().wilcoxon(rounded, zero_method="wilcox", alternative="two-sided", method="auto")
            w_stat, w_p = float(wres.statistic), float(wres.pvalue)
            if n_nonzero < n:
                notes.append(f"Wilcoxon discarded {n - n_nonzero} zero difference(s)")

    return PairedComparison(
        a_name=a_name, b_name=b_name, metric=metric, confidence=confidence, seeds=seeds,
        a_values=tuple(float(v) for v in a_vals), b_values=tuple(float(v) for v in b_vals),
        differences=tuple(float(v) for v in diffs), n_pairs=n,
        mean_a=float(np.mean(a_vals)) if n else math.nan, mean_b=float(np.mean(b_vals)) if n else math.nan,
        mean_difference=mean_d, sd_difference=sd_d, ci=t_interval(diffs, confidence), t_statistic=t_stat,
        df=max(n - 1, 0), t_pvalue=t_p, wilcoxon_statistic=w_stat, wilcoxon_pvalue=w_p, n_nonzero=n_nonzero,
        cohens_dz=dz, hedges_gz=gz, only_a_seeds=only_a, only_b_seeds=only_b, excluded_a=a_excl,
        excluded_b=b_excl, notes=tuple(notes),
    )


def is_significant(comparison: Any, alpha: float = 0.05, *, pvalue: float | None = None) -> bool:
    """Whether a paired comparison shows a significant difference: the rule every verdict uses.

    True when the paired t-test's p-value is below ``alpha`` *and* the confidence interval of the
    mean difference is defined and excludes zero (the two agree when ``alpha == 1 - confidence``;
    requiring both keeps a verdict from resting on one of them alone). ``comparison`` is a
    :class:`PairedComparison` or any object with ``t_pvalue`` and a ``ci`` with ``low``/``high``.
    ``pvalue`` replaces the comparison's own p-value, e.g. by its Holm-adjusted one
    (:func:`holm`). An undefined p-value (NaN) or interval is never significant.
    """
    a = check_alpha(alpha)
    p = comparison.t_pvalue if pvalue is None else pvalue
    ci = comparison.ci
    low, high = getattr(ci, "low", math.nan), getattr(ci, "high", math.nan)
    try:
        p, low, high = float(p), float(low), float(high)
    except (TypeError, ValueError):
        return False
    if not (math.isfinite(p) and math.isfinite(low) and math.isfinite(high)):
        return False
    return p < a and (low > 0.0 or high < 0.0)


def holm(pvalues: Iterable[float]) -> tuple[float, ...]:
    """Holm's step-down adjusted p-values of a family of tests, in the order given.

    With the ``m`` p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the adjusted value of
    ``p_(i)`` is ``max_{j <= i} min(1, (m - j + 1) · p_(j))``; rejecting where the adjusted p is
    below ``alpha`` keeps the chance of *any* false positive in the family at most ``alpha``
    (Holm 1979), uniformly more powerful than Bonferroni's ``m · p``. NaN entries (tests that
    could not be run) stay NaN and do not count in ``m``. Raises :class:`ConfigError` for values
    outside ``[0, 1]``.
    """
    if isinstance(pvalues, (str, bytes)) or not isinstance(pvalues, Iterable):
        raise ConfigError(f"p-values must be a sequence of numbers; got {type(pvalues).__name__}")
    items = list(pvalues)
    for i, p in enumerate(items):
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
            raise ConfigError(f"p-values must be numbers (NaN for a test not run); got {p!r} at position {i}")
    values = tuple(float(p) for p in items)
    for i, p in enumerate(values):
        if not math.isnan(p) and not 0.0 <= p <= 1.0:
            raise ConfigError(f"p-values must lie in [0, 1] (or be NaN for a test not run); got {p!r} at position {i}")
    order = sorted((i for i, p in enumerate(values) if not math.isnan(p)), key=lambda i: values[i])
    m = len(order)
    adjusted = [math.nan] * len(values)
    running = 0.0
    for rank, i in enumerate(order):
        # The running maximum keeps the adjusted values in the order of the raw ones (step-down).
        running = max(running, min(1.0, (m - rank) * values[i]))
        adjusted[i] = running
    return tuple(adjusted)

