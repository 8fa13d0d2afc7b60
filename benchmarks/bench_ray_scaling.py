"""Ray Data overhead and scaling of the whole sweep (read tasks + engine actors) on simulated light curves.

Three sweeps of the same ``--n`` simulated 2-min light curves (``exoray
simulate``'s generator, written once under ``--data``, outside the
repository), each into a fresh output folder, with the full chain (read,
preprocess, search + vetting, ranking, decision; reports off):

* ``loop``: ``sweep(..., use_ray=False)``, one engine in this process;
* ``ray_1``: a local Ray instance with 1 CPU and 1 analysis actor;
* ``ray_2``: a local Ray instance with 2 CPUs and 2 analysis actors.

What is timed is ``run.json``'s ``process_s``: every batch read, analysed and
written, the actors' start-up (imports, engine, catalogues, ranker) included,
Ray's own start-up excluded.  The numba kernels are compiled to the on-disk
cache by a warm-up sweep first, so no run pays for compilation.

Reported: Ray Data overhead of ``ray_1`` over ``loop`` (target <= 10 %) and
the speed-up from ``ray_1`` to ``ray_2`` (target >= 1.7x), with the load
average of the machine before and after each run (other processes share the
cores; a busy machine lowers the 2-worker figure).  Beside the wall-clock
figures, the CPU time of this process and all its descendants (the whole
local Ray instance) is read from ``/proc``: its overhead over the loop does
not depend on what else runs on the machine, and CPU time / wall time says
how many cores a run actually obtained.

``--max-period`` shortens the search (fewer trial periods) when the full
search is too slow for ``--n`` light curves three times over.

Usage::

    python benchmarks/bench_ray_scaling.py --n 1000 --max-period 5 --batch-size 16 \\
        --data /tmp/exoray-bench-scaling --out /tmp/exoray-bench-scaling/result.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def simulated_inputs(data: Path, n: int, seed: int) -> Path:
    from exoray.simulate import simulate_sector

    folder = data / f"sim-n{n}-seed{seed}"
    if not (folder / "truth.csv").exists():
        t0 = time.perf_counter()
        simulate_sector(n, folder, seed=seed)
        print(f"simulated {n} light curves into {folder} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return folder


class TreeCPU(threading.Thread):
    """CPU seconds used by this process and all its descendants (the local Ray instance: GCS, raylet,
    workers, actors), read from ``/proc`` twice a second; a process that exits loses at most its last
    half-second.  Unlike wall-clock time, CPU time hardly changes when other processes share the cores."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self):
        super().__init__(daemon=True)
        self.stop_event, self.last = threading.Event(), {}

    @staticmethod
    def _stat(pid: str):
        with open(f"/proc/{pid}/stat") as fh:
            f = fh.read().rsplit(")", 1)[1].split()
        return int(f[1]), int(f[19]), (int(f[11]) + int(f[12]))  # ppid, start time, utime + stime

    def sample(self):
        procs = {}
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    procs[int(pid)] = self._stat(pid)
                except (OSError, IndexError, ValueError):
                    pass
        me, mine = os.getpid(), set()
        for pid in procs:
            p, seen = pid, 0
            while p in procs and p != me and seen < 64:
                p, seen = procs[p][0], seen + 1
            if p == me:
                mine.add(pid)
        for pid in mine:
            self.last[(pid, procs[pid][1])] = procs[pid][2]

    def run(self):
        while not self.stop_event.wait(0.5):
            self.sample()

    def seconds(self) -> float:
        return sum(self.last.values()) / self.TICK


def timed_sweep(inputs, out: Path, config, use_ray: bool) -> dict:
    from exoray.pipelines.sweep import sweep

    if out.exists():
        shutil.rmtree(out)
    load0 = os.getloadavg()
    cpu = TreeCPU()
    cpu.sample()
    cpu0 = cpu.seconds()
    cpu.start()
    run = sweep(str(inputs), str(out), config, use_ray=use_ray)
    cpu.stop_event.set()
    cpu.join()
    cpu.sample()
    assert run["accounting"]["accounted"], run["accounting"]
    n = run["counts"]["processed_this_run"]
    total = cpu.seconds() - cpu0
    return {"timings": run["timings"], "counts": run["counts"], "workers": run["config"]["workers_used"],
            "batches": run["batches"], "loadavg_before": load0, "loadavg_after": os.getloadavg(),
            "cpu_s_total": total, "cpu_ms_per_lc_total": 1e3 * total / n,
            "cores_obtained": total / run["timings"]["process_s"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="simulated light curves per run (default 1000)")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-period", type=float, default=None, help="longest period searched (days; default: all)")
    ap.add_argument("--data", default="/tmp/exoray-bench-scaling", help="where the inputs and outputs go")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--runs", default="loop,ray_1,ray_2", help="which runs, in order")
    args = ap.parse_args(argv)

    import logging

    logging.basicConfig(level=logging.WARNING)
    import ray

    from exoray.config import SearchConfig, SweepConfig
    from exoray.runtime.ray_env import init_ray

    data = Path(args.data)
    inputs = simulated_inputs(data, args.n, args.seed)
    warm = sorted(inputs.glob("*.fits"))[:4]
    search = SearchConfig(max_period_days=args.max_period)
    results = {}
    for name in [r.strip() for r in args.runs.split(",") if r.strip()]:
        if name == "loop":
            cfg = SweepConfig(batch_size=args.batch_size, search=search, reports="none")
            timed_sweep(warm[0], data / "out-warm", cfg, False)  # numba kernels into the on-disk cache
            results[name] = timed_sweep(inputs, data / "out-loop", cfg, False)
        else:
            cpus = int(name.split("_")[1])
            init_ray(num_cpus=cpus, log_to_driver=False)
            cfg = SweepConfig(batch_size=args.batch_size, search=search, reports="none", workers=cpus)
            results[name] = timed_sweep(inputs, data / f"out-{name}", cfg, True)
            ray.shutdown()
        r = results[name]
        print(f"{name}: {r['timings']['process_s']:.1f} s for {args.n} light curves "
              f"({1e3 * r['timings']['process_s'] / args.n:.0f} ms each), {r['workers']} worker(s); CPU "
              f"{r['cpu_ms_per_lc_total']:.0f} ms per light curve in all (read + analysis "
              f"{r['timings']['cpu_ms_per_lc']:.0f}), {r['cores_obtained']:.2f} cores obtained; "
              f"load {r['loadavg_before'][0]:.1f} -> {r['loadavg_after'][0]:.1f}", file=sys.stderr, flush=True)

    summary = {"n_light_curves": args.n, "batch_size": args.batch_size, "max_period_days": args.max_period,
               "cpu_count": os.cpu_count(), "runs": results}
    if "loop" in results:
        t = results["loop"]["timings"]
        summary["per_lc_ms_loop"] = {k: t[k] for k in t if k.endswith("_ms_per_lc")}
    if "loop" in results and "ray_1" in results:
        summary["ray_overhead_1_worker_vs_loop"] = (results["ray_1"]["timings"]["process_s"]
                                                    / results["loop"]["timings"]["process_s"] - 1.0)
        summary["ray_cpu_overhead_1_worker_vs_loop"] = (results["ray_1"]["cpu_s_total"]
                                                        / results["loop"]["cpu_s_total"] - 1.0)
    if "ray_1" in results and "ray_2" in results:
        summary["speedup_1_to_2_workers"] = (results["ray_1"]["timings"]["process_s"]
                                             / results["ray_2"]["timings"]["process_s"])
        summary["cores_obtained_1_and_2_workers"] = [results["ray_1"]["cores_obtained"],
                                                     results["ray_2"]["cores_obtained"]]
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
