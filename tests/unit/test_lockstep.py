"""The lock-step search finds what each star finds alone; the kernel's duration mask matches the reference."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from exoray.config import SearchConfig
from exoray.errors import SearchBudgetError, TimeLimitError
from exoray.preprocess import preprocess_lightcurve
from exoray.search import steps as steps_mod
from exoray.search.bls import bls_power
from exoray.search.candidates import grid_class, search_grid
from exoray.search.lockstep import find_candidates_batch
from exoray.simulate import sector_timing
from exoray.simulate.sector import simulate_lightcurve, simulate_star

_CLASSES = ("planet", "eb", "none", "multi_planet", "planet", "blended_eb")


@pytest.fixture(scope="module")
def stars():
    timing = sector_timing(1, 7)
    out = []
    for i, cls in enumerate(_CLASSES):
        rng = np.random.default_rng([7, i])
        star, sig = simulate_star(rng, 8_000_000 + i, cls, timing)
        out.append(preprocess_lightcurve(simulate_lightcurve(rng, star, sig, timing=timing)))
    return out


def _same(a, b, rtol):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert not isinstance(x, BaseException) and not isinstance(y, BaseException), (x, y)
        assert len(x[0]) == len(y[0]), ([r["period_days"] for r in x[0]], [r["period_days"] for r in y[0]])
        for p, q in zip(x[0], y[0]):
            for k in ("period_days", "t0_btjd", "duration_hours", "depth_ppm", "snr", "sde", "odd_even_sigma"):
                assert p[k] == pytest.approx(q[k], rel=rtol, abs=1e-9, nan_ok=True), k
            assert p["disposition"] == q["disposition"]


def test_lockstep_equals_one_by_one_float64(stars):
    cfg = SearchConfig(rank=False, dtype="float64")
    alone = find_candidates_batch(stars, cfg, lockstep=False)
    together = find_candidates_batch(stars, cfg, lockstep=True)
    assert sum(len(x[0]) for x in alone) >= 4  # the planets and binaries are found
    _same(alone, together, 1e-9)


def test_lockstep_float32_agrees_to_round_off(stars):
    cfg = SearchConfig(rank=False)
    _same(find_candidates_batch(stars[:3], cfg, lockstep=False), find_candidates_batch(stars[:3], cfg), 1e-4)


def test_lockstep_batches_the_passes(stars, monkeypatch):
    """Stars of one class share their grid, so their passes run in one kernel call."""
    calls = []
    real = steps_mod.bls_power

    def counting(batch, periods, *a, **k):
        calls.append((len(batch), np.size(periods)))
        return real(batch, periods, *a, **k)

    monkeypatch.setattr(steps_mod, "bls_power", counting)
    cfg = SearchConfig(rank=False, max_planets=1, max_passes=1, n_peaks=1, redetrend=False)
    same = [dataclasses.replace(stars[2], tic_id=100 + i, radius=1.0, mass=1.0, logg=None) for i in range(4)]
    find_candidates_batch(same, cfg, lockstep=True)
    coarse = [c for c in calls if c[1] > 200]
    assert coarse == [(4, coarse[0][1])]  # one call for the four first passes


def test_grid_shared_within_a_class(stars):
    cfg = SearchConfig()
    a = dataclasses.replace(stars[0], mass=1.0, radius=1.0, logg=None)
    b = dataclasses.replace(stars[0], mass=1.02, radius=1.005, logg=None)
    c = dataclasses.replace(stars[0], mass=0.5, radius=0.5, logg=None)
    assert grid_class(a, cfg) == grid_class(b, cfg)
    assert search_grid(a, cfg) is search_grid(b, cfg)
    assert search_grid(c, cfg) is not search_grid(a, cfg)
    g = search_grid(c, cfg)
    assert g.periods[-1] >= a.time[-1] - a.time[0]  # the span rounded up, never down
    assert not g.periods.flags.writeable
    # every period keeps at least two durations, and the mask drops some
    assert g.mask.sum(axis=1).min() >= 2 and not g.mask.all()


def test_failures_and_time_limits_stay_with_their_star(stars):
    cfg = SearchConfig(rank=False, max_baseline_days=10.0)
    short = dataclasses.replace(stars[1], time=stars[1].time - stars[1].time[0])  # any span > 10 d fails
    out = find_candidates_batch([stars[0], short], cfg)
    assert all(isinstance(x, SearchBudgetError) for x in out)
    cut = stars[0].time < stars[0].time[0] + 9.0
    ok = dataclasses.replace(stars[0], **{k: getattr(stars[0], k)[cut] for k in
                                          ("time", "flux", "flux_err", "trend", "flux_flat", "segment")},
                             centroid_col=None, centroid_row=None)
    out = find_candidates_batch([ok, stars[1]], cfg)
    assert not isinstance(out[0], BaseException) and isinstance(out[1], SearchBudgetError)
    assert "max_baseline_days" in str(out[1]) or "baseline" in str(out[1])
    out = find_candidates_batch(stars[:2], SearchConfig(rank=False), timeout_s=1e-3)
    assert all(isinstance(x, TimeLimitError) for x in out)


def test_duration_mask_matches_reference():
    rng = np.random.default_rng(2)
    t = np.sort(rng.uniform(0, 12, 700))
    y = 1 + 1e-3 * rng.standard_normal(t.size)
    y[np.mod(t - 0.7, 2.3) < 0.12] -= 3e-3
    e = np.full(t.size, 1e-3)
    periods = np.linspace(1.5, 3.5, 60)
    durations = np.array([0.04, 0.07, 0.1, 0.14, 0.2])
    mask = np.zeros((periods.size, durations.size), bool)
    mask[:20, :2] = True
    mask[20:, 1:4] = True  # the last column is never searched: the kernel skips it
    kw = dict(oversample=3, min_transits=1.5, duration_mask=mask)
    fast = bls_power((t, y, e), periods, durations, dtype="float64", **kw)[0]
    ref = bls_power((t, y, e), periods, durations, backend="numpy-reference", **kw)[0]
    for k in ("power", "depth", "snr", "duration", "t0"):
        np.testing.assert_allclose(fast[k], ref[k], rtol=1e-9, atol=1e-12, err_msg=k)
    assert fast["duration"].max() < 0.18  # nothing from the column no period may use
