"""End-to-end sweeps: every input is preprocessed or quarantined, once.

The mixed input holds simulated files, real SPOC files from ``../shared``, and
truncated, empty and garbage copies made here in a temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from exoray.config import PreprocessConfig, SearchConfig, SweepConfig
from exoray.errors import InputError
from exoray.pipelines.inputs import resolve_inputs
from exoray.pipelines.sweep import LIGHTCURVES_DIR, completed_locations, sweep
from exoray.schemas import PREPROCESSED_SCHEMA, QUARANTINE_SCHEMA, read_preprocessed

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    from exoray.simulate import simulate_sector

    d = tmp_path_factory.mktemp("sim")
    simulate_sector(12, d, seed=7)
    return d


def _bad_files(folder: Path, template: Path) -> dict:
    """Broken copies of a real light curve: name -> expected quarantine stage."""
    folder.mkdir(parents=True, exist_ok=True)
    data = template.read_bytes()
    (folder / "truncated_header_lc.fits").write_bytes(data[:1000])
    (folder / "truncated_data_lc.fits").write_bytes(data[: len(data) // 2])
    (folder / "empty_lc.fits").write_bytes(b"")
    (folder / "garbage_lc.fits").write_bytes(os.urandom(5760))
    (folder / "text_lc.fits").write_text("this is not a FITS file\n" * 100)
    return {
        "truncated_header_lc.fits": "read",
        "truncated_data_lc.fits": "read",
        "empty_lc.fits": "read",
        "garbage_lc.fits": "read",
        "text_lc.fits": "read",
    }


@pytest.fixture(scope="module")
def mixed_input(tmp_path_factory, sim_dir, real_dir):
    """A folder of simulated + real + broken files (real ones symlinked)."""
    root = tmp_path_factory.mktemp("mixed")
    for f in sorted(Path(sim_dir).glob("*.fits")):
        (root / "sim").mkdir(exist_ok=True)
        os.symlink(f, root / "sim" / f.name)
    real = sorted((real_dir / "tess_spoc_2min").glob("*.fits"))
    (root / "real").mkdir()
    for f in real:
        os.symlink(f, root / "real" / f.name)
    bad = _bad_files(root / "bad", real[0])
    return root, bad, len(real)


def test_resolve_inputs_forms(tmp_path, sim_dir):
    files = resolve_inputs(str(sim_dir))
    assert len(files) == 12 and all(f.endswith(".fits") for f in files)
    assert resolve_inputs(str(sim_dir) + "/*.fits") == files
    assert resolve_inputs("file://" + str(sim_dir)) == files
    lst = tmp_path / "list.txt"
    lst.write_text("# my list\n" + "\n".join(files[:3]) + "\n\n")
    assert resolve_inputs(str(lst)) == sorted(files[:3])
    with pytest.raises(InputError, match="matched no light-curve"):
        resolve_inputs(str(tmp_path / "nothing-*.fits"))
    with pytest.raises(InputError, match="not a folder"):
        resolve_inputs(str(tmp_path / "missing"))


def test_resolve_fetch_manifest(tmp_path, sim_dir):
    import pyarrow as pa

    files = resolve_inputs(str(sim_dir))
    table = pa.table(
        {
            "path": files[:4],
            "status": ["fetched", "skipped", "failed", "fetched"],
        }
    )
    pq.write_table(table, tmp_path / "manifest.parquet")
    assert resolve_inputs(str(tmp_path / "manifest.parquet")) == sorted([files[0], files[1], files[3]])


def test_sweep_accounts_for_every_input(ray_local, mixed_input, tmp_path):
    root, bad, n_real = mixed_input
    out = tmp_path / "out"
    run = sweep(str(root), str(out), SweepConfig(batch_size=8, search=None))
    n_inputs = 12 + n_real + len(bad)
    c = run["counts"]
    assert c["inputs"] == n_inputs
    assert run["accounting"]["accounted"], run["accounting"]
    assert c["preprocessed_total"] + c["quarantined_total"] == n_inputs

    q = pq.read_table(out / "quarantine.parquet")
    assert q.schema.equals(QUARANTINE_SCHEMA, check_metadata=False)
    qrows = {Path(r["path"]).name: r for r in q.to_pylist()}
    # every broken file is quarantined at the read stage with a typed error naming it
    for name, stage in bad.items():
        assert name in qrows, f"{name} not quarantined"
        assert qrows[name]["stage"] == stage
        assert qrows[name]["error"] in {"CorruptProductError", "EmptyLightCurveError", "UnsupportedProductError"}
        assert name in qrows[name]["message"]
    # simulated and real files all come through
    assert c["preprocessed_total"] >= 12 + n_real - 2, qrows
    lcs = read_preprocessed(out / LIGHTCURVES_DIR)
    assert len(lcs) == c["preprocessed_total"]
    assert len({lc.source_path for lc in lcs}) == len(lcs)
    table = pq.read_table(out / LIGHTCURVES_DIR)
    assert set(PREPROCESSED_SCHEMA.names) <= set(table.column_names)

    meta = json.loads((out / "run.json").read_text())
    assert meta["versions"]["ray"]
    assert meta["nodes"] and meta["nodes"][0]["light_curves"] == n_inputs
    assert meta["config"]["preprocess"]["detrend"] == "biweight"


def test_sweep_resumes_only_missing(ray_local, sim_dir, tmp_path):
    out = tmp_path / "out"
    cfg = SweepConfig(batch_size=4, search=None)
    first = sweep(str(sim_dir), str(out), cfg)
    assert first["counts"]["processed_this_run"] == 12
    again = sweep(str(sim_dir), str(out), cfg)
    assert again["counts"]["processed_this_run"] == 0
    assert again["counts"]["skipped_resume"] == 12
    # lose one batch's part (as if the driver died before it was written)
    parts = sorted((out / LIGHTCURVES_DIR).glob("part-*.parquet"))
    lost = pq.read_table(parts[0]).num_rows
    parts[0].unlink()
    third = sweep(str(sim_dir), str(out), cfg)
    assert third["counts"]["processed_this_run"] == lost
    assert third["accounting"]["accounted"]
    assert len(json.loads((out / "run.json").read_text())["history"]) == 2


def test_local_and_ray_outputs_match(ray_local, sim_dir, tmp_path):
    a = sweep(str(sim_dir), str(tmp_path / "a"), SweepConfig(batch_size=5, search=None), use_ray=False)
    b = sweep(str(sim_dir), str(tmp_path / "b"), SweepConfig(batch_size=5, search=None), use_ray=True)
    assert a["counts"]["preprocessed_total"] == b["counts"]["preprocessed_total"] == 12
    la = {lc.source_path: lc for lc in read_preprocessed(tmp_path / "a" / LIGHTCURVES_DIR)}
    lb = {lc.source_path: lc for lc in read_preprocessed(tmp_path / "b" / LIGHTCURVES_DIR)}
    assert la.keys() == lb.keys()
    for k in la:
        assert (la[k].flux_flat == lb[k].flux_flat).all()


def test_no_resume_refuses_existing_output(sim_dir, tmp_path):
    from exoray.errors import ConfigError

    out = tmp_path / "out"
    sweep(str(sorted(Path(sim_dir).glob("*.fits"))[0]), str(out), SweepConfig(search=None), use_ray=False)
    with pytest.raises(ConfigError, match="already holds"):
        sweep(str(sim_dir), str(out), SweepConfig(resume=False), use_ray=False)


def test_sweep_cli_demo_offline(ray_local, tmp_path, capsys):
    from exoray.cli import main

    rc = main(["demo", "--out", str(tmp_path / "demo"), "--n", "4", "--seed", "3", "--no-ray"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "swept 4 inputs" in out
    assert "injected planets" in out
    assert (tmp_path / "demo" / "simulated" / "truth.csv").exists()
    assert (tmp_path / "demo" / "run.json").exists()


def test_sweep_search_stage_candidates_and_uncommitted_batches(ray_local, sim_dir, tmp_path):
    """Search runs inside the batches; a batch that died before committing is redone cleanly."""
    from exoray.pipelines.recovery import match_injections
    from exoray.vet.records import CANDIDATES_SCHEMA

    files = sorted(Path(sim_dir).glob("*.fits"))[:4]
    src = tmp_path / "in"
    src.mkdir()
    for f in files:
        os.symlink(f, src / f.name)
    out = tmp_path / "out"
    cfg = SweepConfig(batch_size=2, search=SearchConfig(), reports="all")  # shipped ranker
    run = sweep(str(src), str(out), cfg)
    assert run["accounting"]["accounted"]
    cands = pq.read_table(out / "candidates.parquet")
    assert cands.num_rows > 0
    for r in cands.to_pylist():
        assert 0.0 <= r["score_lo"] <= r["score"] <= r["score_hi"] <= 1.0
    for p in cands.column("report_path").to_pylist():
        assert p is not None and Path(p).read_bytes()[:4] == b"%PDF"
    assert cands.schema.equals(CANDIDATES_SCHEMA, check_metadata=False)
    assert cands.num_rows == run["counts"]["candidates_total"]
    assert set(cands.column("source_path").to_pylist()) <= {str(src / f.name) for f in files}

    # simulate a driver killed after a batch wrote its candidates but not its light curves
    parts = sorted((out / LIGHTCURVES_DIR).glob("part-*.parquet"))
    victim = parts[0]
    lost = set(pq.read_table(victim, columns=["source_path"]).column("source_path").to_pylist())
    victim.unlink()
    n_before = cands.num_rows
    again = sweep(str(src), str(out), cfg)
    assert again["counts"]["processed_this_run"] == len(lost)
    assert again["accounting"]["accounted"]
    cands2 = pq.read_table(out / "candidates.parquet").to_pylist()
    keys = [(r["tic_id"], r["candidate_index"]) for r in cands2]
    assert len(keys) == len(set(keys)) == n_before  # redone, not duplicated

    import pandas as pd

    truth = pd.read_csv(Path(sim_dir) / "truth.csv").to_dict("records")
    matches = match_injections(cands2, [t for t in truth if t["file"] in {f.name for f in files}])
    assert all(isinstance(m["recovered"], bool) for m in matches)

    # reports can be rendered again later from the sweep's Parquet output alone
    from exoray.cli import main

    first = cands2[0]
    rdir = tmp_path / "later"
    assert main(["report", str(out), "--tic", str(first["tic_id"]), "--candidate", "0", "--report-dir", str(rdir)]) == 0
    assert len(list(rdir.glob("*.pdf"))) == 1
    assert main(["report", str(out), "--tic", "1"]) == 1  # no such candidate: clear error, exit 1


def test_sweep_refuses_missing_ranker(sim_dir, tmp_path):
    from exoray.errors import ConfigError

    cfg = SweepConfig(search=SearchConfig(ranker_dir=str(tmp_path / "no-such-ranker")))
    with pytest.raises(ConfigError, match="no usable ranker"):
        sweep(str(sim_dir), str(tmp_path / "out"), cfg, use_ray=False)
    assert not (tmp_path / "out" / "lightcurves").exists()  # failed before any work


def test_sweep_single_events_need_a_scorer(sim_dir, tmp_path):
    from exoray.errors import ConfigError

    cfg = SweepConfig(search=SearchConfig(rank=False, single_events=True, anomaly_method="ocsvm",
                                          model_registry=str(tmp_path / "empty-registry")))
    with pytest.raises(ConfigError, match="single-events needs the 'ocsvm'"):
        sweep(str(sim_dir), str(tmp_path / "out"), cfg, use_ray=False)
    assert not (tmp_path / "out" / "lightcurves").exists()  # failed before any work


def test_sweep_adds_single_event_rows(tmp_path):
    """A long-period planet with one transit in the sector comes out as a single_event row."""
    import numpy as np
    import pandas as pd

    from exoray.anomaly import scoring
    from exoray.ingest import read_lightcurve
    from exoray.models.windows import windows_from_lightcurve
    from exoray.preprocess import preprocess_lightcurve
    from exoray.simulate import simulate_sector

    quiet = tmp_path / "quiet"
    simulate_sector(2, quiet, seed=21, mix="none=1")
    reg = tmp_path / "registry"
    noise = np.concatenate([windows_from_lightcurve(preprocess_lightcurve(read_lightcurve(f)))[0]
                            for f in sorted(quiet.glob("*.fits"))])
    scoring.fit_ocsvm(noise, registry=reg)

    sim = tmp_path / "single"
    truth = simulate_sector(4, sim, seed=22, mix="planet=1", single_fraction=1.0, snr_range=(15.0, 80.0))
    cfg = SweepConfig(reports="none", search=SearchConfig(rank=False, single_events=True, anomaly_method="ocsvm",
                                                          model_registry=str(reg)))
    sweep(str(sim), str(tmp_path / "out"), cfg, use_ray=False)
    cands = pd.read_parquet(tmp_path / "out" / "candidates.parquet")
    singles = cands[cands["single_event"]]
    assert len(singles) >= 1 and singles["period_days"].isna().all()
    hits = 0
    for _, r in truth.iterrows():
        if str(r["single_transit"]) != "True" or not r["snr"] >= 15:
            continue
        mine = singles[singles["tic_id"] == r["tic_id"]]
        hits += bool((abs(mine["t0_btjd"] - r["t0_btjd"]) < 0.2).any())
    assert hits >= 2
