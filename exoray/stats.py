"""Robust location and scale: the median and the scaled median absolute deviation.

Light curves carry transits, flares, momentum-dump glitches and residual
systematics, so every stage that needs "the noise" (detrending clips, the
vetting statistics, anomaly-score calibration, window normalisation) measures
it with the median absolute deviation, which half the points can spoil
before it moves, scaled to a Gaussian standard deviation.

Two flavours, kept apart on purpose:

* :func:`mad` follows numpy: a NaN anywhere gives NaN.  Callers that decide
  "no usable scatter" by ``not sigma > 0`` rely on that.
* :func:`robust_std` ignores non-finite values (gaps, masked cadences) and
  gives NaN only when nothing finite is left.

References
----------
.. [1] Rousseeuw, P. J. & Croux, C. 1993, JASA 88, 1273, "Alternatives to the
       median absolute deviation".
.. [2] Hampel, F. R. 1974, JASA 69, 383 (the influence curve of the MAD).
"""

from __future__ import annotations

import warnings
from typing import Optional, Tuple

import numpy as np

__all__ = ["MAD_TO_SIGMA", "mad", "robust_std", "location_scale", "robust_z"]

#: Scale from the median absolute deviation to a Gaussian sigma:
#: ``1 / Phi^-1(3/4)``, the value ``scipy.stats.median_abs_deviation(scale="normal")`` uses.
MAD_TO_SIGMA = 1.482602218505602


def mad(x, axis: Optional[int] = None, keepdims: bool = False):
    """Median absolute deviation ``median(|x - median(x)|)``, unscaled.

    NaN propagates as in :func:`numpy.median`.  With ``axis=None`` the result
    is a Python float; otherwise an array reduced along ``axis``.
    """
    x = np.asarray(x, dtype=np.float64)
    if axis is None:
        return float(np.median(np.abs(x - np.median(x))))
    med = np.median(x, axis=axis, keepdims=True)
    return np.median(np.abs(x - med), axis=axis, keepdims=keepdims)


def robust_std(x, axis: Optional[int] = None):
    """Robust standard deviation ``MAD_TO_SIGMA * MAD``, ignoring NaN and inf.

    Parameters
    ----------
    x : array_like of float
    axis : int, optional
        Reduce along this axis; by default over all values.

    Returns
    -------
    float or ndarray
        A float with ``axis=None``; NaN for an empty or all-non-finite input
        (or slice).
    """
    x = np.asarray(x, dtype=np.float64)
    if axis is None:
        x = x[np.isfinite(x)]
        if x.size == 0:
            return float("nan")
        return MAD_TO_SIGMA * float(np.median(np.abs(x - np.median(x))))
    x = np.where(np.isfinite(x), x, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, as documented
        med = np.nanmedian(x, axis=axis, keepdims=True)
        return MAD_TO_SIGMA * np.nanmedian(np.abs(x - med), axis=axis)


def location_scale(x) -> Tuple[float, float]:
    """``(median, MAD_TO_SIGMA * MAD)`` of ``x`` with a usable scale.

    When more than half the values are equal the MAD is zero; the scale then
    falls back to the standard deviation, and to 1 when that is zero too, so
    that dividing by it is always defined.
    """
    x = np.asarray(x, dtype=np.float64)
    med = float(np.median(x))
    scale = MAD_TO_SIGMA * float(np.median(np.abs(x - med)))
    if not scale > 0:
        scale = float(np.std(x)) or 1.0
    return med, scale


def robust_z(x, median: Optional[float] = None, scale: Optional[float] = None) -> np.ndarray:
    """Robust z-scores ``(x - median) / scale``.

    ``median`` and ``scale`` default to :func:`location_scale` of ``x``
    itself; pass them to score new values against a reference sample (a
    scale of zero or less is floored at the smallest positive double).
    """
    x = np.asarray(x, dtype=np.float64)
    if median is None or scale is None:
        med, sc = location_scale(x)
        median = med if median is None else median
        scale = sc if scale is None else scale
    return (x - median) / max(float(scale), 1e-300)
