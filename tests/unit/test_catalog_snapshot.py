"""The TOI + EB catalogue snapshot shipped in the package, and when the cross-match uses it."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from exoray.config import SearchConfig
from exoray.errors import ConfigError, InputError
from exoray.search.candidates import load_known_catalogs
from exoray.vet.known_objects import (
    EB_CATALOG_ENV,
    SNAPSHOT_EB,
    SNAPSHOT_TOI,
    TOI_CATALOG_ENV,
    crossmatch,
    known_tois,
    load_catalogs,
    snapshot_info,
)

TOI_CSV = "exofop_tess_tois_2025-07-03.csv"
EB_CSV = "tess_ebs_prsa2022_J_ApJS_258_16.csv"


@pytest.fixture(autouse=True)
def _no_catalog_env(monkeypatch):
    monkeypatch.delenv(TOI_CATALOG_ENV, raising=False)
    monkeypatch.delenv(EB_CATALOG_ENV, raising=False)


def test_snapshot_is_small_and_says_where_it_came_from():
    total = SNAPSHOT_TOI.stat().st_size + SNAPSHOT_EB.stat().st_size
    assert 50_000 < total < 600_000
    info = snapshot_info()
    assert info["toi"]["source_file"] == TOI_CSV and info["toi"]["source_date"] == "2025-07-03"
    assert info["eb"]["source_file"] == EB_CSV and "Prsa" in info["eb"]["description"]
    assert int(info["toi"]["rows"]) == pq.read_metadata(SNAPSHOT_TOI).num_rows > 7000
    assert int(info["eb"]["rows"]) == pq.read_metadata(SNAPSHOT_EB).num_rows > 4000
    assert len(info["toi"]["source_sha256"]) == 64


def test_load_catalogs_defaults_to_the_snapshot():
    cats = load_catalogs()
    assert cats.toi_path == str(SNAPSHOT_TOI) and cats.eb_path == str(SNAPSHOT_EB)
    assert crossmatch(261136679, 6.27, catalogs=cats) == "TOI-144.01 (CP, P=6.268 d)"
    assert crossmatch(98853987, 1.3642, catalogs=cats).startswith("alias 1/2 of EB TIC 98853987")
    # GJ 357 is in both catalogues: the confirmed planet wins
    assert crossmatch(413248763, 3.9306, catalogs=cats).startswith("TOI-562.01 (CP")
    assert known_tois(257605131, cats) == ["451.01", "451.02", "451.03"]
    assert known_tois(270501383, cats) == []


def test_snapshot_equals_the_csv_it_was_built_from(real_dir, tmp_path):
    from exoray.vet.catalog_snapshot import build_snapshot

    cat = real_dir / "catalogs"
    if not (cat / TOI_CSV).exists() or not (cat / EB_CSV).exists():
        pytest.skip("shared catalogue CSVs not present")
    meta = build_snapshot(cat / TOI_CSV, cat / EB_CSV, tmp_path)
    assert meta["toi"]["source_date"] == "2025-07-03"
    rebuilt = load_catalogs(tmp_path / SNAPSHOT_TOI.name, tmp_path / SNAPSHOT_EB.name)
    shipped = load_catalogs()
    from_csv = load_catalogs(cat / TOI_CSV, cat / EB_CSV)
    for a, b, c in ((rebuilt.toi, shipped.toi, from_csv.toi), (rebuilt.eb, shipped.eb, from_csv.eb)):
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
        pd.testing.assert_frame_equal(a.reset_index(drop=True), c.reset_index(drop=True), check_dtype=False)


def test_environment_and_paths_replace_the_snapshot_one_catalogue_at_a_time(tmp_path, monkeypatch):
    toi = pd.read_parquet(SNAPSHOT_TOI)
    mine = tmp_path / "my_tois.parquet"
    toi[toi["tic_id"] == 261136679].to_parquet(mine)
    monkeypatch.setenv(TOI_CATALOG_ENV, str(mine))
    cats = load_catalogs()
    assert cats.toi_path == str(mine) and len(cats.toi) == 1
    assert cats.eb_path == str(SNAPSHOT_EB)  # the other one still comes from the snapshot
    assert load_known_catalogs(SearchConfig()).toi_path == str(mine)
    assert load_known_catalogs(SearchConfig(toi_catalog=str(SNAPSHOT_TOI))).toi_path == str(SNAPSHOT_TOI)


def test_a_parquet_catalogue_without_the_columns_is_named(tmp_path):
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"tic_id": [1], "period": [2.0]}).to_parquet(bad)
    with pytest.raises(InputError, match="bad.parquet.*lacks column"):
        load_catalogs(toi_path=bad)


def test_search_config_catalogue_switch():
    assert load_known_catalogs(SearchConfig()) is not None
    assert load_known_catalogs(SearchConfig(use_catalog=False)) is None
    with pytest.raises(ConfigError, match="--no-catalog"):
        SearchConfig(use_catalog=False, toi_catalog="tois.csv")


def test_no_catalog_flag_on_sweep_and_serve():
    from exoray.cli import build_parser
    from exoray.pipelines.commands import _config_from_args
    from exoray.serve.commands import settings_from_args

    p = build_parser()
    assert _config_from_args(p.parse_args(["sweep", "IN", "--out", "O"])).search.use_catalog is True
    cfg = _config_from_args(p.parse_args(["sweep", "IN", "--out", "O", "--no-catalog"]))
    assert cfg.search.use_catalog is False and load_known_catalogs(cfg.search) is None
    with pytest.raises(ConfigError):
        _config_from_args(p.parse_args(["sweep", "IN", "--out", "O", "--no-catalog", "--toi-catalog", "x.csv"]))
    s = settings_from_args(p.parse_args(["serve", "--no-catalog"]))
    assert SearchConfig(**s["search"]).use_catalog is False
    s = settings_from_args(p.parse_args(["serve", "--toi-catalog", "x.csv"]))
    assert s["search"]["toi_catalog"].endswith("/x.csv")
