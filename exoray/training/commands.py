"""``exoray train {autoencoder,transformer,gan,classifier}`` and ``exoray tune MODEL``.

``exoray models`` (the registry listing) is registered by
:mod:`exoray.models.commands`; ``exoray evaluate`` and ``exoray export`` by
:mod:`exoray.training.evaluate_commands`.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any, Dict

from ..cliutil import group_subparsers
from ..errors import ConfigError
from ..models.registry import default_config
from ..runtime.ray_env import init_ray

# The modules that do the work (Ray Train and Tune, torch) are imported inside
# the command functions: `exoray --help` imports this module to list its
# subcommands.

log = logging.getLogger(__name__)

__all__ = ["register", "cmd_train", "cmd_tune", "SMOKE_CONFIGS", "parse_set", "add_common_args",
           "config_and_data", "tune_plan"]

MODEL_NAMES = ("autoencoder", "transformer", "gan", "classifier")  # == registry.MODEL_NAMES (no torch import here)

#: tiny architectures for --smoke-test (train in seconds on one CPU)
SMOKE_CONFIGS: Dict[str, Dict[str, Any]] = {
    "autoencoder": {"base_channels": 4, "depth": 2, "latent_dim": 8, "epochs": 1, "batch_size": 32},
    "transformer": {"d_model": 16, "n_layers": 1, "n_heads": 2, "patch_size": 16, "epochs": 1, "batch_size": 32},
    "gan": {"base_channels": 4, "noise_dim": 8, "depth": 2, "epochs": 1, "batch_size": 16},
    "classifier": {"encoder_config": {"base_channels": 4, "depth": 2, "latent_dim": 8}, "hidden": 8,
                   "freeze_encoder": False, "epochs": 1, "batch_size": 32},
}
SMOKE_STARS = 8


def parse_set(items) -> Dict[str, Any]:
    """``KEY=VALUE`` strings to a dict; values parsed as JSON when they can be (numbers, true, {...})."""
    out: Dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def add_common_args(p: argparse.ArgumentParser) -> None:
    """Data, config and cluster options shared by ``exoray train``, ``exoray tune`` and ``jobs/``."""
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", metavar="SWEEP_OUT",
                     help="sweep output folder (OUT/lightcurves/*.parquet); labels from its truth.csv when present")
    src.add_argument("--n-stars", type=int, default=None, help="simulate this many stars instead (default 200)")
    p.add_argument("--truth", default=None, help="truth.csv for --data (default: found beside the sweep)")
    p.add_argument("--unlabelled", action="store_true",
                   help="--data has no truth: use every window as background (anomaly models only)")
    p.add_argument("--seed", type=int, default=0, help="simulation, split and init seed")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any config key (see `exoray train MODEL --show-config`); repeatable")
    p.add_argument("--pretrained", default=None,
                   help="classifier only: registered encoder ('autoencoder', 'transformer:3') or a version folder")
    p.add_argument("--storage", default=None,
                   help="Ray Train storage path for checkpoints (folder or s3://...; default "
                        "$EXORAY_TRAIN_STORAGE or ~/.exoray/train_runs)")
    p.add_argument("--registry", default=None, help="model registry (default $EXORAY_MODEL_REGISTRY or ~/.exoray/models)")
    p.add_argument("--address", default=None, help="Ray address (default: $RAY_ADDRESS or a local Ray)")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray (default: all)")
    p.add_argument("--smoke-test", action="store_true", help="tiny model, 8 simulated stars, 1 epoch (< 1 min on CPU)")


def register(subparsers) -> None:
    tsub = group_subparsers(subparsers, "train", "train a model (ranker, autoencoder, ...)", "train_target")
    for name, text in (("autoencoder", "1-D conv autoencoder on non-transit windows (anomaly score)"),
                       ("transformer", "patch transformer, masked-patch reconstruction (anomaly score)"),
                       ("gan", "conditional GAN drawing transit windows of a given depth and duration"),
                       ("classifier", "transit classifier on a pretrained autoencoder/transformer encoder")):
        p = tsub.add_parser(name, help=text, description=f"Train the {text} on Ray Train and register it. "
                            "Rerunning the same command resumes from the last checkpoint.")
        add_common_args(p)
        p.add_argument("--workers", type=int, default=1, help="Ray Train workers (DDP when > 1)")
        p.add_argument("--use-gpu", action="store_true", help="one GPU per worker (mixed precision)")
        p.add_argument("--run-name", default=None, help="Ray Train run name (default: hash of config + data)")
        p.add_argument("--max-failures", type=int, default=0, help="worker failures to recover from within the run")
        p.add_argument("--rebalance", choices=["undersample"], default=None,
                       help="classifier: undersample the larger class (default: weight the loss)")
        p.add_argument("--show-config", action="store_true", help="print the full config and exit")
        p.set_defaults(func=cmd_train, model_name=name)

    t = subparsers.add_parser("tune", help="hyper-parameter search (Ray Tune + ASHA) for a deep model",
                              description="Search lr and width/depth with ASHA over Ray Train runs; the best "
                              "checkpoint is registered. Metric: validation ROC AUC.")
    t.add_argument("model", choices=["autoencoder", "transformer", "classifier"])
    add_common_args(t)
    t.add_argument("--num-samples", type=int, default=8, help="trials (default 8; 2 with --smoke-test)")
    t.add_argument("--max-concurrent", type=int, default=2, help="trials at once (default 2)")
    t.add_argument("--name", default=None, help="Tune experiment name")
    t.set_defaults(func=cmd_tune)


def config_and_data(args, name: str):
    """Model config overrides and the :class:`~exoray.training.train.DataSpec` from parsed options."""
    from .train import DataSpec

    cfg: Dict[str, Any] = {}
    n_stars = args.n_stars
    if args.smoke_test:
        cfg.update(SMOKE_CONFIGS[name])
        if args.data is None and n_stars is None:
            n_stars = SMOKE_STARS
    for key, val in (("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr),
                     ("pretrained", args.pretrained)):
        if val is not None:
            cfg[key] = val
    cfg.update(parse_set(args.set))
    cfg["seed"] = args.seed
    if args.pretrained is not None and name != "classifier":
        raise ConfigError("--pretrained applies to the classifier only")
    truth = False if args.unlabelled else args.truth
    data = DataSpec(source=args.data, n_stars=n_stars or 200, seed=args.seed, truth=truth,
                    rebalance=getattr(args, "rebalance", None),
                    snr_range=(15.0, 80.0) if args.smoke_test else (8.0, 60.0))
    return cfg, data


def _init(args) -> None:
    init_ray(address=args.address, num_cpus=args.num_cpus, log_to_driver=bool(getattr(args, "verbose", 1)))
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False


def cmd_train(args) -> int:
    name = args.model_name
    cfg, data = config_and_data(args, name)
    if args.show_config:
        print(json.dumps(default_config(name, **cfg), indent=2, sort_keys=True))
        return 0
    _init(args)
    from .train import TrainSettings, train_model

    settings = TrainSettings(num_workers=args.workers, use_gpu=args.use_gpu, storage_path=args.storage,
                             run_name=args.run_name, registry=args.registry, max_failures=args.max_failures)
    out = train_model(name, cfg, data, settings)
    m = out["metrics"]
    keys = ("epoch", "train_loss", "val_loss", "val_auc", "val_auc_snr7", "val_accuracy", "val_d_loss",
            "val_g_loss", "windows_per_s", "amp", "resumed_from_epoch", "fit_seconds")
    print(json.dumps({k: m.get(k) for k in keys if k in m}, indent=2, default=str))
    print(f"class counts: {json.dumps(m['counts'])}")
    print(f"checkpoints: {out['storage_path']}/{out['run_name']}")
    print(f"registered: {out['version_path']}")
    return 0


def tune_plan(args, cfg: Dict[str, Any]) -> int:
    """Trials to run; with ``--smoke-test`` at least 2 epochs (ASHA needs a rung) and 2 trials
    unless ``--num-samples`` was given.  Adjusts ``cfg`` in place."""
    if args.smoke_test:
        cfg["epochs"] = max(2, int(cfg.get("epochs", 2)))
    return 2 if args.smoke_test and args.num_samples == 8 else args.num_samples


def cmd_tune(args) -> int:
    name = args.model
    cfg, data = config_and_data(args, name)
    num_samples = tune_plan(args, cfg)
    _init(args)
    from .tune import tune_model

    out = tune_model(name, cfg, data, num_samples=num_samples, max_concurrent=args.max_concurrent,
                     storage_path=args.storage, experiment_name=args.name, registry=args.registry,
                     smoke=args.smoke_test, seed=args.seed)
    for t in out["trials"]:
        print(json.dumps(t, default=str))
    print(f"best: {json.dumps({k: out['best_config'][k] for k in out['trials'][0]['config']}, default=str)} "
          f"val_auc={out['best_metrics'].get('val_auc')}")
    print(f"experiment: {out['experiment_path']}")
    print(f"registered: {out['version_path']}")
    return 0
