"""Sweep throughput: Ray Data on 1 and 2 CPUs against a plain single-process loop.

All three run in one process on the same light curves (the real SPOC files in
``../shared/data/real``, repeated through symlinks to reach ``--n`` inputs),
with the same batch size and the same read+preprocess code, after a warm-up
that compiles the numba kernels in every worker.  Ray's start-up is excluded;
what is timed is the processing of all inputs, output writing included.

Reported:

* per light curve: read and preprocess time (ms, one core),
* Ray Data overhead on 1 CPU over the plain loop (target <= 10 %),
* speed-up from 1 to 2 Ray workers (target >= 1.7x).

Usage::

    python benchmarks/bench_sweep.py --n 240 --out benchmarks/results/sweep.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EXORAY_SHARED_DATA", REPO.parent / "shared" / "data" / "real"))


def make_inputs(n: int, folder: Path) -> Path:
    real = sorted((SHARED / "tess_spoc_2min").glob("*_lc.fits"))
    if not real:
        sys.exit(f"no SPOC files under {SHARED}; set EXORAY_SHARED_DATA")
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = real[i % len(real)]
        os.symlink(src, folder / f"copy{i:05d}-{src.name}")
    return folder


def timed_sweep(inputs: Path, out: Path, batch_size: int, use_ray: bool, num_cpus: int | None, search: bool = False):
    from exoray.config import SearchConfig, SweepConfig
    from exoray.pipelines.sweep import sweep

    if out.exists():
        shutil.rmtree(out)
    cfg = SweepConfig(batch_size=batch_size, num_cpus=num_cpus, search=SearchConfig() if search else None)
    run = sweep(str(inputs), str(out), cfg, use_ray=use_ray)
    assert run["accounting"]["accounted"]
    return run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=240, help="light curves per run")
    ap.add_argument("--batch-size", type=int, default=24)
    ap.add_argument("--out", default=None, help="write results JSON here")
    ap.add_argument("--search", action="store_true", help="include BLS search + vetting (default: read + preprocess)")
    args = ap.parse_args(argv)

    import logging

    logging.basicConfig(level=logging.WARNING)
    import ray

    from exoray.runtime.ray_env import init_ray

    tmp = Path(tempfile.mkdtemp(prefix="exoray-bench-sweep-"))
    try:
        inputs = make_inputs(args.n, tmp / "in")
        warm = make_inputs(8, tmp / "warm")
        results = {}

        # plain loop (this process)
        timed_sweep(warm, tmp / "o-warm", 4, False, None, args.search)
        run = timed_sweep(inputs, tmp / "o-loop", args.batch_size, False, None, args.search)
        results["loop"] = run["timings"]

        for cpus in (1, 2):
            init_ray(num_cpus=cpus, log_to_driver=False)
            timed_sweep(warm, tmp / f"o-warm{cpus}", 1, True, cpus, args.search)  # warm every worker
            run = timed_sweep(inputs, tmp / f"o-ray{cpus}", args.batch_size, True, cpus, args.search)
            results[f"ray_{cpus}cpu"] = run["timings"]
            ray.shutdown()

        loop_s = results["loop"]["process_s"]
        r1 = results["ray_1cpu"]["process_s"]
        r2 = results["ray_2cpu"]["process_s"]
        summary = {
            "n_light_curves": args.n,
            "batch_size": args.batch_size,
            "cpu_count": os.cpu_count(),
            "read_ms_per_lc": results["loop"]["read_ms_per_lc"],
            "preprocess_ms_per_lc": results["loop"]["preprocess_ms_per_lc"],
            "write_ms_per_lc": results["loop"]["write_ms_per_lc"],
            "search_ms_per_lc": results["loop"].get("search_ms_per_lc"),
            "search": args.search,
            "loop_ms_per_lc": 1e3 * loop_s / args.n,
            "ray_1cpu_ms_per_lc": 1e3 * r1 / args.n,
            "ray_2cpu_ms_per_lc": 1e3 * r2 / args.n,
            "ray_overhead_1cpu_vs_loop": r1 / loop_s - 1.0,
            "speedup_1_to_2_workers": r1 / r2,
            "speedup_loop_to_ray_2cpu": loop_s / r2,
            "raw": results,
        }
        print(f"{'configuration':<28}{'ms / light curve':>18}")
        print(f"{'plain loop (1 process)':<28}{summary['loop_ms_per_lc']:>18.2f}")
        print(f"{'Ray Data, 1 CPU':<28}{summary['ray_1cpu_ms_per_lc']:>18.2f}")
        print(f"{'Ray Data, 2 CPUs':<28}{summary['ray_2cpu_ms_per_lc']:>18.2f}")
        print(
            f"read {summary['read_ms_per_lc']:.2f} ms + preprocess {summary['preprocess_ms_per_lc']:.2f} ms "
            f"+ write {summary['write_ms_per_lc']:.2f} ms per light curve (one core)"
        )
        print(
            f"Ray overhead on 1 CPU vs loop: {100 * summary['ray_overhead_1cpu_vs_loop']:+.1f}%  "
            f"(target <= +10%); speed-up 1->2 workers: {summary['speedup_1_to_2_workers']:.2f}x (target >= 1.7x)"
        )
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(summary, indent=2, default=str))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
