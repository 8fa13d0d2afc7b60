"""``preprocess_lightcurve``: raw :class:`LightCurve` -> :class:`PreprocessedLightCurve`.

Steps (all pure, no I/O):

1. quality mask (preset ``config.quality_mask`` for ``lc.mission``);
2. removal of non-finite time/flux/flux_err;
3. sort by time if needed (:class:`~exoray.errors.ExorayWarning`);
4. segments at gaps > ``break_tolerance_days``; segments with fewer than
   ``min_segment_points`` cadences are dropped;
5. per-segment median normalisation of flux and flux_err;
6. detrending (``biweight`` | ``savgol`` | ``none``) per segment; with
   ``adaptive_window`` a strongly variable star (red-noise ratio above
   ``adaptive_red_ratio``) gets a robust local-quadratic refit over a window
   set by the longest plausible transit (see :func:`adaptive_window_days`);
7. upper-outlier clipping on the residual from the trend (points more than
   ``sigma_upper`` robust sigmas above it).  The trend is *not* refitted: for
   the biweight a point more than ``cval * MAD`` (~3.4 sigma for cval = 5)
   from the location already has zero weight, so clipped points barely
   influenced it; the savgol fit is itself iteratively clipped;
8. optional edge cutoff (``edge_cutoff_days`` at each segment end);
9. statistics (counts, point-to-point noise in ppm, wall time).
"""

from __future__ import annotations

import logging
import time as _time
from typing import Optional

import numpy as np

from ..config import PreprocessConfig
from ..errors import EmptyLightCurveError
from ..lightcurve import STELLAR_KEYS, LightCurve, PreprocessedLightCurve
from . import _kernels
from .detrend import detrend_savgol
from .gaps import drop_short_segments, find_segments, renumber, segment_starts
from .normalize import (
    clip_upper_outliers,
    finite_mask,
    normalize_segments,
    quality_keep_mask,
    red_noise_ratio,
    robust_std,
    sort_by_time,
)

__all__ = ["preprocess_lightcurve", "adaptive_window_days", "MIN_USABLE_POINTS"]

#: ``detrend_method`` recorded when the adaptive refit replaced the biweight.
ADAPTIVE_METHOD = "robust_poly{order}"
#: Robustness passes of the adaptive refit (1 plain + 4 reweighted).
ADAPTIVE_PASSES = 5

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


def adaptive_window_days(lc: LightCurve, baseline_days: float, cfg: PreprocessConfig) -> float:
    """Window (days) of the variability-aware refit.

    ``adaptive_duration_factor`` times the duration of a central transit at
    half the baseline (the longest period with two transits) around this
    star (Kepler's law, TIC mass/radius/logg with solar fallbacks), bounded
    to [``adaptive_min_window_days``, ``window_days``].
    """
    from ..search.period_grid import central_transit_duration, stellar_params

    mass, radius = stellar_params(lc.mass, lc.radius, lc.logg)
    t14 = float(central_transit_duration(max(baseline_days, 1.0) / 2.0, mass, radius))
    w = cfg.adaptive_duration_factor * t14
    return float(min(max(w, cfg.adaptive_min_window_days), cfg.window_days))


#: Evaluate the adaptive refit with sliding moment sums (O(n)); False runs the
#: reference direct evaluation (O(n * window), ~15x slower, same trend to ~1e-10).
ADAPTIVE_FAST = True


def _adaptive_refit(lc, t, f, segment, trend, cfg, fast=None):
    """(trend, method, window, ratio) after the optional variability-aware refit.

    ``fast`` (default :data:`ADAPTIVE_FAST`) selects the sliding-sum kernel;
    ``False`` the reference evaluation (see ``_kernels.robust_poly_segment``)."""
    if fast is None:
        fast = ADAPTIVE_FAST
    flat = f / trend
    ratio = red_noise_ratio(t, flat, segment)
    if not (np.isfinite(ratio) and ratio > cfg.adaptive_red_ratio):
        return trend, "biweight", cfg.window_days, ratio
    window = adaptive_window_days(lc, float(t[-1] - t[0]), cfg)
    refit = np.empty(t.size)
    _kernels.robust_poly_segments(t, f, segment_starts(segment), float(window),
                                  int(cfg.adaptive_polyorder), float(cfg.biweight_cval),
                                  ADAPTIVE_PASSES, refit, bool(fast))
    good = np.isfinite(refit) & (refit > 0)
    if not good.all():
        refit = np.where(good, refit, trend)
    ratio_new = red_noise_ratio(t, f / refit, segment)
    if not ratio_new < ratio:
        return trend, "biweight", cfg.window_days, ratio
    return refit, ADAPTIVE_METHOD.format(order=cfg.adaptive_polyorder), window, ratio_new


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
    if method == "biweight":
        window = cfg.window_days
        trend = np.empty(t.size)
        _kernels.biweight_segments(t, f, segment_starts(segment), float(window),
                                   float(cfg.biweight_cval), 0.0, trend)
        if cfg.adaptive_window:
            trend, method, window, ratio = _adaptive_refit(lc, t, f, segment, trend, cfg)
            log.debug("%s: red-noise ratio %.2f, detrend %s over %.3f d", src, ratio, method, window)
    elif method == "savgol":
        window = cfg.savgol_window_days
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
    ms = (_time.perf_counter() - t_start) * 1e3
    return PreprocessedLightCurve(
        tic_id=lc.tic_id,
        sector=lc.sector,
        time=t,
        flux=f,
        flux_err=fe,
        trend=trend,
        flux_flat=flat,
        segment=segment,
        mission=lc.mission,
        camera=lc.camera,
        ccd=lc.ccd,
        cadence_s=lc.cadence_s,
        product=lc.product,
        flux_column=lc.flux_column,
        source_path=lc.source_path,
        **{k: getattr(lc, k) for k in STELLAR_KEYS},
        n_raw=n_raw,
        n_quality_masked=n_quality_masked,
        n_nan=n_nan,
        n_outliers=n_outliers,
        noise_ppm=float(noise),
        detrend_method=method,
        detrend_window_days=float(window),
        preprocess_ms=float(ms),
        centroid_col=cc,
        centroid_row=cr,
        momentum_dump_times=dump_events(dumps),
    )
