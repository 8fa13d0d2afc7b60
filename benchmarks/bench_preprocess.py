"""Benchmark exoray preprocessing against wotan and lightkurve on real SPOC files.

Usage::

    python benchmarks/bench_preprocess.py [--files N] [--repeats R] [--window 0.75]
                                          [--out benchmarks/results/preprocess.json]

Per light curve (single thread, ``NUMBA_NUM_THREADS=1``, JIT warmed up first,
median of ``R`` repeats):

* ``exoray_biweight_ms``: :func:`exoray.preprocess.detrend_biweight` on the
  quality-masked, NaN-free, median-normalised PDCSAP flux;
* ``wotan_biweight_ms``: ``wotan.flatten(..., method='biweight')`` with the
  same window, ``break_tolerance=0.5``, ``edge_cutoff=0``, ``cval=5`` on the
  same arrays; ``max_rel_trend_diff`` = max |ours/wotan - 1|;
* ``exoray_preprocess_ms``: :func:`exoray.preprocess.preprocess_lightcurve`
  on the already-read light curve (quality mask ... noise stats);
* ``lk_recipe_ms``: ``lc.remove_nans().normalize().flatten(window_length=W)``
  on an already-read lightkurve object (W = window in cadences, odd), and
  ``lk_read_recipe_ms`` including ``lk.read(path)``; likewise
  ``exoray_read_preprocess_ms`` includes ``exoray.ingest.read_lightcurve``.

Shared data: ``../shared/data/real`` beside the repository, or
``$EXORAY_SHARED_DATA``.
"""

from __future__ import annotations

import os

os.environ["NUMBA_NUM_THREADS"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _timeit(fn, repeats):
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(out)


def _read_astropy(path):
    from astropy.io import fits

    from exoray.lightcurve import LightCurve

    with fits.open(path, memmap=False) as h:
        d = h[1].data
        hdr = h[0].header
        return LightCurve(hdr["TICID"], hdr["SECTOR"], d["TIME"], d["PDCSAP_FLUX"],
                          d["PDCSAP_FLUX_ERR"], d["QUALITY"], source_path=str(path))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=None, help="use the first N SPOC files")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--window", type=float, default=0.75, help="window (days)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "preprocess.json"))
    args = ap.parse_args(argv)

    shared = Path(os.environ.get("EXORAY_SHARED_DATA", REPO.parent / "shared" / "data" / "real"))
    files = sorted((shared / "tess_spoc_2min").glob("*_lc.fits"))
    if not files:
        print(f"no SPOC files under {shared}", file=sys.stderr)
        return 1
    if args.files:
        files = files[: args.files]

    import lightkurve as lk
    import wotan

    from exoray.config import PreprocessConfig
    from exoray.preprocess import detrend_biweight, preprocess_lightcurve
    from exoray.preprocess.normalize import quality_keep_mask

    try:
        from exoray.ingest import read_lightcurve
    except ImportError:  # reader not there yet
        read_lightcurve = _read_astropy

    cfg = PreprocessConfig(window_days=args.window)
    w_cad = int(round(args.window * 1440 / 2)) | 1
    warnings.simplefilter("ignore")

    # JIT warm-up (cache=True makes later processes cheap too)
    lc0 = read_lightcurve(files[0])
    preprocess_lightcurve(lc0, cfg)
    t0_ = np.linspace(0, 2, 2000)
    detrend_biweight(t0_, 1 + 0 * t0_, args.window)
    wotan.flatten(t0_, 1 + 0 * t0_, window_length=args.window, method="biweight")

    rows = []
    for path in files:
        lc = read_lightcurve(path)
        keep = quality_keep_mask(lc.quality, "default", lc.mission)
        keep &= np.isfinite(lc.time) & np.isfinite(lc.flux)
        t = np.ascontiguousarray(lc.time[keep])
        f = np.ascontiguousarray(lc.flux[keep] / np.median(lc.flux[keep]))

        ours = detrend_biweight(t, f, args.window, cval=5, break_tolerance_days=0.5)
        _, theirs = wotan.flatten(t, f, window_length=args.window, method="biweight",
                                  break_tolerance=0.5, edge_cutoff=0, cval=5, return_trend=True)
        both = np.isfinite(ours) & np.isfinite(theirs)
        diff = float(np.max(np.abs(ours[both] / theirs[both] - 1))) if both.any() else float("nan")

        ms_ours = _timeit(lambda: detrend_biweight(t, f, args.window, cval=5,
                                                   break_tolerance_days=0.5), args.repeats)
        ms_wotan = _timeit(lambda: wotan.flatten(t, f, window_length=args.window,
                                                 method="biweight", break_tolerance=0.5,
                                                 edge_cutoff=0, cval=5, return_trend=True),
                           args.repeats)
        ms_pre = _timeit(lambda: preprocess_lightcurve(lc, cfg), args.repeats)
        ms_read_pre = _timeit(lambda: preprocess_lightcurve(read_lightcurve(path), cfg),
                              max(3, args.repeats // 2))
        lkc = lk.read(str(path))
        ms_lk = _timeit(lambda: lkc.remove_nans().normalize().flatten(window_length=w_cad),
                        max(3, args.repeats // 2))
        ms_lk_read = _timeit(
            lambda: lk.read(str(path)).remove_nans().normalize().flatten(window_length=w_cad),
            max(3, args.repeats // 2))
        rows.append({
            "file": path.name,
            "n_cadences": len(lc),
            "n_biweight_points": int(t.size),
            "exoray_biweight_ms": ms_ours,
            "wotan_biweight_ms": ms_wotan,
            "biweight_speedup": ms_wotan / ms_ours,
            "max_rel_trend_diff": diff,
            "exoray_preprocess_ms": ms_pre,
            "exoray_read_preprocess_ms": ms_read_pre,
            "lk_recipe_ms": ms_lk,
            "lk_read_recipe_ms": ms_lk_read,
            "preprocess_speedup_vs_lk": ms_lk / ms_pre,
        })
        r = rows[-1]
        print(f"{path.name[:46]:46s} {r['n_cadences']:6d}  bw {ms_ours:6.2f} vs wotan "
              f"{ms_wotan:6.2f} ms (x{r['biweight_speedup']:.2f}, diff {diff:.1e})  "
              f"pre {ms_pre:6.2f} vs lk {ms_lk:7.2f} ms (x{r['preprocess_speedup_vs_lk']:.1f}); "
              f"with read {ms_read_pre:6.1f} vs {ms_lk_read:6.1f}")

    def med(k):
        return statistics.median(r[k] for r in rows)

    summary = {k: med(k) for k in ("exoray_biweight_ms", "wotan_biweight_ms", "biweight_speedup",
                                   "exoray_preprocess_ms", "exoray_read_preprocess_ms",
                                   "lk_recipe_ms", "lk_read_recipe_ms",
                                   "preprocess_speedup_vs_lk")}
    summary["max_rel_trend_diff_all"] = max(r["max_rel_trend_diff"] for r in rows)
    print("\nmedian over %d files:" % len(rows))
    print(f"  biweight      exoray {summary['exoray_biweight_ms']:.2f} ms   wotan "
          f"{summary['wotan_biweight_ms']:.2f} ms   speedup x{summary['biweight_speedup']:.2f}   "
          f"max |rel diff| {summary['max_rel_trend_diff_all']:.1e}")
    print(f"  preprocess    exoray {summary['exoray_preprocess_ms']:.2f} ms   lightkurve "
          f"{summary['lk_recipe_ms']:.2f} ms   speedup x{summary['preprocess_speedup_vs_lk']:.1f}")
    print(f"  read+prep.    exoray {summary['exoray_read_preprocess_ms']:.2f} ms   lightkurve "
          f"{summary['lk_read_recipe_ms']:.2f} ms")
    result = {
        "benchmark": "preprocess",
        "window_days": args.window,
        "repeats": args.repeats,
        "numba_threads": os.environ.get("NUMBA_NUM_THREADS"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "versions": {"wotan": getattr(wotan, "__version__", "?"), "lightkurve": lk.__version__,
                     "numpy": np.__version__},
        "summary": summary,
        "files": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
