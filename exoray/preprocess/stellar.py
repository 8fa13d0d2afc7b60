"""Detrending that keeps transits on quiet and on spotted stars.

A detrender must follow the star and the instrument and leave a transit
alone; the two pull in opposite directions.  Two smoothers are offered:

* the time-windowed biweight (Hippke et al. 2019), robust to outliers and
  steps; a window ``w`` keeps a shallow transit of duration ``D`` to about
  ``1 - D/w`` of its depth, but as a moving location it misses a curved
  trend by ``~ A (2 pi / P)^2 w^2 / 24`` (100 ppm for a 1 % spot
  modulation of a 6-day rotator with ``w = 0.5`` d);
* a robust (iteratively clipped) least-squares cubic spline with knots
  every ``k`` days (wotan's ``rspline``): it keeps the same ``1 - D/k`` of a
  transit (measured: the absorbed share is ``D/k`` to within 3 % for
  ``D <= k/3``) while following curvature to ``~ A (2 pi k / P)^4 / 384``,
  twenty times better in that example.

Rather than one smoother for every star, :func:`choose_detrend` scores a few
candidate trends on the star's own light curve and keeps the one under which
a typical transit of this star would be most detectable:

    merit = mean over D of  (1 - D / w) / sigma_D

where ``w`` is the window or knot spacing, ``D`` runs over the durations of
central transits at 1, 3 and 10 days around this star (Kepler's law) and
``sigma_D`` is the measured scatter of ``D``-long means of the flattened
flux.  A wide window wins on a quiet star (more depth kept), a narrower one
or the spline on an active star (less red noise).

Stars whose spots rotate faster than a windowed location can follow get a
second model, a *locally optimised combination of rotations* (Rizzuto et al.
2017, AJ 154, 224): the flux at each instant is predicted from the same
rotation phase in the neighbouring rotations, never from the rotation
itself.  A transit therefore cannot model itself away, and spot evolution
over a few rotations is followed.  It is offered to the same merit, at the
Lomb-Scargle period and twice it (two-spot light curves), and refused where
the folded light curve looks like a narrow dip (an eclipse or a transit
repeating at that period would otherwise be predicted from its neighbours
and removed).

Every function takes an optional ``mask`` of cadences not to learn from
(the transits of a signal already found): the trend is then interpolated
across them, so a re-detrend keeps the full depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from .. import astro
from ..errors import InputError
from ..stats import MAD_TO_SIGMA, mad
from . import _kernels
from .gaps import segment_starts

__all__ = [
    "DetrendChoice",
    "masked_biweight",
    "robust_spline",
    "rotation_period",
    "rotation_model",
    "transit_like_fold",
    "box_scatter",
    "representative_durations",
    "choose_detrend",
    "retention",
]


@dataclass
class DetrendChoice:
    """The trend kept by :func:`choose_detrend` and why.

    ``method`` is ``"biweight"`` or ``"spline"``, prefixed ``"rotation+"``
    when a rotation model lies under it; ``window_days`` the biweight window
    or the spline's knot spacing; ``rotation_period_days`` the period of the
    rotation model (NaN without one); ``merit`` the score it won with.
    """

    trend: np.ndarray
    method: str
    window_days: float
    rotation_period_days: float
    merit: float


def masked_biweight(t: np.ndarray, f: np.ndarray, segment: np.ndarray, window: float, cval: float = 5.0,
                    mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Time-windowed biweight trend per segment, learnt from the cadences not in ``mask``.

    Masked cadences get the trend interpolated linearly in time from their
    unmasked neighbours of the same segment (the nearest value at segment
    ends; a segment with no unmasked cadence keeps the unmasked trend).
    """
    out = np.empty(t.size)
    if mask is None or not mask.any():
        _kernels.biweight_segments(t, f, segment_starts(segment), float(window), float(cval), 0.0, out)
        return out
    keep = ~mask
    for s in np.unique(segment):
        m = segment == s
        k = m & keep
        if not mask[m].any() or k.sum() < 10:
            # nothing masked here (or too little left to learn from): the plain trend
            idx = np.flatnonzero(m)
            tr = np.empty(idx.size)
            _kernels.biweight_segments(np.ascontiguousarray(t[idx]), np.ascontiguousarray(f[idx]),
                                       np.array([0, idx.size], dtype=np.int64), float(window), float(cval), 0.0, tr)
            out[idx] = tr
            continue
        tk, fk = np.ascontiguousarray(t[k]), np.ascontiguousarray(f[k])
        tr = np.empty(tk.size)
        _kernels.biweight_segments(tk, fk, np.array([0, tk.size], dtype=np.int64), float(window), float(cval),
                                   0.0, tr)
        out[m] = np.interp(t[m], tk, tr)
    return out


def _knots(ts: np.ndarray, spacing: float, min_points: int = 8) -> np.ndarray:
    """Interior knots every ``spacing`` days, dropping any that would leave a stretch without data."""
    kn = np.arange(ts[0] + spacing, ts[-1] - 0.5 * spacing, spacing)
    if kn.size == 0:
        return kn
    edges = np.concatenate([[ts[0]], kn, [ts[-1] + 1e-9]])
    counts = np.diff(np.searchsorted(ts, edges, side="left"))
    keep = np.ones(kn.size, bool)
    # a knot interval with too few points: drop its right knot (merge with the next)
    for i in range(kn.size):
        if counts[i] < min_points:
            keep[i] = False
            counts[i + 1] += counts[i]
    return kn[keep]


def robust_spline(t: np.ndarray, f: np.ndarray, segment: np.ndarray, spacing: float, *,
                  mask: Optional[np.ndarray] = None, sigma: float = 3.0, n_iter: int = 5) -> np.ndarray:
    """Iteratively clipped least-squares cubic spline per segment, knots every ``spacing`` days.

    In each pass the spline is fitted to the cadences kept so far (never
    those in ``mask``) and cadences more than ``sigma`` robust standard
    deviations from it, above (flares) or below (transits, eclipses), are
    left out of the next fit.  A segment too short for an interior knot gets
    a clipped quadratic.  The trend is evaluated at every cadence.
    """
    from scipy.interpolate import LSQUnivariateSpline

    out = np.empty(t.size)
    base = np.ones(t.size, bool) if mask is None else ~np.asarray(mask, bool)
    starts = segment_starts(segment)
    for a, b in zip(starts[:-1], starts[1:]):
        ts, fs = t[a:b], f[a:b]
        use = base[a:b].copy()
        if use.sum() < 10:
            use[:] = True
        trend = np.full(ts.size, np.median(fs[use]))
        for _ in range(n_iter):
            tu, fu = ts[use], fs[use]
            kn = _knots(tu, spacing)
            try:
                if kn.size:
                    trend = LSQUnivariateSpline(tu, fu, kn, k=3)(ts)
                else:
                    c = np.polyfit(tu - tu.mean(), fu, min(2, max(tu.size - 1, 0)))
                    trend = np.polyval(c, ts - tu.mean())
            except ValueError:  # knots and data out of step (Schoenberg-Whitney): fewer knots
                kn = kn[::2]
                trend = LSQUnivariateSpline(tu, fu, kn, k=3)(ts) if kn.size else np.full(ts.size, np.median(fu))
            r = fs - trend
            sd = MAD_TO_SIGMA * mad(r[use])
            if not sd > 0:
                break
            new = base[a:b] & (np.abs(r) < sigma * sd)
            if new.sum() < 10 or np.array_equal(new, use):
                break
            use = new
        out[a:b] = trend
    return out


def _lomb_scargle(t: np.ndarray, y: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """Standard-normalised Lomb-Scargle power with a floating mean on a uniform frequency grid.

    Same numbers as astropy's ``LombScargle(t, y).power(freq)`` (to round-off),
    from a compiled kernel that needs neither astropy nor a trigonometric
    call per point and frequency (:func:`exoray.preprocess._kernels.lomb_scargle_grid`).
    """
    freq = np.asarray(freq, dtype=np.float64)
    out = np.empty(freq.size)
    if freq.size == 0:
        return out
    df = float(freq[1] - freq[0]) if freq.size > 1 else 0.0
    if freq.size > 2 and not np.allclose(np.diff(freq), df, rtol=1e-9, atol=0.0):
        raise ValueError("the Lomb-Scargle kernel needs a uniform frequency grid")
    tt = np.ascontiguousarray(t, dtype=np.float64)
    # times from the first one: the phases stay small and accurate
    _kernels.lomb_scargle_grid(tt - tt[0], np.ascontiguousarray(y, dtype=np.float64), float(freq[0]), df, out)
    return out


def rotation_period(t: np.ndarray, f: np.ndarray, *, min_period: float = 0.1, max_period: float = 10.0,
                    bin_days: float = 1.0 / 48.0) -> Tuple[float, float]:
    """Lomb-Scargle period of the strongest periodic variability and its normalised power.

    The light curve is averaged in 30-min bins first (fast, and transits
    barely count).  Returns ``(nan, 0)`` when there are too few bins.
    """
    if t.size < 50:
        return float("nan"), 0.0
    # only the occupied bins are kept: memory follows the number of points, not the span
    occupied, idx = np.unique(np.floor((t - t[0]) / bin_days), return_inverse=True)
    cnt = np.bincount(idx)
    sm = np.bincount(idx, weights=f)
    ok = cnt >= 3
    if ok.sum() < 30:
        return float("nan"), 0.0
    tb = (t[0] + (occupied + 0.5) * bin_days)[ok]
    fb = sm[ok] / cnt[ok]
    span = tb[-1] - tb[0]
    if 5 * span / min_period > 2e7:
        raise InputError(
            f"a variability search over a {span:.3g}-d span would need more than 20 million frequencies; "
            "split the light curve at its time gap or check its TIME values")
    max_period = min(max_period, 0.5 * span)
    if max_period <= min_period:
        return float("nan"), 0.0
    # five frequencies per resolution element 1/span
    freq = np.linspace(1.0 / max_period, 1.0 / min_period, int(5 * span * (1.0 / min_period - 1.0 / max_period)) + 2)
    power = _lomb_scargle(tb, fb, freq)
    i = int(np.argmax(power))
    return float(1.0 / freq[i]), float(power[i])


def rotation_model(t: np.ndarray, f: np.ndarray, period: float, *, n_cycles: int = 2,
                   half_width: Optional[float] = None, mask: Optional[np.ndarray] = None,
                   min_points: int = 3) -> np.ndarray:
    """Flux predicted from the same rotation phase in the neighbouring rotations.

    For every cadence: the mean flux within ``half_width`` of ``t + k P`` for
    ``k = +-1 .. +-n_cycles`` (never ``k = 0``), combined by the median over
    the ``k`` that have data, so that one neighbour holding a transit or a
    flare does not bias it.  ``half_width`` defaults to 2 % of the period
    (at least 10 minutes).  NaN where no neighbour has data.
    """
    hw = float(half_width) if half_width is not None else max(0.02 * period, 10.0 / 1440.0)
    use = np.ones(t.size, bool) if mask is None else ~mask
    tu = t[use]
    cs = np.concatenate([[0.0], np.cumsum(f[use])])
    means = np.full((2 * n_cycles, t.size), np.nan)
    row = 0
    for k in list(range(-n_cycles, 0)) + list(range(1, n_cycles + 1)):
        c = t + k * period
        lo = np.searchsorted(tu, c - hw, side="left")
        hi = np.searchsorted(tu, c + hw, side="right")
        n = hi - lo
        good = n >= min_points
        means[row, good] = (cs[hi[good]] - cs[lo[good]]) / n[good]
        row += 1
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(means, axis=0)


def transit_like_fold(t: np.ndarray, f: np.ndarray, period: float, n_bins: int = 100,
                      max_width: float = 0.12, max_asymmetry: float = 2.5) -> bool:
    """Does the light curve folded at ``period`` look like a dip (eclipse, transit) rather than spots?

    On the folded, binned flux: True when fewer than ``max_width`` of the
    phase bins lie below half-way from the median to the minimum (a narrow
    dip), or when the dip below the median is more than ``max_asymmetry``
    times the rise above it (a flat light curve with one dip, however
    wide).  Starspots make broad troughs and crests of comparable size.
    """
    ph = np.mod(t / period, 1.0)
    idx = np.minimum((ph * n_bins).astype(np.int64), n_bins - 1)
    cnt = np.bincount(idx, minlength=n_bins)
    sm = np.bincount(idx, weights=f, minlength=n_bins)
    ok = cnt > 0
    if ok.sum() < n_bins // 2:
        return False
    prof = sm[ok] / cnt[ok]
    med = float(np.median(prof))
    lo = float(prof.min())
    hi = float(np.percentile(prof, 98))
    if not med > lo:
        return False
    if (med - lo) > max_asymmetry * max(hi - med, 0.0):
        return True
    return bool(np.mean(prof < med - 0.5 * (med - lo)) < max_width)


def box_scatter(t: np.ndarray, y: np.ndarray, duration: float, *, min_fill: float = 0.75,
                step_fraction: float = 0.5, min_boxes: int = 20) -> float:
    """Scatter (5-sigma clipped standard deviation) of the means of ``duration``-long stretches of ``y``.

    NaN when fewer than ``min_boxes`` stretches are at least ``min_fill`` full.
    """
    if t.size < 10:
        return float("nan")
    dt = float(np.median(np.diff(t)))
    starts = np.arange(t[0], t[-1] - duration, max(step_fraction * duration, dt))
    lo = np.searchsorted(t, starts, side="left")
    hi = np.searchsorted(t, starts + duration, side="left")
    n = hi - lo
    good = n >= max(2.0, min_fill * duration / dt)
    if good.sum() < min_boxes:
        return float("nan")
    cs = np.concatenate([[0.0], np.cumsum(y)])
    m = (cs[hi[good]] - cs[lo[good]]) / n[good]
    # A standard deviation after 5-sigma clipping: deep transits and
    # eclipses drop out, but detrending artefacts of a few sigma (which
    # would pose as transits) still count, as a median statistic would not.
    keep = np.ones(m.size, bool)
    for _ in range(5):
        mu = float(np.mean(m[keep]))
        sd = float(np.std(m[keep]))
        new = np.abs(m - mu) < 5.0 * sd
        if new.sum() < min_boxes or np.array_equal(new, keep):
            break
        keep = new
    return float(np.std(m[keep]))


def representative_durations(mass: float, radius: float, periods: Sequence[float] = (1.0, 3.0, 10.0)) -> np.ndarray:
    """Central-transit durations [d] around this star at the given periods (0.5 h to 1.5 d).

    Periods inside two stellar radii (a giant) are moved out to that orbit.
    """
    m, r = astro.check_star(mass, radius)
    p = np.maximum(np.asarray(periods, float), float(astro.orbit_period(2.0, m, r)))
    d = np.asarray(astro.central_transit_duration(p, m, r))
    return np.clip(d, 0.5 / 24.0, 1.5)


def retention(duration: float, window: float) -> float:
    """Share of a shallow transit's depth a windowed location of width ``window`` keeps."""
    return max(0.0, 1.0 - duration / window)


def _merit(t, flat, window, durations) -> float:
    vals = []
    for d in durations:
        s = box_scatter(t, flat, d)
        if np.isfinite(s) and s > 0:
            vals.append(retention(d, window) / s)
    return float(np.mean(vals)) if vals else float("nan")


def choose_detrend(t: np.ndarray, f: np.ndarray, segment: np.ndarray, *, mass: float, radius: float,
                   windows: Sequence[float] = (0.5, 0.75, 1.0), spacings: Sequence[float] = (0.5, 0.75, 1.0, 1.5),
                   cval: float = 5.0, rotation: bool = True,
                   rotation_max_period: float = 3.0, min_rotation_power: float = 0.05,
                   min_rotation_cycles: float = 8.0,
                   mask: Optional[np.ndarray] = None, fixed: Optional[Tuple[str, float, float]] = None
                   ) -> DetrendChoice:
    """Pick the trend under which this star's transits are most detectable (see module docstring).

    Parameters
    ----------
    t, f, segment : ndarray
        Sorted times [d], segment-normalised flux, segment ids.
    mass, radius : float
        Stellar mass and radius [solar] for the representative durations.
    windows : sequence of float
        Candidate biweight windows [d].
    spacings : sequence of float
        Candidate knot spacings [d] of the robust spline (empty: no spline).
    cval : float
        Biweight tuning constant.
    rotation : bool
        Also offer the rotation model (when Lomb-Scargle finds periodic
        variability with power >= ``min_rotation_power`` below
        ``rotation_max_period``, and the data hold ``min_rotation_cycles``
        of the modelled period: with fewer, the neighbouring rotations are
        too few and too different for a model that helps).
    mask : ndarray of bool, optional
        Cadences not to learn from (found transits).
    fixed : (method, window, rotation_period), optional
        Skip the choice and rebuild this trend (e.g. with a new ``mask``).
    """
    def smooth(kind, tt, ff, seg, msk, win):
        if kind == "spline":
            return robust_spline(tt, ff, seg, win, mask=msk)
        return masked_biweight(tt, ff, seg, win, cval, msk)

    def build(tt, ff, seg, msk, kind, win, prot):
        if np.isfinite(prot):
            # flares would enter the model of the rotations next to them
            bright = _upper_outliers(tt, ff, seg, cval)
            model = rotation_model(tt, ff, prot, mask=bright if msk is None else (msk | bright))
            good = np.isfinite(model) & (model > 0)
            model = np.where(good, model, 1.0)
            return model * smooth(kind, tt, ff / model, seg, msk, win)
        return smooth(kind, tt, ff, seg, msk, win)

    if fixed is not None:
        method, win, prot = fixed
        kind = "spline" if method.endswith("spline") else "biweight"
        return DetrendChoice(build(t, f, segment, mask, kind, win, prot), method, float(win), float(prot),
                             float("nan"))
    # The choice is made on 10-minute means (five times fewer points for
    # 2-min data; the merit's durations are >= 30 min), the chosen trend is
    # then built at full resolution.
    tb, fb, sb, mb = _bin(t, f, segment, mask, 10.0 / 1440.0)
    durations = representative_durations(mass, radius)
    if spacings and 3.0 * durations.max() > max(spacings):
        # a giant's day-long transits need knots days apart
        spacings = tuple(spacings) + (float(min(3.0 * durations.max(), 5.0)),)
    keep = ~mb
    base = [("biweight", w) for w in windows] + [("spline", k) for k in spacings]
    options = [(kind, w, float("nan")) for kind, w in base]
    if rotation:
        prot, power = rotation_period(tb[keep], fb[keep], max_period=rotation_max_period)
        span = float(tb[-1] - tb[0]) if tb.size else 0.0
        if np.isfinite(prot) and power >= min_rotation_power:
            # the model needs many rotations to draw on: at least
            # ``min_rotation_cycles`` of the modelled period in the data
            for p in (prot, 2.0 * prot):
                if span / p < min_rotation_cycles:
                    continue
                # the model at P reads the flux 1..n_cycles rotations away: none
                # of those lags may carry a repeating eclipse or transit
                if p <= rotation_max_period and not any(
                        transit_like_fold(tb[keep], fb[keep], k * p) for k in (1, 2)):
                    options += [(kind, w, p) for kind, w in base]
    best = None
    for kind, win, prot in options:
        trend = build(tb, fb, sb, mb, kind, win, prot)
        ok = np.isfinite(trend) & (trend > 0)
        if ok.sum() < 0.9 * tb.size:
            continue
        flat = np.where(ok, fb / np.where(ok, trend, 1.0), 1.0)
        merit = _merit(tb[keep], flat[keep], win, durations)
        if not np.isfinite(merit):
            continue
        if best is None or merit > best[0]:
            best = (merit, kind, win, prot)
    if best is None:  # too little data for the merit: the middle biweight window
        best = (float("nan"), "biweight", float(sorted(windows)[len(windows) // 2]), float("nan"))
    merit, kind, win, prot = best
    return DetrendChoice(build(t, f, segment, mask, kind, win, prot),
                         f"rotation+{kind}" if np.isfinite(prot) else kind, float(win), float(prot), float(merit))


def _upper_outliers(t, f, segment, cval, window: float = 0.25, sigma: float = 4.0) -> np.ndarray:
    """Cadences more than ``sigma`` robust sigmas above a short biweight trend (flares)."""
    tr = masked_biweight(t, f, segment, window, cval)
    r = f / tr - 1.0
    sd = MAD_TO_SIGMA * mad(r)
    return r > sigma * sd if sd > 0 else np.zeros(t.size, bool)


def _bin(t, f, segment, mask, width):
    """Means of ``f`` in ``width``-day bins within segments (unchanged when the cadence is coarser).

    Returns binned time, flux, segment and mask (a bin is masked when any of
    its cadences is).
    """
    m = np.zeros(t.size, bool) if mask is None else np.asarray(mask, bool)
    dt = float(np.median(np.diff(t))) if t.size > 1 else width
    if dt * 2.5 > width:
        return t, f, segment, m
    # bin index: a new bin at every segment change or every ``width`` days
    key = segment.astype(np.int64) * (1 << 32) + np.floor((t - t[0]) / width).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    n = np.diff(np.r_[starts, t.size])
    tb = np.add.reduceat(t, starts) / n
    fb = np.add.reduceat(f, starts) / n
    mb = np.add.reduceat(m.astype(np.int64), starts) > 0
    return np.ascontiguousarray(tb), np.ascontiguousarray(fb), segment[starts], mb
