"""Do the individual transits of a periodic signal agree with each other?

A box search adds up every transit, so one strong event (a momentum-dump
glitch, an inverted flare, the eclipse of an unrelated long-period body)
folded together with noise at any period that puts a second "transit" in the
data can reach a high combined SNR.  A real periodic signal has transits of
one depth, so the transits other than the strongest carry their share of
the signal on their own.  :func:`transit_consistency` measures the
per-transit depths, their chi-square (``n - 1`` degrees of freedom, the
detection-stage discriminator of the SPOC pipeline, Seader et al. 2013, PASP
125, 1097) and the combined SNR with and without the strongest transit;
:func:`is_consistent` is the acceptance test the search applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["TransitConsistency", "transit_consistency"]


@dataclass
class TransitConsistency:
    """Per-transit depths of a signal and how well they agree.

    ``depths``, ``errors``, ``epochs`` and ``centres`` per transit with data;
    ``chi2`` about the weighted mean depth with ``dof = n - 1``;
    ``p_value`` its upper tail probability; ``strongest``: index of the
    transit with the largest single-event SNR; ``max_fraction``: its share
    of the summed squared SNR of the dips; ``mes`` the combined SNR of all
    transits and ``mes_rest`` that of all but the strongest.
    """

    depths: np.ndarray
    errors: np.ndarray
    epochs: np.ndarray
    centres: np.ndarray
    chi2: float
    dof: int
    p_value: float
    strongest: int
    max_fraction: float
    mes: float = float("nan")
    mes_rest: float = float("nan")

    @property
    def n_transits(self) -> int:
        return int(self.depths.size)


def transit_consistency(time, flux, ivar, period: float, t0: float, duration: float, *,
                        noise_factor: float = 1.0, min_fill: float = 0.5,
                        depth_floor: float = 0.1) -> TransitConsistency:
    """Per-transit depths against the out-of-transit level, and their chi-square.

    Parameters
    ----------
    time, flux, ivar : ndarray
        Sorted times [d], detrended flux and inverse variances.
    period, t0, duration : float
        The signal's ephemeris [d].
    noise_factor : float
        Red-noise factor on the transit's time scale (each transit's error
        is its white-noise error times this).
    min_fill : float
        A transit counts when it holds at least this share of the cadences a
        full transit would.
    depth_floor : float
        Each transit's error is at least this share of the mean depth
        (added in quadrature): spots, detrending and a box fitted to a
        limb-darkened transit make real transits differ by a few per cent,
        which at an SNR of hundreds would otherwise fail any chi-square.
    """
    t = np.asarray(time, np.float64)
    y = np.asarray(flux, np.float64)
    w = np.asarray(ivar, np.float64)
    ph = np.mod(t - t0 + 0.5 * period, period) - 0.5 * period
    inside = np.abs(ph) < 0.5 * duration
    out = ~inside
    base = float(np.sum(w[out] * y[out]) / np.sum(w[out])) if out.any() else float("nan")
    ep = np.round((t[inside] - t0) / period).astype(np.int64)
    dt = float(np.median(np.diff(t))) if t.size > 1 else duration
    empty = TransitConsistency(np.array([]), np.array([]), np.array([], np.int64), np.array([]),
                               float("nan"), 0, float("nan"), -1, float("nan"))
    if ep.size == 0 or not np.isfinite(base):
        return empty
    uniq, inv, counts = np.unique(ep, return_inverse=True, return_counts=True)
    sw = np.bincount(inv, weights=w[inside])
    swy = np.bincount(inv, weights=(w * y)[inside])
    full = counts >= min_fill * duration / dt
    if not full.any():
        return empty
    uniq, sw, swy = uniq[full], sw[full], swy[full]
    depth = base - swy / sw
    err = noise_factor / np.sqrt(sw)
    wt = 1.0 / err**2
    mean = float(np.sum(wt * depth) / np.sum(wt))
    err = np.sqrt(err**2 + (depth_floor * max(mean, 0.0)) ** 2)
    wt = 1.0 / err**2
    mean = float(np.sum(wt * depth) / np.sum(wt))
    chi2 = float(np.sum(((depth - mean) / err) ** 2))
    dof = int(depth.size - 1)
    if dof > 0:
        from scipy.stats import chi2 as _chi2

        p = float(_chi2.sf(chi2, dof))
    else:
        p = float("nan")
    ses = depth / err
    pos2 = np.clip(ses, 0.0, None) ** 2
    i = int(np.argmax(ses))
    frac = float(pos2[i] / pos2.sum()) if pos2.sum() > 0 else float("nan")
    mes = float(np.sum(wt * depth) / math.sqrt(np.sum(wt)))
    rest = np.arange(depth.size) != i
    mes_rest = float(np.sum(wt[rest] * depth[rest]) / math.sqrt(np.sum(wt[rest]))) if rest.any() else float("nan")
    return TransitConsistency(depth, err, uniq, t0 + uniq * period, chi2, dof, p, i, frac, mes, mes_rest)


def is_consistent(c: TransitConsistency, rest_fraction: float = 0.5, min_rest: float = 3.0) -> bool:
    """Is the signal carried by more than its strongest transit?

    With ``n`` equal transits the others alone reach ``mes * sqrt((n-1)/n)``;
    the test asks for at least ``rest_fraction`` of that, and at least
    ``min_rest`` sigma.  Real transits on an active star differ in depth by
    more than the noise says (spots, detrending), so a plain chi-square of
    the depths would throw real planets away; this only refuses a signal
    that its strongest event makes on its own (the Robovetter's comparison
    of the largest single event with the rest, Thompson et al. 2018 A.3.2).
    """
    if c.n_transits < 2 or not (math.isfinite(c.mes) and math.isfinite(c.mes_rest)) or c.mes <= 0:
        return False
    expected = c.mes * math.sqrt((c.n_transits - 1) / c.n_transits)
    return c.mes_rest >= max(min_rest, rest_fraction * expected)
