"""Noisy batch norm: batch norm followed by random, time-varying scale and shift noise.

Santurkar et al. (2018), "How does batch normalization help optimization?", section 2.1 and
Algorithm 1, inject *internal covariate shift* on purpose: after each batch-norm layer they
scale and shift the activations by noise whose mean and variance change at every step. The
network then sees input distributions that drift far more than a plain network's, yet it trains
about as well as with ordinary batch norm: evidence that BN does not help by stabilising
distributions.

The noise, at every forward pass in training mode (one forward = one training step):

1. per unit (channel) ``c``, draw a step-wide mean and scale::

       mu_c    ~ U(-n_mu, n_mu)
       sigma_c ~ U(1, n_sigma)

2. per sample of the batch, draw the sample's shift and scale around them::

       m ~ U(mu_c - r_mu, mu_c + r_mu)
       s ~ N(sigma_c, r_sigma)          (r_sigma is the standard deviation)

3. replace the BN output ``a`` (after BN's own affine transform) by ``s * a + m``.

Defaults are the paper's: ``n_mu = 0.5``, ``n_sigma = 1.25``, ``r_mu = r_sigma = 0.1``.

*What is a sample for a convolution?* Batch norm on a convolution treats every spatial
position of every image as a sample of the channel: its statistics run over ``N x H x W``.
Following that, the default ``per="position"`` draws one ``(m, s)`` per ``(n, c, h, w)``.
``per="sample"`` draws one ``(m, s)`` per ``(n, c)``, shared by the image's positions, the
other reading of the paper. For fully-connected features (``(N, C)``) both are the same.

*Where the random numbers come from.* By default the noise draws from torch's global generator
(on the input's device), so ``torch.manual_seed`` (which :func:`normlab.train.train` calls with
the run's seed) makes the noise, and so the run, reproducible. Pass ``generator`` to use a
generator of your own. Measurements that must not perturb training (for example
:mod:`normlab.diagnostics.smoothness`) save and restore both.

In evaluation mode the layer is exactly batch norm: no noise, running statistics used.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from normlab.errors import ConfigError

__all__ = ["NOISE_PER", "NoisyBatchNorm1d", "NoisyBatchNorm2d", "NoisyBatchNormMixin", "noisy_batch_norm"]

NOISE_PER = ("position", "sample")


def _check_number(name: str, value: float, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= minimum:
        raise ConfigError(f"{name}={value!r} is not valid; it must be a number >= {minimum:g}")
    return float(value)


class NoisyBatchNormMixin:
    """The noise of :class:`NoisyBatchNorm2d` and :class:`NoisyBatchNorm1d` (see the module docs).

    Listed before the batch-norm class, so ``super()`` here is ``nn.BatchNorm2d`` or ``1d``.
    """

    def __init__(self, num_features: int, *, n_mu: float = 0.5, n_sigma: float = 1.25, r_mu: float = 0.1,
                 r_sigma: float = 0.1, per: str = "position", generator: Optional[torch.Generator] = None,
                 **kwargs) -> None:
        super().__init__(num_features, **kwargs)
        self.n_mu = _check_number("n_mu", n_mu, 0.0)
        self.n_sigma = _check_number("n_sigma", n_sigma, 1.0)
        self.r_mu = _check_number("r_mu", r_mu, 0.0)
        self.r_sigma = _check_number("r_sigma", r_sigma, 0.0)
        if per not in NOISE_PER:
            raise ConfigError(f"per={per!r} is not valid; choose one of: {', '.join(NOISE_PER)}")
        self.per = per
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ConfigError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        self.generator = generator

    def _noise_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        if x.dim() > 2 and self.per == "sample":
            return (*x.shape[:2], *([1] * (x.dim() - 2)))
        return tuple(x.shape)

    def sample_noise(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Draw one step's noise for a batch shaped like ``x``: ``(mu, sigma, m, s)``.

        ``mu`` and ``sigma`` have shape ``(1, C, 1, ...)`` (one value per unit), ``m`` and ``s``
        the shape of ``x`` (``per="position"``) or ``(N, C, 1, ...)`` (``per="sample"``). The
        draws are, in this order: ``mu``, ``sigma``, ``m``, ``s``.
        """
        channels = x.shape[1]
        unit_shape = (1, channels, *([1] * (x.dim() - 2)))
        kw = dict(device=x.device, dtype=x.dtype, generator=self.generator)
        mu = (torch.rand(unit_shape, **kw) * 2 - 1) * self.n_mu
        sigma = 1 + torch.rand(unit_shape, **kw) * (self.n_sigma - 1)
        shape = self._noise_shape(x)
        m = mu + (torch.rand(shape, **kw) * 2 - 1) * self.r_mu
        s = sigma + torch.randn(shape, **kw) * self.r_sigma
        return mu, sigma, m, s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Batch norm, then ``s * a + m`` in training mode."""
        out = super().forward(x)
        if not self.training:
            return out
        with torch.no_grad():
            _, _, m, s = self.sample_noise(out)
        # s and m are constants of the step: the gradient flows through ``out`` scaled by s.
        return out * s + m

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, n_mu={self.n_mu:g}, n_sigma={self.n_sigma:g}, r_mu={self.r_mu:g}, "
                f"r_sigma={self.r_sigma:g}, per={self.per!r}")


class NoisyBatchNorm2d(NoisyBatchNormMixin, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` plus Santurkar et al.'s noise in training mode (input ``(N, C, H, W)``).

    Parameters and buffers are exactly those of ``nn.BatchNorm2d`` (state dicts interchange);
    the noise settings are plain attributes. See :mod:`normlab.models.noisy_bn`.
    """


class NoisyBatchNorm1d(NoisyBatchNormMixin, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` plus Santurkar et al.'s noise in training mode (input ``(N, C)``)."""


def noisy_batch_norm(num_channels: int, *, kind: str = "2d", **kwargs) -> nn.Module:
    """Norm-factory constructor for ``"noisy-batch"``: :class:`NoisyBatchNorm2d` or ``1d`` by ``kind``.

    Keyword arguments (``n_mu``, ``n_sigma``, ``r_mu``, ``r_sigma``, ``per``, ``generator`` and
    batch norm's own ``eps``, ``momentum``...) go to the layer.
    """
    if kind not in ("2d", "1d"):
        raise ConfigError(f"kind={kind!r} is not valid; choose one of: 2d, 1d")
    cls = NoisyBatchNorm2d if kind == "2d" else NoisyBatchNorm1d
    return cls(num_channels, **kwargs)
