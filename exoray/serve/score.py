"""Pure scoring functions behind the service (no Ray, no HTTP).

The same code paths as ``exoray sweep``: a light curve is read by
:func:`exoray.ingest.read_lightcurve` (or built from arrays), then
preprocessed, searched, vetted, ranked and decided by an
:class:`exoray.engine.Engine`, the one the sweep's workers hold.  The service
splits the chain across deployments (its search deployment holds an engine
without a ranker; ranking happens in a batched ranker replica);
:func:`score_lightcurve` runs the whole chain in one process.  Engines are
cached per configuration (a few at most), and catalogues per catalogue pair,
so a call does not reload them.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..config import PreprocessConfig, SearchConfig
from ..errors import InputError
from ..lightcurve import STELLAR_KEYS, LightCurve

# The engine, the search, the stitching and the ranker's features are imported
# inside the functions that use them: the replicas import this module before
# they set their thread limits, and numba, torch and scipy read theirs when
# first imported (see exoray.serve.deployments).

__all__ = [
    "MIN_POINTS",
    "CANDIDATE_FIELDS",
    "RANK_REQUIRED",
    "lightcurve_from_request",
    "check_lightcurve",
    "engine_for",
    "search_with_engine",
    "preprocess_and_search",
    "score_lightcurve",
    "public_candidate",
    "validate_rank_records",
    "rank_records",
]

#: Fewest finite cadences a light curve needs to be searched.
MIN_POINTS = 100
#: Keys of a candidate returned by ``/v1/score``.
CANDIDATE_FIELDS = (
    "candidate_index", "period_days", "t0_btjd", "duration_hours", "depth_ppm", "snr", "sde",
    "n_transits", "score", "score_lo", "score_hi", "disposition", "vet_flags", "known_object",
)
#: Keys every ``/v1/rank`` record must carry (as numbers).
RANK_REQUIRED = ("period_days", "duration_hours", "depth_ppm", "snr")
#: Keys echoed back by ``/v1/rank``.
RANK_ID_KEYS = ("id", "tic_id", "sector", "candidate_index")


def _nan_list(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def lightcurve_from_request(req) -> LightCurve:
    """A :class:`~exoray.lightcurve.LightCurve` from a :class:`~exoray.serve.bodies.ScoreRequest`.

    Raises
    ------
    InputError
        Arrays of different lengths (the message names them).
    """
    n = len(req.time)
    for name in ("flux", "flux_err", "quality"):
        v = getattr(req, name)
        if v is not None and len(v) != n:
            raise InputError(f"'{name}' has {len(v)} values but 'time' has {n}; send one value per cadence")
    stellar = {k: getattr(req, k) for k in STELLAR_KEYS}
    time_ = np.asarray(req.time, dtype=np.float64)
    cadence = req.cadence_s
    if cadence is None:
        dt = np.diff(time_)
        dt = dt[np.isfinite(dt) & (dt > 0)]
        cadence = float(np.median(dt) * 86400.0) if dt.size else 120.0
    lc = LightCurve(
        tic_id=req.tic_id,
        sector=req.sector,
        time=time_,
        flux=_nan_list(req.flux),
        flux_err=None if req.flux_err is None else _nan_list(req.flux_err),
        quality=None if req.quality is None else np.asarray(req.quality, dtype=np.int64),
        cadence_s=float(cadence),
        product="json",
        flux_column="flux",
        source_path=f"request TIC {req.tic_id} s{req.sector}",
        **stellar,
    )
    check_lightcurve(lc, require_finite_time=True)
    return lc


def check_lightcurve(lc: LightCurve, *, require_finite_time: bool = False, min_points: int = MIN_POINTS) -> None:
    """Reject light curves the search cannot use, with a message that says why.

    Checks: ``time`` finite (when required; FITS products carry NaN times
    that the reader's masks drop) and strictly increasing; at least
    ``min_points`` cadences with finite time and flux; quality values in
    int32 range.
    """
    t = lc.time
    if require_finite_time:
        bad = np.flatnonzero(~np.isfinite(t))
        if bad.size:
            raise InputError(
                f"'time' has {bad.size} non-finite values (first at index {bad[0]}); drop cadences without a time"
            )
    tf = t[np.isfinite(t)]
    if tf.size >= 2:
        steps = np.diff(tf)
        back = np.flatnonzero(steps <= 0)
        if back.size:
            i = int(np.flatnonzero(np.isfinite(t))[back[0] + 1])
            raise InputError(
                f"'time' must be strictly increasing; time[{i}]={float(t[i])!r} does not follow the previous "
                f"cadence; sort the cadences by time and drop duplicates"
            )
    good = np.isfinite(t) & np.isfinite(lc.flux)
    n_good = int(good.sum())
    if n_good == 0:
        raise InputError("'flux' has no finite value (all NaN/null); nothing to search")
    if n_good < min_points:
        raise InputError(
            f"only {n_good} cadences have a finite time and flux; at least {min_points} are needed for a transit search"
        )
    if np.nanmedian(lc.flux[good]) <= 0:
        raise InputError("'flux' must be positive (a flux, not a magnitude or a normalised residual around 0)")


_CATALOGS: Dict[Any, Any] = {}


def _catalogs(search: SearchConfig):
    from ..search.candidates import load_known_catalogs

    key = (search.use_catalog, search.toi_catalog, search.eb_catalog)
    if key not in _CATALOGS:
        _CATALOGS[key] = load_known_catalogs(search)
    return _CATALOGS[key]


@functools.lru_cache(maxsize=16)
def _cached_engine(preprocess: PreprocessConfig, search: SearchConfig):
    from ..engine import Engine

    return Engine(preprocess, search, catalogs=_catalogs(search), ranker="config" if search.rank else None)


def engine_for(preprocess: Optional[PreprocessConfig] = None, search: Optional[SearchConfig] = None):
    """The :class:`~exoray.engine.Engine` for these settings, built once per process and configuration.

    Its ranker is the one ``search`` names when ``search.rank`` is set (none
    otherwise); the known-object catalogues are shared by every engine that
    names the same ones.  Per-request settings (a period range) make a new
    configuration: the 16 most recent engines are kept.
    """
    return _cached_engine(preprocess or PreprocessConfig(), search or SearchConfig())


def search_with_engine(engine, lc: LightCurve):
    """``(plc, rows, timings_ms)`` of one light curve through ``engine``; raises its first failure.

    Timings: ``preprocess``, and ``search`` (search, vetting, ranking when
    the engine has a ranker, and the decision).
    """
    o = engine.analyse_one(lc)
    t = o.timings_ms
    return o.plc, o.rows, {"preprocess": t.get("preprocess", 0.0),
                           "search": t.get("search", 0.0) + t.get("rank", 0.0) + t.get("single_events", 0.0)}


def check_one_star(lcs: Sequence[LightCurve]) -> None:
    """Refuse light curves of several stars (they are searched as one): :class:`InputError` naming each file."""
    tics = {int(lc.tic_id) for lc in lcs}
    if len(tics) > 1:
        err = InputError("the uploaded light curves are of different stars ("
                         + ", ".join(f"{lc.source_path or lc.label or '?'}: TIC {int(lc.tic_id)}" for lc in lcs)
                         + "); send the sectors of one star per request")
        err.details = [{"loc": "file", "msg": f"TIC {int(lc.tic_id)}", "type": "different_stars",
                        "file": str(lc.source_path or lc.label or "")} for lc in lcs]
        raise err


def search_star_with_engine(engine, lcs: Sequence[LightCurve]):
    """:func:`search_with_engine` for one star's light curves (several sectors or products) searched as one.

    Each light curve is preprocessed on its own, one product is kept per
    sector (:func:`~exoray.preprocess.stitch.choose_products`), and the
    sectors are stitched and searched together.  Returns ``(plc, rows,
    timings_ms, passed_over)`` with ``passed_over`` the light curves not
    searched (another product of their sector was).  Raises
    :class:`~exoray.errors.InputError` for light curves of different stars,
    and the first failure otherwise.
    """
    from ..preprocess.stitch import choose_products, stitch

    lcs = list(lcs)
    if len(lcs) == 1:
        plc, rows, timings = search_with_engine(engine, lcs[0])
        return plc, rows, timings, []
    check_one_star(lcs)
    pre = engine.preprocess(lcs)
    for o in pre:
        o.raise_first()
    chosen, passed = choose_products([o.plc for o in pre])
    plc = stitch(chosen)
    o = engine.analyse_preprocessed([plc])[0]
    o.raise_first()
    t = o.timings_ms
    timings = {"preprocess": sum(p.timings_ms.get("preprocess", 0.0) for p in pre),
               "search": t.get("search", 0.0) + t.get("rank", 0.0) + t.get("single_events", 0.0)}
    return plc, o.rows, timings, passed


def preprocess_and_search(
    lc: LightCurve,
    preprocess: Optional[PreprocessConfig] = None,
    search: Optional[SearchConfig] = None,
):
    """Preprocess, search and vet one light curve (no ranking).

    Returns
    -------
    (PreprocessedLightCurve, list of dict, dict)
        The preprocessed curve, the candidate rows
        (:data:`~exoray.vet.records.CANDIDATES_SCHEMA` keys plus the vetting
        statistics, the rules' decision in ``disposition``) and timings in ms.
    """
    search = dataclasses.replace(search or SearchConfig(), rank=False)
    return search_with_engine(engine_for(preprocess, search), lc)


def score_lightcurve(
    lc: LightCurve,
    preprocess: Optional[PreprocessConfig] = None,
    search: Optional[SearchConfig] = None,
    ranker=None,
) -> List[Dict[str, Any]]:
    """The whole chain in one process: candidate rows with scores and the one decision.

    ``ranker`` (a :class:`~exoray.rank.ranker.Ranker`) replaces the one
    ``search`` names.
    """
    search = search or SearchConfig()
    if ranker is not None:
        from ..engine import Engine

        engine = Engine(preprocess, search, catalogs=_catalogs(search), ranker=ranker if search.rank else None)
    else:
        engine = engine_for(preprocess, search)
    return search_with_engine(engine, lc)[1]


def _json_num(v):
    if v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def public_candidate(row: Mapping[str, Any]) -> Dict[str, Any]:
    """The fields ``/v1/score`` returns for one candidate row (NaN -> null)."""
    out: Dict[str, Any] = {}
    for k in CANDIDATE_FIELDS:
        v = row.get(k)
        if k in ("candidate_index", "n_transits"):
            out[k] = None if v is None else int(v)
        elif k in ("disposition", "vet_flags", "known_object"):
            out[k] = None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
        else:
            out[k] = _json_num(v)
    if out["disposition"] is None:
        out["disposition"] = "unvetted"
    for k in ("period_days", "t0_btjd", "duration_hours", "depth_ppm", "snr"):
        if out[k] is None:
            out[k] = float("nan")
    return out


def validate_rank_records(records: Sequence[Mapping[str, Any]]) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Check ``/v1/rank`` records; returns (records, ignored keys).

    Raises
    ------
    InputError
        With one ``details`` entry per problem (``loc`` like
        ``candidates[3].snr``), so a client sees every problem at once.
    """
    from ..rank.features import DISPOSITION_NAMES, SOURCE_KEYS

    known = {k for keys in SOURCE_KEYS.values() for k in keys} | set(RANK_ID_KEYS)
    text_keys = set(SOURCE_KEYS["vet_flags"]) | set(SOURCE_KEYS["rule_disposition"]) | {"id"}
    problems: List[Dict[str, str]] = []
    ignored = set()
    for i, rec in enumerate(records):
        for k in RANK_REQUIRED:
            if rec.get(k) is None:
                problems.append({"loc": f"candidates[{i}].{k}", "msg": "required number is missing"})
        for k, v in rec.items():
            if k not in known:
                ignored.add(k)
                continue
            if v is None:
                continue
            loc = f"candidates[{i}].{k}"
            if k in SOURCE_KEYS["rule_disposition"]:
                if v not in DISPOSITION_NAMES:
                    problems.append({"loc": loc, "msg": f"must be one of {', '.join(DISPOSITION_NAMES)}, got {v!r}"})
            elif k in SOURCE_KEYS["vet_flags"]:
                if not isinstance(v, (str, list)):
                    problems.append({"loc": loc, "msg": "must be a ';'-separated string or a list of strings"})
            elif k == "id":
                if not isinstance(v, (str, int)) or isinstance(v, bool):
                    problems.append({"loc": loc, "msg": "must be a string or an integer"})
            elif k not in text_keys:
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    problems.append({"loc": loc, "msg": f"must be a number, got {type(v).__name__} {v!r}"[:200]})
                elif not math.isfinite(float(v)):
                    problems.append({"loc": loc, "msg": "must be finite (use null for unknown)"})
                elif k in ("tic_id", "sector", "candidate_index") and (float(v) != int(v) or v < 0):
                    problems.append({"loc": loc, "msg": "must be a non-negative integer"})
                elif k in ("period_days", "duration_hours") and not v > 0:
                    problems.append({"loc": loc, "msg": f"must be > 0, got {v!r}"})
    if problems:
        err = InputError(f"{len(problems)} problem(s) in the candidate records: "
                         + "; ".join(f"{p['loc']}: {p['msg']}" for p in problems[:5]))
        err.details = problems  # type: ignore[attr-defined]
        raise err
    return [dict(r) for r in records], sorted(ignored)


def rank_records(records: Sequence[Mapping[str, Any]], ranker) -> List[Dict[str, Any]]:
    """Scores with intervals for validated records, sorted by score (highest first)."""
    s, lo, hi = ranker.score_rows(list(records))
    out = []
    for i, rec in enumerate(records):
        item = {"index": i, "score": float(s[i]), "score_lo": float(lo[i]), "score_hi": float(hi[i])}
        for k in RANK_ID_KEYS:
            if rec.get(k) is not None:
                item[k] = rec[k] if k == "id" else int(rec[k])
        out.append(item)
    out.sort(key=lambda d: (-d["score"], d["index"]))
    return out
