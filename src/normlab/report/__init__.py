"""Reports: figures and the study report (one self-contained HTML page, or Markdown).

* :func:`write_report` reads a study from the results database and writes the report;
  :func:`load_report` + :func:`save_report` do the same in two steps, keeping the built
  :class:`Report` (its headline, verdicts and readings) for the caller.
* :func:`build_report` turns runs into a :class:`Report` (sections of paragraphs, tables and
  PNG figures, with each section's :class:`Reading` objects); :func:`render`,
  :func:`render_html` and :func:`render_markdown` format it.

The package, bottom up: :mod:`~normlab.report.document` (the document model),
:mod:`~normlab.report.html` and :mod:`~normlab.report.markdown` (renderers of it),
:mod:`~normlab.report.format` (numbers as text), :mod:`~normlab.report.readings` (verdicts as
data), :mod:`~normlab.report.context` (the runs and statistics a report is built from),
:mod:`~normlab.report.phrasing` (readings in words), :mod:`~normlab.report.figures`,
:mod:`~normlab.report.sections` (the ordered list :data:`SECTIONS`) and
:mod:`~normlab.report.build`.
"""

from normlab.report.build import build_report, load_report, render, save_report, write_report
from normlab.report.context import ReportContext
from normlab.report.document import Column, Paragraph, Report, ReportFigure, Section, Table
from normlab.report.html import render_html
from normlab.report.markdown import render_markdown
from normlab.report.readings import Reading
from normlab.report.sections import SECTIONS

__all__ = [
    "SECTIONS",
    "Column",
    "Paragraph",
    "Reading",
    "Report",
    "ReportContext",
    "ReportFigure",
    "Section",
    "Table",
    "build_report",
    "load_report",
    "render",
    "render_html",
    "render_markdown",
    "save_report",
    "write_report",
]
