"""Noisy batch norm (Santurkar et al. 2018, Algorithm 1): the noise's distributions, where it acts, seeding."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from normlab.errors import ConfigError
from normlab.models import create_model, list_models, list_norm_layers, model_options
from normlab.models.noisy_bn import NoisyBatchNorm1d, NoisyBatchNorm2d, noisy_batch_norm

N_MU, N_SIGMA, R_MU, R_SIGMA = 0.5, 1.25, 0.1, 0.1


def _checkerboard(n: int, c: int, h: int, w: int) -> torch.Tensor:
    """Per channel exactly half +1 and half -1: batch mean 0, biased variance 1."""
    grid = (torch.arange(h).view(-1, 1) + torch.arange(w).view(1, -1)) % 2
    pattern = grid.float() * 2 - 1
    return pattern.expand(n, c, h, w).clone()


def test_registered_as_norm_and_model():
    assert "noisy-batch" in list_norm_layers()
    assert "lenet5-noisy-bn" in list_models() and "lenet5-bn-before-all" in list_models()
    model = create_model("lenet5-noisy-bn")
    assert isinstance(model.norm1, NoisyBatchNorm2d) and isinstance(model.norm2, NoisyBatchNorm2d)
    assert model_options("lenet5-noisy-bn") == model_options("lenet5-bn:norm=noisy-batch")
    allfc = create_model("lenet5:norm=noisy-batch,norm_in=all")
    assert isinstance(allfc.norm3, NoisyBatchNorm1d) and allfc.norm4.num_features == 84
    # Same parameters and buffers as batch norm, so state dicts interchange.
    assert set(NoisyBatchNorm2d(6).state_dict()) == set(nn.BatchNorm2d(6).state_dict())
    options = model_options("lenet5-bn-before-all")
    assert (options["norm"], options["norm_position"], options["norm_in"]) == ("batch", "before", "all")


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="n_sigma"):
        NoisyBatchNorm2d(4, n_sigma=0.5)
    with pytest.raises(ConfigError, match="r_mu"):
        NoisyBatchNorm2d(4, r_mu=-1)
    with pytest.raises(ConfigError, match="position, sample"):
        NoisyBatchNorm2d(4, per="pixel")
    with pytest.raises(ConfigError, match="kind"):
        noisy_batch_norm(4, kind="3d")
    with pytest.raises(ConfigError, match="generator"):
        NoisyBatchNorm2d(4, generator=0)


def test_step_noise_distributions_over_many_steps():
    """mu ~ U(-n_mu, n_mu) and sigma ~ U(1, n_sigma), one per unit and step."""
    layer = NoisyBatchNorm2d(8, generator=torch.Generator().manual_seed(0))
    x = torch.zeros(2, 8, 2, 2)
    mus, sigmas = [], []
    for _ in range(500):
        mu, sigma, _, _ = layer.sample_noise(x)
        assert mu.shape == sigma.shape == (1, 8, 1, 1)
        mus.append(mu.flatten())
        sigmas.append(sigma.flatten())
    mu, sigma = torch.cat(mus).double(), torch.cat(sigmas).double()  # 4,000 draws each
    assert mu.min() >= -N_MU and mu.max() <= N_MU
    assert sigma.min() >= 1.0 and sigma.max() <= N_SIGMA
    # U(a, b): mean (a + b) / 2, variance (b - a)^2 / 12; standard errors ~0.005 and ~0.001.
    assert abs(float(mu.mean())) < 0.03
    assert float(mu.var()) == pytest.approx((2 * N_MU) ** 2 / 12, rel=0.08)
    assert float(sigma.mean()) == pytest.approx((1 + N_SIGMA) / 2, abs=0.008)
    assert float(sigma.var()) == pytest.approx((N_SIGMA - 1) ** 2 / 12, rel=0.08)
    # Both ends of each range are reached.
    assert mu.min() < -0.45 and mu.max() > 0.45 and sigma.min() < 1.02 and sigma.max() > 1.23


def test_sample_noise_distributions_within_a_step():
    """m ~ U(mu - r_mu, mu + r_mu) and s ~ N(sigma, r_sigma), per (sample, channel, position)."""
    layer = NoisyBatchNorm2d(4, generator=torch.Generator().manual_seed(1))
    x = torch.zeros(256, 4, 8, 8)  # 16,384 samples per channel
    mu, sigma, m, s = layer.sample_noise(x)
    assert m.shape == s.shape == x.shape
    offset = (m - mu).double()
    assert offset.abs().max() <= R_MU + 1e-6
    per_channel = offset.transpose(0, 1).reshape(4, -1)
    assert per_channel.mean(1).abs().max() < 0.004  # se ~0.00045
    assert per_channel.std(1).sub(R_MU / math.sqrt(3)).abs().max() < 0.002
    scale = (s - sigma).double().transpose(0, 1).reshape(4, -1)
    assert scale.mean(1).abs().max() < 0.006  # se ~0.0008
    assert scale.std(1).sub(R_SIGMA).abs().max() < 0.003
    # Every position draws its own noise (the convolutional "samples" are N x H x W).
    assert len(torch.unique(m[:, 0])) > 16_000


def test_forward_is_s_times_bn_plus_m():
    torch.manual_seed(0)
    x = torch.randn(16, 3, 5, 5) * 2 + 1
    noisy = NoisyBatchNorm2d(3, generator=torch.Generator().manual_seed(7))
    plain = nn.BatchNorm2d(3)
    with torch.no_grad():
        for layer in (noisy, plain):
            layer.weight.copy_(torch.tensor([0.5, 1.0, 2.0]))
            layer.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    out = noisy(x)
    a = plain(x)
    noisy.generator.manual_seed(7)
    _, _, m, s = noisy.sample_noise(a)
    torch.testing.assert_close(out, a * s + m)
    # Batch norm's own running statistics are updated as plain batch norm updates them.
    assert torch.equal(noisy.running_mean, plain.running_mean) and torch.equal(noisy.running_var, plain.running_var)
    assert int(noisy.num_batches_tracked) == 1


def test_noise_on_a_known_bn_output():
    """With BN output exactly +-c (checkerboard input, weight 1, bias 0), the output reveals mu, sigma and the spread."""
    torch.manual_seed(3)
    layer = NoisyBatchNorm2d(6)  # global generator
    x = _checkerboard(64, 6, 16, 16)  # 8,192 values of each sign per channel
    c = 1 / math.sqrt(1 + layer.eps)
    out = layer(x).detach().double()
    plus, minus = x > 0, x < 0
    for ch in range(6):
        hi, lo = out[:, ch][plus[:, ch]], out[:, ch][minus[:, ch]]
        mu = (hi.mean() + lo.mean()) / 2
        sigma = (hi.mean() - lo.mean()) / (2 * c)
        assert -N_MU - 0.01 <= float(mu) <= N_MU + 0.01
        assert 1 - 0.01 <= float(sigma) <= N_SIGMA + 0.01
        # out = s*c + m: variance c^2 r_sigma^2 + r_mu^2 / 3 at either sign.
        expected = math.sqrt(c * c * R_SIGMA ** 2 + R_MU ** 2 / 3)
        assert float(hi.std()) == pytest.approx(expected, rel=0.05)
        assert float(lo.std()) == pytest.approx(expected, rel=0.05)


def test_noise_changes_every_step_and_is_absent_in_eval():
    torch.manual_seed(0)
    layer = NoisyBatchNorm2d(4)
    x = torch.randn(32, 4, 6, 6)
    first, second = layer(x), layer(x)
    assert not torch.allclose(first, second)
    plain = nn.BatchNorm2d(4)
    plain.load_state_dict(layer.state_dict())
    layer.eval()
    plain.eval()
    state = torch.get_rng_state()
    assert torch.equal(layer(x), plain(x))
    assert torch.equal(layer(x), layer(x))
    assert torch.equal(torch.get_rng_state(), state)  # eval draws no random numbers


def test_same_seed_same_noise():
    x = torch.randn(8, 2, 4, 4)
    torch.manual_seed(11)
    a = NoisyBatchNorm2d(2)(x)
    torch.manual_seed(11)
    b = NoisyBatchNorm2d(2)(x)
    torch.manual_seed(12)
    c = NoisyBatchNorm2d(2)(x)
    assert torch.equal(a, b) and not torch.equal(a, c)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(NoisyBatchNorm2d(2, generator=g1)(x), NoisyBatchNorm2d(2, generator=g2)(x))


def test_per_sample_option_shares_noise_over_positions():
    layer = NoisyBatchNorm2d(3, per="sample", generator=torch.Generator().manual_seed(0))
    x = torch.zeros(10, 3, 4, 4)
    _, _, m, s = layer.sample_noise(x)
    assert m.shape == s.shape == (10, 3, 1, 1)
    # A constant input normalises to 0, so the output is m, constant over each image's positions.
    out = layer(torch.ones(10, 3, 4, 4))
    assert torch.equal(out, out[:, :, :1, :1].expand_as(out))
    assert len(torch.unique(out[:, 0, 0, 0])) == 10


def test_1d_noise_per_sample_and_unit():
    layer = NoisyBatchNorm1d(5, generator=torch.Generator().manual_seed(2))
    x = torch.randn(400, 5)
    mu, sigma, m, s = layer.sample_noise(x)
    assert mu.shape == (1, 5) and m.shape == s.shape == (400, 5)
    assert ((m - mu).abs() <= R_MU + 1e-6).all()
    out = layer(x)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_gradient_flows_through_the_scale_only():
    torch.manual_seed(0)
    x = torch.randn(8, 2, 3, 3, requires_grad=True)
    noisy = NoisyBatchNorm2d(2, generator=torch.Generator().manual_seed(4))
    noisy(x).sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    plain = nn.BatchNorm2d(2)
    a = plain(x2)
    noisy.generator.manual_seed(4)
    _, _, m, s = noisy.sample_noise(a.detach())
    (a * s + m).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(noisy.weight.grad, plain.weight.grad)


def test_training_with_noisy_bn_is_seeded(small_splits):
    from normlab.train import TrainConfig, train

    cfg = TrainConfig(model="lenet5-noisy-bn", epochs=1, subset=1024, device="cpu")
    a = train(cfg, splits=small_splits, progress=False)
    b = train(cfg, splits=small_splits, progress=False)
    bn = train(cfg.replace(model="lenet5-bn"), splits=small_splits, progress=False)
    assert a.status == "done"
    assert a.train_loss_per_batch == b.train_loss_per_batch and a.val_accuracy == b.val_accuracy
    # Same initial weights and batches as lenet5-bn: only the noise differs.
    assert a.train_loss_per_batch[0] != bn.train_loss_per_batch[0]
    assert a.val_accuracy[-1] > 0.5
