"""Readings in words: the one place the report's verdicts are phrased.

Every function here turns :class:`~normlab.report.readings.Reading` objects (and the names and
numbers that go with them) into sentences; none computes a statistic or decides a verdict. The
claims the sections test are cited in :data:`CLAIMS`.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from normlab.experiments.stats import MIN_TEST_PAIRS
from normlab.report.format import (
    NA, finite, fmt_g, fmt_interval, fmt_pct, fmt_pp, fmt_seconds, format_p, format_pp, join_ints, join_names,
    join_words, p_words, plural, ratio_text,
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


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


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
    return (f"{_cap(label)} of {b} against {a}: not tested, too few seeds (n = {n}; a paired test needs at least "
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
        return _cap("; ".join(parts)) + "." if parts else ""
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
        tail = (_cap("; ".join(parts)) + ". The post's numbers come from one run each, so they also carry one seed's "
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


# --------------------------------------------------------------------------------------------
# Diagnostics: activation drift, smoothness
# --------------------------------------------------------------------------------------------


def drift_text(readings: Sequence[Reading]) -> str:
    """The activation section's reading: did the normalised variants' inputs drift less than the plain one's?"""
    claim = CLAIMS["drift"]
    untested = next((r for r in readings if r.verdict == "not tested" and "missing" in r.numbers), None)
    if untested is not None:
        x = untested.numbers
        listing = ", ".join(f"{v} {fmt_g(d, 2)}" for v, d in x["ranking"])
        return (f"{claim} This study has no {x['missing']} variant to set against the others, so it cannot test "
                f"that; the mean drift at {x['layer']}, lowest first, is: {listing}.")
    tested = [r for r in readings if r.verdict != "not tested"]
    x = tested[0].numbers
    base, layer = x["reference"], x["layer"]
    parts = [f"{fmt_g(r.numbers['drift'], 2)} with {r.subject} ({ratio_text(r.numbers['drift'], x['reference_drift'])} "
             f"of {base}'s; lower in {r.numbers['lower']} of {r.n} seeds)" for r in tested]
    worst = max((r.effect for r in tested if finite(r.effect)), default=math.nan)
    size = ("" if not finite(worst) else
            ", markedly (at most half the plain network's drift), as the paper reports" if worst <= 0.5 else
            ", though less markedly than the paper's figure" if worst <= 0.9 else
            ", but only slightly, far from the paper's contrast")
    agree = [r.verdict == "agree" for r in tested]
    if all(agree):
        verdict = ("these runs agree in direction: every normalised variant's input distribution drifted less than "
                   f"the plain network's{size}")
    elif not any(agree):
        verdict = ("these runs do not agree: no normalised variant's input distribution drifted less than the plain "
                   "network's in most seeds")
    else:
        verdict = ("these runs agree only in part: " + join_words([r.subject for r in tested if r.verdict == "agree"])
                   + " drifted less than the plain network, "
                   + join_words([r.subject for r in tested if r.verdict != "agree"]) + " did not")
    extra = "".join(f" {r.subject}, which adds random shift after batch norm on purpose, drifted "
                    f"{fmt_g(r.numbers['drift'], 2)} ({ratio_text(r.numbers['drift'], x['reference_drift'])} of "
                    f"{base}'s)." for r in readings if r.numbers.get("noisy"))
    where = (f"whose input is the norm layer's output in {join_words(list(x['fed']))}, as in their network"
             + ("; the last hidden layer, as in their figure" if x["last_hidden"] else
                "; their figure reads the last hidden layer, whose input is not normalised here"))
    return (f"{claim} At {layer} ({where}), each unit's median moved over the "
            f"recorded steps by {fmt_g(x['reference_drift'], 2)} of its typical 15–85 width with {base}, and by "
            + join_words(parts) + f"; {verdict}." + extra)


def smoothness_text(readings: Sequence[Reading]) -> str:
    """The smoothness section's reading: is each normalised variant smoother than the plain one, measure by measure?"""
    claim = CLAIMS["smoothness"]
    if readings and readings[0].verdict == "not tested":
        return (f"{claim} This study has no {readings[0].numbers['missing']} variant to compare with, so the table "
                "above only ranks the variants.")
    sentences = []
    for r in readings:
        detail = [f"{short} {fmt_g(a)} vs {fmt_g(b)} ({ratio_text(a, b)}, lower in {wins} of {r.n} seeds)"
                  for short, a, b, wins in r.numbers["measures"]]
        sentences.append(f"{r.subject} against {r.numbers['reference']}: " + "; ".join(detail))
    agreed, total = sum(r.numbers["agreed"] for r in readings), sum(len(r.numbers["measures"]) for r in readings)
    verdict = ("these runs agree on every measure" if agreed == total else
               "these runs do not agree on any measure" if agreed == 0 else
               f"these runs agree on {agreed} of {total} comparisons")
    return f"{claim} " + ". ".join(sentences) + f". So {verdict}."


# --------------------------------------------------------------------------------------------
# Sweeps: learning rate, batch size
# --------------------------------------------------------------------------------------------


def _rate_verdict(r: Reading, *, summary: bool) -> str:
    """A normalised model's highest trainable rate against the plain one's, for the reading or (``summary``)
    the headline."""
    x = r.numbers
    m, base, b, a = r.subject, x["reference"], x["highest"], x["reference_highest"]
    bjorck = "Bjorck et al. (2018)"
    if b is None:
        text = f"{m} trains at no rate, so this run does not support {bjorck if summary else 'the claim'} for it"
    elif a is None:
        text = (f"{m} trains where {base} trains at no rate, as {bjorck} report batch norm allows" if summary else
                f"{m} trains up to {b:g} where {base} trains at none: this run agrees")
    elif b > a:
        text = (f"{m}'s is {r.effect:.3g} times {base}'s, as {bjorck} report batch norm allows" if summary else
                f"{m}'s highest trainable rate is {r.effect:.3g} times {base}'s: this run agrees")
    elif b == a and summary:
        text = (f"{m} and {base} share it, so this run does not show batch norm allowing larger rates (Bjorck et "
                "al. 2018)" + (" within the grid, which stops there" if x["at_top"] else ""))
    elif b == a:
        text = (f"{m} and {base} share the same highest trainable rate"
                + (", the top of the grid, so the grid does not reach the rates where they could differ"
                   if x["at_top"] else "") + ": this run does not show the claim")
    else:
        text = (f"{m}'s is below {base}'s, against {bjorck}" if summary else
                f"{m}'s highest trainable rate is below {base}'s: this run disagrees")
    if x["largest"] is None:
        return text
    at = (f"{x['largest']:g}, {base} ends at {fmt_pct(x['reference_mean'], unit=True)} and {m} at "
          f"{fmt_pct(x['mean'], unit=True)}")
    return text + (f"; at the largest rate, {at}" if summary else f" (at the grid's largest rate, {at})")


def learning_rate_text(readings: Sequence[Reading], highest: dict[str, float | None],
                       best: dict[str, tuple[float, float]]) -> str:
    """The learning-rate section's reading. ``highest``: each model's highest rate that trains (None:
    none); ``best``: each model's rate of highest mean accuracy and that mean."""
    words = [f"{m} trains up to {lr:g}" if lr is not None else f"{m} trains at no rate of the grid"
             for m, lr in highest.items()]
    best_words = [f"{m} is best at {lr:g} ({fmt_pct(mean, unit=True)})" for m, (lr, mean) in best.items()]
    text = f"{CLAIMS['learning-rate']} Here {join_words(words)}; {join_words(best_words)}."
    if not readings or readings[0].verdict == "not tested":
        return text + " The study has no plain and normalised model to set side by side, so the claim is not tested."
    return text + " So " + "; ".join(_rate_verdict(r, summary=False) for r in readings) + "."


def learning_rate_summary(readings: Sequence[Reading], highest: dict[str, float | None], trains: float) -> str:
    """The learning-rate reading in one sentence, for the headline (``trains``: the accuracy a rate must reach)."""
    words = [f"{lr:g} for {m}" if lr is not None else f"none of the grid's for {m}" for m, lr in highest.items()]
    text = (f"Learning-rate sweep: the highest rate that trains (no diverged or failed run, mean final accuracy "
            f"≥ {trains * 100:g}%) is {join_words(words)}")
    if not readings or readings[0].verdict == "not tested":
        return text + "."
    return text + ": " + "; ".join(_rate_verdict(r, summary=True) for r in readings) + "."


def batch_size_text(changes: Sequence[Reading], claim: Reading) -> tuple[str, str]:
    """The batch-size section's reading and its one-sentence summary for the headline (``""`` when untested).

    ``changes`` are each model's change from the largest to the smallest batch (comparison readings
    with ``model``, ``small``, ``large``, ``mean_small`` and ``mean_large``); ``claim`` compares
    batch norm's change with group norm's.
    """
    parts = [f"{c.numbers['model']} {fmt_pct(c.numbers['mean_large'], unit=True)} at batch {c.numbers['large']} and "
             f"{fmt_pct(c.numbers['mean_small'], unit=True)} at {c.numbers['small']} (change {difference_words(c)})"
             for c in changes]
    text = f"{CLAIMS['batch-size']} Here the mean final accuracy is " + (join_words(parts) or "not available") + "."
    x = claim.numbers
    if claim.verdict == "not tested" and x["why"] != "few":
        return text + {
            "models": " The study lacks a batch-norm or a group-norm model, so the comparison of the two is not made.",
            "sizes": f" {x.get('bn')} and {x.get('gn')} were not run at the same batch sizes and seeds, so their "
                     "changes are not compared.",
            "seeds": " No seed has both models at both batch sizes, so their changes are not compared.",
        }[x["why"]], ""
    lost_more = claim.effect
    after = " after Holm's correction" if x["corrected"] else ""
    if claim.verdict == "not tested":
        verdict = (f"a direction only: with {plural(claim.n, 'seed')} the difference was not tested (a paired test "
                   f"needs at least {MIN_TEST_PAIRS}), and this run neither agrees nor disagrees")
    elif claim.verdict == "agree":
        verdict = f"this run agrees: batch norm loses significantly more than group norm at small batches{after}"
    elif claim.verdict == "undecided":
        verdict = ("the direction agrees (batch norm loses more than group norm), but the difference is not "
                   f"significant{after}")
    else:
        verdict = "this run does not agree: batch norm does not lose more than group norm at small batches"
    compared = (f"batch norm lost {fmt_pp(lost_more, unit=True, signed=False)} more than group norm" if lost_more > 0
                else f"batch norm fared {fmt_pp(-lost_more, unit=True, signed=False)} better than group norm")
    interval = (f" (group norm's change minus batch norm's: {x['confidence'] * 100:g}% CI "
                f"{fmt_interval(claim.interval, pp=True)} pp)" if claim.defined else "")
    finding = (f"going from batch {x['large']} to {x['small']}, {x['bn']} changed by "
               f"{fmt_pp(x['bn_change'], unit=True)} and {x['gn']} by {fmt_pp(x['gn_change'], unit=True)}: "
               f"{compared}{interval}, so {verdict}")
    return (text + f" {_cap(finding)}.",
            f"Batch-size sweep (Wu & He 2018: batch norm degrades at small batches, group norm does not): {finding}.")


# --------------------------------------------------------------------------------------------
# Input normalisation
# --------------------------------------------------------------------------------------------


def _input_norm_effect(r: Reading) -> str:
    x = r.numbers
    means = ", ".join(f"{fmt_pct(m, unit=True)} ({s})" for s, m in x["means"].items())
    spread = f"best − worst {fmt_pp(r.effect, unit=True, signed=False)}"
    sig, after = [p for p in x["pairs"] if p.significant], " after Holm" if x["corrected"] else ""
    if r.verdict == "significant difference":
        verdict = "the input normalisation changes its accuracy (significant" + after + ": " + ", ".join(
            f"{p.numbers['setting_b']} − {p.numbers['setting_a']} {fmt_pp(p.effect, unit=True)}" for p in sig) + ")"
    elif r.verdict == "no significant difference":
        verdict = f"no two settings differ significantly{after} ({spread})"
    else:
        verdict = (f"{spread}, a direction only (not tested with {plural(r.n, 'seed')}; a paired test needs "
                   f"{MIN_TEST_PAIRS})")
    return f"{x['model']} ends at {means}: {verdict}"


def _input_norm_claim(c: Reading, *, short: bool = False) -> str:
    x, cmp = c.numbers, c.numbers.get("comparison")
    if cmp is None:
        return {"models": "there is no plain and batch-norm network under the same settings to compare",
                "seeds": "no seed has both networks under every setting, so their spreads are not compared"}[x["why"]]
    verdict = {"agree": "batch norm made the input normalisation matter less",
               "disagree": "the input normalisation mattered more with batch norm",
               "undecided": "these runs cannot tell whether batch norm made it matter less",
               "not tested": "whether batch norm made it matter less is not tested"}[c.verdict]
    plain, bn = (fmt_pp(x[k], unit=True, signed=False) for k in ("spread_plain", "spread_bn"))
    spreads = f"the mean spread across settings (best − worst, per seed) is {plain} for {x['plain']} and {bn}"
    if short:
        diff = f"plain − BN {fmt_pp(c.effect, unit=True)}, {significance_words(cmp)}"
        return f"{spreads} for {x['bn']} ({diff}): {verdict}"
    return f"{spreads} for {x['bn']}; plain − BN is {difference_words(cmp)}. So {verdict}"


def input_norm_text(effects: Sequence[Reading], claims: Sequence[Reading]) -> tuple[str, str]:
    """The input-normalisation section's reading and its summary: per dataset, each model's final accuracy
    by setting (``effects``, "input-norm" readings) and its spread with and without batch norm (``claims``,
    one "input-norm-bn" reading per dataset, whose ``comparison`` is the paired test of the spreads)."""
    parts = [f"On {c.numbers['dataset']}, " + "; ".join(_input_norm_effect(r) for r in effects
                                                        if r.numbers["dataset"] == c.numbers["dataset"])
             + f". {_cap(_input_norm_claim(c))}." for c in claims]
    summary = "; ".join(f"on {c.numbers['dataset']}, {_input_norm_claim(c, short=True)}" for c in claims)
    return f"{CLAIMS['input-norm']} {' '.join(parts)}", f"Input normalisation with and without batch norm: {summary}."


# --------------------------------------------------------------------------------------------
# Placement, noisy batch norm, the eval-mode bug
# --------------------------------------------------------------------------------------------


def placement_text(reference: str, readings: Sequence[Reading], any_before: bool) -> tuple[str, str]:
    """The placement section's reading and its summary; ``readings`` compare each placement with ``reference``."""
    words = [f"{r.numbers['b']} (BN {r.numbers['position']} the activation, "
             f"{'conv and fc' if r.numbers['layers'] == 'all' else 'conv only'}) {difference_words(r)}"
             for r in readings]
    text = f"{CLAIMS['placement']} Against {reference}: " + "; ".join(words) + "."
    sig = [r for r in readings if r.significant]
    untested = [r for r in readings if r.verdict == "not tested"]
    why = join_words(list(dict.fromkeys(f"too few seeds, a paired test needs at least {MIN_TEST_PAIRS}"
                                        if r.numbers["why"] == "pairs" else "identical differences on every seed"
                                        for r in untested)), "or")
    after = " after Holm's correction" if any(r.numbers["corrected"] for r in readings) else ""
    rest = f" ({join_words([r.numbers['b'] for r in untested])} not tested: {why})" if untested else ""
    if readings and len(untested) == len(readings):
        found = f"no placement was tested against {reference} ({why}), so its differences are directions, not findings"
    elif sig:
        found = f"placement matters here for {join_words([r.numbers['b'] for r in sig])}{after}{rest}"
    else:
        found = f"no tested placement differs significantly from {reference} in final accuracy{after}{rest}"
    text += " No variant puts batch norm before the activation." if not any_before else f" So {found}."
    if sig:
        summary = (f"Batch-norm placement: against {reference}, "
                   + "; ".join(f"{r.numbers['b']} differs by {difference_words(r)}" for r in sig)
                   + f"; the other placements do not differ significantly{rest}.")
    else:
        summary = f"Batch-norm placement: {found}."
    return text, summary


def _noisy_verdict(r: Reading) -> str:
    x = r.numbers
    if r.verdict == "not tested":
        return (f"noisy BN against {x['reference']} was not tested (n = {r.n}; a paired test needs at least "
                f"{MIN_TEST_PAIRS}), so these runs neither agree nor disagree")
    if r.question == "noisy-vs-plain":
        return {"agree": "it is significantly better than no norm, which agrees",
                "undecided": "it is ahead of no norm, but not significantly",
                "disagree": "it is not better than no norm, which does not agree"}[r.verdict]
    conf, band = f"{x['confidence'] * 100:g}%", f"±{x['margin'] * 100:g} pp"
    numbers = (f"difference {fmt_pp(r.effect, unit=True)}, {conf} CI {fmt_interval(r.interval, pp=True)} pp"
               if r.defined else f"difference {fmt_pp(r.effect, unit=True)}, no interval from {plural(r.n, 'seed')}")
    if r.verdict == "disagree":
        return f"noisy BN is significantly worse than BN ({numbers}), which does not agree"
    if r.verdict == "agree" and x["within"]:
        label = (" (uncorrected: equivalence rests on the interval, which Holm's correction of the section's tests "
                 "does not adjust)" if x["uncorrected"] else "")
        return (f"noisy BN and BN train equally well within the {band} equivalence margin ({numbers}, inside {band}), "
                f"which agrees{label}")
    if r.verdict == "agree":
        return (f"noisy BN is significantly better than BN ({numbers}): the noise did not hurt, which agrees with the "
                "claim that stable distributions are not what makes batch norm work")
    if not r.defined:
        return (f"these runs could not tell noisy BN and BN apart ({numbers}), so they cannot say whether the two "
                "train equally well")
    return (f"these runs could not tell noisy BN and BN apart ({numbers}), but the interval reaches beyond the {band} "
            "equivalence margin, so they do not show that the two train equally well either")


def noisy_text(comparisons: Sequence[Reading], claims: Sequence[Reading], conf: str) -> tuple[str, str]:
    """The noisy-BN section's reading and its summary (``""`` without a batch-norm variant to compare with).

    ``comparisons`` set noisy BN against the others (with the other's ``role``); ``claims`` read them
    against Santurkar et al.'s claims, in the same order.
    """
    sentences = [f"against {r.numbers['a']} ({r.numbers['role']}) {r.numbers['b']} differs by {difference_words(r)}"
                 for r in comparisons]
    text = f"{CLAIMS['noisy']} Here, {'; '.join(sentences) if sentences else 'there is nothing to compare it with'}."
    verdicts = [_noisy_verdict(r) for r in claims]
    if verdicts:
        text += " So " + "; ".join(verdicts) + "."
    equivalence = [r for r in claims if r.question == "noisy-vs-bn"]
    if not equivalence:
        return text, ""
    text += (f" (\u201cAbout as well\u201d is tested as equivalence: noisy BN and BN count as training equally well "
             f"only when the {conf} CI of their difference lies within ±{equivalence[0].numbers['margin'] * 100:g} "
             "pp, the equivalence margin; with a few seeds, finding no significant difference does not show that.)")
    return text, ("Noisy batch norm (Santurkar et al. 2018 report it trains about as well as batch norm, and better "
                  "than no norm): " + "; ".join(verdicts) + ".")


def eval_mode_text(gaps: Sequence[Reading], effect: Reading | None) -> tuple[str, str]:
    """The eval-mode section's reading and its summary (``""`` when the effect is not separated).

    ``gaps`` are each model's blog − standard comparison (with ``model``); ``effect`` is batch
    norm's gap minus the plain network's (with ``bn``, ``advantage_blog`` and
    ``advantage_standard``), a reading with ``why="no plain"`` when no plain network ran under
    both protocols, or None.
    """
    parts = [f"{r.numbers['model']}: blog − standard {difference_words(r)}" for r in gaps]
    text = f"{CLAIMS['eval-mode']} Here, {'; '.join(parts)}."
    if effect is None:
        return text, ""
    if effect.numbers.get("why") == "no plain":
        return (text + " Without a plain network under both protocols the eval-mode effect cannot be separated from "
                "the protocol's other differences."), ""
    x, sig = effect.numbers, significance_words(effect)
    gap = fmt_pp(effect.effect, unit=True) + (f" ({x['confidence'] * 100:g}% CI {fmt_interval(effect.interval, pp=True)} "
                                             f"pp, {sig})" if effect.defined else f" ({sig})")
    if effect.verdict == "not tested":
        change = f"these runs cannot tell whether training in eval mode changed {x['bn']}'s accuracy"
    else:
        verb = ("lowered" if effect.effect < 0 else "raised") if effect.significant else "did not measurably change"
        change = f"training in eval mode {verb} {x['bn']}'s accuracy"
    finding = (f"{change}, and the post's BN advantage of {fmt_pp(x['advantage_blog'], unit=True)} under its protocol "
               f"is {fmt_pp(x['advantage_standard'], unit=True)} under the standard one")
    return (text + f" Batch norm's gap minus the plain network's is {gap}: {finding}.",
            f"The post's eval-mode bug: batch norm's blog − standard gap minus the plain network's is {gap}, so "
            f"{finding}.")


# --------------------------------------------------------------------------------------------
# LeNet-5 against LeCun et al. (1998)
# --------------------------------------------------------------------------------------------


def lecun_short(r: Reading) -> str:
    """A LeCun reading's verdict in a table cell: falls short, matches, exceeds, or not tested."""
    if r.verdict == "not tested":
        return f"not tested (n < {MIN_TEST_PAIRS})"
    return {"short": "falls short", "matches": "matches", "exceeds": "exceeds"}[r.numbers["position"]]


def _lecun_verdict(r: Reading, ref: str) -> str:
    x = r.numbers
    ci = f"{x['confidence'] * 100:g}% CI {fmt_interval(r.interval, pp=True)} pp"
    if x["position"] == "short":
        return f"{r.subject} falls short of {ref} by {format_pp(r.effect)} ({ci})"
    if x["position"] == "exceeds":
        return (f"{r.subject} exceeds LeCun et al.'s {fmt_pct(1 - x['reference'], unit=True)} accuracy, with "
                f"{format_pp(-r.effect)} less test error ({ci})")
    return f"{r.subject} matches {ref}: the interval of the difference contains 0 ({fmt_pp(r.effect, unit=True)}, {ci})"


def lecun_text(readings: Sequence[Reading]) -> tuple[str, str]:
    """The LeCun section's reading and its one-sentence summary for the headline.

    Each reading sets a variant's mean test error against the reference (``numbers``: ``reference``,
    ``source``, ``mean``, ``low``, ``high``, ``epochs``, ``images``): ``position`` "short" when the
    whole interval lies above it, "exceeds" when below, "matches" when it contains it; "not tested"
    with fewer than :data:`MIN_TEST_PAIRS` runs, the direction only.
    """
    x = readings[0].numbers
    ref = f"{x['reference'] * 100:g}%"
    images = join_words([f"{n:,}" for n in sorted({n for r in readings for n in r.numbers["images"] if n})], "or")
    epochs = "/".join(str(e) for e in sorted({e for r in readings for e in r.numbers["epochs"]}))
    scale = f"after {epochs} epochs on {images} training images"
    errors = [f"{fmt_pct(r.numbers['mean'], unit=True)} for {r.subject} ("
              + (f"{r.numbers['confidence'] * 100:g}% CI {fmt_pct(r.numbers['low'])}–"
                 f"{fmt_pct(r.numbers['high'], unit=True)}, " if r.defined else "") + f"{plural(r.n, 'run')})"
              for r in readings]
    parts = [_lecun_verdict(r, ref) for r in readings if r.verdict != "not tested"]
    untested = [r for r in readings if r.verdict == "not tested"]
    if untested:
        counts = sorted({r.n for r in untested})
        runs = plural(counts[0], "run") if len(counts) == 1 else "/".join(map(str, counts)) + " runs"
        sides = [f"{r.subject} {'above' if r.effect > 0 else 'below' if r.effect < 0 else 'at'} {ref} by "
                 f"{format_pp(abs(r.effect))}" for r in untested]
        parts.append(f"{join_words([r.subject for r in untested])}: not tested with {runs} (a verdict needs at "
                     f"least {MIN_TEST_PAIRS}), so directions only: {join_words(sides)}")
    verdicts = "; ".join(parts)
    text = (f"{x['source']} report {ref} test error ({fmt_pct(1 - x['reference'], unit=True)} accuracy) for LeNet-5 "
            f"on MNIST. Here, {scale}, the mean test error is {join_words(errors)}. So {verdicts}.")
    return text, f"Against LeCun et al.'s {ref} MNIST test error (1998), {scale}: {verdicts}."
