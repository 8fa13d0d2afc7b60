"""The sweep's two Ray Data stages (read tasks, engine actors), its device check, and the stage commands.

``exoray search OUT`` on a sweep made with ``--no-search`` must give the
candidates a sweep with its search on gives; ``exoray rank OUT --ranker DIR``
re-scores and re-decides them; both resume after a kill.  The searches here
use ``max_period_days=5`` so that each light curve takes about a second.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from exoray.config import SearchConfig, SweepConfig
from exoray.errors import ConfigError, InputError
from exoray.pipelines.stages import rank_stage, search_stage
from exoray.pipelines.sweep import CANDIDATES_DIR, LIGHTCURVES_DIR, QUARANTINE_DIR, sweep
from exoray.vet.decision import decide

from searchfakes import replace_search

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]

SEARCH = SearchConfig(max_period_days=5.0)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    from exoray.simulate import simulate_sector

    d = tmp_path_factory.mktemp("sim_stages")
    simulate_sector(6, d, seed=7)
    return d


def _cands(out: Path):
    rows = pq.read_table(out / "candidates.parquet").to_pylist()
    return {(r["source_path"], r["candidate_index"]): r for r in rows}


def _same_rows(a: dict, b: dict, skip=("report_path",)):
    assert a.keys() == b.keys()
    for k, ra in a.items():
        rb = b[k]
        for c in ra:
            if c in skip:
                continue
            x, y = ra[c], rb[c]
            if isinstance(x, float) and isinstance(y, float):
                assert x == pytest.approx(y, rel=1e-9, abs=1e-12, nan_ok=True), (k, c, x, y)
            else:
                assert x == y, (k, c, x, y)


def _quarantine(out: Path):
    p = out / "quarantine.parquet"
    return sorted((r["path"], r["stage"], r["error"], r["message"]) for r in pq.read_table(p).to_pylist())


@pytest.fixture(scope="module")
def reference(sim_dir, tmp_path_factory):
    """A sweep with its search on, without Ray: the candidates every other path must reproduce."""
    out = tmp_path_factory.mktemp("ref") / "out"
    run = sweep(str(sim_dir), str(out), SweepConfig(batch_size=2, search=SEARCH, reports="none"), use_ray=False)
    assert run["accounting"]["accounted"] and run["counts"]["candidates_total"] > 0
    return out, run


def test_ray_actor_stage_matches_the_local_loop(ray_local, sim_dir, reference, tmp_path):
    ref, ref_run = reference
    out = tmp_path / "ray"
    run = sweep(str(sim_dir), str(out), SweepConfig(batch_size=2, workers=2, search=SEARCH, reports="none"))
    assert run["accounting"]["accounted"]
    assert run["config"]["workers_used"] == 2 and run["batches"] == 3
    _same_rows(_cands(ref), _cands(out))
    assert _quarantine(ref) == _quarantine(out)
    for sub in (LIGHTCURVES_DIR, CANDIDATES_DIR):
        assert sorted(os.listdir(ref / sub)) == sorted(os.listdir(out / sub))  # same parts, same names
    # two actors analysed the three batches: each engine served more than one batch or sat idle
    pids = {p for n in run["nodes"] for p in n["pids"]}
    assert 1 <= len(pids) <= 2
    for stage in ("read", "preprocess", "search", "rank", "report", "write"):
        assert run["timings"][f"{stage}_ms_per_lc"] is not None, stage
    assert run["timings"]["search_ms_per_lc"] > 0 and run["timings"]["preprocess_ms_per_lc"] > 0
    assert ref_run["config"]["workers_used"] == 1


def test_one_engine_for_all_batches_without_ray(sim_dir, tmp_path, monkeypatch):
    """The engine (catalogues, ranker) is built once per worker, not per batch or per light curve."""
    import exoray.engine as engine_module
    import exoray.search.candidates as candidates_module

    built, loads = [], []
    real_init, real_load = engine_module.Engine.__init__, candidates_module.load_known_catalogs

    def counting_init(self, *a, **kw):
        built.append(1)
        real_init(self, *a, **kw)

    def counting_load(*a, **kw):
        loads.append(1)
        return real_load(*a, **kw)

    monkeypatch.setattr(engine_module.Engine, "__init__", counting_init)
    monkeypatch.setattr(candidates_module, "load_known_catalogs", counting_load)
    monkeypatch.setattr(engine_module, "load_known_catalogs", counting_load)
    run = sweep(str(sim_dir), str(tmp_path / "out"),
                SweepConfig(batch_size=2, search=SearchConfig(max_period_days=5.0, max_planets=1), reports="none"),
                use_ray=False)
    assert run["batches"] == 3
    # the driver checks the catalogues once before any work; the one engine loads them once more
    assert len(built) == 1 and len(loads) == 2


def test_a_searched_batch_without_candidates_writes_an_empty_part(sim_dir, tmp_path, monkeypatch):
    replace_search(monkeypatch, lambda plc, *a, **kw: ([], [], []))
    out = tmp_path / "out"
    run = sweep(str(sim_dir), str(out), SweepConfig(batch_size=8, search=SEARCH, reports="none"), use_ray=False)
    parts = list((out / CANDIDATES_DIR).glob("part-*.parquet"))
    assert run["counts"]["candidates_total"] == 0 and len(parts) == 1
    assert pq.read_table(parts[0]).num_rows == 0
    assert {p.name for p in parts} == {p.name for p in (out / LIGHTCURVES_DIR).glob("part-*.parquet")}


# --------------------------------------------------------------------------- device
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_refused_before_any_work(sim_dir, tmp_path, capsys):
    from exoray.cli import main

    cfg = SweepConfig(search=SearchConfig(device="cuda"))
    with pytest.raises(ConfigError, match="CUDA is not available"):
        sweep(str(sim_dir), str(tmp_path / "a"), cfg, use_ray=False)
    assert not (tmp_path / "a" / LIGHTCURVES_DIR).exists()
    assert main(["sweep", str(sim_dir), "--out", str(tmp_path / "b"), "--no-ray", "--device", "cuda:0"]) == 1
    err = capsys.readouterr().err
    assert "--device cuda:0" in err and "--device cpu" in err
    assert not (tmp_path / "b" / LIGHTCURVES_DIR).exists()


def test_device_spelling_and_no_search_are_checked(sim_dir, tmp_path, capsys):
    from exoray.cli import main

    assert main(["sweep", str(sim_dir), "--out", str(tmp_path / "a"), "--no-ray", "--device", "gpu"]) == 1
    assert "device 'gpu' is not supported; use cpu, cuda or cuda:N" in capsys.readouterr().err
    assert main(["sweep", str(sim_dir), "--out", str(tmp_path / "b"), "--no-ray", "--no-search",
                 "--device", "cuda"]) == 1
    assert "--no-search runs none" in capsys.readouterr().err


def test_ray_refuses_a_gpu_index_and_a_cluster_without_gpus(ray_local, sim_dir, tmp_path):
    with pytest.raises(ConfigError, match="device index cannot be chosen"):
        sweep(str(sim_dir), str(tmp_path / "a"), SweepConfig(search=SearchConfig(device="cuda:1")))
    if ray_local.cluster_resources().get("GPU", 0) < 1:
        with pytest.raises(ConfigError, match="offers no GPU"):
            sweep(str(sim_dir), str(tmp_path / "b"), SweepConfig(search=SearchConfig(device="cuda")))
    assert not (tmp_path / "a" / LIGHTCURVES_DIR).exists() and not (tmp_path / "b" / LIGHTCURVES_DIR).exists()


def test_a_catalogue_that_cannot_be_loaded_is_refused_before_any_work(sim_dir, tmp_path):
    cfg = SweepConfig(search=SearchConfig(toi_catalog=str(tmp_path / "no-such-toi.csv")))
    with pytest.raises(ConfigError, match="no-such-toi.csv.*--toi-catalog"):
        sweep(str(sim_dir), str(tmp_path / "out"), cfg, use_ray=False)
    assert not (tmp_path / "out" / LIGHTCURVES_DIR).exists()


# --------------------------------------------------------------------------- exoray search / rank
@pytest.fixture()
def preprocessed(sim_dir, tmp_path):
    out = tmp_path / "pre"
    run = sweep(str(sim_dir), str(out), SweepConfig(batch_size=2, search=None), use_ray=False)
    assert run["counts"]["preprocessed_total"] == 6 and not (out / CANDIDATES_DIR).exists()
    return out


def test_search_stage_on_ray_gives_the_sweeps_candidates(ray_local, preprocessed, reference):
    ref, _ = reference
    run = search_stage(str(preprocessed), SweepConfig(search=SEARCH, reports="none", workers=2))
    assert run["counts"]["parts_searched_this_run"] == 3 and run["accounting"]["all_parts_searched"]
    _same_rows(_cands(ref), _cands(preprocessed))
    assert sorted(os.listdir(ref / CANDIDATES_DIR)) == sorted(os.listdir(preprocessed / CANDIDATES_DIR))
    again = search_stage(str(preprocessed), SweepConfig(search=SEARCH, reports="none", workers=2))
    assert again["counts"]["skipped_resume"] == 3 and again["counts"]["parts_searched_this_run"] == 0
    history = json.loads((preprocessed / "run.json").read_text())
    assert [h["command"] for h in history["history"]] + [history["command"]] == ["sweep", "search", "search"]


def test_search_stage_resumes_after_a_kill_and_replaces_its_quarantine_rows(preprocessed, reference, tmp_path):
    ref, _ = reference
    cmd = [sys.executable, "-m", "exoray.cli", "search", str(preprocessed), "--no-ray", "--max-period", "5",
           "--reports", "none"]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cdir = preprocessed / CANDIDATES_DIR
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if cdir.is_dir() and any(f.name.startswith("part-") for f in cdir.iterdir()):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the search finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    done_before = {f.name for f in cdir.glob("part-*.parquet")}
    assert 1 <= len(done_before) < 3
    assert not (preprocessed / "candidates.parquet").exists()

    # A batch killed after its quarantine rows and before its candidate part: stale rows for it are replaced.
    todo = sorted({f.name for f in (preprocessed / LIGHTCURVES_DIR).glob("part-*.parquet")} - done_before)
    from exoray.pipelines.stages import merge_search_quarantine
    from exoray.pipelines.sweep import _quarantine_row

    key = todo[0][len("part-"):-len(".parquet")]
    merge_search_quarantine(str(preprocessed), key, [_quarantine_row("stale.fits", "search", RuntimeError("old"))])

    run = search_stage(str(preprocessed), SweepConfig(search=SEARCH, reports="none"), use_ray=False)
    assert run["counts"]["skipped_resume"] == len(done_before)
    assert run["counts"]["parts_searched_this_run"] == 3 - len(done_before)
    _same_rows(_cands(ref), _cands(preprocessed))
    stale = [p for p in (preprocessed / QUARANTINE_DIR).glob("*.parquet")
             if "stale.fits" in pq.read_table(p).column("path").to_pylist()]
    assert not stale, "the stale search-stage row of the redone batch is gone"
    assert "stale.fits" not in {q[0] for q in _quarantine(preprocessed)}


def test_force_searches_every_part_again(preprocessed, reference):
    ref, _ = reference
    search_stage(str(preprocessed), SweepConfig(search=SEARCH, reports="none"), use_ray=False)
    before = {f.name: f.stat().st_mtime_ns for f in (preprocessed / CANDIDATES_DIR).glob("*.parquet")}
    run = search_stage(str(preprocessed), SweepConfig(search=SEARCH, reports="none"), use_ray=False, force=True)
    assert run["counts"]["parts_searched_this_run"] == 3
    after = {f.name: f.stat().st_mtime_ns for f in (preprocessed / CANDIDATES_DIR).glob("*.parquet")}
    assert before.keys() == after.keys() and all(after[k] != before[k] for k in before)
    _same_rows(_cands(ref), _cands(preprocessed))


def test_search_stage_needs_a_sweep(tmp_path, preprocessed):
    with pytest.raises(InputError, match="no preprocessed light-curve parts"):
        search_stage(str(tmp_path / "empty"), SweepConfig(search=SEARCH), use_ray=False)
    (preprocessed / "run.json").unlink()
    with pytest.raises(InputError, match="run.json: missing"):
        search_stage(str(preprocessed), SweepConfig(search=SEARCH), use_ray=False)


@pytest.fixture(scope="module")
def other_ranker(tmp_path_factory):
    """A real, deliberately different ranker: it learned that high SNR means *not* a planet."""
    from exoray.rank.features import FEATURE_COLUMNS
    from exoray.rank.ranker import Ranker

    rng = np.random.default_rng(0)
    X = rng.normal(size=(800, len(FEATURE_COLUMNS))).astype(np.float32)
    snr = FEATURE_COLUMNS.index("snr")
    X[:, snr] = rng.uniform(5.0, 200.0, 800)
    y = (X[:, snr] < 30.0).astype(int)
    r = Ranker("lightgbm", n_bootstrap=3, seed=0, params={"num_boost_round": 30}).fit(X, y)
    return r.save(tmp_path_factory.mktemp("ranker") / "inverted")


def test_rank_stage_rescores_redecides_and_is_idempotent(reference, other_ranker, tmp_path, capsys):
    import shutil

    from exoray.cli import main

    ref, _ = reference
    out = tmp_path / "out"
    shutil.copytree(ref, out)
    before = _cands(out)
    assert main(["rank", str(out), "--ranker", str(other_ranker)]) == 0
    assert "scored" in capsys.readouterr().out
    after = _cands(out)
    assert after.keys() == before.keys()
    changed = [k for k in before if before[k]["score"] != pytest.approx(after[k]["score"], abs=1e-6)]
    assert changed, "a different ranker gave the same scores"
    for r in after.values():
        if r["single_event"]:
            continue
        assert r["score_lo"] <= r["score"] <= r["score_hi"]
        assert r["rule_disposition"] == before[(r["source_path"], r["candidate_index"])]["rule_disposition"]
        assert r["disposition"] == decide(r["rule_disposition"], r["score"])["disposition"]
    # the parts hold what the consolidated table holds
    parts = [row for p in sorted((out / CANDIDATES_DIR).glob("*.parquet")) for row in pq.read_table(p).to_pylist()]
    assert sorted((r["source_path"], r["candidate_index"], r["score"]) for r in parts) == \
        sorted((r["source_path"], r["candidate_index"], r["score"]) for r in after.values())
    # rerun (as after a kill): same table; back to the shipped ranker: the sweep's own scores again
    rank_stage(str(out), str(other_ranker))
    _same_rows(after, _cands(out))
    rank_stage(str(out))
    _same_rows(before, _cands(out))
    assert json.loads((out / "run.json").read_text())["command"] == "rank"
    with pytest.raises(ConfigError, match="exoray train ranker"):
        rank_stage(str(out), str(tmp_path / "no-such-ranker"))
