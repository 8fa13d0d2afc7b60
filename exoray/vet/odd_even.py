"""Odd/even transit depth comparison.

An eclipsing binary with two similar stars folded at twice its true period
(or any EB whose primary and secondary eclipses were folded together) shows
alternating depths.  A planet cannot.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ._common import VetResult, check_ephemeris, combine_events, per_epoch_contrast, prepare

__all__ = ["odd_even_test"]

log = logging.getLogger(__name__)


def odd_even_test(
    time,
    flux,
    flux_err,
    period: float,
    t0: float,
    duration: float,
    *,
    threshold: float = 3.0,
    min_points: int = 3,
    noise_factor: float = 1.0,
) -> VetResult:
    """Compare the depths of odd- and even-numbered transits.

    Each transit's depth is the inverse-variance weighted mean of the local
    out-of-transit flux (0.75-2 durations from the centre) minus that of the
    in-transit flux (within half a duration).  Depths are averaged separately
    over odd and even epochs; the error of each average is the larger of the
    formal error and the one implied by the scatter between transits of that
    parity (>= 3 transits), so red noise inflates it rather than creating a
    false detection.  This follows the DV odd/even depth test (Twicken et al.
    2018, sec. 4.6) and the Robovetter's odd/even metric (Thompson et al.
    2018, sec. A.3.3; Coughlin et al. 2016).

    Parameters
    ----------
    time : array_like of float
        Times (days, BTJD for TESS).
    flux : array_like of float
        Detrended, normalised flux (``flux_flat``, ~1 out of transit).
    flux_err : array_like of float or None
        1-sigma errors on ``flux``; ``None``/NaN entries are replaced by the
        robust point-to-point scatter.
    period, t0, duration : float
        Ephemeris: period (days), a transit centre (same time system as
        ``time``) and total duration (days).
    threshold : float
        Flag when the depth difference exceeds this many sigma (default 3).
    min_points : int
        Minimum in-transit (and local out-of-transit) points for a transit to
        count.
    noise_factor : float
        Red-noise factor on the transit's time scale (the search's
        ``red_noise``): each transit's error is multiplied by it, so that with
        too few transits of a parity to measure their scatter, a spotted
        star's correlated noise still does not pose as an odd/even difference.

    Returns
    -------
    VetResult
        ``value``/``significance``: ``|depth_odd - depth_even| / sigma`` in
        Gaussian sigma; ``depth_odd``, ``depth_even``, ``depth_odd_err``,
        ``depth_even_err`` (fractional flux); ``relative_difference``
        (difference / mean depth); ``n_odd``, ``n_even`` (transits with data);
        ``flag`` (significance > threshold).  With no odd or no even transit
        the numbers are NaN, ``flag`` is False and ``reason`` says why.

    Raises
    ------
    InputError
        Arrays of different lengths, non-positive period or duration, or
        duration >= period.
    """
    period, t0, duration = check_ephemeris(period, t0, duration)
    t, f, e = prepare(time, flux, flux_err)
    ev = per_epoch_contrast(t, f, e, period, t0, duration, min_in=min_points, min_oot=min_points)
    if noise_factor and math.isfinite(noise_factor) and noise_factor > 1.0:
        ev["error"] = ev["error"] * float(noise_factor)
    odd = (ev["epoch"] % 2) != 0
    n_odd, n_even = int(odd.sum()), int((~odd).sum())
    res = VetResult(
        test="odd_even",
        measured="odd vs even transit depth (fractional flux)",
        n_odd=n_odd,
        n_even=n_even,
        threshold=float(threshold),
        depth_odd=float("nan"),
        depth_even=float("nan"),
        depth_odd_err=float("nan"),
        depth_even_err=float("nan"),
        relative_difference=float("nan"),
        value=float("nan"),
        significance=float("nan"),
        flag=False,
        reason=None,
    )
    if n_odd == 0 or n_even == 0:
        res["reason"] = f"too few transits with data (odd={n_odd}, even={n_even}); need >= 1 of each"
        log.debug("odd_even_test: %s", res["reason"])
        return res
    d_odd, e_odd = combine_events(ev["contrast"][odd], ev["error"][odd])
    d_even, e_even = combine_events(ev["contrast"][~odd], ev["error"][~odd])
    sig = abs(d_odd - d_even) / math.hypot(e_odd, e_even)
    mean_depth = 0.5 * (d_odd + d_even)
    res.update(
        depth_odd=d_odd,
        depth_even=d_even,
        depth_odd_err=e_odd,
        depth_even_err=e_even,
        relative_difference=(d_odd - d_even) / mean_depth if mean_depth > 0 else float("nan"),
        value=float(sig),
        significance=float(sig),
        flag=bool(np.isfinite(sig) and sig > threshold),
    )
    return res
