"""glibc ``malloc`` settings for processes that train.

Why this exists: glibc serves large blocks with a fresh ``mmap`` and hands freed memory at the
top of its heap back to the kernel, which must then fault the pages in and zero them again
when they are next used. A LeNet-5 training step allocates and frees dozens of tensors of
0.1-3 MB, so a fresh process spends a good part of its start, and of its first steps, in page
faults; glibc raises its thresholds by itself only after large frees. The measurements are in
benchmarks/RESULTS.md.

The cost: a process keeps the memory it has freed, so its resident size stays at its peak
instead of shrinking between peaks. The ``normlab`` command and its worker processes call
:func:`tune_malloc`; a Python user calls it once to get the same speed (it changes the whole
process, so the library never does it behind the caller's back).
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["tune_malloc", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

# mallopt() parameter numbers, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Blocks below this come from the heap: glibc's largest allowed value on 64-bit (32 MiB),
#: above the biggest per-step tensor (a batch-256 evaluation's 13 MB of conv1 output).
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Free memory at the top of the heap is returned to the kernel only beyond this (1 GiB).
TRIM_THRESHOLD = 1024 * 1024 * 1024

_applied: bool | None = None


def tune_malloc() -> bool:
    """Make glibc keep freed memory for reuse; return whether the settings are in effect.

    Idempotent. A no-op returning False where the C library is not glibc (macOS, Windows,
    musl), since the problem and the knobs are glibc's.
    """
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def _apply() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process already uses
        libc.gnu_get_libc_version  # only glibc has it  # noqa: B018
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success. Setting the mmap threshold also turns off glibc's own
    # adjustment of it, which is what lets the trim threshold stay where it is put.
    return mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
