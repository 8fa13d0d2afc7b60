"""One bad input never takes down its batch: every per-input step is guarded (no Ray needed)."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from exoray.config import SearchConfig, SweepConfig
from exoray.lightcurve import LightCurve
from exoray.pipelines import sweep as sweep_module

from searchfakes import replace_search


def _lc(path, **kw):
    t = 1000.0 + np.arange(0.0, 3.0, 2.0 / 1440.0)
    f = 1000.0 + np.random.default_rng(0).normal(0.0, 1.0, t.size)
    return LightCurve(**{"tic_id": 7, "sector": 1, "time": t, "flux": f, "flux_err": None, "quality": None,
                         "source_path": path, **kw})


def test_values_that_cannot_be_stored_and_odd_exceptions_are_quarantined(monkeypatch, tmp_path):
    """A reader that let CAMERA = 70000 or TICID = 2**64 through, MemoryError, RecursionError: one row each."""
    made = {"camera.fits": dict(camera=70000), "tic.fits": dict(tic_id=2**64), "ok.fits": {},
            "memory.fits": {}, "recursion.fits": {}}

    def fake_read(loc, flux_column, verify=True):
        return _lc(loc, **made[loc])

    from exoray.preprocess import preprocess_lightcurve

    def fake_preprocess(lc, cfg):
        if lc.source_path == "memory.fits":
            raise MemoryError()
        return preprocess_lightcurve(lc, cfg)

    def fake_find(plc, *a, **kw):
        if plc.source_path == "recursion.fits":
            raise RecursionError("maximum recursion depth exceeded")
        return [], [], []

    monkeypatch.setattr(sweep_module, "_read_one", fake_read)
    monkeypatch.setattr("exoray.engine.preprocess_lightcurve", fake_preprocess)
    replace_search(monkeypatch, fake_find)
    out = tmp_path / "out"
    summary = sweep_module.process_batch(sorted(made), str(out), SweepConfig(search=SearchConfig(rank=False),
                                                                              reports="none", group_sectors=False))
    assert summary["n_inputs"] == 5 and summary["n_ok"] == 2 and summary["n_quarantined"] == 3
    q = {r["path"]: r for r in pq.read_table(next((out / "quarantine").glob("*.parquet"))).to_pylist()}
    assert q["camera.fits"]["stage"] == "store" and "field 'camera' = 70000" in q["camera.fits"]["message"]
    assert q["tic.fits"]["stage"] == "store" and "tic_id" in q["tic.fits"]["message"]
    assert q["memory.fits"]["stage"] == "preprocess" and "ran out of memory" in q["memory.fits"]["message"]
    assert q["recursion.fits"]["stage"] == "search" and q["recursion.fits"]["error"] == "RecursionError"
    stored = pq.read_table(next((out / "lightcurves").glob("*.parquet")), columns=["source_path"])
    assert sorted(stored.column("source_path").to_pylist()) == ["ok.fits", "recursion.fits"]


def test_rank_and_report_failures_keep_the_candidates(monkeypatch, tmp_path):
    row = {"tic_id": 7, "sector": 1, "candidate_index": 0, "period_days": 1.0, "t0_btjd": 1000.5,
           "duration_hours": 2.0, "depth_ppm": 1000.0, "snr": 30.0, "disposition": "planet_candidate",
           "source_path": "ok.fits"}
    monkeypatch.setattr(sweep_module, "_read_one", lambda loc, fc, verify=True: _lc(loc))
    replace_search(monkeypatch, lambda plc, *a, **kw: ([dict(row)], [None], [{}]))

    def broken(*a, **kw):
        raise ValueError("broken on purpose")

    monkeypatch.setattr("exoray.engine.score_candidates", broken)
    monkeypatch.setattr("exoray.reports.make_report", broken)
    out = tmp_path / "out"
    sweep_module.process_batch(["ok.fits"], str(out), SweepConfig(search=SearchConfig(), reports="all",
                                                                  group_sectors=False))
    stages = sorted(r["stage"] for r in pq.read_table(next((out / "quarantine").glob("*.parquet"))).to_pylist())
    assert stages == ["rank", "report"]
    cands = pq.read_table(next((out / "candidates").glob("*.parquet"))).to_pylist()
    assert len(cands) == 1 and cands[0]["score"] is None and cands[0]["report_path"] is None
