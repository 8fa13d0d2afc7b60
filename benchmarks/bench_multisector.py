"""Injection-recovery across 1, 2, 3 and 6 sectors: does stacking sectors pay as sqrt(N)?

Usage::

    python benchmarks/bench_multisector.py --n 60 --out benchmarks/results/multisector.json

For each number of consecutive sectors N, ``--n`` quiet stars are simulated
in all N sectors (:func:`exoray.simulate.multisector.simulate_multisector_star`:
same star, each sector with its own timing, pointing, aperture and noise) and
one planet is injected with a *total* expected SNR drawn uniformly in
``--snr`` (the matched-filter SNR over all sectors, white noise), so that its
SNR per sector is the total over sqrt(N).  Two period families:

``short``
    log-uniform in 1-10 d (many transits in every sector);
``long``
    uniform between half and 95 % of the whole span (exactly two or three
    transits in all, usually in different sectors: the regime of the
    multi-sector and duo-transit search).

Each star's sectors are preprocessed one by one, stitched and searched by the
engine (as a sweep does).  A planet counts as recovered when a candidate's
period (or, for a duo-transit, one of its allowed periods) is within 1 % of
the truth and its epoch within a duration.

Reported per N, period family and total-SNR bin: recall, and the recall
expected if the search stacked sectors perfectly (the N = 1 recall at the
same total SNR: a per-sector SNR s over N sectors should behave as SNR
s sqrt(N) in one); the ratio long/short at equal total SNR; time per light
curve.  The thresholds are the search's defaults (set on real light curves,
see README.md); nothing is tuned here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BINS = [(5.0, 7.1), (7.1, 10.0), (10.0, 15.0), (15.0, 25.0)]


def _inject(lcs, rng, family: str, snr_total: float):
    """Inject one planet into a star's sector light curves (in place); its truth."""
    from exoray.astro import a_over_rstar
    from exoray.search.period_grid import central_transit_duration
    from exoray.simulate.sector import inject_transit
    from exoray.simulate.transit import transit_model

    star = lcs[0].meta["star"]
    mass, radius = float(star["mass"]), float(star["radius"])
    t_all = np.concatenate([lc.time for lc in lcs])
    # cadences that survive preprocessing: a transit that falls where the
    # quality mask removes the data was never observed
    ok = np.concatenate([np.isfinite(lc.time) & np.isfinite(lc.flux) & (np.asarray(lc.quality) == 0) for lc in lcs])
    t0_data, t1_data = float(np.nanmin(t_all)), float(np.nanmax(t_all))
    span = t1_data - t0_data
    for _ in range(200):
        if family == "short":
            period = float(np.exp(rng.uniform(np.log(1.0), np.log(10.0))))
        else:
            period = float(rng.uniform(0.5, 0.95) * span)
        t0 = t0_data + float(rng.uniform(0.0, period))
        a_rs = float(a_over_rstar(period, mass, radius))
        b = float(rng.uniform(0.0, 0.7))
        dur = float(central_transit_duration(period, mass, radius))
        ep = np.round((t_all[ok] - t0) / period)
        inside = np.abs(t_all[ok] - t0 - ep * period) < 0.5 * dur
        if np.unique(ep[inside]).size >= 2:
            break
    else:
        return None
    # depth scale for the target matched-filter SNR over all sectors (white noise)
    sig = np.concatenate([np.full(lc.time.size, lc.meta["star"]["sigma_white"]) for lc in lcs])
    unit = 1.0 - transit_model(t_all, period, t0, 0.05, a_rs, b, 0.4, 0.2)
    snr_unit = math.sqrt(np.nansum((unit / sig) ** 2))
    if not snr_unit > 0:
        return None
    rp = 0.05 * math.sqrt(snr_total / snr_unit)  # depth ~ rp^2
    for lc in lcs:
        good = np.isfinite(lc.flux)
        lc.flux[good] = inject_transit(lc.time[good], lc.flux[good], period, t0, rp, a_rs, b)
    return {"period": period, "t0": t0, "duration": dur, "rp_rs": rp, "snr_total": snr_total}


def _recovered(rows, truth) -> bool:
    for r in rows:
        periods = list(r.get("alias_periods_days") or []) or [r["period_days"]]
        for p in periods:
            if abs(p / truth["period"] - 1.0) < 0.01:
                dt = ((r["t0_btjd"] - truth["t0"]) / p + 0.5) % 1.0 - 0.5
                if abs(dt * p) < max(truth["duration"], r["duration_hours"] / 24.0):
                    return True
    return False


def run(n_sectors: int, n_stars: int, family: str, seed: int, snr_range, first_sector: int = 14):
    import dataclasses

    from exoray.config import SearchConfig
    from exoray.engine import Engine
    from exoray.preprocess import preprocess_lightcurve, stitch
    from exoray.simulate.multisector import multisector_timings, simulate_multisector_star

    sectors = list(range(first_sector, first_sector + n_sectors))
    timings = multisector_timings(sectors, seed=seed)
    engine = Engine(search=SearchConfig(rank=False), catalogs=None, ranker=None)
    out = []
    t_search = 0.0
    for i in range(n_stars):
        rng = np.random.default_rng([seed, n_sectors, i, 0 if family == "short" else 1])
        lcs, _ = simulate_multisector_star(rng, 9_100_000_000 + i, "none", timings)
        truth = _inject(lcs, rng, family, float(rng.uniform(*snr_range)))
        if truth is None:
            continue
        plcs = [preprocess_lightcurve(lc) for lc in lcs]
        st = stitch(plcs)
        t0 = time.perf_counter()
        o = engine.analyse_preprocessed([st])[0]
        t_search += time.perf_counter() - t0
        out.append(dict(truth, found=bool(o.ok and _recovered(o.rows, truth)), n_rows=len(o.rows),
                        failure=None if o.ok else repr(o.failures[0][1])))
    return out, t_search


def summarise(records):
    summary = {}
    for key, recs in records.items():
        row = {}
        for lo, hi in BINS:
            sel = [r for r in recs if lo <= r["snr_total"] < hi]
            row[f"{lo:g}-{hi:g}"] = {"n": len(sel), "recall": (sum(r["found"] for r in sel) / len(sel)) if sel else None}
        summary[key] = row
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=60, help="stars per number of sectors and period family")
    ap.add_argument("--sectors", default="1,2,3,6", help="numbers of consecutive sectors")
    ap.add_argument("--families", default="short,long")
    ap.add_argument("--snr", default="5,25", help="range of the total expected SNR")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    snr_range = tuple(float(x) for x in a.snr.split(","))
    records, timing = {}, {}
    for fam in a.families.split(","):
        for n in [int(x) for x in a.sectors.split(",")]:
            t0 = time.perf_counter()
            recs, t_search = run(n, a.n, fam, a.seed, snr_range)
            key = f"{fam}_N{n}"
            records[key] = recs
            timing[key] = {"search_s_per_star": t_search / max(len(recs), 1),
                           "search_s_per_light_curve": t_search / max(len(recs), 1) / n,
                           "wall_s": time.perf_counter() - t0}
            found = sum(r["found"] for r in recs)
            print(f"{key}: {found}/{len(recs)} recovered, {timing[key]['search_s_per_light_curve']:.2f} s per "
                  f"light curve", flush=True)
    summary = summarise(records)
    # perfect stacking: the N-sector recall at total SNR x equals the 1-sector recall at x
    ratios = {}
    for key, row in summary.items():
        fam, n = key.split("_N")
        ref = summary.get(f"{fam}_N1")
        if ref is None:
            continue
        ratios[key] = {b: (row[b]["recall"] / ref[b]["recall"]) if row[b]["recall"] is not None and ref[b]["recall"]
                       else None for b in row}
    long_short = {}
    for key, row in summary.items():
        if key.startswith("long_"):
            short = summary.get(key.replace("long_", "short_"))
            if short:
                long_short[key] = {b: (row[b]["recall"] / short[b]["recall"]) if row[b]["recall"] is not None
                                   and short[b]["recall"] else None for b in row}
    res = {"summary": summary, "recall_vs_one_sector_at_equal_total_snr": ratios, "long_over_short": long_short,
           "timing": timing, "records": records, "args": vars(a)}
    print(json.dumps({k: res[k] for k in ("summary", "recall_vs_one_sector_at_equal_total_snr", "long_over_short",
                                           "timing")}, indent=1))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(res, indent=1, default=float))
    return res


if __name__ == "__main__":
    main()
