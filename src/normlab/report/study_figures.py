"""Figures of a multi-seed study, as matplotlib ``Figure`` objects (no pyplot state, no display).

Every figure shows the seeds themselves, not only their summary: a mean line with a 95% t band
(:func:`normlab.experiments.stats.curve_band`) drawn over one thin line per seed, a strip plot
over a box plot, and the paired differences behind each comparison. Accuracies come in as
fractions and are drawn in percent; differences are drawn in percentage points (pp).

The drawing is deterministic (the strip plot's jitter is a fixed pattern, not random), so the
same database gives the same PNG bytes.
"""

from __future__ import annotations

import functools
import math
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from normlab.experiments.stats import DEFAULT_CONFIDENCE, PairedComparison, curve_band
from normlab.report.figures import PALETTE

__all__ = [
    "TRAIN_COLOR",
    "accuracy_overlay_figure",
    "final_accuracy_figure",
    "paired_differences_figure",
    "variant_curves_figure",
    "variant_color",
]

#: Training-loss curves are drawn in this neutral colour so validation keeps the variant's colour.
TRAIN_COLOR = "#555555"

_STYLE = {
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.labelsize": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8.5,
    "legend.frameon": False,
}


def _styled(func):
    """Build the figure under the report's rc style (fonts are read when artists are created)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(_STYLE):
            return func(*args, **kwargs)

    return wrapper


def variant_color(index: int) -> str:
    """Colour of the ``index``-th variant (the report uses the same colour in every figure)."""
    return PALETTE[index % len(PALETTE)]


def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _style(ax) -> None:
    ax.grid(alpha=0.25, linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _clean_curves(curves: Sequence[Sequence[float]]) -> list[np.ndarray]:
    """Per-seed curves as float arrays, cut at the first non-finite value (a diverged tail)."""
    out = []
    for curve in curves:
        arr = np.asarray(curve, dtype=float)
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            arr = arr[: bad[0]]
        if arr.size:
            out.append(arr)
    return out


def _band(ax, curves: list[np.ndarray], color: str, *, scale: float, label: str | None,
          confidence: float, linestyle: str = "-", seed_lines: bool = True) -> None:
    """Thin line per seed, then the band, then the mean line on top."""
    if not curves:
        return
    if seed_lines:
        for arr in curves:
            ax.plot(np.arange(1, arr.size + 1), arr * scale, color=color, alpha=0.45, linewidth=0.9,
                    linestyle=linestyle, zorder=2)
    band = curve_band(curves, confidence)
    ok = np.isfinite(band.low) & np.isfinite(band.high)
    if ok.any():
        ax.fill_between(band.epochs[ok], band.low[ok] * scale, band.high[ok] * scale, color=color, alpha=0.18,
                        linewidth=0, zorder=1)
    marker = "o" if band.epochs.size <= 30 else None
    ax.plot(band.epochs, band.mean * scale, color=color, linewidth=2.0, linestyle=linestyle, marker=marker,
            markersize=3.5, label=label, zorder=3)


def _legend_with_key(ax, color: str, confidence: float, *, loc: str = "best") -> None:
    """The axis legend plus two entries explaining the band and the thin lines."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    handles += [Patch(facecolor=color, alpha=0.18, linewidth=0),
                Line2D([], [], color=color, alpha=0.45, linewidth=0.9)]
    labels += [f"{confidence * 100:g}% t band", "individual seeds"]
    ax.legend(handles, labels, loc=loc)


def _target_in_view(target: float | None, lo: float, hi: float) -> bool:
    """Draw the target line only when it sits near the data, so it does not squash the plot."""
    if target is None:
        return False
    pad = max(0.25 * (hi - lo), 0.1)
    return lo - pad <= target * 100 <= hi + pad


def _integer_epochs(ax, n_epochs: int) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=min(max(n_epochs, 1), 10)))
    if n_epochs >= 1:
        ax.set_xlim(0.7, n_epochs + 0.3)


@_styled
def variant_curves_figure(
    name: str,
    val_accuracy: Sequence[Sequence[float]],
    val_loss: Sequence[Sequence[float]],
    train_loss: Sequence[Sequence[float]],
    *,
    color: str = PALETTE[0],
    confidence: float = DEFAULT_CONFIDENCE,
    val_label: str = "validation",
    target: float | None = None,
) -> Figure:
    """One variant's learning curves: validation accuracy (left) and losses (right) per epoch.

    Each argument holds one per-epoch sequence per seed. Each seed is a thin line; the thick
    line is the mean over seeds and the shaded band its ``confidence`` t interval (absent at
    epochs that fewer than two seeds reached). On the right, validation loss is drawn solid in
    the variant's colour and training loss dashed in grey. ``target`` (a fraction) adds a dotted
    reference line to the accuracy panel when it lies in the drawn range.
    """
    acc = _clean_curves(val_accuracy)
    vloss = _clean_curves(val_loss)
    tloss = _clean_curves(train_loss)
    n_epochs = max((c.size for c in (*acc, *vloss, *tloss)), default=0)
    fig = _new_figure(10, 3.6)
    ax_acc, ax_loss = fig.subplots(1, 2)
    _band(ax_acc, acc, color, scale=100.0, label=f"mean of {len(acc)} seeds", confidence=confidence)
    if target is not None and acc:
        lo = min(float(np.min(c)) for c in acc) * 100
        hi = max(float(np.max(c)) for c in acc) * 100
        if _target_in_view(target, lo, hi):
            ax_acc.axhline(target * 100, color="#888888", linestyle=":", linewidth=1.0,
                           label=f"target {target * 100:g}%", zorder=0)
    ax_acc.set(title=f"{name}: {val_label} accuracy", xlabel="epoch", ylabel="accuracy (%)")
    _band(ax_loss, vloss, color, scale=1.0, label=f"{val_label} loss", confidence=confidence)
    _band(ax_loss, tloss, TRAIN_COLOR, scale=1.0, label="training loss", confidence=confidence, linestyle="--")
    ax_loss.set(title=f"{name}: loss per epoch", xlabel="epoch", ylabel="cross-entropy loss")
    for ax in (ax_acc, ax_loss):
        _style(ax)
        _integer_epochs(ax, n_epochs)
    if acc:
        _legend_with_key(ax_acc, color, confidence, loc="lower right")
    if ax_loss.get_legend_handles_labels()[0]:
        ax_loss.legend(loc="upper right")
    return fig


@_styled
def accuracy_overlay_figure(
    curves: Mapping[str, Sequence[Sequence[float]]],
    *,
    colors: Mapping[str, str] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    val_label: str = "validation",
) -> Figure:
    """Every variant's mean validation accuracy per epoch with its t band, on one axis.

    ``curves`` maps a variant name to its per-seed accuracy curves (fractions). Seeds are not
    drawn individually here (the per-variant figures show them), so the variants stay apart.
    """
    fig = _new_figure(7.5, 3.8)
    ax = fig.subplots()
    n_epochs = 0
    for i, (name, per_seed) in enumerate(curves.items()):
        clean = _clean_curves(per_seed)
        n_epochs = max(n_epochs, max((c.size for c in clean), default=0))
        color = (colors or {}).get(name, variant_color(i))
        _band(ax, clean, color, scale=100.0, label=f"{name} (n = {len(clean)})", confidence=confidence,
              seed_lines=False)
    ax.set(title=f"mean {val_label} accuracy per epoch", xlabel="epoch", ylabel="accuracy (%)")
    _style(ax)
    _integer_epochs(ax, n_epochs)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right")
    return fig


def _jitter(n: int, width: float = 0.16) -> np.ndarray:
    """A fixed spread of ``n`` offsets in ``[-width, width]`` (deterministic, unlike random jitter)."""
    if n <= 1:
        return np.zeros(n)
    return np.linspace(-width, width, n)


@_styled
def final_accuracy_figure(
    values: Mapping[str, Sequence[float]],
    *,
    seeds: Mapping[str, Sequence[int]] | None = None,
    colors: Mapping[str, str] | None = None,
    target: float | None = None,
    val_label: str = "validation",
) -> Figure:
    """Distribution of the final validation accuracy per variant: a strip plot over a box plot.

    ``values`` maps a variant to its runs' final accuracies (fractions). The box spans the
    quartiles with the median line and whiskers at 1.5 IQR; each dot is one seed. When ``seeds``
    is given, dots of the same seed in neighbouring variants are joined by faint grey lines, which
    shows the pairing the comparisons use.
    """
    names = list(values)
    fig = _new_figure(max(4.5, 1.6 + 1.5 * len(names)), 3.8)
    ax = fig.subplots()
    data = [np.asarray(values[n], dtype=float) * 100 for n in names]
    positions = np.arange(1, len(names) + 1)
    drawable = [(p, d) for p, d in zip(positions, data) if d.size]
    if drawable:
        box = ax.boxplot([d for _, d in drawable], positions=[p for p, _ in drawable], widths=0.5,
                         patch_artist=True, showfliers=False, zorder=1,
                         medianprops={"color": "#222222", "linewidth": 1.4},
                         whiskerprops={"color": "#777777"}, capprops={"color": "#777777"},
                         boxprops={"edgecolor": "#777777"})
        for patch, (p, _) in zip(box["boxes"], drawable):
            patch.set_facecolor((colors or {}).get(names[p - 1], variant_color(p - 1)))
            patch.set_alpha(0.22)
    xs_by_variant: list[dict[int, tuple[float, float]]] = []
    for i, (name, d) in enumerate(zip(names, data)):
        color = (colors or {}).get(name, variant_color(i))
        order = np.argsort(d, kind="stable")
        offsets = np.empty(d.size)
        offsets[order] = _jitter(d.size)
        xs = positions[i] + offsets
        ax.scatter(xs, d, s=26, color=color, edgecolor="white", linewidth=0.6, zorder=3)
        seed_list = list(seeds[name]) if seeds and name in seeds else []
        xs_by_variant.append({s: (x, y) for s, x, y in zip(seed_list, xs, d)} if len(seed_list) == d.size else {})
    for left, right in zip(xs_by_variant, xs_by_variant[1:]):
        for s in left.keys() & right.keys():
            (x0, y0), (x1, y1) = left[s], right[s]
            ax.plot([x0, x1], [y0, y1], color="#999999", alpha=0.45, linewidth=0.7, zorder=2)
    if target is not None and any(d.size for d in data):
        lo = min(float(d.min()) for d in data if d.size)
        hi = max(float(d.max()) for d in data if d.size)
        if _target_in_view(target, lo, hi):
            ax.axhline(target * 100, color="#888888", linestyle=":", linewidth=1.0, zorder=0)
            ax.annotate(f"target {target * 100:g}%", xy=(1.0, target * 100), xycoords=("axes fraction", "data"),
                        xytext=(-2, 2), textcoords="offset points", ha="right", va="bottom", fontsize=8,
                        color="#666666")
    ax.set_xticks(positions, [f"{n}\n(n = {d.size})" for n, d in zip(names, data)])
    ax.set_xlim(0.4, len(names) + 0.6)
    ax.set(title=f"final {val_label} accuracy per run", ylabel="accuracy (%)")
    _style(ax)
    ax.grid(axis="x", visible=False)
    return fig


@_styled
def paired_differences_figure(comparisons: Sequence[PairedComparison]) -> Figure:
    """Paired differences ``B - A`` per seed (pp), with their mean and t interval, one row per comparison.

    Each dot is one seed's difference; the black diamond is the mean difference and the bar its
    confidence interval (absent with fewer than two pairs). The dashed vertical line marks zero,
    no difference.
    """
    rows = list(comparisons)
    fig = _new_figure(7.5, max(1.9, 0.9 + 0.75 * len(rows)))
    ax = fig.subplots()
    labels = []
    for i, cmp in enumerate(rows):
        y = len(rows) - i
        diffs = np.asarray(cmp.differences, dtype=float) * 100
        if diffs.size:
            order = np.argsort(diffs, kind="stable")
            offsets = np.empty(diffs.size)
            offsets[order] = _jitter(diffs.size, 0.14)
            ax.scatter(diffs, y + offsets, s=22, color=variant_color(i + 1), alpha=0.8, edgecolor="white",
                       linewidth=0.5, zorder=3)
        if math.isfinite(cmp.mean_difference):
            lo, hi = cmp.ci.low * 100, cmp.ci.high * 100
            if cmp.ci.defined:
                ax.errorbar([cmp.mean_difference * 100], [y],
                            xerr=[[cmp.mean_difference * 100 - lo], [hi - cmp.mean_difference * 100]],
                            fmt="D", color="#111111", markersize=6, capsize=4, linewidth=1.4, zorder=4)
            else:
                ax.plot([cmp.mean_difference * 100], [y], "D", color="#111111", markersize=6, zorder=4)
        labels.append(f"{cmp.b_name} − {cmp.a_name}\n({cmp.n_pairs} pairs)")
    ax.axvline(0.0, color="#666666", linestyle="--", linewidth=1.0, zorder=0)
    ax.set_yticks(np.arange(len(rows), 0, -1), labels)
    ax.set_ylim(0.4, len(rows) + 0.6)
    conf = rows[0].confidence if rows else DEFAULT_CONFIDENCE
    metric = rows[0].metric if rows else "final"
    ax.set(title=f"paired differences in {metric} validation accuracy (mean and {conf * 100:g}% t interval)",
           xlabel="difference (percentage points)")
    _style(ax)
    ax.grid(axis="y", visible=False)
    return fig
