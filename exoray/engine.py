"""The analysis engine: batches of light curves in, candidate rows out.

One :class:`Engine` holds everything the per-light-curve chain needs that is
expensive to load (known-object catalogues, the ranker, the anomaly scorers)
and runs the chain on a *batch* of light curves:

    preprocess -> search + vet (all stars of the batch in lock-step)
    -> rank -> decide -> single events

The sweep runs it inside a Ray Data actor, the scoring service inside its
search deployment, and ranker training data and the benchmarks call it
directly, so all of them ship and measure the same thing.  It does no I/O
of its own (reading files, writing Parquet or reports stays with the
caller) and needs no Ray.

Failures are per light curve: :meth:`Engine.analyse` never raises for a bad
input; each :class:`StarOutcome` lists ``(stage, exception)`` for what went
wrong, and keeps what the stages before it produced (a light curve whose
ranking fails keeps its unscored candidates).  :meth:`Engine.analyse_one`
raises the first failure instead, for callers with one light curve.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .anomaly.single_event import single_event_candidates
from .config import PreprocessConfig, SearchConfig
from .lightcurve import LightCurve, PreprocessedLightCurve
from .limits import check_baseline
from .preprocess import preprocess_lightcurve
from .rank.ranker import Ranker, load_default_ranker, score_candidates
from .search.candidates import load_known_catalogs
from .search.lockstep import find_candidates_batch
from .vet.decision import decide_rows
from .vet.records import VetFlags

log = logging.getLogger(__name__)

__all__ = ["Engine", "StarOutcome", "ENGINE_STAGES"]

#: Stages of the engine, in order; a failure is reported under one of these.
ENGINE_STAGES = ("preprocess", "search", "rank", "single_events")

_FROM_CONFIG = "config"


@dataclass
class StarOutcome:
    """What the engine made of one light curve.

    ``rows`` are candidate rows (:data:`exoray.vet.records.CANDIDATES_SCHEMA`
    columns, ``report_path`` left empty); ``results`` and ``vets`` the BLS
    results and vetting details behind them, kept only when details were
    asked for (reports need them).  ``failures`` holds ``(stage,
    exception)`` pairs; ``plc`` is ``None`` when preprocessing failed.
    ``timings_ms`` per stage (a lock-step stage's time is shared out
    evenly between the light curves that took part).
    """

    plc: Optional[PreprocessedLightCurve]
    rows: List[Dict[str, Any]] = field(default_factory=list)
    results: list = field(default_factory=list)
    vets: list = field(default_factory=list)
    failures: List[Tuple[str, BaseException]] = field(default_factory=list)
    timings_ms: Dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    def raise_first(self) -> None:
        if self.failures:
            raise self.failures[0][1]


def _add_time(outcomes: Sequence[StarOutcome], stage: str, seconds: float) -> None:
    if outcomes:
        share = 1e3 * seconds / len(outcomes)
        for o in outcomes:
            o.timings_ms[stage] = o.timings_ms.get(stage, 0.0) + share


class Engine:
    """Preprocess, search, vet and rank batches of light curves.

    Parameters
    ----------
    preprocess, search : config, optional
        How to preprocess and search (defaults otherwise).  ``search=None``
        makes an engine that only preprocesses.
    catalogs : optional
        Known-object catalogues for the cross-match: ``"config"`` (default)
        loads what ``search`` names (or the packaged snapshot), ``None``
        skips the cross-match, anything else is used as given
        (:func:`exoray.vet.load_catalogs`).
    ranker : optional
        ``"config"`` (default) loads ``search.ranker_dir`` (or the shipped
        model) when ``search.rank`` is set; ``None`` leaves scores empty; a
        :class:`~exoray.rank.ranker.Ranker` or a folder is used as given.
    device : str, optional
        Overrides ``search.device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``).
    lockstep : bool
        Search all light curves of a batch together (one BLS call per pass
        for every star still searching); ``False`` searches them one by one
        (the reference path; results are the same).
    search_timeout_s : float, optional
        Most seconds the search of one light curve may take; a light curve
        over it fails at the ``search`` stage with
        :class:`~exoray.errors.TimeLimitError`.
    """

    def __init__(self, preprocess: Optional[PreprocessConfig] = None, search: Optional[SearchConfig] = None, *,
                 catalogs: Any = _FROM_CONFIG, ranker: Any = _FROM_CONFIG, device: Optional[str] = None,
                 lockstep: bool = True, search_timeout_s: Optional[float] = None):
        self.preprocess_config = preprocess or PreprocessConfig()
        if search is not None and device is not None:
            search = dataclasses.replace(search, device=str(device))
        self.search_config = search
        self.lockstep = bool(lockstep)
        self.search_timeout_s = search_timeout_s
        self.catalogs = None
        self.ranker = None
        if search is not None:
            if isinstance(catalogs, str) and catalogs == _FROM_CONFIG:
                catalogs = load_known_catalogs(search)
            self.catalogs = catalogs
            if isinstance(ranker, str) and ranker == _FROM_CONFIG:
                ranker = search.ranker_dir if search.rank else None
                if search.rank:
                    ranker = load_default_ranker(search.ranker_dir)
            elif ranker is not None and not hasattr(ranker, "score_rows"):
                ranker = Ranker.load(ranker)
            self.ranker = ranker

    # ------------------------------------------------------------------ stages
    def preprocess(self, lcs: Sequence[LightCurve]) -> List[StarOutcome]:
        """Preprocess each light curve; failures stay with their light curve."""
        out = []
        for lc in lcs:
            t0 = time.perf_counter()
            try:
                self._check_baseline(lc)
                o = StarOutcome(preprocess_lightcurve(lc, self.preprocess_config))
            except Exception as exc:  # noqa: BLE001 - one input must not stop its batch
                o = StarOutcome(None, failures=[("preprocess", exc)])
            o.timings_ms["preprocess"] = 1e3 * (time.perf_counter() - t0)
            out.append(o)
        return out

    def _check_baseline(self, lc: LightCurve) -> None:
        """Refuse a time jump inside one file before preprocessing: detrending sizes its work by the span."""
        limit = self.search_config.max_baseline_days if self.search_config is not None else None
        t = np.asarray(lc.time, dtype=np.float64)
        t = t[np.isfinite(t)]
        if limit is not None and t.size >= 2:
            check_baseline(float(t.max() - t.min()), limit, lc.source_path)

    def search(self, outcomes: Sequence[StarOutcome], *, details: bool = False) -> None:
        """Search and vet the preprocessed light curves of ``outcomes`` (in place)."""
        todo = [o for o in outcomes if o.plc is not None and not o.failures]
        if not todo or self.search_config is None:
            return
        t0 = time.perf_counter()
        found = find_candidates_batch([o.plc for o in todo], self.search_config, catalogs=self.catalogs,
                                      preprocess=self.preprocess_config, lockstep=self.lockstep,
                                      timeout_s=self.search_timeout_s)
        for o, f in zip(todo, found):
            if isinstance(f, BaseException):
                o.failures.append(("search", f))
                continue
            rows, results, vets = f
            o.rows = rows
            if details:
                o.results, o.vets = results, vets
        _add_time(todo, "search", time.perf_counter() - t0)

    def rank(self, rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Score candidate rows with this engine's ranker (if any) and decide their disposition."""
        if rows and self.ranker is not None:
            # duo-transits keep the rules' decision: the ranker learnt periodic signals only
            duo = [i for i, r in enumerate(rows) if VetFlags.parse(r.get("vet_flags") or "").duo_transit]
            scored = score_candidates([r for i, r in enumerate(rows) if i not in duo], self.ranker)
            it = iter(scored)
            rows = [dict(r) if i in duo else next(it) for i, r in enumerate(rows)]
        return decide_rows(rows)

    def _rank(self, outcomes: Sequence[StarOutcome]) -> None:
        for o in outcomes:
            if o.plc is None or any(st == "search" for st, _ in o.failures):
                continue
            t0 = time.perf_counter()
            try:
                o.rows = self.rank(o.rows)
            except Exception as exc:  # noqa: BLE001 - the rows keep the rules' decision
                o.failures.append(("rank", exc))
                o.rows = decide_rows(o.rows)
            o.timings_ms["rank"] = 1e3 * (time.perf_counter() - t0)

    def _single_events(self, outcomes: Sequence[StarOutcome]) -> None:
        cfg = self.search_config
        if cfg is None or not cfg.single_events:
            return

        for o in outcomes:
            if o.plc is None or any(st == "search" for st, _ in o.failures):
                continue
            t0 = time.perf_counter()
            try:
                # Not ranked: the ranker was trained on periodic candidates only.
                o.rows = o.rows + single_event_candidates(o.plc, o.rows, method=cfg.anomaly_method,
                                                          registry=cfg.model_registry)
            except Exception as exc:  # noqa: BLE001 - the periodic candidates stand
                o.failures.append(("single_events", exc))
            o.timings_ms["single_events"] = 1e3 * (time.perf_counter() - t0)

    # ------------------------------------------------------------------ the chain
    def analyse_preprocessed(self, plcs: Sequence[PreprocessedLightCurve], *, details: bool = False
                             ) -> List[StarOutcome]:
        """Search, vet, rank and decide preprocessed light curves (e.g. read back from ``OUT/lightcurves``)."""
        outcomes = [StarOutcome(p) for p in plcs]
        self.search(outcomes, details=details)
        self._rank(outcomes)
        self._single_events(outcomes)
        return outcomes

    def analyse(self, lcs: Sequence[Union[LightCurve, PreprocessedLightCurve]], *, details: bool = False
                ) -> List[StarOutcome]:
        """The whole chain for a batch of raw (or already preprocessed) light curves."""
        outcomes: List[Optional[StarOutcome]] = [None] * len(lcs)
        raw = [i for i, lc in enumerate(lcs) if not isinstance(lc, PreprocessedLightCurve)]
        for i, o in zip(raw, self.preprocess([lcs[i] for i in raw])):
            outcomes[i] = o
        for i, lc in enumerate(lcs):
            if outcomes[i] is None:
                outcomes[i] = StarOutcome(lc)
        ready = [o for o in outcomes if o.plc is not None]
        if self.search_config is not None:
            self.search(ready, details=details)
            self._rank(ready)
            self._single_events(ready)
        return outcomes  # type: ignore[return-value]

    def analyse_one(self, lc: Union[LightCurve, PreprocessedLightCurve], *, details: bool = False) -> StarOutcome:
        """:meth:`analyse` for one light curve; raises its first failure."""
        out = self.analyse([lc], details=details)[0]
        out.raise_first()
        return out
