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
:func:`exoray.training.train.train_model`, the same code ``exoray train`` runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys


def main(argv=None) -> int:
    from exoray.training.commands import MODEL_NAMES, add_common_args, config_and_data

    ap = argparse.ArgumentParser(description="Train an exoray deep model on a Ray cluster.")
    ap.add_argument("model", choices=list(MODEL_NAMES))
    add_common_args(ap)  # the same data/config options as `exoray train`
    ap.add_argument("--out", required=True, help="folder for job_config.json / job_result.json")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--use-gpu", action="store_true")
    ap.add_argument("--max-failures", type=int, default=1, help="worker failures to recover from (default 1)")
    ap.set_defaults(address=os.environ.get("RAY_ADDRESS", "auto"))  # 'local' starts a local Ray
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from exoray.models.registry import default_config
    from exoray.training.train import TrainSettings, train_model
    from exoray.runtime.ray_env import init_ray

    if args.data is None and args.n_stars is None and not args.smoke_test:
        ap.error("--data or --n-stars is required unless --smoke-test is given")
    os.makedirs(args.out, exist_ok=True)
    cfg, data = config_and_data(args, args.model)
    storage = args.storage or os.path.join(os.path.abspath(args.out), "train_runs")
    registry = args.registry or os.path.join(os.path.abspath(args.out), "models")
    settings = TrainSettings(num_workers=args.workers, use_gpu=args.use_gpu, storage_path=storage,
                             registry=registry, max_failures=args.max_failures)
    with open(os.path.join(args.out, "job_config.json"), "w") as fh:
        json.dump({"argv": sys.argv, "model": args.model, "config": default_config(args.model, **cfg),
                   "data": data.key(), "settings": vars(settings)}, fh, indent=2, default=str)
    init_ray(address=None if args.address == "local" else args.address, num_cpus=args.num_cpus)
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
