"""Readings: a section's answers as data, before any sentence is written.

A :class:`Reading` says which question it answers (:data:`QUESTIONS`), the verdict, and the
numbers that decide it. Sections compute readings and :mod:`normlab.report.phrasing` puts them
in words, so a test can check what the report concludes without matching its sentences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from normlab.errors import ConfigError
from normlab.experiments.stats import MIN_TEST_PAIRS, PairedComparison, holm, is_significant

__all__ = ["QUESTIONS", "VERDICTS", "Reading", "comparison_reading", "family_readings"]

#: The questions a reading answers, by key; the claims behind them are cited in the phrasing.
QUESTIONS = {
    "comparison": "Does B differ from A, seed by seed?",
    "post-level": "Does the post's value lie inside our interval of the mean?",
    "drift": "Does batch norm keep a nonlinearity's input distribution more stable (Ioffe & Szegedy 2015)?",
    "smoothness": "Does batch norm make the loss landscape smoother (Santurkar et al. 2018)?",
    "learning-rate": "Does batch norm let a network train at larger learning rates (Bjorck et al. 2018)?",
    "batch-size": "Does batch norm lose more accuracy than group norm at small batches (Wu & He 2018)?",
    "placement": "Does it matter where batch norm goes?",
    "noisy-vs-bn": "Does noisy batch norm train about as well as batch norm (Santurkar et al. 2018)?",
    "noisy-vs-plain": "Does noisy batch norm train better than no norm (Santurkar et al. 2018)?",
    "eval-mode": "Did training in eval mode change batch norm's accuracy (the post's bug)?",
    "input-norm": "Does the input normalisation (raw pixels, min-max, z-scores) change a network's final accuracy?",
    "input-norm-bn": "Does batch norm make the input normalisation matter less (a smaller spread across settings)?",
    "lecun": "How close does LeNet-5 come to LeCun et al.'s 0.95% MNIST test error (1998)?",
}
#: Verdicts: on a claim (agree, disagree, undecided), on a difference (significant or not),
#: "not tested" when the data cannot answer, or "not comparable" when the runs were not made at
#: the scale of the reference they would be set against (the post's full MNIST, 10 epochs...).
VERDICTS = ("agree", "disagree", "undecided", "significant difference", "no significant difference", "not tested",
            "not comparable")


@dataclass(frozen=True)
class Reading:
    """A verdict and the numbers behind it.

    Attributes:
        question: The key of the question it answers (:data:`QUESTIONS`).
        verdict: One of :data:`VERDICTS`.
        subject: What it is about: a variant, a model, ``"B − A"``.
        effect: The deciding number (a difference of fractions, a ratio), NaN when there is none.
        interval: Its confidence interval ``(low, high)``, NaNs when undefined.
        p: The paired t-test's p-value behind the verdict (raw; ``numbers["holm_p"]`` is the
            Holm-adjusted one that decides in a family of two or more tests), NaN when untested.
        n: The seeds (pairs) behind it.
        numbers: Everything else the sentences cite, by name.
    """

    question: str
    verdict: str
    subject: str = ""
    effect: float = math.nan
    interval: tuple[float, float] = (math.nan, math.nan)
    p: float = math.nan
    n: int = 0
    numbers: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.question not in QUESTIONS:
            raise ConfigError(f"reading question must be one of {', '.join(QUESTIONS)}; got {self.question!r}")
        if self.verdict not in VERDICTS:
            raise ConfigError(f"reading verdict must be one of {', '.join(VERDICTS)}; got {self.verdict!r}")

    @property
    def defined(self) -> bool:
        """Whether the interval is defined (two or more seeds)."""
        return all(math.isfinite(x) for x in self.interval)

    @property
    def significant(self) -> bool:
        """Whether the verdict is a significant difference."""
        return self.verdict == "significant difference"


def comparison_reading(cmp: PairedComparison, alpha: float = 0.05, *, question: str = "comparison",
                       holm_p: float = math.nan, tests: int = 1, **numbers: Any) -> Reading:
    """The verdict on a paired comparison (B − A): significant difference, none, or not tested.

    Significant follows :func:`~normlab.experiments.stats.is_significant` (p < ``alpha`` and an
    interval that excludes zero). ``tests`` is the number of tests run in the comparison's family
    (the comparisons a section tests together): with two or more, the verdict uses the
    Holm-adjusted ``holm_p`` (:func:`family_readings` computes both), and
    ``numbers["uncorrected_significant"]`` says what the raw p alone would have decided. "Not
    tested" means fewer than :data:`~normlab.experiments.stats.MIN_TEST_PAIRS` pairs
    (``numbers["why"] == "pairs"``) or differences all equal (``"equal"``), so that no t-test
    applies: never a finding either way. Extra ``numbers`` are kept with the reading; ``p`` is
    the raw paired t-test p.
    """
    corrected = tests >= 2
    raw = is_significant(cmp, alpha)
    why = None if cmp.tested else ("pairs" if cmp.n_pairs < MIN_TEST_PAIRS else "equal")
    if why:
        verdict = "not tested"
    else:
        held = is_significant(cmp, alpha, pvalue=holm_p) if corrected else raw
        verdict = "significant difference" if held else "no significant difference"
    d = [x for x in cmp.differences if math.isfinite(x)]
    return Reading(
        question, verdict, f"{cmp.b_name} − {cmp.a_name}", cmp.mean_difference, (cmp.ci.low, cmp.ci.high),
        cmp.t_pvalue, cmp.n_pairs,
        {"a": cmp.a_name, "b": cmp.b_name, "metric": cmp.metric, "confidence": cmp.confidence, "alpha": alpha,
         "wilcoxon_p": cmp.wilcoxon_pvalue, "d_z": cmp.cohens_dz, "n_nonzero": cmp.n_nonzero, "seeds": cmp.seeds,
         "only_a": cmp.only_a_seeds, "only_b": cmp.only_b_seeds, "holm_p": holm_p if corrected else cmp.t_pvalue,
         "tests": tests, "corrected": corrected, "uncorrected_significant": raw, "why": why,
         "higher": sum(x > 0 for x in d), "lower": sum(x < 0 for x in d), **numbers})


def family_readings(cmps: Sequence[PairedComparison], alpha: float = 0.05, *,
                    question: str | Sequence[str] = "comparison",
                    numbers: Sequence[Mapping[str, Any]] | None = None) -> list[Reading]:
    """The readings of a family of comparisons tested together, Holm-corrected across those tested.

    Holm's step-down correction (:func:`~normlab.experiments.stats.holm`) runs over the paired
    t-test p-values of the comparisons that were tested; with two or more of them every verdict
    uses its adjusted p. ``question`` is one key for all or one per comparison, ``numbers`` one
    mapping of extra numbers per comparison.
    """
    adjusted = holm([c.t_pvalue for c in cmps])
    tests = sum(1 for p in adjusted if math.isfinite(p))
    questions = [question] * len(cmps) if isinstance(question, str) else list(question)
    extra = list(numbers) if numbers is not None else [{}] * len(cmps)
    return [comparison_reading(c, alpha, question=q, holm_p=p, tests=tests, **x)
            for c, p, q, x in zip(cmps, adjusted, questions, extra)]
