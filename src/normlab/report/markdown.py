"""Render a :class:`~normlab.report.document.Report` as Markdown, for terminals and CI logs.

Same sections, tables and sentences as the HTML page; figures cannot live in a terminal, so
each is named by its caption with a pointer to the HTML report. Tables are GitHub-flavoured
pipe tables with numbers right-aligned. Text from the model is escaped so a variant name or
message cannot open a code span, a link, a table cell or an HTML tag.
"""

from __future__ import annotations

import re

from normlab.report.document import Paragraph, Report, ReportFigure, Section, Table

__all__ = ["render_markdown"]

_SPECIAL = re.compile(r"([\\`*\[\]|]|<(?=[A-Za-z/!?]))")


def _md(text: object, *, line_start: bool = False) -> str:
    """Escape Markdown syntax and keep the text on one line.

    Backslash, backtick, ``*``, brackets and ``|`` are always escaped; ``<`` only where it could
    open an HTML tag or comment (so ``p < 0.05`` stays readable in a terminal). With
    ``line_start`` the text begins a line, so a leading ``#``, ``>`` or list marker is escaped
    too (it would make a heading, a quote or a list).
    """
    out = _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))
    if line_start:
        if re.match(r"#|>|[-+] ", out):
            out = "\\" + out
        else:
            out = re.sub(r"^(\d+)([.)]) ", r"\1\\\2 ", out)  # "1. x" would start a numbered list
    return out


def _table(table: Table) -> str:
    headers = []
    if table.groups:
        # Pipe tables have one header row, so a group label prefixes its columns' labels.
        # The label's first phrase ("Final" of "Final: last epoch (%)") keeps the headers short.
        labels = [re.split(r"[:,(]", g, maxsplit=1)[0].strip() for g, span in table.groups for _ in range(span)]
        headers = [f"{g} {c.label}" if g else c.label for g, c in zip(labels, table.columns)]
    else:
        headers = [c.label for c in table.columns]
    lines = []
    if table.caption:
        lines.append(f"**{_md(table.caption)}**")
        lines.append("")
    lines.append("| " + " | ".join(_md(h) for h in headers) + " |")
    lines.append("|" + "|".join("---:" if c.align == "right" else "---" for c in table.columns) + "|")
    for row in table.rows:
        lines.append("| " + " | ".join(_md(cell) for cell in row) + " |")
    for note in table.notes:
        lines.append("")
        lines.append(f"_Note:_ {_md(note)}")
    return "\n".join(lines)


def _paragraph(p: Paragraph) -> str:
    text = (f"**{_md(p.lead)}** " if p.lead else "") + _md(p.text, line_start=not p.lead)
    if p.kind == "verdict":
        return f"> **Verdict:** {text}"
    if p.kind == "reading":
        return f"_Reading._ {text}"
    if p.kind == "warning":
        return f"> **Warning:** {text}"
    if p.kind == "note":
        return f"*{text}*"
    return text


def _section(sec: Section, number: int, fig_counter: list[int]) -> str:
    parts = [f"## {number}. {_md(sec.title)}"]
    for block in sec.blocks:
        if isinstance(block, Paragraph):
            parts.append(_paragraph(block))
        elif isinstance(block, Table):
            parts.append(_table(block))
        elif isinstance(block, ReportFigure):
            fig_counter[0] += 1
            parts.append(f"*Figure {fig_counter[0]} (in the HTML report):* {_md(block.caption)}")
    return "\n\n".join(parts)


def render_markdown(report: Report) -> str:
    """The report as a Markdown document (a string ending in a newline)."""
    parts = [f"# {_md(report.title)}"]
    parts.append("\n".join(f"- **{_md(k)}:** {_md(v)}" for k, v in report.meta.items()))
    verdicts = [f"> **Verdict:** {_md(line)}" for line in report.headline]
    if report.headline_more:
        verdicts.append(f"> {_md(report.headline_more, line_start=True)}")
    parts.append("\n>\n".join(verdicts))
    if report.highlights:
        parts.append("\n".join(f"*{_md(line)}*" for line in report.highlights))
    parts.extend(f"> **Warning:** {_md(line)}" for line in report.warnings)
    parts.append("**Contents:** " + " · ".join(f"{i}. {_md(s.title)}" for i, s in enumerate(report.sections, 1)))
    counter = [0]
    parts.extend(_section(s, i, counter) for i, s in enumerate(report.sections, 1))
    return "\n\n".join(parts) + "\n"
