"""Ray job entry point: train one deep model on Ray Train and register it.

Submit to a running cluster (it joins with ``address="auto"``)::

    ray job submit --working-dir . -- python jobs/train.py autoencoder \
        --data /mnt/results/s0001 --workers 4 --use-gpu \
        --storage s3://my-bucket/exoray/train_runs --registry /mnt/models

``--smoke-test`` trains a tiny model on 8 simulated stars for one epoch (no
data, no network).  The job writes ``job_config.json`` (arguments, full model
config, data spec) and ``job_result.json`` (metrics, registered version)
into ``--out``.  Resubmitting the same job resumes from the last checkpoint
in ``--storage``.  Everything here is a thin wrapper over
:func:`exoray.models.train.train_model`, the same code ``exoray train`` runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train an exoray deep model on a Ray cluster.")
    ap.add_argument("model", choices=["autoencoder", "transformer", "gan", "classifier"])
    ap.add_argument("--data", help="sweep output folder (OUT/lightcurves/*.parquet)")
    ap.add_argument("--n-stars", type=int, default=None, help="simulate this many stars instead")
    ap.add_argument("--truth", default=None, help="truth.csv for --data (default: found beside the sweep)")
    ap.add_argument("--out", required=True, help="folder for job_config.json / job_result.json")
    ap.add_argument("--address", default=os.environ.get("RAY_ADDRESS", "auto"), help="Ray address (default: auto)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--use-gpu", action="store_true")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    ap.add_argument("--pretrained", default=None, help="classifier: registered encoder or version folder")
    ap.add_argument("--storage", default=None, help="Ray Train storage path (folder or URI)")
    ap.add_argument("--registry", default=None, help="model registry folder")
    ap.add_argument("--max-failures", type=int, default=1, help="worker failures to recover from (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke-test", action="store_true", help="tiny model, 8 simulated stars, 1 epoch")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from exoray.models.commands import SMOKE_CONFIGS, SMOKE_STARS, parse_set
    from exoray.models.registry import default_config
    from exoray.models.train import DataSpec, TrainSettings, train_model
    from exoray.pipelines.ray_env import init_ray

    if args.data is None and args.n_stars is None and not args.smoke_test:
        ap.error("--data or --n-stars is required unless --smoke-test is given")
    os.makedirs(args.out, exist_ok=True)
    cfg = dict(SMOKE_CONFIGS[args.model]) if args.smoke_test else {}
    if args.epochs is not None:
        cfg["epochs"] = args.epochs
    if args.pretrained is not None:
        cfg["pretrained"] = args.pretrained
    cfg.update(parse_set(args.set))
    cfg["seed"] = args.seed
    data = DataSpec(source=args.data, n_stars=args.n_stars or SMOKE_STARS, seed=args.seed, truth=args.truth,
                    snr_range=(15.0, 80.0) if args.smoke_test else (8.0, 60.0))
    storage = args.storage or os.path.join(os.path.abspath(args.out), "train_runs")
    registry = args.registry or os.path.join(os.path.abspath(args.out), "models")
    settings = TrainSettings(num_workers=args.workers, use_gpu=args.use_gpu, storage_path=storage,
                             registry=registry, max_failures=args.max_failures)
    with open(os.path.join(args.out, "job_config.json"), "w") as fh:
        json.dump({"argv": sys.argv, "model": args.model, "config": default_config(args.model, **cfg),
                   "data": data.key(), "settings": vars(settings)}, fh, indent=2, default=str)
    init_ray(address=None if args.address == "local" else args.address)
    out = train_model(args.model, cfg, data, settings)
    result = {"version_path": str(out["version_path"]), "run_name": out["run_name"],
              "storage_path": out["storage_path"],
              "metrics": {k: v for k, v in out["metrics"].items() if k != "history"}}
    with open(os.path.join(args.out, "job_result.json"), "w") as fh:
        json.dump(result, fh, indent=2, default=str)
    print(json.dumps({k: result["metrics"].get(k) for k in ("epoch", "val_loss", "val_auc", "windows_per_s")}))
    print(f"registered: {out['version_path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
