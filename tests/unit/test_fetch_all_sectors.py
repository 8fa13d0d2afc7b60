"""``exoray fetch --all-sectors``: every sector of a star through astroquery.mast, offline.

The portal is ``tests/fakemast.py`` on 127.0.0.1 with the hand-made (not
recorded: no network here) MAST responses of ``tests/data/mast``: TOI-2266
(TIC 8348911) observed at 2-min cadence in sectors 24 and 51, whose real
light curves are served from the shared data folder, and pi Men
(TIC 261136679) with a TESS-SPOC FFI light curve.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fakemast import serving

from exoray.cli import main
from exoray.errors import ConfigError, FetchError
from exoray.ingest import mast_query as mq
from exoray.ingest._fits_checksum import verify_fits

REPO = Path(__file__).resolve().parents[2]
TIC = 8348911
S24 = "tess2020106103520-s0024-0000000008348911-0180-s_lc.fits"
S51 = "tess2022112184951-s0051-0000000008348911-0223-s_lc.fits"
PIMEN_S1 = "tess2018206045859-s0001-0000000261136679-0120-s_lc.fits"
PIMEN_H1 = "hlsp_tess-spoc_tess_phot_0000000261136679-s0001_tess_v1_lc.fits"


@pytest.fixture()
def mast(real_dir):
    yield from serving(real_dir, (("tess_spoc_2min", S24), ("tess_spoc_2min", S51),
                                  ("tess_spoc_2min", PIMEN_S1), ("tess_ffi_hlsp", PIMEN_H1)))


def _cli(mast, tmp_path, *extra):
    return ["fetch", "--tic", str(TIC), "--out", str(tmp_path / "out"), "--base-url", mast.base_url,
            "--cache-dir", str(tmp_path / "cache"), *extra]


def test_every_sector_of_the_star(mast, tmp_path):
    rows = mq.fetch_all_sectors(TIC, tmp_path / "out", base_url=mast.base_url, cache_dir=tmp_path / "c")
    assert [(r["sector"], r["product"], r["filename"], r["status"]) for r in rows] == [
        (24, "spoc_2min", S24, "fetched"), (51, "spoc_2min", S51, "fetched")]
    for name in (S24, S51):
        assert (tmp_path / "out" / name).read_bytes() == mast.files[name]
    # target pixel and DV files of the same observations are listed but not light curves
    assert set(mast.downloads) == {S24, S51}
    query = [r for r in mast.invokes if r["service"] == "Mast.Caom.Filtered"][-1]
    params = {f["paramName"]: f["values"] for f in query["params"]["filters"]}
    assert params["target_name"] == [str(TIC)] and "sequence_number" not in params


def test_sectors_restrict_and_report_missing(mast, tmp_path, capsys):
    rc = main(_cli(mast, tmp_path, "--sectors", "51,30"))
    out = capsys.readouterr().out
    assert rc == 1  # sector 30 has nothing
    assert "sector 30: fetched 0, skipped 0, failed 0, missing 1" in out
    assert "sector 51: fetched 1, skipped 0, failed 0" in out
    assert "sector 24" not in out and S24 not in mast.downloads
    assert "no light curve of TIC 8348911 at MAST in sector(s) 30" in out
    assert os.listdir(tmp_path / "out") == [S51]


def test_no_light_curves_is_one_line_error(mast, tmp_path, capsys):
    with pytest.raises(FetchError, match=r"TIC 12345 has no spoc_2min light curve at MAST; check the TIC ID"):
        mq.fetch_all_sectors(12345, tmp_path / "o", base_url=mast.base_url, cache_dir=tmp_path / "c")
    with pytest.raises(FetchError, match=r"in sector\(s\) 30; MAST has sector\(s\) 24, 51"):
        mq.fetch_all_sectors(TIC, tmp_path / "o", sectors=[30], base_url=mast.base_url,
                             cache_dir=tmp_path / "c")
    rc = main(["fetch", "--tic", "12345", "--all-sectors", "--out", str(tmp_path / "o"),
               "--base-url", mast.base_url, "--cache-dir", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.count("\n") == 1 and err.startswith("exoray fetch: error: ")
    assert "TIC 12345 has no spoc_2min light curve" in err and "tess_spoc_ffi" in err
    assert not (tmp_path / "o").exists() or not os.listdir(tmp_path / "o")


def test_bad_sector_arguments(mast, tmp_path, capsys):
    with pytest.raises(ConfigError, match="sector 'x' is not a positive integer"):
        mq.fetch_all_sectors(TIC, tmp_path / "o", sectors=["24", "x"], base_url=mast.base_url)
    with pytest.raises(ConfigError, match="unknown product"):
        mq.fetch_all_sectors(TIC, tmp_path / "o", products=["spoc_2min", "kepler"], base_url=mast.base_url)
    assert main(_cli(mast, tmp_path, "--sector", "24", "--sectors", "24,51")) == 1
    assert "--sector cannot be combined with --sectors" in capsys.readouterr().err
    assert mast.invokes == []  # rejected before asking MAST anything


def test_resume_after_killed_run(mast, tmp_path, capsys):
    """A run killed in the middle of sector 51's download resumes where it stopped."""
    release = mast.stall[S51] = threading.Event()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "exoray.cli", *_cli(mast, tmp_path, "--all-sectors")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert mast.stalled.wait(120), "the client never reached sector 51"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    out = tmp_path / "out"
    assert (out / S24).read_bytes() == mast.files[S24]
    assert not (out / S51).exists()  # nothing unverified under the final name
    # a temp file as a run killed while copying into place leaves behind
    stale = out / f".{S51}.{'0' * 32}.part"
    stale.write_bytes(mast.files[S51][:5000])
    del mast.stall[S51]
    assert mast.downloads == {S24: 1, S51: 1}

    assert main(_cli(mast, tmp_path, "--all-sectors")) == 0
    text = capsys.readouterr().out
    assert "sector 24: fetched 0, skipped 1, failed 0" in text
    assert "sector 51: fetched 1, skipped 0, failed 0" in text
    assert "TIC 8348911: 2 file(s) from 2 sector(s)" in text
    assert mast.downloads == {S24: 1, S51: 2}  # sector 24 not downloaded again
    assert sorted(os.listdir(out)) == [S24, S51]  # stale temp file removed
    assert (out / S51).read_bytes() == mast.files[S51]


def test_cut_transfer_fails_alone_and_rerun_completes(mast, tmp_path, capsys):
    mast.truncate.add(S51)
    rc = main(_cli(mast, tmp_path, "--all-sectors"))
    text = capsys.readouterr().out
    assert rc == 1
    assert "sector 24: fetched 1, skipped 0, failed 0" in text
    assert "sector 51: fetched 0, skipped 0, failed 1" in text
    assert f"  failed spoc_2min {S51}: " in text and "rerun the same command" in text
    assert mast.downloads[S51] == 2  # tried twice, then recorded
    out = tmp_path / "out"
    assert not (out / S51).exists() and not [n for n in os.listdir(out) if n.endswith(".part")]
    # a damaged file under a final name is fetched again, not trusted
    (out / S24).write_bytes(mast.files[S24][: 2880 * 40])
    assert not verify_fits(str(out / S24)).ok
    mast.truncate.clear()
    rows = mq.fetch_all_sectors(TIC, out, base_url=mast.base_url, cache_dir=tmp_path / "cache")
    assert [r["status"] for r in rows] == ["fetched", "fetched"]
    for name in (S24, S51):
        assert (out / name).read_bytes() == mast.files[name]


def test_ffi_products_too(mast, tmp_path, capsys):
    rc = main(["fetch", "--tic", "261136679", "--sectors", "1", "--ffi", "--out", str(tmp_path / "o"),
               "--base-url", mast.base_url, "--cache-dir", str(tmp_path / "c")])
    text = capsys.readouterr().out
    # the fixture lists a QLP light curve for sector 1 that this server does not have: 404
    assert rc == 1
    assert "sector 1: fetched 2, skipped 0, failed 1" in text
    assert "failed qlp hlsp_qlp_tess_ffi_s0001-0000000261136679_tess_v01_llc.fits" in text
    assert sorted(os.listdir(tmp_path / "o")) == sorted([PIMEN_H1, PIMEN_S1])
    services = [r["params"]["filters"] for r in mast.invokes if r["service"] == "Mast.Caom.Filtered"]
    provenances = sorted(f["values"][0] for fs in services for f in fs if f["paramName"] == "provenance_name")
    assert provenances == ["QLP", "SPOC", "TESS-SPOC"]


def test_library_run_keeps_going_on_404(mast, tmp_path):
    mast.missing.add(S24)
    t0 = time.monotonic()
    rows = mq.fetch_all_sectors(TIC, tmp_path / "o", base_url=mast.base_url, cache_dir=tmp_path / "c")
    assert time.monotonic() - t0 < 60
    assert [(r["sector"], r["status"]) for r in rows] == [(24, "failed"), (51, "fetched")]
    assert "404" in rows[0]["message"]
    assert mq.summarize_fetch(rows)[0] == "sector 24: fetched 0, skipped 0, failed 1"
