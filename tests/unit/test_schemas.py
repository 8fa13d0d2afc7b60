"""Stage contracts: records <-> Arrow tables, atomic Parquet writes, configs."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pyarrow.parquet as pq
import pytest

from exoray.config import PreprocessConfig, SearchConfig, SweepConfig
from exoray.errors import ConfigError, CorruptProductError, FetchError, InputError
from exoray.lightcurve import LightCurve, PreprocessedLightCurve
from exoray.preprocess.pipeline import dump_events
from exoray.schemas import (
    LIGHTCURVE_SCHEMA,
    PREPROCESSED_SCHEMA,
    QUARANTINE_SCHEMA,
    lightcurves_to_table,
    preprocessed_to_table,
    read_preprocessed,
    records_to_table,
    table_to_records,
    write_parquet_atomic,
)
from exoray.vet.records import CANDIDATES_SCHEMA


def _plc(n=50, tic=7, with_centroids=True):
    t = np.linspace(1325.0, 1330.0, n)
    return PreprocessedLightCurve(
        tic_id=tic, sector=3, time=t, flux=np.ones(n), flux_err=np.full(n, 1e-3), trend=np.ones(n),
        flux_flat=np.ones(n), segment=np.zeros(n, np.int32), tmag=9.1, source_path=f"/x/{tic}.fits",
        centroid_col=np.arange(n, dtype=float) if with_centroids else None,
        centroid_row=np.arange(n, dtype=float) if with_centroids else None,
        momentum_dump_times=np.array([1326.5, 1329.0]),
    )


def test_preprocessed_round_trip(tmp_path):
    a, b = _plc(50, 1), _plc(80, 2, with_centroids=False)
    table = preprocessed_to_table([a, b])
    assert table.schema.equals(PREPROCESSED_SCHEMA)
    write_parquet_atomic(table, tmp_path / "lc" / "part-x.parquet")
    back = read_preprocessed(tmp_path / "lc")
    assert [p.tic_id for p in back] == [1, 2]
    np.testing.assert_array_equal(back[0].time, a.time)
    np.testing.assert_array_equal(back[0].centroid_col, a.centroid_col)
    assert back[1].centroid_col is None
    np.testing.assert_array_equal(back[1].momentum_dump_times, [1326.5, 1329.0])
    assert back[0].tmag == 9.1 and back[0].teff is None


def test_raw_lightcurve_table_keeps_nans():
    lc = LightCurve(5, 1, [1.0, 2.0, 3.0], [1.0, np.nan, 1.0], None, None, teff=float("nan"))
    assert lc.teff is None and lc.quality.dtype == np.int32
    rows = table_to_records(lightcurves_to_table([lc]))
    assert np.isnan(rows[0]["flux"][1]) and rows[0]["centroid_col"] is None
    assert lightcurves_to_table([lc]).schema.equals(LIGHTCURVE_SCHEMA)


def test_length_mismatch_is_an_input_error():
    with pytest.raises(InputError, match="flux"):
        LightCurve(1, 1, [1.0, 2.0], [1.0], None, None, source_path="bad.fits")


def test_records_fill_missing_columns_with_nulls():
    t = records_to_table([{"tic_id": 1, "sector": 2, "candidate_index": 0, "period_days": 3.5}], CANDIDATES_SCHEMA)
    row = t.to_pylist()[0]
    assert row["period_days"] == 3.5 and row["score"] is None and row["disposition"] is None


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "q.parquet"
    good = records_to_table([{"path": "a", "stage": "read", "error": "E", "message": "m"}], QUARANTINE_SCHEMA)
    write_parquet_atomic(good, path)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(OSError):
        write_parquet_atomic(good, path)
    assert pq.read_table(path).num_rows == 1  # the old file is intact
    assert [f for f in os.listdir(tmp_path) if f != "q.parquet"] == []  # no temp left


def test_dump_events_merge_flagged_cadences():
    cad = 2 / 1440
    times = np.r_[1327.8 + cad * np.arange(7), 1330.3 + cad * np.arange(5), 1332.8]
    ev = dump_events(times)
    np.testing.assert_allclose(ev, [1327.8 + 3 * cad, 1330.3 + 2 * cad, 1332.8])
    assert dump_events(np.array([])).size == 0


def test_configs_validate_and_serialise():
    with pytest.raises(ConfigError, match="quality_mask"):
        PreprocessConfig(quality_mask="strict")
    with pytest.raises(ConfigError, match="window_days"):
        PreprocessConfig(window_days=0)
    with pytest.raises(ConfigError):
        SweepConfig(batch_size=0)
    cfg = SweepConfig()
    d = cfg.to_dict()
    assert d["preprocess"]["detrend"] == "biweight" and d["search"]["sde_threshold"] == SearchConfig().sde_threshold
    assert SweepConfig(search=None).to_dict()["search"] is None


def test_errors_pickle_across_workers():
    for exc in (CorruptProductError("/d/f.fits", "truncated"), FetchError("http://x/f", "HTTP 500")):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc)
