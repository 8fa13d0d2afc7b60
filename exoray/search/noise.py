"""Noise on the time scale of a transit: the red-noise factor of each trial duration.

A box least-squares search scores a box of duration ``d`` by its depth over
the white-noise error ``1 / sqrt(W_in)``.  On a real light curve the mean of
the flux over ``d`` scatters more than that: stellar granulation and
rotation left by the detrender, pointing jitter and scattered light are
correlated over hours.  Treating them as white inflates every SNR on a
spotted M dwarf, and a search whose threshold is set on quiet stars drowns
in false alarms on active ones (or, with a threshold set on active stars,
misses planets around quiet ones).

:func:`box_noise_factor` measures, for each trial duration, how much more
the means of ``d``-long stretches of the light curve actually scatter than
their formal errors say (``beta(d)``, the time-averaging method of Pont,
Zucker & Queloz 2006 and Winn et al. 2008, as a robust scatter of sliding
boxes).  Dividing each box's SNR by ``beta(d)`` gives a "pink-noise" SNR
(Hartman & Bakos 2016; the QLP search, Kunimoto et al. 2022) that means the
same on every star: the analogue of the SPOC pipeline computing its
detection statistic on noise estimated per trial duration (Jenkins 2002).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ..stats import MAD_TO_SIGMA

__all__ = ["box_noise_factor", "MAD_TO_SIGMA"]

#: Quantile one standard deviation above the median of a normal distribution.
_ONE_SIGMA_QUANTILE = 0.8413447460685429


def box_noise_factor(time, flux, ivar, durations, *, min_fill: float = 0.75, step_fraction: float = 0.5,
                     min_boxes: int = 20, floor: float = 0.5) -> np.ndarray:
    """Red-noise factor ``beta(d)`` of a light curve for each trial duration.

    For every duration ``d``, boxes of length ``d`` are laid every
    ``step_fraction * d`` along the light curve; boxes less than
    ``min_fill`` full (gaps, segment ends) are skipped.  For each box the
    inverse-variance weighted mean flux ``m`` and its formal error
    ``1 / sqrt(sum w)`` are computed, and ``beta(d)`` is the spread of
    ``(m - median(m)) / error`` measured on its upper side (the 84th
    percentile minus the median): 1 for white noise with correct errors,
    above 1 for correlated noise (or errors that are too small).  Transits
    and eclipses, which only lower box means, do not inflate it.

    Parameters
    ----------
    time, flux, ivar : ndarray, shape (n,)
        Sorted finite times [d], detrended flux and inverse variances.
    durations : array_like
        Trial durations [d].
    min_fill : float
        Smallest fraction of the expected cadences (``d`` / median cadence)
        a box must hold.
    step_fraction : float
        Box spacing in units of ``d``.
    min_boxes : int
        With fewer usable boxes the factor is 1 (not measurable).
    floor : float
        Smallest factor returned (guards against a degenerate scatter).

    Returns
    -------
    ndarray
        ``beta`` per duration, same length as ``durations``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(0, 20, 2 / 1440)
    >>> y = 1 + 1e-3 * rng.standard_normal(t.size)
    >>> b = box_noise_factor(t, y, np.full(t.size, 1e6), [0.05, 0.2])
    >>> bool(np.all(np.abs(b - 1) < 0.15))
    True
    """
    t = np.asarray(time, np.float64)
    y = np.asarray(flux, np.float64)
    w = np.asarray(ivar, np.float64)
    d_arr = np.atleast_1d(np.asarray(durations, np.float64))
    out = np.ones(d_arr.shape)
    if t.size < 10:
        return out
    dt = float(np.median(np.diff(t)))
    if not dt > 0:
        return out
    cw = np.concatenate([[0.0], np.cumsum(w)])
    cwy = np.concatenate([[0.0], np.cumsum(w * y)])
    for i, d in enumerate(d_arr.ravel()):
        if not (np.isfinite(d) and d > 0):
            continue
        starts = np.arange(t[0], t[-1] - d, max(step_fraction * d, dt))
        if starts.size < min_boxes:
            continue
        lo = np.searchsorted(t, starts, side="left")
        hi = np.searchsorted(t, starts + d, side="left")
        n = hi - lo
        good = n >= max(2.0, min_fill * d / dt)
        if good.sum() < min_boxes:
            continue
        sw = cw[hi[good]] - cw[lo[good]]
        m = (cwy[hi[good]] - cwy[lo[good]]) / sw
        r = (m - np.median(m)) * np.sqrt(sw)
        # From the upper half only: transits and eclipses only pull box
        # means down (a planet with a long duty cycle fills a quarter of
        # the boxes), while correlated noise is symmetric.
        beta = float(np.quantile(r, _ONE_SIGMA_QUANTILE) - np.median(r))
        if math.isfinite(beta):
            out.flat[i] = max(beta, floor)
    return out
