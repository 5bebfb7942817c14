"""Figures of a multi-seed study, as matplotlib ``Figure`` objects (no pyplot state, no display).

Every figure shows the seeds themselves, not only their summary: a mean line with a 95% t band
(:func:`normlab.experiments.stats.curve_band`) drawn over one thin line per seed, a strip plot
over a box plot, and the paired differences behind each comparison. Accuracies come in as
fractions and are drawn in percent; differences are drawn in percentage points (pp).

Figures stay readable however many variants a study has: no figure is larger than the bounds of
:mod:`~normlab.report.figures.base`, legends sit outside the axes, many curves are split into
small panels (:func:`loss_grid_figure`, the panel mode of :func:`accuracy_overlay_figure`) and
many distributions are drawn as horizontal rows.

The drawing is deterministic (the strip plot's jitter is a fixed pattern, not random), so the
same database gives the same PNG bytes.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from normlab.experiments.stats import DEFAULT_CONFIDENCE, PairedComparison, curve_band
from normlab.report.figures.base import MAX_FIGURE_HEIGHT, PALETTE, new_figure, style_axes, styled, variant_color

__all__ = [
    "MAX_OVERLAY_LINES",
    "MAX_VERTICAL_BOXES",
    "TRAIN_COLOR",
    "CurvePanel",
    "accuracy_overlay_figure",
    "loss_grid_figure",
    "final_accuracy_figure",
    "paired_differences_figure",
    "variant_curves_figure",
]

#: Training-loss curves are drawn in this neutral colour so validation keeps the variant's colour.
TRAIN_COLOR = "#555555"
#: Up to this many variants share one axis in :func:`accuracy_overlay_figure`; more get a panel each.
MAX_OVERLAY_LINES = 6
#: Up to this many variants are drawn as upright boxes in :func:`final_accuracy_figure`; more as rows.
MAX_VERTICAL_BOXES = 6
#: Colour of the other variants' mean lines behind the highlighted one in a panel.
CONTEXT_COLOR = "#cdd1d6"


def _wrap_title(text: str, width: int = 26) -> str:
    """A panel title on at most two lines, broken after a comma or a space (variant specs run long)."""
    if len(text) <= width:
        return text
    cut = max(text.rfind(",", 0, width), text.rfind(" ", 0, width))
    if cut <= 0:
        return text
    head, tail = text[:cut + 1].rstrip(), text[cut + 1:].lstrip()
    if len(tail) > width + 4:
        tail = tail[:width + 1] + "…"
    return f"{head}\n{tail}"


def _grid_shape(n: int, max_cols: int = 4) -> tuple[int, int]:
    """Rows and columns for ``n`` panels: at most ``max_cols`` across, rows as full as possible."""
    if n <= max_cols:
        return 1, max(n, 1)
    cols = max_cols
    # Five or six panels read better as 3 + 3 (or 3 + 2) than as 4 + 2 (or 4 + 1).
    if max_cols == 4 and n in (5, 6, 9):
        cols = 3
    return math.ceil(n / cols), cols


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
          confidence: float, linestyle: str = "-", seed_lines: bool = True, band_alpha: float = 0.18) -> None:
    """Thin line per seed, then the band, then the mean line on top.

    The band is clipped to the values the quantity can take (a loss is at least 0, an accuracy
    drawn in percent (``scale`` 100) at most 100): a t band over two or three seeds easily
    reaches past them, and would stretch the axis to values no run can have.
    """
    if not curves:
        return
    if seed_lines:
        for arr in curves:
            ax.plot(np.arange(1, arr.size + 1), arr * scale, color=color, alpha=0.45, linewidth=0.9,
                    linestyle=linestyle, zorder=2)
    band = curve_band(curves, confidence)
    ok = np.isfinite(band.low) & np.isfinite(band.high)
    if ok.any():
        high = 100.0 if scale == 100.0 else np.inf
        ax.fill_between(band.epochs[ok], np.clip(band.low[ok] * scale, 0.0, high),
                        np.clip(band.high[ok] * scale, 0.0, high), color=color, alpha=band_alpha, linewidth=0,
                        zorder=1)
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


def _integer_epochs(ax, n_epochs: int, *, nbins: int = 10) -> None:
    from matplotlib.ticker import MaxNLocator

    if n_epochs <= 1:
        ax.set_xticks([1])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=min(n_epochs, nbins)))
    if n_epochs >= 1:
        ax.set_xlim(0.7, n_epochs + 0.3)


@styled
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
    fig = new_figure(10, 3.6)
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
        style_axes(ax)
        _integer_epochs(ax, n_epochs)
    if acc:
        _legend_with_key(ax_acc, color, confidence, loc="lower right")
    if ax_loss.get_legend_handles_labels()[0]:
        ax_loss.legend(loc="upper right")
    return fig


@dataclass
class CurvePanel:
    """One variant's per-seed loss curves for a panel of :func:`loss_grid_figure`."""

    name: str
    color: str
    val_loss: Sequence[Sequence[float]]
    train_loss: Sequence[Sequence[float]] = ()


def _key_handles(kind: str, val_label: str, confidence: float):
    """Legend entries explaining a panel's lines, drawn in neutral grey."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    grey = "#444444"
    band = [Patch(facecolor=grey, alpha=0.18, linewidth=0), Line2D([], [], color=grey, alpha=0.45, linewidth=0.9)]
    keys = [f"{confidence * 100:g}% t band", "individual seeds"]
    if kind == "loss":
        return ([Line2D([], [], color=grey, linewidth=2.0), Line2D([], [], color=TRAIN_COLOR, linewidth=2.0,
                                                                   linestyle="--"), *band],
                [f"{val_label} loss (variant colour)", "training loss", *keys])
    return [Line2D([], [], color=grey, linewidth=2.0, marker="o", markersize=3.5), *band], ["mean over seeds", *keys]


@styled
def loss_grid_figure(
    panels: Sequence[Sequence[CurvePanel | None]],
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    share_rows: bool = False,
    confidence: float = DEFAULT_CONFIDENCE,
    val_label: str = "validation",
) -> Figure:
    """Many variants' loss curves as a grid of small panels, one variant per panel.

    ``panels`` holds the rows of the grid (``None`` leaves a cell empty); each panel draws the
    validation loss in the variant's colour and the training loss dashed grey, a thin line per
    seed under the mean and its t band. With ``col_labels`` the top row carries them as titles
    and the panels none; otherwise each panel is titled with its variant. ``row_labels`` name the
    rows on the left. ``share_rows`` gives each row one y axis, so panels in a row compare
    directly (a grid study puts the variants trained at the same setting in one row).
    """
    from matplotlib.ticker import MaxNLocator

    rows = [list(r) for r in panels]
    n_rows, n_cols = len(rows), max((len(r) for r in rows), default=1)
    rows = [r + [None] * (n_cols - len(r)) for r in rows]
    panel_width = max(2.3, 6.6 / n_cols)
    fig = new_figure(0.9 + panel_width * n_cols, 1.1 + 1.4 * n_rows)
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex=True, sharey="row" if share_rows else False)
    n_epochs = max((len(c) for r in rows for p in r if p for c in p.val_loss), default=0)
    for i, row in enumerate(rows):
        for j, p in enumerate(row):
            ax = axes[i, j]
            if p is None:
                ax.set_visible(False)
                continue
            _band(ax, _clean_curves(p.val_loss), p.color, scale=1.0, label=None, confidence=confidence)
            _band(ax, _clean_curves(p.train_loss), TRAIN_COLOR, scale=1.0, label=None, confidence=confidence,
                  linestyle="--")
            if col_labels is None:
                ax.set_title(_wrap_title(p.name), fontsize=9 if len(p.name) <= 26 else 8.5)
            elif i == 0 and j < len(col_labels):
                ax.set_title(_wrap_title(col_labels[j]), fontsize=9.5)
            if j == 0:
                ax.set_ylabel("loss" if row_labels is None else f"{row_labels[i]}\nloss", fontsize=8.5)
            if not any(rows[k][j] is not None for k in range(i + 1, n_rows)):  # nothing drawn below this panel
                ax.set_xlabel("epoch", fontsize=8.5)
                ax.tick_params(labelbottom=True)
            style_axes(ax)
            _integer_epochs(ax, n_epochs, nbins=5)
            ax.tick_params(labelsize=7.5)
            ax.yaxis.set_major_locator(MaxNLocator(4))
    fig.suptitle(f"{val_label} and training loss per epoch, one panel per variant", fontsize=10.5)
    _figure_legend(fig, *_key_handles("loss", val_label, confidence))
    return fig


def _figure_legend(fig: Figure, handles, labels, *, max_cols: int = 4) -> None:
    """A figure legend below the axes, so it never covers data (the title keeps the top)."""
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(handles), max_cols),
                   handlelength=1.8, columnspacing=1.4)


@styled
def accuracy_overlay_figure(
    curves: Mapping[str, Sequence[Sequence[float]]],
    *,
    colors: Mapping[str, str] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    val_label: str = "validation",
    panels: Sequence[tuple[str, Sequence[str]]] | None = None,
    legend: Mapping[str, str] | None = None,
    highlight: bool | None = None,
) -> Figure:
    """Every variant's mean validation accuracy per epoch with its t band.

    ``curves`` maps a variant name to its per-seed accuracy curves (fractions). Up to
    :data:`MAX_OVERLAY_LINES` variants share one axis, with the legend below it; seeds are not
    drawn individually there (the per-variant figures show them), so the variants stay apart.

    More variants are split into small panels. ``panels`` gives them as ``(title, variants)``
    pairs (a grid study draws one panel per learning rate or batch size, with its models in it),
    and ``legend`` maps each legend label to its colour (one entry per model). Without
    ``panels`` each variant gets its own panel, drawn over the other variants' means in light
    grey; ``highlight=True`` asks for that layout whatever the number of variants. Panels draw
    each seed as a thin line.
    """
    from matplotlib.lines import Line2D

    colors = {name: (colors or {}).get(name, variant_color(i)) for i, name in enumerate(curves)}
    clean = {name: _clean_curves(per_seed) for name, per_seed in curves.items()}
    n_epochs = max((c.size for cs in clean.values() for c in cs), default=0)
    title = f"mean {val_label} accuracy per epoch"
    if highlight is None:
        highlight = panels is None and len(curves) > MAX_OVERLAY_LINES
    if panels is None and not highlight:
        fig = new_figure(7.5, 4.1)
        ax = fig.subplots()
        for name, cs in clean.items():
            _band(ax, cs, colors[name], scale=100.0, label=f"{name} (n = {len(cs)})", confidence=confidence,
                  seed_lines=False)
        ax.set(title=title, xlabel="epoch", ylabel="accuracy (%)")
        style_axes(ax)
        _integer_epochs(ax, n_epochs)
        _figure_legend(fig, *ax.get_legend_handles_labels(), max_cols=3)
        return fig

    if panels is None:
        panels = [(name, [name]) for name in curves]
    rows, cols = _grid_shape(len(panels))
    fig = new_figure(0.6 + 2.4 * cols, 1.0 + 2.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= len(panels):
            ax.set_visible(False)
            continue
        panel_title, names = panels[k]
        if highlight:
            for other, cs in clean.items():
                if other not in names and cs:
                    band = curve_band(cs, confidence)
                    ax.plot(band.epochs, band.mean * 100, color=CONTEXT_COLOR, linewidth=1.8, zorder=0)
        for name in names:
            if name in clean:
                _band(ax, clean[name], colors[name], scale=100.0, label=None, confidence=confidence,
                      band_alpha=0.18 if len(names) <= 2 else 0.12)
        ax.set_title(_wrap_title(panel_title), fontsize=9.5 if len(panel_title) <= 26 else 8.5)
        style_axes(ax)
        _integer_epochs(ax, n_epochs, nbins=5)
        ax.tick_params(labelsize=8)
        if k % cols == 0:
            ax.set_ylabel("accuracy (%)")
        if k + cols >= len(panels):  # nothing drawn below this panel
            ax.set_xlabel("epoch")
    fig.suptitle(title, fontsize=10.5)
    handles, labels = _key_handles("accuracy", val_label, confidence)
    if legend:  # one entry per model in place of the mean's, then the key to the band and the thin lines
        handles = [Line2D([], [], color=c, linewidth=2.0, marker="o", markersize=3.5) for c in legend.values()]
        handles += _key_handles("accuracy", val_label, confidence)[0][1:]
        labels = [*legend, *labels[1:]]
    elif highlight:
        handles.append(Line2D([], [], color=CONTEXT_COLOR, linewidth=1.8))
        labels.append("the other variants' means")
    _figure_legend(fig, handles, labels, max_cols=6)
    return fig


def _jitter(n: int, width: float = 0.16) -> np.ndarray:
    """A fixed spread of ``n`` offsets in ``[-width, width]`` (deterministic, unlike random jitter)."""
    if n <= 1:
        return np.zeros(n)
    return np.linspace(-width, width, n)


def _boxplot(ax, data, positions, *, horizontal: bool, **kwargs):
    """``ax.boxplot`` drawn upright or lying; matplotlib 3.10 renamed ``vert`` to ``orientation``."""
    if "orientation" in inspect.signature(ax.boxplot).parameters:
        kwargs["orientation"] = "horizontal" if horizontal else "vertical"
    else:
        kwargs["vert"] = not horizontal
    return ax.boxplot(data, positions=positions, **kwargs)


def _split_range(values: Sequence[float]) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Two value ranges, low and high, when one gap holds most of the data's range, else None.

    A variant stuck at chance (10% on MNIST) beside others at 90-99% would otherwise squash them
    all into a sliver; the figure then breaks its axis at the gap.
    """
    v = np.sort(np.asarray([x for x in values if math.isfinite(x)], dtype=float))
    if v.size < 3:
        return None
    total = float(v[-1] - v[0])
    gaps = np.diff(v)
    i = int(np.argmax(gaps))
    if total < 5.0 or gaps[i] < 0.5 * total:
        return None
    return (float(v[0]), float(v[i])), (float(v[i + 1]), float(v[-1]))


def _padded(lo: float, hi: float, *, frac: float = 0.08, least: float = 0.3) -> tuple[float, float]:
    pad = max((hi - lo) * frac, least)
    return lo - pad, hi + pad


def _break_marks(ax_a, ax_b, *, horizontal: bool) -> None:
    """Short diagonal strokes where a broken axis jumps (``ax_a`` holds the low values)."""
    kw = dict(marker=[(-1, -1.6), (1, 1.6)], markersize=9, linestyle="none", color="#555555", mec="#555555",
              mew=1, clip_on=False)
    if horizontal:
        ax_a.plot([1], [0], transform=ax_a.transAxes, **kw)
        ax_b.plot([0], [0], transform=ax_b.transAxes, **kw)
    else:
        kw["marker"] = [(-1.6, -1), (1.6, 1)]
        ax_a.plot([0], [1], transform=ax_a.transAxes, **kw)
        ax_b.plot([0], [0], transform=ax_b.transAxes, **kw)


@styled
def final_accuracy_figure(
    values: Mapping[str, Sequence[float]],
    *,
    seeds: Mapping[str, Sequence[int]] | None = None,
    colors: Mapping[str, str] | None = None,
    target: float | None = None,
    val_label: str = "validation",
    groups: Sequence[Sequence[str]] | None = None,
) -> Figure:
    """Distribution of the final validation accuracy per variant: a strip plot over a box plot.

    ``values`` maps a variant to its runs' final accuracies (fractions). The box spans the
    quartiles with the median line and whiskers at 1.5 IQR; each dot is one seed. When ``seeds``
    is given, dots of the same seed in neighbouring variants are joined by faint grey lines, which
    shows the pairing the comparisons use.

    ``groups`` orders the variants into groups (a grid study groups the variants trained at the
    same setting, which are the ones it compares): seeds are joined only inside a group and thin
    lines separate the groups. Up to :data:`MAX_VERTICAL_BOXES` variants stand upright side by
    side; more lie as horizontal rows, one per variant, so the figure grows in height (up to
    :data:`MAX_FIGURE_HEIGHT`) rather than in width. When one gap holds most of the accuracy range
    (a variant at chance level beside trained ones), the accuracy axis is broken at the gap, so
    both ends stay readable.
    """
    if groups is None:
        groups = [list(values)]
    groups = [[n for n in g if n in values] for g in groups]
    groups = [g for g in groups if g]
    names = [n for g in groups for n in g]
    names += [n for n in values if n not in names]
    horizontal = len(names) > MAX_VERTICAL_BOXES
    index = {n: i for i, n in enumerate(values)}
    color_of = {n: (colors or {}).get(n, variant_color(index[n])) for n in names}
    n = len(names)
    data = {name: np.asarray(values[name], dtype=float) * 100 for name in names}
    flat = [float(x) for d in data.values() for x in d if math.isfinite(x)]
    split = _split_range(flat)
    if horizontal:
        row = 0.26 if n <= 40 else max(0.12, (MAX_FIGURE_HEIGHT - 1.2) / n)
        fig = new_figure(7.8, 1.2 + row * n + 0.08 * len(groups))
        axes = list(fig.subplots(1, 2, sharey=True, width_ratios=[1, 4])) if split else [fig.subplots()]
    else:
        fig = new_figure(max(4.5, 1.6 + 1.5 * n), 3.8 if not split else 4.4)
        axes = list(fig.subplots(2, 1, sharex=True, height_ratios=[4, 1]))[::-1] if split else [fig.subplots()]
    # axes[0] shows the low range when the axis is broken, axes[-1] the high range.
    positions = {name: (n - i if horizontal else i + 1) for i, name in enumerate(names)}
    drawable = [name for name in names if data[name].size]
    points: dict[str, dict[int, tuple[float, float]]] = {}
    for name in names:
        d = data[name]
        order = np.argsort(d, kind="stable")
        offsets = np.empty(d.size)
        offsets[order] = _jitter(d.size, 0.16 if not horizontal else 0.2)
        across = positions[name] + offsets
        xs, ys = (d, across) if horizontal else (across, d)
        seed_list = list(seeds[name]) if seeds and name in seeds else []
        points[name] = {s: (x, y) for s, x, y in zip(seed_list, xs, ys)} if len(seed_list) == d.size else {}
        points[name][-1] = (xs, ys)  # the dots themselves, under a key no seed uses
    for ax in axes:
        if drawable:
            box = _boxplot(ax, [data[name] for name in drawable], [positions[name] for name in drawable],
                           horizontal=horizontal, widths=0.5 if not horizontal else 0.6, patch_artist=True,
                           showfliers=False, zorder=1, medianprops={"color": "#222222", "linewidth": 1.4},
                           whiskerprops={"color": "#777777"}, capprops={"color": "#777777"},
                           boxprops={"edgecolor": "#777777"})
            for patch, name in zip(box["boxes"], drawable):
                patch.set_facecolor(color_of[name])
                patch.set_alpha(0.22)
        for name in names:
            xs, ys = points[name][-1]
            ax.scatter(xs, ys, s=26 if n <= 12 else 18, color=color_of[name], edgecolor="white", linewidth=0.6,
                       zorder=3)
        for group in groups:
            for left, right in zip(group, group[1:]):
                for s in (points[left].keys() & points[right].keys()) - {-1}:
                    (x0, y0), (x1, y1) = points[left][s], points[right][s]
                    ax.plot([x0, x1], [y0, y1], color="#999999", alpha=0.45, linewidth=0.7, zorder=2)
        if len(groups) > 1:
            for group in groups[:-1]:
                edge = positions[group[-1]] + (-0.5 if horizontal else 0.5)
                (ax.axhline if horizontal else ax.axvline)(edge, color="#d0d4d9", linewidth=0.8, zorder=0)
        style_axes(ax)
        ax.grid(axis="y" if horizontal else "x", visible=False)
    if split:
        ranges = [_padded(*split[0]), _padded(*split[1])]
    else:
        ranges = [_padded(min(flat), max(flat), frac=0.05)] if flat else [(0.0, 100.0)]
    # The target is drawn on the (upper) range when it lies near that range's data.
    top_lo, top_hi = split[1] if split else ((min(flat), max(flat)) if flat else (0.0, 100.0))
    show_target = target is not None and bool(flat) and _target_in_view(target, top_lo, top_hi)
    if show_target:
        lo, hi = ranges[-1]
        ranges[-1] = (min(lo, target * 100 - 0.3), max(hi, target * 100 + 0.3))
    for ax, (lo, hi) in zip(axes, ranges):
        (ax.set_xlim if horizontal else ax.set_ylim)(lo, hi)
    if show_target:
        ax = axes[-1]
        (ax.axvline if horizontal else ax.axhline)(target * 100, color="#888888", linestyle=":", linewidth=1.0,
                                                   zorder=0)
        where = dict(xy=(target * 100, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 3)) if horizontal else \
            dict(xy=(1.0, target * 100), xycoords=("axes fraction", "data"), xytext=(-2, 2))
        ax.annotate(f"target {target * 100:g}%", **where, textcoords="offset points", ha="right", va="bottom",
                    fontsize=8, color="#666666", annotation_clip=False)
    if split:
        low_ax, high_ax = axes
        if horizontal:
            high_ax.spines["left"].set_visible(False)
            high_ax.tick_params(axis="y", left=False)
        else:
            high_ax.spines["bottom"].set_visible(False)
            high_ax.tick_params(axis="x", bottom=False)
        _break_marks(low_ax, high_ax, horizontal=horizontal)
    ticks = [positions[name] for name in names]
    title = f"final {val_label} accuracy per run" + (" (axis broken at the gap)" if split else "")
    if horizontal:
        axes[0].set_yticks(ticks, [f"{name} (n = {data[name].size})" for name in names],
                           fontsize=8.5 if n <= 40 else 6.5)
        axes[0].set_ylim(0.4, n + 0.6)
        fig.supxlabel("accuracy (%)", fontsize=9.5)
    else:
        axes[0].set_xticks(ticks, [f"{name}\n(n = {data[name].size})" for name in names])
        axes[0].set_xlim(0.4, n + 0.6)
        fig.supylabel("accuracy (%)", fontsize=9.5)
    fig.suptitle(title, fontsize=10.5)
    return fig


def _difference_view(rows: Sequence[PairedComparison]) -> tuple[float, float, set[int]]:
    """The x range (pp) of the paired-differences figure, and the rows whose mean lies outside it.

    One comparison far from the rest (a model that diverged at one learning rate: +70 pp where
    the others differ by 1 or 2) would squash every other row against zero; such a row (mean
    over 10 pp from zero and over 4 times the next largest) is set aside and named at the
    edge. Intervals are drawn up to one data range beyond the dots, so the two-seed intervals
    (t with one degree of freedom is 12.7) do not hide the dots either; longer ones end in an arrow.
    """
    means = {i: c.mean_difference * 100 for i, c in enumerate(rows) if math.isfinite(c.mean_difference)}
    if not means:
        return -1.0, 1.0, set()
    outliers: set[int] = set()
    ranked = sorted(means, key=lambda i: -abs(means[i]))
    # Peel off rows that are both far (over 10 pp) and far beyond the next one (over 4 times).
    for k, i in enumerate(ranked[:-2]):
        rest = abs(means[ranked[k + 1]])
        if abs(means[i]) > 10.0 and abs(means[i]) > 4 * max(rest, 0.5):
            outliers.update(ranked[:k + 1])
    core = [0.0]
    lows, highs = [], []
    for i, c in enumerate(rows):
        if i in outliers:
            continue
        core += [float(d) * 100 for d in c.differences if math.isfinite(d)]
        if i in means:
            core.append(means[i])
        if c.ci.defined:
            lows.append(c.ci.low * 100)
            highs.append(c.ci.high * 100)
    lo, hi = min(core), max(core)
    span = max(hi - lo, 1.0)
    lo = max(min(lows, default=lo), lo - span) if lows else lo
    hi = min(max(highs, default=hi), hi + span) if highs else hi
    lo, hi = min(lo, min(core)), max(hi, max(core))
    if hi - lo < 1.0:  # identical differences (or none): keep at least 1 pp in view
        mid = (hi + lo) / 2
        lo, hi = mid - 0.5, mid + 0.5
    pad = 0.06 * (hi - lo)
    return lo - pad, hi + pad, outliers


@styled
def paired_differences_figure(
    comparisons: Sequence[PairedComparison],
    *,
    colors: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    groups: Sequence[int] | None = None,
    val_label: str = "validation",
) -> Figure:
    """Paired differences ``B - A`` per seed (pp), with their mean and t interval, one row per comparison.

    Each dot is one seed's difference; the black diamond is the mean difference and the bar its
    confidence interval (absent with fewer than two pairs). The dashed vertical line marks zero,
    no difference. ``colors`` colours each row's dots (B's colour), ``labels`` replaces the row
    labels (``"B − A"`` and the number of pairs), and ``groups`` (sizes of consecutive runs of
    rows) draws thin lines between groups. Many rows are set closer together, so the figure stays
    within :data:`MAX_FIGURE_HEIGHT`. A row far outside the others' range is written at the edge
    with its mean instead of stretching the axis, and an interval running past the edge ends in
    an arrow (see the tables for every number).
    """
    rows = list(comparisons)
    compact = len(rows) > 6
    step = 0.75 if not compact else max(0.16, min(0.38, (MAX_FIGURE_HEIGHT - 1.2) / max(len(rows), 1)))
    fig = new_figure(7.8, max(2.1, 1.2 + step * len(rows)))
    ax = fig.subplots()
    x_lo, x_hi, outliers = _difference_view(rows)
    # An interval running past the view is cut a little inside it, so its cap or arrow stays in the axes.
    inset = 0.025 * (x_hi - x_lo)
    cut_lo, cut_hi = x_lo + inset, x_hi - inset
    tick_labels = []
    for i, cmp in enumerate(rows):
        y = len(rows) - i
        color = colors[i] if colors is not None and i < len(colors) else variant_color(i + 1)
        if labels is not None and i < len(labels):
            tick_labels.append(labels[i])
        elif compact:
            tick_labels.append(f"{cmp.b_name} − {cmp.a_name} ({cmp.n_pairs})")
        elif len(cmp.a_name) + len(cmp.b_name) > 36:
            tick_labels.append(f"{cmp.b_name}\n− {cmp.a_name} ({cmp.n_pairs} pairs)")
        else:
            tick_labels.append(f"{cmp.b_name} − {cmp.a_name}\n({cmp.n_pairs} pairs)")
        if i in outliers:
            mean = cmp.mean_difference * 100
            right = mean > 0
            ax.annotate(f"{'' if right else '◀ '}mean {mean:+.2f} pp, off the scale{' ▶' if right else ''}",
                        xy=(1.0 if right else 0.0, y), xycoords=("axes fraction", "data"), ha="right" if right else "left",
                        va="center", fontsize=8, color="#111111",
                        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": color, "linewidth": 0.8})
            continue
        diffs = np.asarray(cmp.differences, dtype=float) * 100
        if diffs.size:
            order = np.argsort(diffs, kind="stable")
            offsets = np.empty(diffs.size)
            offsets[order] = _jitter(diffs.size, 0.14 if not compact else 0.2)
            ax.scatter(diffs, y + offsets, s=22 if not compact else 14, color=color, alpha=0.85, edgecolor="white",
                       linewidth=0.5, zorder=3)
        if math.isfinite(cmp.mean_difference):
            mean = cmp.mean_difference * 100
            size = 6 if not compact else 4.5
            if cmp.ci.defined:
                lo, hi = max(cmp.ci.low * 100, cut_lo), min(cmp.ci.high * 100, cut_hi)
                ax.errorbar([mean], [y], xerr=[[mean - lo], [hi - mean]], fmt="D", color="#111111",
                            markersize=size, capsize=3 if compact else 4, linewidth=1.2, zorder=4)
                for end, cut, marker in ((cmp.ci.low * 100, cut_lo, "<"), (cmp.ci.high * 100, cut_hi, ">")):
                    if (end < cut) if marker == "<" else (end > cut):
                        ax.plot([cut], [y], marker=marker, color="#111111", markersize=size, zorder=4)
            else:
                ax.plot([mean], [y], "D", color="#111111", markersize=size, zorder=4)
    ax.axvline(0.0, color="#666666", linestyle="--", linewidth=1.0, zorder=0)
    if groups:
        edge = len(rows) + 0.5
        for size in list(groups)[:-1]:
            edge -= size
            ax.axhline(edge, color="#d0d4d9", linewidth=0.8, zorder=0)
    ax.set_yticks(np.arange(len(rows), 0, -1), tick_labels, fontsize=None if not compact else 8.5)
    ax.set_ylim(0.4, len(rows) + 0.6)
    ax.set_xlim(x_lo, x_hi)
    conf = rows[0].confidence if rows else DEFAULT_CONFIDENCE
    metric = rows[0].metric if rows else "final"
    fig.suptitle(f"paired differences in {metric} {val_label} accuracy\n(mean and {conf * 100:g}% t interval)",
                 fontsize=10.5)
    ax.set(xlabel="difference B − A (percentage points)")
    style_axes(ax)
    ax.grid(axis="y", visible=False)
    return fig
