"""``preprocess_lightcurve``: raw :class:`LightCurve` -> :class:`PreprocessedLightCurve`.

Steps (all pure, no I/O):

1. quality mask (preset ``config.quality_mask`` for ``lc.mission``);
2. removal of non-finite time/flux/flux_err;
3. sort by time if needed (:class:`~exoray.errors.ExorayWarning`);
4. segments at gaps > ``break_tolerance_days``; segments with fewer than
   ``min_segment_points`` cadences are dropped;
5. per-segment median normalisation of flux and flux_err;
6. detrending (``biweight`` | ``savgol`` | ``none``) per segment; the
   biweight's window, and for fast rotators a rotation model under it, are
   chosen per star (:func:`exoray.preprocess.stellar.choose_detrend`) unless
   ``window_days`` fixes the window;
7. upper-outlier clipping on the residual from the trend (points more than
   ``sigma_upper`` robust sigmas above it).  The trend is *not* refitted: for
   the biweight a point more than ``cval * MAD`` (~3.4 sigma for cval = 5)
   from the location already has zero weight, so clipped points barely
   influenced it; the savgol fit is itself iteratively clipped;
8. optional edge cutoff (``edge_cutoff_days`` at each segment end);
9. statistics (counts, point-to-point noise in ppm, wall time).

:func:`redetrend` rebuilds the same trend with cadences masked (the
transits of a signal the search found), so that their depth is measured
without the share the detrender absorbed.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time as _time
from typing import Optional

import numpy as np

from ..astro import stellar_params
from ..config import PreprocessConfig
from ..errors import EmptyLightCurveError
from ..lightcurve import HEADER_KEYS, LightCurve, PreprocessedLightCurve
from .detrend import detrend_savgol
from .gaps import drop_short_segments, find_segments, renumber, segment_starts
from .normalize import (
    clip_upper_outliers,
    finite_mask,
    normalize_segments,
    quality_keep_mask,
    robust_std,
    sort_by_time,
)
from .stellar import choose_detrend
from .stitch import split_sectors

__all__ = ["preprocess_lightcurve", "redetrend", "MIN_USABLE_POINTS"]

log = logging.getLogger(__name__)

#: SPOC quality bit 32 (Desat): reaction-wheel desaturation (momentum dump).
#: Kepler uses the same bit for its desaturation events.
DESAT_BIT = 32

#: Fewer usable cadences than this after masking raise EmptyLightCurveError.
MIN_USABLE_POINTS = 100


def dump_events(times: np.ndarray, gap_days: float = 0.1) -> np.ndarray:
    """One time per momentum dump: flagged cadences closer than ``gap_days`` merge.

    SPOC flags several consecutive cadences around each desaturation; the
    vetting stage wants the events (spaced ~2.5-5 d in TESS).
    """
    t = np.sort(np.asarray(times, dtype=np.float64))
    if t.size == 0:
        return t
    starts = np.flatnonzero(np.r_[True, np.diff(t) > gap_days])
    return np.add.reduceat(t, starts) / np.diff(np.r_[starts, t.size])


def _edge_keep(t: np.ndarray, segment: np.ndarray, edge_days: float) -> np.ndarray:
    starts = segment_starts(segment)
    lo = np.repeat(t[starts[:-1]], np.diff(starts))
    hi = np.repeat(t[starts[1:] - 1], np.diff(starts))
    return (t >= lo + edge_days) & (t <= hi - edge_days)


def _star(lc):
    return stellar_params(lc.mass, lc.radius, lc.logg)


def _biweight_choice(lc, t, f, segment, cfg: PreprocessConfig, mask=None, fixed=None):
    mass, radius = _star(lc)
    if cfg.window_days is not None:
        windows, spacings = (cfg.window_days,), ()
    else:
        windows, spacings = cfg.candidate_windows_days, cfg.candidate_spline_spacings_days
    return choose_detrend(t, f, segment, mass=mass, radius=radius, windows=windows, spacings=spacings,
                          cval=cfg.biweight_cval,
                          rotation=cfg.rotation_model, rotation_max_period=cfg.rotation_max_period_days,
                          mask=mask, fixed=fixed)


def redetrend(plc: PreprocessedLightCurve, mask: np.ndarray,
              config: Optional[PreprocessConfig] = None) -> PreprocessedLightCurve:
    """``plc`` with its trend rebuilt, learning only from the cadences not in ``mask``.

    The method, window and rotation period recorded in ``plc`` are kept;
    masked cadences get the trend interpolated across them, so a transit
    masked here keeps its full depth in ``flux_flat``.  Light curves not
    detrended with the biweight or the spline are returned unchanged.
    """
    cfg = config if config is not None else PreprocessConfig()
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != plc.time.shape or not mask.any():
        return plc
    if plc.parts:
        return _redetrend_stitched(plc, mask, cfg)
    method = plc.detrend_method or ""
    window = plc.detrend_window_days
    if not method.endswith(("biweight", "spline")) or window is None or not math.isfinite(float(window)):
        return plc
    prot = plc.rotation_period_days
    prot = float(prot) if prot is not None and math.isfinite(float(prot)) else float("nan")
    choice = _biweight_choice(plc, plc.time, plc.flux, plc.segment, cfg, mask=mask,
                              fixed=(method, float(window), prot))
    trend = choice.trend
    good = np.isfinite(trend) & (trend > 0)
    trend = np.where(good, trend, plc.trend)
    return dataclasses.replace(plc, trend=trend, flux_flat=plc.flux / trend)


def _redetrend_stitched(plc: PreprocessedLightCurve, mask: np.ndarray, cfg: PreprocessConfig) -> PreprocessedLightCurve:
    """:func:`redetrend` of a stitched light curve: each sector with its own trend settings."""
    trend = plc.trend.copy()
    for part, sel in split_sectors(plc):
        if not mask[sel].any():
            continue
        one = dataclasses.replace(
            plc, **{k: (None if getattr(plc, k) is None else getattr(plc, k)[sel]) for k in plc.CADENCE_ARRAYS
                    if k != "cadence_sector"},
            cadence_sector=None, parts=None, sector=part.sector, source_path=part.source_path,
            detrend_method=part.detrend_method, detrend_window_days=part.detrend_window_days,
            rotation_period_days=part.rotation_period_days)
        trend[sel] = redetrend(one, mask[sel], cfg).trend
    return dataclasses.replace(plc, trend=trend, flux_flat=plc.flux / trend)


def _scatter_errors(flat: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Per-cadence errors from each segment's robust point-to-point scatter.

    For products without flux errors: the search weighs and scores boxes by
    the errors, and unit errors would make every SNR meaningless.  The
    scatter of successive differences (divided by sqrt 2) measures the white
    noise without the slow variability.
    """
    out = np.empty(flat.size)
    for s in np.unique(segment):
        sel = segment == s
        d = np.diff(flat[sel])
        sigma = robust_std(d) / np.sqrt(2.0) if d.size >= 3 else float("nan")
        out[sel] = sigma
    good = np.isfinite(out) & (out > 0)
    fill = float(np.median(out[good])) if good.any() else max(robust_std(flat), 1e-6)
    out[~good] = fill
    return out


def preprocess_lightcurve(lc: LightCurve,
                          config: Optional[PreprocessConfig] = None) -> PreprocessedLightCurve:
    """Mask, normalise, detrend and clip one light curve.

    Parameters
    ----------
    lc : LightCurve
        Raw light curve (as read; NaNs and flagged cadences allowed).
    config : PreprocessConfig, optional
        Knobs; default ``PreprocessConfig()`` (default quality mask, 0.75-day
        biweight, 4-sigma upper clipping, 0.5-day break tolerance).

    Returns
    -------
    PreprocessedLightCurve
        Only surviving cadences, sorted; ``flux`` normalised to median 1 per
        segment, ``trend`` on the same scale, ``flux_flat = flux / trend``;
        ``noise_ppm`` = robust sigma (1.4826 MAD) of ``flux_flat`` in ppm;
        ``preprocess_ms`` = wall time of this call (ms).

    Raises
    ------
    EmptyLightCurveError
        Fewer than :data:`MIN_USABLE_POINTS` cadences survive; the message
        says how many each step removed.
    InputError
        A segment has a non-positive median flux, or arrays disagree in length.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(0, 10, 2 / 1440)
    >>> lc = LightCurve(1, 1, t, 1000 + rng.normal(0, 1, t.size), np.ones(t.size), None)
    >>> out = preprocess_lightcurve(lc)
    >>> 800 < out.noise_ppm < 1200
    True
    """
    t_start = _time.perf_counter()
    cfg = config if config is not None else PreprocessConfig()
    lc.validate()
    src = lc.source_path or lc.label
    n_raw = len(lc)
    if n_raw == 0:
        raise EmptyLightCurveError(src, "the light curve has no cadences")

    keep_q = quality_keep_mask(lc.quality, cfg.quality_mask, lc.mission)
    n_quality_masked = int(n_raw - np.count_nonzero(keep_q))
    fin = finite_mask(lc.time, lc.flux, lc.flux_err)
    keep = keep_q & fin
    n_nan = int(np.count_nonzero(keep_q & ~fin))

    dumps = lc.time[((lc.quality & DESAT_BIT) != 0) & np.isfinite(lc.time)]
    t = lc.time[keep]
    f = lc.flux[keep]
    fe = lc.flux_err[keep]
    has_centroids = lc.centroid_col is not None and lc.centroid_row is not None
    cc = lc.centroid_col[keep] if has_centroids else None
    cr = lc.centroid_row[keep] if has_centroids else None
    t, f, fe, cc, cr = sort_by_time(t, f, fe, cc, cr, source=src)

    def _fail(stage: str, n_left: int, extra: str = ""):
        raise EmptyLightCurveError(
            src,
            f"only {n_left} usable cadences left after {stage} (need >= {MIN_USABLE_POINTS}); "
            f"of {n_raw} cadences, the '{cfg.quality_mask}' quality mask removed "
            f"{n_quality_masked} and {n_nan} had NaN/inf time, flux or flux_err{extra}",
        )

    if t.size < MIN_USABLE_POINTS:
        _fail("quality masking and NaN removal", int(t.size))

    segment = find_segments(t, cfg.break_tolerance_days)
    long_enough = drop_short_segments(segment, cfg.min_segment_points)
    n_short = int(t.size - np.count_nonzero(long_enough))
    if n_short:
        t, f, fe = t[long_enough], f[long_enough], fe[long_enough]
        if has_centroids:
            cc, cr = cc[long_enough], cr[long_enough]
        segment = renumber(segment[long_enough])
        log.debug("%s: dropped %d cadences in segments shorter than %d points",
                  src, n_short, cfg.min_segment_points)
    if t.size < MIN_USABLE_POINTS:
        _fail("dropping short segments", int(t.size),
              f", and {n_short} were in segments shorter than {cfg.min_segment_points} cadences")

    f, fe = normalize_segments(f, fe, segment, source=src)
    t = np.ascontiguousarray(t)
    f = np.ascontiguousarray(f)

    method = cfg.detrend
    rotation = float("nan")
    if method == "biweight":
        choice = _biweight_choice(lc, t, f, segment, cfg)
        trend, method, window, rotation = choice.trend, choice.method, choice.window_days, choice.rotation_period_days
        log.debug("%s: detrend %s, window %.2f d, rotation %.3f d", src, method, window, rotation)
    elif method == "savgol":
        window = cfg.window_days if cfg.window_days is not None else cfg.savgol_window_days
        trend = detrend_savgol(t, f, window, cfg.savgol_polyorder,
                               break_tolerance_days=cfg.break_tolerance_days)
    else:
        window = float("nan")
        trend = np.ones(t.size)

    keep = clip_upper_outliers(f, trend, cfg.sigma_upper, segment)
    n_outliers = int(t.size - np.count_nonzero(keep))
    if cfg.edge_cutoff_days > 0:
        keep &= _edge_keep(t, segment, cfg.edge_cutoff_days)
    keep &= np.isfinite(trend) & (trend > 0)
    if not keep.all():
        t, f, fe, trend, segment = t[keep], f[keep], fe[keep], trend[keep], segment[keep]
        if has_centroids:
            cc, cr = cc[keep], cr[keep]
        segment = renumber(segment)
    if t.size < MIN_USABLE_POINTS:
        _fail("outlier clipping and edge cutoff", int(t.size),
              f", {n_short} were in short segments and {n_outliers} were clipped as upper outliers")

    flat = f / trend
    noise = robust_std(flat) * 1e6
    if not np.any(np.isfinite(fe)):
        fe = _scatter_errors(flat, segment) * trend
        log.info("%s: no flux errors in the product; using each segment's point-to-point scatter", src)
    ms = (_time.perf_counter() - t_start) * 1e3
    return PreprocessedLightCurve(
        **{k: getattr(lc, k) for k in HEADER_KEYS},
        time=t,
        flux=f,
        flux_err=fe,
        trend=trend,
        flux_flat=flat,
        segment=segment,
        n_raw=n_raw,
        n_quality_masked=n_quality_masked,
        n_nan=n_nan,
        n_outliers=n_outliers,
        noise_ppm=float(noise),
        detrend_method=method,
        detrend_window_days=float(window),
        rotation_period_days=float(rotation),
        preprocess_ms=float(ms),
        centroid_col=cc,
        centroid_row=cr,
        momentum_dump_times=dump_events(dumps),
        object_name=lc.meta.get("object") or None,
    )
