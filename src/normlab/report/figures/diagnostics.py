"""Figures of the diagnostics (activation percentiles, smoothness, gradient norms) and of the sweeps
(final accuracy against learning rate or batch size).

They draw series already averaged over seeds: ``(steps, values)`` array pairs, by variant.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from normlab.experiments.stats import TRAINS_ACCURACY
from normlab.report.figures.base import PALETTE, new_figure, plain_log_ticks, style_axes, styled, variant_color

__all__ = ["MAX_ACTIVATION_ROWS", "MAX_GRAD_PANELS", "activation_figure", "grad_norms_figure", "smoothness_figure",
           "sweep_figure"]

#: At most this many variants get a row of panels in the activation figure.
MAX_ACTIVATION_ROWS = 6
#: At most this many variants get a panel of per-layer gradient norms.
MAX_GRAD_PANELS = 3

Series = tuple[np.ndarray, np.ndarray]


def _log_if_wide(ax) -> None:
    """A log y axis when the drawn values span more than a factor 30."""
    values = [y for line in ax.get_lines() for y in line.get_ydata() if np.isfinite(y) and y > 0]
    if values and max(values) / min(values) > 30:
        ax.set_yscale("log")
        plain_log_ticks(ax)


@styled
def activation_figure(percentiles: Mapping[str, Mapping[str, tuple[np.ndarray, ...]]], layers: Sequence[str],
                      colors: Mapping[str, str], seeds: Mapping[str, int]):
    """Per variant (rows) and layer (columns): the 15th, 50th and 85th percentiles of a unit's input
    over training steps, ``percentiles[variant][layer] = (steps, p15, p50, p85)``."""
    variants = list(percentiles)[:MAX_ACTIVATION_ROWS]
    fig = new_figure(2.6 * len(layers) + 0.6, 1.9 * len(variants) + 0.6)
    axes = np.atleast_2d(fig.subplots(len(variants), len(layers), sharex=True, sharey="col", squeeze=False))
    for i, v in enumerate(variants):
        color = colors[v]
        for j, layer in enumerate(layers):
            ax = axes[i, j]
            steps, lo, mid, hi = percentiles[v][layer]
            if steps.size:
                ax.fill_between(steps, lo, hi, color=color, alpha=0.15, linewidth=0)
                ax.plot(steps, hi, color=color, linewidth=1.0, linestyle="--")
                ax.plot(steps, mid, color=color, linewidth=1.8)
                ax.plot(steps, lo, color=color, linewidth=1.0, linestyle="--")
            if i == 0:
                ax.set_title(f"input to {layer}")
            if j == 0:
                ax.set_ylabel(f"{v}\n(n = {seeds[v]})", fontsize=8.5)
            if i == len(variants) - 1:
                ax.set_xlabel("training step")
            style_axes(ax)
    return fig


@styled
def smoothness_figure(series: Mapping[str, Mapping[str, Series]], colors: Mapping[str, str],
                      seeds: Mapping[str, int], *, point: str = "w − ηg", step: str = "ηg"):
    """Smoothness along a walk per variant: ``series[variant]`` holds ``"loss range"``, ``"grad min"``,
    ``"grad max"`` and ``"beta"`` as ``(steps, mean over seeds)``; ``point`` and ``step`` name the walk's
    points and steps in the labels (``"w + s·u"`` and ``"s·u"`` along the optimizer's update)."""
    fig = new_figure(11.5, 3.7)
    ax_loss, ax_grad, ax_beta = fig.subplots(1, 3)
    for v, s in series.items():
        color = colors[v]
        steps, width = s["loss range"]
        if steps.size:
            ax_loss.plot(steps, width, color=color, linewidth=1.6, label=f"{v} (n = {seeds[v]})")
        steps, low = s["grad min"]
        if steps.size:
            high = s["grad max"][1]
            ax_grad.fill_between(steps, low, high, color=color, alpha=0.22, linewidth=0)
            ax_grad.plot(steps, low, color=color, linewidth=0.8)
            ax_grad.plot(steps, high, color=color, linewidth=0.8)
        steps, beta = s["beta"]
        if steps.size:
            ax_beta.plot(steps, beta, color=color, linewidth=1.6)
    # The loss itself falls by orders of magnitude more than it varies along one short walk, so
    # the band of the paper's figure 4(a) is drawn as its width.
    ax_loss.set(title=f"(a) loss variation: max − min of L({point})", xlabel="training step", ylabel="loss range")
    ax_grad.set(title="(b) gradient predictiveness", xlabel="training step", ylabel=f"‖∇L({point}) − ∇L(w)‖₂")
    ax_beta.set(title="(c) effective β-smoothness", xlabel="training step", ylabel=f"max ‖Δ∇L‖ / ‖{step}‖")
    for ax in (ax_loss, ax_grad, ax_beta):
        _log_if_wide(ax)
        style_axes(ax)
    if ax_loss.get_legend_handles_labels()[0]:
        ax_loss.legend(loc="upper right")
    return fig


@styled
def grad_norms_figure(totals: Mapping[str, Series], per_layer: Mapping[str, Mapping[str, Series]],
                      colors: Mapping[str, str], seeds: Mapping[str, int]):
    """The total gradient norm of every variant (left), then each of the first variants' weight
    tensors (``per_layer[variant][parameter]``), all ``(steps, mean over seeds)``, log scale."""
    variants = list(per_layer)[:MAX_GRAD_PANELS]
    fig = new_figure(3.7 * (1 + len(variants)), 3.4)
    axes = fig.subplots(1, 1 + len(variants), sharey=True)
    ax_total, layer_axes = axes[0], axes[1:]
    for v, (steps, total) in totals.items():
        if steps.size:
            ax_total.plot(steps, total, color=colors[v], linewidth=1.6, label=f"{v} (n = {seeds[v]})")
    ax_total.set(title="total gradient norm", xlabel="training step", ylabel="gradient norm ‖·‖₂")
    for ax, v in zip(layer_axes, variants):
        for j, (p, (steps, values)) in enumerate(per_layer[v].items()):
            if steps.size:
                ax.plot(steps, values, color=PALETTE[j % len(PALETTE)], linewidth=1.2, label=p.removesuffix(".weight"))
        ax.set(title=f"{v}: per layer (weights)", xlabel="training step")
    for ax in axes:
        ax.set_yscale("log")
        plain_log_ticks(ax)
        style_axes(ax)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7.5)
    return fig


@styled
def sweep_figure(cells: Mapping[str, Mapping[Any, Mapping[str, Any]]], *, xlabel: str, title: str, log_base: float,
                 highest: Mapping[str, Any] | None = None):
    """Final accuracy against a swept setting per model: ``cells[model][value]`` holds the ``mean``,
    ``low`` and ``high`` of the t interval, the seeds' ``finals`` and the number ``diverged``.
    ``highest`` marks each model's highest learning rate that trains with a star."""
    from matplotlib.ticker import NullLocator

    fig = new_figure(7.5, 4.4)
    ax = fig.subplots()
    colors = {m: variant_color(i) for i, m in enumerate(cells)}
    diverged_label = False
    for m, by_x in cells.items():
        xs = sorted(by_x)
        color = colors[m]
        mean = np.array([by_x[x]["mean"] for x in xs]) * 100
        lo = np.array([by_x[x]["low"] for x in xs]) * 100
        hi = np.array([by_x[x]["high"] for x in xs]) * 100
        ok = np.isfinite(lo) & np.isfinite(hi)
        if ok.any():
            # A t band over two seeds can reach past 100%: accuracy cannot, so the band is clipped.
            ax.fill_between(np.array(xs, dtype=float)[ok], np.clip(lo[ok], 0, 100), np.clip(hi[ok], 0, 100),
                            color=color, alpha=0.12 if len(cells) <= 2 else 0.07, linewidth=0)
        ax.plot(xs, mean, "o-", color=color, linewidth=1.8, markersize=4, label=m)
        for x in xs:
            finals = list(by_x[x]["finals"].values())
            ax.scatter([x] * len(finals), np.array(finals) * 100, s=10, color=color, alpha=0.5, zorder=3)
            if by_x[x]["diverged"]:
                ax.scatter([x], [10.0], marker="x", s=40, color=color, zorder=4,
                           label=None if diverged_label else "diverged (drawn at 10%)")
                diverged_label = True
        if highest and highest.get(m) is not None:
            x = highest[m]
            ax.scatter([x], [by_x[x]["mean"] * 100], marker="*", s=180, color=color, edgecolor="black",
                       linewidth=0.6, zorder=5)
    if highest is not None:
        ax.axhline(TRAINS_ACCURACY * 100, color="#888888", linestyle=":", linewidth=1.0)
        ax.scatter([], [], marker="*", s=120, color="#cccccc", edgecolor="black", linewidth=0.6,
                   label=f"highest rate that trains (≥ {TRAINS_ACCURACY * 100:g}%)")
    ax.set_xscale("log", base=log_base)
    xs_all = sorted({x for by_x in cells.values() for x in by_x})
    ax.set_xticks(xs_all, [f"{x:g}" for x in xs_all])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set(title=title, xlabel=xlabel, ylabel="final validation accuracy (%)")
    ax.set_ylim(top=100.5)
    style_axes(ax)
    # Below the axes, so the legend never hides a curve, whatever the grid's accuracies.
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(handles), 4), fontsize=8.5)
    return fig
