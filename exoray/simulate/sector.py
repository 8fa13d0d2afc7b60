"""Simulate a whole TESS sector of SPOC 2-min light curves, with truth table.

:func:`simulate_sector` writes one SPOC-layout FITS file per star (the same
HDUs, header keywords, 20 LIGHTCURVE columns, dtypes, units and display
formats as the real products, readable by ``lightkurve.read``) and a
``truth.csv`` describing every injected signal.  :func:`simulate_lightcurve`
does the same for one star in memory (injection-recovery tests) and
:func:`inject_transit` multiplies a transit into an existing light curve.

Expected SNR
------------
``snr`` in the truth table is the significance of the *mean in-transit
depth* measured with perfect knowledge of the ephemeris and of the
out-of-transit level, against the injected white + correlated noise only
(stellar rotation and flares are assumed detrended)::

    snr = depth_mean / sqrt(sigma_w^2 / n_in + sum_j N_j^2 V_red(N_j) / n_in^2)

where ``depth_mean`` is the mean depth of the model over the ``n_in``
in-transit cadences that have finite PDCSAP_FLUX, ``N_j`` is the number of
them in transit ``j``, ``sigma_w`` the per-cadence white noise and
``V_red(N)`` the variance of the mean of ``N`` consecutive samples of the
Ornstein-Uhlenbeck red noise (:func:`exoray.simulate.noise.ou_mean_variance`;
Pont, Zucker & Queloz 2006).  Without red noise this is the familiar
``depth / sigma_w * sqrt(n_in)``.
"""

from __future__ import annotations

import logging
import time as _time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from ..lightcurve import LightCurve
from . import noise
from .instrument import CADENCE_D, PDC_NAN_BITS, Q, SAP_NAN_BITS, SectorTiming, sector_timing
from .signals import EBSignal, PlanetSignal, draw_eb, draw_planet_geometry
from .stars import TIC_BASE, Star, draw_star, main_sequence
from .transit import (
    eb_model,
    inclination_from_b,
    secondary_eclipse_phase,
    transit_duration,
    transit_model,
)

__all__ = [
    "DEFAULT_MIX",
    "CLASSES",
    "TRUTH_COLUMNS",
    "simulate_sector",
    "simulate_lightcurve",
    "simulate_star",
    "inject_transit",
    "spoc_filename",
    "parse_mix",
]

log = logging.getLogger(__name__)

CLASSES = ("planet", "multi_planet", "eb", "blended_eb", "none")
#: default class fractions (see module docstring of :mod:`exoray.simulate`)
DEFAULT_MIX = {"planet": 0.40, "multi_planet": 0.10, "eb": 0.15, "blended_eb": 0.10, "none": 0.25}

TRUTH_COLUMNS = [
    "tic_id", "file", "sector", "class", "signal_index",
    "tmag", "teff", "radius", "mass", "logg", "density", "mh",
    "crowdsap", "flfrcsap", "sigma_white_ppm", "red_1h_ppm", "red_tau_hr",
    "rot_period", "rot_amp", "flare_rate", "n_flares",
    "period_days", "t0_btjd", "duration_hours", "depth_ppm", "depth_mean_ppm",
    "rp_rs", "b", "a_rs", "inc_deg", "ecc", "w_deg", "u1", "u2",
    "snr", "n_transits_in_data", "n_in_transit", "single_transit",
    "secondary_depth_ppm", "secondary_phase", "sb_ratio", "mass_ratio",
    "blend_ratio", "blend_offset_px",
]


@dataclass
class _Rendered:
    columns: Dict[str, np.ndarray]
    rows: List[dict]
    extra: Dict[str, float]


# --------------------------------------------------------------------------- helpers
def parse_mix(text: Union[str, Dict[str, float], None]) -> Dict[str, float]:
    """Parse ``"planet=0.4,eb=0.15,..."`` (or a dict) into normalised class fractions.

    Classes not named get 0 when ``text`` is given.  Raises
    :class:`~exoray.errors.ConfigError` on unknown classes or bad numbers.
    """
    if text is None:
        return dict(DEFAULT_MIX)
    if isinstance(text, str):
        mix = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            if "=" not in part:
                raise ConfigError(f"mix entry {part!r} is not CLASS=FRACTION; classes: {', '.join(CLASSES)}")
            k, v = part.split("=", 1)
            try:
                mix[k.strip()] = float(v)
            except ValueError as exc:
                raise ConfigError(f"mix fraction {v!r} for {k!r} is not a number") from exc
    else:
        mix = dict(text)
    bad = set(mix) - set(CLASSES)
    if bad:
        raise ConfigError(f"unknown class(es) {sorted(bad)} in mix; allowed: {', '.join(CLASSES)}")
    if any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
        raise ConfigError("mix fractions must be >= 0 and not all 0")
    tot = sum(mix.values())
    return {c: mix.get(c, 0.0) / tot for c in CLASSES}


_SCID = {1: 120, 4: 124, 5: 125, 7: 131, 8: 136, 10: 140, 11: 143, 16: 152, 17: 161,
         20: 165, 21: 167, 24: 180, 51: 223}


def _scid(sector: int) -> int:
    ks = np.array(sorted(_SCID))
    if sector > ks[-1]:
        return int(_SCID[ks[-1]] + 2 * (sector - ks[-1]))
    return int(round(np.interp(sector, ks, [_SCID[k] for k in ks])))


def _date_strings(timing: SectorTiming):
    from astropy.time import Time, TimeDelta

    t0 = Time(timing.tstart + 2457000.0, format="jd", scale="tdb").utc
    t1 = Time(timing.tstop + 2457000.0, format="jd", scale="tdb").utc
    stamp = t0.strftime("%Y%j%H%M%S")
    created = (t1 + TimeDelta(20.0, format="jd")).strftime("%Y-%m-%d")
    return t0.isot[:23], t1.isot[:23], stamp, created


def spoc_filename(tic_id: int, sector: int, timing: Optional[SectorTiming] = None) -> str:
    """SPOC-style file name ``tess{date}-s{sector:04d}-{tic:016d}-{scid:04d}-s_lc.fits``.

    ``date`` is the sector start (UTC, ``YYYYDDDHHMMSS``); ``scid`` the spacecraft
    configuration ID, interpolated between values of real products.
    """
    timing = timing or sector_timing(sector)
    stamp = _date_strings(timing)[2]
    return f"tess{stamp}-s{sector:04d}-{int(tic_id):016d}-{_scid(sector):04d}-s_lc.fits"


def _red_sigma(star: Star):
    """(per-cadence sigma, phi) of the OU red noise for ``star``."""
    phi = float(np.exp(-CADENCE_D / (star.red_tau_hr / 24.0)))
    v30 = float(noise.ou_mean_variance(30, 1.0, phi))
    return star.red_1h_ppm * 1e-6 / np.sqrt(v30), phi


#: what :func:`_transit_windows` gives a cadence outside every transit
#: (not -1: transits before ``t0`` have negative epoch numbers)
_NO_EPOCH = np.iinfo(np.int64).min


def _transit_windows(t, period, t0, half):
    """Epoch number of each cadence within ``half`` of a mid-transit, else :data:`_NO_EPOCH`."""
    ep = np.round((t - t0) / period)
    inwin = np.abs(t - (t0 + ep * period)) < half
    return np.where(inwin, ep, _NO_EPOCH).astype(np.int64)


def _snr(depth_in, epochs, sigma_w, sig_r, phi):
    """Expected SNR (module docstring) from in-transit depths and their epochs."""
    n_in = depth_in.size
    if n_in == 0:
        return 0.0, 0, 0, 0.0
    _, counts = np.unique(epochs, return_counts=True)
    var = sigma_w**2 / n_in + float(np.sum(counts**2 * noise.ou_mean_variance(counts, sig_r, phi))) / n_in**2
    dmean = float(np.mean(depth_in))
    return dmean / np.sqrt(var), int(counts.size), int(n_in), dmean


# --------------------------------------------------------------------------- rendering
def _render(rng: np.random.Generator, star: Star, signals: Sequence, timing: SectorTiming) -> _Rendered:
    t = timing.t_grid
    n = t.size
    valid = timing.valid
    astro = np.ones(n)
    rows: List[dict] = []
    blend_terms = []  # (relative flux change, offset)
    sig_models = []
    for s in signals:
        if isinstance(s, PlanetSignal):
            u1 = star.u1 if s.u1 is None else s.u1
            u2 = star.u2 if s.u2 is None else s.u2
            f = transit_model(t, s.period, s.t0, s.rp_rs, s.a_rs, s.b, u1, u2, ecc=s.ecc, w=s.w)
            astro *= f
            sig_models.append(f)
        elif isinstance(s, EBSignal):
            f = eb_model(t, s.period, s.t0, s.k, s.a_rs, s.b, s.sb_ratio, s.ld1, s.ld2,
                         ecc=s.ecc, w=s.w, q=s.q)
            if s.blend_ratio is None:
                astro *= f
                sig_models.append(f)
            else:
                blend_terms.append((s.blend_ratio * (f - 1.0), s))
                sig_models.append(1.0 + s.blend_ratio * (f - 1.0))
        else:
            raise InputError(f"unknown signal type {type(s).__name__}")

    # stellar variability
    var = np.ones(n)
    if np.isfinite(star.rot_period) and star.rot_amp > 0:
        var = noise.rotation_signal(rng, t, star.rot_period, star.rot_amp)
    fl = noise.flare_signal(rng, t, star.flare_rate) if star.flare_rate > 0 else {"flux": np.zeros(n), "amp": []}
    target = astro * var + fl["flux"]

    # noise
    sig_r, phi = _red_sigma(star)
    red = noise.ou_noise(rng, n, sig_r, star.red_tau_hr / 24.0, CADENCE_D)
    white = star.sigma_white * rng.standard_normal(n)
    blend = np.sum([b for b, _ in blend_terms], axis=0) if blend_terms else np.zeros(n)
    rel = target + blend + red + white  # PDCSAP / target flux

    # quality: sector flags + per-star outliers and collateral cosmics
    quality = timing.quality.copy()
    good = np.flatnonzero(valid & (quality == 0))
    n_imp = int(rng.poisson(8))
    imp = rng.choice(good, size=min(n_imp, good.size), replace=False)
    quality[imp] |= Q.IMPULSIVE_OUTLIER
    rel[imp] += rng.choice([-1, 1], imp.size) * rng.uniform(4, 10, imp.size) * star.sigma_white
    cr = rng.choice(good, size=min(int(rng.poisson(15)), good.size), replace=False)
    quality[cr] |= Q.COLLATERAL_COSMIC

    # fluxes in e-/s
    f_tot = float(noise.target_flux_rate(star.tmag))
    f_ap = f_tot * star.flfrcsap
    contam_ap = f_ap * (1 - star.crowdsap) / star.crowdsap
    pdcsap = rel * f_tot
    sens = rng.normal(0, 0.02, 2)  # fractional flux change per pixel of pointing offset
    dump_steps = np.zeros(n)
    for td in timing.dumps:
        i = int(np.searchsorted(t, td))
        dump_steps[i:] += rng.normal(0, 3e-4)
        dt = t[i:] - t[min(i, n - 1)]
        dump_steps[i:] += rng.normal(0, 2e-4) * np.exp(-dt / 0.15)
    systematics = 1.0 + timing.thermal + sens[0] * timing.pos_corr1 + sens[1] * timing.pos_corr2 + dump_steps
    bkg = star.npix * star.sky * timing.bkg_shape
    bkg_resid = rng.normal(0, 0.01) * (bkg - star.npix * star.sky)
    sap = (f_ap * rel + contam_ap) * systematics + bkg_resid
    # PDC residual of imperfectly corrected scattered light in early sectors (2048 kept)
    pdcsap = pdcsap + 0.3 * bkg_resid / star.flfrcsap * (timing.straylight_bit == Q.STRAYLIGHT)
    texp = noise.EXPOSURE_2MIN_S
    sap_err = np.full(n, star.sigma_white * f_ap)
    pdc_err = np.full(n, star.sigma_white * f_tot)
    bkg_err = np.sqrt(bkg * texp + star.npix * noise.N_READS_2MIN * noise.READ_NOISE_E**2) / texp
    bkg_obs = bkg + bkg_err * rng.standard_normal(n)

    # centroids: flux-weighted mean of target, blends and other contaminants
    off_c = rng.normal(0, 1.0, 2)
    w_t = target
    w_c = np.full(n, (1 - star.crowdsap) / star.crowdsap)
    xc = w_c * off_c[0]
    yc = w_c * off_c[1]
    wsum = w_t + w_c
    for bterm, s in blend_terms:
        # the blend is part of the contaminating light; its dimming moves the centroid
        xc = xc + bterm * s.offset_px[0]
        yc = yc + bterm * s.offset_px[1]
        wsum = wsum + bterm
    cen_err = max(star.sigma_white, 1e-5) * 0.9
    col = star.col + xc / wsum + timing.pos_corr1 + cen_err * rng.standard_normal(n)
    row = star.row + yc / wsum + timing.pos_corr2 + cen_err * rng.standard_normal(n)

    # NaNs as SPOC writes them
    gap = ~valid
    pdc_nan = (quality & PDC_NAN_BITS) > 0
    if timing.straylight_bit == Q.STRAYLIGHT:
        pdc_nan |= ((quality & Q.STRAYLIGHT) > 0) & (rng.uniform(size=n) < 0.8)
    sap_nan = ((quality & SAP_NAN_BITS) > 0) | (
        ((quality & (Q.DESAT | Q.COARSE_POINT)) > 0) & (rng.uniform(size=n) < 0.6)
    )
    sap_nan |= gap
    pdc_nan |= sap_nan
    for a in (sap, sap_err):
        a[sap_nan] = np.nan
    for a in (pdcsap, pdc_err):
        a[pdc_nan] = np.nan
    for a in (bkg_obs, bkg_err, col, row):
        a[sap_nan] = np.nan
    pos1 = timing.pos_corr1.copy()
    pos2 = timing.pos_corr2.copy()
    pos1[gap] = np.nan
    pos2[gap] = np.nan
    cols = {
        "TIME": timing.time,
        "TIMECORR": timing.timecorr,
        "CADENCENO": timing.cadenceno,
        "SAP_FLUX": sap,
        "SAP_FLUX_ERR": sap_err,
        "SAP_BKG": np.where(gap, np.nan, bkg_obs),
        "SAP_BKG_ERR": np.where(gap, np.nan, bkg_err),
        "PDCSAP_FLUX": pdcsap,
        "PDCSAP_FLUX_ERR": pdc_err,
        "QUALITY": quality,
        "PSF_CENTR1": np.full(n, np.nan),
        "PSF_CENTR1_ERR": np.full(n, np.nan),
        "PSF_CENTR2": np.full(n, np.nan),
        "PSF_CENTR2_ERR": np.full(n, np.nan),
        "MOM_CENTR1": col,
        "MOM_CENTR1_ERR": np.where(sap_nan, np.nan, cen_err),
        "MOM_CENTR2": row,
        "MOM_CENTR2_ERR": np.where(sap_nan, np.nan, cen_err),
        "POS_CORR1": pos1,
        "POS_CORR2": pos2,
    }

    # truth rows
    ok = np.isfinite(pdcsap)
    for i, (s, f) in enumerate(zip(signals, sig_models)):
        row = {"signal_index": i}
        if isinstance(s, PlanetSignal):
            u1 = star.u1 if s.u1 is None else s.u1
            u2 = star.u2 if s.u2 is None else s.u2
            k, sec_depth, sec_phase = s.rp_rs, np.nan, np.nan
            t14 = float(transit_duration(s.period, s.a_rs, s.rp_rs, s.b, s.ecc, s.w))
            tt = s.t0 + np.linspace(-0.001, 0.001, 3)
            depth = 1.0 - float(transit_model(tt, s.period, s.t0, s.rp_rs, s.a_rs, s.b, u1, u2,
                                              ecc=s.ecc, w=s.w).min())
            row.update(rp_rs=s.rp_rs, u1=u1, u2=u2, single_transit=bool(s.single))
        else:
            u1, u2 = s.ld1
            t14 = float(transit_duration(s.period, s.a_rs, s.k, min(s.b, 1 + s.k - 1e-6), s.ecc, s.w))
            scale = 1.0 if s.blend_ratio is None else s.blend_ratio
            kw = dict(ecc=s.ecc, w=s.w, q=s.q, ellipsoidal=0.0, reflection=0.0)
            tt = s.t0 + np.linspace(-0.02, 0.02, 81) * min(s.period, 5.0) * 0.1
            depth = scale * (1 - float(eb_model(tt, s.period, s.t0, s.k, s.a_rs, s.b, s.sb_ratio, s.ld1, s.ld2, **kw).min()))
            sec_phase = secondary_eclipse_phase(s.ecc, s.w)
            t2 = s.t0 + sec_phase * s.period + np.linspace(-0.02, 0.02, 81) * min(s.period, 5.0) * 0.1
            sec_depth = scale * (1 - float(eb_model(t2, s.period, s.t0, s.k, s.a_rs, s.b, s.sb_ratio, s.ld1, s.ld2, **kw).min()))
            row.update(rp_rs=s.k, u1=u1, u2=u2, single_transit=False, sb_ratio=s.sb_ratio,
                       mass_ratio=s.q, secondary_depth_ppm=1e6 * sec_depth, secondary_phase=sec_phase,
                       blend_ratio=s.blend_ratio if s.blend_ratio is not None else np.nan,
                       blend_offset_px=float(np.hypot(*s.offset_px)) if s.blend_ratio is not None else np.nan)
        half = 0.5 * t14
        ep = _transit_windows(t, s.period, s.t0, half) if t14 > 0 else np.full(n, _NO_EPOCH)
        m = (ep != _NO_EPOCH) & ok
        d_in = 1.0 - f[m]  # for EBs this includes the (small) phase-curve term
        snr, ntr, nin, dmean = _snr(d_in, ep[m], star.sigma_white, sig_r, phi)
        row.update(
            period_days=s.period, t0_btjd=s.t0, duration_hours=24 * t14, depth_ppm=1e6 * depth,
            depth_mean_ppm=1e6 * dmean, b=s.b, a_rs=s.a_rs,
            inc_deg=float(inclination_from_b(s.a_rs, min(s.b, s.a_rs * 0.999), s.ecc, s.w)),
            ecc=s.ecc, w_deg=s.w, snr=snr, n_transits_in_data=ntr, n_in_transit=nin,
        )
        rows.append(row)
    w1h = star.sigma_white / np.sqrt(30)
    extra = {
        "n_flares": int(len(fl["amp"])),
        "cdpp": {h: 1e6 * float(np.sqrt(star.sigma_white**2 / (h * 30) + noise.ou_mean_variance(int(h * 30), sig_r, phi)))
                 for h in (0.5, 1.0, 2.0)},
        "pdcvar": float(np.nanstd(target[valid]) / max(w1h, 1e-9)),
        "sig_r": sig_r,
        "phi": phi,
    }
    return _Rendered(columns=cols, rows=rows, extra=extra)


def _to_lightcurve(star: Star, timing: SectorTiming, r: _Rendered, source_path: str = "") -> LightCurve:
    c = r.columns
    return LightCurve(
        tic_id=star.tic_id, sector=timing.sector, time=c["TIME"], flux=c["PDCSAP_FLUX"],
        flux_err=c["PDCSAP_FLUX_ERR"], quality=c["QUALITY"], mission="TESS", camera=star.camera,
        ccd=star.ccd, cadence_s=120.0, product="spoc_2min", flux_column="PDCSAP_FLUX",
        source_path=source_path, tmag=star.tmag, teff=star.teff, logg=star.logg, radius=star.radius,
        mass=star.mass, mh=star.mh, ra=star.ra, dec=star.dec, centroid_col=c["MOM_CENTR1"],
        centroid_row=c["MOM_CENTR2"],
        meta={"sap_flux": c["SAP_FLUX"], "sap_bkg": c["SAP_BKG"], "truth": r.rows, "star": star.to_dict(),
              "simulated": True},
    )


def simulate_lightcurve(
    rng: np.random.Generator,
    star: Optional[Star] = None,
    signals: Sequence = (),
    *,
    sector: int = 1,
    timing: Optional[SectorTiming] = None,
    seed: int = 0,
) -> LightCurve:
    """Simulate one SPOC 2-min light curve in memory.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all star-level randomness (noise, variability, outliers).
    star : Star, optional
        Default: :func:`exoray.simulate.stars.draw_star` with ``rng``.
    signals : sequence of PlanetSignal / EBSignal
        Injected signals (times in BTJD; see ``timing.tstart``).
    sector : int
        TESS sector (sets the timing when ``timing`` is not given).
    timing : SectorTiming, optional
        Shared sector grid and systematics (:func:`~exoray.simulate.instrument.sector_timing`).
    seed : int
        Seeds the sector-level randomness when ``timing`` is built here.

    Returns
    -------
    LightCurve
        ``product="spoc_2min"``, ``flux`` = PDCSAP_FLUX [e-/s] (NaN in the gap
        and on flagged cadences), ``time`` = BTJD (NaN in the gap),
        centroids = MOM_CENTR1/2, ``source_path=""``.  ``meta["truth"]`` holds
        one dict per signal (same keys as ``truth.csv``), ``meta["sap_flux"]``
        the SAP flux.

    Examples
    --------
    >>> import numpy as np
    >>> from exoray.simulate import simulate_lightcurve, draw_star, PlanetSignal
    >>> rng = np.random.default_rng(1)
    >>> star = draw_star(rng, 9_000_000_001, tmag=10.0, teff=5700.0, variability="quiet")
    >>> p = PlanetSignal(period=3.0, t0=1326.0, rp_rs=0.05, a_rs=9.0, b=0.3)
    >>> lc = simulate_lightcurve(rng, star, [p])
    >>> lc.product, len(lc) > 18000
    ('spoc_2min', True)
    """
    timing = timing or sector_timing(sector, seed)
    star = star or draw_star(rng, TIC_BASE)
    return _to_lightcurve(star, timing, _render(rng, star, list(signals), timing))


def inject_transit(time, flux, period, t0, rp_rs, a_rs, b, u1=0.4, u2=0.2, *, exptime=None, supersample=1):
    """Multiply a limb-darkened transit into an existing light curve.

    Parameters
    ----------
    time : array
        Times [d] (NaN allowed).
    flux : array
        Flux in any units; the transit scales it (``flux * model``), so a
        normalised or an e-/s light curve both work.
    period, t0, rp_rs, a_rs, b, u1, u2 :
        See :func:`exoray.simulate.transit.transit_model`.
    exptime, supersample :
        Integration time [d] and sub-samples; use ``exptime=1800/86400,
        supersample=15`` for 30-min FFI light curves.

    Returns
    -------
    ndarray
        Flux with the transit (NaNs preserved).
    """
    time = np.asarray(time, float)
    flux = np.asarray(flux, float)
    if time.shape != flux.shape:
        raise InputError(f"time {time.shape} and flux {flux.shape} differ in shape")
    return flux * transit_model(time, period, t0, rp_rs, a_rs, b, u1, u2, exptime=exptime, supersample=supersample)


# --------------------------------------------------------------------------- drawing a star + signals
def _draw_snr(rng, snr_range):
    lo, hi = snr_range
    if rng.uniform() < 0.5 and max(lo, 7.0) < min(hi, 15.0):  # half in the threshold region
        return float(rng.uniform(max(lo, 7.0), min(hi, 15.0)))
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _valid_times(timing):
    return timing.t_grid[timing.valid & ((timing.quality & PDC_NAN_BITS) == 0)]


def _scale_planet_to_snr(rng, star, p: PlanetSignal, target_snr, timing, max_rp=0.25):
    """Set ``p.rp_rs`` so that the expected SNR is ~``target_snr``."""
    sig_r, phi = _red_sigma(star)
    vt = _valid_times(timing)
    p.rp_rs = 0.05
    for _ in range(3):
        f = transit_model(vt, p.period, p.t0, p.rp_rs, p.a_rs, p.b, star.u1, star.u2)
        t14 = float(transit_duration(p.period, p.a_rs, p.rp_rs, p.b))
        ep = _transit_windows(vt, p.period, p.t0, 0.5 * t14)
        m = ep != _NO_EPOCH
        snr, *_ = _snr(1 - f[m], ep[m], star.sigma_white, sig_r, phi)
        if snr <= 0:
            return False
        p.rp_rs = float(np.clip(p.rp_rs * np.sqrt(target_snr / snr), 0.004, max_rp))
    return True


def simulate_star(rng: np.random.Generator, tic_id: int, cls: str, timing: SectorTiming,
                  snr_range=(5.0, 50.0), single_fraction: float = 0.2):
    """Draw a star and signals of class ``cls`` (one of :data:`CLASSES`).

    Returns
    -------
    (Star, list of signals)
    """
    star, signals, _ = _draw_system(rng, tic_id, cls, timing, snr_range, single_fraction)
    return star, signals


def _draw_system(rng: np.random.Generator, tic_id: int, cls: str, timing: SectorTiming,
                 snr_range=(5.0, 50.0), single_fraction: float = 0.2, scale: bool = True):
    """:func:`simulate_star`, also returning each signal's target SNR (None for EBs).

    With ``scale=False`` the planets keep ``rp_rs = 0.05`` for the caller to
    scale over other data (several sectors); the random draws are the same
    either way.
    """
    tstart, tstop = timing.tstart, timing.tstop
    span = tstop - tstart
    if cls == "none":
        return draw_star(rng, tic_id), [], []
    if cls == "eb":
        star = draw_star(rng, tic_id, variability=str(rng.choice(["quiet", "rotator"], p=[0.7, 0.3])))
        eb = draw_eb(rng, star.teff, star.mass, star.radius, tstart)
        # star 2's light is in the system: keep the catalogue Tmag, fluxes normalised to the total
        return star, [eb], [None]
    if cls == "blended_eb":
        star = draw_star(rng, tic_id)
        bteff = float(rng.uniform(3500, 6500))

        br, bm = main_sequence(bteff)
        eb = draw_eb(rng, bteff, bm, br, tstart, grazing=bool(rng.uniform() < 0.2))
        intrinsic = 1 - float(eb_model(eb.t0 + np.linspace(-0.01, 0.01, 41), eb.period, eb.t0, eb.k, eb.a_rs,
                                       eb.b, eb.sb_ratio, eb.ld1, eb.ld2, ecc=eb.ecc, w=eb.w,
                                       ellipsoidal=0.0, reflection=0.0).min())
        observed = float(np.exp(rng.uniform(np.log(3e-4), np.log(1.5e-2))))
        ratio = min(observed / max(intrinsic, 1e-6), 0.8)
        eb.blend_ratio = float(ratio)
        ang = rng.uniform(0, 2 * np.pi)
        d = float(rng.uniform(0.3, 2.0))
        eb.offset_px = (d * np.cos(ang), d * np.sin(ang))
        # SPOC's crowding metric counts the blend as contaminating light
        star.crowdsap = float(min(star.crowdsap, 1.0 / (1.0 + ratio) - 0.005))
        star.sigma_white = float(noise.white_noise_rel(star.tmag, npix=star.npix, flfrac=star.flfrcsap,
                                                       crowdsap=star.crowdsap, sky=star.sky))
        return star, [eb], [None]
    # planets
    star = draw_star(rng, tic_id)
    vt = _valid_times(timing)
    signals = []
    targets = []
    if cls == "planet":
        single = rng.uniform() < single_fraction
        if single:
            period = float(np.exp(rng.uniform(np.log(max(span + 2, 30.0)), np.log(300.0))))
            t0 = float(rng.choice(vt))
            t0 = float(np.clip(t0, tstart + 0.3, tstop - 0.3))
        else:
            period = float(np.exp(rng.uniform(np.log(0.5), np.log(20.0))))
            t0 = float(tstart + rng.uniform(0, min(period, span)))
        a_rs, b = draw_planet_geometry(rng, star, period)
        if a_rs < 2.0:  # inside the star's Roche limit: move out
            period = float(period * (2.5 / a_rs) ** 1.5)
            a_rs, b = draw_planet_geometry(rng, star, period)
        p = PlanetSignal(period=period, t0=t0, rp_rs=0.05, a_rs=a_rs, b=b, single=bool(single))
        targets.append(_draw_snr(rng, snr_range))
        if scale:
            _scale_planet_to_snr(rng, star, p, targets[-1], timing)
        signals.append(p)
    elif cls == "multi_planet":
        npl = int(rng.choice([2, 3], p=[0.7, 0.3]))
        period = float(np.exp(rng.uniform(np.log(0.8), np.log(6.0))))
        b1 = float(rng.uniform(0, 0.6))
        a1 = None
        for _ in range(npl):
            a_rs, _b = draw_planet_geometry(rng, star, period)
            a1 = a1 or a_rs
            # nearly coplanar: same inclination, small mutual scatter (Fabrycky et al. 2014)
            b = b1 * a_rs / a1 + rng.normal(0, 0.05)
            if not (0 <= b < 0.92):
                b = float(rng.uniform(0, 0.9))
            t0 = float(tstart + rng.uniform(0, min(period, span)))
            p = PlanetSignal(period=period, t0=t0, rp_rs=0.05, a_rs=max(a_rs, 2.0), b=float(abs(b)))
            targets.append(_draw_snr(rng, snr_range))
            if scale:
                _scale_planet_to_snr(rng, star, p, targets[-1], timing)
            signals.append(p)
            period *= float(rng.uniform(1.4, 2.6))
    else:
        raise ConfigError(f"unknown class {cls!r}; allowed: {', '.join(CLASSES)}")
    return star, signals, targets


# --------------------------------------------------------------------------- FITS
_COLSPEC = [  # name, TFORM, unit, TDISP
    ("TIME", "D", "BJD - 2457000, days", "D14.7"),
    ("TIMECORR", "E", "d", "E14.7"),
    ("CADENCENO", "J", None, "I10"),
    ("SAP_FLUX", "E", "e-/s", "E14.7"),
    ("SAP_FLUX_ERR", "E", "e-/s", "E14.7"),
    ("SAP_BKG", "E", "e-/s", "E14.7"),
    ("SAP_BKG_ERR", "E", "e-/s", "E14.7"),
    ("PDCSAP_FLUX", "E", "e-/s", "E14.7"),
    ("PDCSAP_FLUX_ERR", "E", "e-/s", "E14.7"),
    ("QUALITY", "J", None, "B16.16"),
    ("PSF_CENTR1", "D", "pixel", "F10.5"),
    ("PSF_CENTR1_ERR", "E", "pixel", "E14.7"),
    ("PSF_CENTR2", "D", "pixel", "F10.5"),
    ("PSF_CENTR2_ERR", "E", "pixel", "E14.7"),
    ("MOM_CENTR1", "D", "pixel", "F10.5"),
    ("MOM_CENTR1_ERR", "E", "pixel", "E14.7"),
    ("MOM_CENTR2", "D", "pixel", "F10.5"),
    ("MOM_CENTR2_ERR", "E", "pixel", "E14.7"),
    ("POS_CORR1", "E", "pixels", "E14.7"),
    ("POS_CORR2", "E", "pixels", "E14.7"),
]


def _aperture(star: Star, rng) -> np.ndarray:
    """SPOC APERTURE image: bit 1 collected, 2 optimal aperture, 4 background,
    8 flux-weighted centroid, 256 on CCD output D (as in the real products)."""
    ny, nx = 11, 11
    yy, xx = np.mgrid[:ny, :nx]
    d2 = (xx - 5 + rng.uniform(-0.5, 0.5)) ** 2 + (yy - 5 + rng.uniform(-0.5, 0.5)) ** 2
    order = np.argsort(d2.ravel(), kind="stable")
    img = np.full(ny * nx, 1 | 256, np.int32)
    img[order[: star.npix]] |= 2 | 8
    img[order[-30:]] |= 4
    return img.reshape(ny, nx)


def _write_fits(path: Path, star: Star, timing: SectorTiming, r: _Rendered, rng, dates):
    """Build the three HDUs of one file with astropy (template for :class:`_FitsWriter`)."""
    from astropy.io import fits

    date_obs, date_end, _, created = dates
    tstart, tstop = timing.tstart, timing.tstop
    obj = f"TIC {star.tic_id}"
    ph = fits.Header()
    for k, v, c in [
        ("NEXTEND", 2, "number of standard extensions"),
        ("EXTNAME", "PRIMARY", "name of extension"),
        ("EXTVER", 1, "extension version number (not format version)"),
        ("SIMDATA", True, "file is based on simulated data"),
        ("ORIGIN", "exoray", "institution responsible for creating this file"),
        ("DATE", created, "file creation date."),
        ("TSTART", tstart, "observation start time in BTJD"),
        ("TSTOP", tstop, "observation stop time in BTJD"),
        ("DATE-OBS", date_obs, "TSTART as UTC calendar date"),
        ("DATE-END", date_end, "TSTOP as UTC calendar date"),
        ("CREATOR", "exoray.simulate LightCurveSimulator", "pipeline job and program used"),
        ("PROCVER", "exoray-sim-1.0", "SW version"),
        ("FILEVER", "1.0", "file format version"),
        ("TIMVERSN", "OGIP/93-003", "OGIP memo number for file format"),
        ("TELESCOP", "TESS", "telescope"),
        ("INSTRUME", "TESS Photometer", "detector type"),
        ("DATA_REL", 0, "data release version number"),
        ("OBJECT", obj, "string version of target id"),
        ("TICID", star.tic_id, "unique tess target identifier"),
        ("SECTOR", timing.sector, "Observing sector"),
        ("CAMERA", star.camera, "Camera number"),
        ("CCD", star.ccd, "CCD chip number"),
        ("PXTABLE", 0, "pixel table id"),
        ("RADESYS", "ICRS", "reference frame of celestial coordinates"),
        ("RA_OBJ", star.ra, "[deg] right ascension"),
        ("DEC_OBJ", star.dec, "[deg] declination"),
        ("EQUINOX", 2000.0, "equinox of celestial coordinate system"),
        ("PMRA", 0.0, "[mas/yr] RA proper motion"),
        ("PMDEC", 0.0, "[mas/yr] Dec proper motion"),
        ("PMTOTAL", 0.0, "[mas/yr] total proper motion"),
        ("TESSMAG", round(star.tmag, 6), "[mag] TESS magnitude"),
        ("TEFF", round(star.teff, 3), "[K] Effective temperature"),
        ("LOGG", round(star.logg, 6), "[cm/s2] log10 surface gravity"),
        ("MH", round(star.mh, 6), "[log10([M/H])] metallicity"),
        ("RADIUS", round(star.radius, 6), "[solar radii] stellar radius"),
        ("TICVER", "8.1", "TIC version"),
        ("CRMITEN", True, "spacecraft cosmic ray mitigation enabled"),
        ("CRBLKSZ", 10, "[exposures] s/c cosmic ray mitigation block siz"),
        ("CRSPOC", False, "SPOC cosmic ray cleaning enabled"),
    ]:
        ph[k] = (v, c)
    primary = fits.PrimaryHDU(header=ph)

    cols = []
    n = timing.t_grid.size
    for name, form, unit, disp in _COLSPEC:
        dt = {"D": np.float64, "E": np.float32, "J": np.int32}[form]
        cols.append(fits.Column(name=name, format=form, unit=unit, disp=disp,
                                array=np.asarray(r.columns[name]).astype(dt)))
    lc = fits.BinTableHDU.from_columns(cols, name="LIGHTCURVE")
    h = lc.header
    telapse = tstop - tstart
    deadc = 0.792
    cd = r.extra["cdpp"]
    # cards every extension of a SPOC file repeats from the primary header
    ext_cards = [
        ("EXTVER", 1, "extension version number (not format version)"),
        ("SIMDATA", True, "file is based on simulated data"),
        ("TELESCOP", "TESS", "telescope"),
        ("INSTRUME", "TESS Photometer", "detector type"),
        ("OBJECT", obj, "string version of target id"),
        ("TICID", star.tic_id, "unique tess target identifier"),
        ("RADESYS", "ICRS", "reference frame of celestial coordinates"),
        ("RA_OBJ", star.ra, "[deg] right ascension"),
        ("DEC_OBJ", star.dec, "[deg] declination"),
        ("EQUINOX", 2000.0, "equinox of celestial coordinate system"),
    ]
    for k, v, c in [
        ("INHERIT", True, "inherit the primary header"),
        ("EXTNAME", "LIGHTCURVE", "name of extension"),
        *ext_cards,
        ("EXPOSURE", float(timing.valid.sum() * CADENCE_D * deadc), "[d] time on source"),
        ("TIMEREF", "SOLARSYSTEM", "barycentric correction applied to times"),
        ("TASSIGN", "SPACECRAFT", "where time is assigned"),
        ("TIMESYS", "TDB", "time system is Barycentric Dynamical Time (TDB)"),
        ("BJDREFI", 2457000, "integer part of BTJD reference date"),
        ("BJDREFF", 0.0, "fraction of the day in BTJD reference date"),
        ("TIMEUNIT", "d", "time unit for TIME, TSTART and TSTOP"),
        ("TELAPSE", telapse, "[d] TSTOP - TSTART"),
        ("LIVETIME", float(timing.valid.sum() * CADENCE_D * deadc), "[d] TELAPSE multiplied by DEADC"),
        ("TSTART", tstart, "observation start time in BTJD"),
        ("TSTOP", tstop, "observation stop time in BTJD"),
        ("DATE-OBS", date_obs, "TSTART as UTC calendar date"),
        ("DATE-END", date_end, "TSTOP as UTC calendar date"),
        ("DEADC", deadc, "deadtime correction"),
        ("TIMEPIXR", 0.5, "bin time beginning=0 middle=0.5 end=1"),
        ("TIERRELA", 1.16e-05, "[d] relative time error"),
        ("INT_TIME", 1.98, "[s] photon accumulation time per frame"),
        ("READTIME", 0.02, "[s] readout time per frame"),
        ("FRAMETIM", 2.0, "[s] frame time (INT_TIME + READTIME)"),
        ("NUM_FRM", 60, "number of frames per time stamp"),
        ("TIMEDEL", CADENCE_D, "[d] time resolution of data"),
        ("BACKAPP", True, "background is subtracted"),
        ("DEADAPP", True, "deadtime applied"),
        ("VIGNAPP", True, "vignetting or collimator correction applied"),
        ("GAINA", 5.25, "[electrons/count] CCD output A gain"),
        ("GAINB", 5.17, "[electrons/count] CCD output B gain"),
        ("GAINC", 5.12, "[electrons/count] CCD output C gain"),
        ("GAIND", 5.2, "[electrons/count] CCD output D gain"),
        ("READNOIA", noise.READ_NOISE_E, "[electrons] read noise CCD output A"),
        ("READNOIB", noise.READ_NOISE_E, "[electrons] read noise CCD output B"),
        ("READNOIC", noise.READ_NOISE_E, "[electrons] read noise CCD output C"),
        ("READNOID", noise.READ_NOISE_E, "[electrons] read noise CCD output D"),
        ("NREADOUT", noise.N_READS_2MIN, "number of read per cadence"),
        ("FXDOFF", 209700, "compression fixed offset"),
        ("CDPP0_5", round(cd[0.5], 6), "RMS CDPP on 0.5-hr time scales"),
        ("CDPP1_0", round(cd[1.0], 6), "RMS CDPP on 1.0-hr time scales"),
        ("CDPP2_0", round(cd[2.0], 6), "RMS CDPP on 2.0-hr time scales"),
        ("CROWDSAP", round(star.crowdsap, 8), "Ratio of target flux to total flux in op. ap."),
        ("FLFRCSAP", round(star.flfrcsap, 8), "Frac. of target flux w/in the op. aperture"),
        ("NSPSDDET", 0, "Number of SPSDs detected"),
        ("NSPSDCOR", 0, "Number of SPSDs corrected"),
        ("PDCVAR", round(r.extra["pdcvar"], 6), "Target variability"),
        ("PDCMETHD", "msMAP", "PDC algorithm used for target"),
    ]:
        h[k] = (v, c)

    ah = fits.Header()
    for k, v, c in [
        ("INHERIT", True, "inherit the primary header"),
        ("EXTNAME", "APERTURE", "name of extension"),
        *ext_cards,
        ("CRVAL1P", int(star.col) - 5, "value at reference CCD column"),
        ("CRVAL2P", int(star.row) - 5, "value at reference CCD row"),
        ("NPIXSAP", star.npix, "Number of pixels in optimal aperture"),
        ("NPIXMISS", 0, "Number of op. aperture pixels not collected"),
    ]:
        ah[k] = (v, c)
    ap = fits.ImageHDU(data=_aperture(star, rng), header=ah, name="APERTURE")
    return fits.HDUList([primary, lc, ap])


#: header keywords that change from star to star (everything else is per sector)
_STAR_KEYS = (
    {"OBJECT", "TICID", "CAMERA", "CCD", "RA_OBJ", "DEC_OBJ", "TESSMAG", "TEFF", "LOGG", "MH", "RADIUS"},
    {"OBJECT", "TICID", "RA_OBJ", "DEC_OBJ", "CDPP0_5", "CDPP1_0", "CDPP2_0", "CROWDSAP", "FLFRCSAP",
     "PDCVAR"},
    {"OBJECT", "TICID", "RA_OBJ", "DEC_OBJ", "CRVAL1P", "CRVAL2P", "NPIXSAP"},
)


def _pad(b: bytes, fill: bytes) -> bytes:
    return b + fill * ((-len(b)) % 2880)


class _FitsWriter:
    """Writes SPOC-layout files fast: astropy builds the headers of the first
    star of a sector; later stars only re-render the cards in :data:`_STAR_KEYS`
    (astropy's Header machinery costs ~100 ms per file, this ~5 ms)."""

    def __init__(self, timing: SectorTiming, dates):
        self.timing = timing
        self.dates = dates
        self._tpl = None

    def write(self, path: Path, star: Star, r: _Rendered, rng) -> None:
        from astropy.io import fits

        hdul = _write_fits(path, star, self.timing, r, rng, self.dates) if self._tpl is None else None
        if hdul is not None:
            self._tpl = []
            for h in hdul:
                cards = [c.image for c in h.header.cards]
                keys = [c.keyword for c in h.header.cards]
                self._tpl.append((cards, keys))
            self._dtype = np.dtype([(nm, {"D": ">f8", "E": ">f4", "J": ">i4"}[f]) for nm, f, _, _ in _COLSPEC])
            values = self._values_from(hdul)
            aperture = hdul[2].data
        else:
            values = self._star_values(star, r)
            aperture = _aperture(star, rng)
        blocks = []
        for k, (cards, keys) in enumerate(self._tpl):
            imgs = list(cards)
            for i, key in enumerate(keys):
                if key in _STAR_KEYS[k]:
                    v, c = values[k][key]
                    imgs[i] = fits.Card(key, v, c).image
            head = "".join(imgs) + "END".ljust(80)
            blocks.append(_pad(head.encode("ascii"), b" "))
            if k == 1:
                rec = np.empty(self.timing.t_grid.size, self._dtype)
                for nm, _, _, _ in _COLSPEC:
                    rec[nm] = r.columns[nm]
                blocks.append(_pad(rec.tobytes(), b"\0"))
            elif k == 2:
                blocks.append(_pad(np.ascontiguousarray(aperture, ">i4").tobytes(), b"\0"))
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(b"".join(blocks))
        tmp.replace(path)

    @staticmethod
    def _values_from(hdul):
        return [{k: (h.header[k], h.header.comments[k]) for k in _STAR_KEYS[i] if k in h.header}
                for i, h in enumerate(hdul)]

    def _star_values(self, star: Star, r: _Rendered):
        obj = f"TIC {star.tic_id}"
        cd = r.extra["cdpp"]
        common = {"OBJECT": (obj, "string version of target id"),
                  "TICID": (star.tic_id, "unique tess target identifier"),
                  "RA_OBJ": (star.ra, "[deg] right ascension"),
                  "DEC_OBJ": (star.dec, "[deg] declination")}
        p = dict(common)
        p.update({"CAMERA": (star.camera, "Camera number"), "CCD": (star.ccd, "CCD chip number"),
                  "TESSMAG": (round(star.tmag, 6), "[mag] TESS magnitude"),
                  "TEFF": (round(star.teff, 3), "[K] Effective temperature"),
                  "LOGG": (round(star.logg, 6), "[cm/s2] log10 surface gravity"),
                  "MH": (round(star.mh, 6), "[log10([M/H])] metallicity"),
                  "RADIUS": (round(star.radius, 6), "[solar radii] stellar radius")})
        lc = dict(common)
        lc.update({"CDPP0_5": (round(cd[0.5], 6), "RMS CDPP on 0.5-hr time scales"),
                   "CDPP1_0": (round(cd[1.0], 6), "RMS CDPP on 1.0-hr time scales"),
                   "CDPP2_0": (round(cd[2.0], 6), "RMS CDPP on 2.0-hr time scales"),
                   "CROWDSAP": (round(star.crowdsap, 8), "Ratio of target flux to total flux in op. ap."),
                   "FLFRCSAP": (round(star.flfrcsap, 8), "Frac. of target flux w/in the op. aperture"),
                   "PDCVAR": (round(r.extra["pdcvar"], 6), "Target variability")})
        ap = dict(common)
        ap.update({"CRVAL1P": (int(star.col) - 5, "value at reference CCD column"),
                   "CRVAL2P": (int(star.row) - 5, "value at reference CCD row"),
                   "NPIXSAP": (star.npix, "Number of pixels in optimal aperture")})
        return [p, lc, ap]


def _assign_classes(crng: np.random.Generator, fr: Dict[str, float], n: int) -> np.ndarray:
    """Classes of ``n`` stars by exact quota (largest remainder), shuffled."""
    quota = np.array([fr[c] * n for c in CLASSES])
    counts = np.floor(quota).astype(int)
    rem = n - counts.sum()
    if rem > 0:
        counts[np.argsort(-(quota - counts), kind="stable")[:rem]] += 1
    classes = np.repeat(np.array(CLASSES), counts)
    crng.shuffle(classes)
    return classes


def simulate_sector(
    n: int,
    out_dir: Union[str, Path],
    *,
    seed: int = 0,
    sector: Optional[int] = None,
    mix: Union[str, Dict[str, float], None] = None,
    snr_range=(5.0, 50.0),
    single_fraction: float = 0.2,
    tic_base: int = TIC_BASE,
    sectors: Optional[Union[str, Sequence[int]]] = None,
    duo_fraction: float = 0.0,
) -> pd.DataFrame:
    """Write ``n`` simulated SPOC 2-min light curves and ``truth.csv``.

    Parameters
    ----------
    n : int
        Number of stars (files).
    out_dir : str or Path
        Created if needed.  Files are named like real SPOC products
        (:func:`spoc_filename`).
    seed : int
        Everything is drawn from ``numpy.random.default_rng(seed)`` (one
        spawned child generator per star, one for the sector): the same seed
        gives byte-identical files.
    sector : int, default 1
        TESS sector (timing, scattered-light flag convention, file names).
    mix : str or dict, optional
        Class fractions, e.g. ``"planet=0.4,eb=0.15"``; default
        :data:`DEFAULT_MIX`.  Classes are assigned by exact quota (largest
        remainder), then shuffled.
    snr_range : (float, float)
        Range of expected planet SNRs (half drawn uniformly in 7-15, half
        log-uniformly over the range); a planet may fall outside when its
        radius hits the 0.004-0.25 R* limits.
    single_fraction : float
        Fraction of ``planet`` stars given a long period (30-300 d) with one
        transit in the data.
    tic_base : int
        TIC IDs are ``tic_base + i`` (default 9e9, beyond every real TIC).
    sectors : str or sequence of int, optional
        Observe every star in these sectors instead of one (``"1,2,3"``,
        ``"1-3"``, ``[24, 51]``; see :mod:`exoray.simulate.multisector`):
        same TIC ID, stellar parameters and ephemerides in each sector, each
        sector with its own timing (consecutive sectors never overlap),
        camera/CCD, aperture, crowding, noise and systematics.  One file per
        (star, sector); the truth table has one row per (star, signal) with
        the columns of :func:`~exoray.simulate.multisector.multisector_truth_columns`.
        Not combinable with ``sector``.
    duo_fraction : float, default 0
        With ``sectors`` (two or more): fraction of ``planet`` stars whose
        planet is a duo transit (one transit in each of two sectors, none in
        the others).

    Returns
    -------
    pandas.DataFrame
        The truth table (:data:`TRUTH_COLUMNS`, or the multi-sector columns),
        also written to ``out_dir/truth.csv``.
    """
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    if not 0.0 <= duo_fraction <= 1.0:
        raise ConfigError(f"duo_fraction must be within [0, 1], got {duo_fraction}")
    if sectors is not None and sector is not None:
        raise ConfigError("give either sector or sectors, not both (sectors=[24] is one sector)")
    if sectors is None and duo_fraction > 0:
        raise ConfigError("duo-transit planets need several sectors; give sectors, e.g. 24,51")
    if sectors is not None:
        # imported at call time: .multisector imports this module
        from .multisector import parse_sectors

        sectors = parse_sectors(sectors)
        if duo_fraction > 0 and len(sectors) < 2:
            raise ConfigError(f"duo-transit planets need at least two sectors, got {sectors}")
    fr = parse_mix(mix)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t_begin = _time.perf_counter()
    root = np.random.default_rng(seed)
    children = root.spawn(n + 1)
    crng = children[0]
    classes = _assign_classes(crng, fr, n)
    if sectors is not None:
        # imported at call time: .multisector imports this module
        from .multisector import write_multisector

        return write_multisector(out, classes, children[1:], crng, seed=seed, sectors=sectors,
                                 snr_range=snr_range, single_fraction=single_fraction,
                                 tic_base=tic_base, duo_fraction=duo_fraction)
    sector = 1 if sector is None else sector
    timing = sector_timing(sector, seed)
    dates = _date_strings(timing)
    writer = _FitsWriter(timing, dates)
    rows = []
    for i in range(n):
        rng = children[i + 1]
        tic = tic_base + i
        cls = str(classes[i])
        star, signals = simulate_star(rng, tic, cls, timing, snr_range, single_fraction)
        r = _render(rng, star, signals, timing)
        fname = f"tess{dates[2]}-s{sector:04d}-{tic:016d}-{_scid(sector):04d}-s_lc.fits"
        writer.write(out / fname, star, r, rng)
        base = {
            "tic_id": tic, "file": fname, "sector": sector, "class": cls,
            "tmag": star.tmag, "teff": star.teff, "radius": star.radius, "mass": star.mass,
            "logg": star.logg, "density": star.density, "mh": star.mh, "crowdsap": star.crowdsap,
            "flfrcsap": star.flfrcsap, "sigma_white_ppm": 1e6 * star.sigma_white,
            "red_1h_ppm": star.red_1h_ppm, "red_tau_hr": star.red_tau_hr,
            "rot_period": star.rot_period, "rot_amp": star.rot_amp, "flare_rate": star.flare_rate,
            "n_flares": r.extra["n_flares"],
        }
        if not r.rows:
            rows.append({**base, "signal_index": -1})
        for sr in r.rows:
            rows.append({**base, **sr})
    truth = pd.DataFrame(rows)
    for c in TRUTH_COLUMNS:
        if c not in truth:
            truth[c] = np.nan
    truth = truth[TRUTH_COLUMNS]
    truth.to_csv(out / "truth.csv", index=False, float_format="%.10g")
    log.info("simulated %d stars (%d signals) in sector %d in %.2f s -> %s", n,
             int((truth["signal_index"] >= 0).sum()), sector, _time.perf_counter() - t_begin, out)
    return truth
