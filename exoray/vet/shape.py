"""Transit shape: trapezoid fit, depth/duration uncertainties, V vs U shape."""

from __future__ import annotations

import logging
import math

import numpy as np
from scipy.optimize import least_squares

from ._common import VetResult, check_ephemeris, phase_days, prepare

__all__ = ["transit_shape", "trapezoid_model"]

log = logging.getLogger(__name__)


def trapezoid_model(x, tc: float, depth: float, total_duration: float, ingress_fraction: float,
                    baseline: float = 1.0) -> np.ndarray:
    """Symmetric trapezoid transit.

    Parameters
    ----------
    x : array_like
        Time from the nominal transit centre (days).
    tc : float
        Centre offset (days).
    depth : float
        Fractional depth of the flat bottom.
    total_duration : float
        First to fourth contact, T14 (days).
    ingress_fraction : float
        Ingress (= egress) time over T14, 0 (box) .. 0.5 (V / triangle).
    baseline : float
        Out-of-transit flux.

    Returns
    -------
    ndarray
        Model flux.
    """
    a = np.abs(np.asarray(x, dtype=np.float64) - tc)
    half = 0.5 * total_duration
    tau = max(ingress_fraction * total_duration, 1e-9)
    return baseline - depth * np.clip((half - a) / tau, 0.0, 1.0)


def _trapezoid_jacobian(x, p) -> np.ndarray:
    """d model / d (tc, depth, T14, ingress_fraction, baseline), shape (n, 5).

    The trapezoid is ``b - d * clip(u, 0, 1)`` with
    ``u = (T/2 - |x - tc|) / (f T)``; inside ingress/egress (0 < u < 1)
    ``du/dtc = sign(x - tc) / (f T)``, ``du/dT = |x - tc| / (f T^2)`` and
    ``du/df = -u / f``; on the flat bottom only ``d`` and ``b`` matter.
    """
    tc, depth, t14, fi, _ = (float(v) for v in p)
    dx = np.asarray(x, dtype=np.float64) - tc
    a = np.abs(dx)
    tau = max(fi * t14, 1e-9)
    u = (0.5 * t14 - a) / tau
    ramp = (u > 0.0) & (u < 1.0)
    j = np.zeros((a.size, 5))
    j[:, 1] = -np.clip(u, 0.0, 1.0)
    j[:, 4] = 1.0
    if fi * t14 > 1e-9:
        j[ramp, 0] = -depth * np.sign(dx[ramp]) / tau
        j[ramp, 2] = -depth * a[ramp] / (fi * t14 * t14)
        j[ramp, 3] = depth * u[ramp] / max(fi, 1e-12)
    return j


def _grid_starts(x, y, s, duration, t14_hi, lo, hi):
    """Starting points for the trapezoid fit: the best grid models of a U and of a V shape.

    For a fixed centre, T14 and ingress fraction the trapezoid is linear in
    depth and baseline, so a grid over the three shape parameters, each
    point solved by weighted linear least squares, finds the basin of the
    best fit at once (all grid points in one array operation); the
    ingress fraction is the one parameter with two basins (box-like vs
    V-like), so the best of each half starts a polish.
    """
    tcs = np.linspace(-0.15, 0.15, 5) * duration
    t14s = np.geomspace(max(lo[2], 0.5 * duration), t14_hi, 14)
    fis = np.array([0.02, 0.08, 0.15, 0.22, 0.3, 0.38, 0.45, 0.5])
    w = 1.0 / s**2
    a = np.abs(x[None, :] - tcs[:, None])  # (tc, n)
    half = 0.5 * t14s[None, :, None, None]
    tau = np.maximum(fis[None, None, :, None] * t14s[None, :, None, None], 1e-9)
    g = np.clip((half - a[:, None, None, :]) / tau, 0.0, 1.0)  # (tc, T, f, n): depth's template
    sw, sy = w.sum(), (w * y).sum()
    sg, sgg, sgy = (g * w).sum(-1), (g * g * w).sum(-1), (g * (w * y)).sum(-1)
    det = sw * sgg - sg * sg
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = (sg * sy - sw * sgy) / det  # model = b - depth * g
        base = (sy + depth * sg) / sw
        chi2 = (w * y * y).sum() - 2 * (base * sy - depth * sgy) + base**2 * sw - 2 * base * depth * sg \
            + depth**2 * sgg
    chi2 = np.where(np.isfinite(chi2) & (depth > lo[1]) & (depth < hi[1]), chi2, np.inf)
    starts = []
    for half_f in (fis < 0.25, fis >= 0.25):
        c = np.where(half_f[None, None, :], chi2, np.inf)
        i = np.unravel_index(int(np.argmin(c)), c.shape)
        if np.isfinite(c[i]):
            starts.append(np.clip([tcs[i[0]], depth[i], t14s[i[1]], fis[i[2]], base[i]], lo, hi))
    if not starts:  # no positive depth anywhere on the grid: start from the box search's numbers
        starts.append(np.clip([0.0, 0.5 * (lo[1] + hi[1]) * 1e-3, duration, 0.05, 0.5 * (lo[4] + hi[4])], lo, hi))
    return starts


def transit_shape(
    time,
    flux,
    flux_err,
    period: float,
    t0: float,
    duration: float,
    *,
    window: float = 2.0,
    v_threshold: float = 0.4,
    n_model: int = 400,
) -> VetResult:
    """Fit a trapezoid to the phase-folded transit (V- vs U-shape test).

    A planet much smaller than its star has short ingress/egress compared
    with the total duration (flat-bottomed "U"), unless grazing; the eclipse
    of two comparable stars is V-shaped (ingress fraction -> 0.5).  The
    trapezoid (Seager & Mallen-Ornelas 2003, Fig. 1) has parameters centre
    offset, depth, total duration T14, ingress fraction tau/T14 and baseline,
    fitted by :func:`scipy.optimize.least_squares` (bounded, started from
    the best box-like and V-like models of a grid, see :func:`_grid_starts`)
    to points within ``window`` durations of the centre.  Parameter errors
    come from the Jacobian, scaled by the reduced chi-square when it
    exceeds 1.  The T14 error is at least the Fisher bound of Carter et al.
    (2008, ApJ 689, 499, eq. 23), ``sqrt(8 T tau) / Q`` (``Q`` the fitted
    depth significance), with the ingress ``tau`` no shorter than one
    cadence: the Jacobian of a sharp (box-like) trapezoid vanishes between
    samples and would claim a T14 known to zero, while the data locate an
    edge no better than the exposure that smears it.  The V-shape idea follows the Robovetter
    (Thompson et al. 2018, sec. A.4.1; Coughlin et al. 2016) and the
    local-view shape used by Shallue & Vanderburg (2018).

    Parameters
    ----------
    time, flux, flux_err : array_like
        Times (days), detrended normalised flux, errors (or ``None``).
    period, t0, duration : float
        Ephemeris (days); ``duration`` is the search's box width, used as
        the initial T14.
    window : float
        Half-width of the fitted region in durations (capped at P/2).
    v_threshold : float
        Ingress fraction above which the transit is called V-shaped (the flag
        also needs ``ingress_fraction - error >= v_threshold - 0.1`` so that
        an unconstrained fit of a shallow signal is not called V).
    n_model : int
        Points of the returned model curve.

    Returns
    -------
    VetResult
        ``depth``, ``depth_err`` (fractional), ``total_duration``,
        ``total_duration_err`` (days), ``ingress_fraction``,
        ``ingress_fraction_err``, ``tc_offset`` (days), ``baseline``,
        ``chi2_red``; ``value``: V-shape metric = ingress_fraction / 0.5
        (0 = box, 1 = V); ``significance``: depth / depth_err;
        ``shape`` ("V" or "U"); ``flag`` (V-shaped); ``model_phase`` (days),
        ``model_flux``.  NaNs with ``reason`` when too few points.

    Raises
    ------
    InputError
        Bad arrays or ephemeris.
    """
    period, t0, duration = check_ephemeris(period, t0, duration)
    t, f, e = prepare(time, flux, flux_err)
    dt = np.diff(np.sort(t))
    cadence = float(np.median(dt[dt > 0])) if np.any(dt > 0) else 0.0
    ph = phase_days(t, period, t0)
    half_win = min(window * duration, 0.5 * period)
    m = np.abs(ph) < half_win
    x, y, s = ph[m], f[m], e[m]
    nan = float("nan")
    res = VetResult(
        test="transit_shape",
        measured="trapezoid fit to the folded transit",
        depth=nan, depth_err=nan, total_duration=nan, total_duration_err=nan,
        ingress_fraction=nan, ingress_fraction_err=nan, tc_offset=nan, baseline=nan,
        chi2_red=nan, value=nan, significance=nan, shape=None, flag=False, reason=None,
        model_phase=np.array([]), model_flux=np.array([]),
    )
    n_in = int(np.sum(np.abs(x) < 0.5 * duration))
    if n_in < 5 or x.size < 12:
        res["reason"] = f"too few points in and around transit ({n_in} in transit, {x.size} in window)"
        return res
    outside = np.abs(x) > 0.75 * duration
    base0 = float(np.median(y[outside])) if outside.sum() >= 3 else float(np.median(y))
    core = np.abs(x) < 0.25 * duration
    depth0 = base0 - float(np.median(y[core])) if core.sum() >= 3 else base0 - float(np.min(y))
    noise = float(np.median(s))
    depth0 = max(depth0, noise / math.sqrt(max(n_in, 1)), 1e-6)

    # Many folded points (short periods, long baselines): fit inverse-variance
    # weighted means in phase bins of duration / 50 instead.  For white noise
    # the binned chi^2 differs from the unbinned one by a constant, so the best
    # fit and the Jacobian errors are the same to within the bin width, which
    # is far below any ingress the data can resolve; chi^2_red is still
    # computed from the unbinned points below.
    xf, yf, sf = x, y, s
    n_bins = int(np.ceil(2.0 * half_win / (duration / 50.0)))
    if x.size > 3 * n_bins:
        idx = np.minimum(((x + half_win) / (2.0 * half_win) * n_bins).astype(np.int64), n_bins - 1)
        w = 1.0 / s**2
        sw = np.bincount(idx, w, n_bins)
        keep = sw > 0
        xf = (np.bincount(idx, w * x, n_bins)[keep]) / sw[keep]
        yf = (np.bincount(idx, w * y, n_bins)[keep]) / sw[keep]
        sf = 1.0 / np.sqrt(sw[keep])

    def resid(p):
        return (trapezoid_model(xf, p[0], p[1], p[2], p[3], p[4]) - yf) / sf

    inv_s = 1.0 / sf

    def jac(p):
        return _trapezoid_jacobian(xf, p) * inv_s[:, None]

    t14_hi = min(3.0 * duration, 2.0 * half_win)
    lo = [-0.5 * duration, 0.0, 0.2 * duration, 0.0, base0 - 10 * depth0 - 1.0]
    hi = [0.5 * duration, 1.0, t14_hi, 0.5, base0 + 10 * depth0 + 1.0]
    best = None
    for p0 in _grid_starts(xf, yf, sf, duration, t14_hi, lo, hi):
        try:
            r = least_squares(resid, p0, jac=jac, bounds=(lo, hi), x_scale="jac", max_nfev=400)
        except (ValueError, np.linalg.LinAlgError) as exc:
            log.debug("transit_shape: start %s failed: %s", p0, exc)
            continue
        if best is None or r.cost < best.cost:
            best = r
    if best is None:
        res["reason"] = "trapezoid fit failed from every start"
        return res
    p = best.x
    dof = max(x.size - 5, 1)
    chi2_red = float(np.sum(((trapezoid_model(x, *p) - y) / s) ** 2)) / dof
    jtj = best.jac.T @ best.jac
    cov = np.linalg.pinv(jtj) * max(1.0, chi2_red)
    perr = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    fi, fi_err = float(p[3]), float(perr[3])
    t14_err = float(perr[2])
    q = p[1] / perr[1] if perr[1] > 0 else nan
    if math.isfinite(q) and q > 0:
        tau = max(fi * p[2], cadence)
        t14_err = max(t14_err, math.sqrt(8.0 * max(p[2] - tau, tau) * tau) / q)
    is_v = bool(fi >= v_threshold and fi - fi_err >= v_threshold - 0.1 and p[1] > 0)
    grid = np.linspace(-half_win, half_win, int(n_model))
    res.update(
        depth=float(p[1]), depth_err=float(perr[1]),
        total_duration=float(p[2]), total_duration_err=t14_err,
        ingress_fraction=fi, ingress_fraction_err=fi_err,
        tc_offset=float(p[0]), baseline=float(p[4]), chi2_red=float(chi2_red),
        value=fi / 0.5,
        significance=float(p[1] / perr[1]) if perr[1] > 0 else nan,
        shape="V" if is_v else "U",
        flag=is_v,
        model_phase=grid,
        model_flux=trapezoid_model(grid, *p),
    )
    return res
