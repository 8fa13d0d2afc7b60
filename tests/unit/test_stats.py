"""Robust location and scale of exoray.stats."""

from __future__ import annotations

import math

import numpy as np
import pytest

from exoray import stats


def test_mad_to_sigma_is_the_normal_consistency_constant():
    scipy_stats = pytest.importorskip("scipy.stats")
    assert stats.MAD_TO_SIGMA == pytest.approx(1.0 / scipy_stats.norm.ppf(0.75), rel=1e-15)
    x = np.random.default_rng(3).normal(0.0, 2.5, 2001)
    assert stats.MAD_TO_SIGMA * stats.mad(x) == pytest.approx(
        scipy_stats.median_abs_deviation(x, scale="normal"), rel=1e-14)


def test_robust_std_of_gaussian_noise_with_outliers():
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 1e-3, 20000)
    x[:500] = 1.0  # 2.5 % wild points barely move it
    assert stats.robust_std(x) == pytest.approx(1e-3, rel=0.05)


def test_robust_std_ignores_nan_and_inf_mad_does_not():
    x = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    y = np.concatenate([x, [np.nan, np.inf, -np.inf]])
    assert stats.robust_std(y) == stats.robust_std(x) == pytest.approx(stats.MAD_TO_SIGMA * 1.0)
    assert math.isnan(stats.mad(y))
    assert math.isnan(stats.robust_std([]))
    assert math.isnan(stats.robust_std([np.nan, np.nan]))
    assert isinstance(stats.robust_std(x), float)


def test_axis():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 301))
    per_row = stats.robust_std(x, axis=1)
    assert per_row.shape == (4,)
    assert np.allclose(per_row, [stats.robust_std(row) for row in x], rtol=1e-15)
    x[1, :10] = np.nan
    x[3, :] = np.nan
    got = stats.robust_std(x, axis=1)
    assert got[1] == pytest.approx(stats.robust_std(x[1]), rel=1e-15)
    assert math.isnan(got[3])
    m = stats.mad(x[:1], axis=1, keepdims=True)
    assert m.shape == (1, 1)


def test_location_scale_and_z():
    x = np.array([0.0, 1.0, 2.0, 3.0, 10.0])
    med, scale = stats.location_scale(x)
    assert (med, scale) == (2.0, pytest.approx(stats.MAD_TO_SIGMA))
    assert np.allclose(stats.robust_z(x), (x - 2.0) / scale)
    # against a reference sample
    assert np.allclose(stats.robust_z([4.0], 1.0, 2.0), [1.5])
    # more than half the values equal: the MAD is zero, the standard deviation takes over
    flat = np.array([1.0, 1.0, 1.0, 1.0, 5.0])
    assert stats.location_scale(flat) == (1.0, pytest.approx(np.std(flat)))
    assert stats.location_scale(np.ones(5)) == (1.0, 1.0)
    assert np.all(np.isfinite(stats.robust_z([1.0, 2.0], 0.0, 0.0)))
