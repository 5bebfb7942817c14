"""scikit-learn's own scaler tests, ported to normlab's API (issue 12, section 6).

Each test names the scikit-learn test it comes from (sklearn/preprocessing/tests/test_data.py
and test_common.py, scikit-learn 1.9). Sparse-matrix and sample-weight variants are left out:
normlab takes dense numpy arrays and torch tensors, and every test runs on both. The mapping:
``StandardScaler``/``MinMaxScaler`` are the classes, ``scale(X, axis=a)`` is
``z_score_normalize(X, axis=a)`` and ``minmax_scale(X, axis=a)`` is ``min_max_normalize(X, axis=a)``;
scikit-learn's ``ValueError`` for bad input is normlab's ``ConfigError`` (a ``ValueError``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_almost_equal, assert_array_equal

datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn is a test dependency")

from normlab.errors import ConfigError
from normlab.normalize import MinMaxScaler, StandardScaler, min_max_normalize, z_score_normalize

iris = datasets.load_iris().data

# scikit-learn's shared fixtures, drawn the same way.
rng = np.random.RandomState(0)
n_features = 30
n_samples = 1000
offsets = rng.uniform(-1, 1, size=n_features)
scales = rng.uniform(1, 10, size=n_features)
X_2d = rng.randn(n_samples, n_features) * scales + offsets
X_1row = X_2d[0, :].reshape(1, n_features)
X_1col = X_2d[:, 0].reshape(n_samples, 1)

BACKENDS = ["numpy", "torch"]
NUMERICAL_ISSUES = "Numerical issues were encountered when centering the data"


def to(backend, x, dtype=None):
    """``x`` as a numpy array or a torch tensor (same values, dtype kept unless given)."""
    x = np.array(x, dtype=dtype)
    return torch.from_numpy(x) if backend == "torch" else x


def npy(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return (x.float() if x.dtype == torch.bfloat16 else x).numpy()  # numpy has no bfloat16
    return np.asarray(x)


def batches(n, size):
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def same_object_or_memory(a, b):
    if isinstance(a, torch.Tensor):
        return a is b or a.data_ptr() == b.data_ptr()
    return a is b or np.shares_memory(a, b)


# ----------------------------------------------------------------------------------------------
# StandardScaler and scale


@pytest.mark.parametrize("backend", BACKENDS)
def test_standard_scaler_1d(backend):
    # test_standard_scaler_1d
    for X in (X_1row, X_1col):
        scaler = StandardScaler()
        X_scaled = npy(scaler.fit(to(backend, X)).transform(to(backend, X), copy=True))
        if X.shape[0] == 1:
            assert_array_almost_equal(scaler.mean_, X.ravel())
            assert_array_almost_equal(scaler.scale_, np.ones(n_features))
            assert_array_almost_equal(X_scaled.mean(axis=0), 0.0)
            assert_array_almost_equal(X_scaled.std(axis=0), 0.0)
        else:
            assert_array_almost_equal(scaler.mean_, [X.mean()])
            assert_array_almost_equal(scaler.scale_, [X.std()])
            assert_array_almost_equal(X_scaled.mean(axis=0), 0.0)
            assert_array_almost_equal(X_scaled.std(axis=0), 1.0)
        assert scaler.n_samples_seen_ == X.shape[0]
        assert_array_almost_equal(npy(scaler.inverse_transform(to(backend, X_scaled))), X)

    X = to(backend, np.ones((5, 1)))
    scaler = StandardScaler()
    X_scaled = npy(scaler.fit(X).transform(X, copy=True))
    assert_array_almost_equal(scaler.mean_, [1.0])
    assert_array_almost_equal(scaler.scale_, [1.0])
    assert_array_almost_equal(X_scaled.mean(axis=0), 0.0)
    assert_array_almost_equal(X_scaled.std(axis=0), 0.0)
    assert scaler.n_samples_seen_ == 5


def test_standard_scaler_1d_list():
    for X in (X_1row.tolist(), X_1col.tolist()):
        X_scaled = StandardScaler().fit_transform(X)
        assert type(X_scaled) is np.ndarray
        assert_array_almost_equal(X_scaled.mean(axis=0), 0.0)


@pytest.mark.parametrize("backend,dtype", [("numpy", np.float64), ("numpy", np.float32), ("numpy", np.float16),
                                           ("torch", torch.float64), ("torch", torch.float32),
                                           ("torch", torch.float16), ("torch", torch.bfloat16)])
def test_standard_scaler_dtype(backend, dtype):
    # test_standard_scaler_dtype: scaling keeps the dtype, the statistics are float64
    X = np.random.RandomState(0).randn(10, 3)
    X = X.astype(dtype) if backend == "numpy" else torch.tensor(X).to(dtype)
    scaler = StandardScaler()
    X_scaled = scaler.fit(X).transform(X)
    assert X_scaled.dtype == X.dtype
    assert scaler.mean_.dtype == np.float64 and scaler.scale_.dtype == np.float64
    assert z_score_normalize(X, axis=0).dtype == X.dtype


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("constant", [0, 1.0, 100.0])
def test_standard_scaler_constant_features(backend, dtype, constant):
    # test_standard_scaler_constant_features (StandardScaler(with_mean=False))
    X = to(backend, np.full((100, 1), constant, dtype=dtype))
    scaler = StandardScaler(with_mean=False)
    X_scaled = scaler.fit(X).transform(X)
    assert_allclose(scaler.var_, np.zeros(1), atol=1e-7)
    assert_allclose(scaler.scale_, np.ones(1))
    assert not same_object_or_memory(X_scaled, X)  # a copy is made
    assert_allclose(npy(X_scaled), npy(X))
    # with centring too, a constant feature maps to 0
    assert_allclose(npy(StandardScaler().fit_transform(X)), 0.0, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_samples_", [10, 100, 10_000])
@pytest.mark.parametrize("average", [1e-10, 1, 1e10])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_standard_scaler_near_constant_features(backend, n_samples_, average, dtype):
    # test_standard_scaler_near_constant_features: a variance within the rounding bound of the
    # two-pass algorithm counts as constant (scale 1)
    scales_ = np.array([10.0 ** i for i in range(-30, 20)], dtype=dtype)
    X = np.empty((n_samples_, scales_.shape[0]), dtype=dtype)
    X[: n_samples_ // 2, :] = average + scales_
    X[n_samples_ // 2:, :] = average - scales_
    scaler = StandardScaler(with_mean=False).fit(to(backend, X))

    eps = np.finfo(np.float64).eps  # float64 accumulators whatever X's dtype
    bounds = n_samples_ * eps * scales_ ** 2 + n_samples_ ** 2 * eps ** 2 * average ** 2
    within_bounds = scales_ ** 2 <= bounds
    assert np.any(within_bounds)
    assert all(scaler.var_[within_bounds] <= bounds[within_bounds])
    assert_allclose(scaler.scale_[within_bounds], 1.0)

    representable_diff = X[0, :] - X[-1, :] != 0
    assert_allclose(scaler.var_[~representable_diff], 0)
    assert_allclose(scaler.scale_[~representable_diff], 1)
    common_mask = np.logical_and(scales_ ** 2 > bounds, representable_diff)
    assert_allclose(scaler.scale_[common_mask], np.sqrt(scaler.var_)[common_mask])


@pytest.mark.parametrize("backend", BACKENDS)
def test_scale_1d(backend):
    # test_scale_1d
    X = to(backend, [1.0, 3.0, 5.0, 0.0])
    X_scaled = npy(z_score_normalize(X))
    assert_array_almost_equal(X_scaled.mean(), 0.0)
    assert_array_almost_equal(X_scaled.std(), 1.0)
    X_scaled = z_score_normalize([1.0, 3.0, 5.0, 0.0])
    assert_array_almost_equal(X_scaled.std(), 1.0)
    # scale(X, with_mean=False, with_std=False) is the identity: here the scaler with both off
    col = to(backend, [[1.0], [3.0], [5.0], [0.0]])
    assert_array_equal(npy(StandardScaler(with_mean=False, with_std=False).fit_transform(col)), npy(col))


@pytest.mark.parametrize("backend", BACKENDS)
def test_scale_numerical_stability(backend):
    # test_standard_scaler_numerical_stability
    def scale(x):
        return npy(z_score_normalize(to(backend, x)))

    # np.log(1e-5) repeated has a tiny computed variance: normlab's constant-feature rule (the
    # one StandardScaler uses) catches it, so unlike scikit-learn's scale no second centring and
    # no warning are needed
    for n in (8, 10):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            assert_array_almost_equal(scale(np.full(n, np.log(1e-5))), np.zeros(n))

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        x_small_scaled = scale(np.full(10, 1e-100))
    assert_array_almost_equal(x_small_scaled, np.zeros(10))

    # Large values: numpy's mean is off by a rounding step of 1e100, so one centring leaves
    # about 1e84; a second centring, with a warning, gives the zeros. (torch's sum happens to
    # round exactly here; the 1e20 test below catches it out.)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x_big_scaled = scale(np.full(10, 1e100))
    if backend == "numpy":
        assert [str(w.message) for w in caught if NUMERICAL_ISSUES in str(w.message)]
    assert_array_almost_equal(x_big_scaled, np.zeros(10))
    assert_array_almost_equal(x_big_scaled, x_small_scaled)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape,axis", [((1000,), None), ((1000, 3), 0), ((2, 500, 3), (0, 1))])
def test_scale_large_constant_is_zero_with_a_warning(backend, shape, axis):
    # The issue's second example: 1e20 repeated 1000 times (scikit-learn's scale gives zeros).
    x = np.full(shape, 1e20)
    with pytest.warns(UserWarning, match=NUMERICAL_ISSUES):
        out = npy(z_score_normalize(to(backend, x), axis=axis))
    assert_array_equal(out, 0.0)
    if backend == "torch":  # float32 holds 1e20 too, and has the same problem
        with pytest.warns(UserWarning, match=NUMERICAL_ISSUES):
            out32 = z_score_normalize(torch.full(shape, 1e20), axis=axis)
        assert out32.dtype == torch.float32
        assert_array_equal(out32.numpy(), 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scaler_2d_arrays(backend):
    # test_scaler_2d_arrays
    r = np.random.RandomState(0)
    X_np = r.randn(4, 5)
    X_np[:, 0] = 0.0  # first feature is always of zero
    X = to(backend, X_np)

    scaler = StandardScaler()
    X_scaled = scaler.fit(X).transform(X, copy=True)
    assert not np.any(np.isnan(npy(X_scaled)))
    assert scaler.n_samples_seen_ == 4
    assert_array_almost_equal(npy(X_scaled).mean(axis=0), 5 * [0.0])
    assert_array_almost_equal(npy(X_scaled).std(axis=0), [0.0, 1.0, 1.0, 1.0, 1.0])
    assert X_scaled is not X

    X_scaled_back = scaler.inverse_transform(X_scaled)
    assert X_scaled_back is not X and X_scaled_back is not X_scaled
    assert_array_almost_equal(npy(X_scaled_back), X_np)

    X_scaled = npy(z_score_normalize(X, axis=1))  # scale(X, axis=1)
    assert not np.any(np.isnan(X_scaled))
    assert_array_almost_equal(X_scaled.mean(axis=1), 4 * [0.0])
    assert_array_almost_equal(X_scaled.std(axis=1), 4 * [1.0])
    assert_array_equal(npy(X), X_np)  # the data hasn't been modified

    X_scaled = scaler.fit(X).transform(X, copy=False)
    assert not np.any(np.isnan(npy(X_scaled)))
    assert_array_almost_equal(npy(X_scaled).mean(axis=0), 5 * [0.0])
    assert_array_almost_equal(npy(X_scaled).std(axis=0), [0.0, 1.0, 1.0, 1.0, 1.0])
    assert X_scaled is X  # not copied

    X_np = r.randn(4, 5)
    X_np[:, 0] = 1.0  # a constant, non-zero feature
    X = to(backend, X_np)
    X_scaled = StandardScaler().fit(X).transform(X, copy=True)
    assert_array_almost_equal(npy(X_scaled).mean(axis=0), 5 * [0.0])
    assert_array_almost_equal(npy(X_scaled).std(axis=0), [0.0, 1.0, 1.0, 1.0, 1.0])
    assert X_scaled is not X


@pytest.mark.parametrize("backend", BACKENDS)
def test_scaler_float16_overflow(backend):
    # test_scaler_float16_overflow: float16 tops out at 65504; the sums must not overflow
    X = np.random.RandomState(0).uniform(5, 10, [200000, 1]).astype(np.float16)
    X_in = torch.from_numpy(X) if backend == "torch" else X
    with np.errstate(over="raise"):
        X_scaled = npy(StandardScaler().fit(X_in).transform(X_in))
        z = npy(z_score_normalize(X_in, axis=0))
    X_scaled_f64 = StandardScaler().fit_transform(X.astype(np.float64))
    assert np.all(np.isfinite(X_scaled)) and np.all(np.isfinite(z))
    assert_array_almost_equal(X_scaled, X_scaled_f64, decimal=2)
    assert_array_almost_equal(z, X_scaled_f64, decimal=2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_minmax_scaler_partial_fit(backend):
    # test_minmax_scaler_partial_fit
    X = to(backend, X_2d)
    n = X_2d.shape[0]
    attrs = ("data_min_", "data_max_", "data_range_", "scale_", "min_")
    for chunk_size in (1, 2, 50, n, n + 42):
        scaler_batch = MinMaxScaler().fit(X)
        scaler_incr = MinMaxScaler()
        for i, batch in enumerate(batches(n, chunk_size)):
            scaler_incr = scaler_incr.partial_fit(X[batch])
            assert scaler_incr.n_samples_seen_ == batch.stop
        for a in attrs:
            assert_array_almost_equal(getattr(scaler_batch, a), getattr(scaler_incr, a))
        assert scaler_batch.n_samples_seen_ == scaler_incr.n_samples_seen_

        batch0 = slice(0, chunk_size)
        scaler_batch = MinMaxScaler().fit(X[batch0])
        scaler_incr = MinMaxScaler().partial_fit(X[batch0])
        for a in attrs:
            assert_array_almost_equal(getattr(scaler_batch, a), getattr(scaler_incr, a))
        assert scaler_batch.n_samples_seen_ == scaler_incr.n_samples_seen_


@pytest.mark.parametrize("backend", BACKENDS)
def test_standard_scaler_partial_fit(backend):
    # test_standard_scaler_partial_fit
    X = to(backend, X_2d)
    n = X_2d.shape[0]
    for chunk_size in (1, 2, 50, n, n + 42):
        scaler_batch = StandardScaler(with_std=False).fit(X)
        scaler_incr = StandardScaler(with_std=False)
        for batch in batches(n, chunk_size):
            scaler_incr = scaler_incr.partial_fit(X[batch])
        assert_array_almost_equal(scaler_batch.mean_, scaler_incr.mean_)
        assert scaler_batch.var_ is None and scaler_incr.var_ is None
        assert scaler_batch.n_samples_seen_ == scaler_incr.n_samples_seen_

        batch0 = slice(0, chunk_size)
        scaler_incr = StandardScaler().partial_fit(X[batch0])
        if chunk_size == 1:
            assert_array_almost_equal(np.zeros(n_features), scaler_incr.var_)
            assert_array_almost_equal(np.ones(n_features), scaler_incr.scale_)
        else:
            assert_array_almost_equal(np.var(X_2d[batch0], axis=0), scaler_incr.var_)
            assert_array_almost_equal(np.std(X_2d[batch0], axis=0), scaler_incr.scale_)

        scaler_batch = StandardScaler().fit(X)
        scaler_incr = StandardScaler()
        for batch in batches(n, chunk_size):
            scaler_incr = scaler_incr.partial_fit(X[batch])
            assert scaler_incr.n_samples_seen_ == batch.stop
        assert_array_almost_equal(scaler_batch.var_, scaler_incr.var_)
        assert scaler_batch.n_samples_seen_ == scaler_incr.n_samples_seen_


@pytest.mark.parametrize("backend", BACKENDS)
def test_standard_scaler_partial_fit_numerical_stability(backend):
    # test_standard_scaler_partial_fit_numerical_stability, the dense parts
    r = np.random.RandomState(0)
    offsets_ = r.uniform(-1e15, 1e15, size=2)
    scales_ = r.uniform(1e3, 1e6, size=2)
    X = to(backend, r.randn(100, 2) * scales_ + offsets_)
    scaler_batch = StandardScaler().fit(X)
    scaler_incr = StandardScaler()
    for row in X:
        scaler_incr = scaler_incr.partial_fit(row.reshape(1, 2))
    for a in ("mean_", "var_", "scale_"):
        assert_allclose(getattr(scaler_incr, a), getattr(scaler_batch, a), rtol=1e-6)

    X = to(backend, r.randint(0, 2, (100, 3)).astype(np.float64) * 1e20)
    scaler = StandardScaler(with_mean=False).fit(X)
    scaler_incr = StandardScaler(with_mean=False)
    for row in X:
        scaler_incr = scaler_incr.partial_fit(row.reshape(1, -1))
    assert scaler.mean_ is not None
    assert_allclose(scaler_incr.var_, scaler.var_, rtol=1e-6)
    assert_allclose(scaler_incr.scale_, scaler.scale_, rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_standard_scaler_transform_with_partial_fit(backend):
    # test_standard_scaler_transform_with_partial_fit
    X = to(backend, X_2d[:100, :])
    scaler_incr = StandardScaler()
    for i, batch in enumerate(batches(100, 1)):
        X_sofar = X[: i + 1, :]
        chunks_copy = npy(X_sofar).copy()
        scaled_batch = StandardScaler().fit_transform(X_sofar)
        scaler_incr = scaler_incr.partial_fit(X[batch])
        scaled_incr = scaler_incr.transform(X_sofar)
        assert_array_almost_equal(npy(scaled_batch), npy(scaled_incr))
        assert_array_equal(npy(X_sofar), chunks_copy)  # no change
        assert_array_almost_equal(npy(scaler_incr.inverse_transform(scaled_incr)), npy(X_sofar))
        eps = np.finfo(float).eps
        assert np.all(scaler_incr.var_ + eps > 0) and np.all(scaler_incr.scale_ + eps > 0)
        assert scaler_incr.n_samples_seen_ == i + 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_standard_check_array_of_inverse_transform(backend):
    # test_standard_check_array_of_inverse_transform: integer input is converted to float
    x = to(backend, [[1, 1, 1, 0, 1, 0], [1, 1, 1, 0, 1, 0], [0, 8, 0, 1, 0, 0],
                     [1, 4, 1, 1, 0, 0], [0, 1, 0, 0, 1, 0], [0, 4, 0, 1, 0, 1]], dtype=np.int32)
    scaler = StandardScaler().fit(x)
    back = scaler.inverse_transform(x)
    assert back.is_floating_point() if backend == "torch" else back.dtype == np.float64
    assert_allclose(npy(back), npy(x) * scaler.scale_ + scaler.mean_)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scaler_without_centering(backend):
    # test_scaler_without_centering, the dense part
    r = np.random.RandomState(42)
    X_np = r.randn(4, 5)
    X_np[:, 0] = 0.0
    X = to(backend, X_np)
    scaler = StandardScaler(with_mean=False).fit(X)
    X_scaled = scaler.transform(X, copy=True)
    assert not np.any(np.isnan(npy(X_scaled)))
    assert_array_almost_equal(npy(X_scaled).mean(axis=0), [0.0, -0.01, 2.24, -0.35, -0.78], 2)
    assert_array_almost_equal(npy(X_scaled).std(axis=0), [0.0, 1.0, 1.0, 1.0, 1.0])
    assert X_scaled is not X
    X_scaled_back = scaler.inverse_transform(X_scaled)
    assert X_scaled_back is not X and X_scaled_back is not X_scaled
    assert_array_almost_equal(npy(X_scaled_back), X_np)

    null_transform = StandardScaler(with_mean=False, with_std=False, copy=True)
    X_null = null_transform.fit_transform(X)
    assert_array_equal(npy(X_null), X_np)
    assert not same_object_or_memory(X_null, X)
    X_orig = null_transform.inverse_transform(X_null)
    assert_array_equal(npy(X_orig), X_np)
    assert not same_object_or_memory(X_orig, X_null)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("with_mean", [True, False])
@pytest.mark.parametrize("with_std", [True, False])
def test_scaler_n_samples_seen_with_nan(backend, with_mean, with_std):
    # test_scaler_n_samples_seen_with_nan
    X = to(backend, [[0, 1, 3], [np.nan, 6, 10], [5, 4, np.nan], [8, 0, np.nan]])
    transformer = StandardScaler(with_mean=with_mean, with_std=with_std).fit(X)
    assert_array_equal(transformer.n_samples_seen_, np.array([3, 4, 2]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_scaler_return_identity(backend):
    # test_scaler_return_identity, and the issue's first example: with both flags off the
    # output equals the input but is a new array, so writing into it leaves the input alone
    X_np = np.array([[0, 1, 3], [5, 6, 0], [8, 0, 10]], dtype=np.float64)
    X = to(backend, X_np)
    transformer = StandardScaler(with_mean=False, with_std=False)
    for fit in ("fit", "partial_fit", "fit"):
        getattr(transformer, fit)(X)
        assert transformer.mean_ is None and transformer.var_ is None and transformer.scale_ is None
    assert transformer.n_samples_seen_ == 3
    for out in (transformer.fit_transform(X), transformer.transform(X), transformer.inverse_transform(X)):
        assert_allclose(npy(out), X_np)
        assert not same_object_or_memory(out, X)
        out[0, 0] = -1.0
        assert_array_equal(npy(X), X_np)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scaler_int(backend):
    # test_scaler_int: integer input is converted to floating point
    r = np.random.RandomState(42)
    X_np = r.randint(20, size=(4, 5))
    X_np[:, 0] = 0
    X = to(backend, X_np)
    scaler = StandardScaler(with_mean=False).fit(X)
    X_scaled = scaler.transform(X, copy=True)
    assert not np.any(np.isnan(npy(X_scaled)))
    assert_array_almost_equal(npy(X_scaled).mean(axis=0), [0.0, 1.109, 1.856, 21.0, 1.559], 2)
    assert_array_almost_equal(npy(X_scaled).std(axis=0), [0.0, 1.0, 1.0, 1.0, 1.0])
    assert X_scaled is not X
    X_scaled_back = scaler.inverse_transform(X_scaled)
    assert X_scaled_back is not X and X_scaled_back is not X_scaled
    assert_array_almost_equal(npy(X_scaled_back), X_np)
    # copy=False cannot work in place on integers: a float result comes back, X is untouched
    X_inplace = StandardScaler(with_mean=False, copy=False).fit(X).transform(X)
    assert_array_almost_equal(npy(X_inplace), npy(X_scaled))
    assert_array_equal(npy(X), X_np)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scaler_without_copy(backend):
    # test_scaler_without_copy: fit never changes its input, even with copy=False
    r = np.random.RandomState(42)
    X_np = r.randn(4, 5)
    X_np[:, 0] = 0.0
    X = to(backend, X_np)
    StandardScaler(copy=False).fit(X)
    MinMaxScaler(copy=False).fit(X)
    StandardScaler(with_mean=False, copy=False).fit(X)
    assert_array_equal(npy(X), X_np)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scale_input_finiteness_validation(backend):
    # test_scale_input_finiteness_validation
    X = to(backend, [[np.inf, 5, 6, 7, 8]])
    for call in (lambda: z_score_normalize(X), lambda: min_max_normalize(X),
                 lambda: StandardScaler().fit(X), lambda: MinMaxScaler().fit(X)):
        with pytest.raises(ConfigError, match="contains infinity"):
            call()


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_transform(backend):
    # test_fit_transform
    X = to(backend, np.random.RandomState(0).random_sample((5, 4)))
    for obj in (StandardScaler(), MinMaxScaler()):
        assert_array_equal(npy(obj.fit(X).transform(X)), npy(obj.fit_transform(X)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_cold_start(backend):
    # test_fit_cold_start: fit forgets the feature count of the previous fit
    X = to(backend, iris)
    for scaler in (StandardScaler(with_mean=False, with_std=False), MinMaxScaler(), StandardScaler()):
        scaler.fit_transform(X)
        scaler.fit_transform(X[:, :2])
        assert scaler.n_features_in_ == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_standard_scaler_raise_error_for_1d_input(backend):
    # test_standard_scaler_raise_error_for_1d_input
    scaler = StandardScaler().fit(to(backend, X_2d))
    with pytest.raises(ConfigError, match="X is 1-D"):
        scaler.inverse_transform(to(backend, X_2d[:, 0]))
    with pytest.raises(ConfigError, match="expects 2-D input"):
        StandardScaler().fit(to(backend, X_2d[:, 0]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_standard_scaler_partial_fit_all_nan_batch(backend):
    # test_standard_scaler_sparse_partial_fit_finite_variance, densely: an all-NaN batch
    # leaves the variance finite
    X_1 = to(backend, np.random.RandomState(0).rand(5, 1))
    scaler = StandardScaler(with_mean=False).fit(X_1).partial_fit(to(backend, np.full((10, 1), np.nan)))
    assert np.isfinite(scaler.var_[0])


# ----------------------------------------------------------------------------------------------
# MinMaxScaler and minmax_scale


@pytest.mark.parametrize("backend", BACKENDS)
def test_min_max_scaler_iris(backend):
    # test_min_max_scaler_iris
    X = to(backend, iris)
    for feature_range in ((0, 1), (1, 2), (-0.5, 0.6)):
        scaler = MinMaxScaler(feature_range=feature_range)
        X_trans = npy(scaler.fit_transform(X))
        assert_array_almost_equal(X_trans.min(axis=0), feature_range[0])
        assert_array_almost_equal(X_trans.max(axis=0), feature_range[1])
        assert_array_almost_equal(npy(scaler.inverse_transform(to(backend, X_trans))), iris)
    with pytest.raises(ValueError):
        MinMaxScaler(feature_range=(2, 1)).fit(X)


@pytest.mark.parametrize("backend", BACKENDS)
def test_min_max_scaler_zero_variance_features(backend):
    # test_min_max_scaler_zero_variance_features
    X = to(backend, [[0.0, 1.0, +0.5], [0.0, 1.0, -0.1], [0.0, 1.0, +1.1]])
    X_new = to(backend, [[+0.0, 2.0, 0.5], [-1.0, 1.0, 0.0], [+0.0, 1.0, 1.5]])
    scaler = MinMaxScaler()
    X_trans = scaler.fit_transform(X)
    X_expected_0_1 = [[0.0, 0.0, 0.5], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    assert_array_almost_equal(npy(X_trans), X_expected_0_1)
    assert_array_almost_equal(npy(scaler.inverse_transform(X_trans)), npy(X))
    X_expected_0_1_new = [[+0.0, 1.0, 0.500], [-1.0, 0.0, 0.083], [+0.0, 0.0, 1.333]]
    assert_array_almost_equal(npy(scaler.transform(X_new)), X_expected_0_1_new, decimal=2)

    X_expected_1_2 = [[1.0, 1.0, 1.5], [1.0, 1.0, 1.0], [1.0, 1.0, 2.0]]
    assert_array_almost_equal(npy(MinMaxScaler(feature_range=(1, 2)).fit_transform(X)), X_expected_1_2)
    # function interface (minmax_scale has the default range only here)
    assert_array_almost_equal(npy(min_max_normalize(X, axis=0)), X_expected_0_1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_minmax_scale_axis1(backend):
    # test_minmax_scale_axis1
    X_trans = npy(min_max_normalize(to(backend, iris), axis=1))
    assert_array_almost_equal(np.min(X_trans, axis=1), 0)
    assert_array_almost_equal(np.max(X_trans, axis=1), 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_min_max_scaler_1d(backend):
    # test_min_max_scaler_1d
    for X_np in (X_1row, X_1col):
        X = to(backend, X_np)
        scaler = MinMaxScaler(copy=True)
        X_scaled = npy(scaler.fit(X).transform(X))
        if X_np.shape[0] == 1:
            assert_array_almost_equal(X_scaled.min(axis=0), np.zeros(n_features))
            assert_array_almost_equal(X_scaled.max(axis=0), np.zeros(n_features))
        else:
            assert_array_almost_equal(X_scaled.min(axis=0), 0.0)
            assert_array_almost_equal(X_scaled.max(axis=0), 1.0)
        assert scaler.n_samples_seen_ == X_np.shape[0]
        assert_array_almost_equal(npy(scaler.inverse_transform(to(backend, X_scaled))), X_np)

    X = to(backend, np.ones((5, 1)))
    scaler = MinMaxScaler()
    X_scaled = npy(scaler.fit(X).transform(X))
    assert X_scaled.min() >= 0.0 and X_scaled.max() <= 1.0
    assert scaler.n_samples_seen_ == 5

    X_1d = X_1row.ravel()
    assert_array_almost_equal((X_1d - X_1d.min()) / (X_1d.max() - X_1d.min()),
                              npy(min_max_normalize(to(backend, X_1d), copy=True)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("feature_range", [(0, 1), (-10, 10)])
def test_minmax_scaler_clip(backend, feature_range):
    # test_minmax_scaler_clip
    scaler = MinMaxScaler(feature_range=feature_range, clip=True).fit(to(backend, iris))
    X_min, X_max = np.min(iris, axis=0), np.max(iris, axis=0)
    X_test = to(backend, [np.r_[X_min[:2] - 10, X_max[2:] + 10]])
    assert_allclose(npy(scaler.transform(X_test)),
                    [[feature_range[0], feature_range[0], feature_range[1], feature_range[1]]])


# ----------------------------------------------------------------------------------------------
# test_common.py: missing values


def _iris_with_nan():
    r = np.random.RandomState(42)
    X = iris.copy()
    X[r.randint(X.shape[0], size=50), r.randint(X.shape[1], size=50)] = np.nan
    perm = np.random.RandomState(1).permutation(X.shape[0])
    return X[perm[:112]], X[perm[112:]].copy()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("make, func", [(MinMaxScaler, min_max_normalize), (StandardScaler, z_score_normalize)])
def test_missing_value_handling(backend, make, func):
    # test_missing_value_handling: NaN is ignored in fitting and passes through
    X_train, X_test = _iris_with_nan()
    assert np.any(np.isnan(X_train), axis=0).all() and not np.all(np.isnan(X_train), axis=0).any()
    X_test[:, 0] = np.nan  # the boundary case: a whole column missing
    est = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        Xt = npy(est.fit(to(backend, X_train)).transform(to(backend, X_test)))
    assert_array_equal(np.isnan(Xt), np.isnan(X_test))

    # the function gives the class's results
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        Xt_class = npy(est.transform(to(backend, X_train)))
        Xt_func = npy(func(to(backend, X_train), axis=0))
    assert_array_equal(np.isnan(Xt_func), np.isnan(Xt_class))
    assert_allclose(Xt_func[~np.isnan(Xt_func)], Xt_class[~np.isnan(Xt_class)])

    Xt_inv = npy(est.inverse_transform(to(backend, Xt)))
    assert_array_equal(np.isnan(Xt_inv), np.isnan(X_test))
    assert_allclose(Xt_inv[~np.isnan(Xt_inv)], X_test[~np.isnan(X_test)])

    for i in range(X_train.shape[1]):
        # train on the non-NaN values of one column; transforming with NaN still works
        col = X_train[:, [i]]
        est.fit(to(backend, col[~np.isnan(col[:, 0])]))
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            Xt_col = npy(est.transform(to(backend, X_test[:, [i]])))
        assert_allclose(Xt_col, Xt[:, [i]])


# ----------------------------------------------------------------------------------------------
# copy=False: in place where possible, as scikit-learn's copy=False


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, torch.float64, torch.float32,
                                   torch.float16])
@pytest.mark.parametrize("make", [StandardScaler, MinMaxScaler])
def test_scalers_copy_false_transform_in_place(dtype, make):
    X_np = np.random.RandomState(0).randn(20, 3) * 2 + 5
    X = X_np.astype(dtype) if isinstance(dtype, type) else torch.tensor(X_np).to(dtype)
    original = npy(X).copy()
    expected = npy(make().fit(X).transform(X))
    scaler = make(copy=False).fit(X)
    assert_array_equal(npy(X), original)  # fit reads only
    out = scaler.transform(X)
    assert out is X and X.dtype == dtype
    assert_array_equal(npy(X), expected)
    back = scaler.inverse_transform(X)
    assert back is X
    assert_allclose(npy(X), original, rtol=1e-2 if npy(X).dtype == np.float16 else 1e-5)


def test_standard_scaler_per_call_copy_overrides_the_parameter():
    X = np.random.RandomState(0).randn(6, 2)
    original = X.copy()
    scaler = StandardScaler().fit(X)
    out = scaler.transform(X, copy=False)
    assert out is X
    assert scaler.inverse_transform(X, copy=False) is X
    assert_allclose(X, original)
    original = X.copy()
    out = StandardScaler(copy=False).fit(X).transform(X, copy=True)
    assert out is not X and not np.shares_memory(out, X)
    assert_array_equal(X, original)
    with pytest.raises(ConfigError, match="copy must be True or False"):
        scaler.transform(X, copy="no")
    with pytest.raises(ConfigError, match="copy must be True or False"):
        StandardScaler(copy=0).fit(X)


@pytest.mark.parametrize("make_input", [
    lambda x: x.tolist(),                                   # a list: a new array anyway
    lambda x: np.round(x * 10).astype(np.int64),            # integers: the result is float
    lambda x: _read_only(x),                                # read-only memory
    lambda x: torch.tensor(x, requires_grad=True),          # autograd forbids changing a leaf
    lambda x: torch.round(torch.tensor(x) * 10).long(),
    lambda x: torch.tensor(x[:1]).expand(6, 2),             # one memory cell seen many times
], ids=["list", "int", "read-only", "requires-grad", "int-tensor", "expanded"])
def test_copy_false_falls_back_to_a_new_array(make_input):
    # copy=False is a request, as in scikit-learn: where the input cannot hold the result,
    # a new array comes back and the input is untouched
    X = make_input(np.random.RandomState(0).randn(6, 2))
    before = npy(X).copy() if not isinstance(X, list) else list(X)
    outs = [StandardScaler(copy=False).fit(X).transform(X), MinMaxScaler(copy=False).fit(X).transform(X),
            z_score_normalize(X, axis=0, copy=False), min_max_normalize(X, axis=0, copy=False)]
    for out in outs:
        assert out is not X
        assert np.isfinite(npy(out)).all()
    if isinstance(X, list):
        assert X == before
    else:
        assert_array_equal(npy(X), before)


def _read_only(x):
    x = x.copy()
    x.flags.writeable = False
    return x


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("func", [z_score_normalize, min_max_normalize])
@pytest.mark.parametrize("decimals", [None, 2])
def test_functions_copy(backend, func, decimals):
    X_np = np.random.RandomState(0).randn(10, 3)
    X = to(backend, X_np)
    expected = npy(func(X, axis=0, decimals=decimals))
    assert_array_equal(npy(X), X_np)  # copy=True (default) leaves X alone
    out = func(X, axis=0, decimals=decimals, copy=False)
    assert out is X
    assert_array_equal(npy(X), expected)
    with pytest.raises(ConfigError, match="copy must be True or False"):
        func(X, copy=None)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, torch.float32, torch.float16, torch.bfloat16])
def test_functions_copy_false_other_float_dtypes(dtype):
    X_np = np.random.RandomState(0).randn(10, 3)
    X = X_np.astype(dtype) if isinstance(dtype, type) else torch.tensor(X_np).to(dtype)
    for func in (z_score_normalize, min_max_normalize):
        expected = func(X, axis=0)
        target = X.copy() if isinstance(X, np.ndarray) else X.clone()
        assert func(target, axis=0, copy=False) is target and target.dtype == X.dtype
        assert_array_equal(npy(target), npy(expected))


def test_copy_false_keeps_autograd():
    # a tensor that needs gradients gets a new tensor, and gradients still flow
    t = torch.tensor([[1.0, 2.0], [4.0, 3.0], [0.5, 7.0]], requires_grad=True)
    for out in (StandardScaler(copy=False).fit(t).transform(t), MinMaxScaler(copy=False, clip=True).fit(t).transform(t),
                z_score_normalize(t, copy=False)):
        out.pow(2).sum().backward()
        assert t.grad is not None and torch.isfinite(t.grad).all()
        t.grad = None
