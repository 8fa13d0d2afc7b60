"""Trial period and duration grids for the transit search.

:func:`period_grid` samples frequencies uniformly in :math:`f^{1/3}`, the
optimal sampling of Ofir (2014) for transits of a star of given mass and
radius: the transit duration, and hence the frequency resolution a search
needs, scales as :math:`P^{1/3}`.  :func:`duration_grid` gives, for each trial
period, box durations spread around the duration of a central transit
predicted by Kepler's third law for that star.

References
----------
.. [1] Ofir, A. 2014, A&A 561, A138, "Optimizing the search for transiting
       planets in long time series".
.. [2] Hippke, M. & Heller, R. 2019, A&A 623, A39 (Transit Least Squares),
       ``transitleastsquares/grid.py``.
.. [3] Seager, S. & Mallen-Ornelas, G. 2003, ApJ 585, 1038.
"""

from __future__ import annotations

import logging
import math
from typing import Optional

import numpy as np

from .. import astro
from ..astro import DAY as _DAY, G as _G, M_SUN as _M_SUN, R_SUN as _R_SUN
from ..astro import DEFAULT_STELLAR_MASS, DEFAULT_STELLAR_RADIUS, stellar_params
from ..astro import check_star as _check_star
from ..errors import ConfigError, InputError

__all__ = [
    "period_grid",
    "period_grid_size",
    "duration_grid",
    "central_transit_duration",
    "stellar_params",
    "DEFAULT_STELLAR_MASS",
    "DEFAULT_STELLAR_RADIUS",
    "roche_period",
    "orbit_period",
    "ROCKY_DENSITY",
]

log = logging.getLogger(__name__)

def period_grid(
    baseline_days: float,
    *,
    min_period: float = 0.5,
    max_period: Optional[float] = None,
    min_transits: int = 1,
    oversampling: float = 3,
    stellar_mass: float = DEFAULT_STELLAR_MASS,
    stellar_radius: float = DEFAULT_STELLAR_RADIUS,
) -> np.ndarray:
    """Trial periods sampled optimally after Ofir (2014).

    Frequencies are uniform in :math:`f^{1/3}` with step :math:`A/3`, where

    .. math:: A = \\frac{(2\\pi)^{2/3}}{\\pi} \\frac{R_*}{(G M_*)^{1/3}}
              \\frac{1}{S \\cdot q}

    (:math:`S` the baseline, :math:`q` the oversampling), so that the phase
    drift of the last transit across the grid step is a fixed fraction
    :math:`1/q` of the transit duration.

    Parameters
    ----------
    baseline_days : float
        Time span of the data, max(time) - min(time), in days.
    min_period : float, optional
        Shortest trial period in days (default 0.5).  Raised to the Roche
        limit of a rocky planet (:func:`roche_period`) if shorter.
    max_period : float or None, optional
        Longest trial period in days; by default and at most
        ``baseline_days / min_transits``.
    min_transits : int, optional
        The longest period is the baseline over this (default 1: the whole
        baseline, where two transits can still fall at its two ends; the
        search itself demands data from two transits per box).
    oversampling : float, optional
        Oversampling factor :math:`q` of the Ofir grid (default 3).
    stellar_mass, stellar_radius : float, optional
        Stellar mass and radius in solar units (default 1, 1).

    Returns
    -------
    periods : ndarray of float64, shape (n,)
        Trial periods in days, strictly increasing.

    Raises
    ------
    ConfigError
        If a parameter is out of range or the grid would be empty
        (``min_period`` >= maximum period).

    References
    ----------
    Ofir, A. 2014, A&A 561, A138, Eq. (5)-(7).

    Examples
    --------
    >>> p = period_grid(27.0, min_period=1.0)
    >>> bool(p[0] >= 1.0 and p[-1] <= 27.0 and np.all(np.diff(p) > 0))
    True
    """
    m, r = _check_star(stellar_mass, stellar_radius)
    baseline = float(baseline_days)
    if not (math.isfinite(baseline) and baseline > 0):
        raise ConfigError(f"baseline_days must be positive, got {baseline_days!r}")
    if int(min_transits) != min_transits or min_transits < 1:
        raise ConfigError(f"min_transits must be an integer >= 1, got {min_transits!r}")
    if not (math.isfinite(float(oversampling)) and oversampling > 0):
        raise ConfigError(f"oversampling must be positive, got {oversampling!r}")
    if not (math.isfinite(float(min_period)) and min_period > 0):
        raise ConfigError(f"min_period must be a positive number of days, got {min_period!r}")

    p_max = baseline / int(min_transits)
    if max_period is not None:
        if not (math.isfinite(float(max_period)) and max_period > 0):
            raise ConfigError(f"max_period must be a positive number of days, got {max_period!r}")
        p_max = min(p_max, float(max_period))

    gm = _G * m * _M_SUN
    r_m = r * _R_SUN
    p_min = max(float(min_period), roche_period())
    if p_min >= p_max:
        raise ConfigError(
            f"empty period grid: minimum period {p_min:.4g} d >= maximum period {p_max:.4g} d "
            f"(baseline {baseline:.4g} d / min_transits {min_transits}); "
            "lower min_period or min_transits"
        )

    x0, x1, n = _ofir_steps(baseline, p_min, p_max, oversampling, gm, r_m)
    x = np.linspace(x0, x1, n)
    periods = 1.0 / (x**3) / _DAY
    periods = np.ascontiguousarray(periods[::-1])
    periods[0], periods[-1] = p_min, p_max  # exact end points despite round-off
    log.debug("period grid: %d periods from %.4g to %.4g d", periods.size, p_min, p_max)
    return periods


def _ofir_steps(baseline: float, p_min: float, p_max: float, oversampling: float, gm: float, r_m: float):
    """``(x0, x1, n)``: the Ofir grid runs over ``x = f^(1/3)`` from ``x0`` to ``x1`` in ``n`` steps."""
    s = baseline * _DAY
    a = (2 * math.pi) ** (2.0 / 3.0) / math.pi * r_m / gm ** (1.0 / 3.0) / (s * float(oversampling))
    # x = f^(1/3), uniform from f_min^(1/3) to f_max^(1/3) in steps of A/3
    x0, x1 = (1.0 / (p_max * _DAY)) ** (1.0 / 3.0), (1.0 / (p_min * _DAY)) ** (1.0 / 3.0)
    return x0, x1, max(2, int(math.ceil((x1 - x0) / (a / 3.0))) + 1)


def period_grid_size(baseline_days: float, min_period: float, max_period: float, *, oversampling: float = 3,
                     stellar_mass: float = DEFAULT_STELLAR_MASS, stellar_radius: float = DEFAULT_STELLAR_RADIUS) -> int:
    """Number of trial periods :func:`period_grid` would return, without building the grid."""
    m, r = _check_star(stellar_mass, stellar_radius)
    p_min = max(float(min_period), roche_period())
    p_max = min(float(max_period), float(baseline_days))
    if p_min >= p_max:
        return 0
    return _ofir_steps(float(baseline_days), p_min, p_max, oversampling, _G * m * _M_SUN, r * _R_SUN)[2]


#: Bulk density of a rocky planet [g cm^-3] (Earth: 5.5) for the Roche floor.
ROCKY_DENSITY = 5.5


def roche_period(planet_density: float = ROCKY_DENSITY) -> float:
    """Shortest orbital period [d] at which a planet of this density survives tides.

    ``P_min ~ 12.6 h (rho_p / 1 g cm^-3)^-1/2`` (Rappaport et al. 2013, ApJL
    773, L15, for a fluid body filling its Roche lobe): independent of the
    star, so a wrong catalogue radius can never empty the period grid.
    0.22 d for an Earth-like density.
    """
    return 12.6 / 24.0 / math.sqrt(float(planet_density))


def orbit_period(a_rs: float, stellar_mass: float = 1.0, stellar_radius: float = 1.0) -> float:
    """Orbital period [d] at ``a_rs`` stellar radii around a star (Kepler's third law)."""
    m, r = _check_star(stellar_mass, stellar_radius)
    return float(astro.orbit_period(float(a_rs), m, r))


def central_transit_duration(periods, stellar_mass: float = 1.0, stellar_radius: float = 1.0) -> np.ndarray:
    """Duration of a central transit of a small planet on a circular orbit.

    :math:`T \\approx \\frac{P}{\\pi} \\frac{R_*}{a}`, with :math:`a` from
    Kepler's third law, i.e.
    :math:`T \\approx 13\\,\\mathrm{h}\\,(P/365\\,\\mathrm{d})^{1/3}(\\rho_*/\\rho_\\odot)^{-1/3}`.

    Parameters
    ----------
    periods : array_like
        Orbital periods in days.
    stellar_mass, stellar_radius : float
        Solar units.

    Returns
    -------
    ndarray
        Durations in days, same shape as ``periods``.
    """
    m, r = _check_star(stellar_mass, stellar_radius)
    return np.asarray(astro.central_transit_duration(periods, m, r))


def duration_grid(
    periods,
    stellar_mass: float = DEFAULT_STELLAR_MASS,
    stellar_radius: float = DEFAULT_STELLAR_RADIUS,
    *,
    n_durations: int = 8,
    min_fraction: float = 0.3,
    max_fraction: float = 1.5,
    min_duration_hours: float = 0.5,
    max_duration_hours: float = 12.0,
    max_duty_cycle: float = 0.12,
) -> np.ndarray:
    """Trial box durations for each trial period, scaled to the star.

    For each period the durations are spaced geometrically from
    ``min_fraction`` to ``max_fraction`` times the central-transit duration
    (:func:`central_transit_duration`), then clipped to
    [``min_duration_hours``, ``max_duration_hours``] and to
    ``max_duty_cycle`` x period.

    Parameters
    ----------
    periods : array_like, shape (n_periods,)
        Trial periods in days.
    stellar_mass, stellar_radius : float, optional
        Solar units; default 1 (use :func:`stellar_params` for fallbacks).
    n_durations : int, optional
        Durations per period (default 8).
    min_fraction, max_fraction : float, optional
        Range relative to the central-transit duration (default 0.3-1.5).
    min_duration_hours, max_duration_hours : float, optional
        Floor and ceiling in hours (default 0.5 h and 12 h).
    max_duty_cycle : float, optional
        No duration exceeds this fraction of its period (default 0.12).

    Returns
    -------
    durations : ndarray of float64, shape (n_periods, n_durations)
        Durations in days; each row is non-decreasing.  After clipping a row
        may hold repeated values, which cost a little time and change nothing.

    Raises
    ------
    ConfigError
        If the fractions or limits are inconsistent.

    Examples
    --------
    >>> d = duration_grid([1.0, 10.0])
    >>> d.shape
    (2, 8)
    """
    p = np.asarray(periods, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise InputError("periods must be a non-empty 1-D array of positive days")
    if int(n_durations) != n_durations or n_durations < 1:
        raise ConfigError(f"n_durations must be an integer >= 1, got {n_durations!r}")
    if not (0 < min_fraction <= max_fraction):
        raise ConfigError("need 0 < min_fraction <= max_fraction")
    if not (0 < min_duration_hours <= max_duration_hours):
        raise ConfigError("need 0 < min_duration_hours <= max_duration_hours")
    if not (0 < max_duty_cycle < 1):
        raise ConfigError("max_duty_cycle must be in (0, 1)")
    t_c = central_transit_duration(p, stellar_mass, stellar_radius)
    frac = np.geomspace(min_fraction, max_fraction, int(n_durations))
    d = t_c[:, None] * frac[None, :]
    d = np.clip(d, min_duration_hours / 24.0, max_duration_hours / 24.0)
    d = np.minimum(d, max_duty_cycle * p[:, None])
    return np.ascontiguousarray(d)
