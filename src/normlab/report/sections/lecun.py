"""LeNet-5 against LeCun et al.'s (1998) MNIST test error: how close these runs come to it.

The section appears when runs on MNIST held out a validation split and tested once (``val_split``
> 0, as the lecun preset trains), whatever preset or grid produced them. Each variant's mean test
error and its t-interval are set against :data:`normlab.post.LECUN_TEST_ERROR`: the variant falls
short when the whole interval lies above it, matches when the interval contains it, exceeds when
it lies below; with fewer runs than a verdict needs, only the direction is given.
"""

from __future__ import annotations

from typing import Any

from normlab.experiments import stats
from normlab.experiments.stats import MIN_TEST_PAIRS
from normlab.post import LECUN_SOURCE, LECUN_TEST_ERROR
from normlab.report import phrasing
from normlab.report.context import ReportContext, run_config, run_scale
from normlab.report.document import Column, Paragraph, Section, Table, num
from normlab.report.format import clipped_notes, finite, fmt_interval, fmt_pct, fmt_pp
from normlab.report.readings import Reading
from normlab.report.sections.core import variant_column

__all__ = ["lecun_section"]


def _reading(variant: str, runs: list[Any], confidence: float) -> Reading:
    """A variant's mean test error against LeCun et al.'s; effect and interval are ours − theirs."""
    ref = LECUN_TEST_ERROR
    mean, low, high = stats.mean_ci([1 - float(r.test_accuracy) for r in runs], confidence)
    scale = run_scale(runs)
    position = "short" if low > ref else "exceeds" if high < ref else "matches"
    if len(runs) < MIN_TEST_PAIRS:
        verdict, position = "not tested", None
    else:
        verdict = "disagree" if position == "short" else "agree"
    return Reading("lecun", verdict, variant, mean - ref, (low - ref, high - ref), n=len(runs), numbers={
        "reference": ref, "source": LECUN_SOURCE, "position": position, "mean": mean, "low": low, "high": high,
        "confidence": confidence, "epochs": scale.epochs, "images": scale.train_images})


def lecun_section(ctx: ReportContext) -> Section | None:
    """Each variant's MNIST test error (evaluated once per run) against LeCun et al.'s 0.95%."""
    tested = {v: [r for r in ctx.done(v) if run_config(r).get("dataset") == "mnist"
                  and finite(getattr(r, "test_accuracy", None))] for v in ctx.variants}
    tested = {v: runs for v, runs in tested.items() if runs}
    if not tested:
        return None
    conf = ctx.conf
    readings = [_reading(v, runs, ctx.confidence) for v, runs in tested.items()]
    text, summary = phrasing.lecun_text(readings)
    sec = Section("Against LeCun et al. (1998)", "lecun", readings=readings, summary=summary)
    sec.add(f"{LECUN_SOURCE} report LeNet-5's MNIST test error without distortions as "
            f"{fmt_pct(LECUN_TEST_ERROR, unit=True)}. These runs held out a validation split of the training set, "
            "kept the weights of the epoch with the best validation accuracy and evaluated the test set once with "
            "them, so their test error chose nothing. Their LeNet-5 differed from these networks (Euclidean RBF "
            "output units, a partial C3 connection table, trainable subsampling, a scaled tanh) and trained 20 "
            "passes over all 60,000 training images with stochastic diagonal Levenberg-Marquardt; the comparison "
            "says how close these networks come with this training, not whether their result reproduces.")
    rows = [[r.subject, str(r.n), fmt_pct(r.numbers["mean"]), fmt_interval((r.numbers["low"], r.numbers["high"])),
             fmt_pct(LECUN_TEST_ERROR), fmt_pp(r.effect), fmt_interval(r.interval, pp=True), phrasing.lecun_short(r)]
            for r in readings]
    sec.add(Table([variant_column(), num("Runs (n)"), num("test error: mean (%)"), num(f"{conf} t-interval (%)"),
                   num("LeCun et al. (%)"), num("ours − LeCun (pp)"), num(f"{conf} CI (pp)"), Column("Verdict")],
                  rows, caption="MNIST test error (evaluated once per run) against LeCun et al. (1998)",
                  notes=[f"Falls short: the whole interval lies above LeCun et al.'s error; matches: it contains it; "
                         f"exceeds: it lies below. Fewer than {MIN_TEST_PAIRS} runs give a direction only.",
                         *clipped_notes(rows)]))
    sec.add(Paragraph(text, "reading"))
    return sec
