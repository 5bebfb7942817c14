"""Statistics for multi-seed studies; ``normlab.stats`` re-exports :mod:`normlab.experiments.stats`.

See :mod:`normlab.experiments.stats` for the methods (t and bootstrap intervals, paired t-test,
Wilcoxon signed-rank test, Cohen's d_z) and the dataclasses returned.
"""

from normlab.experiments.stats import *  # noqa: F401,F403
from normlab.experiments.stats import __all__  # noqa: F401
