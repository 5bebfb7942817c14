"""``tune_malloc``'s old address; it lives in :mod:`normlab.fast.malloc`."""

from normlab.fast.malloc import MMAP_THRESHOLD, TRIM_THRESHOLD, tune_malloc

__all__ = ["tune_malloc", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]
