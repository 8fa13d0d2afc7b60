"""Photometric noise and stellar variability for simulated TESS light curves.

Noise model
-----------
White noise follows the TESS noise budget of Sullivan et al. (2015, ApJ 809,
77, sect. 6.3; also Stassun et al. 2018, AJ 156, 102, sect. 3.3.3): shot noise
of the target and of contaminating stars, sky background and read noise
summed over the optimal aperture.  Parameter choices, each checked against the
23 real SPOC 2-min files in ``shared/data/real`` (median per-cadence scatter of
PDCSAP_FLUX agrees with this model to ~10 % from Tmag 5 to 15.9):

* zero point: 1.6e4 e-/s for Tmag = 10 (real SAP/FLFRCSAP gives 1.40-2.15e4,
  median 1.61e4; Sullivan et al. quote 1.5e4),
* effective exposure per 2-min cadence: 120 s x 0.8 (on-board cosmic-ray
  mitigation keeps 48 of 60 2-s frames; header DEADC = 0.792, NREADOUT = 48),
* read noise 8.5 e- per pixel per read (headers: 7.2-10.2 e-), 48 reads,
* sky background ~110 e-/s/pixel (real SAP_BKG / NPIX: 78-226),
* aperture size ``npix = 4 + 41 exp(-(Tmag - 5)/3.5)`` (real optimal
  apertures: 45 px at Tmag 5.1, 12-19 at 9-10, 6 at 13.5, 5 at 15.9),
* flux fraction in the aperture ``0.985 - 0.0025 (Tmag - 4)^2`` (FLFRCSAP).

The resulting relative per-cadence noise is ~650 ppm at Tmag 9 and ~1.4 % at
Tmag 14 (2-min), i.e. ~120 ppm and ~2600 ppm in one hour: the values the real
SPOC files show, and about twice the optimistic ``~60 ppm/hr at Tmag 9``
sometimes quoted from pre-launch predictions.

Correlated (red) noise stands for residual systematics after PDC (pointing
jitter, scattered light, focus changes) and granulation.  It is an
Ornstein-Uhlenbeck (damped random walk; the GP with exponential kernel, as
used for TESS by e.g. Aigrain & Foreman-Mackey 2023, ARA&A 61, 329) whose one-
hour binned amplitude is ``sqrt(40^2 + (0.55 sigma_white,1h)^2)`` ppm times a
log-normal factor: Sullivan et al.'s 60 ppm/hr systematic floor was reduced
to 40 ppm and the second term added so that the real files' CDPP1_0
(Jenkins et al. 2010, ApJ 713, L120) is reproduced at both ends of the
magnitude range.

Variability: quasi-periodic spot modulation (two harmonics with evolving
amplitudes and phases; the structure of the quasi-periodic GP of Angus et al.
2018, MNRAS 474, 2094, with periods 0.5-30 d and amplitudes 0.1-3 % as in
McQuillan et al. 2014, ApJS 211, 24) and white-light flares with the empirical
template of Davenport et al. (2014, ApJ 797, 122) and a power-law amplitude
distribution ``dN/dA ~ A^-2`` (Hawley et al. 2014, ApJ 797, 121; Günther et
al. 2020, AJ 159, 60).
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.signal import lfilter

__all__ = [
    "ZP_TMAG10",
    "EXPOSURE_2MIN_S",
    "aperture_npix",
    "flux_fraction",
    "target_flux_rate",
    "white_noise_rel",
    "white_noise_ppm",
    "red_noise_1h_ppm",
    "ou_noise",
    "ou_mean_variance",
    "rotation_signal",
    "flare_signal",
    "davenport_flare",
]

ZP_TMAG10 = 1.6e4  #: e-/s collected from a Tmag = 10 star (all of the PSF)
EXPOSURE_2MIN_S = 120.0 * 0.8  #: effective exposure per 2-min cadence [s]
N_READS_2MIN = 48  #: reads per 2-min cadence after cosmic-ray mitigation
READ_NOISE_E = 8.5  #: read noise per pixel per read [e-]
SKY_E_S_PIX = 110.0  #: typical sky + unresolved background [e-/s/pixel]


def aperture_npix(tmag):
    """Typical number of pixels in the SPOC optimal aperture for ``tmag``."""
    return 4.0 + 41.0 * np.exp(-(np.asarray(tmag, float) - 5.0) / 3.5)


def flux_fraction(tmag):
    """Typical FLFRCSAP (fraction of the target's flux inside the aperture)."""
    return np.clip(0.985 - 0.0025 * (np.asarray(tmag, float) - 4.0) ** 2, 0.5, 0.99)


def target_flux_rate(tmag):
    """Total target flux [e-/s] collected by TESS for TESS magnitude ``tmag``."""
    return ZP_TMAG10 * 10.0 ** (-0.4 * (np.asarray(tmag, float) - 10.0))


def white_noise_rel(
    tmag,
    *,
    npix=None,
    flfrac=None,
    crowdsap: float = 1.0,
    sky: float = SKY_E_S_PIX,
    exposure_s: float = EXPOSURE_2MIN_S,
    n_reads: int = N_READS_2MIN,
    read_noise: float = READ_NOISE_E,
):
    """Per-cadence white noise, relative to the target flux (PDCSAP units).

    Parameters
    ----------
    tmag : float or array
        TESS magnitude.
    npix, flfrac : float, optional
        Aperture size [pixels] and flux fraction; default to the typical
        values :func:`aperture_npix`, :func:`flux_fraction`.
    crowdsap : float
        Fraction of the aperture flux that comes from the target; the rest
        (contaminating stars) adds shot noise.
    sky : float
        Background [e-/s/pixel].
    exposure_s, n_reads, read_noise : float
        Effective exposure [s], reads per cadence, read noise [e-/read/pixel].
        Defaults are the 2-min values; for 30-min FFIs use 1800*0.8 s and 720.

    Returns
    -------
    float or ndarray
        sigma / flux (dimensionless) for one cadence.
    """
    npix = aperture_npix(tmag) if npix is None else np.asarray(npix, float)
    flfrac = flux_fraction(tmag) if flfrac is None else np.asarray(flfrac, float)
    n_star = target_flux_rate(tmag) * flfrac * exposure_s
    n_contam = n_star * (1.0 - crowdsap) / crowdsap
    var = n_star + n_contam + npix * (sky * exposure_s + n_reads * read_noise**2)
    return np.sqrt(var) / n_star


def white_noise_ppm(tmag, cadence_s: float = 120.0, **kw):
    """White noise [ppm] per cadence of ``cadence_s`` (typical aperture)."""
    kw.setdefault("exposure_s", cadence_s * 0.8)
    kw.setdefault("n_reads", int(round(cadence_s / 2.0 * 0.8)))
    return 1e6 * white_noise_rel(tmag, **kw)


def red_noise_1h_ppm(sigma_white_rel, cadence_s: float = 120.0):
    """Typical correlated-noise amplitude in one-hour bins [ppm].

    ``sqrt(40^2 + (0.55 sigma_white,1h)^2)`` with ``sigma_white,1h`` the white
    noise binned to one hour; see the module docstring for the calibration.
    """
    w1h = 1e6 * np.asarray(sigma_white_rel, float) / np.sqrt(3600.0 / cadence_s)
    return np.sqrt(40.0**2 + (0.55 * w1h) ** 2)


def ou_noise(rng: np.random.Generator, n: int, sigma: float, tau: float, dt: float) -> np.ndarray:
    """Ornstein-Uhlenbeck (AR(1)) noise on a uniform grid.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
        Number of samples.
    sigma : float
        Stationary standard deviation per sample.
    tau, dt : float
        Correlation time and sampling step (same units).

    Returns
    -------
    ndarray
        ``x_i = phi x_{i-1} + sqrt(1 - phi^2) sigma eps_i``, ``phi = exp(-dt/tau)``,
        started from the stationary distribution.
    """
    if n == 0 or sigma <= 0:
        return np.zeros(n)
    phi = float(np.exp(-dt / tau))
    eps = rng.standard_normal(n)
    eps[0] /= np.sqrt(1.0 - phi * phi)  # stationary start
    return lfilter([np.sqrt(1.0 - phi * phi) * sigma], [1.0, -phi], eps)


def ou_mean_variance(n, sigma: float, phi: float):
    """Variance of the mean of ``n`` consecutive AR(1) samples.

    ``sigma^2 / n^2 [n + 2 sum_{k=1}^{n-1} (n - k) phi^k]`` (closed form), the
    red-noise term of Pont, Zucker & Queloz (2006, MNRAS 373, 231).
    """
    n = np.asarray(n, float)
    if phi <= 0:
        return sigma**2 / np.maximum(n, 1)
    if phi >= 1:
        return np.full(n.shape, sigma**2)
    s = phi * (n * (1 - phi) - (1 - phi**n)) / (1 - phi) ** 2
    return sigma**2 * (n + 2 * s) / np.maximum(n, 1) ** 2


def _smooth_random(rng, time, spacing, scale):
    """Random smooth curve (cubic spline through N(0, scale) knots every ``spacing``)."""
    t0, t1 = float(np.nanmin(time)), float(np.nanmax(time))
    nk = max(int(np.ceil((t1 - t0) / spacing)) + 3, 4)
    knots = t0 - spacing + spacing * np.arange(nk)
    return CubicSpline(knots, rng.normal(0.0, scale, nk))(time)


def rotation_signal(
    rng: np.random.Generator,
    time,
    period: float,
    amplitude: float,
    *,
    evolution_days: Optional[float] = None,
    second_harmonic: Optional[float] = None,
) -> np.ndarray:
    """Quasi-periodic spot modulation (relative flux, mean ~1).

    Parameters
    ----------
    rng : numpy.random.Generator
    time : array
        Times [d] (NaN allowed).
    period : float
        Rotation period [d].
    amplitude : float
        Peak-to-peak amplitude (relative flux, e.g. 0.01 for 1 %).
    evolution_days : float, optional
        Spot-evolution time scale; default ``max(2 P, 5 d)``.
    second_harmonic : float, optional
        Relative weight of the P/2 harmonic (two spot groups); default
        uniform in [0.1, 0.6].

    Returns
    -------
    ndarray
        Flux, NaN where ``time`` is NaN.  Spots only darken: the maximum of
        the modulation sits near 1.
    """
    time = np.asarray(time, float)
    fin = np.isfinite(time)
    out = np.full(time.shape, np.nan)
    if not fin.any():
        return out
    t = time[fin]
    tau = evolution_days or max(2.0 * period, 5.0)
    h2 = rng.uniform(0.1, 0.6) if second_harmonic is None else second_harmonic
    a1 = np.exp(_smooth_random(rng, t, tau, 0.3))
    a2 = h2 * np.exp(_smooth_random(rng, t, tau, 0.3))
    p1 = rng.uniform(0, 2 * np.pi) + _smooth_random(rng, t, tau, 0.4)
    p2 = rng.uniform(0, 2 * np.pi) + _smooth_random(rng, t, tau, 0.4)
    ph = 2 * np.pi * t / period
    s = a1 * np.cos(ph + p1) + a2 * np.cos(2 * ph + p2)
    ptp = np.percentile(s, 99.5) - np.percentile(s, 0.5)
    s = s / max(ptp, 1e-12) * amplitude
    out[fin] = 1.0 + s - np.percentile(s, 99.5)
    return out


def davenport_flare(t_half):
    """Davenport et al. (2014) flare template in units of the FWHM.

    Parameters
    ----------
    t_half : array
        Time from peak in units of the full width at half maximum.

    Returns
    -------
    ndarray
        Relative flare flux, peak 1 (polynomial rise for -1 <= t <= 0, double
        exponential decay for t > 0; eqs. 1 and 4 of Davenport et al. 2014).
    """
    x = np.asarray(t_half, float)
    out = np.zeros_like(x)
    r = (x >= -1) & (x <= 0)
    out[r] = 1 + 1.941 * x[r] - 0.175 * x[r] ** 2 - 2.246 * x[r] ** 3 - 1.125 * x[r] ** 4
    d = x > 0
    out[d] = 0.6890 * np.exp(-1.600 * x[d]) + 0.3030 * np.exp(-0.2783 * x[d])
    return np.clip(out, 0, None)


def flare_signal(
    rng: np.random.Generator,
    time,
    rate_per_day: float,
    *,
    amp_min: float = 1e-3,
    amp_max: float = 0.3,
    alpha: float = 2.0,
    exptime: float = 120.0 / 86400.0,
) -> Dict[str, np.ndarray]:
    """Random white-light flares (additive, relative to the quiescent flux).

    Parameters
    ----------
    rng : numpy.random.Generator
    time : array
        Times [d] (NaN allowed).
    rate_per_day : float
        Mean number of flares above ``amp_min`` per day (Poisson).
    amp_min, amp_max, alpha : float
        Peak amplitudes follow ``dN/dA ~ A^-alpha`` between the limits.
    exptime : float
        Cadence integration time [d]; the template is averaged over 5
        sub-exposures so that short flares are not under-sampled.

    Returns
    -------
    dict
        ``flux`` (additive excess, >= 0, 0 at NaN times), ``t_peak``, ``amp``,
        ``fwhm`` (days) of each flare.
    """
    time = np.asarray(time, float)
    excess = np.zeros(time.shape)
    fin = np.isfinite(time)
    empty = {"flux": excess, "t_peak": np.zeros(0), "amp": np.zeros(0), "fwhm": np.zeros(0)}
    if rate_per_day <= 0 or not fin.any():
        return empty
    t0, t1 = float(np.nanmin(time)), float(np.nanmax(time))
    n = rng.poisson(rate_per_day * (t1 - t0))
    if n == 0:
        return empty
    tp = rng.uniform(t0, t1, n)
    u = rng.uniform(0, 1, n)
    a0, a1 = amp_min ** (1 - alpha), amp_max ** (1 - alpha)
    amp = (a0 + u * (a1 - a0)) ** (1 / (1 - alpha))
    # larger flares last longer (Hawley et al. 2014): FWHM 2-40 min
    fwhm = np.exp(rng.normal(np.log(4.0) + 0.35 * np.log(amp / amp_min), 0.5)) / 1440.0
    fwhm = np.clip(fwhm, 1.0 / 1440, 40.0 / 1440)
    offs = (np.arange(5) + 0.5) / 5 - 0.5
    tt = np.fmax.accumulate(np.where(fin, time, -np.inf))  # sorted, NaN-free
    for p, a, w in zip(tp, amp, fwhm):
        lo, hi = np.searchsorted(tt, [p - 2 * w - exptime, p + 30 * w + exptime])
        if hi <= lo:
            continue
        sub = (tt[lo:hi, None] + exptime * offs[None, :] - p) / w
        excess[lo:hi] += a * davenport_flare(sub).mean(axis=1)
    excess[~fin] = 0.0
    return {"flux": excess, "t_peak": tp, "amp": amp, "fwhm": fwhm}
