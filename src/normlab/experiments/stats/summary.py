"""Per-variant summaries: final and best accuracy with their intervals, epochs and time to a target."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from normlab.errors import ConfigError
from normlab.experiments.stats.intervals import bootstrap_interval, t_interval
from normlab.experiments.stats.records import (
    DEFAULT_CONFIDENCE,
    DEFAULT_INCLUDE_STATUS,
    DEFAULT_N_RESAMPLES,
    DEFAULT_TARGET,
    MetricSummary,
    TargetSummary,
    VariantSummary,
    check_bootstrap_args,
    check_confidence,
    check_target,
    float_tuple,
    select_run_records,
)
from normlab.train.record import RunRecord


def epochs_to_target(val_accuracy: Sequence[float], target: float = DEFAULT_TARGET) -> int | None:
    """First epoch (1-based) whose accuracy is ``>= target``, or ``None`` if none is."""
    t = check_target(target)
    for i, acc in enumerate(float_tuple(val_accuracy, "val_accuracy")):
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
    seconds = float_tuple(epoch_seconds, "epoch_seconds")
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
        t_ci=t_interval(arr, confidence),
        bootstrap_ci=bootstrap_interval(arr, confidence, n_resamples, seed, method),
    )


def _censored_median(values: Sequence[float | None]) -> float:
    """Median with ``None`` (not reached) ranked after every value; NaN unless more than half are values."""
    if 2 * sum(v is not None for v in values) <= len(values):
        return math.nan
    return float(np.median([math.inf if v is None else v for v in values]))


def _complete_mean(values: Sequence[float | None]) -> float:
    """Mean when no value is missing (a censored run's value is unknown, not absent), else NaN."""
    return float(np.mean(values)) if values and all(v is not None for v in values) else math.nan


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
    return TargetSummary(
        target=target,
        n_runs=len(rows),
        n_reached=sum(e is not None for e in epochs),
        epochs=epochs,
        seconds=seconds,
        median_epochs=_censored_median(epochs),
        mean_epochs=_complete_mean(epochs),
        median_seconds=_censored_median(seconds),
        mean_seconds=_complete_mean(seconds),
        n_diverged=len(diverged),
        seeds=tuple(seed for seed, _, _ in rows),
        last_epoch=max((len(r.val_accuracy) for r in (*runs, *diverged)), default=0),
    )


def rank_by_target(targets: Mapping[str, TargetSummary]) -> list[str]:
    """The names whose runs reached the target by a defined (censored) median, fastest first.

    Ordered by median epochs, then by the share of runs that reached the target (more first),
    then by median seconds, then as given. A variant whose median is undefined (half of its runs
    or more never reached the target) is left out: one lucky run does not make it fast. The
    summaries must share one target (epochs to 85% and epochs to 98% are not one race); rank each
    target's group apart. Raises :class:`ConfigError` when they do not.
    """
    goals = sorted({t.target for t in targets.values()})
    if len(goals) > 1:
        raise ConfigError(f"rank_by_target ranks summaries of one target at a time; got targets "
                          f"{', '.join(f'{g:g}' for g in goals)} (rank each group apart)")
    ranked = [name for name, t in targets.items() if t.median_reached]
    order = {name: i for i, name in enumerate(targets)}

    def key(name: str) -> tuple[float, float, float, int]:
        t = targets[name]
        seconds = t.median_seconds if math.isfinite(t.median_seconds) else math.inf
        return t.median_epochs, -t.n_reached / t.n_runs, seconds, order[name]

    return sorted(ranked, key=key)


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
        runs: :class:`~normlab.train.record.RunRecord` objects, mappings or objects with ``seed``,
            ``val_accuracy`` (fractions per epoch), ``epoch_seconds`` and ``status``.
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
    c = check_confidence(confidence)
    t = check_target(target)
    check_bootstrap_args(n_resamples, bootstrap_method)
    used, left_out = select_run_records(runs, include_status, f"variant {name!r}")
    excluded = tuple((r.seed, r.status) for r in left_out)

    final = _metric_summary("final", [r.final_val_accuracy for r in used], c, n_resamples, seed, bootstrap_method)
    best = _metric_summary("best", [r.best_val_accuracy for r in used], c, n_resamples, seed, bootstrap_method)
    target_summary = _target_summary(used, t, [r for r in left_out if r.status == "diverged"])

    notes: list[str] = []
    if excluded:
        listed = ", ".join(f"seed {s} ({st})" for s, st in excluded)
        notes.append(f"{len(excluded)} run(s) excluded by status from the accuracy statistics: {listed}")
    if len(used) == 0:
        notes.append("no runs to summarise; all statistics are undefined")
    elif len(used) == 1:
        notes.append("only one run: standard deviation and confidence intervals are undefined (need >= 2 runs)")

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

