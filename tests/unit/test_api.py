"""The notebook API: lightkurve round trips, filtered reads, candidates, and exoray.search."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow.parquet as pq
import pytest

import exoray
from exoray.errors import InputError
from exoray.lightcurve import LightCurve, PreprocessedLightCurve
from exoray.schemas import PREPROCESSED_SCHEMA, preprocessed_to_table, records_to_table
from exoray.vet.records import CANDIDATES_SCHEMA
from exoray.schemas import write_parquet_atomic

lk = pytest.importorskip("lightkurve")
from astropy.time import Time  # noqa: E402

WASP4 = "tess2018234235059-s0002-0000000402026209-0121-s_lc.fits"
PIMEN = "tess2018206045859-s0001-0000000261136679-0120-s_lc.fits"
KEPLER90 = "kplr011442793-2009350155506_llc.fits"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def small_lc():
    """Nine days of a simulated 2-min light curve with a 1.7-d planet (fast to search)."""
    from exoray.simulate import PlanetSignal, draw_star, simulate_lightcurve

    rng = np.random.default_rng(3)
    star = draw_star(rng, 9_000_000_001, tmag=9.5, teff=5700.0, variability="quiet")
    lc = simulate_lightcurve(rng, star, [PlanetSignal(period=1.7, t0=1325.6, rp_rs=0.06, a_rs=6.0, b=0.2)])
    keep = np.isfinite(lc.time) & (lc.time < np.nanmin(lc.time) + 9.0)
    fields = {f.name: getattr(lc, f.name) for f in dataclasses.fields(lc)}
    return LightCurve(**{k: v[keep] if isinstance(v, np.ndarray) else v for k, v in fields.items()})


@pytest.fixture(scope="module")
def small_plc(small_lc):
    from exoray.preprocess import preprocess_lightcurve

    return preprocess_lightcurve(small_lc)


def _plc(tic, sector, n=200, **kw):
    t = 1325.0 + np.arange(n) / 720.0
    f = np.ones(n)
    return PreprocessedLightCurve(tic_id=tic, sector=sector, time=t, flux=f, flux_err=np.full(n, 1e-3),
                                  trend=f, flux_flat=f, segment=np.zeros(n, np.int32),
                                  source_path=f"/data/tic{tic}_s{sector}.fits", **kw)


@pytest.fixture()
def out_dir(tmp_path):
    """A sweep-like OUT: two parts of preprocessed light curves and a candidates table."""
    lcdir = tmp_path / "lightcurves"
    write_parquet_atomic(preprocessed_to_table([_plc(1, 1), _plc(2, 1), _plc(2, 2)]), lcdir / "part-a.parquet")
    write_parquet_atomic(preprocessed_to_table([_plc(3, 1, object_name="CM Dra")]), lcdir / "part-b.parquet")
    rows = [
        dict(tic_id=1, sector=1, candidate_index=0, period_days=2.0, t0_btjd=1325.1, duration_hours=2.0,
             depth_ppm=500.0, snr=9.0, score=0.2, disposition="false_alarm", source_path="/data/tic1_s1.fits"),
        dict(tic_id=2, sector=1, candidate_index=0, period_days=3.0, t0_btjd=1325.2, duration_hours=2.0,
             depth_ppm=900.0, snr=15.0, score=0.9, disposition="planet_candidate", known_object="TOI-1.01"),
        dict(tic_id=2, sector=2, candidate_index=1, period_days=4.0, t0_btjd=1325.3, duration_hours=2.0,
             depth_ppm=800.0, snr=30.0, score=None, disposition="eclipsing_binary"),
        dict(tic_id=3, sector=1, candidate_index=0, period_days=1.0, t0_btjd=1325.05, duration_hours=1.0,
             depth_ppm=3000.0, snr=12.0, score=0.6, disposition="planet_candidate"),
    ]
    write_parquet_atomic(records_to_table(rows, CANDIDATES_SCHEMA), tmp_path / "candidates.parquet")
    return tmp_path


# ---------------------------------------------------------------- lightkurve


def test_to_lightkurve_and_back_keeps_time_flux_and_ids(small_lc):
    lkc = small_lc.to_lightkurve()
    assert isinstance(lkc, lk.TessLightCurve)
    assert lkc.time.format == "btjd" and lkc.time.scale == "tdb"
    assert str(lkc.flux.unit) == "electron / s"
    assert lkc.meta["TICID"] == small_lc.tic_id and lkc.meta["SECTOR"] == small_lc.sector
    assert lkc.meta["TESSMAG"] == pytest.approx(small_lc.tmag)
    # the same instant lightkurve users get from Time(..., format="btjd"), never JD 1325 (4700 BC)
    assert lkc.time[0].jd == pytest.approx(small_lc.time[0] + 2457000.0, abs=1e-9)
    back = exoray.from_lightkurve(lkc)
    assert (back.tic_id, back.sector, back.mission) == (small_lc.tic_id, small_lc.sector, "TESS")
    np.testing.assert_allclose(back.time, small_lc.time, rtol=0, atol=1e-9)  # < 0.1 ms
    np.testing.assert_array_equal(back.flux, small_lc.flux)
    np.testing.assert_array_equal(back.flux_err, small_lc.flux_err)
    np.testing.assert_array_equal(back.quality, small_lc.quality)
    np.testing.assert_array_equal(back.centroid_col, small_lc.centroid_col)
    assert back.tmag == pytest.approx(small_lc.tmag) and back.cadence_s == pytest.approx(120.0)
    assert back.meta["flux_unit"] == "electron / s"


def test_from_lightkurve_converts_any_time_format(small_lc):
    lkc = small_lc.to_lightkurve()
    jd = lk.LightCurve(time=Time(lkc.time.jd, format="jd", scale="tdb"), flux=lkc.flux, flux_err=lkc.flux_err,
                       meta={"TICID": 7, "SECTOR": 3})
    back = exoray.from_lightkurve(jd)
    assert (back.tic_id, back.sector, back.mission) == (7, 3, "TESS")
    np.testing.assert_allclose(back.time, small_lc.time, rtol=0, atol=1e-8)
    # UTC instead of TDB: ~69 s apart in 2018, converted rather than ignored
    utc = lk.LightCurve(time=Time(lkc.time.tdb.utc.iso, format="iso", scale="utc"), flux=lkc.flux,
                        meta={"TICID": 7, "SECTOR": 3})
    np.testing.assert_allclose(exoray.from_lightkurve(utc).time, small_lc.time, rtol=0, atol=2e-8)


def test_from_lightkurve_refuses_btjd_numbers_read_as_jd(small_lc):
    # what lk.LightCurve(time=plc.time, ...) silently builds: JD 1325, about 4700 BC
    trap = lk.LightCurve(time=small_lc.time, flux=small_lc.flux, meta={"TICID": 1, "SECTOR": 1})
    with pytest.raises(InputError, match=r"JD 13\d\d\.\d \(47\d\d BC\).*read as JD.*format='btjd'"):
        exoray.from_lightkurve(trap)


def test_from_lightkurve_needs_ids_and_a_mission_it_can_tell(small_lc):
    t = Time(2458600.0 + np.arange(50) / 720.0, format="jd", scale="tdb")  # sector 11, 2019
    with pytest.raises(InputError, match="pass tic_id="):
        exoray.from_lightkurve(lk.LightCurve(time=t, flux=small_lc.flux[:50], meta={"SECTOR": 1}))
    with pytest.raises(InputError, match="pass sector="):
        exoray.from_lightkurve(lk.LightCurve(time=t, flux=small_lc.flux[:50], meta={"TICID": 1}))
    ok = exoray.from_lightkurve(lk.LightCurve(time=t, flux=small_lc.flux[:50]), tic_id=5, sector=2)
    assert (ok.tic_id, ok.sector, ok.mission) == (5, 2, "TESS")
    # mid-2018 both K2 and TESS observed: without MISSION the time alone cannot say which
    both = Time(2458350.0 + np.arange(50) / 720.0, format="jd", scale="tdb")
    with pytest.raises(InputError, match="mission='TESS' or mission='Kepler'"):
        exoray.from_lightkurve(lk.LightCurve(time=both, flux=np.ones(50)), tic_id=1, sector=1)
    assert exoray.from_lightkurve(lk.LightCurve(time=both, flux=np.ones(50)), tic_id=1, sector=1,
                                  mission="TESS").time[0] == pytest.approx(1350.0)
    # Kepler-era times: kept in BKJD as the Kepler reader keeps them
    kep = Time(2455000.0 + np.arange(50) / 48.0, format="jd", scale="tdb")
    k = exoray.from_lightkurve(lk.LightCurve(time=kep, flux=np.ones(50), meta={"KEPLERID": 11, "QUARTER": 3}))
    assert (k.mission, k.tic_id, k.sector) == ("Kepler", 11, 3) and k.time[0] == pytest.approx(167.0)
    with pytest.raises(InputError, match="before TESS observed"):
        exoray.from_lightkurve(lk.LightCurve(time=kep, flux=np.ones(50)), tic_id=1, sector=1, mission="TESS")
    with pytest.raises(InputError, match="lightkurve LightCurve"):
        exoray.from_lightkurve(np.ones(3))


def test_real_files_read_by_lightkurve_match_exoray_reader(real_dir):
    from exoray.ingest import read_lightcurve

    for path, mission in ((real_dir / "tess_spoc_2min" / WASP4, "TESS"), (real_dir / "kepler_llc" / KEPLER90, "Kepler")):
        if not path.exists():
            pytest.skip(f"{path.name} not in the shared data")
        ours = read_lightcurve(str(path))
        theirs = exoray.from_lightkurve(lk.read(str(path), quality_bitmask="none"))
        assert (theirs.tic_id, theirs.sector, theirs.mission) == (ours.tic_id, ours.sector, mission)
        m = np.isfinite(ours.time)
        np.testing.assert_allclose(theirs.time, ours.time[m], rtol=0, atol=1e-7)
        np.testing.assert_allclose(theirs.flux, ours.flux[m], rtol=1e-6, equal_nan=True)
        assert theirs.teff == pytest.approx(ours.teff) and theirs.radius == pytest.approx(ours.radius)
        lkc = ours.to_lightkurve()
        assert lkc.time.format == ("btjd" if mission == "TESS" else "bkjd")
        assert str(lkc.flux.unit) == "electron / s"


def test_preprocessed_to_lightkurve_fold_and_bin(small_plc):
    lkc = small_plc.to_lightkurve()
    assert lkc.meta["NORMALIZED"] and lkc.flux.unit.is_equivalent("")
    np.testing.assert_array_equal(lkc.flux.value, small_plc.flux_flat)
    np.testing.assert_array_equal(lkc["trend"].value, small_plc.trend)
    assert lkc.time.format == "btjd"
    assert small_plc.to_lightkurve("flux").flux.value[0] == small_plc.flux[0]
    with pytest.raises(InputError, match="flux_flat"):
        small_plc.to_lightkurve("sap")
    folded = small_plc.fold(1.7, 1325.6)
    assert isinstance(folded, lk.FoldedLightCurve)
    phase = np.asarray(folded.time.value)
    inside = np.abs(phase) < 0.03
    assert np.median(folded.flux.value[inside]) < 1.0 - 0.002  # the transit sits at phase 0
    assert np.median(folded.flux.value[np.abs(phase) > 0.2]) == pytest.approx(1.0, abs=3e-4)
    binned = small_plc.bin(time_bin_size=0.05)
    assert 150 < len(binned) < 190
    with pytest.raises(InputError, match="period"):
        small_plc.fold(0.0, 1325.6)


def test_fold_works_before_lightkurve_is_imported(tmp_path):
    """'btjd' is a Time format lightkurve registers on import; exoray must not rely on the caller's imports."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from exoray.lightcurve import PreprocessedLightCurve\n"
        "t = 1325.0 + np.arange(2000) / 720.0\n"
        "f = np.ones(t.size)\n"
        "p = PreprocessedLightCurve(tic_id=1, sector=1, time=t, flux=f, flux_err=f * 1e-3, trend=f, flux_flat=f,\n"
        "                           segment=np.zeros(t.size, np.int32))\n"
        "assert 'lightkurve' not in sys.modules\n"
        "print(type(p.fold(1.3, 1325.2)).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "FoldedLightCurve"


# ---------------------------------------------------------------- filtered reads


def test_read_preprocessed_filters_and_accepts_out(out_dir):
    from exoray.schemas import read_preprocessed

    assert len(read_preprocessed(out_dir / "lightcurves")) == 4  # the old call: everything
    assert len(exoray.read_preprocessed(out_dir)) == 4  # OUT itself works too
    got = exoray.read_preprocessed(out_dir, tic_id=2)
    assert sorted((p.tic_id, p.sector) for p in got) == [(2, 1), (2, 2)]
    (one,) = exoray.read_preprocessed(out_dir, tic_id=2, sector=2)
    assert (one.tic_id, one.sector) == (2, 2)
    (cm,) = exoray.read_preprocessed(out_dir, tic_id=[3, 99])
    assert cm.object_name == "CM Dra"
    assert exoray.read_preprocessed(out_dir, source_path="/data/tic1_s1.fits")[0].tic_id == 1
    assert exoray.read_preprocessed(out_dir, tic_id=12345) == []
    with pytest.raises(InputError, match="tic_id="):
        exoray.read_preprocessed(out_dir, tic_id="TIC one")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        exoray.read_preprocessed(out_dir / "nowhere")


def test_light_curve_parts_have_one_row_group_per_curve_and_old_parts_still_read(out_dir, tmp_path):
    md = pq.read_metadata(out_dir / "lightcurves" / "part-a.parquet")
    assert md.num_rows == 3 and md.num_row_groups == 3  # a filtered read decodes one curve
    # a part written before 'object_name' existed reads with it as None
    old = preprocessed_to_table([_plc(9, 1)]).drop_columns(["object_name"])
    pq.write_table(old, out_dir / "lightcurves" / "part-old.parquet")
    (p,) = exoray.read_preprocessed(out_dir, tic_id=9)
    assert p.object_name is None and "object_name" in PREPROCESSED_SCHEMA.names


def test_read_candidates_filters_and_sorts(out_dir):
    df = exoray.read_candidates(out_dir)
    assert list(df["tic_id"]) == [2, 3, 1, 2]  # score descending, unscored last
    assert list(df.index) == [0, 1, 2, 3]
    assert list(exoray.read_candidates(out_dir, tic_id=2)["sector"]) == [1, 2]
    assert list(exoray.read_candidates(out_dir, min_score=0.5)["tic_id"]) == [2, 3]
    pc = exoray.read_candidates(out_dir, disposition="planet_candidate", tic_id=[3, 1])
    assert list(pc["tic_id"]) == [3]
    assert list(exoray.read_candidates(out_dir / "candidates.parquet", columns=["tic_id", "score"]).columns) == [
        "tic_id", "score"]
    with pytest.raises(InputError, match="planet_candidate"):
        exoray.read_candidates(out_dir, disposition="planet")
    with pytest.raises(InputError, match="min_score"):
        exoray.read_candidates(out_dir, min_score="high")
    with pytest.raises(FileNotFoundError, match="exoray sweep"):
        exoray.read_candidates(out_dir / "lightcurves")


def test_candidate_accessor_finds_the_light_curve_and_plots(small_plc, tmp_path):
    from matplotlib.figure import Figure

    write_parquet_atomic(preprocessed_to_table([small_plc]), tmp_path / "lightcurves" / "part-x.parquet")
    row = dict(tic_id=small_plc.tic_id, sector=small_plc.sector, candidate_index=0, period_days=1.7,
               t0_btjd=1325.6, duration_hours=2.4, depth_ppm=4000.0, snr=90.0, score=0.8,
               disposition="planet_candidate", rule_disposition="planet_candidate",
               source_path=small_plc.source_path)
    write_parquet_atomic(records_to_table([row], CANDIDATES_SCHEMA), tmp_path / "candidates.parquet")
    c = exoray.candidate(tmp_path, exoray.read_candidates(tmp_path).iloc[0])
    assert c.lightcurve.tic_id == small_plc.tic_id and c.period == pytest.approx(1.7)
    assert "TIC 9000000001" in repr(c)
    fig = exoray.plot_candidate(tmp_path, exoray.read_candidates(tmp_path).iloc[0])
    assert isinstance(fig, Figure)
    title = fig._suptitle.get_text()
    assert "TIC 9000000001" in title and "planet_candidate" in title
    assert len(fig.axes) >= 10
    assert isinstance(c.plot_fold(), Figure) and isinstance(small_plc.plot(row), Figure)
    assert isinstance(c.fold(), lk.FoldedLightCurve)
    with pytest.raises(InputError, match="period_days"):
        exoray.candidate(tmp_path, {"tic_id": 1, "sector": 1})


# ---------------------------------------------------------------- search


def test_search_one_simulated_light_curve_without_ray(small_lc, small_plc):
    import sys

    ray_before = "ray" in sys.modules and sys.modules["ray"].is_initialized()
    df, res = exoray.search(small_lc, return_details=True)
    if not ray_before:  # the search itself never starts Ray (a session's shared instance may be up)
        assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()
    assert list(df.columns) == CANDIDATES_SCHEMA.names
    best = df.iloc[0]
    assert best["period_days"] == pytest.approx(1.7, rel=2e-3)
    assert abs(best["t0_btjd"] - 1325.6) % 1.7 < 0.02 or abs(best["t0_btjd"] - 1325.6) % 1.7 > 1.68
    assert 0.0 <= best["score"] <= 1.0 and best["score_lo"] <= best["score"] <= best["score_hi"]
    assert best["disposition"] in ("planet_candidate", "false_alarm", "eclipsing_binary", "variability",
                                   "instrumental")
    assert res.plc.tic_id == small_lc.tic_id and len(res.rows) == len(df)
    # the same light curve handed over as lightkurve, and as already preprocessed, with options
    via_lk = exoray.search(small_lc.to_lightkurve(), rank=False)
    assert via_lk.iloc[0]["period_days"] == pytest.approx(best["period_days"], rel=1e-6)
    assert np.isnan(via_lk.iloc[0]["score"])
    pre = exoray.search(small_plc, rank=False, use_catalog=False, max_planets=1)
    assert len(pre) == 1 and pre.iloc[0]["period_days"] == pytest.approx(1.7, rel=2e-3)
    fig = exoray.plot_candidate(res, df.iloc[0])  # with the BLS periodogram of the search
    assert "BLS periodogram" in " ".join(ax.get_title() for ax in fig.axes)
    with pytest.raises(InputError, match="unknown option"):
        exoray.search(small_plc, max_planet=1)
    with pytest.raises(InputError, match="LightCurve"):
        exoray.search(np.ones(10))


def test_search_is_the_chain(monkeypatch, small_plc):
    """exoray.search runs exoray.chain (the sweep's chain), not a copy of its stages."""
    import exoray.chain as chain

    calls = []
    real = chain.analyse_preprocessed

    def spy(*a, **k):
        calls.append(k.get("catalogs"))
        return real(*a, **k)

    monkeypatch.setattr(chain, "analyse_preprocessed", spy)
    exoray.search(small_plc, rank=False, max_planets=1)
    assert len(calls) == 1 and calls[0] is not None  # the shipped catalogue, as a sweep uses


@pytest.mark.slow
def test_search_real_pi_men_finds_toi_144(real_dir):
    path = real_dir / "tess_spoc_2min" / PIMEN
    if not path.exists():
        pytest.skip(f"{PIMEN} not in the shared data")
    df = exoray.search(lk.read(str(path)))
    best = df.iloc[0]
    assert best["period_days"] == pytest.approx(6.268, rel=2e-3)
    assert best["known_object"] == "TOI-144.01 (CP, P=6.268 d)"
