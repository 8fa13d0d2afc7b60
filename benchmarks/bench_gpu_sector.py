"""A simulated sector end to end on one node: CPU workers sharing one GPU, time per stage.

Usage (a GPU node)::

    python benchmarks/bench_gpu_sector.py --n 20000 --device cuda --workers 16 --out gpu_sector.json

and on a laptop (no GPU) for a smoke run::

    python benchmarks/bench_gpu_sector.py --n 64 --device cpu --workers 2

It needs only torch, numpy, scipy and numba (and pyarrow, which exoray's
schemas import): no Ray, astropy or lightgbm, so it runs on a bare GPU
machine.  Light curves are simulated in memory by :mod:`exoray.simulate`
(a SPOC-like 2-min sector: planets, multi-planet systems, eclipsing and
blended binaries, quiet stars, with red noise and gaps), each worker making
its own stars (nothing large crosses a process boundary).  Every worker
holds one :class:`exoray.engine.Engine` and feeds it batches of light
curves sorted by search-grid class, so the stars of a batch that share a
grid take each BLS pass in one kernel call on the device; while one worker
vets on its CPU, the others keep the GPU busy.  Ranking runs when lightgbm
and the shipped ranker are importable (``--rank``), else scores stay empty
and the run says so.

Reported: wall time and light curves per second; per-stage CPU-side times
(simulate, preprocess, search + vet, rank) summed over workers; recall of
the injected planets with two transits at SNR >= 10 (period
within 1 %) as a sanity check; and a kernel
micro-benchmark (one BLS pass over the full grid at batch 1, 64, 256, 1024
on the device, ms per light curve per pass, with the float32 result checked
against float64).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _threads_one() -> None:
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def _simulate(index: int, seed: int):
    from exoray.simulate import DEFAULT_MIX, sector_timing
    from exoray.simulate.sector import simulate_lightcurve, simulate_star

    timing = sector_timing(1, seed)
    classes = list(DEFAULT_MIX)
    probs = np.asarray([DEFAULT_MIX[c] for c in classes], float)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))
    cls = str(rng.choice(classes, p=probs / probs.sum()))
    star, signals = simulate_star(rng, 7_000_000 + index, cls, timing)
    lc = simulate_lightcurve(rng, star, signals, timing=timing)
    # planets a search can find: two transits in the data at an SNR of 10 or more
    truth = [float(r["period_days"]) for r in lc.meta.get("truth", [])
             if "sb_ratio" not in r and not r.get("single_transit") and r.get("snr", 0) >= 10
             and r.get("n_transits_in_data", 0) >= 2]
    return lc, cls, truth


def _worker(args):
    indices, seed, device, batch, rank = args
    _threads_one()
    from exoray.config import SearchConfig
    from exoray.engine import Engine
    from exoray.search.candidates import grid_class

    t0 = time.perf_counter()
    sims = [_simulate(i, seed) for i in indices]
    t_sim = time.perf_counter() - t0
    ranker = None
    if rank:
        from exoray.rank.ranker import load_default_ranker

        ranker = load_default_ranker()
    cfg = SearchConfig(device=device, rank=ranker is not None)
    engine = Engine(search=cfg, catalogs=None, ranker=ranker)
    t1 = time.perf_counter()
    plcs = [o.plc for o in engine.preprocess([s[0] for s in sims])]
    t_pre = time.perf_counter() - t1
    order = sorted(range(len(plcs)), key=lambda i: (plcs[i] is None, grid_class(plcs[i], cfg) if plcs[i] is not None
                                                     else (0, 0)))
    stage = {"search": 0.0, "rank": 0.0}
    found = recovered = n_planets = n_failed = 0
    for a in range(0, len(order), batch):
        idx = [i for i in order[a:a + batch] if plcs[i] is not None]
        n_failed += sum(1 for i in order[a:a + batch] if plcs[i] is None)
        outs = engine.analyse_preprocessed([plcs[i] for i in idx])
        for i, o in zip(idx, outs):
            for k in stage:
                stage[k] += o.timings_ms.get(k, 0.0) / 1e3
            n_failed += int(not o.ok)
            found += len(o.rows)
            periods = [r["period_days"] for r in o.rows]
            for p in sims[i][2]:
                n_planets += 1
                recovered += int(any(abs(q / p - 1) < 0.01 for q in periods))
    return {"n": len(indices), "simulate_s": t_sim, "preprocess_s": t_pre, "search_s": stage["search"],
            "rank_s": stage["rank"], "candidates": found, "planets": n_planets, "recovered": recovered,
            "failed": n_failed}


def kernel_bench(device: str, sizes=(1, 64, 256, 1024), seed: int = 3):
    """One BLS pass over a sun-like star's full grid: ms per light curve per pass, and float32 vs float64."""
    _threads_one()
    import torch

    from exoray.config import SearchConfig
    from exoray.preprocess import preprocess_lightcurve
    from exoray.search.bls import BLSBatch, bls_power, prepare_batch
    from exoray.search.candidates import search_grid

    lc, _, _ = _simulate(0, seed)
    plc = preprocess_lightcurve(lc)
    grid = search_grid(plc, SearchConfig())
    b = prepare_batch(plc)
    out = {"n_periods": int(grid.periods.size), "n_durations": int(grid.durations.size)}
    kw = dict(oversample=SearchConfig().oversample, min_transits=1.5, duration_mask=grid.mask, device=device)
    ref = bls_power(b, grid.periods, grid.durations, dtype="float64", **kw)[0]
    one = bls_power(b, grid.periods, grid.durations, dtype="float32", **kw)[0]
    out["float32_vs_float64_max_rel_power"] = float(np.max(np.abs(one["power"] - ref["power"]) /
                                                           np.maximum(np.abs(ref["power"]), 1e-9)))
    out["same_best_period"] = bool(np.argmax(one["power"]) == np.argmax(ref["power"]))
    for n in sizes:
        big = BLSBatch(b.time * n, b.flux * n, b.ivar * n, b.meta * n)
        try:
            bls_power(big, grid.periods, grid.durations, dtype="float32", **kw)  # warm-up (allocations, JIT)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            bls_power(big, grid.periods, grid.durations, dtype="float32", **kw)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            out[f"ms_per_lc_pass_batch_{n}"] = 1e3 * (time.perf_counter() - t0) / n
        except RuntimeError as exc:  # out of device memory at this batch size
            out[f"ms_per_lc_pass_batch_{n}"] = f"failed: {str(exc).splitlines()[0]}"
            break
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="light curves in the simulated sector")
    ap.add_argument("--device", default="cuda", help="cpu, cuda or cuda:N")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="CPU processes sharing the device")
    ap.add_argument("--batch", type=int, default=256, help="light curves per engine call")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--rank", action="store_true", help="score with the shipped ranker (needs lightgbm)")
    ap.add_argument("--kernel-sizes", default="1,64,256,1024", help="batch sizes of the kernel micro-benchmark "
                    "('' to skip)")
    ap.add_argument("--out", help="write the results as JSON here")
    a = ap.parse_args(argv)
    import torch

    if a.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error(f"--device {a.device}: CUDA is not available on this machine (torch {torch.__version__}); "
                 "use --device cpu")
    if a.rank:
        try:
            import lightgbm  # noqa: F401
        except ImportError:
            ap.error("--rank needs lightgbm; drop --rank to time read -> vet without scores")
    res = {"n": a.n, "device": a.device, "workers": a.workers, "batch": a.batch, "rank": a.rank,
           "torch": torch.__version__, "python": platform.python_version(), "cpus": os.cpu_count(),
           "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    sizes = [int(x) for x in a.kernel_sizes.split(",") if x.strip()]
    if sizes:
        res["kernel"] = kernel_bench(a.device, sizes)
        print("kernel:", json.dumps(res["kernel"]), flush=True)
    chunks = [list(range(a.n))[i::a.workers] for i in range(a.workers)]
    jobs = [(c, a.seed, a.device, a.batch, a.rank) for c in chunks if c]
    t0 = time.perf_counter()
    if len(jobs) == 1:
        parts = [_worker(jobs[0])]
    else:
        with mp.get_context("spawn").Pool(len(jobs)) as pool:
            parts = []
            for p in pool.imap_unordered(_worker, jobs):
                parts.append(p)
                print(f"worker done: {p['n']} light curves, search {p['search_s']:.1f} s", flush=True)
    wall = time.perf_counter() - t0
    tot = {k: sum(p[k] for p in parts) for k in parts[0]}
    res.update(wall_s=wall, light_curves_per_s=a.n / wall,
               stage_s_summed_over_workers={k: tot[k] for k in ("simulate_s", "preprocess_s", "search_s", "rank_s")},
               ms_per_lc={k.replace("_s", ""): 1e3 * tot[k] / a.n for k in ("simulate_s", "preprocess_s", "search_s",
                                                                           "rank_s")},
               candidates=tot["candidates"], failed=tot["failed"],
               planet_recall=tot["recovered"] / tot["planets"] if tot["planets"] else None,
               ranked=bool(a.rank))
    print(json.dumps(res, indent=2))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
