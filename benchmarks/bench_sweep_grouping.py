"""Sweep throughput per light curve: each star searched once over its sectors, or every file on its own.

Usage::

    python benchmarks/bench_sweep_grouping.py --stars 12 --out benchmarks/results/sweep_grouping.json

Simulates ``--stars`` stars in two sectors (24 and 51, as TOI-2266), then
sweeps the same files twice without Ray (``use_ray=False``, one process,
``max_period_days=5``, no reports): with ``group_sectors`` (one stitched
search per star, the default) and without (every file searched as its own
star).  Reports wall-clock and CPU time per light curve (file) and their
ratio; CPU time is the steadier number on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from exoray.config import SearchConfig, SweepConfig  # noqa: E402
from exoray.pipelines.sweep import sweep  # noqa: E402
from exoray.simulate import simulate_sector  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stars", type=int, default=12)
    ap.add_argument("--sectors", default="24,51")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--out", default=None, help="JSON file for the results (printed either way)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        sim = Path(tmp) / "sim"
        simulate_sector(args.stars, sim, seed=args.seed, sectors=args.sectors)
        n_files = len(list(sim.glob("*.fits")))
        res = {"stars": args.stars, "sectors": args.sectors, "files": n_files, "batch_size": args.batch_size}
        for name, grouped in (("grouped", True), ("independent", False)):
            cfg = SweepConfig(batch_size=args.batch_size, search=SearchConfig(max_period_days=5.0),
                              reports="none", group_sectors=grouped)
            t0, c0 = time.perf_counter(), time.process_time()
            run = sweep(str(sim), os.path.join(tmp, name), cfg, use_ray=False)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            assert run["accounting"]["accounted"], run["accounting"]
            res[name] = {"wall_s": wall, "cpu_s": cpu, "wall_ms_per_lc": 1e3 * wall / n_files,
                         "cpu_ms_per_lc": 1e3 * cpu / n_files, "plan_s": run["timings"]["plan_s"],
                         "searches": run["counts"]["stars_searched_this_run"],
                         "candidates": run["counts"]["candidates_total"],
                         **{k: run["timings"][k] for k in ("preprocess_ms_per_lc", "search_ms_per_lc")}}
        res["grouped_over_independent_wall"] = res["grouped"]["wall_s"] / res["independent"]["wall_s"]
        res["grouped_over_independent_cpu"] = res["grouped"]["cpu_s"] / res["independent"]["cpu_s"]
    print(json.dumps(res, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
