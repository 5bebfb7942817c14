"""``normlab report``: the study report from a results database, as HTML or Markdown."""

from __future__ import annotations

import sys
from pathlib import Path

from normlab.cli._common import TARGET_DEFAULTS


def register(subparsers) -> None:
    """Add the ``report`` sub-command."""
    p = subparsers.add_parser(
        "report", help="write the study report (HTML or Markdown) from a results database",
        description="Write a study's report: learning curves with confidence bands, the distribution of final "
                    "accuracies, statistics with t and bootstrap intervals, paired comparisons with computed "
                    "verdicts, the blog post's values beside ours, configs and environment. The HTML file is "
                    "self-contained (inline figures and style, no network requests).")
    p.add_argument("db", metavar="DB_OR_DIR",
                   help="the results database (normlab.db) or the folder holding it, e.g. the --out of normlab study")
    p.add_argument("--out", default=None,
                   help="output file; '-' writes to stdout (Markdown only) "
                        "(default: report.html beside the database for html, stdout for md)")
    p.add_argument("--study", default=None,
                   help="study name inside the database (default: the only study there)")
    p.add_argument("--format", dest="fmt", choices=("html", "md"), default="html",
                   help="html: one self-contained page; md: Markdown for terminals and CI logs (default: %(default)s)")
    p.add_argument("--target", type=float, default=None,
                   help=f"accuracy target (a fraction) for epochs- and time-to-target {TARGET_DEFAULTS}")
    p.set_defaults(func=run)


def run(args) -> int:
    """Build the report and write it (or print the Markdown)."""
    from normlab.errors import ConfigError
    from normlab.fileio import atomic_write_text
    from normlab.report import load_report, render

    out = args.out
    if out is None:
        out = "-" if args.fmt == "md" else None
    if out == "-" and args.fmt != "md":
        raise ConfigError("--out - (stdout) goes with --format md; give a file name for the HTML report")
    report = load_report(args.db, study=args.study, target=args.target)
    text = render(report, args.fmt)
    if out == "-":
        sys.stdout.write(text)
        return 0
    if out is None:
        db = Path(args.db)
        out = (db if db.is_dir() else db.parent) / "report.html"
    path = atomic_write_text(Path(out), text)
    print(f"report: {path}  ({report.study}: {len(report.summaries)} variant(s), {len(report.figures)} figure(s))")
    return 0
