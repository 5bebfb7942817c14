"""Tests of normlab.normalize's functions (the post's two normalisers); the scalers' are in
test_normalize_scalers.py."""

from __future__ import annotations

import doctest
import subprocess
import sys

import numpy as np
import pytest
import torch

import normlab.normalize as nz
from normlab.errors import ConfigError, NormlabError
from normlab.normalize import (
    MinMaxScaler,
    StandardScaler,
    min_max_normalize,
    z_score_normalize,
)

TOL = dict(rtol=1e-6, atol=1e-6)


def _data(shape, seed=0, nan_frac=0.0, constant_cols=(), loc=3.0, scale=2.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(loc, scale, shape)
    if nan_frac:
        x[rng.random(shape) < nan_frac] = np.nan
    for c in constant_cols:
        x[:, c] = 0.1  # 0.1 is not exact in binary: the computed variance is tiny, not zero
    return x


# ----------------------------------------------------------------------------------------------
# The post's functions.


AXIS_CASES = [
    ((50,), None),
    ((50,), 0),
    ((20, 4), None),
    ((20, 4), 0),
    ((20, 4), 1),
    ((20, 4), -1),
    ((4, 3, 5, 6), (0, 2, 3)),
    ((4, 3, 5, 6), (0, 1)),
    ((4, 3, 5, 6), [-1, 0]),
]


@pytest.mark.parametrize("shape,axis", AXIS_CASES)
def test_min_max_matches_numpy_formula(shape, axis):
    x = _data(shape, seed=1)
    ax = tuple(axis) if isinstance(axis, list) else axis
    lo = x.min(axis=ax, keepdims=True)
    hi = x.max(axis=ax, keepdims=True)
    expected = (x - lo) / (hi - lo)
    out = min_max_normalize(x, axis=axis)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert np.allclose(np.min(out, axis=ax), 0) and np.allclose(np.max(out, axis=ax), 1)


@pytest.mark.parametrize("shape,axis", AXIS_CASES)
def test_z_score_matches_numpy_formula(shape, axis):
    x = _data(shape, seed=2)
    ax = tuple(axis) if isinstance(axis, list) else axis
    expected = (x - x.mean(axis=ax, keepdims=True)) / x.std(axis=ax, keepdims=True)
    out = z_score_normalize(x, axis=axis)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.mean(axis=ax), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=ax), 1, atol=1e-12)  # population std (ddof=0)


def test_hand_computed_values():
    np.testing.assert_array_equal(min_max_normalize([2, 4, 6, 10]), [0.0, 0.25, 0.5, 1.0])
    np.testing.assert_allclose(z_score_normalize([2, 4, 4, 4, 5, 5, 7, 9]),
                               [-1.5, -0.5, -0.5, -0.5, 0.0, 0.0, 1.0, 2.0], atol=1e-15)
    # ddof=0: std of [1, 3] is 1, so the z-scores are exactly -1 and 1 (ddof=1 would give ±0.707)
    np.testing.assert_array_equal(z_score_normalize([1.0, 3.0]), [-1.0, 1.0])


def _post_min_max(data_points):
    # The post's loop, kept as the reference the vectorised version must reproduce.
    data_points = np.array(data_points)
    minimum, maximum = min(data_points), max(data_points)
    return [round((x - minimum) / (maximum - minimum), 2) for x in data_points]


def _post_z_score(data_points):
    data_points = np.array(data_points)
    mean, std = np.mean(data_points), np.std(data_points)
    return [round((x - mean) / std, 2) for x in data_points]


@pytest.mark.parametrize("seed", range(5))
def test_post_rounding_is_reproduced(seed):
    rng = np.random.default_rng(seed)
    for data in (rng.uniform(0, 20, 50), rng.integers(0, 20, 50), rng.normal(0, 100, 200)):
        as_list = data.tolist()
        mm = min_max_normalize(as_list, decimals=2)
        zs = z_score_normalize(as_list, decimals=2)
        np.testing.assert_array_equal(mm, _post_min_max(as_list))
        np.testing.assert_array_equal(zs, _post_z_score(as_list))
        np.testing.assert_allclose(mm * 100, np.round(mm * 100), atol=1e-9)  # really two decimals


def test_decimals_zero_and_negative():
    np.testing.assert_array_equal(z_score_normalize([1, 2, 4], decimals=0), [-1.0, -0.0, 1.0])
    np.testing.assert_array_equal(min_max_normalize(np.array([0.0, 73.0, 100.0]) * 1, decimals=-1),
                                  [0.0, 0.0, 0.0])  # 0.73 rounds to 0 at tens


def test_type_and_dtype_preservation():
    lst = [[1, 2], [3, 4], [5, 7]]
    out = min_max_normalize(lst)
    assert type(out) is np.ndarray and out.dtype == np.float64 and out.shape == (3, 2)
    assert type(z_score_normalize((1, 2, 3))) is np.ndarray

    for dtype, expected in ((np.float32, np.float32), (np.float64, np.float64), (np.float16, np.float16),
                            (np.int64, np.float64), (np.uint8, np.float64), (np.bool_, np.float64)):
        arr = np.array([0, 1, 1, 0, 1], dtype=dtype)
        for fn in (min_max_normalize, z_score_normalize):
            res = fn(arr)
            assert type(res) is np.ndarray and res.dtype == expected, (fn.__name__, dtype)

    t32 = torch.tensor([[1.0, 2.0], [3.0, 5.0]])
    for fn in (min_max_normalize, z_score_normalize):
        res = fn(t32, axis=0)
        assert isinstance(res, torch.Tensor) and res.dtype == torch.float32 and res.device == t32.device
        np.testing.assert_allclose(res.numpy(), fn(t32.numpy(), axis=0), rtol=1e-6, atol=1e-6)
        assert fn(t32.double()).dtype == torch.float64
        assert fn(t32.half()).dtype == torch.float16
        assert fn(torch.tensor([1, 2, 3])).dtype == torch.get_default_dtype()
        assert fn(torch.tensor([True, False])).dtype == torch.get_default_dtype()


def test_input_is_not_modified():
    arr = np.array([3.0, 1.0, 2.0])
    t = torch.tensor([3.0, 1.0, 2.0])
    for fn in (min_max_normalize, z_score_normalize):
        fn(arr)
        fn(t)
    np.testing.assert_array_equal(arr, [3.0, 1.0, 2.0])
    assert t.tolist() == [3.0, 1.0, 2.0]


@pytest.mark.parametrize("shape,axis", AXIS_CASES)
def test_torch_matches_numpy(shape, axis):
    x = _data(shape, seed=3, nan_frac=0.1)
    t = torch.tensor(x)
    for fn in (min_max_normalize, z_score_normalize):
        res = fn(t, axis=axis)
        assert res.dtype == torch.float64
        np.testing.assert_allclose(res.numpy(), fn(x, axis=axis), rtol=1e-12, atol=1e-12, equal_nan=True)
        res32 = fn(t.float(), axis=axis)
        np.testing.assert_allclose(res32.numpy(), fn(x, axis=axis), rtol=1e-4, atol=1e-5, equal_nan=True)


def test_torch_keeps_autograd():
    t = torch.tensor([1.0, 2.0, 4.0], requires_grad=True)
    z_score_normalize(t).pow(2).sum().backward()
    assert t.grad is not None and torch.isfinite(t.grad).all()


def test_nan_is_ignored_and_passed_through():
    x = np.array([[1.0, 10.0], [np.nan, 30.0], [3.0, np.nan], [5.0, 20.0]])
    mm = min_max_normalize(x, axis=0)
    np.testing.assert_array_equal(np.isnan(mm), np.isnan(x))
    np.testing.assert_allclose(mm[[0, 2, 3], 0], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(mm[[0, 1, 3], 1], [0.0, 1.0, 0.5])
    zs = z_score_normalize(x, axis=0)
    col = np.array([1.0, 3.0, 5.0])
    np.testing.assert_allclose(zs[[0, 2, 3], 0], (col - col.mean()) / col.std())
    np.testing.assert_array_equal(np.isnan(zs), np.isnan(x))
    # an all-NaN slice has no statistics: its output stays NaN, the others are unaffected
    y = np.array([[np.nan, 1.0], [np.nan, 3.0]])
    out = z_score_normalize(y, axis=0)
    assert np.isnan(out[:, 0]).all() and out[:, 1].tolist() == [-1.0, 1.0]
    tout = min_max_normalize(torch.tensor(y), axis=0)
    assert torch.isnan(tout[:, 0]).all() and tout[:, 1].tolist() == [0.0, 1.0]


def test_constant_data_is_scaled_by_one():
    for data in ([7, 7, 7], np.full((3, 4), 0.1), [0.1] * 1000, torch.full((5,), 0.1)):
        for fn in (min_max_normalize, z_score_normalize):
            out = np.asarray(fn(data))
            # exactly x - mean: 0 up to the rounding of the mean (~1e-17 here), as in sklearn
            np.testing.assert_allclose(out, 0.0, atol=1e-12, err_msg=fn.__name__)
    # one constant column among varying ones
    x = _data((30, 3), constant_cols=(1,))
    np.testing.assert_allclose(z_score_normalize(x, axis=0)[:, 1], 0.0, atol=1e-12)
    np.testing.assert_array_equal(min_max_normalize(x, axis=0)[:, 1], 0.0)
    assert np.allclose(z_score_normalize(x, axis=0)[:, 0].std(), 1.0)


def test_functions_agree_with_scalers():
    x = _data((40, 5), seed=4, nan_frac=0.1, constant_cols=(2,))
    np.testing.assert_allclose(min_max_normalize(x, axis=0), MinMaxScaler().fit_transform(x), equal_nan=True,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(z_score_normalize(x, axis=0), StandardScaler().fit_transform(x), equal_nan=True,
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("fn", [min_max_normalize, z_score_normalize])
@pytest.mark.parametrize("data,fragment", [
    ([], "empty"),
    (np.zeros((0, 3)), "empty"),
    (torch.zeros(2, 0), "empty"),
    (["a", "b"], "real numbers"),
    ([1.0, None], "real numbers"),
    ([[1, 2], [3]], "numeric array-like"),
    (np.array([1 + 2j, 3j]), "real numbers"),
    (torch.tensor([1 + 2j]), "real numbers"),
    (5.0, "at least one dimension"),
    ([1.0, float("inf")], "infinity at index (1,)"),
    (np.array([[1.0, 2.0], [-np.inf, 0.0]]), "infinity at index (1, 0)"),
    (torch.tensor([0.0, -float("inf")]), "infinity at index (1,)"),
])
def test_bad_data_raises(fn, data, fragment):
    with pytest.raises(ConfigError, match="data") as info:
        fn(data)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, NormlabError)


@pytest.mark.parametrize("fn", [min_max_normalize, z_score_normalize])
@pytest.mark.parametrize("axis,fragment", [
    (2, "axis 2 is out of range for 2-D input"),
    (-3, "axis -3 is out of range"),
    ((0, 0), "same axis twice"),
    ((0, -2), "same axis twice"),
    ("0", "axis must be None, an int or a tuple of ints"),
    (1.0, "axis must be None"),
    (True, "axis must be None"),
    ((), "names no axis"),
])
def test_bad_axis_raises(fn, axis, fragment):
    with pytest.raises(ConfigError) as info:
        fn(np.ones((3, 4)), axis=axis)
    assert fragment in str(info.value)


@pytest.mark.parametrize("decimals", ["2", 1.5, True])
def test_bad_decimals_raises(decimals):
    with pytest.raises(ConfigError, match="decimals must be None or an int"):
        min_max_normalize([1, 2], decimals=decimals)


def test_docstring_examples_run():
    results = [doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
               for module in (nz, nz.functions, nz.scalers)]
    assert sum(r.attempted for r in results) >= 10 and sum(r.failed for r in results) == 0


def test_import_does_not_import_torch():
    code = "import sys, normlab.normalize; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
