"""The TESS instrument as seen in a SPOC 2-min light curve.

Everything here is shared by all targets of one simulated sector (as in real
data, where momentum dumps and scattered light hit every star on a camera at
the same cadences) and is drawn from a generator seeded by ``(seed, sector)``.

Timing (Ricker et al. 2015, JATIS 1, 014003; TESS Science Data Products
Description Document, SDPDD, Tenenbaum & Jenkins 2018):

* 2-min cadences (TIMEDEL = 1/720 d), two ~13.2-d spacecraft orbits with a
  ~1-d data-downlink gap at perigee.  As in real SPOC files the gap cadences
  are *rows* with NaN TIME/flux and QUALITY bit 8 (Earth point),
* TIME is BTJD = BJD_TDB - 2457000; TIMECORR the barycentric correction that
  was added (|TIMECORR| < 0.0058 d),
* sector start ``TSTART ~ 1325.29 + 27.2 (sector - 1)`` (sector 1 exactly;
  real sectors average 27.4 d, so later simulated sectors start early: by
  about 5 d at sector 24 and 8 d at sector 51).

QUALITY bits use the SPOC meanings (``lightkurve.utils.TessQualityFlags``):
1 AttitudeTweak, 4 CoarsePoint, 8 EarthPoint, 16 Argabrightening,
32 Desat (reaction-wheel momentum dump), 128 ManualExclude, 512 ImpulsiveOutlier,
1024 CollateralCosmic, 2048 Straylight, 4096 Straylight2 (scattered-light
exclude; SPOC >= 4.0, sectors >= 14).  Which flags blank SAP_FLUX and
PDCSAP_FLUX was measured on the 23 real SPOC files in ``shared/data/real``:
PDCSAP is NaN on 1, 2, 4, 8, 16, 32, 128, 4096 (and on most 2048 cadences of
early sectors), finite on 512/1024; SAP stays finite on 128 and 4096.

Momentum dumps: every 2.5 d in sectors 1-13, 3-5 d afterwards (Fausnaugh et
al. 2018-2023 TESS Data Release Notes); each flags 3-7 cadences (32, the
central ones also 128, one with 4), causes a pointing step visible in
POS_CORR/MOM_CENTR and a small SAP flux step and thermal settling ramp.
Scattered light from the Earth and Moon ramps up the background near the
orbit starts and ends (DRNs; Vanderspek et al. 2018 Instrument Handbook).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

from ..errors import ConfigError
from .noise import ou_noise

__all__ = ["Q", "SectorTiming", "sector_timing", "PDC_NAN_BITS", "SAP_NAN_BITS"]

CADENCE_D = 1.0 / 720.0  #: 2-min cadence [d] (TIMEDEL)


class Q:
    """SPOC QUALITY bit values (TESS SDPDD table 28)."""

    ATTITUDE_TWEAK = 1
    SAFE_MODE = 2
    COARSE_POINT = 4
    EARTH_POINT = 8
    ARGABRIGHTENING = 16
    DESAT = 32
    APERTURE_COSMIC = 64
    MANUAL_EXCLUDE = 128
    DISCONTINUITY = 256
    IMPULSIVE_OUTLIER = 512
    COLLATERAL_COSMIC = 1024
    STRAYLIGHT = 2048
    STRAYLIGHT2 = 4096


#: flags on which PDCSAP_FLUX is always NaN in SPOC products
PDC_NAN_BITS = 1 | 2 | 4 | 8 | 16 | 32 | 128 | 4096
#: flags on which SAP_FLUX is NaN (desat/coarse only partly: handled per cadence)
SAP_NAN_BITS = 2 | 8 | 16


@dataclass
class SectorTiming:
    """Cadence grid, flags and common-mode systematics of one sector.

    Attributes
    ----------
    sector : int
    t_grid : ndarray
        Uniform BTJD grid for *all* rows, gap included (models are evaluated
        on it; the written TIME is NaN in the gap).
    time : ndarray
        TIME column (NaN in the gap).
    timecorr : ndarray (float32 in files)
    cadenceno : ndarray of int32
    quality : ndarray of int32
        Sector-wide flags (per-star flags are added later).
    orbit : ndarray of int8
        0 or 1, -1 in the gap.
    orbit_starts, orbit_ends : list of float
    dumps : ndarray
        Momentum-dump times [BTJD].
    pos_corr1, pos_corr2 : ndarray
        Common pointing offsets [pixel].
    bkg_shape : ndarray
        Scattered-light background multiplier (>= 1).
    thermal : ndarray
        Common SAP thermal/focus systematic (relative, ~1e-3).
    straylight_bit : int
        2048 (sectors <= 13) or 4096 (later sectors).
    """

    sector: int
    t_grid: np.ndarray
    time: np.ndarray
    timecorr: np.ndarray
    cadenceno: np.ndarray
    quality: np.ndarray
    orbit: np.ndarray
    orbit_starts: List[float]
    orbit_ends: List[float]
    dumps: np.ndarray
    pos_corr1: np.ndarray
    pos_corr2: np.ndarray
    bkg_shape: np.ndarray
    thermal: np.ndarray
    straylight_bit: int
    meta: Dict[str, float] = field(default_factory=dict)

    @property
    def tstart(self) -> float:
        return float(self.t_grid[0] - 0.5 * CADENCE_D)

    @property
    def tstop(self) -> float:
        return float(self.t_grid[-1] + 0.5 * CADENCE_D)

    @property
    def valid(self) -> np.ndarray:
        """Rows outside the downlink gap."""
        return self.orbit >= 0


def _sector_rng(sector: int, seed: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(sector), 7919])


def _start_offset(rng: np.random.Generator, sector: int) -> float:
    """Sector start [BTJD]; the first draw of the sector's generator (none for sector 1)."""
    return 1325.2949 + 27.2 * (sector - 1) + (rng.uniform(-0.3, 0.3) if sector > 1 else 0.0)


def sector_timing(sector: int = 1, seed: int = 0, *, end_before_next: bool = False) -> SectorTiming:
    """Build the cadence grid, flags and common systematics of a sector.

    Parameters
    ----------
    sector : int
        TESS sector number (>= 1; any, including sectors far beyond those of
        the real files: the start advances 27.2 d per sector, so absolute
        epochs drift from the real ones: about 8 d early by sector 51).
    seed : int
        Together with ``sector`` seeds the sector-level randomness.
    end_before_next : bool, default False
        Shorten the second orbit where needed so that the sector ends at
        least one downlink gap before ``sector + 1`` starts, as consecutive
        real sectors do.  Without it (the grid of earlier releases, kept so
        that single-sector data sets stay reproducible) about 40 % of sectors
        run up to ~1.5 d into the next one: harmless alone, wrong for a star
        observed in consecutive sectors.  A sector that already fits is
        identical either way.

    Returns
    -------
    SectorTiming
    """
    if int(sector) != sector or sector < 1:
        raise ConfigError(f"sector must be a whole number >= 1, got {sector!r}")
    sector = int(sector)
    rng = _sector_rng(sector, seed)
    t_start = _start_offset(rng, sector)
    l1 = rng.uniform(12.6, 13.6)
    gap = rng.uniform(0.9, 1.3)
    l2 = rng.uniform(12.4, 13.4)
    if end_before_next:
        next_start = _start_offset(_sector_rng(sector + 1, seed), sector + 1)
        l2 = min(l2, next_start - gap - t_start - l1 - gap)
    n1, ng, n2 = (int(round(x / CADENCE_D)) for x in (l1, gap, l2))
    n = n1 + ng + n2
    idx = np.arange(n)
    t_sc = t_start + (idx + 0.5) * CADENCE_D
    # barycentric correction: slow sinusoid, amplitude set by ecliptic latitude
    amp = 0.0058 * rng.uniform(0.05, 1.0)
    tc = amp * np.cos(2 * np.pi * (t_sc - rng.uniform(0, 365.25)) / 365.25)
    t_grid = t_sc + tc
    orbit = np.full(n, -1, np.int8)
    orbit[:n1] = 0
    orbit[n1 + ng :] = 1
    quality = np.zeros(n, np.int32)
    quality[orbit < 0] |= Q.EARTH_POINT
    starts = [float(t_grid[0]), float(t_grid[n1 + ng])]
    ends = [float(t_grid[n1 - 1]), float(t_grid[-1])]

    # momentum dumps
    interval = 2.5 if sector <= 13 else float(rng.choice([3.125, 3.5, 4.0, 4.4, 5.0]))
    dumps = []
    for s, e in zip(starts, ends):
        t = s + rng.uniform(0.3, 0.7) * interval + (interval if sector <= 13 else 0.0) * 0
        while t < e - 0.2:
            dumps.append(t)
            t += interval
    dumps = np.array(dumps)
    for td in dumps:
        i = int(np.searchsorted(t_grid, td))
        w = int(rng.integers(3, 8))
        lo, hi = max(i - w // 2, 0), min(i - w // 2 + w, n)
        quality[lo:hi] |= Q.DESAT
        quality[max(i - 1, 0) : min(i + 1, n)] |= Q.MANUAL_EXCLUDE
        quality[min(i, n - 1)] |= Q.COARSE_POINT

    # pointing: slow drift + steps at dumps (common to the camera)
    pc = []
    for _ in range(2):
        p = ou_noise(rng, n, rng.uniform(0.005, 0.03), 1.0 * 720, 1.0)
        steps = np.zeros(n)
        for td in dumps:
            steps[np.searchsorted(t_grid, td) :] += rng.normal(0, 0.01)
        p += steps - np.median(steps) + 0.01 * rng.standard_normal(n) * 0.2
        pc.append(p)

    # scattered light: background multiplier ramps near orbit starts/ends
    bkg = np.ones(n)
    sl_bit = Q.STRAYLIGHT if sector <= 13 else Q.STRAYLIGHT2
    for s, e in zip(starts, ends):
        for edge, sign in ((s, 1), (e, -1)):
            if rng.uniform() < 0.6:
                a = float(np.exp(rng.uniform(np.log(0.5), np.log(20.0))))
                tau = rng.uniform(0.3, 1.2)
                ramp = a * np.exp(-np.clip(sign * (t_grid - edge), 0, None) / tau)
                ramp[(sign * (t_grid - edge)) < 0] = 0.0
                ramp[orbit < 0] = 0.0
                bkg += ramp
                quality[(ramp > 1.0) & (orbit >= 0)] |= sl_bit
    # thermal settling after each orbit start + slow focus drift (common mode)
    thermal = np.zeros(n)
    for k, s in enumerate(starts):
        m = orbit == k
        dt = t_grid[m] - s
        thermal[m] = -rng.uniform(1e-3, 5e-3) * np.exp(-dt / rng.uniform(0.3, 1.5)) + rng.normal(
            0, 5e-4
        ) * (dt / 13.0) ** 2

    # rare events: argabrightening, manual-exclude block, attitude tweak
    if rng.uniform() < 0.3:
        i = int(rng.integers(0, n))
        quality[i : i + int(rng.integers(5, 60))] |= Q.ARGABRIGHTENING
    if rng.uniform() < 0.25:
        i = int(rng.integers(0, n - 1500))
        quality[i : i + int(rng.integers(200, 1200))] |= Q.MANUAL_EXCLUDE
    if rng.uniform() < 0.3:
        quality[int(rng.integers(0, n))] |= Q.ATTITUDE_TWEAK
    quality[orbit < 0] = Q.EARTH_POINT

    c0 = 70444 + int(round((t_start - 1325.2949) / CADENCE_D))
    time = np.where(orbit >= 0, t_grid, np.nan)
    return SectorTiming(
        sector=int(sector),
        t_grid=t_grid,
        time=time,
        timecorr=tc,
        cadenceno=(c0 + idx).astype(np.int32),
        quality=quality,
        orbit=orbit,
        orbit_starts=starts,
        orbit_ends=ends,
        dumps=dumps,
        pos_corr1=pc[0],
        pos_corr2=pc[1],
        bkg_shape=bkg,
        thermal=thermal,
        straylight_bit=sl_bit,
        meta={"gap_days": gap, "dump_interval": interval},
    )
