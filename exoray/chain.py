"""The per-light-curve chain: raw light curve -> preprocessed -> vetted, ranked candidates.

:func:`analyse_lightcurve` is the one place where the stages are put together
for a single light curve; the sweep, the scoring service, ranker training
data and the benchmarks call it, so they all measure and ship the same
thing.  It is pure (no I/O, no Ray).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .config import PreprocessConfig, SearchConfig
from .lightcurve import LightCurve, PreprocessedLightCurve

__all__ = ["ChainResult", "analyse_lightcurve", "analyse_preprocessed"]


@dataclass
class ChainResult:
    """What the chain made of one light curve.

    ``rows`` are candidate rows (:data:`exoray.schemas.CANDIDATES_SCHEMA`
    columns); ``results`` and ``vets`` the BLS results and vetting details
    behind them (for reports); ``timings_ms`` per stage.
    """

    plc: PreprocessedLightCurve
    rows: List[Dict[str, Any]]
    results: list = field(default_factory=list)
    vets: list = field(default_factory=list)
    timings_ms: Dict[str, float] = field(default_factory=dict)


def analyse_preprocessed(plc: PreprocessedLightCurve, search: Optional[SearchConfig] = None, *,
                         catalogs=None, ranker=None, preprocess: Optional[PreprocessConfig] = None) -> ChainResult:
    """Search, vet and (with a ranker, or ``search.rank``) score one preprocessed light curve.

    ``ranker`` ``None`` with ``search.rank`` loads the configured ranker
    (cached per process).  ``preprocess`` is how ``plc`` was made (the
    search rebuilds its trend with found transits masked).  The final
    disposition comes from :func:`exoray.vet.decision.decide_rows`, which
    reconciles the vetting rules with the score, so every caller reports the
    same decision.
    """
    from .search.candidates import find_candidates
    from .vet.decision import decide_rows

    cfg = search or SearchConfig()
    t0 = time.perf_counter()
    rows, results, vets = find_candidates(plc, cfg, catalogs=catalogs, return_details=True, preprocess=preprocess)
    t1 = time.perf_counter()
    if rows and (ranker is not None or cfg.rank):
        from .rank.ranker import load_default_ranker, score_candidates

        rows = score_candidates(rows, ranker or load_default_ranker(cfg.ranker_dir))
    rows = decide_rows(rows)
    t2 = time.perf_counter()
    return ChainResult(plc, rows, results, vets, {"search_ms": 1e3 * (t1 - t0), "rank_ms": 1e3 * (t2 - t1)})


def analyse_lightcurve(lc: LightCurve, preprocess: Optional[PreprocessConfig] = None,
                       search: Optional[SearchConfig] = None, *, catalogs=None, ranker=None) -> ChainResult:
    """Preprocess one raw light curve, then :func:`analyse_preprocessed`."""
    from .preprocess import preprocess_lightcurve

    t0 = time.perf_counter()
    plc = preprocess_lightcurve(lc, preprocess)
    pre_ms = 1e3 * (time.perf_counter() - t0)
    res = analyse_preprocessed(plc, search, catalogs=catalogs, ranker=ranker, preprocess=preprocess)
    res.timings_ms["preprocess_ms"] = pre_ms
    return res
