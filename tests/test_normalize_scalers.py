"""Tests of normlab.normalize's scalers: pinned to scikit-learn, streaming, errors, state dicts."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

sklearn_preprocessing = pytest.importorskip("sklearn.preprocessing", reason="scikit-learn is a test dependency")

from normlab.errors import ConfigError, NormlabError
from normlab.normalize import MinMaxScaler, NotFittedError, StandardScaler, min_max_normalize, z_score_normalize
from test_normalize import TOL, _data

# ----------------------------------------------------------------------------------------------
# Scalers against scikit-learn.

SHAPES = [(1, 1), (2, 3), (10, 1), (50, 4), (200, 7)]


def _assert_same_minmax(ours, ref):
    for name in ("data_min_", "data_max_", "data_range_", "scale_", "min_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), err_msg=name, **TOL)
    assert ours.n_samples_seen_ == ref.n_samples_seen_
    assert ours.n_features_in_ == ref.n_features_in_


def _assert_same_standard(ours, ref):
    for name in ("mean_", "var_", "scale_"):
        a, b = getattr(ours, name), getattr(ref, name)
        if b is None:
            assert a is None, name
        else:
            np.testing.assert_allclose(a, b, err_msg=name, **TOL)
    np.testing.assert_array_equal(ours.n_samples_seen_, ref.n_samples_seen_)
    assert np.ndim(ours.n_samples_seen_) == np.ndim(ref.n_samples_seen_)
    assert ours.n_features_in_ == ref.n_features_in_


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("variant", ["plain", "nan", "constant", "nan+constant"])
@pytest.mark.parametrize("feature_range", [(0, 1), (-1, 1), (2.5, 7)])
def test_minmax_matches_sklearn(shape, variant, feature_range):
    x = _data(shape, seed=sum(shape), nan_frac=0.15 if "nan" in variant else 0.0,
              constant_cols=(0,) if "constant" in variant else ())
    ours = MinMaxScaler(feature_range=feature_range).fit(x)
    ref = sklearn_preprocessing.MinMaxScaler(feature_range=feature_range).fit(x)
    _assert_same_minmax(ours, ref)
    new = _data((13, shape[1]), seed=99, loc=4.0, scale=5.0, nan_frac=0.1)
    np.testing.assert_allclose(ours.transform(x), ref.transform(x), **TOL)
    np.testing.assert_allclose(ours.transform(new), ref.transform(new), **TOL)
    np.testing.assert_allclose(ours.inverse_transform(new), ref.inverse_transform(new), **TOL)
    _assert_roundtrip(ours, new)
    np.testing.assert_allclose(MinMaxScaler(feature_range=feature_range).fit_transform(x),
                               ref.fit_transform(x), **TOL)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning:sklearn")
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("variant", ["plain", "nan", "constant", "nan+constant"])
@pytest.mark.parametrize("with_mean,with_std", [(True, True), (False, True), (True, False), (False, False)])
def test_standard_matches_sklearn(shape, variant, with_mean, with_std):
    x = _data(shape, seed=sum(shape) + 1, nan_frac=0.15 if "nan" in variant else 0.0,
              constant_cols=(0,) if "constant" in variant else ())
    ours = StandardScaler(with_mean=with_mean, with_std=with_std).fit(x)
    ref = sklearn_preprocessing.StandardScaler(with_mean=with_mean, with_std=with_std).fit(x)
    _assert_same_standard(ours, ref)
    new = _data((13, shape[1]), seed=98, loc=-1.0, scale=3.0, nan_frac=0.1)
    np.testing.assert_allclose(ours.transform(x), ref.transform(x), **TOL)
    np.testing.assert_allclose(ours.transform(new), ref.transform(new), **TOL)
    np.testing.assert_allclose(ours.inverse_transform(new), ref.inverse_transform(new), **TOL)
    _assert_roundtrip(ours, new)


def _assert_roundtrip(scaler, new):
    back = scaler.inverse_transform(scaler.transform(new))
    stat = getattr(scaler, "data_min_", None)
    if stat is None:
        stat = scaler.mean_ if scaler.mean_ is not None else np.zeros(new.shape[1])
    known = ~np.isnan(stat)  # a feature that was all-NaN in fitting has no statistics
    np.testing.assert_allclose(back[:, known], new[:, known], **TOL)
    assert np.isnan(back[:, ~known]).all()


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning:sklearn")
@pytest.mark.parametrize("n_chunks", [1, 2, 5, 17])
@pytest.mark.parametrize("variant", ["plain", "nan", "nan+constant"])
def test_streaming_matches_sklearn_partial_fit_and_full_fit(n_chunks, variant):
    x = _data((120, 6), seed=n_chunks, nan_frac=0.2 if "nan" in variant else 0.0,
              constant_cols=(3,) if "constant" in variant else ())
    chunks = np.array_split(x, n_chunks)
    for ours, ref, check in (
        (MinMaxScaler(), sklearn_preprocessing.MinMaxScaler(), _assert_same_minmax),
        (StandardScaler(), sklearn_preprocessing.StandardScaler(), _assert_same_standard),
    ):
        for chunk in chunks:
            assert ours.partial_fit(chunk) is ours
            ref.partial_fit(chunk)
        check(ours, ref)
        full = type(ours)().fit(x)
        check(ours, full)
        np.testing.assert_allclose(ours.transform(x), full.transform(x), rtol=1e-12, atol=1e-12)


def test_streaming_is_numerically_stable():
    # A large offset defeats naive sum-of-squares accumulation; Chan's merge keeps the variance.
    rng = np.random.default_rng(5)
    x = 1e8 + rng.normal(0, 1e-2, (3000, 2))
    scaler = StandardScaler()
    for chunk in np.array_split(x, 30):
        scaler.partial_fit(chunk)
    np.testing.assert_allclose(scaler.var_, x.var(axis=0), rtol=1e-6)
    np.testing.assert_allclose(scaler.mean_, x.mean(axis=0), rtol=1e-15)


def test_nan_counts_are_per_feature_like_sklearn():
    x = np.array([[1.0, np.nan], [2.0, 5.0], [np.nan, 7.0], [4.0, 8.0]])
    scaler = StandardScaler().fit(x)
    np.testing.assert_array_equal(scaler.n_samples_seen_, [3, 3])
    assert isinstance(scaler.n_samples_seen_, int)  # equal counts collapse to an int, as sklearn
    x[0, 0] = np.nan
    scaler.fit(x)
    np.testing.assert_array_equal(scaler.n_samples_seen_, [2, 3])
    assert scaler.n_samples_seen_.dtype == np.int64
    out = scaler.transform(x)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(x))
    assert MinMaxScaler().fit(x).n_samples_seen_ == 4  # sklearn's MinMaxScaler counts rows


def test_constant_and_near_constant_features_get_scale_one():
    x = np.column_stack([np.full(1000, 0.1), np.full(1000, 5.0), np.arange(1000.0)])
    std = StandardScaler().fit(x)
    ref = sklearn_preprocessing.StandardScaler().fit(x)
    np.testing.assert_array_equal(std.scale_[:2], [1.0, 1.0])
    np.testing.assert_array_equal(std.scale_[:2], ref.scale_[:2])
    np.testing.assert_allclose(std.transform(x), ref.transform(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(std.transform(x)[:, :2], 0.0, atol=1e-12)
    mm = MinMaxScaler(feature_range=(-1, 1)).fit(x)
    np.testing.assert_array_equal(mm.scale_[:2], [2.0, 2.0])
    np.testing.assert_array_equal(mm.transform(x)[:, :2], -1.0)  # maps to the range's lower end


@pytest.mark.parametrize("value", [1e100, 1e20, -3e150, 0.1])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_standard_scaler_large_constant_feature_maps_to_zero(value, backend):
    # scikit-learn's StandardScaler gives 1.9e84 for a column of 1e100 (its mean is a rounding
    # step off); the corrected mean is exact, so the module's rule "constant maps to 0" holds.
    x = np.column_stack([np.full(1000, value), np.linspace(0.0, 1.0, 1000)])
    xin = torch.tensor(x) if backend == "torch" else x
    scaler = StandardScaler().fit(xin)
    assert scaler.mean_[0] == value and scaler.scale_[0] == 1.0
    out = np.asarray(scaler.transform(xin))
    np.testing.assert_array_equal(out[:, 0], 0.0)
    # streamed in uneven batches too
    streamed = StandardScaler()
    for start in range(0, 1000, 333):
        streamed.partial_fit(xin[start:start + 333])
    assert streamed.mean_[0] == value
    np.testing.assert_allclose(streamed.var_, scaler.var_, rtol=1e-12, atol=0)
    assert StandardScaler(with_std=False).fit(xin).mean_[0] == value


@pytest.mark.parametrize("data", [
    pytest.param(lambda: np.random.default_rng(0).normal(size=(100, 3)) * 1e100, id="1e100*randn"),
    pytest.param(lambda: 1e5 + np.random.default_rng(0).normal(size=(100_000, 3)), id="1e5+randn"),
    pytest.param(lambda: torch.rand(64, 3, 28, 28, generator=torch.Generator().manual_seed(0)) * 255,
                 id="float32 images"),
    pytest.param(lambda: torch.rand(64, 3, 8, 8, generator=torch.Generator().manual_seed(0)).half() * 255,
                 id="float16 images"),
])
def test_second_centring_is_quiet_for_ordinary_data(data):
    # The check is on the standardised result, so large values with a spread to match are not
    # flagged (scikit-learn's scale warns for 1e100 * randn), nor is float32 rounding.
    x = data()
    axis = (0, 2, 3) if x.ndim == 4 else 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = z_score_normalize(x, axis=axis)
    out = np.asarray(out.float() if isinstance(out, torch.Tensor) else out)
    np.testing.assert_allclose(out.mean(axis=axis), 0.0, atol=1e-4 if isinstance(x, torch.Tensor) else 1e-8)


def test_second_centring_warns_at_the_callers_line():
    with pytest.warns(UserWarning, match="Numerical issues were encountered when centering the data") as caught:
        out = z_score_normalize(np.full((1000, 2), 1e20), axis=0)
    assert caught[0].filename == __file__
    assert "1e20 repeated" in str(caught[0].message)
    # like scikit-learn, data whose spread is 1e-10 of its size warns as well
    with pytest.warns(UserWarning, match="Numerical issues"):
        z_score_normalize(1e10 + np.random.default_rng(0).normal(size=100))
    np.testing.assert_array_equal(out, 0.0)
    # a NaN among the large values changes nothing; an all-NaN column stays NaN without a warning
    x = np.full((1000, 3), 1e20)
    x[5, 0] = np.nan
    x[:, 2] = np.nan
    with pytest.warns(UserWarning, match="Numerical issues"):
        out = z_score_normalize(x, axis=0)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(x))
    np.testing.assert_array_equal(out[~np.isnan(x)], 0.0)


def test_all_nan_feature_like_sklearn():
    x = np.array([[np.nan, 1.0], [np.nan, 2.0]])
    for ours, ref in ((MinMaxScaler(), sklearn_preprocessing.MinMaxScaler()),
                      (StandardScaler(), sklearn_preprocessing.StandardScaler())):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # sklearn's nanmin warns on all-NaN
            ref.fit(x)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # ours stays quiet about all-NaN features
            ours.fit(x)
            ours.transform(x)
        np.testing.assert_allclose(ours.scale_, ref.scale_, equal_nan=True)
        np.testing.assert_allclose(ours.transform(x), ref.transform(x), equal_nan=True)


def test_minmax_streaming_recovers_from_all_nan_chunk():
    # sklearn keeps NaN forever once a feature's first batch was all-NaN (np.minimum); we use
    # np.fmin so later batches fill it in, as fitting all at once would.
    a = np.array([[np.nan, 1.0], [np.nan, 2.0]])
    b = np.array([[3.0, 0.0], [5.0, 4.0]])
    streamed = MinMaxScaler().partial_fit(a).partial_fit(b)
    full = MinMaxScaler().fit(np.vstack([a, b]))
    np.testing.assert_array_equal(streamed.data_min_, [3.0, 0.0])
    np.testing.assert_array_equal(streamed.data_max_, full.data_max_)
    std = StandardScaler().partial_fit(a).partial_fit(b)
    np.testing.assert_allclose(std.mean_, [4.0, 1.75])
    np.testing.assert_array_equal(std.n_samples_seen_, [2, 4])


def test_clip():
    x = np.array([[0.0, 10.0], [10.0, 20.0]])
    new = np.array([[-5.0, 15.0], [20.0, 30.0], [np.nan, 0.0]])
    ours = MinMaxScaler(feature_range=(-1, 1), clip=True).fit(x)
    ref = sklearn_preprocessing.MinMaxScaler(feature_range=(-1, 1), clip=True).fit(x)
    np.testing.assert_allclose(ours.transform(new), ref.transform(new), equal_nan=True)
    np.testing.assert_array_equal(ours.transform(new)[:2], [[-1.0, 0.0], [1.0, 1.0]])
    assert np.isnan(ours.transform(new)[2, 0])
    unclipped = MinMaxScaler(feature_range=(-1, 1)).fit(x).transform(new)
    assert unclipped[0, 0] == -2.0 and unclipped[1, 1] == 3.0
    clipped_t = ours.transform(torch.tensor(new))
    assert torch.equal(torch.nan_to_num(clipped_t, 9.0), torch.tensor([[-1.0, 0.0], [1.0, 1.0], [9.0, -1.0]],
                                                                      dtype=torch.float64))


def test_integer_and_float32_input():
    xi = np.array([[1, 2], [3, 6], [5, 4]], dtype=np.int32)
    for ours, ref in ((MinMaxScaler(), sklearn_preprocessing.MinMaxScaler()),
                      (StandardScaler(), sklearn_preprocessing.StandardScaler())):
        out = ours.fit_transform(xi)
        assert out.dtype == np.float64
        np.testing.assert_allclose(out, ref.fit_transform(xi), **TOL)
        out32 = ours.fit_transform(xi.astype(np.float32))
        assert out32.dtype == np.float32 == ref.fit_transform(xi.astype(np.float32)).dtype
        lst = ours.fit_transform(xi.tolist())
        assert type(lst) is np.ndarray and lst.dtype == np.float64
        assert ours.inverse_transform(out).dtype == np.float64
        np.testing.assert_allclose(ours.inverse_transform(out), xi, **TOL)


def test_input_not_modified_by_scalers():
    x = _data((20, 3), nan_frac=0.1)
    copy = x.copy()
    for scaler in (MinMaxScaler(), StandardScaler()):
        scaler.fit(x)
        scaler.transform(x)
        scaler.inverse_transform(x)
    np.testing.assert_array_equal(x, copy)


def test_fit_resets_but_partial_fit_accumulates():
    a, b = _data((10, 3), seed=1), _data((10, 3), seed=2)
    scaler = StandardScaler().fit(a)
    scaler.fit(b)
    np.testing.assert_allclose(scaler.mean_, b.mean(axis=0), rtol=1e-12)
    assert scaler.n_samples_seen_ == 10
    scaler.fit(_data((5, 4)))  # fit forgets the old feature count too
    assert scaler.n_features_in_ == 4


# ----------------------------------------------------------------------------------------------
# torch tensors and the channel (axis) mode.


def test_scalers_accept_tensors():
    x = _data((30, 4), seed=7, nan_frac=0.1)
    t32 = torch.tensor(x, dtype=torch.float32)
    for scaler in (MinMaxScaler(), StandardScaler()):
        ref = type(scaler)().fit(x)
        scaler.fit(t32)
        out = scaler.transform(t32)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.device == t32.device
        np.testing.assert_allclose(out.numpy(), ref.transform(t32.numpy()), rtol=1e-5, atol=1e-5, equal_nan=True)
        back = scaler.inverse_transform(out)
        assert isinstance(back, torch.Tensor)
        np.testing.assert_allclose(back.numpy(), t32.numpy(), rtol=1e-5, atol=1e-5, equal_nan=True)
        assert scaler.transform(torch.tensor(x)).dtype == torch.float64
        assert scaler.transform(torch.ones(2, 4, dtype=torch.int64)).dtype == torch.get_default_dtype()
        assert isinstance(scaler.mean_ if hasattr(scaler, "mean_") else scaler.data_min_, np.ndarray)


def test_channel_mode_streaming_matches_direct_statistics():
    rng = np.random.default_rng(8)
    images = rng.normal(0, 1, (24, 3, 5, 6)) * np.array([1.0, 5.0, 0.5])[:, None, None] \
        + np.array([0.0, 10.0, -3.0])[:, None, None]
    scaler = StandardScaler(axis=(0, 2, 3))
    for batch in np.array_split(images, 5):
        scaler.partial_fit(torch.tensor(batch, dtype=torch.float32))
    assert scaler.feature_shape_ == (3,) and scaler.n_features_in_ == 3
    assert scaler.n_samples_seen_ == 24 * 5 * 6  # values per channel
    np.testing.assert_allclose(scaler.mean_, images.astype(np.float32).mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scaler.scale_, images.astype(np.float32).std(axis=(0, 2, 3)), rtol=1e-5)
    out = scaler.transform(torch.tensor(images))
    np.testing.assert_allclose(out.mean(dim=(0, 2, 3)).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(dim=(0, 2, 3), correction=0).numpy(), 1.0, atol=1e-5)
    np.testing.assert_allclose(out.numpy(), z_score_normalize(images, axis=(0, 2, 3)), atol=1e-5)
    # reduced axes may change size after fitting: only the channel count is fixed
    assert scaler.transform(np.zeros((2, 3, 7, 7))).shape == (2, 3, 7, 7)
    with pytest.raises(ConfigError, match="X has 4 features, but StandardScaler is expecting 3"):
        scaler.transform(np.zeros((2, 4, 5, 6)))

    mm = MinMaxScaler(axis=(0, 2, 3)).fit(images)
    np.testing.assert_allclose(mm.transform(images), min_max_normalize(images, axis=(0, 2, 3)), rtol=1e-12)


def test_nd_input_with_default_axis_keeps_trailing_shape():
    x = _data((10, 3, 2), seed=9)
    scaler = StandardScaler().fit(x)
    assert scaler.feature_shape_ == (3, 2) and scaler.n_features_in_ == 6 and scaler.mean_.shape == (3, 2)
    np.testing.assert_allclose(scaler.transform(x), z_score_normalize(x, axis=0), rtol=1e-10, atol=1e-10)
    with pytest.raises(ConfigError, match=r"feature shape \(3, 3\).*fitted on feature shape \(3, 2\)"):
        scaler.transform(np.zeros((4, 3, 3)))


# ----------------------------------------------------------------------------------------------
# Errors.


@pytest.mark.parametrize("cls", [MinMaxScaler, StandardScaler])
def test_not_fitted(cls):
    scaler = cls()
    assert not hasattr(scaler, "n_samples_seen_") and not hasattr(scaler, "scale_")
    for call in (scaler.transform, scaler.inverse_transform):
        with pytest.raises(NotFittedError, match=f"This {cls.__name__} instance is not fitted yet"):
            call([[1.0, 2.0]])
    with pytest.raises(NotFittedError):
        scaler.state_dict()
    err = NotFittedError("x")
    assert isinstance(err, ValueError) and isinstance(err, AttributeError) and isinstance(err, NormlabError)


@pytest.mark.parametrize("cls", [MinMaxScaler, StandardScaler])
def test_feature_count_change(cls):
    scaler = cls().fit(np.ones((5, 4)))
    for call in (scaler.transform, scaler.inverse_transform, scaler.partial_fit):
        with pytest.raises(ConfigError, match=f"X has 3 features, but {cls.__name__} is expecting 4 features"):
            call(np.ones((5, 3)))
    with pytest.raises(ConfigError, match=r"X is 3-D \(shape \(5, 4, 1\)\), but .* fitted on 2-D input"):
        scaler.transform(np.ones((5, 4, 1)))
    assert scaler.n_samples_seen_ == 5  # the failed partial_fit changed nothing


@pytest.mark.parametrize("cls", [MinMaxScaler, StandardScaler])
@pytest.mark.parametrize("X,fragment", [
    (np.zeros((0, 3)), "X is empty"),
    (np.zeros((3, 0)), "X is empty"),
    ([], "X is empty"),
    ([[1.0, np.inf]], r"X contains infinity at index \(0, 1\)"),
    (torch.tensor([[1.0], [-float("inf")]]), r"X contains infinity at index \(1, 0\)"),
    ([["a", "b"]], "real numbers"),
    ([[1.0], [2.0, 3.0]], "numeric array-like"),
    ([1.0, 2.0, 3.0], r"expects 2-D input .* X\.reshape\(-1, 1\)"),
    (3.0, "at least one dimension"),
])
def test_bad_input(cls, X, fragment):
    with pytest.raises(ConfigError, match=fragment):
        cls().fit(X)
    scaler = cls().partial_fit(np.array([[0.0, 1.0], [1.0, 3.0]]))
    with pytest.raises(ConfigError, match="X is 1-D .* fitted on 2-D input" if "expects 2-D" in fragment else fragment):
        scaler.partial_fit(X)
    assert scaler.n_samples_seen_ == 2  # a rejected batch changes nothing


@pytest.mark.parametrize("cls", [MinMaxScaler, StandardScaler])
@pytest.mark.parametrize("X,fragment", [
    (np.zeros((0, 2)), "X is empty"),
    ([["a", "b"]], "real numbers"),
    ([[1.0, np.inf]], r"X contains infinity at index \(0, 1\)"),
    (torch.tensor([[-float("inf"), 1.0]]), r"X contains infinity at index \(0, 0\)"),
])
def test_bad_input_to_transform(cls, X, fragment):
    scaler = cls().fit(np.array([[0.0, 1.0], [1.0, 3.0]]))
    for call in (scaler.transform, scaler.inverse_transform):
        with pytest.raises(ConfigError, match=fragment):
            call(X)


def test_nan_is_allowed_inf_is_not_in_transform():
    scaler = StandardScaler().fit([[0.0], [2.0]])
    assert np.isnan(scaler.transform([[np.nan]])[0, 0])
    with pytest.raises(ConfigError, match="infinity"):
        scaler.transform([[np.inf]])
    with pytest.raises(ConfigError, match="infinity"):
        scaler.inverse_transform(np.array([[-np.inf]]))


@pytest.mark.parametrize("feature_range,fragment", [
    ((1, 0), "Minimum of desired feature range must be smaller than maximum. Got (1, 0)."),
    ((2, 2), "Minimum of desired feature range must be smaller than maximum"),
    ((0,), "feature_range must be a pair"),
    ((0, 1, 2), "feature_range must be a pair"),
    ("ab", "feature_range must be a pair"),
    ((0, float("inf")), "feature_range must be a pair"),
    ((False, True), "feature_range must be a pair"),
])
def test_bad_feature_range(feature_range, fragment):
    scaler = MinMaxScaler(feature_range=feature_range)  # __init__ only stores, as in sklearn
    assert scaler.feature_range == feature_range
    with pytest.raises(ConfigError) as info:
        scaler.fit([[0.0], [1.0]])
    assert fragment in str(info.value)


@pytest.mark.parametrize("make,fragment", [
    (lambda: MinMaxScaler(clip="yes"), "clip must be True or False"),
    (lambda: StandardScaler(with_mean=1), "with_mean must be True or False"),
    (lambda: StandardScaler(with_std=None), "with_std must be True or False"),
    (lambda: StandardScaler(axis="0"), "axis must be an int or a non-empty tuple"),
    (lambda: MinMaxScaler(axis=()), "axis must be an int or a non-empty tuple"),
    (lambda: MinMaxScaler(axis=(0, 1)), "reduces every axis of 2-D input"),
    (lambda: StandardScaler(axis=2), "axis 2 is out of range for 2-D input"),
    (lambda: StandardScaler(axis=(1, -1)), "same axis twice"),
])
def test_bad_params(make, fragment):
    with pytest.raises(ConfigError) as info:
        make().fit(np.ones((3, 2)))
    assert fragment in str(info.value)


def test_get_set_params_and_repr():
    scaler = MinMaxScaler(feature_range=(-1, 1), clip=True)
    assert scaler.get_params() == {"feature_range": (-1, 1), "clip": True, "copy": True, "axis": 0}
    assert repr(scaler) == "MinMaxScaler(feature_range=(-1, 1), clip=True)"
    assert repr(StandardScaler()) == "StandardScaler()"
    assert repr(StandardScaler(axis=(0, 2, 3), copy=False)) == "StandardScaler(copy=False, axis=(0, 2, 3))"
    assert scaler.set_params(clip=False) is scaler and scaler.clip is False
    assert scaler.set_params(copy=False) is scaler and scaler.copy is False
    with pytest.raises(ConfigError, match="has no parameter 'order'"):
        scaler.set_params(order="C")
    # the parameters are scikit-learn's, plus axis
    for ours, sk in ((MinMaxScaler(), sklearn_preprocessing.MinMaxScaler()),
                     (StandardScaler(), sklearn_preprocessing.StandardScaler())):
        assert set(ours.get_params()) - {"axis"} == set(sk.get_params())


def test_copy_is_not_part_of_a_state_dict():
    # copy says how transform treats its input; a state saved with copy=False loads anywhere
    x = _data((10, 2))
    state = StandardScaler(copy=False).fit(x).state_dict()
    assert "copy" not in state["params"]
    loaded = StandardScaler.from_state_dict(_json_roundtrip(state))
    assert loaded.copy is True
    np.testing.assert_array_equal(loaded.transform(x), StandardScaler().fit(x).transform(x))


# ----------------------------------------------------------------------------------------------
# State dicts.


def _json_roundtrip(state):
    return json.loads(json.dumps(state))


def _assert_same_learned(a, b):
    for name in ("feature_shape_", "n_features_in_", "n_samples_seen_", "data_min_", "data_max_", "data_range_",
                 "scale_", "min_", "mean_", "var_"):
        if hasattr(a, name) or hasattr(b, name):
            va, vb = getattr(a, name), getattr(b, name)
            if va is None or vb is None:
                assert va is None and vb is None, name
            else:
                np.testing.assert_array_equal(va, vb, err_msg=name)
                assert np.ndim(va) == np.ndim(vb), name


@pytest.mark.parametrize("make", [
    MinMaxScaler,
    lambda: MinMaxScaler(feature_range=(-2, 3), clip=True),
    StandardScaler,
    lambda: StandardScaler(with_mean=False),
    lambda: StandardScaler(with_std=False),
    lambda: StandardScaler(with_mean=False, with_std=False),
])
@pytest.mark.parametrize("nan_frac", [0.0, 0.2])
def test_state_dict_roundtrip_through_json(make, nan_frac):
    x = _data((40, 5), seed=11, nan_frac=nan_frac, constant_cols=(1,))
    x[:, 4] = np.nan  # an all-NaN feature gives NaN statistics, which JSON must carry
    a, b = np.array_split(x, 2)
    scaler = make().partial_fit(a)
    state = scaler.state_dict()
    text = json.dumps(state)
    assert "Infinity" not in text
    restored = make().load_state_dict(json.loads(text))
    _assert_same_learned(restored, scaler)
    np.testing.assert_array_equal(restored.transform(x), scaler.transform(x))
    # resuming a stream from a saved state gives what an uninterrupted stream gives
    scaler.partial_fit(b)
    restored.partial_fit(b)
    _assert_same_learned(restored, scaler)
    assert type(scaler).from_state_dict(_json_roundtrip(scaler.state_dict())).get_params() == scaler.get_params()


def test_state_dict_contents_are_plain_python():
    state = StandardScaler(axis=(0, 2, 3)).fit(np.arange(48.0).reshape(2, 3, 2, 4)).state_dict()
    assert state == _json_roundtrip(state)
    assert state["class"] == "StandardScaler" and state["version"] == 1
    assert state["params"] == {"with_mean": True, "with_std": True, "axis": [0, 2, 3]}
    assert state["feature_shape_"] == [3] and state["n_features_in_"] == 3 and state["n_samples_seen_"] == 16
    assert all(type(v) is float for v in state["mean_"] + state["var_"])
    restored = StandardScaler.from_state_dict(state)
    assert restored.axis == (0, 2, 3)
    np.testing.assert_allclose(restored.mean_, [15.5, 23.5, 31.5])


def _valid_state():
    return MinMaxScaler().fit(np.array([[0.0, 1.0, 2.0], [3.0, 5.0, 4.0]])).state_dict()


@pytest.mark.parametrize("mutate,fragment", [
    (lambda s: s.pop("data_max_"), "missing keys ['data_max_']"),
    (lambda s: s.update(extra=1), "unexpected keys ['extra']"),
    (lambda s: s.update({"class": "StandardScaler"}), "belongs to 'StandardScaler'"),
    (lambda s: s.update(version=2), "format version 2"),
    (lambda s: s["params"].update(clip=True), "saved with clip=True but this MinMaxScaler has clip=False"),
    (lambda s: s["params"].update(feature_range=[-1.0, 1.0]), "from_state_dict"),
    (lambda s: s.update(params=[1]), "'params' must be a dict"),
    (lambda s: s.update(data_min_=[0.0, 1.0]), "'data_min_' has shape [2] but feature_shape_ is [3]"),
    (lambda s: s.update(data_min_=["a", 1.0, 2.0]), "'data_min_' must be a (nested) list of numbers"),
    (lambda s: s.update(data_min_=[0.0, float("inf"), 1.0]), "'data_min_' contains infinity"),
    (lambda s: s.update(data_min_=[9.0, 1.0, 2.0]), "'data_min_' exceeds 'data_max_'"),
    (lambda s: s.update(n_features_in_=4), "'n_features_in_' is 4"),
    (lambda s: s.update(feature_shape_=[0]), "'feature_shape_' must be a non-empty list of positive ints"),
    (lambda s: s.update(feature_shape_=[]), "'feature_shape_' must be a non-empty list of positive ints"),
    (lambda s: s.update(n_samples_seen_=-1), "'n_samples_seen_' must not be negative"),
    (lambda s: s.update(n_samples_seen_=[1, 2]), "'n_samples_seen_' has shape [2]"),
])
def test_load_state_dict_errors(mutate, fragment):
    state = _valid_state()
    mutate(state)
    scaler = MinMaxScaler()
    with pytest.raises(ConfigError) as info:
        scaler.load_state_dict(state)
    assert fragment in str(info.value)
    assert not hasattr(scaler, "n_samples_seen_")  # nothing half-loaded


def test_load_state_dict_errors_standard():
    state = StandardScaler().fit([[1.0, 2.0], [3.0, 5.0]]).state_dict()
    with pytest.raises(ConfigError, match="'var_' must not be negative"):
        StandardScaler().load_state_dict({**state, "var_": [-1.0, 1.0]})
    with pytest.raises(ConfigError, match="'var_' must be a list"):
        StandardScaler().load_state_dict({**state, "var_": None})
    with pytest.raises(ConfigError, match="expects a dict from state_dict"):
        StandardScaler().load_state_dict([("mean_", 1)])
    with pytest.raises(ConfigError, match="unknown parameters"):
        StandardScaler.from_state_dict({**state, "params": {**state["params"], "copy": True}})
