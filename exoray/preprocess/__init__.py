"""exoray.preprocess: pure functions that turn raw light curves into flat ones.

Reused by the Ray sweep and by Ray Serve.  The public API:

* :func:`preprocess_lightcurve` -- the whole chain for one :class:`~exoray.lightcurve.LightCurve`;
  :func:`redetrend` rebuilds its trend with cadences (found transits) masked;
  :func:`stitch` joins one star's sectors (each preprocessed alone) into one light curve;
* detrending: :func:`detrend_biweight`, :func:`detrend_savgol`, :func:`flatten`;
* gaps: :func:`find_segments`, :func:`segment_slices`;
* normalisation and statistics: :func:`normalize_segments`, :func:`clip_upper_outliers`,
  :func:`robust_std`, :func:`noise_ppm`, :func:`cdpp_ppm`, :func:`quality_keep_mask`;
* model inputs: :func:`phase_fold`, :func:`global_view`, :func:`local_view`, :func:`make_windows`.
"""

from .detrend import detrend_biweight, detrend_savgol, flatten
from .fold import phase_fold
from .gaps import find_segments, segment_slices
from .normalize import (
    cdpp_ppm,
    clip_upper_outliers,
    finite_mask,
    noise_ppm,
    normalize_segments,
    quality_keep_mask,
    robust_std,
    sort_by_time,
)
from .pipeline import MIN_USABLE_POINTS, preprocess_lightcurve, redetrend
from .stitch import choose_products, stitch
from .views import global_view, local_view, median_bin
from .windows import make_windows

__all__ = [
    "preprocess_lightcurve",
    "redetrend",
    "stitch",
    "choose_products",
    "MIN_USABLE_POINTS",
    "detrend_biweight",
    "detrend_savgol",
    "flatten",
    "find_segments",
    "segment_slices",
    "normalize_segments",
    "clip_upper_outliers",
    "finite_mask",
    "sort_by_time",
    "quality_keep_mask",
    "robust_std",
    "noise_ppm",
    "cdpp_ppm",
    "phase_fold",
    "global_view",
    "local_view",
    "median_bin",
    "make_windows",
]
