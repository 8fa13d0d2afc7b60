"""In- vs out-of-transit centroid shift (is the dimming on the target?)."""

from __future__ import annotations

import logging
import math
from typing import Optional

import numpy as np
from scipy.stats import chi2 as _chi2, norm as _norm

from ._common import VetResult, as_1d, check_ephemeris, per_epoch_contrast, robust_std
from ..errors import InputError

__all__ = ["centroid_shift_test"]

log = logging.getLogger(__name__)


def _axis_shift(t, c, period, t0, duration, min_points):
    """Mean in-transit minus local out-of-transit centroid, robust error."""
    ok = np.isfinite(c)
    t, c = t[ok], c[ok]
    if t.size < 2 * min_points:
        return float("nan"), float("nan"), 0
    # Per-point scatter from point-to-point differences: robust to drifts
    # and to the transit itself; it sets the formal per-event errors.
    sig = robust_std(np.diff(c)) / math.sqrt(2.0) if c.size > 2 else float("nan")
    if not (np.isfinite(sig) and sig > 0):
        sig = max(robust_std(c), 1e-12)
    e = np.full_like(c, sig)
    ev = per_epoch_contrast(t, c, e, period, t0, duration, min_in=min_points, min_oot=min_points)
    n = ev["epoch"].size
    if n == 0:
        return float("nan"), float("nan"), 0
    shift = -ev["contrast"]  # contrast = oot - in; shift = in - oot
    w = 1.0 / ev["error"] ** 2
    mean = float(np.sum(w * shift) / np.sum(w))
    err = float(1.0 / math.sqrt(np.sum(w)))
    if n >= 3:
        # Robust scatter between transits (MAD), as an error of the mean.
        err = max(err, robust_std(shift) / math.sqrt(n))
    return mean, err, n


def centroid_shift_test(
    time,
    centroid_col,
    centroid_row,
    period: float,
    t0: float,
    duration: float,
    *,
    threshold: float = 3.0,
    min_points: int = 3,
    depth: Optional[float] = None,
    min_offset_px: float = 0.5,
) -> VetResult:
    """Difference between in-transit and local out-of-transit centroids.

    If the eclipse happens on a nearby star blended into the aperture, the
    flux-weighted centroid (MOM_CENTR1/2) moves during the transit, towards
    the target for a contaminating eclipser outside the core.  For each
    transit the mean in-transit centroid (within half a duration) minus the
    mean over the local baseline (0.75-2 durations away, which removes slow
    pointing drifts) is taken per axis; these are averaged with an error
    that is the larger of the formal one (point scatter from first
    differences) and the MAD scatter between transits / sqrt(N).  The
    significance of the 2-D shift is the chi-square with 2 degrees of
    freedom converted to Gaussian sigma, as in the DV centroid test (Twicken
    et al. 2018, sec. 4.8; Bryson et al. 2013; Robovetter centroid module,
    Thompson et al. 2018 sec. A.5).

    Parameters
    ----------
    time : array_like
        Cadence times (days).
    centroid_col, centroid_row : array_like
        Flux-weighted centroid column and row (pixels); NaN allowed.
    period, t0, duration : float
        Ephemeris (days).
    threshold : float
        Flag shifts more significant than this (sigma).
    min_points : int
        Minimum in-transit and baseline points for a transit to count.
    depth : float, optional
        Fractional transit depth.  With it the shift is turned into the
        distance of the dimming source from the out-of-transit centroid,
        ``|dc| (1 - depth) / depth`` (Bryson et al. 2013, eq. 1 for
        flux-weighted centroids), and the flag also needs that distance to
        exceed ``min_offset_px``: a transit on a target with neighbours in
        its aperture moves the centroid too (towards the neighbours), by a
        source offset of only (contaminating fraction) x (separation), while
        a blend a pixel away moves it by its full separation.  At high SNR
        the first is significant but small; only the second is a blend.
    min_offset_px : float
        Smallest source offset (TESS pixels, 21 arcsec) flagged when
        ``depth`` is given.

    Returns
    -------
    VetResult
        ``shift_col``, ``shift_row`` (pixels, in - out) with ``_err``;
        ``value``: total shift (pixels); ``chi2``; ``significance`` (sigma);
        ``n_transits``; ``source_offset_px`` and ``source_offset_err_px``
        (with ``depth``, else NaN); ``flag``.

    Raises
    ------
    InputError
        Arrays of different lengths, bad ephemeris.
    """
    period, t0, duration = check_ephemeris(period, t0, duration)
    t = as_1d(time, "time")
    col = as_1d(centroid_col, "centroid_col")
    row = as_1d(centroid_row, "centroid_row")
    for name, a in (("centroid_col", col), ("centroid_row", row)):
        if a.shape != t.shape:
            raise InputError(f"'{name}' has {a.size} values but 'time' has {t.size}")
    ok = np.isfinite(t)
    order = np.argsort(t[ok], kind="stable")
    t, col, row = t[ok][order], col[ok][order], row[ok][order]
    dc, ec, nc = _axis_shift(t, col, period, t0, duration, min_points)
    dr, er, nr = _axis_shift(t, row, period, t0, duration, min_points)
    nan = float("nan")
    res = VetResult(
        test="centroid",
        measured="in- minus out-of-transit flux-weighted centroid (pixels)",
        shift_col=dc, shift_col_err=ec, shift_row=dr, shift_row_err=er,
        n_transits=int(min(nc, nr)), chi2=nan, value=nan, significance=nan,
        threshold=float(threshold), source_offset_px=nan, source_offset_err_px=nan,
        flag=False, reason=None,
    )
    if not all(np.isfinite([dc, ec, dr, er])) or ec <= 0 or er <= 0:
        res["reason"] = "too few transits with centroid data"
        return res
    chi2 = (dc / ec) ** 2 + (dr / er) ** 2
    p = float(_chi2.sf(chi2, 2))
    sigma = float(_norm.isf(p / 2.0)) if p > 0 else float(math.sqrt(chi2))
    shift = float(math.hypot(dc, dr))
    flag = bool(sigma > threshold)
    if depth is not None and np.isfinite(depth) and 0 < depth < 1:
        scale = (1.0 - depth) / depth
        offset = shift * scale
        offset_err = math.hypot(dc * ec, dr * er) / shift * scale if shift > 0 else float("nan")
        res.update(source_offset_px=offset, source_offset_err_px=offset_err)
        flag = flag and offset > min_offset_px
    res.update(chi2=float(chi2), value=shift, significance=sigma, flag=flag)
    return res
