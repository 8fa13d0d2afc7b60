"""Benchmark: astropy BoxLeastSquares vs exoray's batched torch BLS.

Usage::

    python benchmarks/bench_bls.py [--n 16] [--out benchmarks/results/bls.json]

Same light curves (real SPOC 2-min files from ``../shared/data/real`` or
``$EXORAY_SHARED_DATA``, topped up with simulated 2-min sectors), same trial
periods (Ofir grid, 27 d baseline), same durations (one list for all periods,
as astropy needs), same objective and ``oversample``.  Reports milliseconds
per light curve for astropy (one call per light curve, as it is used) and for
exoray on CPU with torch threads = 1 and = 2, the speed ratio, agreement of
the best periods, ``torch.cuda.is_available()``, and CUDA timings when a GPU
is present.  It also times exoray on its native per-period (stellar) duration
grid.  Timings only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from exoray.search import bls_power, duration_grid, period_grid  # noqa: E402


def load_spoc(path):
    """A real SPOC file read and detrended by exoray (quality mask, biweight): both tools get these arrays."""
    from exoray.ingest import read_lightcurve
    from exoray.preprocess import preprocess_lightcurve

    plc = preprocess_lightcurve(read_lightcurve(path))
    return plc.time, plc.flux_flat, plc.flux_err / plc.trend


def simulate(seed, span=27.0, cadence_min=2.0):
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, span, cadence_min / 1440.0) + 1325.0
    t = t[(t - 1325.0 < 13.2) | (t - 1325.0 > 14.2)]
    noise = 10 ** rng.uniform(-3.7, -2.7)
    y = 1 + noise * rng.standard_normal(t.size)
    p = rng.uniform(1.0, 12.0)
    t0 = t[0] + rng.uniform(0, p)
    dur = rng.uniform(1.0, 5.0) / 24
    y[np.abs(np.mod(t - t0 + 0.5 * p, p) - 0.5 * p) < dur / 2] -= 5 * noise
    return t, y, np.full(t.size, noise)


def timed(fn, repeat=1):
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16, help="light curves (default 16)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "bls.json"))
    ap.add_argument("--oversample", type=int, default=5)
    ap.add_argument("--objective", default="snr", choices=["snr", "likelihood"])
    ap.add_argument("--n-durations", type=int, default=10)
    ap.add_argument("--astropy-n", type=int, default=None, help="time astropy on this many (default all)")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repeats; medians reported")
    args = ap.parse_args(argv)

    shared = Path(os.environ.get("EXORAY_SHARED_DATA", REPO.parent / "shared" / "data" / "real"))
    files = sorted((shared / "tess_spoc_2min").glob("*_lc.fits"))[: args.n]
    lcs, names = [], []
    for f in files:
        try:
            lcs.append(load_spoc(f))
            names.append(f.name)
        except Exception as exc:  # benchmark: skip unreadable files, say so
            print(f"skip {f.name}: {exc}")
    seed = 0
    while len(lcs) < args.n:
        lcs.append(simulate(seed))
        names.append(f"simulated-{seed}")
        seed += 1
    n_pts = [lc[0].size for lc in lcs]

    periods = period_grid(27.0, min_period=0.5)
    durations = np.geomspace(0.5 / 24, 6.5 / 24, args.n_durations)
    dur2d = duration_grid(periods)
    kw = dict(objective=args.objective, oversample=args.oversample)
    print(f"{len(lcs)} light curves ({len(files)} real), {min(n_pts)}-{max(n_pts)} cadences; "
          f"{periods.size} periods x {durations.size} durations; oversample {args.oversample}")

    res = {
        "n_lightcurves": len(lcs),
        "n_real": len(files),
        "cadences_min": int(min(n_pts)),
        "cadences_max": int(max(n_pts)),
        "n_periods": int(periods.size),
        "n_durations": int(durations.size),
        "period_range_days": [float(periods[0]), float(periods[-1])],
        "duration_range_hours": [float(durations[0] * 24), float(durations[-1] * 24)],
        "objective": args.objective,
        "oversample": args.oversample,
        "dtype": args.dtype,
        "cuda_available": bool(torch.cuda.is_available()),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "loadavg_start": list(os.getloadavg()),
    }

    # astropy (one call per light curve, as it is used) and exoray at 1 and 2
    # threads, interleaved in each repeat; medians over repeats
    n_ap = len(lcs) if args.astropy_n is None else min(args.astropy_n, len(lcs))
    times = {"astropy": [], 1: [], 2: [], "2d_1": [], "2d_2": []}
    ref = best_ours = None
    for _ in range(args.repeat):
        t_ap, ref = timed(lambda: bls_power(lcs[:n_ap], periods, durations, backend="astropy", **kw))
        times["astropy"].append(t_ap / n_ap)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            t_ex, best_ours = timed(lambda: bls_power(lcs, periods, durations, dtype=args.dtype, **kw))
            times[threads].append(t_ex / len(lcs))
            t_2d, _ = timed(lambda: bls_power(lcs, periods, dur2d, dtype=args.dtype, **kw))
            times[f"2d_{threads}"].append(t_2d / len(lcs))
    med = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
    res["repeats"] = args.repeat
    res["astropy_ms_per_lc"] = med["astropy"]
    res["astropy_ms_per_lc_all"] = [1e3 * x for x in times["astropy"]]
    print(f"astropy           : {med['astropy']:8.1f} ms / light curve (median of {args.repeat})")
    for threads in (1, 2):
        ms = med[threads]
        res[f"exoray_cpu_{threads}thread_ms_per_lc"] = ms
        res[f"exoray_cpu_{threads}thread_ms_per_lc_all"] = [1e3 * x for x in times[threads]]
        res[f"speedup_vs_astropy_{threads}thread"] = med["astropy"] / ms
        res[f"exoray_cpu_{threads}thread_stellar_grid_ms_per_lc"] = med[f"2d_{threads}"]
        print(f"exoray cpu {threads} thr  : {ms:8.1f} ms / light curve  (x{med['astropy'] / ms:.2f})")
        print(f"  stellar 2-D grid: {med[f'2d_{threads}']:8.1f} ms / light curve")

    # accuracy: float32 vs float64 exoray, and exoray vs astropy power
    ours64 = bls_power(lcs, periods, durations, dtype="float64", **kw)
    res["max_abs_power_diff_float32_vs_float64"] = float(max(np.max(np.abs(a["power"] - b["power"]))
                                                            for a, b in zip(best_ours, ours64)))
    res["frac_periods_power_equal_astropy_rtol1e-6"] = float(np.mean([
        np.mean(np.isclose(a["power"], b["power"], rtol=1e-6)) for a, b in zip(ours64, ref)]))
    print(f"max |power32 - power64| = {res['max_abs_power_diff_float32_vs_float64']:.2e}; "
          f"periods with float64 power == astropy (rtol 1e-6): {res['frac_periods_power_equal_astropy_rtol1e-6']:.3f}")

    steps = [abs(int(np.argmax(a["power"])) - int(np.argmax(b["power"]))) for a, b in zip(best_ours, ref)]
    res["best_period_index_diff_vs_astropy"] = steps
    res["best_period_within_one_step"] = int(sum(s <= 1 for s in steps))
    print(f"best period within one grid step of astropy: {res['best_period_within_one_step']}/{len(steps)}")

    if torch.cuda.is_available():
        res["cuda_device"] = torch.cuda.get_device_name(0)
        bls_power(lcs[:2], periods, durations, dtype=args.dtype, device="cuda", **kw)  # warm up
        t_gpu, _ = timed(lambda: bls_power(lcs, periods, durations, dtype=args.dtype, device="cuda", **kw), 3)
        res["exoray_cuda_ms_per_lc"] = 1e3 * t_gpu / len(lcs)
        big = lcs * max(1, 64 // len(lcs))
        t_big, _ = timed(lambda: bls_power(big, periods, durations, dtype=args.dtype, device="cuda", **kw), 2)
        res["exoray_cuda_batch64_ms_per_lc"] = 1e3 * t_big / len(big)
        print(f"exoray cuda       : {res['exoray_cuda_ms_per_lc']:8.2f} ms / light curve "
              f"(batch of {len(big)}: {res['exoray_cuda_batch64_ms_per_lc']:.2f})")
    res["loadavg_end"] = list(os.getloadavg())

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"wrote {out}")
    return res


if __name__ == "__main__":
    main()
