"""The appendix: runs left out or set aside, the configuration, the environment and the methods."""

from __future__ import annotations

from collections import Counter
from typing import Any

from normlab.experiments import stats
from normlab.report.context import (
    BN, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CHANCE_MARGIN, PLAIN, ReportContext,
    val_accuracy,
)
from normlab.report.document import Column, Paragraph, Section, Table, num
from normlab.report.format import NA, finite, fmt_duration, fmt_pct, fmt_time, fmt_value
from normlab.report.phrasing import MAX_HEADLINE_VERDICTS, set_aside_warning, targets_by_dataset
from normlab.report.sections.core import MAX_LISTED_VARIANTS, variant_column

__all__ = ["config_section", "environment_section", "methods_section", "problems_section"]

_MESSAGE_LIMIT = 600


def _short_message(message: str) -> str:
    """A message for a table cell: a traceback's last line, and at most a few hundred characters."""
    text = message.strip()
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 3 and lines[0].startswith("Traceback"):
        text = f"{lines[-1].strip()} (traceback of {len(lines)} lines omitted)"
    if len(text) > _MESSAGE_LIMIT:
        text = text[:_MESSAGE_LIMIT].rstrip() + "…"
    return text or "(no message)"


def _where(run: Any) -> str:
    """Where a run stopped: the diverged epoch and batch, or how many epochs it finished."""
    if run.status == "diverged":
        e, b = getattr(run, "diverged_epoch", None), getattr(run, "diverged_batch", None)
        return f"epoch {e}" + (f", batch {b}" if b is not None else "") if e is not None else NA
    if run.status == "running":
        return f"after {len(val_accuracy(run))} epoch(s); unfinished or interrupted"
    return f"after {len(val_accuracy(run))} epoch(s)" if val_accuracy(run) else NA


def problems_section(ctx: ReportContext) -> Section | None:
    """Failed, diverged and unfinished runs with their messages, finished runs that did not learn,
    superseded reruns, and runs of another configuration set aside."""
    bad = [r for r in ctx.all_runs if r.status != "done"]
    if not bad and not ctx.superseded and not ctx.set_aside and not ctx.at_chance:
        return None
    sec = Section("Failed and diverged runs", "problems")
    if bad:
        sec.add("These runs are left out of the accuracy statistics, the comparisons and the figures above; a "
                "diverged run still counts in epochs-to-target, as a run that did not reach the target.")
        rows = [[r.variant, str(r.seed), r.status, _where(r), _short_message(getattr(r, "message", "") or "")]
                for r in bad]
        sec.add(Table([variant_column(), num("Seed"), "Status", "Where", Column("Message", kind="mono")],
                      rows, caption="Runs not included in the statistics"))
    if ctx.at_chance:
        sec.add(Paragraph(f"These runs finished, but with a final {ctx.val_label} accuracy below {CHANCE_MARGIN:g} times "
                          "chance (1/C for C classes): they did not learn, or lost what they had learned. A run "
                          "whose loss grows far beyond chance level is stopped as diverged; these stayed near it (as "
                          "under the post's protocol, where the loss cannot grow). They stay in the statistics and the "
                          "verdicts: a setting under which a network does not learn is a result of that setting.",
                          "note"))
        rows = [[a.run.variant, str(a.run.seed), fmt_pct(a.final), fmt_pct(a.best), fmt_pct(a.chance)]
                for a in ctx.at_chance]
        sec.add(Table([variant_column(), num("Seed"), num("Final (%)"), num("Best (%)"), num("Chance (%)")], rows,
                      caption="Finished runs that did not learn: final accuracy within chance (kept in the statistics)"))
    if ctx.superseded:
        rows = [[r.variant, str(r.seed), r.status, str(getattr(r, "id", NA)), str(getattr(r, "config_hash", NA))]
                for r in ctx.superseded]
        sec.add(Paragraph("Some (variant, seed) pairs were run more than once with the same configuration (a "
                          "rerun after a failure, say); the latest finished run is used and the older ones below are "
                          "ignored.", "note"))
        sec.add(Table([variant_column(), num("Seed"), "Status", num("Run id"), Column("Config hash", kind="mono")],
                      rows, caption="Superseded runs"))
    if ctx.set_aside:
        sec.add(*[Paragraph(set_aside_warning(item), "warning") for item in ctx.set_aside])
        rows = [[item.variant, str(r.seed), r.status, str(getattr(r, "id", NA)),
                 "; ".join(f"{f}: {other} (used: {used})" for f, used, other in item.differences) or NA]
                for item in ctx.set_aside for r in item.runs]
        sec.add(Table([variant_column(), num("Seed"), "Status", num("Run id"),
                       Column("Settings that differ", kind="mono")], rows,
                      caption="Runs of another configuration, left out of every statistic"))
    return sec


def config_section(ctx: ReportContext) -> Section | None:
    """The config fields shared by all runs and the per-variant differences."""
    configs = [(r.variant, r.config) for r in ctx.all_runs if isinstance(getattr(r, "config", None), dict)]
    if not configs:
        return None
    sec = Section("Configuration", "config")
    keys = sorted({k for _, c in configs for k in c} - {"seed"})

    def values(k: str, variant: str | None = None) -> set[str]:
        return {fmt_value(c[k]) if k in c else "(absent)" for v, c in configs if variant in (None, v)}

    shared = [k for k in keys if len(values(k)) == 1]
    differing = [k for k in keys if len(values(k)) > 1]
    sec.add("Every run's full config is stored in the database. Fields with the same value in every run are listed "
            "first; fields that differ follow, per variant. The seed is per run (see the overview).")
    sec.add(Table(["Field", Column("Value", kind="mono")], [[k, fmt_value(configs[0][1][k])] for k in shared],
                  caption="Shared by all runs"))
    if differing:
        def cell(k: str, v: str) -> str:
            return " / ".join(sorted(values(k, v))) or NA

        caption = "Different between variants (a / b: the variant's runs differ)"
        if len(ctx.variants) <= MAX_LISTED_VARIANTS:
            rows = [[k, *[cell(k, v) for v in ctx.variants]] for k in differing]
            sec.add(Table(["Field", *[Column(v, kind="mono") for v in ctx.variants]], rows, caption=caption))
        else:
            # One column per variant would make a table dozens of columns wide: one row each instead.
            rows = [[v, *[cell(k, v) for k in differing]] for v in ctx.variants]
            sec.add(Table([variant_column(), *[Column(k, kind="mono") for k in differing]], rows, caption=caption))
    return sec


def _counted(values: list[str]) -> str:
    """One value, or each value with its number of runs."""
    counts = Counter(values)
    if not counts:
        return NA
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{k} ({n} run{'' if n == 1 else 's'})" for k, n in sorted(counts.items()))


def environment_section(ctx: ReportContext) -> Section:
    """Versions, devices, hosts, what each run's environment record says, and the time span of the runs."""
    runs = ctx.all_runs
    sec = Section("Environment", "environment")
    rows = [[label, _counted([str(getattr(r, attr)) for r in runs if getattr(r, attr, None) not in (None, "")])]
            for label, attr in (("normlab version", "normlab_version"), ("git revision", "git_rev"),
                                ("torch version", "torch_version"), ("device", "device"), ("host", "host"))]
    # What a run recorded of its environment (kernels, threads...): shown where runs recorded any.
    records = [e for e in (getattr(r, "environment", None) for r in runs) if isinstance(e, dict)]
    for key in dict.fromkeys(k for e in records for k in e):
        rows.append([str(key).replace("_", " "), _counted([fmt_value(e[key]) for e in records if key in e])])
    starts = [float(r.started_at) for r in runs if finite(getattr(r, "started_at", None))]
    ends = [float(r.finished_at) for r in runs if finite(getattr(r, "finished_at", None))]
    durations = [float(r.finished_at) - float(r.started_at) for r in runs
                 if finite(getattr(r, "started_at", None)) and finite(getattr(r, "finished_at", None))]
    rows.append(["first run started", fmt_time(min(starts)) if starts else NA])
    rows.append(["last run finished", fmt_time(max(ends)) if ends else NA])
    if starts and ends:
        rows.append(["wall-clock span", fmt_duration(max(ends) - min(starts))])
    if durations:
        rows.append(["run time, all runs together", fmt_duration(sum(durations))])
    rows.append(["report generated", fmt_time(ctx.generated_at)])
    if ctx.db_path is not None:
        rows.append(["database", str(ctx.db_path)])
    sec.add(Table(["Item", Column("Value", kind="mono")], rows, caption="Where and when the runs ran"))
    return sec


def methods_section(ctx: ReportContext) -> Section:
    """How every number was computed."""
    conf, alpha = ctx.conf, f"{ctx.alpha:g}"
    goal = (f"the target of the variant's dataset "
            f"({targets_by_dataset([(g.dataset, g.target) for g in ctx.target_groups])})"
            if ctx.mixed_targets else f"{ctx.target * 100:g}%")
    several = len(ctx.target_groups) > 1
    per = " of each dataset" if several else ""
    apart = "; variants trained on different datasets are never ranked against each other" if several else ""
    return Section("Methods", "methods", paragraphs=[
        Paragraph("Only runs with status done enter the accuracy statistics; failed, diverged and unfinished runs "
                  "are listed with their messages, and a diverged run counts in epochs-to-target as a run that did "
                  "not reach the target. A run diverged when a training loss became NaN or infinite, or when an "
                  "epoch's mean training loss rose far above chance level, ln C for C classes (its message gives "
                  "the limit); it stopped there. A finished run whose final accuracy is below "
                  f"{CHANCE_MARGIN:g}/C is listed as one that did not learn, and stays in the statistics. A variant's "
                  "runs must share one configuration (the seed aside): where a "
                  "variant has runs under several, the one with the most seeds (ties: the most recent) is used and "
                  "the others are set aside with a warning, never mixed into one mean. Where a (variant, seed) was "
                  "run more than once, the latest finished run is used.", lead="Runs."),
        Paragraph(f"The headline interval of a mean is the {conf} Student-t interval, mean ± t(1 − α/2, n − 1) · "
                  f"sd/√n with the sample sd (ddof = 1). The percentile bootstrap interval of the mean "
                  f"({BOOTSTRAP_RESAMPLES:,} resamples, generator seed {BOOTSTRAP_SEED}) is shown beside it as a "
                  "cross-check. With one run an interval is undefined and shown as n/a.", lead="Intervals."),
        Paragraph("Seeds are paired: seed s gives every variant the same data order and initial weights. Which "
                  f"variants are compared: when the study holds exactly {PLAIN} and {BN}, B = {BN} is compared "
                  f"with A = {PLAIN}. When the variants form a grid, that is their configs differ only in the model "
                  "and in the learning rate, the batch size or the protocol (nothing else may differ, except a "
                  "learning rate scaled linearly with the batch size in a batch-size grid), with at least two "
                  "models and two values, each model B is compared with A = the first model without normalisation "
                  "(norm none; else "
                  "the first model) at the same learning rate or batch size (under the same protocol), never across "
                  "values, so a difference measures the model at that setting. Otherwise every variant is compared "
                  "with the first one (the baseline) trained on the same dataset: accuracies on two datasets are "
                  "never compared. Differences are B − A per shared seed; the tests are the paired t-test and the "
                  "Wilcoxon signed-rank test (two-sided, zero differences discarded), the effect sizes Cohen's d_z "
                  f"and Hedges' g_z. A verdict calls a difference significant when p < {alpha} and the {conf} "
                  "interval of the mean difference excludes zero. A grid of variants makes many such tests, and "
                  f"about α = {alpha} of the true nulls among them come out significant by chance, so the "
                  "paired t-test p-values of all comparisons of the same metric (final, best) are also adjusted "
                  "with Holm's step-down correction (sorted ascending, the i-th of m p-values is multiplied by "
                  "m − i + 1, then made non-decreasing; this bounds the chance of any false positive among them "
                  f"by α). Whenever two or more comparisons of a metric were tested, every verdict on them uses "
                  f"its Holm-adjusted p (significant only when it is < {alpha} and the interval excludes zero), and "
                  "says so with the adjusted p. The ablation sections correct their own families the same way: "
                  "placement (each placement against the reference), noisy batch norm (noisy BN against batch norm "
                  "and against no norm), the eval-mode bug (each model's blog − standard gap and their difference) "
                  "and the batch-size sweep (each model's change and batch norm's against group norm's); a verdict "
                  "left uncorrected in such a family is labelled “uncorrected”. With fewer than "
                  f"{stats.MIN_TEST_PAIRS} paired seeds no test is run: two seeds give the t-test one degree of "
                  "freedom and the Wilcoxon test a smallest p of 0.5, so such a comparison reads “not "
                  "tested”, and Hedges' g_z (whose exact correction is 0 there) is n/a.", lead="Comparisons."),
        Paragraph("The headline leads with the reading of the section that answers the study's question, where "
                  "there is one (the learning-rate, batch-size, placement, noisy-BN and eval-mode sections). It "
                  f"then lists every verdict on final accuracy when there are at most {MAX_HEADLINE_VERDICTS} "
                  "(and no such reading); otherwise the significant ones with the largest mean differences, as many "
                  f"as fit in {MAX_HEADLINE_VERDICTS} lines, and says how many more the comparisons section holds.",
                  lead="Headline."),
        Paragraph(f"Epochs to target is the first epoch whose {ctx.val_label} accuracy reaches {goal}; time to "
                  "target adds the wall-clock seconds of the epochs up to it. A run "
                  "that never reaches it is censored (it would reach it, if ever, after its last epoch) and counts "
                  "in the median as later than every run that did: the median is defined only when more than half "
                  "of the runs reached the target (the Kaplan-Meier median, as every run is censored at the same "
                  "last epoch), and is “not reached” otherwise; the mean only when every run reached it. "
                  f"The fastest variant{per} is the one with the lowest such median (ties: more runs reached, then "
                  f"less time){apart}.", lead="Target."),
        Paragraph("Accuracies are in percent with two decimals, differences in percentage points (pp), times in "
                  "seconds.", lead="Units."),
    ])
