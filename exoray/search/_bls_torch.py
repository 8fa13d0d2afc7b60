"""Batched box-least-squares kernel in torch (CPU or CUDA).

This module only sees clean, padded arrays; validation, units and result
objects live in :mod:`exoray.search.bls`.  The discretisation is documented in
:mod:`exoray.search._bls_reference`, which the tests check this kernel
against.

Algorithm (per chunk of trial periods, for every light curve of the batch at
once):

1. fold: phase bin of each point, ``floor(frac(t * (1/P)) * (P/delta))``;
2. bin: ``scatter_add`` of the weighted, mean-subtracted flux ``w (y - ybar)``
   and of the weights ``w`` into ``floor(P/delta) + 1`` phase bins;
3. wrap and integrate: the bins are extended periodically by the longest box
   and turned into cumulative sums, so every box (start bin ``j``, length
   ``d``) is one difference ``C[j + d] - C[j]``;
4. score every box of every duration with a monotone form of the objective
   and keep the best box per period (``argmin`` over durations x phases);
5. compute depth, its error, SNR and log-likelihood of the winning boxes in
   float64 from their sums.

With the mean-subtracted flux (sum over all points ``= 0``) the in-transit sum
``Y`` and weight ``W`` of a box give (``S`` the total weight)::

    depth     = y_out - y_in = -Y S / (W (S - W))
    depth_err = sqrt(1/W + 1/(S - W)) = sqrt(S / (W (S - W)))
    snr       = -Y / sqrt(W (S - W) / S)
    log_like  = 0.5 W depth**2 = 0.5 S**2 (Y / (sqrt(W) (S - W)))**2

so the "snr" objective ranks boxes by ``z = Y / sqrt(W (S - W))`` and
"likelihood" by ``z = Y / (sqrt(W) (S - W))``; the best box has the most
negative ``z`` (a dip).  Weights are normalised to a mean of one inside the
kernel (so float32 sums stay accurate) and the scale is put back at the end.

References
----------
Kovacs, G., Zucker, S. & Mazeh, T. 2002, A&A 391, 369 (BLS).
astropy ``timeseries/periodograms/bls/bls.c`` (binned cumulative-sum search).
"""

from __future__ import annotations

import logging
from typing import Dict, Optional

import numpy as np
import torch

__all__ = ["bls_kernel", "OBJECTIVES"]

log = logging.getLogger(__name__)

OBJECTIVES = ("snr", "likelihood")

_NP_DTYPE = {torch.float32: np.float32, torch.float64: np.float64}


def _chunks(n_periods: int, n_batch: int, n_points: int, n_dur: int, nbins: np.ndarray, dmax: np.ndarray,
            max_elements: int, work: Optional[np.ndarray] = None):
    """Yield (start, stop) of period chunks whose work arrays fit the budget."""
    start = 0
    while start < n_periods:
        stop = start
        nb_max = 0
        d_max = 0
        while stop < n_periods:
            nb_new = max(nb_max, int(nbins[stop]))
            d_new = max(d_max, int(dmax[stop]))
            c = stop - start + 1
            per = n_points if work is None else int(work[start:stop + 1].max())
            size = n_batch * c * max(per, n_dur * nb_new, nb_new + d_new + 1)
            if size > max_elements and stop > start:
                break
            nb_max, d_max = nb_new, d_new
            stop += 1
        yield start, stop
        start = stop


_WIDE = {torch.float32: torch.float64, torch.float64: torch.complex128}
#: Grid binning is skipped when its tables would exceed this many buckets per cadence.
_GRID_MAX_BUCKETS_PER_POINT = 16


class _GridTables:
    """Exact phase binning from time-grid tables (one bin width ``delta``).

    The time axis is cut into buckets of width ``g = delta / K``, with ``K``
    chosen so that no bucket holds more than one cadence.  Per bucket ``m``
    the tables hold ``C[m]`` (sums of ``w y`` and ``w`` over cadences before
    the bucket), ``V[m]`` (the cadence in the bucket, 0 if none) and ``O[m]``
    (its position in the bucket in units of ``g``; 2 if none).  A bin edge
    at time ``e`` falls in bucket ``m = floor(e / g)`` at position
    ``rho = e / g - m``, and the sums over all cadences before it are
    ``C[m] + [O[m] < rho] V[m]``.  For period ``P`` the edges of cycle ``c``
    are ``c P + j delta`` (``j = 0 .. n_bins - 1``), i.e. buckets
    ``m0_c + j K`` with one ``rho_c`` per cycle; stored transposed
    (``[m mod K, m div K]``) each cycle's edges are one contiguous row, which
    is gathered whole.  Summing the edge sums over cycles and subtracting the
    ``j = 0`` column gives the cumulative phase-bin sums directly: work per
    period ~ baseline / delta instead of the number of cadences, no scatter.
    ``C`` has a linear trend ``r m`` removed (added back exactly) to keep
    float32 sums accurate.

    :meth:`build` returns ``None`` when the tables cannot represent the
    inputs, and, with ``only_if_cheaper`` (the ``"auto"`` binning), also when
    scattering the cadences would cost less; ``binning="grid"`` asks for the
    tables whatever they cost.
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    @classmethod
    def build(cls, t_rel, wyn, wn, n_real, deltas, nbins, dtype, device, only_if_cheaper: bool = True):
        deltas = np.asarray(deltas, dtype=np.float64)
        if not np.all(deltas == deltas[0]):
            return None
        delta = float(deltas[0])
        n_batch = t_rel.shape[0]
        k = 1
        for b in range(n_batch):
            t = t_rel[b, : n_real[b]]
            dt = np.diff(t)
            if dt.size and dt.min() <= 0:
                return None
            if dt.size:
                k = max(k, int(np.ceil(delta / dt.min())))
        t_max = max(float(t_rel[b, : n_real[b]].max()) for b in range(n_batch))
        for _ in range(3):  # make sure no bucket holds two cadences (round-off)
            g = delta / k
            ok = all(np.all(np.diff(np.floor(t_rel[b, : n_real[b]] / g)) > 0) for b in range(n_batch))
            if ok:
                break
            k += 1
        else:
            return None
        m_real = int(np.floor(t_max / g)) + 1
        if m_real > _GRID_MAX_BUCKETS_PER_POINT * max(int(n_real.max()), 1) + 1024:
            return None
        # The tables cost one gather per bin width of the whole span and
        # period; folding the cadences costs one per cadence.  Light curves
        # with long gaps (sectors stitched months apart) fold faster.
        if only_if_cheaper and t_max / delta > float(n_real.max()):
            return None
        nbw_max = int(nbins.max())
        q_tail = -(-m_real // k) + 1
        n_q = q_tail + nbw_max + 1
        n_m = k * n_q
        npdt = _NP_DTYPE[dtype]
        c_tab = np.zeros((n_batch, n_m, 2))
        v_tab = np.zeros((n_batch, n_m, 2))
        o_tab = np.full((n_batch, n_m), 2.0)
        rate = np.zeros((n_batch, 2))
        tot = np.zeros((n_batch, 2))
        m_idx = np.arange(n_m)
        for b in range(n_batch):
            n = n_real[b]
            u = t_rel[b, :n] / g
            mb = np.floor(u).astype(np.int64)
            vals = np.stack([wyn[b, :n], wn[b, :n]], axis=1)
            v_tab[b, mb] = vals
            o_tab[b, mb] = u - mb
            per_bucket = np.zeros((n_m, 2))
            per_bucket[mb] = vals
            c_tab[b, 1:] = np.cumsum(per_bucket, axis=0)[:-1]
            tot[b] = vals.sum(axis=0)
            rate[b] = tot[b] / m_real
            c_tab[b] -= rate[b][None, :] * m_idx[:, None]

        def planes(x):  # [b, m, plane] -> [b, plane, m mod K, m div K], flattened
            x = x.reshape(n_batch, n_q, k, x.shape[2]).transpose(0, 3, 2, 1)
            return np.ascontiguousarray(x.astype(npdt)).reshape(-1)

        dev_kw = dict(device=device)
        # plane 0: C_y, 1: C_w, 2: O (so one row gather serves all three)
        c_t = torch.as_tensor(planes(np.concatenate([c_tab, o_tab[:, :, None]], axis=2)), **dev_kw)
        v_t = torch.as_tensor(planes(v_tab), **dev_kw)
        return cls(k=k, g=g, delta=delta, t_max=t_max, n_q=n_q, n_m=n_m, q_tail=q_tail, n_batch=n_batch,
                   c_t=c_t, v_t=v_t, rate=rate, tot=tot, dtype=dtype, device=device, npdt=npdt)

    def n_cycles(self, periods):
        return np.floor(self.t_max / np.asarray(periods, dtype=np.float64)).astype(np.int64) + 1

    def work_per_period(self, periods, nbins):
        """Elements of the gathered edge arrays per period and light curve."""
        return self.n_cycles(periods) * np.asarray(nbins) * 3

    def cumsums(self, periods, nb_c, length):
        """Cumulative phase-bin sums ``(cum_y, cum_w)``, each (c, B, length + 1).

        Index ``i`` holds the sum over bins ``0 .. i - 1`` of the periodic
        extension (bin ``i`` is bin ``i mod n_bins``).
        """
        c = periods.size
        nb_max = int(nb_c.max())
        nbw = nb_max
        k, n_q, n_m, n_batch = self.k, self.n_q, self.n_m, self.n_batch
        dev_kw = dict(device=self.device)
        n_cyc = self.n_cycles(periods)
        nc_max = int(n_cyc.max())
        cyc = np.arange(nc_max)
        x = cyc[None, :] * (periods[:, None] / self.g)  # (c, nc) edge of each cycle in buckets
        m0 = np.floor(x)
        rho = x - m0
        m0 = m0.astype(np.int64)
        real = cyc[None, :] < n_cyc[:, None]
        m0 = np.where(real, m0, k * self.q_tail)
        rho = np.where(real, rho, 0.0)
        rows = (m0 % k) * n_q + m0 // k  # row start in one plane of the transposed table
        base = np.arange(n_batch)[:, None] * n_m
        rows3 = rows[:, None, None, :] + (3 * base + np.arange(3)[None, :] * n_m)[None, :, :, None]
        rows2 = rows[:, None, None, :] + (2 * base + np.arange(2)[None, :] * n_m)[None, :, :, None]
        cw = self.c_t.unfold(0, nbw, 1).index_select(0, torch.as_tensor(rows3.reshape(-1), **dev_kw))
        vw = self.v_t.unfold(0, nbw, 1).index_select(0, torch.as_tensor(rows2.reshape(-1), **dev_kw))
        cw = cw.view(c, n_batch, 3, nc_max, nbw)
        vw = vw.view(c, n_batch, 2, nc_max, nbw)
        rho_t = torch.as_tensor(rho.astype(self.npdt), **dev_kw).view(c, 1, 1, nc_max, 1)
        h = torch.sub(rho_t, cw[:, :, 2:]).ceil_().clamp_(min=0)  # 1 where the bucket's cadence precedes the edge
        cs = cw[:, :, :2]
        cs.addcmul_(h, vw)
        acc = cs.sum(dim=3).transpose(2, 3)  # (c, B, nbw, 2)
        del cw, vw, cs, h
        acc -= acc[:, :, :1, :].clone()
        # trend put back: every cycle's edge j sits j K buckets after its edge 0
        jk = torch.arange(nbw, **dev_kw, dtype=self.dtype) * float(k * nc_max)
        rate_t = torch.as_tensor(self.rate.astype(self.npdt), **dev_kw)  # (B, 2)
        acc += jk.view(1, 1, nbw, 1) * rate_t.view(1, n_batch, 1, 2)
        # periodic extension: cum[i] = cum[i mod nb] + (i div nb) * total
        nb_t = torch.as_tensor(nb_c, **dev_kw).view(c, 1)
        i = torch.arange(length + 1, **dev_kw).view(1, -1)
        wrap = (i % nb_t).unsqueeze(1).expand(c, n_batch, length + 1)
        turns = (i // nb_t).to(self.dtype).unsqueeze(1)  # (c, 1, L+1)
        tot_t = torch.as_tensor(self.tot.astype(self.npdt), **dev_kw)  # (B, 2)
        cum_y = acc[..., 0].gather(2, wrap).addcmul_(turns, tot_t[:, 0].view(1, n_batch, 1))
        cum_w = acc[..., 1].gather(2, wrap).addcmul_(turns, tot_t[:, 1].view(1, n_batch, 1))
        return cum_y, cum_w



@torch.no_grad()
def bls_kernel(
    t_rel: np.ndarray,
    wy: np.ndarray,
    w: np.ndarray,
    periods: np.ndarray,
    deltas: np.ndarray,
    dbins: np.ndarray,
    *,
    objective: str = "snr",
    dtype: torch.dtype = torch.float32,
    device: torch.device = torch.device("cpu"),
    max_elements: Optional[int] = None,
    binning: str = "auto",
    noise_scale: Optional[np.ndarray] = None,
    min_points: Optional[np.ndarray] = None,
) -> Dict[str, np.ndarray]:
    """BLS periodogram of a padded batch of light curves.

    Parameters
    ----------
    t_rel : ndarray of float64, shape (B, N)
        Time minus each light curve's reference time (days, >= 0); padding 0.
    wy : ndarray of float64, shape (B, N)
        ``w * (y - ybar)`` with ``ybar`` the weighted mean flux; padding 0.
    w : ndarray of float64, shape (B, N)
        Inverse-variance weights (flux units**-2); padding 0.
    periods, deltas : ndarray of float64, shape (P,)
        Trial periods and phase bin widths (days).
    dbins : ndarray of int, shape (P, D)
        Box lengths in bins, >= 1.
    objective : {"snr", "likelihood"}
    dtype : torch.float32 or torch.float64
        Working precision of folding, binning and scoring.  The winning boxes
        are always re-evaluated in float64.
    device : torch.device
    max_elements : int, optional
        Upper bound on the elements of one work array (memory control);
        default 2**26 on CUDA, and on CPU 2**20 (grid binning) or 2**22 (scatter).
    binning : {"auto", "grid", "scatter"}
        How the phase bins are summed: ``"grid"`` (time-grid tables and
        cumulative sums, see :class:`_GridTables`; needs one bin width for all
        periods), ``"scatter"`` (fold every point, ``scatter_add``) or
        ``"auto"`` (grid when possible).  Both give the same bins.
    noise_scale : ndarray, shape (B, P, D), optional
        Factor by which the white-noise error of a box of each (light curve,
        period, duration) is inflated (red noise measured on that time
        scale, see :func:`exoray.search.noise.box_noise_factor`): the box's
        ``z`` (and so its SNR) is divided by it, and ``depth_err``
        multiplied.  ``None``: 1 (white noise).
    min_points : ndarray, shape (B, P, D), optional
        Smallest in-box weight, in units of the light curve's mean weight per
        cadence (i.e. cadences), for a box to count; boxes with less data
        score 0 (no dip).  With ``1.5 x`` the cadences of one full transit it
        demands data from at least two transits.  ``None``: any box with
        data.

    Returns
    -------
    dict of ndarray, each shape (B, P)
        ``power``, ``depth``, ``depth_err``, ``snr``, ``log_likelihood``,
        ``duration`` (days), ``phase`` (mid-transit time minus reference
        time, days, in [0, P)), ``bin_start``, ``dbin``, ``kbest`` (the
        winning duration's column in ``dbins``), ``w_in`` (in-box weight in
        mean-weight cadences).
    """
    if objective not in OBJECTIVES:
        raise ValueError(objective)
    n_batch, n_points = t_rel.shape
    n_periods, n_dur = dbins.shape
    max_elements_given = max_elements
    if max_elements is None:
        max_elements = 2**26 if device.type == "cuda" else 2**22
    npdt = _NP_DTYPE[dtype]

    # Normalise weights to mean 1 over real points (scale restored at the end).
    n_real = np.maximum((w > 0).sum(axis=1), 1)
    wscale = w.sum(axis=1) / n_real  # (B,)
    wn = w / wscale[:, None]
    wyn = wy / wscale[:, None]
    s_w = wn.sum(axis=1)  # (B,) ~ n_real
    w_pos = np.where(wn > 0, wn, np.inf).min(axis=1)
    w_floor = 0.5 * w_pos  # less than one point: treat as empty

    dev_kw = dict(device=device)
    tt = torch.as_tensor(t_rel.astype(npdt), **dev_kw)
    ty = torch.as_tensor(wyn.astype(npdt), **dev_kw)
    tw = torch.as_tensor(wn.astype(npdt), **dev_kw)
    sw_t = torch.as_tensor(s_w.astype(npdt), **dev_kw)
    wf_t = torch.as_tensor(w_floor.astype(npdt), **dev_kw)
    den_floor = wf_t * sw_t

    inv_p = (1.0 / periods).astype(npdt)
    scale = (periods / deltas).astype(npdt)
    nbins = np.floor(scale.astype(np.float64)).astype(np.int64) + 1
    dbins = np.asarray(dbins, dtype=np.int64)
    dmax_p = dbins.max(axis=1)

    grid = None
    if binning in ("auto", "grid"):
        grid = _GridTables.build(t_rel, wyn, wn, n_real, deltas, nbins, dtype, device,
                                only_if_cheaper=binning == "auto")
        if grid is None and binning == "grid":
            raise ValueError("grid binning is not possible for these inputs (varying bin widths or "
                             "cadences much finer than the bin width)")
    elif binning != "scatter":
        raise ValueError(f"binning must be 'auto', 'grid' or 'scatter', got {binning!r}")

    # Work buffers, laid out (period, light curve, ...) so that slicing the
    # leading axis keeps them contiguous; allocated once per call.
    if grid is not None:
        if max_elements_given is None and device.type == "cpu":
            max_elements = 2**20  # measured: fits the caches better, still few chunks
        work = grid.work_per_period(periods, nbins)
        chunks = list(_chunks(n_periods, n_batch, 0, n_dur, nbins, dmax_p, max_elements, work=work))
    else:
        chunks = list(_chunks(n_periods, n_batch, n_points, n_dur, nbins, dmax_p, max_elements))
        c_max = max(b - a for a, b in chunks)
        u_buf = torch.empty((c_max, n_batch, n_points), dtype=dtype, **dev_kw)
        i_buf = torch.empty((c_max, n_batch, n_points), dtype=torch.int64, **dev_kw)
        src_y = ty.unsqueeze(0).expand(c_max, n_batch, n_points).contiguous()
        src_w = tw.unsqueeze(0).expand(c_max, n_batch, n_points).contiguous()
    sw_t = sw_t.view(1, n_batch, 1)
    wf_t = wf_t.view(1, n_batch, 1)
    den_floor = den_floor.view(1, n_batch, 1)
    # per (period, light curve, duration) tables, laid out like the work buffers
    scale_t = minpts_t = None
    if noise_scale is not None:
        ns = np.broadcast_to(np.asarray(noise_scale, np.float64), (n_batch, n_periods, n_dur))
        scale_t = torch.as_tensor(np.ascontiguousarray(ns.transpose(1, 0, 2)).astype(npdt), **dev_kw)
    # (period, duration) columns that no light curve may use (an infinite
    # minimum) are skipped for every chunk where they are masked throughout
    masked_out = None
    if min_points is not None:
        mp = np.broadcast_to(np.asarray(min_points, np.float64), (n_batch, n_periods, n_dur))
        minpts_t = torch.as_tensor(np.ascontiguousarray(mp.transpose(1, 0, 2)).astype(npdt), **dev_kw)
        masked_out = np.isinf(mp).all(axis=0)  # (P, D)

    best_z, best_arg = [], []
    for a, b in chunks:
        c = b - a
        nb_c = nbins[a:b]
        nb_max = int(nb_c.max())
        d_c = dbins[a:b]
        d_max = int(d_c.max())
        length = nb_max + d_max
        nb_t = torch.as_tensor(nb_c, **dev_kw)

        if grid is not None:
            cum_y, cum_w = grid.cumsums(periods[a:b], nb_c, length)
        else:
            # 1. fold
            u = u_buf[:c]
            torch.mul(tt.unsqueeze(0), torch.as_tensor(inv_p[a:b], **dev_kw).view(c, 1, 1), out=u)
            u.frac_()
            u.mul_(torch.as_tensor(scale[a:b], **dev_kw).view(c, 1, 1))
            idx = i_buf[:c]
            idx.copy_(u)  # truncation == floor for u >= 0
            # 2. bin
            shape = (c, n_batch, nb_max)
            bin_y = torch.zeros(shape, dtype=dtype, **dev_kw).scatter_add_(2, idx, src_y[:c])
            bin_w = torch.zeros(shape, dtype=dtype, **dev_kw).scatter_add_(2, idx, src_w[:c])
            # 3. wrap periodically (bin i -> i mod n_bins of its row) and integrate
            wrap = (torch.arange(length, **dev_kw)[None, :] % nb_t[:, None]).unsqueeze(1).expand(c, n_batch, length)
            cum_y = torch.zeros((c, n_batch, length + 1), dtype=dtype, **dev_kw)
            cum_w = torch.zeros_like(cum_y)
            torch.cumsum(bin_y.gather(2, wrap), dim=2, out=cum_y[:, :, 1:])
            torch.cumsum(bin_w.gather(2, wrap), dim=2, out=cum_w[:, :, 1:])
            del bin_y, bin_w, wrap
        # 4. score every box
        uniform = bool(np.all(d_c == d_c[0:1]))
        cols = np.arange(n_dur) if masked_out is None else np.flatnonzero(~masked_out[a:b].all(axis=0))
        if cols.size == 0:
            cols = np.arange(1)  # nothing may be used: one column, masked below, keeps the shapes
        zbuf = torch.empty((c, n_batch, cols.size, nb_max), dtype=dtype, **dev_kw)
        y0 = cum_y[:, :, :nb_max]
        w0 = cum_w[:, :, :nb_max]
        ar = torch.arange(nb_max, **dev_kw)
        d_t = torch.as_tensor(d_c, **dev_kw)
        for slot, k in enumerate(cols.tolist()):
            if uniform:
                d = int(d_c[0, k])
                yk = cum_y[:, :, d : d + nb_max] - y0
                wk = cum_w[:, :, d : d + nb_max] - w0
            else:
                gi = (ar[None, :] + d_t[:, k : k + 1]).unsqueeze(1).expand(c, n_batch, nb_max)
                yk = cum_y.gather(2, gi) - y0
                wk = cum_w.gather(2, gi) - w0
            wout = sw_t - wk
            short = wk < minpts_t[a:b, :, k].unsqueeze(2) if minpts_t is not None else None
            if objective == "snr":
                den = torch.maximum(wk.mul_(wout), den_floor)
                torch.mul(yk, den.rsqrt_(), out=zbuf[:, :, slot])
            else:
                den = torch.maximum(wk, wf_t).rsqrt_()
                den.div_(torch.maximum(wout, wf_t))
                torch.mul(yk, den, out=zbuf[:, :, slot])
            if scale_t is not None:
                # both objectives rank by a z that scales as the box's SNR (the
                # likelihood gain is its square), so red noise divides z once
                zbuf[:, :, slot].div_(scale_t[a:b, :, k].unsqueeze(2))
            if short is not None:
                zbuf[:, :, slot].masked_fill_(short, 0.0)
        # best duration first (min without indices is fast), then the best
        # phase of that duration only; ties resolve as a flat argmin would
        zmin = zbuf.amin(dim=3)
        slot_best = zmin.argmin(dim=2)
        jbest = zbuf.gather(2, slot_best.view(c, n_batch, 1, 1).expand(c, n_batch, 1, nb_max)).squeeze(2).argmin(dim=2)
        del zbuf
        kbest = slot_best if cols.size == n_dur else torch.as_tensor(cols, **dev_kw)[slot_best]
        if cols.size < n_dur:
            # a skipped column scores 0 everywhere: it wins where no box dips
            # (as it would if it had been scored and masked)
            no_dip = zmin.gather(2, slot_best.unsqueeze(2)).squeeze(2) > 0
            k_skip = int(np.flatnonzero(~np.isin(np.arange(n_dur), cols))[0])
            kbest = torch.where(no_dip, torch.full_like(kbest, k_skip), kbest)
            jbest = torch.where(no_dip, torch.zeros_like(jbest), jbest)
        del zmin
        dbest = d_t.unsqueeze(1).expand(c, n_batch, n_dur).gather(2, kbest.unsqueeze(2)).squeeze(2)
        jbest = jbest % nb_t.view(c, 1)
        # 5. sums of the winning boxes
        j1 = jbest.unsqueeze(2)
        j2 = (jbest + dbest).unsqueeze(2)
        y_in = (cum_y.gather(2, j2) - cum_y.gather(2, j1)).squeeze(2).double()
        w_in = (cum_w.gather(2, j2) - cum_w.gather(2, j1)).squeeze(2).double()
        best_z.append(torch.stack([y_in, w_in], dim=0).transpose(1, 2))
        best_arg.append(torch.stack([jbest, dbest, kbest], dim=0).transpose(1, 2))
        del cum_y, cum_w

    yw = torch.cat(best_z, dim=2).cpu().numpy()  # (2, B, P)
    jd = torch.cat(best_arg, dim=2).cpu().numpy()
    y_in, w_in = yw[0], yw[1]
    jbest, dbest, kbest = jd[0], jd[1], jd[2]

    s = s_w[:, None]
    w_out = s - w_in
    ok = (w_in > w_floor[:, None]) & (w_out > w_floor[:, None])
    if min_points is not None:
        ok &= w_in >= np.take_along_axis(mp, kbest[:, :, None], axis=2)[:, :, 0]
    fac = np.ones_like(w_in) if noise_scale is None else np.take_along_axis(ns, kbest[:, :, None], axis=2)[:, :, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(ok, -y_in * s / (w_in * w_out), 0.0)
        var = (1.0 / w_in + 1.0 / w_out) / wscale[:, None] * fac**2
        depth_err = np.where(ok, np.sqrt(var), np.inf)
        snr = np.where(ok, depth / depth_err, 0.0)
        loglike = np.where(ok, 0.5 * w_in * wscale[:, None] * depth**2 / fac**2, 0.0)
    power = snr if objective == "snr" else np.where(depth > 0, loglike, 0.0)
    duration = dbest * deltas[None, :]
    phase = np.fmod((jbest + 0.5 * dbest) * deltas[None, :], periods[None, :])
    return {
        "power": power,
        "depth": depth,
        "depth_err": depth_err,
        "snr": snr,
        "log_likelihood": loglike,
        "duration": duration,
        "phase": phase,
        "bin_start": jbest,
        "dbin": dbest,
        "kbest": kbest,
        "w_in": np.where(ok, w_in, 0.0),
    }
