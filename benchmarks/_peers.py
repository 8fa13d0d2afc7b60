"""The peer tools the benchmarks compare exoray with, run on in-memory light curves.

* **lightkurve recipe**: ``LightCurve(...).remove_nans().normalize()
  .flatten(window_length=0.75 d) .to_periodogram(method="bls")`` on a period
  grid from 0.5 d to half the baseline (two transits) and the star's
  durations, the top peak as the detection (astropy's BLS underneath);
* **wotan + TLS**: ``wotan.flatten(method="biweight", window_length=0.75)``
  then ``transitleastsquares(...).power()`` with its default grids, the top
  peak as the detection (Hippke & Heller 2019).

Both start from the same raw arrays exoray reads (default quality mask
applied, as ``lk.read(quality_bitmask="default")`` does), so only the
method differs.  Each returns the top peak's period, epoch, duration and
SDE, and its wall time.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
import warnings
from typing import Any, Dict

import numpy as np

PEER_VERSION = "1"


def _clean(lc):
    from exoray.preprocess.normalize import quality_keep_mask

    keep = quality_keep_mask(lc.quality, "default", lc.mission)
    ok = keep & np.isfinite(lc.time) & np.isfinite(lc.flux)
    t = lc.time[ok]
    order = np.argsort(t, kind="stable")
    e = lc.flux_err[ok][order]
    return t[order], lc.flux[ok][order], np.where(np.isfinite(e), e, np.nan)


def peer_grid(time_days, lc, max_fraction: float = 0.5):
    """Period grid (0.5 d to ``max_fraction`` of the baseline) and one duration list, for the star."""
    from exoray.search.period_grid import duration_grid, period_grid, stellar_params

    baseline = float(time_days[-1] - time_days[0])
    mass, radius = stellar_params(lc.mass, lc.radius, lc.logg)
    periods = period_grid(baseline, min_period=0.5, max_period=max_fraction * baseline,
                          stellar_mass=mass, stellar_radius=radius)
    per = duration_grid(periods, mass, radius)
    # astropy's BLS needs every duration shorter than the shortest period
    durations = np.unique(np.geomspace(per.min(), min(per.max(), 0.9 * periods.min()), 10))
    return periods, durations


def sde(power) -> float:
    """``(max - mean) / std`` of a periodogram."""
    p = np.asarray(power, float)
    p = p[np.isfinite(p)]
    if p.size < 3 or np.std(p) == 0:
        return float("nan")
    return float((p.max() - p.mean()) / p.std())


def _failed(exc: BaseException, t0: float) -> Dict[str, Any]:
    return {"period_days": float("nan"), "t0_btjd": float("nan"), "duration_hours": float("nan"),
            "sde": float("nan"), "error": repr(exc), "ms": 1e3 * (time.perf_counter() - t0)}


def run_lightkurve(lc) -> Dict[str, Any]:
    """The lightkurve flatten + BLS recipe on one light curve."""
    import lightkurve as lk
    from astropy.time import Time

    t0 = time.perf_counter()
    try:
        t, f, e = _clean(lc)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kw = {"flux_err": e} if np.isfinite(e).any() else {}
            llc = lk.LightCurve(time=Time(t, format="btjd", scale="tdb"), flux=f, **kw)
            llc = llc.remove_nans().normalize()
            dt = float(np.nanmedian(np.diff(llc.time.value)))
            flat = llc.flatten(window_length=int(round(0.75 / dt)) | 1)
            periods, durations = peer_grid(flat.time.value, lc)
            pg = flat.to_periodogram(method="bls", period=periods, duration=durations)
        return {"period_days": float(pg.period_at_max_power.value),
                "t0_btjd": float(pg.transit_time_at_max_power.value),
                "duration_hours": 24.0 * float(pg.duration_at_max_power.value),
                "sde": sde(pg.power.value), "ms": 1e3 * (time.perf_counter() - t0)}
    except Exception as exc:  # a peer's failure is a miss, not the end of the benchmark
        return _failed(exc, t0)


def run_tls(lc) -> Dict[str, Any]:
    """wotan biweight (0.75 d) + transitleastsquares on one light curve, one thread."""
    from transitleastsquares import transitleastsquares
    from wotan import flatten

    t0 = time.perf_counter()
    try:
        t, f, e = _clean(lc)
        med = np.median(f)
        y, dy = f / med, e / med
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            flat = flatten(t, y, method="biweight", window_length=0.75)
            ok = np.isfinite(flat)
            args = (t[ok], flat[ok]) + ((dy[ok],) if np.isfinite(dy[ok]).all() else ())
            r = transitleastsquares(*args).power(use_threads=1, show_progress_bar=False)
        return {"period_days": float(r.period), "t0_btjd": float(r.T0), "duration_hours": 24.0 * float(r.duration),
                "sde": float(r.SDE) if math.isfinite(r.SDE) else float("nan"),
                "snr": float(r.snr) if math.isfinite(r.snr) else float("nan"),
                "ms": 1e3 * (time.perf_counter() - t0)}
    except Exception as exc:
        return _failed(exc, t0)


PEERS = {"lightkurve": run_lightkurve, "tls": run_tls}
