"""From a preprocessed light curve to vetted transit candidates.

:func:`find_candidates` runs the iterative BLS search
(:func:`exoray.search.bls.iterative_search`) on ``flux_flat``, vets each
signal (:func:`exoray.vet.vet_candidate`) and returns one row per signal: a
:class:`exoray.vet.records.CandidateRecord` as a dict, with every column of
:data:`~exoray.vet.records.CANDIDATES_SCHEMA` except the ones later stages
fill (``score``, ``score_lo``, ``score_hi``, ``rule_disposition``,
``report_path``; ``alias_periods_days`` only for a duo-transit).  The
columns' meanings and units are in the record's field metadata.

Headline numbers come from the vetting stage's trapezoid fit where it
converged (depth, duration and their errors), else from the BLS peak.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..config import SearchConfig
from ..lightcurve import PreprocessedLightCurve
from ..limits import check_baseline, check_trial_periods
from ..preprocess import redetrend
from ..preprocess.stitch import split_sectors
from ..vet import VET_THRESHOLDS, load_catalogs, phase_variability_check, vet_candidate
from ..vet.records import CANDIDATE_FEATURES, CandidateRecord, VetReport
from ..vet.uniqueness import model_shift
from .bls import BLSResult, iterative_search, prepare_batch, transit_mask
from .consistency import is_consistent, transit_consistency
from .duo import duo_transits
from .period_grid import (
    central_transit_duration,
    duration_grid,
    orbit_period,
    period_grid,
    period_grid_size,
    roche_period,
    stellar_params,
)
from .steps import SearchOptions, coherent_points, drive, iterative_steps, search_steps

log = logging.getLogger(__name__)

__all__ = ["find_candidates", "search_lightcurve", "folded_profile", "load_known_catalogs", "link_same_period",
           "CANDIDATE_FEATURES"]


def _f(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def load_known_catalogs(config: SearchConfig):
    """The TOI/EB catalogues for cross-matching, or ``None`` when ``config.use_catalog`` is off.

    Each catalogue comes from ``config``, else ``EXORAY_TOI_CATALOG``/``EXORAY_EB_CATALOG``,
    else the snapshot shipped in the package (:func:`exoray.vet.load_catalogs`).
    A configured path that does not exist is an error (it names the file).
    """
    if not config.use_catalog:
        return None
    return load_catalogs(toi_path=config.toi_catalog or None, eb_path=config.eb_catalog or None)


def folded_profile(time, flux, period: float, n_bins: int = 50, at=None) -> np.ndarray:
    """The median flux folded at ``period`` in ``n_bins`` phase bins, evaluated at ``at`` (default ``time``).

    Linear interpolation between bin centres, wrapping at phase 0/1; empty
    bins take the interpolated neighbours.  Subtracting it (plus the median)
    pre-whitens a periodic signal such as starspot modulation; dips at any
    other period average out in the fold.
    """
    t = np.asarray(time, dtype=np.float64)
    f = np.asarray(flux, dtype=np.float64)
    ph = np.mod(t / period, 1.0)
    idx = np.minimum((ph * n_bins).astype(np.int64), n_bins - 1)
    med = np.full(n_bins, np.nan)
    for b in np.unique(idx):
        med[b] = np.median(f[idx == b])
    centres = (np.arange(n_bins) + 0.5) / n_bins
    ok = np.isfinite(med)
    if ok.sum() < 3:
        return np.full(f.shape if at is None else np.shape(at), np.median(f))
    xc = np.concatenate([centres[ok] - 1.0, centres[ok], centres[ok] + 1.0])
    yc = np.tile(med[ok], 3)
    ph_at = ph if at is None else np.mod(np.asarray(at, dtype=np.float64) / period, 1.0)
    return np.interp(ph_at, xc, yc)


#: Steps (dex) of the stellar mean density and (days) of the time span on
#: which search grids are built: stars of one class share one grid, so a
#: batch of them is searched in one kernel call, and a star searched alone
#: uses the very grid it would get in a batch.
DENSITY_STEP_DEX = 0.1
SPAN_STEP_DAYS = 1.0


@dataclass(frozen=True, eq=False)
class SearchGrid:
    """Trial periods and durations of one class of stars, and which durations each period may use.

    ``mask[i, k]`` is ``True`` when duration ``k`` can be a transit of a
    planet on period ``i`` around a star of this density (from a grazing
    0.3x to 1.5x a central transit, with one grid step of margin either
    side); the kernel skips the rest.
    """

    periods: np.ndarray
    durations: np.ndarray
    mask: np.ndarray
    density: float
    span: float

    def mask_for(self, periods) -> np.ndarray:
        """Duration mask rows for other trial periods (a refinement grid) by Kepler's law."""
        return _duration_mask(np.asarray(periods, dtype=np.float64), self.durations, self.density)


def _duration_mask(periods: np.ndarray, durations: np.ndarray, density: float) -> np.ndarray:
    per = duration_grid(periods, density, 1.0, n_durations=2, max_duration_hours=24.0 * 1.5)
    lo, hi = per[:, 0], per[:, -1]
    # bracket [lo, hi] by the nearest grid durations outside it
    i_lo = np.clip(np.searchsorted(durations, lo, side="right") - 1, 0, durations.size - 1)
    i_hi = np.clip(np.searchsorted(durations, hi, side="left"), 0, durations.size - 1)
    k = np.arange(durations.size)[None, :]
    return (k >= i_lo[:, None]) & (k <= i_hi[:, None])


def grid_class(plc: PreprocessedLightCurve, cfg: SearchConfig) -> Tuple[float, float]:
    """``(density, span)`` a light curve's search grid is built for: both rounded to shared steps.

    The grid depends on the star only through its mean density
    (Kepler's law: durations scale as ``(P / rho)^(1/3)``, the Ofir sampling
    as ``rho^(1/3)``): it is rounded to ``DENSITY_STEP_DEX`` (a duration
    changes by <4%, far less than the grid's own step).  The span is rounded
    *up* to whole ``SPAN_STEP_DAYS`` (a slightly denser grid; periods past
    the data's span cannot hold two transits and score nothing).
    """
    mass, radius = stellar_params(plc.mass, plc.radius, plc.logg)
    q = round(math.log10(mass / radius**3) / DENSITY_STEP_DEX) * DENSITY_STEP_DEX
    baseline = _block_span(plc)
    span = math.ceil(baseline / SPAN_STEP_DAYS - 1e-9) * SPAN_STEP_DAYS
    return round(10.0 ** q, 12), max(span, SPAN_STEP_DAYS)


def _block_span(plc: PreprocessedLightCurve) -> float:
    """Time span searched as one block: the whole light curve, or the longest sector of a stitched one.

    The sectors of a stitched light curve are searched each on its own grid
    and combined (a semi-coherent search, see
    :func:`exoray.search.steps.pass_steps`); the joined light curve is
    searched coherently only around the peaks.
    """
    if not plc.parts or plc.cadence_sector is None:
        return float(plc.time[-1] - plc.time[0])
    spans = []
    for s in np.unique(plc.cadence_sector):
        ts = plc.time[plc.cadence_sector == s]
        spans.append(float(ts[-1] - ts[0]) if ts.size else 0.0)
    return max(spans)


@functools.lru_cache(maxsize=256)
def _grid_for(density: float, span: float, min_period: float, max_period: Optional[float],
              n_durations: int) -> Optional[SearchGrid]:
    # A star of this mean density: the grids depend on nothing else.
    mass, radius = density, 1.0
    max_p = min(max_period or span, span)
    # No orbit inside two stellar radii (a giant's planets orbit for days),
    # but a wrong catalogue radius must never empty the grid: the star's
    # floor is kept below a quarter of the span.
    star_floor = min(orbit_period(2.0, mass, radius), 0.25 * span)
    min_p = max(min_period, roche_period(), star_floor)
    if max_p <= min_p:
        return None
    periods = period_grid(span, min_period=min_p, max_period=max_p, stellar_mass=mass, stellar_radius=radius)
    # One duration list for all periods, spanning what the star allows from
    # the shortest to the longest period: it lets the kernel use its
    # scatter-free binning; the mask keeps each period to its own range.
    # Giants' transits last a day or more: the ceiling follows the star.
    longest = float(np.clip(1.5 * central_transit_duration(max_p, mass, radius), 0.5, 1.5))
    per_period = duration_grid(periods, mass, radius, max_duration_hours=24.0 * longest)
    durations = np.unique(np.geomspace(per_period.min(), min(per_period.max(), 0.9 * periods[0]), n_durations))
    mask = _duration_mask(periods, durations, density)
    for a in (periods, durations, mask):
        a.setflags(write=False)  # shared by every star of the class
    return SearchGrid(periods, durations, mask, density, span)


def search_grid(plc: PreprocessedLightCurve, cfg: SearchConfig) -> Optional[SearchGrid]:
    """The :class:`SearchGrid` of one light curve, or ``None`` when its span is too short.

    Periods run from ``min_period_days`` (at least a rocky planet's Roche
    limit, and an orbit of two stellar radii) to ``max_period_days`` or the
    whole span of the data (a box must still hold two transits' worth of
    data, see :func:`bls_power`); durations span what the star allows over
    that range (Kepler's law).  Light curves of one star class and span get
    the same (cached, read-only) grid: see :func:`grid_class`.
    """
    t = plc.time
    if t.size < 2:
        return None
    # before the grid can exhaust memory: a time jump inside one file is
    # refused; sectors stitched years apart are not a jump, and their grid
    # is bounded by the number of trial periods below
    for part, sel in split_sectors(plc):
        ts = t[sel]
        check_baseline(float(ts[-1] - ts[0]) if ts.size else 0.0, cfg.max_baseline_days, part.source_path)
    density, span = grid_class(plc, cfg)
    # Refuse a huge grid before building it: its size is known from the
    # class (the Ofir grid's length), building it could exhaust memory.
    check_trial_periods(_n_periods_estimate(density, span, cfg), cfg.max_trial_periods, plc.source_path)
    grid = _grid_for(density, span, float(cfg.min_period_days), cfg.max_period_days, int(cfg.n_durations))
    if grid is None:
        log.info("%s: span %.2f d too short for the shortest period allowed", plc.source_path, span)
    else:
        check_trial_periods(grid.periods.size, cfg.max_trial_periods, plc.source_path)
    return grid


def _n_periods_estimate(density: float, span: float, cfg: SearchConfig) -> int:
    return period_grid_size(span, cfg.min_period_days, min(cfg.max_period_days or span, span),
                            stellar_mass=density, stellar_radius=1.0)


def search_options(cfg: SearchConfig):
    """The periodogram options of a search configuration."""
    return SearchOptions(oversample=cfg.oversample, dtype=cfg.dtype, device=cfg.device,
                         min_transits=cfg.min_transits)


def search_lightcurve(plc: PreprocessedLightCurve, config: Optional[SearchConfig] = None, after_signal=None,
                      accept=None, grid=None):
    """Iterative BLS on one preprocessed light curve; list of BLSResult.

    ``after_signal`` and ``accept`` are passed to
    :func:`~exoray.search.bls.iterative_search`; without ``accept`` a signal
    needs an SNR of at least ``snr_threshold`` and an SDE of at least
    ``sde_threshold``.  ``grid`` is :func:`search_grid`'s output when the
    caller has it already.
    """
    cfg = config or SearchConfig()
    grid = grid if grid is not None else search_grid(plc, cfg)
    if grid is None:
        return []
    if accept is None:
        def accept(res, *_):
            return res if res.snr >= cfg.snr_threshold and res.sde >= cfg.sde_threshold else None
    return iterative_search(
        plc,
        max_planets=cfg.max_planets,
        max_passes=cfg.max_passes if cfg.max_passes is not None else cfg.max_planets + 3,
        mask_width=cfg.mask_width,
        periods=grid.periods,
        durations=grid.durations,
        duration_mask=grid.mask,
        oversample=cfg.oversample,
        dtype=cfg.dtype,
        device=cfg.device,
        red_noise=cfg.red_noise,
        min_transits=cfg.min_transits,
        n_peaks=cfg.n_peaks,
        accept=accept,
        after_signal=after_signal,
    )


def _row(plc: PreprocessedLightCurve, k: int, res, vet: Dict[str, Any]) -> Dict[str, Any]:
    """The candidate row of one signal: its BLS result ``res`` and its vetting result ``vet``."""
    v = VetReport(vet)
    depth_ok = math.isfinite(v.depth) and v.depth > 0
    dur_ok = math.isfinite(v.duration) and 0 < v.duration < res.period
    record = CandidateRecord(
        tic_id=plc.tic_id,
        sector=plc.sector,
        candidate_index=k,
        period_days=float(res.period),
        t0_btjd=float(res.t0),
        duration_hours=24.0 * (v.duration if dur_ok else float(res.duration)),
        depth_ppm=1e6 * (v.depth if depth_ok else float(res.depth)),
        depth_err_ppm=1e6 * v.depth_err if depth_ok else 1e6 * float(res.depth_err),
        duration_err_hours=24.0 * v.duration_err if dur_ok else float("nan"),
        snr=float(res.snr),
        sde=float(res.sde),
        n_transits=v.n_transits(default=res.n_transits),
        odd_even_sigma=v.odd_even_sigma,
        secondary_sigma=v.secondary_sigma,
        disposition=v.disposition,
        known_object=v.known_object,
        vet_flags=v.vet_flags,
        single_event=False,  # periodic search; single events come from the anomaly stage
        source_path=plc.source_path,
        sectors=",".join(str(s) for s in plc.sectors),
        n_sectors=len(plc.sectors),
        sector_depth_ppm=v.sector_depth_ppm,
        sector_depth_err_ppm=v.sector_depth_err_ppm,
        # features: the search's own, then every vetting statistic, then the star's
        bls_depth_ppm=1e6 * float(res.depth),
        snr_white=_f(res.get("snr_white")),
        red_noise=_f(res.get("red_noise")),
        transit_chi2_p=_f(res.get("transit_chi2_p")),
        redetrend_gain=_f(res.snr / res["snr_before_redetrend"]) if res.get("snr_before_redetrend") else 1.0,
        bls_power=float(res.power),
        sde_raw=_f(res.get("sde_raw")),
        **v.statistics(),
        noise_ppm=_f(plc.noise_ppm),
        tmag=_f(plc.tmag),
        teff=_f(plc.teff),
        radius=_f(plc.radius),
        logg=_f(plc.logg),
    )
    return record.to_row()


def _add_flag(row: Dict[str, Any], flag: str) -> None:
    flags = [f for f in (row.get("vet_flags") or "").split(";") if f]
    if flag not in flags:
        flags.append(flag)
    row["vet_flags"] = ";".join(flags)


def link_same_period(rows: List[Dict[str, Any]], rel_tol: float = 2e-3, min_phase: float = 0.05) -> List[Dict[str, Any]]:
    """Link signals of one star that share a period but not an epoch.

    Masking a found signal and searching again turns the secondary eclipse of
    a binary (or a planet's occultation) into a second "signal" at the same
    period and another phase.  Two planets cannot share an orbit, so the
    later signal is marked ``secondary_of_<j>`` and the earlier one
    ``has_secondary_<k>``.  When the earlier signal is an eclipsing binary the
    later one is its secondary eclipse and takes that disposition too; when it
    is a planet candidate the later one is most likely its occultation and is
    left as vetted (its own secondary test sees the deeper primary).
    Modifies and returns ``rows``.
    """
    for k, rk in enumerate(rows):
        same = []
        for j in range(k):
            rj = rows[j]
            pj, pk = float(rj["period_days"]), float(rk["period_days"])
            if pj > 0 and abs(pk / pj - 1.0) < rel_tol:
                phase = ((float(rk["t0_btjd"]) - float(rj["t0_btjd"])) / pj) % 1.0
                same.append((j, min(phase, 1.0 - phase)))
        if any(dphi < min_phase for _, dphi in same):
            continue  # same period and epoch as an earlier signal: a duplicate, not a secondary
        for j, _ in same:
            rj = rows[j]
            _add_flag(rk, f"secondary_of_{rj['candidate_index']}")
            _add_flag(rj, f"has_secondary_{rk['candidate_index']}")
            if rj.get("disposition") == "eclipsing_binary":
                rk["disposition"] = "eclipsing_binary"
            break
    return rows


def _signal_mask(time: np.ndarray, res, cfg: SearchConfig) -> np.ndarray:
    """Cadences inside a found signal's transits, as wide as the search masks them."""
    return transit_mask(time, res.period, res.t0, cfg.mask_width * res.get("mask_duration", res.duration))


def _one_event_signals(kinds: Sequence[str], vets: Sequence[Dict[str, Any]]) -> set:
    """Indices of the signals whose vetting found them dominated by one event."""
    return {j for j, v in enumerate(vets) if kinds[j] == "signal" and VetReport(v).flags.single_event_dominated}


def _related_periods(p1: float, p2: float, tol: float = 0.01, max_ratio: int = 2) -> bool:
    """Periods equal or in a 1:2 / 2:1 ratio (a binary's secondary, or the same signal at an alias)."""
    for r in (1.0, 2.0, 0.5)[: 1 + 2 * (max_ratio >= 2)]:
        if abs(p1 / (r * p2) - 1.0) < tol:
            return True
    return False


def _subset(plc: PreprocessedLightCurve, keep: np.ndarray) -> PreprocessedLightCurve:
    """``plc`` restricted to the cadences in ``keep`` (every per-cadence array)."""
    import dataclasses

    if keep.all():
        return plc
    kw = {name: (None if getattr(plc, name) is None else getattr(plc, name)[keep]) for name in plc.CADENCE_ARRAYS}
    return dataclasses.replace(plc, **kw)


def _is_variability(lc: PreprocessedLightCurve, res, thresholds=None) -> bool:
    """The vetting rules' variability call (duty cycle, out-of-transit bumps), on their own."""
    thr = dict(VET_THRESHOLDS, **(thresholds or {}))
    if res.duration / res.period > thr["max_duty_cycle"]:
        return True
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_err = lc.flux_err / lc.flux * lc.flux_flat
    pv = phase_variability_check(lc.time, lc.flux_flat, rel_err, res.period, res.t0, res.duration,
                                 float(res.depth), bump_ratio=thr["bump_ratio"], bump_sigma=thr["bump_sigma"])
    return bool(pv["flag"])


def find_candidates(
    plc: PreprocessedLightCurve,
    config: Optional[SearchConfig] = None,
    *,
    catalogs=None,
    return_details: bool = False,
    preprocess=None,
):
    """Search one preprocessed light curve and vet every signal found.

    Each pass of the iterative search offers its strongest independent
    periodogram peaks in turn; a peak whose red-noise SNR comes near the
    threshold has the light curve re-detrended with its transits masked
    (:func:`exoray.preprocess.redetrend`) and is re-measured there, and it
    is kept when that SNR reaches ``config.snr_threshold``, its transit
    stands out of its own folded light curve (model shift,
    ``config.min_uniqueness``) and its transits agree with one another
    (a peak carried by one event has that event vetoed).  A kept signal
    that looks like stellar variability (long duty cycle, out-of-transit
    bumps) is pre-whitened (its folded profile subtracted) and does not use
    up a planet's place; any other is masked and the search goes on with the
    re-detrended light curve.  Finally every signal is vetted with the
    transits of the other, unrelated signals removed (a sibling planet's
    transit is not a secondary eclipse).

    Parameters
    ----------
    plc : PreprocessedLightCurve
    config : SearchConfig, optional
    catalogs : KnownObjectCatalogs, optional
        From :func:`load_known_catalogs`; ``None`` skips the cross-match.
    return_details : bool
        Also return the BLS results and full vetting output (for reports).
    preprocess : PreprocessConfig, optional
        How ``plc`` was preprocessed (for the re-detrend); default settings
        otherwise.

    Returns
    -------
    list of dict
        One row per signal (``candidate_index`` 0, 1, ... in order found);
        empty when nothing passes.  With ``return_details``: ``(rows,
        bls_results, vets)``.
    """
    rows, results, vets = drive(candidate_steps(plc, config or SearchConfig(), catalogs=catalogs,
                                                preprocess=preprocess))
    if return_details:
        return rows, results, vets
    return rows


def candidate_steps(plc: PreprocessedLightCurve, cfg: SearchConfig, *, catalogs=None, preprocess=None):
    """:func:`find_candidates` as search steps (see :mod:`exoray.search.steps`); returns ``(rows, results, vets)``.

    Driven alone it is :func:`find_candidates`; driven with others
    (:func:`exoray.search.steps.drive_lockstep`) every pass of every star of
    a class runs in one kernel call.
    """
    import dataclasses

    grid = search_grid(plc, cfg)
    if grid is None:
        return [], [], []
    periods, durations = grid.periods, grid.durations
    opts = search_options(cfg)
    n = plc.time.size
    blocks = plc.cadence_sector if plc.parts else None
    state = {"lc": plc, "whiten": np.zeros(n), "mask": np.zeros(n, bool), "pending": None}
    kinds: List[str] = []
    early_lcs: Dict[int, PreprocessedLightCurve] = {}
    centroids = None
    if plc.centroid_col is not None and plc.centroid_row is not None:
        centroids = (plc.time, plc.centroid_col, plc.centroid_row)

    def aligned(t) -> bool:
        return t.size == n and bool(np.all(t == plc.time))

    def remeasure(cand, t, iv, keep):
        """The candidate re-measured on the light curve re-detrended with its transits masked."""
        m = state["mask"] | transit_mask(plc.time, cand.period, cand.t0, 1.5 * cand.duration)
        lc2 = redetrend(plc, m, preprocess)
        y2 = lc2.flux_flat - state["whiten"]
        i = int(np.clip(np.searchsorted(periods, cand.period), 1, periods.size - 1))
        lo, hi = periods[max(i - 2, 0)], periods[min(i + 1, periods.size - 1)]
        # a stitched light curve is re-measured coherently over its whole span
        n_fine = 41 if blocks is None else coherent_points(lo, hi, cand.period, float(plc.time[-1] - plc.time[0]),
                                                           float(np.min(durations)))
        fine = np.unique(np.concatenate([1.0 / np.linspace(1.0 / hi, 1.0 / lo, n_fine), [cand.period]]))
        r2 = yield from search_steps(t[keep], y2[keep], iv[keep], {}, fine, durations, opts, red_noise=cfg.red_noise,
                                     duration_mask=grid.mask_for(fine), refine=False)
        out = BLSResult(cand)
        for k in ("period", "t0", "duration", "depth", "depth_err", "snr", "snr_white", "red_noise", "power",
                  "log_likelihood", "n_transits", "n_points_in_transit"):
            out[k] = r2[k]
        out["snr_before_redetrend"] = float(cand.snr)
        return out, lc2

    window = plc.detrend_window_days if np.isfinite(plc.detrend_window_days) else 1.0
    star = stellar_params(plc.mass, plc.radius, plc.logg)

    def accept(cand, t, y, iv, keep):
        # A short window keeps only 1 - D/w of a long shallow transit: such a
        # peak is worth a re-detrend at a proportionally lower SNR.
        kept = float(np.clip(1.0 - cand.duration / window, 0.3, 0.8))
        pre = cfg.snr_threshold * (kept if cfg.redetrend else 1.0)
        if not (cand.snr >= pre and cand.sde >= cfg.sde_threshold):
            return None
        lc2 = None
        y_now = y
        if cfg.redetrend and aligned(t):
            cand2, lc2 = yield from remeasure(cand, t, iv, keep)
            # A detrender that kept a share (1 - D/w) of a transit gives it
            # back when the transit is masked; a far larger gain means the
            # trend, interpolated across the mask on a variable star, dug a
            # dip of its own, and the re-detrended light curve is not used.
            if cand2.snr <= 1.2 * cand.snr / max(0.2, 1.0 - cand.duration / window):
                cand = cand2
                y_now = lc2.flux_flat - state["whiten"]
            else:
                lc2 = None
        if cand.snr < cfg.snr_threshold:
            return None
        if cfg.min_uniqueness is not None:
            ms = model_shift(t[keep], y_now[keep], 1.0 / np.sqrt(iv[keep]), cand.period, cand.t0, cand.duration)
            if np.isfinite(ms["value"]) and ms["value"] < cfg.min_uniqueness:
                return None  # one of many alike events in its own fold: noise, look at the next peak
        c = transit_consistency(t[keep], y_now[keep], iv[keep], cand.period, cand.t0, cand.duration,
                                noise_factor=float(cand.get("red_noise", 1.0)))
        cand["transit_chi2_p"] = c.p_value
        if not is_consistent(c, cfg.rest_fraction):
            if c.n_transits >= 1:
                # one event carries the signal: leave it out, with a margin
                # for the artefacts (ramps, flare residuals) that last
                # longer than the box, and search again
                centre = float(c.centres[c.strongest])
                return np.abs(t - centre) < cand.duration + 0.25
            return None
        # In red noise the best box is the transit's core, shorter than the
        # transit: mask at least most of a central transit for this star, or
        # the transit's wings come back as a second signal.
        cand["mask_duration"] = float(min(max(cand.duration, 0.75 * central_transit_duration(cand.period, *star)),
                                          0.25 * cand.period))
        state["pending"] = lc2
        return cand

    def after_signal(res, t, y, keep):
        lc2 = state["pending"] if state["pending"] is not None else state["lc"]
        state["pending"] = None
        if not aligned(t):
            kinds.append("signal")
            return None
        current = dataclasses.replace(lc2, flux_flat=lc2.flux_flat - state["whiten"])
        if _is_variability(current, res):
            # Starspot modulation that survived detrending comes back pass
            # after pass at the rotation period whatever is masked, and
            # masking a wide trough throws away much of the data: subtract
            # its folded profile instead, so the next pass sees what lies
            # beneath.  It does not take a planet's place.
            kinds.append("variability")
            base = dataclasses.replace(state["lc"], flux_flat=state["lc"].flux_flat - state["whiten"])
            # vetted at the end on this light curve (its own profile not yet
            # subtracted), once the signals found later can be masked from it
            early_lcs[len(kinds) - 1] = base
            yb = base.flux_flat
            n_bins = int(np.clip(round(3.0 * res.period / res.duration), 50, 500))
            prof = folded_profile(t[keep], yb[keep], res.period, n_bins=n_bins, at=t)
            state["whiten"] = state["whiten"] + prof - float(np.median(yb[keep]))
            return state["lc"].flux_flat - state["whiten"], False, False
        # Eclipsing binaries and planet candidates are masked: subtracting
        # their folded profile would also remove the secondary eclipse and
        # odd/even differences the vetting needs.
        kinds.append("signal")
        state["lc"] = lc2
        state["mask"] |= _signal_mask(plc.time, res, cfg)
        return lc2.flux_flat - state["whiten"], True, True

    batch = prepare_batch(plc)
    results = yield from iterative_steps(
        batch.time[0], batch.flux[0], batch.ivar[0], batch.meta[0], periods, durations, opts, accept=accept,
        after_signal=after_signal, max_planets=cfg.max_planets,
        max_passes=cfg.max_passes if cfg.max_passes is not None else cfg.max_planets + 3,
        mask_width=cfg.mask_width, n_peaks=cfg.n_peaks, red_noise=cfg.red_noise, duration_mask=grid.mask,
        blocks=blocks)
    final = dataclasses.replace(state["lc"], flux_flat=state["lc"].flux_flat - state["whiten"])
    def own_window(res) -> np.ndarray:
        return _signal_mask(final.time, res, cfg)

    def others(k: int, res) -> List[int]:
        return [j for j, other in enumerate(results)
                if j != k and kinds[j] == "signal" and not _related_periods(other.period, res.period)]

    def vet_one(k: int, res, spare=()) -> Dict[str, Any]:
        # a pre-whitened signal is vetted on the light curve it was found in
        # (the final one has its profile subtracted), the others on the final one
        source = early_lcs.get(k, final)
        keep = np.ones(n, bool)
        mine = own_window(res) if spare else None
        for j in others(k, res):
            m = own_window(results[j])
            if j in spare:
                m &= ~mine
            keep &= ~m
        lc_k = _subset(source, keep)
        cen = (lc_k.time, lc_k.centroid_col, lc_k.centroid_row) if centroids is not None else None
        return vet_candidate(
            lc_k, {"period": res.period, "t0": res.t0, "duration": res.duration, "depth": res.depth, "snr": res.snr,
                   "red_noise": res.get("red_noise", 1.0), "mask_duration": res.get("mask_duration")},
            catalogs=catalogs, dump_times=plc.momentum_dump_times, centroids=cen)

    vets: List[Dict[str, Any]] = [vet_one(k, res) for k, res in enumerate(results)]
    # A signal that one event dominates is most likely a lone dip (another
    # signal's transit, or a systematic) folded with noise: its "transits"
    # stay masked for the others' vetting, except where they would remove
    # another signal's own transits.
    weak = _one_event_signals(kinds, vets)
    for k, res in enumerate(results):
        hit = [j for j in others(k, res) if j in weak]
        if hit and any(np.any(own_window(results[j]) & own_window(res)) for j in hit):
            vets[k] = vet_one(k, res, spare=set(hit))
    if blocks is not None and cfg.duo_transits:
        for res, vet in _duo_candidates(plc, final, results, kinds, _one_event_signals(kinds, vets), cfg, catalogs,
                                        centroids is not None):
            results.append(res)
            vets.append(vet)
    rows = [_row(plc, k, res, vet) for k, (res, vet) in enumerate(zip(results, vets))]
    for row, res in zip(rows, results):
        if res.get("alias_periods") is not None:
            row["alias_periods_days"] = [float(x) for x in res["alias_periods"]]
            _add_flag(row, "duo_transit")
    link_same_period(rows)
    return rows, results, vets


def _duo_candidates(plc, final, results, kinds, weak, cfg: SearchConfig, catalogs, with_centroids: bool):
    """Duo-transits of a stitched light curve, with the periodic signals' transits left out; (result, vet) pairs.

    A periodic signal that one event dominates (index in ``weak``) is left
    in: that event is most likely a lone transit the periodic search folded
    with noise, and masking it would hide the duo it belongs to.
    """
    keep = np.ones(final.time.size, bool)
    for j, other in enumerate(results):
        if kinds[j] == "signal" and j not in weak:
            keep &= ~_signal_mask(final.time, other, cfg)
    lc = _subset(final, keep)
    b = prepare_batch(lc)
    if lc.time.size < 20 or b.time[0].size != lc.time.size:
        return []
    block = _block_span(plc)
    mass, radius = stellar_params(plc.mass, plc.radius, plc.logg)
    span = float(plc.time[-1] - plc.time[0])
    # a duo's period lies between half a sector (or the periodic search
    # would have seen two transits) and the whole span
    lo = central_transit_duration(0.5 * block, mass, radius)
    hi = central_transit_duration(span, mass, radius)
    durations = np.geomspace(max(1.0 / 24.0, 0.3 * lo), min(1.5, max(1.5 * hi, 2.0 / 24.0)), 6)
    duos = duo_transits(b.time[0], b.flux[0], b.ivar[0], lc.cadence_sector, durations,
                        min_event_snr=cfg.duo_min_event_snr, min_snr=cfg.duo_min_snr, min_period=0.5 * block)
    out = []
    for d in duos[: max(0, cfg.max_planets - sum(k == "signal" for k in kinds))]:
        period = float(d.periods[0])
        res = BLSResult(period=period, t0=d.first.t0, duration=d.duration, depth=d.depth, depth_err=d.depth_err,
                        snr=d.snr, snr_white=float("nan"), red_noise=float("nan"), power=d.snr,
                        log_likelihood=float("nan"), sde=float("nan"), sde_raw=float("nan"), n_transits=2,
                        n_points_in_transit=0, alias_periods=d.periods, candidate_index=len(results) + len(out))
        cen = (lc.time, lc.centroid_col, lc.centroid_row) if with_centroids else None
        vet = vet_candidate(lc, {"period": period, "t0": d.first.t0, "duration": d.duration, "depth": d.depth,
                                 "snr": d.snr}, catalogs=catalogs, dump_times=plc.momentum_dump_times,
                            centroids=cen)
        out.append((res, vet))
    return out
