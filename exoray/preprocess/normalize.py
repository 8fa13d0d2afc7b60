"""Cadence masking, normalisation, outlier clipping and noise statistics.

All functions are pure (arrays in, arrays out) so that the sweep and Ray Serve
can reuse them.  Upper-outlier clipping is *residual based*: only points far
*above* the trend go (flares, cosmic rays, scattered-light spikes), points
below it stay so that transits survive.
"""

from __future__ import annotations

import logging
import warnings
from typing import Optional, Tuple

import numpy as np

from ..errors import ExorayWarning, InputError
from ..ingest.quality_flags import good_cadences
from ..stats import MAD_TO_SIGMA, robust_std

__all__ = [
    "quality_keep_mask",
    "finite_mask",
    "sort_by_time",
    "normalize_segments",
    "clip_upper_outliers",
    "robust_std",
    "noise_ppm",
    "cdpp_ppm",
    "red_noise_ratio",
    "MAD_TO_SIGMA",
]

log = logging.getLogger(__name__)


def quality_keep_mask(quality, preset="default", mission: str = "TESS") -> np.ndarray:
    """Cadences to keep under a named quality preset.

    Uses :func:`exoray.ingest.quality_flags.good_cadences` (imported lazily),
    which reproduces lightkurve's ``none``/``default``/``hard``/``hardest``
    bitmasks per mission.

    Parameters
    ----------
    quality : array_like of int
        Per-cadence quality flags.
    preset : {'none', 'default', 'hard', 'hardest'} or int
        Named preset or custom bitmask.
    mission : {'TESS', 'Kepler'}
        Whose bit definitions apply.

    Returns
    -------
    ndarray of bool
        ``True`` = keep.
    """
    q = np.asarray(quality)
    if preset == "none":
        return np.ones(q.shape, dtype=bool)

    return np.asarray(good_cadences(q, preset, mission), dtype=bool)


def finite_mask(time, flux, flux_err=None) -> np.ndarray:
    """``True`` where time, flux (and flux_err, if it has any finite value) are finite.

    A ``flux_err`` that is NaN everywhere (product without errors) does not
    remove anything.

    Parameters
    ----------
    time, flux : array_like of float
    flux_err : array_like of float or None

    Returns
    -------
    ndarray of bool
    """
    keep = np.isfinite(np.asarray(time, dtype=np.float64)) & np.isfinite(
        np.asarray(flux, dtype=np.float64))
    if flux_err is not None:
        fe = np.asarray(flux_err, dtype=np.float64)
        fin = np.isfinite(fe)
        if fin.any():
            keep &= fin
    return keep


def sort_by_time(time, *arrays, source: str = "") -> Tuple[np.ndarray, ...]:
    """Sort ``time`` (and the other arrays alike) if it is not ascending.

    Warns with :class:`~exoray.errors.ExorayWarning` when sorting was needed.

    Parameters
    ----------
    time : ndarray
        Finite times.
    *arrays : ndarray or None
        Arrays aligned with ``time`` (``None`` passes through).
    source : str
        Name used in the warning.

    Returns
    -------
    tuple of ndarray
        ``(time, *arrays)``, sorted (stable) or unchanged.
    """
    t = np.asarray(time)
    if t.size < 2 or not np.any(np.diff(t) < 0):
        return (t, *arrays)
    warnings.warn(f"{source or 'light curve'}: time is not ascending; sorting the cadences",
                  ExorayWarning, stacklevel=2)
    order = np.argsort(t, kind="stable")
    return (t[order], *(None if a is None else np.asarray(a)[order] for a in arrays))


def normalize_segments(flux, flux_err, segment, *, source: str = "") -> Tuple[np.ndarray, np.ndarray]:
    """Divide flux and flux_err by the median flux of their segment.

    Parameters
    ----------
    flux, flux_err : ndarray of float
        Finite fluxes and their errors (same unit).
    segment : ndarray of int
        Non-decreasing segment ids.
    source : str
        Name used in error messages.

    Returns
    -------
    flux, flux_err : ndarray of float64
        Normalised to median 1 per segment (relative units).

    Raises
    ------
    InputError
        A segment has a non-positive or non-finite median flux (e.g. a
        background-subtracted flux of a faint star, or a SAP/PDC flux that is
        not a flux): normalising it would flip or blow up the light curve.
    """
    f = np.asarray(flux, dtype=np.float64)
    fe = np.asarray(flux_err, dtype=np.float64)
    seg = np.asarray(segment)
    out_f = np.empty_like(f)
    out_e = np.empty_like(fe)
    if f.size == 0:
        return out_f, out_e
    cut = np.flatnonzero(np.diff(seg) != 0) + 1
    bounds = np.concatenate(([0], cut, [f.size]))
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        med = float(np.median(f[a:b]))
        if not (np.isfinite(med) and med > 0):
            raise InputError(
                f"{source or 'light curve'}: segment {k} has median flux {med!r} <= 0; "
                "cannot normalise it (use a flux column with positive values, e.g. PDCSAP_FLUX)"
            )
        out_f[a:b] = f[a:b] / med
        out_e[a:b] = fe[a:b] / med
    return out_f, out_e


def clip_upper_outliers(flux, trend, sigma_upper: float = 4.0,
                        segment: Optional[np.ndarray] = None) -> np.ndarray:
    """Keep-mask that drops points far *above* the trend.

    The residual ``flux - trend`` is compared with its robust sigma
    (``1.4826 * MAD``, per segment when ``segment`` is given); points more
    than ``sigma_upper`` sigmas above are dropped.  Points below the trend
    (transits, eclipses) are always kept.

    Parameters
    ----------
    flux, trend : ndarray of float
        Normalised flux and its trend.
    sigma_upper : float
        Threshold in robust sigmas (> 0).
    segment : ndarray of int, optional
        Non-decreasing segment ids.

    Returns
    -------
    keep : ndarray of bool
        ``False`` for clipped points and for points with a NaN trend
        (those are kept: ``True``).

    Examples
    --------
    >>> f = np.ones(100); f[10] = 1.5; f[20] = 0.5
    >>> f += np.random.default_rng(1).normal(0, 1e-3, 100)
    >>> keep = clip_upper_outliers(f, np.ones(100), 4.0)
    >>> bool(keep[10]), bool(keep[20])
    (False, True)
    """
    if not sigma_upper > 0:
        raise InputError(f"sigma_upper must be > 0, got {sigma_upper!r}")
    f = np.asarray(flux, dtype=np.float64)
    r = f - np.asarray(trend, dtype=np.float64)
    keep = np.ones(f.size, dtype=bool)
    if f.size == 0:
        return keep
    if segment is None:
        bounds = np.array([0, f.size])
    else:
        seg = np.asarray(segment)
        cut = np.flatnonzero(np.diff(seg) != 0) + 1
        bounds = np.concatenate(([0], cut, [f.size]))
    for a, b in zip(bounds[:-1], bounds[1:]):
        rr = r[a:b]
        fin = np.isfinite(rr)
        if not fin.any():
            continue
        med = np.median(rr[fin])
        sig = robust_std(rr[fin])
        if not sig > 0:
            continue
        with np.errstate(invalid="ignore"):
            keep[a:b] = ~(rr - med > sigma_upper * sig)
    return keep


def cdpp_ppm(flat, cadence_s: float, duration_hours: float = 1.0) -> float:
    """CDPP-like noise: robust scatter of the running mean over ``duration_hours``.

    The flat flux is averaged in a sliding window of
    ``round(duration_hours * 3600 / cadence_s)`` cadences (ignoring gaps), and
    the robust sigma of those means is returned in ppm.  A simple proxy for
    the Kepler/TESS combined differential photometric precision
    (Christiansen et al. 2012, PASP 124, 1279) -- not SPOC's wavelet CDPP.

    Parameters
    ----------
    flat : ndarray of float
        Flattened flux (median ~1).
    cadence_s : float
        Cadence (seconds).
    duration_hours : float
        Averaging time (hours).

    Returns
    -------
    float
        ppm; NaN if fewer points than the window.
    """
    x = np.asarray(flat, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = max(1, int(round(duration_hours * 3600.0 / float(cadence_s))))
    if x.size < n:
        return float("nan")
    c = np.concatenate(([0.0], np.cumsum(x - 1.0)))
    means = (c[n:] - c[:-n]) / n
    return robust_std(means) * 1e6


def noise_ppm(flat, *, cadence_s: Optional[float] = None, kind: str = "point") -> float:
    """Noise of a flattened light curve in ppm.

    Parameters
    ----------
    flat : ndarray of float
        Flattened flux (median ~1).
    cadence_s : float, optional
        Cadence (seconds); needed for ``kind='cdpp1h'``.
    kind : {'point', 'cdpp1h'}
        ``point``: robust sigma (1.4826 MAD) of the individual cadences, ppm;
        ``cdpp1h``: :func:`cdpp_ppm` over 1 hour.

    Returns
    -------
    float
        ppm (NaN for empty input).
    """
    if kind == "point":
        return robust_std(flat) * 1e6
    if kind == "cdpp1h":
        if cadence_s is None:
            raise InputError("noise_ppm(kind='cdpp1h') needs cadence_s")
        return cdpp_ppm(flat, cadence_s, 1.0)
    raise InputError(f"kind={kind!r} is not supported; choose 'point' or 'cdpp1h'")


def red_noise_ratio(time, flat, segment, bin_days: float = 1.0 / 24.0) -> float:
    """How much more a flattened light curve scatters on ``bin_days`` than white noise would.

    The robust sigma (1.4826 MAD) of the means of ``bin_days`` bins (within
    segments, bins at least half full), divided by the white-noise expectation
    ``sigma_p2p / sqrt(n_per_bin)`` with ``sigma_p2p`` the point-to-point
    scatter (robust sigma of consecutive differences / sqrt 2).  ~1 for white
    noise; ``r`` means residual (red) variability of about
    ``sigma_p2p / sqrt(n) * sqrt(r^2 - 1)`` on that time scale (stellar
    rotation or granulation the detrender did not follow, systematics).  Being
    a median statistic, a few transits or eclipses barely move it.

    Parameters
    ----------
    time, flat : array_like of float
        Sorted times (days) and flattened flux (no NaN).
    segment : array_like of int
        Segment number per cadence (bins never straddle a gap).
    bin_days : float
        Bin width (days); 1 h is the transit time scale.

    Returns
    -------
    float
        NaN when fewer than 10 bins or no point-to-point scatter.
    """
    t = np.asarray(time, dtype=np.float64)
    y = np.asarray(flat, dtype=np.float64)
    seg = np.asarray(segment)
    if t.size < 20:
        return float("nan")
    same = seg[1:] == seg[:-1]
    d = np.diff(y)[same]
    sig = robust_std(d) / np.sqrt(2.0)
    if not (np.isfinite(sig) and sig > 0):
        return float("nan")
    dt = np.diff(t)[same]
    cad = float(np.median(dt)) if dt.size else bin_days
    n_full = max(bin_days / cad, 1.0)
    starts = np.r_[0, np.flatnonzero(~same) + 1]
    t0 = np.repeat(t[starts], np.diff(np.r_[starts, t.size]))
    key = seg.astype(np.int64) * 10_000_000 + np.floor((t - t0) / bin_days).astype(np.int64)
    _, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=y)
    ok = counts >= 0.5 * n_full
    if ok.sum() < 10:
        return float("nan")
    means = sums[ok] / counts[ok]
    expected = sig / np.sqrt(float(np.median(counts[ok])))
    return float(robust_std(means) / expected)
