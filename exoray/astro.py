"""Physical constants and Kepler-orbit relations shared by every stage.

The search, the vetting statistics, the simulator and the ranker all turn a
period and a star into an orbit (a/R*, a central-transit duration, a density)
and a radius ratio into a planet radius.  They take their constants and those
relations from here, so that a planet injected by the simulator, searched on
a grid and vetted for a plausible duration sees one and the same star.

Constants are the values :mod:`astropy.constants` uses, written out so that the
search also runs where astropy is not installed (``tests/unit/test_astro.py``
checks them against astropy):

* Newton's constant :data:`G`: CODATA 2018 (unchanged in CODATA 2022).
* :data:`R_SUN`, :data:`R_EARTH` (equatorial), :data:`R_JUP` (equatorial)
  and the solar mass parameter :data:`GM_SUN`: IAU 2015 Resolution B3 nominal
  values (Prsa et al. 2016, AJ 152, 41).
* :data:`M_SUN` is ``GM_SUN / G``, as in astropy: IAU 2015 B3 defines only the
  product, which is known far better than either factor.

Functions take solar units (mass in M_sun, radius in R_sun) and days and are
numpy-vectorised: scalars give numpy scalars, arrays broadcast.  Orbits are
circular and the planet's mass is neglected next to the star's.

References
----------
.. [1] Prsa, A. et al. 2016, AJ 152, 41, "Nominal values for selected solar
       and planetary quantities: IAU 2015 Resolution B3".
.. [2] Tiesinga, E. et al. 2021, Rev. Mod. Phys. 93, 025010 (CODATA 2018).
.. [3] Seager, S. & Mallen-Ornelas, G. 2003, ApJ 585, 1038.
.. [4] Winn, J. N. 2010, "Transits and Occultations", arXiv:1001.2010.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

from .errors import ConfigError

__all__ = [
    "G",
    "GM_SUN",
    "M_SUN",
    "R_SUN",
    "R_EARTH",
    "R_JUP",
    "DAY",
    "RHO_SUN",
    "RHO_SUN_SI",
    "LOGG_SUN",
    "R_SUN_IN_R_EARTH",
    "R_JUP_IN_R_EARTH",
    "a_over_rstar",
    "a_over_rstar_from_density",
    "density_from_a_over_rstar",
    "orbit_period",
    "central_transit_duration",
    "stellar_density",
    "radius_earth",
    "DEFAULT_STELLAR_MASS",
    "DEFAULT_STELLAR_RADIUS",
    "check_star",
    "stellar_params",
]

#: Newton's constant of gravitation [m^3 kg^-1 s^-2] (CODATA 2018).
G = 6.6743e-11
#: Nominal solar mass parameter G M_sun [m^3 s^-2] (IAU 2015 B3).
GM_SUN = 1.3271244e20
#: Solar mass [kg]: GM_SUN / G, the value astropy derives the same way.
M_SUN = 1.988409870698051e30
#: Nominal solar radius [m] (IAU 2015 B3).
R_SUN = 6.957e8
#: Nominal equatorial radius of the Earth [m] (IAU 2015 B3).
R_EARTH = 6.3781e6
#: Nominal equatorial radius of Jupiter [m] (IAU 2015 B3).
R_JUP = 7.1492e7
#: One day [s]; periods and durations are in days throughout.
DAY = 86400.0

#: Mean solar density [kg m^-3] (about 1410).
RHO_SUN_SI = M_SUN / (4.0 / 3.0 * math.pi * R_SUN**3)
#: Mean solar density [g cm^-3] (about 1.41).
RHO_SUN = RHO_SUN_SI / 1000.0
#: Solar surface gravity, log10(g / cm s^-2) (about 4.438).
LOGG_SUN = math.log10(G * M_SUN / R_SUN**2 * 100.0)
#: Solar radius in Earth radii (about 109.08).
R_SUN_IN_R_EARTH = R_SUN / R_EARTH
#: Jupiter's radius in Earth radii (about 11.21).
R_JUP_IN_R_EARTH = R_JUP / R_EARTH


def a_over_rstar(period, mass=1.0, radius=1.0):
    """Semi-major axis in stellar radii from Kepler's third law.

    :math:`a/R_* = (G M_* P^2 / 4\\pi^2)^{1/3} / R_*`.

    Parameters
    ----------
    period : float or array
        Orbital period [d].
    mass, radius : float or array
        Stellar mass [M_sun] and radius [R_sun].

    Returns
    -------
    float or ndarray
        a / R_*.

    References
    ----------
    Seager & Mallen-Ornelas (2003), eq. 8 with the planet's mass neglected.
    """
    p = np.asarray(period, dtype=np.float64) * DAY
    a = (G * np.asarray(mass, dtype=np.float64) * M_SUN * p**2 / (4 * math.pi**2)) ** (1.0 / 3.0)
    return a / (np.asarray(radius, dtype=np.float64) * R_SUN)


def a_over_rstar_from_density(period, rho_star):
    """a/R* from the period and the mean stellar density alone.

    Parameters
    ----------
    period : float or array
        Orbital period [d].
    rho_star : float or array
        Mean stellar density [g cm^-3] (Sun: :data:`RHO_SUN`, 1.41).  For a
        binary use ``rho_1 * (1 + q)`` (total mass over primary volume).

    Returns
    -------
    float or ndarray
        ``(G rho P^2 / (3 pi))**(1/3)``.

    References
    ----------
    Seager & Mallen-Ornelas (2003), eq. 9 with the planet's mass neglected.
    """
    rho = np.asarray(rho_star, float) * 1000.0
    p = np.asarray(period, float) * DAY
    return (G * rho * p**2 / (3.0 * np.pi)) ** (1.0 / 3.0)


def density_from_a_over_rstar(period, a_rs):
    """Mean stellar density [g cm^-3] implied by a transit's a/R* and period.

    The inverse of :func:`a_over_rstar_from_density`:
    :math:`\\rho_* = 3\\pi (a/R_*)^3 / (G P^2)`, what a fitted or observed
    transit shape says about its star whatever the catalogue says
    (Seager & Mallen-Ornelas 2003, eq. 9).
    """
    p = np.asarray(period, float) * DAY
    return 3.0 * np.pi * np.asarray(a_rs, float) ** 3 / (G * p**2) / 1000.0


def orbit_period(a_rs, mass=1.0, radius=1.0):
    """Orbital period [d] at ``a_rs`` stellar radii (Kepler's third law).

    :math:`P = 2\\pi \\sqrt{a^3 / G M_*}` with :math:`a = (a/R_*) R_*`; the
    inverse of :func:`a_over_rstar`.
    """
    a = np.asarray(a_rs, dtype=np.float64) * np.asarray(radius, dtype=np.float64) * R_SUN
    return 2 * math.pi * np.sqrt(a**3 / (G * np.asarray(mass, dtype=np.float64) * M_SUN)) / DAY


def central_transit_duration(period, mass=1.0, radius=1.0):
    """Total duration [d] of a central (b = 0) transit of a small planet.

    :math:`T = \\frac{P}{\\pi} \\arcsin(R_*/a)`, i.e. for the Sun
    :math:`T \\approx 13\\,\\mathrm{h}\\,(P/365\\,\\mathrm{d})^{1/3}
    (\\rho_*/\\rho_\\odot)^{-1/3}`, with ``period`` [d], ``mass`` [M_sun] and
    ``radius`` [R_sun] as in :func:`a_over_rstar`.  Where the orbit would lie
    inside the star (a < R*) the duration is half the period.

    References
    ----------
    Seager & Mallen-Ornelas (2003), eq. 3 with k = 0 and i = 90 deg;
    Winn (2010), eq. 14.
    """
    p = np.asarray(period, dtype=np.float64)
    return p / math.pi * np.arcsin(np.minimum(1.0, 1.0 / a_over_rstar(p, mass, radius)))


def stellar_density(mass, radius):
    """Mean stellar density [g cm^-3] of a star of ``mass`` M_sun and ``radius`` R_sun."""
    return np.asarray(mass, dtype=np.float64) / np.asarray(radius, dtype=np.float64) ** 3 * RHO_SUN_SI / 1000.0


def radius_earth(rp_rs, radius_rsun):
    """Planet radius [R_earth] from the radius ratio and the stellar radius [R_sun]."""
    return np.asarray(rp_rs, dtype=np.float64) * np.asarray(radius_rsun, dtype=np.float64) * R_SUN_IN_R_EARTH


# ---------------------------------------------------------------------------
# the star a light curve is searched, preprocessed or injected around
#
# Here rather than in the search stage: preprocessing (the detrending window)
# and the simulator (injections into real light curves) need the same star
# as the period grid, and neither may depend on the search.

#: Solar-type defaults used when a star's mass or radius is unknown.
DEFAULT_STELLAR_MASS = 1.0
DEFAULT_STELLAR_RADIUS = 1.0


# Sane ranges for stellar parameters fed to the grids (solar units).
_MASS_RANGE = (0.08, 5.0)
_RADIUS_RANGE = (0.08, 20.0)


def check_star(stellar_mass: float, stellar_radius: float) -> Tuple[float, float]:
    """``(mass, radius)`` as floats; a :class:`~exoray.errors.ConfigError` unless both are positive and finite."""
    m = float(stellar_mass)
    r = float(stellar_radius)
    if not (math.isfinite(m) and m > 0):
        raise ConfigError(f"stellar_mass must be a positive number of solar masses, got {stellar_mass!r}")
    if not (math.isfinite(r) and r > 0):
        raise ConfigError(f"stellar_radius must be a positive number of solar radii, got {stellar_radius!r}")
    return m, r


def stellar_params(
    mass: Optional[float] = None,
    radius: Optional[float] = None,
    logg: Optional[float] = None,
) -> Tuple[float, float]:
    """Mass and radius to use for the grids, with fallbacks.

    Parameters
    ----------
    mass, radius : float or None
        Stellar mass (M_sun) and radius (R_sun), e.g. from the TIC header.
    logg : float or None
        Surface gravity, log10(g / cm s^-2); used to fill a missing mass or
        radius from the other (:math:`g \\propto M/R^2`).

    Returns
    -------
    (mass, radius) : tuple of float
        Solar units, clipped to 0.08-5 M_sun and 0.08-20 R_sun.  Unknown values
        default to :data:`DEFAULT_STELLAR_MASS` / :data:`DEFAULT_STELLAR_RADIUS`.
    """

    def ok(v):
        return v is not None and math.isfinite(float(v)) and float(v) > 0

    m = float(mass) if ok(mass) else None
    r = float(radius) if ok(radius) else None
    g_rel = 10.0 ** (float(logg) - LOGG_SUN) if logg is not None and math.isfinite(float(logg)) else None
    if m is None and r is not None and g_rel is not None:
        m = g_rel * r * r
    elif r is None and m is not None and g_rel is not None:
        r = math.sqrt(m / g_rel)
    m = DEFAULT_STELLAR_MASS if m is None else m
    r = DEFAULT_STELLAR_RADIUS if r is None else r
    return float(np.clip(m, *_MASS_RANGE)), float(np.clip(r, *_RADIUS_RANGE))
