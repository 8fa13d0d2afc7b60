"""Matching found candidates to injected signals (simulator ``truth.csv``).

A detection follows the usual injection-recovery convention: the
candidate's period is within ``period_tol`` (1 %) of the injected period and
its epoch lies within one transit duration of an injected transit, so a
candidate at an alias of the period, or at the right period but another
phase, does not count as recovered.
"""

from __future__ import annotations

from typing import Dict, List

import numpy as np

__all__ = ["match_injections", "recovery_summary"]


def _epoch_ok(t0_found: float, t0_true: float, period: float, duration_days: float) -> bool:
    dphase = ((t0_found - t0_true) / period + 0.5) % 1.0 - 0.5
    return abs(dphase * period) <= duration_days


def match_injections(candidates: List[Dict], truth: List[Dict], period_tol: float = 0.01) -> List[Dict]:
    """For each injected signal, the first candidate of its star that recovers it.

    Parameters
    ----------
    candidates : list of dict
        Rows with ``tic_id, period_days, t0_btjd, duration_hours`` (CANDIDATES_SCHEMA).
    truth : list of dict
        ``truth.csv`` rows with ``tic_id, class, period_days, t0_btjd, duration_hours``.

    Returns
    -------
    list of dict
        One entry per injected signal with a period: the truth row plus
        ``recovered`` (bool) and ``candidate_index`` (or None).
    """
    by_star: Dict[int, List[Dict]] = {}
    for c in candidates:
        by_star.setdefault(int(c["tic_id"]), []).append(c)
    out = []
    for tr in truth:
        p = tr.get("period_days")
        if p is None or not np.isfinite(p):
            continue
        hit = None
        for c in by_star.get(int(tr["tic_id"]), []):
            if abs(c["period_days"] - p) / p <= period_tol and _epoch_ok(
                c["t0_btjd"], tr["t0_btjd"], p, max(tr["duration_hours"], c["duration_hours"]) / 24.0
            ):
                hit = c
                break
        out.append(dict(tr, recovered=hit is not None, candidate_index=None if hit is None else hit["candidate_index"]))
    return out


def recovery_summary(matches: List[Dict], classes=("planet", "multi_planet")) -> Dict[str, float]:
    """Counts and fraction of recovered signals of the given classes."""
    sel = [m for m in matches if m.get("class") in classes]
    n = len(sel)
    k = sum(m["recovered"] for m in sel)
    return {"injected": n, "recovered": k, "fraction": (k / n) if n else float("nan")}
