"""Tests of exoray.simulate: transit physics, SPOC file layout, truth table, noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from exoray.lightcurve import LightCurve
from exoray.simulate import (
    CLASSES,
    TRUTH_COLUMNS,
    EBSignal,
    PlanetSignal,
    Q,
    dilute,
    draw_star,
    eb_model,
    inject_transit,
    occult_quadratic,
    occult_quadratic_numeric,
    secondary_eclipse_phase,
    sector_timing,
    simulate_lightcurve,
    simulate_sector,
    transit_duration,
    transit_model,
    white_noise_ppm,
)
from exoray.simulate.sector import _FitsWriter  # noqa: F401  (import check)

# --------------------------------------------------------------------------- physics


@pytest.mark.parametrize("p", [0.01, 0.05, 0.1, 0.3, 0.9, 1.5])
def test_occultation_matches_numerical_disk_integration(p):
    z = np.linspace(0.0, 1.2 * (1 + p), 240)
    a = occult_quadratic(z, p, 0.42, 0.23)
    b = occult_quadratic_numeric(z, p, 0.42, 0.23, n_rings=4000)
    assert np.max(np.abs(a - b)) < 2e-5


def test_depth_and_duration():
    u1, u2, p, a_rs, period = 0.4, 0.2, 0.05, 12.0, 4.0
    t = np.arange(-0.3, 0.3, 1 / 14400)  # 6-s sampling
    f = transit_model(t, period, 0.0, p, a_rs, 0.0, u1, u2)
    # small-planet central depth: p^2 I(1) / <I>  (Mandel & Agol 2002, sect. 5)
    expected = p**2 / (1 - u1 / 3 - u2 / 6)
    assert abs((1 - f.min()) / expected - 1) < 0.01
    t14 = transit_duration(period, a_rs, p, 0.3)
    f = transit_model(t, period, 0.0, p, a_rs, 0.3, u1, u2)
    measured = np.ptp(t[f < 1.0])
    assert abs(measured - t14) < 2 / 14400


def test_supersampling_smooths_ingress():
    t = np.linspace(-0.2, 0.2, 2000)
    f1 = transit_model(t, 3.0, 0.0, 0.1, 10.0, 0.2)
    f30 = transit_model(t, 3.0, 0.0, 0.1, 10.0, 0.2, exptime=1800 / 86400, supersample=15)
    assert np.ptp(t[f30 < 1]) > np.ptp(t[f1 < 1])
    assert f30.min() > f1.min()


def test_eb_secondary_phase_circular_and_eccentric():
    period, t0 = 5.0, 0.0
    t = np.linspace(0, period, 50000, endpoint=False)
    for ecc, w in [(0.0, 90.0), (0.3, 20.0)]:
        f = eb_model(t, period, t0, 0.7, 12.0, 0.1, 0.5, ecc=ecc, w=w, ellipsoidal=0.0, reflection=0.0)
        ph = secondary_eclipse_phase(ecc, w)
        sec = (t > 0.1 * period) & (t < 0.9 * period)
        fs, ts = f[sec], t[sec]
        assert fs.min() < 0.99  # secondary is visible
        half = ts[fs < 1 - 0.5 * (1 - fs.min())]  # eclipse centre (the bottom may be flat)
        assert abs(0.5 * (half[0] + half[-1]) / period - ph) < 1e-3
    assert abs(secondary_eclipse_phase(0.3, 20.0) - 0.5) > 0.1


def test_dilution_scales_depth():
    t = np.linspace(-0.1, 0.1, 500)
    f = eb_model(t, 2.0, 0.0, 0.8, 6.0, 0.2, 0.6)
    d = dilute(f, 0.05)
    assert np.isclose(1 - d.min(), 0.05 * (1 - f.min()))


def test_inject_transit_keeps_nans_and_scales():
    t = np.linspace(0, 10, 5000)
    t[100] = np.nan
    flux = np.full(t.size, 2000.0)
    flux[200] = np.nan
    out = inject_transit(t, flux, 3.0, 1.0, 0.1, 10.0, 0.1)
    assert out[100] == 2000.0 and np.isnan(out[200])  # NaN time: untouched; NaN flux kept
    assert np.nanmin(out) < 2000 * 0.99
    assert np.nanmax(out) <= 2000.0


# --------------------------------------------------------------------------- sector files


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim")
    truth = simulate_sector(12, d, seed=3, sector=1)
    return d, truth


def test_truth_table(sim_dir):
    d, truth = sim_dir
    disk = pd.read_csv(d / "truth.csv")
    assert list(disk.columns) == TRUTH_COLUMNS
    assert set(disk["class"]) <= set(CLASSES)
    assert {"planet", "eb", "none"} <= set(disk["class"])
    assert disk["tic_id"].nunique() == 12
    assert (disk["tic_id"] >= 9_000_000_000).all()
    for f in disk["file"]:
        assert (d / f).exists()
        assert f.startswith("tess") and f.endswith("-s_lc.fits") and "-s0001-" in f
    sig = disk[disk["class"] != "none"]
    assert (sig["depth_ppm"] > 0).all() and (sig["duration_hours"] > 0).all()
    assert sig["snr"].notna().all()
    assert disk[disk["class"] == "none"]["period_days"].isna().all()


def test_files_readable_by_astropy_and_lightkurve(sim_dir):
    lk = pytest.importorskip("lightkurve")
    d, truth = sim_dir
    f = d / truth["file"].iloc[0]
    with fits.open(f) as h:
        h.verify("exception")
        assert [x.name for x in h] == ["PRIMARY", "LIGHTCURVE", "APERTURE"]
        assert h[0].header["TELESCOP"] == "TESS"
        assert h[0].header["TICID"] == int(truth["tic_id"].iloc[0])
        assert h[1].header["BJDREFI"] == 2457000
    lc = lk.read(f)
    assert lc.meta["TICID"] == int(truth["tic_id"].iloc[0])
    assert len(lc) > 17000


def test_layout_matches_real_spoc(sim_dir, spoc_files):
    d, truth = sim_dir
    real = [f for f in spoc_files if "s0001" in f.name][0]
    with fits.open(real) as r, fits.open(d / truth["file"].iloc[1]) as s:
        rc, sc = r[1].columns, s[1].columns
        assert rc.names == sc.names
        assert [c.format for c in rc] == [c.format for c in sc]
        assert [c.unit for c in rc] == [c.unit for c in sc]
        assert [c.disp for c in rc] == [c.disp for c in sc]
        for key in r[0].header:
            if key not in ("CHECKSUM", "SIMDATA", "COMMENT", ""):
                assert key in s[0].header, key
        must = ["TIMEDEL", "TSTART", "TSTOP", "BJDREFI", "TIMEUNIT", "EXPOSURE", "CROWDSAP",
                "FLFRCSAP", "CDPP0_5", "CDPP1_0", "CDPP2_0", "PDCVAR", "TELAPSE", "DEADC"]
        for key in must:
            assert key in s[1].header, key
        assert np.isclose(s[1].header["TIMEDEL"], r[1].header["TIMEDEL"])
        assert s[2].data.dtype.kind == "i" and s[2].header["EXTNAME"] == "APERTURE"
        assert ((s[2].data & 2) > 0).sum() == s[2].header["NPIXSAP"]


def test_gap_and_quality_flags(sim_dir):
    d, truth = sim_dir
    with fits.open(d / truth["file"].iloc[2]) as h:
        data = h[1].data
        t, q, pdc = data["TIME"], data["QUALITY"], data["PDCSAP_FLUX"]
        assert np.all(np.diff(data["CADENCENO"]) == 1)
        gap = np.isnan(t)
        assert 0.85 * 720 < gap.sum() < 1.4 * 720  # one ~1-d downlink gap
        assert np.all(q[gap] & Q.EARTH_POINT)
        idx = np.flatnonzero(gap)
        assert np.all(np.diff(idx) == 1)  # contiguous, mid-sector
        assert 0.4 < idx[0] / t.size < 0.55
        assert (q & Q.DESAT).any()
        assert np.all(np.isnan(pdc[(q & (Q.DESAT | Q.EARTH_POINT | Q.MANUAL_EXCLUDE)) > 0]))
        fin = np.isfinite(t)
        assert 27.0 < np.nanmax(t) - np.nanmin(t) < 28.5
        assert np.isclose(np.median(np.diff(t[fin])), 1 / 720, rtol=1e-3)
        assert h[1].header["TSTART"] < np.nanmin(t) and h[1].header["TSTOP"] > np.nanmax(t)


def test_determinism(tmp_path):
    a = simulate_sector(3, tmp_path / "a", seed=11)
    b = simulate_sector(3, tmp_path / "b", seed=11)
    c = simulate_sector(3, tmp_path / "c", seed=12)
    pd.testing.assert_frame_equal(a, b)
    for f in a["file"].unique():
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert (tmp_path / "a" / "truth.csv").read_bytes() == (tmp_path / "b" / "truth.csv").read_bytes()
    fa = (tmp_path / "a" / a["file"].iloc[0]).read_bytes()
    fc = (tmp_path / "c" / c["file"].iloc[0]).read_bytes()
    assert fa != fc


# --------------------------------------------------------------------------- in-memory + noise


def test_simulate_lightcurve_record():
    rng = np.random.default_rng(5)
    star = draw_star(rng, 9_000_000_123, tmag=10.0, teff=5700.0, variability="quiet")
    p = PlanetSignal(period=3.0, t0=1326.3, rp_rs=0.08, a_rs=9.0, b=0.2)
    lc = simulate_lightcurve(rng, star, [p])
    assert isinstance(lc, LightCurve)
    assert lc.product == "spoc_2min" and lc.mission == "TESS" and lc.source_path == ""
    assert lc.centroid_col is not None
    tr = lc.meta["truth"][0]
    assert tr["n_transits_in_data"] >= 7
    ok = np.isfinite(lc.flux)
    phase = np.mod(lc.time - p.t0 + 1.5, 3.0) - 1.5
    inn = ok & (np.abs(phase) < 0.02)
    out = ok & (np.abs(phase) > 0.3)
    depth = 1 - np.median(lc.flux[inn]) / np.median(lc.flux[out])
    assert abs(depth / (tr["depth_ppm"] * 1e-6) - 1) < 0.1


def test_truth_counts_transits_before_t0():
    rng = np.random.default_rng(6)
    timing = sector_timing(1, 0)
    star = draw_star(rng, 9_000_000_124, tmag=10.0, teff=5700.0, variability="quiet")
    early = PlanetSignal(period=3.0, t0=timing.tstart + 0.4, rp_rs=0.05, a_rs=9.0, b=0.2)
    late = PlanetSignal(period=3.0, t0=early.t0 + 6 * 3.0, rp_rs=0.05, a_rs=9.0, b=0.2)  # same transits
    a = simulate_lightcurve(np.random.default_rng(1), star, [early], timing=timing).meta["truth"][0]
    b = simulate_lightcurve(np.random.default_rng(1), star, [late], timing=timing).meta["truth"][0]
    assert a["n_transits_in_data"] == b["n_transits_in_data"] >= 7
    assert a["n_in_transit"] == b["n_in_transit"] and np.isclose(a["snr"], b["snr"])


@pytest.mark.parametrize("tmag", [8.0, 11.0, 13.5])
def test_white_noise_follows_model(tmag):
    rng = np.random.default_rng(int(tmag * 10))
    star = draw_star(rng, 9_000_000_001, tmag=tmag, teff=5500.0, variability="quiet")
    lc = simulate_lightcurve(rng, star, [])
    f = lc.flux[np.isfinite(lc.flux)]
    f = f / np.median(f)
    p2p = 1.4826 * np.median(np.abs(np.diff(f) - np.median(np.diff(f)))) / np.sqrt(2)
    assert abs(p2p / star.sigma_white - 1) < 0.06
    # and the per-star noise is close to the typical-aperture model
    assert abs(star.sigma_white * 1e6 / white_noise_ppm(tmag) - 1) < 0.6
    assert white_noise_ppm(9.0) < white_noise_ppm(12.0) < white_noise_ppm(14.0)


def test_expected_snr_matches_noise_only_measurement():
    rng = np.random.default_rng(21)
    timing = sector_timing(1, 0)
    star = draw_star(rng, 9_000_000_002, tmag=11.0, teff=5600.0, variability="quiet")
    star.red_1h_ppm = 300.0  # strong red noise, so the red term matters
    star.red_tau_hr = 2.0
    p = PlanetSignal(period=4.1, t0=1326.7, rp_rs=0.03, a_rs=10.0, b=0.3)
    tr = simulate_lightcurve(rng, star, [p], timing=timing).meta["truth"][0]
    sigma_expected = tr["depth_mean_ppm"] * 1e-6 / tr["snr"]
    t = timing.t_grid
    ph = np.mod(t - p.t0 + 0.5 * p.period, p.period) - 0.5 * p.period
    inn = np.abs(ph) < 0.5 * tr["duration_hours"] / 24
    means = []
    for k in range(40):
        lc = simulate_lightcurve(np.random.default_rng(1000 + k), star, [], timing=timing)
        f = lc.flux / np.nanmedian(lc.flux)
        m = inn & np.isfinite(f)
        means.append(np.mean(f[m]) - 1)
    measured = np.std(means, ddof=1)
    assert 0.7 < measured / sigma_expected < 1.35
    # pure white noise would give a much smaller error: the red term is included
    white_only = star.sigma_white / np.sqrt(tr["n_in_transit"])
    assert sigma_expected > 1.5 * white_only


def test_blended_eb_is_diluted_and_moves_centroid():
    rng = np.random.default_rng(8)
    timing = sector_timing(1, 0)
    star = draw_star(rng, 9_000_000_003, tmag=9.5, teff=5800.0, variability="quiet")
    star.crowdsap = 0.9
    eb = EBSignal(period=2.5, t0=1326.0, k=0.9, a_rs=7.0, b=0.1, sb_ratio=0.8, q=0.9,
                  ld1=(0.4, 0.2), ld2=(0.4, 0.2), blend_ratio=0.01, offset_px=(1.5, 0.0))
    lc = simulate_lightcurve(rng, star, [eb], timing=timing)
    tr = lc.meta["truth"][0]
    intrinsic = 1 - eb_model(np.array([eb.t0]), eb.period, eb.t0, eb.k, eb.a_rs, eb.b, eb.sb_ratio,
                             eb.ld1, eb.ld2, ellipsoidal=0.0, reflection=0.0)[0]
    assert np.isclose(tr["depth_ppm"] * 1e-6, 0.01 * intrinsic, rtol=0.02)
    ph = np.mod(lc.time - eb.t0 + 1.25, 2.5) - 1.25
    ok = np.isfinite(lc.centroid_col)
    inn = ok & (np.abs(ph) < 0.02)
    out = ok & (np.abs(ph) > 0.3) & (np.abs(np.abs(ph) - 1.25) > 0.3)
    shift = np.median(lc.centroid_col[inn]) - np.median(lc.centroid_col[out])
    assert shift < -1e-3  # blend to the +column side dims: centroid moves toward the target


def test_cli_simulate(tmp_path, capsys):
    from exoray.cli import main

    rc = main(["simulate", "--n", "3", "--out", str(tmp_path), "--seed", "2", "--mix", "planet=1"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "simulated 3 light curves" in out
    truth = pd.read_csv(tmp_path / "truth.csv")
    assert set(truth["class"]) == {"planet"}
