"""Period aliases: TESS systematics, and the signal at P/2 and 2P."""

from __future__ import annotations

import logging
import math
from typing import List, Optional, Sequence

import numpy as np

from ._common import (
    VetResult,
    as_1d,
    check_ephemeris,
    combine_events,
    per_epoch_contrast,
    prepare,
)
from ..errors import InputError

__all__ = [
    "TESS_ORBIT_DAYS",
    "period_alias_checks",
    "half_double_period_check",
    "edge_transit_check",
]

log = logging.getLogger(__name__)

#: TESS orbital period (days); spacecraft perigee, data downlink gaps and
#: scattered-light patterns repeat on it (Ricker et al. 2015).
TESS_ORBIT_DAYS = 13.7

_ORBIT_RATIOS = ((1, 4), (1, 3), (1, 2), (1, 1), (2, 1))
_DAY_RATIOS = ((1, 2), (1, 1), (2, 1))


def _ratio_label(num: int, den: int) -> str:
    return "x1" if num == den else (f"x{num}" if den == 1 else f"x{num}/{den}")


def period_alias_checks(
    period: float,
    *,
    t0: Optional[float] = None,
    duration: Optional[float] = None,
    dump_times: Optional[Sequence[float]] = None,
    rel_tol: float = 0.02,
    orbit_period: float = TESS_ORBIT_DAYS,
) -> VetResult:
    """Is the period close to a known TESS systematic?

    Checked: the spacecraft orbit (13.7 d) times 1/4, 1/3, 1/2, 1, 2 (gaps,
    perigee heating, scattered light); one day and its x1/2, x2 (Earth-shine
    scattered light has a 1-d modulation); and, when ``dump_times`` are
    given (times of reaction-wheel momentum dumps, SPOC quality bit 32 /
    ``Desaturation event``), the median spacing between dumps times 1/2, 1,
    2, 3.  When ``t0`` and ``duration`` are also given, the fraction of
    transit epochs (over the span of the dumps) lying within half a
    duration + 1 h of a dump is reported.  Thompson et al. (2018) and
    Coughlin et al. (2016) reject TCEs with such ephemerides as systematics.

    Parameters
    ----------
    period : float
        Candidate period (days).
    t0, duration : float, optional
        Epoch (same time system as ``dump_times``) and duration (days).
    dump_times : array_like, optional
        Momentum-dump times (days).
    rel_tol : float
        Fractional period tolerance (default 2%: a single sector's BLS
        period is good to a few tenths of a percent, and the orbit itself
        varies by a few percent).
    orbit_period : float
        Spacecraft orbit (days).

    Returns
    -------
    VetResult
        ``matches``: list of dicts (``systematic``, ``ratio``,
        ``alias_period``, ``rel_diff``); ``orbit_match``: the period is the
        orbit x1/2, x1 or x2 (the strongest instrumental cases);
        ``dump_period`` (days or NaN); ``dump_coincidence``: fraction of
        transits at a dump (NaN if not computable); ``value``: smallest
        relative difference found; ``flag``: any match or
        ``dump_coincidence >= 0.5``.

    Raises
    ------
    InputError
        Non-positive period or tolerance.
    """
    period, _, _ = check_ephemeris(period, 0.0 if t0 is None else t0, duration)
    if not (rel_tol > 0):
        raise InputError(f"'rel_tol' must be positive, got {rel_tol!r}")
    refs = [(f"TESS orbit {orbit_period:g} d", orbit_period, r) for r in _ORBIT_RATIOS]
    refs += [("1 day", 1.0, r) for r in _DAY_RATIOS]
    dump_period = float("nan")
    dumps = None
    if dump_times is not None:
        dumps = np.sort(as_1d(dump_times, "dump_times"))
        dumps = dumps[np.isfinite(dumps)]
        if dumps.size >= 2:
            dump_period = float(np.median(np.diff(dumps)))
            refs += [("momentum dumps", dump_period, r) for r in ((1, 2), (1, 1), (2, 1), (3, 1))]
    matches: List[dict] = []
    best = float("inf")
    for name, base, (num, den) in refs:
        alias = base * num / den
        rd = abs(period / alias - 1.0)
        best = min(best, rd)
        if rd <= rel_tol:
            matches.append(dict(systematic=name, ratio=_ratio_label(num, den),
                                alias_period=alias, rel_diff=rd))
    orbit_match = any(
        m["systematic"].startswith("TESS orbit") and m["ratio"] in ("x1/2", "x1", "x2") for m in matches
    )
    coincidence = float("nan")
    if dumps is not None and dumps.size and t0 is not None and duration is not None:
        n0 = math.floor((dumps[0] - t0) / period)
        n1 = math.ceil((dumps[-1] - t0) / period)
        tcs = t0 + period * np.arange(n0, n1 + 1)
        tcs = tcs[(tcs >= dumps[0] - duration) & (tcs <= dumps[-1] + duration)]
        if tcs.size:
            j = np.searchsorted(dumps, tcs)
            near = np.minimum(
                np.abs(tcs - dumps[np.clip(j - 1, 0, dumps.size - 1)]),
                np.abs(tcs - dumps[np.clip(j, 0, dumps.size - 1)]),
            )
            coincidence = float(np.mean(near < 0.5 * duration + 1.0 / 24.0))
    flag = bool(matches) or (np.isfinite(coincidence) and coincidence >= 0.5)
    return VetResult(
        test="period_alias",
        measured="closeness of the period to TESS systematics",
        period=period, matches=matches, orbit_match=orbit_match,
        dump_period=dump_period, dump_coincidence=coincidence,
        value=float(best), significance=float("nan"), flag=bool(flag), reason=None,
    )


def half_double_period_check(
    time,
    flux,
    flux_err,
    period: float,
    t0: float,
    duration: float,
    *,
    threshold: float = 3.0,
    min_points: int = 3,
) -> VetResult:
    """Compare the signal at P with the signal at P/2 and 2P.

    * **2P**: the depths at phase 0 and phase 0.5 of 2P are the even- and
      odd-epoch depths at P.  If one is significant and the other consistent
      with zero, the true period is 2P (every other "transit" is empty).
    * **P/2**: the depth at ``t0 + (n + 1/2) P`` (half phase).  A significant
      dip there comparable to the primary means the true period may be P/2
      (a planet at P/2, or an EB with twin eclipses).

    Parameters
    ----------
    time, flux, flux_err : array_like
        Times (days), detrended normalised flux, errors (or ``None``).
    period, t0, duration : float
        Ephemeris (days).
    threshold : float
        Significance (sigma) for "a dip is there" / "consistent with zero".
    min_points : int
        Minimum in-transit points per event.

    Returns
    -------
    VetResult
        ``depth``, ``depth_err`` (all events at P); ``depth_2p_even``,
        ``depth_2p_odd`` (+ ``_err``); ``depth_half_phase``,
        ``depth_half_phase_err``, ``sigma_half_phase``; ``half_ratio``
        (half-phase / primary depth); ``true_period_2p``,
        ``true_period_half`` (bools); ``value``: ``half_ratio``;
        ``significance``: ``sigma_half_phase``; ``flag``: either bool.

    Raises
    ------
    InputError
        Bad arrays or ephemeris.
    """
    period, t0, duration = check_ephemeris(period, t0, duration)
    t, f, e = prepare(time, flux, flux_err)
    nan = float("nan")
    ev = per_epoch_contrast(t, f, e, period, t0, duration, min_in=min_points, min_oot=min_points)
    hv = per_epoch_contrast(t, f, e, period, t0, duration, center=0.5, min_in=min_points,
                            min_oot=min_points)
    d, de = combine_events(ev["contrast"], ev["error"])
    even = (ev["epoch"] % 2) == 0
    d_e, de_e = combine_events(ev["contrast"][even], ev["error"][even])
    d_o, de_o = combine_events(ev["contrast"][~even], ev["error"][~even])
    d_h, de_h = combine_events(hv["contrast"], hv["error"])
    sig_h = d_h / de_h if np.isfinite(de_h) and de_h > 0 else nan
    ratio = d_h / d if np.isfinite(d) and d > 0 else nan
    s_e = d_e / de_e if np.isfinite(de_e) and de_e > 0 else nan
    s_o = d_o / de_o if np.isfinite(de_o) and de_o > 0 else nan
    true_2p = bool(
        np.isfinite(s_e) and np.isfinite(s_o)
        and ((s_e > threshold + 2 and abs(s_o) < threshold) or (s_o > threshold + 2 and abs(s_e) < threshold))
    )
    true_half = bool(np.isfinite(sig_h) and sig_h > threshold and np.isfinite(ratio) and ratio > 0.5)
    reason = None
    if ev["epoch"].size == 0:
        reason = "no transit has data"
    return VetResult(
        test="half_double_period",
        measured="depths at P, 2P (phases 0 and 0.5) and at the half phase of P",
        depth=d, depth_err=de,
        depth_2p_even=d_e, depth_2p_even_err=de_e,
        depth_2p_odd=d_o, depth_2p_odd_err=de_o,
        depth_half_phase=d_h, depth_half_phase_err=de_h, sigma_half_phase=float(sig_h),
        half_ratio=float(ratio), true_period_2p=true_2p, true_period_half=true_half,
        value=float(ratio), significance=float(sig_h), flag=bool(true_2p or true_half),
        reason=reason,
    )


def edge_transit_check(
    time,
    period: float,
    t0: float,
    duration: float,
    *,
    segment=None,
    dump_times: Optional[Sequence[float]] = None,
    gap_days: float = 0.5,
    edge_days: Optional[float] = None,
) -> VetResult:
    """Fraction of transits at the edge of a data segment or at a momentum dump.

    Ramps after data gaps (thermal settling after downlinks) and pointing
    excursions at momentum dumps make transit-like dips that repeat at the
    gap/dump cadence; a signal whose every event sits on such an edge is
    instrumental (Thompson et al. 2018, sec. A.3; Twicken et al. 2018).

    Parameters
    ----------
    time : array_like
        Cadence times (days); NaNs ignored.
    period, t0, duration : float
        Ephemeris (days).
    segment : array_like of int, optional
        Segment number per cadence (as in
        :class:`~exoray.lightcurve.PreprocessedLightCurve`); otherwise
        segments are split at gaps longer than ``gap_days``.
    dump_times : array_like, optional
        Momentum-dump times (days).
    gap_days : float
        Gap length that separates segments when ``segment`` is not given.
    edge_days : float, optional
        A transit is "at an edge" when its centre is within this of a
        segment start/end (default ``duration + 0.1`` d) or within half a
        duration + 1 h of a dump.

    Returns
    -------
    VetResult
        ``n_transits`` (with any data within one duration), ``n_at_edge``,
        ``value``: fraction at edges, ``flag``: all transits at edges (with at
        least one transit).

    Raises
    ------
    InputError
        Bad arrays or ephemeris.
    """
    period, t0, duration = check_ephemeris(period, t0, duration)
    t = as_1d(time, "time")
    if segment is not None:
        seg = np.asarray(segment)
        if seg.shape != t.shape:
            raise InputError(f"'segment' has {seg.size} values but 'time' has {t.size}")
    ok = np.isfinite(t)
    t = t[ok]
    order = np.argsort(t)
    t = t[order]
    if segment is not None:
        seg = seg[ok][order]
        cut = np.nonzero(np.diff(seg) != 0)[0]
    else:
        cut = np.nonzero(np.diff(t) > gap_days)[0]
    edges = np.sort(np.concatenate([t[:1], t[cut], t[cut + 1], t[-1:]])) if t.size else np.array([])
    edge_days = duration + 0.1 if edge_days is None else float(edge_days)
    res = VetResult(test="edge_transits", measured="transits at segment edges or momentum dumps",
                    n_transits=0, n_at_edge=0, value=float("nan"), significance=float("nan"),
                    flag=False, reason=None)
    if t.size == 0:
        res["reason"] = "no finite times"
        return res
    n0 = math.floor((t[0] - t0) / period)
    n1 = math.ceil((t[-1] - t0) / period)
    tcs = t0 + period * np.arange(n0, n1 + 1)
    lo = np.searchsorted(t, tcs - duration)
    hi = np.searchsorted(t, tcs + duration)
    tcs = tcs[hi > lo]
    if tcs.size == 0:
        res["reason"] = "no transit has data"
        return res
    d_edge = np.min(np.abs(tcs[:, None] - edges[None, :]), axis=1)
    at = d_edge < edge_days
    if dump_times is not None:
        dumps = as_1d(dump_times, "dump_times")
        dumps = dumps[np.isfinite(dumps)]
        if dumps.size:
            d_dump = np.min(np.abs(tcs[:, None] - dumps[None, :]), axis=1)
            at |= d_dump < 0.5 * duration + 1.0 / 24.0
    frac = float(np.mean(at))
    res.update(n_transits=int(tcs.size), n_at_edge=int(at.sum()), value=frac,
               flag=bool(at.all()))
    return res
