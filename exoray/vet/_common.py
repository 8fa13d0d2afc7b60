"""Shared helpers of the vetting statistics (private).

Everything here works on plain float64 arrays in days; inputs are checked once
by :func:`prepare` / :func:`check_ephemeris` and the statistics never see NaN.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..errors import InputError
from ..stats import robust_std

__all__ = [
    "VetResult",
    "as_1d",
    "check_ephemeris",
    "prepare",
    "robust_std",
    "phase_days",
    "epoch_index",
    "per_epoch_contrast",
    "window_mean",
    "combine_events",
]

class VetResult(dict):
    """Result of a vetting statistic: a dict whose keys also read as attributes.

    Every result has at least ``test`` (name), ``value`` (the headline
    number), ``significance`` (in Gaussian sigma where meaningful, else NaN),
    ``flag`` (bool: the test found something suspicious) and ``reason``
    (``None`` or why the statistic could not be computed).
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self):
        return list(super().__dir__()) + list(self.keys())

    def __repr__(self) -> str:
        scalars = {k: v for k, v in self.items() if not isinstance(v, (np.ndarray, dict, list))}
        inner = ", ".join(
            f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v!r}" for k, v in scalars.items()
        )
        return f"VetResult({inner})"


def as_1d(x, name: str) -> np.ndarray:
    """``x`` as a contiguous 1-D float64 array; InputError naming ``name`` otherwise."""
    if x is None:
        raise InputError(f"'{name}' is required")
    try:
        a = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise InputError(f"'{name}' must be an array of numbers") from exc
    if a.ndim != 1:
        raise InputError(f"'{name}' must be one-dimensional, got shape {a.shape}")
    return a


def _positive(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"'{name}' must be a number, got {value!r}") from exc
    if not (math.isfinite(v) and v > 0):
        raise InputError(f"'{name}' must be a positive finite number, got {value!r}")
    return v


def check_ephemeris(period, t0, duration=None) -> Tuple[float, float, Optional[float]]:
    """Validate (period, t0, duration) in days; duration must be < period."""
    p = _positive(period, "period")
    try:
        t = float(t0)
    except (TypeError, ValueError) as exc:
        raise InputError(f"'t0' must be a number, got {t0!r}") from exc
    if not math.isfinite(t):
        raise InputError(f"'t0' must be finite, got {t0!r}")
    if duration is None:
        return p, t, None
    d = _positive(duration, "duration")
    if d >= p:
        raise InputError(f"'duration' ({d} d) must be shorter than 'period' ({p} d)")
    return p, t, d


def prepare(time, flux, flux_err=None, *, flux_name: str = "flux"):
    """Finite, time-sorted ``(t, f, e)``; ``e`` is filled where missing.

    ``flux_err`` that is ``None``, non-finite or not positive is replaced by
    the robust point-to-point scatter of ``flux`` (MAD of first differences
    / sqrt 2), which is insensitive to slow trends and to the transits.
    Raises InputError (naming the field) on length mismatch.
    """
    t = as_1d(time, "time")
    f = as_1d(flux, flux_name)
    if f.shape != t.shape:
        raise InputError(f"'{flux_name}' has {f.size} values but 'time' has {t.size}")
    if flux_err is None:
        e = np.full_like(t, np.nan)
    else:
        e = as_1d(flux_err, "flux_err")
        if e.shape != t.shape:
            raise InputError(f"'flux_err' has {e.size} values but 'time' has {t.size}")
    ok = np.isfinite(t) & np.isfinite(f)
    t, f, e = t[ok], f[ok], e[ok]
    order = np.argsort(t, kind="stable")
    t, f, e = t[order], f[order], e[order]
    if t.size >= 3:
        p2p = robust_std(np.diff(f)) / math.sqrt(2.0)
    else:
        p2p = float("nan")
    bad = ~(np.isfinite(e) & (e > 0))
    if bad.any():
        e = e.copy()
        e[bad] = p2p if np.isfinite(p2p) and p2p > 0 else 1.0
    return t, f, e


def phase_days(t: np.ndarray, period: float, t0: float, center: float = 0.0) -> np.ndarray:
    """Time from the nearest ``t0 + center*period + n*period`` in ``[-P/2, P/2)``."""
    ref = t0 + center * period
    return np.mod(t - ref + 0.5 * period, period) - 0.5 * period


def epoch_index(t: np.ndarray, period: float, t0: float, center: float = 0.0) -> np.ndarray:
    """Integer epoch of the nearest event centred at ``t0 + (n + center) * period``."""
    return np.floor((t - t0 - center * period) / period + 0.5).astype(np.int64)


def window_mean(y: np.ndarray, e: np.ndarray) -> Tuple[float, float]:
    """Inverse-variance weighted mean and its formal error."""
    w = 1.0 / (e * e)
    sw = float(np.sum(w))
    if sw <= 0 or y.size == 0:
        return float("nan"), float("nan")
    return float(np.sum(w * y) / sw), float(1.0 / math.sqrt(sw))


def per_epoch_contrast(
    t: np.ndarray,
    y: np.ndarray,
    e: np.ndarray,
    period: float,
    t0: float,
    duration: float,
    *,
    center: float = 0.0,
    in_half_width: float = 0.5,
    oot_inner: float = 0.75,
    oot_outer: float = 2.0,
    min_in: int = 3,
    min_oot: int = 3,
) -> Dict[str, np.ndarray]:
    """Per-event ``out-of-transit mean - in-transit mean`` (a depth for flux).

    For every event centred at ``t0 + (n + center) * period`` that falls in
    the data: in-transit points have ``|dt| < in_half_width * duration``, the
    local baseline is ``oot_inner * duration < |dt| < oot_outer * duration``.
    Means are inverse-variance weighted; the error of each event's contrast is
    the quadrature sum of both means' errors, each inflated by the local
    reduced chi-square when that exceeds 1 (so underestimated ``flux_err``
    do not make events look significant).

    ``t`` must be sorted.  Returns arrays (one entry per usable event):
    ``epoch``, ``tc``, ``n_in``, ``n_oot``, ``mean_in``, ``mean_oot``,
    ``contrast``, ``error``.
    """
    keys = ("epoch", "tc", "n_in", "n_oot", "mean_in", "mean_oot", "contrast", "error")
    out: Dict[str, list] = {k: [] for k in keys}
    if t.size == 0:
        return {k: np.array([]) for k in keys}
    first = int(math.floor((t[0] - t0 - center * period) / period)) - 1
    last = int(math.ceil((t[-1] - t0 - center * period) / period)) + 1
    reach = oot_outer * duration
    for n in range(first, last + 1):
        tc = t0 + (n + center) * period
        lo, hi = np.searchsorted(t, [tc - reach, tc + reach])
        if hi - lo < min_in + min_oot:
            continue
        dt = np.abs(t[lo:hi] - tc)
        yy, ee = y[lo:hi], e[lo:hi]
        m_in = dt < in_half_width * duration
        m_out = (dt > oot_inner * duration) & (dt < oot_outer * duration)
        n_in, n_out = int(m_in.sum()), int(m_out.sum())
        if n_in < min_in or n_out < min_oot:
            continue
        mi, ei = window_mean(yy[m_in], ee[m_in])
        mo, eo = window_mean(yy[m_out], ee[m_out])
        ei *= max(1.0, _rchi(yy[m_in], ee[m_in], mi))
        eo *= max(1.0, _rchi(yy[m_out], ee[m_out], mo))
        out["epoch"].append(n)
        out["tc"].append(tc)
        out["n_in"].append(n_in)
        out["n_oot"].append(n_out)
        out["mean_in"].append(mi)
        out["mean_oot"].append(mo)
        out["contrast"].append(mo - mi)
        out["error"].append(math.hypot(ei, eo))
    res = {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}
    res["epoch"] = res["epoch"].astype(np.int64)
    res["n_in"] = res["n_in"].astype(np.int64)
    res["n_oot"] = res["n_oot"].astype(np.int64)
    return res


def _rchi(y: np.ndarray, e: np.ndarray, mean: float) -> float:
    """sqrt(reduced chi-square) of ``y`` about ``mean`` (1 for < 2 points)."""
    if y.size < 2:
        return 1.0
    return math.sqrt(float(np.sum(((y - mean) / e) ** 2)) / (y.size - 1))


def combine_events(contrast: np.ndarray, error: np.ndarray) -> Tuple[float, float]:
    """Weighted mean of per-event contrasts and a robust error.

    The error is the larger of the formal one and the one implied by the
    scatter between events (when there are at least 3), which absorbs
    correlated noise and event-to-event systematics (cf. Twicken et al. 2018,
    sec. 4.6 for the DV odd/even test).
    """
    if contrast.size == 0:
        return float("nan"), float("nan")
    mean, err = window_mean(contrast, error)
    if contrast.size >= 3:
        err *= max(1.0, _rchi(contrast, error, mean))
    return mean, err
