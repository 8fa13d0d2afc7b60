"""The windows the deep models see: binning, cutting and normalisation.

Training and inference share this definition (the anomaly scores, the
single-event search, the sweep and the scoring service cut their windows
here), so it sits with the models, below every stage that scores with them.

Window definition
-----------------
The models see fixed-length windows of the *detrended* flux
(``PreprocessedLightCurve.flux_flat``), binned to :data:`BIN_MINUTES` = 10-min
bins (five TESS 2-min cadences; 200-s and 10-min FFI cadences bin the same
way, 30-min FFI cadence is refused).  A window is :data:`WINDOW_LENGTH` = 192
bins = 32 h long:

* single transits of long-period planets last ~2-15 h (T14 of a 1-year orbit
  around a Sun-like star is ~13 h), so the longest ones still sit inside a
  window with out-of-transit baseline on both sides and the per-window median
  stays an out-of-transit level (a transit covers < 50 % of a window);
* a 1-h transit still spans 6 bins, enough shape for the models;
* 192 = 2**6 * 3 divides by the autoencoder's strides (2**3) and the
  transformer's patch (8 bins = 80 min, 24 patches).

Windows start every :data:`WINDOW_STRIDE` = 96 bins (half a window) and never
straddle a data gap (:func:`exoray.preprocess.windows.make_windows`, at most
5 % of bins missing).  :func:`normalize_windows` then subtracts each window's
median and divides by its robust scatter (1.4826 MAD), clipping at
+-:data:`CLIP_SIGMA`, so a window is in units of its own noise.
"""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from ..errors import InputError
from ..stats import MAD_TO_SIGMA
from ..stats import mad as median_abs_dev

__all__ = [
    "BIN_MINUTES",
    "WINDOW_LENGTH",
    "WINDOW_STRIDE",
    "CLIP_SIGMA",
    "bin_flux",
    "normalize_windows",
    "windows_from_lightcurve",
]

BIN_MINUTES = 10.0
WINDOW_LENGTH = 192
WINDOW_STRIDE = 96
CLIP_SIGMA = 20.0
_BIN_DAYS = BIN_MINUTES / 1440.0


# --------------------------------------------------------------------------- pure functions
def bin_flux(time, flux, cadence_s: float, *, bin_minutes: float = BIN_MINUTES) -> Tuple[np.ndarray, np.ndarray]:
    """Average ``flux`` into fixed ``bin_minutes`` bins on a grid anchored at BTJD 0.

    A bin is kept when it holds at least half of the cadences it could hold.
    Returns ``(bin_centre_times, mean_flux)`` (only kept bins, sorted).
    """
    t = np.asarray(time, dtype=np.float64)
    f = np.asarray(flux, dtype=np.float64)
    if t.shape != f.shape:
        raise InputError(f"time has {t.size} values but flux has {f.size}")
    cadence_min = float(cadence_s) / 60.0
    if not cadence_min > 0:
        raise InputError(f"cadence must be > 0 s, got {cadence_s}")
    if cadence_min > bin_minutes * 1.01:
        raise InputError(f"cadence {cadence_s:.0f} s is longer than the {bin_minutes:g}-min model bins; "
                         "the deep models need <= 10-min cadence (2-min, 20-s, 200-s or 10-min products)")
    ok = np.isfinite(t) & np.isfinite(f)
    t, f = t[ok], f[ok]
    if t.size == 0:
        return np.empty(0), np.empty(0)
    bin_days = bin_minutes / 1440.0
    idx = np.floor(t / bin_days).astype(np.int64)
    i0 = idx.min()
    idx -= i0
    counts = np.bincount(idx)
    sums = np.bincount(idx, weights=f)
    need = max(1, int(math.ceil(0.5 * bin_minutes / cadence_min - 1e-9)))
    keep = np.nonzero(counts >= need)[0]
    return (keep + i0 + 0.5) * bin_days, sums[keep] / counts[keep]


def normalize_windows(windows) -> np.ndarray:
    """Per-window robust normalisation: ``(x - median) / (1.4826 MAD)``, clipped to +-CLIP_SIGMA.

    Parameters
    ----------
    windows : array_like, shape (N, L) or (L,)

    Returns
    -------
    ndarray of float32, shape (N, L)
    """
    x = np.asarray(windows, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InputError(f"windows must be 2-D (N, L), got shape {x.shape}")
    if x.size and not np.all(np.isfinite(x)):
        raise InputError("windows contain NaN/inf; cut windows with windows_from_lightcurve (drops gaps)")
    if x.shape[0] == 0:
        return x.astype(np.float32)
    med = np.median(x, axis=1, keepdims=True)
    mad = median_abs_dev(x, axis=1, keepdims=True) * MAD_TO_SIGMA
    # floor: a perfectly flat window (constant or quantised) must not divide by ~0
    floor = np.maximum(1e-9, 1e-6 * np.abs(med))
    scale = np.maximum(mad, floor)
    return np.clip((x - med) / scale, -CLIP_SIGMA, CLIP_SIGMA).astype(np.float32)


def windows_from_lightcurve(plc, stride: int = WINDOW_STRIDE, *, normalize: bool = True,
                            return_raw: bool = False):
    """Windows of a :class:`~exoray.lightcurve.PreprocessedLightCurve` for the models.

    Bins ``flux_flat`` to 10 min and cuts gap-free windows of
    :data:`WINDOW_LENGTH` bins every ``stride`` bins.

    Returns
    -------
    windows : ndarray float32 (N, WINDOW_LENGTH)
        Normalised (:func:`normalize_windows`) unless ``normalize=False``.
    start_times : ndarray float64 (N,)
        Start of each window (left edge of its first bin, same time system
        as ``plc.time``, BTJD for TESS).
    raw : ndarray (N, WINDOW_LENGTH), only when ``return_raw``
        The binned flat flux before normalisation.
    """
    # the preprocessing package (numba kernels) is imported on first use: `exoray --help`
    # and the sweep driver import this module for its constants
    from ..preprocess.windows import make_windows

    tb, fb = bin_flux(plc.time, plc.flux_flat, plc.cadence_s)
    win, start = make_windows(tb, fb, WINDOW_LENGTH, int(stride), max_gap_fraction=0.05,
                              cadence_days=_BIN_DAYS, dtype=np.float64)
    start = start - 0.5 * _BIN_DAYS
    out = normalize_windows(win) if normalize else win.astype(np.float32)
    if return_raw:
        return out, start, win
    return out, start
