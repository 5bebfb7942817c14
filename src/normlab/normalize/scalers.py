"""Streaming scalers in scikit-learn's style: :class:`MinMaxScaler` and :class:`StandardScaler`.

They learn float64 statistics once, or batch by batch with ``partial_fit``, and apply them to new
data in the input's type; the conventions they share with the functions are in
:mod:`normlab.normalize`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from normlab.errors import ConfigError, NormlabError
from normlab.normalize._backend import (
    EPS64,
    Input,
    as_param,
    check_copy,
    clip_,
    finish,
    is_constant,
    is_int,
    normalize_axes,
    validate_input,
    work_buffer,
)

_STATE_VERSION = 1


class NotFittedError(NormlabError, ValueError, AttributeError):
    """A scaler was used before ``fit`` or ``partial_fit``; a ``ValueError`` and ``AttributeError``
    like scikit-learn's ``NotFittedError``, so code written against scikit-learn catches it too."""


class _BaseScaler:
    """Machinery shared by the scalers: input checks, parameters, state dicts."""

    _param_names: tuple[str, ...] = ()
    _param_defaults: dict[str, Any] = {}
    # Learned attributes saved in the state dict besides feature_shape_ / n_features_in_ /
    # n_samples_seen_; the others are derived from them on load.
    _state_arrays: tuple[str, ...] = ()

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
        if not (is_int(axis) or isinstance(axis, (tuple, list)) and axis and all(is_int(a) for a in axis)):
            raise ConfigError(f"axis must be an int or a non-empty tuple of ints (the axes the statistics "
                              f"are computed along; 0 for (n_samples, n_features) data); got {axis!r}")

    @staticmethod
    def _check_bool(name: str, value: Any) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise ConfigError(f"{name} must be True or False; got {value!r}")

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

    def _check_input(self, X, *, reset: bool) -> tuple[Input, tuple[int, ...]]:
        """Validate ``X``; return it with the reduced axes. ``reset`` accepts any feature shape."""
        who = type(self).__name__
        inp = validate_input(X, "X", who)
        if reset:
            self._check_axis_param()
            if self.axis == 0 and len(inp.shape) == 1:
                raise ConfigError(f"{who} expects 2-D input (n_samples, n_features); got a 1-D array of "
                                  f"shape {inp.shape}. Reshape it with X.reshape(-1, 1) if it holds one "
                                  f"feature or X.reshape(1, -1) if it holds one sample.")
            axes = normalize_axes(self.axis, inp.shape)
            if len(axes) == len(inp.shape):
                raise ConfigError(f"axis={self.axis!r} reduces every axis of {len(inp.shape)}-D input of shape "
                                  f"{inp.shape}, leaving no feature axis; keep at least one (for example "
                                  f"axis=(0, 2, 3) keeps the channels of N×C×H×W images)")
            return inp, axes
        axes = self._axes
        ndim = len(axes) + len(self.feature_shape_)
        if len(inp.shape) != ndim:
            raise ConfigError(f"X is {len(inp.shape)}-D (shape {inp.shape}), but {who} was fitted on {ndim}-D input")
        kept = tuple(inp.shape[i] for i in range(ndim) if i not in axes)
        if kept != self.feature_shape_:
            if len(kept) == 1:
                raise ConfigError(f"X has {kept[0]} features, but {who} is expecting "
                                  f"{self.n_features_in_} features as input.")
            raise ConfigError(f"X has feature shape {kept} (the axes other than axis={self.axis!r}), but "
                              f"{who} was fitted on feature shape {self.feature_shape_}")
        return inp, axes

    def _apply(self, X, params: dict[str, Any], op, copy: bool):
        """Validate ``X`` against the fit, run ``op(work, params)`` and return X's type.

        ``op`` changes ``work`` in place: a new buffer, or X itself when ``copy`` is False and
        X can hold the result. ``params`` arrive shaped to broadcast, in ``work``'s library.
        """
        self._check_fitted()
        inp, axes = self._check_input(X, reset=False)
        bshape = tuple(1 if i in axes else n for i, n in enumerate(inp.shape))
        x = inp.compute()
        params = {k: None if v is None else as_param(v, bshape, x) for k, v in params.items()}
        work, target = work_buffer(inp, X, x, copy)
        op(work, params)
        return finish(work, inp, target)

    def _prepare_fit(self, X) -> tuple[np.ndarray, tuple[int, ...], tuple[int, ...], bool]:
        """Validate ``X`` for ``partial_fit``: float64 values, reduced axes, feature shape, first?"""
        first = not self._is_fitted()
        inp, axes = self._check_input(X, reset=first)
        x = inp.float64_numpy()
        feature_shape = tuple(n for i, n in enumerate(x.shape) if i not in axes)
        return x, axes, feature_shape, first

    def fit(self, X, y=None):
        """Forget any previous fit and learn the statistics of ``X``; returns ``self``. ``y`` is
        ignored (it exists for scikit-learn pipelines)."""
        self._reset()
        return self.partial_fit(X)

    def fit_transform(self, X, y=None):
        """Fit on ``X`` and return ``X`` transformed."""
        return self.fit(X).transform(X)

    def _params_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Return the fitted state as a plain, JSON-serialisable dict: the class name, a format
        version, the constructor parameters and the primary learned statistics. Derived
        attributes (such as ``scale_``) are recomputed on load, so a round trip reproduces them
        exactly. :class:`NotFittedError` before ``fit``.
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
        """Restore a fit from :meth:`state_dict`'s output (for example read back from JSON); returns
        ``self``. The state's parameters must equal this scaler's (:meth:`from_state_dict` builds
        a scaler with them); any mismatch or malformed value is a :class:`ConfigError`.
        """
        who = type(self).__name__
        if not isinstance(state, Mapping):
            raise ConfigError(f"{who}.load_state_dict expects a dict from state_dict(); got {type(state).__name__}")
        expected = {"class", "version", "params", "feature_shape_", "n_features_in_", "n_samples_seen_",
                    *self._state_arrays}
        missing = sorted(expected - set(state))
        unexpected = sorted(set(state) - expected, key=str)
        parts = [f"{kind} keys {keys}" for kind, keys in (("missing", missing), ("unexpected", unexpected)) if keys]
        if parts:
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
        if not (isinstance(shape, (list, tuple)) and shape and all(is_int(n) and n > 0 for n in shape)):
            raise ConfigError(f"state_dict 'feature_shape_' must be a non-empty list of positive ints; got {shape!r}")
        feature_shape = tuple(int(n) for n in shape)
        n_features = math.prod(feature_shape)
        if not is_int(state["n_features_in_"]) or state["n_features_in_"] != n_features:
            raise ConfigError(f"state_dict 'n_features_in_' is {state['n_features_in_']!r} but feature_shape_ "
                              f"{list(feature_shape)} holds {n_features} features")
        ndim = len(feature_shape) + (len(self.axis) if isinstance(self.axis, (tuple, list)) else 1)
        axes = normalize_axes(self.axis, (1,) * ndim)

        n_seen = state["n_samples_seen_"]
        if is_int(n_seen):
            if n_seen < 0:
                raise ConfigError(f"state_dict 'n_samples_seen_' must not be negative; got {n_seen}")
            n_seen = int(n_seen)
        else:
            n_seen = _state_array(state, "n_samples_seen_", feature_shape, dtype=np.int64)
            if (n_seen < 0).any():
                raise ConfigError("state_dict 'n_samples_seen_' must not hold negative counts")
        arrays = {name: _state_array(state, name, feature_shape) for name in self._state_arrays}
        return self._commit(True, axes, feature_shape, n_seen, arrays)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]):
        """Build a scaler with the parameters saved in ``state`` and load its fit."""
        if not isinstance(state, Mapping) or not isinstance(state.get("params"), Mapping):
            raise ConfigError(f"{cls.__name__}.from_state_dict expects a dict from state_dict() with a "
                              f"'params' dict; got {type(state).__name__}")
        # JSON turns the tuple parameters (axis, feature_range) into lists.
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in state["params"].items()}
        # copy is how transform treats its input, not part of the fit: states do not hold it.
        valid = [name for name in cls._param_names if name != "copy"]
        unknown = sorted(set(params) - set(valid), key=str)
        if unknown:
            raise ConfigError(f"state_dict 'params' has unknown parameters {unknown} for {cls.__name__}; "
                              f"valid: {', '.join(valid)}")
        return cls(**params).load_state_dict(state)

    def _commit(self, first: bool, axes, feature_shape, n_seen, arrays: dict[str, Any]):
        """Store merged or loaded statistics (and, when ``first``, the layout); return self.
        Nothing changes unless the statistics are valid."""
        learned = self._state_to_learned(n_seen, arrays)
        if first:
            self._reset()
            self._axes = axes
            self.feature_shape_ = feature_shape
            self.n_features_in_ = math.prod(feature_shape)
        for name, value in learned.items():
            setattr(self, name, value)
        self.n_samples_seen_ = n_seen
        return self

    def _state_to_learned(self, n_seen, arrays: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


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
    input, and also takes tensors and other layouts (``axis=(0, 2, 3)``: per channel of
    ``N×C×H×W`` images). ``transform`` computes ``X * scale_ + min_``.

    Args:
        feature_range: ``(lo, hi)`` with ``lo < hi``; the range the fitted data is mapped to.
        clip: clip transformed values to ``feature_range`` (new data may fall outside it).
        copy: ``False``: ``transform`` and ``inverse_transform`` write into ``X`` where it can
            hold the result, as scikit-learn's ``copy=False``.
        axis: the axes the statistics are computed along (``0``: one per column); learned
            attributes have the shape of the remaining axes (``feature_shape_``).

    Parameters are stored as given and checked at fit time, as in scikit-learn.

    Attributes (after fitting, float64):
        data_min_, data_max_, data_range_: per feature (NaN ignored).
        scale_, min_: the affine transform's factor and offset; a constant feature maps to ``lo``.
        n_samples_seen_: values per feature seen, NaN included, as in scikit-learn.
        n_features_in_: number of features; ``feature_shape_``: their shape.

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

    def __init__(self, feature_range: tuple[float, float] = (0, 1), clip: bool = False, *, copy: bool = True, axis=0):
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

        Any split into batches gives the same result as one :meth:`fit`. NaN is ignored; a feature
        that was all-NaN in earlier batches takes its statistics from later ones (scikit-learn
        would keep NaN). Bad parameters or input are a :class:`ConfigError`.
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
        # scikit-learn's rule: a range of (nearly) zero counts as 1, so constant features map to lo.
        scale = (hi - lo) / np.where(data_range < 10 * EPS64, 1.0, data_range)
        return {"data_min_": data_min, "data_max_": data_max, "data_range_": data_range,
                "scale_": scale, "min_": lo - data_min * scale}

    def transform(self, X):
        """Scale ``X`` with the fitted statistics; NaN passes through. Returns X's type.
        :class:`NotFittedError` before ``fit``; bad input or another feature shape is a
        :class:`ConfigError`."""
        lo, hi = self._check_params()
        clip = bool(self.clip)

        def op(x, p):
            x *= p["scale"]
            x += p["min"]
            if clip:
                clip_(x, lo, hi)

        return self._apply(X, self._affine_params(), op, self.copy)

    def inverse_transform(self, X):
        """Undo :meth:`transform`: ``(X - min_) / scale_``. Returns X's type."""
        self._check_params()

        def op(x, p):
            x -= p["min"]
            x /= p["scale"]

        return self._apply(X, self._affine_params(), op, self.copy)

    def _affine_params(self) -> dict[str, Any]:
        return {"scale": getattr(self, "scale_", None), "min": getattr(self, "min_", None)}

    def _params_state(self):
        lo, hi = self._check_params()
        return {"feature_range": [lo, hi], "clip": bool(self.clip), "axis": _axis_json(self.axis)}


def _axis_json(axis):
    return int(axis) if is_int(axis) else [int(a) for a in axis]


class StandardScaler(_BaseScaler):
    """Standardise each feature: ``(X - mean_) / scale_`` with statistics learned in fitting.

    Behaves like ``sklearn.preprocessing.StandardScaler`` on 2-D ``(n_samples, n_features)``
    input (population variance, ``ddof=0``), and also takes tensors and other layouts. For
    example, the per-channel mean and standard deviation of an image dataset, batch by batch::

        scaler = StandardScaler(axis=(0, 2, 3))
        for images, _ in loader:            # images: N×C×H×W
            scaler.partial_fit(images)
        scaler.mean_, scaler.scale_          # one value per channel

    Streaming uses float64 accumulators merged with Chan et al.'s parallel formula, so any
    split into batches gives the same statistics as one fit (to rounding).

    Args:
        copy: as in :class:`MinMaxScaler` (``True`` returns a new array even with both flags
            off); ``transform`` and ``inverse_transform`` take a ``copy`` that overrides it.
        with_mean: subtract the mean in ``transform``.
        with_std: divide by the standard deviation in ``transform``.
        axis: the axes the statistics are computed along (``0``: one per column).

    Attributes (after fitting):
        mean_: per-feature mean (NaN ignored); ``None`` when both flags are off.
        var_: per-feature population variance; ``None`` when ``with_std=False``.
        scale_: ``sqrt(var_)``, 1 for constant features; ``None`` when ``with_std=False``.
        n_samples_seen_: non-NaN values seen per feature: an int while every feature has the
            same count, else an int array of ``feature_shape_`` (as scikit-learn).
        n_features_in_: number of features; ``feature_shape_``: their shape.

    A feature with no non-NaN value has NaN statistics and NaN output, as in scikit-learn.

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

        Each batch's statistics come from the corrected two-pass algorithm in float64 (the mean
        too, so a constant feature of 1e100 gets 1e100 exactly) and are merged with the running
        ones by Chan et al.'s formula. NaN is ignored, per feature. Bad parameters or input are a
        :class:`ConfigError`.
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
                constant = is_constant(var, mean, np.asarray(n_seen, dtype=np.float64), EPS64)
            scale = np.where(constant, 1.0, np.sqrt(var))
        return {"mean_": mean, "var_": var, "scale_": scale}

    def transform(self, X, copy: bool | None = None):
        """Standardise ``X`` with the fitted statistics; NaN passes through. Returns X's type.
        ``copy`` overrides the scaler's for this call. :class:`NotFittedError` before ``fit``; bad
        input or another feature shape is a :class:`ConfigError`."""
        with_mean, with_std, copy = self._transform_flags(copy)

        def op(x, p):
            if with_mean:
                x -= p["mean"]
            if with_std:
                x /= p["scale"]

        return self._apply(X, self._transform_params(with_mean, with_std), op, copy)

    def inverse_transform(self, X, copy: bool | None = None):
        """Undo :meth:`transform`: ``X * scale_ + mean_``. Returns X's type; ``copy`` as there."""
        with_mean, with_std, copy = self._transform_flags(copy)

        def op(x, p):
            if with_std:
                x *= p["scale"]
            if with_mean:
                x += p["mean"]

        return self._apply(X, self._transform_params(with_mean, with_std), op, copy)

    def _transform_flags(self, copy) -> tuple[bool, bool, bool]:
        self._check_params()
        return bool(self.with_mean), bool(self.with_std), check_copy(self.copy if copy is None else copy)

    def _transform_params(self, with_mean: bool, with_std: bool) -> dict[str, Any]:
        return {"mean": getattr(self, "mean_", None) if with_mean else None,
                "scale": getattr(self, "scale_", None) if with_std else None}

    def _params_state(self):
        self._check_params()
        return {"with_mean": bool(self.with_mean), "with_std": bool(self.with_std), "axis": _axis_json(self.axis)}


def _chan_merge(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Merge two sets of (count, mean, sum of squared deviations) per feature by Chan, Golub &
    LeVeque's formula; a feature with no values on one side takes the other side's statistics."""
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
