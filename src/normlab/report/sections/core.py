"""The core sections: what ran, the learning curves, the final accuracies, the statistics, the
paired comparisons, the post's values and the test accuracy.

Each section is a function of the :class:`~normlab.report.context.ReportContext` that returns a
:class:`~normlab.report.document.Section`, or None when its data does not exist.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Sequence

import numpy as np

from normlab.experiments import stats
from normlab.post import POST_REPORTED, POST_SETTINGS
from normlab.report import phrasing
from normlab.report.context import (
    BN, BOOTSTRAP_RESAMPLES, PLAIN, ReportContext, epoch_series, full_config, norm_of, run_config,
    val_accuracy,
)
from normlab.report.document import Column, Paragraph, Section, Table, num
from normlab.report.figures.base import report_figure, variant_color
from normlab.report.figures.study import (
    MAX_VERTICAL_BOXES, CurvePanel, accuracy_overlay_figure, final_accuracy_figure, loss_grid_figure,
    paired_differences_figure, variant_curves_figure,
)
from normlab.report.format import (
    NA, clipped_notes, finite, fmt_interval, fmt_mean_sd, fmt_num, fmt_p, fmt_pct, fmt_pp, fmt_seconds, fmt_value,
    fmt_values, join_ints, join_names, plural,
)
from normlab.report.readings import Reading

__all__ = ["comparisons_section", "curves_section", "distribution_section", "overview_section", "post_differences",
           "post_section", "statistics_section", "test_section"]

#: With more variants than this, the per-variant curve figures become grids of small panels.
MAX_SEPARATE_CURVE_FIGURES = 4
#: With more variants than this, readings name the extremes instead of every variant.
MAX_LISTED_VARIANTS = 4
PROTOCOL_TEXT = {
    "blog": "blog: the post's procedure, flaws included (no shuffling, softmax fed to the "
            "cross-entropy loss, the model left in eval mode after the first evaluation)",
    "standard": "standard: shuffled batches, logits into the loss, train/eval modes set correctly",
}


def variant_column() -> Column:
    """The first column of a per-variant table (the HTML page adds the variant's colour)."""
    return Column("Variant", kind="variant")


def protocols(runs: Sequence[Any]) -> list[str]:
    """The protocols the runs trained under, sorted (``"?"`` for a run without one)."""
    return sorted({str(run_config(r).get("protocol", "?")) for r in runs})


# --------------------------------------------------------------------------------------------
# Overview
# --------------------------------------------------------------------------------------------


def _val_text(run: Any) -> str:
    name = getattr(run, "val_split_name", None)
    if name == "val":
        n = run_config(run).get("val_split")
        held = f"the last {n} training images" if isinstance(n, int) and n > 0 else "a held-out part of the training set"
        return f"held-out validation split ({held}); the test set is evaluated once per run"
    if name == "test":
        return "the test set (the post's protocol: no separate validation split)"
    return NA


def _val_short(run: Any) -> str:
    name = getattr(run, "val_split_name", None)
    if name == "val":
        n = run_config(run).get("val_split")
        return f"held-out split ({n:,} images)" if isinstance(n, int) and n > 0 else "held-out split"
    return "test set" if name == "test" else NA


def _alone(ctx: ReportContext) -> dict[str, str | None]:
    """The variants no comparison includes (in a study that is not a grid: the only variant on its
    dataset), with their datasets."""
    paired = {v for pair in ctx.pairs for v in pair}
    return {v: ctx.datasets.get(v) for v in ctx.variants if v not in paired}


def _pairing_rule(ctx: ReportContext) -> str:
    """Which variant is compared with which, in a sentence."""
    if not ctx.pairs:
        return phrasing.baseline_text({}, _alone(ctx), form="overview")
    if set(ctx.variants) == {PLAIN, BN}:
        return f"The comparison is BatchNorm ({BN}, B) against the plain network ({PLAIN}, A)."
    g = ctx.grid
    if g is None:
        return phrasing.baseline_text(ctx.baselines(), _alone(ctx), form="overview")
    others = [m for m in g.models if m != g.reference]
    ref = (f"the model without normalisation, {g.reference}" if norm_of(g.reference) == "none"
           else f"the first model, {g.reference}")
    return (f"The variants form a grid: {len(g.models)} models × {len(g.values)} {g.label}s "
            f"({fmt_values(g.values)}). Each model ({', '.join(others)}; B) is compared with {ref} (A), "
            f"{g.same()} and seed by seed, so each difference is the model's effect {g.same('that')}: "
            f"{plural(len(ctx.pairs), 'comparison')} in all.")


def overview_section(ctx: ReportContext) -> Section:
    """What ran: variants, seeds, statuses, protocol and what validation means here."""
    runs = ctx.all_runs
    sec = Section("Overview", "overview")
    n_done = sum(1 for r in runs if r.status == "done")
    finished = (f"all {n_done} finished, and the statistics use them all" if n_done == len(runs) else
                f"{n_done} finished. Statistics use finished runs only; the others are listed under "
                "\"Failed and diverged runs\"")
    sec.add(f"Study \u201c{ctx.study}\u201d: {plural(len(ctx.variants), 'variant')} trained with paired seeds (seed s "
            f"gives every variant the same data order and, where shapes agree, the same initial weights), "
            f"{plural(len(runs), 'run')} in all, {finished}.")
    if ctx.at_chance:
        n = len(ctx.at_chance)
        they, stay, are = ("it", "It stays", "is") if n == 1 else ("they", "They stay", "are")
        sec.add(Paragraph(f"{plural(n, 'finished run')} ended within chance accuracy: {they} did not learn. {stay} in "
                          f"the statistics and {are} listed under \"Failed and diverged runs\".", "note"))
    if ctx.pairs or len(ctx.variants) > 1:
        sec.add(_pairing_rule(ctx))
    rows = []
    for v in ctx.variants:
        rs = ctx.runs[v]
        counts = Counter(r.status for r in rs)
        vals = sorted({_val_short(r) for r in rs if r.status == "done"}) or [NA]
        epochs = sorted({len(val_accuracy(r)) for r in rs if r.status == "done"})
        rows.append([v, join_ints(sorted(r.seed for r in rs)), str(counts.get("done", 0)),
                     str(counts.get("failed", 0)), str(counts.get("diverged", 0) + counts.get("running", 0)),
                     ", ".join(protocols(rs)), "; ".join(vals), ", ".join(map(str, epochs)) or NA])
    sec.add(Table([variant_column(), "Seeds", num("Done"), num("Failed"), num("Diverged / unfinished"), "Protocol",
                   "Validation on", num("Epochs")], rows, caption="Runs per variant"))
    used = protocols(runs)
    sec.add(*[Paragraph(f"Protocol {PROTOCOL_TEXT[p]}.", "note") for p in used if p in PROTOCOL_TEXT])
    sec.add(*[Paragraph(f"Validation on {text}.", "note")
              for text in sorted({_val_text(r) for r in runs if r.status == "done"} - {NA})])
    if len(used) > 1:
        sec.add(Paragraph("The runs mix protocols; numbers from different protocols are not directly comparable.",
                          "warning"))
    if len({getattr(r, "val_split_name", None) for r in runs if r.status == "done"} - {None}) > 1:
        sec.add(Paragraph("Some runs validated on a held-out split and others on the test set; their validation "
                          "accuracies measure different things.", "warning"))
    return sec


# --------------------------------------------------------------------------------------------
# Learning curves and final accuracies
# --------------------------------------------------------------------------------------------


def _seeds_per_variant(done: dict[str, list[Any]]) -> str:
    counts = sorted({len(rs) for rs in done.values()})
    if len(counts) == 1:
        return f"{plural(counts[0], 'seed')} per variant"
    return f"{counts[0]} to {counts[-1]} seeds per variant"


def _curves_reading(ctx: ReportContext) -> str:
    started = {v: [a[0] for a in (val_accuracy(r) for r in ctx.done(v)) if a and math.isfinite(a[0])]
               for v in ctx.variants if ctx.done(v)}
    first = {v: float(np.mean(values)) for v, values in started.items() if values}
    last = {v: ctx.summaries[v].final.mean for v in started if finite(ctx.summaries[v].final.mean)}
    if not first or not last:
        return ""
    lead1, leadn = max(first, key=first.get), max(last, key=last.get)
    if len(first) <= MAX_LISTED_VARIANTS:
        gap = last[leadn] - min(last.values())
        return ("After epoch 1 the mean accuracy is " + ", ".join(f"{fmt_pct(first[v], unit=True)} for {v}" for v in first)
                + f"; {lead1} starts ahead. After the last epoch it is "
                + ", ".join(f"{fmt_pct(last[v], unit=True)} for {v}" for v in last)
                + f" ({leadn} ahead by {fmt_pp(gap, unit=True, signed=False)}; see the comparisons for whether "
                  "that is more than seed-to-seed noise).")
    low1, lown = min(first, key=first.get), min(last, key=last.get)
    parts = [f"After epoch 1 the mean accuracy ranges from {fmt_pct(first[low1], unit=True)} ({low1}) to "
             f"{fmt_pct(first[lead1], unit=True)} ({lead1}); after the last epoch from "
             f"{fmt_pct(last[lown], unit=True)} ({lown}) to {fmt_pct(last[leadn], unit=True)} ({leadn})."]
    g = ctx.grid
    if g is None:
        return " ".join(parts + ["See the comparisons for whether the differences are more than seed-to-seed noise."])
    for m in g.models:
        diffs = [last[b] - last[a] for x in g.values
                 if (a := g.variant(g.reference, x)) in last and (b := g.variant(m, x)) in last]
        if m != g.reference and diffs:
            parts.append(f"{m} ends ahead of {g.reference} {'at' if g.ordered else 'under'} "
                         f"{sum(1 for d in diffs if d > 0)} of {len(diffs)} {g.label}s (mean difference from "
                         f"{fmt_pp(min(diffs), unit=True)} to {fmt_pp(max(diffs), unit=True)}).")
    return " ".join(parts + ["The paired comparisons say which of these differences exceed seed-to-seed noise."])


def curves_section(ctx: ReportContext) -> Section | None:
    """Accuracy and loss curves per variant: mean line, 95% t band, each seed as a thin line.

    Up to :data:`MAX_SEPARATE_CURVE_FIGURES` variants get an overlay of their means and one
    figure each. More get one accuracy figure of small panels (a grid study: one panel per
    learning rate or batch size with its models; otherwise one panel per variant over the others
    in grey) and one figure of small loss panels.
    """
    done = {v: ctx.done(v) for v in ctx.variants if ctx.done(v)}
    if not done:
        return None
    conf, label = ctx.conf, ctx.val_label
    sec = Section("Learning curves", "curves")
    sec.add(f"Per epoch, the thick line is the mean over seeds and the shaded band its {conf} t confidence band "
            "(mean ± t·sd/√n over the seeds that reached that epoch, cut at 0% and 100%); each thin line is one "
            "seed. Only finished runs are drawn.")
    g = ctx.grid
    curves = {v: [val_accuracy(r) for r in rs] for v, rs in done.items()}
    if max((len(c) for cs in curves.values() for c in cs), default=0) <= 1:
        # One point per run is not a curve: the next section draws every run's final accuracy.
        sec.add(Paragraph("Every run trained a single epoch, so there are no curves to draw; the final accuracy of "
                          "every run is in the next section.", "note"))
        return sec

    def losses(rs: list[Any]) -> tuple[list[list[float]], list[list[float]]]:
        return [epoch_series(r, "val_loss") for r in rs], [epoch_series(r, "train_loss") for r in rs]

    if len(done) <= MAX_SEPARATE_CURVE_FIGURES:
        if len(ctx.variants) > 1:
            sec.add(report_figure(
                accuracy_overlay_figure(curves, colors=ctx.colors, confidence=ctx.confidence, val_label=label),
                f"Mean {label} accuracy per epoch of every variant; shaded: {conf} t band over seeds; "
                "n = number of seeds.", f"Mean {label} accuracy per epoch of {', '.join(curves)}"))
            sec.add(Paragraph(_curves_reading(ctx), "reading"))
        for v, rs in done.items():
            fig = variant_curves_figure(v, curves[v], *losses(rs), color=ctx.colors[v], confidence=ctx.confidence,
                                        val_label=label, target=ctx.targets.get(v, ctx.target))
            sec.add(report_figure(
                fig, f"{v}: {label} accuracy (left) and loss (right) per epoch over {len(rs)} seeds. Thick line: "
                     f"mean; shaded: {conf} t band; thin lines: individual seeds. Right: {label} loss solid, "
                     "training loss dashed grey (mean of the epoch's batches).", f"Learning curves of {v}"))
        return sec

    seeds_text = _seeds_per_variant(done)
    if g is not None:
        panels = [(g.value_text(x), [v for v in vs if v in curves]) for x, vs in g.by_value()]
        figure = accuracy_overlay_figure(curves, colors=ctx.colors, confidence=ctx.confidence, val_label=label,
                                         panels=[p for p in panels if p[1]],
                                         legend={m: variant_color(i) for i, m in enumerate(g.models)})
        shades = f", lighter at smaller {g.label}s" if g.ordered else ""
        caption = (f"{label.capitalize()} accuracy per epoch, one panel per {g.label} holding the models "
                   f"trained {g.same('that')} (the variants the comparisons pair), each model in its colour{shades}. "
                   f"Thick line: mean over seeds ({seeds_text}); shaded: {conf} t band; thin lines: "
                   "individual seeds. Each panel has its own accuracy scale.")
    else:
        figure = accuracy_overlay_figure(curves, colors=ctx.colors, confidence=ctx.confidence, val_label=label,
                                         highlight=True)
        caption = (f"{label.capitalize()} accuracy per epoch, one panel per variant, over the other variants' "
                   f"means in grey. Thick line: mean over seeds ({seeds_text}); shaded: {conf} t band; thin lines: "
                   "individual seeds. Each panel has its own accuracy scale.")
    sec.add(report_figure(figure, caption, f"Mean {label} accuracy per epoch of {len(curves)} variants, in small "
                                           "panels"))
    sec.add(Paragraph(_curves_reading(ctx), "reading"))

    def panel(v: str | None) -> CurvePanel | None:
        return CurvePanel(v, ctx.colors[v], *losses(done[v])) if v in done else None

    if g is not None:
        grid_rows = [[panel(g.variant(m, x)) for m in g.models] for x in g.values]
        layout = dict(row_labels=[g.value_text(x) for x in g.values], col_labels=list(g.models), share_rows=True)
        where = (f"One row per {g.label}, one column per model; the panels of a row share their y axis, so the "
                 f"models {g.same('that')} compare directly.")
    else:
        flat = [p for p in (panel(v) for v in ctx.variants) if p is not None]
        grid_rows = [flat[i:i + 4] for i in range(0, len(flat), 4)]
        layout = dict(row_labels=None, col_labels=None, share_rows=False)
        where = "One panel per variant, each with its own scale."
    sec.add(report_figure(
        loss_grid_figure(grid_rows, confidence=ctx.confidence, val_label=label, **layout),
        f"Loss per epoch of every variant ({seeds_text}). {where} Solid, in the variant's colour: {label} "
        f"loss; dashed grey: training loss (mean of the epoch's batches); shaded: {conf} t bands; thin lines: "
        "individual seeds.", "Grid of validation and training loss curves, one panel per variant"))
    return sec


def _distribution_reading(ctx: ReportContext, values: dict[str, Sequence[float]]) -> str:
    spread = {v: ctx.summaries[v].final for v in values}
    if len(values) <= MAX_LISTED_VARIANTS:
        return "; ".join(
            f"{v} ranges from {fmt_pct(min(vals), unit=True)} to {fmt_pct(max(vals), unit=True)} "
            f"(sd {fmt_pp(spread[v].std, unit=True, signed=False)} over {spread[v].n} seeds)" if spread[v].n >= 2
            else f"{v} has {spread[v].n} finished run, too few for a spread" for v, vals in values.items()) + "."
    sds = {v: s.std for v, s in spread.items() if s.n >= 2 and finite(s.std)}
    few = [v for v, s in spread.items() if s.n < 2]
    text = ""
    if sds:
        lo, hi = min(sds, key=sds.get), max(sds, key=sds.get)
        median = float(np.median(list(sds.values())))
        text = (f"The seed-to-seed sd of the final accuracy ranges from {fmt_pp(sds[lo], unit=True, signed=False)} "
                f"({lo}) to {fmt_pp(sds[hi], unit=True, signed=False)} ({hi}), median "
                f"{fmt_pp(median, unit=True, signed=False)} over {len(sds)} variants.")
        wide = [v for v, sd in sds.items() if sd > 3 * median and sd > 0.005]
        if wide:
            text += (f" {join_names(wide)} spread{'s' if len(wide) == 1 else ''} far more than the rest: read "
                     f"{'its' if len(wide) == 1 else 'their'} means with care.")
    if few:
        text += (f" {plural(len(few), 'variant')} ({join_names(few)}) {'has' if len(few) == 1 else 'have'} fewer "
                 "than 2 finished runs, too few for a spread.")
    return text.strip()


def distribution_section(ctx: ReportContext) -> Section | None:
    """Final validation accuracy per run: strip plot over a box plot."""
    values = {v: ctx.summaries[v].final.values for v in ctx.variants if ctx.summaries[v].n_runs}
    if not values:
        return None
    sec = Section("Final accuracy per run", "distribution")
    g = ctx.grid
    if g is not None:
        joined = (f"grey lines join the same seed in neighbouring variants trained {g.same()}, which are "
                  f"grouped together (thin lines separate the {g.label}s)")
    else:
        joined = "grey lines join the same seed in neighbouring variants (the pairing the comparisons use)"
    layout = "one row per variant" if len(values) > MAX_VERTICAL_BOXES else "one box per variant"
    # One line across variants measured against different targets would misstate all but one of them.
    line = ("no target line, as the datasets' targets differ" if ctx.mixed_targets else
            "dotted line: the target, where it falls near the data")
    sec.add(report_figure(
        final_accuracy_figure(values, seeds={v: ctx.summaries[v].seeds for v in values}, colors=ctx.colors,
                              target=None if ctx.mixed_targets else ctx.target, val_label=ctx.val_label,
                              groups=[vs for _, vs in g.by_value()] if g is not None else None),
        f"Final {ctx.val_label} accuracy of every finished run, {layout}. Dots: one seed each; box: quartiles with "
        f"the median line, whiskers to 1.5 × IQR; {joined}; {line}.",
        "Strip plot over box plot of the final accuracy per variant"))
    sec.add(Paragraph(_distribution_reading(ctx, values), "reading"))
    return sec


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def _target_reading(ctx: ReportContext) -> str:
    """The reading of epochs to target: every variant ranked together when the study has one
    dataset, else each dataset's variants apart, against that dataset's target."""
    groups = []
    for group in ctx.target_groups:
        targets = {v: ctx.summaries[v].target for v in group.variants if ctx.summaries[v].target.n_runs}
        groups.append((group.dataset, group.target, targets, stats.rank_by_target(targets)))
    if len(groups) == 1:
        _, target, targets, ranked = groups[0]
        return phrasing.target_text(targets, ranked, target, listed=len(targets) <= MAX_LISTED_VARIANTS)
    return phrasing.grouped_target_text(groups, max_listed=MAX_LISTED_VARIANTS)


def statistics_section(ctx: ReportContext) -> Section:
    """Per-variant statistics: n, mean ± sd, t and bootstrap intervals, epochs and time to target."""
    conf = ctx.conf
    sec = Section("Statistics per variant", "statistics")
    sec.add(f"The headline interval is the {conf} Student-t interval of the mean over seeds "
            f"(mean ± t·sd/√n). The {conf} percentile bootstrap interval ({BOOTSTRAP_RESAMPLES:,} resamples of the "
            "seeds, fixed generator seed) is shown beside it as a cross-check; with few seeds it is too narrow, so "
            "read it as a lower bound on the uncertainty. Accuracies are in percent, sd in percentage points.")
    rows, notes = [], []
    for v in ctx.variants:
        s = ctx.summaries[v]
        excl = f" (+{len(s.excluded)} excluded)" if s.excluded else ""
        rows.append([v, f"{s.n_runs}{excl}"] + [cell for m in (s.final, s.best) for cell in (
            fmt_mean_sd(m.mean, m.std), fmt_interval(m.t_ci), fmt_interval(m.bootstrap_ci))])
        if s.excluded:
            diverged = any(st == "diverged" for _, st in s.excluded)
            notes.append(f"{v}: " + ", ".join(f"seed {seed} ({st})" for seed, st in s.excluded)
                         + " excluded from these accuracy statistics"
                         + (f" (a diverged run counts in the target table below, as a run that did not reach "
                            f"{ctx.targets.get(v, ctx.target) * 100:g}%)" if diverged else "")
                         + "; listed under \"Failed and diverged runs\".")
        # The first note of a summary with exclusions is that exclusion, said above in the report's words.
        notes += [f"{v}: {n}." for n in s.notes[1 if s.excluded else 0:]]
    sec.add(Table(
        [variant_column(), num("Runs (n)"), num("mean ± sd"), num(f"{conf} t-interval"), num(f"{conf} bootstrap"),
         num("mean ± sd"), num(f"{conf} t-interval"), num(f"{conf} bootstrap")],
        rows, caption=f"Final and best {ctx.val_label} accuracy (%)", notes=notes + clipped_notes(rows),
        groups=[("", 2), ("Final: last epoch (%)", 3), ("Best: any epoch (%)", 3)]))

    # With targets that differ by dataset, each row says its own target.
    mixed = ctx.mixed_targets
    target = f"{ctx.target * 100:g}%"
    trows = []
    for v in ctx.variants:
        t = ctx.summaries[v].target
        reached_epochs = [e for e in t.epochs if e is not None]
        later = f"> {t.last_epoch}"
        span = (f"{min(reached_epochs)}–{later if t.n_not_reached else max(reached_epochs)}" if reached_epochs
                else later if t.n_runs else NA)
        trows.append([v, *([f"{t.target * 100:g}%"] if mixed else []),
                      f"{t.n_reached} of {t.n_runs}" + (f" ({t.n_diverged} diverged)" if t.n_diverged else ""),
                      fmt_num(t.median_epochs) if t.median_reached or not t.n_runs else f"not reached ({later})",
                      fmt_num(t.mean_epochs, 2), span,
                      fmt_seconds(t.median_seconds), fmt_seconds(t.mean_seconds)])
    if mixed:
        goals = phrasing.targets_by_dataset([(g.dataset, g.target) for g in ctx.target_groups])
        lead, caption = ([variant_column(), num("Target"), num("Reached")],
                         f"Epochs and time to reach each dataset's target {ctx.val_label} accuracy")
        reach = f"the target of the variant's dataset ({goals})"
    else:
        lead = [variant_column(), num(f"Reached {target}")]
        caption = f"Epochs and time to reach {target} {ctx.val_label} accuracy"
        reach = target
    sec.add(Table(
        [*lead, num("median epochs"), num("mean epochs"), num("range (epochs)"),
         num("median time (s)"), num("mean time (s)")],
        trows, caption=caption,
        notes=[f"Epochs to target: the first epoch (1-based) whose {ctx.val_label} accuracy is at least {reach}. "
               "Time to target: wall-clock seconds of the epochs up to and including it (training and evaluation). "
               "\"k of n\" says how many runs reached it. A run that did not is censored: it counts in the median "
               "as later than the last epoch (\"> E\"), so the median is \"not reached\" unless more than half "
               "of the runs reached the target, and the means are given only when all did. A diverged run counts "
               "among the n as a run that did not reach the target (unlike the accuracy statistics above, which "
               "leave it out); failed runs are left out of both."]))
    sec.add(Paragraph(_target_reading(ctx), "reading"))
    return sec


# --------------------------------------------------------------------------------------------
# Paired comparisons
# --------------------------------------------------------------------------------------------


def _comparison_notes(cmps: Sequence[stats.PairedComparison]) -> list[str]:
    return list(dict.fromkeys(f"{c.b_name} − {c.a_name}: {n}." for c in cmps for n in c.notes))


def _comparison_tables(ctx: ReportContext, sec: Section) -> None:
    """Many comparisons: one table per metric, means as "A → B", a short verdict per row, and (in a
    grid) the swept value in its own column so the comparison itself names only the models."""
    g = ctx.grid
    lead = [num(g.label), Column("Comparison (B − A)", nowrap=True)] if g else [Column("Comparison (B − A)", nowrap=True)]
    final = [c for c in ctx.comparisons if c.metric == "final"]
    best = [c for c in ctx.comparisons if c.metric == "best"]
    same = all(tuple(b.differences) == tuple(f.differences) and b.mean_a == f.mean_a for f, b in zip(final, best))
    for metric, what, cmps in (("final", "final (last epoch)", final), ("best", "best (any epoch)", best)):
        if metric == "best" and same:
            sec.add(Paragraph("The best accuracy of every run is its final one (no run did better at an earlier "
                              "epoch), so the comparisons of best accuracy repeat the table above and are left "
                              "out.", "note"))
            continue
        rows = []
        for c in cmps:
            r = ctx.reading(c)
            if g:
                (mb, x), ma = g.position(c.b_name), g.position(c.a_name)[0]
                names = [fmt_values([x]), f"{mb} − {ma}"]
            else:
                names = [f"{c.b_name} − {c.a_name}"]
            rows.append(names + [str(c.n_pairs), f"{fmt_pct(c.mean_a)} → {fmt_pct(c.mean_b)}", fmt_pp(c.mean_difference),
                                 fmt_interval(c.ci, pp=True), fmt_p(c.t_pvalue), fmt_p(r.numbers["holm_p"]),
                                 fmt_p(c.wilcoxon_pvalue), fmt_num(c.cohens_dz, 2), phrasing.short_verdict(r)])
        notes = _comparison_notes(cmps)
        if metric == "final":
            notes.insert(0, "A → B: the mean accuracy of A and of B over the paired seeds. Hedges' g_z is left "
                            "out of these tables for width; with many pairs read d_z with the interval.")
        sec.add(Table([*lead, num("Pairs"), num("A → B (%)"), num("difference (pp)"), num(f"{ctx.conf} CI (pp)"),
                       num("paired t p"), num("Holm p"), num("Wilcoxon p"), num("d_z"), Column("Verdict")],
                      rows, caption=f"Paired comparisons of the {what} {ctx.val_label} accuracy", notes=notes))


def comparisons_section(ctx: ReportContext) -> Section | None:
    """Paired comparisons (B - A per seed) with the computed verdicts."""
    if not ctx.pairs:
        return None
    conf, g = ctx.conf, ctx.grid
    sec = Section("Paired comparisons", "comparisons", readings=ctx.readings)
    if set(ctx.variants) == {PLAIN, BN}:
        sec.add(f"B = {BN} (with BatchNorm) against A = {PLAIN} (without), seed by seed: differences are B − A on "
                "the same seed, so the seed-to-seed variation both share cancels.")
    elif g is not None:
        sec.add(f"Each model B against A = {g.reference} {g.same()}, seed by seed: differences are B − A "
                f"on the same seed and {g.label}, so each comparison measures the model's effect {g.same('that')} "
                f"(comparing variants trained {'at' if g.ordered else 'under'} different {g.label}s would mix the two "
                "effects).")
    else:
        sec.add(phrasing.baseline_text(ctx.baselines(), _alone(ctx), form="comparisons"))
    sec.add(f"A verdict says \"raised\" or \"lowered\" only when the paired t-test gives p < {ctx.alpha:g} and the "
            f"{conf} t-interval of the mean difference excludes zero; otherwise it says there is no significant "
            f"difference. With fewer than {stats.MIN_TEST_PAIRS} paired seeds no test is run (with two, the t-test has "
            "one degree of freedom and the Wilcoxon test cannot go below p = 0.5), and the verdict says \"not "
            "tested\". The Wilcoxon signed-rank test is a rank-based cross-check; d_z is the mean difference divided "
            "by the sd of the differences, g_z its small-sample-corrected version (n/a with fewer than 3 pairs). "
            "\"Holm p\" is the paired t-test's p adjusted by Holm's step-down correction across the tested "
            "comparisons of the same metric, one family per metric"
            + (f"; with {ctx.n_tests('final')} tested comparisons of final accuracy, a difference counts as "
               f"significant only when its Holm p < {ctx.alpha:g}" if ctx.corrected("final") else
               "; with a single tested comparison it is the paired t-test's own p") + ".")
    final = [c for c in ctx.comparisons if c.metric == "final"]
    if len(ctx.pairs) <= MAX_SEPARATE_CURVE_FIGURES:
        for r in ctx.readings:
            sec.add(Paragraph(phrasing.comparison_sentence(r), "verdict" if r.numbers["metric"] == "final" else "text"))
        rows = [[f"{c.b_name} − {c.a_name}", c.metric, str(c.n_pairs), fmt_pct(c.mean_a), fmt_pct(c.mean_b),
                 fmt_pp(c.mean_difference), fmt_interval(c.ci, pp=True), fmt_p(c.t_pvalue),
                 fmt_p(r.numbers["holm_p"]), fmt_p(c.wilcoxon_pvalue), fmt_num(c.cohens_dz, 2), fmt_num(c.hedges_gz, 2)]
                for c, r in zip(ctx.comparisons, ctx.readings)]
        sec.add(Table(
            [Column("Comparison (B − A)", nowrap=True), "Metric", num("Pairs"), num("mean A (%)"), num("mean B (%)"),
             num("difference (pp)"), num(f"{conf} CI (pp)"), num("paired t p"), num("Holm p"), num("Wilcoxon p"),
             num("d_z"), num("g_z")],
            rows, caption=f"Paired comparisons of {ctx.val_label} accuracy", notes=_comparison_notes(ctx.comparisons)))
    else:
        sec.add(Paragraph(phrasing.comparisons_summary(ctx.readings), "reading"))
        for r in ctx.readings:
            if r.numbers["metric"] == "final" and r.significant:
                sec.add(Paragraph(phrasing.comparison_sentence(r), "verdict"))
        expected = ctx.n_tests("final") * ctx.alpha
        if expected >= 0.5:
            sec.add(Paragraph(f"With {ctx.n_tests('final')} tests at α = {ctx.alpha:g}, about {expected:.1f} would come out "
                              "significant by chance even if no model made a difference. Holm's step-down correction "
                              "(column \"Holm p\") keeps the chance of even one such false positive among them at "
                              f"most α = {ctx.alpha:g}, at the price of missing small effects; a short verdict that names "
                              "Holm marks a difference significant only without it.", "note"))
        _comparison_tables(ctx, sec)
    if any(c.n_pairs for c in final):
        labels = groups = None
        if g is not None:
            labels, groups = [], []
            for x, _ in g.by_value():
                at = [c for c in final if g.position(c.a_name)[1] == x]
                labels += [f"{g.value_text(x)}: {g.position(c.b_name)[0]} − {g.reference} ({c.n_pairs})" for c in at]
                groups += [len(at)] if at else []
        sec.add(report_figure(
            paired_differences_figure(final, colors=[ctx.colors.get(c.b_name, "#444444") for c in final],
                                      labels=labels, groups=groups, val_label=ctx.val_label),
            f"Per-seed differences B − A of the final {ctx.val_label} accuracy, in percentage points. Dots: one "
            f"seed each, in B's colour; black diamond and bar: mean difference and its {conf} t-interval; dashed "
            "line: no difference." + (f" Rows are grouped by {g.label} (number of paired seeds in brackets)."
                                      if g is not None else ""), "Paired differences per seed"))
    return sec


# --------------------------------------------------------------------------------------------
# The post's values, test accuracy
# --------------------------------------------------------------------------------------------


def post_differences(runs: Sequence[Any], *, final: bool) -> list[tuple[str, str, str]]:
    """How the runs differ from the post's run: ``(setting, ours, the post's)``, empty at the post's scale.

    The post trained on all of MNIST's 60,000 training images under its own protocol (blog),
    with :data:`~normlab.post.POST_SETTINGS`; its epoch-10 value needs 10 epochs too (``final``),
    its epoch-1 value does not.
    """
    configs = [full_config(r) for r in runs]
    wanted = {k: v for k, v in POST_SETTINGS.items() if final or k != "epochs"}
    wanted.update(protocol="blog", subset=None, val_split=0)
    out = []
    for key, post in wanted.items():
        ours = sorted({fmt_value(c.get(key)) for c in configs})
        if ours != [fmt_value(post)]:
            name = {"subset": "training images", "val_split": "held-out images", "batch_size": "batch size",
                    "lr": "learning rate"}.get(key, key)
            shown = ["all" if o == "null" else f"{int(o):,}" if o.isdigit() else o for o in ours]
            out.append((name, "/".join(shown), "all" if post is None else fmt_value(post)))
    return out


def post_section(ctx: ReportContext) -> Section | None:
    """The post's reported values beside ours (only for lenet5 / lenet5-bn, only on MNIST, which the post used).

    A value is compared with the post's only when the runs were made at the post's scale
    (:func:`post_differences`); otherwise its reading is "not comparable", with the numbers.
    """
    done = {v: [r for r in ctx.done(v) if run_config(r).get("dataset") == POST_SETTINGS["dataset"]]
            for v in ctx.variants if v in POST_REPORTED}
    variants = [v for v, rs in done.items() if rs]
    if not variants:
        return None
    conf = ctx.conf
    sec = Section("Compared with the blog post", "post")
    used = protocols([r for v in variants for r in done[v]])
    vals = sorted({getattr(r, "val_split_name", None) or "?" for v in variants for r in done[v]})
    where = " and ".join("a held-out split" if n == "val" else "the test set" if n == "test" else n for n in vals)
    sec.add("The post reports a single run per model under its own procedure (the blog protocol: no shuffling, softmax "
            "fed to the loss, the test set used as validation, all 60,000 training images, 10 epochs), read off its "
            f"text and figures. Ours: the mean over seeds under the {', '.join(used)} protocol, validated on {where}. "
            "A value is set against ours only when these runs were made at the post's scale and settings; otherwise "
            "the table shows both and says “not comparable”.")
    rows, notes = [], ["The post gives approximate values (“about 93%”); the numeric column is the value its "
                       "words name."]
    for v in variants:
        post = POST_REPORTED[v]
        n_epochs = max(len(val_accuracy(r)) for r in done[v])
        last = "epoch 10" if n_epochs == 10 else f"last epoch ({n_epochs})"
        for label, index, post_text, post_value in (("epoch 1", 0, post["epoch1"], post["epoch1_value"]),
                                                    (last, -1, post["final"], post["final_value"])):
            values = [a[index] for a in (val_accuracy(r) for r in done[v]) if a and math.isfinite(a[index])]
            mean, lo, hi = stats.mean_ci(values, ctx.confidence) if values else (math.nan,) * 3
            differences = post_differences(done[v], final=index == -1)
            if differences:
                verdict, direction = "not comparable", ""
            elif not (finite(lo) and finite(hi)):
                verdict, direction = "not tested", ""
            else:
                # Said from our side: "above" means the post's value is below our interval.
                verdict = "agree" if lo <= post_value <= hi else "disagree"
                direction = "above" if post_value < lo else "below"
            r = Reading("post-level", verdict, v, mean - post_value, (lo, hi), n=len(values),
                        numbers={"epoch": label, "post": post_value, "mean": mean, "direction": direction,
                                 "differences": differences})
            sec.readings.append(r)
            rows.append([v, label, post_text, fmt_pct(post_value), fmt_pct(mean), fmt_interval((lo, hi)),
                         str(len(values)), fmt_pp(mean - post_value), phrasing.post_position(r)])
    sec.add(Table(
        [variant_column(), Column("Epoch", nowrap=True), Column("Post says", nowrap=True), num("post (%)"),
         num("ours: mean (%)"), num(f"ours: {conf} t-interval (%)"), num("n"), num("ours − post (pp)"),
         "Post vs our interval"],
        rows, caption=f"{ctx.val_label.capitalize()} accuracy: the post's values beside ours",
        notes=notes + clipped_notes(rows)))
    sec.add(Paragraph(phrasing.post_text(sec.readings, conf), "reading"))
    return sec


def test_section(ctx: ReportContext) -> Section | None:
    """Test accuracy, when it was measured apart from validation (val_split > 0)."""
    have = {v: [r for r in ctx.done(v) if finite(getattr(r, "test_accuracy", None))] for v in ctx.variants}
    if not any(have.values()):
        return None
    conf = ctx.conf
    sec = Section("Test accuracy", "test")
    sec.add("These runs validated on a held-out split of the training set, so the test set was evaluated once per run, "
            "with the weights of the epoch with the best validation accuracy. Unlike the validation numbers above, "
            "these were not used to pick anything and estimate accuracy on unseen data.")
    rows = []
    for v in ctx.variants:
        vals = [float(r.test_accuracy) for r in have[v]]
        if not vals:
            rows.append([v, "0", NA, NA, NA, NA])
            continue
        mean, lo, hi = stats.mean_ci(vals, ctx.confidence)
        sd = float(np.std(vals, ddof=1)) if len(vals) > 1 else math.nan
        epochs = sorted({int(e) for e in (getattr(r, "test_epoch", None) for r in have[v]) if e is not None})
        rows.append([v, str(len(vals)), fmt_mean_sd(mean, sd), fmt_interval((lo, hi)),
                     f"{min(vals) * 100:.2f} – {max(vals) * 100:.2f}", ", ".join(map(str, epochs)) or NA])
    sec.add(Table([variant_column(), num("Runs (n)"), num("mean ± sd (%)"), num(f"{conf} t-interval (%)"),
                   num("min – max (%)"), num("tested epoch(s)")],
                  rows, caption="Test accuracy (evaluated once per run)", notes=clipped_notes(rows)))
    cmps = [stats.paired_values({r.seed: float(r.test_accuracy) for r in have[a]},
                                {r.seed: float(r.test_accuracy) for r in have[b]}, confidence=ctx.confidence,
                                a_name=a, b_name=b, metric="test")
            for a, b in ctx.pairs if have[a] and have[b]]
    crow = [[f"{c.b_name} − {c.a_name}", str(c.n_pairs), fmt_pp(c.mean_difference), fmt_interval(c.ci, pp=True),
             fmt_p(c.t_pvalue), fmt_p(h), fmt_p(c.wilcoxon_pvalue)]
            for c, h in zip(cmps, stats.holm([c.t_pvalue for c in cmps]))]
    if crow:
        sec.add(Table(["Comparison (B − A)", num("Pairs"), num("difference (pp)"), num(f"{conf} CI (pp)"),
                       num("paired t p"), num("Holm p"), num("Wilcoxon p")], crow,
                      caption="Paired differences in test accuracy",
                      notes=["Holm p: the paired t-test's p adjusted by Holm's step-down correction across these "
                             "comparisons."] if len(crow) > 1 else []))
    return sec
