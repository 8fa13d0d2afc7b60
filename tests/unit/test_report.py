"""Unit tests of exoray.reports: one-page candidate reports (PNG and PDF)
on a synthetic light curve with an injected trapezoid transit, a
single-transit candidate whose vet statistics are NaN, and pi Men (real)."""

from __future__ import annotations

import gc
import math
import os
import struct
import sys
import warnings

import numpy as np
import pytest

from exoray.errors import InputError
from exoray.lightcurve import PreprocessedLightCurve
from exoray.search import bls_search
from exoray.vet import trapezoid_model, vet_candidate
from exoray.reports import DEFAULT_DPI, PAGE_SIZE_IN, make_report, make_reports, report_basename

CADENCE = 10.0 / 1440.0  # 10 min in days: keeps the tests quick
P, T0, DUR, DEPTH = 3.1, 1326.2, 0.12, 2e-3
PNG_SIG = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == PNG_SIG
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def _check_pdf(path):
    with open(path, "rb") as fh:
        data = fh.read()
    assert data[:5] == b"%PDF-"
    assert b"%%EOF" in data[-64:]
    assert len(data) > 10_000


def _synthetic_lc(period=P, t0=T0, depth=DEPTH, seed=0, tic_id=123456789, sector=5):
    """Two orbits with a gap, a slow trend, momentum dumps and centroids."""
    t = np.arange(1325.0, 1352.0, CADENCE)
    t = t[(t < 1338.3) | (t > 1339.6)]
    seg = (t > 1339.0).astype(np.int32)
    rng = np.random.default_rng(seed)
    ph = np.mod(t - t0 + 0.5 * period, period) - 0.5 * period
    transit = trapezoid_model(ph, 0.0, depth, DUR, 0.1, 1.0)
    trend = 1.0 + 2e-3 * np.sin(2 * np.pi * t / 5.0)
    sigma = 4e-4
    flat = transit + rng.normal(0.0, sigma, t.size)
    dumps = np.concatenate([d + np.arange(5) * 2 / 1440 for d in (1327.8, 1330.3, 1342.2, 1347.2)])
    return PreprocessedLightCurve(
        tic_id=tic_id, sector=sector, time=t, flux=flat * trend, flux_err=np.full(t.size, sigma),
        trend=trend, flux_flat=flat, segment=seg, source_path="synthetic",
        radius=1.0, mass=1.0, logg=4.44,
        centroid_col=100.0 + rng.normal(0, 1e-3, t.size), centroid_row=200.0 + rng.normal(0, 1e-3, t.size),
        momentum_dump_times=dumps,
    )


@pytest.fixture(scope="module")
def synth():
    lc = _synthetic_lc()
    res = bls_search(lc, periods=np.linspace(2.5, 4.0, 300), durations=np.array([0.08, 0.12, 0.16]))[0]
    return lc, res


def _stem(lc, index):
    return report_basename(lc.tic_id, lc.sector, index, lc.product, lc.cadence_s, lc.source_path or None)


@pytest.fixture(autouse=True)
def _resource_warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        yield
        gc.collect()


def test_report_png_and_pdf_synthetic(synth, tmp_path):
    lc, res = synth
    assert abs(res.period - P) < 0.01
    cand = res.to_candidate()
    cand.update(score=0.91, score_lo=0.85, score_hi=0.95)
    paths = make_report(lc, cand, bls_result=res, out_dir=tmp_path / "rep")
    assert set(paths) == {"png", "pdf"}
    assert report_basename(lc.tic_id, lc.sector, 0) == "tic123456789_s005_c0"
    stem = _stem(lc, 0)
    assert stem.startswith("tic123456789_s005_") and stem.endswith("_c0")
    assert paths["png"].endswith(stem + ".png") and paths["pdf"].endswith(stem + ".pdf")
    w, h = _png_size(paths["png"])
    assert (w, h) == (1755, 1240) == (int(PAGE_SIZE_IN[0] * DEFAULT_DPI), int(PAGE_SIZE_IN[1] * DEFAULT_DPI))
    _check_pdf(paths["pdf"])
    assert not [p for p in os.listdir(tmp_path / "rep") if p.endswith(".tmp")]
    # No pyplot figure was opened (no global state leaked).
    if "matplotlib.pyplot" in sys.modules:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []


def test_two_inputs_of_one_star_and_sector_write_their_own_reports(synth, tmp_path):
    """A 2-min and a 20-s product of one star and sector (and a second copy of one) never share a file."""
    import concurrent.futures as cf
    import dataclasses

    lc, res = synth
    cand = res.to_candidate()
    variants = [dataclasses.replace(lc, product="spoc_2min", cadence_s=120.0, source_path="a/x_lc.fits"),
                dataclasses.replace(lc, product="spoc_fast", cadence_s=20.0, source_path="a/x_fast-lc.fits"),
                dataclasses.replace(lc, product="spoc_2min", cadence_s=120.0, source_path="b/x_lc.fits")]
    out = tmp_path / "rep"
    # each variant twice, all at once: same-name writers must not trip over a shared temporary file
    with cf.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda v: make_report(v, cand, bls_result=res, out_dir=out, formats=("png",)),
                                variants * 2))
    names = {r["png"] for r in results}
    assert len(names) == 3 and all(os.path.exists(n) for n in names)
    assert sorted(os.listdir(out)) == sorted(os.path.basename(n) for n in names)  # no temporary left behind


def test_report_without_bls_result_and_given_vet(synth, tmp_path):
    lc, res = synth
    cand = {"period_days": res.period, "t0_btjd": res.t0, "duration_hours": res.duration * 24,
            "snr": res.snr, "candidate_index": 2, "disposition": "planet_candidate"}
    vet = vet_candidate(lc, cand)
    paths = make_report(lc, cand, vet=vet, out_dir=tmp_path, formats=("png",), dpi=60,
                        raw_flux=(lc.time, lc.flux * 1.5e4))
    assert set(paths) == {"png"}
    assert paths["png"].endswith(_stem(lc, 2) + ".png")
    assert _png_size(paths["png"]) == (int(PAGE_SIZE_IN[0] * 60), int(PAGE_SIZE_IN[1] * 60))
    assert not list(tmp_path.glob("*.pdf"))


def test_single_transit_candidate_with_nan_statistics(tmp_path):
    """One transit in the sector: odd/even and single-event stats are NaN."""
    lc = _synthetic_lc(period=40.0, t0=1331.0, depth=5e-3, seed=3)
    cand = {"period": 40.0, "t0": 1331.0, "duration": DUR, "depth": 5e-3, "snr": 30.0}
    vet = vet_candidate(lc, cand)
    assert vet["n_transits"] == 1
    assert math.isnan(vet["odd_even_sigma"])
    paths = make_report(lc, cand, vet=vet, out_dir=tmp_path, basename="single", formats=("png",), dpi=60)
    assert paths["png"].endswith("single.png")
    assert _png_size(paths["png"])[0] == int(PAGE_SIZE_IN[0] * 60)


def test_make_reports_names_and_alignment(synth, tmp_path):
    lc, res = synth
    c0 = res.to_candidate(candidate_index=0)
    c1 = dict(c0, candidate_index=3, period_days=2 * res.period)
    out = make_reports(lc, [c0, c1], tmp_path, bls_results=res, formats=("png",), dpi=40)
    assert [o["png"].rsplit("/", 1)[-1] for o in out] == [_stem(lc, 0) + ".png", _stem(lc, 3) + ".png"]
    with pytest.raises(InputError, match="bls_results"):
        make_reports(lc, [c0, c1], tmp_path, bls_results=[res])


def test_bad_inputs(synth, tmp_path):
    lc, res = synth
    with pytest.raises(InputError, match="formats"):
        make_report(lc, res.to_candidate(), out_dir=tmp_path, formats=("svgz",))
    with pytest.raises(InputError, match="period"):
        make_report(lc, {"t0": 1326.0, "duration": 0.1}, out_dir=tmp_path)


def test_report_real_pi_men(real_dir, tmp_path):
    path = real_dir / "tess_spoc_2min" / "tess2018206045859-s0001-0000000261136679-0120-s_lc.fits"
    if not path.exists():
        pytest.skip(f"{path.name} not in shared data")
    from exoray.ingest import read_lightcurve
    from exoray.preprocess import preprocess_lightcurve

    raw = read_lightcurve(str(path))
    lc = preprocess_lightcurve(raw)
    res = bls_search(lc, periods=np.linspace(6.0, 6.5, 120), durations=np.array([0.08, 0.12]))[0]
    assert abs(res.period - 6.2679) < 0.01
    paths = make_report(lc, res.to_candidate(), bls_result=res, out_dir=tmp_path, raw_flux=raw, formats=("png",))
    assert paths["png"].endswith(_stem(lc, 0) + ".png")
    assert os.path.basename(paths["png"]).startswith("tic261136679_s001_spoc_2min_120s_")
    assert _png_size(paths["png"]) == (1755, 1240)


# ---------------------------------------------------------------- page content


def _texts(fig):
    return [t for ax in fig.axes for t in ax.texts] + list(fig.texts)


def _fold_axis(fig):
    return next(ax for ax in fig.axes if ax.get_title().startswith("Phase fold"))


def test_flux_axes_switch_to_percent_for_deep_events(tmp_path):
    from exoray.reports import report_figure

    deep = _synthetic_lc(depth=0.12, seed=3)
    res = bls_search(deep, periods=np.linspace(2.5, 4.0, 300), durations=np.array([0.08, 0.12, 0.16]))[0]
    fig = report_figure(deep, res.to_candidate(), bls_result=res)
    flux_axes = [ax for ax in fig.axes if ax.get_ylabel().startswith("flux - 1")]
    assert len(flux_axes) == 3 and all(ax.get_ylabel() == "flux - 1 (%)" for ax in flux_axes)
    ticks = np.abs(_fold_axis(fig).get_yticks())
    assert ticks.max() < 100  # percent, not -120000 ppm
    sub = next(t.get_text() for t in fig.texts if t.get_text().startswith("P = "))
    pct = float(sub.split(" ppm (")[1].split(" %)")[0])
    assert pct == pytest.approx(12.0, abs=0.5)
    shallow = report_figure(*[_synthetic_lc(), bls_search(_synthetic_lc(), periods=np.linspace(2.5, 4.0, 300),
                                                           durations=np.array([0.12]))[0].to_candidate()])
    assert _fold_axis(shallow).get_ylabel() == "flux - 1 (ppm)"


def test_table_values_never_overlap_their_labels():
    """With the stellar mass missing the rho* source is long; it goes below its label."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from exoray.reports import report_figure

    lc = _synthetic_lc()
    lc.mass = lc.logg = None
    res = bls_search(lc, periods=np.linspace(2.5, 4.0, 300), durations=np.array([0.12]))[0]
    fig = report_figure(lc, res.to_candidate(), bls_result=res)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    table = next(ax for ax in fig.axes if any(t.get_text() == "Statistics" for t in ax.texts))
    labels = [t for t in table.texts if t.get_ha() == "left"]
    values = [t for t in table.texts if t.get_ha() == "right"]
    assert any("main-sequence mass assumed" in v.get_text() for v in values)
    for lab in labels:
        lb = lab.get_window_extent(renderer)
        for val in values:
            vb = val.get_window_extent(renderer)
            assert not lb.overlaps(vb), (lab.get_text(), val.get_text())


def test_header_names_the_star_its_toi_and_parameters():
    from exoray.reports import report_figure

    lc = _synthetic_lc(tic_id=261136679, sector=1)
    lc.tmag, lc.teff, lc.radius, lc.object_name = 5.105, 5992.1, 1.149, "pi Men"
    res = bls_search(lc, periods=np.linspace(2.5, 4.0, 300), durations=np.array([0.12]))[0]
    cand = res.to_candidate()
    cand.update(disposition="false_alarm", rule_disposition="planet_candidate", score=0.2, score_lo=0.1,
                score_hi=0.3)
    fig = report_figure(lc, cand, bls_result=res)
    title = fig._suptitle.get_text()
    assert title.startswith("pi Men (TIC 261136679) · TOI-144 · sector 1")
    assert title.endswith("false_alarm")  # the stored decision, not a re-vetted one
    params = next(t.get_text() for t in fig.texts if t.get_text().startswith("Tmag"))
    assert "Tmag 5.11" in params and "Teff 5992 K" in params and "R* 1.15 R☉" in params
    table = [t.get_text() for t in _texts(fig)]
    assert "vetting rules alone" in table
    # the TOI lookup can be switched off; the TIC alone then names the star
    bare = report_figure(lc, cand, bls_result=res, catalogs=False)
    assert "TOI" not in bare._suptitle.get_text()


def test_t14_error_is_realistic_never_zero():
    """A box-shaped transit makes the trapezoid's T14 Jacobian vanish; the error keeps the Fisher bound."""
    from exoray.vet import transit_shape
    from exoray.reports import report_figure

    rng = np.random.default_rng(5)
    t = np.arange(1325.0, 1352.0, 2.0 / 1440.0)
    period, t0, dur, sigma = 3.0, 1326.0, 1.02 / 24.0, 1e-3
    ph = np.mod(t - t0 + 0.5 * period, period) - 0.5 * period
    n_in = int(np.sum(np.abs(ph) < dur / 2))
    depth = 7.7 * sigma / np.sqrt(n_in)  # SNR 7.7
    flux = 1.0 + rng.normal(0.0, sigma, t.size) - depth * (np.abs(ph) < dur / 2)
    sh = transit_shape(t, flux, np.full(t.size, sigma), period, t0, dur)
    q = sh["depth"] / sh["depth_err"]
    cadence = 2.0 / 1440.0
    assert sh["total_duration_err"] >= np.sqrt(8 * (sh["total_duration"] - cadence) * cadence) / q * 0.999
    assert sh["total_duration_err"] * 24 > 0.03  # hours; not "± 0.00 h" at SNR 7.7
    lc = PreprocessedLightCurve(tic_id=1, sector=1, time=t, flux=flux, flux_err=np.full(t.size, sigma),
                                trend=np.ones(t.size), flux_flat=flux, segment=np.zeros(t.size, np.int32))
    fig = report_figure(lc, {"period": period, "t0": t0, "duration": dur, "snr": 7.7}, catalogs=False)
    texts = [x.get_text() for x in _texts(fig)]
    i = texts.index("duration fit T14 (h)")
    shown_err = float(texts[i + 1].split("±")[1])
    assert 0.03 < shown_err < 0.5 and not texts[i + 1].endswith("± 0.00")  # hours, as at SNR 7.7
