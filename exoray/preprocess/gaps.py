"""Gap finding: split a light curve into continuous segments.

A *segment* is a run of cadences whose consecutive time steps are all at most
``break_tolerance_days``.  Segments are normalised and detrended separately
(the detrending window restarts at every gap), as in wotan
(Hippke et al. 2019, AJ 158, 143) and lightkurve's ``flatten``.
"""

from __future__ import annotations

from typing import List

import numpy as np

from ..errors import InputError

__all__ = ["find_segments", "segment_slices", "segment_starts", "drop_short_segments", "renumber"]


def _check_time(time) -> np.ndarray:
    t = np.ascontiguousarray(np.asarray(time, dtype=np.float64))
    if t.ndim != 1:
        raise InputError(f"time must be one-dimensional, got shape {t.shape}")
    if t.size and not np.all(np.isfinite(t)):
        raise InputError("time contains NaN/inf; remove non-finite cadences before finding segments")
    if t.size > 1 and np.any(np.diff(t) < 0):
        raise InputError("time must be sorted ascending to find segments")
    return t


def find_segments(time, break_tolerance_days: float = 0.5) -> np.ndarray:
    """Segment number of every cadence.

    Parameters
    ----------
    time : array_like of float
        Sorted, finite times (days).
    break_tolerance_days : float
        A time step larger than this (days) starts a new segment.  ``inf``
        keeps everything in one segment.

    Returns
    -------
    ndarray of int32
        ``0, 0, ..., 1, 1, ...``: the segment id of each cadence.

    Raises
    ------
    InputError
        Unsorted or non-finite ``time``, or a non-positive tolerance.

    Examples
    --------
    >>> find_segments([0.0, 0.1, 0.2, 5.0, 5.1], 0.5).tolist()
    [0, 0, 0, 1, 1]
    """
    if not break_tolerance_days > 0:
        raise InputError(f"break_tolerance_days must be > 0, got {break_tolerance_days!r}")
    t = _check_time(time)
    seg = np.zeros(t.size, dtype=np.int32)
    if t.size > 1:
        np.cumsum(np.diff(t) > break_tolerance_days, out=seg[1:])
    return seg


def segment_starts(segment) -> np.ndarray:
    """First index of every segment plus ``len(segment)`` (int64), for kernels."""
    seg = np.asarray(segment)
    if seg.size == 0:
        return np.zeros(1, dtype=np.int64)
    cut = np.flatnonzero(np.diff(seg) != 0) + 1
    return np.concatenate(([0], cut, [seg.size])).astype(np.int64)


def segment_slices(time, break_tolerance_days: float = 0.5,
                   min_segment_points: int = 1) -> List[slice]:
    """Slices of the continuous segments of ``time``.

    Parameters
    ----------
    time : array_like of float
        Sorted, finite times (days).
    break_tolerance_days : float
        A time step larger than this (days) starts a new segment.
    min_segment_points : int
        Segments with fewer cadences are left out.

    Returns
    -------
    list of slice
        One ``slice(start, stop)`` per kept segment, in time order.

    Examples
    --------
    >>> segment_slices([0.0, 0.1, 0.2, 5.0], 0.5, min_segment_points=2)
    [slice(0, 3, None)]
    """
    starts = segment_starts(find_segments(time, break_tolerance_days))
    return [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])
            if b - a >= min_segment_points]


def drop_short_segments(segment, min_segment_points: int) -> np.ndarray:
    """Boolean keep-mask: ``False`` for cadences of segments shorter than
    ``min_segment_points``.

    Parameters
    ----------
    segment : array_like of int
        Segment ids from :func:`find_segments` (non-decreasing).
    min_segment_points : int
        Minimum cadences per kept segment.

    Returns
    -------
    ndarray of bool
    """
    seg = np.asarray(segment)
    starts = segment_starts(seg)
    lengths = np.diff(starts)
    return np.repeat(lengths >= min_segment_points, lengths)


def renumber(segment) -> np.ndarray:
    """Renumber non-decreasing segment ids to ``0, 1, ...`` (after dropping some)."""
    seg = np.asarray(segment)
    out = np.zeros(seg.size, dtype=np.int32)
    if seg.size > 1:
        np.cumsum(np.diff(seg) != 0, out=out[1:])
    return out


