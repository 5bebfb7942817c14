"""Build a report from runs, or from a results database, and write it.

:func:`build_report` groups the runs and computes the statistics once
(:func:`~normlab.report.context.build_context`), calls each section of
:data:`~normlab.report.sections.SECTIONS` in turn, and writes the headline from the sections'
summaries and the comparisons' readings. :func:`render` formats the result as HTML or Markdown.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

from normlab.errors import ConfigError
from normlab.experiments import stats
from normlab.report import phrasing
from normlab.report.context import ReportContext, build_context
from normlab.report.document import Report, Section
from normlab.report.format import NA, finite, fmt_pct, fmt_time, fmt_values, interval_phrase
from normlab.report.sections import SECTIONS
from normlab.report.sections.core import MAX_LISTED_VARIANTS, protocols

__all__ = ["FORMATS", "build_report", "load_report", "render", "save_report", "write_report"]

FORMATS = ("html", "md")
SectionBuilder = Callable[[ReportContext], "Section | None"]


def _variant_lines(ctx: ReportContext) -> list[str]:
    """The headline of a study without comparisons: each variant's final accuracy."""
    out = []
    for v in ctx.variants:
        s = ctx.summaries[v].final
        if s.n == 0:
            out.append(f"{v}: no finished runs to summarise.")
        elif s.t_ci.defined:
            out.append(f"{v}: final {ctx.val_label} accuracy {fmt_pct(s.mean, unit=True)} ({ctx.conf} CI "
                       f"{interval_phrase(s.t_ci)}, {s.n} runs). One variant only: nothing to compare.")
        else:
            out.append(f"{v}: final {ctx.val_label} accuracy {fmt_pct(s.mean, unit=True)} from {s.n} run(s). "
                       "One variant only: nothing to compare.")
    return out


def _highlights(ctx: ReportContext) -> list[str]:
    """Each variant's mean final accuracy and interval, or the highest and lowest of many."""
    parts = []
    for v in ctx.variants:
        s = ctx.summaries[v].final
        if s.n:
            parts.append((s.mean, f"{v} {fmt_pct(s.mean, unit=True)}"
                          + (f" ({interval_phrase(s.t_ci)})" if s.t_ci.defined else "")))
    if not parts:
        return []
    head = f"Final {ctx.val_label} accuracy, mean over seeds and {ctx.conf} t-interval: "
    if len(parts) <= MAX_LISTED_VARIANTS:
        return [head + "; ".join(text for _, text in parts) + "."]
    ranked = sorted((p for p in parts if finite(p[0])), key=lambda p: -p[0])
    if not ranked:
        return []
    return [head + f"highest {ranked[0][1]}; lowest {ranked[-1][1]} (all {len(parts)} variants in the statistics "
            "section)."]


def _meta(ctx: ReportContext) -> dict[str, str]:
    """The short facts of the page header."""
    runs = ctx.all_runs
    counts = Counter(r.status for r in runs)
    statuses = [f"{counts.get('done', 0)} done"] + [f"{counts[s]} {s}" for s in ("failed", "diverged", "running")
                                                   if counts.get(s)]
    g = ctx.grid
    if g is not None:
        variants = (f"{len(ctx.variants)}: {len(g.models)} models ({', '.join(g.models)}) × {len(g.values)} "
                    f"{g.label}s ({fmt_values(g.values)})")
    else:
        variants = (f"{len(ctx.variants)}: " if len(ctx.variants) > 8 else "") + ", ".join(ctx.variants)
    labels = {"val": "held-out split", "test": "test set, after every epoch (as the post and d2l do; no held-out split)"}
    names = sorted({getattr(r, "val_split_name", None) for r in runs if r.status == "done"} - {None})
    meta = {
        "Variants": variants,
        "Runs": f"{len(runs)} ({', '.join(statuses)})",
        "Scale": phrasing.scale_text(ctx.scale),
        "Protocol": ", ".join(protocols([r for r in runs if isinstance(getattr(r, "config", None), dict)])) or NA,
        "Validation": ", ".join(labels.get(n, n) for n in names) or NA,
        "Target": (phrasing.targets_by_dataset([(g.dataset, g.target) for g in ctx.target_groups], header=True)
                   if ctx.mixed_targets else f"{ctx.target * 100:g}%"),
        "Generated": fmt_time(ctx.generated_at),
    }
    if ctx.db_path is not None:
        meta["Database"] = str(ctx.db_path)
    return meta


def build_report(
    runs: Sequence[Any],
    *,
    target: float | None = None,
    study: str | None = None,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    alpha: float = 0.05,
    db_path: str | Path | None = None,
    generated_at: float | None = None,
    sections: Sequence[SectionBuilder] = SECTIONS,
    quick: bool | None = None,
) -> Report:
    """Build the report model of one study from its runs.

    ``runs`` are :class:`~normlab.train.record.RunRecord` objects as the results store reads
    them (with ``full=True``) or objects with the same attributes; all must belong to one study. The
    sections come from ``sections`` (default :data:`~normlab.report.sections.SECTIONS`), each
    called with the :class:`~normlab.report.context.ReportContext`. Raises
    :class:`~normlab.errors.ConfigError` for no runs, runs of several studies, a bad target or
    two sections with the same anchor. ``quick`` says whether the study is a preset's ``--quick``
    run, whose verdicts are then marked indicative only; None recognises it by its default name
    (``blog-quick``; see :func:`~normlab.report.context.build_context`).
    """
    ctx = build_context(runs, target=target, study=study, confidence=confidence, alpha=alpha, db_path=db_path,
                        generated_at=generated_at, quick=quick)
    built: list[Section] = []
    for make in sections:
        section = make(ctx)
        if section is None:
            continue
        if any(s.anchor == section.anchor for s in built):
            raise ConfigError(f"two sections use the anchor {section.anchor!r}; anchors must be unique "
                              f"(section {getattr(make, '__name__', make)!r})")
        built.append(section)
    final = [r for r in ctx.readings if r.numbers["metric"] == "final"]
    headline, more, anchor = phrasing.headline(final, built, val_label=ctx.val_label, variant_lines=_variant_lines(ctx))
    verdicts = [phrasing.comparison_sentence(r) for r in ctx.readings]
    warnings = [phrasing.set_aside_warning(item) for item in ctx.set_aside]
    if ctx.at_chance:
        warnings.append(phrasing.at_chance_warning(ctx.at_chance, ctx.val_label))
    if ctx.scale.quick:
        # A --quick run's every verdict, wherever it is written, says it is indicative only.
        sentences = set(verdicts)
        headline = [phrasing.indicative(line) for line in headline]
        verdicts = [phrasing.indicative(v) for v in verdicts]
        for section in built:
            for paragraph in section.paragraphs:
                if paragraph.kind in ("verdict", "reading") or paragraph.text in sentences:
                    paragraph.text = phrasing.indicative(paragraph.text)
        warnings.insert(0, phrasing.quick_warning(ctx.scale))
    return Report(
        title=f"Study report: {ctx.study}",
        study=ctx.study,
        headline=headline,
        headline_more=more,
        headline_anchor=anchor,
        sections=built,
        summaries=ctx.summaries,
        comparisons=ctx.comparisons,
        verdicts=verdicts,
        variant_colors=ctx.colors,
        meta=_meta(ctx),
        target=ctx.target,
        targets=dict(ctx.targets),
        highlights=_highlights(ctx),
        adjusted_pvalues=ctx.adjusted_pvalues,
        warnings=warnings,
        readings=ctx.readings,
    )


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"report format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    return fmt


def load_report(
    db_path: str | Path, *, study: str | None = None, target: float | None = None, **kwargs: Any
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
        if kwargs.get("quick") is None:  # the study's own record of a --quick grid, when it has one
            kwargs["quick"] = db.study_info(study).get("quick")
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
    target: float | None = None,
    fmt: str = "html",
    quick: bool | None = None,
) -> Path:
    """Build the report of ``study`` in the database at ``db_path`` and write it atomically to ``out_path``.

    ``fmt`` is ``"html"`` (a single self-contained file: inline figures, inline style, no network
    requests) or ``"md"`` (Markdown for terminals and CI logs). Returns ``out_path``. To keep the
    built :class:`Report` as well, call :func:`load_report` and :func:`save_report`. ``quick`` goes
    to :func:`build_report`.
    """
    _check_format(fmt)
    return save_report(load_report(db_path, study=study, target=target, quick=quick), out_path, fmt)
