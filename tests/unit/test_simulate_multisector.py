"""One simulated star observed in several sectors (exoray.simulate.multisector)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from exoray.errors import ConfigError
from exoray.simulate import sector_timing, simulate_sector
from exoray.simulate.multisector import (
    multisector_timings,
    multisector_truth_columns,
    parse_sectors,
    simulate_multisector_star,
)

REPO = Path(__file__).resolve().parents[2]
STAR_KEYS = ("TICID", "OBJECT", "TESSMAG", "TEFF", "LOGG", "RADIUS", "RA_OBJ", "DEC_OBJ")


def _epochs_with_data(lc, period, t0, half):
    """Epoch numbers that have finite flux within ``half`` of their mid-transit."""
    ok = np.isfinite(lc.time) & np.isfinite(lc.flux)
    ep = np.round((lc.time[ok] - t0) / period)
    near = np.abs(lc.time[ok] - (t0 + ep * period)) < half
    return sorted({int(e) for e in ep[near]})


# --------------------------------------------------------------------------- sectors and timing


def test_parse_sectors():
    assert parse_sectors("1,2,3") == parse_sectors("1-3") == parse_sectors([3, 1, 2]) == [1, 2, 3]
    assert parse_sectors("51, 24") == [24, 51]
    for bad, msg in [("1,1", "listed twice"), ("3-1", "not N or N-M"), ("0", "not >= 1"),
                     ("x", "not N or N-M"), ("", "no sector"), ([2.5], "not a whole number")]:
        with pytest.raises(ConfigError, match=msg):
            parse_sectors(bad)


def test_timings_are_separate_and_otherwise_unchanged():
    """``end_before_next`` only trims a sector that would run into the next one."""
    trimmed = kept = 0
    for seed in range(8):
        for s in (1, 2, 13, 14, 24, 50):
            legacy = sector_timing(s, seed)
            t = sector_timing(s, seed, end_before_next=True)
            nxt = sector_timing(s + 1, seed, end_before_next=True)
            assert nxt.tstart - t.tstop > 0.85  # at least a downlink gap between sectors
            if np.array_equal(t.t_grid, legacy.t_grid):
                kept += 1
                assert np.array_equal(t.quality, legacy.quality) and np.array_equal(t.thermal, legacy.thermal)
            else:
                trimmed += 1
                assert legacy.tstop > nxt.tstart - legacy.meta["gap_days"]  # it really ran into the next
                assert t.t_grid.size < legacy.t_grid.size
                assert np.array_equal(t.t_grid, legacy.t_grid[: t.t_grid.size])
    assert trimmed and kept
    with pytest.raises(ConfigError, match="sector must be a whole number >= 1"):
        sector_timing(0)


def test_overlapping_timings_rejected():
    for seed in range(50):
        a, b = sector_timing(1, seed), sector_timing(2, seed)
        if a.tstop > b.tstart:
            break
    else:
        pytest.skip("no overlapping legacy pair among the seeds tried")
    with pytest.raises(ConfigError, match="ends after sector 2 starts"):
        simulate_multisector_star(np.random.default_rng(0), 9_000_000_001, "none", [a, b])


# --------------------------------------------------------------------------- files


@pytest.fixture(scope="module")
def consecutive(tmp_path_factory):
    d = tmp_path_factory.mktemp("ms")
    truth = simulate_sector(6, d, seed=2, sectors="1-3",
                            mix="planet=0.34,blended_eb=0.33,multi_planet=0.33")
    return d, truth


def test_same_star_and_ephemeris_in_every_sector_file(consecutive):
    d, truth = consecutive
    disk = pd.read_csv(d / "truth.csv")
    assert list(disk.columns) == multisector_truth_columns([1, 2, 3])
    assert (disk["sectors"] == "1,2,3").all() and (disk["sector"] == 1).all()
    assert disk["tic_id"].nunique() == 6
    for tic, rows in disk.groupby("tic_id"):
        files = rows["file"].iloc[0].split(",")
        assert len(files) == 3 and (rows["file"] == rows["file"].iloc[0]).all()
        headers = []
        for sector, name in zip((1, 2, 3), files):
            assert f"-s{sector:04d}-{tic:016d}-" in name and name.endswith("-s_lc.fits")
            with fits.open(d / name) as h:
                h.verify("exception")
                assert h[0].header["SECTOR"] == sector and h[0].header["TICID"] == tic
                headers.append((dict(h[0].header), dict(h[1].header)))
        for key in STAR_KEYS:
            assert len({str(p[key]) for p, _ in headers}) == 1, key
        # each sector has its own aperture and crowding
        assert len({lc["CROWDSAP"] for _, lc in headers}) == 3
        crowd = [rows[f"crowdsap_s{s}"].iloc[0] for s in (1, 2, 3)]
        assert np.allclose(crowd, [lc["CROWDSAP"] for _, lc in headers], atol=1e-7)
        # one row per signal: one ephemeris shared by the three files
        assert rows["signal_index"].tolist() == list(range(len(rows)))
        assert rows["period_days"].notna().all() and rows["t0_btjd"].notna().all()


def test_sector_timings_differ(consecutive):
    d, truth = consecutive
    files = truth["file"].iloc[0].split(",")
    tabs = []
    for name in files:
        with fits.open(d / name) as h:
            tabs.append((h[1].header["TSTART"], h[1].header["TSTOP"], h[1].data["TIME"].copy(),
                         h[1].data["QUALITY"].copy(), h[1].data["CADENCENO"].copy()))
    for (s0, e0, t0, q0, c0), (s1, e1, t1, q1, c1) in zip(tabs, tabs[1:]):
        assert e0 < s1 and np.nanmax(t0) < np.nanmin(t1)  # in order, no overlap
        assert c0[-1] < c1[0]
        gap0 = np.flatnonzero(np.isnan(t0))
        gap1 = np.flatnonzero(np.isnan(t1))
        assert (gap0[0], gap0.size) != (gap1[0], gap1.size)  # own downlink gap
        dumps0 = np.nanmin(t0) - t0[(q0 & 32) > 0]  # momentum dumps relative to the start
        dumps1 = np.nanmin(t1) - t1[(q1 & 32) > 0]
        assert not np.allclose(dumps0[:5], dumps1[:5])
    # the other stars of a sector share its timing (as real stars on a camera do)
    other = truth["file"].iloc[-1].split(",")[1]
    with fits.open(d / other) as h:
        assert h[1].header["TSTART"] == tabs[1][0]


def test_blend_depth_follows_the_aperture_and_planets_do_not(consecutive):
    _, truth = consecutive
    secs = (1, 2, 3)
    blends = truth[truth["class"] == "blended_eb"]
    assert len(blends) >= 2
    for _, r in blends.iterrows():
        depth = np.array([r[f"depth_ppm_s{s}"] for s in secs])
        ratio = np.array([r[f"blend_ratio_s{s}"] for s in secs])
        crowd = np.array([r[f"crowdsap_s{s}"] for s in secs])
        assert np.ptp(depth) / depth.mean() > 1e-3  # differs between sectors
        assert np.allclose(depth / ratio, depth[0] / ratio[0], rtol=1e-6)  # intrinsic depth x flux ratio
        # the blend scales with the other contaminating light in the aperture
        contam = (1 - crowd) / crowd
        assert np.allclose(ratio / contam, ratio[0] / contam[0], rtol=1e-6)
        assert np.all(ratio <= contam * (1 + 1e-9))
        assert r["blend_ratio"] > 0
    planets = truth[truth["class"].isin(["planet", "multi_planet"])]
    for _, r in planets.iterrows():
        assert len({round(r[f"depth_ppm_s{s}"], 6) for s in secs}) == 1


def test_determinism(tmp_path):
    kw = dict(seed=9, sectors=[24, 51], mix="planet=0.5,blended_eb=0.5", duo_fraction=0.5)
    a = simulate_sector(3, tmp_path / "a", **kw)
    b = simulate_sector(3, tmp_path / "b", **kw)
    c = simulate_sector(3, tmp_path / "c", **{**kw, "seed": 10})
    pd.testing.assert_frame_equal(a, b)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(names) == 3 * 2 + 1
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert not a["tmag"].equals(c["tmag"])
    names_c = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert (tmp_path / "a" / names[0]).read_bytes() != (tmp_path / "c" / names_c[0]).read_bytes()
    t = multisector_timings("24,51", 4)
    l1, r1 = simulate_multisector_star(np.random.default_rng(7), 9_000_000_005, "multi_planet", t)
    l2, r2 = simulate_multisector_star(np.random.default_rng(7), 9_000_000_005, "multi_planet", t)
    assert all(np.array_equal(x.flux, y.flux, equal_nan=True) for x, y in zip(l1, l2))
    assert pd.DataFrame(r1).equals(pd.DataFrame(r2))


# --------------------------------------------------------------------------- in memory


@pytest.mark.parametrize("sectors", ["24,51", "1,2,3"])
def test_transits_fall_where_the_ephemeris_says(sectors):
    timings = multisector_timings(sectors, seed=5)
    lcs, rows = simulate_multisector_star(np.random.default_rng(11), 9_000_000_010, "planet", timings,
                                          snr_range=(150.0, 200.0), single_fraction=0.0)
    secs = [t.sector for t in timings]
    assert [lc.sector for lc in lcs] == secs and {lc.tic_id for lc in lcs} == {9_000_000_010}
    row = rows[0]
    period, t0, half = row["period_days"], row["t0_btjd"], 0.5 * row["duration_hours"] / 24
    depth = row["depth_ppm"] * 1e-6
    total = 0
    for lc in lcs:
        s = lc.sector
        assert lc.meta["truth"][0]["period_days"] == period and lc.meta["truth"][0]["t0_btjd"] == t0
        f = lc.flux / np.nanmedian(lc.flux)
        ok = np.isfinite(lc.time) & np.isfinite(f)
        phase = (lc.time - t0 + 0.5 * period) % period - 0.5 * period
        centre = ok & (np.abs(phase) < 0.3 * half)
        away = ok & (np.abs(phase) > 2 * half)
        dip = np.median(f[away]) - np.median(f[centre])
        assert abs(dip / depth - 1) < 0.2, (s, dip, depth)
        # a transit a tenth of its duration off the ephemeris would show up here
        early = ok & (np.abs(phase + 0.9 * half) < 0.1 * half)
        late = ok & (np.abs(phase - 0.9 * half) < 0.1 * half)
        assert abs(np.median(f[early]) - np.median(f[late])) < 0.25 * depth
        n = len(_epochs_with_data(lc, period, t0, half))
        assert n == row[f"n_transits_s{s}"] and n >= 1
        total += n
    assert row["n_transits_in_data"] == total
    assert np.isclose(row["snr"], np.sqrt(sum(row[f"snr_s{s}"] ** 2 for s in secs)))
    assert 150 * 0.8 < row["snr"] < 200 * 1.2  # the target is the combined SNR


@pytest.mark.parametrize("sectors, seed", [("24,51", 0), ("24,51", 1), ("1,2,3", 2), ("1,2,3", 3)])
def test_duo_transit_truth(sectors, seed):
    timings = multisector_timings(sectors, seed=seed)
    lcs, rows = simulate_multisector_star(np.random.default_rng(seed), 9_000_000_020, "planet", timings,
                                          duo=True, snr_range=(40.0, 60.0))
    row = rows[0]
    period, t0, half = row["period_days"], row["t0_btjd"], 0.5 * row["duration_hours"] / 24
    per_sector = {lc.sector: _epochs_with_data(lc, period, t0, half) for lc in lcs}
    # one transit in each of two sectors, none elsewhere: no sector alone has a period to find
    assert sorted(len(v) for v in per_sector.values()) == [0] * (len(lcs) - 2) + [1, 1]
    for lc in lcs:
        s = lc.sector
        assert row[f"n_transits_s{s}"] == len(per_sector[s])
        assert row[f"single_transit_s{s}"] == (len(per_sector[s]) == 1)
    assert row["n_transits_in_data"] == 2 and row["duo_transit"] and not row["single_transit"]
    assert row["class"] == "planet" and row["signal_index"] == 0
    # the two transits really are in the data, at the predicted depth
    depth = row["depth_ppm"] * 1e-6
    for lc in lcs:
        if per_sector[lc.sector]:
            f = lc.flux / np.nanmedian(lc.flux)
            mid = t0 + per_sector[lc.sector][0] * period
            m = np.isfinite(f) & (np.abs(lc.time - mid) < 0.3 * half)
            if m.sum() >= 10:
                assert abs((1 - np.median(f[m])) / depth - 1) < 0.35


def test_duo_fraction_in_files(tmp_path):
    truth = simulate_sector(4, tmp_path, seed=4, sectors="1-3", mix="planet=1", duo_fraction=1.0)
    assert truth["duo_transit"].all()
    counts = truth[["n_transits_s1", "n_transits_s2", "n_transits_s3"]].to_numpy()
    assert (counts.sum(axis=1) == 2).all() and (counts.max(axis=1) == 1).all()


def test_bad_requests():
    t = multisector_timings("24,51", 0)
    with pytest.raises(ConfigError, match="duo-transit system is a 'planet' star"):
        simulate_multisector_star(np.random.default_rng(0), 9_000_000_001, "eb", t, duo=True)
    with pytest.raises(ConfigError, match="at least two sectors"):
        simulate_multisector_star(np.random.default_rng(0), 9_000_000_001, "planet", t[:1], duo=True)
    with pytest.raises(ConfigError, match="sector listed twice"):
        simulate_multisector_star(np.random.default_rng(0), 9_000_000_001, "none", [t[0], t[0]])
    with pytest.raises(ConfigError, match="unknown class"):
        simulate_multisector_star(np.random.default_rng(0), 9_000_000_001, "comet", t)
    with pytest.raises(ConfigError, match="either sector or sectors"):
        simulate_sector(1, "/nonexistent/never", sector=3, sectors=[1, 2])
    with pytest.raises(ConfigError, match="need several sectors"):
        simulate_sector(1, "/nonexistent/never", duo_fraction=0.2)
    with pytest.raises(ConfigError, match="at least two sectors"):
        simulate_sector(1, "/nonexistent/never", sectors=[5], duo_fraction=0.2)


def test_in_memory_path_needs_no_astropy():
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "astropy" or name.startswith("astropy."):
            raise ImportError("astropy blocked for this test")
sys.meta_path.insert(0, Block())
import numpy as np
from exoray.simulate.multisector import multisector_timings, simulate_multisector_star
lcs, rows = simulate_multisector_star(np.random.default_rng(1), 9_000_000_001, "planet",
                                      multisector_timings("24,51", 1), duo=True)
assert [lc.sector for lc in lcs] == [24, 51] and rows[0]["duo_transit"]
assert not [m for m in sys.modules if m.split(".")[0] == "astropy"]
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]


def test_cli(tmp_path, capsys):
    from exoray.cli import main

    rc = main(["simulate", "--n", "2", "--out", str(tmp_path), "--sectors", "24,51", "--seed", "1",
               "--mix", "planet=1", "--duo-fraction", "1"])
    assert rc == 0
    assert "simulated 2 stars x 2 sectors = 4 light curves (sectors 24,51, 2 duo transit(s)" in capsys.readouterr().out
    assert len(list(tmp_path.glob("*-s0024-*_lc.fits"))) == 2 and len(list(tmp_path.glob("*-s0051-*_lc.fits"))) == 2
    truth = pd.read_csv(tmp_path / "truth.csv")
    assert (truth["sectors"] == "24,51").all() and truth["duo_transit"].all()
    assert main(["simulate", "--n", "1", "--out", str(tmp_path / "x"), "--duo-fraction", "0.5"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "duo-transit planets need several sectors" in err
    with pytest.raises(SystemExit):
        main(["simulate", "--n", "1", "--out", str(tmp_path / "y"), "--sector", "3", "--sectors", "1,2"])
