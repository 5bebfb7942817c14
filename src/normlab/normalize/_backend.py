"""What the functions and the scalers share: input checks, axes, buffers, and numpy/torch dispatch
(:func:`reduce` and :func:`xp`), so that each statistic is written once for arrays and tensors."""

from __future__ import annotations

import math
import numbers
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from normlab.errors import ConfigError

EPS64 = float(np.finfo(np.float64).eps)


def is_tensor(data: Any) -> bool:
    """Whether ``data`` is a torch tensor."""
    # torch is only looked up, never imported: if the caller has not imported it, the input
    # cannot be a tensor, and the command line must not pay for importing it.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(data, torch.Tensor)


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def xp(x):
    """The module holding ``x``'s functions: ``numpy`` or ``torch``."""
    return sys.modules["torch"] if is_tensor(x) else np


def reduce(name: str, x, axes: tuple[int, ...]):
    """``name`` of ``x`` along ``axes``, which are kept.

    ``name`` is sum, nansum, amin, amax, mean, var (``ddof=0``), or fmin and fmax: the minimum
    and maximum skipping NaN, NaN where a slice holds nothing else (``x`` must be finite or NaN).
    """
    if is_tensor(x):
        if name in ("fmin", "fmax"):  # torch has no NaN-skipping minimum and maximum
            fill = math.inf if name == "fmin" else -math.inf
            out = reduce("amin" if name == "fmin" else "amax", x.nan_to_num(nan=fill, posinf=math.inf,
                                                                            neginf=-math.inf), axes)
            return out.masked_fill(out == fill, math.nan)  # only NaN in the slice: x holds no infinity
        return getattr(x, name)(dim=axes, keepdim=True, **({"correction": 0} if name == "var" else {}))
    if name in ("fmin", "fmax"):
        return getattr(np, name).reduce(x, axis=axes, keepdims=True)
    return getattr(np, name)(x, axis=axes, keepdims=True)


def to_numpy(x) -> np.ndarray:
    """``x`` as a numpy array on the CPU (a tensor detached from autograd)."""
    return x.detach().cpu().numpy() if is_tensor(x) else x


def astype_of(values, like):
    """``values`` converted to ``like``'s dtype (and device)."""
    return values.to(like.dtype) if is_tensor(like) else values.astype(like.dtype)


def as_param(value, shape: tuple[int, ...], like):
    """A float64 statistic reshaped to broadcast against ``like``, in ``like``'s library and dtype."""
    value = np.reshape(value, shape)
    return xp(like).as_tensor(value, dtype=like.dtype, device=like.device) if is_tensor(like) else value


def eps_of(x) -> float:
    """The machine epsilon of ``x``'s dtype."""
    return float(xp(x).finfo(x.dtype).eps)


def round_(x, decimals: int) -> None:
    """Round ``x`` in place (half to even)."""
    if is_tensor(x):
        x.round_(decimals=decimals)
    else:
        np.round(x, decimals, out=x)


def clip_(x, lo: float, hi: float) -> None:
    """Clip ``x`` to ``[lo, hi]`` in place."""
    if is_tensor(x):
        x.clamp_(lo, hi)
    else:
        np.clip(x, lo, hi, out=x)


@dataclass(frozen=True, eq=False)
class Input:
    """A validated input: ``values`` is a float64 numpy array or the original tensor; ``owned``
    says that it is a conversion no caller holds, which may therefore be overwritten."""

    values: Any
    is_tensor: bool
    out_dtype: Any
    shape: tuple[int, ...]
    owned: bool = False

    def compute(self):
        """The values in the computing dtype: float64, or a tensor's own dtype but float32 at least."""
        if not self.is_tensor:
            return self.values
        torch = sys.modules["torch"]
        # Half precision is too coarse for sums of many values.
        return self.values.to(torch.float64 if self.out_dtype == torch.float64 else torch.float32)

    def float64_numpy(self) -> np.ndarray:
        """The values as a float64 numpy array on the CPU (the scalers' statistics are float64)."""
        torch = sys.modules.get("torch")
        return self.values.detach().to("cpu", torch.float64).numpy() if self.is_tensor else self.values


def validate_input(data: Any, name: str, who: str) -> Input:
    """Check that ``data`` is a non-empty, at least 1-D, real array with no ±inf."""
    if is_tensor(data):
        torch = sys.modules["torch"]
        try:  # integer dtypes have an iinfo; complex ones do not
            real = data.is_floating_point() or data.dtype == torch.bool or torch.iinfo(data.dtype) is not None
        except TypeError:
            real = False
        if not real:
            raise ConfigError(f"{name} must hold real numbers; got a tensor of dtype {data.dtype}")
        is_float, shape, scalar = data.is_floating_point(), tuple(data.shape), "a 0-d tensor"
        out_dtype = data.dtype if is_float else torch.get_default_dtype()
        inp = Input(data, True, out_dtype, shape)
    else:
        try:
            arr = np.asarray(data)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name} must be a numeric array-like (list, nested lists of equal length, "
                              f"numpy array or torch tensor); numpy could not convert it: {exc}") from None
        if arr.dtype.kind not in "biuf":
            hint = " (mixed or missing values such as None or strings)" if arr.dtype.kind == "O" else ""
            raise ConfigError(f"{name} must hold real numbers; got {type(data).__name__} "
                              f"with dtype {arr.dtype}{hint}")
        is_float, shape = arr.dtype.kind == "f", arr.shape
        scalar = f"the scalar {arr.item()!r}" if arr.ndim == 0 else ""
        # No copy for float64 input here: work_buffer copies it only when the result needs a
        # buffer of its own. np.asarray always builds a new array from a list or tuple.
        values = arr.astype(np.float64, copy=False)
        owned = values is not arr or isinstance(data, (list, tuple))
        inp = Input(values, False, arr.dtype if is_float else np.dtype(np.float64), shape, owned)
    if not shape:
        raise ConfigError(f"{name} must have at least one dimension; got {scalar}. Wrap a single value in a list.")
    if math.prod(shape) == 0:
        raise ConfigError(f"{name} is empty (shape {shape}); {who} needs at least one value")
    if is_float:
        inf = xp(inp.values).isinf(inp.values)
        if bool(inf.any()):
            index = tuple(int(i) for i in np.argwhere(to_numpy(inf))[0])
            raise ConfigError(f"{name} contains infinity at index {index}; "
                              f"{who} accepts finite values and NaN (a missing value)")
    return inp


def normalize_axes(axis: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Turn ``axis`` (None, int or tuple of ints, negatives allowed) into sorted axes of ``shape``."""
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    if is_int(axis):
        items = (int(axis),)
    elif isinstance(axis, (tuple, list)) and all(is_int(a) for a in axis):
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


def check_copy(copy: Any) -> bool:
    """``copy`` as a bool; ConfigError unless it is one."""
    if not isinstance(copy, (bool, np.bool_)):
        raise ConfigError(f"copy must be True or False (False writes the result into the input where the "
                          f"input can hold it); got {copy!r}")
    return bool(copy)


def _can_write_into(data) -> bool:
    """Whether ``copy=False`` can put the result into ``data`` itself (see the package docstring)."""
    if is_tensor(data):
        torch = sys.modules["torch"]
        return (data.is_floating_point() and not data.requires_grad
                and not (data.is_inference() and not torch.is_inference_mode_enabled())
                # an expanded view shows one memory cell at many indices, which cannot hold them all
                and all(stride != 0 or size <= 1 for stride, size in zip(data.stride(), data.shape)))
    return isinstance(data, np.ndarray) and data.dtype.kind == "f" and data.flags.writeable


def work_buffer(inp: Input, data, x, copy: bool):
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


def finish(work, inp: Input, target):
    """The result in the input's type: ``target`` holding ``work``'s values, or ``work`` itself."""
    if target is None:
        return work.to(inp.out_dtype) if inp.is_tensor else work.astype(inp.out_dtype, copy=False)
    if inp.is_tensor:
        if work is not target:
            target.copy_(work)
    elif not np.may_share_memory(work, target):
        target[...] = work
    return target


def is_constant(var, mean, n, eps: float):
    """Where a variance is within the two-pass algorithm's rounding bound of zero (scikit-learn's
    ``_is_constant_feature``)."""
    return var <= n * eps * var + (n * mean * eps) ** 2
