"""Statistics for multi-seed studies: per-variant summaries, paired comparisons and verdicts.

A study trains several *variants* (for example ``"lenet5"`` and ``"lenet5-bn"``) over the same
seeds. Seeds are paired: seed ``s`` gives every variant the same data order and initial weights,
so two variants are compared seed by seed (paired tests) rather than as independent samples.

Everything here is a pure function over plain Python / numpy data and returns frozen
dataclasses; nothing touches a database, a file or torch. Accuracies are fractions in ``[0, 1]``;
the only place they turn into percent / percentage points (pp) is the text helpers
(:func:`verdict`, :meth:`TargetSummary.describe`, :func:`format_pp`).

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
* Significance: one rule everywhere (:func:`is_significant`): ``p < alpha`` *and* the confidence
  interval of the mean difference excludes zero.
"""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from normlab.errors import ConfigError

__all__ = [
    "BOOTSTRAP_METHODS",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_N_RESAMPLES",
    "DEFAULT_TARGET",
    "METRICS",
    "TRAINS_ACCURACY",
    "ConfidenceInterval",
    "CurveBand",
    "MetricSummary",
    "PairedComparison",
    "RunRecord",
    "TargetSummary",
    "VariantSummary",
    "bootstrap_ci",
    "coerce_run",
    "curve_band",
    "epochs_to_target",
    "format_p",
    "format_pp",
    "holm",
    "is_significant",
    "join_ints",
    "mean_ci",
    "p_words",
    "paired_comparison",
    "plural",
    "summarize_variant",
    "time_to_target",
    "verdict",
]

DEFAULT_CONFIDENCE = 0.95
DEFAULT_TARGET = 0.98
DEFAULT_N_RESAMPLES = 10_000
DEFAULT_INCLUDE_STATUS = ("done",)
BOOTSTRAP_METHODS = ("percentile", "basic", "BCa")
METRICS = ("final", "best")
#: A run "trains" (a learning rate or batch size works for a model) when its final validation
#: accuracy is at least this; MNIST's chance level is 10%, and a stalled run sits there. The
#: presets and the report's sweep sections both read it from here.
TRAINS_ACCURACY = 0.90

_METRIC_LABELS = {
    "final": "final validation accuracy",
    "best": "best validation accuracy",
}

# Differences are rounded before ranking so that float noise (0.99 - 0.98 vs 0.98 - 0.97) does
# not split what are really ties; accuracies are counts over a test set, far coarser than this.
_DIFF_DECIMALS = 12


def _sps():
    """``scipy.stats``, imported on first use: the import takes about a second, which every
    ``normlab`` command would otherwise pay at start-up."""
    from scipy import stats

    return stats


# --------------------------------------------------------------------------------------------
# Data types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """One training run of one variant, as the statistics need it.

    Attributes:
        seed: The run's seed; runs of two variants with the same seed are paired.
        val_accuracy: Validation accuracy after each epoch, fractions in ``[0, 1]``.
        epoch_seconds: Wall-clock seconds of each epoch (same length as ``val_accuracy``
            for runs that are summarised).
        status: ``"done"``, ``"failed"`` or ``"diverged"`` (other strings are kept as given).
    """

    seed: int
    val_accuracy: tuple[float, ...]
    epoch_seconds: tuple[float, ...]
    status: str = "done"

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise ConfigError(f"run seed must be an integer; got {self.seed!r}")
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(
            self, "val_accuracy", _float_tuple(self.val_accuracy, f"val_accuracy of seed {self.seed}")
        )
        object.__setattr__(
            self, "epoch_seconds", _float_tuple(self.epoch_seconds, f"epoch_seconds of seed {self.seed}")
        )
        if not isinstance(self.status, str):
            raise ConfigError(
                f"status of seed {self.seed} must be a string such as 'done', 'failed' or "
                f"'diverged'; got {self.status!r}"
            )

    @property
    def final_accuracy(self) -> float:
        """Accuracy after the last epoch (NaN when the run has no epochs)."""
        return self.val_accuracy[-1] if self.val_accuracy else math.nan

    @property
    def best_accuracy(self) -> float:
        """Highest accuracy over all epochs (NaN when the run has no epochs)."""
        return max(self.val_accuracy) if self.val_accuracy else math.nan


@dataclass(frozen=True)
class ConfidenceInterval:
    """A two-sided confidence interval.

    Attributes:
        low: Lower bound; NaN when the interval is undefined (see ``note``).
        high: Upper bound; NaN when the interval is undefined.
        confidence: Confidence level, e.g. ``0.95``.
        method: ``"t"`` or ``"bootstrap-percentile"`` / ``"bootstrap-basic"`` / ``"bootstrap-BCa"``.
        note: Why the interval is undefined or degenerate; ``None`` when it is ordinary.
    """

    low: float
    high: float
    confidence: float
    method: str
    note: str | None = None

    @property
    def defined(self) -> bool:
        """True when both bounds are finite numbers."""
        return math.isfinite(self.low) and math.isfinite(self.high)

    def contains(self, value: float) -> bool:
        """True when ``low <= value <= high`` (False for an undefined interval)."""
        return self.defined and self.low <= value <= self.high


@dataclass(frozen=True)
class MetricSummary:
    """Mean, spread and confidence intervals of one per-run metric over a variant's runs.

    Attributes:
        metric: ``"final"`` (accuracy after the last epoch) or ``"best"`` (highest accuracy).
        n: Number of runs summarised.
        values: Per-run values, in the order of :attr:`VariantSummary.seeds`.
        mean: Mean of ``values`` (NaN when ``n == 0``).
        std: Sample standard deviation, ``ddof=1`` (NaN when ``n < 2``).
        t_ci: Student-t confidence interval of the mean.
        bootstrap_ci: Bootstrap confidence interval of the mean.
    """

    metric: str
    n: int
    values: tuple[float, ...]
    mean: float
    std: float
    t_ci: ConfidenceInterval
    bootstrap_ci: ConfidenceInterval


@dataclass(frozen=True)
class TargetSummary:
    """How many runs reached a target accuracy, and how fast.

    Runs that never reach the target stay in the per-run tuples as ``None`` and are counted in
    :attr:`n_not_reached`; the medians and means are over the runs that reached it. Diverged runs
    count as runs that did not reach the target (their epochs are ``None``), so a setting where
    half the runs blow up does not look as fast as one where all of them train.

    Attributes:
        target: Target accuracy as a fraction, e.g. ``0.98``.
        n_runs: Number of runs considered, diverged ones included.
        n_reached: Number of those runs that reached the target.
        epochs: Per run, the first epoch (1-based) with accuracy ``>= target``, or ``None``.
        seconds: Per run, the cumulative wall seconds up to and including that epoch, or ``None``.
        median_epochs: Median of the non-``None`` ``epochs`` (NaN when no run reached).
        mean_epochs: Mean of the non-``None`` ``epochs`` (NaN when no run reached).
        median_seconds: Median of the non-``None`` ``seconds`` (NaN when no run reached).
        mean_seconds: Mean of the non-``None`` ``seconds`` (NaN when no run reached).
        n_diverged: How many of the :attr:`n_runs` runs diverged (counted as not reaching the target).
        seeds: The seed of each run, in the order of :attr:`epochs` and :attr:`seconds` (ascending).
    """

    target: float
    n_runs: int
    n_reached: int
    epochs: tuple[int | None, ...]
    seconds: tuple[float | None, ...]
    median_epochs: float
    mean_epochs: float
    median_seconds: float
    mean_seconds: float
    n_diverged: int = 0
    seeds: tuple[int, ...] = ()

    @property
    def n_not_reached(self) -> int:
        """Number of runs that never reached the target."""
        return self.n_runs - self.n_reached

    def describe(self) -> str:
        """One line such as ``"3 of 5 runs reached 98%"`` (``"... (1 diverged)"`` when runs diverged)."""
        noun = "run" if self.n_runs == 1 else "runs"
        text = f"{self.n_reached} of {self.n_runs} {noun} reached {_format_percent(self.target)}"
        return text + (f" ({self.n_diverged} diverged)" if self.n_diverged else "")


@dataclass(frozen=True)
class VariantSummary:
    """Statistics of one variant over its runs.

    Attributes:
        name: Variant name, e.g. ``"lenet5-bn"``.
        seeds: Seeds of the runs summarised, ascending; per-run tuples follow this order.
        n_runs: Number of runs summarised (``len(seeds)``).
        final: Summary of the final-epoch validation accuracy.
        best: Summary of the best validation accuracy over epochs.
        target: Epochs- and time-to-target summary.
        confidence: Confidence level of every interval.
        bootstrap_method: Bootstrap interval method (``"percentile"``, ``"basic"`` or ``"BCa"``).
        n_resamples: Bootstrap resamples.
        excluded: ``(seed, status)`` of runs left out because of their status.
        notes: Plain-language remarks (undefined intervals, excluded runs).
    """

    name: str
    seeds: tuple[int, ...]
    n_runs: int
    final: MetricSummary
    best: MetricSummary
    target: TargetSummary
    confidence: float
    bootstrap_method: str
    n_resamples: int
    excluded: tuple[tuple[int, str], ...]
    notes: tuple[str, ...]

    def metric(self, name: str) -> MetricSummary:
        """Return :attr:`final` or :attr:`best` by name."""
        return {"final": self.final, "best": self.best}[_check_metric(name)]


@dataclass(frozen=True)
class PairedComparison:
    """Variant B against variant A over their shared seeds; differences are ``B - A``.

    Attributes:
        a_name: Name of the baseline variant A (``"A"`` unless given).
        b_name: Name of the variant B compared against A (``"B"`` unless given).
        metric: ``"final"`` or ``"best"``.
        confidence: Confidence level of :attr:`ci`.
        seeds: Shared seeds used, ascending.
        a_values: A's metric per shared seed.
        b_values: B's metric per shared seed.
        differences: ``b_values - a_values`` per shared seed.
        n_pairs: Number of shared seeds.
        mean_a: Mean of ``a_values`` (NaN when no pairs).
        mean_b: Mean of ``b_values`` (NaN when no pairs).
        mean_difference: Mean of ``differences`` (NaN when no pairs).
        sd_difference: Standard deviation of ``differences``, ``ddof=1`` (NaN when < 2 pairs).
        ci: t confidence interval of ``mean_difference``.
        t_statistic: Paired t statistic (NaN when undefined).
        df: Degrees of freedom of the t-test, ``n_pairs - 1`` (0 when no pairs).
        t_pvalue: Two-sided paired t-test p-value (NaN when undefined).
        wilcoxon_statistic: Wilcoxon signed-rank statistic (NaN when undefined).
        wilcoxon_pvalue: Two-sided Wilcoxon signed-rank p-value (NaN when undefined).
        n_nonzero: Number of non-zero differences (the pairs Wilcoxon ranks).
        cohens_dz: ``mean_difference / sd_difference`` (NaN when undefined).
        hedges_gz: ``cohens_dz`` times Hedges' small-sample correction (NaN when undefined).
        only_a_seeds: Seeds usable in A but not in B (excluded from the comparison).
        only_b_seeds: Seeds usable in B but not in A (excluded from the comparison).
        excluded_a: ``(seed, status)`` of A's runs left out because of their status.
        excluded_b: ``(seed, status)`` of B's runs left out because of their status.
        notes: Plain-language remarks (undefined tests, exclusions).
    """

    a_name: str
    b_name: str
    metric: str
    confidence: float
    seeds: tuple[int, ...]
    a_values: tuple[float, ...]
    b_values: tuple[float, ...]
    differences: tuple[float, ...]
    n_pairs: int
    mean_a: float
    mean_b: float
    mean_difference: float
    sd_difference: float
    ci: ConfidenceInterval
    t_statistic: float
    df: int
    t_pvalue: float
    wilcoxon_statistic: float
    wilcoxon_pvalue: float
    n_nonzero: int
    cohens_dz: float
    hedges_gz: float
    only_a_seeds: tuple[int, ...]
    only_b_seeds: tuple[int, ...]
    excluded_a: tuple[tuple[int, str], ...]
    excluded_b: tuple[tuple[int, str], ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class CurveBand:
    """Per-epoch mean and t confidence band of several runs' curves.

    Attributes:
        epochs: Epoch numbers, 1-based.
        n: Number of runs that have each epoch (curves may differ in length).
        mean: Mean per epoch.
        low: Lower band per epoch (NaN where ``n < 2``).
        high: Upper band per epoch (NaN where ``n < 2``).
        confidence: Confidence level of the band.
    """

    epochs: np.ndarray
    n: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    confidence: float


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _float_tuple(values: Any, what: str) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or values is None:
        raise ConfigError(f"{what} must be a sequence of numbers; got {values!r}")
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} must be a sequence of numbers; got {values!r}") from exc
    if arr.ndim != 1:
        raise ConfigError(f"{what} must be a flat sequence of numbers; got shape {arr.shape}")
    return tuple(float(v) for v in arr)


def _check_open_unit(name: str, value: float, example: str) -> float:
    """``value`` as a float strictly between 0 and 1, or a ConfigError naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number strictly between 0 and 1 (e.g. {example}); got {value!r}") from exc
    if not 0.0 < v < 1.0:
        raise ConfigError(f"{name} must be strictly between 0 and 1 (e.g. {example}); got {value!r}")
    return v


def _check_confidence(confidence: float) -> float:
    return _check_open_unit("confidence", confidence, "0.95")


def _check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {', '.join(map(repr, METRICS))}; got {metric!r}")
    return metric


def _check_target(target: float) -> float:
    try:
        t = float(target)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"target accuracy must be a fraction in (0, 1]; got {target!r}") from exc
    if not 0.0 < t <= 1.0:
        hint = " (a percentage? pass it divided by 100, e.g. 0.98)" if 1.0 < t <= 100.0 else ""
        raise ConfigError(f"target accuracy must be a fraction in (0, 1]{hint}; got {target!r}")
    return t


def _check_values(values: Any, what: str = "values") -> np.ndarray:
    arr = np.asarray(_float_tuple(values, what), dtype=float)
    if not np.all(np.isfinite(arr)):
        bad = [i for i, v in enumerate(arr) if not math.isfinite(v)]
        raise ConfigError(f"{what} must be finite numbers; got non-finite values at positions {bad}")
    return arr


def _check_bootstrap_args(n_resamples: int, method: str) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ConfigError(f"n_resamples must be a positive integer (e.g. 10000); got {n_resamples!r}")
    if method not in BOOTSTRAP_METHODS:
        raise ConfigError(
            f"bootstrap method must be one of {', '.join(map(repr, BOOTSTRAP_METHODS))}; got {method!r}"
        )


def coerce_run(run: Any) -> RunRecord:
    """Turn a :class:`RunRecord`, a mapping or an object with the same attributes into a RunRecord.

    The mapping / object needs ``seed``, ``val_accuracy`` and ``epoch_seconds``; ``status``
    defaults to ``"done"``. Raises :class:`ConfigError` naming a missing field.
    """
    if isinstance(run, RunRecord):
        return run
    fields = ("seed", "val_accuracy", "epoch_seconds")
    if isinstance(run, Mapping):
        missing = [f for f in fields if f not in run]
        if missing:
            raise ConfigError(
                f"a run needs the fields seed, val_accuracy, epoch_seconds (and optionally status); "
                f"missing {', '.join(missing)} in {dict(run)!r}"
            )
        return RunRecord(run["seed"], run["val_accuracy"], run["epoch_seconds"], run.get("status", "done"))
    missing = [f for f in fields if not hasattr(run, f)]
    if missing:
        raise ConfigError(
            f"a run must be a RunRecord, a mapping or an object with seed, val_accuracy, "
            f"epoch_seconds (and optionally status); {type(run).__name__} lacks {', '.join(missing)}"
        )
    return RunRecord(run.seed, run.val_accuracy, run.epoch_seconds, getattr(run, "status", "done"))


def _select_runs(
    runs: Iterable[Any], include_status: Sequence[str], label: str
) -> tuple[list[RunRecord], tuple[tuple[int, str], ...]]:
    """Coerce, check for duplicate seeds, split by status and validate the runs kept."""
    used, left_out = _select_run_records(runs, include_status, label)
    return used, tuple(sorted((r.seed, r.status) for r in left_out))


def _select_run_records(
    runs: Iterable[Any], include_status: Sequence[str], label: str
) -> tuple[list[RunRecord], list[RunRecord]]:
    """The runs kept (validated, by seed) and the runs left out by status (by seed, not validated)."""
    if isinstance(runs, (str, bytes, Mapping)) or not isinstance(runs, Iterable):
        raise ConfigError(f"runs of {label} must be a list of runs; got {type(runs).__name__}")
    if isinstance(include_status, str):
        include_status = (include_status,)
    records = [coerce_run(r) for r in runs]
    seen: set[int] = set()
    for r in records:
        if r.seed in seen:
            raise ConfigError(f"{label} has more than one run with seed {r.seed}; seeds must be unique per variant")
        seen.add(r.seed)
    used = sorted((r for r in records if r.status in include_status), key=lambda r: r.seed)
    left_out = sorted((r for r in records if r.status not in include_status), key=lambda r: r.seed)
    for r in used:
        where = f"{label}, seed {r.seed}"
        if not r.val_accuracy:
            raise ConfigError(f"{where}: a run with status {r.status!r} needs at least one epoch of val_accuracy")
        for i, v in enumerate(r.val_accuracy):
            if not (math.isfinite(v) and 0.0 <= v <= 1.0):
                hint = " (percentages? divide by 100)" if 1.0 < v <= 100.0 else ""
                raise ConfigError(
                    f"{where}: val_accuracy must be fractions in [0, 1]{hint}; got {v!r} at epoch {i + 1}"
                )
        if len(r.epoch_seconds) != len(r.val_accuracy):
            raise ConfigError(
                f"{where}: epoch_seconds has {len(r.epoch_seconds)} entries but val_accuracy has "
                f"{len(r.val_accuracy)}; they must have one entry per epoch"
            )
        for i, s in enumerate(r.epoch_seconds):
            if not (math.isfinite(s) and s >= 0.0):
                raise ConfigError(f"{where}: epoch_seconds must be finite and >= 0; got {s!r} at epoch {i + 1}")
    return used, left_out


# --------------------------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------------------------


def _t_interval(arr: np.ndarray, confidence: float) -> ConfidenceInterval:
    n = arr.size
    if n < 2:
        note = "no values" if n == 0 else "one value has no spread"
        return ConfidenceInterval(math.nan, math.nan, confidence, "t", f"undefined with n = {n} ({note}); needs n >= 2")
    mean = float(np.mean(arr))
    sd = float(np.std(arr, ddof=1))
    half = float(_sps().t.ppf(0.5 + confidence / 2.0, n - 1)) * sd / math.sqrt(n)
    note = "all values are equal, so the interval has zero width" if sd == 0.0 else None
    return ConfidenceInterval(mean - half, mean + half, confidence, "t", note)


def mean_ci(values: Sequence[float], confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of the mean: ``(mean, low, high)``.

    ``low``/``high`` are ``mean ∓ t_{(1+c)/2, n-1} · s / sqrt(n)`` with ``s`` the ``ddof=1``
    standard deviation. With one value the interval is undefined and returned as NaN; with no
    values all three are NaN. Raises :class:`ConfigError` for non-finite values or a confidence
    outside ``(0, 1)``.
    """
    c = _check_confidence(confidence)
    arr = _check_values(values)
    mean = float(np.mean(arr)) if arr.size else math.nan
    ci = _t_interval(arr, c)
    return mean, ci.low, ci.high


def _mean_along_axis(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


@functools.cache
def _bootstrap_rng_kwarg() -> str:
    # scipy 1.15 renamed bootstrap's `random_state` to `rng`; the package supports scipy >= 1.10.
    return "rng" if "rng" in inspect.signature(_sps().bootstrap).parameters else "random_state"


def _bootstrap_interval(
    arr: np.ndarray, confidence: float, n_resamples: int, seed: int | np.random.Generator | None, method: str
) -> ConfidenceInterval:
    label = f"bootstrap-{method}"
    n = arr.size
    if n < 2:
        note = "no values" if n == 0 else "one value cannot be resampled"
        return ConfidenceInterval(
            math.nan, math.nan, confidence, label, f"undefined with n = {n} ({note}); needs n >= 2"
        )
    if np.ptp(arr) == 0.0:
        # Every resample has the same mean; scipy's BCa would warn and return NaN here.
        v = float(arr[0])
        return ConfidenceInterval(v, v, confidence, label, "all values are equal, so the interval has zero width")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = _sps().bootstrap(
            (arr,),
            _mean_along_axis,
            n_resamples=int(n_resamples),
            vectorized=True,
            confidence_level=confidence,
            method=method,
            **{_bootstrap_rng_kwarg(): rng},
        )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    note = None
    if not (math.isfinite(low) and math.isfinite(high)):
        low = high = math.nan
        note = f"the {method} bootstrap interval is undefined for these values"
    elif caught:
        note = f"scipy warned: {caught[0].message}"
    return ConfidenceInterval(low, high, confidence, label, note)


def bootstrap_ci(
    values: Sequence[float],
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    seed: int | np.random.Generator | None = 0,
    *,
    method: str = "percentile",
) -> tuple[float, float, float]:
    """Mean and bootstrap confidence interval of the mean: ``(mean, low, high)``.

    Uses :func:`scipy.stats.bootstrap` with ``method`` ``"percentile"`` (default), ``"basic"``
    or ``"BCa"``, resampling from ``numpy.random.default_rng(seed)``; the same integer seed gives
    the same interval. ``seed=None`` draws fresh entropy (not reproducible). With fewer than two
    values the interval is NaN; when all values are equal it is ``(v, v)``. Note that with very
    few values (say 5 seeds) percentile intervals are narrower than they should be; prefer
    :func:`mean_ci` there and use this as a cross-check.
    """
    c = _check_confidence(confidence)
    _check_bootstrap_args(n_resamples, method)
    arr = _check_values(values)
    mean = float(np.mean(arr)) if arr.size else math.nan
    ci = _bootstrap_interval(arr, c, n_resamples, seed, method)
    return mean, ci.low, ci.high


def curve_band(curves: Sequence[Sequence[float]], confidence: float = DEFAULT_CONFIDENCE) -> CurveBand:
    """Per-epoch mean and t confidence band of several runs' curves (e.g. validation accuracy).

    ``curves`` holds one sequence per run; they may differ in length (a run stopped early), so
    epoch ``k`` uses the runs that have it and ``n[k]`` says how many. The band is NaN where fewer
    than two runs have the epoch. Raises :class:`ConfigError` for non-finite values.
    """
    c = _check_confidence(confidence)
    if isinstance(curves, (str, bytes)) or not isinstance(curves, Iterable):
        raise ConfigError(f"curves must be a list of per-epoch sequences; got {type(curves).__name__}")
    rows = [_check_values(curve, f"curve {i}") for i, curve in enumerate(curves)]
    length = max((r.size for r in rows), default=0)
    n = np.zeros(length, dtype=int)
    mean = np.full(length, math.nan)
    low = np.full(length, math.nan)
    high = np.full(length, math.nan)
    for k in range(length):
        column = np.array([r[k] for r in rows if r.size > k])
        n[k] = column.size
        mean[k] = float(np.mean(column))
        ci = _t_interval(column, c)
        low[k], high[k] = ci.low, ci.high
    return CurveBand(np.arange(1, length + 1), n, mean, low, high, c)


# --------------------------------------------------------------------------------------------
# Per-variant summary
# --------------------------------------------------------------------------------------------


def epochs_to_target(val_accuracy: Sequence[float], target: float = DEFAULT_TARGET) -> int | None:
    """First epoch (1-based) whose accuracy is ``>= target``, or ``None`` if none is."""
    t = _check_target(target)
    for i, acc in enumerate(_float_tuple(val_accuracy, "val_accuracy")):
        if acc >= t:
            return i + 1
    return None


def time_to_target(
    val_accuracy: Sequence[float], epoch_seconds: Sequence[float], target: float = DEFAULT_TARGET
) -> float | None:
    """Cumulative wall seconds up to and including the first epoch at or above ``target``.

    Returns ``None`` when the target is never reached. Raises :class:`ConfigError` when
    ``epoch_seconds`` does not cover that epoch.
    """
    epoch = epochs_to_target(val_accuracy, target)
    if epoch is None:
        return None
    seconds = _float_tuple(epoch_seconds, "epoch_seconds")
    if len(seconds) < epoch:
        raise ConfigError(
            f"epoch_seconds has {len(seconds)} entries but the target is reached at epoch {epoch}; "
            "give one entry per epoch"
        )
    return float(math.fsum(seconds[:epoch]))


def _metric_summary(
    metric: str, values: Sequence[float], confidence: float, n_resamples: int, seed: Any, method: str
) -> MetricSummary:
    arr = np.asarray(values, dtype=float)
    n = arr.size
    return MetricSummary(
        metric=metric,
        n=n,
        values=tuple(float(v) for v in arr),
        mean=float(np.mean(arr)) if n else math.nan,
        std=float(np.std(arr, ddof=1)) if n >= 2 else math.nan,
        t_ci=_t_interval(arr, confidence),
        bootstrap_ci=_bootstrap_interval(arr, confidence, n_resamples, seed, method),
    )


def _target_summary(runs: Sequence[RunRecord], target: float, diverged: Sequence[RunRecord] = ()) -> TargetSummary:
    """Epochs/time to target of ``runs``; ``diverged`` runs count as never reaching it.

    A diverged run's curve may hold NaN, a value above the target before it blew up, or nothing
    (stopped in its first epoch); either way it did not train to the target, so it is not read,
    only counted.
    """
    rows = sorted([(r.seed, epochs_to_target(r.val_accuracy, target),
                    time_to_target(r.val_accuracy, r.epoch_seconds, target)) for r in runs]
                  + [(r.seed, None, None) for r in diverged])
    epochs = tuple(e for _, e, _ in rows)
    seconds = tuple(s for _, _, s in rows)
    reached_e = [e for e in epochs if e is not None]
    reached_s = [s for s in seconds if s is not None]
    return TargetSummary(
        target=target,
        n_runs=len(rows),
        n_reached=len(reached_e),
        epochs=epochs,
        seconds=seconds,
        median_epochs=float(np.median(reached_e)) if reached_e else math.nan,
        mean_epochs=float(np.mean(reached_e)) if reached_e else math.nan,
        median_seconds=float(np.median(reached_s)) if reached_s else math.nan,
        mean_seconds=float(np.mean(reached_s)) if reached_s else math.nan,
        n_diverged=len(diverged),
        seeds=tuple(seed for seed, _, _ in rows),
    )


def summarize_variant(
    name: str,
    runs: Iterable[Any],
    *,
    target: float = DEFAULT_TARGET,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    seed: int | None = 0,
    bootstrap_method: str = "percentile",
    include_status: Sequence[str] = DEFAULT_INCLUDE_STATUS,
) -> VariantSummary:
    """Summarise one variant's runs: final/best accuracy with t and bootstrap CIs, epochs/time to target.

    Args:
        name: Variant name, used in messages and kept in the result.
        runs: :class:`RunRecord` objects, mappings or objects with ``seed``, ``val_accuracy``
            (fractions per epoch), ``epoch_seconds`` and ``status``.
        target: Accuracy (fraction) for epochs- and time-to-target, default 0.98.
        confidence: Confidence level of the intervals, default 0.95.
        n_resamples: Bootstrap resamples, default 10000.
        seed: Seed of the bootstrap's ``numpy.random.Generator``; each interval starts from a
            fresh generator with this seed, so results do not depend on call order.
        bootstrap_method: ``"percentile"`` (default), ``"basic"`` or ``"BCa"``.
        include_status: Run statuses summarised, default only ``"done"``; other runs are listed
            in :attr:`VariantSummary.excluded` and a note, never silently dropped.

    The accuracy statistics are over the runs with a status in ``include_status``. The target
    summary also counts the *diverged* runs left out of them, as runs that did not reach the
    target (so its ``n_runs`` can exceed :attr:`VariantSummary.n_runs`); failed runs (crashes,
    not training outcomes) are left out of both. The standard deviation uses ``ddof=1``. With one
    run the intervals are NaN with a note; with none, everything is NaN. Raises
    :class:`ConfigError` for invalid runs or parameters.
    """
    c = _check_confidence(confidence)
    t = _check_target(target)
    _check_bootstrap_args(n_resamples, bootstrap_method)
    used, left_out = _select_run_records(runs, include_status, f"variant {name!r}")
    excluded = tuple((r.seed, r.status) for r in left_out)

    final = _metric_summary("final", [r.final_accuracy for r in used], c, n_resamples, seed, bootstrap_method)
    best = _metric_summary("best", [r.best_accuracy for r in used], c, n_resamples, seed, bootstrap_method)
    target_summary = _target_summary(used, t, [r for r in left_out if r.status == "diverged"])

    notes: list[str] = []
    if excluded:
        listed = ", ".join(f"seed {s} ({st})" for s, st in excluded)
        notes.append(f"{len(excluded)} run(s) excluded by status from the accuracy statistics: {listed}")
    if len(used) == 0:
        notes.append("no runs to summarise; all statistics are undefined")
    elif len(used) == 1:
        notes.append("only one run: standard deviation and confidence intervals are undefined (need >= 2 runs)")
    if target_summary.n_not_reached:
        notes.append(f"{target_summary.describe()}; {target_summary.n_not_reached} did not")

    return VariantSummary(
        name=name,
        seeds=tuple(r.seed for r in used),
        n_runs=len(used),
        final=final,
        best=best,
        target=target_summary,
        confidence=c,
        bootstrap_method=bootstrap_method,
        n_resamples=int(n_resamples),
        excluded=excluded,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------------
# Paired comparison
# --------------------------------------------------------------------------------------------


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
    no interval), all differences equal (t-test and ``d_z`` undefined), all differences zero
    (Wilcoxon undefined as well).
    """
    m = _check_metric(metric)
    c = _check_confidence(confidence)
    a_used, a_excl = _select_runs(a_runs, include_status, f"variant {a_name!r}")
    b_used, b_excl = _select_runs(b_runs, include_status, f"variant {b_name!r}")
    a_by_seed = {r.seed: r for r in a_used}
    b_by_seed = {r.seed: r for r in b_used}
    seeds = tuple(sorted(a_by_seed.keys() & b_by_seed.keys()))
    only_a = tuple(sorted(a_by_seed.keys() - b_by_seed.keys()))
    only_b = tuple(sorted(b_by_seed.keys() - a_by_seed.keys()))

    def value(r: RunRecord) -> float:
        return r.final_accuracy if m == "final" else r.best_accuracy

    a_vals = np.array([value(a_by_seed[s]) for s in seeds], dtype=float)
    b_vals = np.array([value(b_by_seed[s]) for s in seeds], dtype=float)
    diffs = b_vals - a_vals
    n = len(seeds)
    notes: list[str] = []
    if only_a or only_b:
        notes.append(
            "unpaired seeds excluded: "
            + "; ".join(
                part
                for part in (
                    f"only in {a_name}: {join_ints(only_a)}" if only_a else "",
                    f"only in {b_name}: {join_ints(only_b)}" if only_b else "",
                )
                if part
            )
        )
    for label, excl in ((a_name, a_excl), (b_name, b_excl)):
        if excl:
            notes.append(f"{label} runs excluded by status: " + ", ".join(f"seed {s} ({st})" for s, st in excl))

    mean_d = float(np.mean(diffs)) if n else math.nan
    sd_d = float(np.std(diffs, ddof=1)) if n >= 2 else math.nan
    ci = _t_interval(diffs, c)
    t_stat = t_p = w_stat = w_p = dz = gz = math.nan
    rounded = np.round(diffs, _DIFF_DECIMALS)
    n_nonzero = int(np.count_nonzero(rounded))

    if n < 2:
        notes.append(f"{n} paired seed(s): the tests need at least 2 pairs")
    else:
        if np.ptp(rounded) == 0.0:
            # Zero variance: t = mean / 0 is 0/0 or ±inf, neither a meaningful test result.
            notes.append(
                "all paired differences are equal, so the t-test and d_z are undefined"
                if n_nonzero
                else "all paired differences are zero (identical results), so the t-test and d_z are undefined"
            )
        else:
            res = _sps().ttest_rel(b_vals, a_vals)
            t_stat, t_p = float(res.statistic), float(res.pvalue)
            dz = mean_d / sd_d
            gz = dz * _hedges_factor(n - 1)
        if n_nonzero == 0:
            notes.append("the Wilcoxon signed-rank test is undefined when every difference is zero")
        else:
            with warnings.catch_warnings():
                # Ties and zeros make scipy fall back from the exact distribution; that is expected.
                warnings.simplefilter("ignore")
                wres = _sps().wilcoxon(rounded, zero_method="wilcox", alternative="two-sided", method="auto")
            w_stat, w_p = float(wres.statistic), float(wres.pvalue)
            if n_nonzero < n:
                notes.append(f"Wilcoxon discarded {n - n_nonzero} zero difference(s)")

    return PairedComparison(
        a_name=a_name,
        b_name=b_name,
        metric=m,
        confidence=c,
        seeds=seeds,
        a_values=tuple(float(v) for v in a_vals),
        b_values=tuple(float(v) for v in b_vals),
        differences=tuple(float(v) for v in diffs),
        n_pairs=n,
        mean_a=float(np.mean(a_vals)) if n else math.nan,
        mean_b=float(np.mean(b_vals)) if n else math.nan,
        mean_difference=mean_d,
        sd_difference=sd_d,
        ci=ci,
        t_statistic=t_stat,
        df=max(n - 1, 0),
        t_pvalue=t_p,
        wilcoxon_statistic=w_stat,
        wilcoxon_pvalue=w_p,
        n_nonzero=n_nonzero,
        cohens_dz=dz,
        hedges_gz=gz,
        only_a_seeds=only_a,
        only_b_seeds=only_b,
        excluded_a=a_excl,
        excluded_b=b_excl,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------


def join_ints(values: Iterable[int]) -> str:
    """Integers (seeds) ascending, with runs of three or more as ranges: ``0, 1, 2, 5 -> "0-2, 5"``."""
    values = sorted({int(v) for v in values})
    parts, i = [], 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        if j == i:
            parts.append(str(values[i]))
        elif j == i + 1:
            parts.append(f"{values[i]}, {values[j]}")
        else:
            parts.append(f"{values[i]}-{values[j]}")
        i = j + 1
    return ", ".join(parts)


def plural(n: int, word: str) -> str:
    """``n`` and the word, with an ``s`` unless ``n == 1``: ``plural(3, "seed") -> "3 seeds"``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _format_percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def format_pp(fraction_difference: float, *, signed: bool = False) -> str:
    """Format a difference of fractions as percentage points, e.g. ``0.0031 -> "0.31 pp"``.

    Two decimals; differences between 0.0001 and 0.005 pp keep two significant digits so they do
    not read as zero, while anything below 0.0001 pp (float noise, far finer than any test set
    resolves) reads as ``0.00``. ``signed=True`` writes a leading ``+`` for positive values. NaN
    gives ``"n/a"``.
    """
    if not math.isfinite(fraction_difference):
        return "n/a"
    pp = fraction_difference * 100.0
    if 1e-4 <= abs(pp) < 0.005:
        body = f"{abs(pp):.2g}"
    else:
        body = f"{abs(pp):.2f}"
    if pp < 0 and float(body) != 0.0:
        sign = "-"
    elif signed and pp > 0 and float(body) != 0.0:
        sign = "+"
    else:
        sign = ""
    return f"{sign}{body} pp"


def _format_pp_number(fraction_difference: float) -> str:
    return format_pp(fraction_difference).removesuffix(" pp")


def format_p(p: float, alpha: float | None = None) -> str:
    """Format a p-value: ``"p < 0.001"``, else ``"p = "`` with two significant digits.

    When ``alpha`` is given, digits are added until the rounded value lies on the same side of
    ``alpha`` as ``p`` and is not alpha itself (so 0.0496 reads ``"p = 0.0496"``, not
    ``"p = 0.05"``). NaN gives
    ``"p = n/a"``.
    """
    if not math.isfinite(p):
        return "p = n/a"
    if p < 0.001:
        return "p < 0.001"
    digits = 2
    text = f"{p:.{digits}g}"
    if alpha is not None:
        # A value rounded onto alpha ("p = 0.05") hides which side it is on, so refine that too.
        while digits < 6 and ((float(text) < alpha) != (p < alpha) or (float(text) == alpha != p)):
            digits += 1
            text = f"{p:.{digits}g}"
    return f"p = {text}"


def p_words(p: float, alpha: float | None = None) -> str:
    """A p-value to follow the letter p in a sentence: ``"= 0.012"``, ``"< 0.001"``, ``"= n/a"``.

    Same digits as :func:`format_p` (``alpha`` as there).
    """
    return format_p(p, alpha).removeprefix("p ")


def _check_alpha(alpha: float) -> float:
    return _check_open_unit("alpha", alpha, "0.05")


def is_significant(comparison: Any, alpha: float = 0.05, *, pvalue: float | None = None) -> bool:
    """Whether a paired comparison shows a significant difference: the rule every verdict uses.

    True when the paired t-test's p-value is below ``alpha`` *and* the confidence interval of the
    mean difference is defined and excludes zero (the two agree when ``alpha == 1 - confidence``;
    requiring both keeps a verdict from resting on one of them alone). ``comparison`` is a
    :class:`PairedComparison` or any object with ``t_pvalue`` and a ``ci`` with ``low``/``high``.
    ``pvalue`` replaces the comparison's own p-value, e.g. by its Holm-adjusted one
    (:func:`holm`). An undefined p-value (NaN) or interval is never significant.
    """
    a = _check_alpha(alpha)
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


def _unpaired_sentence(comparison: PairedComparison, a_name: str, b_name: str) -> str:
    parts = []
    if comparison.only_a_seeds:
        parts.append(f"{join_ints(comparison.only_a_seeds)} ({a_name} only)")
    if comparison.only_b_seeds:
        parts.append(f"{join_ints(comparison.only_b_seeds)} ({b_name} only)")
    if not parts:
        return ""
    count = len(comparison.only_a_seeds) + len(comparison.only_b_seeds)
    noun = "seed" if count == 1 else "seeds"
    return f" Unpaired {noun} excluded: {'; '.join(parts)}."


def verdict(
    comparison: PairedComparison, a_name: str | None = None, b_name: str | None = None, alpha: float = 0.05
) -> str:
    """Plain-language verdict of B (``b_name``) against A (``a_name``), computed from the numbers.

    B "raised" / "lowered" the metric when :func:`is_significant` says so (the paired t-test gives
    ``p < alpha`` *and* the confidence interval of the mean difference excludes 0); otherwise the
    text says "No significant difference". The mean difference and interval are written in
    percentage points, followed by the paired t-test and Wilcoxon p-values, ``d_z`` and the
    number of paired seeds. With fewer than 2 pairs the text says a comparison needs at least 2
    paired seeds. Unpaired seeds are named. ``a_name`` and ``b_name`` default to the names stored
    in the comparison.
    """
    a_name = comparison.a_name if a_name is None else a_name
    b_name = comparison.b_name if b_name is None else b_name
    a_level = _check_alpha(alpha)
    cmp = comparison
    label = _METRIC_LABELS.get(cmp.metric, cmp.metric)
    n = cmp.n_pairs
    unpaired = _unpaired_sentence(cmp, a_name, b_name)

    if n < 2:
        shared = f"{n} ({'seed ' + join_ints(cmp.seeds)})" if n else "none"
        return (
            f"Cannot compare {label} of {b_name} and {a_name}: a comparison needs at least 2 paired "
            f"seeds, and they share {shared}.{unpaired}"
        )

    ci_label = f"{cmp.confidence * 100:g}% CI"
    ci_text = f"{ci_label} {_format_pp_number(cmp.ci.low)} to {_format_pp_number(cmp.ci.high)}"

    if not math.isfinite(cmp.t_pvalue):
        # Zero variance in the differences: no test, so describe what happened on every seed.
        if cmp.n_nonzero == 0:
            return (
                f"No difference in {label} between {b_name} and {a_name}: identical results on all "
                f"{n} paired seeds, so no test applies.{unpaired}"
            )
        direction = "raised" if cmp.mean_difference > 0 else "lowered"
        return (
            f"{b_name} {direction} {label} by {format_pp(abs(cmp.mean_difference))} relative to {a_name} "
            f"on every one of {n} paired seeds; with identical differences the t-test is undefined "
            f"(Wilcoxon {format_p(cmp.wilcoxon_pvalue)}).{unpaired}"
        )

    significant = is_significant(cmp, a_level)
    stats_parts = [ci_text, f"paired t-test {format_p(cmp.t_pvalue, a_level)}"]
    if math.isfinite(cmp.wilcoxon_pvalue):
        stats_parts.append(f"Wilcoxon {format_p(cmp.wilcoxon_pvalue, a_level)}")

    if significant:
        if math.isfinite(cmp.cohens_dz):
            stats_parts.append(f"d_z = {cmp.cohens_dz:.2f}")
        stats_parts.append(plural(n, "seed"))
        if cmp.mean_difference > 0:
            head = f"{b_name} raised {label} by {format_pp(cmp.mean_difference)} over {a_name}"
        else:
            head = f"{b_name} lowered {label} by {format_pp(-cmp.mean_difference)} relative to {a_name}"
        text = f"{head} ({'; '.join(stats_parts)})."
        # With k non-zero pairs the smallest two-sided exact Wilcoxon p is 2 / 2**k; say so when
        # that floor, not the data, is why the rank test disagrees.
        if (
            math.isfinite(cmp.wilcoxon_pvalue)
            and cmp.wilcoxon_pvalue >= a_level
            and 2.0 ** (1 - cmp.n_nonzero) >= a_level
        ):
            text += (
                f" With {cmp.n_nonzero} non-zero paired differences the Wilcoxon test cannot reach "
                f"p < {a_level:g}."
            )
        return text + unpaired

    stats_parts.append(plural(n, "seed"))
    return (
        f"No significant difference in {label} between {b_name} and {a_name}: "
        f"{format_pp(cmp.mean_difference, signed=True)} ({'; '.join(stats_parts)}).{unpaired}"
    )
