"""Single transit events: high-scoring anomaly windows turned into candidate rows.

A periodic search needs two or more transits in a sector; a long-period
planet shows one.  Here every window of a preprocessed light curve is given
an anomaly score (:func:`exoray.anomaly.scoring.score_windows`); windows whose
score stands out from the light curve's own score distribution (a robust
z-score above ``threshold``) are merged into regions, and in each region:

1. a box matched filter over durations of 0.5 h up to 12 h finds the most
   significant *dip* in the flattened flux (flares and other upward
   anomalies are not transits and are dropped);
2. the trapezoid of :func:`exoray.vet.shape.transit_shape` is fitted to it
   (one event: a period far longer than the data), giving the centre, depth,
   T14, ingress fraction and their errors;
3. the event is kept if its SNR ``depth / sigma * sqrt(n_in)`` is at least
   ``min_snr`` and no periodic candidate of the same star predicts a transit
   at that time (so a planet already found by BLS is not reported twice).

Rows follow :data:`exoray.vet.records.CANDIDATES_SCHEMA` with
``single_event=True``, ``period_days=NaN``, ``n_transits=1`` and
``disposition="single_event"``.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ConfigError, InputError
from ..models.windows import BIN_MINUTES, windows_from_lightcurve
from ..stats import robust_std, robust_z
from ..vet.records import CANDIDATE_FEATURES
from ..vet.shape import transit_shape
from .scoring import score_windows

__all__ = ["single_event_candidates", "explained_by_periodic", "find_dip", "DEFAULT_THRESHOLD"]

log = logging.getLogger(__name__)

#: default robust-z threshold on the per-light-curve anomaly scores (low on purpose: the
#: anomaly score only proposes regions; the fitted dip SNR >= min_snr decides. The OCSVM
#: score saturates far from its support vectors, so a high z threshold would miss deep events)
DEFAULT_THRESHOLD = 3.0
_DURATIONS_H = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0)


def explained_by_periodic(tc: float, duration_days: float, periodic_rows: Sequence[Dict[str, Any]]) -> bool:
    """True when a row of ``periodic_rows`` predicts a transit overlapping ``tc``.

    A periodic row (``period_days`` finite) predicts transits at
    ``t0 + n P``; a row without a period (another single event) at ``t0``.
    Overlap: centres closer than half the sum of the two durations (plus one
    hour of timing slack).
    """
    for r in periodic_rows or ():
        t0 = r.get("t0_btjd")
        if t0 is None or not math.isfinite(float(t0)):
            continue
        dur = float(r.get("duration_hours") or 0.0) / 24.0
        dur = dur if math.isfinite(dur) else 0.0
        tol = 0.5 * (dur + duration_days) + 1.0 / 24.0
        p = r.get("period_days")
        p = float(p) if p is not None else float("nan")
        if math.isfinite(p) and p > 0:
            d = abs((tc - float(t0) + 0.5 * p) % p - 0.5 * p)
        else:
            d = abs(tc - float(t0))
        if d <= tol:
            return True
    return False


def find_dip(time: np.ndarray, flux: np.ndarray, sigma: float, cadence_days: float,
             durations_hours: Sequence[float] = _DURATIONS_H) -> Optional[Dict[str, float]]:
    """Most significant box-shaped dip in ``(time, flux)`` (a short stretch of one light curve).

    For each duration the in-box mean is compared with the median of the
    flux on both sides (one duration wide, at least 1 h); ``snr = depth /
    sigma * sqrt(n_in)``.  Boxes that straddle a data gap (fewer than 80 %
    of the expected cadences) are skipped.

    Returns
    -------
    dict or None
        ``tc, duration, depth, snr, n_in`` (days, relative flux), or None
        when no box fits in the data.
    """
    t = np.asarray(time, float)
    f = np.asarray(flux, float)
    ok = np.isfinite(t) & np.isfinite(f)
    t, f = t[ok], f[ok]
    if t.size < 10 or not sigma > 0:
        return None
    cs = np.concatenate([[0.0], np.cumsum(f)])
    best = None
    for dh in durations_hours:
        d = dh / 24.0
        n_exp = d / cadence_days
        if n_exp < 3 or d > 0.5 * (t[-1] - t[0]):
            continue
        lo = np.searchsorted(t, t - 0.5 * d, "left")
        hi = np.searchsorted(t, t + 0.5 * d, "right")
        n_in = hi - lo
        good = n_in >= 0.8 * n_exp
        if not good.any():
            continue
        mean_in = np.where(good, (cs[hi] - cs[lo]) / np.maximum(n_in, 1), np.nan)
        side = max(d, 1.0 / 24.0)
        # local baseline: median of the two flanks, evaluated on a coarse grid of centres
        base = np.full(t.size, np.nan)
        step = max(1, int(n_exp // 4))
        idx = np.arange(0, t.size, step)
        for i in idx:
            if not good[i]:
                continue
            a0 = np.searchsorted(t, t[i] - 0.5 * d - side, "left")
            b1 = np.searchsorted(t, t[i] + 0.5 * d + side, "right")
            flank = np.concatenate([f[a0:lo[i]], f[hi[i]:b1]])
            if flank.size >= 0.5 * n_exp:
                base[i] = np.median(flank)
        sel = idx[np.isfinite(base[idx]) & good[idx]]
        if sel.size == 0:
            continue
        depth = base[sel] - mean_in[sel]
        snr = depth / sigma * np.sqrt(n_in[sel])
        k = int(np.argmax(snr))
        if best is None or snr[k] > best["snr"]:
            i = int(sel[k])
            best = {"tc": float(t[i]), "duration": float(d), "depth": float(depth[k]), "snr": float(snr[k]),
                    "n_in": int(n_in[i])}
    return best


def _segments_edges(time: np.ndarray, gap_days: float) -> np.ndarray:
    dt = np.diff(time)
    brk = np.nonzero(dt > gap_days)[0]
    return np.concatenate([[time[0]], time[brk], time[brk + 1], [time[-1]]])


def single_event_candidates(plc, periodic_rows: Sequence[Dict[str, Any]] = (), method: str = "combined",
                            threshold: Optional[float] = None, *, registry=None, min_snr: float = 7.0,
                            max_events: int = 3, scores: Optional[np.ndarray] = None
                            ) -> List[Dict[str, Any]]:
    """Single-transit candidate rows of one preprocessed light curve.

    Parameters
    ----------
    plc : PreprocessedLightCurve
    periodic_rows : sequence of dict
        Candidate rows already found for this light curve (e.g. by
        :func:`exoray.search.candidates.find_candidates`); events they
        explain are skipped and the new rows' ``candidate_index`` continue
        after theirs.
    method : str
        Anomaly method of :func:`~exoray.anomaly.scoring.score_windows`.
    threshold : float, optional
        Robust z-score (median / 1.4826 MAD of this light curve's window
        scores) above which a window is examined (default
        :data:`DEFAULT_THRESHOLD`).
    registry : folder, optional
        Model registry.
    min_snr : float
        Minimum SNR of the fitted dip.
    max_events : int
        At most this many events per light curve (the strongest).
    scores : array, optional
        Precomputed window scores (same windows as
        :func:`exoray.models.windows.windows_from_lightcurve`); skips scoring.

    Returns
    -------
    list of dict
        CANDIDATES rows (``single_event=True``), strongest first; extra keys
        ``anomaly_score`` / ``anomaly_z`` / ``anomaly_method`` are ignored by
        the Parquet writer.
    """
    thr = DEFAULT_THRESHOLD if threshold is None else float(threshold)
    if not thr > 0:
        raise ConfigError(f"single-event threshold must be > 0, got {threshold}")
    if min_snr <= 0 or max_events < 1:
        raise ConfigError("need min_snr > 0 and max_events >= 1")
    windows, starts = windows_from_lightcurve(plc)
    windows = np.asarray(windows)
    starts = np.asarray(starts, float)
    if windows.shape[0] < 3:
        return []
    s = score_windows(windows, method, registry) if scores is None else np.asarray(scores, float)
    if s.shape[0] != windows.shape[0]:
        raise InputError(f"{s.shape[0]} scores for {windows.shape[0]} windows")
    z = robust_z(s)
    hot = np.nonzero(z >= thr)[0]
    if hot.size == 0:
        return []

    t_all = np.asarray(plc.time, float)
    f_all = np.asarray(plc.flux_flat, float)
    e_all = np.asarray(plc.flux_err, float) if plc.flux_err is not None else None
    ok = np.isfinite(t_all) & np.isfinite(f_all)
    t, f = t_all[ok], f_all[ok]
    e = e_all[ok] if e_all is not None else None
    order = np.argsort(t, kind="stable")
    t, f = t[order], f[order]
    e = e[order] if e is not None else None
    if e is not None and not np.all(np.isfinite(e) & (e > 0)):
        e = None
    cadence = float(plc.cadence_s or 120.0) / 86400.0
    span = windows.shape[1] * BIN_MINUTES / 1440.0  # a window covers WINDOW_LENGTH 10-min bins
    sigma = robust_std(f)
    if not sigma > 0:
        return []

    # merge overlapping hot windows into regions; keep each region's peak z
    regions: List[Tuple[float, float, float, float]] = []
    for i in hot[np.argsort(starts[hot])]:
        a, b = starts[i], starts[i] + span
        if regions and a <= regions[-1][1]:
            ra, rb, rz, rs = regions[-1]
            regions[-1] = (ra, max(rb, b), max(rz, z[i]), max(rs, s[i]))
        else:
            regions.append((a, b, float(z[i]), float(s[i])))
    regions.sort(key=lambda r: -r[2])

    dumps = np.asarray(getattr(plc, "momentum_dump_times", None) if getattr(plc, "momentum_dump_times", None)
                       is not None else [], float)
    edges = _segments_edges(t, 0.5) if t.size else np.array([])
    next_index = 1 + max([int(r.get("candidate_index", -1)) for r in periodic_rows or ()] + [-1])
    rows: List[Dict[str, Any]] = []
    seen: List[Tuple[float, float]] = []
    for a, b, zpk, spk in regions:
        pad = 0.25 * span
        m = (t >= a - pad) & (t <= b + pad)
        dip = find_dip(t[m], f[m], sigma, cadence)
        if dip is None or dip["snr"] < min_snr or dip["depth"] <= 0:
            continue
        tc, dur = dip["tc"], dip["duration"]
        # trapezoid fit on the event, as a single transit (period >> data span)
        fit_m = np.abs(t - tc) < 2.5 * dur + 2.0 / 24.0
        period = max(1e3, 10.0 * float(t[-1] - t[0]))
        shp = transit_shape(t[fit_m], f[fit_m], None if e is None else e[fit_m], period, tc, dur, window=2.0)
        flags = ["single_event"]
        if shp.get("reason") is None and math.isfinite(shp["depth"]) and shp["depth"] > 0:
            tc = tc + float(shp["tc_offset"])
            dur = float(shp["total_duration"])
            depth, depth_err = float(shp["depth"]), float(shp["depth_err"])
            dur_err = float(shp["total_duration_err"])
            ingress, v_shape, chi2 = float(shp["ingress_fraction"]), float(shp["value"]), float(shp["chi2_red"])
            if shp.get("flag"):
                flags.append("v_shape")
        else:  # the box measurement stands; say so
            flags.append("box_fit_only")
            depth, depth_err = dip["depth"], sigma / math.sqrt(max(dip["n_in"], 1))
            dur_err = ingress = v_shape = chi2 = float("nan")
        n_in = int(np.sum(np.abs(t - tc) < 0.5 * dur))
        snr = depth / sigma * math.sqrt(max(n_in, 1))
        if snr < min_snr or depth <= 0:
            continue
        if any(abs(tc - tc2) < 0.5 * (dur + d2) for tc2, d2 in seen):
            continue
        if explained_by_periodic(tc, dur, periodic_rows):
            log.debug("TIC %s: event at %.4f explained by a periodic candidate", plc.tic_id, tc)
            seen.append((tc, dur))
            continue
        seen.append((tc, dur))
        dump_hit = float(bool(dumps.size) and np.min(np.abs(dumps - tc)) < 0.5 * dur + cadence)
        edge_dist = float(np.min(np.abs(edges - tc))) if edges.size else float("inf")
        edge_frac = float(np.clip((0.5 * dur - edge_dist) / dur + 0.0, 0.0, 1.0)) if edge_dist < 0.5 * dur else 0.0
        if dump_hit:
            flags.append("momentum_dump")
        if edge_dist < dur:
            flags.append("near_gap")
        rows.append(_row(plc, next_index + len(rows), tc, dur, dur_err, depth, depth_err, snr, ingress, v_shape,
                         chi2, dump_hit, edge_frac, flags, zpk, spk, method))
        if len(rows) >= max_events:
            break
    return rows


def _row(plc, k, tc, dur, dur_err, depth, depth_err, snr, ingress, v_shape, chi2, dump_hit, edge_frac,
         flags, zpk, spk, method) -> Dict[str, Any]:
    def fl(v):
        try:
            v = float(v)
        except (TypeError, ValueError):
            return float("nan")
        return v

    row: Dict[str, Any] = {name: float("nan") for name in CANDIDATE_FEATURES}
    row.update({
        "tic_id": plc.tic_id,
        "sector": plc.sector,
        "candidate_index": int(k),
        "period_days": float("nan"),
        "t0_btjd": float(tc),
        "duration_hours": 24.0 * float(dur),
        "depth_ppm": 1e6 * float(depth),
        "depth_err_ppm": 1e6 * float(depth_err),
        "duration_err_hours": 24.0 * float(dur_err),
        "snr": float(snr),
        "sde": float("nan"),
        "n_transits": 1,
        "odd_even_sigma": float("nan"),
        "secondary_sigma": float("nan"),
        "disposition": "single_event",
        "known_object": None,
        "vet_flags": ";".join(flags),
        "single_event": True,
        "source_path": plc.source_path,
        "mes": float(snr),
        "single_event_fraction": 1.0,
        "ingress_fraction": fl(ingress),
        "v_shape": fl(v_shape),
        "shape_chi2_red": fl(chi2),
        "depth_sigma": float(depth / depth_err) if depth_err and depth_err > 0 else float("nan"),
        "dump_coincidence": float(dump_hit),
        "edge_fraction": float(edge_frac),
        "noise_ppm": fl(plc.noise_ppm),
        "tmag": fl(plc.tmag),
        "teff": fl(plc.teff),
        "radius": fl(plc.radius),
        "logg": fl(plc.logg),
        # informational, not in the schema
        "anomaly_method": method,
        "anomaly_z": float(zpk),
        "anomaly_score": float(spk),
    })
    return row
