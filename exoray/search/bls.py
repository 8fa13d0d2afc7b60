"""Batched box-least-squares (BLS) transit search.

The friendly API (:func:`bls_power`, :func:`bls_search`,
:func:`iterative_search`) checks inputs once, builds the grids, picks a
backend by name and wraps the numbers in :class:`BLSResult`.  The backends are

``"torch"`` (default)
    :func:`exoray.search._bls_torch.bls_kernel`: a batch of light curves,
    vectorised over periods, float32 or float64, CPU or CUDA.
``"numpy-reference"``
    :func:`exoray.search._bls_reference.bls_reference`: slow loops, for tests.
``"astropy"``
    adapter to :class:`astropy.timeseries.BoxLeastSquares` (one duration list
    for all periods only).

Choose with ``backend=`` or the environment variable ``EXORAY_BLS_BACKEND``;
add one with :func:`register_backend`.

Objectives follow astropy (``objective="snr"`` or ``"likelihood"``):
``depth = y_out - y_in`` (weighted means out of / in transit),
``depth_err = sqrt(1/W_in + 1/W_out)`` with ``W`` the summed inverse
variances, ``snr = depth / depth_err`` and
``log_likelihood = 0.5 W_in depth**2`` (the likelihood gain of the box with
the out-of-transit level held fixed; the gain of the joint two-level fit is
``snr**2 / 2``).

References
----------
Kovacs, G., Zucker, S. & Mazeh, T. 2002, A&A 391, 369.
Hippke, M. & Heller, R. 2019, A&A 623, A39 (SDE and its detrending).
Ofir, A. 2014, A&A 561, A138 (period sampling).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from ..errors import ConfigError, InputError
from ._bls_reference import bls_reference
from ._bls_torch import OBJECTIVES, bls_kernel
from .noise import box_noise_factor
from .period_grid import duration_grid, period_grid, stellar_params

__all__ = [
    "BLSResult",
    "BLSBatch",
    "prepare_batch",
    "bls_power",
    "bls_search",
    "iterative_search",
    "spectrum_sde",
    "register_backend",
    "available_backends",
    "get_backend",
    "BACKEND_ENV",
    "transit_mask",
]

log = logging.getLogger(__name__)

#: Environment variable naming the default backend.
BACKEND_ENV = "EXORAY_BLS_BACKEND"
_DEFAULT_BACKEND = "torch"
MIN_POINTS = 10

# ---------------------------------------------------------------------------
# Results


class BLSResult(dict):
    """Result of a BLS search of one light curve; a dict read like attributes.

    Keys
    ----
    period : float
        Best period (days), after local refinement.
    t0 : float
        Mid-transit time of the first transit at or after the first cadence
        (same time system as the input, e.g. BTJD).
    duration : float
        Box duration (days).
    depth, depth_err : float
        Transit depth ``y_out - y_in`` and its 1-sigma error (flux units,
        relative for normalised flux).
    snr : float
        ``depth / depth_err``.
    power : float
        Objective value at the best period ("snr" or "likelihood").
    log_likelihood : float
        ``0.5 W_in depth**2``.
    sde, sde_raw : float
        Signal detection efficiency ``(peak - mean) / std`` of the detrended
        (``sde``) and raw (``sde_raw``) power spectrum.
    n_transits : int
        Number of transit epochs that have at least one in-transit cadence.
    n_points_in_transit : int
        Cadences inside the best box.
    periods : ndarray
        Trial periods of the (coarse) periodogram (days).
    power_spectrum, power_detrended : ndarray
        Raw power per trial period and the power after subtracting a running
        median (what ``sde`` is computed from).
    depth_spectrum, duration_spectrum, t0_spectrum, snr_spectrum,
    log_likelihood_spectrum : ndarray
        Best-box quantities per trial period.
    objective, backend, dtype, device : str
        How the search was run.
    n_points : int
        Cadences used.
    baseline : float
        ``max(time) - min(time)`` (days).
    tic_id, sector, source_path : optional
        Copied from the light curve when it has them.
    candidate_index : int
        0 for a single search; order of discovery in :func:`iterative_search`.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __dir__(self):
        return list(super().__dir__()) + list(self.keys())

    def __repr__(self) -> str:
        scalars = {k: v for k, v in self.items() if not isinstance(v, np.ndarray)}
        inner = ", ".join(
            f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v!r}" for k, v in scalars.items()
        )
        return f"BLSResult({inner})"

    def to_candidate(self, candidate_index: Optional[int] = None) -> Dict[str, Any]:
        """Row for :data:`exoray.vet.records.CANDIDATES_SCHEMA` (search columns only)."""
        return {
            "tic_id": int(self.get("tic_id") or 0),
            "sector": int(self.get("sector") or 0),
            "candidate_index": int(self.get("candidate_index", 0) if candidate_index is None else candidate_index),
            "period_days": float(self.period),
            "t0_btjd": float(self.t0),
            "duration_hours": float(self.duration) * 24.0,
            "depth_ppm": float(self.depth) * 1e6,
            "snr": float(self.snr),
            "sde": float(self.sde),
            "n_transits": int(self.n_transits),
            "single_event": bool(self.n_transits < 2),
            "source_path": self.get("source_path"),
        }


# ---------------------------------------------------------------------------
# Input handling (validated once, here)


@dataclass
class BLSBatch:
    """Clean light curves ready for a backend (finite, sorted, weights > 0)."""

    time: List[np.ndarray]
    flux: List[np.ndarray]
    ivar: List[np.ndarray]
    meta: List[Dict[str, Any]]

    def __len__(self) -> int:
        return len(self.time)

    @property
    def baselines(self) -> np.ndarray:
        return np.array([t[-1] - t[0] for t in self.time])

    def padded(self):
        """``(t_rel, wy, w, t_ref)``: padded (B, N) arrays for the kernel."""
        n = max(t.size for t in self.time)
        b = len(self)
        t_rel = np.zeros((b, n))
        wy = np.zeros((b, n))
        w = np.zeros((b, n))
        t_ref = np.empty(b)
        for i, (t, y, iv) in enumerate(zip(self.time, self.flux, self.ivar)):
            t_ref[i] = t[0]
            t_rel[i, : t.size] = t - t[0]
            ybar = np.sum(iv * y) / np.sum(iv)
            wy[i, : t.size] = iv * (y - ybar)
            w[i, : t.size] = iv
        return t_rel, wy, w, t_ref


def _one(lc, i: int):
    meta: Dict[str, Any] = {}
    if isinstance(lc, dict):
        t, y, dy = lc.get("time"), lc.get("flux_flat", lc.get("flux")), lc.get("flux_err")
        src = lc
    elif isinstance(lc, (tuple, list)):
        if len(lc) not in (2, 3):
            raise InputError(f"light curve {i}: a tuple must be (time, flux) or (time, flux, flux_err)")
        t, y = lc[0], lc[1]
        dy = lc[2] if len(lc) == 3 else None
        src = {}
    elif hasattr(lc, "time") and (hasattr(lc, "flux_flat") or hasattr(lc, "flux")):
        t = lc.time
        y = lc.flux_flat if hasattr(lc, "flux_flat") else lc.flux
        dy = getattr(lc, "flux_err", None)
        src = {k: getattr(lc, k, None) for k in ("tic_id", "sector", "source_path", "mass", "radius", "logg")}
    else:
        raise InputError(
            f"light curve {i}: expected a PreprocessedLightCurve, a dict with 'time'/'flux', "
            f"or a (time, flux[, flux_err]) tuple, got {type(lc).__name__}"
        )
    for k in ("tic_id", "sector", "source_path", "mass", "radius", "logg"):
        if src.get(k) is not None:
            meta[k] = src[k]
    if t is None or y is None:
        raise InputError(f"light curve {i}: missing 'time' or flux")
    t = np.asarray(t, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if t.shape != y.shape:
        raise InputError(f"light curve {i}: time has {t.size} values but flux has {y.size}")
    if dy is None or (np.size(dy) > 0 and not np.any(np.isfinite(np.asarray(dy, dtype=np.float64)))):
        dy = np.ones_like(y)
    dy = np.asarray(dy, dtype=np.float64).ravel()
    if dy.size == 1:
        dy = np.full_like(y, float(dy[0]))
    if dy.shape != y.shape:
        raise InputError(f"light curve {i}: flux_err has {dy.size} values but flux has {y.size}")
    good = np.isfinite(t) & np.isfinite(y) & np.isfinite(dy) & (dy > 0)
    if good.sum() < MIN_POINTS:
        raise InputError(
            f"light curve {i}: only {int(good.sum())} usable cadences (finite time, flux and "
            f"flux_err > 0); BLS needs at least {MIN_POINTS}"
        )
    if good.sum() < good.size:
        log.debug("light curve %d: dropped %d non-finite cadences", i, good.size - good.sum())
    t, y, dy = t[good], y[good], dy[good]
    order = np.argsort(t, kind="stable")
    t, y, dy = t[order], y[order], dy[order]
    if t[-1] - t[0] <= 0:
        raise InputError(f"light curve {i}: all cadences share one time stamp")
    return t, y, 1.0 / dy**2, meta


def prepare_batch(lcs) -> BLSBatch:
    """Validate and clean one light curve or a sequence of them.

    Parameters
    ----------
    lcs : PreprocessedLightCurve, dict, tuple, or a sequence of these
        A :class:`~exoray.lightcurve.PreprocessedLightCurve` (``time``,
        ``flux_flat``, ``flux_err``), a dict with ``time``, ``flux`` (or
        ``flux_flat``) and optional ``flux_err``, or ``(time, flux[,
        flux_err])``.  Missing or all-NaN ``flux_err`` means equal weights.

    Returns
    -------
    BLSBatch

    Raises
    ------
    InputError
        Shapes disagree, fewer than 10 usable cadences, or no time span.
    """
    if isinstance(lcs, BLSBatch):
        return lcs
    if isinstance(lcs, tuple) and len(lcs) in (2, 3) and (
        isinstance(lcs[0], np.ndarray) or (isinstance(lcs[0], list) and lcs[0] and np.isscalar(lcs[0][0]))
    ):
        items = [lcs]  # one (time, flux[, flux_err]) tuple
    elif isinstance(lcs, dict) or hasattr(lcs, "time"):
        items = [lcs]
    else:
        items = list(lcs)
    if not items:
        raise InputError("no light curves given")
    parts = [_one(lc, i) for i, lc in enumerate(items)]
    return BLSBatch([p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts], [p[3] for p in parts])


def _resolve_dtype(dtype) -> torch.dtype:
    if dtype in (torch.float32, "float32", np.float32):
        return torch.float32
    if dtype in (torch.float64, "float64", np.float64):
        return torch.float64
    raise ConfigError(f"dtype must be 'float32' or 'float64', got {dtype!r}")


def _resolve_device(device) -> torch.device:
    try:
        dev = torch.device(device) if not isinstance(device, torch.device) else device
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available; use device='cpu'")
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device type {dev.type!r} is not supported; use 'cpu' or 'cuda'")
    return dev


def _resolve_grid(periods, durations, oversample: int):
    """Check the grids; return (periods, durations, deltas, dbins)."""
    p = np.asarray(periods, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise ConfigError("periods must be a non-empty 1-D array of positive, finite days")
    d = np.asarray(durations, dtype=np.float64)
    if d.ndim == 0:
        d = d.reshape(1)
    if d.ndim == 1:
        d2 = np.broadcast_to(d, (p.size, d.size))
    elif d.ndim == 2 and d.shape[0] == p.size:
        d2 = d
    else:
        raise ConfigError(
            f"durations must have shape (n_durations,) or (n_periods={p.size}, n_durations), got {d.shape}"
        )
    if d2.size == 0 or not np.all(np.isfinite(d2)) or np.any(d2 <= 0):
        raise ConfigError("durations must be positive, finite days")
    if np.any(d2.max(axis=1) >= p):
        i = int(np.argmax(d2.max(axis=1) >= p))
        raise ConfigError(
            f"duration {d2[i].max():.4g} d is not shorter than period {p[i]:.4g} d; "
            "shorten the durations or raise the minimum period"
        )
    if int(oversample) != oversample or oversample < 1:
        raise ConfigError(f"oversample must be an integer >= 1, got {oversample!r}")
    deltas = d2.min(axis=1) / int(oversample)
    dbins = np.maximum(1, np.rint(d2 / deltas[:, None])).astype(np.int64)
    return p, d, deltas, dbins


# ---------------------------------------------------------------------------
# Backends


def _torch_backend(batch: BLSBatch, periods, durations, deltas, dbins, *, objective, oversample, dtype, device,
                   max_elements, noise_scale=None, min_points=None):
    t_rel, wy, w, t_ref = batch.padded()
    out = bls_kernel(
        t_rel, wy, w, periods, deltas, dbins, objective=objective, dtype=dtype, device=device,
        max_elements=max_elements, noise_scale=noise_scale, min_points=min_points,
    )
    out["t0"] = t_ref[:, None] + out.pop("phase")
    return out


def _reference_backend(batch: BLSBatch, periods, durations, deltas, dbins, *, objective, oversample,
                       noise_scale=None, min_points=None, **_):
    rows = [bls_reference(t, y, iv, periods, deltas, dbins, objective,
                          None if noise_scale is None else noise_scale[i],
                          None if min_points is None else min_points[i])
            for i, (t, y, iv) in enumerate(zip(batch.time, batch.flux, batch.ivar))]
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


def _astropy_backend(batch: BLSBatch, periods, durations, deltas, dbins, *, objective, oversample,
                     noise_scale=None, min_points=None, **_):
    from astropy.timeseries import BoxLeastSquares

    if noise_scale is not None or min_points is not None:
        raise ConfigError("the 'astropy' backend has no red-noise scaling or minimum-transit rule; "
                          "use red_noise=False, min_transits=None or another backend")
    if np.ndim(durations) != 1:
        raise ConfigError("the 'astropy' backend needs one duration list for all periods (1-D durations)")
    keys = ("power", "depth", "depth_err", "snr", "log_likelihood", "duration", "t0")
    out = {k: np.empty((len(batch), periods.size)) for k in keys}
    for i, (t, y, iv) in enumerate(zip(batch.time, batch.flux, batch.ivar)):
        res = BoxLeastSquares(t, y, 1.0 / np.sqrt(iv)).power(
            periods, np.asarray(durations), objective=objective, oversample=int(oversample)
        )
        for k in ("power", "depth", "depth_err", "log_likelihood", "duration"):
            out[k][i] = np.asarray(res[k])
        out["snr"][i] = np.asarray(res["depth_snr"])
        out["t0"][i] = t[0] + np.mod(np.asarray(res["transit_time"]) - t[0], periods)
    return out


_BACKENDS: Dict[str, Callable] = {
    "torch": _torch_backend,
    "numpy-reference": _reference_backend,
    "astropy": _astropy_backend,
}


def register_backend(name: str, fn: Callable) -> None:
    """Add a backend: ``fn(batch, periods, durations, deltas, dbins, *, objective,
    oversample, dtype, device, max_elements, noise_scale, min_points) -> dict``
    of (B, n_periods) arrays with the keys of :func:`bls_power`.  It must
    reproduce the reference."""
    _BACKENDS[str(name)] = fn


def available_backends() -> List[str]:
    """Names accepted by ``backend=`` and ``EXORAY_BLS_BACKEND``."""
    return sorted(_BACKENDS)


def get_backend(name: Optional[str] = None) -> str:
    """Resolve a backend name (argument, then ``EXORAY_BLS_BACKEND``, then "torch")."""
    name = name or os.environ.get(BACKEND_ENV) or _DEFAULT_BACKEND
    if name not in _BACKENDS:
        raise ConfigError(f"unknown BLS backend {name!r}; choose one of {available_backends()}")
    return name


# ---------------------------------------------------------------------------
# Public API


def bls_power(
    lcs,
    periods,
    durations,
    *,
    objective: str = "snr",
    oversample: int = 5,
    backend: Optional[str] = None,
    dtype: Union[str, torch.dtype] = "float32",
    device: Union[str, torch.device] = "cpu",
    max_elements: Optional[int] = None,
    noise_scale=None,
    min_transits: Optional[float] = None,
    duration_mask=None,
) -> List[Dict[str, np.ndarray]]:
    """BLS periodograms of a batch of light curves on a shared grid.

    Parameters
    ----------
    lcs : light curve or sequence of light curves
        See :func:`prepare_batch`.  Flux should be detrended and normalised.
    periods : array_like, shape (n_periods,)
        Trial periods (days).
    durations : array_like, shape (n_durations,) or (n_periods, n_durations)
        Trial box durations (days), shared or per period (see
        :func:`~exoray.search.period_grid.duration_grid`); each must be shorter
        than its period.
    objective : {"snr", "likelihood"}
        What the best box per period maximises (as astropy's
        ``BoxLeastSquares.power``).
    oversample : int
        Phase bins per shortest duration of each period (astropy's
        ``oversample``; default 5).  Durations are rounded to whole bins.
    backend : str, optional
        ``"torch"``, ``"numpy-reference"`` or ``"astropy"``; default from
        ``EXORAY_BLS_BACKEND`` or ``"torch"``.
    dtype : {"float32", "float64"}
        Working precision of the torch backend.
    device : str or torch.device
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    max_elements : int, optional
        Memory bound of the torch kernel's work arrays (elements).
    noise_scale : array_like, optional
        Red-noise factor per light curve and duration, shape (B, n_durations)
        (or (B, n_periods, n_durations) for 2-D durations); see
        :func:`exoray.search.noise.box_noise_factor`.  SNRs are divided by
        it.  ``None``: white noise.
    min_transits : float, optional
        A box must hold at least this many transits' worth of cadences
        (``min_transits * duration / cadence``); 1.5 demands data from two
        transits, so a single event cannot pose as a periodic signal in
        gappy data or at periods near the baseline.  ``None``: no rule.
    duration_mask : array_like of bool, shape (n_periods, n_durations), optional
        Which (period, duration) boxes to try; the others score nothing (a
        duration a star cannot give at that period), and the kernel skips a
        duration for a run of periods where it is masked throughout.
        ``None``: all.

    Returns
    -------
    list of dict
        Per light curve: ``periods`` and per-period arrays ``power``,
        ``depth``, ``depth_err``, ``snr``, ``log_likelihood``, ``duration``
        (days), ``t0`` (first mid-transit at or after the first cadence)
        and ``n_in`` (in-box cadences of mean weight).

    Raises
    ------
    InputError, ConfigError
    """
    if objective not in OBJECTIVES:
        raise ConfigError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    name = get_backend(backend)
    batch = prepare_batch(lcs)
    p, d, deltas, dbins = _resolve_grid(periods, durations, oversample)
    n_b, (n_p, n_d) = len(batch), dbins.shape
    scale = None
    if noise_scale is not None:
        ns = np.asarray(noise_scale, dtype=np.float64)
        if ns.ndim == 1:
            ns = ns[None, :]
        if ns.ndim == 2:
            ns = ns[:, None, :]
        try:
            scale = np.broadcast_to(ns, (n_b, n_p, n_d))
        except ValueError as exc:
            raise ConfigError(f"noise_scale has shape {np.shape(noise_scale)}; expected ({n_b}, {n_d}) "
                              f"or ({n_b}, {n_p}, {n_d})") from exc
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ConfigError("noise_scale must be positive and finite")
    minpts = None
    if min_transits is not None:
        if not (min_transits > 0):
            raise ConfigError(f"min_transits must be positive, got {min_transits!r}")
        cad = np.array([float(np.median(np.diff(t))) if t.size > 1 else 1.0 for t in batch.time])
        minpts = float(min_transits) * (dbins * deltas[:, None])[None, :, :] / cad[:, None, None]
    if duration_mask is not None:
        dm = np.asarray(duration_mask, dtype=bool)
        if dm.shape != (n_p, n_d):
            raise ConfigError(f"duration_mask has shape {dm.shape}; expected ({n_p}, {n_d})")
        base = np.zeros((1, n_p, n_d)) if minpts is None else minpts
        minpts = np.where(dm[None, :, :], base, np.inf)
    out = _BACKENDS[name](
        batch, p, d, deltas, dbins, objective=objective, oversample=int(oversample),
        dtype=_resolve_dtype(dtype), device=_resolve_device(device), max_elements=max_elements,
        noise_scale=scale, min_points=minpts,
    )
    keys = ("power", "depth", "depth_err", "snr", "log_likelihood", "duration", "t0")
    res = [dict(periods=p, **{k: np.asarray(out[k][i], dtype=np.float64) for k in keys}) for i in range(n_b)]
    if "w_in" in out:
        for i, r in enumerate(res):
            r["n_in"] = np.asarray(out["w_in"][i], dtype=np.float64)
    return res


def spectrum_sde(power, detrend_window: Optional[int] = None):
    """Signal detection efficiency of a power spectrum.

    ``SDE = (max(p) - mean(p)) / std(p)``, computed on the raw power
    (``sde_raw``) and on the power minus its running median over
    ``detrend_window`` trial periods (``sde``), as TLS does.

    Parameters
    ----------
    power : array_like
        Power per trial period.
    detrend_window : int or None
        Odd window length (trial periods) of the running median; ``None``
        picks ``max(31, n // 40)`` (odd); 0 disables detrending.  Skipped when
        the spectrum is shorter than twice the window.

    Returns
    -------
    (sde, sde_raw, power_detrended) : (float, float, ndarray)
    """
    from scipy.ndimage import median_filter

    pw = np.asarray(power, dtype=np.float64)
    pw = np.where(np.isfinite(pw), pw, np.nanmin(pw[np.isfinite(pw)]) if np.any(np.isfinite(pw)) else 0.0)

    def sde_of(x):
        s = x.std()
        return float((x.max() - x.mean()) / s) if s > 0 else 0.0

    sde_raw = sde_of(pw)
    n = pw.size
    if detrend_window is None:
        detrend_window = max(31, n // 40)
    win = int(detrend_window)
    if win and win % 2 == 0:
        win += 1
    if win and n > 2 * win:
        det = pw - median_filter(pw, size=win, mode="nearest")
        return sde_of(det), sde_raw, det
    return sde_raw, sde_raw, pw.copy()


def _default_grid(batch: BLSBatch, periods, durations, min_period: float):
    if len(batch) == 1:
        m = batch.meta[0]
        mass, radius = stellar_params(m.get("mass"), m.get("radius"), m.get("logg"))
    else:
        mass, radius = stellar_params()
    if periods is None:
        periods = period_grid(float(batch.baselines.max()), min_period=min_period, stellar_mass=mass,
                              stellar_radius=radius)
    if durations is None:
        durations = duration_grid(periods, mass, radius)
    return periods, durations


def _n_transits(t, period, t0, duration):
    ph = np.mod(t - t0 + 0.5 * period, period) - 0.5 * period
    inside = np.abs(ph) < 0.5 * duration
    epochs = np.round((t[inside] - t0) / period)
    return int(np.unique(epochs).size), int(inside.sum())


def _independent_peaks(power: np.ndarray, periods: np.ndarray, n: int, *, min_sep: int = 3,
                       max_harmonic: int = 4, rel_tol: float = 0.005) -> List[int]:
    """Indices of the ``n`` highest local maxima of ``power`` that are not harmonics of one another.

    A later peak is dropped when it lies within ``min_sep`` trial periods of
    a kept one, or when its period is within ``rel_tol`` of ``p/q`` times a
    kept period (``p, q <= max_harmonic``): the sub- and super-harmonics a
    strong signal leaves in its own periodogram.
    """
    pw = np.where(np.isfinite(power), power, -np.inf)
    if pw.size == 0:
        return []
    order = np.argsort(-pw, kind="stable")
    ratios = sorted({a / b for a in range(1, max_harmonic + 1) for b in range(1, max_harmonic + 1)})
    kept: List[int] = []
    for i in order:
        if len(kept) >= n or not np.isfinite(pw[i]) or pw[i] <= 0:
            break
        lo, hi = max(i - 1, 0), min(i + 1, pw.size - 1)
        if pw[i] < pw[lo] or pw[i] < pw[hi]:
            continue  # not a local maximum
        ok = True
        for j in kept:
            if abs(i - j) <= min_sep or any(abs(periods[i] / (r * periods[j]) - 1.0) < rel_tol for r in ratios):
                ok = False
                break
        if ok:
            kept.append(int(i))
    return kept


def _noise_factors(t, y, iv, d_arr: np.ndarray, n_periods: int) -> np.ndarray:
    """Red-noise factor for 1-D (n_dur,) or 2-D (n_periods, n_dur) durations."""
    if d_arr.ndim <= 1:
        return box_noise_factor(t, y, iv, np.atleast_1d(d_arr))
    lo, hi = float(d_arr.min()), float(d_arr.max())
    probe = np.geomspace(lo, hi, 12) if hi > lo else np.array([lo])
    beta = box_noise_factor(t, y, iv, probe)
    if probe.size == 1:
        return np.full(d_arr.shape, beta[0])
    return np.interp(np.log(d_arr), np.log(probe), beta)


def bls_search(
    lcs,
    periods=None,
    durations=None,
    *,
    objective: str = "snr",
    oversample: int = 5,
    min_period: float = 0.5,
    refine: bool = True,
    refine_points: int = 41,
    detrend_window: Optional[int] = None,
    backend: Optional[str] = None,
    dtype: Union[str, torch.dtype] = "float32",
    device: Union[str, torch.device] = "cpu",
    max_elements: Optional[int] = None,
    red_noise: bool = True,
    min_transits: Optional[float] = 1.5,
    n_peaks: int = 1,
    duration_mask=None,
) -> List[BLSResult]:
    """Search a batch of light curves for periodic box-shaped dips.

    Parameters
    ----------
    lcs : light curve or sequence of light curves
        See :func:`prepare_batch`.
    periods : array_like, optional
        Trial periods (days).  Default: :func:`period_grid` over the longest
        baseline in the batch (stellar mass/radius of the light curve when the
        batch has one, solar otherwise), from ``min_period`` to the baseline
        (boxes still need ``min_transits``).
    durations : array_like, optional
        1-D or (n_periods, n_durations) durations (days).  Default:
        :func:`duration_grid` for the same star.
    objective, oversample, backend, dtype, device, max_elements
        As in :func:`bls_power`.
    min_period : float
        Shortest default trial period (days).
    refine : bool
        Re-search ``refine_points`` periods between the neighbours of the
        best trial period (uniform in frequency) and keep the best.
    detrend_window : int, optional
        Running-median window for the SDE (see :func:`spectrum_sde`).
    red_noise : bool
        Measure each light curve's red-noise factor per trial duration
        (:func:`exoray.search.noise.box_noise_factor`) and divide the SNRs by
        it, so that the statistic is comparable between quiet and active
        stars.  ``snr_white`` keeps the white-noise value.
    min_transits : float or None
        Transits' worth of data a box needs (see :func:`bls_power`).
    n_peaks : int
        Also refine and return the next ``n_peaks - 1`` independent peaks of
        the periodogram (not harmonics of a stronger one) as
        ``result.alternatives``, strongest first.
    duration_mask : array_like of bool, optional
        (n_periods, n_durations) boxes to try (see :func:`bls_power`).

    Returns
    -------
    list of BLSResult
        One per light curve, in input order.

    Raises
    ------
    InputError, ConfigError

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> t = np.arange(0, 27, 0.02)
    >>> y = 1 + 1e-4 * rng.standard_normal(t.size)
    >>> y[np.mod(t - 1.3, 3.3) < 0.1] -= 1e-3
    >>> r = bls_search((t, y, np.full(t.size, 1e-4)))[0]
    >>> abs(r.period - 3.3) < 0.01
    True
    """
    # imported at call time: .steps imports this module
    from .steps import SearchOptions, drive_lockstep, search_steps

    batch = prepare_batch(lcs)
    periods, durations = _default_grid(batch, periods, durations, min_period)
    opts = SearchOptions(objective=objective, oversample=oversample, backend=backend, dtype=dtype, device=device,
                         max_elements=max_elements, min_transits=min_transits)
    p_arr = np.asarray(periods, dtype=np.float64)
    d_arr = np.asarray(durations, dtype=np.float64)
    mask = None if duration_mask is None else np.asarray(duration_mask, dtype=bool)
    gens = [search_steps(t, y, iv, meta, p_arr, d_arr, opts, red_noise=red_noise, duration_mask=mask,
                         n_peaks=n_peaks, refine=refine, refine_points=refine_points, detrend_window=detrend_window)
            for t, y, iv, meta in zip(batch.time, batch.flux, batch.ivar, batch.meta)]
    results = drive_lockstep(gens)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


def transit_mask(time, period: float, t0: float, width: float) -> np.ndarray:
    """Boolean mask of cadences within ``width / 2`` (days) of a mid-transit."""
    ph = np.mod(np.asarray(time) - t0 + 0.5 * period, period) - 0.5 * period
    return np.abs(ph) < 0.5 * width


def _default_accept(sde_threshold: float, snr_threshold: float, snr_min_sde: float):
    def accept(res, *_):
        strong = res.snr >= snr_threshold and res.sde >= snr_min_sde
        return res if (res.sde >= sde_threshold or strong) else None

    return accept


def iterative_search(
    lc,
    *,
    max_planets: int = 3,
    sde_threshold: float = 7.0,
    mask_width: float = 2.0,
    periods=None,
    durations=None,
    snr_threshold: float = float("inf"),
    snr_min_sde: float = 5.0,
    after_signal=None,
    accept=None,
    n_peaks: int = 1,
    max_passes: Optional[int] = None,
    max_vetoes: int = 4,
    **kwargs,
) -> List[BLSResult]:
    """Find several transiting signals by searching, masking and searching again.

    After each detection the cadences within ``mask_width / 2`` durations
    (the result's ``mask_duration`` when ``accept`` set one, else its box
    duration) of its transits are removed and the search is repeated on the
    same grid,
    until no peak is accepted, ``max_planets`` signals that count are found,
    ``max_passes`` passes have run, or too few cadences remain.

    Parameters
    ----------
    lc : light curve
        One light curve (see :func:`prepare_batch`).
    max_planets : int
        Most signals that count (see ``after_signal``) to return.
    sde_threshold : float
        Default acceptance: minimum SDE of a reported signal (TLS uses 7 for
        a ~1 % false-alarm probability on white noise).
    mask_width : float
        Width of the removed window around each transit, in units of the
        signal's duration (default 2, as TLS).
    snr_threshold, snr_min_sde : float
        Default acceptance also takes a signal with SNR >= ``snr_threshold``
        and SDE >= ``snr_min_sde`` (strong signals saturate the SDE).  Off
        by default.
    accept : callable, optional
        ``accept(result, time, flux, ivar, keep) -> BLSResult, None or mask``
        replaces the default rule: called on the top peak and then on the
        next independent peaks (``n_peaks``), it returns the signal to
        report (possibly re-measured), ``None`` to look at the next peak, or
        a boolean array over ``time`` of cadences to veto (a single event
        posing as a periodic signal): they are left out and the pass is
        run again (at most ``max_vetoes`` times in all).  The pass that
        accepts nothing ends the search.
    n_peaks : int
        Peaks per pass offered to ``accept`` (see :func:`bls_search`).
    after_signal : callable, optional
        ``after_signal(result, time, flux, keep) -> None or (new_flux,
        also_mask[, counts])``, called with each accepted signal, all
        cadences and the mask of those still searched (earlier signals'
        transits removed).  Returning an array (same length as ``time``)
        replaces the flux for the next passes, with (``also_mask=True``) or
        instead of masking the signal's transits: pre-whitening, for a
        periodic variability signal that masking cannot remove (Kepler TPS
        removes harmonics the same way; Jenkins et al. 2010).
        ``counts=False`` keeps the signal out of ``max_planets`` (stellar
        variability does not use up a planet's place).
    max_passes : int, optional
        Most passes in all (default ``max_planets + 2``).
    max_vetoes : int
        Most vetoed events in all.
    periods, durations, **kwargs
        Passed to :func:`bls_search`.  The grid is fixed by the first pass.

    Returns
    -------
    list of BLSResult
        Accepted signals in order found (``candidate_index`` 0, 1, ...).
    """
    if int(max_planets) != max_planets or max_planets < 1:
        raise ConfigError(f"max_planets must be an integer >= 1, got {max_planets!r}")
    if not (mask_width > 0):
        raise ConfigError(f"mask_width must be positive, got {mask_width!r}")
    # imported at call time: .steps imports this module
    from .steps import SearchOptions, as_steps, drive, iterative_steps

    batch = prepare_batch(lc)
    if len(batch) != 1:
        raise InputError("iterative_search takes one light curve; loop (or use Ray) over many")
    periods, durations = _default_grid(batch, periods, durations, kwargs.pop("min_period", 0.5))
    t, y, iv, meta = batch.time[0], batch.flux[0], batch.ivar[0], batch.meta[0]
    accept = accept or _default_accept(sde_threshold, snr_threshold, snr_min_sde)
    search_kw = {k: kwargs.pop(k) for k in ("red_noise", "duration_mask", "refine", "refine_points", "detrend_window")
                 if k in kwargs}
    opts = SearchOptions(**kwargs)
    return drive(iterative_steps(
        t, y, iv, meta, np.asarray(periods, dtype=np.float64), np.asarray(durations, dtype=np.float64), opts,
        accept=as_steps(accept), after_signal=after_signal, max_planets=max_planets, max_passes=max_passes,
        mask_width=mask_width, max_vetoes=max_vetoes, n_peaks=n_peaks, **search_kw))
