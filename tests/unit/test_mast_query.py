"""find_lightcurves / fetch_lightcurves through astroquery.mast, offline.

A local HTTP server on 127.0.0.1 (``tests/fakemast.py``) plays MAST's portal:
it answers astroquery's ``columnsconfig`` and ``invoke`` POSTs with the JSON
in ``tests/data/mast`` and serves a real FITS copy from
``/api/v0.1/Download/file``.  Those JSON responses are hand-made in MAST's
format, NOT recorded from the live service (no network here); the server
filters the observation rows by the filters astroquery sends, as MAST would,
so the test also checks the query we build.

The last test queries the real MAST and is deselected by default
(``remote_data``).
"""

from __future__ import annotations

import hashlib
import os

import pytest
from fakemast import serving

from exoray.errors import ConfigError, FetchError
from exoray.ingest import mast_query as mq

S1 = "tess2018206045859-s0001-0000000261136679-0120-s_lc.fits"
H1 = "hlsp_tess-spoc_tess_phot_0000000261136679-s0001_tess_v1_lc.fits"


@pytest.fixture()
def mast(real_dir):
    yield from serving(real_dir, (("tess_spoc_2min", S1), ("tess_ffi_hlsp", H1)))


def _filters(req):
    return {f["paramName"]: f["values"] for f in req["params"]["filters"]}


def test_find_spoc_2min_one_sector(mast):
    tab = mq.find_lightcurves(261136679, 1, base_url=mast.base_url)
    assert list(tab["productFilename"]) == [S1]
    assert list(tab["sector"]) == [1] and list(tab["tic_id"]) == [261136679]
    assert int(tab["size"][0]) == 2039040
    query = [r for r in mast.invokes if r["service"] == "Mast.Caom.Filtered"][-1]
    f = _filters(query)
    assert f["obs_collection"] == ["TESS"] and f["provenance_name"] == ["SPOC"]
    assert f["target_name"] == ["261136679"] and f["sequence_number"] == ["1"]
    assert f["dataproduct_type"] == ["timeseries"]
    assert f["t_exptime"] == [{"min": 110.0, "max": 130.0}]


def test_find_all_sectors_filters_non_lightcurves(mast):
    tab = mq.find_lightcurves(261136679, None, base_url=mast.base_url)
    names = list(tab["productFilename"])
    assert len(names) == 2 and all(n.endswith("-s_lc.fits") for n in names)
    assert sorted(tab["sector"]) == [1, 2]


@pytest.mark.parametrize(
    "product, suffix",
    [("tess_spoc_ffi", "tess_v1_lc.fits"), ("qlp", "tess_v01_llc.fits")],
)
def test_find_hlsp_products(mast, product, suffix):
    tab = mq.find_lightcurves(261136679, 1, product, base_url=mast.base_url)
    assert len(tab) == 1 and tab["productFilename"][0].endswith(suffix)
    f = _filters(mast.invokes[-2])
    assert f["obs_collection"] == ["HLSP"] and "t_exptime" not in f


def test_unknown_product_lists_choices():
    with pytest.raises(ConfigError, match="spoc_2min"):
        mq.find_lightcurves(1, 1, "kepler_sc", base_url="http://127.0.0.1:9")


def test_no_results(mast, tmp_path):
    assert len(mq.find_lightcurves(12345, 1, base_url=mast.base_url)) == 0
    assert mq.fetch_lightcurves(12345, 1, tmp_path / "o", base_url=mast.base_url,
                                cache_dir=tmp_path / "c") == []


def test_base_url_from_environment(mast, monkeypatch):
    monkeypatch.setenv("EXORAY_MAST_URL", mast.base_url + "/")
    assert mq.mast_base_url() == mast.base_url
    assert len(mq.find_lightcurves(261136679, 1)) == 1


def test_server_error_is_fetch_error(mast):
    mast.fail_invoke = True
    with pytest.raises(FetchError, match="MAST query failed"):
        mq.find_lightcurves(261136679, 1, base_url=mast.base_url)


def test_fetch_downloads_verifies_and_resumes(mast, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    paths = mq.fetch_lightcurves(261136679, 1, out, base_url=mast.base_url, cache_dir=cache)
    assert paths == [out / S1]
    assert (out / S1).read_bytes() == mast.files[S1]
    assert hashlib.sha256((out / S1).read_bytes()).hexdigest().startswith("1eecffff3afa7e8c")
    assert list(cache.rglob(S1))  # astroquery's cache holds the download
    assert mast.downloads[S1] == 1
    assert not [p for p in os.listdir(out) if p.endswith(".part")]
    # rerun: already present and valid -> not downloaded again
    assert mq.fetch_lightcurves(261136679, 1, out, base_url=mast.base_url, cache_dir=cache) == paths
    assert mast.downloads[S1] == 1
    # an invalid file in out_dir is replaced (from the verified cache copy)
    (out / S1).write_bytes(mast.files[S1][:2880 * 10])
    mq.fetch_lightcurves(261136679, 1, out, base_url=mast.base_url, cache_dir=cache)
    assert (out / S1).read_bytes() == mast.files[S1]


def test_fetch_hlsp(mast, tmp_path):
    paths = mq.fetch_lightcurves(261136679, 1, tmp_path / "o", product="tess_spoc_ffi",
                                 base_url=mast.base_url, cache_dir=tmp_path / "c")
    assert [p.name for p in paths] == [H1] and paths[0].read_bytes() == mast.files[H1]


def test_fetch_corrupt_download_raises(mast, tmp_path):
    mast.corrupt.add(S1)
    with pytest.raises(FetchError, match="CHECKSUM"):
        mq.fetch_lightcurves(261136679, 1, tmp_path / "o", base_url=mast.base_url,
                             cache_dir=tmp_path / "c")
    assert mast.downloads[S1] == 2  # retried once
    assert not (tmp_path / "o" / S1).exists()
    assert not list((tmp_path / "c").rglob(S1))  # bad cache copy removed


def test_cli_fetch(mast, tmp_path, capsys):
    from exoray.cli import main

    rc = main(["fetch", "--tic", "261136679", "--sector", "1", "--out", str(tmp_path / "o"),
               "--base-url", mast.base_url, "--cache-dir", str(tmp_path / "c")])
    assert rc == 0
    assert S1 in capsys.readouterr().out


@pytest.mark.remote_data
def test_live_mast_pi_men_sector_1(tmp_path):
    """Really queries and downloads from MAST (deselected by default)."""
    tab = mq.find_lightcurves(261136679, 1)
    assert S1 in list(tab["productFilename"])
    paths = mq.fetch_lightcurves(261136679, 1, tmp_path / "o", cache_dir=tmp_path / "c", products=tab)
    data = (tmp_path / "o" / S1).read_bytes()
    assert hashlib.sha256(data).hexdigest().startswith("1eecffff3afa7e8c")
    assert [p.name for p in paths] == [S1]
