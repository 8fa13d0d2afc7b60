"""``exoray sweep``: read and preprocess a sector of light curves on Ray Data.

Layout of a sweep's output folder ``OUT``::

    OUT/lightcurves/part-<key>.parquet   preprocessed light curves (PREPROCESSED_SCHEMA)
    OUT/candidates/part-<key>.parquet    vetted transit candidates, per batch (CANDIDATES_SCHEMA)
    OUT/candidates.parquet               all candidate parts in one table
    OUT/quarantine/part-<key>.parquet    inputs that failed, per batch (QUARANTINE_SCHEMA)
    OUT/quarantine.parquet               all quarantine parts in one table
    OUT/run.json                         configuration, versions, counts, timings, nodes

How it works.  The driver resolves INPUT to a sorted list of locations, drops
the ones already present in ``OUT`` (resume), and cuts the rest into batches
of ``batch_size`` light curves (Ray tasks cost ~30 ms each, so a task must
carry several curves).  A Ray Data ``map`` runs :func:`process_batch` on each
batch: it reads, preprocesses and (unless disabled) searches and vets every
curve, turns every failure into a quarantine row, and writes the batch's
Parquet parts atomically (temporary file + rename), the light-curve part
last: it is the batch's commit mark, and a rerun drops candidate parts and
search-stage quarantine rows of batches that never committed.  The part name is a hash of the batch's locations,
so a task that Ray retries after a worker dies overwrites its own part rather
than duplicating rows, and a driver killed mid-sweep leaves only whole parts
behind: the rerun skips exactly what they hold.  Every input therefore ends in
exactly one of ``lightcurves`` or ``quarantine``; ``run.json`` records the check.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import platform
import socket
import time
import traceback
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.parquet as pq

from ..config import SearchConfig, SweepConfig
from ..errors import ExorayError, InputError
from ..schemas import (
    CANDIDATES_SCHEMA,
    PREPROCESSED_SCHEMA,
    QUARANTINE_SCHEMA,
    records_to_table,
    write_parquet_atomic,
)
from .inputs import is_uri, read_source_bytes, resolve_inputs

log = logging.getLogger(__name__)

__all__ = [
    "sweep",
    "consolidate_candidates",
    "drop_uncommitted_parts",
    "process_batch",
    "plan_batches",
    "completed_locations",
    "consolidate_quarantine",
    "LIGHTCURVES_DIR",
    "QUARANTINE_DIR",
]

LIGHTCURVES_DIR = "lightcurves"
CANDIDATES_DIR = "candidates"
REPORTS_DIR = "reports"
QUARANTINE_DIR = "quarantine"
QUARANTINE_FILE = "quarantine.parquet"
CANDIDATES_FILE = "candidates.parquet"
#: Stages whose failure means the input was not preprocessed: it could not be
#: read, preprocessed, or stored as a row of PREPROCESSED_SCHEMA ("store").
INPUT_STAGES = ("read", "preprocess", "store")
#: Stages after preprocessing; a failure there leaves the curve preprocessed
#: (and, for rank/report, keeps its candidates without scores or report).
SEARCH_STAGES = ("search", "rank", "report", "single_events", "store_candidates")
RUN_FILE = "run.json"


# --------------------------------------------------------------------------- worker side


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _quarantine_row(path: str, stage: str, exc: BaseException) -> Dict[str, Any]:
    msg = str(exc) or repr(exc)
    if isinstance(exc, MemoryError):
        msg = f"{path}: ran out of memory at the {stage} stage ({msg or 'MemoryError'}); the input is too large " \
              "for this worker's memory: check its size and TIME values, or give the workers more memory"
    return {
        "path": path,
        "stage": stage,
        "error": type(exc).__name__,
        "message": msg,
        "timestamp": _now(),
    }


def _attempt(bad: List[Dict[str, Any]], loc: str, stage: str, fn, *args, **kwargs):
    """``(True, fn(...))``, or ``(False, None)`` with a quarantine row for ``loc`` at ``stage``.

    Every failure of one input is caught here, whatever its type (an
    ``ArrowInvalid`` from a value that cannot be stored, ``MemoryError``,
    ``RecursionError``...): one input must never take down its batch, and
    with it the whole Ray Data job.  Failures that are not exoray's own
    errors are logged with their traceback, since they point at a bug.
    """
    try:
        return True, fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - see docstring
        if not isinstance(exc, (ExorayError, OSError)):
            log.error("unexpected error at stage %s of %s:\n%s", stage, loc, traceback.format_exc())
        bad.append(_quarantine_row(loc, stage, exc))
        return False, None


def _read_one(location: str, flux_column: Optional[str], verify: bool = True):
    from ..ingest import read_lightcurve

    if is_uri(location):
        lc = read_lightcurve(read_source_bytes(location), flux_column=flux_column, name=location, verify=verify)
    else:
        lc = read_lightcurve(location, flux_column=flux_column, verify=verify)
    lc.source_path = location  # resume and quarantine key on the INPUT spelling
    return lc


def _to_table(rows: List[Dict[str, Any]], schema: pa.Schema, what: str, loc: str) -> pa.Table:
    """``records_to_table`` that names the field and value an output table cannot hold."""
    try:
        return records_to_table(rows, schema)
    except (pa.ArrowException, OverflowError, ValueError, TypeError) as exc:
        for f in schema:
            for r in rows:
                try:
                    records_to_table([{f.name: r.get(f.name)}], pa.schema([f.with_nullable(True)]))
                except Exception:  # noqa: BLE001 - locating the culprit
                    value = repr(r.get(f.name))
                    value = value if len(value) <= 60 else value[:57] + "..."
                    raise InputError(
                        f"{loc}: the {what} cannot be stored: field '{f.name}' = {value} does not fit its "
                        f"type {f.type} ({type(exc).__name__}: {exc}); the input holds an impossible value, "
                        "so check the file (or download it again)"
                    ) from exc
        raise InputError(f"{loc}: the {what} cannot be stored ({type(exc).__name__}: {exc})") from exc


def batch_key(locations: Sequence[str]) -> str:
    """Stable name of a batch: a hash of its sorted locations."""
    h = hashlib.sha1()
    for loc in sorted(locations):
        h.update(loc.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:20]


def process_batch(locations: Sequence[str], out_dir: str, config: SweepConfig) -> Dict[str, Any]:
    """Read, preprocess, search and write one batch of light curves.

    Never raises for a bad input: each failure becomes a quarantine row with
    the stage (``read``, ``preprocess``, ``store`` = the preprocessed curve
    cannot be stored; then ``search``, ``rank``, ``report``,
    ``single_events``, ``store_candidates``), the exception class and message.
    A curve that fails after preprocessing stays preprocessed; one whose
    ranking or reports fail keeps its candidates (unscored, or without a
    report path).  The search of one curve is stopped after
    ``config.search_timeout_s`` seconds.

    Returns
    -------
    dict
        Summary of the batch: key, counts, summed read/preprocess/write times
        in ms, and the node/process that ran it.
    """
    from ..preprocess import preprocess_lightcurve

    preprocess, flux_column, search = config.preprocess, config.flux_column, config.search
    t_start = time.perf_counter()
    locations = [str(x) for x in locations]
    key = batch_key(locations)
    good: List[pa.Table] = []
    bad: List[Dict[str, Any]] = []
    cand_tables: List[pa.Table] = []
    n_cands = 0
    read_ms = pre_ms = search_ms = 0.0
    for loc in locations:
        t0 = time.perf_counter()
        ok, lc = _attempt(bad, loc, "read", _read_one, loc, flux_column, config.verify_checksums)
        read_ms += (time.perf_counter() - t0) * 1e3
        if not ok:
            continue
        t1 = time.perf_counter()
        ok, plc = _attempt(bad, loc, "preprocess", preprocess_lightcurve, lc, preprocess)
        if ok:
            ok, table = _attempt(bad, loc, "store", _to_table, [plc.to_row()], PREPROCESSED_SCHEMA,
                                 "preprocessed light curve", loc)
        pre_ms += (time.perf_counter() - t1) * 1e3
        if not ok:
            continue
        good.append(table)
        if search is None:
            continue
        t2 = time.perf_counter()
        rows = _search_one(plc, loc, config, out_dir, bad)
        if rows:
            ok, ctable = _attempt(bad, loc, "store_candidates", _to_table, rows, CANDIDATES_SCHEMA,
                                  "candidate rows", loc)
            if ok:
                cand_tables.append(ctable)
                n_cands += len(rows)
        search_ms += (time.perf_counter() - t2) * 1e3

    t3 = time.perf_counter()
    # The light-curve part goes last: it commits the batch.  If the process
    # dies before it, the batch's good curves are redone by the next run and
    # its candidate part is dropped as an orphan (see drop_uncommitted_parts).
    if bad:
        write_parquet_atomic(
            records_to_table(bad, QUARANTINE_SCHEMA),
            os.path.join(out_dir, QUARANTINE_DIR, f"part-{key}.parquet"),
        )
    if cand_tables:
        write_parquet_atomic(
            pa.concat_tables(cand_tables),
            os.path.join(out_dir, CANDIDATES_DIR, f"part-{key}.parquet"),
        )
    if good:
        write_parquet_atomic(
            pa.concat_tables(good),
            os.path.join(out_dir, LIGHTCURVES_DIR, f"part-{key}.parquet"),
        )
    write_ms = (time.perf_counter() - t3) * 1e3
    return {
        "key": key,
        "n_inputs": len(locations),
        "n_ok": len(good),
        "n_quarantined": sum(1 for b in bad if b["stage"] in INPUT_STAGES),
        "n_search_failed": len({b["path"] for b in bad if b["stage"] not in INPUT_STAGES}),
        "n_candidates": n_cands,
        "read_ms": read_ms,
        "preprocess_ms": pre_ms,
        "search_ms": search_ms,
        "write_ms": write_ms,
        "wall_ms": (time.perf_counter() - t_start) * 1e3,
        "node_id": _node_id(),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
    }


_CATALOG_CACHE: Dict[Any, Any] = {}


def _catalogs(search: SearchConfig):
    from ..search.candidates import load_known_catalogs

    key = (search.use_catalog, search.toi_catalog, search.eb_catalog)
    if key not in _CATALOG_CACHE:
        _CATALOG_CACHE[key] = load_known_catalogs(search)
    return _CATALOG_CACHE[key]


def _search_one(plc, loc: str, config: SweepConfig, out_dir: str, bad: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Search, rank, decide, and render the reports the policy asks for, for one curve.

    The steps are those of :func:`exoray.chain.analyse_preprocessed`, taken
    one at a time so that each failure is a quarantine row of its own stage
    (a ranker that fails leaves the candidates with the rules' decision);
    the search is bounded by ``config.search_timeout_s`` of wall-clock time.
    """
    import dataclasses

    from ..chain import analyse_preprocessed
    from ..limits import call_with_time_limit
    from ..vet.decision import decide_rows

    search, reports = config.search, config.reports
    ok, found = _attempt(
        bad, loc, "search", call_with_time_limit, analyse_preprocessed, config.search_timeout_s,
        f"{loc}: the transit search", "raise the limit with exoray sweep --search-timeout SECONDS "
        "(SweepConfig.search_timeout_s), or check the light curve's length and TIME values",
        plc, dataclasses.replace(search, rank=False), catalogs=_catalogs(search), preprocess=config.preprocess,
    )
    if not ok:
        return []
    rows, results, vets = found.rows, found.results, found.vets
    if rows and search.rank:
        from ..rank.ranker import load_default_ranker, score_candidates

        ok, scored = _attempt(bad, loc, "rank",
                              lambda: decide_rows(score_candidates(rows, load_default_ranker(search.ranker_dir))))
        if ok:
            rows = scored
    if reports != "none":
        from ..vet.report import make_report

        for row, res, vet in zip(rows, results, vets):
            if reports == "all" or row["disposition"] == "planet_candidate":
                ok, paths = _attempt(bad, loc, "report", make_report, plc, row, bls_result=res, vet=vet,
                                     out_dir=os.path.join(out_dir, REPORTS_DIR))
                if ok:
                    row["report_path"] = paths.get("pdf") or paths.get("png")
    if search.single_events:
        from ..anomaly.single_event import single_event_candidates

        # Not ranked: the ranker was trained on periodic candidates only.
        ok, singles = _attempt(bad, loc, "single_events", single_event_candidates, plc, rows,
                               method=search.anomaly_method, registry=search.model_registry)
        if ok:
            rows = rows + singles
    return rows


def _node_id() -> str:
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except Exception:  # pragma: no cover - outside Ray
        pass
    return f"local:{socket.gethostname()}"


def _ray_map_fn(row: Dict[str, Any], out_dir: str, config: SweepConfig):
    return process_batch(list(row["locations"]), out_dir, config)


# --------------------------------------------------------------------------- driver side


def _part_files(folder: str) -> List[str]:
    if not os.path.isdir(folder):
        return []
    return sorted(
        os.path.join(folder, f)
        for f in os.listdir(folder)
        if f.startswith("part-") and f.endswith(".parquet")
    )


def _column_values(files: Iterable[str], column: str) -> List[str]:
    out: List[str] = []
    for f in files:
        out.extend(pq.read_table(f, columns=[column]).column(column).to_pylist())
    return out


def completed_locations(out_dir: str) -> Tuple[List[str], List[str]]:
    """Locations already preprocessed, and those quarantined before that, in ``out_dir``."""
    done = _column_values(_part_files(os.path.join(out_dir, LIGHTCURVES_DIR)), "source_path")
    quarantined = []
    for f in _part_files(os.path.join(out_dir, QUARANTINE_DIR)):
        t = pq.read_table(f, columns=["path", "stage"]).to_pydict()
        quarantined.extend(p for p, st in zip(t["path"], t["stage"]) if st in INPUT_STAGES)
    return done, quarantined


def _key_of(part: str) -> str:
    return os.path.basename(part)[len("part-") : -len(".parquet")]


def drop_uncommitted_parts(out_dir: str) -> int:
    """Remove what batches that never wrote their light-curve part left behind.

    Their candidate parts and search-stage quarantine rows describe curves
    that the rerun will process again.  Returns the number of files changed.
    """
    committed = {_key_of(p) for p in _part_files(os.path.join(out_dir, LIGHTCURVES_DIR))}
    changed = 0
    for p in _part_files(os.path.join(out_dir, CANDIDATES_DIR)):
        if _key_of(p) not in committed:
            os.unlink(p)
            changed += 1
    for p in _part_files(os.path.join(out_dir, QUARANTINE_DIR)):
        if _key_of(p) in committed:
            continue
        t = pq.read_table(p)
        keep = [st in INPUT_STAGES for st in t.column("stage").to_pylist()]
        if all(keep):
            continue
        changed += 1
        if any(keep):
            write_parquet_atomic(t.filter(pa.array(keep)), p)
        else:
            os.unlink(p)
    if changed:
        log.info("resume: cleaned %d part files of batches that did not finish", changed)
    return changed


def _consolidate(out_dir: str, folder: str, filename: str, schema: pa.Schema, sort_keys) -> int:
    parts = _part_files(os.path.join(out_dir, folder))
    tables = [pq.read_table(p) for p in parts]
    table = pa.concat_tables([t.cast(schema) for t in tables]) if tables else schema.empty_table()
    table = table.sort_by([(k, "ascending") for k in sort_keys]) if table.num_rows else table
    write_parquet_atomic(table, os.path.join(out_dir, filename))
    return table.num_rows


def consolidate_quarantine(out_dir: str) -> int:
    """Rewrite ``OUT/quarantine.parquet`` from the per-batch parts; returns rows."""
    return _consolidate(out_dir, QUARANTINE_DIR, QUARANTINE_FILE, QUARANTINE_SCHEMA, ["path", "stage"])


def consolidate_candidates(out_dir: str) -> int:
    """Rewrite ``OUT/candidates.parquet`` from the per-batch parts; returns rows."""
    return _consolidate(
        out_dir, CANDIDATES_DIR, CANDIDATES_FILE, CANDIDATES_SCHEMA, ["tic_id", "sector", "candidate_index"]
    )


def default_batch_size(n_inputs: int, n_cpus: int) -> int:
    """Enough curves per task to hide ~30 ms of task overhead, enough tasks to balance.

    Aims at >= 4 tasks per CPU, with 8..64 curves per task.
    """
    if n_inputs <= 0:
        return 1
    per = math.ceil(n_inputs / max(1, 4 * n_cpus))
    return int(min(64, max(8, per)))


def plan_batches(locations: Sequence[str], batch_size: int) -> List[List[str]]:
    """Cut locations (already sorted) into consecutive batches."""
    return [list(locations[i : i + batch_size]) for i in range(0, len(locations), batch_size)]


class _Progress:
    """Logs done/total, rate and ETA at most every ``every_s`` seconds."""

    def __init__(self, total: int, every_s: float = 5.0):
        self.total, self.every_s = total, every_s
        self.done = 0
        self.t0 = self.last = time.monotonic()

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every_s or self.done >= self.total:
            self.last = now
            rate = self.done / max(now - self.t0, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            log.info(
                "sweep: %d/%d light curves (%.1f%%), %.1f/s, ETA %.0f s",
                self.done,
                self.total,
                100.0 * self.done / max(self.total, 1),
                rate,
                eta,
            )


def _versions() -> Dict[str, str]:
    import numpy
    import pyarrow

    from .. import __version__

    v = {
        "exoray": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pyarrow": pyarrow.__version__,
    }
    for mod in ("ray", "astropy", "numba", "scipy"):
        try:
            v[mod] = __import__(mod).__version__
        except Exception:  # pragma: no cover
            pass
    return v


def _run_batches_ray(
    batches: List[List[str]], out_dir: str, config: SweepConfig, progress: _Progress
) -> List[Dict[str, Any]]:
    import ray.data

    from .ray_env import init_ray

    init_ray(address=config.address, num_cpus=config.num_cpus)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # we log our own progress with ETA
    items = [{"locations": b} for b in batches]
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    ds = ds.map(
        _ray_map_fn,
        fn_kwargs={"out_dir": out_dir, "config": config},
        num_cpus=1,  # Ray Data retries a task whose worker died (max_retries=-1 by default)
    )
    summaries = []
    for row in ds.iter_rows():
        summaries.append(dict(row))
        progress.update(int(row["n_inputs"]))
    return summaries


def _run_batches_local(
    batches: List[List[str]], out_dir: str, config: SweepConfig, progress: _Progress
) -> List[Dict[str, Any]]:
    if config.search is not None:
        import torch

        torch.set_num_threads(1)  # one core, like each Ray worker (OMP_NUM_THREADS=1)
    summaries = []
    for b in batches:
        s = process_batch(b, out_dir, config)
        summaries.append(s)
        progress.update(s["n_inputs"])
    return summaries


def _check_accounting(inputs: Sequence[str], done: Sequence[str], quarantined: Sequence[str]):
    inputs_set = set(inputs)
    seen: Dict[str, int] = {}
    for loc in list(done) + list(quarantined):
        seen[loc] = seen.get(loc, 0) + 1
    duplicates = sorted(k for k, v in seen.items() if v > 1 and k in inputs_set)
    missing = sorted(inputs_set - set(seen))
    return {
        "accounted": not missing and not duplicates,
        "missing": missing[:100],
        "n_missing": len(missing),
        "duplicates": duplicates[:100],
        "n_duplicates": len(duplicates),
    }


def sweep(
    input_spec: str,
    out_dir: str,
    config: Optional[SweepConfig] = None,
    *,
    use_ray: bool = True,
) -> Dict[str, Any]:
    """Preprocess every light curve of ``input_spec`` into ``out_dir``.

    Parameters
    ----------
    input_spec : str
        Folder, glob, manifest or URI (see :func:`exoray.pipelines.inputs.resolve_inputs`).
    out_dir : str
        Output folder; reused for resume.
    config : SweepConfig, optional
        Batch size, Ray address/CPUs, preprocessing parameters.
    use_ray : bool
        ``False`` runs the same batches in this process (for benchmarks and
        debugging); outputs are identical.

    Returns
    -------
    dict
        The content written to ``OUT/run.json``.
    """
    config = config or SweepConfig()
    out_dir = os.path.abspath(os.fspath(out_dir))
    os.makedirs(out_dir, exist_ok=True)
    started = _now()
    t0 = time.perf_counter()

    inputs = resolve_inputs(input_spec)
    if config.search is not None and config.search.rank:
        _check_ranker(config.search)
    if config.search is not None and config.search.single_events:
        _check_anomaly_models(config.search)
    if config.resume:
        drop_uncommitted_parts(out_dir)
    done, quarantined = completed_locations(out_dir)
    if not config.resume and (done or quarantined):
        from ..errors import ConfigError

        raise ConfigError(
            f"{out_dir} already holds a sweep's output; rerun with resume enabled or use a new --out"
        )
    already = set(done) | set(quarantined)
    todo = [loc for loc in inputs if loc not in already]
    n_cpus = config.num_cpus or os.cpu_count() or 1
    batch_size = config.batch_size or default_batch_size(len(todo), n_cpus)
    batches = plan_batches(todo, batch_size)
    log.info(
        "sweep: %d inputs, %d already done (resume), %d to process in %d batches of <= %d",
        len(inputs),
        len(inputs) - len(todo),
        len(todo),
        len(batches),
        batch_size,
    )
    progress = _Progress(len(todo))
    t_proc = time.perf_counter()
    if not batches:
        summaries = []
    elif use_ray:
        summaries = _run_batches_ray(batches, out_dir, config, progress)
    else:
        summaries = _run_batches_local(batches, out_dir, config, progress)
    proc_s = time.perf_counter() - t_proc

    n_q_total = consolidate_quarantine(out_dir)
    n_cand_total = consolidate_candidates(out_dir) if config.search is not None else 0
    done, quarantined = completed_locations(out_dir)
    accounting = _check_accounting(inputs, done, quarantined)
    if not accounting["accounted"]:
        log.error(
            "sweep: %d inputs unaccounted for, %d duplicated; see run.json",
            accounting["n_missing"],
            accounting["n_duplicates"],
        )

    n_new = sum(s["n_inputs"] for s in summaries)
    run = {
        "command": "sweep",
        "input": str(input_spec),
        "out": out_dir,
        "started": started.isoformat(),
        "finished": _now().isoformat(),
        "config": config.to_dict() | {"batch_size": batch_size, "use_ray": use_ray},
        "versions": _versions(),
        "counts": {
            "inputs": len(inputs),
            "skipped_resume": len(inputs) - len(todo),
            "processed_this_run": n_new,
            "preprocessed_this_run": sum(s["n_ok"] for s in summaries),
            "quarantined_this_run": sum(s["n_quarantined"] for s in summaries),
            "search_failed_this_run": sum(s.get("n_search_failed", 0) for s in summaries),
            "candidates_this_run": sum(s.get("n_candidates", 0) for s in summaries),
            "preprocessed_total": len(set(done)),
            "quarantined_total": len(set(quarantined)),
            "quarantine_rows": n_q_total,
            "candidates_total": n_cand_total,
        },
        "accounting": accounting,
        "timings": {
            "wall_s": time.perf_counter() - t0,
            "process_s": proc_s,
            "throughput_lc_per_s": n_new / proc_s if proc_s > 0 and n_new else None,
            "read_ms_per_lc": (sum(s["read_ms"] for s in summaries) / n_new) if n_new else None,
            "preprocess_ms_per_lc": (sum(s["preprocess_ms"] for s in summaries) / n_new)
            if n_new
            else None,
            "search_ms_per_lc": (sum(s.get("search_ms", 0.0) for s in summaries) / n_new) if n_new else None,
            "write_ms_per_lc": (sum(s["write_ms"] for s in summaries) / n_new) if n_new else None,
        },
        "nodes": _nodes_summary(summaries),
        "batches": len(batches),
    }
    _append_run_json(out_dir, run)
    log.info(
        "sweep: done in %.1f s: %d preprocessed, %d quarantined (totals in %s)",
        run["timings"]["wall_s"],
        run["counts"]["preprocessed_total"],
        run["counts"]["quarantined_total"],
        out_dir,
    )
    return run


def _check_ranker(search: SearchConfig) -> None:
    """Fail before any work if ranking is asked for and no ranker can be loaded."""
    from ..errors import ConfigError
    from ..rank.ranker import load_default_ranker

    try:
        load_default_ranker(search.ranker_dir)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"no usable ranker model ({exc}); train one with 'exoray train ranker --out DIR' and pass "
            "--ranker DIR, or sweep with --no-rank to leave scores empty"
        ) from exc


def _check_anomaly_models(search: SearchConfig) -> None:
    """Fail before any work if single events are asked for and their scorer is not in the registry."""
    import numpy as np

    from ..anomaly.scoring import score_windows
    from ..errors import ConfigError
    from ..models.data import WINDOW_LENGTH

    try:
        score_windows(np.zeros((1, WINDOW_LENGTH), dtype=np.float32), method=search.anomaly_method,
                      registry=search.model_registry)
    except ExorayError as exc:
        raise ConfigError(
            f"--single-events needs the '{search.anomaly_method}' anomaly scorer in the model registry: {exc}"
        ) from exc


def _nodes_summary(summaries: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    nodes: Dict[str, Dict[str, Any]] = {}
    for s in summaries:
        n = nodes.setdefault(
            s["node_id"], {"node_id": s["node_id"], "hostname": s["hostname"], "batches": 0, "light_curves": 0, "pids": set()}
        )
        n["batches"] += 1
        n["light_curves"] += s["n_inputs"]
        n["pids"].add(s["pid"])
    return [dict(v, pids=sorted(v["pids"])) for v in nodes.values()]


def _append_run_json(out_dir: str, run: Dict[str, Any]) -> None:
    path = os.path.join(out_dir, RUN_FILE)
    history = []
    if os.path.exists(path):
        try:
            with open(path) as fh:
                prev = json.load(fh)
            history = prev.get("history", []) + [{k: v for k, v in prev.items() if k != "history"}]
        except (OSError, ValueError):
            log.warning("%s unreadable; starting a new history", path)
    run = dict(run, history=history)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(run, fh, indent=2, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
