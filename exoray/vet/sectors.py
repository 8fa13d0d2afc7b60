"""Transit depth in each sector: a planet's agrees, a blend's often does not.

Every TESS sector puts a star on another camera, CCD and pixels with another
photometric aperture.  A planet's transit has the same depth in all of
them; the eclipse of a nearby binary whose light leaks into the aperture
by different amounts does not (the crowding correction is made for the
target, not for the contaminant).  The SPOC pipeline reports per-sector
depths of multi-sector TCEs for the same reason (Twicken et al. 2018).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from ._common import VetResult, check_ephemeris, phase_days, prepare

__all__ = ["sector_depths"]


def sector_depths(time, flux, flux_err, cadence_sector, period: float, t0: float, duration: float, *,
                  noise_factor: float = 1.0, p_threshold: float = 1e-3, min_ratio: float = 1.5) -> VetResult:
    """Box depth of the transit in each sector and whether the depths agree.

    In each sector the depth is the weighted mean flux within 0.75-2.5
    durations of the transits (the local baseline) minus the weighted mean
    inside half a duration; its error comes from the flux errors times
    ``noise_factor`` (the search's red-noise factor).  The chi-square of the
    depths about their weighted mean gives ``p_value``; ``flag`` is set when
    it is below ``p_threshold`` and the deepest sector is at least
    ``min_ratio`` times the shallowest significant one.

    Parameters
    ----------
    time, flux, flux_err : array_like
        Flattened light curve (``flux_err`` may be ``None``).
    cadence_sector : array_like of int or None
        Sector of every cadence; ``None`` means one sector.
    period, t0, duration : float
        Ephemeris [d].

    Returns
    -------
    VetResult
        ``sectors`` (list of int, sectors with in-transit data),
        ``depth``, ``depth_err``, ``snr``, ``n_transits`` (lists, same
        order), ``chi2``, ``p_value`` (NaN with fewer than two sectors),
        ``value`` (max/min depth ratio of the sectors with a depth above
        2 sigma), ``flag``.
    """
    period, t0, duration = check_ephemeris(period, t0, duration)
    t = np.asarray(time, dtype=np.float64)
    sec = np.zeros(t.size, np.int64) if cadence_sector is None else np.asarray(cadence_sector, dtype=np.int64)
    res = VetResult(test="sector_depths", measured="transit depth per sector", sectors=[], depth=[],
                    depth_err=[], snr=[], n_transits=[], chi2=float("nan"), p_value=float("nan"),
                    value=float("nan"), flag=False)
    if sec.shape != t.shape:
        res["reason"] = "cadence_sector does not match time"
        return res
    for s in np.unique(sec):
        sel = sec == s
        ts, fs, es = prepare(t[sel], np.asarray(flux)[sel], None if flux_err is None else np.asarray(flux_err)[sel])
        ph = phase_days(ts, period, t0)
        inside = np.abs(ph) < 0.5 * duration
        near = (np.abs(ph) > 0.75 * duration) & (np.abs(ph) < 2.5 * duration)
        if inside.sum() < 3 or near.sum() < 3:
            continue
        w = 1.0 / es**2
        w_in, w_out = w[inside].sum(), w[near].sum()
        d = float((w[near] * fs[near]).sum() / w_out - (w[inside] * fs[inside]).sum() / w_in)
        e = float(noise_factor * np.sqrt(1.0 / w_in + 1.0 / w_out))
        epochs = np.unique(np.round((ts[inside] - t0) / period))
        res["sectors"].append(int(s))
        res["depth"].append(d)
        res["depth_err"].append(e)
        res["snr"].append(d / e if e > 0 else float("nan"))
        res["n_transits"].append(int(epochs.size))
    d = np.asarray(res["depth"])
    e = np.asarray(res["depth_err"])
    if d.size >= 2 and np.all(e > 0):
        w = 1.0 / e**2
        mean = float((w * d).sum() / w.sum())
        c2 = float((((d - mean) / e) ** 2).sum())
        res["chi2"], res["p_value"] = c2, float(chi2.sf(c2, d.size - 1))
        sig = d[d > 2 * e]
        if sig.size >= 2:
            res["value"] = float(sig.max() / sig.min())
        res["flag"] = bool(res["p_value"] < p_threshold and (res["value"] >= min_ratio
                                                             or (d.max() > 0 and d.min() <= 0)))
    return res
