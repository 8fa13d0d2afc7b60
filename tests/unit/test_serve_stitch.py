"""/v1/score's multi-upload path without Ray Serve: one star's sectors searched as one; several stars refused."""

from __future__ import annotations

import glob

import pytest

from exoray.config import PreprocessConfig, SearchConfig
from exoray.engine import Engine
from exoray.errors import InputError
from exoray.ingest import read_lightcurve
from exoray.serve.score import check_one_star, search_star_with_engine


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from exoray.simulate import simulate_sector

    d = tmp_path_factory.mktemp("serve_stitch")
    simulate_sector(2, d, seed=3, sectors=[24, 51], mix="planet=1", snr_range=(25.0, 40.0))
    return sorted(glob.glob(str(d / "*.fits")))


def test_one_star_two_sectors_searched_as_one(files):
    lcs = [read_lightcurve(f) for f in files if "0000009000000000" in f]
    engine = Engine(PreprocessConfig(), SearchConfig(max_period_days=5.0, rank=False), catalogs=None)
    plc, rows, timings, passed = search_star_with_engine(engine, lcs)
    assert plc.sectors == (24, 51) and passed == []
    assert rows and all(r["sectors"] == "24,51" and r["n_sectors"] == 2 for r in rows)
    assert timings["preprocess"] > 0 and timings["search"] > 0


def test_uploads_of_different_stars_are_refused(files):
    lcs = [read_lightcurve(f) for f in files if "-s0024-" in f]
    with pytest.raises(InputError, match="different stars") as info:
        check_one_star(lcs)
    assert {d["msg"] for d in info.value.details} == {"TIC 9000000000", "TIC 9000000001"}
