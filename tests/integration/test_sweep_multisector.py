"""``exoray sweep`` searches each star once over all its sectors.

A star's files are planned into one batch (its TIC ID read from the
header), one product is kept per sector, the sectors are stitched and
searched as one light curve; every file keeps its own preprocessed row.
A rerun redoes nothing; a rerun that brings a new sector of a star searches
that star again over all its files, and the new search supersedes the old
one in ``candidates.parquet`` and ``stars.parquet``.  Searches use
``max_period_days=5`` so that each star takes a few seconds.
"""

from __future__ import annotations

import glob
import math
import os
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq
import pytest

from exoray.config import SearchConfig, SweepConfig
from exoray.pipelines.sweep import LIGHTCURVES_DIR, STARS_DIR, sweep

pytestmark = [pytest.mark.timeout(900)]

SEARCH = SearchConfig(max_period_days=5.0)
SINGLE_TIC = 9_100_000_000
REAL = Path("/work/shared/data/real/tess_spoc_2min")
TOI2266 = 8348911


def _config(**kw) -> SweepConfig:
    return SweepConfig(**{"batch_size": 2, "search": SEARCH, "reports": "none", **kw})


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """Two planet hosts in sectors 24 and 51, and one star in sector 24 only (all files in one folder)."""
    from exoray.simulate import simulate_sector

    root = tmp_path_factory.mktemp("multisector")
    simulate_sector(2, root / "multi", seed=3, sectors=[24, 51], mix="planet=1", snr_range=(25.0, 40.0))
    simulate_sector(1, root / "single", seed=5, sector=24, mix="planet=1", snr_range=(25.0, 40.0),
                    tic_base=SINGLE_TIC)
    files = sorted(glob.glob(str(root / "multi" / "*.fits")) + glob.glob(str(root / "single" / "*.fits")))
    return root, files


def _files(folder: Path, tic: int = None, sector: int = None):
    pat = f"*-s{sector:04d}-*" if sector else "*"
    pat += f"{tic:016d}*" if tic else ""
    return sorted(glob.glob(str(folder / f"{pat}.fits")))


def _copy(files, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, dest / os.path.basename(f))
    return dest


def _table(out: Path, name: str):
    return pq.read_table(out / name).to_pylist()


def _same(x, y) -> bool:
    """Equal values, NaN equal to NaN, through lists and dicts."""
    if isinstance(x, float) and isinstance(y, float):
        return x == y or (math.isnan(x) and math.isnan(y))
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y))
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_same(x[k], y[k]) for k in x)
    return x == y


def _same_table(out: Path, name: str, before: pa.Table) -> bool:
    """``OUT/name`` holds exactly the rows of ``before``."""
    return _same(pq.read_table(out / name).to_pylist(), before.to_pylist())


def _parts_of_tic(out: Path):
    """tic_id -> the light-curve parts holding its files."""
    parts = {}
    for p in sorted((out / LIGHTCURVES_DIR).glob("part-*.parquet")):
        for tic in pq.read_table(p, columns=["tic_id"]).column("tic_id").to_pylist():
            parts.setdefault(tic, set()).add(p.name)
    return parts


def _make_ffi_like(src: str, dest: str) -> None:
    """A copy of a SPOC 2-min file that reads as a TESS-SPOC FFI light curve (its HLSPID says so)."""
    from astropy.io import fits

    with fits.open(src) as h:
        h[0].header["HLSPID"] = "TESS-SPOC"
        h.writeto(dest, checksum=True)


def test_two_sectors_are_searched_as_one_star(sim, tmp_path):
    root, files = sim
    out = tmp_path / "out"
    run = sweep(str(root / "*" / "*.fits"), str(out), _config(), use_ray=False)
    assert run["accounting"]["accounted"]
    assert run["counts"]["preprocessed_total"] == 5  # every file keeps its own preprocessed row
    assert run["counts"]["stars_searched_this_run"] == 3
    assert run["counts"]["multi_sector_stars_this_run"] == 2
    # batch_size 2 with a single-sector star in between: a star's two files still share a batch
    assert all(len(parts) == 1 for parts in _parts_of_tic(out).values())

    stars = {r["tic_id"]: r for r in _table(out, "stars.parquet")}
    assert len(stars) == 3
    assert stars[SINGLE_TIC]["sectors"] == "24" and stars[SINGLE_TIC]["n_sectors"] == 1
    for tic in (9_000_000_000, 9_000_000_001):
        assert stars[tic]["sectors"] == "24,51" and stars[tic]["n_sectors"] == 2
        assert [os.path.basename(f) for f in stars[tic]["searched"]] == \
            [os.path.basename(f) for f in _files(root / "multi", tic)]
        assert stars[tic]["passed_over"] == []

    cands = _table(out, "candidates.parquet")
    cands_t = pq.read_table(out / "candidates.parquet")
    multi = [c for c in cands if c["tic_id"] != SINGLE_TIC]
    assert multi, "the simulated planets (SNR 25-40) should be found"
    assert all(c["sectors"] == "24,51" and c["n_sectors"] == 2 for c in multi)
    assert all(c["sectors"] == "24" and c["n_sectors"] == 1 for c in cands if c["tic_id"] == SINGLE_TIC)
    assert len({(c["tic_id"], c["candidate_index"]) for c in cands}) == len(cands)

    # a rerun with the same inputs does nothing and changes nothing
    again = sweep(str(root / "*" / "*.fits"), str(out), _config(), use_ray=False)
    assert again["counts"]["processed_this_run"] == 0 and again["batches"] == 0
    assert again["accounting"]["accounted"]
    assert _same_table(out, "candidates.parquet", cands_t)


def test_single_sector_star_is_unchanged_by_grouping(sim, tmp_path):
    root, _ = sim
    spec = str(root / "single" / "*.fits")
    grouped = sweep(spec, str(tmp_path / "grouped"), _config(), use_ray=False)
    alone = sweep(spec, str(tmp_path / "alone"), _config(group_sectors=False), use_ray=False)
    assert grouped["counts"]["candidates_total"] == alone["counts"]["candidates_total"] > 0
    assert _same_table(tmp_path / "alone", "candidates.parquet", pq.read_table(tmp_path / "grouped" / "candidates.parquet"))


def test_a_new_sector_redoes_that_star_only(sim, tmp_path):
    root, _ = sim
    a, b = 9_000_000_000, 9_000_000_001
    folder = _copy(_files(root / "multi", sector=24), tmp_path / "in")
    out = tmp_path / "out"
    first = sweep(str(folder), str(out), _config(), use_ray=False)
    star_b = [r for r in _table(out, "stars.parquet") if r["tic_id"] == b]
    assert first["accounting"]["accounted"] and first["counts"]["multi_sector_stars_this_run"] == 0
    before = _table(out, "candidates.parquet")
    before_t = pq.read_table(out / "candidates.parquet")
    assert any(c["tic_id"] == a for c in before), "star A should have candidates from sector 24 alone"
    assert all(c["sectors"] == "24" for c in before)

    _copy(_files(root / "multi", tic=a, sector=51), folder)  # sector 51 of star A arrives
    rerun = sweep(str(folder), str(out), _config(), use_ray=False)
    c = rerun["counts"]
    assert rerun["accounting"]["accounted"]
    assert c["processed_this_run"] == 1 and c["files_searched_again_this_run"] == 1
    assert c["stars_searched_this_run"] == 1 and c["multi_sector_stars_this_run"] == 1
    assert c["preprocessed_total"] == 3  # the sector-24 file of A is not stored twice

    after = _table(out, "candidates.parquet")
    after_t = pq.read_table(out / "candidates.parquet")
    rows_a = [r for r in after if r["tic_id"] == a]
    assert rows_a and all(r["sectors"] == "24,51" and r["n_sectors"] == 2 for r in rows_a)
    assert len({r["candidate_index"] for r in rows_a}) == len(rows_a)  # no duplicates
    t = pq.read_table(out / "candidates.parquet")
    only_b = [tb.filter(pa.compute.equal(tb["tic_id"], b)).to_pylist() for tb in (t, before_t)]
    assert _same(only_b[0], only_b[1])  # B (which may have no candidates from one sector) is untouched
    stars = {r["tic_id"]: r for r in _table(out, "stars.parquet")}
    assert len(_table(out, "stars.parquet")) == 2
    assert stars[a]["sectors"] == "24,51" and _same([stars[b]], star_b)
    # the superseded search stays in its part, for the record
    assert sum(1 for p in (out / STARS_DIR).glob("part-*.parquet") for r in pq.read_table(p).to_pylist()
               if r["tic_id"] == a) == 2

    again = sweep(str(folder), str(out), _config(), use_ray=False)
    assert again["counts"]["processed_this_run"] == 0 and _same_table(out, "candidates.parquet", after_t)


def test_two_products_of_one_sector_search_one_and_say_so(sim, tmp_path):
    root, _ = sim
    a = 9_000_000_000
    folder = _copy(_files(root / "multi", tic=a), tmp_path / "in")
    s24 = _files(root / "multi", tic=a, sector=24)[0]
    ffi = str(folder / ("hlsp_tess-spoc_tess_phot_" + os.path.basename(s24)))
    _make_ffi_like(s24, ffi)
    out = tmp_path / "out"
    run = sweep(str(folder), str(out), _config(batch_size=1), use_ray=False)
    assert run["accounting"]["accounted"] and run["counts"]["preprocessed_total"] == 3
    assert run["counts"]["products_passed_over_this_run"] == 1 and run["counts"]["stars_searched_this_run"] == 1
    (star,) = _table(out, "stars.parquet")
    assert star["passed_over"] == [ffi]
    assert "tess_spoc_ffi" in star["passed_over_reason"] and "spoc_2min" in star["passed_over_reason"]
    assert star["sectors"] == "24,51" and ffi not in star["searched"]
    assert "s24:spoc_2min" in star["products"]
    cands = _table(out, "candidates.parquet")
    assert cands and len({r["candidate_index"] for r in cands}) == len(cands)
    assert all(r["n_sectors"] == 2 for r in cands)


def test_unstitchable_star_is_quarantined_at_stitch(sim, tmp_path):
    from astropy.io import fits

    root, _ = sim
    a = 9_000_000_000
    s24 = _files(root / "multi", tic=a, sector=24)[0]
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(s24, folder / "a.fits")
    with fits.open(s24) as h:  # the same data claiming another sector: overlaps sector 24 in time
        h[0].header["SECTOR"] = 25
        h.writeto(folder / "b.fits", checksum=True)
    out = tmp_path / "out"
    run = sweep(str(folder), str(out), _config(), use_ray=False)
    assert run["accounting"]["accounted"] and run["counts"]["preprocessed_total"] == 2
    assert run["counts"]["candidates_total"] == 0 and run["counts"]["stars_total"] == 0
    q = _table(out, "quarantine.parquet")
    assert sorted(os.path.basename(r["path"]) for r in q) == ["a.fits", "b.fits"]
    assert all(r["stage"] == "stitch" and "NOT searched" in r["message"] and "overlap" in r["message"]
               for r in q)


@pytest.mark.skipif(not REAL.is_dir(), reason=f"{REAL} (real TESS light curves) is not on this machine")
def test_real_toi2266_two_sectors_sweep_as_one_star(tmp_path):
    files = sorted(REAL.glob(f"*{TOI2266:016d}*_lc.fits"))
    if len(files) < 2:
        pytest.skip(f"the two TOI-2266 files (TIC {TOI2266}, sectors 24 and 51) are not in {REAL}")
    out = tmp_path / "out"
    run = sweep(str(REAL / f"*{TOI2266:016d}*_lc.fits"), str(out), _config(), use_ray=False)
    assert run["accounting"]["accounted"] and run["counts"]["preprocessed_total"] == 2
    (star,) = _table(out, "stars.parquet")
    assert star["tic_id"] == TOI2266 and star["sectors"] == "24,51" and star["n_sectors"] == 2
    assert sorted(star["searched"]) == sorted(str(f) for f in files)
    assert all(r["sectors"] == "24,51" for r in _table(out, "candidates.parquet"))
    assert Counter(r["stage"] for r in _table(out, "quarantine.parquet")) == Counter()
