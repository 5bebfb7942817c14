"""The core sections' readings in words: comparisons, targets, the headline, the post, the scale."""

from __future__ import annotations

from typing import Any, Sequence

from normlab.experiments.stats import MIN_TEST_PAIRS
from normlab.report.format import (
    NA, cap, finite, fmt_interval, fmt_pp, fmt_seconds, format_p, format_pp, join_ints, join_names, join_words,
    p_words, plural,
)
from normlab.report.readings import Reading

#: With at most this many comparisons of final accuracy the headline lists every verdict.
MAX_HEADLINE_VERDICTS = 3

CLAIMS = {
    "drift": "Ioffe & Szegedy (2015, figure 1) report that without batch norm the distribution of a nonlinearity's "
             "input keeps moving during training, while with it the distribution stays much more stable.",
    "smoothness": "Santurkar et al. (2018) report that batch norm makes the loss landscape smoother: along the "
                  "gradient the loss varies less, the gradient changes less (it is more predictive) and the "
                  "effective β-smoothness is lower.",
    "learning-rate": "Bjorck et al. (2018) find that batch norm's main benefit is that it lets a network train at "
                     "larger learning rates; Ioffe & Szegedy (2015) trained their BN networks at 5 and 30 times the "
                     "base rate.",
    "batch-size": "Wu & He (2018, figure 1) found batch norm's ImageNet error rising from 23.6% at 32 images per GPU "
                  "to 34.7% at 2, while group norm stayed at about 24% across batch sizes.",
    "placement": "Ioffe & Szegedy put batch norm before the nonlinearity, arguing its input Wx + b is \u201cmore "
                 "likely to have a symmetric, non-sparse distribution\u201d; they did not compare the two positions, "
                 "and the post puts it after.",
    "noisy": "Santurkar et al. (2018, figure 2) report that the noisy network trains about as well as with standard "
             "batch norm, and better than without it, although its layer inputs are far less stable: stable "
             "distributions are not what makes batch norm work.",
    "input-norm": "The post explains min-max scaling and z-scores, then trains on one input scaling without measuring "
                  "them. Batch norm normalises every layer's inputs, so it is said to make the network's own input "
                  "normalisation unnecessary: if so, the setting should matter less with it than without.",
    "eval-mode": "The post reports that batch norm lifted LeNet-5 from just above 98% to about 98.5% after 10 "
                 "epochs, measured under its own protocol.",
}

_METRIC_LABELS = {"final": "final validation accuracy", "best": "best validation accuracy"}


# --------------------------------------------------------------------------------------------
# Paired comparisons
# --------------------------------------------------------------------------------------------


def _pp_number(fraction: float) -> str:
    return format_pp(fraction).removesuffix(" pp")


def _untested_sentence(r: Reading, label: str, unpaired: str) -> str:
    """A comparison no test was run on: too few pairs, or every difference the same."""
    x, n, a, b = r.numbers, r.n, r.numbers["a"], r.numbers["b"]
    if n == 0:
        return f"Cannot compare {label} of {b} and {a}: they share no paired seed.{unpaired}"
    if x["why"] == "equal":
        if x["n_nonzero"] == 0:
            return (f"No difference in {label} between {b} and {a}: identical results on all {n} paired seeds, so no "
                    f"test applies.{unpaired}")
        return (f"{b} {'raised' if r.effect > 0 else 'lowered'} {label} by {format_pp(abs(r.effect))} relative to {a} "
                f"on every one of {n} paired seeds; with identical differences the t-test is undefined (Wilcoxon "
                f"{format_p(x['wilcoxon_p'])}).{unpaired}")
    if n == 1:
        seen = f"On the one paired seed (seed {join_ints(x['seeds'])}) {b} − {a} is {format_pp(r.effect, signed=True)}"
    else:
        higher, lower = x["higher"], x["lower"]
        every = "both" if n == 2 else f"all {n}"
        side = (f"On {every} seeds {b} is higher" if higher == n else f"On {every} seeds {b} is lower" if lower == n
                else f"On {every} seeds {b} and {a} are equal" if higher == lower == 0
                else f"Of {n} seeds, {b} is higher on {higher} and lower on {lower}")
        interval = (f", {x['confidence'] * 100:g}% CI {_pp_number(r.interval[0])} to {_pp_number(r.interval[1])}"
                    if r.defined else "")
        seen = f"{side}; mean difference {format_pp(r.effect, signed=True)}{interval}"
    return (f"{cap(label)} of {b} against {a}: not tested, too few seeds (n = {n}; a paired test needs at least "
            f"{MIN_TEST_PAIRS}). {seen}: a direction, not a finding.{unpaired}")


def comparison_sentence(r: Reading) -> str:
    """The verdict of a comparison of accuracy, B against A, with its numbers.

    "raised" / "lowered" only for a significant difference (after Holm's correction in a family
    of two or more tests, whose adjusted p is then given); otherwise "No significant
    difference". With too few seeds, "not tested", and the direction as just that. The mean
    difference and interval are in percentage points, followed by the paired t-test and Wilcoxon
    p-values, ``d_z`` and the number of paired seeds; unpaired seeds are named.
    """
    x = r.numbers
    a, b, alpha, n = x["a"], x["b"], x["alpha"], r.n
    label = _METRIC_LABELS.get(x["metric"], x["metric"])
    parts = [f"{join_ints(seeds)} ({name} only)" for seeds, name in ((x["only_a"], a), (x["only_b"], b)) if seeds]
    count = len(x["only_a"]) + len(x["only_b"])
    unpaired = f" Unpaired {'seed' if count == 1 else 'seeds'} excluded: {'; '.join(parts)}." if parts else ""
    if r.verdict == "not tested":
        return _untested_sentence(r, label, unpaired)
    numbers = [f"{x['confidence'] * 100:g}% CI {_pp_number(r.interval[0])} to {_pp_number(r.interval[1])}",
               f"paired t-test {format_p(r.p, alpha)}"]
    if x["corrected"]:
        numbers.append(f"Holm-adjusted over {x['tests']} comparisons {format_p(x['holm_p'], alpha)}")
    if finite(x["wilcoxon_p"]):
        numbers.append(f"Wilcoxon {format_p(x['wilcoxon_p'], alpha)}")
    if not r.significant:
        numbers.append(plural(n, "seed"))
        after = " after Holm's correction" if x["uncorrected_significant"] else ""
        return (f"No significant difference{after} in {label} between {b} and {a}: "
                f"{format_pp(r.effect, signed=True)} ({'; '.join(numbers)}).{unpaired}")
    if finite(x["d_z"]):
        numbers.append(f"d_z = {x['d_z']:.2f}")
    numbers.append(plural(n, "seed"))
    if r.effect > 0:
        head = f"{b} raised {label} by {format_pp(r.effect)} over {a}"
    else:
        head = f"{b} lowered {label} by {format_pp(-r.effect)} relative to {a}"
    text = f"{head} ({'; '.join(numbers)})."
    # With k non-zero pairs the smallest two-sided exact Wilcoxon p is 2 / 2**k; say so when
    # that floor, not the data, is why the rank test disagrees.
    if finite(x["wilcoxon_p"]) and x["wilcoxon_p"] >= alpha and 2.0 ** (1 - x["n_nonzero"]) >= alpha:
        text += f" With {x['n_nonzero']} non-zero paired differences the Wilcoxon test cannot reach p < {alpha:g}."
    return text + unpaired


def short_verdict(r: Reading) -> str:
    """A comparison's verdict in a table cell: raised, lowered, not significant (after Holm), not tested."""
    if r.verdict == "not tested":
        return "not tested (too few seeds)" if r.numbers["why"] == "pairs" else "not tested (equal differences)"
    if r.significant:
        return "raised" if r.effect > 0 else "lowered"
    return "not significant after Holm" if r.numbers["uncorrected_significant"] else "not significant"


def comparisons_summary(readings: Sequence[Reading]) -> str:
    """How many of many comparisons are significant (after Holm's correction, where it decides)."""
    final = [r for r in readings if r.numbers["metric"] == "final"]
    best = [r for r in readings if r.numbers["metric"] == "best"]
    sig = [r for r in final if r.significant]
    holm = " after Holm's correction" if any(r.numbers["corrected"] for r in final) else ""
    untested = sum(r.verdict == "not tested" for r in final)
    raw = [sum(r.numbers["uncorrected_significant"] for r in rs) for rs in (final, best)]
    return (f"{len(sig)} of the {len(final)} comparisons of final accuracy {'is' if len(sig) == 1 else 'are'} "
            f"significant{holm}" + (f" ({join_names([r.subject for r in sig], 4)})" if sig else "")
            + f", and {sum(r.significant for r in best)} of {len(final)} of best accuracy"
            + (f" ({raw[0]} and {raw[1]} without the correction)" if holm else "")
            + (f"; {untested} of them {'was' if untested == 1 else 'were'} not tested (too few seeds or identical "
               "differences)" if untested else "")
            + (". The verdicts of the significant ones follow; the tables" if sig else ". The tables")
            + " list every comparison with a short verdict.")


def difference_words(r: Reading | None) -> str:
    """``"+0.31 pp (3 seeds, 95% CI -0.1 to +0.7 pp, p = 0.12): not significant"``."""
    if r is None or not finite(r.effect):
        return "no paired runs to compare"
    holm = (f", Holm-adjusted over {r.numbers['tests']} tests p {p_words(r.numbers['holm_p'])}"
            if r.numbers.get("corrected") else "")
    p = f", p {p_words(r.p)}{holm}" if finite(r.p) else ""
    ci = f", {r.numbers['confidence'] * 100:g}% CI {fmt_interval(r.interval, pp=True)} pp{p}" if r.defined else ""
    return f"{fmt_pp(r.effect, unit=True)} ({plural(r.n, 'seed')}{ci}): {significance_words(r)}"


def significance_words(r: Reading) -> str:
    """Whether a difference is significant, in a few words: never a finding when no test was run."""
    if r.verdict == "not tested" and r.numbers.get("why") == "equal":
        return "not tested: identical differences on every seed"
    if r.verdict == "not tested" or not r.defined:
        return f"not tested with {plural(r.n, 'seed')}, so direction only"
    words = "significant" if r.significant else "not significant"
    return words + (" after Holm's correction" if r.numbers.get("corrected") else "")


# --------------------------------------------------------------------------------------------
# Epochs to target
# --------------------------------------------------------------------------------------------


def _epochs(n: float) -> str:
    return f"{n:g} epoch{'' if n == 1 else 's'}"


def _target_part(v: str, t: Any, goal: str) -> str:
    diverged = f" ({t.n_diverged} diverged)" if t.n_diverged else ""
    if t.n_reached == 0:
        return f"no run of {v}{diverged} reached {goal} within {plural(t.last_epoch, 'epoch')}"
    head = f"{t.n_reached} of {t.n_runs} runs of {v}{diverged} reached {goal}"
    if not t.median_reached:
        return (f"{head}: not reached by most runs, so the median is not reached within "
                f"{plural(t.last_epoch, 'epoch')}")
    censored = (f", counting the {t.n_not_reached} that did not as later than epoch {t.last_epoch}"
                if t.n_not_reached else "")
    return (f"{head}, after a median of {_epochs(t.median_epochs)} "
            f"({fmt_seconds(t.median_seconds)} s{censored})")


def target_text(targets: dict[str, Any], ranked: Sequence[str], target: float, *, listed: bool) -> str:
    """The reading under the epochs-to-target table.

    ``targets`` are the variants' :class:`~normlab.experiments.stats.TargetSummary` objects,
    ``ranked`` those whose censored median is defined, fastest first
    (:func:`~normlab.experiments.stats.rank_by_target`). ``listed`` names every variant;
    otherwise the fastest is named, and the variants whose runs mostly did not reach the target.
    """
    goal = f"{target * 100:g}%"
    if listed:
        parts = [_target_part(v, t, goal) for v, t in targets.items()]
        return cap("; ".join(parts)) + "." if parts else ""
    reached = [v for v, t in targets.items() if t.n_reached]
    if not reached:
        return f"No run of any of the {len(targets)} variants reached {goal}."
    never = [v for v in targets if v not in reached]
    most = [v for v in reached if v not in ranked]
    rest = ((f" In {join_names(most)} half of the runs or more did not reach it (not reached)." if most else "")
            + (f" No run reached it for {join_names(never)}." if never else ""))
    if not ranked:
        return (f"{len(reached)} of {len(targets)} variants had runs that reached {goal}, but none in more than half "
                f"of its runs, so no variant has a median epochs to target.{rest}")
    t = targets[ranked[0]]
    return (f"{len(ranked)} of {len(targets)} variants reached {goal} in more than half of their runs; the fastest "
            f"by the median (runs that did not reach it counted as later than the last epoch) is {ranked[0]}, after "
            f"a median of {_epochs(t.median_epochs)} ({fmt_seconds(t.median_seconds)} s; {t.n_reached} of "
            f"{t.n_runs} runs reached it).{rest}")


def _dataset_name(dataset: str | None) -> str:
    return dataset if dataset is not None else "several datasets"


def targets_by_dataset(groups: Sequence[tuple[str | None, float]], *, header: bool = False) -> str:
    """Each dataset's target, datasets sorted by name: ``"85% on fashion-mnist, 98% on mnist"``, or
    for the page header (``header``) ``"85% (fashion-mnist), 98% (mnist)"``. ``groups`` holds
    ``(dataset, target)`` pairs (dataset None: variants whose runs mix datasets)."""
    ordered = sorted(groups, key=lambda g: (g[0] is None, g[0] or ""))
    if header:
        return ", ".join(f"{t * 100:g}% ({_dataset_name(d)})" for d, t in ordered)
    return join_words([f"{t * 100:g}% on {_dataset_name(d)}" for d, t in ordered])


def grouped_target_text(groups: Sequence[tuple[str | None, float, dict[str, Any], Sequence[str]]], *,
                        max_listed: int) -> str:
    """The reading under the epochs-to-target table of a study spanning several datasets.

    Each group is ``(dataset, target, summaries, ranked)``: one dataset's variants, their target,
    their :class:`~normlab.experiments.stats.TargetSummary` objects and those ranked fastest
    first among them alone; each is read by :func:`target_text` (every variant named when the
    group has at most ``max_listed``). Variants of different datasets are never ranked together.
    """
    mixed = len({target for _, target, _, _ in groups}) > 1
    parts = [f"On {_dataset_name(d)} (target {target * 100:g}%): "
             + target_text(summaries, ranked, target, listed=len(summaries) <= max_listed)
             for d, target, summaries, ranked in groups if summaries]
    lead = ("Epochs to target are read within each dataset" + (", against its own target" if mixed else "")
            + "; variants trained on different datasets are never ranked against each other.")
    return " ".join([lead, *parts])


def baseline_text(baselines: dict[str | None, str], alone: dict[str, str | None], *, form: str) -> str:
    """Which variant each variant is compared with, in a study that is not a grid.

    ``baselines`` maps each dataset to the variant its comparisons use as A (the pairs actually
    compared, in order), ``alone`` each variant compared with none (the only one on its dataset)
    to its dataset. ``form`` is ``"overview"`` (a sentence of the overview) or ``"comparisons"``
    (the paired-comparisons section's opening). With one baseline and no variant alone, the
    baseline is the study's first variant and is named so.
    """
    if len(baselines) == 1 and not alone:
        a = next(iter(baselines.values()))
        if form == "overview":
            return f"Each variant (B) is compared with the first variant, the baseline {a!r} (A), seed by seed."
        return (f"Each variant B against the baseline A = {a} (the first variant of the study), seed by "
                "seed: differences are B − A on the same seed.")
    quote = (lambda v: repr(v)) if form == "overview" else (lambda v: v)
    listed = ", ".join(f"{quote(a)} on {_dataset_name(d)}" for d, a in baselines.items())
    if not baselines:
        each = ", ".join(f"{quote(v)} on {_dataset_name(d)}" for v, d in alone.items())
        return (f"No variant is compared with another: each is the only one on its dataset ({each}), and "
                "accuracies on different datasets are never compared.")
    if form == "overview":
        text = (f"Each variant (B) is compared, seed by seed, with the first variant trained on the same dataset, "
                f"its baseline (A), never with a variant on another dataset: {listed}.")
    else:
        text = (f"Each variant B against the baseline A = the first variant trained on the same dataset ({listed}), "
                "seed by seed: differences are B − A on the same seed, and variants on different datasets are never "
                "compared.")
    if len(alone) == 1:
        v, d = next(iter(alone.items()))
        text += f" {quote(v)} is the only variant on {_dataset_name(d)}, so it is compared with none."
    elif alone:
        text += (f" {join_words([f'{quote(v)} ({_dataset_name(d)})' for v, d in alone.items()])} are each the only "
                 "variant on their dataset, so they are compared with none.")
    return text


# --------------------------------------------------------------------------------------------
# The headline and the warnings under it
# --------------------------------------------------------------------------------------------


def headline(final: Sequence[Reading], sections: Sequence[Any], *, val_label: str,
             variant_lines: Sequence[str]) -> tuple[list[str], str, str]:
    """The headline lines, the pointer to what they leave out, and the anchor it points to.

    A section with a ``summary`` (a preset's own reading) leads. Then the verdicts on final
    accuracy (``final``, one reading per comparison): all of them when they fit in the
    :data:`MAX_HEADLINE_VERDICTS` lines left by the summaries, else the significant ones with the
    largest mean differences (as many as fit), or one line saying none is significant; the
    pointer counts the rest. Where Holm's correction decides, significant means significant after
    it, and each line gives its Holm-adjusted p. Without comparisons, ``variant_lines`` follow
    the summaries.
    """
    numbered = list(enumerate(sections, 1))
    lead = [f"{s.summary.rstrip().rstrip('.')} (section {i}, {s.title})." for i, s in numbered if s.summary]
    if not final:
        return lead + list(variant_lines), "", ""
    if not lead and len(final) <= MAX_HEADLINE_VERDICTS:
        return [comparison_sentence(r) for r in final], "", ""
    room = max(1, MAX_HEADLINE_VERDICTS - len(lead))
    number = next((i for i, s in numbered if s.anchor == "comparisons"), None)
    where = f"section {number}, {sections[number - 1].title}" if number is not None else ""
    if len(final) <= room:
        return (lead + [comparison_sentence(r) for r in final], f"The comparisons' details are in {where}." if where
                else "", "comparisons" if where else "")
    holm = any(r.numbers["corrected"] for r in final)
    significant = sorted((r for r in final if r.significant), key=lambda r: -abs(r.effect))
    corrected = " after Holm's correction" if holm else ""
    lines = lead + [comparison_sentence(r) for r in significant[:room]]
    if not significant:
        tested = [r for r in final if r.verdict != "not tested"]
        largest = max((r for r in final if finite(r.effect)), key=lambda r: abs(r.effect), default=None)
        if not tested:
            text = (f"None of the {plural(len(final), 'paired comparison')} of final {val_label} accuracy was tested: "
                    f"too few seeds (a paired test needs at least {MIN_TEST_PAIRS})")
        else:
            untested = len(final) - len(tested)
            text = (f"None of the {plural(len(tested), 'tested paired comparison')} of final {val_label} accuracy "
                    f"shows a significant difference{corrected}"
                    + (f" ({untested} more not tested: too few seeds or identical differences)" if untested else ""))
        if largest is not None:
            text += (f"; the largest mean difference is {fmt_pp(largest.effect, unit=True)} ({largest.subject}"
                     + (f", paired t-test p {p_words(largest.p)}" if finite(largest.p) else "")
                     + (f", Holm-adjusted p {p_words(largest.numbers['holm_p'])}" if holm and finite(largest.p)
                        else "") + ")")
        lines.append(text + ".")
    if number is None:
        return lines, "", ""
    shown = min(len(significant), room)
    tag = " (after Holm's correction)" if holm else ""
    if not significant:
        more = f"All {len(final)} comparisons, with their verdicts, are in {where}."
    elif shown == len(significant):
        more = (f"{'This is the only' if shown == 1 else f'These are the {shown}'} significant "
                f"difference{'s' if shown > 1 else ''} among {len(final)} paired comparisons{tag}; all of them, "
                f"with their verdicts, are in {where}.")
    else:
        more = (f"{'This is the largest' if shown == 1 else f'These are the {shown} largest'} of "
                f"{len(significant)} significant differences among {len(final)} paired comparisons{tag}; all of "
                f"them, with their verdicts, are in {where}.")
    return lines, more, "comparisons"


def set_aside_warning(item: Any) -> str:
    """The warning for a variant with runs under another configuration (a :class:`~normlab.report.context.SetAside`)."""
    def settings(index: int) -> str:
        shown = [f"{f} = {vals[index]}" for f, *vals in item.differences[:4]]
        more = len(item.differences) - len(shown)
        return ", ".join(shown) + (f" and {more} more setting{'s' if more > 1 else ''}" if more > 0 else "")

    what = f"with {settings(0)}" if item.differences else "under its latest configuration"
    other = f"with {settings(1)}" if item.differences else "without a recorded config"
    n = len(item.runs)
    return (f"{item.variant} has runs under more than one configuration: the report uses its "
            f"{plural(item.n_used, 'seed')} {what} and leaves out {plural(n, 'run')} {other} "
            f"(seed{'s' if n > 1 else ''} {join_ints(int(r.seed) for r in item.runs)}) rather than mix them into one "
            "mean. Rerun the missing seeds, or give the other configuration its own study name.")


def at_chance_warning(items: Sequence[Any], val_label: str) -> str:
    """The warning for finished runs that did not learn (:class:`~normlab.report.context.AtChance` items)."""
    by_variant: dict[str, list[int]] = {}
    for item in items:
        by_variant.setdefault(item.run.variant, []).append(int(item.run.seed))
    listed = "; ".join(f"{v} ({'seed' if len(seeds) == 1 else 'seeds'} {join_ints(sorted(seeds))})"
                       for v, seeds in by_variant.items())
    one = len(items) == 1
    return (f"{listed}: final {val_label} accuracy within chance, so {'this run' if one else 'these runs'} did not "
            f"learn. {'It stays' if one else 'They stay'} in the statistics and the verdicts, as what the setting "
            f"gives, and {'is' if one else 'are'} listed under \"Failed and diverged runs\".")


# --------------------------------------------------------------------------------------------
# The post's values
# --------------------------------------------------------------------------------------------


def post_position(r: Reading) -> str:
    """Where the post's value lies against our interval: ``"inside"``, ``"ours above"``, ``"ours below"``,
    or ``"not comparable"`` when the runs were not made at the post's scale."""
    if r.verdict == "not comparable":
        return "not comparable"
    if r.verdict == "not tested":
        return NA
    return "inside" if r.verdict == "agree" else f"ours {r.numbers['direction']}"


def _settings(differences: Sequence[tuple[str, str, str]]) -> str:
    return join_words([f"{name} {ours} (the post: {post})" for name, ours, post in differences])


def post_text(readings: Sequence[Reading], conf: str) -> str:
    """The reading under the table of the post's values beside ours.

    A value whose runs differ from the post's in scale or settings (``numbers["differences"]``:
    ``(setting, ours, the post's)``) is "not comparable at this scale", whatever its number; the
    others are placed against our interval, each interval uncorrected for the others.
    """
    apart = [r for r in readings if r.verdict == "not comparable"]
    parts, text = [], ""
    if apart:
        by: dict[tuple, list[str]] = {}
        for r in apart:
            by.setdefault(tuple(r.numbers["differences"]), []).append(f"{r.subject} at {r.numbers['epoch']}")
        text = " ".join(f"Not comparable at this scale for {', '.join(where)}: these runs differ from the post's in "
                        f"{_settings(diff)}, so the numbers are shown beside the post's, not compared with them."
                        for diff, where in by.items())
    for direction in ("above", "below"):
        outside = [f"{r.subject} at {r.numbers['epoch']}" for r in readings
                   if r.verdict == "disagree" and r.numbers["direction"] == direction]
        if outside:
            parts.append(f"our mean is {direction} the post's value, which lies outside our {conf} interval, for "
                         + ", ".join(outside))
    compared = [r for r in readings if r.verdict != "not comparable"]
    if not compared:
        tail = ""
    elif not parts:
        tail = (f"Every {'other ' if apart else ''}value of the post lies inside our {conf} interval of the mean (or "
                "the interval is undefined).")
    else:
        tail = (cap("; ".join(parts)) + ". The post's numbers come from one run each, so they also carry one seed's "
                f"luck; read this as a check of the level (uncorrected: {plural(len(compared), 'interval')} "
                "checked), not a test.")
    return " ".join(t for t in (text, tail) if t)


# --------------------------------------------------------------------------------------------
# The scale of the runs
# --------------------------------------------------------------------------------------------

#: What a ``--quick`` preset's verdicts carry.
INDICATIVE = "Indicative only (quick run)."


def indicative(text: str) -> str:
    """A verdict of a ``--quick`` run, marked as indicative only."""
    return f"{text.rstrip()} {INDICATIVE}" if text.strip() else text


def scale_text(scale: Any) -> str:
    """The scale of the runs for the page header (a :class:`~normlab.report.context.Scale`):
    ``"mnist, all 60,000 training images, 10 epochs, standard protocol, 5 seeds"``."""
    full = scale.full_images
    sizes = [f"{n:,}" if n is not None else "?" for n in scale.train_images]
    if scale.full:
        images = f"all {full:,} training images"
    else:
        images = f"{join_words(sizes, 'or')} {'of ' + format(full, ',') + ' ' if full else ''}training images"
    epochs = "/".join(map(str, scale.epochs)) or "?"
    text = (f"{', '.join(scale.datasets) or '?'}, {images}, {epochs} epoch{'' if scale.epochs == (1,) else 's'}, "
            f"{'/'.join(scale.protocols) or '?'} protocol, up to {plural(scale.seeds, 'seed')} per variant")
    return text + ("; a preset's --quick run: its verdicts are indicative only" if scale.quick else "")


def quick_warning(scale: Any) -> str:
    """The warning on top of a ``--quick`` preset's report."""
    return (f"This study is a preset's --quick run ({scale_text(scale).split('; ')[0]}): it trades seeds, epochs and "
            "images for time, so every verdict in it is indicative only. Run the preset without --quick for results "
            "to rely on.")


