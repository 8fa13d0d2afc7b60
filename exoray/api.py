"""exoray from a notebook: read a sweep's results, look at a candidate, search one light curve.

::

    import exoray

    cands = exoray.read_candidates("out", min_score=0.5)          # pandas DataFrame, best first
    c = exoray.candidate("out", cands.iloc[0])                    # the row with its light curve
    c.plot()                                                      # the one-page vetting report
    c.fold().bin(time_bin_size=0.01).plot()                       # lightkurve, time in BTJD
    plc, = exoray.read_preprocessed("out", tic_id=261136679)      # reads that star only
    lk_lc = plc.to_lightkurve()                                   # astropy Time in BTJD, TDB
    found = exoray.search(lk_lc)                                  # one light curve, no Ray

Every function here reads what ``exoray sweep`` wrote or calls the same
per-light-curve chain the sweep runs (:func:`exoray.chain.analyse_lightcurve`),
so a notebook sees what the sweep would have produced.  Plots are the
vetting report's own drawing functions (:mod:`exoray.reports.page`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from .config import PreprocessConfig, SearchConfig
from .errors import InputError
from .lightcurve import LightCurve, PreprocessedLightCurve, from_lightkurve
from .schemas import read_preprocessed, records_to_table

# The search, vetting and report packages are imported inside the functions
# that use them: they bring torch, scipy and matplotlib, and reading a sweep's
# output needs none of them.

__all__ = ["read_candidates", "read_preprocessed", "search", "candidate", "plot_candidate", "Candidate",
           "candidates_frame"]

#: Where a sweep's outputs live inside OUT (as written by :mod:`exoray.pipelines.sweep`).
_CANDIDATES_FILE = "candidates.parquet"


def _candidates_path(out) -> Path:
    p = Path(os.fspath(out))
    if p.is_dir():
        p = p / _CANDIDATES_FILE
    if not p.is_file():
        raise FileNotFoundError(
            f"{p}: no candidates table; run 'exoray sweep INPUT --out {p.parent}' (with the search on) first"
        )
    return p


def _as_list(name: str, value) -> list:
    if isinstance(value, (str, bytes)) or np.isscalar(value):
        return [value]
    vals = list(value)
    if not vals:
        raise InputError(f"read_candidates: {name}= is an empty list; pass a value, a list, or None")
    return vals


def read_candidates(out, tic_id=None, min_score: Optional[float] = None, disposition=None, *, sector=None,
                    columns: Optional[Sequence[str]] = None) -> pd.DataFrame:
    """A sweep's candidates as a pandas DataFrame, best first.

    Parameters
    ----------
    out : path-like
        The sweep's output folder (or its ``candidates.parquet``).
    tic_id, sector : int or list of int, optional
        Only these stars / sectors.
    min_score : float, optional
        Only candidates whose ranker ``score`` (calibrated planet
        probability) is at least this; unscored rows are left out.
    disposition : str or list of str, optional
        Only these final dispositions (``planet_candidate``,
        ``eclipsing_binary``, ``variability``, ``instrumental``,
        ``false_alarm``, ``single_event``).
    columns : list of str, optional
        Read only these columns (default: all of
        :data:`exoray.vet.records.CANDIDATES_SCHEMA`).

    The filters are Parquet filters (pyarrow), applied while reading.  Rows
    come sorted by ``score`` (unscored last), then ``snr``, both descending,
    with a fresh index, so ``.iloc[0]`` is the best candidate.

    Raises
    ------
    FileNotFoundError
        ``out`` has no ``candidates.parquet``.
    InputError
        A filter value is not of the column's type, or a disposition is not
        one exoray writes.
    """
    import pyarrow.dataset as ds

    from .vet.disposition import DISPOSITIONS

    path = _candidates_path(out)
    expr = None

    def _and(e):
        nonlocal expr
        expr = e if expr is None else expr & e

    for name, value in (("tic_id", tic_id), ("sector", sector)):
        if value is not None:
            try:
                _and(ds.field(name).isin([int(v) for v in _as_list(name, value)]))
            except (TypeError, ValueError):
                raise InputError(f"read_candidates: {name}={value!r} is not an integer (or a list of them)") from None
    if min_score is not None:
        try:
            ms = float(min_score)
        except (TypeError, ValueError):
            raise InputError(f"read_candidates: min_score={min_score!r} is not a number") from None
        if not math.isfinite(ms):
            raise InputError(f"read_candidates: min_score={min_score!r} is not a finite number")
        _and(ds.field("score") >= ms)
    if disposition is not None:
        disps = [str(d) for d in _as_list("disposition", disposition)]
        known = set(DISPOSITIONS) | {"single_event"}
        bad = [d for d in disps if d not in known]
        if bad:
            raise InputError(f"read_candidates: disposition {bad} unknown; choose from {sorted(known)}")
        _and(ds.field("disposition").isin(disps))
    dataset = ds.dataset(str(path), format="parquet")
    cols = None if columns is None else list(dict.fromkeys(list(columns)))
    if cols is not None:
        missing = [c for c in cols if c not in dataset.schema.names]
        if missing:
            raise InputError(f"{path}: no column(s) {missing}; available: {', '.join(dataset.schema.names)}")
    df = dataset.to_table(columns=cols, filter=expr).to_pandas()
    keys = [k for k in ("score", "snr") if k in df.columns]
    if keys:
        df = df.sort_values(keys, ascending=False, na_position="last", kind="stable")
    return df.reset_index(drop=True)


def candidates_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Candidate rows (dicts) as a DataFrame with the columns and types of ``candidates.parquet``."""
    from .vet.records import CANDIDATES_SCHEMA

    return records_to_table(list(rows), CANDIDATES_SCHEMA).to_pandas()


def _config(config: Optional[SearchConfig], options: Dict[str, Any]) -> SearchConfig:
    if config is not None and not isinstance(config, SearchConfig):
        raise InputError(f"search: config must be an exoray.config.SearchConfig, got {type(config).__name__}")
    base = config or SearchConfig()
    if not options:
        return base
    names = {f.name for f in dataclasses.fields(SearchConfig)}
    bad = sorted(set(options) - names)
    if bad:
        raise InputError(f"search: unknown option(s) {bad}; SearchConfig fields are: {', '.join(sorted(names))}")
    return dataclasses.replace(base, **options)


def search(lc, config: Optional[SearchConfig] = None, *, preprocess: Optional[PreprocessConfig] = None,
           return_details: bool = False, **options):
    """Search, vet and rank one light curve in this process (no Ray): candidate rows as a DataFrame.

    Parameters
    ----------
    lc : LightCurve, PreprocessedLightCurve or lightkurve.LightCurve
        A raw light curve (preprocessed here first, as the sweep does), an
        already preprocessed one, or any lightkurve light curve (converted
        with :func:`exoray.lightcurve.from_lightkurve`; time in any format).
    config : SearchConfig, optional
        Search settings (default ``SearchConfig()``, the sweep's defaults:
        known objects cross-matched against the shipped catalogue snapshot,
        candidates scored by the shipped ranker).
    preprocess : PreprocessConfig, optional
        Preprocessing settings (default ``PreprocessConfig()``).
    return_details : bool
        Also return the :class:`exoray.chain.ChainResult` (preprocessed light
        curve, BLS results and vetting details), which
        :func:`plot_candidate` draws with the periodogram.
    **options
        :class:`~exoray.config.SearchConfig` fields overriding ``config``,
        e.g. ``max_period_days=10``, ``use_catalog=False``, ``rank=False``.

    Returns
    -------
    pandas.DataFrame, or (DataFrame, ChainResult) with ``return_details``
        One row per signal, in the order found, with the columns of
        ``candidates.parquet`` (:data:`exoray.vet.records.CANDIDATES_SCHEMA`).

    The work is :func:`exoray.chain.analyse_lightcurve` (or
    :func:`~exoray.chain.analyse_preprocessed`), the chain every sweep
    runs on each light curve.
    """
    from .chain import analyse_lightcurve, analyse_preprocessed
    from .search.candidates import load_known_catalogs

    cfg = _config(config, options)
    catalogs = load_known_catalogs(cfg)
    if isinstance(lc, PreprocessedLightCurve):
        res = analyse_preprocessed(lc, cfg, catalogs=catalogs, preprocess=preprocess)
    else:
        if not isinstance(lc, LightCurve):
            if not hasattr(lc, "time") or not hasattr(lc, "flux"):
                raise InputError(f"search: expected an exoray LightCurve, PreprocessedLightCurve or a lightkurve "
                                 f"LightCurve, got {type(lc).__name__}")
            lc = from_lightkurve(lc)
        res = analyse_lightcurve(lc, preprocess, cfg, catalogs=catalogs)
    df = candidates_frame(res.rows)
    return (df, res) if return_details else df


def _row_dict(row) -> Dict[str, Any]:
    if isinstance(row, pd.DataFrame):
        if len(row) != 1:
            raise InputError(f"expected one candidate row, got a DataFrame of {len(row)} rows; pick one with .iloc[i]")
        row = row.iloc[0]
    if isinstance(row, pd.Series):
        row = row.to_dict()
    if not isinstance(row, Mapping):
        raise InputError(f"a candidate is a row of exoray.read_candidates (or a dict), got {type(row).__name__}")
    out = {}
    for k, v in row.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and math.isnan(v) and k in ("disposition", "known_object", "vet_flags",
                                                             "rule_disposition", "report_path", "source_path"):
            v = None
        out[k] = v
    for k in ("tic_id", "sector", "period_days", "t0_btjd", "duration_hours"):
        if out.get(k) is None:
            raise InputError(f"candidate has no '{k}'; pass a row of exoray.read_candidates or exoray.search")
    return out


@dataclass
class Candidate:
    """One candidate with the light curve it was found in: what a notebook needs to look at it.

    Build it with :func:`candidate`.  ``row`` is the candidates-table row
    (a dict), ``lightcurve`` the preprocessed light curve, ``bls_result``
    the BLS periodogram when known (from :func:`search` with
    ``return_details``) and ``vet`` the vetting details (computed on first
    use, with the light curve's centroids and momentum dumps, as the
    report does).
    """

    row: Dict[str, Any]
    lightcurve: PreprocessedLightCurve
    bls_result: Optional[Any] = None
    vet: Optional[Dict[str, Any]] = field(default=None, repr=False)

    def __repr__(self) -> str:
        r = self.row
        score = r.get("score")
        s = f"{score:.2f}" if isinstance(score, float) and math.isfinite(score) else "n/a"
        return (f"Candidate(TIC {r['tic_id']} s{r['sector']} #{r.get('candidate_index', 0)}: "
                f"P={r['period_days']:.5f} d, depth={r.get('depth_ppm', float('nan')):.0f} ppm, "
                f"SNR={r.get('snr', float('nan')):.1f}, score={s}, {r.get('disposition')}, "
                f"known={r.get('known_object')})")

    @property
    def period(self) -> float:
        """Period (days)."""
        return float(self.row["period_days"])

    @property
    def t0(self) -> float:
        """Mid-transit epoch (BTJD)."""
        return float(self.row["t0_btjd"])

    @property
    def duration(self) -> float:
        """Transit duration (days)."""
        return float(self.row["duration_hours"]) / 24.0

    def vetting(self) -> Dict[str, Any]:
        """The vetting details (:func:`exoray.vet.vet_candidate`), computed once."""
        from .reports.page import _run_vet

        if self.vet is None:
            self.vet = _run_vet(self.lightcurve, self.row, None)
        return self.vet

    def plot(self):
        """The one-page vetting report (a matplotlib ``Figure``; the stored decision is shown)."""
        from .reports import report_figure

        return report_figure(self.lightcurve, self.row, bls_result=self.bls_result, vet=self.vetting())

    def plot_fold(self):
        """The report's phase-fold panel with its trapezoid fit (a matplotlib ``Figure``)."""
        from .reports import fold_figure

        return fold_figure(self.lightcurve, self.row, vet=self.vetting())

    def plot_lightcurve(self):
        """The report's light-curve panels with this candidate's transits marked."""
        return self.lightcurve.plot(self.row, vet=self.vetting())

    def fold(self, **kwargs):
        """The light curve folded on this candidate: a :class:`lightkurve.FoldedLightCurve` (hours: ``.time``
        is in days from mid-transit)."""
        return self.lightcurve.fold(self.period, self.t0, **kwargs)

    def report(self, out_dir, formats=("png", "pdf")) -> Dict[str, str]:
        """Write the report files (:func:`exoray.reports.make_report`); ``{format: path}``."""
        from .reports import make_report

        return make_report(self.lightcurve, self.row, bls_result=self.bls_result, vet=self.vetting(),
                           out_dir=out_dir, formats=formats)


def _details_for(res, row: Mapping[str, Any]):
    """The BLS result and vetting of ``row`` within a ChainResult (matched by candidate index)."""
    idx = row.get("candidate_index")
    for r, bls, vet in zip(res.rows, res.results, res.vets):
        if r.get("candidate_index") == idx and abs(float(r["period_days"]) - float(row["period_days"])) < 1e-9:
            return bls, vet
    return None, None


def candidate(source, row) -> Candidate:
    """A :class:`Candidate` from a row of :func:`read_candidates` or :func:`search`.

    Parameters
    ----------
    source : path-like, PreprocessedLightCurve or ChainResult
        The sweep's output folder (the light curve is read from
        ``OUT/lightcurves`` by the row's ``source_path``, else its TIC and
        sector), the preprocessed light curve itself, or the
        :class:`~exoray.chain.ChainResult` of ``search(..., return_details=True)``
        (which also gives the BLS periodogram).
    row : pandas Series, one-row DataFrame or dict
        The candidate.
    """
    from .chain import ChainResult

    r = _row_dict(row)
    if isinstance(source, ChainResult):
        bls, vet = _details_for(source, r)
        return Candidate(r, source.plc, bls, vet)
    if isinstance(source, PreprocessedLightCurve):
        return Candidate(r, source)
    if not isinstance(source, (str, os.PathLike)):
        raise InputError(f"candidate: source must be a sweep's output folder, a PreprocessedLightCurve or a "
                         f"ChainResult, got {type(source).__name__}")
    src = r.get("source_path")
    found = read_preprocessed(source, source_path=src) if src else []
    if not found:
        found = read_preprocessed(source, tic_id=int(r["tic_id"]), sector=int(r["sector"]))
    if not found:
        raise InputError(f"{source}: the light curve of TIC {r['tic_id']} sector {r['sector']} is not in its "
                         "'lightcurves' folder (was it swept into another OUT?)")
    if len(found) > 1:
        raise InputError(f"{source}: TIC {r['tic_id']} sector {r['sector']} has {len(found)} light curves and "
                         "the row names none of them (source_path); pass the PreprocessedLightCurve instead")
    return Candidate(r, found[0])


def plot_candidate(source, row):
    """The one-page vetting report of a candidate as a matplotlib ``Figure`` (see :func:`candidate`).

    ``exoray.plot_candidate("out", exoray.read_candidates("out").iloc[0])``
    draws what ``OUT/reports`` holds for it, with the stored decision.
    """
    return candidate(source, row).plot()
