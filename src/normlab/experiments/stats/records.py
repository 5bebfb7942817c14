"""The statistics' data types and input checks: runs, intervals, summaries, comparisons.

Every type is a frozen dataclass of numbers; runs are :class:`~normlab.train.record.RunRecord`
(checked by :func:`check_run`). Bad input (accuracies outside ``[0, 1]``, duplicate seeds, an
unknown metric) raises :class:`~normlab.errors.ConfigError` naming it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from normlab.errors import ConfigError
from normlab.train.record import RunRecord

DEFAULT_CONFIDENCE = 0.95
DEFAULT_TARGET = 0.98
#: The accuracy target a dataset's epochs-to-target uses unless one is given: a level the post's
#: LeNet-5 reaches in a few epochs and a weak or slowly learning network takes longer to reach, or
#: never does (MNIST's 98% is the post's own final figure).
DATASET_TARGETS = {"mnist": 0.98, "fashion-mnist": 0.85, "kmnist": 0.90}
DEFAULT_N_RESAMPLES = 10_000
DEFAULT_INCLUDE_STATUS = ("done",)
#: The fewest paired seeds a paired test is run on. With two, the t-test has one degree of freedom
#: (its 95% critical value is 12.7) and the smallest two-sided Wilcoxon p is 0.5: whatever the
#: data, neither can tell a difference from noise, so no test is reported at all.
MIN_TEST_PAIRS = 3
BOOTSTRAP_METHODS = ("percentile", "basic", "BCa")
METRICS = ("final", "best")
#: A run "trains" (a learning rate or batch size works for a model) when its final validation
#: accuracy is at least this; MNIST's chance level is 10%, and a stalled run sits there. The
#: presets and the report's sweep sections both read it from here.
TRAINS_ACCURACY = 0.90


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
    """How many runs reached a target accuracy, and how fast, with the runs that did not as censored.

    A run that never reaches the target is *censored*: it would have reached it, if ever, later
    than its last epoch. It stays in the per-run tuples as ``None`` and enters the medians as
    "later than any run that reached it" (so the median is over *all* runs, not only the lucky
    ones): the median is defined only when more than half of the runs reached the target, and is
    NaN ("not reached") otherwise. As every censored run is censored after the last epoch (or
    never reaches the target: a diverged run), this is the Kaplan-Meier median. The means are
    defined only when every run reached the target, since the others' epochs are unknown.
    Diverged runs count as runs that did not reach the target, so a setting where half the runs
    blow up does not look as fast as one where all of them train.

    Attributes:
        target: Target accuracy as a fraction, e.g. ``0.98``.
        n_runs: Number of runs considered, diverged ones included.
        n_reached: Number of those runs that reached the target.
        epochs: Per run, the first epoch (1-based) with accuracy ``>= target``, or ``None``.
        seconds: Per run, the cumulative wall seconds up to and including that epoch, or ``None``.
        median_epochs: Median over all runs, censored ones counted as later than the last epoch;
            NaN when half of the runs or more did not reach the target.
        mean_epochs: Mean of ``epochs`` when every run reached the target, else NaN.
        median_seconds: Median of ``seconds`` like :attr:`median_epochs` (NaN under the same rule).
        mean_seconds: Mean of ``seconds`` when every run reached the target, else NaN.
        n_diverged: How many of the :attr:`n_runs` runs diverged (counted as not reaching the target).
        seeds: The seed of each run, in the order of :attr:`epochs` and :attr:`seconds` (ascending).
        last_epoch: The most epochs any of the runs trained: a run that did not reach the target
            reached it, if ever, after this epoch (0 when there are no runs).
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
    last_epoch: int = 0

    @property
    def n_not_reached(self) -> int:
        """Number of runs that never reached the target (censored)."""
        return self.n_runs - self.n_reached

    @property
    def median_reached(self) -> bool:
        """Whether the censored median is defined: more than half of the runs reached the target."""
        return math.isfinite(self.median_epochs)


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
        return {"final": self.final, "best": self.best}[check_metric(name)]


@dataclass(frozen=True)
class PairedComparison:
    """Variant B against variant A over their shared seeds; differences are ``B - A``.

    Attributes:
        a_name: Name of the baseline variant A (``"A"`` unless given).
        b_name: Name of the variant B compared against A (``"B"`` unless given).
        metric: ``"final"`` or ``"best"`` (or what :func:`~normlab.experiments.stats.paired_values` was told).
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
        t_statistic: Paired t statistic (NaN when undefined or not run: fewer than :data:`MIN_TEST_PAIRS` pairs).
        df: Degrees of freedom of the t-test, ``n_pairs - 1`` (0 when no pairs).
        t_pvalue: Two-sided paired t-test p-value (NaN when undefined or not run).
        wilcoxon_statistic: Wilcoxon signed-rank statistic (NaN when undefined or not run).
        wilcoxon_pvalue: Two-sided Wilcoxon signed-rank p-value (NaN when undefined or not run).
        n_nonzero: Number of non-zero differences (the pairs Wilcoxon ranks).
        cohens_dz: ``mean_difference / sd_difference`` (NaN when undefined).
        hedges_gz: ``cohens_dz`` times Hedges' small-sample correction; NaN when undefined, which is
            also with two pairs (the exact correction J(1) is 0: ``d_z`` of two differences has no mean).
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

    @property
    def tested(self) -> bool:
        """Whether a paired t-test was run: at least :data:`MIN_TEST_PAIRS` pairs, differences not all equal."""
        return self.n_pairs >= MIN_TEST_PAIRS and math.isfinite(self.t_pvalue)


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


def float_tuple(values: Any, what: str) -> tuple[float, ...]:
    """``values`` as a flat tuple of floats, or a ConfigError naming ``what``."""
    if isinstance(values, (str, bytes)) or values is None:
        raise ConfigError(f"{what} must be a sequence of numbers; got {values!r}")
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} must be a sequence of numbers; got {values!r}") from exc
    if arr.ndim != 1:
        raise ConfigError(f"{what} must be a flat sequence of numbers; got shape {arr.shape}")
    return tuple(float(v) for v in arr)


def check_open_unit(name: str, value: float, example: str) -> float:
    """``value`` as a float strictly between 0 and 1, or a ConfigError naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number strictly between 0 and 1 (e.g. {example}); got {value!r}") from exc
    if not 0.0 < v < 1.0:
        raise ConfigError(f"{name} must be strictly between 0 and 1 (e.g. {example}); got {value!r}")
    return v


def check_confidence(confidence: float) -> float:
    """A confidence level strictly between 0 and 1, or a ConfigError."""
    return check_open_unit("confidence", confidence, "0.95")


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float strictly between 0 and 1, or a ConfigError."""
    return check_open_unit("alpha", alpha, "0.05")


def check_metric(metric: str) -> str:
    """``"final"`` or ``"best"``, or a ConfigError listing them."""
    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {', '.join(map(repr, METRICS))}; got {metric!r}")
    return metric


def default_target(datasets) -> float:
    """The target for runs on ``datasets``: the dataset's (:data:`DATASET_TARGETS`) when they share
    one, else :data:`DEFAULT_TARGET`."""
    names = set(datasets)
    return DATASET_TARGETS.get(names.pop(), DEFAULT_TARGET) if len(names) == 1 else DEFAULT_TARGET


def check_target(target: float) -> float:
    """A target accuracy as a fraction in (0, 1], or a ConfigError (with a hint for a percentage)."""
    try:
        t = float(target)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"target accuracy must be a fraction in (0, 1]; got {target!r}") from exc
    if not 0.0 < t <= 1.0:
        hint = " (a percentage? pass it divided by 100, e.g. 0.98)" if 1.0 < t <= 100.0 else ""
        raise ConfigError(f"target accuracy must be a fraction in (0, 1]{hint}; got {target!r}")
    return t


def check_values(values: Any, what: str = "values") -> np.ndarray:
    """``values`` as a float array of finite numbers, or a ConfigError naming ``what``."""
    arr = np.asarray(float_tuple(values, what), dtype=float)
    if not np.all(np.isfinite(arr)):
        bad = [i for i, v in enumerate(arr) if not math.isfinite(v)]
        raise ConfigError(f"{what} must be finite numbers; got non-finite values at positions {bad}")
    return arr


def check_bootstrap_args(n_resamples: int, method: str) -> None:
    """A ConfigError unless ``n_resamples`` is a positive integer and ``method`` a bootstrap method."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ConfigError(f"n_resamples must be a positive integer (e.g. 10000); got {n_resamples!r}")
    if method not in BOOTSTRAP_METHODS:
        raise ConfigError(
            f"bootstrap method must be one of {', '.join(map(repr, BOOTSTRAP_METHODS))}; got {method!r}"
        )


def check_run(run: Any) -> RunRecord:
    """The four fields the statistics read from ``run``, checked, as a :class:`RunRecord`.

    ``run`` is a :class:`RunRecord` (a stored one, or one :func:`~normlab.train.train` returned
    with its ``seed`` set), a mapping or any object with ``seed``, ``val_accuracy`` and
    ``epoch_seconds``; ``status`` defaults to ``"done"`` (but a RunRecord has its own, ``running``
    until training ends: set it on one built by hand). Raises :class:`ConfigError` naming a
    missing field, a seed that is not an integer, a curve that is not numbers, or a status that
    is not a string.
    """
    mapping = isinstance(run, Mapping)
    missing = [f for f in ("seed", "val_accuracy", "epoch_seconds") if (f not in run if mapping else not hasattr(run, f))]
    if missing:
        lack = ", ".join(missing)
        where = f"missing {lack} in {dict(run)!r}" if mapping else f"{type(run).__name__} lacks {lack}"
        raise ConfigError(f"a run needs the fields seed, val_accuracy, epoch_seconds (and optionally status), "
                          f"as keys or attributes; {where}")
    get = run.get if mapping else partial(getattr, run)
    seed, status = get("seed"), get("status", "done")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"run seed must be an integer; got {seed!r}")
    if not isinstance(status, str):
        raise ConfigError(f"status of seed {seed} must be a string such as 'done', 'failed' or 'diverged'; "
                          f"got {status!r}")
    return RunRecord(config={}, seed=int(seed), status=status,
                     val_accuracy=list(float_tuple(get("val_accuracy"), f"val_accuracy of seed {seed}")),
                     epoch_seconds=list(float_tuple(get("epoch_seconds"), f"epoch_seconds of seed {seed}")))


def select_runs(
    runs: Iterable[Any], include_status: Sequence[str], label: str
) -> tuple[list[RunRecord], tuple[tuple[int, str], ...]]:
    """Check the runs and their seeds are unique, split them by status and validate the runs kept."""
    used, left_out = select_run_records(runs, include_status, label)
    return used, tuple(sorted((r.seed, r.status) for r in left_out))


def select_run_records(
    runs: Iterable[Any], include_status: Sequence[str], label: str
) -> tuple[list[RunRecord], list[RunRecord]]:
    """The runs kept (validated, by seed) and the runs left out by status (by seed, not validated)."""
    if isinstance(runs, (str, bytes, Mapping)) or not isinstance(runs, Iterable):
        raise ConfigError(f"runs of {label} must be a list of runs; got {type(runs).__name__}")
    if isinstance(include_status, str):
        include_status = (include_status,)
    records = [check_run(r) for r in runs]
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
