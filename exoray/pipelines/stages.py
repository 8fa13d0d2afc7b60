"""``exoray search`` and ``exoray rank``: a sweep's analysis stages, run again on its output.

``exoray search OUT`` searches, vets, ranks and decides the preprocessed light
curves a sweep left in ``OUT/lightcurves`` (for instance one run with
``--no-search``), with the same :class:`~exoray.engine.Engine` and the same
per-batch outputs as the sweep's own search:

* the unit of work is one light-curve part ``OUT/lightcurves/part-<key>.parquet``;
  its candidates go to ``OUT/candidates/part-<key>.parquet`` (same key), an
  empty table when nothing was found, so that a candidate part beside a
  light-curve part means "this batch was searched", whether by the sweep or
  by ``exoray search``;
* failures are quarantine rows under the sweep's stage names (``search``,
  ``rank``, ``report``, ``single_events``, ``store_candidates``), merged into
  the batch's ``OUT/quarantine/part-<key>.parquet``: its input-stage rows
  (``read``, ``preprocess``, ``store``) are kept, earlier search-stage rows
  replaced;
* the quarantine part is written before the candidate part, which commits
  the batch: a run killed in between leaves the batch unsearched, and the
  rerun replaces the rows it had written.  A rerun therefore searches exactly
  the parts without a candidate part; ``force`` removes every candidate part
  first and searches everything again (a forced run that is killed is
  finished by a plain rerun).

The search must rebuild each light curve's trend the way the sweep made it,
so it takes the preprocessing settings from the sweep's record in
``OUT/run.json``.

``exoray rank OUT --ranker DIR`` scores every candidate part again with
another ranker and re-applies the one decision (:func:`exoray.vet.decision.decide_rows`,
which decides from the stored rule disposition, so it can be applied again).
Single-event rows are left as they are (the ranker was trained on periodic
candidates only).  Each part is rewritten atomically, then
``OUT/candidates.parquet``; scoring is deterministic, so a rerun after a kill
gives the same table.  Reports already rendered keep the decision they were
drawn with: render them again with ``exoray report``.

Both append their record to ``OUT/run.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import Any, Dict, List, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from ..config import PreprocessConfig, SearchConfig, SweepConfig
from ..errors import ConfigError, InputError
from ..runtime.progress import Progress
from ..schemas import QUARANTINE_SCHEMA, records_to_table, table_to_preprocessed, write_parquet_atomic
from .sweep import (
    CANDIDATES_DIR,
    INPUT_STAGES,
    LIGHTCURVES_DIR,
    QUARANTINE_DIR,
    RUN_FILE,
    STARS_DIR,
    BatchAnalyser,
    LoadedBatch,
    _append_run_json,
    _check_anomaly_models,
    _check_ranker,
    _key_of,
    _nodes_summary,
    _now,
    _part_files,
    _to_table,
    _versions,
    check_catalogs,
    check_device,
    consolidate_candidates,
    consolidate_stars,
    consolidate_quarantine,
    drop_uncommitted_parts,
    log as sweep_log,
    run_stages_ray,
    stage_timings,
)

# As in exoray.pipelines.sweep, the engine, the vetting package, the ranker and
# the run fingerprint are imported inside the functions that use them, off the
# driver's start-up path (they bring torch and scipy).

log = logging.getLogger(__name__)

__all__ = ["search_stage", "rank_stage", "sweep_preprocess_config", "SearchAnalyser", "read_part"]

#: Stages whose summed time per light curve ``run.json`` reports for ``exoray search``.
SEARCH_TIMED_STAGES = ("read", "search", "rank", "report", "write", "cpu")


def sweep_preprocess_config(out_dir: str) -> PreprocessConfig:
    """The preprocessing settings of the latest sweep recorded in ``OUT/run.json``."""
    path = os.path.join(out_dir, RUN_FILE)
    try:
        with open(path) as fh:
            run = json.load(fh)
    except FileNotFoundError:
        raise InputError(f"{path}: missing; the search needs the preprocessing settings of the sweep that made "
                         f"{os.path.join(out_dir, LIGHTCURVES_DIR)}, so run 'exoray sweep ... --out {out_dir}' "
                         "(with --no-search) first") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable ({exc}); it should be the JSON record 'exoray sweep' writes") from exc
    for rec in [run] + list(reversed(run.get("history", []))):
        if rec.get("command") == "sweep" and isinstance((rec.get("config") or {}).get("preprocess"), dict):
            try:
                return PreprocessConfig(**rec["config"]["preprocess"])
            except (TypeError, ConfigError) as exc:
                raise InputError(f"{path}: the sweep's preprocessing settings cannot be used ({exc})") from exc
    raise InputError(f"{path}: no 'exoray sweep' record with preprocessing settings; the light curves of "
                     f"{os.path.join(out_dir, LIGHTCURVES_DIR)} must come from 'exoray sweep'")


def read_part(path: str) -> LoadedBatch:
    """The read stage of ``exoray search``: one light-curve part, back as preprocessed light curves."""
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        plcs = table_to_preprocessed(pq.read_table(path))
    except Exception as exc:  # noqa: BLE001 - named and explained, not swallowed
        raise InputError(f"{path}: cannot read this light-curve part ({type(exc).__name__}: {exc}); delete it and "
                         "rerun 'exoray sweep' into the same folder to redo its light curves") from exc
    locs = [p.source_path for p in plcs]
    return LoadedBatch(_key_of(path), locs, list(zip(locs, plcs)), [], (time.perf_counter() - t0) * 1e3,
                       (time.process_time() - c0) * 1e3)


def _ray_read_part(row: Dict[str, Any]) -> Dict[str, Any]:
    return read_part(row["part"]).to_row()


def merge_search_quarantine(out_dir: str, key: str, rows: List[Dict[str, Any]]) -> None:
    """Replace the search-stage rows of batch ``key``'s quarantine part by ``rows`` (input-stage rows kept)."""
    path = os.path.join(out_dir, QUARANTINE_DIR, f"part-{key}.parquet")
    kept = None
    if os.path.exists(path):
        t = pq.read_table(path)
        kept = t.filter(pa.array([st in INPUT_STAGES for st in t.column("stage").to_pylist()])).cast(QUARANTINE_SCHEMA)
    new = records_to_table(rows, QUARANTINE_SCHEMA) if rows else None
    parts = [x for x in (kept, new) if x is not None and x.num_rows]
    if parts:
        write_parquet_atomic(pa.concat_tables(parts), path)
    elif os.path.exists(path):
        os.unlink(path)


class SearchAnalyser(BatchAnalyser):
    """The analysis stage of ``exoray search``: one engine, light-curve parts in, candidate parts out."""

    def run(self, loaded: LoadedBatch) -> Dict[str, Any]:
        t_start, c_start = time.perf_counter(), time.process_time()
        bad: List[Dict[str, Any]] = []
        found = self.search([p for _, p in loaded.items], [loc for loc, _ in loaded.items], bad)
        t0 = time.perf_counter()
        # quarantine and searched stars first, candidate part last: the candidate part marks the batch searched
        merge_search_quarantine(self.out_dir, loaded.key, bad)
        if found["stars"] is not None:
            write_parquet_atomic(found["stars"], os.path.join(self.out_dir, STARS_DIR, f"part-{loaded.key}.parquet"))
        # imported here, not at the top: the vetting package stays off the driver's start-up path
        from ..vet.records import CANDIDATES_SCHEMA

        table = found["table"] if found["table"] is not None else CANDIDATES_SCHEMA.empty_table()
        write_parquet_atomic(table, os.path.join(self.out_dir, CANDIDATES_DIR, f"part-{loaded.key}.parquet"))
        write_ms = (time.perf_counter() - t0) * 1e3 + found["store_ms"]
        return self._summary(loaded, n_ok=len(loaded.items), bad=bad, found=found, preprocess_ms=0.0,
                             write_ms=write_ms, wall_ms=loaded.read_ms + (time.perf_counter() - t_start) * 1e3,
                             cpu_ms=loaded.read_cpu_ms + (time.process_time() - c_start) * 1e3)


def _searched_keys(out_dir: str) -> set:
    return {_key_of(p) for p in _part_files(os.path.join(out_dir, CANDIDATES_DIR))}


def search_stage(out_dir: str, config: Optional[SweepConfig] = None, *, use_ray: bool = True,
                 force: bool = False) -> Dict[str, Any]:
    """Search the preprocessed light curves of ``out_dir`` that no sweep or search has searched yet.

    Parameters
    ----------
    out_dir : str
        A sweep's output folder.
    config : SweepConfig, optional
        ``search`` (must not be ``None``), ``reports``,
        ``search_timeout_s`` and the Ray settings (``workers``,
        ``num_cpus``, ``address``); its ``preprocess`` is replaced by the
        sweep's own (see :func:`sweep_preprocess_config`).
    use_ray : bool
        ``False`` runs in this process with one engine; same outputs.
    force : bool
        Search every part again (their candidate parts are removed first).

    Returns
    -------
    dict
        The record appended to ``OUT/run.json``.
    """
    config = config or SweepConfig()
    if config.search is None:
        raise ConfigError("exoray search needs a search configuration (SweepConfig.search is None)")
    out_dir = os.path.abspath(os.fspath(out_dir))
    parts = _part_files(os.path.join(out_dir, LIGHTCURVES_DIR))
    if not parts:
        raise InputError(f"{os.path.join(out_dir, LIGHTCURVES_DIR)}: no preprocessed light-curve parts; run "
                         f"'exoray sweep INPUT --out {out_dir} --no-search' first")
    config = dataclasses.replace(config, preprocess=sweep_preprocess_config(out_dir))
    started = _now()
    t0 = time.perf_counter()
    check_device(config, use_ray)
    check_catalogs(config.search)
    if config.search.rank:
        _check_ranker(config.search)
    if config.search.single_events:
        _check_anomaly_models(config.search)
    from .fingerprint import check_rerun, output_fingerprint, read_fingerprint, with_search_part, write_fingerprint

    fingerprint = output_fingerprint(config)
    drop_uncommitted_parts(out_dir)
    if force:
        for p in _part_files(os.path.join(out_dir, CANDIDATES_DIR)):
            os.unlink(p)
    if _searched_keys(out_dir):
        # some light curves are searched already: the rest must be searched the same way
        fingerprint = check_rerun(out_dir, fingerprint, command="search")
    else:
        recorded = read_fingerprint(out_dir)
        fingerprint = with_search_part(recorded, fingerprint) if recorded else fingerprint
    write_fingerprint(out_dir, fingerprint)
    searched = _searched_keys(out_dir)
    todo = [p for p in parts if _key_of(p) not in searched]
    n_lcs = {p: pq.read_metadata(p).num_rows for p in todo}
    log.info("search: %d light-curve parts, %d already searched, %d to search (%d light curves)",
             len(parts), len(parts) - len(todo), len(todo), sum(n_lcs.values()))
    # its lines go out under the sweep's logger, with the sweep's own progress lines
    progress = Progress(sum(n_lcs.values()), what="search", logger=sweep_log)
    t_proc = time.perf_counter()
    try:
        if not todo:
            summaries, workers = [], 0
        elif use_ray:
            summaries, workers = run_stages_ray([{"part": p} for p in todo], _ray_read_part, {}, SearchAnalyser,
                                                {"out_dir": out_dir, "config": config}, config, progress)
        else:
            analyser = SearchAnalyser(out_dir, config)
            summaries, workers = [], 1
            for p in todo:
                s = analyser.run(read_part(p))
                summaries.append(s)
                progress.update(s["n_inputs"])
    finally:
        progress.close()
    proc_s = time.perf_counter() - t_proc
    n_q_total = consolidate_quarantine(out_dir)
    n_cand_total = consolidate_candidates(out_dir)
    consolidate_stars(out_dir)
    searched = _searched_keys(out_dir)
    unsearched = sorted(_key_of(p) for p in parts if _key_of(p) not in searched)
    n_new = sum(s["n_inputs"] for s in summaries)
    run = {
        "command": "search",
        "out": out_dir,
        "started": started.isoformat(),
        "finished": _now().isoformat(),
        "config": config.to_dict() | {"use_ray": use_ray, "force": force, "workers_used": workers},
        "versions": _versions(),
        "counts": {
            "parts": len(parts),
            "skipped_resume": len(parts) - len(todo),
            "parts_searched_this_run": len(summaries),
            "searched_this_run": n_new,
            "search_failed_this_run": sum(s["n_search_failed"] for s in summaries),
            "candidates_this_run": sum(s["n_candidates"] for s in summaries),
            "parts_searched_total": len(parts) - len(unsearched),
            "candidates_total": n_cand_total,
            "quarantine_rows": n_q_total,
        },
        "accounting": {"all_parts_searched": not unsearched, "unsearched_parts": unsearched[:100]},
        "timings": {
            "wall_s": time.perf_counter() - t0,
            "process_s": proc_s,
            "throughput_lc_per_s": n_new / proc_s if proc_s > 0 and n_new else None,
            **stage_timings(summaries, n_new, SEARCH_TIMED_STAGES),
        },
        "nodes": _nodes_summary(summaries),
        "fingerprint": fingerprint,
    }
    _append_run_json(out_dir, run)
    log.info("search: done in %.1f s: %d light curves searched, %d candidates in all", run["timings"]["wall_s"],
             n_new, n_cand_total)
    return run


def _rescore_part(path: str, engine) -> Dict[str, int]:
    """Score one candidate part with ``engine``'s ranker, decide again, and rewrite it atomically."""
    table = pq.read_table(path)
    rows = table.to_pylist()
    periodic = [i for i, r in enumerate(rows) if not r.get("single_event")]
    if periodic:
        from ..vet.records import CANDIDATES_SCHEMA

        scored = engine.rank([rows[i] for i in periodic])
        for i, r in zip(periodic, scored):
            rows[i] = r
        write_parquet_atomic(_to_table(rows, CANDIDATES_SCHEMA, "re-scored candidate rows", path), path)
    return {"rows": len(rows), "scored": len(periodic)}


def _ranker_path(ranker_dir: Optional[str]) -> str:
    from ..rank.ranker import DEFAULT_MODEL_DIR

    return os.path.abspath(ranker_dir or os.environ.get("EXORAY_RANKER_DIR") or DEFAULT_MODEL_DIR)


def _record_ranker(out_dir: str, search: SearchConfig) -> Optional[Dict[str, Any]]:
    """Record in ``OUT``'s fingerprint that its candidates are now scored by ``search``'s ranker."""
    from .fingerprint import output_fingerprint, read_fingerprint, write_fingerprint

    recorded = read_fingerprint(out_dir)
    if not recorded or not recorded.get("search"):
        return recorded
    fp = output_fingerprint(SweepConfig(search=search))
    recorded = dict(recorded, ranker=fp["ranker"], **{"search.rank": True})
    recorded["_files"] = dict(recorded.get("_files") or {}, ranker=fp["_files"]["ranker"])
    write_fingerprint(out_dir, recorded)
    return recorded


def rank_stage(out_dir: str, ranker_dir: Optional[str] = None) -> Dict[str, Any]:
    """Score every candidate of ``out_dir`` with the ranker in ``ranker_dir`` (default: the shipped one)."""
    from ..engine import Engine

    out_dir = os.path.abspath(os.fspath(out_dir))
    parts = _part_files(os.path.join(out_dir, CANDIDATES_DIR))
    if not parts:
        raise InputError(f"{os.path.join(out_dir, CANDIDATES_DIR)}: no candidate parts to rank; run "
                         f"'exoray sweep' or 'exoray search {out_dir}' first")
    started = _now()
    t0 = time.perf_counter()
    search = SearchConfig(rank=True, ranker_dir=ranker_dir)
    try:
        _check_ranker(search)
    except ConfigError as exc:
        raise ConfigError(f"--ranker {ranker_dir or '(shipped model)'}: {exc.__cause__ or exc}; give a folder "
                          "written by 'exoray train ranker --out DIR'") from exc
    engine = Engine(None, search, catalogs=None)
    drop_uncommitted_parts(out_dir)
    parts = _part_files(os.path.join(out_dir, CANDIDATES_DIR))
    counts = {"parts": len(parts), "rows": 0, "scored": 0}
    for p in parts:
        c = _rescore_part(p, engine)
        counts["rows"] += c["rows"]
        counts["scored"] += c["scored"]
    n_total = consolidate_candidates(out_dir)
    ranker = engine.ranker
    fingerprint = _record_ranker(out_dir, search)
    run = {
        "command": "rank",
        "out": out_dir,
        "started": started.isoformat(),
        "finished": _now().isoformat(),
        "config": {"ranker_dir": _ranker_path(ranker_dir), "ranker_model": ranker.config.model},
        "versions": _versions(),
        "counts": counts | {"candidates_total": n_total},
        "timings": {"wall_s": time.perf_counter() - t0},
        "fingerprint": fingerprint,
    }
    _append_run_json(out_dir, run)
    log.info("rank: %d candidates in %d parts scored again in %.1f s", counts["scored"], len(parts),
             run["timings"]["wall_s"])
    return run
