"""Search and vet many light curves at once.

:func:`find_candidates_batch` is what the engine calls for a batch of
preprocessed light curves.
"""

from __future__ import annotations

import logging
from typing import List, Optional, Sequence

from ..config import SearchConfig

log = logging.getLogger(__name__)

__all__ = ["find_candidates_batch"]


def _one(plc, cfg, catalogs, preprocess, timeout_s):
    from ..limits import call_with_time_limit
    from .candidates import find_candidates

    return call_with_time_limit(
        find_candidates, timeout_s, f"{plc.source_path}: the transit search",
        "raise the limit with exoray sweep --search-timeout SECONDS (SweepConfig.search_timeout_s), "
        "or check the light curve's length and TIME values",
        plc, cfg, catalogs=catalogs, return_details=True, preprocess=preprocess)


def find_candidates_batch(plcs: Sequence, config: Optional[SearchConfig] = None, *, catalogs=None, preprocess=None,
                          lockstep: bool = True, timeout_s: Optional[float] = None) -> List:
    """:func:`~exoray.search.candidates.find_candidates` (with details) for each light curve.

    Returns one ``(rows, bls_results, vets)`` per light curve, in order, or
    the exception that stopped its search.
    """
    cfg = config or SearchConfig()
    out: List = []
    for plc in plcs:
        try:
            out.append(_one(plc, cfg, catalogs, preprocess, timeout_s))
        except Exception as exc:  # noqa: BLE001 - reported per light curve
            out.append(exc)
    return out
