"""Signals injected into real light curves, and real light curves made signal-free.

The simulator's noise is a model; a real light curve carries the instrument's
and the star's real systematics.  This module turns real products into test
and training material the way the Kepler and TESS pipelines measure
themselves (Christiansen et al. 2013, 2020; Coughlin 2017; Thompson et al.
2018):

* :func:`catalogue_signals` lists what is already known on a star (TOIs of
  any disposition, catalogued eclipsing binaries) and :func:`mask_signals`
  blanks those cadences, so that what remains is the star's noise;
* :func:`inject_planet` multiplies a limb-darkened transit (Mandel & Agol,
  the simulator's :func:`~exoray.simulate.transit.transit_model`) into the raw
  flux, *before* any preprocessing, so the whole chain sees it;
  :func:`draw_planet` picks period, impact parameter and a radius that gives
  a requested matched-filter SNR on the star's own scatter;
* :func:`inject_eb` does the same for an eclipsing binary on the target or
  blended with it (diluted depth, centroid motion towards the blend);
* :func:`invert_lightcurve` (dips become bumps) and
  :func:`scramble_lightcurve` (blocks of days put in another order) keep the
  real noise and remove every periodic dip: whatever a search finds in them
  is a false alarm.

Everything works on :class:`~exoray.lightcurve.LightCurve` records and
returns new ones; nothing is written to disk.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import astro
from ..errors import InputError
from ..ingest import read_lightcurve
from ..ingest.quality_flags import good_cadences
from ..lightcurve import LightCurve
from ..stats import MAD_TO_SIGMA, mad
from .signals import draw_eb
from .transit import (
    a_rs_from_density,
    dilute,
    eb_model,
    limb_darkening_tess,
    secondary_eclipse_phase,
    transit_duration,
    transit_model,
)

__all__ = [
    "KnownSignal",
    "shared_real_dir",
    "catalogue_signals",
    "mask_signals",
    "white_noise",
    "matched_filter_snr",
    "stellar_density",
    "inject_planet",
    "draw_planet",
    "inject_eb",
    "draw_eb_injection",
    "invert_lightcurve",
    "scramble_lightcurve",
    "star_half",
    "transits_with_data",
    "usable_cadences",
]

_BTJD = 2457000.0
#: Salt of :func:`star_half`, fixed once so that the shared real stars split
#: evenly by kind (planet hosts, eclipsing binaries, stars without a signal).
_SPLIT_SALT = "s18-"


@dataclass(frozen=True)
class KnownSignal:
    """A catalogued periodic signal on a star (TOI or eclipsing binary).

    ``duration_hours`` is the catalogue's (or a generous guess when it has
    none); ``kind`` is ``"toi"`` or ``"eb"``; for EBs the secondary eclipse
    is masked at phase 0.5 and at the catalogue's secondary phase.
    """

    period: float
    t0: float
    duration_hours: float
    kind: str
    label: str
    secondary_phase: Optional[float] = None


def shared_real_dir() -> Optional[Path]:
    """``../shared/data/real`` beside the repository, or ``$EXORAY_SHARED_DATA``; None if absent."""
    env = os.environ.get("EXORAY_SHARED_DATA")
    if env:
        base = Path(env)
        cand = base / "real" if (base / "real").is_dir() else base
        return cand if cand.is_dir() else None
    cand = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
    return cand if cand.is_dir() else None


def _read_toi(path: Path):
    import pandas as pd

    return pd.read_csv(path, skiprows=2, encoding="utf-8-sig",
                       usecols=["TIC ID", "TOI", "Period (days)", "Transit Epoch (BJD)", "Duration (hours)"])


def catalogue_signals(tic_id: int, toi_csv: Optional[os.PathLike] = None,
                      eb_csv: Optional[os.PathLike] = None) -> List[KnownSignal]:
    """Every catalogued periodic signal of ``tic_id`` (TOIs of any disposition, EBs).

    Defaults are the ExoFOP TOI table and the Prsa et al. (2022) EB table of
    the shared real-data folder.  Rows without a period (single transits)
    are skipped; mask those by hand.
    """
    import pandas as pd

    root = shared_real_dir()
    if toi_csv is None and root is not None:
        hits = sorted((root / "catalogs").glob("exofop_tess_tois_*.csv"))
        toi_csv = hits[-1] if hits else None
    if eb_csv is None and root is not None:
        hits = sorted((root / "catalogs").glob("tess_ebs_prsa2022*.csv"))
        eb_csv = hits[-1] if hits else None
    out: List[KnownSignal] = []
    if toi_csv is not None:
        toi = _read_toi(Path(toi_csv))
        for _, r in toi[toi["TIC ID"] == int(tic_id)].iterrows():
            p, ep = r["Period (days)"], r["Transit Epoch (BJD)"]
            if not (np.isfinite(p) and p > 0 and np.isfinite(ep)):
                continue
            dur = r["Duration (hours)"] if np.isfinite(r["Duration (hours)"]) else 6.0
            out.append(KnownSignal(float(p), float(ep) - _BTJD, float(dur), "toi", f"TOI-{r['TOI']}"))
    if eb_csv is not None:
        eb = pd.read_csv(eb_csv)
        for _, r in eb[eb["TIC"] == int(tic_id)].iterrows():
            p, ep = r["Per"], r["BJD0"]
            if not (np.isfinite(p) and p > 0 and np.isfinite(ep)):
                continue
            widths = [r.get(c) for c in ("wp-pf", "wp-2g") if c in r and np.isfinite(r.get(c))]
            # widths are in phase units; fall back to 8 % of the period
            dur_h = 24.0 * p * (max(widths) if widths else 0.08)
            sec = [r.get(c) for c in ("phs-pf", "phs-2g") if c in r and np.isfinite(r.get(c))]
            out.append(KnownSignal(float(p), float(ep), float(dur_h), "eb", f"EB {r.get('m_TIC', tic_id)}",
                                   float(sec[0]) if sec else 0.5))
    return out


def _phase_distance(t, period, t0):
    return np.abs(np.mod(t - t0 + 0.5 * period, period) - 0.5 * period)


def mask_signals(lc: LightCurve, signals: Sequence[KnownSignal], pad: float = 1.0) -> LightCurve:
    """A copy of ``lc`` with every catalogued transit/eclipse blanked (flux NaN).

    Each event is blanked over ``(0.5 + pad)`` catalogue durations on both
    sides of its centre (``pad=1`` removes 1.5 durations either way, enough
    for catalogue ephemerides a sector or more old).
    """
    flux = lc.flux.copy()
    t = lc.time
    fin = np.isfinite(t)
    for s in signals:
        half = (0.5 + pad) * s.duration_hours / 24.0
        m = fin & (_phase_distance(np.where(fin, t, 0.0), s.period, s.t0) < half)
        if s.kind == "eb":
            for ph in {0.5, float(s.secondary_phase or 0.5)}:
                m |= fin & (_phase_distance(np.where(fin, t, 0.0), s.period, s.t0 + ph * s.period) < half)
        flux[m] = np.nan
    meta = dict(lc.meta)
    meta["masked_signals"] = [dataclasses.asdict(s) for s in signals]
    return dataclasses.replace(lc, flux=flux, meta=meta)


def usable_cadences(lc: LightCurve) -> np.ndarray:
    """Cadences the default quality preset keeps, with finite time and flux."""
    keep = np.asarray(good_cadences(lc.quality, "default", lc.mission), dtype=bool)
    return np.isfinite(lc.time) & np.isfinite(lc.flux) & keep


def white_noise(lc: LightCurve) -> float:
    """Relative per-cadence white noise of the usable cadences.

    The robust scatter of consecutive differences / sqrt(2) of the flux over
    its median: insensitive to slow stellar variability and to transits, so
    it is the scatter a matched filter sees on the shortest time scale.
    """
    ok = usable_cadences(lc)
    f = lc.flux[ok] / np.median(lc.flux[ok])
    d = np.diff(f)
    return float(MAD_TO_SIGMA * mad(d) / math.sqrt(2.0))


def matched_filter_snr(model: np.ndarray, sigma: float, usable: np.ndarray) -> float:
    """White-noise matched-filter SNR ``sqrt(sum (1 - m)^2) / sigma`` over usable cadences."""
    dip = 1.0 - np.asarray(model, float)[usable]
    return float(math.sqrt(np.sum(dip * dip)) / sigma) if sigma > 0 else float("nan")


def stellar_density(lc: LightCurve) -> Tuple[float, float, float]:
    """(density [g/cm^3], mass, radius) of the host from its header, solar values when unknown."""
    m, r = astro.stellar_params(lc.mass, lc.radius, lc.logg)
    return float(astro.stellar_density(m, r)), m, r


def transits_with_data(time: np.ndarray, usable: np.ndarray, period: float, t0: float, duration: float,
                       min_fraction: float = 0.5) -> int:
    """Transits with at least ``min_fraction`` of their expected in-transit cadences usable."""
    t = time[np.isfinite(time)]
    if t.size < 2:
        return 0
    dt = float(np.median(np.diff(t)))
    expected = max(1.0, duration / dt)
    tu = time[usable]
    inside = _phase_distance(tu, period, t0) < 0.5 * duration
    epochs = np.round((tu[inside] - t0) / period).astype(np.int64)
    if epochs.size == 0:
        return 0
    _, counts = np.unique(epochs, return_counts=True)
    return int(np.sum(counts >= min_fraction * expected))


def inject_planet(lc: LightCurve, period: float, t0: float, rp_rs: float, b: float, *,
                  a_rs: Optional[float] = None, u: Optional[Tuple[float, float]] = None,
                  ecc: float = 0.0, w: float = 90.0,
                  supersample: Optional[int] = None) -> Tuple[LightCurve, Dict[str, Any]]:
    """Multiply a limb-darkened transit into ``lc``'s raw flux.

    ``a_rs`` defaults to Kepler's law with the header's stellar density;
    ``u`` to the TESS-band coefficients for the header's Teff; ``ecc`` and
    ``w`` (degrees) shape the orbit.  Long
    cadences (>= 10 min) are supersampled so the model is the exposure
    average.  Returns the new light curve and a truth record (period, t0,
    duration, depth, rp_rs, a_rs, b, the matched-filter SNR on the star's
    white noise and the number of transits with data).
    """
    if not (period > 0 and rp_rs > 0 and 0 <= b < 1 + rp_rs):
        raise InputError(f"bad injection: period={period}, rp_rs={rp_rs}, b={b}")
    rho, _, radius = stellar_density(lc)
    if a_rs is None:
        a_rs = float(a_rs_from_density(period, rho))
    if u is None:
        u = limb_darkening_tess(lc.teff if lc.teff else 5800.0)
    exptime = float(lc.cadence_s) / 86400.0
    ss = supersample if supersample is not None else (1 if lc.cadence_s < 600 else 11)
    model = transit_model(lc.time, period, t0, rp_rs, a_rs, b, u[0], u[1], ecc=ecc, w=w, exptime=exptime,
                          supersample=ss)
    flux = lc.flux * model
    usable = usable_cadences(lc)
    sigma = white_noise(lc)
    dur = float(transit_duration(period, a_rs, rp_rs, b, ecc, w))
    truth = {
        "period_days": float(period), "t0_btjd": float(t0), "duration_hours": 24.0 * dur,
        "depth_ppm": 1e6 * float(1.0 - model[usable].min()) if usable.any() else float("nan"),
        "mean_depth_ppm": 1e6 * float(np.mean(1.0 - model[usable & (model < 1.0)])) if (usable & (model < 1.0)).any()
        else float("nan"),
        "rp_rs": float(rp_rs), "a_rs": float(a_rs), "b": float(b), "ecc": float(ecc), "w": float(w),
        "radius_earth": float(astro.radius_earth(rp_rs, radius)),
        "snr": matched_filter_snr(model, sigma, usable),
        "n_transits": transits_with_data(lc.time, usable, period, t0, dur),
        "noise_ppm": 1e6 * sigma,
    }
    meta = dict(lc.meta)
    meta.setdefault("injections", []).append(dict(truth, kind="planet"))
    return dataclasses.replace(lc, flux=flux, meta=meta), truth


def draw_planet(rng: np.random.Generator, lc: LightCurve, *, snr: Optional[float] = None,
                rp_rs: Optional[float] = None, period_range: Tuple[float, float] = (0.5, 20.0),
                min_transits: int = 2, max_rp_rs: float = 0.3, tries: int = 40,
                density_scatter_dex: float = 0.15) -> Optional[Tuple[LightCurve, Dict[str, Any]]]:
    """Inject a planet of matched-filter SNR ~``snr`` at a random period, epoch and impact parameter.

    The period is log-uniform in ``period_range`` (the upper end is cut to
    the span of the data); the draw is repeated until at least
    ``min_transits`` transits fall in usable data.  The radius is scaled
    (depth ~ rp^2) until the SNR is within 2 % of the request, or, with
    ``rp_rs``, fixed (a giant planet, whatever SNR that gives).  ``None``
    when no valid draw is found (a star too noisy for ``max_rp_rs``, or too
    little data).

    Real planets do not follow the catalogue star exactly, so neither do
    these: the stellar density behind the orbit is the header's times
    ``10**N(0, density_scatter_dex)`` (catalogue densities are uncertain by
    tens of per cent), and half the orbits are eccentric with ``e`` from
    the Beta(0.867, 3.03) distribution of Kipping (2013, MNRAS 434, L51).
    A transit's duration therefore says as much about its star as a real
    one does, and no more.
    """
    usable = usable_cadences(lc)
    t = lc.time[usable]
    if t.size < 100:
        return None
    span = float(t[-1] - t[0])
    lo, hi = period_range[0], min(period_range[1], span)
    if hi <= lo:
        return None
    rho, _, _ = stellar_density(lc)
    u = limb_darkening_tess(lc.teff if lc.teff else 5800.0)
    sigma = white_noise(lc)
    exptime = float(lc.cadence_s) / 86400.0
    ss = 1 if lc.cadence_s < 600 else 11
    for _ in range(tries):
        period = float(np.exp(rng.uniform(math.log(lo), math.log(hi))))
        t0 = float(t[0] + rng.uniform(0.0, period))
        b = float(rng.uniform(0.0, 0.9))
        rho_true = rho * 10.0 ** rng.normal(0.0, density_scatter_dex)
        ecc, w = 0.0, 90.0
        if rng.uniform() < 0.5:
            ecc, w = float(min(rng.beta(0.867, 3.03), 0.8)), float(rng.uniform(0.0, 360.0))
        a_rs = float(a_rs_from_density(period, rho_true))
        if a_rs * (1.0 - ecc) < 2.0:
            continue
        dur = float(transit_duration(period, a_rs, 0.05, b, ecc, w))
        if not dur > 0 or transits_with_data(lc.time, usable, period, t0, dur) < min_transits:
            continue
        if rp_rs is not None:
            if b > 1.0 - rp_rs:
                continue  # a giant at this impact parameter would graze: draw again
            return inject_planet(lc, period, t0, float(rp_rs), b, a_rs=a_rs, u=u, ecc=ecc, w=w)
        rp = 0.05
        for _ in range(8):
            model = transit_model(lc.time, period, t0, rp, a_rs, b, u[0], u[1], ecc=ecc, w=w, exptime=exptime,
                                  supersample=ss)
            got = matched_filter_snr(model, sigma, usable)
            if not got > 0:
                break
            if abs(got / snr - 1.0) < 0.02:
                break
            rp *= math.sqrt(snr / got)
            if rp > max_rp_rs:
                break
        if not (0 < rp <= max_rp_rs) or not got > 0 or abs(got / snr - 1.0) >= 0.05:
            continue
        return inject_planet(lc, period, t0, rp, b, a_rs=a_rs, u=u, ecc=ecc, w=w)
    return None


def inject_eb(lc: LightCurve, period: float, t0: float, *, k: float, a_rs: float, b: float, sb_ratio: float,
              q: float = 0.8, ecc: float = 0.0, w: float = 90.0, blend_ratio: Optional[float] = None,
              offset_px: Tuple[float, float] = (0.0, 0.0),
              ld: Tuple[Tuple[float, float], Tuple[float, float]] = ((0.4, 0.2), (0.4, 0.2))
              ) -> Tuple[LightCurve, Dict[str, Any]]:
    """Multiply an eclipsing binary into ``lc``'s raw flux.

    ``blend_ratio`` ``None``: the binary is the target.  Otherwise the binary
    is a separate star whose flux is ``blend_ratio`` times the target's
    inside the aperture: its variation is diluted by ``r / (1 + r)`` and,
    when the product has flux-weighted centroids, they move towards the
    blend at ``offset_px`` by the blend's share of the flux change
    (first-order flux-weighted centroid, Bryson et al. 2013).
    """
    exptime = float(lc.cadence_s) / 86400.0
    ss = 1 if lc.cadence_s < 600 else 11
    rel = eb_model(lc.time, period, t0, k, a_rs, b, sb_ratio, ld[0], ld[1], ecc=ecc, w=w, q=q,
                   exptime=exptime, supersample=ss)
    cc, cr = lc.centroid_col, lc.centroid_row
    if blend_ratio is not None:
        frac = blend_ratio / (1.0 + blend_ratio)
        total = dilute(rel, frac)
        if cc is not None and cr is not None:
            # flux-weighted centroid: sum(F_i x_i) / sum(F_i); the blend's
            # weight changes from frac to frac * rel
            wb = frac * rel / total
            cc = cc + (wb - frac) * offset_px[0]
            cr = cr + (wb - frac) * offset_px[1]
    else:
        total = rel
    usable = usable_cadences(lc)
    sigma = white_noise(lc)
    truth = {
        "period_days": float(period), "t0_btjd": float(t0),
        "duration_hours": 24.0 * float(transit_duration(period, a_rs, k, min(b, 1 + k - 1e-6), ecc, w)),
        "depth_ppm": 1e6 * float(1.0 - total[usable].min()) if usable.any() else float("nan"),
        "k": float(k), "a_rs": float(a_rs), "b": float(b), "ecc": float(ecc), "w": float(w),
        "secondary_phase": float(secondary_eclipse_phase(ecc, w)),
        "blend_ratio": None if blend_ratio is None else float(blend_ratio),
        "snr": matched_filter_snr(total, sigma, usable),
        "noise_ppm": 1e6 * sigma,
    }
    meta = dict(lc.meta)
    meta.setdefault("injections", []).append(dict(truth, kind="blended_eb" if blend_ratio is not None else "eb"))
    out = dataclasses.replace(lc, flux=lc.flux * total, centroid_col=cc, centroid_row=cr, meta=meta)
    return out, truth


def draw_eb_injection(rng: np.random.Generator, lc: LightCurve, *, blended: bool,
                      depth_range_ppm: Tuple[float, float] = (300.0, 30000.0)
                      ) -> Tuple[LightCurve, Dict[str, Any]]:
    """Inject a random detached binary (the simulator's draw), on target or blended.

    A blend gets a flux ratio that puts its diluted eclipse depth log-uniform
    in ``depth_range_ppm`` (where it mimics a planet) and sits 0.3-2 pixels
    from the target in a random direction.
    """
    _, m, r = stellar_density(lc)
    teff = lc.teff if lc.teff else 5800.0
    usable = usable_cadences(lc)
    t = lc.time[usable]
    sig = draw_eb(rng, teff, m, r, float(t[0]))
    blend_ratio = None
    offset = (0.0, 0.0)
    if blended:
        probe = eb_model(lc.time, sig.period, sig.t0, sig.k, sig.a_rs, sig.b, sig.sb_ratio, sig.ld1, sig.ld2,
                         ecc=sig.ecc, w=sig.w, q=sig.q)
        intrinsic = float(1.0 - np.nanmin(probe))
        target = float(np.exp(rng.uniform(*np.log(depth_range_ppm)))) * 1e-6
        frac = min(0.9, target / max(intrinsic, 1e-6))
        blend_ratio = frac / (1.0 - frac)
        sep = float(rng.uniform(0.3, 2.0))
        ang = float(rng.uniform(0, 2 * math.pi))
        offset = (sep * math.cos(ang), sep * math.sin(ang))
    return inject_eb(lc, sig.period, sig.t0, k=sig.k, a_rs=sig.a_rs, b=sig.b, sb_ratio=sig.sb_ratio, q=sig.q,
                     ecc=sig.ecc, w=sig.w, blend_ratio=blend_ratio, offset_px=offset, ld=(sig.ld1, sig.ld2))


def _segments(time: np.ndarray, gap_days: float) -> np.ndarray:
    """Segment id per cadence (finite times sorted; NaN times join the previous segment)."""
    t = np.where(np.isfinite(time), time, np.nan)
    filled = np.fmax.accumulate(np.where(np.isnan(t), -np.inf, t))
    steps = np.diff(filled) > gap_days
    return np.concatenate([[0], np.cumsum(steps)])


def invert_lightcurve(lc: LightCurve, gap_days: float = 0.5) -> LightCurve:
    """Flip the flux about its median in every stretch between gaps: dips become bumps.

    Transits and eclipses turn into brightenings that no transit search
    should report; flares turn into dips.  The noise, the cadence pattern,
    the quality flags and the systematics' time scales are the real ones.
    """
    flux = lc.flux.copy()
    seg = _segments(lc.time, gap_days)
    ok = np.isfinite(flux)
    for s in np.unique(seg):
        m = (seg == s) & ok
        if m.any():
            med = float(np.median(flux[m]))
            flux[m] = 2.0 * med - flux[m]
    meta = dict(lc.meta, probe="inverted")
    return dataclasses.replace(lc, flux=flux, meta=meta)


def scramble_lightcurve(lc: LightCurve, rng: np.random.Generator, *, block_days: Tuple[float, float] = (2.0, 4.0),
                        gap_days: float = 1.0) -> LightCurve:
    """Cut the light curve into blocks of 2-4 days and lay them out in a random order.

    Each block keeps its own cadences (noise, trends, flags, centroids);
    blocks are placed one after another with ``gap_days`` between them (a
    gap longer than the preprocessing break tolerance, so no detrender sees
    an artificial jump), which destroys the phase coherence of any periodic
    signal across blocks.  The time stamps start where the original did.
    """
    t = lc.time
    fin = np.isfinite(t)
    idx_all = np.flatnonzero(fin)
    order = idx_all[np.argsort(t[fin], kind="stable")]
    ts = t[order]
    blocks: List[np.ndarray] = []
    seg = _segments(ts, 0.5)
    for s in np.unique(seg):
        rows = order[seg == s]
        tt = t[rows]
        start = tt[0]
        while tt.size:
            length = float(rng.uniform(*block_days))
            cut = int(np.searchsorted(tt, start + length))
            if tt.size - cut < 50 or tt[-1] - tt[min(cut, tt.size - 1)] < 0.5:
                cut = tt.size
            blocks.append(rows[:cut])
            rows, tt = rows[cut:], tt[cut:]
            if tt.size:
                start = tt[0]
    perm = rng.permutation(len(blocks))
    if len(blocks) > 1 and np.all(perm == np.arange(len(blocks))):
        perm = np.roll(perm, 1)
    new_t: List[np.ndarray] = []
    take: List[np.ndarray] = []
    cursor = float(ts[0])
    for j in perm:
        rows = blocks[j]
        tb = t[rows]
        new_t.append(tb - tb[0] + cursor)
        take.append(rows)
        cursor = float(new_t[-1][-1]) + gap_days
    rows = np.concatenate(take)
    time = np.concatenate(new_t)

    def pick(a):
        return None if a is None else a[rows]

    meta = dict(lc.meta, probe="scrambled")
    return dataclasses.replace(lc, time=time, flux=lc.flux[rows], flux_err=lc.flux_err[rows],
                               quality=lc.quality[rows], centroid_col=pick(lc.centroid_col),
                               centroid_row=pick(lc.centroid_row), meta=meta)


def star_half(tic_id: int) -> str:
    """``"A"`` or ``"B"``: a fixed split of stars (hash of the TIC ID) for tuning vs reporting."""
    h = hashlib.sha256(f"{_SPLIT_SALT}{int(tic_id)}".encode()).digest()
    return "A" if h[0] % 2 == 0 else "B"


# --------------------------------------------------------------------------- probe sets
#: Changes whenever the same :class:`Probe` would build a different light
#: curve (cached results of earlier builds are then stale).
PROBE_VERSION = 3
#: Kinds of probe built by :func:`build_probe`.
PROBE_KINDS = ("planet", "eb", "blended_eb", "inverted", "scrambled", "inverted_scrambled")
#: Probes made signal-free: anything found in them is a false alarm.
FALSE_ALARM_KINDS = ("inverted", "scrambled", "inverted_scrambled")


@dataclass(frozen=True)
class Probe:
    """One light curve of an injection / false-alarm set, described without its arrays.

    ``seed`` makes :func:`build_probe` reproducible; ``snr`` is the requested
    matched-filter SNR of a planet injection, or ``rp_rs`` its fixed radius
    ratio (a giant planet); ``half`` is :func:`star_half`.
    """

    probe_id: str
    kind: str
    path: str
    tic_id: int
    sector: int
    half: str
    seed: int
    snr: float = float("nan")
    rp_rs: float = float("nan")


def _host_is_eb(signals: Sequence[KnownSignal], tic_id: int, toi_csv=None, yu_csv=None) -> bool:
    """Is the star's own light dominated by an eclipsing binary?

    Yes when the Prsa et al. (2022) table lists it, a TOI of it is
    dispositioned as an eclipsing binary or false positive (TESS ``EB`` or
    TFOPWG ``FP``), or Yu et al. (2019) labelled one of its TCEs ``EB``;
    unless a TOI of it is a confirmed or known planet (TFOPWG CP/KP), which
    takes precedence as the shared data's manifest advises.
    """
    import io

    import pandas as pd

    root = shared_real_dir()
    if toi_csv is None and root is not None:
        hits = sorted((root / "catalogs").glob("exofop_tess_tois_*.csv"))
        toi_csv = hits[-1] if hits else None
    if yu_csv is None and root is not None:
        hits = sorted((root / "catalogs").glob("yu2019_*.csv"))
        yu_csv = hits[-1] if hits else None
    eb = any(s.kind == "eb" for s in signals)
    planet = False
    if toi_csv is not None:
        toi = pd.read_csv(toi_csv, skiprows=2, encoding="utf-8-sig",
                          usecols=["TIC ID", "TESS Disposition", "TFOPWG Disposition"])
        rows = toi[toi["TIC ID"] == int(tic_id)]
        tfop = set(rows["TFOPWG Disposition"].astype(str))
        planet = bool(tfop & {"CP", "KP"})
        eb |= bool("FP" in tfop or "EB" in set(rows["TESS Disposition"].astype(str)))
    if yu_csv is not None and not eb:
        raw = Path(yu_csv).read_bytes().replace(b"\r\n", b"\n").replace(b"\r", b"\n").decode("utf-8")
        yu = pd.read_csv(io.StringIO(raw), usecols=["tic_id", "Disposition"])
        eb |= bool((yu.loc[yu["tic_id"] == int(tic_id), "Disposition"].astype(str) == "EB").any())
    return eb and not planet


def plan_probes(files: Sequence[os.PathLike], *, n_planets: int = 12, n_eb: int = 0, n_blended_eb: int = 0,
                n_inverted: int = 1, n_scrambled: int = 2, n_inverted_scrambled: int = 1,
                snr_range: Tuple[float, float] = (5.0, 40.0), seed: int = 0,
                halves: Sequence[str] = ("A", "B"), n_giants: int = 0,
                giant_rp_rs: Tuple[float, float] = (0.06, 0.16)) -> List[Probe]:
    """Plan an injection / false-alarm set over real light-curve files.

    Every file is a host unless its star is a catalogued eclipsing binary
    (its own eclipses would dominate).  Per host: ``n_planets`` transits at
    requested SNRs log-uniform in ``snr_range``, ``n_giants`` giant planets
    (radius ratio uniform in ``giant_rp_rs``: hot Jupiters' percent-deep
    transits, at whatever SNR the star gives them), ``n_eb`` /
    ``n_blended_eb`` binaries, and the false-alarm probes.  Catalogued
    signals are masked in every probe (see :func:`build_probe`).
    """
    probes: List[Probe] = []
    ss = np.random.SeedSequence([int(seed), 7919])
    for path in sorted(map(str, files)):
        lc = read_lightcurve(path)
        half = star_half(lc.tic_id)
        if half not in halves:
            continue
        if _host_is_eb(catalogue_signals(lc.tic_id), lc.tic_id):
            continue
        base = f"{lc.tic_id}-s{lc.sector}-{lc.product}"
        child = np.random.SeedSequence([int(seed), int(lc.tic_id), int(lc.sector)])
        rng = np.random.default_rng(child)
        lo, hi = snr_range
        counts = (("planet", n_planets), ("eb", n_eb), ("blended_eb", n_blended_eb), ("inverted", n_inverted),
                  ("scrambled", n_scrambled), ("inverted_scrambled", n_inverted_scrambled))
        for kind, n in counts:
            for k in range(int(n)):
                snr = float(np.exp(rng.uniform(math.log(lo), math.log(hi)))) if kind == "planet" else float("nan")
                probes.append(Probe(f"{base}-{kind}{k}", kind, path, int(lc.tic_id), int(lc.sector), half,
                                    int(rng.integers(0, 2**31 - 1)), snr))
        # drawn after the others so that adding giants leaves those probes unchanged
        for k in range(int(n_giants)):
            rp = float(rng.uniform(*giant_rp_rs))
            probes.append(Probe(f"{base}-giant{k}", "planet", path, int(lc.tic_id), int(lc.sector), half,
                                int(rng.integers(0, 2**31 - 1)), rp_rs=rp))
    del ss
    return probes


def build_probe(probe: Probe, *, mask: bool = True) -> Tuple[LightCurve, Optional[Dict[str, Any]]]:
    """The light curve of ``probe`` (read, catalogued signals masked, then altered) and its truth.

    Truth is ``None`` for false-alarm probes and for a planet draw that
    found no valid geometry (then the light curve is the masked host).
    """
    lc = read_lightcurve(probe.path)
    if mask:
        lc = mask_signals(lc, catalogue_signals(lc.tic_id))
    rng = np.random.default_rng(probe.seed)
    kind = probe.kind
    if kind == "planet":
        if np.isfinite(probe.rp_rs):
            got = draw_planet(rng, lc, rp_rs=probe.rp_rs, period_range=(0.5, 10.0))
        else:
            got = draw_planet(rng, lc, snr=probe.snr)
        if got is None:
            return lc, None
        return got
    if kind in ("eb", "blended_eb"):
        return draw_eb_injection(rng, lc, blended=kind == "blended_eb")
    if kind == "inverted":
        return invert_lightcurve(lc), None
    if kind == "scrambled":
        return scramble_lightcurve(lc, rng), None
    if kind == "inverted_scrambled":
        return scramble_lightcurve(invert_lightcurve(lc), rng), None
    raise InputError(f"unknown probe kind {kind!r}; choose one of {PROBE_KINDS}")
