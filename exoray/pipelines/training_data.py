"""Labelled candidates for the ranker: simulated stars, and real TCE tables.

Simulated set
-------------
:func:`simulate_training_set` draws ``n_stars`` stars with
:func:`exoray.simulate.sector.simulate_star` (class mix
:data:`exoray.simulate.DEFAULT_MIX` unless given), renders them in memory with
:func:`~exoray.simulate.simulate_lightcurve`, preprocesses them
and searches and vets them a batch at a time with one
:class:`exoray.engine.Engine` without ranker or catalogue cross-match
(:func:`training_engine`), and labels every candidate against the injected
truth (:func:`label_candidate`):

* ``planet`` / ``multi_planet`` (label 1): period within 1 % of an injected
  planet's and epoch within one transit duration.  Period aliases of a planet
  (P/2, 2P, ...) and candidates at a wrong period on a single-transit planet
  are *not* planets (label 0, ``match_class="planet_alias"``): the ranker
  should prefer the true period;
* ``eb`` / ``blended_eb`` (label 0): period within 1 % of P, P/2 or 2P of an
  injected eclipsing binary (EBs are often found at half the period);
* ``false_alarm`` (label 0): anything else (noise, variability, systematics).

Stars are processed in batches by Ray tasks (:func:`exoray.runtime.ray_env.init_ray`)
or serially (``workers=0``).  Each star's randomness comes from
``SeedSequence([seed, index])`` so a set is reproducible and extendable.
Results are cached as Parquet (:func:`load_or_simulate`).

Real light curves
-----------------
:func:`real_training_set` is the ground truth the shipped ranker learns
from: planets injected into real SPOC light curves (their catalogued
signals masked first), the same light curves inverted and scrambled
(every candidate there is a false alarm), simulated on-target and blended
eclipsing binaries injected into them, and the real eclipsing binaries
among the files (:mod:`exoray.simulate.real`).  The probes are searched
and vetted a batch at a time by the sweep's engine (:func:`training_engine`:
ranking and catalogue cross-match off) and every candidate is labelled by
:func:`label_real_candidate`.

Real tables
-----------
:func:`load_yu2019_tces` (TESS sectors 1-5 TCEs with AstroNet-Triage labels,
Yu et al. 2019, AJ 158, 25) and :func:`load_kepler_dr24_tces` (Kepler Q1-Q17
DR24 autovetter training set) map the catalogue columns onto the candidate
keys read by :mod:`exoray.rank.features` (period, duration, depth, SNR and,
for Yu et al., Tmag / Teff / radius / logg); every other feature is NaN.

They are *not* used to train the shipped ranker: added to the simulated
training stars they lowered the held-out AUC and raised the Brier score and
the EB false-pass rate on simulated candidates (2000 simulated stars, 1457
candidates, mean of 3 star splits, 10-member LightGBM: AUC 0.9935 sim only,
0.9895 + Yu, 0.986 + Kepler, 0.9815 + both; Brier 0.030 / 0.037 / 0.042 /
0.049; EB false-pass 0.036 / 0.048 / 0.052 / 0.079), and a ranker trained on
simulated candidates scores them at chance level (AUC 0.45 Yu, 0.47 Kepler):
they share only four to eight of the features, and TCE tables from other
pipelines have different selection and label definitions.
"""

from __future__ import annotations

import logging
import math
import os
import time as _time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..config import SearchConfig
from ..engine import Engine
from ..errors import ExorayError
from ..ingest import read_lightcurve
from ..runtime.files import atomic_open
from ..runtime.ray_env import init_ray, one_torch_thread
from ..simulate import DEFAULT_MIX, TIC_BASE, sector_timing
from ..simulate.real import _host_is_eb, build_probe, catalogue_signals, plan_probes, star_half
from ..simulate.sector import simulate_lightcurve, simulate_star

__all__ = [
    "SHARED_CATALOG_DIR",
    "label_candidate",
    "simulate_star_candidates",
    "simulate_training_set",
    "load_or_simulate",
    "load_yu2019_tces",
    "load_kepler_dr24_tces",
    "flatten_candidate",
    "label_real_candidate",
    "real_probe_candidates",
    "real_probes_candidates",
    "real_training_set",
    "simulate_stars_candidates",
    "training_engine",
]

log = logging.getLogger(__name__)

SHARED_CATALOG_DIR = Path(os.environ.get("EXORAY_CATALOG_DIR", "/work/shared/data/real/catalogs"))

PLANET_CLASSES = ("planet", "multi_planet")
EB_CLASSES = ("eb", "blended_eb")


# --------------------------------------------------------------------------- labelling
def _rel(a: float, b: float) -> float:
    return abs(a - b) / b if b > 0 else math.inf


def _epoch_offset(t0: float, t0_true: float, period: float) -> float:
    d = (t0 - t0_true) % period
    return min(d, period - d)


def label_candidate(cand: Mapping[str, Any], truth: Sequence[Mapping[str, Any]], star_class: str,
                    period_tol: float = 0.01) -> Dict[str, Any]:
    """Label one candidate against the injected signals of its star.

    Parameters
    ----------
    cand : mapping
        ``period_days``, ``t0_btjd``, ``duration_hours``.
    truth : sequence of mapping
        ``meta["truth"]`` rows of the simulated light curve (``period_days``,
        ``t0_btjd``, ``duration_hours``, ``single_transit``, ``signal_index``).
    star_class : str
        Simulated class of the star (:data:`exoray.simulate.CLASSES`).
    period_tol : float
        Relative period tolerance (default 1 %).

    Returns
    -------
    dict
        ``label`` (1 planet, 0 not), ``match_class`` (``planet``,
        ``multi_planet``, ``planet_alias``, ``eb``, ``blended_eb``,
        ``false_alarm``) and ``match_signal`` (truth index or -1).
    """
    p = float(cand["period_days"])
    t0 = float(cand["t0_btjd"])
    dur = float(cand.get("duration_hours") or 0.0) / 24.0
    alias = None
    for s in truth:
        pt = float(s["period_days"])
        if star_class in PLANET_CLASSES:
            dt = max(float(s.get("duration_hours") or 0.0) / 24.0, dur)
            if _rel(p, pt) < period_tol and _epoch_offset(t0, float(s["t0_btjd"]), pt) <= dt:
                return {"label": 1, "match_class": star_class, "match_signal": int(s.get("signal_index", 0))}
            # an alias of the planet (or a wrong period on a single transit): remember, keep looking
            if alias is None and _epoch_offset(t0, float(s["t0_btjd"]), min(p, pt)) <= dt:
                ratio = p / pt
                near_int = min(abs(ratio - round(ratio)), abs(1 / ratio - round(1 / ratio)))
                if near_int < 0.02 * max(ratio, 1 / ratio) or bool(s.get("single_transit")):
                    alias = int(s.get("signal_index", 0))
        elif star_class in EB_CLASSES:
            if min(_rel(p, pt), _rel(p, pt / 2), _rel(p, 2 * pt)) < period_tol:
                return {"label": 0, "match_class": star_class, "match_signal": int(s.get("signal_index", 0))}
    if alias is not None:
        return {"label": 0, "match_class": "planet_alias", "match_signal": alias}
    return {"label": 0, "match_class": "false_alarm", "match_signal": -1}


# --------------------------------------------------------------------------- candidates of one star
def flatten_candidate(row: Mapping[str, Any]) -> Dict[str, Any]:
    """Keep the scalar columns of a candidate dict (lists become ``;``-joined strings)."""
    out: Dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, (np.generic,)):
            v = v.item()
        if v is None or isinstance(v, (bool, int, float, str)):
            out[k] = v
        elif isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
            out[k] = ";".join(v)
    return out


def training_engine(config=None, preprocess=None, *, keep_single_events: bool = False):
    """The :class:`~exoray.engine.Engine` that makes training candidates: no ranker, no catalogue cross-match.

    The ranker must not see its own scores (``rank`` off), and the labels
    come from the injected truth, not from catalogues.  Single events are
    turned off (the simulated set: only the periodic search's candidates)
    unless ``keep_single_events`` leaves ``config``'s choice.
    """
    import dataclasses

    search = dataclasses.replace(config or SearchConfig(), rank=False)
    if not keep_single_events:
        search = dataclasses.replace(search, single_events=False)
    return Engine(preprocess, search, catalogs=None, ranker=None)


def _simulate_star_lc(index: int, seed: int, timing, mix) -> Tuple[Any, Dict[str, Any], list, str]:
    """The light curve of star ``index`` of set ``seed`` (``None`` when its simulation failed), its summary row,
    its injected truth and its class."""
    mix = dict(mix or DEFAULT_MIX)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))
    classes = list(mix)
    probs = np.asarray([mix[c] for c in classes], float)
    cls = str(rng.choice(classes, p=probs / probs.sum()))
    tic = int(TIC_BASE + seed * 1_000_000 + index)
    star_row = {"tic_id": tic, "sector": timing.sector, "star_class": cls, "n_signals": 0,
                "n_candidates": 0, "error": None}
    try:
        star, signals = simulate_star(rng, tic, cls, timing)
        lc = simulate_lightcurve(rng, star, signals, timing=timing)
        truth = lc.meta["truth"]
        # The simulator's header holds the star's true parameters; a real
        # catalogue's are uncertain (TIC radii ~10 %, masses more).  Without
        # this the ranker would learn to trust the transit-implied density
        # more than real data allow.
        if lc.radius:
            lc.radius = float(lc.radius) * 10.0 ** rng.normal(0.0, 0.04)
        if lc.mass:
            lc.mass = float(lc.mass) * 10.0 ** rng.normal(0.0, 0.06)
        if lc.logg:
            lc.logg = float(lc.logg) + rng.normal(0.0, 0.1)
    except Exception as exc:  # noqa: BLE001 - one odd star must not end a long batch
        _star_failed(star_row, index, seed, cls, exc)
        return None, star_row, [], cls
    star_row["n_signals"] = len(truth)
    return lc, star_row, truth, cls


def _star_failed(star_row: Dict[str, Any], index: int, seed: int, cls: str, exc: BaseException) -> None:
    star_row["error"] = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ExorayError):
        log.warning("star %d (seed %d, %s): %s", index, seed, cls, exc)
    else:  # logged with its traceback: it points at a bug
        log.error("star %d (seed %d, %s) failed", index, seed, cls, exc_info=(type(exc), exc, exc.__traceback__))


def simulate_stars_candidates(indices: Sequence[int], seed: int, *, timing=None, mix: Optional[Mapping[str, float]] = None,
                              sector: int = 1, config=None, engine=None
                              ) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Simulate stars ``indices`` of set ``seed``, search them together with one engine, label their candidates.

    ``engine`` (default :func:`training_engine` of ``config``) is reused by
    the caller across batches.  Returns the flat labelled candidate rows and
    one summary row per star (``tic_id``, ``star_class``, ``n_signals``,
    ``n_candidates``, ``error``).
    """
    timing = timing or sector_timing(sector, seed)
    engine = engine or training_engine(config)
    stars = [(int(i),) + _simulate_star_lc(int(i), seed, timing, mix) for i in indices]
    ready = [s for s in stars if s[1] is not None]
    outcomes = engine.analyse([s[1] for s in ready])
    rows: List[Dict[str, Any]] = []
    for (index, _, star_row, truth, cls), o in zip(ready, outcomes):
        if o.failures:
            _star_failed(star_row, index, seed, cls, o.failures[0][1])
            continue
        found = []
        for c in o.rows:
            row = flatten_candidate(c)
            row.update(label_candidate(row, truth, cls))
            row["star_class"] = cls
            row["sim_index"] = index
            row["sim_seed"] = int(seed)
            if row["match_signal"] >= 0:
                s = truth[row["match_signal"]]
                row["true_period_days"] = float(s["period_days"])
                row["true_snr"] = float(s.get("snr", math.nan))
            found.append(row)
        star_row["n_candidates"] = len(found)
        rows.extend(found)
    return rows, [s[2] for s in stars]


def simulate_star_candidates(index: int, seed: int, *, timing=None, mix: Optional[Mapping[str, float]] = None,
                             sector: int = 1, config=None, engine=None
                             ) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """Simulate star ``index`` of set ``seed``, search it and label its candidates.

    Returns
    -------
    (rows, star)
        Flat labelled candidate rows and one summary row for the star
        (``tic_id``, ``star_class``, ``n_signals``, ``n_candidates``, ``error``).
    """
    rows, stars = simulate_stars_candidates([index], seed, timing=timing, mix=mix, sector=sector, config=config,
                                            engine=engine)
    return rows, stars[0]


def _run_batch(indices: Sequence[int], seed: int, sector: int, mix, config, engine=None) -> Tuple[list, list]:
    one_torch_thread()
    return simulate_stars_candidates(indices, seed, sector=sector, mix=mix, config=config, engine=engine)


def simulate_training_set(n_stars: int = 200, seed: int = 0, *, start: int = 0, sector: int = 1,
                          mix: Optional[Mapping[str, float]] = None, config=None, workers: Optional[int] = None,
                          batch_size: int = 10, progress_every: int = 100) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate, search and label stars ``start .. start + n_stars - 1`` of set ``seed``.

    Parameters
    ----------
    n_stars, seed, start : int
        Which stars (see module docstring).
    sector : int
        Simulated sector (timing and systematics are shared by the set).
    mix : mapping, optional
        Class fractions (default :data:`exoray.simulate.DEFAULT_MIX`).
    config : SearchConfig, optional
        The search (ranking and single events are turned off).
    workers : int, optional
        Ray CPUs (``None``: all local CPUs); ``0`` runs serially in-process.
    batch_size : int
        Stars per Ray task.

    Returns
    -------
    (candidates, stars) : pandas.DataFrame
        Labelled candidate rows (``label``, ``match_class``, ``star_class``
        plus the candidate columns) and one row per star.
    """
    idx = list(range(int(start), int(start) + int(n_stars)))
    batches = [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]
    rows: list = []
    stars: list = []
    t0 = _time.perf_counter()
    if workers == 0:
        engine = training_engine(config)
        for b in batches:
            r, s = _run_batch(b, seed, sector, mix, config, engine)
            rows += r
            stars += s
    else:
        ray = init_ray(num_cpus=workers)
        task = ray.remote(num_cpus=1, max_retries=2)(_run_batch)
        pending = [task.remote(b, seed, sector, mix, config) for b in batches]
        done_stars = 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            r, s = ray.get(ready[0])
            rows += r
            stars += s
            if done_stars // progress_every != (done_stars + len(s)) // progress_every:
                log.info("simulated %d / %d stars (%d candidates) in %.0f s",
                         done_stars + len(s), len(idx), len(rows), _time.perf_counter() - t0)
            done_stars += len(s)
    cands = pd.DataFrame(rows)
    stars_df = pd.DataFrame(stars).sort_values("tic_id").reset_index(drop=True)
    if len(cands):
        cands = cands.sort_values(["tic_id", "candidate_index"]).reset_index(drop=True)
    log.info("training set: %d stars, %d candidates (%d planets) in %.0f s", len(stars_df), len(cands),
             int(cands["label"].sum()) if len(cands) else 0, _time.perf_counter() - t0)
    return cands, stars_df


def load_or_simulate(path: os.PathLike, n_stars: int = 200, seed: int = 0, **kwargs
                     ) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """Read ``path`` (candidates) and ``<path>.stars.parquet`` if present, else simulate and write them."""
    path = Path(path)
    stars_path = path.with_name(path.stem + ".stars.parquet")
    if path.exists():
        cands = pd.read_parquet(path)
        stars = pd.read_parquet(stars_path) if stars_path.exists() else pd.DataFrame()
        log.info("read %d cached candidates from %s", len(cands), path)
        return cands, stars
    cands, stars = simulate_training_set(n_stars, seed, **kwargs)
    # its existence is what marks the cache as written (the test above): it appears whole or not at all
    with atomic_open(path, "wb", perms=0o666) as fh:
        cands.to_parquet(fh, index=False)
    stars.to_parquet(stars_path, index=False)
    log.info("wrote %d candidates to %s", len(cands), path)
    return cands, stars


# --------------------------------------------------------------------------- real labelled tables
def load_yu2019_tces(path: Optional[os.PathLike] = None) -> pd.DataFrame:
    """TESS sectors 1-5 TCEs with the AstroNet-Triage labels of Yu et al. (2019).

    The file has CR (old Mac) line endings.  ``Disposition``: PC (planet
    candidate) -> ``label`` 1; EB, J (junk), V (variable), IS (instrumental)
    and O (other) -> 0.

    Returns
    -------
    pandas.DataFrame
        ``tic_id``, ``period_days``, ``t0_btjd``, ``duration_hours``,
        ``depth_ppm``, ``snr``, ``tmag``, ``teff``, ``radius``, ``logg``,
        ``mass``, ``label``, ``match_class`` (the disposition), ``source``.
    """
    path = Path(path) if path else SHARED_CATALOG_DIR / "yu2019_astronet_triage_tess_tces_s1-s5.csv"
    with open(path, "rb") as fh:
        raw = fh.read()
    import io

    text = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").decode("utf-8")
    d = pd.read_csv(io.StringIO(text))
    out = pd.DataFrame({
        "tic_id": d["tic_id"].astype("int64"),
        "period_days": d["Period"], "t0_btjd": d["Epoc"], "duration_hours": d["Duration"],
        "depth_ppm": d["Transit_Depth"], "snr": d["SN"], "tmag": d["Tmag"], "teff": d["teff"],
        "radius": d["star_rad"], "logg": d["logg"], "mass": d["star_mass"],
        "match_class": d["Disposition"].astype(str), "source": "yu2019",
    })
    out["label"] = (out["match_class"] == "PC").astype(int)
    out = out[np.isfinite(out["period_days"]) & (out["period_days"] > 0)]
    return out.reset_index(drop=True)


def load_kepler_dr24_tces(path: Optional[os.PathLike] = None, *, keep_unlabelled: bool = False) -> pd.DataFrame:
    """Kepler Q1-Q17 DR24 TCEs with the autovetter training labels.

    ``av_training_set``: PC -> 1; AFP (astrophysical false positive) and NTP
    (non-transiting phenomenon) -> 0; UNK dropped unless ``keep_unlabelled``
    (then ``label`` is -1).  Only period, epoch, duration and depth exist.
    """
    path = Path(path) if path else SHARED_CATALOG_DIR / "q1_q17_dr24_tce_2020-02-18.csv"
    d = pd.read_csv(path, comment="#")
    out = pd.DataFrame({
        "tic_id": d["kepid"].astype("int64"), "candidate_index": d["tce_plnt_num"].astype(int) - 1,
        "period_days": d["tce_period"], "t0_btjd": d["tce_time0bk"], "duration_hours": d["tce_duration"],
        "depth_ppm": d["tce_depth"], "match_class": d["av_training_set"].astype(str), "source": "kepler_dr24",
    })
    out["label"] = np.select([out["match_class"] == "PC", out["match_class"].isin(["AFP", "NTP"])], [1, 0], -1)
    if not keep_unlabelled:
        out = out[out["label"] >= 0]
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- real light curves
def _period_match(p: float, pt: float, factors=(1.0,), tol: float = 0.01) -> bool:
    return any(_rel(p, f * pt) < tol for f in factors)


def label_real_candidate(cand: Mapping[str, Any], kind: str, truth: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """Label a candidate found in a probe of :func:`exoray.simulate.real.build_probe`.

    ``kind`` is the probe kind: ``planet`` (an injection: the candidate at
    its period, within 1 % and with the epoch inside one duration, is a
    planet; at P/2, 2P, P/3, 3P it is ``planet_alias``), ``eb`` /
    ``blended_eb`` (at P, P/2 or 2P: that class), ``real_eb`` (a catalogued
    binary; ``truth`` holds its period), or a false-alarm probe.  Anything
    else found is a ``false_alarm``.
    """
    p = float(cand["period_days"])
    t0 = float(cand["t0_btjd"])
    if truth is not None and kind == "planet":
        pt = float(truth["period_days"])
        dt = max(float(truth["duration_hours"]), float(cand.get("duration_hours") or 0.0)) / 24.0
        if _rel(p, pt) < 0.01 and _epoch_offset(t0, float(truth["t0_btjd"]), pt) <= dt:
            return {"label": 1, "match_class": "planet"}
        if _period_match(p, pt, (0.5, 2.0, 1.0 / 3.0, 3.0)) and _epoch_offset(t0, float(truth["t0_btjd"]), min(p, pt)) <= dt:
            return {"label": 0, "match_class": "planet_alias"}
    if truth is not None and kind in ("eb", "blended_eb", "real_eb"):
        if _period_match(p, float(truth["period_days"]), (1.0, 0.5, 2.0)):
            return {"label": 0, "match_class": kind}
    return {"label": 0, "match_class": "false_alarm"}


def _probe_lightcurve(probe):
    """``(lc, kind, truth, probe_id, half)`` of a probe, or of a ``(path, period_days)`` real binary."""
    if isinstance(probe, tuple):
        path, period = probe
        lc = read_lightcurve(path)
        return lc, "real_eb", {"period_days": float(period)}, f"{lc.tic_id}-s{lc.sector}-real_eb", None
    lc, truth = build_probe(probe)
    return lc, probe.kind, truth, probe.probe_id, probe.half


def real_probes_candidates(probes: Sequence[Any], engine) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Build real-data probes, search them together with ``engine`` (no ranker) and label their candidates.

    ``engine`` is a :func:`training_engine`.  A probe whose search fails
    with an exoray error gets it in its summary; any other failure is a bug
    and is raised.  Returns the flat labelled rows and one summary per probe.
    """
    built = [(probe,) + _probe_lightcurve(probe) for probe in probes]
    outcomes = engine.analyse([b[1] for b in built])
    rows: List[Dict[str, Any]] = []
    summaries = []
    for (probe, lc, kind, truth, pid, half), o in zip(built, outcomes):
        summary = {"probe_id": pid, "kind": kind, "tic_id": int(lc.tic_id), "half": half, "error": None,
                   "giant": bool(not isinstance(probe, tuple) and np.isfinite(probe.rp_rs)),
                   "truth_snr": float(truth["snr"]) if truth and "snr" in truth else float("nan")}
        summaries.append(summary)
        if o.failures:
            exc = o.failures[0][1]
            if not isinstance(exc, ExorayError):
                raise exc
            summary["error"] = f"{type(exc).__name__}: {exc}"
            continue
        found = []
        for c in o.rows:
            row = flatten_candidate(c)
            row.update(label_real_candidate(row, kind, truth))
            row.update(probe_id=pid, probe_kind=kind, star_class=kind, source="real")
            if truth is not None and "snr" in truth:
                row["true_snr"] = float(truth["snr"])
                row["true_period_days"] = float(truth["period_days"])
            found.append(row)
        summary["n_candidates"] = len(found)
        rows.extend(found)
    return rows, summaries


def real_probe_candidates(probe, *, preprocess=None, search=None) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """Build one real-data probe, search it (ranking off) and label its candidates.

    ``probe`` is a :class:`exoray.simulate.real.Probe`, or a ``(path,
    period_days)`` pair for a real catalogued eclipsing binary.  Returns the
    flat labelled rows and a summary of the probe.
    """
    rows, summaries = real_probes_candidates([probe], training_engine(search, preprocess, keep_single_events=True))
    return rows, summaries[0]


def _run_real_batch(items, preprocess, search, engine=None) -> Tuple[list, list]:
    one_torch_thread()
    return real_probes_candidates(items, engine or training_engine(search, preprocess, keep_single_events=True))


def real_training_set(files: Sequence[os.PathLike], *, halves: Sequence[str] = ("A", "B"), n_planets: int = 40,
                      n_giants: int = 8, n_eb: int = 3, n_blended_eb: int = 3, n_inverted: int = 1, n_scrambled: int = 3,
                      n_inverted_scrambled: int = 2, snr_range: Tuple[float, float] = (5.0, 60.0), seed: int = 0,
                      real_ebs: bool = True, preprocess=None, search=None, workers: Optional[int] = None,
                      batch_size: int = 8) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """Labelled candidates from real light curves (see the module docstring).

    Parameters
    ----------
    files : sequence of path
        Real light-curve files (any product exoray reads).
    halves : sequence of {"A", "B"}
        Which half of the stars (:func:`exoray.simulate.real.star_half`) to
        use: train on one, report on the other.
    n_planets, n_giants, n_eb, n_blended_eb, n_inverted, n_scrambled, n_inverted_scrambled : int
        Probes per host (:func:`exoray.simulate.real.plan_probes`).
    real_ebs : bool
        Also search the files whose star is a catalogued eclipsing binary and
        label what matches its period ``real_eb``.
    workers : int, optional
        Ray CPUs (``None``: all local CPUs); ``0`` runs serially in-process.

    Returns
    -------
    (candidates, probes) : pandas.DataFrame
        Labelled rows (``label``, ``match_class``, ``probe_id``,
        ``probe_kind``, ``tic_id``, candidate columns) and one row per probe.
    """
    files = [str(f) for f in files]
    items: List[Any] = list(plan_probes(files, n_planets=n_planets, n_giants=n_giants, n_eb=n_eb,
                                        n_blended_eb=n_blended_eb,
                                        n_inverted=n_inverted, n_scrambled=n_scrambled,
                                        n_inverted_scrambled=n_inverted_scrambled, snr_range=snr_range, seed=seed,
                                        halves=halves))
    if real_ebs:
        for path in files:
            lc = read_lightcurve(path)
            if star_half(lc.tic_id) not in halves:
                continue
            sigs = catalogue_signals(lc.tic_id)
            if _host_is_eb(sigs, lc.tic_id):
                ebs = [s for s in sigs if s.kind == "eb"] or sigs
                if ebs:
                    items.append((path, ebs[0].period))
    batches = [items[i:i + batch_size] for i in range(0, len(items), batch_size)]
    rows: list = []
    summaries: list = []
    t0 = _time.perf_counter()
    if workers == 0:
        engine = training_engine(search, preprocess, keep_single_events=True)
        for b in batches:
            r, s = _run_real_batch(b, preprocess, search, engine)
            rows += r
            summaries += s
    else:
        ray = init_ray(num_cpus=workers)
        task = ray.remote(num_cpus=1, max_retries=2)(_run_real_batch)
        pending = [task.remote(b, preprocess, search) for b in batches]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            r, s = ray.get(ready[0])
            rows += r
            summaries += s
            log.info("real probes: %d / %d done (%d candidates) in %.0f s", len(summaries), len(items), len(rows),
                     _time.perf_counter() - t0)
    cands = pd.DataFrame(rows)
    probes = pd.DataFrame(summaries)
    log.info("real training set: %d probes, %d candidates (%d planets) in %.0f s", len(probes), len(cands),
             int(cands["label"].sum()) if len(cands) else 0, _time.perf_counter() - t0)
    return cands, probes
