"""Statistics for multi-seed studies: per-variant summaries and paired comparisons, as numbers.

A study trains several *variants* (for example ``"lenet5"`` and ``"lenet5-bn"``) over the same
seeds. Seeds are paired: seed ``s`` gives every variant the same data order and initial weights,
so two variants are compared seed by seed (paired tests) rather than as independent samples.

Everything here is a pure function over plain Python / numpy data and returns frozen
dataclasses of numbers; nothing touches a database, a file or torch, and nothing writes a
verdict in words (the report does that: :mod:`normlab.report.phrasing`). Accuracies are
fractions in ``[0, 1]``.

The package: :mod:`~normlab.experiments.stats.records` (the data types and input checks; runs are
:class:`~normlab.train.record.RunRecord`, checked by :func:`check_run`),
:mod:`~normlab.experiments.stats.intervals`, :mod:`~normlab.experiments.stats.summary` and
:mod:`~normlab.experiments.stats.paired`.

Undefined quantities (a confidence interval from one run, a test from one pair) are reported as
``NaN`` together with a note saying why; no function raises for small samples. Bad input
(accuracies outside ``[0, 1]``, duplicate seeds, an unknown metric) raises
:class:`~normlab.errors.ConfigError`.

Methods
-------
* t-interval: ``mean ± t_{(1+c)/2, n-1} · s / sqrt(n)`` with ``s`` the sample standard deviation
  (``ddof=1``), via :data:`scipy.stats.t`.
* Bootstrap interval: :func:`scipy.stats.bootstrap` of the mean, percentile method by default
  (``"BCa"`` and ``"basic"`` are available), drawing from a ``numpy.random.Generator`` built
  from an integer seed so the same seed gives the same interval.
* Paired tests: :func:`scipy.stats.ttest_rel` and :func:`scipy.stats.wilcoxon` (two-sided,
  ``zero_method="wilcox"``, ``method="auto"``) on the differences ``B - A``.
* Effect size: Cohen's ``d_z = mean(d) / sd(d)`` and Hedges' ``g_z = J(n - 1) · d_z`` with the
  exact small-sample factor ``J(m) = Γ(m/2) / (sqrt(m/2) · Γ((m-1)/2))``.
* Many comparisons: Holm's step-down correction (:func:`holm`) of a family of p-values.
* Too few pairs: with fewer than :data:`MIN_TEST_PAIRS` (3) paired seeds no test is run (its
  p-values are NaN), and Hedges' ``g_z`` is undefined.
* Epochs to target: runs that never reach the target are censored after their last epoch; the
  median counts them (defined only when more than half reached it) and :func:`rank_by_target`
  orders variants by it.
* Significance: one rule everywhere (:func:`is_significant`): ``p < alpha`` *and* the confidence
  interval of the mean difference excludes zero.
"""

from normlab.experiments.stats.intervals import bootstrap_ci, curve_band, mean_ci
from normlab.experiments.stats.paired import holm, is_significant, paired_comparison, paired_values
from normlab.experiments.stats.records import (
    BOOTSTRAP_METHODS,
    DEFAULT_CONFIDENCE,
    DEFAULT_N_RESAMPLES,
    DATASET_TARGETS,
    DEFAULT_TARGET,
    METRICS,
    MIN_TEST_PAIRS,
    TRAINS_ACCURACY,
    ConfidenceInterval,
    CurveBand,
    MetricSummary,
    PairedComparison,
    TargetSummary,
    VariantSummary,
    check_run,
    check_target,
    default_target,
    join_ints,
)
from normlab.experiments.stats.summary import epochs_to_target, rank_by_target, summarize_variant, time_to_target

__all__ = [
    "BOOTSTRAP_METHODS",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_N_RESAMPLES",
    "DATASET_TARGETS",
    "DEFAULT_TARGET",
    "METRICS",
    "MIN_TEST_PAIRS",
    "TRAINS_ACCURACY",
    "ConfidenceInterval",
    "CurveBand",
    "MetricSummary",
    "PairedComparison",
    "TargetSummary",
    "VariantSummary",
    "bootstrap_ci",
    "check_run",
    "check_target",
    "default_target",
    "curve_band",
    "epochs_to_target",
    "holm",
    "is_significant",
    "join_ints",
    "mean_ci",
    "paired_comparison",
    "paired_values",
    "rank_by_target",
    "summarize_variant",
    "time_to_target",
]
