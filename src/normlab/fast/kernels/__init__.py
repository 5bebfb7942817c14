"""Hand-written CPU kernels for the layers where PyTorch's own are slow on LeNet-5's sizes.

:func:`normlab.fast.accelerate` puts them into a model where they apply; everything else, and
every machine without a C compiler, uses PyTorch's operators. ``NORMLAB_KERNELS=0`` turns them
off (for A/B timing, or to rule them out when debugging); :func:`status` says whether they are
in use.
"""

from normlab.fast.kernels.build import load, status
from normlab.fast.kernels.conv import conv5x5, conv5x5_applies

__all__ = ["load", "status", "conv5x5", "conv5x5_applies"]
