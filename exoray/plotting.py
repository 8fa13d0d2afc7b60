"""Drawing a light curve: the panels the vetting report and ``PreprocessedLightCurve.plot`` share.

The light-curve panels (normalised flux with its trend, detrended flux with
30-minute bins, predicted transits, momentum dumps, segment gaps) need only
the light curve, a candidate's ephemeris and optionally its vetting result
as a plain mapping.  They live on the ground floor so that the data class
can draw itself without importing the stages above it;
:mod:`exoray.reports.page` builds its page from these panels and the styling
below, plus its own vetting panels.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot,
no global rcParams changes), so drawing is safe in worker processes and threads.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping, Optional

import numpy as np
from matplotlib.figure import Figure
from matplotlib.gridspec import GridSpec
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from .errors import InputError

if TYPE_CHECKING:
    from .lightcurve import PreprocessedLightCurve

__all__ = ["lightcurve_figure", "PAGE_SIZE_IN"]

#: A4 landscape (297 x 210 mm), inches; prints on US letter scaled to the page.
PAGE_SIZE_IN = (11.7, 8.27)
_FS = 7.5  # base font size (points)
_C_DATA = "0.55"
_C_BIN = "k"
_C_TRANSIT = "#d62728"
_C_DUMP = "#ff7f0e"
_C_TREND = "#2ca02c"


# ---------------------------------------------------------------------------
# small helpers (also used by the report's other panels)


def _f(x) -> float:
    """``x`` as float, NaN for None / non-numbers."""
    if x is None:
        return float("nan")
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _ok(x) -> bool:
    return math.isfinite(_f(x))


def _first(mapping: Mapping[str, Any], *keys, scale: float = 1.0):
    """First finite value among ``keys`` of ``mapping`` (times ``scale``), else None."""
    for k in keys:
        v = mapping.get(k) if mapping is not None else None
        if _ok(v):
            return _f(v) * scale
    return None


def _bin(x: np.ndarray, y: np.ndarray, lo: float, hi: float, width: float):
    """Mean and error of the mean of ``y`` in bins of ``width`` over [lo, hi)."""
    nb = max(1, int(math.ceil((hi - lo) / width)))
    m = (x >= lo) & (x < hi) & np.isfinite(y)
    idx = np.clip(((x[m] - lo) / width).astype(np.int64), 0, nb - 1)
    n = np.bincount(idx, minlength=nb)
    s = np.bincount(idx, weights=y[m], minlength=nb)
    ss = np.bincount(idx, weights=y[m] * y[m], minlength=nb)
    good = n >= 2
    mean = s[good] / n[good]
    var = np.maximum(ss[good] / n[good] - mean * mean, 0.0)
    err = np.sqrt(var / np.maximum(n[good] - 1, 1))
    centers = lo + width * (np.nonzero(good)[0] + 0.5)
    return centers, mean, err


def _dump_events(times, gap: float = 0.1) -> np.ndarray:
    """Collapse flagged dump cadences into one time per desaturation event."""
    if times is None:
        return np.array([])
    t = np.sort(np.asarray(times, dtype=np.float64))
    t = t[np.isfinite(t)]
    if t.size == 0:
        return t
    breaks = np.nonzero(np.diff(t) > gap)[0] + 1
    return np.array([float(np.median(g)) for g in np.split(t, breaks)])


def _style(ax, title: Optional[str] = None) -> None:
    ax.tick_params(labelsize=_FS - 1, length=2.5, pad=1.5)
    if title:
        ax.set_title(title, fontsize=_FS + 0.5, pad=3, y=1.0)  # fixed y: no auto-placement pass


def _ylim_robust(ax, y, *, include=(), pad=0.15) -> None:
    y = np.asarray(y, dtype=np.float64)
    y = y[np.isfinite(y)]
    if y.size == 0:
        return
    lo, hi = np.percentile(y, [0.2, 99.8])
    for v in include:
        if _ok(v):
            lo, hi = min(lo, v), max(hi, v)
    span = hi - lo if hi > lo else max(abs(hi), 1e-6)
    ax.set_ylim(lo - pad * span, hi + pad * span)


# ---------------------------------------------------------------------------
# ephemeris


class _Ephem:
    def __init__(self, candidate: Mapping[str, Any], vet: Mapping[str, Any]):
        self.period = _first(candidate, "period", "period_days") or _f(vet.get("period"))
        self.t0 = _first(candidate, "t0", "t0_btjd")
        if self.t0 is None:
            self.t0 = _f(vet.get("t0"))
        dur = _first(candidate, "duration")
        if dur is None:
            dur = _first(candidate, "duration_hours", scale=1.0 / 24.0)
        self.duration = dur if dur is not None else _f(vet.get("duration"))
        depth = _first(candidate, "depth_ppm", scale=1e-6)
        self.depth = depth if depth is not None else _f(_first(candidate, "depth"))
        for name in ("period", "t0", "duration"):
            if not _ok(getattr(self, name)):
                raise InputError(f"candidate field '{name}' is missing or not finite")

    def transit_times(self, tmin: float, tmax: float) -> np.ndarray:
        n0 = math.floor((tmin - self.t0) / self.period)
        n1 = math.ceil((tmax - self.t0) / self.period)
        tc = self.t0 + self.period * np.arange(n0, n1 + 1)
        return tc[(tc >= tmin - 0.5 * self.duration) & (tc <= tmax + 0.5 * self.duration)]


# ---------------------------------------------------------------------------
# the light-curve panels


def _panel_lightcurves(ax_raw, ax_flat, lc, eph: Optional[_Ephem], vet, raw_flux) -> None:
    """The normalised and detrended light curves; ``eph`` None draws no transit marks."""
    vet = vet or {}
    t = lc.time
    seg = lc.segment
    tmin, tmax = float(t.min()), float(t.max())
    # Raw (normalised) flux with its trend, broken between segments.
    if raw_flux is not None:
        rt, rf = raw_flux
        ax_raw.scatter(rt, rf, s=0.6, c="#9ecae1", lw=0, rasterized=True)
    ax_raw.scatter(t, lc.flux, s=0.6, c=_C_DATA, lw=0, rasterized=True)
    brk = np.nonzero(np.diff(seg) != 0)[0] + 1
    tt = np.insert(t, brk, np.nan)
    ax_raw.plot(tt, np.insert(lc.trend, brk, np.nan), color=_C_TREND, lw=1.0)
    _ylim_robust(ax_raw, lc.flux, pad=0.25)

    ax_flat.scatter(t, lc.flux_flat, s=0.6, c=_C_DATA, lw=0, rasterized=True)
    cad = float(np.median(np.diff(t))) if t.size > 1 else 1.0 / 720
    bw = max(30.0 / 1440.0, cad)
    bc, bm, _ = _bin(t, lc.flux_flat, tmin, tmax + bw, bw)
    ax_flat.plot(bc, bm, ".", ms=1.8, color=_C_BIN, rasterized=True)
    depth = _f(vet.get("depth")) if _ok(vet.get("depth")) else (eph.depth if eph is not None else float("nan"))
    _ylim_robust(ax_flat, lc.flux_flat, include=(1.0 - 1.3 * depth,) if _ok(depth) else (), pad=0.2)

    # Gaps between segments, and segment labels.
    for ax in (ax_raw, ax_flat):
        for i in brk:
            ax.axvspan(t[i - 1], t[i], color="0.9", zorder=0, lw=0)
        ax.set_xlim(tmin - 0.01 * (tmax - tmin), tmax + 0.01 * (tmax - tmin))
    trans = blended_transform_factory(ax_raw.transData, ax_raw.transAxes)
    starts = np.concatenate([[0], brk])
    for k, i in enumerate(starts):
        ax_raw.text(t[i], 0.97, f" seg {int(seg[i])}", transform=trans, fontsize=_FS - 1.5,
                    va="top", ha="left", color="0.4")

    # Predicted transits: shaded in the detrended panel, ticks in both.
    tcs = eph.transit_times(tmin, tmax) if eph is not None else np.array([])
    se = vet.get("tests", {}).get("single_event", {})
    with_data = np.asarray(se.get("transit_times", []), dtype=np.float64)
    ses = np.asarray(se.get("ses", []), dtype=np.float64)
    if with_data.size == ses.size:  # one sector of a stitched light curve: its own transits only
        here = (with_data >= tmin - 1.0) & (with_data <= tmax + 1.0)
        with_data, ses = with_data[here], ses[here]
    if "single_event" in vet.get("tests", {}):
        has = np.array([with_data.size > 0 and np.min(np.abs(with_data - tc)) < 1e-6 for tc in tcs], dtype=bool)
    else:  # not vetted: which transits have data is unknown, so none is drawn as empty
        has = np.ones(tcs.size, dtype=bool)
    if tcs.size:
        if tcs.size <= 300:
            ax_flat.broken_barh([(tc - 0.5 * eph.duration, eph.duration) for tc in tcs], (0, 1),
                                transform=blended_transform_factory(ax_flat.transData, ax_flat.transAxes),
                                color=_C_TRANSIT, alpha=0.12, lw=0, zorder=0)
        for ax in (ax_raw, ax_flat):
            tr = blended_transform_factory(ax.transData, ax.transAxes)
            ax.scatter(tcs[has], np.full(has.sum(), 0.03), marker="^", s=16, c=_C_TRANSIT, transform=tr,
                       zorder=5, clip_on=False)
            if (~has).any():
                ax.scatter(tcs[~has], np.full((~has).sum(), 0.03), marker="^", s=16, facecolors="none",
                           edgecolors=_C_TRANSIT, transform=tr, zorder=5,
                           clip_on=False)
        if 0 < with_data.size <= 20:
            tr = blended_transform_factory(ax_flat.transData, ax_flat.transAxes)
            for tc, s in zip(with_data, ses):
                ax_flat.text(tc, 0.09, f"{s:.1f}σ", transform=tr, ha="center", va="bottom",
                             fontsize=_FS - 2, color=_C_TRANSIT)

    # Momentum dumps.
    dumps = _dump_events(lc.momentum_dump_times)
    dumps = dumps[(dumps >= tmin - 1) & (dumps <= tmax + 1)]
    if dumps.size:
        for ax in (ax_raw, ax_flat):
            ax.vlines(dumps, 0, 1, transform=blended_transform_factory(ax.transData, ax.transAxes),
                      colors=_C_DUMP, lw=0.7, linestyles=":", zorder=1)
    _style(ax_raw)
    _style(ax_flat)
    ax_raw.set_ylabel("norm. flux", fontsize=_FS)
    ax_flat.set_ylabel("detrended flux", fontsize=_FS)
    ax_flat.set_xlabel("time (BTJD)", fontsize=_FS, labelpad=1)
    ax_raw.tick_params(labelbottom=False)
    for ax in (ax_raw, ax_flat):
        ax.ticklabel_format(axis="y", useOffset=False)
    h_raw = [Line2D([], [], ls="", marker="o", ms=2.5, color=_C_DATA, label="normalised flux"),
             Line2D([], [], color=_C_TREND, lw=1.0, label="trend")]
    if raw_flux is not None:
        h_raw.insert(0, Line2D([], [], ls="", marker="o", ms=2.5, color="#9ecae1", label="raw cadences"))
    if dumps.size:
        h_raw.append(Line2D([], [], color=_C_DUMP, ls=":", lw=1.0, label="momentum dump"))
    h_flat = [Line2D([], [], ls="", marker="o", ms=2.5, color=_C_BIN, label="30-min bins")]
    if tcs.size:
        h_flat.append(Line2D([], [], ls="", marker="^", ms=4, color=_C_TRANSIT,
                             label="predicted transit (σ: SES)" if with_data.size else "predicted transit"))
    if (~has).any():
        h_flat.append(Line2D([], [], ls="", marker="^", ms=4, mfc="none", mec=_C_TRANSIT, label="no data"))
    for ax, h in ((ax_raw, h_raw), (ax_flat, h_flat)):
        leg = ax.legend(handles=h, loc="lower right", fontsize=_FS - 1.5, ncol=len(h), frameon=True,
                        framealpha=0.85, handlelength=1.4, borderpad=0.3, columnspacing=0.8)
        leg.set_zorder(10)


def lightcurve_figure(lc: PreprocessedLightCurve, candidate: Optional[Mapping[str, Any]] = None, *, vet=None,
                      figure: Optional[Figure] = None) -> Figure:
    """The report's light-curve panels (normalised flux + trend, detrended flux) as a ``Figure``.

    With a ``candidate`` its predicted transits are marked; ``vet`` adds the
    per-transit SNRs.  ``figure``: draw into this figure (cleared first).
    """
    if len(lc) < 3:
        raise InputError(f"{lc.source_path or 'light curve'}: too few cadences ({len(lc)}) to plot")
    fig = figure if figure is not None else Figure(figsize=(PAGE_SIZE_IN[0], 4.5), dpi=100)
    fig.clear()
    eph = _Ephem(candidate, vet or {}) if candidate is not None else None
    gs = GridSpec(2, 1, figure=fig, hspace=0.06, left=0.07, right=0.985, top=0.93, bottom=0.11)
    ax_raw = fig.add_subplot(gs[0])
    ax_flat = fig.add_subplot(gs[1], sharex=ax_raw)
    _panel_lightcurves(ax_raw, ax_flat, lc, eph, vet, None)
    label = getattr(lc, "label", f"TIC {lc.tic_id} s{lc.sector}")
    ax_raw.set_title(f"{label}: normalised flux + trend (top), detrended (bottom)", fontsize=_FS + 1.5, pad=3, y=1.0)
    return fig
