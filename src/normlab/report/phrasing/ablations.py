"""The ablation and diagnostics sections' readings in words: activations, smoothness, sweeps,
input normalisation, placement, noisy batch norm, the eval-mode bug, LeCun et al.'s figure."""

from __future__ import annotations

import math
from typing import Sequence

from normlab.experiments.stats import MIN_TEST_PAIRS
from normlab.report.format import (
    cap, finite, fmt_g, fmt_interval, fmt_pct, fmt_pp, format_pp, join_words, plural, ratio_text,
)
from normlab.report.readings import Reading
from normlab.report.phrasing.core import CLAIMS, difference_words, significance_words

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
    def ends(mean: float, diverged: int) -> str:
        return "diverged" if diverged and not math.isfinite(mean) else f"ends at {fmt_pct(mean, unit=True)}"

    at = (f"{x['largest']:g}, {base} {ends(x['reference_mean'], x.get('reference_diverged', 0))} and {m} "
          f"{ends(x['mean'], x.get('diverged', 0))}")
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


def _did_not_learn_words(counts: dict[str, tuple[int, int]], *, each: bool = True) -> str:
    """``"lenet5-bn and lenet5-gn did not learn in 3 of 3 seeds each"``, from (runs at chance, finished runs)
    by model."""
    items = list(counts.items())
    if len(items) == 2 and items[0][1] == items[1][1] and each:
        (k, n) = items[0][1]
        return f"{items[0][0]} and {items[1][0]} did not learn in {k} of {plural(n, 'seed')} each"
    (m, (k, n)), rest = items[0], items[1:]
    return join_words([f"{m} did not learn in {k} of {plural(n, 'seed')}"]
                      + [f"{o} in {j} of {plural(q, 'seed')}" for o, (j, q) in rest])


def _collapse_words(x: dict) -> str:
    """Why the batch-size claim is not read at the grid's smallest batch: the batches left out, each with the
    batch-norm and group-norm runs that did not learn there (``""`` when none was left out)."""
    skipped = x.get("skipped") or {}
    if not skipped:
        return ""
    first, *rest = sorted(skipped)
    counts = skipped[first]
    # Every run of both at chance: the setting trains neither, which the learning rate names.
    neither = len(counts) == 2 and all(k == n for k, n in counts.values())
    rate = f"at learning rate {x['lr']:g} " if x.get("lr") is not None else ""
    text = (f"at batch {first} {_did_not_learn_words(counts)} (chance accuracy)"
            + (f": {rate}neither trains there, so batch {first} cannot compare them" if neither
               else f", so batch {first} cannot compare them"))
    if rest:
        text += "; nor can " + join_words([f"batch {bs} ({_did_not_learn_words(skipped[bs])})" for bs in rest])
    return text


def batch_size_text(changes: Sequence[Reading], claim: Reading) -> tuple[str, str]:
    """The batch-size section's reading and its one-sentence summary for the headline (``""`` when untested).

    ``changes`` are each model's change from the largest to the smallest batch (comparison readings
    with ``model``, ``small``, ``large``, ``mean_small``, ``mean_large`` and ``chance_small``, its runs
    there that did not learn, of ``done_small``); ``claim`` compares batch norm's change with group
    norm's from ``large`` to ``small``, the smallest batch at which every run of both learned (None:
    no batch below ``large``), leaving out the ``skipped`` batches below it.
    """
    parts = [f"{c.numbers['model']} {fmt_pct(c.numbers['mean_large'], unit=True)} at batch {c.numbers['large']} and "
             f"{fmt_pct(c.numbers['mean_small'], unit=True)} at {c.numbers['small']}"
             + (f", where it did not learn in {c.numbers['chance_small']} of {plural(c.numbers['done_small'], 'seed')}"
                if c.numbers.get("chance_small") else "")
             + f" (change {difference_words(c)})"
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
    collapse = _collapse_words(x)
    if x["small"] is None:
        finding = (f"{collapse}; no batch below {x['large']} has every run of both learning, so these runs give no "
                   "direction on the claim: they neither agree nor disagree")
        return (text + f" {cap(finding)}.",
                f"Batch-size sweep (Wu & He 2018: batch norm degrades at small batches, group norm does not): "
                f"{finding}.")
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
    going = (f"going from batch {x['large']} to {x['small']} instead, the smallest batch at which every run of both "
             f"learned" if collapse else f"going from batch {x['large']} to {x['small']}")
    finding = (f"{collapse + '; ' if collapse else ''}{going}, {x['bn']} changed by "
               f"{fmt_pp(x['bn_change'], unit=True)} and {x['gn']} by {fmt_pp(x['gn_change'], unit=True)}: "
               f"{compared}{interval}, so {verdict}")
    return (text + f" {cap(finding)}.",
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
             + f". {cap(_input_norm_claim(c))}." for c in claims]
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
