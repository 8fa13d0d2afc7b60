"""AstroNet-style global and local views (Shallue & Vanderburg 2018, AJ 155, 94).

The light curve is phase folded on the candidate ephemeris, binned with a
median filter following exoplanet-ml's ``light_curve/binning.py::median_filter``
(``num_bins`` bins of width ``bin_width`` whose left edges are spaced
``(x_max - x_min - bin_width) / (num_bins - 1)`` apart, so bins overlap when
``bin_width`` exceeds the spacing; a point belongs to bin ``i`` when
``bin_min <= x < bin_min + bin_width``), and normalised.

Differences from exoplanet-ml, on purpose:

* empty bins are filled by linear interpolation between the nearest non-empty
  bins (exoplanet-ml filled them with the global median);
* normalisation: ``view = (view - median(view)) / |min(view - median(view))|``
  so the median is 0 and the minimum -1 (the transit bottom), as
  exoplanet-ml's ``generate_view(normalize=True)``.  A view whose minimum
  equals its median (no dip) is only median-subtracted.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .fold import phase_fold

__all__ = ["median_bin", "global_view", "local_view", "normalize_view"]


def median_bin(x, y, num_bins: int, bin_width: float, x_min: float, x_max: float) -> np.ndarray:
    """Median of ``y`` in ``num_bins`` (possibly overlapping) bins along ``x``.

    Parameters
    ----------
    x, y : array_like of float
        Positions (e.g. phase in days) and values; need not be sorted.
    num_bins : int
        Number of bins (>= 2).
    bin_width : float
        Width of each bin (same unit as ``x``), ``0 < bin_width <= x_max - x_min``.
    x_min, x_max : float
        First bin starts at ``x_min``, last bin ends at ``x_max``.

    Returns
    -------
    ndarray of float64, shape (num_bins,)
        Median per bin; empty bins linearly interpolated from their
        neighbours (all empty: NaN).
    """
    if num_bins < 2:
        raise InputError(f"num_bins must be >= 2, got {num_bins}")
    if not x_max > x_min:
        raise InputError(f"x_max ({x_max}) must exceed x_min ({x_min})")
    if not 0 < bin_width <= x_max - x_min:
        raise InputError(f"bin_width must be in (0, x_max - x_min], got {bin_width}")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise InputError(f"x has {x.size} values but y has {y.size}")
    ok = np.isfinite(x) & np.isfinite(y)
    order = np.argsort(x[ok], kind="stable")
    xs = x[ok][order]
    ys = y[ok][order]
    spacing = (x_max - x_min - bin_width) / (num_bins - 1)
    lo_edges = x_min + spacing * np.arange(num_bins)
    i0 = np.searchsorted(xs, lo_edges, side="left")
    i1 = np.searchsorted(xs, lo_edges + bin_width, side="left")
    out = np.full(num_bins, np.nan)
    for i in range(num_bins):
        if i1[i] > i0[i]:
            out[i] = np.median(ys[i0[i]:i1[i]])
    empty = np.isnan(out)
    if empty.any() and not empty.all():
        centers = lo_edges + 0.5 * bin_width
        out[empty] = np.interp(centers[empty], centers[~empty], out[~empty])
    return out


def normalize_view(view) -> np.ndarray:
    """Shift the median to 0 and scale so the minimum is -1 (see module doc)."""
    v = np.asarray(view, dtype=np.float64) - np.nanmedian(view)
    mn = np.nanmin(v)
    if mn < 0:
        v = v / abs(mn)
    return v


def global_view(time, flux, period: float, t0: float, num_bins: int = 2001,
                bin_width_factor: float = 1 / 2001, *, normalize: bool = True) -> np.ndarray:
    """Whole-orbit view: the folded light curve binned over ``[-P/2, P/2)``.

    Parameters
    ----------
    time, flux : array_like of float
        Times (days) and flattened flux.
    period, t0 : float
        Ephemeris (days).
    num_bins : int
        Number of bins (2001 in Shallue & Vanderburg 2018).
    bin_width_factor : float
        Bin width as a fraction of the period.
    normalize : bool
        Apply :func:`normalize_view`.

    Returns
    -------
    ndarray of float64, shape (num_bins,)
    """
    phase = phase_fold(time, period, t0)
    view = median_bin(phase, flux, num_bins, period * bin_width_factor,
                      -0.5 * period, 0.5 * period)
    return normalize_view(view) if normalize else view


def local_view(time, flux, period: float, t0: float, duration: float, num_bins: int = 201,
               num_durations: float = 4, bin_width_factor: float = 0.16, *,
               normalize: bool = True) -> np.ndarray:
    """Close-up of the transit: ``num_durations`` durations on each side.

    Parameters
    ----------
    time, flux : array_like of float
        Times (days) and flattened flux.
    period, t0 : float
        Ephemeris (days).
    duration : float
        Transit duration (days, > 0).
    num_bins : int
        Number of bins (201 in Shallue & Vanderburg 2018).
    num_durations : float
        Half-width of the view in transit durations (capped at ``P/2``).
    bin_width_factor : float
        Bin width as a fraction of the duration (0.16).
    normalize : bool
        Apply :func:`normalize_view`.

    Returns
    -------
    ndarray of float64, shape (num_bins,)
        Transit centred at index ``num_bins // 2``.
    """
    if not duration > 0:
        raise InputError(f"duration must be > 0 days, got {duration!r}")
    phase = phase_fold(time, period, t0)
    half = min(0.5 * period, num_durations * duration)
    width = min(duration * bin_width_factor, 2 * half)
    view = median_bin(phase, flux, num_bins, width, -half, half)
    return normalize_view(view) if normalize else view
