"""Report sections for the diagnostics and the ablation presets.

Every section is built from the runs themselves (their configs and ``diagnostics``), not from
the preset's name, so a hand-made study that varies the same thing gets the same section, and a
section appears only when its data exists:

=========================== ====================================================================
section                     appears when
=========================== ====================================================================
Activation statistics       some finished run recorded ``activations``
Loss-landscape smoothness   some finished run recorded ``smoothness``
Gradient norms              some finished run recorded ``grad_norms``
Accuracy vs learning rate   a model was trained at two or more learning rates, nothing else varying
Accuracy vs batch size      a model was trained at two or more batch sizes, nothing else varying
                            but a learning rate scaled linearly with the batch size
Where batch norm goes       two or more batch-norm variants differ in position or layers
Noisy batch norm            a variant uses the ``noisy-batch`` norm
The post's eval-mode bug    a model was trained under both the blog and the standard protocol
=========================== ====================================================================

Each section ends with a computed reading: what the paper behind it claims and whether these
runs agree, with the numbers that decide it. Nothing is concluded in advance.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

from normlab.experiments import stats
from normlab.experiments.stats import TRAINS_ACCURACY, is_significant, p_words, plural
from normlab.report.study import (
    NA,
    Column,
    Paragraph,
    ReportContext,
    Section,
    Table,
    _finite,
    _get,
    _val_accuracy,
    clipped_notes,
    detect_grid,
    fmt_interval,
    fmt_p,
    fmt_pct,
    fmt_pp,
    num,
    register_section,
)

__all__ = [
    "EQUIVALENCE_MARGIN",
    "TRAINS_ACCURACY",
    "activations_section",
    "batch_size_section",
    "grad_norms_section",
    "lr_section",
    "mode_bug_section",
    "noisy_bn_section",
    "placement_section",
    "smoothness_section",
]

# A (model, learning rate) cell "trains" when none of its runs diverged or failed and its mean final
# validation accuracy is at least TRAINS_ACCURACY (one value, in normlab.experiments.stats).
#: Two variants count as training *equally well* only when the confidence interval of their mean
#: difference in final accuracy lies within ±this (a fraction: 0.005 is ±0.5 pp). Failing to find a
#: significant difference with a few seeds does not show that they are the same.
EQUIVALENCE_MARGIN = 0.005
#: At most this many variants get a row of panels in the activation figure.
MAX_ACTIVATION_ROWS = 6


# --------------------------------------------------------------------------------------------
# Run access
# --------------------------------------------------------------------------------------------


def _config(run: Any) -> dict:
    cfg = _get(run, "config", None)
    return cfg if isinstance(cfg, dict) else {}


def _diag(run: Any, name: str) -> dict | None:
    diags = _get(run, "diagnostics", None) or {}
    data = diags.get(name) if isinstance(diags, dict) else None
    return data if isinstance(data, dict) and data.get("step") else None


def _final(run: Any) -> float:
    acc = _val_accuracy(run)
    return float(acc[-1]) if acc and _finite(acc[-1]) else math.nan


def _model_options(spec: str) -> dict[str, Any]:
    from normlab.errors import ConfigError
    from normlab.models import model_options

    try:
        return model_options(spec)
    except (ConfigError, TypeError):
        return {}


def _norm(spec: str) -> str | None:
    return _model_options(spec).get("norm")


def _variant_model(ctx: ReportContext, variant: str) -> str:
    runs = ctx.runs.get(variant) or []
    return str(_config(runs[0]).get("model", variant)) if runs else variant


def _join(parts: Sequence[str], last: str = "and") -> str:
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + f" {last} " + parts[-1]


def _ratio_text(a: float, b: float) -> str:
    """``a`` relative to ``b`` in words: ``"2.3x"`` or ``"0.41x"``."""
    if not (_finite(a) and _finite(b)) or b == 0:
        return NA
    r = a / b
    return f"{r:.2g}x" if r < 10 else f"{r:.0f}x"


def _fmt(x: float, digits: int = 3) -> str:
    if not _finite(x):
        return NA
    return f"{x:.{digits}g}"


def _lr_text(lr: float) -> str:
    return f"{lr:g}"


class _Interval(NamedTuple):
    low: float
    high: float

    @property
    def defined(self) -> bool:
        return _finite(self.low) and _finite(self.high)


@dataclass(frozen=True)
class _Paired:
    """A paired comparison of per-seed values (accuracies, or differences of them): B - A."""

    a_name: str
    b_name: str
    n_pairs: int
    mean_a: float
    mean_b: float
    mean_difference: float
    ci: _Interval
    t_pvalue: float
    confidence: float


def _paired(a: dict[int, float], b: dict[int, float], confidence: float, a_name: str, b_name: str) -> _Paired | None:
    """Paired comparison ``b - a`` over the seeds both have: mean, Student-t interval, paired t-test p.

    The values may be any finite numbers (differences of accuracies too), unlike
    :func:`normlab.experiments.stats.paired_comparison`, which takes accuracy curves.
    """
    seeds = sorted(s for s in set(a) & set(b) if _finite(a[s]) and _finite(b[s]))
    if not seeds:
        return None
    va = np.array([a[s] for s in seeds], dtype=float)
    vb = np.array([b[s] for s in seeds], dtype=float)
    diff = vb - va
    mean, low, high = stats.mean_ci(diff.tolist(), confidence)
    p = math.nan
    if diff.size >= 2 and float(np.std(diff, ddof=1)) > 0:
        from scipy import stats as sps

        p = float(sps.ttest_1samp(diff, 0.0).pvalue)
    return _Paired(a_name, b_name, len(seeds), float(va.mean()), float(vb.mean()), mean, _Interval(low, high), p,
                   confidence)


def _difference_words(cmp, alpha: float) -> str:
    """``"+0.31 pp (95% CI -0.1 to +0.7 pp, p = 0.12): no significant difference"``."""
    if cmp is None or not _finite(cmp.mean_difference):
        return "no paired runs to compare"
    conf = f"{cmp.confidence * 100:g}%"
    ci = f", {conf} CI {fmt_interval(cmp.ci, pp=True)} pp, p {p_words(cmp.t_pvalue)}" if cmp.ci.defined else ""
    return f"{fmt_pp(cmp.mean_difference, unit=True)} ({plural(cmp.n_pairs, 'seed')}{ci}): {_significance(cmp, alpha)}"


def _significance(cmp, alpha: float) -> str:
    """:func:`~normlab.experiments.stats.is_significant` in a word or two, for the readings."""
    if cmp is None or not cmp.ci.defined:
        return "too few seeds for an interval, so direction only"
    return "significant" if is_significant(cmp, alpha) else "not significant"


def _cost_note(runs: Iterable[Any], name: str, what: str) -> Paragraph | None:
    """A note on what recording ``name`` cost, from the runs' ``cost`` diagnostics."""
    fractions, shares, means = [], [], []
    for r in runs:
        cost = ((_get(r, "diagnostics", None) or {}).get("cost") or {}).get("measurements", {}).get(name)
        if not isinstance(cost, dict):
            continue
        if _finite(cost.get("fraction_of_step")):
            fractions.append(cost["fraction_of_step"])
        if _finite(cost.get("share_of_training")):
            shares.append(cost["share_of_training"])
        if _finite(cost.get("mean_seconds")):
            means.append(cost["mean_seconds"])
    if not fractions:
        return None
    return Paragraph(
        f"Cost of recording {what}: {np.mean(means) * 1000:.1f} ms per record on average, "
        f"{np.mean(fractions):.2g} training steps' worth, {np.mean(shares) * 100:.2g}% of the training time "
        f"(mean over {plural(len(fractions), 'run')}; the diagnostics' \"cost\" entry has each run's).", "note")


def _align(series: list[tuple[list, list]]) -> tuple[np.ndarray, np.ndarray]:
    """Series ``(steps, values)`` of several seeds on their common steps: ``(steps, values[seed, step])``."""
    if not series:
        return np.array([]), np.empty((0, 0))
    common = set(series[0][0])
    for steps, _ in series[1:]:
        common &= set(steps)
    steps = np.array(sorted(common))
    rows = []
    for s, v in series:
        where = {st: i for i, st in enumerate(s)}
        rows.append([_float(v[where[st]]) for st in steps])
    return steps, np.array(rows, dtype=float)


def _float(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def _nanmean(values: np.ndarray, axis: int = 0) -> np.ndarray:
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(values, axis=axis)


def _figure_style():
    from normlab.report.study_figures import _styled

    return _styled


def _new_figure(width: float, height: float):
    from normlab.report.study_figures import _new_figure as new_figure

    return new_figure(width, height)  # bounded to the page's width, as every report figure


def _style(ax) -> None:
    from normlab.report.study_figures import _style as style

    style(ax)


# --------------------------------------------------------------------------------------------
# Activation statistics (Ioffe & Szegedy 2015, figure 1)
# --------------------------------------------------------------------------------------------


def _activation_runs(ctx: ReportContext) -> dict[str, list[Any]]:
    return {v: [r for r in ctx.done(v) if _diag(r, "activations")] for v in ctx.variants
            if any(_diag(r, "activations") for r in ctx.done(v))}


def _layer_names(runs: dict[str, list[Any]]) -> list[str]:
    names: list[str] = []
    for rs in runs.values():
        for r in rs:
            for name in (_diag(r, "activations").get("stats") or {}):
                if name not in names:
                    names.append(name)
    return names


def _layer_series(runs: list[Any], layer: str, which: str, stat: str) -> tuple[np.ndarray, np.ndarray]:
    series = []
    for r in runs:
        d = _diag(r, "activations")
        values = (((d.get("stats") or {}).get(layer) or {}).get(which) or {}).get(stat)
        if values:
            series.append((d["step"], values))
    return _align(series)


def _drift(run: Any, layer: str) -> float:
    d = _diag(run, "activations") or {}
    return _float(((d.get("drift") or {}).get(layer) or {}).get("mean_drift"))


def _activation_figure(ctx: ReportContext, runs: dict[str, list[Any]], layers: list[str]):
    variants = list(runs)[:MAX_ACTIVATION_ROWS]
    fig = _new_figure(2.6 * len(layers) + 0.6, 1.9 * len(variants) + 0.6)
    axes = np.atleast_2d(fig.subplots(len(variants), len(layers), sharex=True, sharey="col", squeeze=False))
    for i, v in enumerate(variants):
        color = ctx.colors[v]
        for j, layer in enumerate(layers):
            ax = axes[i, j]
            steps, p15 = _layer_series(runs[v], layer, "unit", "p15")
            _, p50 = _layer_series(runs[v], layer, "unit", "p50")
            _, p85 = _layer_series(runs[v], layer, "unit", "p85")
            if steps.size:
                lo, mid, hi = _nanmean(p15), _nanmean(p50), _nanmean(p85)
                ax.fill_between(steps, lo, hi, color=color, alpha=0.15, linewidth=0)
                ax.plot(steps, hi, color=color, linewidth=1.0, linestyle="--")
                ax.plot(steps, mid, color=color, linewidth=1.8)
                ax.plot(steps, lo, color=color, linewidth=1.0, linestyle="--")
            if i == 0:
                ax.set_title(f"input to {layer}")
            if j == 0:
                ax.set_ylabel(f"{v}\n(n = {len(runs[v])})", fontsize=8.5)
            if i == len(variants) - 1:
                ax.set_xlabel("training step")
            _style(ax)
    return fig


def activations_section(runs: list[Any], ctx: ReportContext) -> Section | None:
    """Percentiles of the input to each nonlinearity over training, per variant (Ioffe & Szegedy, figure 1)."""
    act_runs = _activation_runs(ctx)
    if not act_runs:
        return None
    layers = _layer_names(act_runs)
    if not layers:
        return None
    figure = _figure_style()(_activation_figure)
    sec = Section("Activation statistics over training", "activations")
    first = next(iter(act_runs.values()))[0]
    settings = _diag(first, "activations").get("settings") or {}
    unit = settings.get("unit", 0)
    sec.add(f"The input to each nonlinearity, recorded every {settings.get('every', '?')} training steps (and at step "
            f"0) during the step's own training forward pass, before its update. For each layer the lines are the "
            f"15th, 50th (solid) and 85th (dashed) percentiles of unit {unit}'s input, pooled over the batch (and, in "
            "convolutional layers, over all positions of the channel), averaged over seeds, as Ioffe & Szegedy "
            "(2015, figure 1) plot a typical unit of their MNIST network's last hidden layer.")
    shown = list(act_runs)[:MAX_ACTIVATION_ROWS]
    sec.add(ctx.figure(
        figure(ctx, act_runs, layers),
        f"Input to each nonlinearity (columns) of unit {unit}, per variant (rows): 15th, 50th and 85th percentiles "
        "over training steps, mean over seeds; the shaded band spans the 15th to 85th percentile. Each column "
        "shares its y axis, so variants compare directly."
        + (f" Only the first {MAX_ACTIVATION_ROWS} variants are drawn." if len(act_runs) > len(shown) else ""),
        "Percentiles of the input to each nonlinearity over training steps, per variant"))

    rows = []
    for v, rs in act_runs.items():
        row = [v, str(len(rs))]
        for layer in layers:
            values = [_drift(r, layer) for r in rs]
            row.append(_fmt(float(np.mean([x for x in values if _finite(x)])), 2)
                       if any(_finite(x) for x in values) else NA)
        rows.append(row)
    sec.add(Table([Column("Variant", kind="variant"), num("Runs"), *[num(layer) for layer in layers]], rows,
                  caption="Drift of each unit's median input, in units of its 15–85 percentile spread",
                  notes=["Per unit: (largest − smallest median over the recorded steps) / mean 15–85 spread; "
                         "averaged over the layer's units, then over seeds. 0 means the distribution never moved; "
                         "1 means its median moved by a whole typical width."]))
    sec.add(Paragraph(_activation_reading(ctx, act_runs, layers[-1]), "reading"))
    note = _cost_note((r for rs in act_runs.values() for r in rs), "activations", "activation statistics")
    if note:
        sec.add(note)
    return sec


def _activation_reading(ctx: ReportContext, act_runs: dict[str, list[Any]], layer: str) -> str:
    claim = ("Ioffe & Szegedy (2015, figure 1) report that without batch norm the distribution of a "
             "nonlinearity's input keeps moving during training, while with it the distribution stays much more "
             "stable.")
    drift = {v: {int(r.seed): _drift(r, layer) for r in rs} for v, rs in act_runs.items()}
    mean = {v: float(np.mean([x for x in d.values() if _finite(x)])) if any(_finite(x) for x in d.values())
            else math.nan for v, d in drift.items()}
    plain = [v for v in act_runs if _norm(_variant_model(ctx, v)) == "none"]
    # Noisy batch norm injects distribution shift on purpose: it is the counter-example, not a test of the claim.
    noisy = [v for v in act_runs if _norm(_variant_model(ctx, v)) == "noisy-batch"]
    normed = [v for v in act_runs if _norm(_variant_model(ctx, v)) not in (None, "none", "noisy-batch")]
    if not plain or not normed:
        ranked = sorted((v for v in mean if _finite(mean[v])), key=lambda v: mean[v])
        listing = ", ".join(f"{v} {_fmt(mean[v], 2)}" for v in ranked)
        return (f"{claim} This study has no {'un-normalised' if not plain else 'normalised'} variant to set against "
                f"the others, so it cannot test that; the mean drift at {layer}, lowest first, is: {listing}.")
    base = plain[0]
    parts, agree = [], []
    for v in normed:
        seeds = sorted(set(drift[v]) & set(drift[base]))
        lower = sum(1 for s in seeds if _finite(drift[v][s]) and _finite(drift[base][s]) and drift[v][s] < drift[base][s])
        parts.append(f"{_fmt(mean[v], 2)} with {v} ({_ratio_text(mean[v], mean[base])} of {base}'s; lower in "
                     f"{lower} of {len(seeds)} seeds)")
        agree.append(_finite(mean[v]) and _finite(mean[base]) and mean[v] < mean[base] and lower * 2 > len(seeds))
    ratios = [mean[v] / mean[base] for v in normed if _finite(mean[v]) and _finite(mean[base]) and mean[base] > 0]
    worst = max(ratios, default=math.nan)
    size = ("" if not _finite(worst) else
            ", markedly (at most half the plain network's drift), as the paper reports" if worst <= 0.5 else
            ", though less markedly than the paper's figure" if worst <= 0.9 else
            ", but only slightly, far from the paper's contrast")
    verdict = ("these runs agree in direction: every normalised variant's input distribution drifted less than the "
               f"plain network's{size}"
               if all(agree) else
               "these runs do not agree: no normalised variant's input distribution drifted less than the plain "
               "network's in most seeds" if not any(agree) else
               "these runs agree only in part: " + _join([v for v, a in zip(normed, agree) if a])
               + " drifted less than the plain network, " + _join([v for v, a in zip(normed, agree) if not a])
               + " did not")
    extra = "".join(f" {v}, which adds random shift after batch norm on purpose, drifted {_fmt(mean[v], 2)} "
                    f"({_ratio_text(mean[v], mean[base])} of {base}'s)." for v in noisy if _finite(mean[v]))
    return (f"{claim} At {layer} (the last nonlinearity, the layer of their figure), each unit's median moved over the "
            f"recorded steps by {_fmt(mean[base], 2)} of its typical 15–85 width with {base}, and by "
            + _join(parts) + f"; {verdict}." + extra)


# --------------------------------------------------------------------------------------------
# Smoothness (Santurkar et al. 2018, figure 4)
# --------------------------------------------------------------------------------------------


_SMOOTH_MEASURES = (
    ("loss range", "loss variation along the gradient", "max − min of L(w − ηg)"),
    ("gradient change", "gradient predictiveness", "max ‖∇L(w − ηg) − ∇L(w)‖"),
    ("β-smoothness", "effective β-smoothness", "max ‖∇L(w − ηg) − ∇L(w)‖ / ‖ηg‖"),
)


def _smooth_runs(ctx: ReportContext) -> dict[str, list[Any]]:
    return {v: [r for r in ctx.done(v) if _diag(r, "smoothness")] for v in ctx.variants
            if any(_diag(r, "smoothness") for r in ctx.done(v))}


def _smooth_series(runs: list[Any], key: str) -> tuple[np.ndarray, np.ndarray]:
    return _align([(_diag(r, "smoothness")["step"], _diag(r, "smoothness").get(key) or []) for r in runs])


def _smooth_run_means(run: Any) -> tuple[float, float, float]:
    d = _diag(run, "smoothness")
    lo = np.array([_float(x) for x in d.get("loss_min") or []])
    hi = np.array([_float(x) for x in d.get("loss_max") or []])
    diff = np.array([_float(x) for x in d.get("grad_diff_max") or []])
    beta = np.array([_float(x) for x in d.get("beta") or []])
    width = hi - lo if lo.size == hi.size else np.array([])
    return tuple(float(_nanmean(a)) if a.size and np.isfinite(a).any() else math.nan for a in (width, diff, beta))


def _smoothness_figure(ctx: ReportContext, runs: dict[str, list[Any]]):
    fig = _new_figure(11.5, 3.7)
    ax_loss, ax_grad, ax_beta = fig.subplots(1, 3)
    for v, rs in runs.items():
        color = ctx.colors[v]
        steps, lo = _smooth_series(rs, "loss_min")
        _, hi = _smooth_series(rs, "loss_max")
        if steps.size:
            ax_loss.plot(steps, _nanmean(hi - lo), color=color, linewidth=1.6, label=f"{v} (n = {len(rs)})")
        steps, dlo = _smooth_series(rs, "grad_diff_min")
        _, dhi = _smooth_series(rs, "grad_diff_max")
        if steps.size:
            low, high = _nanmean(dlo), _nanmean(dhi)
            ax_grad.fill_between(steps, low, high, color=color, alpha=0.22, linewidth=0)
            ax_grad.plot(steps, low, color=color, linewidth=0.8)
            ax_grad.plot(steps, high, color=color, linewidth=0.8)
        steps, beta = _smooth_series(rs, "beta")
        if steps.size:
            ax_beta.plot(steps, _nanmean(beta), color=color, linewidth=1.6)
    # The loss itself falls by orders of magnitude more than it varies along one short walk, so
    # the band of the paper's figure 4(a) is drawn as its width.
    ax_loss.set(title="(a) loss variation: max − min of L(w − ηg)", xlabel="training step", ylabel="loss range")
    ax_grad.set(title="(b) gradient predictiveness", xlabel="training step", ylabel="‖∇L(w − ηg) − ∇L(w)‖₂")
    ax_beta.set(title="(c) effective β-smoothness", xlabel="training step", ylabel="max ‖Δ∇L‖ / ‖ηg‖")
    for ax in (ax_loss, ax_grad, ax_beta):
        values = [y for line in ax.get_lines() for y in line.get_ydata() if np.isfinite(y) and y > 0]
        if values and max(values) / min(values) > 30:
            ax.set_yscale("log")
            _plain_log_ticks(ax)
        _style(ax)
    if ax_loss.get_legend_handles_labels()[0]:
        ax_loss.legend(loc="upper right")
    return fig


def smoothness_section(runs: list[Any], ctx: ReportContext) -> Section | None:
    """Loss range, gradient predictiveness and β-smoothness along the gradient (Santurkar et al., figure 4)."""
    sm_runs = _smooth_runs(ctx)
    if not sm_runs:
        return None
    first = next(iter(sm_runs.values()))[0]
    settings = _diag(first, "smoothness").get("settings") or {}
    scales = settings.get("scales") or []
    grid = (f"{len(scales)} step sizes from {min(scales):g} to {max(scales):g} times the learning rate"
            if scales else "a grid of step sizes")
    optimizers = sorted({str(_config(r).get("optimizer", "?")) for rs in sm_runs.values() for r in rs})
    sec = Section("Loss-landscape smoothness", "smoothness")
    sec.add(f"Every {settings.get('every', '?')} training steps (and at step 0), before the step's update and on its "
            f"batch, the gradient g of the loss at the current weights w was followed for {grid}, and the loss "
            "and its gradient evaluated there on the same batch, after Santurkar et al. (2018, section 3.1 and "
            "figure 4). (a) is how much the loss varies along the walk (the width of the paper's band); (b) the band "
            "between the smallest and largest change of the gradient; (c) the largest change of the gradient per unit "
            "distance moved; lower is smoother in all three. The probe restores weights, batch-norm statistics, gradients and random state exactly, "
            "so it does not change training.")
    if "adam" in optimizers:
        sec.add(Paragraph("These runs train with Adam, whose step is not a multiple of the raw gradient; the walk "
                          "follows the raw gradient, as in the paper, so it probes the landscape around the point, not "
                          "Adam's next step.", "note"))
    sec.add(ctx.figure(_figure_style()(_smoothness_figure)(ctx, sm_runs),
                       "Smoothness along the gradient over training, mean over seeds: (a) range of the loss along "
                       "the walk, (b) band between the smallest and largest gradient change, "
                       "(c) effective β-smoothness.",
                       "Loss range, gradient predictiveness and beta-smoothness over training steps per variant"))
    rows, means = [], {}
    for v, rs in sm_runs.items():
        per_run = [_smooth_run_means(r) for r in rs]
        m = tuple(float(np.mean([x[i] for x in per_run if _finite(x[i])])) if any(_finite(x[i]) for x in per_run)
                  else math.nan for i in range(3))
        means[v] = m
        rows.append([v, str(len(rs)), *[_fmt(x, 3) for x in m]])
    sec.add(Table([Column("Variant", kind="variant"), num("Runs"), num("loss range"), num("gradient change"),
                   num("β-smoothness")], rows,
                  caption="Smoothness along the gradient, mean over recorded steps and seeds (lower is smoother)",
                  notes=["loss range: max − min of L(w − ηg) over the walk; gradient change: its largest "
                         "‖∇L(w − ηg) − ∇L(w)‖₂; β-smoothness: the largest ‖∇L(w − ηg) − ∇L(w)‖₂ / ‖ηg‖₂."]))
    sec.add(Paragraph(_smoothness_reading(ctx, sm_runs, means), "reading"))
    note = _cost_note((r for rs in sm_runs.values() for r in rs), "smoothness", "smoothness")
    if note:
        sec.add(note)
    return sec


def _smoothness_reading(ctx: ReportContext, sm_runs: dict[str, list[Any]], means: dict[str, tuple]) -> str:
    claim = ("Santurkar et al. (2018) report that batch norm makes the loss landscape smoother: along the gradient the "
             "loss varies less, the gradient changes less (it is more predictive) and the effective β-smoothness is "
             "lower.")
    plain = [v for v in sm_runs if _norm(_variant_model(ctx, v)) == "none"]
    normed = [v for v in sm_runs if _norm(_variant_model(ctx, v)) not in (None, "none")]
    if not plain or not normed:
        return (f"{claim} This study has no {'un-normalised' if not plain else 'normalised'} variant to compare "
                "with, so the table above only ranks the variants.")
    base = plain[0]
    per_seed = {v: {int(r.seed): _smooth_run_means(r) for r in rs} for v, rs in sm_runs.items()}
    sentences, verdicts = [], []
    for v in normed:
        smaller = []
        detail = []
        seeds = sorted(set(per_seed[v]) & set(per_seed[base]))
        for i, (short, _, _) in enumerate(_SMOOTH_MEASURES):
            a, b = means[v][i], means[base][i]
            wins = sum(1 for s in seeds if _finite(per_seed[v][s][i]) and _finite(per_seed[base][s][i])
                       and per_seed[v][s][i] < per_seed[base][s][i])
            ok = _finite(a) and _finite(b) and a < b and wins * 2 > len(seeds)
            smaller.append(ok)
            detail.append(f"{short} {_fmt(a)} vs {_fmt(b)} ({_ratio_text(a, b)}, lower in {wins} of {len(seeds)} seeds)")
        n_ok = sum(smaller)
        verdicts.append(n_ok)
        sentences.append(f"{v} against {base}: " + "; ".join(detail))
    total = 3 * len(normed)
    agreed = sum(verdicts)
    verdict = ("these runs agree on every measure" if agreed == total else
               "these runs do not agree on any measure" if agreed == 0 else
               f"these runs agree on {agreed} of {total} comparisons")
    return f"{claim} " + ". ".join(sentences) + f". So {verdict}."


# --------------------------------------------------------------------------------------------
# Gradient norms
# --------------------------------------------------------------------------------------------


def _grad_runs(ctx: ReportContext) -> dict[str, list[Any]]:
    return {v: [r for r in ctx.done(v) if _diag(r, "grad_norms")] for v in ctx.variants
            if any(_diag(r, "grad_norms") for r in ctx.done(v))}


def _weight_params(runs: dict[str, list[Any]]) -> list[str]:
    names: list[str] = []
    for rs in runs.values():
        for r in rs:
            for n in (_diag(r, "grad_norms").get("grad") or {}):
                if n.endswith(".weight") and n.split(".")[0].startswith(("conv", "linear")) and n not in names:
                    names.append(n)
    return names


def _grad_series(runs: list[Any], param: str | None) -> tuple[np.ndarray, np.ndarray]:
    series = []
    for r in runs:
        d = _diag(r, "grad_norms")
        values = d.get("total") if param is None else (d.get("grad") or {}).get(param)
        if values:
            series.append((d["step"], values))
    return _align(series)


MAX_GRAD_PANELS = 3


def _plain_log_ticks(ax) -> None:
    """Log-scale tick labels as plain numbers (0.3, 1, 4) instead of powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def _grad_figure(ctx: ReportContext, runs: dict[str, list[Any]], params: list[str]):
    from normlab.report.figures import PALETTE

    variants = list(runs)[:MAX_GRAD_PANELS]
    fig = _new_figure(3.7 * (1 + len(variants)), 3.4)
    axes = fig.subplots(1, 1 + len(variants), sharey=True)
    ax_total, layer_axes = axes[0], axes[1:]
    for v in runs:
        steps, total = _grad_series(runs[v], None)
        if steps.size:
            ax_total.plot(steps, _nanmean(total), color=ctx.colors[v], linewidth=1.6, label=f"{v} (n = {len(runs[v])})")
    ax_total.set(title="total gradient norm", xlabel="training step", ylabel="gradient norm ‖·‖₂")
    for ax, v in zip(layer_axes, variants):
        for j, p in enumerate(params):
            steps, values = _grad_series(runs[v], p)
            if steps.size:
                ax.plot(steps, _nanmean(values), color=PALETTE[j % len(PALETTE)], linewidth=1.2,
                        label=p.removesuffix(".weight"))
        ax.set(title=f"{v}: per layer (weights)", xlabel="training step")
    for ax in axes:
        ax.set_yscale("log")
        _plain_log_ticks(ax)
        _style(ax)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7.5)
    return fig


def grad_norms_section(runs: list[Any], ctx: ReportContext) -> Section | None:
    """Gradient norms over training, total and per layer."""
    g_runs = _grad_runs(ctx)
    if not g_runs:
        return None
    params = _weight_params(g_runs)
    first = next(iter(g_runs.values()))[0]
    settings = _diag(first, "grad_norms").get("settings") or {}
    sec = Section("Gradient norms", "grad-norms")
    sec.add(f"The norm of the gradient each scheduled step used (every {settings.get('every', '?')} steps and step 0): "
            "in total and per layer's weight tensor, mean over seeds, log scale. Every parameter tensor's norm, "
            "biases and norm-layer parameters included, is in the database.")
    shown = list(g_runs)[:MAX_GRAD_PANELS]
    sec.add(ctx.figure(_figure_style()(_grad_figure)(ctx, g_runs, params),
                       "Gradient norm over training steps, mean over seeds: total (left), then per weight tensor for "
                       + ", ".join(shown) + (f" (the first {MAX_GRAD_PANELS} variants)" if len(g_runs) > len(shown)
                                             else "") + ".",
                       "Gradient norms over training steps per variant and layer"))
    rows, parts = [], []
    for v, rs in g_runs.items():
        steps, total = _grad_series(rs, None)
        if not steps.size:
            continue
        mean_total = _nanmean(total)
        first_layer = _grad_series(rs, params[0])[1] if params else np.empty((0, 0))
        last_layer = _grad_series(rs, params[-1])[1] if params else np.empty((0, 0))
        ratio = (float(np.nanmean(_nanmean(first_layer) / _nanmean(last_layer)))
                 if first_layer.size and last_layer.size else math.nan)
        rows.append([v, str(len(rs)), _fmt(mean_total[0]), _fmt(mean_total[-1]), _fmt(ratio, 2)])
        parts.append(f"from {_fmt(mean_total[0])} at step {int(steps[0])} to {_fmt(mean_total[-1])} at step "
                     f"{int(steps[-1])} with {v}"
                     + (f" (first-to-last-layer ratio {_fmt(ratio, 2)})" if _finite(ratio) else ""))
    if rows and params:
        sec.add(Table([Column("Variant", kind="variant"), num("Runs"), num("first record"), num("last record"),
                       num(f"{params[0]} / {params[-1]}")], rows,
                      caption="Total gradient norm at the first and last record, and the ratio of the first to the last "
                              "layer's weight-gradient norm (mean over records)"))
    if parts:
        sec.add(Paragraph("The total gradient norm went " + "; ".join(parts) + ". A ratio far from 1 means the first "
                          "and last layers receive gradients of very different sizes.", "reading"))
    note = _cost_note((r for rs in g_runs.values() for r in rs), "grad_norms", "gradient norms")
    if note:
        sec.add(note)
    return sec


# --------------------------------------------------------------------------------------------
# Grids: accuracy against a swept setting
# --------------------------------------------------------------------------------------------


def _grid(ctx: ReportContext, key: str) -> dict[str, dict[Any, list[Any]]]:
    """Runs by model and by the value of config ``key``, for models run at two or more values.

    Empty unless the variants form a sweep over ``key`` by the report's one grid rule
    (:func:`normlab.report.study.detect_grid`, one model allowed): apart from the model and
    ``key``, no config field may differ, except a learning rate scaled linearly with the batch
    size in a batch-size sweep. So batch-size-scaled, whose learning rate changes with the batch
    size, gets a batch-size section and no learning-rate one.
    """
    grid = detect_grid(ctx.variants, ctx.runs, key=key, min_models=1)
    if grid is None:
        return {}
    by_model: dict[str, dict[Any, list[Any]]] = defaultdict(dict)
    for (model, value), variant in grid.cells.items():
        by_model[model][value] = list(ctx.runs.get(variant, []))
    return {m: dict(sorted(vals.items())) for m, vals in by_model.items() if len(vals) >= 2}


def _cell(runs: list[Any], confidence: float) -> dict[str, Any]:
    done = [r for r in runs if r.status == "done" and _finite(_final(r))]
    finals = [_final(r) for r in done]
    mean, lo, hi = stats.mean_ci(finals, confidence) if finals else (math.nan,) * 3
    diverged = sum(1 for r in runs if r.status == "diverged")
    failed = sum(1 for r in runs if r.status not in ("done", "diverged"))
    return {"n": len(runs), "done": len(done), "diverged": diverged, "failed": failed, "mean": mean, "low": lo,
            "high": hi, "finals": {int(r.seed): _final(r) for r in done},
            "trains": bool(done) and not diverged and not failed and mean >= TRAINS_ACCURACY}


def _model_colors(models: list[str]) -> dict[str, str]:
    from normlab.report.study_figures import variant_color

    return {m: variant_color(i) for i, m in enumerate(models)}


def _sweep_figure(cells: dict[str, dict[Any, dict]], *, xlabel: str, title: str, log_base: float,
                  highest: dict[str, Any] | None = None, confidence: float):
    from matplotlib.ticker import NullLocator

    fig = _new_figure(7.5, 4.4)
    ax = fig.subplots()
    colors = _model_colors(list(cells))
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
    _style(ax)
    # Below the axes, so the legend never hides a curve, whatever the grid's accuracies.
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(handles), 4), fontsize=8.5)
    return fig


def _sweep_table(cells: dict[str, dict[Any, dict]], setting: str, fmt_x, conf: str) -> Table:
    """One row per value of the swept setting, one column per model: mean and interval, failures noted."""
    xs = sorted({x for by_x in cells.values() for x in by_x})
    rows = []
    for x in xs:
        row = [fmt_x(x)]
        for m, by_x in cells.items():
            c = by_x.get(x)
            if c is None:
                row.append("—")
                continue
            text = fmt_pct(c["mean"])
            if _finite(c["low"]):
                text += f" ({fmt_interval((c['low'], c['high']))})"
            bad = [f"{c['diverged']} diverged"] * bool(c["diverged"]) + [f"{c['failed']} failed"] * bool(c["failed"])
            if bad:
                text += "; " + ", ".join(bad)
            if setting == "learning rate" and c["trains"]:
                text += " ✓"
            row.append(text)
        rows.append(row)
    notes = [f"Mean final validation accuracy over the finished runs, with its {conf} t-interval; "
             "diverged and failed runs are counted apart."]
    if setting == "learning rate":
        notes.append(f"✓: the rate trains the model (no run diverged or failed, mean ≥ {TRAINS_ACCURACY * 100:g}%).")
    notes += clipped_notes(rows)
    return Table([num(setting), *[num(f"{m} (%)") for m in cells]], rows,
                 caption=f"Final validation accuracy by {setting} and model", notes=notes)


def lr_section(runs: list[Any], ctx: ReportContext) -> Section | None:
    """Final accuracy against learning rate per model, and the highest rate that still trains."""
    grid = _grid(ctx, "lr")
    if not grid:
        return None
    conf = f"{ctx.confidence * 100:g}%"
    cells = {m: {float(lr): _cell(rs, ctx.confidence) for lr, rs in by_lr.items()} for m, by_lr in grid.items()}
    highest = {m: max((lr for lr, c in by_lr.items() if c["trains"]), default=None) for m, by_lr in cells.items()}
    sec = Section("Accuracy against learning rate", "learning-rate")
    sec.add(f"Each model trained at every learning rate of the grid, with the same seeds. The line is the mean final "
            f"validation accuracy over seeds, the band its {conf} t interval, dots the seeds; a cross at 10% marks a "
            f"rate at which a run diverged. A rate \u201ctrains\u201d a model when none of its runs diverged or failed "
            f"and their mean final accuracy is at least {TRAINS_ACCURACY * 100:g}%; the star marks the highest such "
            "rate.")
    sec.add(ctx.figure(_figure_style()(_sweep_figure)(cells, xlabel="learning rate (log scale)",
                                                      title="final accuracy against learning rate",
                                                      log_base=10, highest=highest, confidence=ctx.confidence),
                       f"Final validation accuracy against learning rate per model: mean over seeds, {conf} t band, "
                       "dots: seeds; star: the highest rate that trains; dotted line: the "
                       f"{TRAINS_ACCURACY * 100:g}% threshold.",
                       "Final accuracy against learning rate per model"))
    sec.add(_sweep_table(cells, "learning rate", _lr_text, conf))
    sec.add(Paragraph(_lr_reading(ctx, cells, highest), "reading"))
    sec.summary = _lr_summary(cells, highest)
    return sec


def _lr_summary(cells: dict[str, dict[float, dict]], highest: dict[str, float | None]) -> str:
    """The lr reading in one sentence, for the headline."""
    words = [f"{_lr_text(lr)} for {m}" if lr is not None else f"none of the grid's for {m}" for m, lr in highest.items()]
    text = (f"Learning-rate sweep: the highest rate that trains (no diverged or failed run, mean final accuracy "
            f"≥ {TRAINS_ACCURACY * 100:g}%) is {_join(words)}")
    plain = [m for m in cells if _norm(m) == "none"]
    normed = [m for m in cells if _norm(m) not in (None, "none")]
    if not plain or not normed:
        return text + "."
    base = plain[0]
    verdicts = []
    for m in normed:
        a, b = highest[base], highest[m]
        if b is None:
            verdicts.append(f"{m} trains at no rate, so this run does not support Bjorck et al. (2018) for it")
        elif a is None:
            verdicts.append(f"{m} trains where {base} trains at no rate, as Bjorck et al. (2018) report batch norm "
                            "allows")
        elif b > a:
            verdicts.append(f"{m}'s is {b / a:.3g} times {base}'s, as Bjorck et al. (2018) report batch norm allows")
        elif b == a:
            verdicts.append(f"{m} and {base} share it, so this run does not show batch norm allowing larger rates "
                            "(Bjorck et al. 2018)" + (" within the grid, which stops there" if b == max(cells[m]) else ""))
        else:
            verdicts.append(f"{m}'s is below {base}'s, against Bjorck et al. (2018)")
        top = max(set(cells[m]) & set(cells[base]), default=None)
        if top is not None:
            verdicts[-1] += (f"; at the largest rate, {_lr_text(top)}, {base} ends at "
                             f"{fmt_pct(cells[base][top]['mean'], unit=True)} and {m} at "
                             f"{fmt_pct(cells[m][top]['mean'], unit=True)}")
    return text + ": " + "; ".join(verdicts) + "."


def _lr_reading(ctx: ReportContext, cells: dict[str, dict[float, dict]], highest: dict[str, float | None]) -> str:
    claim = ("Bjorck et al. (2018) find that batch norm's main benefit is that it lets a network train at larger "
             "learning rates; Ioffe & Szegedy (2015) trained their BN networks at 5 and 30 times the base rate.")
    words = []
    for m, lr in highest.items():
        words.append(f"{m} trains up to {_lr_text(lr)}" if lr is not None else f"{m} trains at no rate of the grid")
    best = {m: max(by_lr, key=lambda lr: by_lr[lr]["mean"] if _finite(by_lr[lr]["mean"]) else -1)
            for m, by_lr in cells.items()}
    best_words = [f"{m} is best at {_lr_text(lr)} ({fmt_pct(cells[m][lr]['mean'], unit=True)})" for m, lr in best.items()]
    text = f"{claim} Here {_join(words)}; {_join(best_words)}."
    plain = [m for m in cells if _norm(m) == "none"]
    normed = [m for m in cells if _norm(m) not in (None, "none")]
    if not plain or not normed:
        return text + " The study has no plain and normalised model to set side by side, so the claim is not tested."
    base = plain[0]
    verdicts = []
    for m in normed:
        top = max(cells[m])
        a, b = highest[base], highest[m]
        if b is None:
            verdicts.append(f"{m} trains at no rate, so this run does not support the claim for it")
        elif a is None:
            verdicts.append(f"{m} trains up to {_lr_text(b)} where {base} trains at none: this run agrees")
        elif b > a:
            verdicts.append(f"{m}'s highest trainable rate is {b / a:.3g} times {base}'s: this run agrees")
        elif b == a:
            verdicts.append(f"{m} and {base} share the same highest trainable rate"
                            + (", the top of the grid, so the grid does not reach the rates where they could differ"
                               if b == top else "") + ": this run does not show the claim")
        else:
            verdicts.append(f"{m}'s highest trainable rate is below {base}'s: this run disagrees")
        top_common = max(set(cells[m]) & set(cells[base]), default=None)
        if top_common is not None:
            verdicts[-1] += (f" (at the grid's largest rate, {_lr_text(top_common)}, {base} ends at "
                             f"{fmt_pct(cells[base][top_common]['mean'], unit=True)} and {m} at "
                             f"{fmt_pct(cells[m][top_common]['mean'], unit=True)})")
    return text + " So " + "; ".join(verdicts) + "."


def batch_size_section(runs: list[Any], ctx: ReportContext) -> Section | None:
    """Final accuracy against batch size per model (Wu & He 2018, figure 1)."""
    grid = _grid(ctx, "batch_size")
    if not grid:
        return None
    conf = f"{ctx.confidence * 100:g}%"
    cells = {m: {int(bs): _cell(rs, ctx.confidence) for bs, rs in by_bs.items()} for m, by_bs in grid.items()}
    sec = Section("Accuracy against batch size", "batch-size")
    rule = _lr_rule(grid)
    sec.add(f"Each model trained at every batch size for the same number of epochs (so smaller batches take more, "
            f"noisier steps), with the same seeds; {rule}. The line is the mean final validation accuracy over seeds, "
            f"the band its {conf} t interval, dots the seeds.")
    sec.add(ctx.figure(_figure_style()(_sweep_figure)(cells, xlabel="batch size (log scale)",
                                                      title="final accuracy against batch size", log_base=2,
                                                      confidence=ctx.confidence),
                       f"Final validation accuracy against batch size per model: mean over seeds, {conf} t band, "
                       "dots: seeds.", "Final accuracy against batch size per model"))
    sec.add(_sweep_table(cells, "batch size", lambda x: str(x), conf))
    text, summary = _batch_reading(ctx, cells)
    sec.add(Paragraph(text, "reading"))
    sec.summary = summary
    return sec


def _lr_rule(grid: dict[str, dict[Any, list[Any]]]) -> str:
    pairs = {(int(bs), float(_config(r).get("lr", math.nan))) for by_bs in grid.values()
             for bs, rs in by_bs.items() for r in rs}
    lrs = {lr for _, lr in pairs}
    if len(lrs) == 1:
        return f"the learning rate was held fixed at {_lr_text(next(iter(lrs)))}"
    per_image = {round(lr / bs, 12) for bs, lr in pairs}
    if len(per_image) == 1:
        bs, lr = min(pairs)
        return (f"the learning rate was scaled with the batch size (linear scaling rule, {_lr_text(lr)} at batch "
                f"{bs}, {_lr_text(lr / bs * 64)} at 64)")
    return "the learning rate differed between runs without a single rule"


def _batch_reading(ctx: ReportContext, cells: dict[str, dict[int, dict]]) -> tuple[str, str]:
    """The batch-size reading, and its conclusion in one sentence for the headline (or ``""``)."""
    claim = ("Wu & He (2018, figure 1) found batch norm's ImageNet error rising from 23.6% at 32 images per GPU to "
             "34.7% at 2, while group norm stayed at about 24% across batch sizes.")
    drops, parts = {}, []
    for m, by_bs in cells.items():
        small, large = min(by_bs), max(by_bs)
        cmp = _paired(by_bs[large]["finals"], by_bs[small]["finals"], ctx.confidence, f"{m} bs={large}",
                      f"{m} bs={small}")
        drops[m] = (small, large, cmp)
        if cmp is not None and _finite(cmp.mean_difference):
            parts.append(f"{m} {fmt_pct(by_bs[large]['mean'], unit=True)} at batch {large} and "
                         f"{fmt_pct(by_bs[small]['mean'], unit=True)} at {small} (change "
                         + _difference_words(cmp, ctx.alpha) + ")")
    text = f"{claim} Here the mean final accuracy is " + (_join(parts, "and") if parts else "not available") + "."
    bn = [m for m in cells if _norm(m) == "batch"]
    gn = [m for m in cells if _norm(m) == "group"]
    if not bn or not gn:
        return text + (" The study lacks a batch-norm or a group-norm model, so the comparison of the two is not "
                       "made."), ""
    b, g = bn[0], gn[0]
    sb, lb, cb = drops[b]
    sg, lg, cg = drops[g]
    if cb is None or cg is None or (sb, lb) != (sg, lg):
        return text + f" {b} and {g} were not run at the same batch sizes and seeds, so their changes are not compared.", ""
    # Per seed, each model's change from the large to the small batch, paired by seed.
    bn_change = {s: cells[b][sb]["finals"][s] - cells[b][lb]["finals"][s] for s in cells[b][sb]["finals"]
                 if s in cells[b][lb]["finals"]}
    gn_change = {s: cells[g][sg]["finals"][s] - cells[g][lg]["finals"][s] for s in cells[g][sg]["finals"]
                 if s in cells[g][lg]["finals"]}
    diff = _paired(bn_change, gn_change, ctx.confidence, f"{b} change", f"{g} change")
    if diff is None or not _finite(diff.mean_difference):
        return text + " No seed has both models at both batch sizes, so their changes are not compared.", ""
    # diff = GN's change - BN's change; positive means BN lost more accuracy going to small batches.
    lost_more = diff.mean_difference
    sig = _significance(diff, ctx.alpha)
    if lost_more > 0 and sig == "significant":
        verdict = "this run agrees: batch norm loses significantly more than group norm at small batches"
    elif lost_more > 0:
        verdict = f"the direction agrees (batch norm loses more than group norm), but the difference is {sig}"
    else:
        verdict = "this run does not agree: batch norm does not lose more than group norm at small batches"
    compared = (f"batch norm lost {fmt_pp(lost_more, unit=True, signed=False)} more than group norm" if lost_more > 0
                else f"batch norm fared {fmt_pp(-lost_more, unit=True, signed=False)} better than group norm")
    interval = (f" (group norm's change minus batch norm's: {diff.confidence * 100:g}% CI "
                f"{fmt_interval(diff.ci, pp=True)} pp)" if diff.ci.defined else "")
    finding = (f"going from batch {lb} to {sb}, {b} changed by {fmt_pp(cb.mean_difference, unit=True)} and {g} by "
               f"{fmt_pp(cg.mean_difference, unit=True)}: {compared}{interval}, so {verdict}")
    return (text + f" {finding[0].upper()}{finding[1:]}.",
            f"Batch-size sweep (Wu & He 2018: batch norm degrades at small batches, group norm does not): {finding}.")


# --------------------------------------------------------------------------------------------
# Placement, noisy batch norm, the mode bug
# --------------------------------------------------------------------------------------------


def _seed_finals(ctx: ReportContext, variant: str) -> dict[int, float]:
    return {int(r.seed): _final(r) for r in ctx.done(variant) if _finite(_final(r))}


def placement_section(runs: list[Any], ctx: ReportContext) -> Section | None:
    """Batch norm before or after the activation, in the conv layers only or everywhere."""
    info = {}
    for v in ctx.variants:
        opts = _model_options(_variant_model(ctx, v))
        if opts.get("norm") == "batch" and ctx.done(v):
            info[v] = (opts.get("norm_position"), opts.get("norm_in"))
    if len(info) < 2 or len(set(info.values())) < 2:
        return None
    reference = next((v for v, o in info.items() if o == ("after", "conv")), next(iter(info)))
    sec = Section("Where batch norm goes", "placement")
    sec.add(f"Batch-norm variants differing in where the layer sits: after the activation (the post) or before it "
            f"(Ioffe & Szegedy, section 3.2, normalise Wx + b), and in the convolutional layers only (the post) or "
            f"also in the hidden fully-connected layers. Each is compared seed by seed with {reference}.")
    rows, words = [], []
    ref = _seed_finals(ctx, reference)
    for v, (pos, where) in info.items():
        s = ctx.summaries[v].final
        cmp = None if v == reference else _paired(ref, _seed_finals(ctx, v), ctx.confidence, reference, v)
        rows.append([v, pos or NA, "conv + fc" if where == "all" else "conv", fmt_pct(s.mean),
                     fmt_interval(s.t_ci), fmt_pp(cmp.mean_difference) if cmp else "—",
                     fmt_interval(cmp.ci, pp=True) if cmp else "—", fmt_p(cmp.t_pvalue) if cmp else "—"])
        if cmp is not None:
            words.append(f"{v} (BN {pos} the activation, {'conv and fc' if where == 'all' else 'conv only'}) "
                         + _difference_words(cmp, ctx.alpha))
    conf = f"{ctx.confidence * 100:g}%"
    sec.add(Table([Column("Variant", kind="variant"), "Position", Column("Layers", nowrap=True), num("mean final (%)"),
                   num(f"{conf} t-interval (%)"), num(f"− {reference} (pp)"), num(f"{conf} CI (pp)"),
                   num("paired t p")], rows, caption="Final validation accuracy by batch-norm placement",
                  notes=clipped_notes(rows)))
    before = [v for v, o in info.items() if o[0] == "before"]
    claim = ("Ioffe & Szegedy put batch norm before the nonlinearity, arguing its input Wx + b is \u201cmore likely to "
             "have a symmetric, non-sparse distribution\u201d; they did not compare the two positions, and the post "
             "puts it after.")
    text = f"{claim} Against {reference}: " + "; ".join(words) + "."
    sig = [v for v in info if v != reference
           and (cmp := _paired(ref, _seed_finals(ctx, v), ctx.confidence, reference, v)) is not None
           and is_significant(cmp, ctx.alpha)]
    if not before:
        text += " No variant puts batch norm before the activation."
    elif sig:
        text += f" So placement matters here for {_join(sig)}."
    else:
        text += " So no placement differs significantly from the post's in these runs."
    sec.add(Paragraph(text, "reading"))
    if sig:
        sec.summary = ("Batch-norm placement: against " + reference + ", "
                       + "; ".join(f"{v} differs by " + _difference_words(
                           _paired(ref, _seed_finals(ctx, v), ctx.confidence, reference, v), ctx.alpha) for v in sig)
                       + "; the other placements do not differ significantly.")
    else:
        sec.summary = (f"Batch-norm placement: no placement differs significantly from {reference} in final "
                       "accuracy.")
    return sec


def noisy_bn_section(runs: list[Any], ctx: ReportContext) -> Section | None:
    """Noisy batch norm against batch norm and the plain network (Santurkar et al. 2018, figure 2)."""
    noisy = [v for v in ctx.variants if _norm(_variant_model(ctx, v)) == "noisy-batch" and ctx.done(v)]
    if not noisy:
        return None
    plain = [v for v in ctx.variants if _norm(_variant_model(ctx, v)) == "none" and ctx.done(v)]
    bn = [v for v in ctx.variants if _norm(_variant_model(ctx, v)) == "batch" and ctx.done(v)]
    sec = Section("Noisy batch norm", "noisy-bn")
    sec.add("Noisy batch norm (Santurkar et al. 2018, Algorithm 1) scales and shifts every batch-norm output by random "
            "noise whose mean and scale change at every step (per unit μ ~ U(−0.5, 0.5), σ ~ U(1, 1.25); per sample "
            "m ~ U(μ ± 0.1), s ~ N(σ, 0.1); a ← s·a + m), injecting the distribution shift batch norm is said to "
            "remove. In evaluation it is plain batch norm.")
    conf = f"{ctx.confidence * 100:g}%"
    rows, sentences, checks = [], [], []
    for v in noisy:
        mine = _seed_finals(ctx, v)
        for other, role in [(o, "batch norm") for o in bn[:1]] + [(o, "no norm") for o in plain[:1]]:
            cmp = _paired(_seed_finals(ctx, other), mine, ctx.confidence, other, v)
            if cmp is None:
                continue
            rows.append([f"{v} − {other}", str(cmp.n_pairs), fmt_pct(cmp.mean_b), fmt_pct(cmp.mean_a),
                         fmt_pp(cmp.mean_difference), fmt_interval(cmp.ci, pp=True), fmt_p(cmp.t_pvalue)])
            sentences.append(f"against {other} ({role}) {v} differs by " + _difference_words(cmp, ctx.alpha))
            checks.append((role, cmp))
    if rows:
        sec.add(Table(["Comparison", num("Pairs"), num("mean noisy (%)"), num("mean other (%)"),
                       num("difference (pp)"), num(f"{conf} CI (pp)"), num("paired t p")], rows,
                      caption="Final validation accuracy: noisy batch norm against the others, seed by seed"))
    claim = ("Santurkar et al. (2018, figure 2) report that the noisy network trains about as well as with standard "
             "batch norm, and better than without it, although its layer inputs are far less stable: stable "
             "distributions are not what makes batch norm work.")
    verdicts = []
    for role, cmp in checks:
        if role == "batch norm":
            verdicts.append(_equivalence_words(cmp, ctx.alpha))
        else:
            if cmp.mean_difference > 0 and is_significant(cmp, ctx.alpha):
                verdicts.append("it is significantly better than no norm, which agrees")
            elif cmp.mean_difference > 0:
                verdicts.append("it is ahead of no norm, but not significantly")
            else:
                verdicts.append("it is not better than no norm, which does not agree")
    text = f"{claim} Here, {'; '.join(sentences) if sentences else 'there is nothing to compare it with'}."
    if verdicts:
        text += " So " + "; ".join(verdicts) + "."
    if any(role == "batch norm" for role, _ in checks):
        text += (f" (\u201cAbout as well\u201d is tested as equivalence: noisy BN and BN count as training equally "
                 f"well only when the {conf} CI of their difference lies within ±{EQUIVALENCE_MARGIN * 100:g} pp, the "
                 "equivalence margin; with a few seeds, finding no significant difference does not show that.)")
        sec.summary = ("Noisy batch norm (Santurkar et al. 2018 report it trains about as well as batch norm, and "
                       "better than no norm): " + "; ".join(verdicts) + ".")
    act = _activation_runs(ctx)
    if bn and bn[0] in act and noisy[0] in act:
        layers = _layer_names(act)
        drift = {v: np.mean([x for x in (_drift(r, layers[-1]) for r in act[v]) if _finite(x)] or [math.nan])
                 for v in (bn[0], noisy[0])}
        if all(_finite(x) for x in drift.values()):
            more = drift[noisy[0]] > drift[bn[0]]
            text += (f" In the recorded activations the median drift at {layers[-1]} is {_fmt(drift[noisy[0]], 2)} with "
                     f"{noisy[0]} against {_fmt(drift[bn[0]], 2)} with {bn[0]}: the injected noise "
                     f"{'did' if more else 'did not'} make that layer's inputs less stable.")
    sec.add(Paragraph(text, "reading"))
    return sec


def _equivalence_words(cmp: _Paired, alpha: float, margin: float = EQUIVALENCE_MARGIN) -> str:
    """Noisy BN against BN: worse, equivalent within ``margin``, better, or not told apart."""
    conf = f"{cmp.confidence * 100:g}%"
    numbers = (f"difference {fmt_pp(cmp.mean_difference, unit=True)}, {conf} CI {fmt_interval(cmp.ci, pp=True)} pp"
               if cmp.ci.defined else f"difference {fmt_pp(cmp.mean_difference, unit=True)}, no interval from "
                                      f"{plural(cmp.n_pairs, 'seed')}")
    band = f"±{margin * 100:g} pp"
    within = cmp.ci.defined and -margin <= cmp.ci.low and cmp.ci.high <= margin
    if is_significant(cmp, alpha) and cmp.mean_difference < 0 and not within:
        return f"noisy BN is significantly worse than BN ({numbers}), which does not agree"
    if within:
        return (f"noisy BN and BN train equally well within the {band} equivalence margin ({numbers}, inside "
                f"{band}), which agrees")
    if is_significant(cmp, alpha):
        return (f"noisy BN is significantly better than BN ({numbers}): the noise did not hurt, which agrees with "
                "the claim that stable distributions are not what makes batch norm work")
    if not cmp.ci.defined:
        return (f"these runs could not tell noisy BN and BN apart ({numbers}), so they cannot say whether the two "
                "train equally well")
    return (f"these runs could not tell noisy BN and BN apart ({numbers}), but the interval reaches beyond the "
            f"{band} equivalence margin, so they do not show that the two train equally well either")


def mode_bug_section(runs: list[Any], ctx: ReportContext) -> Section | None:
    """The post's protocol against the standard one: what training in eval mode did."""
    by: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for v in ctx.variants:
        rs = ctx.done(v)
        if rs:
            cfg = _config(rs[0])
            by[str(cfg.get("model"))][str(cfg.get("protocol"))].append(v)
    models = {m: p for m, p in by.items() if p.get("blog") and p.get("standard")}
    if not models:
        return None
    conf = f"{ctx.confidence * 100:g}%"
    sec = Section("The post's eval-mode bug", "mode-bug")
    sec.add("The post calls model.train() once; its accuracy function then switches to eval mode and nothing switches "
            "back, so from epoch 2 on its batch-norm network trains with BN's running statistics instead of batch "
            "statistics. Its protocol also skips shuffling and feeds softmax probabilities into the cross-entropy "
            "loss. A network without batch norm behaves the same in both modes, so its blog − standard gap measures "
            "those other differences; subtracting it from batch norm's gap estimates what the eval-mode training "
            "did, assuming the other differences affect both networks alike.")
    gaps, rows = {}, []
    for m, protocols in models.items():
        blog, std = protocols["blog"][0], protocols["standard"][0]
        cmp = _paired(_seed_finals(ctx, std), _seed_finals(ctx, blog), ctx.confidence, std, blog)
        gaps[m] = (cmp, {s: _seed_finals(ctx, blog)[s] - _seed_finals(ctx, std)[s]
                         for s in set(_seed_finals(ctx, blog)) & set(_seed_finals(ctx, std))})
        if cmp is not None:
            rows.append([m, str(cmp.n_pairs), fmt_pct(cmp.mean_a), fmt_pct(cmp.mean_b), fmt_pp(cmp.mean_difference),
                         fmt_interval(cmp.ci, pp=True), fmt_p(cmp.t_pvalue)])
    sec.add(Table([Column("Model"), num("Pairs"), num("standard (%)"), num("blog (%)"),
                   num("blog − standard (pp)"), num(f"{conf} CI (pp)"), num("paired t p")], rows,
                  caption="Final validation accuracy under the two protocols, seed by seed"))
    bn = [m for m in models if _norm(m) in ("batch", "noisy-batch")]
    plain = [m for m in models if _norm(m) == "none"]
    claim = ("The post reports that batch norm lifted LeNet-5 from just above 98% to about 98.5% after 10 epochs, "
             "measured under its own protocol.")
    parts = [f"{m}: blog − standard " + _difference_words(gaps[m][0], ctx.alpha) for m in models if gaps[m][0]]
    text = f"{claim} Here, {'; '.join(parts)}."
    if bn and plain:
        b, p = bn[0], plain[0]
        did = _paired(gaps[p][1], gaps[b][1], ctx.confidence, f"{p} gap", f"{b} gap")
        if did is not None and _finite(did.mean_difference):
            sig = _significance(did, ctx.alpha)
            effect = ("lowered" if did.mean_difference < 0 else "raised") if sig == "significant" else "did not measurably change"
            gap = (f"{fmt_pp(did.mean_difference, unit=True)}"
                   + (f" ({conf} CI {fmt_interval(did.ci, pp=True)} pp, {sig})" if did.ci.defined else f" ({sig})"))
            finding = (f"training in eval mode {effect} {b}'s accuracy, and the post's BN advantage of "
                       f"{fmt_pp(_advantage(ctx, models, b, p, 'blog'), unit=True)} under its protocol is "
                       f"{fmt_pp(_advantage(ctx, models, b, p, 'standard'), unit=True)} under the standard one")
            text += f" Batch norm's gap minus the plain network's is {gap}: {finding}."
            sec.summary = (f"The post's eval-mode bug: batch norm's blog − standard gap minus the plain network's is "
                           f"{gap}, so {finding}.")
    elif not plain:
        text += " Without a plain network under both protocols the eval-mode effect cannot be separated from the " \
                "protocol's other differences."
    sec.add(Paragraph(text, "reading"))
    return sec


def _advantage(ctx: ReportContext, models: dict, bn: str, plain: str, protocol: str) -> float:
    b = _seed_finals(ctx, models[bn][protocol][0])
    p = _seed_finals(ctx, models[plain][protocol][0])
    seeds = set(b) & set(p)
    return float(np.mean([b[s] - p[s] for s in seeds])) if seeds else math.nan


# The grid sections first (they answer the preset's question), then the measurements behind them.
for _builder in (lr_section, batch_size_section, placement_section, noisy_bn_section, mode_bug_section,
                 activations_section, smoothness_section, grad_norms_section):
    register_section(_builder)
