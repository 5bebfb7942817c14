"""Data normalisers: the blog post's two functions, streaming scalers, and the post's demo.

- :func:`min_max_normalize` and :func:`z_score_normalize` are the post's functions, vectorised:
  they take a list, a numpy array or a torch tensor and compute the statistics over all values
  or along chosen axes.
- :class:`MinMaxScaler` and :class:`StandardScaler` learn the statistics once (or batch by batch,
  with ``partial_fit``) and apply them to new data, with scikit-learn's results where both apply.

Shared conventions
------------------
*Types.* A list or numpy array comes back as a numpy array, a tensor as a tensor on the same
device. Floating inputs keep their dtype; integer and boolean inputs come back as float64
(numpy) or torch's default float dtype.

*``copy``*, as in scikit-learn: ``True`` (the default) never modifies the input. ``False`` writes
the result into the input and returns it where the input can hold it (a writeable float array, a
float tensor that does not require grad and is not an expanded view); otherwise a new one comes
back: a request, not a guarantee.

*``axis``*: the axes the statistics are computed *along*, as in numpy reductions. ``None`` uses
every value; ``0`` on ``(n_samples, n_features)`` gives one statistic per column; ``(0, 2, 3)`` on
``N×C×H×W`` images gives one per channel.

*Missing values.* NaN is left out of every statistic and stays NaN. ±inf, empty and non-numeric
input are a :class:`~normlab.errors.ConfigError`.

*Constant data.* A slice with no spread is scaled by 1 instead of divided by zero, as in
scikit-learn, with its tests: a range below ``10 * eps`` for min-max; for z-score a variance
within the two-pass algorithm's rounding bound (``var <= n*eps*var + (n*mean*eps)**2``), so
``[0.1] * 1000``, whose computed variance is tiny but not zero, counts as constant.

*Large values.* The mean of ``[1e100] * 10`` is off by one rounding step of 1e100, so ``x - mean``
is about 1e84, not 0. :func:`z_score_normalize` therefore checks the result as scikit-learn's
``scale`` does: a slice whose standardised mean is not 0 to within ``sqrt(eps)`` is centred a
second time, with a ``UserWarning`` ("Numerical issues were encountered when centering the
data"). The scalers learn their mean with the same correction, so constant features of any size
map to 0 there too.

*Standard deviation* is the population one (``ddof=0``), as the post's ``np.std`` and
scikit-learn's ``StandardScaler`` use.
"""

from normlab.normalize.functions import min_max_normalize, normalize_demo, plot_normalize_demo, z_score_normalize
from normlab.normalize.scalers import MinMaxScaler, NotFittedError, StandardScaler

__all__ = ["MinMaxScaler", "NotFittedError", "StandardScaler", "min_max_normalize", "normalize_demo",
           "plot_normalize_demo", "z_score_normalize"]
