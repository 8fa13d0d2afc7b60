"""exoray.training.augment: each augmentation does what it says."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from exoray.errors import ConfigError, InputError
from exoray.training import augment as A


def _box(length=400, depth=2e-3, centre=200, half=30):
    x = np.zeros((1, length))
    x[0, centre - half:centre + half] = -depth
    return x


@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0])
def test_coloured_noise_spectral_slope_and_amplitude(alpha):
    rng = np.random.default_rng(1)
    x = A.coloured_noise(rng, (200, 1024), alpha=alpha, amplitude=5e-4)
    assert x.shape == (200, 1024)
    np.testing.assert_allclose(x.std(axis=1), 5e-4, rtol=1e-9)
    assert abs(A.spectral_slope(x) + alpha) < 0.15


def test_coloured_noise_seeded_and_validated():
    a = A.coloured_noise(np.random.default_rng(3), (2, 64), 1.0, 1e-3)
    b = A.coloured_noise(np.random.default_rng(3), (2, 64), 1.0, 1e-3)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError):
        A.coloured_noise(np.random.default_rng(0), (2, 64), alpha=5.0)
    with pytest.raises(ConfigError):
        A.coloured_noise(0, (2, 64))  # not a Generator
    y = A.add_coloured_noise(np.ones((3, 64)), np.random.default_rng(0), 1.0, 1e-3)
    assert abs(y.mean() - 1.0) < 1e-3


def test_warp_grid_monotone_and_anchored():
    g = A.warp_grid(np.random.default_rng(0), 300, strength=0.2)
    assert g[0] == 0.0 and abs(g[-1] - 299.0) < 1e-9
    d = np.diff(g)
    assert np.all(d > 0)
    assert d.max() <= 1.2 * 1.25 and d.min() >= 1 / 1.2 / 1.25


def test_time_warp_keeps_depth_and_area():
    rng = np.random.default_rng(5)
    box = _box()
    x = np.repeat(box, 20, axis=0)
    w = A.time_warp(x, rng, strength=0.15)
    area0 = box.sum()
    for row in w:
        assert abs(row.min() / box.min() - 1.0) < 0.02  # depth kept (no aliasing / ringing)
        assert row.max() < 1e-12 + 1e-4 * 2e-3  # no overshoot above the baseline
        assert abs(row.sum() / area0 - 1.0) <= 0.16  # area changes by at most the warp strength
    assert not np.allclose(w[0], w[1])  # each row warped differently


def test_time_warp_zero_strength_is_identity():
    x = np.random.default_rng(0).normal(size=(2, 128))
    np.testing.assert_allclose(A.time_warp(x, np.random.default_rng(0), strength=0.0), x, atol=1e-12)


def test_mixup_is_convex_combination_with_labels():
    rng = np.random.default_rng(2)
    x = np.random.default_rng(9).normal(size=(50, 32))
    y = (np.arange(50) % 2).astype(float)
    xm, ym, lam = A.mixup(x, y, np.random.default_rng(2))
    perm = rng.permutation(50)  # same rng stream as inside mixup
    np.testing.assert_allclose(xm, lam[:, None] * x + (1 - lam[:, None]) * x[perm])
    np.testing.assert_allclose(ym, lam * y + (1 - lam) * y[perm])
    assert np.all((lam >= 0) & (lam <= 1)) and np.all((ym >= 0) & (ym <= 1))
    with pytest.raises(InputError):
        A.mixup(x, y[:10], rng)


def test_physical_transit_params_depth_and_duration():
    rng = np.random.default_rng(4)
    p = A.physical_transit_params(rng, 1500.0, 3.0)
    assert abs(p["depth_ppm"] / 1500.0 - 1) < 0.01
    assert abs(p["duration_hours"] / 3.0 - 1) < 0.01
    assert 0.2 < p["period"] < 5000 and p["a_rs"] > 1
    with pytest.raises(ConfigError, match="impossible"):
        A.physical_transit_params(rng, 1500.0, 0.01)


def test_inject_transits_depth_matches_and_baseline():
    rng = np.random.default_rng(7)
    x = np.ones((4, 512))
    out, p = A.inject_transits(x, rng, depth_ppm=[500, 1000, 3000, 8000], duration_hours=2.5,
                               baseline=1.0, centre=[256, 200, 300, 256])
    measured = 1e6 * (1.0 - out.min(axis=1))
    np.testing.assert_allclose(measured, [500, 1000, 3000, 8000], rtol=0.03)
    np.testing.assert_allclose(np.argmin(out, axis=1), [256, 200, 300, 256], atol=2)
    np.testing.assert_allclose(p["duration_hours"], 2.5, rtol=0.01)
    # in-transit span ~ T14 in 2-min cadences
    n_in = (out < 1.0 - 1e-7).sum(axis=1)
    np.testing.assert_allclose(n_in, 2.5 * 30, atol=3)
    # zero-centred windows: same transit, shifted baseline
    out0, _ = A.inject_transits(np.zeros((1, 512)), np.random.default_rng(1), 2000.0, 2.0, baseline=0.0)
    assert abs(-out0.min() * 1e6 / 2000.0 - 1) < 0.03 and abs(np.median(out0)) < 1e-12


class _FakeGAN(torch.nn.Module):
    """Deterministic stand-in with the GAN's generate() signature: a box of the requested size."""

    def generate(self, n, depth_ppm, duration_hours):
        out = torch.zeros(n, 1, 128)
        for i in range(n):
            half = int(duration_hours[i] * 15)
            out[i, 0, 64 - half:64 + half] = -float(depth_ppm[i]) * 1e-6
        return out


def test_gan_samples_and_augment_dispatch():
    x = np.zeros((6, 128))
    y = np.array([0, 0, 0, 0, 1, 1], float)
    g = A.gan_samples(_FakeGAN(), 3, [1000, 2000, 3000], 1.0)
    assert g.shape == (3, 128)
    np.testing.assert_allclose(-g.min(axis=1) * 1e6, [1000, 2000, 3000], rtol=1e-5)
    with pytest.raises(ConfigError):
        A.gan_samples(object(), 3, 1000, 1)
    rng = np.random.default_rng(0)
    for name in ("noise", "warp", "mixup"):
        xa, ya = A.augment(name, x + 1e-3 * rng.normal(size=x.shape), y, rng)
        assert xa.shape == x.shape and ya.shape == y.shape
    xi, yi = A.augment("inject", x, y, rng, depth_ppm=[2000.0], duration_hours=[2.0])
    assert xi.shape == (4, 128) and np.all(yi == 1) and np.all(xi.min(axis=1) < -1.5e-3)
    xg, yg = A.augment("gan", x, y, rng, gan=_FakeGAN(), n=5, depth_ppm=[1000.0], duration_hours=[1.0])
    assert xg.shape == (5, 128) and np.all(yg == 1)
    with pytest.raises(ConfigError):
        A.augment("rotate", x, y, rng)
