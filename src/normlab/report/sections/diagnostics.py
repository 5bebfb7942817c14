"""The diagnostics sections: activation statistics, loss-landscape smoothness and gradient norms.

Each appears when some finished run recorded its diagnostic, and is built from the records
themselves; the activation and smoothness sections end with a computed reading of the paper
behind them (:mod:`normlab.report.readings`).

The activation reading tests Ioffe & Szegedy's figure 1, which follows a nonlinearity whose input
is a batch-norm output (they normalise ``Wx + b``, before the nonlinearity). It reads the last
nonlinearity whose input is a norm layer's output in some variant (``norm_position=before``, in a
layer the norm covers: :func:`normalised_inputs`), and sets those variants against the plain
network of the same architecture; a study without such a variant gets no verdict. The smoothness
section says which direction its walk followed (the optimizer's update or the raw gradient) and
under which optimizer, from the records' settings and the runs' configs.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Iterable

import numpy as np

from normlab.report import phrasing
from normlab.report.context import ReportContext, diagnostic, model_options, norm_of, run_config
from normlab.report.document import Paragraph, Section, Table, num
from normlab.report.figures.base import report_figure
from normlab.report.figures.diagnostics import (
    MAX_ACTIVATION_ROWS, MAX_GRAD_PANELS, activation_figure, grad_norms_figure, smoothness_figure,
)
from normlab.report.format import finite, fmt_g, join_words, plural
from normlab.report.readings import Reading
from normlab.report.sections.core import variant_column

__all__ = ["activations_section", "grad_norms_section", "mean_drift", "normalised_inputs", "optimizer_name",
           "smoothness_section"]

_SMOOTH_MEASURES = ("loss range", "gradient change", "β-smoothness")


def _recorded(ctx: ReportContext, name: str) -> dict[str, list[Any]]:
    """The finished runs that recorded diagnostic ``name``, by variant (variants without any left out)."""
    out = {v: [r for r in ctx.done(v) if diagnostic(r, name)] for v in ctx.variants}
    return {v: rs for v, rs in out.items() if rs}


def _float(v: Any) -> float:
    return float(v) if finite(v) else math.nan


def _nanmean(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """The mean over seeds, ignoring NaN (and staying quiet about all-NaN columns)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


def _series(runs: Iterable[Any], name: str, pick: Callable[[dict], Any]) -> tuple[np.ndarray, np.ndarray]:
    """The runs' series ``pick(record)`` of diagnostic ``name`` on their common steps: ``(steps, values[seed, step])``."""
    series = [(d["step"], values) for d in (diagnostic(r, name) for r in runs) if (values := pick(d))]
    if not series:
        return np.array([]), np.empty((0, 0))
    steps = np.array(sorted(set.intersection(*(set(s) for s, _ in series))))
    rows = []
    for s, v in series:
        where = {st: i for i, st in enumerate(s)}
        rows.append([_float(v[where[st]]) for st in steps])
    return steps, np.array(rows, dtype=float)


def _mean_series(runs: Iterable[Any], name: str, pick: Callable[[dict], Any]) -> tuple[np.ndarray, np.ndarray]:
    steps, values = _series(runs, name, pick)
    return steps, (_nanmean(values) if steps.size else np.array([]))


def _settings(runs: dict[str, list[Any]], name: str) -> dict:
    return diagnostic(next(iter(runs.values()))[0], name).get("settings") or {}


def _cost_note(runs: dict[str, list[Any]], name: str, what: str) -> Paragraph | None:
    """A note on what recording ``name`` cost, from the runs' ``cost`` diagnostics."""
    costs = [((getattr(r, "diagnostics", None) or {}).get("cost") or {}).get("measurements", {}).get(name)
             for rs in runs.values() for r in rs]
    costs = [c for c in costs if isinstance(c, dict)]

    def values(key: str) -> list[float]:
        return [c[key] for c in costs if finite(c.get(key))]

    fractions = values("fraction_of_step")
    if not fractions:
        return None
    return Paragraph(
        f"Cost of recording {what}: {np.mean(values('mean_seconds')) * 1000:.1f} ms per record on average, "
        f"{np.mean(fractions):.2g} training steps' worth, {np.mean(values('share_of_training')) * 100:.2g}% of the "
        f"training time (mean over {plural(len(fractions), 'run')}; the diagnostics' \"cost\" entry has each run's).",
        "note")


def _split(ctx: ReportContext, variants: Iterable[str], *, noisy_apart: bool) -> tuple[list, list, list]:
    """The variants without normalisation, with it, and (with ``noisy_apart``) with noisy batch norm."""
    norms = {v: norm_of(ctx.model(v)) for v in variants}
    apart = ("noisy-batch",) if noisy_apart else ()
    return ([v for v, n in norms.items() if n == "none"],
            [v for v, n in norms.items() if n not in (None, "none", *apart)],
            [v for v, n in norms.items() if n in apart])


# --------------------------------------------------------------------------------------------
# Activation statistics (Ioffe & Szegedy 2015, figure 1)
# --------------------------------------------------------------------------------------------


def _layer_names(runs: dict[str, list[Any]]) -> list[str]:
    return list(dict.fromkeys(name for rs in runs.values() for r in rs
                              for name in (diagnostic(r, "activations").get("stats") or {})))


def _drift(run: Any, layer: str) -> float:
    d = diagnostic(run, "activations") or {}
    return _float(((d.get("drift") or {}).get(layer) or {}).get("mean_drift"))


def _mean(values: Iterable[float]) -> float:
    values = [x for x in values if finite(x)]
    return float(np.mean(values)) if values else math.nan


def mean_drift(ctx: ReportContext, variants: list[str]) -> tuple[str, dict[str, float]] | None:
    """The last recorded layer and each variant's mean drift there, when every variant recorded a finite one."""
    runs = _recorded(ctx, "activations")
    layers = _layer_names(runs)
    if not layers or not all(v in runs for v in variants):
        return None
    layer = layers[-1]
    drift = {v: _mean(_drift(r, layer) for r in runs[v]) for v in variants}
    return (layer, drift) if all(finite(x) for x in drift.values()) else None


#: LeNet-5's nonlinearities by the layers a norm covers (``norm_in``): stage i's activation is ``act{i}``.
_NORMED_STAGES = {"conv": ("act1", "act2"), "all": ("act1", "act2", "act3", "act4")}
#: The options that do not describe the norm: equal in a normalised model and its plain control.
_NORM_OPTIONS = ("norm", "norm_position", "norm_in")


def normalised_inputs(spec: str) -> tuple[str, ...]:
    """The nonlinearities of model ``spec`` whose input is a norm layer's output (norm before the activation)."""
    opts = model_options(spec)
    if opts.get("norm") in (None, "none") or opts.get("norm_position") != "before":
        return ()
    return _NORMED_STAGES.get(opts.get("norm_in"), ())


def _architecture(spec: str) -> dict[str, Any]:
    return {k: v for k, v in model_options(spec).items() if k not in _NORM_OPTIONS}


def _drift_layer(ctx: ReportContext, variants: Iterable[str], layers: list[str]) -> tuple[str, dict[str, tuple]]:
    """The last recorded layer that some normalised variant feeds a norm output (else the last layer), and each
    normalised variant's layers fed one."""
    fed = {v: normalised_inputs(ctx.model(v)) for v in _split(ctx, variants, noisy_apart=True)[1]}
    candidates = [layer for layer in layers if any(layer in f for f in fed.values())]
    return (candidates or layers)[-1], fed


def _drift_readings(ctx: ReportContext, runs: dict[str, list[Any]], layers: list[str]) -> list[Reading]:
    """Does the input of the chosen nonlinearity drift less, in most seeds, where it is a norm output than in the
    plain network of the same architecture?"""
    layer, fed = _drift_layer(ctx, runs, layers)
    drift = {v: {int(r.seed): _drift(r, layer) for r in rs} for v, rs in runs.items()}
    mean = {v: _mean(d.values()) for v, d in drift.items()}
    plain, normed, noisy = _split(ctx, runs, noisy_apart=True)
    tested = [v for v in normed if layer in fed[v]]
    controls = {v: next((p for p in plain if _architecture(ctx.model(p)) == _architecture(ctx.model(v))), None)
                for v in tested}
    missing = ("normalised" if not normed else "un-normalised" if not plain else
               "norm-before-the-activation" if not tested else
               "plain (same architecture, no norm)" if not any(controls.values()) else None)
    if missing:
        ranked = sorted((v for v in mean if finite(mean[v])), key=lambda v: mean[v])
        return [Reading("drift", "not tested", numbers={"missing": missing, "layer": layer,
                                                        "ranking": tuple((v, mean[v]) for v in ranked)})]
    base = next(c for c in controls.values() if c)
    known = {"layer": layer, "reference": base, "reference_drift": mean[base],
             "fed": tuple(v for v in tested if controls[v]), "last_hidden": layer == layers[-1]}
    ratio = {v: mean[v] / mean[base] if finite(mean[v]) and finite(mean[base]) and mean[base] > 0 else math.nan
             for v in mean}
    out = []
    for v in known["fed"]:
        ref = controls[v]
        seeds = sorted(set(drift[v]) & set(drift[ref]))
        lower = sum(1 for s in seeds if finite(drift[v][s]) and finite(drift[ref][s]) and drift[v][s] < drift[ref][s])
        agree = finite(mean[v]) and finite(mean[ref]) and mean[v] < mean[ref] and lower * 2 > len(seeds)
        out.append(Reading("drift", "agree" if agree else "disagree", v, ratio[v], n=len(seeds),
                           numbers={**known, "drift": mean[v], "lower": lower}))
    # A normalised variant whose input at this layer is not a norm output does not test the claim here.
    out += [Reading("drift", "not tested", v, ratio[v], numbers={**known, "drift": mean[v], "normalised_input": False})
            for v in normed if v not in known["fed"] and finite(mean[v])]
    # Noisy batch norm injects distribution shift on purpose: it is the counter-example, not a test of the claim.
    return out + [Reading("drift", "not tested", v, ratio[v], numbers={**known, "drift": mean[v], "noisy": True})
                  for v in noisy if finite(mean[v])]


def _placement_note(ctx: ReportContext, runs: dict[str, list[Any]], layers: list[str]) -> Paragraph:
    """Which nonlinearities take a norm output in which variant: what the reading below can test."""
    layer, fed = _drift_layer(ctx, runs, layers)
    listed = [f"{v} ({join_words(list(f))})" for v, f in fed.items() if f]
    after = [v for v, f in fed.items() if not f]
    text = ("Ioffe & Szegedy normalise a layer's Wx + b, so the nonlinearity's input is the batch-norm output; their "
            "figure follows such an input in the last hidden layer. ")
    if not listed:
        return Paragraph(text + "No variant here feeds a nonlinearity a norm output (norm_position=before): "
                         + (f"in {join_words(after)} the norm follows the activation, as in the post, so " if after
                            else "") + "the inputs recorded are never normalised and figure 1's claim cannot be "
                         "tested. A study with lenet5-bn-before or lenet5-bn-before-all and lenet5 can test it.",
                         "note")
    return Paragraph(text + "Nonlinearities whose input is a norm output: " + "; ".join(listed)
                     + (f". In {join_words(after)} the norm follows the activation, so no input is normalised there"
                        if after else "") + f". The reading below is at {layer}.", "note")


def activations_section(ctx: ReportContext) -> Section | None:
    """Percentiles of the input to each nonlinearity over training, per variant (Ioffe & Szegedy, figure 1)."""
    runs = _recorded(ctx, "activations")
    layers = _layer_names(runs)
    if not layers:
        return None
    settings = _settings(runs, "activations")
    unit = settings.get("unit", 0)
    sec = Section("Activation statistics over training", "activations")
    sec.add(f"The input to each nonlinearity, recorded every {settings.get('every', '?')} training steps (and at step "
            f"0) during the step's own training forward pass, before its update. For each layer the lines are the "
            f"15th, 50th (solid) and 85th (dashed) percentiles of unit {unit}'s input, pooled over the batch (and, in "
            "convolutional layers, over all positions of the channel), averaged over seeds, as Ioffe & Szegedy "
            "(2015, figure 1) plot a typical unit of their MNIST network's last hidden layer.")

    def percentiles(rs: list[Any], layer: str) -> tuple[np.ndarray, ...]:
        def pick(stat: str) -> Callable[[dict], Any]:
            return lambda d: (((d.get("stats") or {}).get(layer) or {}).get("unit") or {}).get(stat)

        steps, lo = _mean_series(rs, "activations", pick("p15"))
        return steps, lo, _mean_series(rs, "activations", pick("p50"))[1], _mean_series(rs, "activations", pick("p85"))[1]

    shown = list(runs)[:MAX_ACTIVATION_ROWS]
    sec.add(report_figure(
        activation_figure({v: {layer: percentiles(runs[v], layer) for layer in layers} for v in shown}, layers,
                          ctx.colors, {v: len(rs) for v, rs in runs.items()}),
        f"Input to each nonlinearity (columns) of unit {unit}, per variant (rows): 15th, 50th and 85th percentiles "
        "over training steps, mean over seeds; the shaded band spans the 15th to 85th percentile. Each column "
        "shares its y axis, so variants compare directly."
        + (f" Only the first {MAX_ACTIVATION_ROWS} variants are drawn." if len(runs) > len(shown) else ""),
        "Percentiles of the input to each nonlinearity over training steps, per variant"))
    rows = [[v, str(len(rs)), *[fmt_g(_mean(_drift(r, layer) for r in rs), 2) for layer in layers]]
            for v, rs in runs.items()]
    sec.add(Table([variant_column(), num("Runs"), *[num(layer) for layer in layers]], rows,
                  caption="Drift of each unit's median input, in units of its 15–85 percentile spread",
                  notes=["Per unit: (largest − smallest median over the recorded steps) / mean 15–85 spread; "
                         "averaged over the layer's units, then over seeds. 0 means the distribution never moved; "
                         "1 means its median moved by a whole typical width."]))
    sec.add(_placement_note(ctx, runs, layers))
    sec.readings = _drift_readings(ctx, runs, layers)
    sec.add(Paragraph(phrasing.drift_text(sec.readings), "reading"))
    sec.add(*filter(None, [_cost_note(runs, "activations", "activation statistics")]))
    return sec


# --------------------------------------------------------------------------------------------
# Smoothness (Santurkar et al. 2018, figure 4)
# --------------------------------------------------------------------------------------------


def _smooth_run_means(run: Any) -> tuple[float, float, float]:
    """A run's loss range, largest gradient change and β-smoothness, each averaged over its records."""
    d = diagnostic(run, "smoothness")
    lo, hi, diff, beta = (np.array([_float(x) for x in d.get(k) or []])
                          for k in ("loss_min", "loss_max", "grad_diff_max", "beta"))
    width = hi - lo if lo.size == hi.size else np.array([])
    return tuple(float(_nanmean(a)) if a.size and np.isfinite(a).any() else math.nan for a in (width, diff, beta))


def _smoothness_readings(ctx: ReportContext, runs: dict[str, list[Any]],
                         means: dict[str, tuple]) -> list[Reading]:
    """Is each normalised variant smoother than the plain network, measure by measure, in most seeds?"""
    plain, normed, _ = _split(ctx, runs, noisy_apart=False)
    if not plain or not normed:
        return [Reading("smoothness", "not tested", numbers={"missing": "normalised" if plain else "un-normalised"})]
    base = plain[0]
    per_seed = {v: {int(r.seed): _smooth_run_means(r) for r in rs} for v, rs in runs.items()}
    out = []
    for v in normed:
        seeds = sorted(set(per_seed[v]) & set(per_seed[base]))
        measures, agreed = [], 0
        for i, short in enumerate(_SMOOTH_MEASURES):
            a, b = means[v][i], means[base][i]
            wins = sum(1 for s in seeds if finite(per_seed[v][s][i]) and finite(per_seed[base][s][i])
                       and per_seed[v][s][i] < per_seed[base][s][i])
            agreed += finite(a) and finite(b) and a < b and wins * 2 > len(seeds)
            measures.append((short, a, b, wins))
        verdict = "agree" if agreed == len(measures) else "disagree" if agreed == 0 else "undecided"
        out.append(Reading("smoothness", verdict, v, n=len(seeds),
                           numbers={"reference": base, "measures": tuple(measures), "agreed": int(agreed)}))
    return out


def optimizer_name(cfg: dict) -> str:
    """A run config's optimizer in words: ``Adam``, ``SGD with momentum 0.9``, ``plain SGD``."""
    name = str(cfg.get("optimizer", "?"))
    if name == "sgd":
        momentum = cfg.get("momentum", 0)
        return f"SGD with momentum {momentum:g}" if finite(momentum) and momentum else "plain SGD"
    return {"adam": "Adam"}.get(name, name)


def _walk(runs: dict[str, list[Any]]) -> dict[str, Any]:
    """What the walk followed: its direction (records from before the setting walked the gradient), its scales,
    the runs' optimizers, and how far its longest point reached, in optimizer steps (mean over records and runs)."""
    settings = [diagnostic(r, "smoothness").get("settings") or {} for rs in runs.values() for r in rs]
    directions = sorted({s.get("direction", "gradient") for s in settings})
    scales = [float(x) for x in settings[0].get("scales") or []]
    optimizers = list(dict.fromkeys(optimizer_name(run_config(r)) for rs in runs.values() for r in rs))
    reach = []
    for rs in runs.values():
        for r in rs:
            d = diagnostic(r, "smoothness")
            for dist, norm in zip(d.get("distances") or [], d.get("update_norm") or []):
                if dist and finite(norm) and norm > 0 and all(finite(x) for x in dist):
                    reach.append(max(dist) / norm)
    return {"directions": directions, "scales": scales, "optimizers": optimizers, "reach": _mean(reach)}


def _walk_words(walk: dict[str, Any]) -> str:
    """The walk in words: ``along Adam's update, 0.25–2× its length`` or ``along the gradient, ...``."""
    scales, opts = walk["scales"], join_words(walk["optimizers"])
    span = f"{min(scales):g}–{max(scales):g}×" if scales else "a grid of multiples of"
    if walk["directions"] == ["update"]:
        return f"along {opts}'s update, {span} its length"
    if walk["directions"] == ["gradient"]:
        return f"along the gradient, {span} the learning rate, as Santurkar et al. with SGD"
    return "along the optimizer's update in some runs and the gradient in others"


def smoothness_section(ctx: ReportContext) -> Section | None:
    """Loss range, gradient predictiveness and β-smoothness along the optimizer's update or the gradient
    (Santurkar et al., figure 4)."""
    runs = _recorded(ctx, "smoothness")
    if not runs:
        return None
    settings = _settings(runs, "smoothness")
    walk = _walk(runs)
    update = walk["directions"] == ["update"]
    point, step = ("w + s·u", "s·u") if update else ("w − ηg", "ηg")
    n = len(walk["scales"])
    span = f"{min(walk['scales']):g} to {max(walk['scales']):g}" if n else "a grid of"
    if update:
        how = (f"the update u = w_next − w that the optimizer ({join_words(walk['optimizers'])}) would make on that "
               f"batch was computed (its step run on a saved copy of its state) and followed for {n} scales s from "
               f"{span} times its length, so s = 1 is the optimizer's own next step")
    else:
        how = (f"the gradient g of the loss at the current weights w was followed for {n} step sizes η from {span} "
               f"times the learning rate, as Santurkar et al. do with SGD (these runs: "
               f"{join_words(walk['optimizers'])})")
    sec = Section("Loss-landscape smoothness", "smoothness")
    sec.add(f"Every {settings.get('every', '?')} training steps (and at step 0), before the step's update and on its "
            f"batch, {how}; the loss and its gradient were evaluated at each point {point} on the same batch, after "
            "Santurkar et al. (2018, section 3.1 and figure 4). (a) is how much the loss varies along the walk (the "
            "width of the paper's band); (b) the band between the smallest and largest change of the gradient; (c) "
            "the largest change of the gradient per unit distance moved; lower is smoother in all three. The probe "
            "restores weights, batch-norm statistics, gradients, random state and the optimizer's state exactly, "
            "so it does not change training.")
    if not update and finite(walk["reach"]) and walk["optimizers"] != ["plain SGD"]:
        sec.add(Paragraph(f"These runs train with {join_words(walk['optimizers'])}, whose step is not a multiple of "
                          f"the raw gradient; the walk's longest point reached {fmt_g(walk['reach'], 2)} times the "
                          "optimizer's own step on average, so it probes the landscape around the point, not where "
                          "the optimizer goes (the default walk, direction='update', follows the step itself).",
                          "note"))
    elif len(walk["directions"]) > 1:
        sec.add(Paragraph("The runs walked in different directions (" + join_words(walk["directions"]) + "), so "
                          "their numbers measure different neighbourhoods and do not compare directly.", "note"))

    def series(rs: list[Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        steps, lo = _series(rs, "smoothness", lambda d: d.get("loss_min"))
        hi = _series(rs, "smoothness", lambda d: d.get("loss_max"))[1]
        return {"loss range": (steps, _nanmean(hi - lo) if steps.size else np.array([])),
                **{label: _mean_series(rs, "smoothness", lambda d, k=key: d.get(k))
                   for label, key in (("grad min", "grad_diff_min"), ("grad max", "grad_diff_max"), ("beta", "beta"))}}

    words = _walk_words(walk)
    sec.add(report_figure(smoothness_figure({v: series(rs) for v, rs in runs.items()}, ctx.colors,
                                            {v: len(rs) for v, rs in runs.items()}, point=point, step=step),
                          f"Smoothness {words}, over training, mean over seeds: (a) range of the loss along "
                          "the walk, (b) band between the smallest and largest gradient change, "
                          "(c) effective β-smoothness.",
                          "Loss range, gradient predictiveness and beta-smoothness over training steps per variant"))
    means = {v: tuple(_mean(m[i] for m in map(_smooth_run_means, rs)) for i in range(3)) for v, rs in runs.items()}
    sec.add(Table([variant_column(), num("Runs"), *[num(m) for m in _SMOOTH_MEASURES]],
                  [[v, str(len(rs)), *[fmt_g(x, 3) for x in means[v]]] for v, rs in runs.items()],
                  caption=f"Smoothness {words}, mean over recorded steps and seeds (lower is smoother)",
                  notes=[f"loss range: max − min of L({point}) over the walk; gradient change: its largest "
                         f"‖∇L({point}) − ∇L(w)‖₂; β-smoothness: the largest ‖∇L({point}) − ∇L(w)‖₂ / ‖{step}‖₂."]))
    sec.readings = _smoothness_readings(ctx, runs, means)
    sec.add(Paragraph(phrasing.smoothness_text(sec.readings), "reading"))
    sec.add(*filter(None, [_cost_note(runs, "smoothness", "smoothness")]))
    return sec


# --------------------------------------------------------------------------------------------
# Gradient norms
# --------------------------------------------------------------------------------------------


def grad_norms_section(ctx: ReportContext) -> Section | None:
    """Gradient norms over training, total and per layer."""
    runs = _recorded(ctx, "grad_norms")
    if not runs:
        return None
    names = (n for rs in runs.values() for r in rs for n in (diagnostic(r, "grad_norms").get("grad") or {}))
    params = list(dict.fromkeys(n for n in names if n.endswith(".weight") and n.startswith(("conv", "linear"))))

    def param(p: str | None) -> Callable[[dict], Any]:
        return lambda d: d.get("total") if p is None else (d.get("grad") or {}).get(p)

    sec = Section("Gradient norms", "grad-norms")
    sec.add(f"The norm of the gradient each scheduled step used (every {_settings(runs, 'grad_norms').get('every', '?')} "
            "steps and step 0): in total and per layer's weight tensor, mean over seeds, log scale. Every parameter "
            "tensor's norm, biases and norm-layer parameters included, is in the database.")
    shown = list(runs)[:MAX_GRAD_PANELS]
    totals = {v: _mean_series(rs, "grad_norms", param(None)) for v, rs in runs.items()}
    sec.add(report_figure(grad_norms_figure(
        totals, {v: {p: _mean_series(runs[v], "grad_norms", param(p)) for p in params} for v in shown}, ctx.colors,
        {v: len(rs) for v, rs in runs.items()}),
        "Gradient norm over training steps, mean over seeds: total (left), then per weight tensor for "
        + ", ".join(shown) + (f" (the first {MAX_GRAD_PANELS} variants)" if len(runs) > len(shown) else "") + ".",
        "Gradient norms over training steps per variant and layer"))
    rows, parts = [], []
    for v, rs in runs.items():
        steps, total = totals[v]
        if not steps.size:
            continue
        first, last = (_series(rs, "grad_norms", param(params[i]))[1] if params else np.empty((0, 0)) for i in (0, -1))
        ratio = float(np.nanmean(_nanmean(first) / _nanmean(last))) if first.size and last.size else math.nan
        rows.append([v, str(len(rs)), fmt_g(total[0]), fmt_g(total[-1]), fmt_g(ratio, 2)])
        parts.append(f"from {fmt_g(total[0])} at step {int(steps[0])} to {fmt_g(total[-1])} at step {int(steps[-1])} "
                     f"with {v}" + (f" (first-to-last-layer ratio {fmt_g(ratio, 2)})" if finite(ratio) else ""))
    if rows and params:
        sec.add(Table([variant_column(), num("Runs"), num("first record"), num("last record"),
                       num(f"{params[0]} / {params[-1]}")], rows,
                      caption="Total gradient norm at the first and last record, and the ratio of the first to the last "
                              "layer's weight-gradient norm (mean over records)"))
    if parts:
        sec.add(Paragraph("The total gradient norm went " + "; ".join(parts) + ". A ratio far from 1 means the first "
                          "and last layers receive gradients of very different sizes.", "reading"))
    sec.add(*filter(None, [_cost_note(runs, "grad_norms", "gradient norms")]))
    return sec
