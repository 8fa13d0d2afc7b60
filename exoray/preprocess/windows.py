"""Fixed-length cadence windows for the machine-learning models."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..errors import InputError

__all__ = ["make_windows"]


def make_windows(time, flux, length: int, stride: int, *, max_gap_fraction: float = 0.05,
                 cadence_days: Optional[float] = None,
                 dtype=np.float32) -> Tuple[np.ndarray, np.ndarray]:
    """Cut a light curve into windows of ``length`` consecutive cadences.

    Non-finite points are removed first.  A window starting at cadence ``i``
    covers the kept cadences ``i .. i+length-1``; it is skipped when it
    straddles a gap, i.e. when its time span exceeds
    ``(length - 1) * cadence * (1 + max_gap_fraction)`` (more than that
    fraction of its cadences is missing).  Window starts step by ``stride``
    kept cadences.

    Parameters
    ----------
    time, flux : array_like of float
        Sorted times (days) and (flattened) flux.
    length : int
        Window length in cadences (>= 2).
    stride : int
        Step between window starts in cadences (>= 1).
    max_gap_fraction : float
        Tolerated fraction of missing cadences inside a window.
    cadence_days : float, optional
        Cadence (days); default the median time step.
    dtype : numpy dtype
        Output dtype of the windows.

    Returns
    -------
    windows : ndarray, shape (n_windows, length)
    start_times : ndarray of float64, shape (n_windows,)
        Time of the first cadence of each window (days).
    """
    if int(length) < 2 or int(stride) < 1:
        raise InputError(f"need length >= 2 and stride >= 1, got {length}, {stride}")
    if max_gap_fraction < 0:
        raise InputError("max_gap_fraction must be >= 0")
    length = int(length)
    stride = int(stride)
    t = np.asarray(time, dtype=np.float64)
    f = np.asarray(flux, dtype=np.float64)
    if t.shape != f.shape:
        raise InputError(f"time has {t.size} values but flux has {f.size}")
    ok = np.isfinite(t) & np.isfinite(f)
    t = t[ok]
    f = f[ok]
    if t.size > 1 and np.any(np.diff(t) < 0):
        raise InputError("time must be sorted ascending")
    if t.size < length:
        return np.empty((0, length), dtype=dtype), np.empty(0)
    if cadence_days is None:
        dt = np.diff(t)
        cadence_days = float(np.median(dt[dt > 0])) if np.any(dt > 0) else 0.0
    starts = np.arange(0, t.size - length + 1, stride)
    span = t[starts + length - 1] - t[starts]
    good = span <= (length - 1) * cadence_days * (1.0 + max_gap_fraction) + 1e-9
    starts = starts[good]
    view = np.lib.stride_tricks.sliding_window_view(f, length)
    return np.ascontiguousarray(view[starts], dtype=dtype), t[starts]
