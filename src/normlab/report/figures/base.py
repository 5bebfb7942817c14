"""What every report figure shares: the palette, the rc style, the size bounds, and PNG output.

Figures are matplotlib ``Figure`` objects (no pyplot state, no display needed). No figure is
wider than :data:`MAX_FIGURE_WIDTH` or taller than :data:`MAX_FIGURE_HEIGHT`.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any, Iterable

from matplotlib.figure import Figure

from normlab.report.document import ReportFigure, png_size

__all__ = ["FIGURE_DPI", "MAX_FIGURE_HEIGHT", "MAX_FIGURE_WIDTH", "PALETTE", "figure_png", "new_figure",
           "plain_log_ticks", "report_figure", "save_figure", "shade", "style_axes", "styled", "val_label",
           "variant_color"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
#: Resolution of the embedded PNGs; CSS shows them at 96 px per inch, so they stay sharp on HiDPI screens.
FIGURE_DPI = 144
_CSS_DPI = 96
#: Widest figure (inches). The page's text column is about 10 in (960 CSS px at 96 px per inch);
#: a wider figure would be scaled down, and its lettering with it.
MAX_FIGURE_WIDTH = 10.0
#: Tallest figure (inches), about one screen and a half.
MAX_FIGURE_HEIGHT = 13.0

_STYLE = {
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.labelsize": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8.5,
    "legend.frameon": False,
}


def styled(func):
    """Build the figure under the report's rc style (fonts are read when artists are created)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(_STYLE):
            return func(*args, **kwargs)

    return wrapper


def val_label(on_test: bool, datasets: Iterable[Any]) -> str:
    """How titles and captions name the validation split, with the dataset beside the numbers:
    ``"validation (mnist test set)"``, ``"validation (mnist)"`` for a held-out split; without the
    dataset when the runs trained on several, or name none."""
    datasets = set(datasets)
    dataset = str(datasets.pop()) if len(datasets) == 1 and None not in datasets else ""
    where = " ".join(filter(None, (dataset, "test set" if on_test else "")))
    return f"validation ({where})" if where else "validation"


def variant_color(index: int) -> str:
    """Colour of the ``index``-th variant (the report uses the same colour in every figure)."""
    return PALETTE[index % len(PALETTE)]


def shade(color: str, t: float) -> str:
    """``color`` (``#rrggbb``) lightened towards white (``t < 0``) or darkened towards black (``t > 0``).

    ``t`` runs from -1 (half-way to white) to 1 (40% of the way to black): a family of shades of
    one hue, light enough to tell apart and dark enough to see on white.
    """
    t = max(-1.0, min(1.0, float(t)))
    target, amount = (255, -t * 0.5) if t < 0 else (0, t * 0.4)
    rgb = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (target - c) * amount):02x}" for c in rgb)


def new_figure(width: float, height: float) -> Figure:
    """A figure of at most :data:`MAX_FIGURE_WIDTH` x :data:`MAX_FIGURE_HEIGHT` inches, constrained layout."""
    return Figure(figsize=(min(width, MAX_FIGURE_WIDTH), min(height, MAX_FIGURE_HEIGHT)), layout="constrained")


def style_axes(ax) -> None:
    """A light grid and no top or right spine."""
    ax.grid(alpha=0.25, linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def plain_log_ticks(ax) -> None:
    """Log-scale tick labels as plain numbers (0.3, 1, 4) instead of powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def figure_png(fig: Figure, *, dpi: int = 110) -> bytes:
    """Render ``fig`` to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 110) -> Path:
    """Save ``fig`` as a PNG at ``path`` (written atomically) and return the path."""
    from normlab.fileio import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, figure_png(fig, dpi=dpi))
    return path


def report_figure(fig: Any, caption: str, alt: str, *, dpi: int = FIGURE_DPI) -> ReportFigure:
    """A matplotlib ``Figure`` as a :class:`ReportFigure`, shown at its inch size at 96 CSS px per inch."""
    png = figure_png(fig, dpi=dpi)
    w, h = png_size(png)
    return ReportFigure(png=png, caption=caption, alt=alt, width=round(w * _CSS_DPI / dpi),
                        height=round(h * _CSS_DPI / dpi))
