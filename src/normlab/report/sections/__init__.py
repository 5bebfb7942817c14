"""The report's sections, in page order: :data:`SECTIONS`.

A section is a function of the :class:`~normlab.report.context.ReportContext` that returns a
:class:`~normlab.report.document.Section`, or None when its data does not exist (a study without
a held-out split has no test-accuracy section). To add one, pass your own list to
:func:`normlab.report.build_report` (``sections=[*SECTIONS[:-3], my_section, *SECTIONS[-3:]]``).
"""

from normlab.report.sections.ablations import (
    batch_size_section, lr_section, mode_bug_section, noisy_bn_section, placement_section,
)
from normlab.report.sections.appendix import config_section, environment_section, methods_section, problems_section
from normlab.report.sections.core import (
    comparisons_section, curves_section, distribution_section, overview_section, post_section, statistics_section,
    test_section,
)
from normlab.report.sections.diagnostics import activations_section, grad_norms_section, smoothness_section
from normlab.report.sections.input_norm import input_norm_section
from normlab.report.sections.lecun import lecun_section

__all__ = ["SECTIONS"]

#: The sections in page order: the results, the ablations that answer a preset's question, the
#: measurements behind them, then the appendix (problems, configuration, environment, methods).
SECTIONS = (
    overview_section, curves_section, distribution_section, statistics_section, comparisons_section, post_section,
    test_section, lecun_section,
    lr_section, batch_size_section, placement_section, noisy_bn_section, mode_bug_section, input_norm_section,
    activations_section, smoothness_section, grad_norms_section,
    problems_section, config_section, environment_section, methods_section,
)
