"""Data normalisers: the blog post's two functions, streaming scalers, and the post's demo.

Two layers:

- :func:`min_max_normalize` and :func:`z_score_normalize` are the post's functions, made
  vectorised and general: they take a list (nested lists too), a numpy array or a torch tensor
  and compute the statistics over all values or along chosen axes.
- :class:`MinMaxScaler` and :class:`StandardScaler` learn the statistics once (or streaming,
  batch by batch, with :meth:`~StandardScaler.partial_fit`) and apply them to new data, in
  scikit-learn's style and with scikit-learn's results on the cases both handle.

Shared conventions
------------------
*Types.* A list (or any other array-like) comes back as a numpy array; a numpy array comes back
as a numpy array; a torch tensor comes back as a tensor on the same device. Floating inputs keep
their dtype; integer and boolean inputs come back as float64 (numpy) or torch's default float
dtype (torch).

*``copy``*, as in scikit-learn. With ``copy=True`` (the default) the result is a new array or
tensor and the input is never modified, even where the operation is the identity. ``copy=False``
asks for the result to be written into the input, which is then returned: that happens for a
writeable floating-point numpy array and for a floating-point tensor that autograd lets change
(it does not require grad). Anything else (a list, integers, read-only memory, a tensor that
requires grad or an expanded view) cannot hold the result, so a new one comes back and the input
is left alone: ``copy=False`` is a request, not a guarantee, as in scikit-learn.

*``axis``* means what it means in numpy reductions: the axes the statistics are computed
*along*. ``axis=None`` uses every value; ``axis=0`` on a 2-D ``(n_samples, n_features)`` array
gives one statistic per feature (column); ``axis=(0, 2, 3)`` on an ``N×C×H×W`` image batch
gives one statistic per channel.

*Missing values.* NaN marks a missing value: it is left out of every statistic and stays NaN in
the output. ±inf is rejected with :class:`~normlab.errors.ConfigError`, as is empty or
non-numeric input.

*Constant data.* A slice (or feature) with no spread is scaled by 1 instead of divided by zero,
as scikit-learn does: min-max then maps it to the lower end of the range (0 by default) and
z-score maps it to 0. "No spread" uses scikit-learn's tests: a range below ``10 * eps`` of the
computing dtype for min-max; for z-score a variance within the rounding error bound of the
two-pass algorithm (``var <= n*eps*var + (n*mean*eps)**2``), so data such as ``[0.1] * 1000``,
whose computed variance is a tiny non-zero number, also counts as constant. (Its z-scores are
``x - mean``, which is 0 up to the rounding of the mean, about 1e-17 here.)

*Large values.* The mean of ``[1e100] * 10`` is off by one rounding step of 1e100, so
``x - mean`` is about 1e84, not 0. :func:`z_score_normalize` therefore checks the result as
scikit-learn's ``scale`` does: if a slice's mean is not 0 to within the square root of the
computing dtype's epsilon, it subtracts that mean a second time and warns (a ``UserWarning``
whose message starts, like scikit-learn's, with "Numerical issues were encountered when
centering the data"). The check is on the standardised result, so it flags data whose spread
is small compared with its magnitude (``1e10 + randn`` warns too, as in scikit-learn), but not
large values with a spread to match (``1e100 * randn``, for which scikit-learn warns). The
scalers learn their mean with the same correction (the mean of ``x - mean`` is added back), so
constant features of any size map to 0 there too.

*Standard deviation* is the population one (``ddof=0``), as the post's ``np.std`` and
scikit-learn's ``StandardScaler`` use.
"""

from __future__ import annotations

import io
import math
import numbers
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from normlab.errors import ConfigError, NormlabError

__all__ = [
    "MinMaxScaler",
    "NotFittedError",
    "StandardScaler",
    "min_max_normalize",
    "normalize_demo",
    "plot_normalize_demo",
    "z_score_normalize",
]

_EPS64 = float(np.finfo(np.float64).eps)
_STATE_VERSION = 1


class NotFittedError(NormlabError, ValueError, AttributeError):
    """A scaler was used before ``fit`` or ``partial_fit``.

    Derives from ``ValueError`` and ``AttributeError`` like scikit-learn's ``NotFittedError``,
    so code written against scikit-learn catches it too.
    """


# ----------------------------------------------------------------------------------------------
# Input validation shared by the functions and the scalers.


def _torch_tensor_type():
    # torch is only looked up, never imported: if the caller has not imported it, the input
    # cannot be a tensor, and importing torch here would cost a second on every CLI start.
    torch = sys.modules.get("torch")
    return None if torch is None else torch.Tensor


def _is_tensor(data: Any) -> bool:
    tensor_type = _torch_tensor_type()
    return tensor_type is not None and isinstance(data, tensor_type)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _first_inf_index(mask) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(np.asarray(mask))[0])


class _Input:
    """A validated input: ``values`` is a float64 numpy array or the original tensor.

    ``owned`` says that ``values`` is a buffer of its own (a conversion), which no caller holds
    and which may therefore be overwritten.
    """

    __slots__ = ("values", "is_tensor", "out_dtype", "shape", "owned")

    def __init__(self, values, is_tensor: bool, out_dtype, shape: tuple[int, ...], owned: bool = False):
        self.values = values
        self.is_tensor = is_tensor
        self.out_dtype = out_dtype
        self.shape = shape
        self.owned = owned

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def float64_numpy(self) -> np.ndarray:
        """The values as a float64 numpy array on the CPU (statistics are always float64)."""
        if not self.is_tensor:
            return self.values
        import torch

        return self.values.detach().to(device="cpu", dtype=torch.float64).numpy()


def _validate_input(data: Any, name: str, who: str) -> _Input:
    """Check that ``data`` is a non-empty, at least 1-D, real array with no ±inf."""
    if _is_tensor(data):
        import torch

        if data.is_complex() or not (data.is_floating_point() or data.dtype == torch.bool
                                     or _torch_is_integer(data)):
            raise ConfigError(f"{name} must hold real numbers; got a tensor of dtype {data.dtype}")
        if data.ndim == 0:
            raise ConfigError(f"{name} must have at least one dimension; got a 0-d tensor. "
                              f"Wrap a single value in a list.")
        if data.numel() == 0:
            raise ConfigError(f"{name} is empty (shape {tuple(data.shape)}); {who} needs at least one value")
        if data.is_floating_point():
            inf = torch.isinf(data)
            if bool(inf.any()):
                raise ConfigError(f"{name} contains infinity at index {_first_inf_index(inf.cpu().numpy())}; "
                                  f"{who} accepts finite values and NaN (a missing value)")
        out_dtype = data.dtype if data.is_floating_point() else torch.get_default_dtype()
        return _Input(data, True, out_dtype, tuple(data.shape))

    try:
        arr = np.asarray(data)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a numeric array-like (list, nested lists of equal length, "
                          f"numpy array or torch tensor); numpy could not convert it: {exc}") from None
    if arr.dtype.kind not in "biuf":
        hint = " (mixed or missing values such as None or strings)" if arr.dtype.kind == "O" else ""
        raise ConfigError(f"{name} must hold real numbers; got {type(data).__name__} "
                          f"with dtype {arr.dtype}{hint}")
    if arr.ndim == 0:
        raise ConfigError(f"{name} must have at least one dimension; got the scalar {arr.item()!r}. "
                          f"Wrap a single value in a list.")
    if arr.size == 0:
        raise ConfigError(f"{name} is empty (shape {arr.shape}); {who} needs at least one value")
    out_dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)
    # No copy for float64 input here: _work_buffer copies it only when the result needs a buffer
    # of its own. np.asarray always builds a new array from a list or tuple.
    values = arr.astype(np.float64, copy=False)
    owned = values is not arr or isinstance(data, (list, tuple))
    if arr.dtype.kind == "f":
        inf = np.isinf(values)
        if inf.any():
            raise ConfigError(f"{name} contains infinity at index {_first_inf_index(inf)}; "
                              f"{who} accepts finite values and NaN (a missing value)")
    return _Input(values, False, out_dtype, arr.shape, owned)


def _torch_is_integer(tensor) -> bool:
    import torch

    try:
        torch.iinfo(tensor.dtype)
    except TypeError:
        return False
    return tensor.dtype != torch.bool


def _normalize_axes(axis: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Turn ``axis`` (None, int or tuple of ints, negatives allowed) into sorted axes of ``shape``."""
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    if _is_int(axis):
        items = (int(axis),)
    elif isinstance(axis, (tuple, list)) and all(_is_int(a) for a in axis):
        items = tuple(int(a) for a in axis)
    else:
        raise ConfigError(f"axis must be None, an int or a tuple of ints; got {axis!r}")
    if not items:
        raise ConfigError("axis=() names no axis to compute the statistics along; "
                          "pass None for all values, or one or more axes")
    for a in items:
        if not -ndim <= a < ndim:
            raise ConfigError(f"axis {a} is out of range for {ndim}-D input of shape {tuple(shape)}; "
                              f"valid axes are {-ndim} to {ndim - 1}")
    axes = sorted(a % ndim for a in items)
    if len(set(axes)) != len(axes):
        raise ConfigError(f"axis {axis!r} names the same axis twice")
    return tuple(axes)


def _check_decimals(decimals: Any) -> None:
    if decimals is not None and not _is_int(decimals):
        raise ConfigError(f"decimals must be None or an int (digits after the point, as in round()); "
                          f"got {decimals!r}")


# ----------------------------------------------------------------------------------------------
# The blog post's functions.


def min_max_normalize(data, *, axis=None, decimals: int | None = None, copy: bool = True):
    """Rescale ``data`` linearly so its minimum becomes 0 and its maximum 1.

    ``(x - min) / (max - min)``, vectorised. This is the post's ``min_max_normalize``; with
    ``decimals=2`` it also rounds like the post (which applies ``round(x, 2)`` to each value).

    Args:
        data: a list (nested lists allowed), a numpy array or a torch tensor, at least 1-D.
        axis: the axes to take the minimum and maximum along, as in numpy reductions. ``None``
            (default) uses all values; ``0`` on ``(n_samples, n_features)`` data scales each
            feature (column) separately; ``(0, 2, 3)`` on ``N×C×H×W`` images scales each channel.
        decimals: round the result to this many decimals (half to even, like ``round``);
            ``None`` (default) does not round.
        copy: ``True`` (default) returns a new array and leaves ``data`` alone; ``False``
            writes the result into ``data`` and returns it where ``data`` can hold it (a
            writeable float array, a float tensor that does not require grad), as
            scikit-learn's ``minmax_scale(copy=False)``; otherwise a new array comes back.

    Returns:
        A numpy array for a list or numpy input, a tensor on the input's device for a tensor
        input; same shape. Float inputs keep their dtype, integer inputs give float64 (numpy)
        or torch's default float dtype.

    NaN values are ignored when finding the minimum and maximum and stay NaN. A slice whose
    values are all equal is divided by 1 instead of 0, so it maps to 0.

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

    Vectorised version of the post's ``z_score_normalize``. The standard deviation is the
    population one (``ddof=0``), as the post's ``np.std`` computes; with ``decimals=2`` the
    result is rounded like the post's ``round(x, 2)``.

    Args:
        data: a list (nested lists allowed), a numpy array or a torch tensor, at least 1-D.
        axis: the axes to take the mean and standard deviation along, as in numpy reductions.
            ``None`` (default) uses all values; ``0`` on ``(n_samples, n_features)`` data
            standardises each feature (column); ``(0, 2, 3)`` on ``N×C×H×W`` images
            standardises each channel, as ``torchvision.transforms.Normalize`` does with
            per-channel statistics.
        decimals: round the result to this many decimals (half to even, like ``round``);
            ``None`` (default) does not round.
        copy: ``True`` (default) returns a new array and leaves ``data`` alone; ``False``
            writes the result into ``data`` and returns it where ``data`` can hold it, as
            scikit-learn's ``scale(copy=False)`` (see :func:`min_max_normalize`).

    Returns:
        A numpy array for a list or numpy input, a tensor on the input's device for a tensor
        input; same shape and dtype rules as :func:`min_max_normalize`. numpy inputs are
        computed in float64; tensors in their own dtype (float32 at least).

    NaN values are ignored in the mean and standard deviation and stay NaN. A slice with no
    spread is divided by 1 instead of 0, so it maps to 0. Values so large that rounding swamps
    their spread (``[1e20] * 1000``) are centred a second time, with a ``UserWarning``, as
    scikit-learn's ``scale`` does, so they too map to 0.

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
    _check_decimals(decimals)
    copy = _check_copy(copy)
    inp = _validate_input(data, "data", f"{method}_normalize")
    axes = _normalize_axes(axis, inp.shape)
    stats = _stats_torch if inp.is_tensor else _stats_numpy
    # All-NaN slices give NaN statistics and NaN outputs; errstate silences their 0/0.
    with np.errstate(invalid="ignore", divide="ignore"):
        x, shift, divisor, count, has_nan, eps = stats(inp, axes, method)
        work, target = _work_buffer(inp, data, x, copy)
        work -= shift
        work /= divisor
        if method == "z_score":
            _centre_again(work, axes, count, has_nan, eps)
    if decimals is not None:
        if inp.is_tensor:
            work.round_(decimals=int(decimals))
        else:
            np.round(work, decimals, out=work)
    return _finish(work, inp, target)


def _stats_numpy(inp: _Input, axes: tuple[int, ...], method: str):
    """``(x, shift, divisor, count, has_nan, eps)``: the result is ``(x - shift) / divisor``."""
    x = inp.values
    nan = np.isnan(x)
    has_nan = bool(nan.any())
    count = (~nan).sum(axis=axes, keepdims=True) if has_nan else math.prod(x.shape[a] for a in axes)
    if method == "min_max":
        # fmin/fmax skip NaN without numpy's all-NaN warning.
        lo = np.fmin.reduce(x, axis=axes, keepdims=True)
        span = np.fmax.reduce(x, axis=axes, keepdims=True) - lo
        span[span < 10 * _EPS64] = 1.0
        return x, lo, span, count, has_nan, _EPS64
    if has_nan:
        mean = np.nansum(x, axis=axes, keepdims=True) / count
        var = np.nansum((x - mean) ** 2, axis=axes, keepdims=True) / count
    else:
        mean = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True)
    std = np.sqrt(var)
    std[_is_constant(var, mean, count, _EPS64)] = 1.0
    return x, mean, std, count, has_nan, _EPS64


def _stats_torch(inp: _Input, axes: tuple[int, ...], method: str):
    """:func:`_stats_numpy` for tensors, computed on the tensor's device."""
    import torch

    # Half precision is too coarse for sums of many values; compute in float32 at least.
    compute = torch.float64 if inp.out_dtype == torch.float64 else torch.float32
    x = inp.values.to(compute)
    eps = torch.finfo(compute).eps
    nan = torch.isnan(x)
    has_nan = bool(nan.any())
    count = (~nan).sum(dim=axes, keepdim=True).to(compute) if has_nan else math.prod(x.shape[a] for a in axes)
    if method == "min_max":
        if has_nan:
            lo = torch.where(nan, math.inf, x).amin(dim=axes, keepdim=True)
            hi = torch.where(nan, -math.inf, x).amax(dim=axes, keepdim=True)
            lo = torch.where(count == 0, math.nan, lo)
            hi = torch.where(count == 0, math.nan, hi)
        else:
            lo = x.amin(dim=axes, keepdim=True)
            hi = x.amax(dim=axes, keepdim=True)
        span = hi - lo
        span = torch.where(span < 10 * eps, torch.ones_like(span), span)
        return x, lo, span, count, has_nan, eps
    if has_nan:
        mean = torch.nansum(x, dim=axes, keepdim=True) / count
        var = torch.nansum((x - mean) ** 2, dim=axes, keepdim=True) / count
    else:
        mean = x.mean(dim=axes, keepdim=True)
        var = x.var(dim=axes, correction=0, keepdim=True)
    std = torch.where(_is_constant(var, mean, count, eps), torch.ones_like(var), var.sqrt())
    return x, mean, std, count, has_nan, eps


def _centre_again(z, axes: tuple[int, ...], count, has_nan: bool, eps: float) -> None:
    """Subtract the mean of the standardised ``z`` again, with a warning, if it is not ~0 anywhere.

    scikit-learn's ``scale`` does this for data whose values are too large for their spread:
    the mean of ``[1e100] * 10`` is off by a rounding step of 1e100, so ``x - mean`` is ~1e84.
    A correct result has mean 0 to within a few ``eps``; the threshold ``sqrt(eps)`` flags a
    mean that lost half its digits or more to rounding.
    """
    if _is_tensor(z):
        import torch

        mean = (torch.nansum(z, dim=axes, keepdim=True) if has_nan else z.sum(dim=axes, keepdim=True)) / count
        worst = float(torch.nan_to_num(mean.detach().abs(), nan=0.0).max())
    else:
        mean = (np.nansum if has_nan else np.sum)(z, axis=axes, keepdims=True) / count
        worst = float(np.nan_to_num(np.abs(mean), nan=0.0).max())
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


def _check_copy(copy: Any) -> bool:
    if not isinstance(copy, (bool, np.bool_)):
        raise ConfigError(f"copy must be True or False (False writes the result into the input where the "
                          f"input can hold it); got {copy!r}")
    return bool(copy)


def _can_write_into(data) -> bool:
    """Whether ``copy=False`` can put the result into ``data`` itself (see the module docstring)."""
    if _is_tensor(data):
        import torch

        return (data.is_floating_point() and not data.requires_grad
                and not (data.is_inference() and not torch.is_inference_mode_enabled())
                # an expanded view shows one memory cell at many indices, which cannot hold them all
                and all(stride != 0 or size <= 1 for stride, size in zip(data.stride(), data.shape)))
    return isinstance(data, np.ndarray) and data.dtype.kind == "f" and data.flags.writeable


def _work_buffer(inp: _Input, data, x, copy: bool):
    """Return ``(work, target)`` for the in-place arithmetic of a result computed from ``x``.

    ``work`` holds ``x``'s values and may be overwritten; ``target`` is ``data`` when the result
    must end up in it (``copy=False`` and ``data`` can hold it), else None. ``x`` is ``inp``'s
    values in the computing dtype: ``data`` itself, a view of it, or a conversion.
    """
    target = None if copy or not _can_write_into(data) else data
    if inp.is_tensor:
        if target is not None and x is data:
            return x, target
        # Neither the caller's tensor nor one autograd saved for a backward pass may change.
        return (x.clone() if x is data or x.requires_grad else x), target
    # Not owned and writeable: x is the caller's float64 array (or a view of it).
    return (x if inp.owned or target is not None else x.copy()), target


def _finish(work, inp: _Input, target):
    """The result in the input's type: ``target`` holding ``work``'s values, or ``work`` itself."""
    if target is None:
        return work.to(inp.out_dtype) if inp.is_tensor else work.astype(inp.out_dtype, copy=False)
    if inp.is_tensor:
        if work is not target:
            target.copy_(work)
    elif not np.may_share_memory(work, target):
        target[...] = work
    return target


def _is_constant(var, mean, n, eps: float):
    # scikit-learn's _is_constant_feature: the bound on the rounding error of the two-pass
    # variance (Chan, Golub & LeVeque). A variance inside it is indistinguishable from zero.
    return var <= n * eps * var + (n * mean * eps) ** 2


# ----------------------------------------------------------------------------------------------
# Scalers.


class _BaseScaler:
    """Machinery shared by the scalers: input checks, parameters, state dicts."""

    _param_names: tuple[str, ...] = ()
    _param_defaults: dict[str, Any] = {}
    # Learned attributes saved in the state dict besides feature_shape_ / n_features_in_ /
    # n_samples_seen_; the others are derived from them on load.
    _state_arrays: tuple[str, ...] = ()

    # -- parameters -----------------------------------------------------------------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the constructor parameters as a dict (scikit-learn's ``get_params``)."""
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params) -> "_BaseScaler":
        """Set constructor parameters; they take effect at the next ``fit``. Returns ``self``."""
        for name, value in params.items():
            if name not in self._param_names:
                raise ConfigError(f"{type(self).__name__} has no parameter {name!r}; "
                                  f"valid parameters: {', '.join(self._param_names)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if not _same(v, self._param_defaults[k])]
        return f"{type(self).__name__}({', '.join(changed)})"

    def _check_axis_param(self) -> None:
        axis = self.axis
        if not (_is_int(axis) or isinstance(axis, (tuple, list)) and axis and all(_is_int(a) for a in axis)):
            raise ConfigError(f"axis must be an int or a non-empty tuple of ints (the axes the statistics "
                              f"are computed along; 0 for (n_samples, n_features) data); got {axis!r}")

    @staticmethod
    def _check_bool(name: str, value: Any) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise ConfigError(f"{name} must be True or False; got {value!r}")

    # -- fitted state ---------------------------------------------------------------------------

    def _is_fitted(self) -> bool:
        return hasattr(self, "n_samples_seen_")

    def _check_fitted(self) -> None:
        if not self._is_fitted():
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' or "
                                 f"'partial_fit' with appropriate arguments before using this method.")

    def _reset(self) -> None:
        for name in list(vars(self)):
            if name.endswith("_") and not name.startswith("__") or name == "_axes":
                delattr(self, name)

    # -- input handling -------------------------------------------------------------------------

    def _check_input(self, X, *, reset: bool) -> tuple[_Input, tuple[int, ...]]:
        """Validate ``X``; return it with the reduced axes. ``reset`` accepts any feature shape."""
        who = type(self).__name__
        inp = _validate_input(X, "X", who)
        if reset:
            self._check_axis_param()
            if self.axis == 0 and inp.ndim == 1:
                raise ConfigError(f"{who} expects 2-D input (n_samples, n_features); got a 1-D array of "
                                  f"shape {inp.shape}. Reshape it with X.reshape(-1, 1) if it holds one "
                                  f"feature or X.reshape(1, -1) if it holds one sample.")
            axes = _normalize_axes(self.axis, inp.shape)
            if len(axes) == inp.ndim:
                raise ConfigError(f"axis={self.axis!r} reduces every axis of {inp.ndim}-D input of shape "
                                  f"{inp.shape}, leaving no feature axis; keep at least one (for example "
                                  f"axis=(0, 2, 3) keeps the channels of N×C×H×W images)")
            return inp, axes
        axes = self._axes
        ndim = len(axes) + len(self.feature_shape_)
        if inp.ndim != ndim:
            raise ConfigError(f"X is {inp.ndim}-D (shape {inp.shape}), but {who} was fitted on {ndim}-D input")
        kept = tuple(inp.shape[i] for i in range(ndim) if i not in axes)
        if kept != self.feature_shape_:
            if len(kept) == 1:
                raise ConfigError(f"X has {kept[0]} features, but {who} is expecting "
                                  f"{self.n_features_in_} features as input.")
            raise ConfigError(f"X has feature shape {kept} (the axes other than axis={self.axis!r}), but "
                              f"{who} was fitted on feature shape {self.feature_shape_}")
        return inp, axes

    def _apply(self, X, params: dict[str, Any], op, copy: bool):
        """Validate ``X`` against the fit, run ``op(work, params, xp)`` and return X's type.

        ``op`` changes ``work`` in place: a new buffer, or X itself when ``copy`` is False and
        X can hold the result.
        """
        self._check_fitted()
        inp, axes = self._check_input(X, reset=False)
        bshape = tuple(1 if i in axes else n for i, n in enumerate(inp.shape))
        if inp.is_tensor:
            import torch

            compute = torch.float64 if inp.out_dtype == torch.float64 else torch.float32
            x = inp.values.to(compute)
            params = {k: None if v is None else torch.as_tensor(np.reshape(v, bshape), dtype=compute,
                                                                device=x.device)
                      for k, v in params.items()}
            xp = torch
        else:
            x = inp.values
            params = {k: None if v is None else np.reshape(v, bshape) for k, v in params.items()}
            xp = np
        work, target = _work_buffer(inp, X, x, copy)
        op(work, params, xp)
        return _finish(work, inp, target)

    def _prepare_fit(self, X) -> tuple[np.ndarray, tuple[int, ...], tuple[int, ...], bool]:
        """Validate ``X`` for ``partial_fit``: float64 values, reduced axes, feature shape, first?"""
        first = not self._is_fitted()
        inp, axes = self._check_input(X, reset=first)
        x = inp.float64_numpy()
        feature_shape = tuple(n for i, n in enumerate(x.shape) if i not in axes)
        return x, axes, feature_shape, first

    # -- public API shared by both scalers ------------------------------------------------------

    def fit(self, X, y=None):
        """Forget any previous fit and learn the statistics of ``X``; returns ``self``.

        Equivalent to a fresh scaler's :meth:`partial_fit`. ``y`` is ignored (it exists for
        scikit-learn pipelines).
        """
        self._reset()
        return self.partial_fit(X)

    def fit_transform(self, X, y=None):
        """Fit on ``X`` and return ``X`` transformed."""
        return self.fit(X).transform(X)

    # -- state dicts ----------------------------------------------------------------------------

    def _params_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Return the fitted state as a plain, JSON-serialisable dict.

        It holds the class name, a format version, the constructor parameters and the primary
        learned statistics (python floats, ints and lists; NaN where a feature had no values,
        which ``json`` writes as ``NaN``). Derived attributes (such as ``scale_``) are recomputed
        by :meth:`load_state_dict`, so a round trip reproduces them exactly.

        Raises:
            NotFittedError: the scaler is not fitted.
        """
        self._check_fitted()
        n_seen = self.n_samples_seen_
        state = {
            "class": type(self).__name__,
            "version": _STATE_VERSION,
            "params": self._params_state(),
            "feature_shape_": list(self.feature_shape_),
            "n_features_in_": int(self.n_features_in_),
            "n_samples_seen_": int(n_seen) if np.ndim(n_seen) == 0 else np.asarray(n_seen).tolist(),
        }
        for name in self._state_arrays:
            value = getattr(self, name)
            state[name] = None if value is None else np.asarray(value, dtype=np.float64).tolist()
        return state

    def load_state_dict(self, state: Mapping[str, Any]):
        """Restore a fit from :meth:`state_dict`'s output (for example read back from JSON).

        The state's parameters must equal this scaler's; use :meth:`from_state_dict` to build a
        scaler with the saved parameters. Returns ``self``.

        Raises:
            ConfigError: the state is not a dict, has missing or unexpected keys, belongs to
                another class or format version, has other parameters, or has values of the
                wrong shape or kind.
        """
        who = type(self).__name__
        if not isinstance(state, Mapping):
            raise ConfigError(f"{who}.load_state_dict expects a dict from state_dict(); got {type(state).__name__}")
        expected = {"class", "version", "params", "feature_shape_", "n_features_in_", "n_samples_seen_",
                    *self._state_arrays}
        missing = sorted(expected - set(state))
        unexpected = sorted(set(state) - expected, key=str)
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise ConfigError(f"state_dict for {who} has {' and '.join(parts)}; expected keys {sorted(expected)}")
        if state["class"] != who:
            raise ConfigError(f"state_dict belongs to {state['class']!r}, not {who!r}")
        if state["version"] != _STATE_VERSION:
            raise ConfigError(f"state_dict has format version {state['version']!r}; this normlab reads "
                              f"version {_STATE_VERSION}")
        params = state["params"]
        mine = self._params_state()
        if not isinstance(params, Mapping) or set(params) != set(mine):
            raise ConfigError(f"state_dict 'params' must be a dict with keys {sorted(mine)}; got {params!r}")
        for name, value in mine.items():
            if not _same(params[name], value):
                raise ConfigError(f"state_dict was saved with {name}={params[name]!r} but this {who} has "
                                  f"{name}={value!r}; construct it with the saved parameters or use "
                                  f"{who}.from_state_dict(state)")
        self._check_axis_param()

        shape = state["feature_shape_"]
        if not (isinstance(shape, (list, tuple)) and shape and all(_is_int(n) and n > 0 for n in shape)):
            raise ConfigError(f"state_dict 'feature_shape_' must be a non-empty list of positive ints; got {shape!r}")
        feature_shape = tuple(int(n) for n in shape)
        n_features = math.prod(feature_shape)
        if not _is_int(state["n_features_in_"]) or state["n_features_in_"] != n_features:
            raise ConfigError(f"state_dict 'n_features_in_' is {state['n_features_in_']!r} but feature_shape_ "
                              f"{list(feature_shape)} holds {n_features} features")
        ndim = len(feature_shape) + len(_axis_tuple(self.axis))
        axes = _normalize_axes(self.axis, (1,) * ndim)

        n_seen = state["n_samples_seen_"]
        if _is_int(n_seen):
            if n_seen < 0:
                raise ConfigError(f"state_dict 'n_samples_seen_' must not be negative; got {n_seen}")
            n_seen = int(n_seen)
        else:
            n_seen = _state_array(state, "n_samples_seen_", feature_shape, dtype=np.int64)
            if (n_seen < 0).any():
                raise ConfigError("state_dict 'n_samples_seen_' must not hold negative counts")
        arrays = {name: _state_array(state, name, feature_shape) for name in self._state_arrays}
        learned = self._state_to_learned(n_seen, arrays)

        self._reset()
        self._axes = axes
        self.feature_shape_ = feature_shape
        self.n_features_in_ = n_features
        for name, value in learned.items():
            setattr(self, name, value)
        self.n_samples_seen_ = n_seen
        return self

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]):
        """Build a scaler with the parameters saved in ``state`` and load its fit."""
        if not isinstance(state, Mapping) or not isinstance(state.get("params"), Mapping):
            raise ConfigError(f"{cls.__name__}.from_state_dict expects a dict from state_dict() with a "
                              f"'params' dict; got {type(state).__name__}")
        params = dict(state["params"])
        # copy is how transform treats its input, not part of the fit: states do not hold it.
        valid = [name for name in cls._param_names if name != "copy"]
        unknown = sorted(set(params) - set(valid), key=str)
        if unknown:
            raise ConfigError(f"state_dict 'params' has unknown parameters {unknown} for {cls.__name__}; "
                              f"valid: {', '.join(valid)}")
        if isinstance(params.get("axis"), list):
            params["axis"] = tuple(params["axis"])
        if isinstance(params.get("feature_range"), list):
            params["feature_range"] = tuple(params["feature_range"])
        return cls(**params).load_state_dict(state)

    def _commit(self, first: bool, axes, feature_shape, n_seen, arrays: dict[str, Any]):
        """Store a partial_fit's merged statistics (and, on the first batch, the layout); return self."""
        learned = self._state_to_learned(n_seen, arrays)
        if first:
            self._axes = axes
            self.feature_shape_ = feature_shape
            self.n_features_in_ = math.prod(feature_shape)
        for name, value in learned.items():
            setattr(self, name, value)
        self.n_samples_seen_ = n_seen
        return self

    def _state_to_learned(self, n_seen, arrays: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


def _axis_tuple(axis) -> tuple:
    return tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)


def _same(a, b) -> bool:
    # Parameters compare by value, tuples equal to lists (JSON turns tuples into lists), and a
    # bool never equal to a number.
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return False
    return isinstance(a, (bool, np.bool_)) == isinstance(b, (bool, np.bool_)) and bool(a == b)


def _state_array(state, name: str, shape: tuple[int, ...], dtype=np.float64):
    value = state[name]
    if value is None:
        return None
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise ConfigError(f"state_dict {name!r} must be a (nested) list of numbers of shape {list(shape)}; "
                          f"got {value!r:.200}") from None
    if arr.shape != shape:
        raise ConfigError(f"state_dict {name!r} has shape {list(arr.shape)} but feature_shape_ is {list(shape)}")
    if np.isinf(arr).any():
        raise ConfigError(f"state_dict {name!r} contains infinity")
    return arr


def _handle_zeros_in_scale(scale: np.ndarray, constant_mask=None) -> np.ndarray:
    # scikit-learn's rule: a (near-)zero scale becomes 1 so constant features pass through
    # shifted instead of dividing by zero.
    if constant_mask is None:
        constant_mask = scale < 10 * _EPS64
    scale = np.array(scale, dtype=np.float64, copy=True)
    scale[constant_mask] = 1.0
    return scale


def _collapse_counts(counts: np.ndarray):
    # scikit-learn keeps n_samples_seen_ an int while every feature has the same count (no
    # NaN seen) and a per-feature array otherwise.
    counts = np.asarray(counts, dtype=np.int64)
    if counts.max() == counts.min():
        return int(counts.flat[0])
    return counts


class MinMaxScaler(_BaseScaler):
    """Scale each feature to ``feature_range`` with the minimum and maximum seen in fitting.

    Behaves like ``sklearn.preprocessing.MinMaxScaler`` on 2-D ``(n_samples, n_features)``
    input, and goes further: inputs may be lists, numpy arrays or torch tensors (results come
    back in the input's type, a list as numpy; tensors stay on their device), and ``axis``
    chooses other layouts, for example ``axis=(0, 2, 3)`` for per-channel scaling of
    ``N×C×H×W`` image batches.

    ``transform`` computes ``X * scale_ + min_`` where ``scale_ = (hi - lo) / data_range_`` and
    ``min_ = lo - data_min_ * scale_`` for ``feature_range=(lo, hi)``.

    Args:
        feature_range: ``(lo, hi)`` with ``lo < hi``; the range the fitted data is mapped to.
        clip: clip transformed values to ``feature_range`` (new data may fall outside it).
        copy: ``True`` (default): ``transform`` and ``inverse_transform`` return a new array.
            ``False``: they write the result into ``X`` and return it where ``X`` can hold it
            (a writeable float array, a float tensor that does not require grad), as
            scikit-learn's ``copy=False``; otherwise a new array comes back.
        axis: the axes the statistics are computed along. The default ``0`` is
            scikit-learn's layout: 2-D input, one statistic per column. Learned attributes
            have the shape of the remaining axes (``feature_shape_``).

    Parameters are stored as given and checked at fit time, as in scikit-learn.

    Attributes (after fitting):
        data_min_, data_max_: per-feature minimum and maximum (NaN ignored).
        data_range_: ``data_max_ - data_min_``.
        scale_, min_: the affine transform's factor and offset. A feature whose range is below
            ``10 * eps`` gets ``data_range`` treated as 1 (scikit-learn's constant-feature rule),
            so constant features map to ``lo``.
        n_samples_seen_: number of values per feature seen (rows for 2-D input), NaN included,
            as in scikit-learn.
        n_features_in_: number of features; ``feature_shape_``: their shape.

    Statistics are float64 whatever the input's dtype.

    Example:
        >>> scaler = MinMaxScaler().fit([[1.0, -1.0], [3.0, 1.0], [5.0, 3.0]])
        >>> scaler.data_min_, scaler.data_max_
        (array([ 1., -1.]), array([5., 3.]))
        >>> scaler.transform([[3.0, 5.0]])
        array([[0.5, 1.5]])
        >>> MinMaxScaler(clip=True).fit([[0.0], [10.0]]).transform([[20.0]])
        array([[1.]])
    """

    _param_names = ("feature_range", "clip", "copy", "axis")
    _param_defaults = {"feature_range": (0, 1), "clip": False, "copy": True, "axis": 0}
    _state_arrays = ("data_min_", "data_max_")

    def __init__(self, feature_range: tuple[float, float] = (0, 1), clip: bool = False, *, copy: bool = True,
                 axis=0):
        self.feature_range = feature_range
        self.clip = clip
        self.copy = copy
        self.axis = axis

    def _feature_range(self) -> tuple[float, float]:
        fr = self.feature_range
        if not (isinstance(fr, (tuple, list)) and len(fr) == 2
                and all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)
                        for v in fr)):
            raise ConfigError(f"feature_range must be a pair (min, max) of finite numbers; got {fr!r}")
        lo, hi = float(fr[0]), float(fr[1])
        if lo >= hi:
            raise ConfigError(f"Minimum of desired feature range must be smaller than maximum. Got {tuple(fr)!r}.")
        return lo, hi

    def _check_params(self) -> tuple[float, float]:
        lo_hi = self._feature_range()
        self._check_bool("clip", self.clip)
        self._check_bool("copy", self.copy)
        self._check_axis_param()
        return lo_hi

    def partial_fit(self, X, y=None) -> "MinMaxScaler":
        """Update the minimum and maximum with the batch ``X``; returns ``self``.

        Streaming in any number of batches gives the same result as one :meth:`fit` on their
        concatenation. NaN is ignored; a feature that was all-NaN in earlier batches takes its
        statistics from later ones (scikit-learn would keep NaN).

        Raises:
            ConfigError: bad parameters, empty or non-numeric ``X``, ±inf, wrong dimensions or
                a feature count that differs from earlier batches.
        """
        self._check_params()
        x, axes, feature_shape, first = self._prepare_fit(X)
        # fmin/fmax skip NaN; an all-NaN feature gets NaN, as in scikit-learn, without a warning.
        data_min = np.fmin.reduce(x, axis=axes)
        data_max = np.fmax.reduce(x, axis=axes)
        n = math.prod(x.shape[a] for a in axes)
        if first:
            n_seen = n
        else:
            # fmin/fmax skip NaN, so an all-NaN feature so far takes the new batch's values.
            data_min = np.fmin(self.data_min_, data_min)
            data_max = np.fmax(self.data_max_, data_max)
            n_seen = self.n_samples_seen_ + n
        return self._commit(first, axes, feature_shape, n_seen, {"data_min_": data_min, "data_max_": data_max})

    def _state_to_learned(self, n_seen, arrays):
        lo, hi = self._check_params()
        data_min = np.asarray(arrays["data_min_"], dtype=np.float64)
        data_max = np.asarray(arrays["data_max_"], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            if (data_min > data_max).any():
                raise ConfigError("state_dict 'data_min_' exceeds 'data_max_' for some feature")
        data_range = data_max - data_min
        scale = (hi - lo) / _handle_zeros_in_scale(data_range)
        return {"data_min_": data_min, "data_max_": data_max, "data_range_": data_range,
                "scale_": scale, "min_": lo - data_min * scale}

    def transform(self, X):
        """Scale ``X`` with the fitted statistics; NaN passes through. Returns X's type.

        Raises:
            NotFittedError: before ``fit``.
            ConfigError: bad input, or a feature count or shape that differs from the fit.
        """
        lo, hi = self._check_params()
        clip = bool(self.clip)

        def op(x, p, xp):
            x *= p["scale"]
            x += p["min"]
            if clip:
                if xp is np:
                    np.clip(x, lo, hi, out=x)
                else:
                    x.clamp_(lo, hi)

        return self._apply(X, {"scale": getattr(self, "scale_", None), "min": getattr(self, "min_", None)}, op,
                           self.copy)

    def inverse_transform(self, X):
        """Undo :meth:`transform`: ``(X - min_) / scale_``. Returns X's type."""
        self._check_params()

        def op(x, p, xp):
            x -= p["min"]
            x /= p["scale"]

        return self._apply(X, {"scale": getattr(self, "scale_", None), "min": getattr(self, "min_", None)}, op,
                           self.copy)

    def _params_state(self):
        lo, hi = self._check_params()
        return {"feature_range": [lo, hi], "clip": bool(self.clip), "axis": _axis_json(self.axis)}


def _axis_json(axis):
    return int(axis) if _is_int(axis) else [int(a) for a in axis]


class StandardScaler(_BaseScaler):
    """Standardise each feature: ``(X - mean_) / scale_`` with statistics learned in fitting.

    Behaves like ``sklearn.preprocessing.StandardScaler`` on 2-D ``(n_samples, n_features)``
    input (population variance, ``ddof=0``), and goes further: inputs may be lists, numpy
    arrays or torch tensors (results come back in the input's type, a list as numpy; tensors
    stay on their device), and ``axis`` chooses other layouts. For example, the per-channel
    mean and standard deviation of an image dataset, streamed batch by batch::

        scaler = StandardScaler(axis=(0, 2, 3))
        for images, _ in loader:            # images: N×C×H×W
            scaler.partial_fit(images)
        scaler.mean_, scaler.scale_          # one value per channel

    Streaming uses float64 accumulators merged with Chan et al.'s parallel formula, so any
    split into batches gives the same statistics as one fit (to rounding).

    Args:
        copy: ``True`` (default): ``transform`` and ``inverse_transform`` return a new array,
            even with both flags off. ``False``: they write the result into ``X`` and return it
            where ``X`` can hold it, as scikit-learn's ``copy=False`` (see :class:`MinMaxScaler`).
            Both methods take a ``copy`` argument that overrides it for one call.
        with_mean: subtract the mean in ``transform``.
        with_std: divide by the standard deviation in ``transform``.
        axis: the axes the statistics are computed along; the default ``0`` is scikit-learn's
            layout (2-D input, one statistic per column).

    Attributes (after fitting):
        mean_: per-feature mean (NaN ignored); ``None`` when both flags are off.
        var_: per-feature population variance; ``None`` when ``with_std=False``.
        scale_: ``sqrt(var_)``, with 1 for constant features (variance within the two-pass
            algorithm's rounding bound, scikit-learn's rule); ``None`` when ``with_std=False``.
        n_samples_seen_: non-NaN values seen per feature: an int while every feature has the
            same count, else an int array of ``feature_shape_`` (as scikit-learn).
        n_features_in_: number of features; ``feature_shape_``: their shape.

    A feature with no non-NaN value has NaN statistics, so its transformed values are NaN
    (scikit-learn does the same).

    Example:
        >>> scaler = StandardScaler().fit([[0.0, 10.0], [2.0, 10.0]])
        >>> scaler.mean_, scaler.scale_  # the constant second column gets scale 1
        (array([ 1., 10.]), array([1., 1.]))
        >>> scaler.transform([[4.0, 12.0]])
        array([[3., 2.]])
    """

    _param_names = ("copy", "with_mean", "with_std", "axis")
    _param_defaults = {"copy": True, "with_mean": True, "with_std": True, "axis": 0}
    _state_arrays = ("mean_", "var_")

    def __init__(self, *, copy: bool = True, with_mean: bool = True, with_std: bool = True, axis=0):
        self.copy = copy
        self.with_mean = with_mean
        self.with_std = with_std
        self.axis = axis

    def _check_params(self) -> None:
        self._check_bool("copy", self.copy)
        self._check_bool("with_mean", self.with_mean)
        self._check_bool("with_std", self.with_std)
        self._check_axis_param()

    def partial_fit(self, X, y=None) -> "StandardScaler":
        """Update the mean and variance with the batch ``X``; returns ``self``.

        Each batch's statistics are computed with the corrected two-pass algorithm in float64
        (the mean too: the mean of ``x - mean`` is added back, so a constant feature of 1e100
        gets 1e100 exactly, not 1e100 plus a rounding step) and merged with the running ones by
        Chan et al.'s formula. NaN is ignored, per feature.

        Raises:
            ConfigError: bad parameters, empty or non-numeric ``X``, ±inf, wrong dimensions or
                a feature count that differs from earlier batches.
        """
        self._check_params()
        x, axes, feature_shape, first = self._prepare_fit(X)
        nan = np.isnan(x)
        has_nan = bool(nan.any())
        n_total = math.prod(x.shape[a] for a in axes)
        counts_b = (n_total - nan.sum(axis=axes)) if has_nan else np.full(feature_shape, n_total)
        counts_b = counts_b.astype(np.int64)
        counts_a = np.zeros(feature_shape, np.int64) if first else np.broadcast_to(
            np.asarray(self.n_samples_seen_, dtype=np.int64), feature_shape)
        counts = counts_a + counts_b

        mean = var = None
        if self.with_mean or self.with_std:
            bshape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
            sum_op = np.nansum if has_nan else np.sum
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_b = sum_op(x, axis=axes) / counts_b
                # Corrected two-pass: the deviations' sum is the rounding error of mean_b; taking
                # it off the squares and adding it to the mean gives both about the corrected mean.
                diff = x - mean_b.reshape(bshape)
                correction = sum_op(diff, axis=axes)
                m2_b = sum_op(diff * diff, axis=axes) - correction ** 2 / counts_b if self.with_std else None
                mean_b = mean_b + correction / counts_b
                if first:
                    mean, m2 = mean_b, m2_b
                else:
                    mean, m2 = _chan_merge(counts_a, self.mean_, None if m2_b is None else self.var_ * counts_a,
                                           counts_b, mean_b, m2_b)
                if m2 is not None:
                    var = m2 / counts

        n_seen = _collapse_counts(counts)
        return self._commit(first, axes, feature_shape, n_seen, {"mean_": mean, "var_": var})

    def _state_to_learned(self, n_seen, arrays):
        self._check_params()
        mean, var = arrays["mean_"], arrays["var_"]
        need_mean = self.with_mean or self.with_std
        if (mean is None) == need_mean:
            raise ConfigError(f"state_dict 'mean_' must be {'a list' if need_mean else 'None'} for "
                              f"with_mean={self.with_mean}, with_std={self.with_std}")
        if (var is None) == self.with_std:
            raise ConfigError(f"state_dict 'var_' must be {'a list' if self.with_std else 'None'} for "
                              f"with_std={self.with_std}")
        scale = None
        if var is not None:
            with np.errstate(invalid="ignore"):
                if (var < 0).any():
                    raise ConfigError("state_dict 'var_' must not be negative")
                constant = _is_constant(var, mean, np.asarray(n_seen, dtype=np.float64), _EPS64)
            scale = _handle_zeros_in_scale(np.sqrt(var), constant_mask=constant)
        return {"mean_": mean, "var_": var, "scale_": scale}

    def transform(self, X, copy: bool | None = None):
        """Standardise ``X`` with the fitted statistics; NaN passes through. Returns X's type.

        ``copy`` overrides the scaler's ``copy`` parameter for this call (``None``: use it).

        Raises:
            NotFittedError: before ``fit``.
            ConfigError: bad input, a bad ``copy``, or a feature count or shape that differs
                from the fit.
        """
        with_mean, with_std, copy = self._transform_flags(copy)

        def op(x, p, xp):
            if with_mean:
                x -= p["mean"]
            if with_std:
                x /= p["scale"]

        return self._apply(X, self._transform_params(with_mean, with_std), op, copy)

    def inverse_transform(self, X, copy: bool | None = None):
        """Undo :meth:`transform`: ``X * scale_ + mean_``. Returns X's type; ``copy`` as there."""
        with_mean, with_std, copy = self._transform_flags(copy)

        def op(x, p, xp):
            if with_std:
                x *= p["scale"]
            if with_mean:
                x += p["mean"]

        return self._apply(X, self._transform_params(with_mean, with_std), op, copy)

    def _transform_flags(self, copy) -> tuple[bool, bool, bool]:
        self._check_params()
        return bool(self.with_mean), bool(self.with_std), _check_copy(self.copy if copy is None else copy)

    def _transform_params(self, with_mean: bool, with_std: bool) -> dict[str, Any]:
        return {"mean": getattr(self, "mean_", None) if with_mean else None,
                "scale": getattr(self, "scale_", None) if with_std else None}

    def _params_state(self):
        self._check_params()
        return {"with_mean": bool(self.with_mean), "with_std": bool(self.with_std), "axis": _axis_json(self.axis)}


def _chan_merge(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Merge two sets of (count, mean, sum of squared deviations) per feature.

    Chan, Golub & LeVeque's parallel formula. Features with no values on one side take the
    other side's statistics (NaN when both are empty).
    """
    n_a = np.asarray(n_a, dtype=np.float64)
    n_b = np.asarray(n_b, dtype=np.float64)
    n = n_a + n_b
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / n)
    mean = np.where(n_b == 0, mean_a, np.where(n_a == 0, mean_b, mean))
    if m2_b is None:
        return mean, None
    m2 = m2_a + m2_b + delta ** 2 * (n_a * n_b / n)
    m2 = np.where(n_b == 0, m2_a, np.where(n_a == 0, m2_b, m2))
    return mean, m2


# ----------------------------------------------------------------------------------------------
# The post's figures.


def normalize_demo(seed: int = 0, count: int = 50) -> dict[str, Any]:
    """Draw ``count`` values in [0, 20) and normalise them both ways, as the post's figures do.

    The values come from ``numpy.random.default_rng(seed).uniform(0, 20, count)``, so a seed
    gives the same numbers on every machine.

    Returns:
        A JSON-serialisable dict: ``seed``, ``count``, ``low``/``high`` (the drawing range) and,
        for each of ``original``, ``min_max`` and ``z_score``, a dict with ``values`` (list of
        floats) and their ``min``, ``max``, ``mean`` and ``std`` (population, ``ddof=0``).

    Raises:
        ConfigError: ``seed`` is not a non-negative int or ``count`` is not an int >= 2.

    Example:
        >>> result = normalize_demo(seed=0, count=50)
        >>> result["min_max"]["min"], result["min_max"]["max"]
        (0.0, 1.0)
    """
    if not _is_int(seed) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int; got {seed!r}")
    if not _is_int(count) or count < 2:
        raise ConfigError(f"count must be an int >= 2 (normalising fewer values shows nothing); got {count!r}")
    low, high = 0.0, 20.0
    original = np.random.default_rng(int(seed)).uniform(low, high, int(count))
    result: dict[str, Any] = {"seed": int(seed), "count": int(count), "low": low, "high": high}
    for name, values in (("original", original), ("min_max", min_max_normalize(original)),
                         ("z_score", z_score_normalize(original))):
        result[name] = {
            "values": values.tolist(),
            "min": float(values.min()),
            "max": float(values.max()),
            "mean": float(values.mean()),
            "std": float(values.std()),
        }
    return result


def _fmt(value: float, digits: int = 2) -> str:
    # round first and add 0.0 so that a mean of -1e-17 prints as 0.00, not -0.00
    return f"{round(float(value), digits) + 0.0:.{digits}f}"


def plot_normalize_demo(result: Mapping[str, Any], path: str | Path) -> Path:
    """Save three histograms side by side (original, min-max, z-score) as a PNG at ``path``.

    ``result`` is :func:`normalize_demo`'s output. The figure is drawn without pyplot (no
    display needed) and written atomically. Returns the path.

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
