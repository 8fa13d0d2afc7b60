"""Training throughput of the deep models: Ray Train (1 and 2 workers) vs a plain torch loop.

Usage::

    python benchmarks/bench_train.py [--n-stars 60] [--epochs 4] [--repeat-data 1]
                                     [--models autoencoder transformer]
                                     [--out benchmarks/results/train.json]

One set of simulated windows (:func:`exoray.training.data.window_dataset`,
``--n-stars`` stars, ``--repeat-data`` copies to lengthen epochs) is built
once; for each model (default architecture) the same training windows go
through

* ``plain``: a single-process torch loop, one thread, same batch size,
  optimiser and loss as the Ray Train worker (the peer: no Ray at all);
* ``ray_1``: :func:`exoray.training.train.train_model` with 1 Ray Train worker;
* ``ray_2``: the same with 2 workers (DDP over gloo, each worker one thread,
  each reading its own shard).

Throughput is training windows per second over the epochs after the first
(warm-up excluded; validation excluded), the median over those epochs.  For
Ray runs it is ``windows on rank 0 * world size / rank 0's epoch time``
(shards are equal-sized).  Ratios ``ray_1 / plain`` (Ray Train overhead)
and ``ray_2 / ray_1`` (scaling) are taken inside one run.  Results are JSON.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def plain_loop(name, cfg, x, epochs):
    """Single-process reference loop: same model, optimiser, batch size and loss as the Ray worker."""
    import torch
    from torch.nn import functional as F

    from exoray.models.registry import build_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model(name, cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    xt = torch.from_numpy(x)
    bs = int(cfg["batch_size"])
    rates = []
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        t0 = time.perf_counter()
        for i in range(0, len(xt), bs):
            b = xt[perm[i:i + bs]]
            opt.zero_grad(set_to_none=True)
            if name == "autoencoder":
                loss = F.mse_loss(model(b), b)
            else:
                mask = model.random_mask(len(b))
                err = ((model(b, mask) - model._patches(b)) ** 2).mean(dim=-1)
                loss = (err * mask).sum() / mask.sum()
            loss.backward()
            opt.step()
        rates.append(len(xt) / (time.perf_counter() - t0))
    return rates


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-stars", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--repeat-data", type=int, default=1, help="copies of the training windows per epoch")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--models", nargs="+", default=["autoencoder", "transformer"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "train.json"))
    args = ap.parse_args(argv)
    if args.epochs < 2:
        ap.error("--epochs must be >= 2 (the first epoch is warm-up)")

    from exoray.runtime.ray_env import init_ray

    init_ray(num_cpus=2)
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    from exoray.training.data import class_counts, to_numpy, window_dataset
    from exoray.models.registry import default_config
    from exoray.training.train import DataSpec, TrainSettings, prepare_datasets, train_model

    t0 = time.perf_counter()
    spec = DataSpec(n_stars=args.n_stars, seed=args.seed)
    base = window_dataset(None, n_stars=args.n_stars, seed=args.seed, stars_per_task=10)
    t_data = time.perf_counter() - t0
    if args.repeat_data > 1:
        base = base.union(*[base for _ in range(args.repeat_data - 1)]).materialize()
    results = {"n_stars": args.n_stars, "repeat_data": args.repeat_data, "epochs": args.epochs,
               "batch_size": args.batch_size, "windows": class_counts(base), "data_seconds": t_data,
               "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "load_avg_start": os.getloadavg()}, "models": {}}
    for name in args.models:
        cfg = default_config(name, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
        data = prepare_datasets(name, spec, base_ds=base)
        x = np.asarray(to_numpy(data[0])["window"], np.float32)
        row = {"config": cfg, "train_windows": int(len(x))}
        rates = plain_loop(name, cfg, x, args.epochs)
        row["plain"] = {"windows_per_s": statistics.median(rates[1:]), "per_epoch": rates}
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                out = train_model(name, cfg, spec, datasets=data,
                                  settings=TrainSettings(num_workers=workers, storage_path=f"{tmp}/runs",
                                                         registry=f"{tmp}/reg", register=False))
            hist = out["metrics"]["history"]
            per_epoch = [h["windows_per_s"] for h in hist]
            row[f"ray_{workers}"] = {"windows_per_s": statistics.median(per_epoch[1:]), "per_epoch": per_epoch,
                                     "fit_seconds": out["metrics"]["fit_seconds"],
                                     "val_auc": out["metrics"].get("val_auc")}
        row["ratio_ray1_over_plain"] = row["ray_1"]["windows_per_s"] / row["plain"]["windows_per_s"]
        row["ratio_ray2_over_ray1"] = row["ray_2"]["windows_per_s"] / row["ray_1"]["windows_per_s"]
        results["models"][name] = row
        print(f"{name}: plain {row['plain']['windows_per_s']:.0f} w/s, ray 1 worker "
              f"{row['ray_1']['windows_per_s']:.0f} w/s ({row['ratio_ray1_over_plain']:.2f}x plain), "
              f"2 workers {row['ray_2']['windows_per_s']:.0f} w/s ({row['ratio_ray2_over_ray1']:.2f}x 1 worker); "
              f"fit {row['ray_1']['fit_seconds']:.0f}/{row['ray_2']['fit_seconds']:.0f} s", flush=True)
    results["machine"]["load_avg_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
