"""Readings in words: the one place the report"s verdicts are phrased.

Every function here turns :class:`~normlab.report.readings.Reading` objects (and the names and
numbers that go with them) into sentences; none computes a statistic or decides a verdict. The
claims the sections test are cited in :data:`CLAIMS`. :mod:`.core` phrases the core sections,
:mod:`.ablations` the ablation and diagnostics sections.
"""

from normlab.report.phrasing.ablations import (
    batch_size_text, drift_text, eval_mode_text, input_norm_text, learning_rate_summary, learning_rate_text,
    lecun_short, lecun_text, noisy_text, placement_text, smoothness_text,
)
from normlab.report.phrasing.core import (
    CLAIMS, INDICATIVE, MAX_HEADLINE_VERDICTS, at_chance_warning, baseline_text, comparison_sentence,
    comparisons_summary, difference_words, grouped_target_text, headline, indicative, post_position, post_text,
    quick_warning, scale_text, set_aside_warning, short_verdict, significance_words, target_text, targets_by_dataset,
)

__all__ = [
    "CLAIMS", "INDICATIVE", "MAX_HEADLINE_VERDICTS", "at_chance_warning", "baseline_text", "batch_size_text",
    "comparison_sentence", "comparisons_summary", "difference_words", "drift_text", "eval_mode_text",
    "grouped_target_text", "headline", "indicative", "input_norm_text", "learning_rate_summary", "learning_rate_text", "lecun_short",
    "lecun_text", "noisy_text", "placement_text", "post_position", "post_text", "quick_warning", "scale_text",
    "set_aside_warning", "short_verdict", "significance_words", "smoothness_text", "target_text",
    "targets_by_dataset",
]
