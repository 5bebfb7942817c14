"""The study report's model: runs from the results database turned into sections of text, tables and figures.

:func:`build_report` takes a study's runs (``RunRecord`` objects from
:mod:`normlab.experiments.store`, or anything with the same attributes), computes the
statistics once (:mod:`normlab.experiments.stats`) into a :class:`ReportContext`, and then calls
every function in :data:`SECTION_BUILDERS` in turn. Each builder returns a :class:`Section` (a
title, an anchor and an ordered list of paragraphs, tables and figures) or ``None`` when its data
is absent. The HTML and Markdown renderers (:mod:`normlab.report.html`,
:mod:`normlab.report.markdown`) only walk that model, so both show the same numbers.

Adding a section is registering a builder::

    from normlab.report import Section, register_section

    @register_section
    def lr_section(runs, ctx):
        if not any("lr" in ...):
            return None          # the section appears only when its data exists
        return Section("Accuracy vs learning rate", "lr", paragraphs=[...], figures=[...])

New builders go before the appendix (configuration, environment, methods) unless ``before``
says otherwise.

Comparisons: when the study holds exactly the variants ``lenet5`` and ``lenet5-bn``, BatchNorm
(B = ``lenet5-bn``) is compared with the plain network (A = ``lenet5``). Otherwise every variant
is compared with the *first* variant (the baseline: the variant of the lowest run id, which is
the first one given to ``normlab study --variants``). Only runs with status ``done`` enter the
statistics; the others are listed, never silently dropped.

All text in the model is plain text: renderers escape it.
"""

from __future__ import annotations

import json
import math
import re
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from normlab.errors import ConfigError
from normlab.experiments import stats
from normlab.experiments.stats import PairedComparison, VariantSummary

__all__ = [
    "Column",
    "Paragraph",
    "Report",
    "ReportContext",
    "ReportFigure",
    "SECTION_BUILDERS",
    "Section",
    "SetAside",
    "Table",
    "VariantGrid",
    "build_report",
    "clip_interval",
    "detect_grid",
    "fmt_interval",
    "fmt_pct",
    "fmt_pp",
    "load_report",
    "register_section",
    "save_report",
    "write_report",
]

#: Resolution of the embedded PNGs; CSS shows them at 96 px per inch, so they stay sharp on HiDPI screens.
FIGURE_DPI = 144
_CSS_DPI = 96
BOOTSTRAP_RESAMPLES = stats.DEFAULT_N_RESAMPLES
BOOTSTRAP_SEED = 0
FORMATS = ("html", "md")
PARAGRAPH_KINDS = ("text", "verdict", "reading", "note", "warning")
_PLAIN, _BN = "lenet5", "lenet5-bn"
#: A finished run "did not learn" when its final accuracy is below this multiple of chance, 1/C
#: for C classes. Naming one class for every image scores that class's share, at most 1.14/C on
#: these datasets (the digit 1 is 11.35% of MNIST's test set); 1.5/C also clears the sampling
#: noise of a small validation split (0.95 pp sd at 10% over 1,000 images), and any run that
#: learned something scores far above it. Such a run stays in the statistics: a setting under
#: which a network does not learn (plain LeNet with sigmoids at SGD lr 0.1, say) is a result.
CHANCE_MARGIN = 1.5


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------


@dataclass
class Paragraph:
    """A paragraph of plain text.

    ``kind`` tells the renderer how to set it: ``"text"``, ``"verdict"`` (a computed conclusion,
    highlighted), ``"reading"`` (a computed one-paragraph reading of a figure or table),
    ``"note"`` (small print) or ``"warning"``. ``lead`` is an optional run-in heading.
    """

    text: str
    kind: str = "text"
    lead: str = ""  # an optional run-in heading, set in bold before the text

    def __post_init__(self) -> None:
        if self.kind not in PARAGRAPH_KINDS:
            raise ConfigError(f"paragraph kind must be one of {', '.join(PARAGRAPH_KINDS)}; got {self.kind!r}")


@dataclass
class Column:
    """A table column: its header (with the unit, e.g. ``"mean (%)"``), alignment and kind.

    ``align`` is ``"left"`` or ``"right"`` (numbers). ``kind`` is ``"text"``, ``"variant"`` (the
    HTML renderer adds the variant's colour swatch) or ``"mono"`` (hashes, messages, values).
    ``nowrap`` keeps short texts ("about 93%") on one line; numbers and variants never wrap.
    """

    label: str
    align: str = "left"
    kind: str = "text"
    nowrap: bool = False

    def __post_init__(self) -> None:
        if self.align not in ("left", "right"):
            raise ConfigError(f"column align must be 'left' or 'right'; got {self.align!r}")
        if self.kind not in ("text", "variant", "mono"):
            raise ConfigError(f"column kind must be 'text', 'variant' or 'mono'; got {self.kind!r}")


def num(label: str) -> Column:
    """A right-aligned numeric column."""
    return Column(label, "right")


@dataclass
class Table:
    """A table of already formatted cells (strings), with a caption and notes printed below it.

    ``columns`` may be given as plain strings (left-aligned text). ``groups`` optionally labels
    runs of adjacent columns, as ``(label, span)`` pairs covering every column (use ``""`` for
    columns without a group).
    """

    columns: list[Column]
    rows: list[list[str]]
    caption: str = ""
    notes: list[str] = field(default_factory=list)
    groups: list[tuple[str, int]] | None = None

    def __post_init__(self) -> None:
        self.columns = [c if isinstance(c, Column) else Column(str(c)) for c in self.columns]
        width = len(self.columns)
        for i, row in enumerate(self.rows):
            if len(row) != width:
                raise ConfigError(f"table {self.caption!r}: row {i} has {len(row)} cells, expected {width}")
        if self.groups is not None and sum(span for _, span in self.groups) != width:
            raise ConfigError(f"table {self.caption!r}: header groups must span all {width} columns")

    def column(self, label: str) -> list[str]:
        """The cells of the column whose header is ``label``."""
        index = [c.label for c in self.columns].index(label)
        return [row[index] for row in self.rows]


@dataclass
class ReportFigure:
    """A figure as PNG bytes, its caption (what is drawn) and alt text; size in CSS pixels."""

    png: bytes
    caption: str
    alt: str
    width: int
    height: int

    @classmethod
    def from_matplotlib(cls, fig: Any, caption: str, alt: str, *, dpi: int = FIGURE_DPI) -> "ReportFigure":
        """Render a matplotlib ``Figure`` to PNG; it is shown at its inch size at 96 CSS px per inch."""
        from normlab.report.figures import figure_png

        png = figure_png(fig, dpi=dpi)
        w, h = png_size(png)
        return cls(png=png, caption=caption, alt=alt, width=round(w * _CSS_DPI / dpi), height=round(h * _CSS_DPI / dpi))


Block = Paragraph | Table | ReportFigure


class Section:
    """One section of the report: a title, an anchor (its id in the page) and ordered blocks.

    Blocks are :class:`Paragraph`, :class:`Table` and :class:`ReportFigure` objects, rendered in
    order. ``paragraphs`` (strings or Paragraphs), ``figures`` and ``tables`` given to the
    constructor are appended in that order; use :meth:`add` to interleave them.

    ``summary`` is the section's conclusion in a sentence or two, for a section that answers the
    question the study was run for (the learning-rate, batch-size, placement, noisy-BN and
    eval-mode sections of the presets): the headline leads with it. Most sections leave it empty.
    """

    def __init__(
        self,
        title: str,
        anchor: str,
        blocks: Iterable[Block] = (),
        *,
        paragraphs: Iterable[str | Paragraph] = (),
        figures: Iterable[ReportFigure] = (),
        tables: Iterable[Table] = (),
        summary: str = "",
    ) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9-]*", anchor or ""):
            raise ConfigError(f"section anchor must be lowercase letters, digits and '-', starting with a letter; "
                              f"got {anchor!r}")
        self.title = title
        self.anchor = anchor
        self.summary = summary
        self.blocks: list[Block] = []
        for block in (*blocks, *paragraphs, *figures, *tables):
            self.add(block)

    def add(self, *blocks: Block | str) -> "Section":
        """Append blocks (a string becomes a text paragraph); returns the section."""
        for block in blocks:
            if isinstance(block, str):
                block = Paragraph(block)
            if not isinstance(block, (Paragraph, Table, ReportFigure)):
                raise ConfigError(f"a section holds Paragraph, Table or ReportFigure blocks; got {type(block).__name__}")
            self.blocks.append(block)
        return self

    @property
    def paragraphs(self) -> list[Paragraph]:
        """The section's paragraphs, in order."""
        return [b for b in self.blocks if isinstance(b, Paragraph)]

    @property
    def figures(self) -> list[ReportFigure]:
        """The section's figures, in order."""
        return [b for b in self.blocks if isinstance(b, ReportFigure)]

    @property
    def tables(self) -> list[Table]:
        """The section's tables, in order."""
        return [b for b in self.blocks if isinstance(b, Table)]

    def __repr__(self) -> str:
        return f"Section({self.title!r}, {self.anchor!r}, {len(self.blocks)} blocks)"


@dataclass
class Report:
    """Everything the report shows; renderers only format it.

    Attributes:
        title: Page title.
        study: Study name.
        headline: The headline verdict sentence(s), shown at the top.
        sections: Sections in page order.
        summaries: Per-variant statistics (runs with status ``done``), by variant name.
        comparisons: Paired comparisons (final and best accuracy of each B against its A).
        verdicts: Verdict sentences, one per comparison in :attr:`comparisons`.
        variant_colors: Colour of each variant in the figures (``#rrggbb``).
        meta: Short facts for the page header (generated, database, runs, protocol), in order.
        target: Target accuracy (fraction) of epochs- and time-to-target.
        highlights: Key numbers shown under the headline (mean and interval of each variant, or
            of the best and worst when there are many).
        headline_more: A pointer to what the headline leaves out (``"... and 19 more comparisons
            in section 5, Paired comparisons."``), or ``""``.
        headline_anchor: The anchor of the section :attr:`headline_more` points to.
        adjusted_pvalues: Holm-adjusted paired t-test p of each comparison in :attr:`comparisons`
            (the family: the comparisons of the same metric).
        warnings: Problems with the data the reader must see before the numbers (a variant with
            runs under several configurations), shown under the headline.
    """

    title: str
    study: str
    headline: list[str]
    sections: list[Section]
    summaries: dict[str, VariantSummary]
    comparisons: list[PairedComparison]
    verdicts: list[str]
    variant_colors: dict[str, str]
    meta: dict[str, str]
    target: float
    highlights: list[str] = field(default_factory=list)
    headline_more: str = ""
    headline_anchor: str = ""
    adjusted_pvalues: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def figures(self) -> list[ReportFigure]:
        """Every figure of every section, in page order."""
        return [f for s in self.sections for f in s.figures]

    @property
    def tables(self) -> list[Table]:
        """Every table of every section, in page order."""
        return [t for s in self.sections for t in s.tables]

    def section(self, anchor: str) -> Section:
        """The section with this anchor (KeyError naming the anchors there are)."""
        for s in self.sections:
            if s.anchor == anchor:
                return s
        raise KeyError(f"no section {anchor!r}; sections: {', '.join(s.anchor for s in self.sections)}")


# --------------------------------------------------------------------------------------------
# Formatting (accuracy in % with 2 decimals, differences in pp, seconds with 1 decimal)
# --------------------------------------------------------------------------------------------

NA = "n/a"


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float, np.floating, np.integer)) and math.isfinite(float(x))


def fmt_pct(fraction: float | None, *, unit: bool = False) -> str:
    """``0.98912 -> "98.91"`` (``"98.91%"`` with ``unit``); NaN or None gives ``"n/a"``."""
    if fraction is None or not _finite(fraction):
        return NA
    return f"{fraction * 100:.2f}{'%' if unit else ''}"


def fmt_pp(fraction: float | None, *, unit: bool = False, signed: bool = True) -> str:
    """A difference of fractions in percentage points: ``0.0031 -> "+0.31"`` (``"+0.31 pp"``)."""
    if fraction is None or not _finite(fraction):
        return NA
    text = f"{fraction * 100:+.2f}" if signed else f"{fraction * 100:.2f}"
    if text in ("+0.00", "-0.00"):
        text = "0.00"
    return text + (" pp" if unit else "")


def fmt_mean_sd(mean: float, sd: float) -> str:
    """``"98.91 ± 0.12"`` in percent; the ``± sd`` part is left out when sd is undefined."""
    if not _finite(mean):
        return NA
    return f"{mean * 100:.2f} ± {sd * 100:.2f}" if _finite(sd) else f"{mean * 100:.2f}"


#: Appended to an accuracy interval that was cut at 0% or 100% for display (see :func:`clip_interval`).
CLIPPED_MARK = "†"
#: The table note that explains :data:`CLIPPED_MARK`.
CLIPPED_NOTE = (f"{CLIPPED_MARK} The interval reached past 100% (or below 0%), which an accuracy cannot; it is shown "
                "cut at that bound. A t-interval over a few seeds with a wide spread does that: read it as "
                "“very uncertain”.")


def clip_interval(low: float, high: float) -> tuple[float, float, bool]:
    """An accuracy interval (fractions) cut to ``[0, 1]`` for display, and whether it was cut.

    A Student-t interval is symmetric about the mean and knows nothing of the bounds, so with two
    seeds and a wide spread it can reach past 100%; the statistics keep the raw values, only the
    text is cut.
    """
    if not (_finite(low) and _finite(high)):
        return low, high, False
    cut = low < 0.0 or high > 1.0
    return max(float(low), 0.0), min(float(high), 1.0), cut


def fmt_interval(ci: stats.ConfidenceInterval | tuple[float, float], *, pp: bool = False, clip: bool = True) -> str:
    """An interval as ``"98.80 – 99.02"`` (percent, or signed pp with ``pp``); undefined gives ``"n/a"``.

    An accuracy interval (``pp=False``) is cut to 0–100% and marked with :data:`CLIPPED_MARK` when
    it reached past either bound (``clip=False`` shows the raw bounds); tables that show one add
    :data:`CLIPPED_NOTE` (see :func:`clipped_notes`).
    """
    low, high = (ci.low, ci.high) if isinstance(ci, stats.ConfidenceInterval) else ci
    if not (_finite(low) and _finite(high)):
        return NA
    if pp:
        return f"{fmt_pp(low)} to {fmt_pp(high)}"
    mark = ""
    if clip:
        low, high, cut = clip_interval(low, high)
        mark = CLIPPED_MARK if cut else ""
    return f"{low * 100:.2f} – {high * 100:.2f}{mark}"


def interval_phrase(ci: stats.ConfidenceInterval | tuple[float, float]) -> str:
    """An accuracy interval for running text: ``"98.80–99.02%"``, or ``"93.10–100.00%, cut at 100%"``."""
    low, high = (ci.low, ci.high) if isinstance(ci, stats.ConfidenceInterval) else ci
    if not (_finite(low) and _finite(high)):
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


def fmt_seconds(seconds: float | None) -> str:
    """Seconds with one decimal (``"41.2"``); the column header carries the unit."""
    if seconds is None or not _finite(seconds):
        return NA
    return f"{seconds:.1f}"


def fmt_duration(seconds: float | None) -> str:
    """A human duration: ``"41 s"``, ``"12.5 min"``, ``"3.2 h"``."""
    if seconds is None or not _finite(seconds):
        return NA
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def fmt_time(unix: float | None) -> str:
    """A unix time as ``"2025-01-31 14:05 UTC"``."""
    if unix is None or not _finite(unix):
        return NA
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(unix)))


def fmt_p(p: float) -> str:
    """A p-value without the ``"p = "`` prefix (``"0.012"``, ``"< 0.001"``)."""
    return stats.format_p(p).removeprefix("p = ").replace("p < ", "< ")


# One set of text helpers for the statistics and every report module.
p_words = stats.p_words
plural = stats.plural
join_ints = stats.join_ints


def fmt_value(value: Any) -> str:
    """A config value as text: strings as-is, everything else as JSON (``null``, ``true``, ``{}``)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels from a PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ConfigError("not a PNG image (missing signature or IHDR chunk)")
    return struct.unpack(">II", png[16:24])


# --------------------------------------------------------------------------------------------
# Run access (RunRecord from the store, or any object with its attributes)
# --------------------------------------------------------------------------------------------


def _get(run: Any, name: str, default: Any = None) -> Any:
    return getattr(run, name, default)


def _epoch_series(run: Any, key: str) -> list[float]:
    """Per-epoch values of ``key`` from ``run.epochs`` (NaN where missing)."""
    out = []
    for e in _get(run, "epochs", None) or []:
        v = e.get(key) if isinstance(e, dict) else None
        out.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan)
    return out


def _val_accuracy(run: Any) -> list[float]:
    acc = _get(run, "val_accuracy", None)
    return [float(v) for v in acc] if acc is not None else _epoch_series(run, "val_accuracy")


@dataclass(frozen=True)
class AtChance:
    """A finished run whose final accuracy is within chance (see :data:`CHANCE_MARGIN`)."""

    run: Any
    final: float
    best: float
    chance: float  # 1 / number of classes


def _num_classes(run: Any) -> int | None:
    """The class count of the run's dataset; None when the config does not name a known one."""
    from normlab.data.registry import get_dataset_spec

    dataset = (_get(run, "config", None) or {}).get("dataset")
    try:
        return get_dataset_spec(dataset).num_classes if dataset is not None else None
    except ConfigError:
        return None


def _at_chance(runs: Iterable[Any]) -> list[AtChance]:
    """The done runs among ``runs`` that did not learn: final accuracy below CHANCE_MARGIN / C."""
    out = []
    for r in runs:
        acc = [a for a in _val_accuracy(r) if math.isfinite(a)]
        classes = _num_classes(r)
        if r.status == "done" and acc and classes and acc[-1] < CHANCE_MARGIN / classes:
            out.append(AtChance(r, acc[-1], max(acc), 1 / classes))
    return out


def _at_chance_warning(items: Sequence[AtChance], val_label: str) -> str:
    """The warning under the verdict: which runs did not learn, and that the verdicts include them."""
    by_variant: dict[str, list[int]] = {}
    for item in items:
        by_variant.setdefault(item.run.variant, []).append(int(item.run.seed))
    listed = "; ".join(f"{v} ({'seed' if len(seeds) == 1 else 'seeds'} {join_ints(sorted(seeds))})"
                       for v, seeds in by_variant.items())
    one = len(items) == 1
    return (f"{listed}: final {val_label} accuracy within chance, so {'this run' if one else 'these runs'} did not "
            f"learn. {'It stays' if one else 'They stay'} in the statistics and the verdicts, as what the setting "
            f"gives, and {'is' if one else 'are'} listed under \"Failed and diverged runs\".")


# --------------------------------------------------------------------------------------------
# Variant grids: model x learning rate, model x batch size
# --------------------------------------------------------------------------------------------

#: Settings a grid study sweeps, tried in this order (batch-size-scaled sweeps both batch size and
#: learning rate together; the batch size is the one it is about).
GRID_KEYS = ("batch_size", "lr", "protocol")
GRID_LABELS = {"batch_size": "batch size", "lr": "learning rate", "protocol": "protocol"}
_GRID_SHORT = {"batch_size": "bs", "lr": "lr", "protocol": "protocol"}
#: Swept settings whose values have an order (drawn light to dark); the others are categories.
_ORDERED_KEYS = ("batch_size", "lr")
#: With at most this many comparisons of final accuracy the headline lists every verdict.
MAX_HEADLINE_VERDICTS = 3
#: With more comparisons of one metric than this, "significant" in the headline and the comparisons'
#: short verdicts means significant after Holm's correction across them (see :func:`stats.holm`).
MAX_UNCORRECTED_COMPARISONS = 3
#: With more variants than this, the per-variant curve figures become grids of small panels.
MAX_SEPARATE_CURVE_FIGURES = 4
#: With more variants than this, readings name the extremes instead of every variant.
MAX_LISTED_VARIANTS = 4


@dataclass(frozen=True)
class VariantGrid:
    """The variants of a grid study: every model trained at every value of one swept setting.

    A study is a grid when its variants' configs differ only in ``model`` and in ``key``
    (``"lr"``, ``"batch_size"`` or ``"protocol"``; only a learning rate scaled linearly with the
    batch size, as batch-size-scaled sets it, may differ too: see :func:`detect_grid`), with at
    least two models and two values and one variant per (model, value). The report then compares
    each model with :attr:`reference` at the *same* value, and draws the variants grouped by value.

    Attributes:
        key: The swept config field.
        models: Model specs, in study order.
        values: The swept values, ascending.
        cells: The variant trained with each ``(model, value)``.
        reference: The model every other model is compared with: the first one without
            normalisation (``norm`` none), else the first model.
    """

    key: str
    models: tuple[str, ...]
    values: tuple[Any, ...]
    cells: dict[tuple[str, Any], str]
    reference: str

    @property
    def label(self) -> str:
        """The swept setting in words: ``"learning rate"``, ``"batch size"`` or ``"protocol"``."""
        return GRID_LABELS.get(self.key, self.key)

    @property
    def ordered(self) -> bool:
        """Whether the swept values have an order (a learning rate, a batch size), not just names."""
        return self.key in _ORDERED_KEYS

    def same(self, what: str = "the same") -> str:
        """``"at the same learning rate"``, ``"under the same protocol"`` (``what`` may be ``"that"``)."""
        return f"{'at' if self.ordered else 'under'} {what} {self.label}"

    def value_text(self, value: Any) -> str:
        """A swept value as a short label: ``"lr = 0.001"``, ``"bs = 16"``."""
        return f"{_GRID_SHORT.get(self.key, self.key)} = {value:g}" if isinstance(value, float) else \
            f"{_GRID_SHORT.get(self.key, self.key)} = {value}"

    def variant(self, model: str, value: Any) -> str | None:
        """The variant trained with ``model`` at ``value``, if there is one."""
        return self.cells.get((model, value))

    def position(self, variant: str) -> tuple[str, Any]:
        """The ``(model, value)`` of a variant."""
        for cell, v in self.cells.items():
            if v == variant:
                return cell
        raise KeyError(variant)

    def by_value(self) -> list[tuple[Any, list[str]]]:
        """The variants grouped by swept value (ascending), models in study order within each."""
        return [(x, [self.cells[(m, x)] for m in self.models if (m, x) in self.cells]) for x in self.values]

    def pairs(self) -> list[tuple[str, str]]:
        """``(A, B)`` pairs: the reference model against each other model at the same value."""
        out = []
        for x in self.values:
            a = self.variant(self.reference, x)
            if a is None:
                continue
            out.extend((a, b) for m in self.models if m != self.reference and (b := self.variant(m, x)) is not None)
        return out


def _norm_of(model: str) -> str | None:
    """The ``norm`` option of a model spec (``"none"``, ``"batch"``...), or None when unknown."""
    from normlab.models import model_options

    try:
        return model_options(model).get("norm")
    except (ConfigError, TypeError, ValueError, KeyError):
        return None


def _hashable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else fmt_value(value)


def _linear_scaling(settings: Iterable[dict[str, Any]]) -> bool:
    """Whether every config's learning rate is the same multiple of its batch size (the linear scaling rule)."""
    ratios = []
    for c in settings:
        lr, bs = c.get("lr"), c.get("batch_size")
        if not (_finite(lr) and _finite(bs)) or isinstance(lr, bool) or isinstance(bs, bool) or bs <= 0:
            return False
        ratios.append(float(lr) / float(bs))
    return bool(ratios) and all(math.isclose(r, ratios[0], rel_tol=1e-9) for r in ratios)


#: Settings allowed to change together with a swept one, and the rule they must then follow. Only
#: batch-size-scaled's learning rate is: lr = base lr x batch size / 64, the same lr per image.
_FOLLOWERS: dict[str, dict[str, Callable[[Iterable[dict[str, Any]]], bool]]] = {
    "batch_size": {"lr": _linear_scaling},
}


def detect_grid(variants: Sequence[str], runs: dict[str, list[Any]], *, key: str | None = None,
                min_models: int = 2) -> VariantGrid | None:
    """The :class:`VariantGrid` the variants form, or None when they are not a model x setting grid.

    ``runs`` maps each variant to its runs; their ``config`` dicts decide. Every run of a variant
    must agree on its settings (the seed aside). The variants are a grid over ``key`` when, apart
    from the seed, the model and ``key`` itself, every config field has the same value in every
    variant. The one exception is a learning rate that follows the batch size by the linear
    scaling rule (the same ``lr / batch_size`` everywhere, as the batch-size-scaled preset sets
    it), which a batch-size grid allows; a learning-rate grid allows none, so a batch-size-scaled
    study is never read as a learning-rate sweep. ``key=None`` tries :data:`GRID_KEYS` in order.

    ``min_models`` is the number of models needed (default 2: the report's comparisons pair
    models at the same value, so they need a reference and at least one other model sharing a
    value). The sweep sections ask for 1: one model trained at two or more values is a sweep.
    This is the one grid rule of the report: the comparisons and the learning-rate and batch-size
    sections all use it.
    """
    if key is not None and key not in GRID_KEYS:
        raise ConfigError(f"grid key must be one of {', '.join(GRID_KEYS)}; got {key!r}")
    settings: dict[str, dict[str, Any]] = {}
    for v in variants:
        configs = [c for c in (_get(r, "config", None) for r in runs.get(v, [])) if isinstance(c, dict)]
        if not configs:
            return None
        first = {k: _hashable(val) for k, val in configs[0].items() if k != "seed"}
        for c in configs[1:]:
            if {k: _hashable(val) for k, val in c.items() if k != "seed"} != first:
                return None
        settings[v] = first
    if not settings or any("model" not in c for c in settings.values()):
        return None
    keys = set().union(*(set(c) for c in settings.values()))
    differing = {k for k in keys if len({c.get(k, "(absent)") for c in settings.values()}) > 1}
    if "model" not in differing and min_models >= 2:
        return None
    for k in (GRID_KEYS if key is None else (key,)):
        if k not in differing:
            continue
        others = differing - {"model", k}
        followers = _FOLLOWERS.get(k, {})
        if any(o not in followers or not followers[o](settings.values()) for o in others):
            continue
        cells: dict[tuple[str, Any], str] = {}
        for v in variants:
            cell = (str(settings[v]["model"]), settings[v][k])
            if cell in cells:
                break
            cells[cell] = v
        else:
            models = tuple(dict.fromkeys(m for m, _ in cells))
            values = tuple(sorted({x for _, x in cells}))
            if len(models) < max(1, min_models) or len(values) < 2:
                continue
            reference = next((m for m in models if _norm_of(m) == "none"), models[0])
            grid = VariantGrid(k, models, values, cells, reference)
            if min_models < 2 or grid.pairs():
                return grid
    return None


def _grid_colors(grid: VariantGrid) -> dict[str, str]:
    """Colours of a grid's variants: the hue says the model, the shade the swept value (light = small)."""
    from normlab.report.study_figures import shade, variant_color

    n = len(grid.values)
    out = {}
    for (m, x), v in grid.cells.items():
        # Categories (protocols) get a milder light-to-dark step than an ordered sweep's full range.
        span = 1.0 if grid.ordered else 0.6
        t = span * (-1.0 + 2.0 * grid.values.index(x) / (n - 1)) if n > 1 else 0.0
        out[v] = shade(variant_color(grid.models.index(m)), t)
    return out


# --------------------------------------------------------------------------------------------
# Context: the statistics every section reads
# --------------------------------------------------------------------------------------------


@dataclass
class ReportContext:
    """What the section builders share, computed once by :func:`build_report`.

    Attributes:
        study: Study name.
        target: Target accuracy (fraction) for epochs- and time-to-target.
        confidence: Confidence level of every interval (0.95).
        alpha: Significance level of the verdicts (0.05).
        variants: Variant names in report order (the baseline first).
        colors: Figure colour of each variant.
        runs: One run per (variant, seed) (the latest done run where there are several), by variant.
        superseded: Older runs of a (variant, seed) that a later run replaced.
        set_aside: Runs of a variant under another configuration than the one used (see :class:`SetAside`).
        summaries: :func:`~normlab.experiments.stats.summarize_variant` of each variant.
        pairs: ``(A, B)`` variant pairs compared, B against A.
        comparisons: Paired comparisons, ``final`` then ``best`` metric for each pair.
        verdicts: :func:`~normlab.experiments.stats.verdict` of each comparison, same order.
        adjusted_pvalues: Holm-adjusted paired t-test p of each comparison, same order; the family
            is every comparison of the same metric (:func:`~normlab.experiments.stats.holm`).
        val_label: How validation is named in figures: ``"validation"`` or ``"validation (test set)"``.
        generated_at: Unix time the report was built.
        db_path: The database the runs came from, when known.
        extra: Free space for section builders to share results.
        grid: The :class:`VariantGrid` when the variants form a model x learning rate or model x
            batch size grid (the pairs are then matched at the same value), else None.
        at_chance: The finished runs that did not learn (see :class:`AtChance`), by variant then seed.
    """

    study: str
    target: float
    confidence: float
    alpha: float
    variants: list[str]
    colors: dict[str, str]
    runs: dict[str, list[Any]]
    superseded: list[Any]
    summaries: dict[str, VariantSummary]
    pairs: list[tuple[str, str]]
    comparisons: list[PairedComparison]
    verdicts: list[str]
    val_label: str
    generated_at: float
    db_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    grid: VariantGrid | None = None
    set_aside: list[SetAside] = field(default_factory=list)
    adjusted_pvalues: list[float] = field(default_factory=list)
    at_chance: list[AtChance] = field(default_factory=list)

    def _index(self, cmp: PairedComparison) -> int:
        for i, c in enumerate(self.comparisons):
            if c is cmp:
                return i
        raise KeyError(f"{cmp.b_name} − {cmp.a_name} ({cmp.metric}) is not one of the report's comparisons")

    def n_tests(self, metric: str = "final") -> int:
        """How many comparisons of ``metric`` the report makes (the size of a Holm family)."""
        return sum(1 for c in self.comparisons if c.metric == metric)

    def corrected(self, metric: str = "final") -> bool:
        """Whether "significant" means Holm-corrected for ``metric``: more than
        :data:`MAX_UNCORRECTED_COMPARISONS` comparisons of it."""
        return self.n_tests(metric) > MAX_UNCORRECTED_COMPARISONS

    def adjusted_p(self, cmp: PairedComparison) -> float:
        """The Holm-adjusted paired t-test p of one of the report's comparisons (NaN when undefined)."""
        return self.adjusted_pvalues[self._index(cmp)] if self.adjusted_pvalues else math.nan

    def significant(self, cmp: PairedComparison) -> bool:
        """:func:`~normlab.experiments.stats.is_significant`, with the Holm-adjusted p when
        :meth:`corrected` (so many tests do not pass off chance hits as effects)."""
        p = self.adjusted_p(cmp) if self.corrected(cmp.metric) else None
        return stats.is_significant(cmp, self.alpha, pvalue=p)

    def done(self, variant: str) -> list[Any]:
        """The variant's runs with status ``done``, by seed."""
        return sorted((r for r in self.runs.get(variant, []) if r.status == "done"), key=lambda r: r.seed)

    @property
    def all_runs(self) -> list[Any]:
        """Every run in the report, by variant order then seed."""
        return [r for v in self.variants for r in sorted(self.runs[v], key=lambda r: r.seed)]

    def figure(self, fig: Any, caption: str, alt: str) -> ReportFigure:
        """Render a matplotlib figure into a :class:`ReportFigure`."""
        return ReportFigure.from_matplotlib(fig, caption, alt)

    def comparison(self, a: str, b: str, metric: str = "final") -> PairedComparison | None:
        """The comparison of ``b`` against ``a`` on ``metric``, if it was made."""
        for c in self.comparisons:
            if c.a_name == a and c.b_name == b and c.metric == metric:
                return c
        return None


SectionBuilder = Callable[[list[Any], ReportContext], "Section | None"]

#: The section builders, called in order by :func:`build_report`; extend with :func:`register_section`.
SECTION_BUILDERS: list[SectionBuilder] = []


def _builder_name(builder: SectionBuilder | str) -> str:
    return builder if isinstance(builder, str) else getattr(builder, "__name__", repr(builder))


def register_section(builder: SectionBuilder | None = None, *, before: SectionBuilder | str | None = None):
    """Add a section builder to :data:`SECTION_BUILDERS`; usable as a decorator, with or without arguments.

    A builder is called as ``builder(runs, ctx)`` with the study's runs and the
    :class:`ReportContext` and returns a :class:`Section`, or ``None`` to leave the section out
    (when its data does not exist). By default it goes after the results and before the appendix
    (configuration, environment, methods); ``before`` names a registered builder (the function
    or its ``__name__``) to insert it before instead. Registering a builder again moves it.
    Returns the builder.
    """

    def add(fn: SectionBuilder) -> SectionBuilder:
        if not callable(fn):
            raise ConfigError(f"a section builder must be callable; got {fn!r}")
        if fn in SECTION_BUILDERS:
            SECTION_BUILDERS.remove(fn)
        if before is not None:
            names = [_builder_name(b) for b in SECTION_BUILDERS]
            target = _builder_name(before)
            if target not in names:
                raise ConfigError(f"no registered section builder {target!r}; registered: {', '.join(names)}")
            index = names.index(target)
        else:
            index = next((i for i, b in enumerate(SECTION_BUILDERS) if getattr(b, "appendix", False)),
                         len(SECTION_BUILDERS))
        SECTION_BUILDERS.insert(index, fn)
        return fn

    return add if builder is None else add(builder)


def _core(appendix: bool = False):
    def deco(fn: SectionBuilder) -> SectionBuilder:
        fn.appendix = appendix  # type: ignore[attr-defined]
        SECTION_BUILDERS.append(fn)
        return fn

    return deco


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetAside:
    """Runs of a variant under another configuration than the one the report uses for it.

    A study name re-run with other settings (another ``--epochs``, say) and stopped part-way
    leaves runs of two configurations under one variant label; mixing them would average
    10-epoch and 20-epoch seeds into one mean. The report keeps the configuration with the most
    runs (counted once per seed; ties go to the most recent) and sets the others aside.

    Attributes:
        variant: The variant label.
        runs: The runs left out, by seed.
        n_used: Seeds of the configuration the report uses.
        differences: ``(field, value used, value set aside)`` for every config field that differs.
    """

    variant: str
    runs: tuple[Any, ...]
    n_used: int
    differences: tuple[tuple[str, str, str], ...]

    def describe(self) -> str:
        """The warning the report shows, in a sentence or two."""
        def settings(index: int) -> str:
            shown = [f"{f} = {vals[index]}" for f, *vals in self.differences[:4]]
            more = len(self.differences) - len(shown)
            return ", ".join(shown) + (f" and {more} more setting{'s' if more > 1 else ''}" if more > 0 else "")

        what = (f"with {settings(0)}" if self.differences else "under its latest configuration")
        other = (f"with {settings(1)}" if self.differences else "without a recorded config")
        seeds = join_ints(int(r.seed) for r in self.runs)
        return (f"{self.variant} has runs under more than one configuration: the report uses its "
                f"{plural(self.n_used, 'seed')} {what} and leaves out {plural(len(self.runs), 'run')} {other} "
                f"(seed{'s' if len(self.runs) > 1 else ''} {seeds}) rather than mix them into one mean. Rerun the "
                "missing seeds, or give the other configuration its own study name.")


def _config_key(run: Any) -> tuple | None:
    """A run's config without its seed, hashable; None when the run has no config."""
    cfg = _get(run, "config", None)
    if not isinstance(cfg, dict):
        return None
    return tuple(sorted((k, fmt_value(v)) for k, v in cfg.items() if k != "seed"))


def _config_differences(used: tuple | None, other: tuple | None) -> tuple[tuple[str, str, str], ...]:
    a, b = dict(used or ()), dict(other or ())
    return tuple((k, a.get(k, "(absent)"), b.get(k, "(absent)")) for k in sorted(a.keys() | b.keys())
                 if a.get(k, "(absent)") != b.get(k, "(absent)"))


def _dedupe(runs: Sequence[Any]) -> tuple[dict[tuple[str, int], Any], list[Any], list[SetAside]]:
    """One configuration per variant, and one run per (variant, seed) of it.

    The runs of a variant are grouped by their config without the seed. The configuration with
    the most seeds (ties: the one with the latest run) is used and the others are returned as
    :class:`SetAside` entries, so no variant's numbers mix configurations. Within it each seed
    keeps its latest done run, else its latest run; the other runs of that seed are superseded.
    """
    by_variant: dict[str, dict[tuple | None, list[Any]]] = {}
    for r in runs:
        by_variant.setdefault(r.variant, {}).setdefault(_config_key(r), []).append(r)
    chosen, superseded, set_aside = {}, [], []
    for variant, configs in by_variant.items():
        def rank(item: tuple[tuple | None, list[Any]]) -> tuple[int, int]:
            return len({int(r.seed) for r in item[1]}), max(_get(r, "id", 0) or 0 for r in item[1])

        used_key, used_runs = max(configs.items(), key=rank)
        n_used = len({int(r.seed) for r in used_runs})
        for key, group in sorted(configs.items(), key=rank, reverse=True):
            if key != used_key:
                left = tuple(sorted(group, key=lambda r: (int(r.seed), _get(r, "id", 0) or 0)))
                set_aside.append(SetAside(variant, left, n_used, _config_differences(used_key, key)))
        groups: dict[int, list[Any]] = {}
        for r in used_runs:
            groups.setdefault(int(r.seed), []).append(r)
        for seed, group in groups.items():
            group.sort(key=lambda r: (r.status == "done", _get(r, "id", 0) or 0))
            chosen[(variant, seed)] = group[-1]
            superseded.extend(group[:-1])
    return chosen, superseded, set_aside


def _variant_order(runs: Sequence[Any]) -> list[str]:
    order: list[str] = []
    for r in sorted(runs, key=lambda r: (_get(r, "id", 0) or 0)):
        if r.variant not in order:
            order.append(r.variant)
    if set(order) == {_PLAIN, _BN}:
        order = [_PLAIN, _BN]
    return order


def _val_label(runs: Iterable[Any]) -> str:
    names = {_get(r, "val_split_name", None) for r in runs if r.status == "done"} - {None}
    if names == {"val"}:
        return "validation"
    if names == {"test"}:
        return "validation (test set)"
    return "validation"


def build_report(
    runs: Sequence[Any],
    *,
    target: float = stats.DEFAULT_TARGET,
    study: str | None = None,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    alpha: float = 0.05,
    db_path: str | Path | None = None,
    generated_at: float | None = None,
    builders: Sequence[SectionBuilder] | None = None,
) -> Report:
    """Build the report model of one study from its runs.

    ``runs`` are ``RunRecord`` objects of :mod:`normlab.experiments.store` (loaded with
    ``full=True``) or objects with the same attributes; all must belong to one study. The
    sections come from ``builders`` (default :data:`SECTION_BUILDERS`). Raises
    :class:`~normlab.errors.ConfigError` for no runs, runs of several studies or a bad target.
    """
    runs = list(runs)
    if not runs:
        raise ConfigError("no runs to report on; run `normlab study` first")
    names = sorted({str(_get(r, "study", study) or "") for r in runs})
    if len(names) > 1:
        raise ConfigError(f"the runs belong to several studies ({', '.join(names)}); report one study at a time")
    study = study or names[0] or "default"
    target = stats._check_target(target)
    chosen, superseded, set_aside = _dedupe(runs)
    variants = _variant_order(list(chosen.values()))
    by_variant = {v: sorted((r for (vv, _), r in chosen.items() if vv == v), key=lambda r: r.seed) for v in variants}
    from normlab.report.study_figures import variant_color

    grid = detect_grid(variants, by_variant)
    colors = _grid_colors(grid) if grid else {v: variant_color(i) for i, v in enumerate(variants)}

    summaries = {
        v: stats.summarize_variant(v, [_stats_run(r) for r in by_variant[v]], target=target, confidence=confidence,
                                   n_resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED)
        for v in variants
    }
    pairs = grid.pairs() if grid else [(variants[0], v) for v in variants[1:]]
    comparisons, verdicts = [], []
    for a, b in pairs:
        for metric in stats.METRICS:
            cmp = stats.paired_comparison([_stats_run(r) for r in by_variant[a]],
                                          [_stats_run(r) for r in by_variant[b]], metric,
                                          confidence=confidence, a_name=a, b_name=b)
            comparisons.append(cmp)
            verdicts.append(stats.verdict(cmp, alpha=alpha))
    adjusted = [math.nan] * len(comparisons)
    for metric in stats.METRICS:
        family = [i for i, c in enumerate(comparisons) if c.metric == metric]
        for i, p in zip(family, stats.holm([comparisons[i].t_pvalue for i in family])):
            adjusted[i] = p

    ctx = ReportContext(
        study=study, target=target, confidence=confidence, alpha=alpha, variants=variants, colors=colors,
        runs=by_variant, superseded=superseded, summaries=summaries, pairs=pairs, comparisons=comparisons,
        verdicts=verdicts, val_label=_val_label(chosen.values()),
        generated_at=time.time() if generated_at is None else float(generated_at),
        db_path=Path(db_path) if db_path is not None else None, grid=grid, set_aside=set_aside,
        adjusted_pvalues=adjusted,
    )
    all_runs = ctx.all_runs
    ctx.at_chance = _at_chance(all_runs)
    sections: list[Section] = []
    seen: set[str] = set()
    for builder in (SECTION_BUILDERS if builders is None else builders):
        section = builder(all_runs, ctx)
        if section is None:
            continue
        if section.anchor in seen:
            raise ConfigError(f"two sections use the anchor {section.anchor!r}; anchors must be unique "
                              f"(builder {_builder_name(builder)})")
        seen.add(section.anchor)
        sections.append(section)

    headline, more, anchor = _headline(ctx, sections)
    return Report(
        title=f"Study report: {study}",
        study=study,
        headline=headline,
        headline_more=more,
        headline_anchor=anchor,
        sections=sections,
        summaries=summaries,
        comparisons=comparisons,
        verdicts=verdicts,
        variant_colors=colors,
        meta=_meta(ctx),
        target=target,
        highlights=_highlights(ctx),
        adjusted_pvalues=adjusted,
        warnings=[item.describe() for item in set_aside]
        + ([_at_chance_warning(ctx.at_chance, ctx.val_label)] if ctx.at_chance else []),
    )


def _stats_run(run: Any) -> stats.RunRecord:
    """The stats module's view of a run; a failed or diverged run may hold NaN or no epochs."""
    acc = _val_accuracy(run)
    secs = _get(run, "epoch_seconds", None)
    secs = [float(s) for s in secs] if secs is not None else _epoch_series(run, "seconds")
    return stats.RunRecord(seed=int(run.seed), val_accuracy=tuple(acc), epoch_seconds=tuple(secs), status=run.status)


def _headline(ctx: ReportContext, sections: Sequence[Section] = ()) -> tuple[list[str], str, str]:
    """The headline lines, the pointer to what they leave out, and the anchor it points to.

    A section with a ``summary`` (a preset's own reading) leads. Then the verdicts on final
    accuracy: all of them when they fit in the :data:`MAX_HEADLINE_VERDICTS` lines left by the
    summaries, else the significant ones with the largest mean differences (as many as fit), or
    one line saying none is significant; the pointer counts the rest. With more than
    :data:`MAX_UNCORRECTED_COMPARISONS` comparisons, significant means significant after Holm's
    correction across them, and each line gives its Holm-adjusted p.
    """
    numbered = list(enumerate(sections, 1))
    lead = [f"{s.summary.rstrip().rstrip('.')} (section {i}, {s.title})." for i, s in numbered if s.summary]
    final = [(c, v) for c, v in zip(ctx.comparisons, ctx.verdicts) if c.metric == "final"]
    if not final:
        return lead + _single_variant_lines(ctx), "", ""
    if not lead and len(final) <= MAX_HEADLINE_VERDICTS:
        return [v for _, v in final], "", ""
    room = max(1, MAX_HEADLINE_VERDICTS - len(lead))
    number = next((i for i, s in numbered if s.anchor == "comparisons"), None)
    where = f"section {number}, {sections[number - 1].title}" if number is not None else ""
    if len(final) <= room:
        return lead + [v for _, v in final], (f"The comparisons' details are in {where}." if where else ""), \
            ("comparisons" if where else "")
    holm = ctx.corrected("final")
    significant = sorted((c for c, _ in final if ctx.significant(c)), key=lambda c: -abs(c.mean_difference))
    verdict_of = {id(c): v for c, v in final}
    corrected = " after Holm's correction" if holm else ""

    def line(c: PairedComparison) -> str:
        if not holm:
            return verdict_of[id(c)]
        return (f"{verdict_of[id(c)]} Holm-adjusted p {p_words(ctx.adjusted_p(c), ctx.alpha)} over the "
                f"{len(final)} comparisons of final accuracy.")

    lines = lead + [line(c) for c in significant[:room]]
    if not significant:
        defined = [c for c, _ in final if _finite(c.mean_difference)]
        largest = max(defined, key=lambda c: abs(c.mean_difference), default=None)
        text = (f"None of the {plural(len(final), 'paired comparison')} of final {ctx.val_label} accuracy shows a "
                f"significant difference{corrected}")
        if largest is not None:
            text += (f"; the largest mean difference is {fmt_pp(largest.mean_difference, unit=True)} "
                     f"({largest.b_name} − {largest.a_name}, paired t-test p {p_words(largest.t_pvalue)}"
                     + (f", Holm-adjusted p {p_words(ctx.adjusted_p(largest))}" if holm else "") + ")")
        lines.append(text + ".")
    if number is None:
        return lines, "", ""
    shown = min(len(significant), room)
    tag = " (after Holm's correction)" if holm else ""
    if not significant:
        more = f"All {len(final)} comparisons, with their verdicts, are in {where}."
    elif shown == len(significant):
        more = (f"{'This is the only' if shown == 1 else f'These are the {shown}'} significant "
                f"difference{'s' if shown > 1 else ''} among {len(final)} paired comparisons{tag}; all of them, "
                f"with their verdicts, are in {where}.")
    else:
        more = (f"{'This is the largest' if shown == 1 else f'These are the {shown} largest'} of "
                f"{len(significant)} significant differences among {len(final)} paired comparisons{tag}; all of "
                f"them, with their verdicts, are in {where}.")
    return lines, more, "comparisons"


def _single_variant_lines(ctx: ReportContext) -> list[str]:
    out = []
    for v in ctx.variants:
        s = ctx.summaries[v].final
        if s.n == 0:
            out.append(f"{v}: no finished runs to summarise.")
        elif s.t_ci.defined:
            out.append(f"{v}: final {ctx.val_label} accuracy {fmt_pct(s.mean, unit=True)} "
                       f"({ctx.confidence * 100:g}% CI {interval_phrase(s.t_ci)}, {s.n} runs). "
                       "One variant only: nothing to compare.")
        else:
            out.append(f"{v}: final {ctx.val_label} accuracy {fmt_pct(s.mean, unit=True)} from {s.n} run(s). "
                       "One variant only: nothing to compare.")
    return out


def _highlights(ctx: ReportContext) -> list[str]:
    parts = []
    for v in ctx.variants:
        s = ctx.summaries[v].final
        if s.n == 0:
            continue
        ci = f" ({interval_phrase(s.t_ci)})" if s.t_ci.defined else ""
        parts.append((s.mean, f"{v} {fmt_pct(s.mean, unit=True)}{ci}"))
    if not parts:
        return []
    head = f"Final {ctx.val_label} accuracy, mean over seeds and {ctx.confidence * 100:g}% t-interval: "
    if len(parts) <= MAX_LISTED_VARIANTS:
        return [head + "; ".join(text for _, text in parts) + "."]
    ranked = sorted((p for p in parts if _finite(p[0])), key=lambda p: -p[0])
    if not ranked:
        return []
    return [head + f"highest {ranked[0][1]}; lowest {ranked[-1][1]} (all {len(parts)} variants in the statistics "
            "section)."]


def _status_counts(runs: Iterable[Any]) -> Counter:
    return Counter(r.status for r in runs)


def _meta(ctx: ReportContext) -> dict[str, str]:
    counts = _status_counts(ctx.all_runs)
    parts = [f"{counts.get('done', 0)} done"]
    parts += [f"{counts[s]} {s}" for s in ("failed", "diverged", "running") if counts.get(s)]
    protocols = sorted({str(r.config.get("protocol", "?")) for r in ctx.all_runs if isinstance(_get(r, "config"), dict)})
    meta = {
        "Variants": _variants_text(ctx),
        "Runs": f"{len(ctx.all_runs)} ({', '.join(parts)})",
        "Protocol": ", ".join(protocols) or NA,
        "Validation": _val_source_short(ctx.all_runs),
        "Target": f"{ctx.target * 100:g}%",
        "Generated": fmt_time(ctx.generated_at),
    }
    if ctx.db_path is not None:
        meta["Database"] = str(ctx.db_path)
    return meta


def _values_text(values: Sequence[Any]) -> str:
    return ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in values)


def _variants_text(ctx: ReportContext) -> str:
    """The variants for the page header: all names, or the grid's shape when it is a grid."""
    if ctx.grid is not None:
        g = ctx.grid
        return (f"{len(ctx.variants)}: {len(g.models)} models ({', '.join(g.models)}) × {len(g.values)} "
                f"{g.label}s ({_values_text(g.values)})")
    if len(ctx.variants) > 8:
        return f"{len(ctx.variants)}: " + ", ".join(ctx.variants)
    return ", ".join(ctx.variants)


def _val_source_short(runs: Iterable[Any]) -> str:
    names = sorted({_get(r, "val_split_name", None) for r in runs if r.status == "done"} - {None})
    labels = {"val": "held-out split", "test": "test set (the post's protocol)"}
    return ", ".join(labels.get(n, n) for n in names) or NA


# --------------------------------------------------------------------------------------------
# Core sections
# --------------------------------------------------------------------------------------------

PROTOCOL_TEXT = {
    "blog": "blog: the post's procedure, flaws included (no shuffling, softmax fed to the "
            "cross-entropy loss, the model left in eval mode after the first evaluation)",
    "standard": "standard: shuffled batches, logits into the loss, train/eval modes set correctly",
}


def _val_text(run: Any) -> str:
    name = _get(run, "val_split_name", None)
    cfg = _get(run, "config", {}) or {}
    if name == "val":
        n = cfg.get("val_split")
        held = f"the last {n} training images" if isinstance(n, int) and n > 0 else "a held-out part of the training set"
        return f"held-out validation split ({held}); the test set is evaluated once per run"
    if name == "test":
        return "the test set (the post's protocol: no separate validation split)"
    return NA


def _val_short(run: Any) -> str:
    name = _get(run, "val_split_name", None)
    if name == "val":
        n = (_get(run, "config", {}) or {}).get("val_split")
        return f"held-out split ({n:,} images)" if isinstance(n, int) and n > 0 else "held-out split"
    if name == "test":
        return "test set"
    return NA


@_core()
def overview_section(runs: list[Any], ctx: ReportContext) -> Section:
    """What ran: variants, seeds, statuses, protocol and what validation means here."""
    sec = Section("Overview", "overview")
    n_done = sum(1 for r in runs if r.status == "done")
    finished = (f"all {n_done} finished, and the statistics use them all" if n_done == len(runs) else
                f"{n_done} finished. Statistics use finished runs only; the others are listed under "
                "\"Failed and diverged runs\"")
    sec.add(f"Study \u201c{ctx.study}\u201d: {plural(len(ctx.variants), 'variant')} trained with paired seeds (seed s "
            f"gives every variant the same data order and, where shapes agree, the same initial weights), "
            f"{plural(len(runs), 'run')} in all, {finished}.")
    if ctx.at_chance:
        n = len(ctx.at_chance)
        they, stay, are = ("it", "It stays", "is") if n == 1 else ("they", "They stay", "are")
        sec.add(Paragraph(f"{plural(n, 'finished run')} ended within chance accuracy: {they} did not learn. {stay} in "
                          f"the statistics and {are} listed under \"Failed and diverged runs\".", "note"))
    if ctx.pairs:
        sec.add(_pairing_rule(ctx))
    rows = []
    for v in ctx.variants:
        rs = ctx.runs[v]
        counts = _status_counts(rs)
        protocols = sorted({str((_get(r, "config") or {}).get("protocol", "?")) for r in rs})
        vals = sorted({_val_short(r) for r in rs if r.status == "done"}) or [NA]
        epochs = sorted({len(_val_accuracy(r)) for r in rs if r.status == "done"})
        rows.append([v, join_ints(sorted(r.seed for r in rs)), str(counts.get("done", 0)),
                     str(counts.get("failed", 0)), str(counts.get("diverged", 0) + counts.get("running", 0)),
                     ", ".join(protocols), "; ".join(vals), ", ".join(map(str, epochs)) or NA])
    sec.add(Table([Column("Variant", kind="variant"), "Seeds", num("Done"), num("Failed"),
                   num("Diverged / unfinished"), "Protocol", "Validation on", num("Epochs")], rows,
                  caption="Runs per variant"))
    protocols = sorted({str((_get(r, "config") or {}).get("protocol", "?")) for r in runs})
    for p in protocols:
        if p in PROTOCOL_TEXT:
            sec.add(Paragraph(f"Protocol {PROTOCOL_TEXT[p]}.", "note"))
    for text in sorted({_val_text(r) for r in runs if r.status == "done"} - {NA}):
        sec.add(Paragraph(f"Validation on {text}.", "note"))
    if len(protocols) > 1:
        sec.add(Paragraph("The runs mix protocols; numbers from different protocols are not directly comparable.",
                          "warning"))
    val_names = {_get(r, "val_split_name", None) for r in runs if r.status == "done"} - {None}
    if len(val_names) > 1:
        sec.add(Paragraph("Some runs validated on a held-out split and others on the test set; their validation "
                          "accuracies measure different things.", "warning"))
    return sec


def _pairing_rule(ctx: ReportContext) -> str:
    """Which variant is compared with which, in a sentence."""
    if set(ctx.variants) == {_PLAIN, _BN}:
        return f"The comparison is BatchNorm ({_BN}, B) against the plain network ({_PLAIN}, A)."
    g = ctx.grid
    if g is not None:
        others = [m for m in g.models if m != g.reference]
        ref = (f"the model without normalisation, {g.reference}" if _norm_of(g.reference) == "none"
               else f"the first model, {g.reference}")
        return (f"The variants form a grid: {len(g.models)} models × {len(g.values)} {g.label}s "
                f"({_values_text(g.values)}). Each model ({', '.join(others)}; B) is compared with {ref} (A), "
                f"{g.same()} and seed by seed, so each difference is the model's effect {g.same('that')}: "
                f"{plural(len(ctx.pairs), 'comparison')} in all.")
    return (f"Each variant (B) is compared with the first variant, the baseline {ctx.variants[0]!r} (A), "
            "seed by seed.")


@_core()
def curves_section(runs: list[Any], ctx: ReportContext) -> Section | None:
    """Accuracy and loss curves per variant: mean line, 95% t band, each seed as a thin line.

    Up to :data:`MAX_SEPARATE_CURVE_FIGURES` variants get an overlay of their means and one
    figure each. More get one accuracy figure of small panels (a grid study: one panel per
    learning rate or batch size with its models; otherwise one panel per variant over the others
    in grey) and one figure of small loss panels.
    """
    from normlab.report.study_figures import (CurvePanel, accuracy_overlay_figure, curves_grid_figure,
                                              variant_color, variant_curves_figure)

    if not any(ctx.done(v) for v in ctx.variants):
        return None
    conf = f"{ctx.confidence * 100:g}%"
    sec = Section("Learning curves", "curves")
    sec.add(f"Per epoch, the thick line is the mean over seeds and the shaded band its {conf} t confidence band "
            "(mean ± t·sd/√n over the seeds that reached that epoch, cut at 0% and 100%); each thin line is one "
            "seed. Only finished runs are drawn.")
    g = ctx.grid
    done = {v: ctx.done(v) for v in ctx.variants if ctx.done(v)}
    curves = {v: [_val_accuracy(r) for r in rs] for v, rs in done.items()}
    if max((len(c) for cs in curves.values() for c in cs), default=0) <= 1:
        # One point per run is not a curve: the next section draws every run's final accuracy.
        sec.add(Paragraph("Every run trained a single epoch, so there are no curves to draw; the final accuracy of "
                          "every run is in the next section.", "note"))
        return sec
    if len(done) <= MAX_SEPARATE_CURVE_FIGURES:
        if len(ctx.variants) > 1:
            sec.add(ctx.figure(
                accuracy_overlay_figure(curves, colors=ctx.colors, confidence=ctx.confidence, val_label=ctx.val_label),
                f"Mean {ctx.val_label} accuracy per epoch of every variant; shaded: {conf} t band over seeds; "
                "n = number of seeds.",
                f"Mean {ctx.val_label} accuracy per epoch of {', '.join(curves)}"))
            sec.add(Paragraph(_curves_reading(ctx), "reading"))
        for v, rs in done.items():
            fig = variant_curves_figure(
                v, [_val_accuracy(r) for r in rs], [_epoch_series(r, "val_loss") for r in rs],
                [_epoch_series(r, "train_loss") for r in rs], color=ctx.colors[v], confidence=ctx.confidence,
                val_label=ctx.val_label, target=ctx.target)
            sec.add(ctx.figure(
                fig,
                f"{v}: {ctx.val_label} accuracy (left) and loss (right) per epoch over {len(rs)} seeds. Thick line: "
                f"mean; shaded: {conf} t band; thin lines: individual seeds. Right: {ctx.val_label} loss solid, "
                "training loss dashed grey (mean of the epoch's batches).",
                f"Learning curves of {v}"))
        return sec

    seeds_text = _seeds_per_variant(done)
    if g is not None:
        panels = [(g.value_text(x), [v for v in vs if v in curves]) for x, vs in g.by_value()]
        figure = accuracy_overlay_figure(curves, colors=ctx.colors, confidence=ctx.confidence,
                                         val_label=ctx.val_label, panels=[p for p in panels if p[1]],
                                         legend={m: variant_color(i) for i, m in enumerate(g.models)})
        shades = f", lighter at smaller {g.label}s" if g.ordered else ""
        caption = (f"{ctx.val_label.capitalize()} accuracy per epoch, one panel per {g.label} holding the models "
                   f"trained {g.same('that')} (the variants the comparisons pair), each model in its colour{shades}. "
                   f"Thick line: mean over seeds ({seeds_text}); shaded: {conf} t band; thin lines: "
                   "individual seeds. Each panel has its own accuracy scale.")
    else:
        figure = accuracy_overlay_figure(curves, colors=ctx.colors, confidence=ctx.confidence,
                                         val_label=ctx.val_label, highlight=True)
        caption = (f"{ctx.val_label.capitalize()} accuracy per epoch, one panel per variant, over the other variants' "
                   f"means in grey. Thick line: mean over seeds ({seeds_text}); shaded: {conf} t band; thin lines: "
                   "individual seeds. Each panel has its own accuracy scale.")
    sec.add(ctx.figure(figure, caption, f"Mean {ctx.val_label} accuracy per epoch of {len(curves)} variants, in "
                                        "small panels"))
    sec.add(Paragraph(_curves_reading(ctx), "reading"))

    def panel(v: str | None) -> CurvePanel | None:
        rs = done.get(v) if v else None
        if not rs:
            return None
        return CurvePanel(v, ctx.colors[v], [_val_accuracy(r) for r in rs], [_epoch_series(r, "val_loss") for r in rs],
                          [_epoch_series(r, "train_loss") for r in rs])

    if g is not None:
        grid_rows = [[panel(g.variant(m, x)) for m in g.models] for x in g.values]
        layout = dict(row_labels=[g.value_text(x) for x in g.values], col_labels=list(g.models), share_rows=True)
        where = (f"One row per {g.label}, one column per model; the panels of a row share their y axis, so the "
                 f"models {g.same('that')} compare directly.")
    else:
        flat = [p for p in (panel(v) for v in ctx.variants) if p is not None]
        grid_rows = [flat[i:i + 4] for i in range(0, len(flat), 4)]
        layout = dict(row_labels=None, col_labels=None, share_rows=False)
        where = "One panel per variant, each with its own scale."
    sec.add(ctx.figure(
        curves_grid_figure(grid_rows, kind="loss", confidence=ctx.confidence, val_label=ctx.val_label, **layout),
        f"Loss per epoch of every variant ({seeds_text}). {where} Solid, in the variant's colour: {ctx.val_label} "
        f"loss; dashed grey: training loss (mean of the epoch's batches); shaded: {conf} t bands; thin lines: "
        "individual seeds.", "Grid of validation and training loss curves, one panel per variant"))
    return sec


def _seeds_per_variant(done: dict[str, list[Any]]) -> str:
    counts = sorted({len(rs) for rs in done.values()})
    if len(counts) == 1:
        return f"{plural(counts[0], 'seed')} per variant"
    return f"{counts[0]} to {counts[-1]} seeds per variant"


def _mean_at(runs: Sequence[Any], index: int) -> tuple[float, int]:
    vals = [a[index] for a in (_val_accuracy(r) for r in runs) if len(a) > index and math.isfinite(a[index])]
    return (float(np.mean(vals)) if vals else math.nan), len(vals)


def _curves_reading(ctx: ReportContext) -> str:
    parts = []
    first = {v: _mean_at(ctx.done(v), 0)[0] for v in ctx.variants if ctx.done(v)}
    last = {v: ctx.summaries[v].final.mean for v in first}
    first = {v: x for v, x in first.items() if _finite(x)}
    last = {v: x for v, x in last.items() if _finite(x)}
    if not first or not last:
        return ""
    lead1 = max(first, key=first.get)
    leadn = max(last, key=last.get)
    gap = last[leadn] - min(last.values())
    if len(first) <= MAX_LISTED_VARIANTS:
        parts.append("After epoch 1 the mean accuracy is "
                     + ", ".join(f"{fmt_pct(first[v], unit=True)} for {v}" for v in first)
                     + f"; {lead1} starts ahead.")
        parts.append("After the last epoch it is "
                     + ", ".join(f"{fmt_pct(last[v], unit=True)} for {v}" for v in last)
                     + f" ({leadn} ahead by {fmt_pp(gap, unit=True, signed=False)}; see the comparisons for whether "
                       "that is more than seed-to-seed noise).")
        return " ".join(parts)
    low1, lown = min(first, key=first.get), min(last, key=last.get)
    parts.append(f"After epoch 1 the mean accuracy ranges from {fmt_pct(first[low1], unit=True)} ({low1}) to "
                 f"{fmt_pct(first[lead1], unit=True)} ({lead1}); after the last epoch from "
                 f"{fmt_pct(last[lown], unit=True)} ({lown}) to {fmt_pct(last[leadn], unit=True)} ({leadn}).")
    g = ctx.grid
    if g is not None:
        for m in g.models:
            if m == g.reference:
                continue
            diffs = [last[b] - last[a] for x in g.values
                     if (a := g.variant(g.reference, x)) in last and (b := g.variant(m, x)) in last]
            if diffs:
                ahead = sum(1 for d in diffs if d > 0)
                parts.append(f"{m} ends ahead of {g.reference} {'at' if g.ordered else 'under'} {ahead} of "
                             f"{len(diffs)} {g.label}s (mean "
                             f"difference from {fmt_pp(min(diffs), unit=True)} to {fmt_pp(max(diffs), unit=True)}).")
        parts.append("The paired comparisons say which of these differences exceed seed-to-seed noise.")
    else:
        parts.append("See the comparisons for whether the differences are more than seed-to-seed noise.")
    return " ".join(parts)


@_core()
def distribution_section(runs: list[Any], ctx: ReportContext) -> Section | None:
    """Final validation accuracy per run: strip plot over a box plot."""
    from normlab.report.study_figures import MAX_VERTICAL_BOXES, final_accuracy_figure

    values = {v: ctx.summaries[v].final.values for v in ctx.variants if ctx.summaries[v].n_runs}
    if not values:
        return None
    seeds = {v: ctx.summaries[v].seeds for v in values}
    sec = Section("Final accuracy per run", "distribution")
    g = ctx.grid
    groups = [vs for _, vs in g.by_value()] if g is not None else None
    if g is not None:
        joined = (f"grey lines join the same seed in neighbouring variants trained {g.same()}, which are "
                  f"grouped together (thin lines separate the {g.label}s)")
    else:
        joined = "grey lines join the same seed in neighbouring variants (the pairing the comparisons use)"
    layout = "one row per variant" if len(values) > MAX_VERTICAL_BOXES else "one box per variant"
    sec.add(ctx.figure(
        final_accuracy_figure(values, seeds=seeds, colors=ctx.colors, target=ctx.target, val_label=ctx.val_label,
                              groups=groups),
        f"Final {ctx.val_label} accuracy of every finished run, {layout}. Dots: one seed each; box: quartiles with "
        f"the median line, whiskers to 1.5 × IQR; {joined}; dotted line: the target, where it falls near the data.",
        "Strip plot over box plot of the final accuracy per variant"))
    sec.add(Paragraph(_distribution_reading(ctx, values), "reading"))
    return sec


def _distribution_reading(ctx: ReportContext, values: dict[str, Sequence[float]]) -> str:
    spread = {v: ctx.summaries[v].final for v in values}
    few = [v for v, s in spread.items() if s.n < 2]
    if len(values) <= MAX_LISTED_VARIANTS:
        readings = []
        for v, vals in values.items():
            s = spread[v]
            if s.n >= 2:
                readings.append(f"{v} ranges from {fmt_pct(min(vals), unit=True)} to {fmt_pct(max(vals), unit=True)} "
                                f"(sd {fmt_pp(s.std, unit=True, signed=False)} over {s.n} seeds)")
            else:
                readings.append(f"{v} has {s.n} finished run, too few for a spread")
        return "; ".join(readings) + "."
    sds = {v: s.std for v, s in spread.items() if s.n >= 2 and _finite(s.std)}
    text = ""
    if sds:
        lo, hi = min(sds, key=sds.get), max(sds, key=sds.get)
        median = float(np.median(list(sds.values())))
        text = (f"The seed-to-seed sd of the final accuracy ranges from {fmt_pp(sds[lo], unit=True, signed=False)} "
                f"({lo}) to {fmt_pp(sds[hi], unit=True, signed=False)} ({hi}), median "
                f"{fmt_pp(median, unit=True, signed=False)} over {len(sds)} variants.")
        wide = [v for v, sd in sds.items() if sd > 3 * median and sd > 0.005]
        if wide:
            text += (f" {_join_names(wide)} spread{'s' if len(wide) == 1 else ''} far more than the rest: read "
                     f"{'its' if len(wide) == 1 else 'their'} means with care.")
    if few:
        text += (f" {plural(len(few), 'variant')} ({_join_names(few)}) {'has' if len(few) == 1 else 'have'} fewer "
                 "than 2 finished runs, too few for a spread.")
    return text.strip()


def _join_names(names: Sequence[str], limit: int = 6) -> str:
    names = list(names)
    if len(names) > limit:
        return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@_core()
def statistics_section(runs: list[Any], ctx: ReportContext) -> Section:
    """Per-variant statistics: n, mean ± sd, t and bootstrap intervals, epochs and time to target."""
    conf = f"{ctx.confidence * 100:g}%"
    sec = Section("Statistics per variant", "statistics")
    sec.add(f"The headline interval is the {conf} Student-t interval of the mean over seeds "
            f"(mean ± t·sd/√n). The {conf} percentile bootstrap interval ({BOOTSTRAP_RESAMPLES:,} resamples of the "
            "seeds, fixed generator seed) is shown beside it as a cross-check; with few seeds it is too narrow, so "
            "read it as a lower bound on the uncertainty. Accuracies are in percent, sd in percentage points.")
    rows, notes = [], []
    for v in ctx.variants:
        s = ctx.summaries[v]
        excl = f" (+{len(s.excluded)} excluded)" if s.excluded else ""
        rows.append([v, f"{s.n_runs}{excl}",
                     fmt_mean_sd(s.final.mean, s.final.std), fmt_interval(s.final.t_ci), fmt_interval(s.final.bootstrap_ci),
                     fmt_mean_sd(s.best.mean, s.best.std), fmt_interval(s.best.t_ci), fmt_interval(s.best.bootstrap_ci)])
        if s.excluded:
            diverged = any(st == "diverged" for _, st in s.excluded)
            notes.append(f"{v}: " + ", ".join(f"seed {seed} ({st})" for seed, st in s.excluded)
                         + " excluded from these accuracy statistics"
                         + (f" (a diverged run counts in the target table below, as a run that did not reach "
                            f"{ctx.target * 100:g}%)" if diverged else "")
                         + "; listed under \"Failed and diverged runs\".")
        for n in s.notes:
            if "excluded by status" not in n and "reached" not in n:
                notes.append(f"{v}: {n}.")
    sec.add(Table(
        [Column("Variant", kind="variant"), num("Runs (n)"),
         num("mean ± sd"), num(f"{conf} t-interval"), num(f"{conf} bootstrap"),
         num("mean ± sd"), num(f"{conf} t-interval"), num(f"{conf} bootstrap")],
        rows, caption=f"Final and best {ctx.val_label} accuracy (%)", notes=notes + clipped_notes(rows),
        groups=[("", 2), ("Final: last epoch (%)", 3), ("Best: any epoch (%)", 3)]))

    target = f"{ctx.target * 100:g}%"
    trows = []
    for v in ctx.variants:
        t = ctx.summaries[v].target
        reached_epochs = [e for e in t.epochs if e is not None]
        rng = f"{min(reached_epochs)}–{max(reached_epochs)}" if reached_epochs else NA
        reached = f"{t.n_reached} of {t.n_runs}" + (f" ({t.n_diverged} diverged)" if t.n_diverged else "")
        trows.append([v, reached, _fmt_num(t.median_epochs), _fmt_num(t.mean_epochs, 2), rng,
                      fmt_seconds(t.median_seconds), fmt_seconds(t.mean_seconds)])
    sec.add(Table(
        [Column("Variant", kind="variant"), num(f"Reached {target}"), num("median epochs"), num("mean epochs"),
         num("range (epochs)"), num("median time (s)"), num("mean time (s)")],
        trows, caption=f"Epochs and time to reach {target} {ctx.val_label} accuracy",
        notes=[f"Epochs to target: the first epoch (1-based) whose {ctx.val_label} accuracy is at least {target}. "
               "Time to target: wall-clock seconds of the epochs up to and including it (training and evaluation). "
               "Medians and means are over the runs that reached the target; \"k of n\" says how many did. A "
               "diverged run counts among the n as a run that did not reach the target (unlike the accuracy "
               "statistics above, which leave it out); failed runs are left out of both."]))
    sec.add(Paragraph(_target_reading(ctx), "reading"))
    return sec


def _fmt_num(x: float, decimals: int = 1) -> str:
    return f"{x:.{decimals}f}" if _finite(x) else NA


def _target_reading(ctx: ReportContext) -> str:
    target = f"{ctx.target * 100:g}%"
    parts = []
    reached, never = [], []
    for v in ctx.variants:
        t = ctx.summaries[v].target
        if t.n_runs == 0:
            continue
        if t.n_reached == 0:
            never.append(v)
            parts.append(f"no run of {v} reached {target}")
        else:
            reached.append(v)
            epochs = f"{t.median_epochs:g}"
            diverged = f" ({t.n_diverged} diverged)" if t.n_diverged else ""
            parts.append(f"{t.n_reached} of {t.n_runs} runs of {v}{diverged} reached {target}, after a median of "
                         f"{epochs} epoch{'' if epochs == '1' else 's'} ({fmt_seconds(t.median_seconds)} s)")
    if len(parts) <= MAX_LISTED_VARIANTS:
        return (parts[0][0].upper() + "; ".join(parts)[1:] + ".") if parts else ""
    if not reached:
        return f"No run of any of the {len(never)} variants reached {target}."
    fastest = min(reached, key=lambda v: (ctx.summaries[v].target.median_epochs, ctx.summaries[v].target.median_seconds))
    t = ctx.summaries[fastest].target
    text = (f"{len(reached)} of {len(reached) + len(never)} variants had runs that reached {target}; the fastest, "
            f"{fastest}, after a median of {t.median_epochs:g} epoch{'' if t.median_epochs == 1 else 's'} "
            f"({fmt_seconds(t.median_seconds)} s).")
    if never:
        text += f" No run reached it for {_join_names(never)}."
    return text


def _short_verdict(cmp: PairedComparison, ctx: ReportContext) -> str:
    if cmp.n_pairs < 2:
        return "too few pairs"
    word = "raised" if cmp.mean_difference > 0 else "lowered"
    if ctx.significant(cmp):
        return word
    if stats.is_significant(cmp, ctx.alpha):
        return f"{word} (not after Holm)"  # only when the Holm correction applies
    return "not significant"


def _holm_sentence(cmp: PairedComparison, ctx: ReportContext) -> str:
    """After a verdict: what Holm's correction makes of it, when the correction applies and it matters."""
    if not ctx.corrected(cmp.metric) or not stats.is_significant(cmp, ctx.alpha):
        return ""
    n = ctx.n_tests(cmp.metric)
    still = "still significant" if ctx.significant(cmp) else "no longer significant"
    return (f" After Holm's correction for the {n} comparisons of {cmp.metric} accuracy, p "
            f"{p_words(ctx.adjusted_p(cmp), ctx.alpha)}: {still}.")


@_core()
def comparisons_section(runs: list[Any], ctx: ReportContext) -> Section | None:
    """Paired comparisons (B - A per seed) with the computed verdicts."""
    from normlab.report.study_figures import paired_differences_figure

    if not ctx.pairs:
        return None
    conf = f"{ctx.confidence * 100:g}%"
    g = ctx.grid
    sec = Section("Paired comparisons", "comparisons")
    if set(ctx.variants) == {_PLAIN, _BN}:
        sec.add(f"B = {_BN} (with BatchNorm) against A = {_PLAIN} (without), seed by seed: differences are B − A on "
                "the same seed, so the seed-to-seed variation both share cancels.")
    elif g is not None:
        sec.add(f"Each model B against A = {g.reference} {g.same()}, seed by seed: differences are B − A "
                f"on the same seed and {g.label}, so each comparison measures the model's effect {g.same('that')} "
                f"(comparing variants trained {'at' if g.ordered else 'under'} different {g.label}s would mix the two "
                "effects).")
    else:
        sec.add(f"Each variant B against the baseline A = {ctx.variants[0]} (the first variant of the study), seed by "
                "seed: differences are B − A on the same seed.")
    sec.add(f"A verdict says \"raised\" or \"lowered\" only when the paired t-test gives p < {ctx.alpha:g} and the "
            f"{conf} t-interval of the mean difference excludes zero; otherwise it says there is no significant "
            "difference. The Wilcoxon signed-rank test is a rank-based cross-check; d_z is the mean difference "
            "divided by the sd of the differences, g_z its small-sample-corrected version. \"Holm p\" is the paired "
            "t-test's p adjusted by Holm's step-down correction across all comparisons of the same metric"
            + (f"; with {ctx.n_tests('final')} comparisons (more than {MAX_UNCORRECTED_COMPARISONS}) a difference "
               f"counts as significant in the headline and the short verdicts only when its Holm p < {ctx.alpha:g}"
               if ctx.corrected("final") else
               f"; with at most {MAX_UNCORRECTED_COMPARISONS} comparisons the uncorrected tests decide") + ".")
    final = [c for c in ctx.comparisons if c.metric == "final"]
    many = len(ctx.pairs) > MAX_SEPARATE_CURVE_FIGURES
    if not many:
        for cmp, text in zip(ctx.comparisons, ctx.verdicts):
            sec.add(Paragraph(text + _holm_sentence(cmp, ctx), "verdict" if cmp.metric == "final" else "text"))
    else:
        sig = {m: [c for c in ctx.comparisons if c.metric == m and ctx.significant(c)] for m in stats.METRICS}
        raw = {m: [c for c in ctx.comparisons if c.metric == m and stats.is_significant(c, ctx.alpha)]
               for m in stats.METRICS}
        n = len(final)
        holm = " after Holm's correction" if ctx.corrected("final") else ""
        summary = (f"{len(sig['final'])} of the {n} comparisons of final accuracy "
                   f"{'is' if len(sig['final']) == 1 else 'are'} significant{holm}"
                   + (f" ({_join_names([f'{c.b_name} − {c.a_name}' for c in sig['final']], 4)})" if sig["final"] else "")
                   + f", and {len(sig['best'])} of {n} of best accuracy"
                   + (f" ({len(raw['final'])} and {len(raw['best'])} without the correction)" if holm else "")
                   + (". The verdicts of the significant ones follow; the tables" if sig["final"] else ". The tables")
                   + " list every comparison with a short verdict.")
        sec.add(Paragraph(summary, "reading"))
        verdict_of = {id(c): v for c, v in zip(ctx.comparisons, ctx.verdicts)}
        for c in sig["final"]:
            sec.add(Paragraph(verdict_of[id(c)] + _holm_sentence(c, ctx), "verdict"))
        expected = n * ctx.alpha
        if expected >= 0.5:
            sec.add(Paragraph(f"With {n} tests at α = {ctx.alpha:g}, about {expected:.1f} would come out significant by "
                              "chance even if no model made a difference. Holm's step-down correction (column "
                              "\"Holm p\") keeps the chance of even one such false positive among them at most "
                              f"α = {ctx.alpha:g}, at the price of missing small effects; a short verdict \"(not after "
                              "Holm)\" marks a difference significant only without it.", "note"))
    def collect(cmp: PairedComparison, notes: list[str]) -> None:
        for n in cmp.notes:
            line = f"{cmp.b_name} − {cmp.a_name}: {n}."
            if line not in notes:
                notes.append(line)

    if not many:
        notes: list[str] = []
        rows = []
        for c in ctx.comparisons:
            collect(c, notes)
            rows.append([f"{c.b_name} − {c.a_name}", c.metric, str(c.n_pairs), fmt_pct(c.mean_a), fmt_pct(c.mean_b),
                         fmt_pp(c.mean_difference), fmt_interval(c.ci, pp=True), fmt_p(c.t_pvalue),
                         fmt_p(ctx.adjusted_p(c)), fmt_p(c.wilcoxon_pvalue), _fmt_num(c.cohens_dz, 2),
                         _fmt_num(c.hedges_gz, 2)])
        sec.add(Table(
            [Column("Comparison (B − A)", nowrap=True), "Metric", num("Pairs"), num("mean A (%)"), num("mean B (%)"),
             num("difference (pp)"), num(f"{conf} CI (pp)"), num("paired t p"), num("Holm p"), num("Wilcoxon p"),
             num("d_z"), num("g_z")],
            rows, caption=f"Paired comparisons of {ctx.val_label} accuracy", notes=notes))
    else:
        # Many rows: one table per metric, means as "A → B", a short verdict per row, and (in a grid)
        # the swept value in its own column so the comparison itself names only the models.
        lead_cols = [num(g.label), Column("Comparison (B − A)", nowrap=True)] if g else \
            [Column("Comparison (B − A)", nowrap=True)]
        same = all(tuple(b.differences) == tuple(f.differences) and b.mean_a == f.mean_a
                   for f, b in zip(final, [c for c in ctx.comparisons if c.metric == "best"]))
        for metric, what in (("final", "final (last epoch)"), ("best", "best (any epoch)")):
            if metric == "best" and same:
                sec.add(Paragraph("The best accuracy of every run is its final one (no run did better at an earlier "
                                  "epoch), so the comparisons of best accuracy repeat the table above and are left "
                                  "out.", "note"))
                continue
            notes = []
            rows = []
            for c in ctx.comparisons:
                if c.metric != metric:
                    continue
                collect(c, notes)
                if g:
                    (mb, x), ma = g.position(c.b_name), g.position(c.a_name)[0]
                    lead = [_values_text([x]), f"{mb} − {ma}"]
                else:
                    lead = [f"{c.b_name} − {c.a_name}"]
                rows.append(lead + [str(c.n_pairs), f"{fmt_pct(c.mean_a)} → {fmt_pct(c.mean_b)}",
                                    fmt_pp(c.mean_difference), fmt_interval(c.ci, pp=True), fmt_p(c.t_pvalue),
                                    fmt_p(ctx.adjusted_p(c)), fmt_p(c.wilcoxon_pvalue), _fmt_num(c.cohens_dz, 2),
                                    _short_verdict(c, ctx)])
            if metric == "final":
                notes.insert(0, "A → B: the mean accuracy of A and of B over the paired seeds. Hedges' g_z is left "
                                "out of these tables for width; with many pairs read d_z with the interval.")
            sec.add(Table([*lead_cols, num("Pairs"), num("A → B (%)"), num("difference (pp)"),
                           num(f"{conf} CI (pp)"), num("paired t p"), num("Holm p"), num("Wilcoxon p"), num("d_z"),
                           Column("Verdict")],
                          rows, caption=f"Paired comparisons of the {what} {ctx.val_label} accuracy", notes=notes))
    if any(c.n_pairs for c in final):
        labels = groups = None
        if g is not None:
            labels, groups = [], []
            for x, _ in g.by_value():
                size = 0
                for c in final:
                    if g.position(c.a_name)[1] == x:
                        labels.append(f"{g.value_text(x)}: {g.position(c.b_name)[0]} − {g.reference} ({c.n_pairs})")
                        size += 1
                if size:
                    groups.append(size)
        sec.add(ctx.figure(
            paired_differences_figure(final, colors=[ctx.colors.get(c.b_name, "#444444") for c in final],
                                      labels=labels, groups=groups, val_label=ctx.val_label),
            f"Per-seed differences B − A of the final {ctx.val_label} accuracy, in percentage points. Dots: one "
            f"seed each, in B's colour; black diamond and bar: mean difference and its {conf} t-interval; dashed "
            "line: no difference." + (f" Rows are grouped by {g.label} (number of paired seeds in brackets)."
                                      if g is not None else ""), "Paired differences per seed"))
    return sec


@_core()
def post_section(runs: list[Any], ctx: ReportContext) -> Section | None:
    """The post's reported values beside ours (only for lenet5 / lenet5-bn)."""
    from normlab.experiments.compare import POST_REPORTED

    variants = [v for v in ctx.variants if v in POST_REPORTED and ctx.done(v)]
    if not variants:
        return None
    conf = f"{ctx.confidence * 100:g}%"
    sec = Section("Compared with the blog post", "post")
    protocols = sorted({str((_get(r, "config") or {}).get("protocol", "?")) for v in variants for r in ctx.done(v)})
    vals = sorted({_get(r, "val_split_name", None) or "?" for v in variants for r in ctx.done(v)})
    where = " and ".join("a held-out split" if n == "val" else "the test set" if n == "test" else n for n in vals)
    sec.add("The post reports a single run per model under its own procedure (the blog protocol: no shuffling, softmax "
            "fed to the loss, the test set used as validation), read off its text and figures. Ours: the mean over "
            f"seeds under the {', '.join(protocols)} protocol, validated on {where}.")
    rows, notes = [], ["The post gives approximate values (\u201cabout 93%\u201d); the numeric column is the value its "
                       "words name."]
    outside: dict[str, list[str]] = {"above": [], "below": []}
    for v in variants:
        done = ctx.done(v)
        post = POST_REPORTED[v]
        n_epochs = max(len(_val_accuracy(r)) for r in done)
        last = "epoch 10" if n_epochs == 10 else f"last epoch ({n_epochs})"
        if n_epochs != 10 and not any(n.startswith("The post trained") for n in notes):
            notes.append(f"The post trained 10 epochs and these runs {n_epochs}, so \u201clast epoch\u201d sets our "
                         f"epoch {n_epochs} beside the post's epoch 10.")
        for label, index, post_text, post_value in (("epoch 1", 0, post["epoch1"], post["epoch1_value"]),
                                                    (last, -1, post["final"], post["final_value"])):
            values = [a[index] for a in (_val_accuracy(r) for r in done) if a and math.isfinite(a[index])]
            mean, lo, hi = stats.mean_ci(values, ctx.confidence) if values else (math.nan,) * 3
            verdict = NA
            if _finite(lo) and _finite(hi):
                # Said from our side: "ours above" means the post's value is below our interval.
                verdict = "inside" if lo <= post_value <= hi else ("ours above" if post_value < lo else "ours below")
                if verdict != "inside":
                    outside[verdict.split()[1]].append(f"{v} at {label}")
            rows.append([v, label, post_text, fmt_pct(post_value), fmt_pct(mean), fmt_interval((lo, hi)),
                         str(len(values)), fmt_pp(mean - post_value), verdict])
    sec.add(Table(
        [Column("Variant", kind="variant"), Column("Epoch", nowrap=True), Column("Post says", nowrap=True),
         num("post (%)"), num("ours: mean (%)"), num(f"ours: {conf} t-interval (%)"), num("n"),
         num("ours − post (pp)"), "Post vs our interval"],
        rows, caption=f"{ctx.val_label.capitalize()} accuracy: the post's values beside ours",
        notes=notes + clipped_notes(rows)))
    reading = []
    for direction in ("above", "below"):
        if outside[direction]:
            reading.append(f"our mean is {direction} the post's value, which lies outside our {conf} interval, for "
                           + ", ".join(outside[direction]))
    if reading:
        text = "; ".join(reading)
        sec.add(Paragraph(text[0].upper() + text[1:] + ". The post's numbers come from one run each, so they also "
                          "carry one seed's luck; read this as a check of the level, not a test.", "reading"))
    else:
        sec.add(Paragraph(f"Every value of the post lies inside our {conf} interval of the mean (or the interval is "
                          "undefined).", "reading"))
    return sec


@_core()
def test_section(runs: list[Any], ctx: ReportContext) -> Section | None:
    """Test accuracy, when it was measured apart from validation (val_split > 0)."""
    have = {v: [r for r in ctx.done(v) if _finite(_get(r, "test_accuracy", None))] for v in ctx.variants}
    if not any(have.values()):
        return None
    conf = f"{ctx.confidence * 100:g}%"
    sec = Section("Test accuracy", "test")
    sec.add("These runs validated on a held-out split of the training set, so the test set was evaluated once per run, "
            "with the weights of the epoch with the best validation accuracy. Unlike the validation numbers above, "
            "these were not used to pick anything and estimate accuracy on unseen data.")
    rows = []
    for v in ctx.variants:
        rs = have[v]
        vals = [float(r.test_accuracy) for r in rs]
        if not vals:
            rows.append([v, "0", NA, NA, NA, NA])
            continue
        mean, lo, hi = stats.mean_ci(vals, ctx.confidence)
        sd = float(np.std(vals, ddof=1)) if len(vals) > 1 else math.nan
        epochs = sorted({int(e) for e in (_get(r, "test_epoch", None) for r in rs) if e is not None})
        rows.append([v, str(len(vals)), fmt_mean_sd(mean, sd), fmt_interval((lo, hi)),
                     f"{min(vals) * 100:.2f} – {max(vals) * 100:.2f}", ", ".join(map(str, epochs)) or NA])
    sec.add(Table([Column("Variant", kind="variant"), num("Runs (n)"), num("mean ± sd (%)"),
                   num(f"{conf} t-interval (%)"), num("min – max (%)"), num("tested epoch(s)")],
                  rows, caption="Test accuracy (evaluated once per run)", notes=clipped_notes(rows)))
    cmps = []
    for a, b in ctx.pairs:
        ra = [stats.RunRecord(r.seed, (float(r.test_accuracy),), (0.0,)) for r in have[a]]
        rb = [stats.RunRecord(r.seed, (float(r.test_accuracy),), (0.0,)) for r in have[b]]
        if ra and rb:
            cmps.append(stats.paired_comparison(ra, rb, "final", confidence=ctx.confidence, a_name=a, b_name=b))
    crow = [[f"{c.b_name} − {c.a_name}", str(c.n_pairs), fmt_pp(c.mean_difference), fmt_interval(c.ci, pp=True),
             fmt_p(c.t_pvalue), fmt_p(h), fmt_p(c.wilcoxon_pvalue)]
            for c, h in zip(cmps, stats.holm([c.t_pvalue for c in cmps]))]
    if crow:
        sec.add(Table(["Comparison (B − A)", num("Pairs"), num("difference (pp)"), num(f"{conf} CI (pp)"),
                       num("paired t p"), num("Holm p"), num("Wilcoxon p")], crow,
                      caption="Paired differences in test accuracy",
                      notes=["Holm p: the paired t-test's p adjusted by Holm's step-down correction across these "
                             "comparisons."] if len(crow) > 1 else []))
    return sec


@_core(appendix=True)
def problems_section(runs: list[Any], ctx: ReportContext) -> Section | None:
    """Failed, diverged and unfinished runs with their messages, finished runs that did not learn,
    superseded reruns, and runs of another configuration set aside."""
    bad = [r for r in runs if r.status != "done"]
    if not bad and not ctx.superseded and not ctx.set_aside and not ctx.at_chance:
        return None
    sec = Section("Failed and diverged runs", "problems")
    if bad:
        sec.add("These runs are left out of the accuracy statistics, the comparisons and the figures above; a "
                "diverged run still counts in epochs-to-target, as a run that did not reach the target.")
        rows = []
        for r in bad:
            where = NA
            if r.status == "diverged":
                e, b = _get(r, "diverged_epoch", None), _get(r, "diverged_batch", None)
                where = f"epoch {e}" + (f", batch {b}" if b is not None else "") if e is not None else NA
            elif r.status == "running":
                where = f"after {len(_val_accuracy(r))} epoch(s); unfinished or interrupted"
            elif _val_accuracy(r):
                where = f"after {len(_val_accuracy(r))} epoch(s)"
            rows.append([r.variant, str(r.seed), r.status, where, _short_message(_get(r, "message", "") or "")])
        sec.add(Table([Column("Variant", kind="variant"), num("Seed"), "Status", "Where", Column("Message", kind="mono")],
                      rows, caption="Runs not included in the statistics"))
    if ctx.at_chance:
        sec.add(Paragraph(f"These runs finished, but with a final {ctx.val_label} accuracy below {CHANCE_MARGIN:g} times "
                          "chance (1/C for C classes): they did not learn, or lost what they had learned. A run "
                          "whose loss grows far beyond chance level is stopped as diverged; these stayed near it (as "
                          "under the post's protocol, where the loss cannot grow). They stay in the statistics and the "
                          "verdicts: a setting under which a network does not learn is a result of that setting.",
                          "note"))
        rows = [[a.run.variant, str(a.run.seed), fmt_pct(a.final), fmt_pct(a.best), fmt_pct(a.chance)]
                for a in ctx.at_chance]
        sec.add(Table([Column("Variant", kind="variant"), num("Seed"), num("Final (%)"), num("Best (%)"),
                       num("Chance (%)")], rows,
                      caption="Finished runs that did not learn: final accuracy within chance (kept in the statistics)"))
    if ctx.superseded:
        rows = [[r.variant, str(r.seed), r.status, str(_get(r, "id", NA)), str(_get(r, "config_hash", NA))]
                for r in ctx.superseded]
        sec.add(Paragraph("Some (variant, seed) pairs were run more than once with the same configuration (a "
                          "rerun after a failure, say); the latest finished run is used and the older ones below are "
                          "ignored.", "note"))
        sec.add(Table([Column("Variant", kind="variant"), num("Seed"), "Status", num("Run id"),
                       Column("Config hash", kind="mono")], rows, caption="Superseded runs"))
    if ctx.set_aside:
        for item in ctx.set_aside:
            sec.add(Paragraph(item.describe(), "warning"))
        rows = [[item.variant, str(r.seed), r.status, str(_get(r, "id", NA)),
                 "; ".join(f"{f}: {other} (used: {used})" for f, used, other in item.differences) or NA]
                for item in ctx.set_aside for r in item.runs]
        sec.add(Table([Column("Variant", kind="variant"), num("Seed"), "Status", num("Run id"),
                       Column("Settings that differ", kind="mono")], rows,
                      caption="Runs of another configuration, left out of every statistic"))
    return sec


_MESSAGE_LIMIT = 600


def _short_message(message: str) -> str:
    """A message for a table cell: a traceback's last line, and at most a few hundred characters."""
    text = message.strip()
    lines = [l for l in text.splitlines() if l.strip()]
    if len(lines) > 3 and lines[0].startswith("Traceback"):
        text = f"{lines[-1].strip()} (traceback of {len(lines)} lines omitted)"
    if len(text) > _MESSAGE_LIMIT:
        text = text[:_MESSAGE_LIMIT].rstrip() + "…"
    return text or "(no message)"


@_core(appendix=True)
def config_section(runs: list[Any], ctx: ReportContext) -> Section | None:
    """The config fields shared by all runs and the per-variant differences."""
    configs = [(r.variant, _get(r, "config", None)) for r in runs]
    configs = [(v, c) for v, c in configs if isinstance(c, dict)]
    if not configs:
        return None
    sec = Section("Configuration", "config")
    keys = sorted({k for _, c in configs for k in c} - {"seed"})
    shared, differing = [], []
    for k in keys:
        values = {fmt_value(c[k]) if k in c else "(absent)" for _, c in configs}
        (shared if len(values) == 1 else differing).append(k)
    sec.add("Every run's full config is stored in the database. Fields with the same value in every run are listed "
            "first; fields that differ follow, per variant. The seed is per run (see the overview).")
    sec.add(Table(["Field", Column("Value", kind="mono")],
                  [[k, fmt_value(configs[0][1][k])] for k in shared], caption="Shared by all runs"))
    if differing:
        def cell(k: str, v: str) -> str:
            vals = sorted({fmt_value(c[k]) if k in c else "(absent)" for vv, c in configs if vv == v})
            return " / ".join(vals) if vals else NA

        caption = "Different between variants (a / b: the variant's runs differ)"
        if len(ctx.variants) <= MAX_LISTED_VARIANTS:
            rows = [[k, *[cell(k, v) for v in ctx.variants]] for k in differing]
            sec.add(Table(["Field", *[Column(v, kind="mono") for v in ctx.variants]], rows, caption=caption))
        else:
            # One column per variant would make a table dozens of columns wide: one row each instead.
            rows = [[v, *[cell(k, v) for k in differing]] for v in ctx.variants]
            sec.add(Table([Column("Variant", kind="variant"), *[Column(k, kind="mono") for k in differing]], rows,
                          caption=caption))
    return sec



@_core(appendix=True)
def environment_section(runs: list[Any], ctx: ReportContext) -> Section:
    """Versions, devices, hosts and the time span of the runs."""
    sec = Section("Environment", "environment")
    rows = []
    for label, attr in (("normlab version", "normlab_version"), ("git revision", "git_rev"),
                        ("torch version", "torch_version"), ("device", "device"), ("host", "host")):
        counts = Counter(str(_get(r, attr, None)) for r in runs if _get(r, attr, None) not in (None, ""))
        if not counts:
            rows.append([label, NA])
        elif len(counts) == 1:
            rows.append([label, next(iter(counts))])
        else:
            rows.append([label, ", ".join(f"{k} ({n} run{'' if n == 1 else 's'})" for k, n in sorted(counts.items()))])
    starts = [float(r.started_at) for r in runs if _finite(_get(r, "started_at", None))]
    ends = [float(r.finished_at) for r in runs if _finite(_get(r, "finished_at", None))]
    durations = [float(r.finished_at) - float(r.started_at) for r in runs
                 if _finite(_get(r, "started_at", None)) and _finite(_get(r, "finished_at", None))]
    rows.append(["first run started", fmt_time(min(starts)) if starts else NA])
    rows.append(["last run finished", fmt_time(max(ends)) if ends else NA])
    if starts and ends:
        rows.append(["wall-clock span", fmt_duration(max(ends) - min(starts))])
    if durations:
        rows.append(["run time, all runs together", fmt_duration(sum(durations))])
    rows.append(["report generated", fmt_time(ctx.generated_at)])
    if ctx.db_path is not None:
        rows.append(["database", str(ctx.db_path)])
    sec.add(Table(["Item", Column("Value", kind="mono")], rows, caption="Where and when the runs ran"))
    return sec


@_core(appendix=True)
def methods_section(runs: list[Any], ctx: ReportContext) -> Section:
    """How every number was computed."""
    conf = f"{ctx.confidence * 100:g}%"
    sec = Section("Methods", "methods")
    sec.add(
        Paragraph("Only runs with status done enter the accuracy statistics; failed, diverged and unfinished runs "
                  "are listed with their messages, and a diverged run counts in epochs-to-target as a run that did "
                  "not reach the target. A run diverged when a training loss became NaN or infinite, or when an "
                  "epoch's mean training loss rose far above chance level, ln C for C classes (its message gives "
                  "the limit); it stopped there. A finished run whose final accuracy is below "
                  f"{CHANCE_MARGIN:g}/C is listed as one that did not learn, and stays in the statistics. A variant's runs must share one configuration (the seed aside): where a "
                  "variant has runs under several, the one with the most seeds (ties: the most recent) is used and "
                  "the others are set aside with a warning, never mixed into one mean. Where a (variant, seed) was "
                  "run more than once, the latest finished run is used.", lead="Runs."),
        Paragraph(f"The headline interval of a mean is the {conf} Student-t interval, mean ± t(1 − α/2, n − 1) · "
                  f"sd/√n with the sample sd (ddof = 1). The percentile bootstrap interval of the mean "
                  f"({BOOTSTRAP_RESAMPLES:,} resamples, generator seed {BOOTSTRAP_SEED}) is shown beside it as a "
                  "cross-check. With one run an interval is undefined and shown as n/a.", lead="Intervals."),
        Paragraph("Seeds are paired: seed s gives every variant the same data order and initial weights. Which "
                  f"variants are compared: when the study holds exactly {_PLAIN} and {_BN}, B = {_BN} is compared "
                  f"with A = {_PLAIN}. When the variants form a grid, that is their configs differ only in the model "
                  "and in the learning rate, the batch size or the protocol (nothing else may differ, except a "
                  "learning rate scaled linearly with the batch size in a batch-size grid), with at least two "
                  "models and two values, each model B is compared with A = the first model without normalisation (norm none; else "
                  "the first model) at the same learning rate or batch size (under the same protocol), never across "
                  "values, so a difference measures the model at that setting. Otherwise every variant is compared with the first one (the "
                  "baseline). Differences are B − A per shared seed; the tests are the paired t-test and the "
                  "Wilcoxon signed-rank test (two-sided, zero differences discarded), the effect sizes Cohen's d_z "
                  f"and Hedges' g_z. A verdict calls a difference significant when p < {ctx.alpha:g} and the {conf} "
                  "interval of the mean difference excludes zero. A grid of variants makes many such tests, and "
                  f"about α = {ctx.alpha:g} of the true nulls among them come out significant by chance, so the "
                  "paired t-test p-values of all comparisons of the same metric (final, best) are also adjusted "
                  "with Holm's step-down correction (sorted ascending, the i-th of m p-values is multiplied by "
                  "m − i + 1, then made non-decreasing; this bounds the chance of any false positive among them "
                  f"by α). With more than {MAX_UNCORRECTED_COMPARISONS} comparisons of a metric, the headline and "
                  "the comparisons' short verdicts call a difference significant only when its Holm-adjusted p "
                  f"< {ctx.alpha:g} (and the interval excludes zero); the verdict sentences give the uncorrected "
                  "test and say what the correction makes of it.", lead="Comparisons."),
        Paragraph(f"The headline leads with the reading of the section that answers the study's question, where "
                  "there is one (the learning-rate, batch-size, placement, noisy-BN and eval-mode sections). It "
                  f"then lists every verdict on final accuracy when there are at most {MAX_HEADLINE_VERDICTS} "
                  "(and no such reading); otherwise the significant ones with the largest mean differences, as many "
                  f"as fit in {MAX_HEADLINE_VERDICTS} lines, and says how many more the comparisons section holds.",
                  lead="Headline."),
        Paragraph(f"Epochs to target is the first epoch whose {ctx.val_label} accuracy reaches "
                  f"{ctx.target * 100:g}%; time to target adds the wall-clock seconds of the epochs up to it.",
                  lead="Target."),
        Paragraph("Accuracies are in percent with two decimals, differences in percentage points (pp), times in "
                  "seconds.", lead="Units."),
    )
    return sec


# --------------------------------------------------------------------------------------------
# Database and files
# --------------------------------------------------------------------------------------------


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"report format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    return fmt


def load_report(
    db_path: str | Path, *, study: str | None = None, target: float = stats.DEFAULT_TARGET, **kwargs: Any
) -> Report:
    """Read one study from a results database (the ``.db`` or its folder) and build its report.

    With ``study=None`` the database must hold exactly one study. Raises
    :class:`~normlab.experiments.store.StoreError` for a missing or unreadable database and
    :class:`~normlab.errors.ConfigError` for an unknown study or no runs;
    ``kwargs`` go to :func:`build_report`.
    """
    from normlab.experiments.store import ResultsDB, resolve_db_path

    path = resolve_db_path(db_path)  # a StoreError naming the path when it is missing
    with ResultsDB(path, readonly=True) as db:  # a report never writes: read-only media are fine
        studies = list(db.studies())
        if not studies:
            raise ConfigError(f"the results database {path} holds no runs yet; run `normlab study` first")
        if study is None:
            if len(studies) > 1:
                raise ConfigError(f"the results database {path} holds several studies ({', '.join(studies)}); "
                                  "choose one with --study NAME")
            study = studies[0]
        elif study not in studies:
            raise ConfigError(f"no study {study!r} in {path}; studies there: {', '.join(studies)}")
        runs = db.list_runs(study, full=True)
    if not runs:
        raise ConfigError(f"study {study!r} in {path} has no runs")
    return build_report(runs, target=target, study=study, db_path=path, **kwargs)


def render(report: Report, fmt: str = "html") -> str:
    """Render the report as ``"html"`` (one self-contained page) or ``"md"`` (Markdown)."""
    if _check_format(fmt) == "html":
        from normlab.report.html import render_html

        return render_html(report)
    from normlab.report.markdown import render_markdown

    return render_markdown(report)


def save_report(report: Report, out_path: str | Path, fmt: str = "html") -> Path:
    """Render a built :class:`Report` as ``fmt`` and write it atomically to ``out_path``; returns the path.

    Use it with :func:`load_report` or :func:`build_report` when the caller also needs the
    report's numbers (its headline, verdicts, comparisons), so the report is built only once.
    """
    _check_format(fmt)
    from normlab.fileio import atomic_write_text

    return atomic_write_text(Path(out_path), render(report, fmt))


def write_report(
    db_path: str | Path,
    out_path: str | Path,
    *,
    study: str | None = None,
    target: float = stats.DEFAULT_TARGET,
    fmt: str = "html",
) -> Path:
    """Build the report of ``study`` in the database at ``db_path`` and write it atomically to ``out_path``.

    ``fmt`` is ``"html"`` (a single self-contained file: inline figures, inline style, no network
    requests) or ``"md"`` (Markdown for terminals and CI logs). Returns ``out_path``. To keep the
    built :class:`Report` as well, call :func:`load_report` and :func:`save_report`.
    """
    _check_format(fmt)
    return save_report(load_report(db_path, study=study, target=target), out_path, fmt)
