"""One star observed in several TESS sectors: same system, new instrument each time.

A real star observed in sectors 1, 2, 3 (or 24 and 51, two years apart) keeps
its TIC ID, its stellar parameters and its planets' or binaries' ephemerides,
but each sector puts it on a camera and CCD of its own, with its own optimal
aperture, and so its own flux fraction (FLFRCSAP), crowding (CROWDSAP), sky
background, noise and systematics (the two real TOI-2266 files in
``shared/data/real``: camera 1 in sector 24, camera 2 in sector 51, FLFRCSAP
0.70 and 0.65).  This module draws the system once and each sector's set-up
around it:

* **Crowding.**  The light of the other stars in the aperture, relative to
  the target's, is the star's value times a log-normal factor per sector
  (sigma 0.25); CROWDSAP follows.  A blended eclipsing binary is part of
  that light, so its flux ratio (and its observed depth after SPOC's crowding
  correction) scales with the same factor: a blend's depth differs from
  sector to sector, while an on-target signal's depth does not.
* **Aperture and sky.**  Pixel count (log-normal, sigma 0.1), flux fraction
  (+-0.03) and sky (log-normal, sigma 0.3) scatter around the star's values;
  the white noise follows from them (:func:`~exoray.simulate.noise.white_noise_rel`)
  and the correlated noise is drawn afresh, as are camera, CCD and position.
* **Timing.**  Each sector is :func:`~exoray.simulate.instrument.sector_timing`
  with ``end_before_next=True``, so consecutive sectors never overlap; its
  gaps, momentum dumps and scattered light are its own.
* **Ephemerides.**  Transits fall at ``t0 + n P`` in every sector (times are
  absolute BTJD, so far-apart sectors need no special care); planet radii are
  scaled so that the *combined* expected SNR of all sectors hits the drawn
  target (per-sector SNRs are in the truth).
* **Duo transits.**  ``duo=True`` places one planet that transits exactly
  once in each of two of the sectors and in no other sector's data: its
  period is ``(T2 - T1) / n`` for an ``n`` drawn (weight ``1/n``, i.e.
  uniform in log period) among those that put no other transit in the
  data, so no single-sector periodic search can see it.

Everything here runs without astropy (it is the in-memory path benchmarks
use); writing FITS files is :func:`exoray.simulate.sector.simulate_sector`'s
job (``sectors=[...]``).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time as _time
from pathlib import Path
from typing import List, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..lightcurve import LightCurve
from . import noise
from .instrument import SectorTiming, sector_timing
from .sector import (
    _NO_EPOCH,
    CLASSES,
    TRUTH_COLUMNS,
    _date_strings,
    _draw_snr,
    _draw_system,
    _FitsWriter,
    _red_sigma,
    _render,
    _Rendered,
    _scid,
    _snr,
    _to_lightcurve,
    _transit_windows,
    _valid_times,
)
from .signals import EBSignal, PlanetSignal, draw_planet_geometry
from .stars import Star, draw_star
from .transit import transit_duration, transit_model

__all__ = [
    "parse_sectors",
    "multisector_timings",
    "SectorSetup",
    "MultiSectorSystem",
    "draw_multisector_system",
    "simulate_multisector_star",
    "multisector_truth_rows",
    "multisector_truth_columns",
    "PER_SECTOR_FIELDS",
    "write_multisector",
]

log = logging.getLogger(__name__)

#: truth fields repeated per sector as ``<field>_s<sector>`` columns
PER_SECTOR_FIELDS = ("n_transits", "single_transit", "n_in_transit", "snr", "depth_ppm", "crowdsap",
                     "blend_ratio")

_CONTAM_SIGMA = 0.25  # log-normal scatter of the contaminating light per sector
_MIN_CROWDSAP = 0.3
_DUO_MIN_PERIOD = 10.0  # [d] shortest period tried for a duo (two transits must fit in no sector)
_DUO_EDGE_D = 0.5  # [d] duo transit centres kept this far from the ends of an orbit's data


@dataclasses.dataclass
class SectorSetup:
    """The star and its signals as one sector sees them.

    ``star`` has the TIC ID and stellar parameters of the system's star and
    this sector's camera, CCD, position, aperture, crowding, sky and noise;
    ``signals`` are the system's signals (the same objects) except blended
    binaries, copied with this sector's flux ratio.
    """

    star: Star
    signals: list


@dataclasses.dataclass
class MultiSectorSystem:
    """A star, its signals and their set-up in each sector.

    Attributes
    ----------
    star : Star
        The star's own (catalogue) values; each sector's set-up scatters
        around them.
    cls : str
        Class (one of :data:`~exoray.simulate.sector.CLASSES`).
    signals : list of PlanetSignal / EBSignal
        Shared ephemerides (a blend's ``blend_ratio`` here is the star's
        reference value).
    setups : list of SectorSetup
        One per sector, in sector order.
    duo : list of bool
        Per signal: placed as a duo transit.
    """

    star: Star
    cls: str
    signals: list
    setups: List[SectorSetup]
    duo: List[bool]


# --------------------------------------------------------------------------- sectors
def parse_sectors(sectors: Union[str, Sequence[int]]) -> List[int]:
    """Sectors from ``"1,2,3"``, ``"1-3"``, ``"24,51"`` or a sequence of ints; sorted.

    Raises :class:`~exoray.errors.ConfigError` on anything that is not a list
    of distinct positive sector numbers.
    """
    if isinstance(sectors, str):
        out: List[int] = []
        for part in filter(None, (p.strip() for p in sectors.split(","))):
            m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
            if not m or (m.group(2) and int(m.group(2)) < int(m.group(1))):
                raise ConfigError(f"sector list item {part!r} is not N or N-M (N <= M); e.g. 1,2,3 or 1-3 or 24,51")
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            out.extend(range(lo, hi + 1))
    else:
        out = []
        for s in sectors:
            if isinstance(s, (bool, np.bool_)) or int(s) != s:
                raise ConfigError(f"sector {s!r} is not a whole number; e.g. sectors=[24, 51]")
            out.append(int(s))
    if not out:
        raise ConfigError("no sector given; e.g. 1,2,3 or 24,51")
    bad = [s for s in out if s < 1]
    if bad:
        raise ConfigError(f"sector {bad[0]} is not >= 1")
    dup = sorted({s for s in out if out.count(s) > 1})
    if dup:
        raise ConfigError(f"sector {dup[0]} is listed twice; list each sector once")
    return sorted(out)


def multisector_timings(sectors: Union[str, Sequence[int]], seed: int = 0) -> List[SectorTiming]:
    """Timings of ``sectors`` (see :func:`parse_sectors`), consecutive ones never overlapping."""
    return [sector_timing(s, seed, end_before_next=True) for s in parse_sectors(sectors)]


def _check_timings(timings: Sequence[SectorTiming]) -> List[SectorTiming]:
    timings = list(timings)
    if not timings:
        raise ConfigError("no sector timing given; build them with multisector_timings([1, 2, 3], seed)")
    secs = [t.sector for t in timings]
    if len(set(secs)) != len(secs):
        raise ConfigError(f"sector listed twice among the timings {secs}; give each sector once")
    timings = sorted(timings, key=lambda t: t.tstart)
    for a, b in zip(timings, timings[1:]):
        if a.tstop > b.tstart:
            raise ConfigError(
                f"sector {a.sector} ends after sector {b.sector} starts (BTJD {a.tstop:.2f} > {b.tstart:.2f}); "
                "build the timings with multisector_timings() or sector_timing(..., end_before_next=True)"
            )
    return timings


# --------------------------------------------------------------------------- drawing
def _sector_setup(rng: np.random.Generator, star: Star, signals: Sequence) -> SectorSetup:
    view = dataclasses.replace(star)
    ratio0 = (1.0 - star.crowdsap) / star.crowdsap
    ratio = min(ratio0 * float(np.exp(rng.normal(0.0, _CONTAM_SIGMA))), 1.0 / _MIN_CROWDSAP - 1.0)
    scale = ratio / ratio0 if ratio0 > 0 else 1.0
    view.crowdsap = float(1.0 / (1.0 + ratio))
    view.npix = int(max(3, round(star.npix * float(np.exp(rng.normal(0.0, 0.1))))))
    view.flfrcsap = float(np.clip(star.flfrcsap + rng.normal(0.0, 0.03), 0.5, 0.99))
    view.sky = float(star.sky * np.exp(rng.normal(0.0, 0.3)))
    view.sigma_white = float(noise.white_noise_rel(view.tmag, npix=view.npix, flfrac=view.flfrcsap,
                                                   crowdsap=view.crowdsap, sky=view.sky))
    view.red_1h_ppm = float(noise.red_noise_1h_ppm(view.sigma_white) * np.exp(rng.normal(0.0, 0.3)))
    view.red_tau_hr = float(np.exp(rng.uniform(np.log(0.5), np.log(6.0))))
    view.camera = int(rng.integers(1, 5))
    view.ccd = int(rng.integers(1, 5))
    view.col = float(rng.uniform(60, 2080))
    view.row = float(rng.uniform(20, 2030))
    sigs = [dataclasses.replace(s, blend_ratio=float(s.blend_ratio * scale))
            if isinstance(s, EBSignal) and s.blend_ratio is not None else s for s in signals]
    return SectorSetup(star=view, signals=sigs)


def _combined_snr(p: PlanetSignal, setups: Sequence[SectorSetup], timings: Sequence[SectorTiming]) -> float:
    """Expected SNR of planet ``p`` over all sectors: per-sector SNRs in quadrature."""
    total = 0.0
    for setup, timing in zip(setups, timings):
        star = setup.star
        vt = _valid_times(timing)
        t14 = float(transit_duration(p.period, p.a_rs, p.rp_rs, p.b))
        ep = _transit_windows(vt, p.period, p.t0, 0.5 * t14)
        m = ep != _NO_EPOCH
        if not m.any():
            continue
        f = transit_model(vt[m], p.period, p.t0, p.rp_rs, p.a_rs, p.b, star.u1, star.u2)
        sig_r, phi = _red_sigma(star)
        snr, *_ = _snr(1 - f, ep[m], star.sigma_white, sig_r, phi)
        total += snr**2
    return float(np.sqrt(total))


def _scale_over_sectors(p: PlanetSignal, target: float, setups, timings, max_rp: float = 0.25) -> None:
    """Set ``p.rp_rs`` so that the combined expected SNR is ~``target`` (as a single sector's)."""
    p.rp_rs = 0.05
    for _ in range(3):
        snr = _combined_snr(p, setups, timings)
        if snr <= 0:
            return
        p.rp_rs = float(np.clip(p.rp_rs * np.sqrt(target / snr), 0.004, max_rp))


def _duo_times(timing: SectorTiming) -> np.ndarray:
    """Cadences with clean data at least :data:`_DUO_EDGE_D` from the ends of each orbit."""
    t = timing.t_grid
    ok = timing.valid & (timing.quality == 0)
    for s, e in zip(timing.orbit_starts, timing.orbit_ends):
        ok &= ~(((t >= s) & (t < s + _DUO_EDGE_D)) | ((t > e - _DUO_EDGE_D) & (t <= e)))
    return t[ok]


def _transits_per_sector(p: PlanetSignal, timings: Sequence[SectorTiming], max_rp: float = 0.25) -> List[int]:
    """Transits of ``p`` with data in each sector, counted over the longest
    duration its radius can be scaled to (so scaling cannot add one)."""
    t14 = float(transit_duration(p.period, p.a_rs, max_rp, p.b))
    out = []
    for timing in timings:
        ep = _transit_windows(_valid_times(timing), p.period, p.t0, 0.5 * t14)
        out.append(int(np.unique(ep[ep != _NO_EPOCH]).size))
    return out


def _draw_duo(rng: np.random.Generator, star: Star, timings: Sequence[SectorTiming], attempts: int = 200):
    """A planet with exactly one transit in each of two sectors and none in the others."""
    pairs = [(i, j) for i in range(len(timings)) for j in range(i + 1, len(timings))]
    good = [_duo_times(t) for t in timings]
    b = float(rng.uniform(0.0, 0.9))
    for _ in range(attempts):
        i, j = pairs[int(rng.integers(len(pairs)))]
        if good[i].size == 0 or good[j].size == 0:
            continue
        t1, t2 = float(rng.choice(good[i])), float(rng.choice(good[j]))
        dt = t2 - t1
        ok = []  # (n, planet) for every n that puts no other transit in the data
        for n in range(1, int(dt // _DUO_MIN_PERIOD) + 1):
            period = dt / n
            a_rs, _ = draw_planet_geometry(rng, star, period, b=b)
            p = PlanetSignal(period=period, t0=t1, rp_rs=0.05, a_rs=a_rs, b=b)
            counts = _transits_per_sector(p, timings)
            if counts[i] == 1 and counts[j] == 1 and sum(counts) == 2:
                ok.append((n, p))
        if ok:
            w = np.array([1.0 / n for n, _ in ok])  # P = dt / n: weight 1/n is uniform in log P
            return ok[int(rng.choice(len(ok), p=w / w.sum()))][1]
    secs = ", ".join(str(t.sector) for t in timings)
    raise ConfigError(
        f"could not place a duo-transit planet in sectors {secs} after {attempts} tries; "
        "use sectors far enough apart (a duo needs a period longer than a sector's data)"
    )


def draw_multisector_system(
    rng: np.random.Generator,
    tic_id: int,
    cls: str,
    timings: Sequence[SectorTiming],
    *,
    snr_range=(5.0, 50.0),
    single_fraction: float = 0.2,
    duo: bool = False,
) -> MultiSectorSystem:
    """Draw a star of class ``cls``, its signals and its set-up in each sector.

    Parameters
    ----------
    rng : numpy.random.Generator
    tic_id : int
    cls : str
        One of :data:`~exoray.simulate.sector.CLASSES`.
    timings : sequence of SectorTiming
        The sectors (:func:`multisector_timings`); the ephemerides are drawn
        in the earliest and propagate to the others.
    snr_range : (float, float)
        Target range of each planet's expected SNR over all sectors together.
    single_fraction : float
        As for :func:`~exoray.simulate.sector.simulate_star` (long-period
        planets placed in the earliest sector; later sectors may hold more
        of their transits).
    duo : bool
        Give the star (``cls`` must be ``"planet"``) a duo-transit planet.

    Returns
    -------
    MultiSectorSystem
    """
    timings = _check_timings(timings)
    if cls not in CLASSES:
        raise ConfigError(f"unknown class {cls!r}; allowed: {', '.join(CLASSES)}")
    duo_flags: List[bool]
    if duo:
        if cls != "planet":
            raise ConfigError(f"a duo-transit system is a 'planet' star, not {cls!r}")
        if len(timings) < 2:
            raise ConfigError("a duo-transit planet needs at least two sectors")
        star = draw_star(rng, tic_id)
        p = _draw_duo(rng, star, timings)
        signals, targets, duo_flags = [p], [_draw_snr(rng, snr_range)], [True]
    else:
        star, signals, targets = _draw_system(rng, tic_id, cls, timings[0], snr_range, single_fraction,
                                              scale=False)
        duo_flags = [False] * len(signals)
    setups = [_sector_setup(rng, star, signals) for _ in timings]
    for s, target in zip(signals, targets):
        if target is not None:
            _scale_over_sectors(s, target, setups, timings)
    return MultiSectorSystem(star=star, cls=cls, signals=signals, setups=setups, duo=duo_flags)


def _simulate(rng, tic_id, cls, timings, snr_range, single_fraction, duo):
    """(system, timings sorted, renders, per-sector generators) of one star."""
    timings = _check_timings(timings)
    system = draw_multisector_system(rng, tic_id, cls, timings, snr_range=snr_range,
                                     single_fraction=single_fraction, duo=duo)
    # each sector's noise comes from a generator of its own, so how many
    # draws one sector's rendering takes cannot shift the next sector's noise
    sector_rngs = rng.spawn(len(timings))
    renders = [_render(r, setup.star, setup.signals, t)
               for r, setup, t in zip(sector_rngs, system.setups, timings)]
    return system, timings, renders, sector_rngs


def simulate_multisector_star(
    rng: np.random.Generator,
    tic_id: int,
    cls: str,
    timings: Sequence[SectorTiming],
    *,
    snr_range=(5.0, 50.0),
    single_fraction: float = 0.2,
    duo: bool = False,
) -> Tuple[List[LightCurve], List[dict]]:
    """Simulate one star in several sectors, in memory (no astropy, no files).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all of the star's randomness: the same generator state
        gives the same light curves.
    tic_id, cls, timings, snr_range, single_fraction, duo
        See :func:`draw_multisector_system`.

    Returns
    -------
    (list of LightCurve, list of dict)
        One light curve per sector in time order (same ``tic_id``; ``sector``,
        ``camera``, ``ccd`` of that sector; ``meta["truth"]`` that sector's
        rows, ``meta["star"]`` its set-up), and the truth rows of the
        system (:func:`multisector_truth_rows`).

    Examples
    --------
    >>> import numpy as np
    >>> from exoray.simulate.multisector import multisector_timings, simulate_multisector_star
    >>> lcs, truth = simulate_multisector_star(np.random.default_rng(1), 9_000_000_001, "planet",
    ...                                        multisector_timings("24,51", seed=1), duo=True)
    >>> [lc.sector for lc in lcs], truth[0]["n_transits_s24"], truth[0]["n_transits_s51"]
    ([24, 51], 1, 1)
    """
    system, timings, renders, _ = _simulate(rng, tic_id, cls, timings, snr_range, single_fraction, duo)
    lcs = [_to_lightcurve(setup.star, t, r) for setup, t, r in zip(system.setups, timings, renders)]
    return lcs, multisector_truth_rows(system, timings, renders)


# --------------------------------------------------------------------------- truth
def multisector_truth_columns(sectors: Sequence[int]) -> List[str]:
    """Columns of a multi-sector ``truth.csv``.

    :data:`~exoray.simulate.sector.TRUTH_COLUMNS` (``file``: the star's
    files, comma-separated in sector order; ``sector``: its first sector),
    then ``sectors`` (comma-separated), ``duo_transit``, and the
    :data:`PER_SECTOR_FIELDS` of each sector as ``<field>_s<sector>``.
    """
    cols = list(TRUTH_COLUMNS) + ["sectors", "duo_transit"]
    for s in sectors:
        cols += [f"{f}_s{s}" for f in PER_SECTOR_FIELDS]
    return cols


def multisector_truth_rows(system: MultiSectorSystem, timings: Sequence[SectorTiming],
                           renders: Sequence[_Rendered]) -> List[dict]:
    """One truth row per signal of the system (one row with ``signal_index`` -1 if none).

    Each row has every column of :func:`multisector_truth_columns` except
    ``file`` (NaN where a column does not apply).

    Star columns hold the star's own values (per-sector CROWDSAP in
    ``crowdsap_s<N>``).  Signal columns: ephemeris and geometry (identical in
    every sector); ``snr`` = per-sector SNRs in quadrature (the expected SNR
    of the stitched data); ``n_transits_in_data`` and ``n_in_transit`` summed
    over sectors; ``depth_mean_ppm`` their in-transit-cadence-weighted mean;
    ``depth_ppm``/``secondary_depth_ppm`` the mean over sectors (they differ
    between sectors only for blends); ``blend_ratio`` the star's reference
    value; ``single_transit`` True when all sectors together hold exactly
    one transit, ``duo_transit`` when they hold exactly two, in two sectors.
    """
    star = system.star
    sectors = [t.sector for t in timings]
    base = {
        "tic_id": star.tic_id, "sector": sectors[0], "class": system.cls,
        "sectors": ",".join(map(str, sectors)),
        "tmag": star.tmag, "teff": star.teff, "radius": star.radius, "mass": star.mass,
        "logg": star.logg, "density": star.density, "mh": star.mh, "crowdsap": star.crowdsap,
        "flfrcsap": star.flfrcsap, "sigma_white_ppm": 1e6 * star.sigma_white,
        "red_1h_ppm": star.red_1h_ppm, "red_tau_hr": star.red_tau_hr,
        "rot_period": star.rot_period, "rot_amp": star.rot_amp, "flare_rate": star.flare_rate,
        "n_flares": int(sum(r.extra["n_flares"] for r in renders)),
    }
    for s, setup in zip(sectors, system.setups):
        base[f"crowdsap_s{s}"] = setup.star.crowdsap
    blank = {c: np.nan for c in multisector_truth_columns(sectors) if c != "file"}
    if not system.signals:
        return [{**blank, **base, "signal_index": -1, "duo_transit": False}]
    rows = []
    for k, sig in enumerate(system.signals):
        per = [r.rows[k] for r in renders]
        row = {**blank, **base, **per[0]}
        n_tr = [int(p["n_transits_in_data"]) for p in per]
        n_in = [int(p["n_in_transit"]) for p in per]
        row.update(
            snr=float(np.sqrt(sum(p["snr"] ** 2 for p in per))),
            n_transits_in_data=sum(n_tr),
            n_in_transit=sum(n_in),
            depth_mean_ppm=(float(sum(p["depth_mean_ppm"] * n for p, n in zip(per, n_in)) / sum(n_in))
                            if sum(n_in) else 0.0),
            depth_ppm=float(np.mean([p["depth_ppm"] for p in per])),
            single_transit=sum(n_tr) == 1,
            duo_transit=sum(n_tr) == 2 and max(n_tr) == 1,
        )
        if isinstance(sig, EBSignal):
            row["secondary_depth_ppm"] = float(np.mean([p["secondary_depth_ppm"] for p in per]))
            row["blend_ratio"] = sig.blend_ratio if sig.blend_ratio is not None else np.nan
        for s, p, n, setup in zip(sectors, per, n_tr, system.setups):
            row[f"n_transits_s{s}"] = n
            row[f"single_transit_s{s}"] = n == 1
            row[f"n_in_transit_s{s}"] = int(p["n_in_transit"])
            row[f"snr_s{s}"] = float(p["snr"])
            row[f"depth_ppm_s{s}"] = float(p["depth_ppm"])
            row[f"blend_ratio_s{s}"] = p.get("blend_ratio", np.nan)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- files
def write_multisector(out: Path, classes: np.ndarray, star_rngs: Sequence[np.random.Generator],
                      crng: np.random.Generator, *, seed: int, sectors, snr_range, single_fraction: float,
                      tic_base: int, duo_fraction: float) -> pd.DataFrame:
    """The multi-sector body of :func:`~exoray.simulate.sector.simulate_sector`.

    ``classes[i]`` and ``star_rngs[i]`` belong to star ``i``; ``crng`` (the
    generator that shuffled the classes) then picks the duo-transit stars.
    Writes one SPOC-layout file per (star, sector) and ``truth.csv``.
    """
    t_begin = _time.perf_counter()
    timings = multisector_timings(sectors, seed)
    secs = [t.sector for t in timings]
    n = len(classes)
    duo = (classes == "planet") & (crng.uniform(size=n) < duo_fraction)
    dates = [_date_strings(t) for t in timings]
    writers = [_FitsWriter(t, d) for t, d in zip(timings, dates)]
    rows = []
    for i in range(n):
        tic = tic_base + i
        system, _, renders, sector_rngs = _simulate(star_rngs[i], tic, str(classes[i]), timings, snr_range,
                                                     single_fraction, bool(duo[i]))
        files = []
        for t, d, w, setup, r, srng in zip(timings, dates, writers, system.setups, renders, sector_rngs):
            fname = f"tess{d[2]}-s{t.sector:04d}-{tic:016d}-{_scid(t.sector):04d}-s_lc.fits"
            w.write(out / fname, setup.star, r, srng)
            files.append(fname)
        for row in multisector_truth_rows(system, timings, renders):
            rows.append({**row, "file": ",".join(files)})
    cols = multisector_truth_columns(secs)
    truth = pd.DataFrame(rows, columns=cols)
    truth.to_csv(out / "truth.csv", index=False, float_format="%.10g")
    log.info("simulated %d stars x %d sectors (%s; %d signals, %d duo) in %.2f s -> %s", n, len(secs),
             ",".join(map(str, secs)), int((truth["signal_index"] >= 0).sum()), int(duo.sum()),
             _time.perf_counter() - t_begin, out)
    return truth
