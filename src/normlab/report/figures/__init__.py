"""Figures, as matplotlib ``Figure`` objects: the post's, and (in submodules) the study report's.

The post's figures come first: accuracy per epoch for one model, validation accuracy of both
models, and both models' training and validation losses. :mod:`normlab.report.figures.study`
draws a multi-seed study, :mod:`normlab.report.figures.diagnostics` the diagnostics and sweeps.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from normlab.report.figures.base import PALETTE, figure_png, save_figure

__all__ = ["PALETTE", "accuracy_figure", "figure_png", "loss_figure", "save_figure", "val_accuracy_figure"]


def _epochs(values: Sequence[float]) -> np.ndarray:
    return np.arange(1, len(values) + 1)


def accuracy_figure(name: str, train_accuracy: Sequence[float], val_accuracy: Sequence[float],
                    *, val_label: str = "validation") -> Figure:
    """Training and validation accuracy per epoch of one model (the post's per-model figure)."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ax.plot(_epochs(train_accuracy), np.asarray(train_accuracy) * 100, "o-", label="training")
    ax.plot(_epochs(val_accuracy), np.asarray(val_accuracy) * 100, "s-", label=val_label)
    ax.set(title=f"{name}: accuracy per epoch", xlabel="epoch", ylabel="accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def val_accuracy_figure(curves: Mapping[str, Sequence[float]], *, val_label: str = "validation") -> Figure:
    """Every model's validation accuracy per epoch in one figure."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for i, (name, values) in enumerate(curves.items()):
        ax.plot(_epochs(values), np.asarray(values) * 100, "o-", color=PALETTE[i % len(PALETTE)], label=name)
    ax.set(title=f"{val_label} accuracy", xlabel="epoch", ylabel="accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def loss_figure(train_losses: Mapping[str, Sequence[float]], val_losses: Mapping[str, Sequence[float]]) -> Figure:
    """Training and validation loss per batch of every model, side by side.

    Per-batch losses are noisy, so a moving average over 50 batches is drawn over the raw values.
    """
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, title, series in ((axes[0], "training loss per batch", train_losses),
                              (axes[1], "validation loss per batch", val_losses)):
        for i, (name, values) in enumerate(series.items()):
            values = np.asarray(values, dtype=float)
            color = PALETTE[i % len(PALETTE)]
            ax.plot(values, color=color, alpha=0.2, linewidth=0.6)
            window = 50 if len(values) > 500 else 5
            smooth = _smooth(values, window)
            ax.plot(np.arange(len(smooth)) + (len(values) - len(smooth)), smooth, color=color, label=name)
        ax.set(title=title, xlabel="batch", ylabel="cross-entropy loss")
        ax.grid(alpha=0.3)
        ax.legend()
    return fig
