"""Run every vetting statistic on a candidate and assign a disposition.

Rules (first that applies wins; every triggered test also adds a flag):

1. ``false_alarm`` - not a significant periodic dip: search SNR < 7.1
   (the Kepler/TESS detection threshold, Jenkins 2002; Twicken et al. 2018),
   no transit with data, fitted depth < 3 sigma (or <= 0), or one event
   carries most of the signal (single-event domination, Thompson et al.
   2018 A.3.2).
2. ``instrumental`` - the transits fall on the spacecraft's events: half or
   more of them on a momentum dump, or every one at a segment edge (gap
   ramps).  A period near the 13.7-d orbit, the dump spacing or 1 d is a
   flag only (``period_alias:...``): real planets live there too.
3. ``eclipsing_binary`` (eclipse-specific evidence) - odd/even depths
   differ > 3 sigma; a significant secondary eclipse comparable to the
   primary (> 15% of its depth); companion radius > 2 R_Jup; centroid shift
   > 5 sigma to a source >= 0.5 px away (the eclipse is on another star, a
   blended EB; 3-5 sigma is a flag); or the TIC
   and period match a Prsa et al. (2022) EB or a TOI dispositioned EB/FP
   and not a TOI CP/KP.
4. ``variability`` - not transit-shaped: duration > 20% of the period
   (rotation/pulsation/ellipsoidal folded on itself), or an out-of-transit
   brightening in the folded curve at least half the dip depth and > 5
   sigma.
5. ``eclipsing_binary`` (shape evidence) - depth > 5% with a V shape, or
   duration > 2x the longest central transit the star allows (giant host
   or stellar companion).  It ranks below variability because a folded
   sinusoid also fits as a long V.
6. ``planet_candidate`` - everything else.

Flags of weaker evidence (V shape of a shallow dip, planet-like secondary,
period may be P/2 or 2P, alias flags) are reported without changing the
disposition.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np

from ..errors import InputError
from ..lightcurve import PreprocessedLightCurve
from ._common import VetResult, phase_days, prepare, robust_std
from .aliases import edge_transit_check, half_double_period_check, period_alias_checks
from .centroid import centroid_shift_test
from .duration import duration_plausibility
from .known_objects import KnownObjectCatalogs, crossmatch_details
from .odd_even import odd_even_test
from .secondary_eclipse import secondary_eclipse_test
from .sectors import sector_depths
from .shape import transit_shape
from .single_event import single_event_domination
from .uniqueness import model_shift

__all__ = ["DISPOSITIONS", "VET_THRESHOLDS", "vet_candidate", "phase_variability_check"]

log = logging.getLogger(__name__)

DISPOSITIONS = ("planet_candidate", "eclipsing_binary", "variability", "instrumental", "false_alarm")

#: Thresholds of the disposition rules (see module docstring).
VET_THRESHOLDS: Dict[str, float] = {
    "min_snr": 7.1,
    "min_depth_sigma": 3.0,
    "odd_even_sigma": 3.0,
    "secondary_ratio": 0.15,
    "deep_v_depth": 0.05,
    "centroid_sigma": 3.0,
    "centroid_sigma_eb": 5.0,
    "centroid_offset_px": 0.5,
    "max_duty_cycle": 0.2,
    "bump_ratio": 0.5,
    "bump_sigma": 5.0,
    "edge_fraction": 1.0,
}


def _cand_value(candidate: Mapping[str, Any], *names_and_scales) -> Optional[float]:
    for name, scale in names_and_scales:
        v = candidate.get(name)
        if v is not None:
            try:
                x = float(v) * scale
            except (TypeError, ValueError) as exc:
                raise InputError(f"candidate '{name}' must be a number, got {v!r}") from exc
            if math.isfinite(x):
                return x
    return None


def phase_variability_check(time, flux, flux_err, period: float, t0: float, duration: float,
                            depth: float, *, bump_ratio: float = 0.5, bump_sigma: float = 5.0) -> VetResult:
    """Out-of-transit brightening in the folded light curve.

    The folded flux outside ``|dt| < duration`` is binned in bins one
    duration wide; a transit has a flat baseline, while rotation, pulsation
    or ellipsoidal variation folded at P shows bumps above the baseline of
    amplitude comparable to the dip.  Flags when the highest bin exceeds the
    median by ``bump_ratio * depth`` and ``bump_sigma`` sigma.
    """
    t, f, e = prepare(time, flux, flux_err)
    ph = phase_days(t, period, t0)
    out = np.abs(ph) >= duration
    nan = float("nan")
    res = VetResult(test="phase_variability", measured="highest out-of-transit bin above baseline",
                    bump=nan, bump_sigma=nan, value=nan, significance=nan, flag=False, reason=None)
    nb = int(period // duration)
    if out.sum() < 20 or nb < 3:
        res["reason"] = "too little out-of-transit phase coverage"
        return res
    edges = np.linspace(-0.5 * period, 0.5 * period, nb + 1)
    idx = np.clip(np.digitize(ph[out], edges) - 1, 0, nb - 1)
    fo = f[out]
    counts = np.bincount(idx, minlength=nb)
    sums = np.bincount(idx, weights=fo, minlength=nb)
    good = counts >= 5
    if good.sum() < 3:
        res["reason"] = "too few populated phase bins"
        return res
    means = sums[good] / counts[good]
    base = float(np.median(fo))
    sig_pt = robust_std(np.diff(fo)) / math.sqrt(2.0)
    # Error of each bin mean: the scatter of its own points (white noise plus
    # cycle-to-cycle changes), never less than the point-to-point noise.
    spread = np.array([robust_std(fo[idx == j]) for j in np.nonzero(good)[0]])
    err = np.fmax(spread, sig_pt) / np.sqrt(counts[good])
    bumps = means - base
    j = int(np.argmax(bumps / err))
    bump, bsig = float(bumps[j]), float(bumps[j] / err[j]) if err[j] > 0 else nan
    ratio = bump / depth if depth and depth > 0 else nan
    res.update(bump=bump, bump_sigma=bsig, value=ratio, significance=bsig,
               flag=bool(np.isfinite(ratio) and ratio >= bump_ratio and bsig > bump_sigma))
    return res


def _centroid_arrays(centroids, lc):
    if centroids is None:
        return None
    if isinstance(centroids, Mapping):
        t = centroids.get("time")
        c = centroids.get("centroid_col", centroids.get("col"))
        r = centroids.get("centroid_row", centroids.get("row"))
    elif isinstance(centroids, (tuple, list)) and len(centroids) == 3:
        t, c, r = centroids
    else:
        t = getattr(centroids, "time", None)
        c = getattr(centroids, "centroid_col", None)
        r = getattr(centroids, "centroid_row", None)
    if t is None or c is None or r is None:
        raise InputError(
            "centroids must be (time, centroid_col, centroid_row), a dict with those keys, "
            "or a LightCurve with centroid_col/centroid_row"
        )
    return t, c, r


def vet_candidate(
    lc: PreprocessedLightCurve,
    candidate: Mapping[str, Any],
    *,
    centroids=None,
    catalogs: Optional[KnownObjectCatalogs] = None,
    dump_times: Optional[Sequence[float]] = None,
    thresholds: Optional[Mapping[str, float]] = None,
) -> Dict[str, Any]:
    """Vet one transit candidate and assign a disposition.

    Parameters
    ----------
    lc : PreprocessedLightCurve
        Uses ``time``, ``flux_flat``, ``flux_err`` (relative errors are
        derived as ``flux_err / flux * flux_flat`` scale-free when ``flux``
        is normalised), ``segment``, ``tic_id``, and stellar ``radius``,
        ``mass``, ``logg``.
    candidate : mapping
        ``period`` (d), ``t0`` (BTJD), ``duration`` (d), ``depth``
        (fractional), ``snr``; the schema names ``period_days``,
        ``t0_btjd``, ``duration_hours``, ``depth_ppm`` are accepted too;
        optional ``red_noise`` (the search's red-noise factor at the
        duration) widens the per-transit errors of the odd/even test, and
        ``mask_duration`` (days) keeps the tests that look away from the
        transit clear of at least that much around it.
    centroids : optional
        ``(time, centroid_col, centroid_row)``, a dict with those keys or a
        raw :class:`~exoray.lightcurve.LightCurve` (MOM_CENTR1/2).
    catalogs : KnownObjectCatalogs, optional
        From :func:`~exoray.vet.known_objects.load_catalogs`; no cross-match
        without it.
    dump_times : array_like, optional
        Momentum-dump times (BTJD), e.g. times of cadences with SPOC quality
        bit 32 set.
    thresholds : mapping, optional
        Overrides of :data:`VET_THRESHOLDS`.

    Returns
    -------
    dict
        ``disposition`` (one of :data:`DISPOSITIONS`), ``flags`` (list of
        str), ``reasons`` (the rule(s) that decided), ``known_object``,
        ``odd_even_sigma``, ``secondary_sigma``, ``single_event``,
        ``n_transits``, ``depth``, ``depth_err``, ``duration``,
        ``duration_err`` (from the trapezoid fit), ``period``, ``t0``, and
        ``tests``: every test's :class:`VetResult` by name.

    Raises
    ------
    InputError
        Missing/invalid candidate fields (the field is named) or bad arrays.
    """
    thr = dict(VET_THRESHOLDS)
    if thresholds:
        thr.update({k: float(v) for k, v in thresholds.items()})
    period = _cand_value(candidate, ("period", 1.0), ("period_days", 1.0))
    t0 = _cand_value(candidate, ("t0", 1.0), ("t0_btjd", 1.0))
    duration = _cand_value(candidate, ("duration", 1.0), ("duration_hours", 1.0 / 24.0))
    for name, v in (("period", period), ("t0", t0), ("duration", duration)):
        if v is None:
            raise InputError(f"candidate field '{name}' is missing or not finite")
    snr = _cand_value(candidate, ("snr", 1.0))
    depth_in = _cand_value(candidate, ("depth", 1.0), ("depth_ppm", 1e-6))

    time = lc.time
    flux = lc.flux_flat
    flux_err = lc.flux_err
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_err = flux_err / np.where(lc.flux != 0, lc.flux, np.nan) * flux
    if not np.isfinite(rel_err).any():
        rel_err = None

    tests: Dict[str, VetResult] = {}
    tests["single_event"] = single_event_domination(time, flux, rel_err, period, t0, duration)
    red = _cand_value(candidate, ("red_noise", 1.0)) or 1.0
    tests["odd_even"] = odd_even_test(time, flux, rel_err, period, t0, duration, noise_factor=red)
    tests["shape"] = transit_shape(time, flux, rel_err, period, t0, duration)
    depth = tests["shape"]["depth"]
    depth_err = tests["shape"]["depth_err"]
    prim = depth if np.isfinite(depth) and depth > 0 else depth_in
    # The search's box can be the transit's core only (in red noise a short
    # box wins): the tests that look *away* from the transit keep clear of
    # all of it, its fitted length or the search's masked length.
    fitted = tests["shape"]["total_duration"]
    wide = max(duration, fitted if np.isfinite(fitted) and fitted < 0.5 * period else 0.0,
               _cand_value(candidate, ("mask_duration", 1.0)) or 0.0)
    wide = min(wide, 0.25 * period)
    tests["secondary"] = secondary_eclipse_test(time, flux, rel_err, period, t0, duration,
                                                primary_depth=prim, exclude=max(1.0, wide / duration),
                                                comparable_ratio=thr["secondary_ratio"])
    tests["half_double"] = half_double_period_check(time, flux, rel_err, period, t0, duration)
    tests["model_shift"] = model_shift(time, flux, rel_err, period, t0, duration, exclude=max(1.0, wide / duration))
    tests["aliases"] = period_alias_checks(period, t0=t0, duration=duration, dump_times=dump_times)
    tests["edges"] = edge_transit_check(time, period, t0, duration, segment=lc.segment,
                                        dump_times=dump_times)
    sec = tests["secondary"]
    if sec["flag"]:
        # The same ramps after data gaps and pointing excursions at momentum
        # dumps that fake transits fake secondary eclipses; with few orbits
        # in the data the secondary's phase may hold one event only, and one
        # that sits on such an edge is no evidence of a stellar eclipse.
        sec_phase = 0.5 if sec["sigma_half"] > sec["threshold"] else sec["best_phase"]
        tests["secondary_edges"] = edge_transit_check(time, period, t0 + sec_phase * period, duration,
                                                      segment=lc.segment, dump_times=dump_times)
    dur_fit = tests["shape"]["total_duration"]
    tests["duration"] = duration_plausibility(
        period,
        dur_fit if np.isfinite(dur_fit) and dur_fit < period else duration,
        prim if prim is not None and np.isfinite(prim) and prim > 0 else None,
        lc.radius, lc.mass, lc.logg,
    )
    tests["phase_variability"] = phase_variability_check(
        time, flux, rel_err, period, t0, wide, prim if prim else float("nan"),
        bump_ratio=thr["bump_ratio"], bump_sigma=thr["bump_sigma"])
    sectors = lc.cadence_sector if getattr(lc, "cadence_sector", None) is not None else \
        np.full(time.size, int(lc.sector or 0))
    tests["sectors"] = sector_depths(time, flux, rel_err, sectors, period, t0, duration, noise_factor=red)
    cen = _centroid_arrays(centroids, lc)
    if cen is not None:
        tests["centroid"] = centroid_shift_test(
            *cen, period, t0, duration, threshold=thr["centroid_sigma"],
            depth=prim if prim is not None and np.isfinite(prim) and prim > 0 else None,
            min_offset_px=thr["centroid_offset_px"])
    known = None
    matches = []
    if catalogs is not None:
        matches = crossmatch_details(lc.tic_id, period, t0, catalogs)
        known = matches[0]["label"] if matches else None

    flags = []
    se, oe, sec, sh = tests["single_event"], tests["odd_even"], tests["secondary"], tests["shape"]
    al, ed, du, pv = tests["aliases"], tests["edges"], tests["duration"], tests["phase_variability"]
    hd = tests["half_double"]
    rules: Dict[str, list] = {d: [] for d in DISPOSITIONS}

    # 1. false alarm
    if snr is None or not snr >= thr["min_snr"]:
        rules["false_alarm"].append(f"snr {snr} < {thr['min_snr']}")
        flags.append("low_snr")
    if se["n_transits"] == 0:
        rules["false_alarm"].append("no transit has data")
        flags.append("no_transit_data")
    elif se["flag"]:
        rules["false_alarm"].append(f"single-event dominated (fraction {se['value']:.2f}, "
                                    f"{se['n_transits']} transits)")
        flags.append("single_event_dominated")
    dsig = sh["significance"]
    if not (np.isfinite(depth) and depth > 0 and np.isfinite(dsig) and dsig >= thr["min_depth_sigma"]):
        rules["false_alarm"].append(f"fitted depth not significant ({dsig:.2f} sigma)")
        flags.append("insignificant_depth")

    # 2. instrumental
    # A period near the 13.7-d orbit or the momentum-dump spacing is only a
    # flag: 7 % of log-period lies within 2 % of one of those aliases, and
    # real planets live there.  What makes a signal instrumental is that its
    # transits fall on the events themselves (dumps, segment edges).
    for m in al["matches"]:
        flags.append(f"period_alias:{m['systematic']} {m['ratio']}")
    if np.isfinite(al["dump_coincidence"]) and al["dump_coincidence"] >= 0.5:
        rules["instrumental"].append("transits coincide with momentum dumps")
        flags.append("transits_at_momentum_dumps")
    if ed["n_transits"] > 0 and ed["value"] >= thr["edge_fraction"]:
        rules["instrumental"].append("every transit at a segment edge or momentum dump")
        flags.append("transits_at_segment_edges")
    if tests["sectors"]["flag"]:
        # a flag, not a rule: crowding corrections and detrending differ
        # between sectors too; the ranker weighs it with the rest
        flags.append("sector_depths_differ")

    # 3. eclipsing binary.  Shape-only evidence (V shape, too long) is kept
    # apart: a folded sinusoid also fits as a long V, so variability (rule 4)
    # outranks it, while eclipse-specific evidence outranks variability.
    shape_eb: list = []
    if oe["flag"] and oe["significance"] > thr["odd_even_sigma"]:
        rules["eclipsing_binary"].append(f"odd/even depth difference {oe['significance']:.1f} sigma")
        flags.append("odd_even")
    if sec["flag"] and (tests.get("secondary_edges") or {}).get("flag", False):
        flags.append("secondary_at_edges")
    elif sec["flag"]:
        flags.append("secondary_eclipse")
        if sec["comparable"]:
            rules["eclipsing_binary"].append(
                f"secondary at phase {sec['best_phase'] if not sec['sigma_half'] > sec['threshold'] else 0.5:.2f} "
                f"with {sec['depth_ratio']:.2f} of the primary depth")
        else:
            flags.append("secondary_planet_like")
    if sh["flag"]:
        flags.append("v_shaped")
        if np.isfinite(depth) and depth > thr["deep_v_depth"]:
            shape_eb.append(f"deep ({depth:.3f}) V-shaped eclipse")
    if du["too_large"]:
        rules["eclipsing_binary"].append(f"companion radius {du['companion_radius_earth']:.0f} R_earth > 2 R_Jup")
        flags.append("too_large")
    if du["too_long"]:
        shape_eb.append(f"duration {du['value']:.1f}x the longest central transit")
        flags.append("duration_too_long")
    if du["too_short"]:
        flags.append("duration_too_short")
    if "centroid" in tests and tests["centroid"]["flag"]:
        flags.append("centroid_shift")
        # Pointing jitter and crowding make 3-5 sigma shifts common on real
        # targets; alone, only a strong shift to a clearly separate source
        # decides (the ranker weighs the weaker ones with everything else).
        if tests["centroid"]["significance"] > thr["centroid_sigma_eb"]:
            rules["eclipsing_binary"].append(
                f"centroid shift {tests['centroid']['significance']:.1f} sigma: source "
                f"{tests['centroid']['source_offset_px']:.2f} px from the out-of-transit centroid")
    if matches:
        top = matches[0]
        if top["is_planet"]:
            flags.append("known_planet")
        elif top["is_eb"]:
            flags.append("known_eb")
            rules["eclipsing_binary"].append(f"matches {top['label']}")
    if hd["true_period_2p"]:
        flags.append("period_may_be_2P")
    if hd["true_period_half"]:
        flags.append("period_may_be_half")

    # 4. variability
    duty = max(duration, dur_fit if np.isfinite(dur_fit) else 0.0) / period
    if duty > thr["max_duty_cycle"]:
        rules["variability"].append(f"duty cycle {duty:.2f} > {thr['max_duty_cycle']}")
        flags.append("long_duty_cycle")
    if pv["flag"]:
        rules["variability"].append(f"out-of-transit brightening {pv['value']:.2f} x depth")
        flags.append("phase_variability")

    disposition = "planet_candidate"
    for d in ("false_alarm", "instrumental", "eclipsing_binary", "variability"):
        if rules[d]:
            disposition = d
            break
    if disposition == "planet_candidate" and shape_eb:
        disposition = "eclipsing_binary"
    if disposition in ("eclipsing_binary",):
        rules["eclipsing_binary"].extend(shape_eb)
    out = {
        "disposition": disposition,
        "flags": flags,
        "reasons": rules[disposition] if disposition != "planet_candidate" else [],
        "known_object": known,
        "period": period,
        "t0": t0,
        "odd_even_sigma": oe["significance"],
        "secondary_sigma": sec["significance"],
        "single_event": bool(se["flag"]),
        "n_transits": int(se["n_transits"]),
        "depth": depth,
        "depth_err": depth_err,
        "duration": dur_fit,
        "duration_err": sh["total_duration_err"],
        "tests": tests,
    }
    # DEBUG, not INFO: one line per candidate floods a sweep's console, and this is the rules' verdict,
    # which the score may still overrule (exoray.vet.decision), so it would contradict the final table
    log.debug("vet TIC %s P=%.4f: %s %s", getattr(lc, "tic_id", "?"), period, disposition, flags)
    return out
