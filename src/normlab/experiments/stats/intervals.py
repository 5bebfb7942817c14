"""Confidence intervals: Student-t and bootstrap intervals of a mean, and per-epoch bands of curves."""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from collections.abc import Iterable, Sequence

import numpy as np

from normlab.errors import ConfigError
from normlab.experiments.stats.records import (
    DEFAULT_CONFIDENCE,
    DEFAULT_N_RESAMPLES,
    ConfidenceInterval,
    CurveBand,
    check_bootstrap_args,
    check_confidence,
    check_values,
)


def scipy_stats():
    """``scipy.stats``, imported on first use: it is slow to import, and every ``normlab``
    command would otherwise pay for it at start-up."""
    from scipy import stats

    return stats


def t_interval(arr: np.ndarray, confidence: float) -> ConfidenceInterval:
    """The Student-t interval of the mean of ``arr`` (checked values); NaN with a note when n < 2."""
    n = arr.size
    if n < 2:
        note = "no values" if n == 0 else "one value has no spread"
        return ConfidenceInterval(math.nan, math.nan, confidence, "t", f"undefined with n = {n} ({note}); needs n >= 2")
    mean = float(np.mean(arr))
    sd = float(np.std(arr, ddof=1))
    half = float(scipy_stats().t.ppf(0.5 + confidence / 2.0, n - 1)) * sd / math.sqrt(n)
    note = "all values are equal, so the interval has zero width" if sd == 0.0 else None
    return ConfidenceInterval(mean - half, mean + half, confidence, "t", note)


def mean_ci(values: Sequence[float], confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of the mean: ``(mean, low, high)``.

    ``low``/``high`` are ``mean ∓ t_{(1+c)/2, n-1} · s / sqrt(n)`` with ``s`` the ``ddof=1``
    standard deviation. With one value the interval is undefined and returned as NaN; with no
    values all three are NaN. Raises :class:`ConfigError` for non-finite values or a confidence
    outside ``(0, 1)``.
    """
    c = check_confidence(confidence)
    arr = check_values(values)
    mean = float(np.mean(arr)) if arr.size else math.nan
    ci = t_interval(arr, c)
    return mean, ci.low, ci.high


def _mean_along_axis(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


@functools.cache
def _bootstrap_rng_kwarg() -> str:
    # scipy 1.15 renamed bootstrap's `random_state` to `rng`; the package supports scipy >= 1.10.
    return "rng" if "rng" in inspect.signature(scipy_stats().bootstrap).parameters else "random_state"


def bootstrap_interval(
    arr: np.ndarray, confidence: float, n_resamples: int, seed: int | np.random.Generator | None, method: str
) -> ConfidenceInterval:
    """The bootstrap interval of the mean of ``arr`` (checked values); NaN with a note when n < 2."""
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
        res = scipy_stats().bootstrap(
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
    c = check_confidence(confidence)
    check_bootstrap_args(n_resamples, method)
    arr = check_values(values)
    mean = float(np.mean(arr)) if arr.size else math.nan
    ci = bootstrap_interval(arr, c, n_resamples, seed, method)
    return mean, ci.low, ci.high


def curve_band(curves: Sequence[Sequence[float]], confidence: float = DEFAULT_CONFIDENCE) -> CurveBand:
    """Per-epoch mean and t confidence band of several runs' curves (e.g. validation accuracy).

    ``curves`` holds one sequence per run; they may differ in length (a run stopped early), so
    epoch ``k`` uses the runs that have it and ``n[k]`` says how many. The band is NaN where fewer
    than two runs have the epoch. Raises :class:`ConfigError` for non-finite values.
    """
    c = check_confidence(confidence)
    if isinstance(curves, (str, bytes)) or not isinstance(curves, Iterable):
        raise ConfigError(f"curves must be a list of per-epoch sequences; got {type(curves).__name__}")
    rows = [check_values(curve, f"curve {i}") for i, curve in enumerate(curves)]
    length = max((r.size for r in rows), default=0)
    n = np.zeros(length, dtype=int)
    mean = np.full(length, math.nan)
    low = np.full(length, math.nan)
    high = np.full(length, math.nan)
    for k in range(length):
        column = np.array([r[k] for r in rows if r.size > k])
        n[k] = column.size
        mean[k] = float(np.mean(column))
        ci = t_interval(column, c)
        low[k], high[k] = ci.low, ci.high
    return CurveBand(np.arange(1, length + 1), n, mean, low, high, c)

