"""``exoray sweep``: read, preprocess, search and rank a sector of light curves on Ray Data.

Layout of a sweep's output folder ``OUT``::

    OUT/lightcurves/part-<key>.parquet   preprocessed light curves (PREPROCESSED_SCHEMA)
    OUT/candidates/part-<key>.parquet    vetted transit candidates, per batch (CANDIDATES_SCHEMA)
    OUT/candidates.parquet               all candidate parts in one table
    OUT/quarantine/part-<key>.parquet    inputs that failed, per batch (QUARANTINE_SCHEMA)
    OUT/quarantine.parquet               all quarantine parts in one table
    OUT/stars/part-<key>.parquet         one row per star searched, per batch (STARS_SCHEMA)
    OUT/stars.parquet                    each star's current search: files searched, files passed over
    OUT/run.json                         configuration, versions, counts, timings, nodes

How it works.  The driver resolves INPUT to a sorted list of locations, drops
the ones already present in ``OUT`` (resume), and cuts the rest into batches
of ``batch_size`` light curves (Ray tasks cost ~30 ms each, so a batch must
carry several curves) that never split a star: each file's TIC ID is read
from its first header blocks, and a star's files go to one batch
(:mod:`exoray.pipelines.grouping`).  Each batch then goes through two Ray
Data stages:

* **read** (:func:`read_batch`, a Ray Data ``map`` task): every location is
  read into a light curve, or becomes a quarantine row at stage ``read``;
* **analyse** (:class:`BatchAnalyser`, ``map_batches`` over an actor pool,
  one batch per call): each actor holds one :class:`exoray.engine.Engine`
  (catalogues and ranker loaded once per actor) that preprocesses, searches,
  vets, ranks and decides the whole batch; the actor renders the reports,
  turns every failure into a quarantine row under its stage, and writes the
  batch's Parquet parts atomically (temporary file + rename).

**One star, one search.**  Every file gets its own preprocessed row; then
the batch's light curves are grouped by star, one product is kept per
sector (:func:`~exoray.preprocess.stitch.choose_products`; the others are
listed as ``passed_over`` with the reason in ``OUT/stars``), the sectors are
stitched and searched as one light curve: one set of candidate rows with
``sectors`` "24,51" and ``n_sectors`` 2.  A star that cannot be stitched is
not searched, and each of its files gets a quarantine row at stage
``stitch`` saying so.  A rerun that brings a new file of a star already
swept searches that star again over all its files (the earlier ones are read
again as the batch's *context*, not stored again); its row in ``OUT/stars``
then supersedes the earlier one, and ``OUT/candidates.parquet`` keeps the
star's candidates from the new search only (the earlier candidate part is
left as it was: consolidation drops superseded stars,
:func:`consolidate_stars`).  ``group_sectors=False`` searches every file on
its own.

The light-curve part is written last: it is the batch's commit mark, and a
rerun drops candidate parts and search-stage quarantine rows of batches that
never committed.  A searched batch always writes its candidate part (an empty
table when nothing was found), so a candidate part next to a light-curve part
says "searched" (``exoray search`` relies on it).  The part name is a hash of
the batch's locations, so a batch that Ray retries after a worker or actor
died overwrites its own part rather than duplicating rows, and a driver
killed mid-sweep leaves only whole parts behind: the rerun skips exactly what
they hold.  Every input therefore ends in exactly one of ``lightcurves`` or
``quarantine``; ``run.json`` records the check.  Without Ray
(``use_ray=False``) the same two stages run in this process with one engine,
and write the same outputs.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import pickle
import platform
import socket
import time
import traceback
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.parquet as pq

from .._version import __version__
from ..config import SearchConfig, SweepConfig
from ..devices import is_cuda, parse_device, require_local_device, require_ray_gpus
from ..errors import ConfigError, ExorayError, InputError
from ..runtime import write_json_atomic
from ..runtime.progress import Progress
from ..runtime.ray_env import init_ray, one_torch_thread, quiet_ray_data
from ..schemas import (
    PREPROCESSED_SCHEMA,
    QUARANTINE_SCHEMA,
    STARS_SCHEMA,
    records_to_table,
    write_parquet_atomic,
)
from .inputs import is_uri, read_source_bytes, resolve_inputs

# The analysis packages (engine, search, vetting, ranker, anomaly scorer,
# reports, FITS readers, sector grouping, run fingerprint) are imported inside
# the functions that use them, most of which run in Ray workers: between them
# they bring torch, scipy and astropy, and importing them here would make the
# driver's start-up several times slower.

log = logging.getLogger(__name__)

__all__ = [
    "sweep",
    "BatchAnalyser",
    "LoadedBatch",
    "read_batch",
    "run_stages_ray",
    "check_device",
    "consolidate_candidates",
    "drop_uncommitted_parts",
    "process_batch",
    "plan_batches",
    "completed_locations",
    "consolidate_quarantine",
    "consolidate_stars",
    "plan_sweep_batches",
    "SearchUnit",
    "LIGHTCURVES_DIR",
    "QUARANTINE_DIR",
]

LIGHTCURVES_DIR = "lightcurves"
CANDIDATES_DIR = "candidates"
REPORTS_DIR = "reports"
QUARANTINE_DIR = "quarantine"
QUARANTINE_FILE = "quarantine.parquet"
CANDIDATES_FILE = "candidates.parquet"
STARS_DIR = "stars"
STARS_FILE = "stars.parquet"
#: Stages whose failure means the input was not preprocessed: it could not be
#: read, preprocessed, or stored as a row of PREPROCESSED_SCHEMA ("store").
INPUT_STAGES = ("read", "preprocess", "store")
#: Stages after preprocessing; a failure there leaves the curve preprocessed
#: (and, for rank/report, keeps its candidates without scores or report).
SEARCH_STAGES = ("stitch", "search", "rank", "report", "single_events", "store_candidates")
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


def _log_unexpected(loc: str, stage: str, exc: BaseException) -> None:
    # exoray's own errors and OS errors describe the input; anything else points at a bug
    if not isinstance(exc, (ExorayError, OSError)):
        log.error("unexpected error at stage %s of %s:\n%s", stage, loc,
                  "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


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
        _log_unexpected(loc, stage, exc)
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


@dataclasses.dataclass
class LoadedBatch:
    """A batch after its read stage: what the analysis stage needs, nothing it must reopen.

    ``items`` are ``(location, light curve)`` pairs in input order (raw
    :class:`~exoray.lightcurve.LightCurve` for the sweep, preprocessed ones
    for ``exoray search``); ``quarantine`` holds the rows of the inputs that
    could not be read; ``read_ms`` and ``read_cpu_ms`` the wall-clock and
    CPU time of the read.  ``context`` holds files swept before that are
    read again only to search their star over all its sectors (they are
    not stored again): ``(location, star, light curve or None, read
    failure or None)``.
    """

    key: str
    locations: List[str]
    items: List[Tuple[str, Any]]
    quarantine: List[Dict[str, Any]]
    read_ms: float
    read_cpu_ms: float = 0.0
    context: List[Tuple[str, Any, Any, Optional[BaseException]]] = dataclasses.field(default_factory=list)

    def to_row(self) -> Dict[str, Any]:
        """One Ray Data row: the batch travels pickled (light curves with every field, bit for bit)."""
        return {"key": self.key, "n_inputs": len(self.locations),
                "payload": pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)}


def read_batch(locations: Sequence[str], config: SweepConfig,
               context: Sequence[Tuple[str, Any]] = ()) -> LoadedBatch:
    """The read stage of one batch: every location read, or quarantined at stage ``read``.

    ``context``: ``(location, star)`` of files swept before whose star has a
    new file in this batch; they are read too, and a failure to read one is
    kept with it (it is the star's search that fails then, not the file).
    """
    locations = [str(x) for x in locations]
    bad: List[Dict[str, Any]] = []
    items = []
    t0, c0 = time.perf_counter(), time.process_time()
    for loc in locations:
        ok, lc = _attempt(bad, loc, "read", _read_one, loc, config.flux_column, config.verify_checksums)
        if ok:
            items.append((loc, lc))
    ctx = []
    for loc, star in context:
        try:
            ctx.append((loc, star, _read_one(loc, config.flux_column, config.verify_checksums), None))
        except Exception as exc:  # noqa: BLE001 - reported by the analysis stage, with the star it stops
            ctx.append((loc, star, None, exc))
    # the key covers the context: a star redone with its earlier sectors is another batch than its new files alone
    key = batch_key(locations + [f"context:{loc}" for loc, _ in context]) if context else batch_key(locations)
    return LoadedBatch(key, locations, items, bad, (time.perf_counter() - t0) * 1e3,
                       (time.process_time() - c0) * 1e3, ctx)


def _ordered(bad: List[Dict[str, Any]], locations: Sequence[str]) -> List[Dict[str, Any]]:
    """Quarantine rows grouped by input, inputs in batch order (stable within an input)."""
    order = {loc: i for i, loc in enumerate(locations)}
    return sorted(bad, key=lambda r: order.get(r["path"], len(order)))


def make_engine(config: SweepConfig):
    """The :class:`~exoray.engine.Engine` of a sweep: catalogues and ranker loaded once, the per-curve time limit."""
    from ..engine import Engine

    return Engine(config.preprocess, config.search, search_timeout_s=config.search_timeout_s)


def _star(plc) -> Tuple[str, int]:
    return (str(plc.mission or "TESS"), int(plc.tic_id))


@dataclasses.dataclass
class SearchUnit:
    """One star as the search sees it: the light curve searched and the files behind it.

    ``plc`` is the stitched light curve of ``files`` (one per sector, in time
    order; the light curve itself for one file); ``passed_over`` are files
    of the star not searched because another product of their sector was
    (``reason`` says which and why); ``products`` names each searched
    file's product and cadence.
    """

    plc: Any
    files: List[str]
    passed_over: List[str]
    reason: str
    star: Tuple[str, int]
    products: Dict[str, str] = dataclasses.field(default_factory=dict)

    def row(self, n_candidates: int, batch: str, when) -> Dict[str, Any]:
        """This unit's row of :data:`~exoray.schemas.STARS_SCHEMA`."""
        parts = getattr(self.plc, "parts", None) or ()
        if parts:
            products = ",".join(f"s{p.sector}:{self.products.get(p.source_path, '?')}" for p in parts)
        else:
            products = f"s{int(self.plc.sector)}:{self.plc.product}/{float(self.plc.cadence_s):g}s"
        return {"tic_id": int(self.star[1]), "mission": self.star[0],
                "sectors": ",".join(str(s) for s in self.plc.sectors), "n_sectors": len(self.plc.sectors),
                "searched": list(self.files), "products": products, "passed_over": list(self.passed_over),
                "passed_over_reason": self.reason or None, "n_candidates": int(n_candidates), "batch": batch,
                "searched_at": when}


def _stitch_unit(star: Tuple[str, int], members: Sequence[Tuple[str, Any, Optional[BaseException]]]) -> SearchUnit:
    """Choose one light curve per sector among a star's ``(location, plc, failure)`` and stitch them."""
    from ..preprocess.stitch import PRODUCT_PREFERENCE, choose_products, stitch

    for loc, p, exc in members:
        if exc is not None or p is None:
            raise InputError(f"{loc} (swept before) could not be read again to search {star[0]} {star[1]} over "
                             f"all its sectors ({type(exc).__name__}: {exc})")
    loc_of = {id(p): loc for loc, p, _ in members}
    chosen, passed = choose_products([p for _, p, _ in members])
    chosen = sorted(chosen, key=lambda p: float(p.time[0]) if p.time.size else float("inf"))
    plc = stitch(chosen)
    files = [loc_of[id(p)] for p in chosen]
    reasons = []
    for p in passed:
        keep = next(c for c in chosen if int(c.sector) == int(p.sector))
        reasons.append(f"{loc_of[id(p)]}: sector {int(p.sector)} {p.product} ({float(p.cadence_s):g} s) passed over "
                       f"for {keep.product} ({float(keep.cadence_s):g} s), preferred by "
                       f"exoray.preprocess.stitch.PRODUCT_PREFERENCE {','.join(PRODUCT_PREFERENCE)}")
    unit = SearchUnit(plc, files, [loc_of[id(p)] for p in passed], "; ".join(reasons), star,
                      {loc_of[id(p)]: f"{p.product}/{float(p.cadence_s):g}s" for p in chosen})
    if len(chosen) == 1:
        log.info("%s %s: %d products of sector %d, searching %s", star[0], star[1], len(members),
                 int(chosen[0].sector), files[0])
    return unit


class BatchAnalyser:
    """The analysis stage: one :class:`~exoray.engine.Engine`, many batches.

    Built once per worker (a Ray Data actor, or the driver without Ray), so
    the catalogues and the ranker are loaded once.  :meth:`run` turns one
    :class:`LoadedBatch` into the batch's Parquet parts and a summary;
    calling the object with a Ray Data batch (a ``pyarrow.Table`` of
    :meth:`LoadedBatch.to_row` rows) does the same for each row.

    Never raises for a bad input: each failure becomes a quarantine row with
    the stage (``read``, ``preprocess``, ``store`` = the preprocessed curve
    cannot be stored; then ``search``, ``rank``, ``report``,
    ``single_events``, ``store_candidates``), the exception class and
    message.  A curve that fails after preprocessing stays preprocessed; one
    whose ranking or reports fail keeps its candidates (unscored, or without
    a report path).  The search of one curve is stopped after
    ``config.search_timeout_s`` seconds.
    """

    def __init__(self, out_dir: str, config: SweepConfig):
        one_torch_thread()
        self.out_dir = out_dir
        self.config = config
        self.engine = make_engine(config)

    def __call__(self, batch: pa.Table) -> pa.Table:
        summaries = [self.run(pickle.loads(p)) for p in batch.column("payload").to_pylist()]
        return pa.Table.from_pylist(summaries)

    # ------------------------------------------------------------------ stages
    def run(self, loaded: LoadedBatch) -> Dict[str, Any]:
        """Preprocess, store, search and write one batch; returns its summary."""
        t_start, c_start = time.perf_counter(), time.process_time()
        bad = list(loaded.quarantine)
        t1 = time.perf_counter()
        locs = [loc for loc, _ in loaded.items]
        preprocessed = self.engine.preprocess([lc for _, lc in loaded.items])
        good: List[pa.Table] = []
        ready, ready_locs = [], []
        for loc, o in zip(locs, preprocessed):
            if o.failures:
                self._quarantine(bad, loc, o.failures)
                continue
            ok, table = _attempt(bad, loc, "store", _to_table, [o.plc.to_row()], PREPROCESSED_SCHEMA,
                                 "preprocessed light curve", loc)
            if ok:
                good.append(table)
                ready.append(o.plc)
                ready_locs.append(loc)
        context = self._preprocess_context(loaded.context) if good else []
        pre_ms = (time.perf_counter() - t1) * 1e3
        found = self.search(ready, ready_locs, bad, context=context, batch=loaded.key)

        t3 = time.perf_counter()
        # The light-curve part goes last: it commits the batch.  If the process
        # dies before it, the batch's good curves are redone by the next run and
        # its candidate and star parts are dropped as orphans (see
        # drop_uncommitted_parts).  A searched batch always writes its candidate
        # part, empty or not, so that 'exoray search' knows the batch was searched.
        if bad:
            write_parquet_atomic(records_to_table(_ordered(bad, loaded.locations), QUARANTINE_SCHEMA),
                                 os.path.join(self.out_dir, QUARANTINE_DIR, f"part-{loaded.key}.parquet"))
        if good and found["searched"]:
            write_parquet_atomic(found["table"], os.path.join(self.out_dir, CANDIDATES_DIR, f"part-{loaded.key}.parquet"))
            write_parquet_atomic(found["stars"], os.path.join(self.out_dir, STARS_DIR, f"part-{loaded.key}.parquet"))
        if good:
            write_parquet_atomic(pa.concat_tables(good),
                                 os.path.join(self.out_dir, LIGHTCURVES_DIR, f"part-{loaded.key}.parquet"))
        write_ms = (time.perf_counter() - t3) * 1e3 + found["store_ms"]
        return self._summary(loaded, n_ok=len(good), bad=bad, found=found, preprocess_ms=pre_ms,
                             write_ms=write_ms, wall_ms=loaded.read_ms + (time.perf_counter() - t_start) * 1e3,
                             cpu_ms=loaded.read_cpu_ms + (time.process_time() - c_start) * 1e3)

    def _preprocess_context(self, context) -> List[Tuple[str, Any, Any, Optional[BaseException]]]:
        """Preprocess the files of earlier sweeps read again for their star: ``(loc, star, plc, failure)``."""
        if not context or self.engine.search_config is None:
            return []
        todo = [c for c in context if c[3] is None]
        outcomes = self.engine.preprocess([c[2] for c in todo])
        done = {id(c): o for c, o in zip(todo, outcomes)}
        out = []
        for c in context:
            o = done.get(id(c))
            if o is None:
                out.append((c[0], c[1], None, c[3]))
            elif o.failures:
                out.append((c[0], c[1], None, o.failures[0][1]))
            else:
                out.append((c[0], c[1], o.plc, None))
        return out

    def units(self, plcs: Sequence[Any], locs: Sequence[str], bad: List[Dict[str, Any]],
              context: Sequence[Tuple[str, Any, Any, Optional[BaseException]]] = ()) -> List["SearchUnit"]:
        """What to search: one :class:`SearchUnit` per star (per file with ``group_sectors`` off).

        A star's light curves (with those of ``context``, files of earlier
        sweeps) are narrowed to one per sector
        (:func:`~exoray.preprocess.stitch.choose_products`) and stitched.  A
        star whose light curves cannot be stitched, or one of whose earlier
        files cannot be read again, is not searched: each of its files gets
        a quarantine row at stage ``stitch`` that says so.
        """
        if not getattr(self.config, "group_sectors", True):
            return [SearchUnit(p, [loc], [], "", _star(p)) for p, loc in zip(plcs, locs)]
        groups: Dict[Any, List[Tuple[str, Any, Optional[BaseException]]]] = {}
        for p, loc in zip(plcs, locs):
            groups.setdefault(_star(p), []).append((loc, p, None))
        for loc, star, p, exc in context:
            star = _star(p) if p is not None else tuple(star)
            if star in groups:  # a context file whose star has nothing new here has nothing to add
                groups[star].append((loc, p, exc))
        out = []
        for star, members in groups.items():
            if len(members) == 1:
                loc, p, _ = members[0]
                out.append(SearchUnit(p, [loc], [], "", star))
                continue
            try:
                out.append(_stitch_unit(star, members))
            except Exception as exc:  # noqa: BLE001 - the star is not searched, and each of its files says why
                _log_unexpected(members[0][0], "stitch", exc)
                paths = [m[0] for m in members]
                for loc in paths:
                    row = _quarantine_row(loc, "stitch", exc)
                    row["message"] = (f"{star[0]} {star[1]} was NOT searched: its {len(paths)} light curves "
                                      f"({', '.join(paths)}) could not be searched together: {row['message']}. "
                                      "No candidates were written for this star by this sweep (earlier ones, if "
                                      "any, stand); fix or remove the file named and sweep the star again into "
                                      "a new --out")
                    bad.append(row)
        return out

    def search(self, plcs: Sequence[Any], locs: Sequence[str], bad: List[Dict[str, Any]], *,
               context: Sequence[Tuple[str, Any, Any, Optional[BaseException]]] = (),
               batch: str = "") -> Dict[str, Any]:
        """Search, vet, rank and decide ``plcs`` with the engine, render reports, and make the candidate table.

        The light curves are first made into one unit per star
        (:meth:`units`).  Engine failures become quarantine rows under the
        engine's stage names (``search``, ``rank``, ``single_events``), one
        per file of the unit; ``stitch``, ``report`` and ``store_candidates``
        are this stage's own.  ``found["stars"]`` is the batch's
        :data:`~exoray.schemas.STARS_SCHEMA` table: one row per star whose
        search ran (see :mod:`exoray.pipelines.grouping`).
        """
        out = {"searched": False, "table": None, "stars": None, "n_candidates": 0, "search_ms": 0.0,
               "rank_ms": 0.0, "report_ms": 0.0, "store_ms": 0.0, "n_stars": 0, "n_multi_sector": 0,
               "n_passed_over": 0}
        if self.engine.search_config is None or not plcs:
            return out
        from ..vet.records import CANDIDATES_SCHEMA

        units = self.units(plcs, locs, bad, context)
        reports = self.config.reports
        outcomes = self.engine.analyse_preprocessed([u.plc for u in units], details=reports != "none")
        tables, stars = [], []
        when = _now()
        for u, o in zip(units, outcomes):
            for loc in u.files:
                self._quarantine(bad, loc, o.failures)
            t = o.timings_ms
            out["search_ms"] += t.get("search", 0.0) + t.get("single_events", 0.0)
            out["rank_ms"] += t.get("rank", 0.0)
            rows = o.rows
            if reports != "none" and o.results:
                t0 = time.perf_counter()
                self._reports(o, u.files, bad)
                out["report_ms"] += (time.perf_counter() - t0) * 1e3
            n_stored = 0
            if rows:
                t0 = time.perf_counter()
                sub: List[Dict[str, Any]] = []
                ok, table = _attempt(sub, u.files[0], "store_candidates", _to_table, rows, CANDIDATES_SCHEMA,
                                     "candidate rows", ";".join(u.files))
                bad.extend(dict(r, path=loc) for r in sub for loc in u.files)
                out["store_ms"] += (time.perf_counter() - t0) * 1e3
                if ok:
                    tables.append(table)
                    out["n_candidates"] += len(rows)
                    n_stored = len(rows)
            if any(st == "search" for st, _ in o.failures):
                continue  # not searched: the star's earlier search, if any, stands
            stars.append(u.row(n_stored, batch, when))
            out["n_stars"] += 1
            out["n_multi_sector"] += int(len(u.plc.sectors) > 1)
            out["n_passed_over"] += len(u.passed_over)
        out["searched"] = True
        out["table"] = pa.concat_tables(tables) if tables else CANDIDATES_SCHEMA.empty_table()
        out["stars"] = pa.Table.from_pylist(stars, schema=STARS_SCHEMA)
        return out

    def _reports(self, o, files: Sequence[str], bad: List[Dict[str, Any]]) -> None:
        from ..reports import make_report

        # the periodic rows come first and line up with the search's results; single events have no report
        for row, res, vet in zip(o.rows, o.results, o.vets):
            if self.config.reports == "all" or row["disposition"] == "planet_candidate":
                sub: List[Dict[str, Any]] = []
                ok, paths = _attempt(sub, files[0], "report", make_report, o.plc, row, bls_result=res, vet=vet,
                                     out_dir=os.path.join(self.out_dir, REPORTS_DIR))
                bad.extend(dict(r, path=loc) for r in sub for loc in files)
                if ok:
                    row["report_path"] = paths.get("pdf") or paths.get("png")

    @staticmethod
    def _quarantine(bad: List[Dict[str, Any]], loc: str, failures) -> None:
        for stage, exc in failures:
            _log_unexpected(loc, stage, exc)
            bad.append(_quarantine_row(loc, stage, exc))

    @staticmethod
    def _summary(loaded: LoadedBatch, *, n_ok: int, bad, found, preprocess_ms: float, write_ms: float,
                 wall_ms: float, cpu_ms: float) -> Dict[str, Any]:
        return {
            "key": loaded.key,
            "n_inputs": len(loaded.locations),
            "n_ok": n_ok,
            "n_quarantined": sum(1 for b in bad if b["stage"] in INPUT_STAGES),
            "n_search_failed": len({b["path"] for b in bad if b["stage"] not in INPUT_STAGES}),
            "n_candidates": found["n_candidates"],
            "n_stars": found.get("n_stars", 0),
            "n_multi_sector": found.get("n_multi_sector", 0),
            "n_passed_over": found.get("n_passed_over", 0),
            "read_ms": loaded.read_ms,
            "preprocess_ms": preprocess_ms,
            "search_ms": found["search_ms"],
            "rank_ms": found["rank_ms"],
            "report_ms": found["report_ms"],
            "write_ms": write_ms,
            "wall_ms": wall_ms,
            # CPU time of the read and the analysis (all threads of their processes): unlike the
            # wall-clock times it does not grow when other processes compete for the cores
            "cpu_ms": cpu_ms,
            "node_id": _node_id(),
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
        }


def process_batch(locations: Sequence[str], out_dir: str, config: SweepConfig,
                  analyser: Optional[BatchAnalyser] = None) -> Dict[str, Any]:
    """Read, preprocess, search and write one batch of light curves (both stages in this process).

    ``analyser`` reuses an engine across batches (one is built otherwise).
    Returns the batch's summary: key, counts, summed per-stage times in ms,
    and the node/process that ran it.  See :class:`BatchAnalyser` for what
    becomes of each failure.
    """
    analyser = analyser or BatchAnalyser(out_dir, config)
    return analyser.run(read_batch(locations, config))


def _node_id() -> str:
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except Exception:  # pragma: no cover - outside Ray
        pass
    return f"local:{socket.gethostname()}"


def _ray_read_fn(row: Dict[str, Any], config: SweepConfig) -> Dict[str, Any]:
    return read_batch(list(row["locations"]), config, _decode_context(row.get("context"))).to_row()


def _encode_context(context: Sequence[Tuple[str, Tuple[str, int]]]) -> str:
    # one JSON string per Ray Data row: an empty list column would give blocks of differing Arrow types
    return json.dumps([[loc, star[0], int(star[1])] for loc, star in context])


def _decode_context(text: Optional[str]) -> List[Tuple[str, Tuple[str, int]]]:
    return [(loc, (mission, int(tic))) for loc, mission, tic in json.loads(text)] if text else []


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

    Their candidate and star parts and search-stage quarantine rows describe
    curves that the rerun will process again.  Returns the number of files
    changed.
    """
    committed = {_key_of(p) for p in _part_files(os.path.join(out_dir, LIGHTCURVES_DIR))}
    changed = 0
    for p in _part_files(os.path.join(out_dir, CANDIDATES_DIR)) + _part_files(os.path.join(out_dir, STARS_DIR)):
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


def _consolidate(out_dir: str, folder: str, filename: str, schema: pa.Schema, sort_keys, keep=None) -> int:
    """Concatenate a folder's parts into one file; ``keep(key, table)`` filters each part's rows."""
    parts = _part_files(os.path.join(out_dir, folder))
    tables = []
    for p in parts:
        t = pq.read_table(p).cast(schema)
        if keep is not None and t.num_rows:
            t = t.filter(pa.array(keep(_key_of(p), t), pa.bool_()))
        tables.append(t)
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    table = table.sort_by([(k, "ascending") for k in sort_keys]) if table.num_rows else table
    write_parquet_atomic(table, os.path.join(out_dir, filename))
    return table.num_rows


def superseded_units(out_dir: str) -> List[Dict[str, Any]]:
    """Searched units of ``OUT/stars`` replaced by a later search of the same star (see :func:`consolidate_stars`)."""
    from .grouping import current_units, read_units

    rows = []
    for p in _part_files(os.path.join(out_dir, STARS_DIR)):
        rows.extend(dict(r, batch=_key_of(p)) for r in read_units([p]))
    return current_units(rows)[1]


def consolidate_quarantine(out_dir: str) -> int:
    """Rewrite ``OUT/quarantine.parquet`` from the per-batch parts; returns rows.

    Search-stage rows of a star's superseded search are left out: the
    star was searched again, over more files, and that search's rows speak
    for it.
    """
    from .grouping import unit_files

    gone = {(u["batch"], f) for u in superseded_units(out_dir) for f in unit_files(u)}

    def keep(key: str, t: pa.Table) -> List[bool]:
        return [st in INPUT_STAGES or (key, path) not in gone
                for path, st in zip(t.column("path").to_pylist(), t.column("stage").to_pylist())]

    return _consolidate(out_dir, QUARANTINE_DIR, QUARANTINE_FILE, QUARANTINE_SCHEMA, ["path", "stage"],
                        keep if gone else None)


def consolidate_candidates(out_dir: str) -> int:
    """Rewrite ``OUT/candidates.parquet`` from the per-batch parts; returns rows.

    A star searched again (a later sweep brought a new sector of it, and
    the star was searched over all its files) has its candidates of the
    earlier search left out: the parts keep them, the consolidated table
    holds each star's current search only (:func:`consolidate_stars`).
    """
    # imported here, not at the top: the vetting package (scipy and all)
    # stays off the driver's start-up path
    from ..vet.records import CANDIDATES_SCHEMA

    gone = {(u["batch"], int(u["tic_id"])) for u in superseded_units(out_dir)}

    def keep(key: str, t: pa.Table) -> List[bool]:
        return [(key, int(tic)) not in gone for tic in t.column("tic_id").to_pylist()]

    return _consolidate(out_dir, CANDIDATES_DIR, CANDIDATES_FILE, CANDIDATES_SCHEMA,
                        ["tic_id", "sector", "candidate_index"], keep if gone else None)


def consolidate_stars(out_dir: str) -> int:
    """Rewrite ``OUT/stars.parquet``: the current search of each star; returns rows.

    Each batch writes one row per star it searched to ``OUT/stars/part-<key>``
    (:data:`~exoray.schemas.STARS_SCHEMA`: the files searched, one per
    sector, the files passed over and why).  A star's search is superseded
    by a later one that read all of its files and more
    (:func:`exoray.pipelines.grouping.current_units`); superseded rows stay
    in the parts and are left out here, and their candidates are left out of
    ``OUT/candidates.parquet``.
    """
    gone = {(u["batch"], int(u["tic_id"]), str(u.get("mission"))) for u in superseded_units(out_dir)}

    def keep(key: str, t: pa.Table) -> List[bool]:
        return [(key, int(tic), str(m)) not in gone
                for tic, m in zip(t.column("tic_id").to_pylist(), t.column("mission").to_pylist())]

    return _consolidate(out_dir, STARS_DIR, STARS_FILE, STARS_SCHEMA, ["tic_id", "mission"], keep if gone else None)


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


def plan_sweep_batches(out_dir: str, todo: Sequence[str], batch_size: int, config: SweepConfig
                       ) -> List[Tuple[List[str], List[Tuple[str, Tuple[str, int]]]]]:
    """The sweep's batches: ``[(locations, context)]``, each star's files in one batch.

    With ``config.group_sectors`` each file's star is read from its header
    (:func:`exoray.pipelines.grouping.star_of`) and a star's files go to one
    batch.  A star that has files swept before (a rerun that brings a new
    sector of it) is searched again over all of them: its earlier files
    come along as ``context`` (``(location, star)``), read again but not
    stored again.  Without ``group_sectors``: consecutive batches of
    ``todo``, every file searched on its own.
    """
    from .grouping import done_by_star, plan_star_batches, star_of

    if not config.group_sectors:
        return [(b, []) for b in plan_batches(todo, batch_size)]
    # The driver reads every file's first header blocks before any batch
    # starts; the reads wait on disk or network, not on the CPU, so they
    # overlap in threads (a 20,000-file sector would otherwise wait ~40 s).
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, min(32, len(todo)))) as pool:
        stars = dict(zip(todo, pool.map(star_of, todo)))
    unknown = sum(1 for v in stars.values() if v is None)
    if unknown:
        log.info("sweep: %d of %d files have no star readable from their first header blocks; each goes into a "
                 "batch on its own terms (its read stage decides)", unknown, len(todo))
    context: Dict[Tuple[str, int], List[str]] = {}
    if config.search is not None:
        wanted = {v for v in stars.values() if v is not None}
        done = done_by_star(_part_files(os.path.join(out_dir, LIGHTCURVES_DIR)))
        context = {k: v for k, v in done.items() if k in wanted}
        if context:
            log.info("sweep: %d stars have new files and %d files swept before: each is searched again over all "
                     "its files, and its earlier candidates are superseded", len(context),
                     sum(len(v) for v in context.values()))
    planned = plan_star_batches(todo, batch_size, stars, context)
    star_of_ctx = {loc: k for k, locs in context.items() for loc in locs}
    return [(locs, [(loc, star_of_ctx[loc]) for loc in ctx]) for locs, ctx in planned]


def _versions() -> Dict[str, str]:
    import numpy
    import pyarrow

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


def analysis_workers(config: SweepConfig, n_batches: int) -> int:
    """How many analysis actors a Ray run uses (Ray must be initialised).

    ``config.workers``, else one per CPU of the cluster (one per GPU for a
    ``cuda`` search), never more than there are batches, at least one (a
    cluster that starts with no worker nodes gets them from its autoscaler
    when the actor asks for its CPU).
    """
    import ray

    if config.workers:
        n = int(config.workers)
    else:
        resources = ray.cluster_resources()
        n = int(resources.get("GPU" if _uses_cuda(config) else "CPU", 0))
    return max(1, min(n, n_batches))


def _uses_cuda(config: SweepConfig) -> bool:
    return config.search is not None and is_cuda(config.search.device)


def check_device(config: SweepConfig, use_ray: bool) -> None:
    """Refuse, before any work, a ``cuda`` search this process or the Ray cluster cannot run.

    With Ray this connects to (or starts) the cluster, since only it knows
    its GPUs.
    """
    if config.search is None:
        return
    device = parse_device(config.search.device)
    if not device.startswith("cuda"):
        return
    if not use_ray:
        require_local_device(device)
        return

    init_ray(address=config.address, num_cpus=config.num_cpus)
    require_ray_gpus(device)


def run_stages_ray(rows: List[Dict[str, Any]], read_fn, read_kwargs: Dict[str, Any], analyser_cls,
                   analyser_kwargs: Dict[str, Any], config: SweepConfig, progress: Progress
                   ) -> Tuple[List[Dict[str, Any]], int]:
    """Run the read stage as Ray Data tasks and the analysis as an actor pool; returns (summaries, workers).

    One Ray Data row is one batch.  ``read_fn(row, **read_kwargs)`` returns
    a :meth:`LoadedBatch.to_row`; ``analyser_cls(**analyser_kwargs)`` is
    built once per actor and called with one row at a time (``batch_size=1``:
    the batch is the unit of work, of commit and of retry).  Ray Data
    restarts an actor whose process died and retries its batch there
    (``max_restarts``/``max_task_retries`` -1 by default for actor pools),
    and retries a read task whose worker died.
    """
    import ray.data

    init_ray(address=config.address, num_cpus=config.num_cpus)
    quiet_ray_data()
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # exoray draws one bar (or log line) for the whole run: Progress
    workers = analysis_workers(config, len(rows))
    cuda = _uses_cuda(config)
    ds = ray.data.from_items(rows, override_num_blocks=len(rows))
    # The analysis actors hold one CPU each for the whole run, so a read task
    # that asked for a CPU could never be scheduled once they all started.
    # Reading is mostly waiting on storage and a few percent of the work, so
    # the read tasks ask for none; at most one per worker, plus one, run at
    # once, which keeps the next batch read while the current one is analysed.
    ds = ds.map(read_fn, fn_kwargs=read_kwargs, num_cpus=0,
                compute=ray.data.TaskPoolStrategy(size=min(workers + 1, len(rows))))
    ds = ds.map_batches(
        analyser_cls,
        fn_constructor_kwargs=analyser_kwargs,
        batch_size=1,
        batch_format="pyarrow",
        # one batch in flight per actor: a long batch queued behind another on a
        # busy actor would leave a free one idle at the end of the run
        compute=ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=1),
        num_cpus=1,
        **({"num_gpus": 1} if cuda else {}),
    )
    summaries = []
    for row in ds.iter_rows():
        summaries.append(dict(row))
        progress.update(int(row["n_inputs"]))
    return summaries, workers


def _run_batches_ray(
    batches: List[Tuple[List[str], list]], out_dir: str, config: SweepConfig, progress: Progress
) -> Tuple[List[Dict[str, Any]], int]:
    rows = [{"locations": b, "context": _encode_context(ctx)} for b, ctx in batches]
    return run_stages_ray(rows, _ray_read_fn, {"config": config}, BatchAnalyser,
                          {"out_dir": out_dir, "config": config}, config, progress)


def _run_batches_local(
    batches: List[Tuple[List[str], list]], out_dir: str, config: SweepConfig, progress: Progress
) -> Tuple[List[Dict[str, Any]], int]:
    analyser = BatchAnalyser(out_dir, config)
    summaries = []
    for b, ctx in batches:
        s = analyser.run(read_batch(b, config, ctx))
        summaries.append(s)
        progress.update(s["n_inputs"])
    return summaries, 1


#: Stages whose summed time per light curve ``run.json`` reports (``<stage>_ms_per_lc``).
SWEEP_TIMED_STAGES = ("read", "preprocess", "search", "rank", "report", "write")


def stage_timings(summaries: Sequence[Dict[str, Any]], n: int, stages: Sequence[str]) -> Dict[str, Any]:
    """``<stage>_ms_per_lc`` for each stage: time summed over the batches' summaries / light curves.

    ``search`` includes vetting and single events, ``preprocess`` turning
    the result into a Parquet row, ``write`` the candidate rows' conversion
    and every part written; ``cpu`` is the CPU time of the read and the
    analysis (all stages), which other processes on the same cores do not
    inflate.
    """
    return {f"{st}_ms_per_lc": (sum(s.get(f"{st}_ms", 0.0) for s in summaries) / n) if n else None for st in stages}


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
    force: bool = False,
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
    force : bool
        Discard the results already in ``out_dir`` and redo everything.
        Without it, a rerun into an ``out_dir`` whose results were made with
        other options (:mod:`exoray.pipelines.fingerprint`) is refused.

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
    check_device(config, use_ray)
    if config.search is not None:
        check_catalogs(config.search)
    if config.search is not None and config.search.rank:
        _check_ranker(config.search)
    if config.search is not None and config.search.single_events:
        _check_anomaly_models(config.search)
    from .fingerprint import check_rerun, output_fingerprint, write_fingerprint

    fingerprint = output_fingerprint(config)
    if force:
        discard_results(out_dir)
    elif config.resume and _holds_results(out_dir):
        fingerprint = check_rerun(out_dir, fingerprint, command="sweep")
    # recorded before any part is written, so that a rerun after a kill is checked too
    if config.resume or not _holds_results(out_dir):
        write_fingerprint(out_dir, fingerprint)
    if config.resume:
        drop_uncommitted_parts(out_dir)
    done, quarantined = completed_locations(out_dir)
    if not config.resume and (done or quarantined):
        raise ConfigError(
            f"{out_dir} already holds a sweep's output; rerun with resume enabled or use a new --out"
        )
    already = set(done) | set(quarantined)
    todo = [loc for loc in inputs if loc not in already]
    n_cpus = config.workers or config.num_cpus or os.cpu_count() or 1
    batch_size = config.batch_size or default_batch_size(len(todo), n_cpus)
    t_plan = time.perf_counter()
    batches = plan_sweep_batches(out_dir, todo, batch_size, config)
    plan_s = time.perf_counter() - t_plan
    log.info(
        "sweep: %d inputs, %d already done (resume), %d to process in %d batches of <= %d",
        len(inputs),
        len(inputs) - len(todo),
        len(todo),
        len(batches),
        batch_size,
    )
    progress = Progress(len(todo), logger=log)
    t_proc = time.perf_counter()
    try:
        if not batches:
            summaries, workers = [], 0
        elif use_ray:
            summaries, workers = _run_batches_ray(batches, out_dir, config, progress)
        else:
            summaries, workers = _run_batches_local(batches, out_dir, config, progress)
    finally:
        progress.close()
    proc_s = time.perf_counter() - t_proc

    n_q_total = consolidate_quarantine(out_dir)
    n_cand_total = consolidate_candidates(out_dir) if config.search is not None else 0
    n_stars_total = consolidate_stars(out_dir) if config.search is not None else 0
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
        "config": config.to_dict() | {"batch_size": batch_size, "use_ray": use_ray, "workers_used": workers},
        "versions": _versions(),
        "counts": {
            "inputs": len(inputs),
            "skipped_resume": len(inputs) - len(todo),
            "processed_this_run": n_new,
            "preprocessed_this_run": sum(s["n_ok"] for s in summaries),
            "quarantined_this_run": sum(s["n_quarantined"] for s in summaries),
            "search_failed_this_run": sum(s.get("n_search_failed", 0) for s in summaries),
            "candidates_this_run": sum(s.get("n_candidates", 0) for s in summaries),
            "stars_searched_this_run": sum(s.get("n_stars", 0) for s in summaries),
            "multi_sector_stars_this_run": sum(s.get("n_multi_sector", 0) for s in summaries),
            "products_passed_over_this_run": sum(s.get("n_passed_over", 0) for s in summaries),
            "files_searched_again_this_run": sum(len(ctx) for _, ctx in batches),
            "preprocessed_total": len(set(done)),
            "quarantined_total": len(set(quarantined)),
            "quarantine_rows": n_q_total,
            "candidates_total": n_cand_total,
            "stars_total": n_stars_total,
        },
        "accounting": accounting,
        "timings": {
            "wall_s": time.perf_counter() - t0,
            "plan_s": plan_s,
            "process_s": proc_s,
            "throughput_lc_per_s": n_new / proc_s if proc_s > 0 and n_new else None,
            **stage_timings(summaries, n_new, SWEEP_TIMED_STAGES + ("cpu",)),
        },
        "nodes": _nodes_summary(summaries),
        "batches": len(batches),
        "fingerprint": fingerprint,
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


def check_catalogs(search: SearchConfig) -> None:
    """Fail before any work if the known-object catalogues asked for cannot be loaded.

    Each worker's engine loads them again; a worker that could not would
    fail every batch it is given.
    """
    from ..search.candidates import load_known_catalogs

    try:
        load_known_catalogs(search)
    except Exception as exc:  # noqa: BLE001 - re-raised with the options that name the files
        raise ConfigError(f"the known-object catalogues cannot be loaded ({type(exc).__name__}: {exc}); check "
                          "--toi-catalog / --eb-catalog (or EXORAY_TOI_CATALOG / EXORAY_EB_CATALOG)") from exc


def _check_ranker(search: SearchConfig) -> None:
    """Fail before any work if ranking is asked for and no ranker can be loaded."""
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
    from ..models.windows import WINDOW_LENGTH

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

    write_json_atomic(path, run, indent=2, default=str)


def _holds_results(out_dir: str) -> bool:
    """True when ``out_dir`` holds result parts of an earlier sweep or search."""
    return any(_part_files(os.path.join(out_dir, d)) for d in (LIGHTCURVES_DIR, QUARANTINE_DIR, CANDIDATES_DIR))


def discard_results(out_dir: str) -> None:
    """Remove what sweeps and searches wrote into ``out_dir``, except ``run.json`` (the history stays).

    Only exoray's own outputs go: ``OUT`` may hold other things (``exoray
    demo`` keeps its simulated input in ``OUT/simulated``).
    """
    import shutil

    from .fingerprint import FINGERPRINT_FILE

    for d in (LIGHTCURVES_DIR, CANDIDATES_DIR, QUARANTINE_DIR, REPORTS_DIR):
        shutil.rmtree(os.path.join(out_dir, d), ignore_errors=True)
    for f in (CANDIDATES_FILE, QUARANTINE_FILE, FINGERPRINT_FILE):
        try:
            os.unlink(os.path.join(out_dir, f))
        except FileNotFoundError:
            pass
    log.info("%s: earlier results discarded (--force)", out_dir)
