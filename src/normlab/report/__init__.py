"""Reports: figures and the study report (one self-contained HTML page, or Markdown).

* :func:`write_report` reads a study from the results database and writes the report;
  :func:`load_report` + :func:`save_report` do the same in two steps, keeping the built
  :class:`Report` (its headline and verdicts) for the caller.
* :func:`build_report` turns runs into a :class:`Report` model (sections of paragraphs, tables
  and PNG figures); :func:`render_html` and :func:`render_markdown` format that model.
* :func:`register_section` adds a section builder (see :mod:`normlab.report.study`).
"""

from normlab.report.study import (
    SECTION_BUILDERS,
    Column,
    Paragraph,
    Report,
    ReportContext,
    ReportFigure,
    Section,
    Table,
    build_report,
    load_report,
    register_section,
    render,
    save_report,
    write_report,
)
from normlab.report import diagnostics_sections  # noqa: E402,F401  registers the diagnostics and preset sections


def render_html(report: Report) -> str:
    """The report as one self-contained HTML document (see :mod:`normlab.report.html`)."""
    from normlab.report.html import render_html as _render

    return _render(report)


def render_markdown(report: Report) -> str:
    """The report as Markdown (see :mod:`normlab.report.markdown`)."""
    from normlab.report.markdown import render_markdown as _render

    return _render(report)


__all__ = [
    "SECTION_BUILDERS",
    "Column",
    "Paragraph",
    "Report",
    "ReportContext",
    "ReportFigure",
    "Section",
    "Table",
    "build_report",
    "load_report",
    "register_section",
    "render",
    "render_html",
    "render_markdown",
    "save_report",
    "write_report",
]
