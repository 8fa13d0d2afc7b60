"""Is the transit unique in its own folded light curve? (the Robovetter's model-shift test)."""

from __future__ import annotations

import math

import numpy as np

from ._common import VetResult, check_ephemeris, phase_days, prepare, robust_std
from .secondary_eclipse import _window_stats

__all__ = ["model_shift"]


def model_shift(time, flux, flux_err, period: float, t0: float, duration: float, *, oversample: int = 4,
                exclude: float = 1.0, min_points: int = 5) -> VetResult:
    """The primary's depth against the same box at every other phase of the fold.

    A box of the transit's duration is slid over the folded light curve in
    steps of ``duration / oversample``; at each phase its depth is the
    median flux minus the weighted mean in the box.  The spread of those
    depths away from the primary (a robust standard deviation, so it holds
    the red noise on the transit's time scale and the star's leftover
    variability) is the noise the primary must stand out of:

    * ``primary_sigma`` = primary depth / spread;
    * ``second_sigma``, ``bump_sigma``: the largest dip and the largest
      brightening elsewhere, in the same units;
    * ``value`` (uniqueness) = ``primary_sigma`` minus the larger of the two.

    A real transit stands alone (uniqueness of several sigma); a peak that
    noise or systematics made is one of many similar events and scores near
    zero.  This is the model-shift test of the Kepler Robovetter (Coughlin
    et al. 2016 sec. 3.2.3; Thompson et al. 2018 A.3.4), with the robust
    spread standing in for its red-noise scaling.
    """
    period, t0, duration = check_ephemeris(period, t0, duration)
    t, f, e = prepare(time, flux, flux_err)
    nan = float("nan")
    res = VetResult(test="model_shift", measured="primary depth vs the same box at every other phase (sigma)",
                    primary_sigma=nan, second_sigma=nan, second_phase=nan, bump_sigma=nan, scatter=nan,
                    value=nan, significance=nan, flag=False, reason=None)
    x = np.mod(phase_days(t, period, t0) / period, 1.0)
    w = 1.0 / (e * e)
    half = 0.5 * duration / period
    step = duration / period / max(1, int(oversample))
    centers = np.arange(0.0, 1.0, step)
    n, sw, swf, _ = _window_stats(x, f, w, centers, half)
    good = n >= min_points
    if good.sum() < 10 or not good[0]:
        res["reason"] = "too few phases with data"
        return res
    mean = swf / np.where(sw > 0, sw, 1.0)
    base = float(np.median(f))
    depth = np.where(good, base - mean, np.nan)
    away = good & (np.minimum(centers, 1.0 - centers) * period > exclude * duration)
    if away.sum() < 10:
        res["reason"] = "duration too long relative to period for a phase scan"
        return res
    scatter = robust_std(depth[away])
    if not (np.isfinite(scatter) and scatter > 0):
        res["reason"] = "no scatter between phases"
        return res
    prim = float(depth[0]) / scatter
    i2 = int(np.nanargmax(np.where(away, depth, -np.inf)))
    second = float(depth[i2]) / scatter
    bump = float(-np.nanmin(np.where(away, depth, np.inf))) / scatter
    uniq = prim - max(second, bump)
    res.update(primary_sigma=prim, second_sigma=second, second_phase=float(centers[i2]), bump_sigma=bump,
               scatter=float(scatter), value=float(uniq), significance=float(prim),
               flag=bool(math.isfinite(uniq) and uniq < 0.0))
    return res
