"""Duo-transits: one transit in each of two sectors.

A planet on an orbit longer than a sector can show a single transit in one
sector and another in a sector months or years later.  No periodic search
of either sector sees it, and a periodic search of the joined light curve
only if it happens to sample the right alias.  The TESS community finds
such "duotransits" by pairing single events of matching depth and duration
and listing the periods the data still allow: ``P = gap / n`` for every
``n`` whose other predicted transits fall where there are no data or where
the data do not rule a transit out (e.g. Hawthorn et al. 2024, MNRAS 528,
1841; Gill et al. 2020 for the single-transit hunt).

:func:`single_events` finds the strongest box-shaped dips of one sector;
:func:`duo_transits` pairs them across sectors and works out the allowed
periods.  The statistic is the same red-noise box SNR the periodic search
uses (:func:`exoray.search.noise.box_noise_factor`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np

from .noise import box_noise_factor

log = logging.getLogger(__name__)

__all__ = ["SingleEvent", "DuoTransit", "single_events", "duo_transits", "allowed_periods"]


@dataclass
class SingleEvent:
    """A box-shaped dip: centre, duration [d], depth (relative), its error and SNR, and its sector."""

    t0: float
    duration: float
    depth: float
    depth_err: float
    snr: float
    sector: int


@dataclass
class DuoTransit:
    """Two single events in different sectors that may be one planet."""

    first: SingleEvent
    second: SingleEvent
    snr: float
    depth: float
    depth_err: float
    duration: float
    periods: np.ndarray = field(default_factory=lambda: np.array([]))


def single_events(time, flux, ivar, durations: Sequence[float], *, sector: int = 0, n_events: int = 3,
                  min_fill: float = 0.75, step_fraction: float = 0.25) -> List[SingleEvent]:
    """The ``n_events`` strongest non-overlapping box dips of one stretch of data.

    Boxes of each duration are laid every ``step_fraction`` of it; a box
    needs ``min_fill`` of its expected cadences.  The depth is one minus the
    weighted mean flux in the box (the flux is flattened to 1), its error
    the formal one times the red-noise factor of that duration.
    """
    t = np.asarray(time, np.float64)
    y = np.asarray(flux, np.float64)
    w = np.asarray(ivar, np.float64)
    if t.size < 20:
        return []
    dt = float(np.median(np.diff(t)))
    beta = box_noise_factor(t, y, w, np.asarray(durations, np.float64))
    cw = np.concatenate([[0.0], np.cumsum(w)])
    cwy = np.concatenate([[0.0], np.cumsum(w * y)])
    cand = []
    for d, b in zip(durations, beta):
        starts = np.arange(t[0], t[-1] - d, max(step_fraction * d, dt))
        if starts.size == 0:
            continue
        lo = np.searchsorted(t, starts, side="left")
        hi = np.searchsorted(t, starts + d, side="left")
        good = (hi - lo) >= max(3.0, min_fill * d / dt)
        if not good.any():
            continue
        lo, hi, st = lo[good], hi[good], starts[good]
        sw = cw[hi] - cw[lo]
        depth = 1.0 - (cwy[hi] - cwy[lo]) / sw
        err = b / np.sqrt(sw)
        snr = depth / err
        for i in np.argsort(-snr)[: 4 * n_events]:
            cand.append(SingleEvent(float(st[i] + 0.5 * d), float(d), float(depth[i]), float(err[i]),
                                    float(snr[i]), int(sector)))
    cand.sort(key=lambda e: -e.snr)
    kept: List[SingleEvent] = []
    for e in cand:
        if e.snr <= 0:
            break
        if all(abs(e.t0 - k.t0) > 0.5 * (e.duration + k.duration) for k in kept):
            kept.append(e)
        if len(kept) >= n_events:
            break
    return kept


def allowed_periods(time, flux, ivar, first: SingleEvent, second: SingleEvent, *, min_period: float,
                    max_aliases: int = 2000, min_coverage: float = 0.5, reject_sigma: float = 3.0) -> np.ndarray:
    """Periods ``gap / n`` (longest first) that the data do not rule out.

    An alias is ruled out when one of its other predicted transits has data
    (at least ``min_coverage`` of its cadences) showing a mean depth more
    than ``reject_sigma`` below the duo's depth.  Periods shorter than
    ``min_period`` are not listed.
    """
    t = np.asarray(time, np.float64)
    y = np.asarray(flux, np.float64)
    w = np.asarray(ivar, np.float64)
    gap = second.t0 - first.t0
    dur = 0.5 * (first.duration + second.duration)
    depth = 0.5 * (first.depth + second.depth)
    dt = float(np.median(np.diff(t))) if t.size > 1 else dur
    cw = np.concatenate([[0.0], np.cumsum(w)])
    cwy = np.concatenate([[0.0], np.cumsum(w * y)])
    out = []
    n_max = int(min(max_aliases, np.floor(gap / max(min_period, 1e-9))))
    for n in range(1, n_max + 1):
        p = gap / n
        k = np.arange(np.floor((t[0] - first.t0) / p) - 1, np.ceil((t[-1] - first.t0) / p) + 2)
        centres = first.t0 + k * p
        centres = centres[(np.abs(centres - first.t0) > 0.5 * dur) & (np.abs(centres - second.t0) > 0.5 * dur)]
        lo = np.searchsorted(t, centres - 0.5 * dur)
        hi = np.searchsorted(t, centres + 0.5 * dur)
        covered = (hi - lo) >= min_coverage * dur / dt
        ok = True
        if covered.any():
            sw = cw[hi[covered]] - cw[lo[covered]]
            d = 1.0 - (cwy[hi[covered]] - cwy[lo[covered]]) / sw
            ok = not np.any(d < depth - reject_sigma / np.sqrt(sw))
        if ok:
            out.append(p)
    return np.asarray(out)


def duo_transits(time, flux, ivar, cadence_sector, durations: Sequence[float], *, min_event_snr: float,
                 min_snr: float, min_period: float, max_depth_sigma: float = 3.0,
                 max_duration_ratio: float = 1.5) -> List[DuoTransit]:
    """Pairs of single events in different sectors with matching depth and duration, strongest first.

    Each event needs an SNR of ``min_event_snr`` and the pair ``min_snr``
    (in quadrature); depths must agree within ``max_depth_sigma`` and
    durations within ``max_duration_ratio``; at least one period
    ``>= min_period`` must be allowed (:func:`allowed_periods`).
    """
    t = np.asarray(time, np.float64)
    sec = np.asarray(cadence_sector)
    events: List[SingleEvent] = []
    for s in np.unique(sec):
        sel = sec == s
        events += [e for e in single_events(t[sel], np.asarray(flux)[sel], np.asarray(ivar)[sel], durations,
                                            sector=int(s)) if e.snr >= min_event_snr]
    pairs: List[DuoTransit] = []
    for i, a in enumerate(events):
        for b in events[i + 1:]:
            if a.sector == b.sector:
                continue
            first, second = (a, b) if a.t0 < b.t0 else (b, a)
            snr = float(np.hypot(a.snr, b.snr))
            if snr < min_snr:
                continue
            if abs(a.depth - b.depth) > max_depth_sigma * np.hypot(a.depth_err, b.depth_err):
                continue
            if max(a.duration, b.duration) > max_duration_ratio * min(a.duration, b.duration):
                continue
            periods = allowed_periods(t, flux, ivar, first, second, min_period=min_period)
            if periods.size == 0:
                continue
            wa, wb = 1.0 / a.depth_err**2, 1.0 / b.depth_err**2
            depth = (wa * a.depth + wb * b.depth) / (wa + wb)
            pairs.append(DuoTransit(first, second, snr, float(depth), float(1.0 / np.sqrt(wa + wb)),
                                    0.5 * (a.duration + b.duration), periods))
    pairs.sort(key=lambda d: -d.snr)
    used: List[SingleEvent] = []
    out = []
    for d in pairs:  # each event in one duo at most
        if any(e is d.first or e is d.second for e in used):
            continue
        used += [d.first, d.second]
        out.append(d)
    return out
