"""Ray job entry point: ASHA hyper-parameter search over Ray Train runs.

Submit to a running cluster (it joins with ``address="auto"``)::

    ray job submit --working-dir . -- python jobs/tune.py autoencoder \
        --data /mnt/results/s0001 --num-samples 16 --epochs 20 \
        --storage s3://my-bucket/exoray/tune --registry /mnt/models

``--smoke-test`` runs two tiny trials of two epochs on 8 simulated stars.
The job writes ``job_config.json`` and ``job_result.json`` (all trials, the
best config, the registered version) into ``--out``.  A thin wrapper over
:func:`exoray.training.tune.tune_model`, the same code ``exoray tune`` runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys


def main(argv=None) -> int:
    from exoray.training.commands import add_common_args, config_and_data, tune_plan

    ap = argparse.ArgumentParser(description="Tune an exoray deep model on a Ray cluster (ASHA).")
    ap.add_argument("model", choices=["autoencoder", "transformer", "classifier"])
    add_common_args(ap)  # the same data/config options as `exoray tune`
    ap.add_argument("--out", required=True, help="folder for job_config.json / job_result.json")
    ap.add_argument("--num-samples", type=int, default=8)
    ap.add_argument("--max-concurrent", type=int, default=2)
    ap.set_defaults(address=os.environ.get("RAY_ADDRESS", "auto"))  # 'local' starts a local Ray
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from exoray.training.tune import tune_model
    from exoray.runtime.ray_env import init_ray

    if args.data is None and args.n_stars is None and not args.smoke_test:
        ap.error("--data or --n-stars is required unless --smoke-test is given")
    os.makedirs(args.out, exist_ok=True)
    cfg, data = config_and_data(args, args.model)
    num_samples = tune_plan(args, cfg)
    storage = args.storage or os.path.join(os.path.abspath(args.out), "tune_runs")
    registry = args.registry or os.path.join(os.path.abspath(args.out), "models")
    with open(os.path.join(args.out, "job_config.json"), "w") as fh:
        json.dump({"argv": sys.argv, "model": args.model, "config": cfg, "data": data.key(),
                   "num_samples": num_samples, "max_concurrent": args.max_concurrent, "storage": storage,
                   "registry": registry}, fh, indent=2, default=str)
    init_ray(address=None if args.address == "local" else args.address, num_cpus=args.num_cpus)
    out = tune_model(args.model, cfg, data, num_samples=num_samples, max_concurrent=args.max_concurrent,
                     storage_path=storage, registry=registry, smoke=args.smoke_test, seed=args.seed)
    result = {"version_path": str(out["version_path"]), "experiment_path": out["experiment_path"],
              "best_config": out["best_config"], "trials": out["trials"]}
    with open(os.path.join(args.out, "job_result.json"), "w") as fh:
        json.dump(result, fh, indent=2, default=str)
    print(json.dumps(out["trials"], default=str))
    print(f"registered: {out['version_path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
