"""Per-star detrending (exoray.preprocess.stellar) and the re-detrend with transits masked."""

from __future__ import annotations

import numpy as np
import pytest

from exoray.config import PreprocessConfig
from exoray.lightcurve import LightCurve
from exoray.preprocess import preprocess_lightcurve, redetrend
from exoray.preprocess.stellar import (
    box_scatter,
    choose_detrend,
    masked_biweight,
    retention,
    robust_spline,
    rotation_model,
    transit_like_fold,
)
from exoray.search.bls import transit_mask

CADENCE = 2.0 / 1440.0


def _time(span=27.0):
    t = np.arange(0.0, span, CADENCE)
    return t[(t < 13.2) | (t > 14.2)]


def _box(t, period, t0, dur, depth):
    return np.where(np.abs(np.mod(t - t0 + 0.5 * period, period) - 0.5 * period) < 0.5 * dur, -depth, 0.0)


def _seg(t):
    return np.concatenate([[0], np.cumsum(np.diff(t) > 0.5)]).astype(np.int32)


@pytest.mark.parametrize("spacing", [0.5, 1.0])
def test_spline_absorbs_about_d_over_k_of_a_shallow_transit(spacing):
    rng = np.random.default_rng(7)
    t = _time()
    dur = 0.1
    noise = 1e-3 * rng.standard_normal(t.size)
    depth = 2e-4  # a fifth of the point noise: never clipped, the linear regime
    with_transit = robust_spline(t, 1.0 + noise + _box(t, 3.7, 1.3, dur, depth), _seg(t), spacing)
    without = robust_spline(t, 1.0 + noise, _seg(t), spacing)
    inside = _box(t, 3.7, 1.3, dur, 1.0) < 0
    absorbed = np.mean(without[inside] - with_transit[inside]) / depth
    assert absorbed == pytest.approx(dur / spacing, abs=0.05)
    assert retention(dur, spacing) == pytest.approx(1 - dur / spacing)


def test_spline_follows_a_spotted_star_far_better_than_a_window():
    t = _time()
    f = 1.0 + 0.01 * np.sin(2 * np.pi * t / 6.0) + 0.004 * np.sin(4 * np.pi * t / 6.0 + 1.0)
    seg = _seg(t)
    bw = masked_biweight(t, f, seg, 0.5)
    sp = robust_spline(t, f, seg, 0.5)
    inner = (t > 1.0) & (t < 26.0) & (np.abs(t - 13.7) > 1.0)
    err_bw = np.max(np.abs(f / bw - 1)[inner])
    err_sp = np.max(np.abs(f / sp - 1)[inner])
    assert err_sp < 0.1 * err_bw


def test_rotation_model_never_learns_a_transit_from_its_own_rotation():
    t = _time()
    prot = 0.7
    spots = 0.02 * np.sin(2 * np.pi * t / prot) + 0.006 * np.sin(4 * np.pi * t / prot)
    transit = _box(t, 4.13, 2.2, 0.08, 2e-3)
    f = 1.0 + spots + transit
    model = rotation_model(t, f, prot)
    good = np.isfinite(model)
    resid = f[good] / model[good] - 1.0
    inside = transit[good] < 0
    assert np.mean(resid[inside]) == pytest.approx(-2e-3, rel=0.15)  # the transit is left whole
    assert np.std(resid[~inside]) < 3e-4  # while the spots (2 %) are gone


def test_rotation_guard_refuses_periods_that_carry_an_eclipse():
    t = _time()
    eclipse = 1.0 + _box(t, 1.3, 0.4, 0.12, 0.05)
    spots = 1.0 + 0.01 * np.sin(2 * np.pi * t / 1.3)
    assert transit_like_fold(t, eclipse, 1.3)
    assert not transit_like_fold(t, spots, 1.3)


def test_choice_prefers_wide_windows_on_quiet_stars_and_rotation_models_on_fast_rotators():
    rng = np.random.default_rng(0)
    t = _time()
    seg = _seg(t)
    quiet = 1.0 + 3e-4 * rng.standard_normal(t.size)
    c = choose_detrend(t, quiet, seg, mass=1.0, radius=1.0)
    assert c.window_days >= 0.75 and not np.isfinite(c.rotation_period_days)
    prot = 0.45
    phase = 2 * np.pi * t / prot
    amp = 0.02 * (1 + 0.2 * np.sin(2 * np.pi * t / 9.0))  # spots evolve over the sector
    fast = 1.0 + amp * (np.sin(phase) + 0.4 * np.sin(2 * phase + 0.7)) + 3e-4 * rng.standard_normal(t.size)
    cf = choose_detrend(t, fast, seg, mass=0.5, radius=0.5)
    assert cf.method.startswith("rotation+")
    assert cf.rotation_period_days == pytest.approx(prot, rel=0.02) or cf.rotation_period_days == pytest.approx(
        2 * prot, rel=0.02)
    flat = fast / cf.trend
    assert box_scatter(t, flat, 0.1) < 3e-4


def test_redetrend_gives_back_the_depth_the_detrender_absorbed():
    rng = np.random.default_rng(1)
    t = _time()
    depth, dur, period, t0 = 3e-4, 0.2, 5.3, 2.1
    flux = 1000.0 * (1 + _box(t, period, t0, dur, depth) + 2e-4 * rng.standard_normal(t.size))
    lc = LightCurve(1, 1, t, flux, np.full(t.size, 0.2), None, radius=1.0, mass=1.0)
    plc = preprocess_lightcurve(lc, PreprocessConfig(window_days=0.5))
    inside = transit_mask(plc.time, period, t0, dur)
    before = 1 - np.mean(plc.flux_flat[inside])
    after_plc = redetrend(plc, transit_mask(plc.time, period, t0, 1.5 * dur))
    after = 1 - np.mean(after_plc.flux_flat[inside])
    assert before < 0.75 * depth  # a 0.5-d window eats ~40 % of a shallow 4.8-h transit
    assert after == pytest.approx(depth, rel=0.15)
    assert after_plc.detrend_method == plc.detrend_method
    np.testing.assert_allclose(after_plc.flux_flat[~transit_mask(plc.time, period, t0, 4.0)],
                               plc.flux_flat[~transit_mask(plc.time, period, t0, 4.0)], atol=5e-5)


def test_preprocess_records_how_the_trend_was_made():
    rng = np.random.default_rng(2)
    t = _time()
    lc = LightCurve(1, 1, t, 1000.0 * (1 + 3e-4 * rng.standard_normal(t.size)), np.full(t.size, 0.3), None)
    plc = preprocess_lightcurve(lc)
    assert plc.detrend_method in ("biweight", "spline")
    assert plc.detrend_window_days in PreprocessConfig().candidate_windows_days + \
        PreprocessConfig().candidate_spline_spacings_days
    fixed = preprocess_lightcurve(lc, PreprocessConfig(window_days=0.6, rotation_model=False))
    assert fixed.detrend_method == "biweight" and fixed.detrend_window_days == 0.6


def test_lomb_scargle_kernel_matches_astropy():
    from astropy.timeseries import LombScargle

    from exoray.preprocess.stellar import _lomb_scargle

    rng = np.random.default_rng(4)
    t = 1325.0 + np.sort(rng.uniform(0, 27, 900))
    y = 1 + 0.01 * np.sin(2 * np.pi * t / 2.3) + 0.003 * rng.standard_normal(t.size)
    freq = np.linspace(0.1, 10.0, 1500)  # long enough to cross the kernel's re-anchoring points
    ours, ref = _lomb_scargle(t, y, freq), LombScargle(t, y).power(freq)
    np.testing.assert_allclose(ours, ref, atol=1e-10)
    assert int(np.argmax(ours)) == int(np.argmax(ref))
    with pytest.raises(ValueError, match="uniform"):
        _lomb_scargle(t, y, np.geomspace(0.1, 10.0, 50))
