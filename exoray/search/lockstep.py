"""Search and vet many light curves at once.

:func:`find_candidates_batch` runs :func:`exoray.search.candidates.candidate_steps`
for every light curve of a batch in lock-step (:func:`exoray.search.steps.drive_lockstep`):
each round, the periodograms every star still searching needs are computed
in one kernel call per star class, on the CPU or a GPU.  With
``lockstep=False`` the stars are searched one after another (the reference
path); the candidates are the same.
"""

from __future__ import annotations

import logging
from typing import List, Optional, Sequence

from ..config import SearchConfig
from ..errors import TimeLimitError
from ..limits import call_with_time_limit
from .candidates import candidate_steps, find_candidates
from .steps import drive_lockstep

log = logging.getLogger(__name__)

__all__ = ["find_candidates_batch"]

_HINT = ("raise the limit with exoray sweep --search-timeout SECONDS (SweepConfig.search_timeout_s), "
         "or check the light curve's length and TIME values")


def _what(plc) -> str:
    return f"{plc.source_path or f'TIC {plc.tic_id}'}: the transit search"


def _one(plc, cfg, catalogs, preprocess, timeout_s):
    return call_with_time_limit(find_candidates, timeout_s, _what(plc), _HINT, plc, cfg, catalogs=catalogs,
                                return_details=True, preprocess=preprocess)


def _one_by_one(plcs, cfg, catalogs, preprocess, timeout_s) -> List:
    out: List = []
    for plc in plcs:
        try:
            out.append(_one(plc, cfg, catalogs, preprocess, timeout_s))
        except Exception as exc:  # noqa: BLE001 - reported per light curve
            out.append(exc)
    return out


def find_candidates_batch(plcs: Sequence, config: Optional[SearchConfig] = None, *, catalogs=None, preprocess=None,
                          lockstep: bool = True, timeout_s: Optional[float] = None) -> List:
    """:func:`~exoray.search.candidates.find_candidates` (with details) for each light curve.

    Returns one ``(rows, bls_results, vets)`` per light curve, in order, or
    the exception that stopped its search.  ``timeout_s`` bounds each light
    curve's search (its own work plus its share of the batched kernel
    calls); one over it gets a :class:`~exoray.errors.TimeLimitError`.
    """
    cfg = config or SearchConfig()
    plcs = list(plcs)
    if not lockstep or len(plcs) <= 1:
        return _one_by_one(plcs, cfg, catalogs, preprocess, timeout_s)

    def over(i: int, seconds: float) -> BaseException:
        return TimeLimitError(f"{_what(plcs[i])} was stopped after {seconds:.0f} s (limit {timeout_s:g} s); {_HINT}")

    gens = [candidate_steps(p, cfg, catalogs=catalogs, preprocess=preprocess) for p in plcs]
    try:
        # The per-star budget is checked between steps; this bound catches a
        # single step that never returns, after which each star is searched
        # alone under its own limit so that only the culprit fails.
        backstop = timeout_s * len(plcs) if timeout_s else None
        return call_with_time_limit(drive_lockstep, backstop, f"a batch of {len(plcs)} searches", _HINT, gens,
                                    time_limit_s=timeout_s, on_time_limit=over)
    except TimeLimitError:
        log.warning("a batch of %d searches ran past its time bound; searching its stars one by one", len(plcs))
        return _one_by_one(plcs, cfg, catalogs, preprocess, timeout_s)
