"""Numbers as the report writes them: accuracies in percent with two decimals, differences in
percentage points (pp), p-values, intervals, times and lists of names and seeds.

Everything undefined (NaN, None) is written ``"n/a"``.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Iterable, Sequence

import numpy as np

from normlab.experiments.stats import ConfidenceInterval, join_ints

__all__ = [
    "CLIPPED_MARK", "CLIPPED_NOTE", "NA", "clip_interval", "clipped_notes", "finite", "fmt_duration", "fmt_g",
    "fmt_interval", "fmt_mean_sd", "fmt_num", "fmt_p", "fmt_pct", "fmt_pp", "fmt_seconds", "fmt_time", "fmt_value",
    "fmt_values", "format_p", "format_pp", "interval_phrase", "join_ints", "join_names", "join_words", "p_words",
    "plural", "ratio_text",
]

NA = "n/a"
#: Appended to an accuracy interval that was cut at 0% or 100% for display (see :func:`clip_interval`).
CLIPPED_MARK = "†"
#: The table note that explains :data:`CLIPPED_MARK`.
CLIPPED_NOTE = (f"{CLIPPED_MARK} The interval reached past 100% (or below 0%), which an accuracy cannot; it is shown "
                "cut at that bound. A t-interval over a few seeds with a wide spread does that: read it as "
                "“very uncertain”.")


def finite(x: Any) -> bool:
    """Whether ``x`` is a finite real number (bools and None are not)."""
    return isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, bool) and math.isfinite(float(x))


def fmt_pct(fraction: float | None, *, unit: bool = False) -> str:
    """``0.98912 -> "98.91"`` (``"98.91%"`` with ``unit``); NaN or None gives ``"n/a"``."""
    if not finite(fraction):
        return NA
    return f"{fraction * 100:.2f}{'%' if unit else ''}"


def fmt_pp(fraction: float | None, *, unit: bool = False, signed: bool = True) -> str:
    """A difference of fractions in percentage points: ``0.0031 -> "+0.31"`` (``"+0.31 pp"``)."""
    if not finite(fraction):
        return NA
    text = f"{fraction * 100:+.2f}" if signed else f"{fraction * 100:.2f}"
    if text in ("+0.00", "-0.00"):
        text = "0.00"
    return text + (" pp" if unit else "")


def format_pp(fraction_difference: float, *, signed: bool = False) -> str:
    """A difference of fractions in running text, e.g. ``0.0031 -> "0.31 pp"``.

    Two decimals; differences between 0.0001 and 0.005 pp keep two significant digits so they do
    not read as zero, while anything below 0.0001 pp (float noise, far finer than any test set
    resolves) reads as ``0.00``. ``signed=True`` writes a leading ``+`` for positive values. NaN
    gives ``"n/a"``.
    """
    if not math.isfinite(fraction_difference):
        return NA
    pp = fraction_difference * 100.0
    body = f"{abs(pp):.2g}" if 1e-4 <= abs(pp) < 0.005 else f"{abs(pp):.2f}"
    sign = ""
    if float(body) != 0.0 and (pp < 0 or (signed and pp > 0)):
        sign = "-" if pp < 0 else "+"
    return f"{sign}{body} pp"


def format_p(p: float, alpha: float | None = None) -> str:
    """A p-value: ``"p < 0.001"``, else ``"p = "`` with two significant digits.

    When ``alpha`` is given, digits are added until the rounded value lies on the same side of
    ``alpha`` as ``p`` and is not alpha itself (so 0.0496 reads ``"p = 0.0496"``, not
    ``"p = 0.05"``). NaN gives ``"p = n/a"``.
    """
    if not math.isfinite(p):
        return "p = n/a"
    if p < 0.001:
        return "p < 0.001"
    digits = 2
    text = f"{p:.{digits}g}"
    if alpha is not None:
        # A value rounded onto alpha ("p = 0.05") hides which side it is on, so refine that too.
        while digits < 6 and ((float(text) < alpha) != (p < alpha) or (float(text) == alpha != p)):
            digits += 1
            text = f"{p:.{digits}g}"
    return f"p = {text}"


def p_words(p: float, alpha: float | None = None) -> str:
    """A p-value to follow the letter p in a sentence: ``"= 0.012"``, ``"< 0.001"``, ``"= n/a"``."""
    return format_p(p, alpha).removeprefix("p ")


def fmt_p(p: float) -> str:
    """A p-value for a table cell, without the ``"p = "`` prefix (``"0.012"``, ``"< 0.001"``)."""
    return format_p(p).removeprefix("p = ").replace("p < ", "< ")


def fmt_mean_sd(mean: float, sd: float) -> str:
    """``"98.91 ± 0.12"`` in percent; the ``± sd`` part is left out when sd is undefined."""
    if not finite(mean):
        return NA
    return f"{mean * 100:.2f} ± {sd * 100:.2f}" if finite(sd) else f"{mean * 100:.2f}"


def clip_interval(low: float, high: float) -> tuple[float, float, bool]:
    """An accuracy interval (fractions) cut to ``[0, 1]`` for display, and whether it was cut.

    A Student-t interval is symmetric about the mean and knows nothing of the bounds, so with two
    seeds and a wide spread it can reach past 100%; the statistics keep the raw values, only the
    text is cut.
    """
    if not (finite(low) and finite(high)):
        return low, high, False
    return max(float(low), 0.0), min(float(high), 1.0), low < 0.0 or high > 1.0


def _bounds(ci: ConfidenceInterval | tuple[float, float]) -> tuple[float, float]:
    return (ci.low, ci.high) if isinstance(ci, ConfidenceInterval) else ci


def fmt_interval(ci: ConfidenceInterval | tuple[float, float], *, pp: bool = False, clip: bool = True) -> str:
    """An interval as ``"98.80 – 99.02"`` (percent, or signed pp with ``pp``); undefined gives ``"n/a"``.

    An accuracy interval (``pp=False``) is cut to 0–100% and marked with :data:`CLIPPED_MARK` when
    it reached past either bound (``clip=False`` shows the raw bounds); tables that show one add
    :data:`CLIPPED_NOTE` (see :func:`clipped_notes`).
    """
    low, high = _bounds(ci)
    if not (finite(low) and finite(high)):
        return NA
    if pp:
        return f"{fmt_pp(low)} to {fmt_pp(high)}"
    mark = ""
    if clip:
        low, high, cut = clip_interval(low, high)
        mark = CLIPPED_MARK if cut else ""
    return f"{low * 100:.2f} – {high * 100:.2f}{mark}"


def interval_phrase(ci: ConfidenceInterval | tuple[float, float]) -> str:
    """An accuracy interval for running text: ``"98.80–99.02%"``, or ``"93.10–100.00%, cut at 100%"``."""
    low, high = _bounds(ci)
    if not (finite(low) and finite(high)):
        return NA
    c_low, c_high, cut = clip_interval(low, high)
    text = f"{c_low * 100:.2f}–{c_high * 100:.2f}%"
    if cut:
        bounds = [b for b, past in (("0%", low < 0.0), ("100%", high > 1.0)) if past]
        text += f", t-interval cut at {' and '.join(bounds)}"
    return text


def clipped_notes(rows: Iterable[Sequence[str]]) -> list[str]:
    """``[CLIPPED_NOTE]`` when a cell of ``rows`` holds a cut interval, else ``[]``."""
    return [CLIPPED_NOTE] if any(CLIPPED_MARK in cell for row in rows for cell in row) else []


def fmt_num(x: float, decimals: int = 1) -> str:
    """A plain number with fixed decimals (``"3.33"``); undefined gives ``"n/a"``."""
    return f"{x:.{decimals}f}" if finite(x) else NA


def fmt_g(x: float, digits: int = 3) -> str:
    """A measurement with ``digits`` significant digits (``"0.168"``, ``"2.1"``); undefined gives ``"n/a"``."""
    return f"{x:.{digits}g}" if finite(x) else NA


def ratio_text(a: float, b: float) -> str:
    """``a`` relative to ``b`` in words: ``"2.3x"`` or ``"0.41x"``."""
    if not (finite(a) and finite(b)) or b == 0:
        return NA
    r = a / b
    return f"{r:.2g}x" if r < 10 else f"{r:.0f}x"


def fmt_seconds(seconds: float | None) -> str:
    """Seconds with one decimal (``"41.2"``); the column header carries the unit."""
    return fmt_num(seconds, 1)


def fmt_duration(seconds: float | None) -> str:
    """A human duration: ``"41 s"``, ``"12.5 min"``, ``"3.2 h"``."""
    if not finite(seconds):
        return NA
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def fmt_time(unix: float | None) -> str:
    """A unix time as ``"2025-01-31 14:05 UTC"``."""
    if not finite(unix):
        return NA
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(unix)))


def fmt_value(value: Any) -> str:
    """A config value as text: strings as-is, everything else as JSON (``null``, ``true``, ``{}``)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def fmt_values(values: Sequence[Any]) -> str:
    """Swept values as a list: ``"0.0001, 0.001, 64"``."""
    return ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in values)


def plural(n: int, word: str) -> str:
    """``n`` and the word, with an ``s`` unless ``n == 1``: ``plural(3, "seed") -> "3 seeds"``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def join_words(parts: Sequence[str], last: str = "and") -> str:
    """``"a, b and c"``; empty parts are skipped."""
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + f" {last} " + parts[-1]


def join_names(names: Sequence[str], limit: int = 6) -> str:
    """Names for running text, the first ``limit`` of them: ``"a, b and 3 more"``."""
    names = list(names)
    if len(names) > limit:
        return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
    return join_words(names)


def cap(text: str) -> str:
    """``text`` with its first letter in upper case (a variant's name inside stays as it is)."""
    return text[:1].upper() + text[1:]
