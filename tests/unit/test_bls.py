"""Tests of exoray.search: grids, torch BLS kernel vs reference and astropy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from exoray.errors import ConfigError, InputError
from exoray.search import (
    BLSResult,
    available_backends,
    bls_power,
    bls_search,
    duration_grid,
    iterative_search,
    period_grid,
    spectrum_sde,
)
from exoray.search.period_grid import central_transit_duration

KEYS = ("power", "depth", "depth_err", "snr", "log_likelihood", "duration", "t0")


def _lc(seed=0, n=300, span=10.0, period=2.3, t0=0.7, dur=0.12, depth=3e-3, noise=1e-3, uneven=True):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, span, n)) if uneven else np.linspace(0, span, n)
    y = 1 + noise * rng.standard_normal(n)
    if depth:
        y[np.abs(np.mod(t - t0 + 0.5 * period, period) - 0.5 * period) < dur / 2] -= depth
    dy = noise * rng.uniform(0.8, 1.2, n)
    return t, y, dy


def _tess_like(seed, periods_depths, span=27.0, cadence_min=10.0, noise=5e-4):
    rng = np.random.default_rng(seed)
    t = np.arange(0, span, cadence_min / 1440.0)
    t = t[(t < 13.0) | (t > 14.0)]
    y = 1 + noise * rng.standard_normal(t.size)
    for p, t0, d, dep in periods_depths:
        y[np.abs(np.mod(t - t0 + 0.5 * p, p) - 0.5 * p) < d / 2] -= dep
    return t, y, np.full(t.size, noise)


# --------------------------------------------------------------------------- grids


def test_period_grid_properties():
    p = period_grid(27.0, min_period=0.7, min_transits=2)
    assert np.all(np.diff(p) > 0)
    assert p[0] == pytest.approx(0.7) and p[-1] == pytest.approx(13.5)
    # Ofir: uniform in f^(1/3)
    x = (1.0 / p) ** (1.0 / 3.0)
    assert np.allclose(np.diff(x), np.diff(x).mean(), rtol=1e-6)
    assert period_grid(27.0, min_transits=3)[-1] == pytest.approx(9.0)
    assert period_grid(27.0, oversampling=6).size > 1.9 * period_grid(27.0, oversampling=3).size
    # denser star -> shorter transits -> finer grid
    assert period_grid(27.0, stellar_radius=0.5, stellar_mass=0.5).size > p.size
    assert period_grid(27.0, max_period=5.0)[-1] == pytest.approx(5.0)


def test_period_grid_roche_floor_does_not_depend_on_the_star():
    """A giant's catalogue radius never empties the grid: the floor is a rocky planet's Roche limit."""
    from exoray.search.period_grid import roche_period

    assert roche_period() == pytest.approx(12.6 / 24 / 5.5**0.5)
    p = period_grid(27.0, min_period=0.1, stellar_radius=20.0, stellar_mass=1.2)
    assert p[0] == pytest.approx(roche_period()) and p[-1] == pytest.approx(27.0)


def test_period_grid_bad_inputs():
    with pytest.raises(ConfigError):
        period_grid(1.0, min_period=0.6, min_transits=2)  # 1 d / 2 transits < min period
    with pytest.raises(ConfigError):
        period_grid(-3.0)
    with pytest.raises(ConfigError):
        period_grid(27.0, stellar_mass=0)
    with pytest.raises(ConfigError):
        period_grid(27.0, min_transits=0)


def test_duration_grid_properties():
    p = period_grid(27.0)
    d = duration_grid(p)
    assert d.shape == (p.size, 8)
    assert np.all(np.diff(d, axis=1) >= 0)
    assert d.min() >= 0.5 / 24 - 1e-12 and d.max() <= 12 / 24 + 1e-12
    assert np.all(d.max(axis=1) <= 0.12 * p + 1e-12)
    # Kepler scaling: ~13 h for a 1-yr orbit of the Sun
    assert central_transit_duration(365.25) * 24 == pytest.approx(13.0, rel=0.03)
    # a giant star gets longer durations than a dwarf
    assert duration_grid([10.0], 1.0, 3.0)[0, 3] > duration_grid([10.0], 1.0, 1.0)[0, 3]


# --------------------------------------------------------------------------- kernel vs reference


@pytest.mark.parametrize("objective", ["snr", "likelihood"])
@pytest.mark.parametrize("grid2d", [False, True])
def test_torch_matches_reference(objective, grid2d):
    lc = _lc(seed=1)
    periods = np.linspace(1.5, 3.1, 21)
    durations = duration_grid(periods, n_durations=3, min_duration_hours=1.0) if grid2d else np.array([0.06, 0.1, 0.15])
    kw = dict(objective=objective, oversample=3)
    fast = bls_power(lc, periods, durations, backend="torch", dtype="float64", **kw)[0]
    slow = bls_power(lc, periods, durations, backend="numpy-reference", **kw)[0]
    for k in KEYS:
        np.testing.assert_allclose(fast[k], slow[k], rtol=1e-9, atol=1e-12, err_msg=k)
    assert np.argmax(fast["power"]) == np.argmax(slow["power"])


def test_float32_agrees_with_float64():
    lc = _lc(seed=2, n=2000, span=20.0)
    periods = np.linspace(1.0, 6.0, 200)
    durations = np.array([0.05, 0.08, 0.12, 0.2])
    p64 = bls_power(lc, periods, durations, dtype="float64")[0]
    p32 = bls_power(lc, periods, durations, dtype="float32")[0]
    np.testing.assert_allclose(p32["power"], p64["power"], rtol=2e-3, atol=2e-3)
    assert np.argmax(p32["power"]) == np.argmax(p64["power"])


def test_batch_equals_one_at_a_time():
    lcs = [_lc(seed=s, n=200 + 50 * s, period=1.7 + 0.4 * s) for s in range(4)]
    periods = np.linspace(1.2, 3.5, 40)
    durations = np.array([0.05, 0.1, 0.15])
    batch = bls_power(lcs, periods, durations, dtype="float64", max_elements=20000)
    for lc, b in zip(lcs, batch):
        one = bls_power(lc, periods, durations, dtype="float64")[0]
        for k in KEYS:
            np.testing.assert_allclose(b[k], one[k], rtol=1e-10, atol=1e-13, err_msg=k)


# --------------------------------------------------------------------------- vs astropy


@pytest.mark.parametrize("objective", ["snr", "likelihood"])
def test_matches_astropy_injected(objective):
    lc = _tess_like(3, [(3.7, 1.1, 0.15, 1.5e-3)], cadence_min=20.0)
    periods = period_grid(27.0, min_period=1.0, oversampling=2)
    durations = np.array([0.05, 0.1, 0.15, 0.2])
    ours = bls_power(lc, periods, durations, objective=objective, oversample=5, dtype="float64")[0]
    ref = bls_power(lc, periods, durations, objective=objective, oversample=5, backend="astropy")[0]
    i, j = np.argmax(ours["power"]), np.argmax(ref["power"])
    assert abs(i - j) <= 1
    assert ours["periods"][i] == pytest.approx(3.7, rel=2e-3)
    # Identical at most periods.  astropy's bls.c overwrites the data of its
    # last phase bin when it pads the wrap-around, so a minority of periods
    # (those whose best box touches that bin) differ slightly.
    same = np.isclose(ours["power"], ref["power"], rtol=1e-6)
    assert same.mean() > 0.8
    assert np.median(np.abs(ours["power"] / ref["power"] - 1)) < 1e-6


def _load_pimen(path):
    """The real file through exoray's own reader and preprocessing (the sweep's path)."""
    from exoray.ingest import read_lightcurve
    from exoray.preprocess import preprocess_lightcurve

    plc = preprocess_lightcurve(read_lightcurve(path))
    return plc.time, plc.flux_flat, plc.flux_err / plc.trend


def test_real_pimen_matches_astropy(real_dir):
    path = real_dir / "tess_spoc_2min" / "tess2018206045859-s0001-0000000261136679-0120-s_lc.fits"
    if not path.exists():
        pytest.skip(f"{path} not present")
    lc = _load_pimen(path)
    periods = period_grid(lc[0][-1] - lc[0][0], min_period=2.0, oversampling=2)
    durations = np.array([1.5, 2.5, 3.5]) / 24
    ours = bls_search(lc, periods, durations, oversample=4)[0]
    ref = bls_power(lc, periods, durations, oversample=4, backend="astropy")[0]
    i = int(np.argmax(ours.power_spectrum))
    j = int(np.argmax(ref["power"]))
    assert abs(i - j) <= 1
    assert ours.period == pytest.approx(6.268, abs=0.02)
    assert ours.sde > 7 and ours.n_transits >= 3


# --------------------------------------------------------------------------- search API


def test_bls_search_result_object():
    lc = _tess_like(4, [(4.1, 2.0, 0.12, 2e-3)])
    r = bls_search(lc, min_period=1.0)[0]
    assert isinstance(r, BLSResult) and isinstance(r, dict)
    assert r.period == r["period"] == pytest.approx(4.1, rel=2e-3)
    assert abs(r.t0 - 2.0) < 0.02 and r.t0 >= lc[0][0]
    assert r.depth == pytest.approx(2e-3, rel=0.25)
    assert r.snr == pytest.approx(r.depth / r.depth_err)
    assert r.sde > 6.5 and r.n_transits >= 5
    assert r.periods.shape == r.power_spectrum.shape == r.power_detrended.shape
    row = r.to_candidate()
    from exoray.vet.records import CANDIDATES_SCHEMA

    assert set(row) <= set(CANDIDATES_SCHEMA.names)
    with pytest.raises(AttributeError):
        r.not_a_key


def test_iterative_search_two_planets():
    lc = _tess_like(5, [(3.3, 0.9, 0.12, 2.5e-3), (7.9, 2.5, 0.17, 2.0e-3)], noise=4e-4)
    found = iterative_search(lc, max_planets=3, sde_threshold=6.5, min_period=1.0)
    got = sorted(r.period for r in found[:2])
    assert len(found) == 2  # the third pass is noise (SDE < 6.5)
    assert got[0] == pytest.approx(3.3, rel=3e-3) and got[1] == pytest.approx(7.9, rel=3e-3)
    assert [r.candidate_index for r in found] == list(range(len(found)))


def test_spectrum_sde():
    rng = np.random.default_rng(0)
    pw = rng.standard_normal(2000) + np.linspace(0, 5, 2000)
    pw[700] += 12
    sde, sde_raw, det = spectrum_sde(pw)
    assert sde > sde_raw and np.argmax(det) == 700


def test_backend_selection(monkeypatch):
    assert {"torch", "numpy-reference", "astropy"} <= set(available_backends())
    lc = _lc(seed=6, n=120)
    periods, durations = np.linspace(1.5, 2.5, 5), np.array([0.1])
    monkeypatch.setenv("EXORAY_BLS_BACKEND", "numpy-reference")
    r = bls_search(lc, periods, durations, refine=False)[0]
    assert r.backend == "numpy-reference"
    monkeypatch.setenv("EXORAY_BLS_BACKEND", "nope")
    with pytest.raises(ConfigError, match="unknown BLS backend"):
        bls_search(lc, periods, durations)


def test_bad_inputs_raise_typed_errors():
    t, y, dy = _lc(seed=7)
    periods, durations = np.linspace(1.5, 2.5, 5), np.array([0.1])
    with pytest.raises(InputError):
        bls_power((t, y[:-1], dy), periods, durations)
    with pytest.raises(InputError):
        bls_power((t[:5], y[:5], dy[:5]), periods, durations)
    with pytest.raises(InputError):
        bls_power((t, np.full_like(y, np.nan), dy), periods, durations)
    with pytest.raises(InputError):
        bls_power([object()], periods, durations)
    with pytest.raises(ConfigError):
        bls_power((t, y, dy), periods, np.array([3.0]))  # duration >= period
    with pytest.raises(ConfigError):
        bls_power((t, y, dy), -periods, durations)
    with pytest.raises(ConfigError):
        bls_power((t, y, dy), periods, durations, objective="chi2")
    with pytest.raises(ConfigError):
        bls_power((t, y, dy), periods, durations, dtype="float16")
    with pytest.raises(ConfigError):
        bls_power((t, y, dy), periods, durations, oversample=0)
    with pytest.raises(ConfigError):
        bls_power((t, y, dy), periods, durations, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"):
            bls_power((t, y, dy), periods, durations, device="cuda")


def test_nan_cadences_are_dropped():
    t, y, dy = _lc(seed=8)
    periods, durations = np.linspace(1.5, 3.1, 11), np.array([0.1])
    clean = bls_power((t, y, dy), periods, durations, dtype="float64")[0]
    y2 = np.concatenate([y, [np.nan, 1.0]])
    t2 = np.concatenate([t, [5.0, np.nan]])
    dirty = bls_power((t2, y2, np.concatenate([dy, [1e-3, 1e-3]])), periods, durations, dtype="float64")[0]
    np.testing.assert_allclose(dirty["power"], clean["power"], rtol=1e-12)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    lcs = [_tess_like(s, [(3.1 + s, 1.0, 0.12, 2e-3)], cadence_min=2.0) for s in range(3)]
    periods = period_grid(27.0, min_period=1.0)
    durations = duration_grid(periods)
    for dt in ("float32", "float64"):
        cpu = bls_power(lcs, periods, durations, dtype=dt)
        gpu = bls_power(lcs, periods, durations, dtype=dt, device="cuda")
        for a, b in zip(cpu, gpu):
            np.testing.assert_allclose(a["power"], b["power"], rtol=1e-3 if dt == "float32" else 1e-9, atol=1e-3)
            assert np.argmax(a["power"]) == np.argmax(b["power"])


@pytest.mark.parametrize("objective", ["snr", "likelihood"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_grid_binning_matches_reference_and_scatter(objective, dtype):
    """The time-grid (cumulative-sum) binning gives the bins of the reference."""
    from exoray.search._bls_torch import bls_kernel
    from exoray.search.bls import _resolve_grid, prepare_batch

    rng = np.random.default_rng(11)
    lcs = []
    for s in range(3):  # jittered regular cadence with gaps, different lengths
        t = np.arange(0, 9.0 + s, 0.02) + rng.uniform(-0.004, 0.004, int((9.0 + s) / 0.02) + 1)[: int(np.ceil((9.0 + s) / 0.02))]
        t = t[(t < 4.0) | (t > 4.6)]
        y = 1 + 1e-3 * rng.standard_normal(t.size)
        y[np.abs(np.mod(t - 0.4 + 1.1, 2.2) - 1.1) < 0.06] -= 3e-3
        lcs.append((t, y, 1e-3 * rng.uniform(0.8, 1.2, t.size)))
    periods = np.linspace(1.3, 3.3, 17)
    durations = np.array([0.05, 0.09, 0.14])
    batch = prepare_batch(lcs)
    p, d, deltas, dbins = _resolve_grid(periods, durations, 3)
    t_rel, wy, w, _ = batch.padded()
    dt = torch.float64 if dtype == "float64" else torch.float32
    kw = dict(objective=objective, dtype=dt)
    grid = bls_kernel(t_rel, wy, w, p, deltas, dbins, binning="grid", max_elements=5000, **kw)
    scat = bls_kernel(t_rel, wy, w, p, deltas, dbins, binning="scatter", **kw)
    if dtype == "float64":
        for i, lc in enumerate(lcs):
            ref = bls_power(lc, periods, durations, objective=objective, oversample=3, backend="numpy-reference")[0]
            np.testing.assert_array_equal(grid["dbin"][i], np.rint(ref["duration"] / deltas).astype(int))
            for k in ("power", "depth", "depth_err", "snr", "log_likelihood"):
                np.testing.assert_allclose(grid[k][i], ref[k], rtol=1e-9, atol=1e-12, err_msg=k)
            np.testing.assert_allclose(grid["phase"][i] + lc[0][0], ref["t0"], rtol=0, atol=1e-9)
    else:
        np.testing.assert_allclose(grid["power"], scat["power"], rtol=2e-3, atol=2e-3)
        assert np.array_equal(np.argmax(grid["power"], axis=1), np.argmax(scat["power"], axis=1))
    with pytest.raises(ValueError):
        bls_kernel(t_rel, wy, w, p, deltas, dbins, binning="nope")


def test_iterative_search_strong_signal_accepted_on_snr():
    """A strong transit is kept on its SNR even when the SDE bar is out of reach;
    with the SNR path off the same search reports nothing, and noise never passes it."""
    lc = _tess_like(7, [(2.7, 0.4, 0.12, 5e-3)], noise=5e-4)
    kw = dict(max_planets=2, sde_threshold=1e9, min_period=1.0)
    assert iterative_search(lc, **kw) == []
    found = iterative_search(lc, snr_threshold=20.0, snr_min_sde=5.0, **kw)
    assert len(found) == 1  # the second pass (noise) has SNR << 20
    assert found[0].period == pytest.approx(2.7, rel=3e-3) and found[0].snr > 20
    noise_only = _tess_like(8, [], noise=5e-4)
    assert iterative_search(noise_only, snr_threshold=20.0, snr_min_sde=0.0, **kw) == []


def test_iterative_search_prewhitening_hook():
    """A sinusoid that survives detrending returns at its period whatever is masked;
    a hook that subtracts its folded profile lets the next pass find the planet."""
    from exoray.search.candidates import folded_profile

    t, y, e = _tess_like(11, [(3.3, 0.9, 0.12, 2.0e-3)], noise=4e-4)
    y = y + 4e-3 * np.sin(2 * np.pi * t / 0.8) + 1.5e-3 * np.sin(4 * np.pi * t / 0.8 + 1.0)
    kw = dict(max_planets=2, sde_threshold=4.0, min_period=0.6)  # a strong sinusoid saturates the SDE
    plain = iterative_search((t, y, e), **kw)
    assert len(plain) == 2 and all(abs(r.period / 0.8 - 1) < 0.01 for r in plain)  # masking cannot remove it
    calls = []

    def whiten(res, tt, yy, keep):
        calls.append(int(keep.sum()))
        prof = folded_profile(tt[keep], yy[keep], res.period, at=tt)
        return yy - prof + np.median(yy[keep]), False

    found = iterative_search((t, y, e), after_signal=whiten, **kw)
    assert len(found) == 2 and calls[0] == t.size
    assert found[1].period == pytest.approx(3.3, rel=3e-3)


def test_folded_profile_recovers_periodic_shape():
    from exoray.search.candidates import folded_profile

    t = np.arange(0, 27, 2 / 1440)
    sig = 0.01 * np.sin(2 * np.pi * t / 1.7)
    prof = folded_profile(t, sig + 1.0, 1.7)
    assert np.max(np.abs(prof - 1.0 - sig)) < 0.01 * 2 * np.pi / 50  # one bin of slope
    assert folded_profile(t, sig, 1.7, at=np.array([0.425])) == pytest.approx(0.01, rel=0.02)


# --------------------------------------------------------------------------- red noise, minimum transits


@pytest.mark.parametrize("objective", ["snr", "likelihood"])
def test_noise_scale_and_min_points_match_reference(objective):
    """The kernel's red-noise factor and minimum in-box data follow the slow reference exactly."""
    from exoray.search._bls_torch import bls_kernel
    from exoray.search._bls_reference import bls_reference
    from exoray.search.bls import _resolve_grid, prepare_batch

    lc = _lc(seed=4, n=400, span=12.0, uneven=False)
    periods = np.linspace(1.5, 5.5, 25)
    durations = np.array([0.06, 0.1, 0.15])
    p, d, deltas, dbins = _resolve_grid(periods, durations, 3)
    rng = np.random.default_rng(0)
    scale = rng.uniform(0.8, 3.0, (1, p.size, durations.size))
    minpts = rng.uniform(0.0, 20.0, (1, p.size, durations.size))
    batch = prepare_batch(lc)
    t_rel, wy, w, t_ref = batch.padded()
    fast = bls_kernel(t_rel, wy, w, p, deltas, dbins, objective=objective, dtype=torch.float64,
                      noise_scale=scale, min_points=minpts)
    ref = bls_reference(batch.time[0], batch.flux[0], batch.ivar[0], p, deltas, dbins, objective, scale[0], minpts[0])
    for k in ("power", "depth", "snr", "log_likelihood"):
        np.testing.assert_allclose(fast[k][0], ref[k], rtol=1e-9, atol=1e-12, err_msg=k)
    ok = np.isfinite(ref["depth_err"])
    np.testing.assert_allclose(fast["depth_err"][0][ok], ref["depth_err"][ok], rtol=1e-9)


def test_red_noise_factor_divides_snr_and_is_one_on_white_noise():
    from exoray.search.noise import box_noise_factor

    t, y, e = _tess_like(21, [(3.1, 0.4, 0.1, 2e-3)], cadence_min=2.0, noise=1e-3)
    beta = box_noise_factor(t, y, 1.0 / e**2, [0.05, 0.1, 0.2])
    assert np.all(np.abs(beta - 1.0) < 0.1)
    # correlated noise on hour scales: the factor grows with duration
    rng = np.random.default_rng(2)
    red = np.convolve(rng.standard_normal(t.size), np.ones(60) / 60, mode="same") * 2e-3
    beta_red = box_noise_factor(t, y + red, 1.0 / e**2, [0.05, 0.1, 0.2])
    assert beta_red[0] > 1.5 and beta_red[2] > beta_red[0]
    white = bls_search((t, y, e), min_period=1.0, red_noise=False)[0]
    pink = bls_search((t, y + red, e), min_period=1.0)[0]
    assert white.red_noise == 1.0 and pink.red_noise > 1.5
    assert pink.snr == pytest.approx(pink.snr_white / pink.red_noise, rel=1e-6)


def test_min_transits_keeps_a_single_event_from_posing_as_periodic():
    """One deep event near the end of the data: at long periods only that one cycle has data."""
    rng = np.random.default_rng(3)
    t = np.arange(0, 13, 10 / 1440.0)
    y = 1 + 5e-4 * rng.standard_normal(t.size)
    y[np.abs(t - 10.3) < 0.06] -= 5e-3
    e = np.full(t.size, 5e-4)
    periods = period_grid(13.0, min_period=1.0)
    loose = bls_search((t, y, e), periods, min_transits=None, red_noise=False)[0]
    strict = bls_search((t, y, e), periods, min_transits=1.5, red_noise=False)[0]
    assert loose.n_transits == 1 and loose.snr > 30  # the single event alone, at a long period
    assert strict.n_transits >= 2 and strict.depth < 0.8 * loose.depth  # the other cycle dilutes it


def test_independent_peaks_skip_harmonics():
    from exoray.search.bls import _independent_peaks

    periods = np.geomspace(0.5, 20, 2000)
    power = np.zeros(periods.size)
    for p0, h in ((3.0, 10.0), (6.0, 8.0), (1.5, 7.0), (4.7, 6.0)):
        power += h * np.exp(-0.5 * ((periods - p0) / (0.002 * p0)) ** 2)
    idx = _independent_peaks(power, periods, 3)
    got = [round(periods[i], 1) for i in idx]
    assert got[0] == 3.0 and 4.7 in got and 6.0 not in got and 1.5 not in got


def test_transit_consistency_refuses_a_single_event_and_keeps_equal_transits():
    from exoray.search.consistency import is_consistent, transit_consistency

    rng = np.random.default_rng(5)
    t = np.arange(0, 27, 2 / 1440.0)
    iv = np.full(t.size, 1.0 / 1e-3**2)
    y = 1 + 1e-3 * rng.standard_normal(t.size)
    planet = y.copy()
    planet[np.abs(np.mod(t - 2.0 + 2.5, 5.0) - 2.5) < 0.05] -= 1e-3
    c = transit_consistency(t, planet, iv, 5.0, 2.0, 0.1)
    assert c.n_transits == 5 and is_consistent(c)
    single = y.copy()
    single[np.abs(t - 12.0) < 0.05] -= 4e-3  # one event at epoch 2 of the same ephemeris
    c1 = transit_consistency(t, single, iv, 5.0, 2.0, 0.1)
    assert not is_consistent(c1) and c1.centres[c1.strongest] == pytest.approx(12.0)
