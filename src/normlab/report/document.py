"""The report's document model: a :class:`Report` of :class:`Section` objects holding paragraphs,
tables and figures, in page order.

Nothing here computes or phrases anything: sections build these objects, and the renderers
(:mod:`normlab.report.html`, :mod:`normlab.report.markdown`) only walk them, so both formats
show the same numbers and words. All text is plain text: renderers escape it. This module
imports nothing else of the report.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any, Iterable

from normlab.errors import ConfigError

__all__ = ["Block", "Column", "PARAGRAPH_KINDS", "Paragraph", "Report", "ReportFigure", "Section", "Table", "num",
           "png_size"]

PARAGRAPH_KINDS = ("text", "verdict", "reading", "note", "warning")


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


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels from a PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ConfigError("not a PNG image (missing signature or IHDR chunk)")
    return struct.unpack(">II", png[16:24])


Block = Paragraph | Table | ReportFigure


class Section:
    """One section of the report: a title, an anchor (its id in the page) and ordered blocks.

    Blocks are :class:`Paragraph`, :class:`Table` and :class:`ReportFigure` objects, rendered in
    order. ``paragraphs`` (strings or Paragraphs), ``figures`` and ``tables`` given to the
    constructor are appended in that order; use :meth:`add` to interleave them.

    ``readings`` are the section's answers as data (:class:`normlab.report.readings.Reading`:
    a verdict and its numbers), which its paragraphs put in words. ``summary`` is the section's
    conclusion in a sentence or two, for a section that answers the question the study was run
    for (the learning-rate, batch-size, placement, noisy-BN and eval-mode sections): the
    headline leads with it. Most sections leave it empty.
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
        readings: Iterable[Any] = (),
    ) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9-]*", anchor or ""):
            raise ConfigError(f"section anchor must be lowercase letters, digits and '-', starting with a letter; "
                              f"got {anchor!r}")
        self.title = title
        self.anchor = anchor
        self.summary = summary
        self.readings: list[Any] = list(readings)
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
        target: Target accuracy (fraction) of epochs- and time-to-target when every variant has the
            same one; when they differ (a study spanning datasets), read :attr:`targets`.
        targets: Each variant's target accuracy (fraction): the one given, else its dataset's.
        highlights: Key numbers shown under the headline (mean and interval of each variant, or
            of the best and worst when there are many).
        headline_more: A pointer to what the headline leaves out (``"... and 19 more comparisons
            in section 5, Paired comparisons."``), or ``""``.
        headline_anchor: The anchor of the section :attr:`headline_more` points to.
        adjusted_pvalues: Holm-adjusted paired t-test p of each comparison in :attr:`comparisons`
            (the family: the comparisons of the same metric).
        warnings: Problems with the data the reader must see before the numbers (a variant with
            runs under several configurations), shown under the headline.
        readings: The verdict of each comparison, as data, in the order of :attr:`comparisons`
            (each section's own readings are on the section).
    """

    title: str
    study: str
    headline: list[str]
    sections: list[Section]
    summaries: dict[str, Any]
    comparisons: list[Any]
    verdicts: list[str]
    variant_colors: dict[str, str]
    meta: dict[str, str]
    target: float
    highlights: list[str] = field(default_factory=list)
    headline_more: str = ""
    headline_anchor: str = ""
    adjusted_pvalues: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    readings: list[Any] = field(default_factory=list)
    targets: dict[str, float] = field(default_factory=dict)

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
