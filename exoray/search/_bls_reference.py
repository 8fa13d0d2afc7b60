"""Slow, obviously-correct box least squares, used to test the fast kernel.

Everything is explicit loops over periods, durations and trial phases; each
trial box selects its in-transit points directly and the fit is computed from
those points.  Only use it on small inputs (hundreds of points, tens of
periods).

The discretisation is the one the fast kernel uses (see
:func:`exoray.search._bls_torch.bls_kernel`):

* per period ``P`` the phase bin width is ``delta`` and the bin of a point is
  ``floor(frac((t - t_ref) * (1/P)) * (P/delta))``; there are
  ``floor(P/delta) + 1`` bins (the last one partial);
* a box of ``d`` bins starting at bin ``j`` holds the points whose bin ``k``
  satisfies ``(k - j) mod n_bins < d`` (wrap-around);
* its duration is ``d * delta`` and its mid-transit phase
  ``((j + d/2) * delta) mod P``.

For one box with in-transit weight ``W = sum(ivar_in)`` and weighted means
``y_in``, ``y_out``: ``depth = y_out - y_in``,
``depth_err = sqrt(1/W_in + 1/W_out)``, ``snr = depth / depth_err`` and
``log_likelihood = 0.5 * W_in * depth**2`` (astropy's convention).  Per period
the box maximising ``snr`` (objective ``"snr"``) or
``sign(depth) * log_likelihood`` (objective ``"likelihood"``) is kept.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bls_reference"]


def bls_reference(t, y, ivar, periods, deltas, dbins, objective="snr", noise_scale=None, min_points=None):
    """Reference BLS periodogram of one light curve.

    Parameters
    ----------
    t, y, ivar : ndarray, shape (n,)
        Time (days), flux and inverse variance (weights); all finite.
    periods : ndarray, shape (n_periods,)
        Trial periods (days).
    deltas : ndarray, shape (n_periods,)
        Phase bin width per period (days).
    dbins : ndarray of int, shape (n_periods, n_durations)
        Box lengths in bins per period.
    objective : {"snr", "likelihood"}
    noise_scale : ndarray, shape (n_periods, n_durations), optional
        Factor inflating each box's white-noise error (red noise): ``snr``
        is divided by it, ``depth_err`` multiplied, ``log_likelihood``
        divided by its square.
    min_points : ndarray, shape (n_periods, n_durations), optional
        Smallest in-box weight, in cadences of mean weight; boxes with less
        score 0.

    Returns
    -------
    dict of ndarray, each shape (n_periods,)
        ``power``, ``depth``, ``depth_err``, ``snr``, ``log_likelihood``,
        ``duration`` (days), ``t0`` (days, first mid-transit at or after
        ``min(t)``), ``bin_start`` and ``dbin`` (the winning box).
    """
    t = np.asarray(t, np.float64)
    y = np.asarray(y, np.float64)
    w = np.asarray(ivar, np.float64)
    t_ref = t.min()
    t_rel = t - t_ref
    n_p = len(periods)
    out = {k: np.zeros(n_p) for k in ("power", "depth", "depth_err", "snr", "log_likelihood", "duration", "t0")}
    out["bin_start"] = np.zeros(n_p, np.int64)
    out["dbin"] = np.zeros(n_p, np.int64)
    n_dur = np.shape(dbins)[1]
    nscale = np.ones((n_p, n_dur)) if noise_scale is None else np.broadcast_to(noise_scale, (n_p, n_dur))
    minpts = np.zeros((n_p, n_dur)) if min_points is None else np.broadcast_to(min_points, (n_p, n_dur))
    w_mean = w.mean()
    for ip in range(n_p):
        period = float(periods[ip])
        delta = float(deltas[ip])
        inv_p = 1.0 / period
        scale = period / delta
        n_bins = int(np.floor(scale)) + 1
        u = t_rel * inv_p
        frac = u - np.floor(u)
        k = np.trunc(frac * scale).astype(np.int64)
        best = (-np.inf, 0, 0, 0)
        for kd, d in enumerate(dbins[ip]):
            d = int(d)
            for j in range(n_bins):
                m_in = ((k - j) % n_bins) < d
                w_in = w[m_in].sum()
                w_out = w[~m_in].sum()
                if w_in <= 0 or w_out <= 0 or w_in / w_mean < minpts[ip, kd]:
                    score = 0.0
                else:
                    y_in = (w[m_in] * y[m_in]).sum() / w_in
                    y_out = (w[~m_in] * y[~m_in]).sum() / w_out
                    depth = y_out - y_in
                    f = nscale[ip, kd]
                    if objective == "snr":
                        score = depth / np.sqrt(1.0 / w_in + 1.0 / w_out) / f
                    else:
                        score = np.sign(depth) * 0.5 * w_in * depth * depth / f**2
                        # the kernel ranks likelihood boxes by a z ~ sqrt(gain): same order
                if score > best[0]:
                    best = (score, d, j, kd)
        _, d, j, kd = best
        m_in = ((k - j) % n_bins) < d
        w_in = w[m_in].sum()
        w_out = w[~m_in].sum()
        if w_in <= 0 or w_out <= 0 or w_in / w_mean < minpts[ip, kd]:
            out["depth_err"][ip] = np.inf
            out["duration"][ip] = d * delta
            out["t0"][ip] = t_ref + np.fmod((j + 0.5 * d) * delta, period)
            out["bin_start"][ip] = j
            out["dbin"][ip] = d
            continue
        y_in = (w[m_in] * y[m_in]).sum() / w_in
        y_out = (w[~m_in] * y[~m_in]).sum() / w_out
        depth = y_out - y_in
        f = nscale[ip, kd]
        err = np.sqrt(1.0 / w_in + 1.0 / w_out) * f
        out["depth"][ip] = depth
        out["depth_err"][ip] = err
        out["snr"][ip] = depth / err
        out["log_likelihood"][ip] = 0.5 * w_in * depth * depth / f**2
        out["power"][ip] = out["snr"][ip] if objective == "snr" else out["log_likelihood"][ip] * (depth > 0)
        out["duration"][ip] = d * delta
        out["t0"][ip] = t_ref + np.fmod((j + 0.5 * d) * delta, period)
        out["bin_start"][ip] = j
        out["dbin"][ip] = d
    return out
