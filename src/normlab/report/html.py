"""Render a :class:`~normlab.report.document.Report` as one self-contained HTML page.

The page needs nothing but itself: the style sheet is inline, figures are PNG data URIs, there
is no JavaScript and no font, image or style is fetched, so it opens from disk in any browser
(and offline). Every piece of text taken from the model (variant names, configs, messages,
host names) goes through :func:`html.escape`; only the fixed markup below is written raw.
"""

from __future__ import annotations

import base64
import re
from html import escape

from normlab.report.document import Column, Paragraph, Report, ReportFigure, Section, Table

__all__ = ["STYLESHEET", "render_html"]

STYLESHEET = """
:root {
  --fg: #1c2127; --muted: #5d6874; --line: #dde2e7; --strong-line: #a9b3bd; --soft: #f5f7f9;
  --accent: #1f5fa8; --accent-soft: #edf3fb; --warn: #9a5b00; --warn-soft: #fff6e5;
}
* { box-sizing: border-box; }
html { font-size: 16px; -webkit-text-size-adjust: 100%; }
body {
  margin: 0 auto; max-width: 64rem; padding: 2.2rem 1.4rem 4rem; color: var(--fg); background: #fff;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif;
  line-height: 1.55;
}
h1 { font-size: 2rem; line-height: 1.2; margin: .15rem 0 .9rem; letter-spacing: -.01em; }
h2 { font-size: 1.4rem; line-height: 1.3; margin: 2.8rem 0 .9rem; padding-bottom: .35rem;
     border-bottom: 1px solid var(--line); }
h2 .num { color: var(--muted); font-weight: 500; margin-right: .45rem; }
p { margin: .6rem 0; max-width: 48rem; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.kicker { text-transform: uppercase; letter-spacing: .09em; font-size: .75rem; font-weight: 600;
          color: var(--muted); margin: 0; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0 0 1.2rem;
          font-size: .9rem; color: var(--muted); }
dl.meta dt { font-weight: 600; color: var(--fg); }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.headline { background: var(--accent-soft); border-left: 4px solid var(--accent); border-radius: 0 8px 8px 0;
            padding: .9rem 1.2rem; margin: 1.2rem 0 1.6rem; }
.headline h2 { margin: 0 0 .3rem; border: 0; padding: 0; font-size: .8rem; text-transform: uppercase;
               letter-spacing: .09em; color: var(--accent); }
.headline p { font-size: 1.08rem; margin: .35rem 0; max-width: none; }
.headline p.highlight { font-size: .9rem; color: var(--muted); margin-top: .6rem; }
.headline p.more { font-size: .92rem; margin-top: .5rem; }
nav.toc { border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1.2rem; background: var(--soft); }
nav.toc h2 { margin: 0 0 .3rem; border: 0; padding: 0; font-size: .8rem; text-transform: uppercase;
             letter-spacing: .09em; color: var(--muted); }
nav.toc ol { margin: 0; padding-left: 1.4rem; columns: 2; column-gap: 2.5rem; }
nav.toc li { margin: .12rem 0; break-inside: avoid; }
p.verdict { background: var(--accent-soft); border-left: 3px solid var(--accent); padding: .55rem .9rem;
            border-radius: 0 6px 6px 0; max-width: none; }
p.reading { border-left: 3px solid var(--strong-line); padding-left: .9rem; color: #333b44; }
p.reading::before { content: "Reading. "; font-weight: 600; color: var(--fg); }
p.note { font-size: .88rem; color: var(--muted); }
p.warning { background: var(--warn-soft); border-left: 3px solid var(--warn); padding: .5rem .9rem;
            border-radius: 0 6px 6px 0; color: #5c3900; }
.table-wrap { overflow-x: auto; margin: 1.1rem 0 1.5rem; }
table { border-collapse: collapse; font-size: .88rem; line-height: 1.4; }
caption { caption-side: top; text-align: left; font-weight: 600; font-size: .95rem; padding: 0 0 .5rem; }
th, td { padding: .4rem .75rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
table.wide th, table.wide td { padding: .38rem .5rem; }
thead th { border-bottom: 2px solid var(--strong-line); font-weight: 600; vertical-align: bottom; }
thead tr.groups th { border-bottom: 1px solid var(--strong-line); text-align: center; color: var(--muted);
                     font-weight: 600; font-size: .82rem; }
thead tr.groups th.empty { border-bottom: 0; }
tbody tr:nth-child(even) { background: var(--soft); }
tbody th { font-weight: 600; }
.r { text-align: right; font-variant-numeric: tabular-nums; }
td.r, .nw { white-space: nowrap; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
        font-size: .82rem; overflow-wrap: anywhere; }
td.mono { max-width: 34rem; }
.swatch { display: inline-block; width: .7em; height: .7em; border-radius: 50%; margin-right: .45em;
          vertical-align: baseline; }
.table-notes { list-style: none; padding: 0; margin: .4rem 0 0; font-size: .82rem; color: var(--muted); }
.table-notes li { margin: .15rem 0; }
figure { margin: 1.4rem 0 1.8rem; }
figure img { display: block; max-width: 100%; height: auto; }
figcaption { font-size: .86rem; color: var(--muted); margin-top: .45rem; max-width: 52rem; }
figcaption b { color: var(--fg); }
footer { margin-top: 3.5rem; padding-top: .8rem; border-top: 1px solid var(--line); font-size: .8rem;
         color: var(--muted); }
@media (max-width: 44rem) {
  body { padding: 1.2rem .8rem 3rem; }
  h1 { font-size: 1.55rem; }
  nav.toc ol { columns: 1; }
  th, td { padding: .32rem .45rem; }
}
@media print {
  @page { margin: 16mm 14mm; }
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  a { color: inherit; }
  nav.toc { background: none; }
  .headline, p.verdict, p.warning { background: none; }
  h2 { break-after: avoid; }
  figure, table, .headline, p.verdict { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  tbody tr:nth-child(even) { background: none; }
}
"""

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _swatch(color: str | None) -> str:
    # Only a validated #rrggbb reaches the style attribute.
    if not color or not _COLOR.fullmatch(color):
        return ""
    return f'<span class="swatch" style="background:{color}" aria-hidden="true"></span>'


def _cell_class(col: Column, *, header: bool = False) -> str:
    classes = []
    if col.align == "right":
        classes.append("r")
    if col.kind == "mono" and not header:
        classes.append("mono")
    if col.nowrap or col.kind == "variant":
        classes.append("nw")
    return f' class="{" ".join(classes)}"' if classes else ""


#: Tables with at least this many columns are set with narrower cell padding.
WIDE_TABLE_COLUMNS = 9


def _table(table: Table, colors: dict[str, str]) -> str:
    wide = ' class="wide"' if len(table.columns) >= WIDE_TABLE_COLUMNS else ""
    out = [f'<div class="table-wrap"><table{wide}>']
    if table.caption:
        out.append(f"<caption>{_e(table.caption)}</caption>")
    out.append("<thead>")
    if table.groups:
        cells = []
        for label, span in table.groups:
            cls = "" if label else ' class="empty"'
            cells.append(f'<th colspan="{int(span)}"{cls} scope="colgroup">{_e(label)}</th>')
        out.append(f'<tr class="groups">{"".join(cells)}</tr>')
    out.append("<tr>" + "".join(f'<th scope="col"{_cell_class(c, header=True)}>{_e(c.label)}</th>' for c in table.columns)
               + "</tr></thead><tbody>")
    for row in table.rows:
        cells = []
        for i, (col, text) in enumerate(zip(table.columns, row)):
            body = _e(text)
            if col.kind == "variant":
                body = _swatch(colors.get(text)) + body
            tag = "th" if i == 0 else "td"
            scope = ' scope="row"' if i == 0 else ""
            cells.append(f"<{tag}{scope}{_cell_class(col)}>{body}</{tag}>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if table.notes:
        out.append('<ul class="table-notes">' + "".join(f"<li>{_e(n)}</li>" for n in table.notes) + "</ul>")
    out.append("</div>")
    return "".join(out)


def _figure(fig: ReportFigure, number: int) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" width="{int(fig.width)}" height="{int(fig.height)}" '
            f'alt="{_e(fig.alt)}"><figcaption><b>Figure {number}.</b> {_e(fig.caption)}</figcaption></figure>')


def _paragraph(p: Paragraph) -> str:
    cls = "" if p.kind == "text" else f' class="{_e(p.kind)}"'
    lead = f"<b>{_e(p.lead)}</b> " if p.lead else ""
    return f"<p{cls}>{lead}{_e(p.text)}</p>"


def _section(sec: Section, number: int, colors: dict[str, str], fig_counter: list[int]) -> str:
    out = [f'<section id="{_e(sec.anchor)}"><h2><span class="num">{number}.</span>{_e(sec.title)}</h2>']
    for block in sec.blocks:
        if isinstance(block, Paragraph):
            out.append(_paragraph(block))
        elif isinstance(block, Table):
            out.append(_table(block, colors))
        else:
            fig_counter[0] += 1
            out.append(_figure(block, fig_counter[0]))
    out.append("</section>")
    return "\n".join(out)


def render_html(report: Report) -> str:
    """The report as a complete HTML5 document (a string); everything embedded is escaped."""
    from normlab import __version__

    meta = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in report.meta.items())
    headline = "".join(f"<p>{_e(line)}</p>" for line in report.headline)
    if report.headline_more:
        more = _e(report.headline_more)
        if report.headline_anchor and any(s.anchor == report.headline_anchor for s in report.sections):
            more = f'<a href="#{_e(report.headline_anchor)}">{more}</a>'
        headline += f'<p class="more">{more}</p>'
    headline += "".join(f'<p class="highlight">{_e(line)}</p>' for line in report.highlights)
    # Data problems (a variant with runs of several configurations) go right under the verdict.
    warnings = "".join(f'<p class="warning">{_e(line)}</p>' for line in report.warnings)
    toc = "".join(f'<li><a href="#{_e(s.anchor)}">{_e(s.title)}</a></li>' for s in report.sections)
    counter = [0]
    body = "\n".join(_section(s, i, report.variant_colors, counter) for i, s in enumerate(report.sections, 1))
    generated = report.meta.get("Generated", "")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="normlab {_e(__version__)}">
<title>{_e(report.title)}</title>
<style>{STYLESHEET}</style>
</head>
<body>
<header>
<p class="kicker">normlab study report</p>
<h1>{_e(report.title)}</h1>
<dl class="meta">{meta}</dl>
<div class="headline" role="note"><h2>Verdict</h2>{headline}</div>
{warnings}</header>
<nav class="toc" aria-label="Contents"><h2>Contents</h2><ol>{toc}</ol></nav>
<main>
{body}
</main>
<footer>Generated by normlab {_e(__version__)}{' on ' + _e(generated) if generated else ''}. All figures and styles are
embedded in this file; it makes no network requests.</footer>
</body>
</html>
"""
