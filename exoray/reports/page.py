"""The one-page vetting report of a transit candidate, drawn on a matplotlib ``Figure``.

The page (A4 landscape) holds:

1. the normalised light curve with its fitted trend, and the detrended
   (``flux_flat``) light curve, with every predicted transit, momentum dumps
   and the gaps between segments marked;
2. the BLS periodogram with P, P/2 and 2P marked (when a ``bls_result`` is
   given; otherwise the per-transit SNRs of the single-event test);
3. the transit folded on the ephemeris, binned, with the trapezoid fitted by
   :func:`exoray.vet.shape.transit_shape`;
4. odd and even transits side by side with their depths and the odd/even
   significance (:func:`exoray.vet.odd_even.odd_even_test`);
5. the fold around phase 0.5 and the secondary-eclipse phase scan
   (:func:`exoray.vet.secondary_eclipse.secondary_eclipse_test`);
6. the AstroNet local (201 bins) and global (2001 bins) views
   (:mod:`exoray.preprocess.views`);
7. a table of the statistics, the vetting flags and the reasons of the
   disposition.

Every statistic comes from :func:`exoray.vet.disposition.vet_candidate` (run
here when no ``vet`` result is passed); this module only draws.  Figures are
built with :class:`matplotlib.figure.Figure` directly (no pyplot, no global
rcParams changes), so it is safe in worker processes and threads.

Units on the page: time in BTJD (days), durations in hours, depths in ppm
(in percent on the flux axes of events deeper than 1%, where ppm ticks would
run to six digits), phase-folded time in hours from mid-transit.  The header
names the star (its ``OBJECT`` when that is more than the TIC, and its TOI
numbers from the known-object catalogue) and its Tmag, Teff and radius.

:func:`report_figure` returns the whole page (for notebooks),
:func:`fold_figure` the phase-fold panel alone and :func:`lightcurve_figure`
the light-curve panels alone; :mod:`exoray.reports.writer` saves the page
as PNG and PDF files.  A new panel is a ``_panel_*`` function here, given
its place in the page's grid in :func:`_draw`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import textwrap
import warnings
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.gridspec import GridSpec
from matplotlib.transforms import blended_transform_factory

from ..errors import ConfigError, InputError
from ..lightcurve import PreprocessedLightCurve
# The light-curve panels and the styling every panel shares are drawn by the
# ground-floor plotting module, which PreprocessedLightCurve.plot uses too.
from ..plotting import (
    _C_BIN,
    _C_DATA,
    _C_DUMP,
    _C_TRANSIT,
    _FS,
    PAGE_SIZE_IN,
    _bin,
    _Ephem,
    _f,
    _first,
    _ok,
    _panel_lightcurves,
    _style,
    _ylim_robust,
    lightcurve_figure,
)
from ..preprocess.stitch import split_sectors
from ..preprocess.views import global_view, local_view
from ..vet._common import epoch_index, phase_days
from ..vet.disposition import vet_candidate
from ..vet.known_objects import known_tois, load_catalogs

__all__ = ["report_figure", "lightcurve_figure", "fold_figure", "PAGE_SIZE_IN", "DEFAULT_DPI"]

log = logging.getLogger(__name__)

#: PNG resolution: 150 dpi gives a 1755 x 1240 pixel page.
DEFAULT_DPI = 150

_C_MODEL = "#1f77b4"
_RASTER_MIN = 500  # scatters with more points are rasterized in the PDF
#: Depth (fraction) above which flux axes are drawn in percent rather than ppm.
PERCENT_ABOVE = 0.01


class _FluxScale:
    """Flux-axis unit of one report: ppm for shallow events, percent for deep ones."""

    def __init__(self, depth: float):
        pct = _ok(depth) and _f(depth) > PERCENT_ABOVE
        self.factor, self.unit = (100.0, "%") if pct else (1e6, "ppm")
        self.spec = ".2f" if pct else ".0f"

    def label(self, what: str = "flux - 1") -> str:
        return f"{what} ({self.unit})"

    def fmt(self, frac, err=None) -> str:
        """``frac`` (a fraction) in this unit, with ``± err`` when given."""
        v = _f(frac) * self.factor
        if not math.isfinite(v):
            return "n/a"
        e = _f(err) * self.factor if err is not None else None
        return (_fmt_pm(v, e, self.spec) if err is not None else _fmt(v, self.spec)) + f" {self.unit}"


# ---------------------------------------------------------------------------
# small helpers


def _fmt(x, spec: str = ".3g", unit: str = "") -> str:
    v = _f(x)
    if not math.isfinite(v):
        return "n/a"
    return f"{v:{spec}}{unit}"


def _fmt_pm(x, err, spec: str = ".3g", unit: str = "") -> str:
    """``x ± err``; fixed-point specs get enough decimals for two significant digits of the error.

    An error that is not a positive number is left out rather than shown as
    ``± 0``, which would claim an exact value.
    """
    if not _ok(x):
        return "n/a"
    e = _f(err)
    if math.isfinite(e) and e > 0:
        if spec.startswith(".") and spec.endswith("f"):
            spec = f".{max(int(spec[1:-1]), min(6, 1 - math.floor(math.log10(e))))}f"
        return f"{_f(x):{spec}} ± {e:{spec}}{unit}"
    return f"{_f(x):{spec}}{unit}"


def _note(ax, text: str, width: int = 30) -> None:
    # wrapped here: matplotlib's own wrapping follows the figure's edge, not the panel's,
    # so a long reason would run across the neighbouring panels
    lines = [ln for part in str(text).split("\n") for ln in (textwrap.wrap(part, width) or [""])]
    ax.text(0.5, 0.5, "\n".join(lines), transform=ax.transAxes, ha="center", va="center",
            fontsize=_FS, color="0.35")


def _inset_text(ax, text: str, *, loc: str = "upper", color: str = "k") -> None:
    y, va = (0.97, "top") if loc == "upper" else (0.03, "bottom")
    ax.text(0.03, y, text, transform=ax.transAxes, fontsize=_FS - 1, va=va, ha="left", color=color, zorder=20,
            bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.8))


# ---------------------------------------------------------------------------
# panels


def _panel_periodogram(ax, bls_result, eph: _Ephem, vet) -> None:
    # a duo-transit (two single events) has no periodogram: its events are shown
    if bls_result is None or bls_result.get("power_spectrum") is None:
        se = vet["tests"].get("single_event", {})
        ses = np.asarray(se.get("ses", []), dtype=np.float64)
        ep = np.asarray(se.get("epochs", []))
        if ses.size == 0:
            _note(ax, "no BLS periodogram given\nand no transit with data")
        else:
            ax.bar(ep, ses, color=_C_TRANSIT, alpha=0.7, width=0.6)
            ax.axhline(0, color="0.5", lw=0.5)
            ax.set_xlabel("epoch", fontsize=_FS, labelpad=1)
            ax.set_ylabel("transit SNR (SES)", fontsize=_FS)
            if ep.size <= 15:
                ax.set_xticks(ep)
            ax.set_xlim(ep.min() - 1.0, ep.max() + 1.0)
        _style(ax, f"Per-transit SNR (no periodogram); max share {_fmt(se.get('value'), '.2f')}")
        return
    periods = np.asarray(bls_result.get("periods"), dtype=np.float64)
    power = np.asarray(bls_result.get("power_spectrum"), dtype=np.float64)
    if periods.ndim != 1 or periods.size == 0 or power.shape != periods.shape:
        _note(ax, "BLS result has no periodogram")
        _style(ax, "BLS periodogram")
        return
    ax.plot(periods, power, color="0.25", lw=0.6, rasterized=periods.size > 5000)
    pmin, pmax = float(np.nanmin(periods)), float(np.nanmax(periods))
    if pmin > 0 and pmax / pmin > 5:
        ax.set_xscale("log")
    ax.set_xlim(pmin, pmax)
    tr = blended_transform_factory(ax.transData, ax.transAxes)
    for mult, lab, ls, col in ((1.0, "P", "-", _C_TRANSIT), (0.5, "P/2", "--", _C_DUMP), (2.0, "2P", "--", _C_DUMP)):
        p = eph.period * mult
        if pmin <= p <= pmax:
            ax.axvline(p, color=col, ls=ls, lw=0.9, alpha=0.8, zorder=0)
            ax.text(p, 0.98, f" {lab}", transform=tr, fontsize=_FS - 1, color=col, va="top", ha="left")
    obj = bls_result.get("objective", "power")
    ax.set_xlabel("period (d)", fontsize=_FS, labelpad=1)
    ax.set_ylabel(f"BLS power ({obj})", fontsize=_FS)
    _style(ax, f"BLS periodogram  SDE {_fmt(bls_result.get('sde'), '.1f')}")


def _fold_window(eph: _Ephem) -> float:
    """Half-width (days) of the transit close-ups: 3 durations, capped at P/2."""
    return min(3.0 * eph.duration, 0.5 * eph.period)


def _bin_width(eph: _Ephem, half: float, n_points: int) -> float:
    """Bin width (days) for the folds: ~duration/8, at least 10 min, <= 60 bins per window."""
    return max(eph.duration / 8.0, 10.0 / 1440.0, 2 * half / 60.0) if n_points else eph.duration / 8


def _panel_fold(ax, lc, eph: _Ephem, vet, sc: _FluxScale) -> None:
    ph = phase_days(lc.time, eph.period, eph.t0)
    half = _fold_window(eph)
    m = np.abs(ph) < half
    x = ph[m] * 24.0
    y = (lc.flux_flat[m] - 1.0) * sc.factor
    if x.size == 0:
        _note(ax, "no data near the transit")
        _style(ax, "Phase fold")
        return
    ax.scatter(x, y, s=0.8, c=_C_DATA, lw=0, rasterized=x.size > _RASTER_MIN, alpha=0.6)
    w = _bin_width(eph, half, x.size) * 24.0
    bc, bm, be = _bin(x, y, -half * 24, half * 24, w)
    ax.errorbar(bc, bm, be, fmt="o", ms=2.2, color=_C_BIN, lw=0.7, capsize=0, zorder=4)
    sh = vet["tests"].get("shape", {})
    mp = np.asarray(sh.get("model_phase", []), dtype=np.float64)
    mf = np.asarray(sh.get("model_flux", []), dtype=np.float64)
    title = "Phase fold + trapezoid fit"
    if mp.size:
        ax.plot(mp * 24.0, (mf - 1.0) * sc.factor, color=_C_MODEL, lw=1.3, zorder=5,
                label=f"{sh.get('shape', '')}-shape, ingress {_fmt(sh.get('ingress_fraction'), '.2f')}")
        ax.legend(loc="lower right", fontsize=_FS - 1.5, frameon=False, handlelength=1.2)
        title += f"  δ={sc.fmt(sh.get('depth'))}"
    else:
        ax.text(0.02, 0.03, f"no trapezoid fit: {sh.get('reason') or 'n/a'}", transform=ax.transAxes,
                fontsize=_FS - 2, color="0.35")
    ax.set_xlim(-half * 24, half * 24)
    d = _f(sh.get("depth"))
    _ylim_robust(ax, bm if bm.size else y, include=(-1.2 * sc.factor * d if _ok(d) else float("nan"),), pad=0.35)
    ax.set_xlabel("hours from mid-transit", fontsize=_FS, labelpad=1)
    ax.set_ylabel(sc.label(), fontsize=_FS)
    _style(ax, title)


def _panel_odd_even(ax_odd, ax_even, lc, eph: _Ephem, vet, sc: _FluxScale) -> None:
    oe = vet["tests"].get("odd_even", {})
    ph = phase_days(lc.time, eph.period, eph.t0)
    ep = epoch_index(lc.time, eph.period, eph.t0)
    half = _fold_window(eph)
    near = np.abs(ph) < half
    x_all = ph * 24.0
    y_all = (lc.flux_flat - 1.0) * sc.factor
    oot = near & (np.abs(ph) > 0.75 * eph.duration)
    base = float(np.median(y_all[oot])) if oot.sum() >= 3 else 0.0
    ys = []
    for ax, parity, key in ((ax_odd, 1, "odd"), (ax_even, 0, "even")):
        m = near & ((ep % 2) == parity)
        d, e = _f(oe.get(f"depth_{key}")), _f(oe.get(f"depth_{key}_err"))
        n = oe.get(f"n_{key}", 0)
        if m.sum():
            ax.scatter(x_all[m], y_all[m], s=0.8, c=_C_DATA, lw=0, rasterized=m.sum() > _RASTER_MIN, alpha=0.5)
            bc, bm, be = _bin(x_all[m], y_all[m], -half * 24, half * 24, _bin_width(eph, half, m.sum()) * 24)
            ax.errorbar(bc, bm, be, fmt="o", ms=2.0, color=_C_BIN, lw=0.6, capsize=0, zorder=4)
            ys.append(bm)
        else:
            _note(ax, f"no {key} transit")
        if _ok(d):
            lvl = base - d * sc.factor
            ax.axhline(lvl, color=_C_TRANSIT, lw=1.0, zorder=5)
            if _ok(e):
                ax.axhspan(lvl - e * sc.factor, lvl + e * sc.factor, color=_C_TRANSIT, alpha=0.15, lw=0, zorder=0)
            ys.append(np.array([lvl]))
        ax.axvspan(-0.5 * eph.duration * 24, 0.5 * eph.duration * 24, color="0.93", zorder=0, lw=0)
        ax.set_xlim(-half * 24, half * 24)
        ax.set_xlabel("hours", fontsize=_FS, labelpad=1)
        _inset_text(ax, f"δ = {sc.fmt(d, e if _ok(e) else None)}", loc="lower")
        _style(ax, f"{key} ({n} transit{'s' if n != 1 else ''})")
    if ys:
        _ylim_robust(ax_odd, np.concatenate(ys), pad=0.3)
    ax_odd.set_ylabel(sc.label(), fontsize=_FS)
    ax_even.tick_params(labelleft=False)
    sig = oe.get("significance")
    lab = f"odd/even: {_fmt(sig, '.1f', 'σ')}" + ("  FLAG" if oe.get("flag") else "")
    ax_odd.text(1.03, 1.14, lab, transform=ax_odd.transAxes, ha="center", va="bottom", fontsize=_FS + 0.5,
                color=_C_TRANSIT if oe.get("flag") else "k", fontweight="bold")


def _panel_secondary(ax_fold, ax_scan, lc, eph: _Ephem, vet, sc: _FluxScale) -> None:
    sec = vet["tests"].get("secondary", {})
    ph = phase_days(lc.time, eph.period, eph.t0, center=0.5)
    half = _fold_window(eph)
    m = np.abs(ph) < half
    x = ph[m] * 24.0
    y = (lc.flux_flat[m] - 1.0) * sc.factor
    if x.size:
        ax_fold.scatter(x, y, s=0.8, c=_C_DATA, lw=0, rasterized=x.size > _RASTER_MIN, alpha=0.5)
        bc, bm, be = _bin(x, y, -half * 24, half * 24, _bin_width(eph, half, x.size) * 24)
        ax_fold.errorbar(bc, bm, be, fmt="o", ms=2.0, color=_C_BIN, lw=0.6, capsize=0, zorder=4)
        d = _f(sec.get("depth_half"))
        base = float(np.median(y))
        if _ok(d):
            ax_fold.axhline(base - d * sc.factor, color=_C_TRANSIT, lw=1.0, zorder=5)
        _ylim_robust(ax_fold, bm if bm.size else y, include=(base - 1.2 * sc.factor * d if _ok(d) else float("nan"),),
                     pad=0.35)
        ax_fold.set_xlim(-half * 24, half * 24)
    else:
        _note(ax_fold, "no data at phase 0.5")
    ax_fold.set_xlabel("hours from phase 0.5", fontsize=_FS, labelpad=1)
    ax_fold.set_ylabel(sc.label(), fontsize=_FS)
    _inset_text(ax_fold, f"δ = {sc.fmt(sec.get('depth_half'), sec.get('depth_half_err'))}"
                         f" ({_fmt(sec.get('sigma_half'), '.1f', 'σ')})", loc="lower")
    _style(ax_fold, "Fold at phase 0.5")

    phases = np.asarray(sec.get("phases", []), dtype=np.float64)
    sig = np.asarray(sec.get("sigmas", []), dtype=np.float64)
    if phases.size and np.isfinite(sig).any():
        ax_scan.plot(phases, sig, color="0.25", lw=0.7)
        for thr, ls in ((sec.get("threshold"), "--"), (sec.get("threshold_any"), ":")):
            if _ok(thr):
                ax_scan.axhline(_f(thr), color=_C_DUMP, ls=ls, lw=0.8)
        bp, bs = _f(sec.get("best_phase")), _f(sec.get("best_sigma"))
        if _ok(bp):
            ax_scan.axvline(bp, color=_C_TRANSIT, lw=0.9, alpha=0.7)
            ax_scan.plot([bp], [bs], "*", color=_C_TRANSIT, ms=7, zorder=5)
        ax_scan.axvline(0.5, color="0.6", lw=0.6, ls=":")
        ax_scan.set_xlim(0, 1)
        ax_scan.set_ylim(min(float(np.nanmin(sig)), -3.0) - 0.5,
                         max(float(np.nanmax(sig)), _f(sec.get("threshold_any")) if _ok(sec.get("threshold_any")) else 3.0) * 1.35 + 0.5)
        _inset_text(ax_scan, f"best φ = {_fmt(bp, '.3f')}: {_fmt(bs, '.1f')}σ\n"
                             f"secondary/primary = {_fmt(sec.get('depth_ratio'), '.2f')}", loc="upper",
                    color=_C_TRANSIT if sec.get("flag") else "k")
        title = "Secondary eclipse scan" + ("  FLAG" if sec.get("flag") else "")
    else:
        _note(ax_scan, f"no secondary scan:\n{sec.get('reason') or 'n/a'}")
        title = "Secondary scan"
    ax_scan.set_xlabel("orbital phase", fontsize=_FS, labelpad=1)
    ax_scan.set_ylabel("eclipse σ", fontsize=_FS)
    _style(ax_scan, title)


def _panel_views(ax_loc, ax_glob, lc, eph: _Ephem) -> None:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            lv = local_view(lc.time, lc.flux_flat, eph.period, eph.t0, eph.duration)
        except InputError as exc:
            lv, lerr = None, str(exc)
        try:
            gv = global_view(lc.time, lc.flux_flat, eph.period, eph.t0)
        except InputError as exc:
            gv, gerr = None, str(exc)
    if lv is not None and np.isfinite(lv).any():
        hw = min(0.5 * eph.period, 4 * eph.duration) * 24.0
        ax_loc.plot(np.linspace(-hw, hw, lv.size), lv, ".", ms=2.2, color=_C_MODEL)
        ax_loc.set_xlim(-hw, hw)
        ax_loc.set_xlabel("hours from mid-transit", fontsize=_FS, labelpad=1)
    else:
        _note(ax_loc, "local view unavailable" if lv is None else "local view empty")
    _style(ax_loc, f"Local view ({201} bins)")
    if gv is not None and np.isfinite(gv).any():
        ax_glob.plot(np.linspace(-0.5, 0.5, gv.size), gv, "-", lw=0.5, color=_C_MODEL)
        ax_glob.set_xlim(-0.5, 0.5)
        ax_glob.set_xlabel("phase", fontsize=_FS, labelpad=1)
    else:
        _note(ax_glob, "global view unavailable" if gv is None else "global view empty")
    _style(ax_glob, f"Global view ({2001} bins)")
    ax_loc.set_ylabel("normalised", fontsize=_FS)


def _stats_rows(lc, cand: Mapping[str, Any], eph: _Ephem, vet, bls_result, disposition: str):
    """(label, value, flagged) rows of the statistics table."""
    t = vet["tests"]
    sh, oe, sec, se = t.get("shape", {}), t.get("odd_even", {}), t.get("secondary", {}), t.get("single_event", {})
    du, ce = t.get("duration", {}), t.get("centroid")
    bls = bls_result or {}
    p_err = _first(cand, "period_err", "period_err_days", "period_uncertainty")
    t0_err = _first(cand, "t0_err", "t0_err_btjd", "t0_uncertainty")
    snr = _first(cand, "snr")
    if snr is None:
        snr = _first(bls, "snr")
    sde = _first(cand, "sde")
    if sde is None:
        sde = _first(bls, "sde")
    depth_search = _first(cand, "depth_ppm")
    if depth_search is None:
        depth_search = _first(cand, "depth", scale=1e6)
    n_tr = cand.get("n_transits") if _ok(cand.get("n_transits")) else vet.get("n_transits")
    dur_fit = _f(vet.get("duration")) * 24.0
    dur_fit_err = _f(vet.get("duration_err")) * 24.0
    per_sector = t.get("sectors", {})
    rows_sectors = []
    if getattr(lc, "parts", None) and per_sector.get("depth"):
        rows_sectors.append(("depth per sector (ppm)", ", ".join(
            f"s{k}: {d * 1e6:.0f}±{e * 1e6:.0f}" for k, d, e in zip(per_sector["sectors"], per_sector["depth"],
                                                                    per_sector["depth_err"])),
            bool(per_sector.get("flag"))))
    aliases = cand.get("alias_periods_days")
    if aliases is not None and len(aliases):
        shown = ", ".join(f"{x:.2f}" for x in list(aliases)[:4]) + (" ..." if len(aliases) > 4 else "")
        rows_sectors.append((f"duo: {len(aliases)} periods allowed (d)", shown, False))
    rows = [
        ("TIC", str(getattr(lc, "tic_id", "?")), False),
        ("sectors", ",".join(str(x) for x in lc.sectors), False) if getattr(lc, "parts", None)
        else ("sector", str(getattr(lc, "sector", "?")), False),
        ("period (d)", _fmt_pm(eph.period, p_err, ".5f"), False),
        ("t0 (BTJD)", _fmt_pm(eph.t0, t0_err, ".4f"), False),
        ("duration search (h)", _fmt(eph.duration * 24.0, ".2f"), False),
        ("duration fit T14 (h)", _fmt_pm(dur_fit, dur_fit_err, ".2f"), False),
        ("depth fit (ppm)", _fmt_pm(_f(vet.get("depth")) * 1e6, _f(vet.get("depth_err")) * 1e6, ".0f"), False),
        ("depth search (ppm)", _fmt(depth_search, ".0f"), False),
        ("SNR", _fmt(snr, ".1f"), _ok(snr) and snr < 7.1),
        ("SDE", _fmt(sde, ".1f"), False),
        ("n transits", "n/a" if n_tr is None else str(int(n_tr)), n_tr is not None and int(n_tr) < 2),
        ("odd/even (σ)", _fmt(oe.get("significance"), ".2f"), bool(oe.get("flag"))),
        ("secondary (σ)", _fmt(sec.get("significance"), ".2f"), bool(sec.get("flag"))),
        ("secondary / primary depth", _fmt(sec.get("depth_ratio"), ".3f"), bool(sec.get("comparable"))),
        ("V-shape metric (0=U, 1=V)", _fmt(sh.get("value"), ".2f") + (f" ({sh.get('shape')})" if sh.get("shape") else ""),
         bool(sh.get("flag"))),
        ("single-event fraction", _fmt(se.get("value"), ".2f"), bool(se.get("flag"))),
        ("MES / max SES", f"{_fmt(se.get('mes'), '.1f')} / {_fmt(se.get('max_ses'), '.1f')}", False),
        ("T14 / T14,max(ρ*)", _fmt(du.get("value"), ".2f")
         + (f"  (max {_fmt(_f(du.get('expected_max_duration')) * 24, '.1f')} h)" if du else ""),
         bool(du.get("flag"))),
        ("ρ* (g/cm³), source", f"{_fmt(du.get('stellar_density'), '.2f')}, {du.get('stellar_source', 'n/a')}", False),
        ("companion radius (R⊕)", _fmt(du.get("companion_radius_earth"), ".1f"), bool(du.get("too_large"))),
        ("centroid shift (σ)", "n/a (no centroids)" if ce is None else _fmt(ce.get("significance"), ".2f"),
         bool(ce and ce.get("flag"))),
        ("known object", str(cand.get("known_object") or vet.get("known_object") or "none"), False),
    ] + rows_sectors
    score = _first(cand, "score")
    if score is not None:
        lo, hi = _first(cand, "score_lo"), _first(cand, "score_hi")
        rows.append(("score", f"{score:.3f}" + (f"  [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""),
                     False))
    else:
        rows.append(("score", "n/a", False))
    rows.append(("disposition", disposition, disposition != "planet_candidate"))
    # The decision is the sweep's (rules reconciled with the score); the
    # rules' own verdict is shown only where the score overruled it.
    rule = cand.get("rule_disposition") or (vet.get("disposition") if cand.get("disposition") is None else None)
    if rule and rule != disposition:
        rows.append(("vetting rules alone", rule, rule != "planet_candidate"))
    return rows


#: Characters of the base font that fit across the statistics table.
_TABLE_CHARS = 46


def _panel_table(ax, rows, vet) -> None:
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    y = 1.0
    dy = 0.029
    ax.text(0.0, y, "Statistics", fontsize=_FS + 1.5, fontweight="bold", va="top")
    y -= 1.4 * dy
    for i, (lab, val, bad) in enumerate(rows):
        # A value too long to sit beside its label goes on the next line, right-aligned.
        two = len(lab) + len(val) + 3 > _TABLE_CHARS
        if i % 2 == 0:
            ax.axhspan(y - (1.78 if two else 0.78) * dy, y + 0.22 * dy, xmin=0, xmax=1, color="0.95", lw=0, zorder=0)
        ax.text(0.0, y, lab, fontsize=_FS, va="top", ha="left")
        if two:
            y -= dy
        ax.text(1.0, y, val, fontsize=_FS, va="top", ha="right",
                color=_C_TRANSIT if bad else "k", fontweight="bold" if bad else "normal")
        y -= dy
    y -= 0.4 * dy
    flags = list(vet.get("flags") or [])
    ax.text(0.0, y, "Vet flags", fontsize=_FS + 0.5, fontweight="bold", va="top")
    y -= dy
    lines = textwrap.wrap(", ".join(flags), 46) if flags else ["none"]
    for ln in lines[:6]:
        ax.text(0.0, y, ln, fontsize=_FS - 0.5, va="top", color=_C_TRANSIT if flags else "k")
        y -= 0.9 * dy
    reasons = list(vet.get("reasons") or [])
    if reasons:
        y -= 0.3 * dy
        ax.text(0.0, y, "Disposition reasons", fontsize=_FS + 0.5, fontweight="bold", va="top")
        y -= dy
        for ln in textwrap.wrap("; ".join(reasons), 48)[: max(1, int((y - 0.0) / (0.9 * dy)))]:
            ax.text(0.0, y, ln, fontsize=_FS - 0.5, va="top")
            y -= 0.9 * dy


# ---------------------------------------------------------------------------
# the page


def _raw_arrays(raw_flux, lc: PreprocessedLightCurve) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Raw cadences as (time, flux) normalised per preprocessed segment."""
    if raw_flux is None:
        return None
    if isinstance(raw_flux, (tuple, list)) and len(raw_flux) == 2:
        rt, rf = raw_flux
    elif hasattr(raw_flux, "time") and hasattr(raw_flux, "flux"):
        rt, rf = raw_flux.time, raw_flux.flux
    else:
        raise InputError("raw_flux must be a LightCurve or a (time, flux) pair")
    rt = np.asarray(rt, dtype=np.float64)
    rf = np.asarray(rf, dtype=np.float64)
    if rt.shape != rf.shape:
        raise InputError(f"raw_flux: time has {rt.size} values but flux has {rf.size}")
    ok = np.isfinite(rt) & np.isfinite(rf)
    rt, rf = rt[ok], rf[ok]
    if rt.size == 0:
        return None
    out = rf / np.median(rf)
    for s in np.unique(lc.segment):
        ts = lc.time[lc.segment == s]
        m = (rt >= ts.min()) & (rt <= ts.max())
        if m.sum() >= 3:
            out[m] = rf[m] / np.median(rf[m])
    return rt, out


def _run_vet(lc: PreprocessedLightCurve, candidate: Mapping[str, Any], vet_kwargs) -> Dict[str, Any]:
    kw = dict(vet_kwargs or {})
    if "centroids" not in kw and lc.centroid_col is not None and lc.centroid_row is not None:
        kw["centroids"] = (lc.time, lc.centroid_col, lc.centroid_row)
    if "dump_times" not in kw and lc.momentum_dump_times is not None and lc.momentum_dump_times.size:
        kw["dump_times"] = lc.momentum_dump_times
    return vet_candidate(lc, candidate, **kw)


def _star_header(lc, candidate, catalogs) -> Tuple[str, str]:
    """(name, parameters) of the star for the page header.

    The name is the TIC (KIC), with the product's ``OBJECT`` when it says
    more than the TIC and the star's TOI number from the known-object
    catalogue; the parameters are Tmag, Teff, R* and M* as in the header.
    """
    kepler = getattr(lc, "mission", "TESS") == "Kepler"
    tic = f"{'KIC' if kepler else 'TIC'} {lc.tic_id}"
    name = tic
    obj = str(getattr(lc, "object_name", None) or "").strip()
    if obj and obj.replace(" ", "").upper() != tic.replace(" ", "").upper():
        name = f"{obj} ({tic})"
    if not kepler:
        tois = _tois(lc.tic_id, catalogs)
        if tois:
            hosts = sorted({t.split(".")[0] for t in tois}, key=lambda h: int(h) if h.isdigit() else 0)
            name += " · TOI-" + ", ".join(hosts)
    params = []
    if _ok(getattr(lc, "tmag", None)):
        params.append(f"Tmag {lc.tmag:.2f}")
    params.append(f"Teff {lc.teff:.0f} K" if _ok(getattr(lc, "teff", None)) else "Teff n/a")
    params.append(f"R* {lc.radius:.2f} R☉" if _ok(getattr(lc, "radius", None)) else "R* n/a")
    if _ok(getattr(lc, "mass", None)):
        params.append(f"M* {lc.mass:.2f} M☉")
    if _ok(getattr(lc, "logg", None)):
        params.append(f"log g {lc.logg:.2f}")
    return name, "   ".join(params)


def _tois(tic_id, catalogs) -> List[str]:
    """TOI numbers of the star from ``catalogs`` (default: the configured or shipped catalogue)."""
    if catalogs is False:
        return []
    try:
        cats = catalogs if catalogs is not None else load_catalogs()
        return known_tois(tic_id, cats) if cats.toi is not None else []
    except (OSError, InputError, ConfigError) as exc:
        # The header still identifies the star by its TIC; say why the TOI is missing.
        log.warning("report: no TOI lookup for TIC %s (%s)", tic_id, exc)
        return []


def _panel_sectors(fig, spec, lc, eph: _Ephem, vet) -> None:
    """A stitched light curve: each sector in its own pair of panels (width by its span), transits marked."""
    pieces = []
    for part, sel in split_sectors(lc):
        if not sel.any():
            continue
        one = dataclasses.replace(
            lc, **{k: (None if getattr(lc, k) is None else getattr(lc, k)[sel]) for k in lc.CADENCE_ARRAYS
                   if k != "cadence_sector"},
            cadence_sector=None, parts=None, sector=part.sector, source_path=part.source_path)
        pieces.append((part, one))
    spans = [max(float(o.time[-1] - o.time[0]), 1.0) for _, o in pieces]
    grid = spec.subgridspec(2, len(pieces), hspace=0.06, wspace=0.05, width_ratios=spans)
    for k, (part, one) in enumerate(pieces):
        ax_raw = fig.add_subplot(grid[0, k])
        ax_flat = fig.add_subplot(grid[1, k], sharex=ax_raw)
        _panel_lightcurves(ax_raw, ax_flat, one, eph, vet, None)
        ax_raw.set_title(f"sector {part.sector}" + (": normalised flux + trend (top), detrended (bottom)"
                                                    if k == 0 else ""), fontsize=_FS + 0.5, pad=3, y=1.0,
                         loc="left")
        if k > 0:
            for ax in (ax_raw, ax_flat):
                ax.set_ylabel("")
        if k < len(pieces) - 1:
            for ax in (ax_raw, ax_flat):
                leg = ax.get_legend()
                if leg is not None:
                    leg.remove()


def _draw(fig, lc, candidate, eph: _Ephem, vet, bls_result, raw, disposition: str, index: int,
          catalogs=None) -> None:
    sc = _FluxScale(max(_f(vet.get("depth")) if _ok(vet.get("depth")) else 0.0,
                        eph.depth if _ok(eph.depth) else 0.0))
    name, params = _star_header(lc, candidate, catalogs)
    where = f"sectors {','.join(str(x) for x in lc.sectors)}" if lc.parts else f"sector {lc.sector}"
    fig.suptitle(f"{name} · {where} · candidate {index} · {disposition}",
                 fontsize=_FS + 5, fontweight="bold", x=0.02, ha="left", y=0.985)
    fig.text(0.985, 0.972, params, fontsize=_FS + 1.5, ha="right", va="center", color="0.15")
    depth = _f(vet.get("depth"))
    sub = (f"P = {eph.period:.5f} d   t0 = {eph.t0:.4f} BTJD   duration = {eph.duration * 24:.2f} h   "
           f"depth = {_fmt(depth * 1e6, '.0f')} ppm" + (f" ({sc.fmt(depth)})" if sc.unit == "%" else ""))
    if lc.source_path:
        sub += f"   {os.path.basename(str(lc.source_path))}"
    fig.text(0.02, 0.945, sub, fontsize=_FS + 0.5, color="0.3", ha="left")

    outer = GridSpec(1, 2, figure=fig, left=0.065, right=0.985, top=0.915, bottom=0.055,
                     width_ratios=[3.35, 1.0], wspace=0.06)
    left = outer[0].subgridspec(3, 1, height_ratios=[2.0, 1.2, 1.2], hspace=0.42)
    if lc.parts:
        _panel_sectors(fig, left[0], lc, eph, vet)
    else:
        lcs = left[0].subgridspec(2, 1, hspace=0.06)
        ax_raw = fig.add_subplot(lcs[0])
        ax_flat = fig.add_subplot(lcs[1], sharex=ax_raw)
        _panel_lightcurves(ax_raw, ax_flat, lc, eph, vet, raw)
        ax_raw.set_title("Light curve: normalised flux + trend (top), detrended (bottom)", fontsize=_FS + 0.5,
                         pad=3, y=1.0)

    row3 = left[1].subgridspec(1, 3, wspace=0.3, width_ratios=[1.0, 1.0, 1.0])
    _panel_periodogram(fig.add_subplot(row3[0]), bls_result, eph, vet)
    _panel_fold(fig.add_subplot(row3[1]), lc, eph, vet, sc)
    oe = row3[2].subgridspec(1, 2, wspace=0.06)
    ax_odd = fig.add_subplot(oe[0])
    ax_even = fig.add_subplot(oe[1], sharey=ax_odd)
    _panel_odd_even(ax_odd, ax_even, lc, eph, vet, sc)

    row4 = left[2].subgridspec(1, 4, wspace=0.38, width_ratios=[1.0, 1.0, 1.0, 0.85])
    _panel_secondary(fig.add_subplot(row4[0]), fig.add_subplot(row4[1]), lc, eph, vet, sc)
    _panel_views(fig.add_subplot(row4[2]), fig.add_subplot(row4[3]), lc, eph)

    ax_tab = fig.add_subplot(outer[1])
    _panel_table(ax_tab, _stats_rows(lc, candidate, eph, vet, bls_result, disposition), vet)


def _prepare(lc, candidate, vet, vet_kwargs, index):
    if len(lc) < 3:
        raise InputError(f"{lc.source_path or 'light curve'}: too few cadences ({len(lc)}) for a report")
    if vet is None:
        vet = _run_vet(lc, candidate, vet_kwargs)
    eph = _Ephem(candidate, vet)
    if index is None:
        index = int(candidate.get("candidate_index") or 0) if _ok(candidate.get("candidate_index")) else 0
    # the stored decision (rules reconciled with the score) when the candidate has one
    disposition = str(candidate.get("disposition") or vet.get("disposition") or "unvetted")
    return vet, eph, index, disposition


def report_figure(lc: PreprocessedLightCurve, candidate: Mapping[str, Any], *, bls_result=None, vet=None,
                  raw_flux=None, index: Optional[int] = None, vet_kwargs=None, catalogs=None,
                  dpi: int = DEFAULT_DPI) -> Figure:
    """The one-page report as a matplotlib ``Figure``, not saved.

    Same parameters as :func:`~exoray.reports.writer.make_report`, which
    saves this page; ``catalogs`` gives the star's TOI number for the header
    (default: the configured or shipped known-object catalogue; ``False``:
    none).  In a notebook the returned figure displays itself;
    ``fig.savefig(...)`` writes it.
    """
    vet, eph, index, disposition = _prepare(lc, candidate, vet, vet_kwargs, index)
    fig = Figure(figsize=PAGE_SIZE_IN, dpi=dpi)
    _draw(fig, lc, candidate, eph, vet, bls_result, _raw_arrays(raw_flux, lc), disposition, index,
          catalogs=_catalogs_arg(catalogs, vet_kwargs))
    return fig


def _catalogs_arg(catalogs, vet_kwargs):
    if catalogs is None and vet_kwargs:
        return vet_kwargs.get("catalogs")
    return catalogs


def fold_figure(lc: PreprocessedLightCurve, candidate: Mapping[str, Any], *, vet=None, vet_kwargs=None,
                figure: Optional[Figure] = None) -> Figure:
    """The report's phase-fold panel (points, bins and trapezoid fit) as a ``Figure``."""
    vet, eph, _, _ = _prepare(lc, candidate, vet, vet_kwargs, 0)
    fig = figure if figure is not None else Figure(figsize=(6.0, 4.0), dpi=100)
    fig.clear()
    ax = fig.add_subplot(1, 1, 1)
    sc = _FluxScale(max(_f(vet.get("depth")) if _ok(vet.get("depth")) else 0.0, eph.depth if _ok(eph.depth) else 0.0))
    _panel_fold(ax, lc, eph, vet, sc)
    fig.subplots_adjust(left=0.14, right=0.97, top=0.9, bottom=0.13)
    return fig
