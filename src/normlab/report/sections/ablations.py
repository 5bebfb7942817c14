"""The ablation sections: accuracy against learning rate and batch size, where batch norm goes,
noisy batch norm, and the post's eval-mode bug.

Each is built from the runs' configs, not from a preset's name, so a hand-made study that
varies the same thing gets the same section, and appears only when its data exists:

=========================== ====================================================================
section                     appears when
=========================== ====================================================================
Accuracy vs learning rate   a model was trained at two or more learning rates, nothing else varying
Accuracy vs batch size      a model was trained at two or more batch sizes, nothing else varying
                            but a learning rate scaled linearly with the batch size
Where batch norm goes       two or more batch-norm variants differ in position or layers
Noisy batch norm            a variant uses the ``noisy-batch`` norm
The post's eval-mode bug    a model was trained under both the blog and the standard protocol
=========================== ====================================================================

Each ends with a computed reading (:mod:`normlab.report.readings`): what the paper behind it
claims and whether these runs agree, with the numbers that decide it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Callable

import numpy as np

from normlab.experiments import stats
from normlab.experiments.stats import TRAINS_ACCURACY, PairedComparison
from normlab.report import phrasing
from normlab.report.context import ReportContext, detect_grid, final_accuracy, model_options, norm_of, run_config
from normlab.report.document import Column, Paragraph, Section, Table, num
from normlab.report.figures.base import report_figure
from normlab.report.figures.diagnostics import sweep_figure
from normlab.report.format import NA, clipped_notes, finite, fmt_interval, fmt_p, fmt_pct, fmt_pp
from normlab.report.readings import Reading, family_readings
from normlab.report.sections.core import variant_column
from normlab.report.sections.diagnostics import mean_drift

__all__ = ["EQUIVALENCE_MARGIN", "batch_size_section", "lr_section", "mode_bug_section", "noisy_bn_section",
           "placement_section"]

#: Two variants count as training *equally well* only when the confidence interval of their mean
#: difference in final accuracy lies within ±this (a fraction: 0.005 is ±0.5 pp). Failing to find a
#: significant difference with a few seeds does not show that they are the same.
EQUIVALENCE_MARGIN = 0.005
#: The note under a table of one section's paired tests.
HOLM_NOTE = ("Holm p: the paired t-test's p adjusted by Holm's step-down correction across the tests this section "
             "makes together (its family), which the verdicts use; n/a where no test was run (fewer than 3 seeds).")


def paired(a: dict[int, float], b: dict[int, float], ctx: ReportContext, a_name: str,
           b_name: str) -> PairedComparison | None:
    """The paired comparison ``b - a`` of per-seed values, or None when no seed has both."""
    cmp = stats.paired_values(a, b, confidence=ctx.confidence, a_name=a_name, b_name=b_name)
    return cmp if cmp.n_pairs else None


# --------------------------------------------------------------------------------------------
# Sweeps: accuracy against a swept setting
# --------------------------------------------------------------------------------------------


def _sweep(ctx: ReportContext, key: str) -> dict[str, dict[Any, dict[str, Any]]]:
    """Each model's cells (see :func:`_cell`) by the value of config ``key``, for models run at two or more values.

    Empty unless the variants form a sweep over ``key`` by the report's one grid rule
    (:func:`~normlab.report.context.detect_grid`, one model allowed): apart from the model and
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
    chance = {id(a.run) for a in ctx.at_chance}
    return {m: {x: _cell(rs, ctx.confidence, chance) for x, rs in sorted(vals.items())}
            for m, vals in by_model.items() if len(vals) >= 2}


def _cell(runs: list[Any], confidence: float, at_chance: frozenset[int] | set[int] = frozenset()) -> dict[str, Any]:
    """A (model, value) cell: mean final accuracy and its interval, the seeds' finals, failures, the
    finished runs that did not learn (``chance``: their count, of ``done``; ``at_chance`` holds the
    ``id`` of every such run, :attr:`ReportContext.at_chance`), the learning rate when the runs share
    one (``lr``, else None), and whether the setting trains the model (no run diverged or failed,
    mean >= TRAINS_ACCURACY)."""
    done = [r for r in runs if r.status == "done" and finite(final_accuracy(r))]
    finals = [final_accuracy(r) for r in done]
    mean, lo, hi = stats.mean_ci(finals, confidence) if finals else (math.nan,) * 3
    diverged = sum(1 for r in runs if r.status == "diverged")
    failed = sum(1 for r in runs if r.status not in ("done", "diverged"))
    lrs = {run_config(r).get("lr") for r in runs}
    return {"mean": mean, "low": lo, "high": hi, "finals": {int(r.seed): final_accuracy(r) for r in done},
            "diverged": diverged, "failed": failed, "done": len(done),
            "chance": sum(1 for r in done if id(r) in at_chance), "lr": next(iter(lrs)) if len(lrs) == 1 else None,
            "trains": bool(done) and not diverged and not failed and mean >= TRAINS_ACCURACY}


def _sweep_table(cells: dict[str, dict[Any, dict]], setting: str, fmt_x: Callable[[Any], str], conf: str) -> Table:
    """One row per value of the swept setting, one column per model: mean and interval, failures noted."""
    rows = []
    for x in sorted({x for by_x in cells.values() for x in by_x}):
        row = [fmt_x(x)]
        for by_x in cells.values():
            c = by_x.get(x)
            if c is None:
                row.append("—")
                continue
            text = fmt_pct(c["mean"]) + (f" ({fmt_interval((c['low'], c['high']))})" if finite(c["low"]) else "")
            bad = [f"{c['diverged']} diverged"] * bool(c["diverged"]) + [f"{c['failed']} failed"] * bool(c["failed"])
            text += ("; " + ", ".join(bad) if bad else "") + (" ✓" if setting == "learning rate" and c["trains"] else "")
            row.append(text)
        rows.append(row)
    notes = [f"Mean final validation accuracy over the finished runs, with its {conf} t-interval; "
             "diverged and failed runs are counted apart."]
    if setting == "learning rate":
        notes.append(f"✓: the rate trains the model (no run diverged or failed, mean ≥ {TRAINS_ACCURACY * 100:g}%).")
    return Table([num(setting), *[num(f"{m} (%)") for m in cells]], rows,
                 caption=f"Final validation accuracy by {setting} and model", notes=notes + clipped_notes(rows))


def _plain_and_normed(models: Any) -> tuple[list[str], list[str]]:
    return ([m for m in models if norm_of(m) == "none"], [m for m in models if norm_of(m) not in (None, "none")])


def _rate_readings(cells: dict[str, dict[float, dict]], highest: dict[str, float | None]) -> list[Reading]:
    """Does each normalised model train at a higher learning rate than the plain one?"""
    plain, normed = _plain_and_normed(cells)
    if not plain or not normed:
        return [Reading("learning-rate", "not tested")]
    base, out = plain[0], []
    for m in normed:
        a, b = highest[base], highest[m]
        if b is None or b == a:
            verdict = "undecided"
        else:
            verdict = "agree" if a is None or b > a else "disagree"
        largest = max(set(cells[m]) & set(cells[base]), default=None)
        out.append(Reading("learning-rate", verdict, m, b / a if a is not None and b is not None else math.nan,
                           numbers={"reference": base, "highest": b, "reference_highest": a,
                                    "at_top": b == max(cells[m]), "largest": largest,
                                    "mean": cells[m][largest]["mean"] if largest is not None else math.nan,
                                    "reference_mean": cells[base][largest]["mean"] if largest is not None
                                    else math.nan,
                                    # runs that diverged there, whose accuracy is no number to quote
                                    "diverged": cells[m][largest]["diverged"] if largest is not None else 0,
                                    "reference_diverged": cells[base][largest]["diverged"] if largest is not None
                                    else 0}))
    return out


def lr_section(ctx: ReportContext) -> Section | None:
    """Final accuracy against learning rate per model, and the highest rate that still trains."""
    cells = _sweep(ctx, "lr")
    if not cells:
        return None
    conf = ctx.conf
    highest = {m: max((lr for lr, c in by_lr.items() if c["trains"]), default=None) for m, by_lr in cells.items()}
    best = {m: max(by_lr, key=lambda lr: by_lr[lr]["mean"] if finite(by_lr[lr]["mean"]) else -1)
            for m, by_lr in cells.items()}
    readings = _rate_readings(cells, highest)
    sec = Section("Accuracy against learning rate", "learning-rate", readings=readings,
                  summary=phrasing.learning_rate_summary(readings, highest, TRAINS_ACCURACY))
    sec.add(f"Each model trained at every learning rate of the grid, with the same seeds. The line is the mean final "
            f"validation accuracy over seeds, the band its {conf} t interval, dots the seeds; a cross at 10% marks a "
            f"rate at which a run diverged. A rate \u201ctrains\u201d a model when none of its runs diverged or failed "
            f"and their mean final accuracy is at least {TRAINS_ACCURACY * 100:g}%; the star marks the highest such "
            "rate.")
    sec.add(report_figure(sweep_figure(cells, xlabel="learning rate (log scale)",
                                       title="final accuracy against learning rate", log_base=10, highest=highest),
                          f"Final validation accuracy against learning rate per model: mean over seeds, {conf} t band, "
                          "dots: seeds; star: the highest rate that trains; dotted line: the "
                          f"{TRAINS_ACCURACY * 100:g}% threshold.", "Final accuracy against learning rate per model"))
    sec.add(_sweep_table(cells, "learning rate", lambda lr: f"{lr:g}", conf))
    sec.add(Paragraph(phrasing.learning_rate_text(
        readings, highest, {m: (lr, cells[m][lr]["mean"]) for m, lr in best.items()}), "reading"))
    return sec


def _lr_rule(ctx: ReportContext, models: Any) -> str:
    """How the learning rate was set across the batch sizes, in words."""
    pairs = {(int(run_config(r)["batch_size"]), float(run_config(r).get("lr", math.nan)))
             for v in ctx.variants for r in ctx.runs[v] if run_config(r).get("model") in models}
    lrs = {lr for _, lr in pairs}
    if len(lrs) == 1:
        return f"the learning rate was held fixed at {next(iter(lrs)):g}"
    if len({round(lr / bs, 12) for bs, lr in pairs}) == 1:
        bs, lr = min(pairs)
        return (f"the learning rate was scaled with the batch size (linear scaling rule, {lr:g} at batch "
                f"{bs}, {lr / bs * 64:g} at 64)")
    return "the learning rate differed between runs without a single rule"


def _did_not_learn(cells: dict[str, dict[int, dict]], models: Any, bs: int) -> dict[str, tuple[int, int]]:
    """The models of ``models`` with a run at batch ``bs`` that did not learn: (such runs, finished runs)."""
    return {m: (cells[m][bs]["chance"], cells[m][bs]["done"]) for m in models if cells[m][bs]["chance"]}


def _batch_size_readings(ctx: ReportContext, cells: dict[str, dict[int, dict]]) -> tuple[list[Reading], Reading]:
    """Each model's change from the largest to the smallest batch, and batch norm's change against group norm's.

    The changes and the difference of batch norm's and group norm's are one family: Holm's
    correction runs across all of them. The difference is read down to the smallest batch at
    which every run of both models learned (``small``; ``smallest`` is the grid's, ``skipped``
    the batches below ``small`` left out, each with the models' runs that did not learn there);
    with no such batch below the largest, the claim is "undecided" with no direction.
    """
    drops, cmps, extra = {}, [], []
    for m, by_bs in cells.items():
        small, large = min(by_bs), max(by_bs)
        cmp = paired(by_bs[large]["finals"], by_bs[small]["finals"], ctx, f"{m} bs={large}", f"{m} bs={small}")
        drops[m] = (small, large, cmp)
        if cmp is not None:
            cmps.append(cmp)
            # chance_small: runs at the small batch that did not learn, whose "change" is a collapse to chance
            extra.append(dict(model=m, small=small, large=large, mean_small=by_bs[small]["mean"],
                              mean_large=by_bs[large]["mean"], chance_small=by_bs[small]["chance"],
                              done_small=by_bs[small]["done"]))
    bn = [m for m in cells if norm_of(m) == "batch"]
    gn = [m for m in cells if norm_of(m) == "group"]
    diff, why, used, skipped = None, "models", None, {}
    if bn and gn:
        b, g = bn[0], gn[0]
        (sb, lb, cb), (sg, lg, cg) = drops[b], drops[g]
        why = "sizes"
        if cb is not None and cg is not None and (sb, lb) == (sg, lg):
            # At a batch where a run of either model did not learn, the two are compared at chance level, which
            # says nothing about the claim (both fail alike); read it down to the smallest batch where all learned.
            below = [bs for bs in sorted(set(cells[b]) & set(cells[g])) if bs < lb]
            failed = {bs: c for bs in below if (c := _did_not_learn(cells, (b, g), bs))}
            used = next((bs for bs in below if bs not in failed), None)
            skipped = {bs: c for bs, c in failed.items() if used is None or bs < used}
            lrs = {cells[m][sb]["lr"] for m in (b, g)}
            lr = lrs.pop() if len(lrs) == 1 else None
            if used is None:
                return family_readings(cmps, ctx.alpha, numbers=extra), Reading(
                    "batch-size", "undecided", f"{g} − {b}",
                    numbers={"bn": b, "gn": g, "small": None, "smallest": sb, "large": lb, "skipped": skipped,
                             "lr": lr, "why": "chance"})

            def change(m: str) -> dict[int, float]:
                small, large = cells[m][used]["finals"], cells[m][lb]["finals"]
                return {s: small[s] - large[s] for s in small if s in large}

            # Per seed, each model's change from the large to the small batch, paired by seed: group norm's
            # change minus batch norm's, so positive means batch norm lost more going to small batches.
            diff, why = paired(change(b), change(g), ctx, f"{b} change", f"{g} change"), "seeds"
    readings = family_readings(cmps + ([diff] if diff is not None else []), ctx.alpha,
                               numbers=extra + ([{}] if diff is not None else []))
    changes = readings[:len(cmps)]
    if diff is None:
        return changes, Reading("batch-size", "not tested",
                                numbers={"why": why, **({"bn": bn[0], "gn": gn[0]} if why == "sizes" else {})})
    d = readings[-1]
    x = {"bn": b, "gn": g, "small": used, "smallest": sb, "large": lb, "skipped": skipped, "lr": lr,
         "bn_change": cb.mean_difference if used == sb else float(np.mean(list(change(b).values()))),
         "gn_change": cg.mean_difference if used == sb else float(np.mean(list(change(g).values()))),
         "confidence": ctx.confidence, "holm_p": d.numbers["holm_p"], "corrected": d.numbers["corrected"],
         "tests": d.numbers["tests"]}
    if d.numbers["why"] == "pairs":
        verdict, x["why"] = "not tested", "few"
    else:  # identical differences on every seed have no test, but a direction
        verdict = ("agree" if d.significant else "undecided") if d.effect > 0 else "disagree"
    return changes, Reading("batch-size", verdict, f"{g} − {b}", d.effect, d.interval, d.p, d.n, x)


def batch_size_section(ctx: ReportContext) -> Section | None:
    """Final accuracy against batch size per model (Wu & He 2018, figure 1)."""
    cells = _sweep(ctx, "batch_size")
    if not cells:
        return None
    conf = ctx.conf
    changes, claim = _batch_size_readings(ctx, cells)
    text, summary = phrasing.batch_size_text(changes, claim)
    sec = Section("Accuracy against batch size", "batch-size", readings=[*changes, claim], summary=summary)
    sec.add(f"Each model trained at every batch size for the same number of epochs (so smaller batches take more, "
            f"noisier steps), with the same seeds; {_lr_rule(ctx, cells)}. The line is the mean final validation "
            f"accuracy over seeds, the band its {conf} t interval, dots the seeds.")
    sec.add(report_figure(sweep_figure(cells, xlabel="batch size (log scale)", title="final accuracy against batch size",
                                       log_base=2),
                          f"Final validation accuracy against batch size per model: mean over seeds, {conf} t band, "
                          "dots: seeds.", "Final accuracy against batch size per model"))
    sec.add(_sweep_table(cells, "batch size", str, conf))
    sec.add(Paragraph(text, "reading"))
    return sec


# --------------------------------------------------------------------------------------------
# Placement, noisy batch norm, the mode bug
# --------------------------------------------------------------------------------------------


def placement_section(ctx: ReportContext) -> Section | None:
    """Batch norm before or after the activation, in the conv layers only or everywhere."""
    info = {}
    for v in ctx.variants:
        opts = model_options(ctx.model(v))
        if opts.get("norm") == "batch" and ctx.done(v):
            info[v] = (opts.get("norm_position"), opts.get("norm_in"))
    if len(info) < 2 or len(set(info.values())) < 2:
        return None
    reference = next((v for v, o in info.items() if o == ("after", "conv")), next(iter(info)))
    sec = Section("Where batch norm goes", "placement")
    sec.add(f"Batch-norm variants differing in where the layer sits: after the activation (the post) or before it "
            f"(Ioffe & Szegedy, section 3.2, normalise Wx + b), and in the convolutional layers only (the post) or "
            f"also in the hidden fully-connected layers. Each is compared seed by seed with {reference}.")
    ref = ctx.seed_finals(reference)
    cmps = {v: c for v in info if v != reference and (c := paired(ref, ctx.seed_finals(v), ctx, reference, v))}
    # Every placement against the reference is one family, Holm-corrected together.
    sec.readings = family_readings(list(cmps.values()), ctx.alpha, question="placement",
                                   numbers=[{"position": info[v][0], "layers": info[v][1]} for v in cmps])
    found = dict(zip(cmps, sec.readings))
    rows = []
    for v, (pos, where) in info.items():
        s, cmp, r = ctx.summaries[v].final, cmps.get(v), found.get(v)
        rows.append([v, pos or NA, "conv + fc" if where == "all" else "conv", fmt_pct(s.mean), fmt_interval(s.t_ci),
                     *([fmt_pp(cmp.mean_difference), fmt_interval(cmp.ci, pp=True), fmt_p(cmp.t_pvalue),
                        fmt_p(r.numbers["holm_p"])] if cmp else ["—"] * 4)])
    conf = ctx.conf
    sec.add(Table([variant_column(), "Position", Column("Layers", nowrap=True), num("mean final (%)"),
                   num(f"{conf} t-interval (%)"), num(f"− {reference} (pp)"), num(f"{conf} CI (pp)"),
                   num("paired t p"), num("Holm p")], rows, caption="Final validation accuracy by batch-norm placement",
                  notes=clipped_notes(rows) + [HOLM_NOTE]))
    text, sec.summary = phrasing.placement_text(reference, sec.readings,
                                                any(pos == "before" for pos, _ in info.values()))
    sec.add(Paragraph(text, "reading"))
    return sec


def _noisy_claim(r: Reading, role: str) -> Reading:
    """Noisy BN against BN: equivalent within the margin, better, worse, or not told apart; against
    no norm: better or not. ``r`` is the comparison's reading (Holm-corrected in its family)."""
    base = {"reference": r.numbers["a"], "confidence": r.numbers["confidence"]}
    question = "noisy-vs-plain" if role == "no norm" else "noisy-vs-bn"
    if r.verdict == "not tested":
        return Reading(question, "not tested", r.numbers["b"], r.effect, r.interval, r.p, r.n,
                       {**base, "margin": EQUIVALENCE_MARGIN, "within": False, "uncorrected": False})
    if role == "no norm":
        verdict = ("agree" if r.significant else "undecided") if r.effect > 0 else "disagree"
        return Reading(question, verdict, r.numbers["b"], r.effect, r.interval, r.p, r.n, base)
    within = r.defined and -EQUIVALENCE_MARGIN <= r.interval[0] and r.interval[1] <= EQUIVALENCE_MARGIN
    if r.significant and r.effect < 0 and not within:
        verdict = "disagree"
    else:
        verdict = "agree" if within or r.significant else "undecided"
    # Equivalence rests on the interval, which Holm's correction of the family's p-values leaves as it is.
    return Reading(question, verdict, r.numbers["b"], r.effect, r.interval, r.p, r.n,
                   {**base, "margin": EQUIVALENCE_MARGIN, "within": within,
                    "uncorrected": within and not r.significant and r.numbers["tests"] >= 2})


def noisy_bn_section(ctx: ReportContext) -> Section | None:
    """Noisy batch norm against batch norm and the plain network (Santurkar et al. 2018, figure 2)."""
    def having(norm: str) -> list[str]:
        return [v for v in ctx.variants if norm_of(ctx.model(v)) == norm and ctx.done(v)]

    noisy, plain, bn = having("noisy-batch"), having("none"), having("batch")
    if not noisy:
        return None
    sec = Section("Noisy batch norm", "noisy-bn")
    sec.add("Noisy batch norm (Santurkar et al. 2018, Algorithm 1) scales and shifts every batch-norm output by random "
            "noise whose mean and scale change at every step (per unit μ ~ U(−0.5, 0.5), σ ~ U(1, 1.25); per sample "
            "m ~ U(μ ± 0.1), s ~ N(σ, 0.1); a ← s·a + m), injecting the distribution shift batch norm is said to "
            "remove. In evaluation it is plain batch norm.")
    cmps, roles = [], []
    for v in noisy:
        for other, role in [(o, "batch norm") for o in bn[:1]] + [(o, "no norm") for o in plain[:1]]:
            cmp = paired(ctx.seed_finals(other), ctx.seed_finals(v), ctx, other, v)
            if cmp is not None:
                cmps.append(cmp)
                roles.append(role)
    # Every comparison the section makes is one family, Holm-corrected together.
    comparisons = family_readings(cmps, ctx.alpha, numbers=[{"role": role} for role in roles])
    claims = [_noisy_claim(r, role) for r, role in zip(comparisons, roles)]
    rows = [[f"{c.b_name} − {c.a_name}", str(c.n_pairs), fmt_pct(c.mean_b), fmt_pct(c.mean_a),
             fmt_pp(c.mean_difference), fmt_interval(c.ci, pp=True), fmt_p(c.t_pvalue), fmt_p(r.numbers["holm_p"])]
            for c, r in zip(cmps, comparisons)]
    if rows:
        sec.add(Table(["Comparison", num("Pairs"), num("mean noisy (%)"), num("mean other (%)"),
                       num("difference (pp)"), num(f"{ctx.conf} CI (pp)"), num("paired t p"), num("Holm p")], rows,
                      caption="Final validation accuracy: noisy batch norm against the others, seed by seed",
                      notes=[HOLM_NOTE]))
    sec.readings = claims + comparisons
    text, sec.summary = phrasing.noisy_text(comparisons, claims, ctx.conf)
    drift = mean_drift(ctx, [bn[0], noisy[0]]) if bn else None
    if drift is not None:
        layer, values = drift
        more = values[noisy[0]] > values[bn[0]]
        text += (f" In the recorded activations the median drift at {layer} is {values[noisy[0]]:.2g} with "
                 f"{noisy[0]} against {values[bn[0]]:.2g} with {bn[0]}: the injected noise "
                 f"{'did' if more else 'did not'} make that layer's inputs less stable.")
    sec.add(Paragraph(text, "reading"))
    return sec


def mode_bug_section(ctx: ReportContext) -> Section | None:
    """The post's protocol against the standard one: what training in eval mode did."""
    by: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for v in ctx.variants:
        if ctx.done(v):
            cfg = run_config(ctx.done(v)[0])
            by[str(cfg.get("model"))][str(cfg.get("protocol"))].append(v)
    models = {m: p for m, p in by.items() if p.get("blog") and p.get("standard")}
    if not models:
        return None
    conf = ctx.conf
    sec = Section("The post's eval-mode bug", "mode-bug")
    sec.add("The post calls model.train() once; its accuracy function then switches to eval mode and nothing switches "
            "back, so from epoch 2 on its batch-norm network trains with BN's running statistics instead of batch "
            "statistics. Its protocol also skips shuffling and feeds softmax probabilities into the cross-entropy "
            "loss. A network without batch norm behaves the same in both modes, so its blog − standard gap measures "
            "those other differences; subtracting it from batch norm's gap estimates what the eval-mode training "
            "did, assuming the other differences affect both networks alike.")
    finals = {m: {p: ctx.seed_finals(protocols[p][0]) for p in ("blog", "standard")} for m, protocols in models.items()}
    gap_cmps = {m: c for m, protocols in models.items()
                if (c := paired(finals[m]["standard"], finals[m]["blog"], ctx, protocols["standard"][0],
                                protocols["blog"][0]))}
    bn = [m for m in models if norm_of(m) in ("batch", "noisy-batch")]
    plain = [m for m in models if norm_of(m) == "none"]

    def gap(m: str) -> dict[int, float]:
        blog, std = finals[m]["blog"], finals[m]["standard"]
        return {s: blog[s] - std[s] for s in set(blog) & set(std)}

    def advantage(protocol: str) -> float:
        b, p = finals[bn[0]][protocol], finals[plain[0]][protocol]
        seeds = set(b) & set(p)
        return float(np.mean([b[s] - p[s] for s in seeds])) if seeds else math.nan

    did = paired(gap(plain[0]), gap(bn[0]), ctx, f"{plain[0]} gap", f"{bn[0]} gap") if bn and plain else None
    # Each model's gap and the difference of the gaps are one family, Holm-corrected together.
    readings = family_readings(
        [*gap_cmps.values(), *([did] if did else [])], ctx.alpha, question=["comparison"] * len(gap_cmps)
        + ["eval-mode"] * bool(did), numbers=[{"model": m} for m in gap_cmps]
        + ([{"bn": bn[0], "advantage_blog": advantage("blog"), "advantage_standard": advantage("standard")}]
           if did else []))
    gaps, effect = readings[:len(gap_cmps)], (readings[-1] if did else None)
    if not plain:
        effect = Reading("eval-mode", "not tested", numbers={"why": "no plain"})
    rows = [[m, str(c.n_pairs), fmt_pct(c.mean_a), fmt_pct(c.mean_b), fmt_pp(c.mean_difference),
             fmt_interval(c.ci, pp=True), fmt_p(c.t_pvalue), fmt_p(r.numbers["holm_p"])]
            for (m, c), r in zip(gap_cmps.items(), gaps)]
    sec.add(Table([Column("Model"), num("Pairs"), num("standard (%)"), num("blog (%)"),
                   num("blog − standard (pp)"), num(f"{conf} CI (pp)"), num("paired t p"), num("Holm p")], rows,
                  caption="Final validation accuracy under the two protocols, seed by seed",
                  notes=[HOLM_NOTE + " The family also holds the difference of the two gaps."]))
    sec.readings = gaps + ([effect] if effect is not None else [])
    text, sec.summary = phrasing.eval_mode_text(gaps, effect)
    sec.add(Paragraph(text, "reading"))
    return sec
