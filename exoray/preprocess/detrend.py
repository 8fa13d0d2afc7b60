"""Detrending: remove stellar and instrumental trends while keeping transits.

Friendly wrappers around the kernels of :mod:`exoray.preprocess._kernels`:
inputs are checked once here, non-finite cadences are stripped
before the kernel and the results are put back in place (NaN trend there), the
light curve is split at gaps and every segment is detrended on its own.

References
----------
Hippke, M., David, T. J., Mulders, G. D., Heller, R. 2019, AJ 158, 143
("Wotan: comprehensive time-series detrending in Python").
Savitzky, A., Golay, M. J. E. 1964, Anal. Chem. 36, 1627.
lightkurve ``LightCurve.flatten`` (Lightkurve Collaboration 2018).
"""

from __future__ import annotations

import logging
from typing import Callable, Dict, Tuple

import numpy as np

from ..errors import ConfigError, InputError
from ..stats import MAD_TO_SIGMA, mad
from . import _kernels
from .gaps import segment_starts

__all__ = [
    "detrend_biweight",
    "detrend_savgol",
    "flatten",
    "BIWEIGHT_BACKENDS",
    "FLATTEN_METHODS",
]

log = logging.getLogger(__name__)

FLATTEN_METHODS = ("biweight", "savgol", "none")


def _prepare(time, flux) -> Tuple[np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=np.float64)
    f = np.asarray(flux, dtype=np.float64)
    if t.ndim != 1 or f.ndim != 1:
        raise InputError(f"time and flux must be one-dimensional, got {t.shape} and {f.shape}")
    if t.shape != f.shape:
        raise InputError(f"time has {t.size} values but flux has {f.size}")
    return t, f


def _sort_order(t: np.ndarray):
    """Stable sorting order of ``t`` if its finite values are not ascending, else None."""
    order = None
    finite_t = t[np.isfinite(t)]
    if finite_t.size > 1 and np.any(np.diff(finite_t) < 0):
        order = np.argsort(t, kind="stable")
    return order


def _run_segmented(time, flux, break_tolerance_days, per_segment: Callable) -> np.ndarray:
    """Strip NaNs, sort, split at gaps, call ``per_segment(t, f, starts) -> trend``
    on the compressed arrays, and put the trend back in input order."""
    t, f = _prepare(time, flux)
    if not break_tolerance_days > 0:
        raise InputError(f"break_tolerance_days must be > 0, got {break_tolerance_days!r}")
    order = _sort_order(t)
    if order is not None:
        t, f = t[order], f[order]
    good = np.isfinite(t) & np.isfinite(f)
    trend = np.full(t.size, np.nan)
    if good.any():
        tc = np.ascontiguousarray(t[good])
        fc = np.ascontiguousarray(f[good])
        seg = np.zeros(tc.size, dtype=np.int64)
        if tc.size > 1:
            np.cumsum(np.diff(tc) > break_tolerance_days, out=seg[1:])
        starts = segment_starts(seg)
        trend[good] = per_segment(tc, fc, starts)
    if order is not None:
        back = np.empty_like(trend)
        back[order] = trend
        trend = back
    return trend


def _biweight_fast(t, f, starts, window_days, cval, edge_cutoff_days):
    out = np.empty(t.size)
    _kernels.biweight_segments(t, f, starts, float(window_days), float(cval),
                               float(edge_cutoff_days), out)
    return out


def _biweight_reference(t, f, starts, window_days, cval, edge_cutoff_days):
    out = np.empty(t.size)
    for a, b in zip(starts[:-1], starts[1:]):
        out[a:b] = _kernels.biweight_reference(t[a:b], f[a:b], window_days, cval,
                                               edge_cutoff_days)
    return out


#: Biweight backends by name; every backend must reproduce ``reference``.
BIWEIGHT_BACKENDS: Dict[str, Callable] = {
    "fast": _biweight_fast,
    "reference": _biweight_reference,
}


def detrend_biweight(time, flux, window_days: float, *, cval: float = 5.0,
                     break_tolerance_days: float = 0.5, edge_cutoff_days: float = 0.0,
                     method: str = "fast") -> np.ndarray:
    """Time-windowed Tukey biweight trend (Hippke et al. 2019).

    For each cadence, the biweight location of the fluxes within
    ``t - window_days/2 <= t' < t + window_days/2`` of the same segment,
    iterated from the window median with scale ``cval * MAD`` until a step is
    below ``1e-6 * MAD`` -- identical in definition to wotan's
    ``flatten(time, flux, method='biweight', window_length=window_days,
    break_tolerance=break_tolerance_days, edge_cutoff=edge_cutoff_days,
    cval=cval, return_trend=True)[1]``.

    Parameters
    ----------
    time : array_like of float
        Times (days).  Need not be sorted; NaN allowed.
    flux : array_like of float
        Fluxes, any unit (normalised flux recommended).  NaN/inf allowed.
    window_days : float
        Full window width (days).  ~3x the longest transit duration keeps
        transits intact.
    cval : float
        Tukey tuning constant in units of the MAD (5 as in wotan).
    break_tolerance_days : float
        Gaps longer than this (days) split the light curve; the window
        restarts in every segment.
    edge_cutoff_days : float
        Cadences within this time (days, at most ``window_days/2``) of a
        segment end get a NaN trend.
    method : {'fast', 'reference'}
        ``fast``: the numba sliding-moments kernel; ``reference``: the slow
        pure-numpy version (tests only).

    Returns
    -------
    trend : ndarray of float64
        Same length and order as the input; NaN where time or flux is
        non-finite or edge-cut.

    Raises
    ------
    InputError
        Length mismatch or non-positive tolerance.
    ConfigError
        Non-positive window or cval, negative edge cutoff, unknown method.

    Examples
    --------
    >>> t = np.linspace(0, 2, 1441)
    >>> trend = detrend_biweight(t, 1 + 0.01 * t, window_days=0.5)
    >>> bool(np.allclose(trend, 1 + 0.01 * t, atol=1e-4))
    True
    """
    if not (np.isfinite(window_days) and window_days > 0):
        raise ConfigError(f"window_days must be a positive finite number, got {window_days!r}")
    if not cval > 0:
        raise ConfigError(f"cval must be > 0, got {cval!r}")
    if edge_cutoff_days < 0:
        raise ConfigError(f"edge_cutoff_days must be >= 0, got {edge_cutoff_days!r}")
    if method not in BIWEIGHT_BACKENDS:
        raise ConfigError(f"method={method!r} is not supported; choose one of: "
                          f"{', '.join(map(repr, BIWEIGHT_BACKENDS))}")
    backend = BIWEIGHT_BACKENDS[method]
    return _run_segmented(
        time, flux, break_tolerance_days,
        lambda t, f, starts: backend(t, f, starts, window_days, cval, edge_cutoff_days),
    )


def _savgol_segment(t, f, window, polyorder, sigma_upper, sigma_lower, niters):
    from scipy.signal import savgol_filter

    n = t.size
    if n < window or n <= polyorder + 1:
        return np.full(n, np.median(f))
    keep = np.ones(n, dtype=bool)
    trend = np.empty(n)
    for _ in range(max(1, niters)):
        tk, fk = t[keep], f[keep]
        w = window if tk.size >= window else (tk.size - 1) | 1
        if w <= polyorder:
            return np.full(n, np.median(f))
        trend_k = savgol_filter(fk, w, polyorder)
        trend = np.interp(t, tk, trend_k)
        resid = f - trend
        std = MAD_TO_SIGMA * mad(resid[keep])
        new_keep = (resid < sigma_upper * std + 1e-14) & (resid > -sigma_lower * std - 1e-14)
        if np.array_equal(new_keep, keep) or new_keep.sum() <= polyorder + 1:
            break
        keep = new_keep
    return trend


def detrend_savgol(time, flux, window_days: float, polyorder: int = 2, *,
                   break_tolerance_days: float = 0.5, sigma_upper: float = 3.0,
                   sigma_lower: float = 3.0, niters: int = 3) -> np.ndarray:
    """Robust iterative Savitzky-Golay trend, per segment (as lightkurve's ``flatten``).

    The window in cadences is ``window_days`` divided by the median cadence,
    rounded to the nearest odd integer (>= ``polyorder + 2``).  In each of
    ``niters`` passes the filter is applied to the points kept so far, the
    trend is interpolated in time to every point, and points more than
    ``sigma_upper`` robust sigmas (1.4826 MAD) above or ``sigma_lower`` below
    it are left out of the next pass.  Segments shorter than the window get
    their median as trend (as lightkurve does).

    Parameters
    ----------
    time, flux : array_like of float
        Times (days) and fluxes; NaN allowed, need not be sorted.
    window_days : float
        Filter window (days).
    polyorder : int
        Polynomial order (< window in cadences).
    break_tolerance_days : float
        Gaps longer than this (days) split segments.
    sigma_upper, sigma_lower : float
        Clipping thresholds (robust sigmas) for the iteration.
    niters : int
        Number of fit-and-clip passes.

    Returns
    -------
    trend : ndarray of float64
        Same length and order as the input, NaN where input is non-finite.

    Raises
    ------
    ConfigError
        Non-positive window, negative polyorder.
    InputError
        Length mismatch.
    """
    if not (np.isfinite(window_days) and window_days > 0):
        raise ConfigError(f"window_days must be a positive finite number, got {window_days!r}")
    if int(polyorder) < 0:
        raise ConfigError(f"polyorder must be >= 0, got {polyorder!r}")
    polyorder = int(polyorder)

    def per_segment(t, f, starts):
        out = np.empty(t.size)
        dt = np.diff(t)
        dt = dt[dt > 0]
        cadence = float(np.median(dt)) if dt.size else window_days
        window = int(round(window_days / cadence))
        window = max(window | 1, (polyorder + 2) | 1)
        for a, b in zip(starts[:-1], starts[1:]):
            out[a:b] = _savgol_segment(t[a:b], f[a:b], window, polyorder,
                                       sigma_upper, sigma_lower, niters)
        return out

    return _run_segmented(time, flux, break_tolerance_days, per_segment)


def flatten(time, flux, method: str = "biweight", **kw) -> Tuple[np.ndarray, np.ndarray]:
    """Detrend and divide: ``flat = flux / trend``.

    Parameters
    ----------
    time, flux : array_like of float
        Times (days) and fluxes (normalised recommended).
    method : {'biweight', 'savgol', 'none'}
        ``biweight``: :func:`detrend_biweight` (keyword ``window_days``
        required, plus its options); ``savgol``: :func:`detrend_savgol`
        (``window_days``, ``polyorder``, ...); ``none``: the trend is the
        median of each segment (``break_tolerance_days`` honoured).
    **kw
        Passed to the detrender.

    Returns
    -------
    flat, trend : ndarray of float64
        Same length and order as the input.

    Raises
    ------
    ConfigError
        Unknown method or bad detrender options.
    """
    if method == "biweight":
        trend = detrend_biweight(time, flux, **kw)
    elif method == "savgol":
        trend = detrend_savgol(time, flux, **kw)
    elif method == "none":
        bt = kw.pop("break_tolerance_days", 0.5)
        kw.pop("window_days", None)
        if kw:
            raise ConfigError(f"method='none' takes no options besides break_tolerance_days, got {sorted(kw)}")

        def per_segment(t, f, starts):
            out = np.empty(t.size)
            for a, b in zip(starts[:-1], starts[1:]):
                out[a:b] = np.median(f[a:b])
            return out

        trend = _run_segmented(time, flux, bt, per_segment)
    else:
        raise ConfigError(f"method={method!r} is not supported; choose one of: "
                          f"{', '.join(map(repr, FLATTEN_METHODS))}")
    f = np.asarray(flux, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        flat = f / trend
    return flat, trend
