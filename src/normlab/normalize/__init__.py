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

from normlab.normalize.functions import min_max_normalize, normalize_demo, plot_normalize_demo, z_score_normalize
from normlab.normalize.scalers import MinMaxScaler, NotFittedError, StandardScaler

__all__ = ["MinMaxScaler", "NotFittedError", "StandardScaler", "min_max_normalize", "normalize_demo",
           "plot_normalize_demo", "z_score_normalize"]
