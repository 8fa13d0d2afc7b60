"""Unit tests of exoray.vet: each statistic on constructed cases with known
answers, the catalog cross-match, and vet_candidate on real SPOC light curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from exoray.errors import InputError
from exoray.lightcurve import PreprocessedLightCurve
from exoray.vet import (
    DISPOSITIONS,
    centroid_shift_test,
    crossmatch,
    duration_plausibility,
    edge_transit_check,
    half_double_period_check,
    load_catalogs,
    odd_even_test,
    period_alias_checks,
    secondary_eclipse_test,
    single_event_domination,
    transit_shape,
    trapezoid_model,
    vet_candidate,
)

CADENCE = 2.0 / 60.0 / 24.0  # 2 min in days
P, T0, DUR = 3.0, 1001.0, 0.15


def _time(span=27.0, start=1000.0):
    return start + np.arange(0.0, span, CADENCE)


def _trapezoid_lc(time, period, t0, dur, depth, ingress_fraction=0.05):
    ph = np.mod(time - t0 + 0.5 * period, period) - 0.5 * period
    return trapezoid_model(ph, 0.0, depth, dur, ingress_fraction, 1.0)


def _noisy(flux, sigma, seed):
    rng = np.random.default_rng(seed)
    return flux + rng.normal(0.0, sigma, flux.size), np.full(flux.size, sigma)


# ---------------------------------------------------------------- odd/even


def test_odd_even_planet_vs_eb():
    t = _time()
    planet, err = _noisy(_trapezoid_lc(t, P, T0, DUR, 0.01), 1e-3, 1)
    r = odd_even_test(t, planet, err, P, T0, DUR)
    assert r.n_odd >= 4 and r.n_even >= 4
    assert r.significance < 3 and not r.flag
    assert r.depth_odd == pytest.approx(0.01, rel=0.05)
    # EB: same mean depth, alternating 1.3% / 0.7% (two unequal stars folded at P).
    ep = np.floor((t - T0) / P + 0.5).astype(int)
    eb_flux = np.where(ep % 2 == 0, _trapezoid_lc(t, P, T0, DUR, 0.013), _trapezoid_lc(t, P, T0, DUR, 0.007))
    eb, err = _noisy(eb_flux, 1e-3, 2)
    r = odd_even_test(t, eb, err, P, T0, DUR)
    assert r.flag and r.significance > 10
    assert abs(r.depth_odd - r.depth_even) == pytest.approx(0.006, abs=0.001)


def test_odd_even_too_few_transits_returns_nan():
    t = _time(span=4.0)  # only the transit at 1001 (epoch 0) is covered
    f, e = _noisy(_trapezoid_lc(t, 10.0, T0, DUR, 0.01), 1e-3, 3)
    r = odd_even_test(t, f, e, 10.0, T0, DUR)
    assert math.isnan(r.significance) and not r.flag and "too few" in r.reason


def test_inputs_validated():
    t = _time(span=5.0)
    with pytest.raises(InputError, match="flux"):
        odd_even_test(t, t[:-1], None, P, T0, DUR)
    with pytest.raises(InputError, match="duration"):
        odd_even_test(t, t, None, P, T0, 4.0)
    with pytest.raises(InputError, match="period"):
        odd_even_test(t, t, None, -1.0, T0, DUR)


# ---------------------------------------------------------------- secondary


@pytest.mark.parametrize("phase", [0.5, 0.37])
def test_secondary_found_at_right_phase(phase):
    t = _time()
    f = _trapezoid_lc(t, P, T0, DUR, 0.01) + _trapezoid_lc(t, P, T0 + phase * P, DUR, 0.004) - 1.0
    f, e = _noisy(f, 1e-3, 4)
    r = secondary_eclipse_test(t, f, e, P, T0, DUR)
    assert r.flag and r.comparable
    assert r.best_phase == pytest.approx(phase, abs=0.02)
    assert r.best_depth == pytest.approx(0.004, rel=0.2)
    assert r.depth_ratio == pytest.approx(0.4, rel=0.25)
    if phase == 0.5:
        assert r.sigma_half > 10


def test_no_secondary_for_planet():
    t = _time()
    f, e = _noisy(_trapezoid_lc(t, P, T0, DUR, 0.01), 1e-3, 5)
    r = secondary_eclipse_test(t, f, e, P, T0, DUR)
    assert not r.flag and not r.comparable
    assert r.primary_depth == pytest.approx(0.01, rel=0.1)


# ---------------------------------------------------------------- shape


def test_v_vs_u_shape():
    t = _time()
    u, e = _noisy(_trapezoid_lc(t, P, T0, DUR, 0.01, 0.08), 5e-4, 6)
    ru = transit_shape(t, u, e, P, T0, DUR)
    assert ru.shape == "U" and not ru.flag
    assert ru.ingress_fraction == pytest.approx(0.08, abs=0.05)
    assert ru.depth == pytest.approx(0.01, rel=0.05)
    assert ru.depth_err < 5e-4
    assert ru.total_duration == pytest.approx(DUR, rel=0.05)
    assert ru.model_flux.size == ru.model_phase.size > 0
    v, e = _noisy(_trapezoid_lc(t, P, T0, 0.2, 0.03, 0.5), 5e-4, 7)
    rv = transit_shape(t, v, e, P, T0, DUR)
    assert rv.shape == "V" and rv.flag and rv.value > 0.8
    assert rv.depth == pytest.approx(0.03, rel=0.1)


# ---------------------------------------------------------------- single event


def test_single_event_domination():
    t = _time()
    rng = np.random.default_rng(8)
    f = 1.0 + rng.normal(0.0, 1e-3, t.size)
    big = np.abs(t - (T0 + 2 * P)) < 0.5 * DUR
    f[big] -= 0.02  # one deep event, the other "transits" are pure noise
    r = single_event_domination(t, f, None, P, T0, DUR)
    assert r.flag and r.value > 0.9 and r.max_epoch == 2
    assert r.n_transits >= 8
    g, e = _noisy(_trapezoid_lc(t, P, T0, DUR, 0.003), 1e-3, 9)
    r = single_event_domination(t, g, e, P, T0, DUR)
    assert not r.flag and r.value < 0.3 and r.mes > 20


# ---------------------------------------------------------------- aliases


def test_period_alias_checks():
    r = period_alias_checks(13.72)
    assert r.flag and r.orbit_match
    assert any(m["ratio"] == "x1" for m in r.matches)
    assert period_alias_checks(6.86).orbit_match  # 13.7 / 2
    assert period_alias_checks(1.005).flag and not period_alias_checks(1.005).orbit_match
    r = period_alias_checks(6.2678)
    assert not r.flag and r.matches == []
    dumps = 1000.0 + 3.125 * np.arange(9)
    r = period_alias_checks(3.125, t0=1000.0, duration=0.1, dump_times=dumps)
    assert r.dump_period == pytest.approx(3.125)
    assert r.dump_coincidence == 1.0 and r.flag


def test_half_double_period():
    t = _time()
    # Transits every 2P, searched at P: every other event empty.
    f, e = _noisy(_trapezoid_lc(t, 2 * P, T0, DUR, 0.005), 1e-3, 10)
    r = half_double_period_check(t, f, e, P, T0, DUR)
    assert r.true_period_2p and r.flag
    # Transits every P/2, searched at P: half phase has a dip of equal depth.
    f, e = _noisy(_trapezoid_lc(t, P / 2, T0, DUR, 0.005), 1e-3, 11)
    r = half_double_period_check(t, f, e, P, T0, DUR)
    assert r.true_period_half and r.half_ratio == pytest.approx(1.0, abs=0.15)
    f, e = _noisy(_trapezoid_lc(t, P, T0, DUR, 0.005), 1e-3, 12)
    assert not half_double_period_check(t, f, e, P, T0, DUR).flag


def test_edge_transit_check():
    t = np.concatenate([_time(span=12.0), _time(span=12.0, start=1014.0)])
    # Events at every segment start/end.
    r = edge_transit_check(t, 13.0, 1000.0 + 0.02, 0.1, gap_days=0.5)
    assert r.flag
    r = edge_transit_check(t, P, T0, DUR)
    assert not r.flag and r.n_transits > 5


# ---------------------------------------------------------------- duration


def test_duration_plausibility():
    # Earth-Sun: 13 h central transit, ratio ~1.
    r = duration_plausibility(365.25, 13.0 / 24.0, 8.4e-5, 1.0, 1.0)
    assert r.value == pytest.approx(1.0, abs=0.05) and not r.flag
    # A 12-h eclipse at P = 2 d around a K dwarf is impossible for a planet.
    r = duration_plausibility(2.0, 0.5, 0.01, stellar_radius=0.7, stellar_mass=0.7)
    assert r.too_long and r.flag and r.value > 3
    # ... but fine around a giant (log g = 3, R = 5).
    r = duration_plausibility(2.0, 0.5, 0.001, stellar_radius=5.0, logg=3.0)
    assert not r.too_long
    # 30% deep eclipse on a Sun-like star: companion ~3.3 R_Jup.
    assert duration_plausibility(3.0, 0.12, 0.3, stellar_radius=1.0).too_large
    with pytest.raises(InputError, match="stellar_radius"):
        duration_plausibility(3.0, 0.1, 0.01, stellar_radius=-1.0)


# ---------------------------------------------------------------- centroid


def test_centroid_shift():
    t = _time()
    rng = np.random.default_rng(13)
    col = 500.0 + 0.002 * (t - t[0]) + rng.normal(0.0, 0.003, t.size)  # slow drift + noise
    row = 300.0 + rng.normal(0.0, 0.003, t.size)
    r = centroid_shift_test(t, col, row, P, T0, DUR)
    assert not r.flag and r.significance < 3
    ph = np.mod(t - T0 + 0.5 * P, P) - 0.5 * P
    intr = np.abs(ph) < 0.5 * DUR
    col2 = col.copy()
    col2[intr] += 0.005  # 5 millipixel shift in transit
    r = centroid_shift_test(t, col2, row, P, T0, DUR)
    assert r.flag and r.significance > 5
    assert r.shift_col == pytest.approx(0.005, abs=0.001)
    assert abs(r.shift_row) < 0.001
    # A 2% transit on a target with light from neighbours: the same 5
    # millipixel shift puts the source 0.005 * 0.98 / 0.02 = 0.25 px from the
    # out-of-transit centroid, under the 0.5 px bar: significant, not a blend.
    r = centroid_shift_test(t, col2, row, P, T0, DUR, depth=0.02)
    assert r.significance > 5 and not r.flag
    assert r.source_offset_px == pytest.approx(0.005 * 0.98 / 0.02, rel=0.2)
    # The same shift for a 0.1% dip: the source is ~5 px away, a blend.
    r = centroid_shift_test(t, col2, row, P, T0, DUR, depth=0.001)
    assert r.flag and r.source_offset_px == pytest.approx(0.005 * 0.999 / 0.001, rel=0.2)
    assert r.source_offset_err_px < 0.3 * r.source_offset_px


# ---------------------------------------------------------------- catalogs


@pytest.fixture(scope="module")
def catalogs(real_dir):
    cat = real_dir / "catalogs"
    return load_catalogs(cat / "exofop_tess_tois_2025-07-03.csv", cat / "tess_ebs_prsa2022_J_ApJS_258_16.csv")


def test_crossmatch_real_catalogs(catalogs):
    assert crossmatch(261136679, 6.27, catalogs=catalogs) == "TOI-144.01 (CP, P=6.268 d)"
    assert crossmatch(98853987, 2.7284, catalogs=catalogs) == "EB TIC 98853987 (P=2.728 d)"
    assert crossmatch(98853987, 1.3642, catalogs=catalogs).startswith("alias 1/2 of EB TIC 98853987")
    assert crossmatch(270501383, 5.0, catalogs=catalogs) is None
    assert crossmatch(261136679, 3.1, catalogs=catalogs) is None or "alias" in crossmatch(
        261136679, 3.1, catalogs=catalogs)
    # GJ 357 is in both: TOI CP wins.
    assert crossmatch(413248763, 3.9306, catalogs=catalogs).startswith("TOI-562.01 (CP")


def test_load_catalogs_names_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_catalogs(tmp_path / "nope.csv", tmp_path / "nope_eb.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="bad.csv"):
        load_catalogs(toi_path=bad, eb_path=bad)


# ---------------------------------------------------------------- vet_candidate


def _synthetic_plc(flux, t, err):
    seg = np.zeros(t.size, np.int32)
    return PreprocessedLightCurve(tic_id=1, sector=1, time=t, flux=flux, flux_err=err,
                                  trend=np.ones_like(t), flux_flat=flux, segment=seg,
                                  radius=1.0, mass=1.0)


def test_vet_candidate_synthetic():
    t = _time()
    f, e = _noisy(_trapezoid_lc(t, P, T0, 0.12, 0.002), 5e-4, 14)
    cand = dict(period=P, t0=T0, duration=0.12, depth=0.002, snr=40.0)
    r = vet_candidate(_synthetic_plc(f, t, e), cand)
    assert r["disposition"] == "planet_candidate", r["flags"]
    assert r["depth"] == pytest.approx(0.002, rel=0.1)
    assert r["disposition"] in DISPOSITIONS
    low = vet_candidate(_synthetic_plc(f, t, e), dict(cand, snr=5.0))
    assert low["disposition"] == "false_alarm" and "low_snr" in low["flags"]
    ep = np.floor((t - T0) / P + 0.5).astype(int)
    eb = np.where(ep % 2 == 0, _trapezoid_lc(t, P, T0, 0.12, 0.03), _trapezoid_lc(t, P, T0, 0.12, 0.015))
    eb, e = _noisy(eb, 5e-4, 15)
    r = vet_candidate(_synthetic_plc(eb, t, e), dict(cand, depth=0.02, snr=200.0))
    assert r["disposition"] == "eclipsing_binary" and "odd_even" in r["flags"]
    with pytest.raises(InputError, match="period"):
        vet_candidate(_synthetic_plc(f, t, e), dict(t0=T0, duration=0.1, snr=10))
    # Same planet-like dips, but the centroid moves in transit: blended EB.
    rng = np.random.default_rng(16)
    col, row = 500 + rng.normal(0, 0.003, t.size), 300 + rng.normal(0, 0.003, t.size)
    ph = np.mod(t - T0 + 0.5 * P, P) - 0.5 * P
    col[np.abs(ph) < 0.06] += 0.01
    r = vet_candidate(_synthetic_plc(f, t, e), cand, centroids=(t, col, row))
    assert r["disposition"] == "eclipsing_binary" and "centroid_shift" in r["flags"]



def test_a_secondary_on_a_data_edge_is_no_eclipse_evidence():
    """Two transits of a 16-d planet, and a dip of comparable depth where data resume after a gap."""
    t = _time()
    p, t0, dur = 16.0, 1004.0, 0.18
    t = t[(t < 1012.0) | (t > 1014.0)]  # a downlink gap; the data resume at 1014
    f = _trapezoid_lc(t, p, t0, dur, 0.002)
    ramp = (t > 1014.0) & (t < 1014.0 + dur)
    f = f - 0.0015 * ramp  # the thermal settling after the gap, shaped like an eclipse
    f, e = _noisy(f, 2e-4, 21)
    seg = (t > 1013.0).astype(np.int32)
    plc = PreprocessedLightCurve(tic_id=1, sector=1, time=t, flux=f, flux_err=e, trend=np.ones_like(t),
                                 flux_flat=f, segment=seg, radius=1.0, mass=1.0)
    cand = dict(period=p, t0=t0, duration=dur, depth=0.002, snr=25.0)
    r = vet_candidate(plc, cand)
    assert r["tests"]["secondary"]["flag"], "the dip after the gap must be seen as a secondary"
    assert "secondary_at_edges" in r["flags"] and "secondary_eclipse" not in r["flags"]
    assert r["disposition"] != "eclipsing_binary", r["flags"]
    # the same dip in the middle of a segment is an eclipse
    t2 = _time()
    f2 = _trapezoid_lc(t2, p, t0, dur, 0.002) - 0.0015 * ((t2 > 1016.0) & (t2 < 1016.0 + dur))
    f2, e2 = _noisy(f2, 2e-4, 22)
    r2 = vet_candidate(_synthetic_plc(f2, t2, e2), cand)
    assert "secondary_eclipse" in r2["flags"] and r2["disposition"] == "eclipsing_binary", r2["flags"]

# ---------------------------------------------------------------- real SPOC data


def _read_spoc(path):
    from astropy.io import fits
    from scipy.ndimage import median_filter

    with fits.open(path) as hdul:
        head = hdul[0].header
        d = hdul[1].data
        t = np.array(d["TIME"], dtype=float)
        f = np.array(d["PDCSAP_FLUX"], dtype=float)
        fe = np.array(d["PDCSAP_FLUX_ERR"], dtype=float)
        q = np.array(d["QUALITY"], dtype=int)
        star = {k: head.get(k.upper()) for k in ("radius", "logg", "teff")}
        tic = int(head["TICID"])
    ok = np.isfinite(t) & np.isfinite(f) & np.isfinite(fe) & (q == 0)
    t, f, fe = t[ok], f[ok], fe[ok]
    seg = np.concatenate([[0], np.cumsum(np.diff(t) > 0.5)]).astype(np.int32)
    med = np.median(f)
    f, fe = f / med, fe / med
    trend = np.empty_like(f)
    for s in np.unique(seg):  # crude 1-day running median per segment
        m = seg == s
        trend[m] = median_filter(f[m], size=721, mode="nearest")
    flat = f / trend
    plc = PreprocessedLightCurve(tic_id=tic, sector=1, time=t, flux=f, flux_err=fe, trend=trend,
                                 flux_flat=flat, segment=seg,
                                 **{k: v for k, v in star.items() if v is not None})
    return plc


def _box_fold(plc, period, duration):
    """Quick t0 and SNR: deepest box of the phase-folded light curve."""
    t, f = plc.time, plc.flux_flat
    ph = np.mod(t - t[0], period)
    step = duration / 8
    centers = np.arange(0.0, period, step)
    depths = np.empty(centers.size)
    counts = np.empty(centers.size)
    for i, c in enumerate(centers):
        d = np.abs(np.mod(ph - c + 0.5 * period, period) - 0.5 * period) < 0.5 * duration
        counts[i] = d.sum()
        depths[i] = 1.0 - np.mean(f[d]) if d.any() else 0.0
    i = int(np.argmax(depths))
    sigma = np.std(np.diff(f)) / math.sqrt(2)
    return t[0] + centers[i], depths[i], depths[i] / (sigma / math.sqrt(counts[i]))


def test_vet_candidate_real_planet_pi_men(real_dir):
    path = real_dir / "tess_spoc_2min" / "tess2018206045859-s0001-0000000261136679-0120-s_lc.fits"
    if not path.exists():
        pytest.skip(f"{path} not present")
    plc = _read_spoc(path)
    period, duration = 6.2678, 0.116
    t0, depth, snr = _box_fold(plc, period, duration)
    assert 2e-4 < depth < 5e-4
    cats = load_catalogs(real_dir / "catalogs" / "exofop_tess_tois_2025-07-03.csv",
                         real_dir / "catalogs" / "tess_ebs_prsa2022_J_ApJS_258_16.csv")
    r = vet_candidate(plc, dict(period=period, t0=t0, duration=duration, depth=depth, snr=snr),
                      catalogs=cats)
    assert r["disposition"] == "planet_candidate", (r["reasons"], r["flags"])
    assert r["known_object"] == "TOI-144.01 (CP, P=6.268 d)"
    assert r["odd_even_sigma"] < 3


def test_vet_candidate_real_eb_cw_eri(real_dir):
    path = real_dir / "tess_spoc_2min" / "tess2018292075959-s0004-0000000098853987-0124-s_lc.fits"
    if not path.exists():
        pytest.skip(f"{path} not present")
    plc = _read_spoc(path)
    period, duration = 2.7284, 0.2
    t0, depth, snr = _box_fold(plc, period, duration)
    assert depth > 0.1
    r = vet_candidate(plc, dict(period=period, t0=t0, duration=duration, depth=depth, snr=snr))
    assert r["disposition"] == "eclipsing_binary", (r["reasons"], r["flags"])
    assert r["tests"]["secondary"]["comparable"]
    assert r["tests"]["secondary"]["best_phase"] == pytest.approx(0.5, abs=0.03)
