"""The chain for one light curve: raw light curve -> preprocessed -> vetted, ranked candidates.

Thin one-light-curve front of :class:`exoray.engine.Engine`, for notebooks
and tests; batch callers use the engine itself.  Pure (no I/O, no Ray).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .config import PreprocessConfig, SearchConfig
from .engine import Engine
from .lightcurve import LightCurve, PreprocessedLightCurve

__all__ = ["ChainResult", "analyse_lightcurve", "analyse_preprocessed"]


@dataclass
class ChainResult:
    """What the chain made of one light curve.

    ``rows`` are candidate rows (:data:`exoray.vet.records.CANDIDATES_SCHEMA`
    columns); ``results`` and ``vets`` the BLS results and vetting details
    behind them (for reports); ``timings_ms`` per stage.
    """

    plc: PreprocessedLightCurve
    rows: List[Dict[str, Any]]
    results: list = field(default_factory=list)
    vets: list = field(default_factory=list)
    timings_ms: Dict[str, float] = field(default_factory=dict)


def _engine(preprocess, search, catalogs, ranker):
    cfg = search or SearchConfig()
    return Engine(preprocess, cfg, catalogs=catalogs, ranker=ranker if ranker is not None else ("config" if cfg.rank else None))


def _result(o) -> ChainResult:
    o.raise_first()
    t = o.timings_ms
    return ChainResult(o.plc, o.rows, o.results, o.vets,
                       {"search_ms": t.get("search", 0.0), "rank_ms": t.get("rank", 0.0),
                        **({"preprocess_ms": t["preprocess"]} if "preprocess" in t else {})})


def analyse_preprocessed(plc: PreprocessedLightCurve, search: Optional[SearchConfig] = None, *,
                         catalogs=None, ranker=None, preprocess: Optional[PreprocessConfig] = None) -> ChainResult:
    """Search, vet and (with a ranker, or ``search.rank``) score one preprocessed light curve.

    One light curve through :class:`exoray.engine.Engine` (which batches many).
    ``ranker`` ``None`` with ``search.rank`` loads the configured ranker
    (cached per process); ``catalogs`` ``None`` skips the cross-match.
    ``preprocess`` is how ``plc`` was made (the search rebuilds its trend
    with found transits masked).  The final disposition comes from
    :func:`exoray.vet.decision.decide_rows`, which reconciles the vetting
    rules with the score, so every caller reports the same decision.
    Raises the first failure.
    """
    return _result(_engine(preprocess, search, catalogs, ranker).analyse([plc], details=True)[0])


def analyse_lightcurve(lc: LightCurve, preprocess: Optional[PreprocessConfig] = None,
                       search: Optional[SearchConfig] = None, *, catalogs=None, ranker=None) -> ChainResult:
    """Preprocess one raw light curve, then :func:`analyse_preprocessed`."""
    return _result(_engine(preprocess, search, catalogs, ranker).analyse([lc], details=True)[0])
