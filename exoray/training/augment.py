"""Data augmentation for light-curve windows.

Pure functions on ``(n_windows, length)`` arrays with an explicit, seeded
:class:`numpy.random.Generator`; nothing here touches global random state.

* :func:`coloured_noise` / :func:`add_coloured_noise` - Gaussian noise with a
  power spectrum ``P(f) ~ 1/f**alpha`` (0 white, 1 pink/flicker, 2 red/random
  walk) and a given standard deviation.
* :func:`time_warp` - smooth, monotone re-parametrisation of time, resampled
  by linear interpolation after an anti-alias low-pass wherever the warp
  compresses the signal.
* :func:`mixup` - convex combinations of pairs of windows and of their labels
  (Zhang et al. 2018).
* :func:`physical_transit_params` / :func:`inject_transits` - limb-darkened
  transits (batman through :func:`exoray.simulate.inject_transit`) whose
  duration follows Kepler's law for a drawn main-sequence star.
* :func:`gan_samples` - windows drawn from a trained conditional GAN.
* :func:`augment` - one entry point by name, used by ``exoray evaluate
  augmentation``.

Windows are *relative flux* with out-of-transit level ``baseline`` (1.0 for
``flux_flat``, 0.0 for ``flux_flat - 1``).  Noise amplitudes and depths are in
the same relative units (``1e-3`` = 1000 ppm).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..errors import ConfigError, InputError
from ..simulate import a_rs_from_density, draw_star, inject_transit, transit_duration, transit_model

__all__ = [
    "AUGMENTATIONS",
    "coloured_noise",
    "add_coloured_noise",
    "time_warp",
    "warp_grid",
    "mixup",
    "physical_transit_params",
    "inject_transits",
    "gan_samples",
    "augment",
    "spectral_slope",
]

#: Names accepted by :func:`augment`.
AUGMENTATIONS = ("noise", "warp", "mixup", "inject", "gan")

_CADENCE_DAYS = 120.0 / 86400.0


def _as_windows(windows, name: str = "windows") -> np.ndarray:
    x = np.asarray(windows, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] < 4:
        raise InputError(f"{name} must have shape (n_windows, length >= 4), got {np.shape(windows)}")
    if not np.all(np.isfinite(x)):
        raise InputError(f"{name} contain NaN/inf; fill or drop those windows first")
    return x


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ConfigError("pass a numpy.random.Generator (np.random.default_rng(seed)) as rng")
    return rng


# --------------------------------------------------------------------------- coloured noise
def coloured_noise(rng: np.random.Generator, shape: Tuple[int, int], alpha: float = 1.0,
                   amplitude: float = 1e-3) -> np.ndarray:
    """Gaussian noise with power spectral density ``~ 1/f**alpha``.

    Built in the Fourier domain (Timmer & Koenig 1995): complex Gaussian
    coefficients with amplitude ``f**(-alpha/2)``, zero mean (the DC term is
    dropped), inverse real FFT, then each row scaled to standard deviation
    ``amplitude``.

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : (n, length)
    alpha : float
        Spectral index, ``0 <= alpha <= 3``.
    amplitude : float
        Standard deviation of each row (relative flux).

    Returns
    -------
    ndarray, shape ``shape``
    """
    rng = _check_rng(rng)
    n, length = int(shape[0]), int(shape[1])
    if length < 4 or n < 0:
        raise InputError(f"noise shape must be (n >= 0, length >= 4), got {shape}")
    if not (0.0 <= alpha <= 3.0):
        raise ConfigError(f"alpha must lie in [0, 3], got {alpha}")
    if amplitude < 0:
        raise ConfigError(f"amplitude must be >= 0, got {amplitude}")
    freqs = np.fft.rfftfreq(length)
    scale = np.zeros_like(freqs)
    scale[1:] = freqs[1:] ** (-alpha / 2.0)
    coef = (rng.standard_normal((n, freqs.size)) + 1j * rng.standard_normal((n, freqs.size))) * scale
    if length % 2 == 0:  # Nyquist term of a real signal is real
        coef[:, -1] = coef[:, -1].real * np.sqrt(2.0)
    x = np.fft.irfft(coef, n=length, axis=1)
    x -= x.mean(axis=1, keepdims=True)
    sd = x.std(axis=1, keepdims=True)
    sd[sd == 0] = 1.0
    return amplitude * x / sd


def add_coloured_noise(windows, rng: np.random.Generator, alpha: float = 1.0,
                       amplitude: float = 1e-3) -> np.ndarray:
    """``windows`` plus :func:`coloured_noise` of the same shape."""
    x = _as_windows(windows)
    return x + coloured_noise(rng, x.shape, alpha, amplitude)


def spectral_slope(x, fmin: float = 0.01, fmax: float = 0.4) -> float:
    """Log-log slope of the mean periodogram of the rows of ``x`` between ``fmin`` and ``fmax``.

    A noise with ``P ~ 1/f**alpha`` has slope ``-alpha``.  Used by the tests
    and to characterise residual noise.
    """
    x = _as_windows(x, "x")
    f = np.fft.rfftfreq(x.shape[1])
    p = np.mean(np.abs(np.fft.rfft(x - x.mean(axis=1, keepdims=True), axis=1)) ** 2, axis=0)
    m = (f >= fmin) & (f <= fmax) & (p > 0)
    if m.sum() < 3:
        raise InputError("too few frequencies in [fmin, fmax] to fit a slope")
    return float(np.polyfit(np.log(f[m]), np.log(p[m]), 1)[0])


# --------------------------------------------------------------------------- time warping
def warp_grid(rng: np.random.Generator, length: int, strength: float = 0.15,
              n_knots: int = 4) -> np.ndarray:
    """A random monotone map from output cadence to (fractional) input cadence.

    The local rate ``d(input)/d(output)`` is ``exp(s(t))`` with ``s`` a smooth
    (cubic-interpolated) random curve through ``n_knots + 2`` knots clipped to
    ``|s| <= log(1 + strength)``; the integrated map is rescaled to run from
    0 to ``length - 1`` so the window's ends stay fixed.  Strictly increasing
    by construction.
    """
    from scipy.interpolate import CubicSpline

    rng = _check_rng(rng)
    if not (0.0 <= strength < 1.0):
        raise ConfigError(f"warp strength must lie in [0, 1), got {strength}")
    if n_knots < 1:
        raise ConfigError("n_knots must be >= 1")
    lim = np.log1p(strength)
    knots_x = np.linspace(0.0, length - 1.0, n_knots + 2)
    knots_y = rng.uniform(-lim, lim, n_knots + 2)
    s = np.clip(CubicSpline(knots_x, knots_y)(np.arange(length, dtype=float)), -lim, lim)
    rate = np.exp(s)
    grid = np.concatenate([[0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]))])
    return grid * (length - 1.0) / grid[-1]


def time_warp(windows, rng: np.random.Generator, strength: float = 0.15, n_knots: int = 4
              ) -> np.ndarray:
    """Smoothly speed up / slow down time inside each window.

    Each row gets its own :func:`warp_grid`.  Where the warp compresses time
    (local rate ``r > 1``: the output samples the input more sparsely than its
    cadence) the row is first low-passed with a Gaussian of width
    ``sigma = 0.5 * sqrt(r_max**2 - 1)`` cadences so no power above the new
    Nyquist frequency aliases into the transit shape; then it is resampled by
    linear interpolation (:func:`numpy.interp`).  A transit keeps its depth
    (for durations of many cadences) and its area changes by at most the
    local rate, i.e. by ``<= strength``.

    Parameters
    ----------
    windows : array (n, length)
    rng : numpy.random.Generator
    strength : float
        Maximum fractional change of the local time scale (0.15 = +-15 %).
    n_knots : int
        Interior knots of the random rate curve (more = wigglier).

    Returns
    -------
    ndarray (n, length)
    """
    x = _as_windows(windows)
    rng = _check_rng(rng)
    n, length = x.shape
    out = np.empty_like(x)
    idx = np.arange(length, dtype=float)
    for i in range(n):
        grid = warp_grid(rng, length, strength, n_knots)
        r_max = float(np.max(np.diff(grid)))
        row = x[i]
        if r_max > 1.0:
            sigma = 0.5 * np.sqrt(r_max**2 - 1.0)
            if sigma > 0.05:
                row = gaussian_filter1d(row, sigma, mode="nearest")
        out[i] = np.interp(grid, idx, row)
    return out


# --------------------------------------------------------------------------- mixup
def mixup(windows, labels, rng: np.random.Generator, alpha: float = 0.4
          ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mixup: ``x' = lam x_i + (1 - lam) x_j``, ``y' = lam y_i + (1 - lam) y_j``.

    ``j`` is a random permutation of the rows and ``lam ~ Beta(alpha, alpha)``
    per row.

    Returns
    -------
    (mixed windows, mixed labels (float), lam)
    """
    x = _as_windows(windows)
    rng = _check_rng(rng)
    y = np.asarray(labels, dtype=np.float64)
    if y.shape[0] != x.shape[0]:
        raise InputError(f"{x.shape[0]} windows but {y.shape[0]} labels")
    if alpha <= 0:
        raise ConfigError(f"mixup alpha must be > 0, got {alpha}")
    perm = rng.permutation(x.shape[0])
    lam = rng.beta(alpha, alpha, size=x.shape[0])
    lx = lam.reshape((-1,) + (1,) * (x.ndim - 1))
    ly = lam.reshape((-1,) + (1,) * (y.ndim - 1))
    return lx * x + (1 - lx) * x[perm], ly * y + (1 - ly) * y[perm], lam


# --------------------------------------------------------------------------- physical injection
def _min_model(period, rp_rs, a_rs, b, u1, u2) -> float:
    return float(transit_model(np.array([0.0]), period, 0.0, rp_rs, a_rs, b, u1, u2)[0])


def physical_transit_params(rng: np.random.Generator, depth_ppm: float,
                            duration_hours: Optional[float] = None, *, star=None,
                            b: Optional[float] = None) -> Dict[str, Any]:
    """Physical parameters of a transit with a given central depth.

    A main-sequence star is drawn (:func:`exoray.simulate.draw_star`) unless
    given; the impact parameter is uniform in ``[0, 0.8]``; the period is
    log-uniform in 1-30 d, or, when ``duration_hours`` is given, solved by
    bisection so that T14 (Winn 2010) matches it for that star's density
    (``a/R* = (G rho P^2 / 3 pi)^(1/3)``).  ``rp_rs`` is then iterated until
    the limb-darkened (batman) model's central depth equals ``depth_ppm``.

    Returns
    -------
    dict
        ``period, rp_rs, a_rs, b, u1, u2, depth_ppm, duration_hours,
        teff, radius, mass, density``.
    """
    rng = _check_rng(rng)
    if not (0 < depth_ppm < 2e5):
        raise ConfigError(f"depth_ppm must lie in (0, 200000), got {depth_ppm}")
    if duration_hours is not None and not duration_hours > 0:
        raise ConfigError(f"duration_hours must be > 0, got {duration_hours}")
    draw = star is None
    # a drawn star / impact parameter that cannot give the requested duration is redrawn
    for attempt in range(50 if (draw or b is None) else 1):
        st = draw_star(rng, 0, variability="quiet") if draw else star
        bb = float(rng.uniform(0.0, 0.8)) if b is None else float(b)
        mu = np.sqrt(max(1.0 - bb**2, 1e-6))
        ld = (1 - st.u1 * (1 - mu) - st.u2 * (1 - mu) ** 2) / (1 - st.u1 / 3 - st.u2 / 6)
        k = float(np.sqrt(depth_ppm * 1e-6 / max(ld, 0.05)))
        if duration_hours is None:
            period = float(np.exp(rng.uniform(np.log(1.0), np.log(30.0))))
            if a_rs_from_density(period, st.density) > 2.0 * (1.0 + k):
                break
            continue
        # shortest orbit: a/R* = 2 (1 + k) (Roche-like limit); T14 grows ~ P^(1/3): bisect in log P
        lo = float((2.0 * (1.0 + k) / a_rs_from_density(1.0, st.density)) ** 1.5)
        hi = lo * 1e5
        d_lo = 24.0 * float(transit_duration(lo, a_rs_from_density(lo, st.density), k, bb))
        d_hi = 24.0 * float(transit_duration(hi, a_rs_from_density(hi, st.density), k, bb))
        if d_lo <= duration_hours <= d_hi:
            for _ in range(60):
                mid = np.sqrt(lo * hi)
                if 24.0 * float(transit_duration(mid, a_rs_from_density(mid, st.density), k, bb)) < duration_hours:
                    lo = mid
                else:
                    hi = mid
            period = float(np.sqrt(lo * hi))
            break
    else:
        raise ConfigError(
            f"duration {duration_hours} h impossible for depth {depth_ppm} ppm "
            + ("for any drawn star" if draw else f"for a star of density {star.density:.2f} g/cm3")
            + f" and b={b if b is not None else 'U(0, 0.8)'}")
    star = st
    a_rs = float(a_rs_from_density(period, star.density))
    for _ in range(6):  # central depth of the batman model -> target
        got = 1.0 - _min_model(period, k, a_rs, bb, star.u1, star.u2)
        if got <= 0:
            raise ConfigError(f"no transit for b={bb:.2f}, a/R*={a_rs:.2f}")
        k = float(np.clip(k * np.sqrt(depth_ppm * 1e-6 / got), 1e-4, 0.5))
    depth = 1.0 - _min_model(period, k, a_rs, bb, star.u1, star.u2)
    return {
        "period": period, "rp_rs": k, "a_rs": a_rs, "b": bb, "u1": float(star.u1),
        "u2": float(star.u2), "depth_ppm": 1e6 * depth,
        "duration_hours": 24.0 * float(transit_duration(period, a_rs, k, bb)),
        "teff": float(star.teff), "radius": float(star.radius), "mass": float(star.mass),
        "density": float(star.density),
    }


def inject_transits(windows, rng: np.random.Generator, depth_ppm, duration_hours=None, *,
                    cadence_days: float = _CADENCE_DAYS, baseline: float = 0.0,
                    centre: Optional[np.ndarray] = None, centre_jitter: float = 0.25
                    ) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
    """Multiply one physical (batman) transit into each window.

    Parameters
    ----------
    windows : array (n, length)
        Relative flux with out-of-transit level ``baseline``.
    rng : numpy.random.Generator
    depth_ppm : float or array (n,)
        Central transit depth per window.
    duration_hours : float or array (n,), optional
        T14 per window; default set by the drawn star and period.
    cadence_days : float
        Window cadence (2-min SPOC: 120 / 86400).
    baseline : float
        Out-of-transit level of the windows.
    centre : array (n,), optional
        Mid-transit position in cadences; default the window centre
        ``+- centre_jitter * length`` (uniform).

    Returns
    -------
    windows : ndarray (n, length)
    params : dict of arrays
        ``centre`` (cadences), ``t0`` (days from the first cadence) and every
        key of :func:`physical_transit_params`.
    """
    x = _as_windows(windows)
    rng = _check_rng(rng)
    n, length = x.shape
    depth = np.broadcast_to(np.asarray(depth_ppm, float), (n,))
    dur = None if duration_hours is None else np.broadcast_to(np.asarray(duration_hours, float), (n,))
    if centre is None:
        centre = 0.5 * (length - 1) + rng.uniform(-centre_jitter, centre_jitter, n) * length
    centre = np.broadcast_to(np.asarray(centre, float), (n,))
    t = np.arange(length) * cadence_days
    out = np.empty_like(x)
    rows = []
    for i in range(n):
        p = physical_transit_params(rng, float(depth[i]), None if dur is None else float(dur[i]))
        t0 = float(centre[i]) * cadence_days
        flux = x[i] - baseline + 1.0
        out[i] = inject_transit(t, flux, p["period"], t0, p["rp_rs"], p["a_rs"], p["b"], p["u1"],
                                p["u2"]) - 1.0 + baseline
        p["centre"] = float(centre[i])
        p["t0"] = t0
        rows.append(p)
    params = {k: np.array([r[k] for r in rows]) for k in (rows[0] if rows else {})}
    return out, params


# --------------------------------------------------------------------------- GAN samples
def gan_samples(gan, n: int, depth_ppm, duration_hours, *, seed: Optional[int] = None) -> np.ndarray:
    """``n`` windows from a trained conditional GAN's ``generate``.

    Parameters
    ----------
    gan : module with ``generate(n, depth_ppm, duration_hours)``
        E.g. ``exoray.models.registry.load_model("gan")[0]``.
    depth_ppm, duration_hours : float or array (n,)
        The physical conditions requested.
    seed : int, optional
        Seeds torch's generator for a reproducible draw.

    Returns
    -------
    ndarray (n, length), float64
    """
    import torch

    if not hasattr(gan, "generate"):
        raise ConfigError(f"{type(gan).__name__} has no generate(n, depth_ppm, duration_hours); "
                          "load the conditional GAN ('gan') from the registry")
    if n <= 0:
        raise ConfigError(f"n must be > 0, got {n}")
    depth = np.broadcast_to(np.asarray(depth_ppm, float), (n,)).copy()
    dur = np.broadcast_to(np.asarray(duration_hours, float), (n,)).copy()
    if seed is not None:
        torch.manual_seed(int(seed))
    was_training = getattr(gan, "training", False)
    if hasattr(gan, "eval"):
        gan.eval()
    try:
        with torch.no_grad():
            out = gan.generate(n, depth, dur)
    finally:
        if was_training:
            gan.train()
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu().numpy()
    out = np.asarray(out, dtype=np.float64)
    if out.ndim == 3 and out.shape[1] == 1:
        out = out[:, 0, :]
    if out.ndim != 2 or out.shape[0] != n:
        raise InputError(f"GAN generate returned shape {out.shape}, expected ({n}, length)")
    if not np.all(np.isfinite(out)):
        raise InputError("GAN generate returned NaN/inf; the generator diverged - retrain it")
    return out


# --------------------------------------------------------------------------- one entry point
def augment(name: str, windows, labels, rng: np.random.Generator, **kw
            ) -> Tuple[np.ndarray, np.ndarray]:
    """Apply augmentation ``name`` and return *extra* training rows ``(x, y)``.

    * ``noise`` - every window plus coloured noise (``alpha``, ``amplitude``);
    * ``warp`` - every window time-warped (``strength``);
    * ``mixup`` - mixed pairs with soft labels (``alpha``);
    * ``inject`` - negatives (label 0) with a physical transit injected,
      labelled 1 (``depth_ppm`` / ``duration_hours`` arrays to sample from,
      ``baseline``, ``cadence_days``);
    * ``gan`` - ``n`` GAN windows labelled 1 (``gan``, ``depth_ppm``,
      ``duration_hours``, ``n``).
    """
    x = _as_windows(windows)
    y = np.asarray(labels, dtype=np.float64)
    if name == "noise":
        return add_coloured_noise(x, rng, kw.get("alpha", 1.0), kw.get("amplitude", 1e-3)), y.copy()
    if name == "warp":
        return time_warp(x, rng, kw.get("strength", 0.15)), y.copy()
    if name == "mixup":
        xm, ym, _ = mixup(x, y, rng, kw.get("alpha", 0.4))
        return xm, ym
    if name == "inject":
        neg = x[y < 0.5]
        if neg.shape[0] == 0:
            raise InputError("inject augmentation needs negative (label 0) windows to inject into")
        depths = np.asarray(kw["depth_ppm"], float)
        durs = kw.get("duration_hours")
        d = rng.choice(depths, neg.shape[0])
        h = None if durs is None else rng.choice(np.asarray(durs, float), neg.shape[0])
        xi, _ = inject_transits(neg, rng, d, h, baseline=kw.get("baseline", 0.0),
                                cadence_days=kw.get("cadence_days", _CADENCE_DAYS))
        return xi, np.ones(neg.shape[0])
    if name == "gan":
        n = int(kw.get("n", x.shape[0]))
        depths = np.asarray(kw["depth_ppm"], float)
        durs = np.asarray(kw["duration_hours"], float)
        idx = rng.integers(0, depths.size, n)
        return gan_samples(kw["gan"], n, depths[idx], durs[idx],
                           seed=int(rng.integers(0, 2**31 - 1))), np.ones(n)
    raise ConfigError(f"unknown augmentation {name!r}; allowed: {', '.join(AUGMENTATIONS)}")
