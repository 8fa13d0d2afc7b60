"""Is the transit duration possible for a planet around this star?"""

from __future__ import annotations

import logging
import math
from typing import Optional

from .. import astro
from ..astro import LOGG_SUN as _LOGG_SUN, R_JUP_IN_R_EARTH as _R_JUP_IN_R_EARTH
from ._common import VetResult, check_ephemeris
from ..errors import InputError

__all__ = ["duration_plausibility", "stellar_density"]

log = logging.getLogger(__name__)


def _opt_pos(v, name: str) -> Optional[float]:
    if v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError) as exc:
        raise InputError(f"'{name}' must be a number, got {v!r}") from exc
    if not math.isfinite(x):
        return None
    if x <= 0 and name != "logg":
        raise InputError(f"'{name}' must be positive, got {v!r}")
    return x


def stellar_density(stellar_radius=None, stellar_mass=None, logg=None):
    """Stellar mass and radius (solar units) from whatever is known.

    Uses, in order: mass and radius; radius and log g (M = R^2 g/g_sun);
    mass and log g (R = sqrt(M g_sun/g)); log g alone with M = 1; radius
    alone with the main-sequence relation M = R^1.25 (clipped to 0.1-1.5);
    nothing: the Sun.

    Returns
    -------
    tuple
        ``(mass, radius, rho_solar, source)`` with ``source`` a short string
        saying which of the above was used.
    """
    r = _opt_pos(stellar_radius, "stellar_radius")
    m = _opt_pos(stellar_mass, "stellar_mass")
    g = _opt_pos(logg, "logg")
    if r is not None and m is not None:
        src = "mass+radius"
    elif r is not None and g is not None:
        m, src = r * r * 10 ** (g - _LOGG_SUN), "radius+logg"
    elif m is not None and g is not None:
        r, src = math.sqrt(m / 10 ** (g - _LOGG_SUN)), "mass+logg"
    elif g is not None:
        m = 1.0
        r, src = math.sqrt(m / 10 ** (g - _LOGG_SUN)), "logg (M=1 assumed)"
    elif r is not None:
        m, src = min(max(r ** 1.25, 0.1), 1.5), "radius (main-sequence mass assumed)"
    elif m is not None:
        r, src = m ** 0.8, "mass (main-sequence radius assumed)"
    else:
        m, r, src = 1.0, 1.0, "solar default"
    return m, r, m / r ** 3, src


def duration_plausibility(
    period: float,
    duration: float,
    depth: Optional[float] = None,
    stellar_radius: Optional[float] = None,
    stellar_mass: Optional[float] = None,
    logg: Optional[float] = None,
    *,
    too_long: float = 2.0,
    too_short: float = 0.15,
    max_companion_radius_rjup: float = 2.0,
) -> VetResult:
    """Observed duration vs the longest a planet transit can last.

    For a circular orbit the central (b = 0) transit lasts
    ``T_max = P/pi * asin((1 + k) R_*/a)`` (Seager & Mallen-Ornelas 2003,
    eq. 3), ``k = sqrt(depth)``, with ``a/R_*`` from Kepler's third law and
    the stellar density.  ``T_obs / T_max`` well above 1 means the star is
    bigger than assumed (a giant), or the eclipse is of a larger body (an EB,
    possibly blended); the default limit 2 allows for eccentricity
    (``(1 + e sin w)/sqrt(1 - e^2)``) and ~20% radius errors.  Ratios far
    below 1 need an extremely grazing geometry and usually mean a
    systematic.  The companion radius ``k R_*`` above ~2 R_Jup is not a
    planet (Thompson et al. 2018; Coughlin et al. 2016).

    Parameters
    ----------
    period : float
        Period (days).
    duration : float
        Observed total duration (days).
    depth : float, optional
        Fractional depth (0.01 = 1%); ``k = sqrt(depth)`` (0 if omitted).
    stellar_radius, stellar_mass : float, optional
        Solar units.
    logg : float, optional
        log10 surface gravity (cgs).
    too_long, too_short : float
        Flag limits on ``T_obs / T_max``.
    max_companion_radius_rjup : float
        Flag (``too_large``) when ``k R_*`` exceeds this (needs a known
        stellar radius or log g).

    Returns
    -------
    VetResult
        ``expected_max_duration`` (days), ``value``: ratio observed/expected,
        ``a_over_rstar``, ``stellar_density`` (g cm^-3),
        ``implied_density`` (g cm^-3, from the duration assuming b = 0),
        ``stellar_source``, ``companion_radius_earth``, ``too_long``,
        ``too_short``, ``too_large``, ``flag`` (any of them).

    Raises
    ------
    InputError
        Non-positive period or duration, duration >= period, negative depth
        or stellar parameters.

    Examples
    --------
    >>> r = duration_plausibility(365.25, 13.0 / 24.0, 8.4e-5, 1.0, 1.0)
    >>> 0.9 < r.value < 1.1
    True
    """
    period, _, duration = check_ephemeris(period, 0.0, duration)
    k = 0.0
    if depth is not None:
        dv = float(depth)
        if not math.isfinite(dv) or dv < 0:
            raise InputError(f"'depth' must be a non-negative fraction, got {depth!r}")
        k = math.sqrt(min(dv, 1.0))
    m, r, _, src = stellar_density(stellar_radius, stellar_mass, logg)
    a_r = float(astro.a_over_rstar(period, m, r))
    s = min((1.0 + k) / a_r, 1.0)
    t_max = period / math.pi * math.asin(s)
    ratio = duration / t_max
    # Density implied by the observed duration for b = 0 (Seager & Mallen-Ornelas eq. 9 form).
    a_r_obs = (1.0 + k) / max(math.sin(math.pi * duration / period), 1e-12)
    rho_obs = float(astro.density_from_a_over_rstar(period, a_r_obs))
    star_known = stellar_radius is not None or logg is not None
    rc = float(astro.radius_earth(k, r))
    too_large = bool(star_known and rc > max_companion_radius_rjup * _R_JUP_IN_R_EARTH)
    long_, short_ = bool(ratio > too_long), bool(ratio < too_short)
    return VetResult(
        test="duration",
        measured="observed / maximum central-transit duration",
        period=period, duration=duration,
        expected_max_duration=float(t_max), a_over_rstar=float(a_r),
        stellar_mass=m, stellar_radius=r, stellar_density=float(astro.stellar_density(m, r)),
        implied_density=float(rho_obs), stellar_source=src,
        companion_radius_earth=float(rc),
        too_long=long_, too_short=short_, too_large=too_large,
        value=float(ratio), significance=float("nan"),
        flag=bool(long_ or short_ or too_large), reason=None,
    )
