"""Phase folding."""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["phase_fold"]


def phase_fold(time, period: float, t0: float, *, unit: str = "days") -> np.ndarray:
    """Phase of every time relative to a transit epoch, centred on the transit.

    Parameters
    ----------
    time : array_like of float
        Times (days, same system as ``t0``).
    period : float
        Orbital period (days, > 0).
    t0 : float
        Epoch of a transit centre (days).
    unit : {'days', 'fraction'}
        ``days``: time from the nearest transit centre in ``[-P/2, P/2)``;
        ``fraction``: the same divided by ``P``, in ``[-0.5, 0.5)``.

    Returns
    -------
    ndarray of float64
        Same shape as ``time`` (NaN stays NaN).

    Examples
    --------
    >>> phase_fold([0.0, 1.0, 2.5, 3.0], period=2.0, t0=1.0).tolist()
    [-1.0, 0.0, -0.5, 0.0]
    """
    if not (np.isfinite(period) and period > 0):
        raise InputError(f"period must be a positive finite number of days, got {period!r}")
    if unit not in ("days", "fraction"):
        raise InputError(f"unit={unit!r} is not supported; choose 'days' or 'fraction'")
    t = np.asarray(time, dtype=np.float64)
    half = 0.5 * period
    phase = np.mod(t - t0 + half, period) - half
    if unit == "fraction":
        phase = phase / period
    return phase
