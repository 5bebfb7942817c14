"""The C kernels' old address, kept for ``python -c "import normlab.kernels as k; print(k.status())"``.

They live in :mod:`normlab.fast.kernels`.
"""

from normlab.fast.kernels import conv5x5, conv5x5_applies, load, status

__all__ = ["load", "status", "conv5x5", "conv5x5_applies"]
