"""Injection into, inversion and scrambling of real light curves (exoray.simulate.real)."""

from __future__ import annotations

import numpy as np
import pytest

from exoray.lightcurve import LightCurve
from exoray.simulate import real


def _quiet_lc(seed=0, sigma=5e-4, tic=123):
    rng = np.random.default_rng(seed)
    t = np.arange(1325.0, 1352.0, 2.0 / 1440.0)
    t = t[(t < 1338.5) | (t > 1339.5)]
    flux = 1000.0 * (1.0 + sigma * rng.standard_normal(t.size))
    q = np.zeros(t.size, np.int32)
    return LightCurve(tic, 1, t, flux, np.full(t.size, 1000.0 * sigma), q, radius=1.0, mass=1.0, teff=5800.0,
                      source_path="synthetic")


def test_white_noise_and_matched_filter_snr_agree_with_injection():
    lc = _quiet_lc()
    assert real.white_noise(lc) == pytest.approx(5e-4, rel=0.05)
    rng = np.random.default_rng(1)
    got = real.draw_planet(rng, lc, snr=15.0)
    assert got is not None
    lc2, truth = got
    assert truth["snr"] == pytest.approx(15.0, rel=0.03)
    assert truth["n_transits"] >= 2
    # the flux really carries the transit: in-transit cadences are fainter by ~ the depth
    ph = np.abs(np.mod(lc2.time - truth["t0_btjd"] + 0.5 * truth["period_days"], truth["period_days"])
                - 0.5 * truth["period_days"])
    inside = ph < 0.2 * truth["duration_hours"] / 24.0
    ratio = lc2.flux[inside] / lc.flux[inside]
    assert 1 - ratio.mean() == pytest.approx(truth["depth_ppm"] * 1e-6, rel=0.25)
    assert np.all(lc2.flux[~(ph < truth["duration_hours"] / 24.0)] == lc.flux[~(ph < truth["duration_hours"] / 24.0)])


def test_invert_turns_dips_into_bumps():
    lc = _quiet_lc()
    lc2, truth = real.inject_planet(lc, 3.0, 1326.0, 0.05, 0.2)
    inv = real.invert_lightcurve(lc2)
    inside = np.abs(np.mod(inv.time - 1326.0 + 1.5, 3.0) - 1.5) < 0.02
    med = np.median(inv.flux)
    assert np.mean(inv.flux[inside]) > med + 0.5 * truth["depth_ppm"] * 1e-6 * med
    assert inv.meta["probe"] == "inverted"


def test_scramble_keeps_every_cadence_and_breaks_periodicity():
    lc = _quiet_lc()
    lc2, truth = real.inject_planet(lc, 2.5, 1325.7, 0.06, 0.1)
    sc = real.scramble_lightcurve(lc2, np.random.default_rng(3))
    assert sc.time.size == lc2.time.size
    assert np.array_equal(np.sort(sc.flux), np.sort(lc2.flux))
    assert np.all(np.diff(sc.time) > 0)
    # blocks are separated by gaps longer than the preprocessing break tolerance
    assert np.sum(np.diff(sc.time) > 0.5) >= 5
    # the transits no longer line up at the injected period
    from exoray.search.bls import transit_mask

    dip = sc.flux < np.median(sc.flux) * (1 - 0.5 * truth["depth_ppm"] * 1e-6)
    on_ephemeris = transit_mask(sc.time, 2.5, 1325.7, truth["duration_hours"] / 24.0)
    assert np.mean(on_ephemeris[dip]) < 0.7


def test_mask_signals_blanks_catalogued_transits_and_eb_secondaries():
    lc = _quiet_lc()
    sig = [real.KnownSignal(4.0, 1327.0, 3.0, "toi", "TOI-x"), real.KnownSignal(6.0, 1326.0, 2.0, "eb", "EB", 0.4)]
    m = real.mask_signals(lc, sig)
    blank = ~np.isfinite(m.flux)
    assert blank[np.argmin(np.abs(lc.time - 1331.0))]  # TOI transit (1327 + 4)
    assert blank[np.argmin(np.abs(lc.time - (1326.0 + 0.4 * 6.0)))]  # EB secondary at phase 0.4
    assert blank[np.argmin(np.abs(lc.time - 1329.0))]  # and at phase 0.5
    assert not blank[np.argmin(np.abs(lc.time - 1330.0))]
    assert len(m.meta["masked_signals"]) == 2


def test_star_half_is_fixed_and_splits_both_ways():
    halves = [real.star_half(t) for t in range(1000, 1200)]
    assert halves == [real.star_half(t) for t in range(1000, 1200)]
    assert 70 < halves.count("A") < 130


def test_probes_of_shared_files_are_reproducible(spoc_files):
    probes = real.plan_probes(spoc_files[:4], n_planets=2, n_eb=1, n_blended_eb=1, seed=5)
    again = real.plan_probes(spoc_files[:4], n_planets=2, n_eb=1, n_blended_eb=1, seed=5)
    assert [(p.probe_id, p.seed) for p in probes] == [(p.probe_id, p.seed) for p in again]
    kinds = {p.kind for p in probes}
    assert {"planet", "eb", "blended_eb", "inverted", "scrambled", "inverted_scrambled"} <= kinds
    p = next(p for p in probes if p.kind == "planet")
    a, ta = real.build_probe(p)
    b, tb = real.build_probe(p)
    assert ta == tb and np.array_equal(a.flux, b.flux, equal_nan=True)


def test_eclipsing_binary_hosts_are_not_injection_hosts(spoc_files):
    eb_file = [f for f in spoc_files if "0000000199574208" in f.name]  # CM Dra
    if not eb_file:
        pytest.skip("CM Dra not in the shared data")
    assert real.plan_probes(eb_file, n_planets=3) == []


def test_blended_eb_dilutes_and_moves_the_centroid():
    lc = _quiet_lc()
    lc = LightCurve(**{**{k: getattr(lc, k) for k in ("tic_id", "sector", "time", "flux", "flux_err", "quality",
                                                       "radius", "mass", "teff", "source_path")},
                       "centroid_col": np.full(lc.time.size, 100.0), "centroid_row": np.full(lc.time.size, 50.0)})
    out, truth = real.inject_eb(lc, 3.0, 1326.0, k=0.9, a_rs=8.0, b=0.2, sb_ratio=0.8, blend_ratio=0.02,
                                offset_px=(1.5, 0.0))
    assert truth["depth_ppm"] < 0.03 * 1e6
    inside = np.abs(np.mod(out.time - 1326.0 + 1.5, 3.0) - 1.5) < 0.01
    assert np.mean(out.centroid_col[inside]) < 100.0  # the blend (at +1.5 px) faded: centroid moves away from it
    assert np.all(out.centroid_row == 50.0)
