"""The blog post's two normalisers, vectorised, and its figures. The conventions they share with the
scalers (types, ``copy``, ``axis``, NaN, constant and large values) are in :mod:`normlab.normalize`.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from normlab.errors import ConfigError
from normlab.normalize._backend import (
    astype_of,
    check_copy,
    eps_of,
    finish,
    is_constant,
    is_int,
    normalize_axes,
    reduce,
    round_,
    to_numpy,
    validate_input,
    work_buffer,
    xp,
)


def min_max_normalize(data, *, axis=None, decimals: int | None = None, copy: bool = True):
    """Rescale ``data`` linearly so its minimum becomes 0 and its maximum 1.

    ``(x - min) / (max - min)``, vectorised. This is the post's ``min_max_normalize``; with
    ``decimals=2`` it also rounds like the post (which applies ``round(x, 2)`` to each value).

    Args:
        data: a list (nested lists allowed), a numpy array or a torch tensor, at least 1-D.
        axis: the axes to take the minimum and maximum along (``None``: all values).
        decimals: round the result to this many decimals (half to even, like ``round``).
        copy: ``False`` writes the result into ``data`` where it can hold it, as
            scikit-learn's ``minmax_scale(copy=False)``.

    Returns ``data``'s shape, in its type (see the package's conventions). NaN is ignored and
    stays NaN; a slice whose values are all equal maps to 0.

    Raises:
        ConfigError: empty or non-numeric input, ±inf, a bad ``axis``, ``decimals`` or ``copy``.

    Examples:
        >>> min_max_normalize([2, 4, 6, 10])
        array([0.  , 0.25, 0.5 , 1.  ])
        >>> min_max_normalize([[1.0, 10.0], [3.0, 30.0], [5.0, 20.0]], axis=0)  # per column
        array([[0. , 0. ],
               [0.5, 1. ],
               [1. , 0.5]])
        >>> min_max_normalize([1, 2, 4], decimals=2)
        array([0.  , 0.33, 1.  ])
        >>> min_max_normalize([7, 7, 7])  # constant: scaled by 1, not divided by 0
        array([0., 0., 0.])

        Per channel for a batch of images laid out N×C×H×W:

        >>> images = np.random.default_rng(0).uniform(0, 255, (8, 3, 4, 4))
        >>> out = min_max_normalize(images, axis=(0, 2, 3))
        >>> out.min(axis=(0, 2, 3)), out.max(axis=(0, 2, 3))
        (array([0., 0., 0.]), array([1., 1., 1.]))
    """
    return _normalize(data, axis, decimals, "min_max", copy)


def z_score_normalize(data, *, axis=None, decimals: int | None = None, copy: bool = True):
    """Standardise ``data`` to mean 0 and standard deviation 1: ``(x - mean) / std``.

    The post's ``z_score_normalize``, vectorised, with the population standard deviation
    (``ddof=0``) as the post's ``np.std``; ``decimals=2`` rounds like the post's ``round(x, 2)``.
    ``axis``, ``decimals`` and ``copy`` are as in :func:`min_max_normalize` (``copy=False`` as
    scikit-learn's ``scale``). numpy inputs are computed in float64, tensors in their own dtype
    (float32 at least). NaN is ignored and stays NaN; a slice with no spread maps to 0, and values
    so large that rounding swamps their spread are centred a second time, with a ``UserWarning``.

    Raises:
        ConfigError: empty or non-numeric input, ±inf, a bad ``axis``, ``decimals`` or ``copy``.

    Examples:
        >>> z_score_normalize([2, 4, 4, 4, 5, 5, 7, 9])
        array([-1.5, -0.5, -0.5, -0.5,  0. ,  0. ,  1. ,  2. ])
        >>> z_score_normalize([[1.0, 10.0], [3.0, 30.0]], axis=0)  # per column
        array([[-1., -1.],
               [ 1.,  1.]])
        >>> z_score_normalize([1, 2, 4], decimals=2)
        array([-1.07, -0.27,  1.34])

        Per channel for a batch of images laid out N×C×H×W:

        >>> images = np.random.default_rng(0).normal(5.0, 2.0, (8, 3, 4, 4))
        >>> out = z_score_normalize(images, axis=(0, 2, 3))
        >>> out.shape, np.allclose(out.mean(axis=(0, 2, 3)), 0), np.allclose(out.std(axis=(0, 2, 3)), 1)
        ((8, 3, 4, 4), True, True)
    """
    return _normalize(data, axis, decimals, "z_score", copy)


def _normalize(data, axis, decimals, method: str, copy):
    if decimals is not None and not is_int(decimals):
        raise ConfigError(f"decimals must be None or an int (digits after the point, as in round()); "
                          f"got {decimals!r}")
    copy = check_copy(copy)
    inp = validate_input(data, "data", f"{method}_normalize")
    axes = normalize_axes(axis, inp.shape)
    # All-NaN slices give NaN statistics and NaN outputs; errstate silences their 0/0.
    with np.errstate(invalid="ignore", divide="ignore"):
        x, shift, divisor, count, has_nan = _stats(inp.compute(), axes, method)
        work, target = work_buffer(inp, data, x, copy)
        work -= shift
        work /= divisor
        if method == "z_score":
            _centre_again(work, axes, count, has_nan, eps_of(x))
    if decimals is not None:
        round_(work, int(decimals))
    return finish(work, inp, target)


def _stats(x, axes: tuple[int, ...], method: str):
    """``(x, shift, divisor, count, has_nan)`` for the result ``(x - shift) / divisor``; ``count`` (of
    the non-NaN values) is None for min-max."""
    f, eps = xp(x), eps_of(x)
    nan = f.isnan(x)
    has_nan = bool(nan.any())
    if method == "min_max":
        lo = reduce("fmin" if has_nan else "amin", x, axes)
        span = reduce("fmax" if has_nan else "amax", x, axes) - lo
        return x, lo, f.where(span < 10 * eps, 1.0, span), None, has_nan
    count = astype_of(reduce("sum", ~nan, axes), x) if has_nan else math.prod(x.shape[a] for a in axes)
    if has_nan:
        mean = reduce("nansum", x, axes) / count
        var = reduce("nansum", (x - mean) ** 2, axes) / count
    else:
        mean, var = reduce("mean", x, axes), reduce("var", x, axes)
    return x, mean, f.where(is_constant(var, mean, count, eps), 1.0, f.sqrt(var)), count, has_nan


def _centre_again(z, axes: tuple[int, ...], count, has_nan: bool, eps: float) -> None:
    """Subtract the mean of the standardised ``z`` again, with a warning, if it is not ~0 anywhere
    (see "Large values" in :mod:`normlab.normalize`): ``sqrt(eps)`` flags a mean that lost half
    its digits or more to rounding."""
    mean = reduce("nansum" if has_nan else "sum", z, axes) / count
    worst = float(np.nan_to_num(np.abs(to_numpy(mean)), nan=0.0).max())
    if worst <= math.sqrt(eps):
        return
    # stacklevel 4: the caller of z_score_normalize (via _normalize)
    warnings.warn(f"Numerical issues were encountered when centering the data: after standardising, the "
                  f"mean was {worst:.3g} instead of 0, so it was subtracted a second time (as scikit-learn's "
                  f"scale does). The values are large compared with their spread, so rounding cost the mean "
                  f"half its digits or more (near-constant data such as 1e20 repeated is the extreme case); "
                  f"if that is unexpected, subtract a rough centre such as the median first.",
                  UserWarning, stacklevel=4)
    z -= mean


# ----------------------------------------------------------------------------------------------
# The post's figures.


def normalize_demo(seed: int = 0, count: int = 50) -> dict[str, Any]:
    """Draw ``count`` values in [0, 20) (``numpy.random.default_rng(seed)``, the same on every
    machine) and normalise them both ways, as the post's figures do.

    Returns:
        A JSON-serialisable dict: ``seed``, ``count``, ``low``/``high`` (the drawing range) and,
        for each of ``original``, ``min_max`` and ``z_score``, ``values`` and their ``min``,
        ``max``, ``mean`` and ``std``.

    Raises:
        ConfigError: ``seed`` is not a non-negative int or ``count`` is not an int >= 2.

    Example:
        >>> result = normalize_demo(seed=0, count=50)
        >>> result["min_max"]["min"], result["min_max"]["max"]
        (0.0, 1.0)
    """
    if not is_int(seed) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int; got {seed!r}")
    if not is_int(count) or count < 2:
        raise ConfigError(f"count must be an int >= 2 (normalising fewer values shows nothing); got {count!r}")
    low, high = 0.0, 20.0
    original = np.random.default_rng(int(seed)).uniform(low, high, int(count))
    result: dict[str, Any] = {"seed": int(seed), "count": int(count), "low": low, "high": high}
    for name, values in (("original", original), ("min_max", min_max_normalize(original)),
                         ("z_score", z_score_normalize(original))):
        result[name] = {"values": values.tolist(), "min": float(values.min()), "max": float(values.max()),
                        "mean": float(values.mean()), "std": float(values.std())}
    return result


def _fmt(value: float, digits: int = 2) -> str:
    # round first and add 0.0 so that a mean of -1e-17 prints as 0.00, not -0.00
    return f"{round(float(value), digits) + 0.0:.{digits}f}"


def plot_normalize_demo(result: Mapping[str, Any], path: str | Path) -> Path:
    """Save three histograms side by side (original, min-max, z-score) of :func:`normalize_demo`'s
    ``result`` as a PNG at ``path`` (atomically, without pyplot); return the path.

    Raises:
        ConfigError: ``result`` lacks the keys :func:`normalize_demo` produces.
    """
    from matplotlib.figure import Figure

    from normlab.fileio import atomic_write_bytes

    panels = (("original", "Original data", "value"),
              ("min_max", "Min-max normalised", "normalised value"),
              ("z_score", "Z-score normalised", "standard score (standard deviations)"))
    try:
        series = [np.asarray(result[key]["values"], dtype=np.float64) for key, _, _ in panels]
        count, seed = result["count"], result["seed"]
        low, high = result["low"], result["high"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"result must be the dict returned by normalize_demo(); it lacks or mangles {exc}") from None

    fig = Figure(figsize=(13, 4.2), layout="constrained")
    # Shared y: an affine map with the same number of bins gives the same counts, which is
    # the figure's point; headroom keeps the statistics box clear of the bars.
    axes = fig.subplots(1, 3, sharey=True)
    colors = ("#4c72b0", "#dd8452", "#55a868")
    for ax, (key, title, xlabel), values, color in zip(axes, panels, series, colors):
        ax.hist(values, bins=10, color=color, edgecolor="white")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("count")
        ax.grid(axis="y", alpha=0.3)
        ax.tick_params(labelleft=True)
        ax.text(0.98, 0.97, f"min {_fmt(values.min())}  max {_fmt(values.max())}\n"
                            f"mean {_fmt(values.mean())}  std {_fmt(values.std())}",
                transform=ax.transAxes, ha="right", va="top", fontsize=9,
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8, "edgecolor": "0.8"})
    axes[0].set_ylim(0, axes[0].get_ylim()[1] * 1.25)
    fig.suptitle(f"{count} random values drawn from [{low:g}, {high:g}) (seed {seed}): the shape is kept, "
                 f"only the axis changes")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path
