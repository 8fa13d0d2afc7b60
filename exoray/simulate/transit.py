"""Transit and eclipsing-binary light-curve models.

Physics
-------
* Occultation of a quadratically limb-darkened star by an opaque disk:
  Mandel & Agol (2002, ApJ 580, L171), evaluated by the C kernel of
  ``batman`` (Kreidberg 2015, PASP 127, 1161).  :func:`occult_quadratic_numeric`
  is an independent, slow reference (direct integration of the limb-darkened
  intensity over annuli) that the tests compare against.
* Keplerian geometry: sky-projected separation from the (eccentric) two-body
  orbit, mid-transit at true anomaly ``f = pi/2 - omega`` (Winn 2010,
  "Transits and Occultations", arXiv:1001.2010, eqs. 1-3 and 7).
* Durations: Winn (2010) eqs. 14-16; a/R* from the stellar density through
  Kepler's third law (Seager & Mallen-Ornelas 2003, ApJ 585, 1038, eq. 9).
* Finite integration time: the model is averaged over ``supersample`` evenly
  spaced sub-exposures (Kipping 2010, MNRAS 408, 1758).
* Eclipsing binaries: two limb-darkened spheres; the primary eclipse is star 2
  occulting star 1, the secondary is star 1 occulting star 2 (radius ratio
  ``1/k``).  Out-of-eclipse ellipsoidal variation follows Morris & Naftilan
  (1993, ApJ 419, 344) and reflection the simple Lambert-sphere approximation
  of Wilson (1990) / Faigler & Mazeh (2011, MNRAS 415, 3921).
* Quadratic limb-darkening coefficients for the TESS band are interpolated in
  a small table read off Claret (2017, A&A 600, A30), log g = 4.5, [M/H] = 0
  (accurate to about +-0.05, which is below the spread between stellar-atmosphere
  grids).

All times are in days, angles in degrees unless stated.
"""

from __future__ import annotations

import logging
from typing import Optional, Tuple

import numpy as np

from ..astro import DAY as DAY_S, G as G_SI, M_SUN as MSUN_KG, R_SUN as RSUN_M, RHO_SUN_SI as RHO_SUN
from ..astro import a_over_rstar_from_density as a_rs_from_density
from ..astro import density_from_a_over_rstar as density_from_a_rs
from ..errors import InputError

__all__ = [
    "G_SI",
    "a_rs_from_density",
    "density_from_a_rs",
    "inclination_from_b",
    "transit_duration",
    "full_duration",
    "sky_separation",
    "occult_quadratic",
    "occult_quadratic_numeric",
    "transit_model",
    "eb_model",
    "secondary_eclipse_phase",
    "limb_darkening_tess",
    "surface_brightness_ratio",
    "dilute",
]

log = logging.getLogger(__name__)

try:  # batman's Mandel & Agol kernel (C, exact)
    from batman import _quadratic_ld as _batman_qld  # type: ignore

    _HAVE_BATMAN = True
except Exception:  # pragma: no cover - batman is a declared dependency
    _batman_qld = None
    _HAVE_BATMAN = False


# --------------------------------------------------------------------------- geometry
def _ecc_factor(ecc, w):
    """``(1 - e^2) / (1 + e sin w)``: star-planet distance at conjunction over a."""
    return (1.0 - ecc**2) / (1.0 + ecc * np.sin(np.radians(w)))


def inclination_from_b(a_rs, b, ecc=0.0, w=90.0):
    """Orbital inclination [deg] for impact parameter ``b`` (Winn 2010 eq. 7)."""
    cosi = np.asarray(b, float) / (np.asarray(a_rs, float) * _ecc_factor(ecc, w))
    if np.any(np.abs(cosi) > 1):
        raise InputError(f"impact parameter b={b} impossible for a/R*={a_rs}")
    return np.degrees(np.arccos(cosi))


def transit_duration(period, a_rs, rp_rs, b, ecc=0.0, w=90.0):
    """Total (first to fourth contact) transit duration T14 [d].

    Winn (2010) eqs. 14 and 16.  Returns 0 when the body does not transit
    (``b >= 1 + rp_rs``).

    Parameters
    ----------
    period : float
        Orbital period [d].
    a_rs, rp_rs, b : float
        Semi-major axis and radius in stellar radii; impact parameter.
    ecc, w : float
        Eccentricity and argument of periastron [deg].
    """
    inc = np.radians(inclination_from_b(a_rs, b, ecc, w))
    arg = np.sqrt(np.clip((1 + rp_rs) ** 2 - b**2, 0, None)) / (a_rs * np.sin(inc))
    t = period / np.pi * np.arcsin(np.clip(arg, 0, 1))
    return t * np.sqrt(1 - ecc**2) / (1 + ecc * np.sin(np.radians(w)))


def full_duration(period, a_rs, rp_rs, b, ecc=0.0, w=90.0):
    """Flat-bottom (second to third contact) duration T23 [d]; 0 if grazing."""
    inc = np.radians(inclination_from_b(a_rs, b, ecc, w))
    arg = np.sqrt(np.clip((1 - rp_rs) ** 2 - b**2, 0, None)) / (a_rs * np.sin(inc))
    t = period / np.pi * np.arcsin(np.clip(arg, 0, 1))
    return t * np.sqrt(1 - ecc**2) / (1 + ecc * np.sin(np.radians(w)))


def _solve_kepler(mean_anom, ecc):
    """Eccentric anomaly E from M = E - e sin E (Newton, vectorised)."""
    if ecc == 0:
        return mean_anom
    e_anom = mean_anom + ecc * np.sin(mean_anom)
    for _ in range(30):
        f = e_anom - ecc * np.sin(e_anom) - mean_anom
        step = f / (1 - ecc * np.cos(e_anom))
        e_anom = e_anom - step
        if np.max(np.abs(step)) < 1e-12:
            break
    return e_anom


def _true_anomaly(time, period, t0, ecc, w):
    """True anomaly [rad] with mid-transit (f = pi/2 - w) at ``t0``."""
    wr = np.radians(w)
    f_c = np.pi / 2 - wr
    if ecc == 0:
        return f_c + 2 * np.pi * (np.asarray(time) - t0) / period
    e_c = 2 * np.arctan(np.sqrt((1 - ecc) / (1 + ecc)) * np.tan(f_c / 2))
    m_c = e_c - ecc * np.sin(e_c)
    m = m_c + 2 * np.pi * (np.asarray(time) - t0) / period
    e_anom = _solve_kepler(np.mod(m, 2 * np.pi), ecc)
    return 2 * np.arctan2(np.sqrt(1 + ecc) * np.sin(e_anom / 2), np.sqrt(1 - ecc) * np.cos(e_anom / 2))


def sky_separation(time, period, t0, a_rs, inc, ecc=0.0, w=90.0) -> Tuple[np.ndarray, np.ndarray]:
    """Sky-projected centre separation and which body is in front.

    Parameters
    ----------
    time : array
        Times [d].
    period, t0 : float
        Period [d] and time of (primary) mid-transit [d].
    a_rs : float
        Semi-major axis in units of the primary's radius.
    inc, ecc, w : float
        Inclination [deg], eccentricity, argument of periastron of the
        companion's orbit [deg] (Winn 2010 convention).

    Returns
    -------
    z : ndarray
        Separation in primary radii.
    front : ndarray of bool
        True where the companion is in front of the primary.
    """
    f = _true_anomaly(time, period, t0, ecc, w)
    r = a_rs * (1 - ecc**2) / (1 + ecc * np.cos(f)) if ecc else np.full_like(f, a_rs, dtype=float)
    wf = np.radians(w) + f
    ci = np.cos(np.radians(inc))
    x = -r * np.cos(wf)
    y = -r * np.sin(wf) * ci
    zz = r * np.sin(wf) * np.sin(np.radians(inc))
    return np.sqrt(x * x + y * y), zz > 0


def secondary_eclipse_phase(ecc, w):
    """Orbital phase (0..1, primary at 0) of the secondary eclipse.

    Computed from the Kepler equation at ``f = 3 pi/2 - w``; equals 0.5 for
    circular orbits, ``~0.5 + 2 e cos(w)/pi`` to first order (Winn 2010 eq. 33).
    """
    if ecc == 0:
        return 0.5
    wr = np.radians(w)

    def mean_anom(f):
        e_anom = 2 * np.arctan(np.sqrt((1 - ecc) / (1 + ecc)) * np.tan(f / 2))
        return e_anom - ecc * np.sin(e_anom)

    dm = mean_anom(3 * np.pi / 2 - wr) - mean_anom(np.pi / 2 - wr)
    return float(np.mod(dm / (2 * np.pi), 1.0))


# --------------------------------------------------------------------------- occultation
def occult_quadratic(z, p, u1, u2):
    """Visible fraction of a quadratically limb-darkened star occulted by a disk.

    Parameters
    ----------
    z : array
        Centre separation in units of the occulted star's radius (>= 0).
    p : float
        Radius ratio occulter / occulted star (may exceed 1).
    u1, u2 : float
        Quadratic limb-darkening coefficients, ``I(mu)/I(1) = 1 - u1 (1-mu) - u2 (1-mu)^2``.

    Returns
    -------
    ndarray
        Relative flux, 1 out of occultation (Mandel & Agol 2002).
    """
    z = np.ascontiguousarray(np.abs(np.asarray(z, dtype=np.float64)))
    if p <= 0:
        return np.ones_like(z)
    if _HAVE_BATMAN:
        out = np.ones_like(z)
        m = z < 1.0 + p
        if m.any():
            zm = z[m]
            # the elliptic-integral kernel does not converge exactly at z = |1 - p|
            # (and is ill-conditioned at z = p): step off those points by 1e-7
            for special in (abs(1.0 - p), p):
                near = np.abs(zm - special) < 1e-7
                zm[near] = special + 1e-7
            vals = _batman_qld._quadratic_ld(np.ascontiguousarray(zm), float(p), float(u1), float(u2), 1)
            bad = ~np.isfinite(vals) | (vals < -1e-12) | (vals > 1 + 1e-12)
            if bad.any():  # pragma: no cover - defensive
                vals[bad] = occult_quadratic_numeric(zm[bad], p, u1, u2)
            out[m] = vals
        return out
    return occult_quadratic_numeric(z, p, u1, u2)  # pragma: no cover


def occult_quadratic_numeric(z, p, u1, u2, n_rings: int = 4000):
    """Slow reference for :func:`occult_quadratic`: direct disk integration.

    The stellar disk is cut into ``n_rings`` annuli, evenly spaced in
    ``theta`` with ``r = sin(theta)`` (dense near the limb where the intensity
    changes fastest); for each annulus the covered arc length is exact
    (``2 arccos((r^2 + z^2 - p^2) / (2 r z))``), so the only approximation is
    the midpoint rule in radius.  Independent of the Mandel & Agol algebra.
    """
    z = np.atleast_1d(np.abs(np.asarray(z, dtype=np.float64)))
    th_edges = np.linspace(0.0, np.pi / 2, n_rings + 1)
    r_edges = np.sin(th_edges)
    r = 0.5 * (r_edges[1:] + r_edges[:-1])
    dr = np.diff(r_edges)
    mu = np.sqrt(1.0 - r * r)
    intensity = 1.0 - u1 * (1 - mu) - u2 * (1 - mu) ** 2
    w = intensity * 2.0 * np.pi * r * dr
    total = w.sum()
    # centre-on case (z == 0): area fraction of each annulus inside radius p
    cover0 = np.clip((p * p - r_edges[:-1] ** 2) / (r_edges[1:] ** 2 - r_edges[:-1] ** 2), 0, 1)
    out = np.empty(z.size)
    for i0 in range(0, z.size, 256):
        zz = z[i0 : i0 + 256, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            c = (r[None, :] ** 2 + zz**2 - p * p) / (2.0 * r[None, :] * zz)
        frac = np.where(np.isfinite(c), np.arccos(np.clip(c, -1, 1)) / np.pi, 0.0)
        frac = np.where(zz == 0, cover0[None, :], frac)
        out[i0 : i0 + 256] = 1.0 - (frac * w[None, :]).sum(axis=1) / total
    return out


def _supersample(time, exptime, supersample):
    time = np.asarray(time, float)
    if not exptime or supersample is None or supersample <= 1:
        return time, 1
    n = int(supersample)
    offs = (np.arange(n) + 0.5) / n - 0.5
    return (time[:, None] + exptime * offs[None, :]).ravel(), n


def _near_mask(time, period, t0, half_window):
    """Cadences within ``half_window`` of any (primary) mid-transit."""
    ph = np.mod(np.asarray(time) - t0 + 0.5 * period, period) - 0.5 * period
    return np.abs(ph) < half_window


def transit_model(
    time,
    period: float,
    t0: float,
    rp_rs: float,
    a_rs: float,
    b: float,
    u1: float = 0.4,
    u2: float = 0.2,
    *,
    ecc: float = 0.0,
    w: float = 90.0,
    exptime: Optional[float] = None,
    supersample: int = 1,
) -> np.ndarray:
    """Relative flux of a star transited by a dark planet.

    Parameters
    ----------
    time : array
        Mid-exposure times [d] (NaN allowed: output 1 there).
    period, t0 : float
        Period [d] and mid-transit time [d].
    rp_rs, a_rs, b : float
        Planet radius and semi-major axis in stellar radii, impact parameter.
    u1, u2 : float
        Quadratic limb darkening (TESS band: :func:`limb_darkening_tess`).
    ecc, w : float
        Eccentricity and argument of periastron [deg].
    exptime : float, optional
        Integration time [d] (e.g. 120/86400 for SPOC 2-min, 1800/86400 for
        30-min FFIs); with ``supersample > 1`` the model is averaged over it.
    supersample : int
        Sub-exposures per cadence (use ~1 for 2-min, 10-15 for 30-min).

    Returns
    -------
    ndarray
        Flux normalised to 1 out of transit.

    Examples
    --------
    >>> import numpy as np
    >>> f = transit_model(np.array([0.0, 1.0]), 3.0, 0.0, 0.1, 10.0, 0.2)
    >>> bool(f[0] < 0.99) and f[1] == 1.0
    True
    """
    time = np.asarray(time, float)
    out = np.ones(time.shape)
    if rp_rs <= 0:
        return out
    inc = float(inclination_from_b(a_rs, b, ecc, w))
    t14 = transit_duration(period, a_rs, rp_rs, min(b, 1 + rp_rs - 1e-9), ecc, w) if b < 1 + rp_rs else 0.0
    half = 0.5 * max(t14, 1e-3) + (exptime or 0.0) + 0.02 * period / max(a_rs, 1.0) + 1e-3
    fin = np.isfinite(time)
    m = fin & _near_mask(np.where(fin, time, 0.0), period, t0, min(half, 0.5 * period))
    if not m.any():
        return out
    ts, n = _supersample(time[m], exptime, supersample)
    z, front = sky_separation(ts, period, t0, a_rs, inc, ecc, w)
    zf = np.where(front, z, 1e3)
    f = occult_quadratic(zf, rp_rs, u1, u2)
    out[m] = f.reshape(-1, n).mean(axis=1)
    return out


def eb_model(
    time,
    period: float,
    t0: float,
    k: float,
    a_rs: float,
    b: float,
    sb_ratio: float,
    u1: Tuple[float, float] = (0.4, 0.2),
    u2: Tuple[float, float] = (0.4, 0.2),
    *,
    ecc: float = 0.0,
    w: float = 90.0,
    q: float = 1.0,
    ellipsoidal: Optional[float] = None,
    reflection: Optional[float] = None,
    exptime: Optional[float] = None,
    supersample: int = 1,
) -> np.ndarray:
    """Relative flux of a detached eclipsing binary (two spheres).

    Parameters
    ----------
    time : array
        Times [d].
    period, t0 : float
        Period [d]; time of primary eclipse (star 2 in front of star 1) [d].
    k : float
        Radius ratio R2/R1.
    a_rs : float
        Semi-major axis over R1.
    b : float
        Impact parameter of the primary eclipse (in R1); ``b > 1 - k`` is grazing.
    sb_ratio : float
        Ratio of disk-averaged surface brightness in the TESS band, star 2 / star 1;
        ``L2/L1 = sb_ratio * k^2``.
    u1, u2 : (float, float)
        Quadratic limb darkening of star 1 and of star 2.
    ecc, w : float
        Eccentricity and argument of periastron [deg] of star 2's relative orbit.
        The secondary eclipse falls at :func:`secondary_eclipse_phase`.
    q : float
        Mass ratio M2/M1 (for the ellipsoidal amplitude).
    ellipsoidal, reflection : float, optional
        Semi-amplitudes (relative flux).  Default: Morris & Naftilan (1993)
        ``A_ell = alpha q (R1/a)^3 sin^2 i`` per star with
        ``alpha = 0.15 (15 + u)(1 + tau) / (3 - u)``, ``tau = 0.4`` (gravity
        darkening) and ``u = u1 + u2``; reflection (Lambert sphere, signed, maximal at phase 0.5 when positive)
        ``A_ref = 0.5 A_g (k^2 L1 - L2) / (a/R1)^2 / (L1 + L2)`` with geometric albedo ``A_g = 0.5`` (irradiated stellar atmospheres).

    Returns
    -------
    ndarray
        Flux normalised to the mean out-of-eclipse system flux.
    """
    time = np.asarray(time, float)
    fin = np.isfinite(time)
    tt = np.where(fin, time, t0)
    inc = float(inclination_from_b(a_rs, b, ecc, w))
    l2 = sb_ratio * k * k
    l1 = 1.0
    ts, n = _supersample(tt, exptime, supersample)
    z, front = sky_separation(ts, period, t0, a_rs, inc, ecc, w)
    f1 = np.ones_like(z)
    f2 = np.ones_like(z)
    m1 = front & (z < 1 + k)
    if m1.any():
        f1[m1] = occult_quadratic(z[m1], k, *u1)
    m2 = (~front) & (z < 1 + k)
    if m2.any():
        f2[m2] = occult_quadratic(z[m2] / k, 1.0 / k, *u2)
    flux = (l1 * f1 + l2 * f2) / (l1 + l2)
    flux = flux.reshape(-1, n).mean(axis=1) if n > 1 else flux
    phase = 2 * np.pi * (tt - t0) / period
    si2 = np.sin(np.radians(inc)) ** 2
    if ellipsoidal is None:
        def alpha(u):
            return 0.15 * (15 + u) * (1 + 0.4) / (3 - u)

        e1 = alpha(sum(u1)) * q / a_rs**3 * si2 * l1
        e2 = alpha(sum(u2)) / max(q, 1e-6) * (k / a_rs) ** 3 * si2 * l2
        ellipsoidal = (e1 + e2) / (l1 + l2)
    if reflection is None:
        ag = 0.5
        # star 2 reflects L1 (max at phase 0.5), star 1 reflects L2 (max at phase 0)
        reflection = 0.5 * ag * (k * k * l1 - l2) / a_rs**2 / (l1 + l2)
    flux = flux - ellipsoidal * np.cos(2 * phase) - reflection * np.cos(phase)
    flux = np.where(fin, flux, 1.0)
    return flux


# --------------------------------------------------------------------------- stars
# Teff [K], u1, u2: TESS band, log g 4.5, [M/H] 0 (read off Claret 2017, A&A 600, A30).
_LD_TABLE = np.array(
    [
        [2800, 0.15, 0.45],
        [3200, 0.18, 0.40],
        [3600, 0.26, 0.33],
        [4000, 0.42, 0.20],
        [4500, 0.49, 0.16],
        [5000, 0.44, 0.19],
        [5500, 0.40, 0.21],
        [5800, 0.37, 0.23],
        [6200, 0.33, 0.25],
        [6600, 0.29, 0.27],
        [7200, 0.25, 0.29],
        [8000, 0.21, 0.30],
    ]
)


def limb_darkening_tess(teff, logg=4.5):
    """Quadratic limb-darkening coefficients (u1, u2) in the TESS band.

    Linear interpolation in Teff of a table read off Claret (2017, A&A 600,
    A30) for log g = 4.5 and solar metallicity; ``logg`` is accepted for API
    stability but its (small) effect is ignored.

    Returns
    -------
    (float, float)
    """
    t = float(np.clip(teff, _LD_TABLE[0, 0], _LD_TABLE[-1, 0]))
    return float(np.interp(t, _LD_TABLE[:, 0], _LD_TABLE[:, 1])), float(
        np.interp(t, _LD_TABLE[:, 0], _LD_TABLE[:, 2])
    )


def surface_brightness_ratio(teff2, teff1, wavelength_nm: float = 786.5):
    """Black-body surface-brightness ratio S2/S1 at the TESS pivot wavelength.

    ``(exp(hc/lambda k T1) - 1) / (exp(hc/lambda k T2) - 1)`` at the TESS
    band's pivot wavelength (~786.5 nm; Sullivan et al. 2015, ApJ 809, 77).
    """
    c2 = 1.438_776_877e7  # hc/k [nm K]
    return float(np.expm1(c2 / (wavelength_nm * teff1)) / np.expm1(c2 / (wavelength_nm * teff2)))


def dilute(flux, flux_fraction):
    """Dilute a relative light curve by unrelated constant light.

    Parameters
    ----------
    flux : array
        Relative flux of the varying source (1 = undisturbed).
    flux_fraction : float
        Fraction of the total (normalising) light contributed by that source,
        0 < f <= 1.

    Returns
    -------
    ndarray
        ``1 + f (flux - 1)``: every depth is multiplied by ``f``.
    """
    return 1.0 + flux_fraction * (np.asarray(flux, float) - 1.0)
