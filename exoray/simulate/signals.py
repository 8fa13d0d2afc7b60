"""Signal descriptions (planets, eclipsing binaries) and their random draws.

Physical consistency: a/R* always follows from the period and the host's
density through Kepler's third law, so durations match the star (Seager &
Mallen-Ornelas 2003).  Planet orbits are circular.  EB companions are
main-sequence stars of mass ``q M1`` (Pecaut & Mamajek 2013 sequence) with
black-body TESS-band surface-brightness ratios; eccentricities for P > 2 d
follow the loose period-eccentricity envelope of binaries (Raghavan et al.
2010, ApJS 190, 1; Mazeh 2008, EAS 29, 1), shifting the secondary eclipse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ..astro import stellar_density
from .stars import Star, mass_to_teff_radius
from .transit import (
    a_rs_from_density,
    inclination_from_b,
    limb_darkening_tess,
    surface_brightness_ratio,
)

__all__ = ["PlanetSignal", "EBSignal", "draw_planet_geometry", "draw_eb"]


@dataclass
class PlanetSignal:
    """A transiting planet on the target (circular unless ``ecc`` given).

    Attributes
    ----------
    period, t0 : float
        [d], mid-transit [BTJD].
    rp_rs, a_rs, b : float
    ecc, w : float
    u1, u2 : float, optional
        Limb darkening; default: the star's.
    """

    period: float
    t0: float
    rp_rs: float
    a_rs: float
    b: float
    ecc: float = 0.0
    w: float = 90.0
    u1: Optional[float] = None
    u2: Optional[float] = None
    single: bool = False


@dataclass
class EBSignal:
    """An eclipsing binary, on target or blended.

    Attributes
    ----------
    period, t0 : float
        [d], primary eclipse [BTJD].
    k, a_rs, b : float
        R2/R1, a/R1, primary impact parameter.
    sb_ratio, q : float
        TESS-band surface-brightness ratio S2/S1, mass ratio M2/M1.
    ld1, ld2 : (float, float)
        Quadratic limb darkening of each star.
    ecc, w : float
    blend_ratio : float or None
        ``None`` for an EB that *is* the target.  For a blend: flux of the
        binary over the target's flux, both inside the aperture (the observed
        depth is the intrinsic one times this ratio, after SPOC's crowding
        correction).
    offset_px : (float, float)
        Blend position relative to the target [pixel] (column, row).
    """

    period: float
    t0: float
    k: float
    a_rs: float
    b: float
    sb_ratio: float
    q: float
    ld1: Tuple[float, float]
    ld2: Tuple[float, float]
    ecc: float = 0.0
    w: float = 90.0
    blend_ratio: Optional[float] = None
    offset_px: Tuple[float, float] = (0.0, 0.0)

    @property
    def inc(self) -> float:
        return float(inclination_from_b(self.a_rs, self.b, self.ecc, self.w))


def draw_planet_geometry(rng, star: Star, period: float, b: Optional[float] = None):
    """(a_rs, b) for a planet of ``period`` around ``star``."""
    a_rs = float(a_rs_from_density(period, star.density))
    if b is None:
        b = float(rng.uniform(0.0, 0.9))
    return a_rs, b


def draw_eb(rng, primary_teff: float, primary_mass: float, primary_radius: float, tstart: float,
            *, period: Optional[float] = None, grazing: Optional[bool] = None,
            eccentric: Optional[bool] = None) -> EBSignal:
    """Draw a physically consistent detached binary.

    Parameters
    ----------
    rng : numpy.random.Generator
    primary_teff, primary_mass, primary_radius : float
        Star 1 [K, Msun, Rsun].
    tstart : float
        Start of the data [BTJD]; the primary epoch is drawn within one period.
    period : float, optional
        Default log-uniform in 0.6-20 d.
    grazing : bool, optional
        Force a V-shaped (grazing) eclipse; default 30 % chance.
    eccentric : bool, optional
        Default 35 % chance for P > 2 d.
    """
    if period is None:
        period = float(np.exp(rng.uniform(np.log(0.6), np.log(20.0))))
    q = float(rng.uniform(0.25, 1.0))
    teff2, r2 = mass_to_teff_radius(q * primary_mass)
    teff2 = min(teff2, primary_teff)
    k = float(np.clip(r2 / primary_radius * np.exp(rng.normal(0, 0.05)), 0.1, 1.0))
    rho1 = stellar_density(primary_mass, primary_radius)
    a_rs = float(a_rs_from_density(period, rho1 * (1 + q)))
    a_rs = max(a_rs, 2.2 * (1 + k))  # stay detached
    if eccentric is None:
        eccentric = period > 2.0 and rng.uniform() < 0.35
    ecc = float(rng.uniform(0.05, 0.4)) if eccentric else 0.0
    w = float(rng.uniform(0, 360)) if eccentric else 90.0
    if grazing is None:
        grazing = rng.uniform() < 0.3
    bmax_geom = a_rs * (1 - ecc**2) / (1 + ecc * np.sin(np.radians(w)))
    if grazing:
        b = float(rng.uniform(max(1 - k, 0.0) + 0.1 * k, 1 + 0.8 * k))
    else:
        b = float(rng.uniform(0.0, max(1 - k, 0.05) + 0.1 * k))
    b = min(b, 0.99 * bmax_geom)
    sb = surface_brightness_ratio(teff2, primary_teff)
    ld1 = limb_darkening_tess(primary_teff)
    ld2 = limb_darkening_tess(teff2)
    t0 = float(tstart + rng.uniform(0.1, 1.0) * period)
    return EBSignal(period=period, t0=t0, k=k, a_rs=a_rs, b=b, sb_ratio=sb, q=q,
                    ld1=ld1, ld2=ld2, ecc=ecc, w=w)
