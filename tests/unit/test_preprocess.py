"""Segments, normalisation, clipping, views, windows and preprocess_lightcurve."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from exoray.config import PreprocessConfig
from exoray.errors import EmptyLightCurveError, ExorayWarning, InputError
from exoray.lightcurve import LightCurve
from exoray.preprocess import (
    clip_upper_outliers,
    find_segments,
    global_view,
    local_view,
    make_windows,
    noise_ppm,
    normalize_segments,
    phase_fold,
    preprocess_lightcurve,
    robust_std,
    segment_slices,
    sort_by_time,
)


def _lc(n=5000, seed=0, **kw):
    rng = np.random.default_rng(seed)
    t = 1325.0 + np.arange(n) * 2 / 1440
    t[n // 2:] += 1.0  # mid-sector gap
    f = 1e4 * (1 + rng.normal(0, 1e-3, n))
    f[n // 2:] *= 1.05
    fe = np.full(n, 10.0)
    q = np.zeros(n, np.int32)
    return LightCurve(123, 1, t, f, fe, q, source_path="/data/fake_lc.fits", **kw)


def test_segments_and_slices():
    t = np.array([0, 0.1, 0.2, 1.0, 1.1, 3.0])
    assert find_segments(t, 0.5).tolist() == [0, 0, 0, 1, 1, 2]
    assert segment_slices(t, 0.5, min_segment_points=2) == [slice(0, 3), slice(3, 5)]
    with pytest.raises(InputError):
        find_segments([1.0, 0.0], 0.5)


def test_segments_split_at_mid_sector_gap(spoc_files):
    from astropy.io import fits

    with fits.open(spoc_files[0], memmap=False) as h:
        t = np.array(h[1].data["TIME"], float)
    t = t[np.isfinite(t)]
    seg = find_segments(t, 0.5)
    assert seg.max() >= 1
    k = np.flatnonzero(np.diff(seg))[0]
    assert t[k + 1] - t[k] > 0.5


def test_normalize_per_segment_and_errors():
    f = np.r_[np.full(10, 100.0), np.full(10, 300.0)]
    fe = np.r_[np.full(10, 1.0), np.full(10, 3.0)]
    seg = np.r_[np.zeros(10, int), np.ones(10, int)]
    nf, ne = normalize_segments(f, fe, seg)
    assert np.allclose(nf, 1) and np.allclose(ne, 0.01)
    with pytest.raises(InputError, match="src.fits"):
        normalize_segments(-f, fe, seg, source="src.fits")


def test_sort_warns():
    with pytest.warns(ExorayWarning):
        t, a = sort_by_time(np.array([2.0, 1.0, 3.0]), np.array([20.0, 10.0, 30.0]))
    assert t.tolist() == [1, 2, 3] and a.tolist() == [10, 20, 30]


def test_clip_keeps_dips_removes_flares():
    rng = np.random.default_rng(1)
    f = 1 + rng.normal(0, 1e-3, 2000)
    f[100:103] += 0.02  # flare
    f[500:530] -= 0.01  # transit (10 sigma deep)
    keep = clip_upper_outliers(f, np.ones_like(f), 4.0)
    assert not keep[100:103].any()
    assert keep[500:530].all()
    assert (~keep).sum() < 10


def test_robust_std_and_noise():
    x = np.random.default_rng(2).normal(1, 1e-3, 20000)
    assert abs(robust_std(x) - 1e-3) < 5e-5
    assert abs(noise_ppm(x) - 1000) < 50
    cdpp = noise_ppm(x, cadence_s=120, kind="cdpp1h")
    assert abs(cdpp - 1000 / np.sqrt(30)) < 30


def test_phase_fold():
    ph = phase_fold([10.0, 10.5, 11.9], period=2.0, t0=10.0)
    assert np.allclose(ph, [0, 0.5, -0.1])
    assert np.allclose(phase_fold([11.0], 2.0, 10.0, unit="fraction"), [-0.5])


def test_views_box_transit_centred():
    rng = np.random.default_rng(3)
    t = np.arange(0, 27, 2 / 1440)
    period, t0, dur, depth = 3.3, 1.2, 0.12, 0.004
    ph = phase_fold(t, period, t0)
    f = 1 - depth * (np.abs(ph) < dur / 2) + rng.normal(0, 2e-4, t.size)
    gv = global_view(t, f, period, t0)
    lv = local_view(t, f, period, t0, dur)
    assert gv.shape == (2001,) and lv.shape == (201,)
    for v in (gv, lv):
        assert np.isfinite(v).all()
        assert abs(np.median(v)) < 1e-12
        assert np.isclose(v.min(), -1.0)
    assert abs(int(np.argmin(lv)) - 100) <= 10
    assert lv[95:106].mean() < -0.8 and abs(lv[:30].mean()) < 0.2
    # the transit spans 0.12 / 3.3 * 2001 ~ 73 bins around the centre
    assert gv[975:1026].mean() < -0.8 and abs(int(np.argmin(gv)) - 1000) <= 37


def test_views_interpolate_empty_bins():
    t = np.r_[np.arange(0, 1, 0.001), np.arange(2, 3, 0.001)]  # phase gap
    f = np.ones(t.size)
    f[(t > 0.45) & (t < 0.55)] = 0.99
    v = global_view(t, f, period=4.0, t0=0.5, num_bins=401)
    assert np.isfinite(v).all()


def test_windows_skip_gaps():
    t = np.arange(1000) * 0.01
    t[500:] += 1.0
    f = np.arange(1000, dtype=float)
    w, st = make_windows(t, f, length=100, stride=50)
    assert w.shape[1] == 100
    for row, s in zip(w, st):
        i = int(row[0])
        assert t[i] == s
        assert not (i < 500 < i + 100)  # never straddles the gap
    assert len(w) == 18  # 9 per 500-point half
    w2, _ = make_windows(t, np.where(t > 3, np.nan, 1.0), 50, 50)
    assert len(w2) > 0 and np.isfinite(w2).all()


def test_preprocess_synthetic_fields_and_transit():
    lc = _lc(8000)
    # transit + flare
    lc.flux[3000:3030] *= 0.99
    lc.flux[1000:1003] *= 1.05
    lc.quality[10:20] = 32  # momentum dump bit: masked by 'default'
    lc.flux[50:55] = np.nan
    out = preprocess_lightcurve(lc, PreprocessConfig(window_days=0.5))
    assert out.n_raw == 8000 and out.n_quality_masked == 10 and out.n_nan == 5
    assert out.n_outliers >= 3
    assert out.segment.max() == 1
    for seg in (0, 1):
        assert abs(np.median(out.flux[out.segment == seg]) - 1) < 1e-3
    assert np.all(np.diff(out.time) > 0)
    assert 900 < out.noise_ppm < 1100
    assert out.detrend_method == "biweight" and out.detrend_window_days == 0.5
    assert out.preprocess_ms > 0
    in_tr = (out.time >= lc.time[3000]) & (out.time <= lc.time[3029])
    assert abs((1 - np.median(out.flux_flat[in_tr])) - 0.01) < 0.001
    flare_t = lc.time[1000:1003]
    assert not np.isin(flare_t, out.time).any()


@pytest.mark.parametrize("method", ["savgol", "none"])
def test_preprocess_other_methods(method):
    out = preprocess_lightcurve(_lc(3000), PreprocessConfig(detrend=method, edge_cutoff_days=0.1))
    assert np.isfinite(out.flux_flat).all()
    assert out.detrend_method == method
    assert len(out) < 3000 - 100  # edges cut


def test_preprocess_bad_inputs_name_source():
    lc = _lc(500)
    lc.flux[:] = np.nan
    with pytest.raises(EmptyLightCurveError, match="fake_lc.fits"):
        preprocess_lightcurve(lc)
    lc = _lc(90)
    with pytest.raises(EmptyLightCurveError, match="fake_lc.fits.*90"):
        preprocess_lightcurve(lc)
    lc = _lc(500)
    lc.quality[:] = 32
    with pytest.raises(EmptyLightCurveError, match="quality mask removed 500"):
        preprocess_lightcurve(lc)
    with pytest.raises(InputError, match="fake_lc.fits"):
        LightCurve(1, 1, np.arange(10.0), np.ones(9), None, None, source_path="/data/fake_lc.fits")
    lc = _lc(500)
    lc.flux[:] = -5.0
    with pytest.raises(InputError, match="fake_lc.fits"):
        preprocess_lightcurve(lc)


def test_preprocess_unsorted_warns():
    lc = _lc(2000)
    lc.time[[10, 11]] = lc.time[[11, 10]]
    with pytest.warns(ExorayWarning):
        out = preprocess_lightcurve(lc)
    assert np.all(np.diff(out.time) > 0)


def _read(path):
    from astropy.io import fits

    with fits.open(path, memmap=False) as h:
        d = h[1].data
        hdr = h[0].header
        return LightCurve(hdr["TICID"], hdr["SECTOR"], d["TIME"], d["PDCSAP_FLUX"],
                          d["PDCSAP_FLUX_ERR"], d["QUALITY"], source_path=str(path))


def test_preprocess_every_real_spoc(spoc_files):
    try:
        from exoray.ingest import read_lightcurve  # type: ignore[attr-defined]
    except ImportError:
        read_lightcurve = _read
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExorayWarning)
        for path in spoc_files:
            lc = read_lightcurve(path)
            out = preprocess_lightcurve(lc)
            assert len(out) > 5000, path.name
            for name in ("time", "flux", "flux_err", "trend", "flux_flat"):
                assert np.isfinite(getattr(out, name)).all(), (path.name, name)
            assert 20 < out.noise_ppm < 2e5, (path.name, out.noise_ppm)
            assert abs(np.median(out.flux_flat) - 1) < 0.01
            assert out.n_raw == len(lc)
            assert out.n_quality_masked + out.n_nan + out.n_outliers <= out.n_raw - len(out)
