"""Simulated TESS 2-min targets: stellar parameters, aperture and noise budget.

Main-sequence relations (Teff -> radius, mass) interpolate the dwarf sequence
of Pecaut & Mamajek (2013, ApJS 208, 9; table version 2022), with log-normal
scatter of 8 % in radius (age/metallicity spread) and 5 % in mass.  The Teff
mix (20 % M, 30 % K, 35 % G, 15 % F) roughly follows the 2-min target lists
(Stassun et al. 2018, CTL priorities; Fausnaugh et al. 2021).  TESS magnitudes
are drawn between 6.5 and 13.5, weighted toward faint (as 2-min targets are);
M dwarfs are at least Tmag 9.

Simulated TIC IDs are ``9_000_000_000 + i`` (:data:`TIC_BASE`): the real TIC
v8 stops near 2.0e9, so they can never collide with a real star, and they fit
the int64 ``tic_id`` column of :mod:`exoray.schemas`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional

import numpy as np

from ..astro import LOGG_SUN, stellar_density
from . import noise
from .transit import limb_darkening_tess

__all__ = ["Star", "draw_star", "main_sequence", "mass_to_teff_radius", "TIC_BASE"]

TIC_BASE = 9_000_000_000

# Teff [K], R [Rsun], M [Msun]: Pecaut & Mamajek (2013) dwarf sequence (rounded)
_MS = np.array(
    [
        [2850, 0.137, 0.100],
        [3060, 0.196, 0.162],
        [3210, 0.274, 0.230],
        [3410, 0.404, 0.370],
        [3550, 0.446, 0.440],
        [3680, 0.501, 0.500],
        [3850, 0.588, 0.570],
        [4050, 0.654, 0.640],
        [4450, 0.713, 0.730],
        [4830, 0.764, 0.800],
        [5270, 0.831, 0.880],
        [5490, 0.914, 0.940],
        [5660, 0.977, 0.985],
        [5770, 1.010, 1.000],
        [5920, 1.100, 1.060],
        [6150, 1.230, 1.180],
        [6510, 1.360, 1.330],
        [6810, 1.540, 1.460],
        [7220, 1.730, 1.610],
    ]
)


def main_sequence(teff):
    """(radius [Rsun], mass [Msun]) of a dwarf of effective temperature ``teff`` [K]."""
    t = np.clip(teff, _MS[0, 0], _MS[-1, 0])
    return float(np.interp(t, _MS[:, 0], _MS[:, 1])), float(np.interp(t, _MS[:, 0], _MS[:, 2]))


def mass_to_teff_radius(mass):
    """(Teff [K], radius [Rsun]) of a dwarf of mass ``mass`` [Msun] (same table)."""
    m = np.clip(mass, _MS[0, 2], _MS[-1, 2])
    return float(np.interp(m, _MS[:, 2], _MS[:, 0])), float(np.interp(m, _MS[:, 2], _MS[:, 1]))


@dataclass
class Star:
    """One simulated target and its photometric set-up.

    Attributes
    ----------
    tic_id : int
    tmag : float
        TESS magnitude.
    teff : float
        Effective temperature [K].
    radius, mass : float
        [Rsun], [Msun].
    logg : float
        log10 surface gravity [cgs].
    density : float
        Mean density [g cm^-3].
    mh : float
        Metallicity [dex].
    ra, dec : float
        [deg].
    u1, u2 : float
        TESS-band quadratic limb darkening.
    npix : int
        Pixels in the optimal aperture.
    flfrcsap, crowdsap : float
        SPOC flux fraction and crowding metric.
    sky : float
        Background [e-/s/pixel].
    sigma_white : float
        Per-2-min-cadence white noise, relative (PDCSAP units).
    red_1h_ppm, red_tau_hr : float
        Correlated-noise amplitude in 1-h bins [ppm] and its OU time scale [h].
    rot_period, rot_amp : float
        Rotation period [d] (NaN: none) and peak-to-peak amplitude (relative).
    flare_rate : float
        Flares per day above 0.1 % amplitude.
    camera, ccd : int
    col, row : float
        Target position on the CCD [pixel].
    """

    tic_id: int
    tmag: float
    teff: float
    radius: float
    mass: float
    logg: float
    density: float
    mh: float
    ra: float
    dec: float
    u1: float
    u2: float
    npix: int
    flfrcsap: float
    crowdsap: float
    sky: float
    sigma_white: float
    red_1h_ppm: float
    red_tau_hr: float
    rot_period: float = float("nan")
    rot_amp: float = 0.0
    flare_rate: float = 0.0
    camera: int = 1
    ccd: int = 1
    col: float = 1000.0
    row: float = 1000.0

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def draw_star(
    rng: np.random.Generator,
    tic_id: int,
    *,
    tmag: Optional[float] = None,
    teff: Optional[float] = None,
    variability: Optional[str] = None,
) -> Star:
    """Draw a random main-sequence TESS 2-min target.

    Parameters
    ----------
    rng : numpy.random.Generator
    tic_id : int
    tmag, teff : float, optional
        Force the magnitude / temperature.
    variability : {"quiet", "rotator", "flarer", None}
        ``None`` draws it: M dwarfs flare often and rotate fast; about 35 %
        of FGK stars show measurable spot modulation.

    Returns
    -------
    Star
    """
    if teff is None:
        cls = rng.choice(4, p=[0.20, 0.30, 0.35, 0.15])
        lo, hi = [(2900, 3900), (3900, 5300), (5300, 6000), (6000, 7000)][cls]
        teff = float(rng.uniform(lo, hi))
    r0, m0 = main_sequence(teff)
    radius = r0 * float(np.exp(rng.normal(0, 0.08)))
    mass = m0 * float(np.exp(rng.normal(0, 0.05)))
    density = stellar_density(mass, radius)
    logg = float(LOGG_SUN + np.log10(mass / radius**2))
    if tmag is None:
        tmag = 6.5 + 7.0 * float(rng.uniform()) ** 0.6
        if teff < 3900:
            tmag = max(tmag, 9.0 + float(rng.uniform(0, 1)))
    npix = int(max(3, round(noise.aperture_npix(tmag) * np.exp(rng.normal(0, 0.15)))))
    flfr = float(np.clip(noise.flux_fraction(tmag) + rng.normal(0, 0.02), 0.5, 0.99))
    contam = min(0.5, float(rng.exponential(0.01 + 0.012 * max(tmag - 8.0, 0.0))))
    crowd = 1.0 - contam
    sky = 110.0 * float(np.exp(rng.normal(0, 0.25)))
    sig = float(noise.white_noise_rel(tmag, npix=npix, flfrac=flfr, crowdsap=crowd, sky=sky))
    red = float(noise.red_noise_1h_ppm(sig) * np.exp(rng.normal(0, 0.3)))
    tau = float(np.exp(rng.uniform(np.log(0.5), np.log(6.0))))
    if variability is None:
        pv = [0.45, 0.35, 0.20] if teff < 3900 else [0.60, 0.35, 0.05]
        variability = str(rng.choice(["quiet", "rotator", "flarer"], p=pv))
    rot_p, rot_a, flare = float("nan"), 0.0, 0.0
    if variability in ("rotator", "flarer"):
        rot_p = float(np.exp(rng.uniform(np.log(0.5), np.log(30.0))))
        # faster rotators are more active (McQuillan et al. 2014, Fig. 10)
        rot_a = float(np.exp(rng.uniform(np.log(1e-3), np.log(3e-2)) - 0.3 * np.log(rot_p / 5.0)))
        rot_a = float(np.clip(rot_a, 1e-3, 3e-2))
    if variability == "flarer":
        flare = float(np.exp(rng.uniform(np.log(0.1), np.log(3.0))))
    u1, u2 = limb_darkening_tess(teff, logg)
    u1 = float(np.clip(u1 + rng.normal(0, 0.03), 0.0, 0.9))
    u2 = float(np.clip(u2 + rng.normal(0, 0.03), -0.1, 0.9 - u1))
    return Star(
        tic_id=int(tic_id),
        tmag=float(tmag),
        teff=float(teff),
        radius=float(radius),
        mass=float(mass),
        logg=logg,
        density=float(density),
        mh=float(rng.normal(-0.05, 0.2)),
        ra=float(rng.uniform(0, 360)),
        dec=float(np.degrees(np.arcsin(rng.uniform(-1, 1)))),
        u1=u1,
        u2=u2,
        npix=npix,
        flfrcsap=flfr,
        crowdsap=float(crowd),
        sky=float(sky),
        sigma_white=sig,
        red_1h_ppm=red,
        red_tau_hr=tau,
        rot_period=rot_p,
        rot_amp=rot_a,
        flare_rate=flare,
        camera=int(rng.integers(1, 5)),
        ccd=int(rng.integers(1, 5)),
        col=float(rng.uniform(60, 2080)),
        row=float(rng.uniform(20, 2030)),
    )
