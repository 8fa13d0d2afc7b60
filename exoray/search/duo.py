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


class _Stretch:
    """One stretch of data (a sector) and the running sums that give any box's depth at once."""

    def __init__(self, t, y, w, durations):
        self.t = t
        self.dt = float(np.median(np.diff(t))) if t.size > 1 else 1.0
        self.beta = box_noise_factor(t, y, w, np.asarray(durations, np.float64))
        self.cw = np.concatenate([[0.0], np.cumsum(w)])
        self.cwy = np.concatenate([[0.0], np.cumsum(w * y)])

    def boxes(self, begin: np.ndarray, end: np.ndarray, k: int, d: float, min_fill: float = 0.75):
        """``(good, depth, err)`` of the boxes ``[begin, end)`` of trial duration ``k`` (``d`` days).

        A box needs ``min_fill`` of its expected cadences (``good``); the
        depth is one minus the weighted mean flux in it (the flux is
        flattened to 1), its error the formal one times the red-noise factor
        of that duration.  ``None`` when no box has enough data.
        """
        lo = np.searchsorted(self.t, begin, side="left")
        hi = np.searchsorted(self.t, end, side="left")
        good = (hi - lo) >= max(3.0, min_fill * d / self.dt)
        if not good.any():
            return None
        lo, hi = lo[good], hi[good]
        sw = self.cw[hi] - self.cw[lo]
        depth = 1.0 - (self.cwy[hi] - self.cwy[lo]) / sw
        return good, depth, self.beta[k] / np.sqrt(sw)

    def best_box(self, centre: float, k: int, d: float, reach: float, sector: int) -> Optional[SingleEvent]:
        """The strongest box of duration ``d`` (trial ``k``) centred within ``reach`` of ``centre``."""
        centres = np.arange(centre - reach, centre + reach + 1e-12, max(0.25 * d, self.dt))
        found = self.boxes(centres - 0.5 * d, centres + 0.5 * d, k, d)
        if found is None:
            return None
        good, depth, err = found
        i = int(np.argmax(depth / err))
        return SingleEvent(float(centres[good][i]), float(d), float(depth[i]), float(err[i]),
                           float(depth[i] / err[i]), sector)


def single_events(time, flux, ivar, durations: Sequence[float], *, sector: int = 0, n_events: int = 3,
                  min_fill: float = 0.75, step_fraction: float = 0.25) -> List[SingleEvent]:
    """The ``n_events`` strongest non-overlapping box dips of one stretch of data.

    Boxes of each duration are laid every ``step_fraction`` of it and
    measured by :meth:`_Stretch.boxes`.
    """
    t = np.asarray(time, np.float64)
    if t.size < 20:
        return []
    stretch = _Stretch(t, np.asarray(flux, np.float64), np.asarray(ivar, np.float64), durations)
    cand = []
    for k, d in enumerate(durations):
        starts = np.arange(t[0], t[-1] - d, max(step_fraction * d, stretch.dt))
        if starts.size == 0:
            continue
        found = stretch.boxes(starts, starts + d, k, d, min_fill)
        if found is None:
            continue
        good, depth, err = found
        st = starts[good]
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


def _common_duration(a: SingleEvent, b: SingleEvent, stretches, durations, max_depth_sigma: float):
    """Both events re-measured at the one duration that makes the pair strongest, depths agreeing.

    Each event on its own takes the box that suits its own noise best, and
    red noise can stretch or shrink it; one planet has one duration (and
    both transits one impact parameter), so the pair is judged at a
    shared one.  ``None`` when no duration gives agreeing depths.
    """
    best = None
    for k, d in enumerate(durations):
        ea = stretches[a.sector].best_box(a.t0, k, d, 0.5 * max(a.duration, d), a.sector)
        eb = stretches[b.sector].best_box(b.t0, k, d, 0.5 * max(b.duration, d), b.sector)
        if ea is None or eb is None or ea.snr <= 0 or eb.snr <= 0:
            continue
        if abs(ea.depth - eb.depth) > max_depth_sigma * np.hypot(ea.depth_err, eb.depth_err):
            continue
        if best is None or np.hypot(ea.snr, eb.snr) > np.hypot(best[0].snr, best[1].snr):
            best = (ea, eb)
    return best


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
    y, w = np.asarray(flux, np.float64), np.asarray(ivar, np.float64)
    sec = np.asarray(cadence_sector)
    durations = np.asarray(durations, np.float64)
    events: List[SingleEvent] = []
    stretches = {}
    for s in np.unique(sec):
        sel = sec == s
        if sel.sum() < 20:
            continue
        stretches[int(s)] = _Stretch(t[sel], y[sel], w[sel], durations)
        events += [e for e in single_events(t[sel], y[sel], w[sel], durations, sector=int(s))
                   if e.snr >= min_event_snr]
    pairs: List[DuoTransit] = []
    for i, a0 in enumerate(events):
        for b0 in events[i + 1:]:
            if a0.sector == b0.sector:
                continue
            a, b = a0, b0
            if max(a.duration, b.duration) > max_duration_ratio * min(a.duration, b.duration) or \
                    abs(a.depth - b.depth) > max_depth_sigma * np.hypot(a.depth_err, b.depth_err):
                common = _common_duration(a, b, stretches, durations, max_depth_sigma)
                if common is None:
                    continue
                a, b = common
            if min(a.snr, b.snr) < min_event_snr:
                continue
            first, second = (a, b) if a.t0 < b.t0 else (b, a)
            snr = float(np.hypot(a.snr, b.snr))
            if snr < min_snr:
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
    for d in pairs:  # each event in one duo at most (re-measured events overlap their originals)
        if any(abs(e.t0 - x.t0) < 0.5 * (e.duration + x.duration) for e in used for x in (d.first, d.second)):
            continue
        used += [d.first, d.second]
        out.append(d)
    return out
