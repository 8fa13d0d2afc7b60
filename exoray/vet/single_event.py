"""Is the signal carried by one event rather than a periodic series?"""

from __future__ import annotations

import logging
import math

import numpy as np

from ._common import VetResult, check_ephemeris, per_epoch_contrast, prepare

__all__ = ["single_event_domination"]

log = logging.getLogger(__name__)


def single_event_domination(
    time,
    flux,
    flux_err,
    period: float,
    t0: float,
    duration: float,
    *,
    max_fraction: float = 0.6,
    min_rest_mes: float = 5.0,
    min_transits: int = 2,
    min_points: int = 3,
) -> VetResult:
    """Per-transit SNRs and the share of the total carried by the strongest.

    Each transit's single-event statistic (SES) is its depth (local
    out-of-transit minus in-transit weighted mean) over its error.  The
    multiple-event statistic is ``MES = sum(d_i w_i) / sqrt(sum w_i)`` with
    ``w_i = 1/err_i^2``.  For a genuine periodic signal of N equal transits
    the strongest event carries ~1/N of ``sum(SES^2)``; a single glitch,
    flare-decay or cosmic event carries nearly all of it.  This is the
    Robovetter's max-single-event-statistic to MES comparison (Thompson et
    al. 2018 sec. A.3.2 "MS1/MS2"; Coughlin et al. 2016; Twicken et al. 2018
    for SES/MES).

    Parameters
    ----------
    time, flux, flux_err : array_like
        Times (days), detrended normalised flux, errors (or ``None``).
    period, t0, duration : float
        Ephemeris (days).
    max_fraction : float
        The strongest event dominates when it carries more than this
        fraction of ``sum(max(SES, 0)^2)`` (default 0.6: with 2 equal
        transits it is ~0.5) ...
    min_rest_mes : float
        ... and the other events together are not a detection on their own
        (their MES < this, default 5).  Both must hold to flag.
    min_transits : int
        Also flag when fewer transits than this have data.
    min_points : int
        Minimum in-transit points for a transit to count.

    Returns
    -------
    VetResult
        ``ses`` (per transit), ``epochs``, ``transit_times`` (days),
        ``depths`` (fractional), ``n_transits`` (with data), ``mes``,
        ``max_ses``, ``max_epoch``, ``mes_without_max`` (MES of the other
        events), ``value`` (fraction of SES^2 in the strongest event),
        ``significance`` (``mes``), ``flag``.

    Raises
    ------
    InputError
        Bad arrays or ephemeris.
    """
    period, t0, duration = check_ephemeris(period, t0, duration)
    t, f, e = prepare(time, flux, flux_err)
    ev = per_epoch_contrast(t, f, e, period, t0, duration, min_in=min_points, min_oot=min_points)
    d, err = ev["contrast"], ev["error"]
    ses = d / err
    n = int(ses.size)
    nan = float("nan")
    res = VetResult(
        test="single_event",
        measured="per-transit SNR (SES) and the share of the strongest",
        ses=ses, epochs=ev["epoch"], transit_times=ev["tc"], depths=d,
        n_transits=n, mes=nan, max_ses=nan, max_epoch=None, mes_without_max=nan,
        max_fraction=float(max_fraction),
        value=nan, significance=nan, flag=n < min_transits, reason=None,
    )
    if n == 0:
        res["reason"] = "no transit has data"
        return res
    w = 1.0 / err ** 2
    mes = float(np.sum(d * w) / math.sqrt(np.sum(w)))
    i = int(np.argmax(ses))
    pos2 = np.clip(ses, 0.0, None) ** 2
    total = float(pos2.sum())
    frac = float(pos2[i] / total) if total > 0 else nan
    if n > 1:
        keep = np.arange(n) != i
        mes_rest = float(np.sum(d[keep] * w[keep]) / math.sqrt(np.sum(w[keep])))
    else:
        mes_rest = nan
    dominated = bool(np.isfinite(frac) and frac > max_fraction
                     and not (np.isfinite(mes_rest) and mes_rest >= min_rest_mes))
    flag = bool(n < min_transits or dominated)
    if n < min_transits:
        res["reason"] = f"only {n} transit(s) with data; need >= {min_transits}"
    res.update(mes=mes, max_ses=float(ses[i]), max_epoch=int(ev["epoch"][i]),
               mes_without_max=mes_rest, value=frac, significance=mes, flag=flag)
    return res
