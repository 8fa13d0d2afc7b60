"""Hyper-parameter search on Ray Tune (ASHA) over Ray Train runs.

With Ray Train V2 (the default in Ray >= 2.50) a Tune trial is a plain
function that launches a ``TorchTrainer`` and forwards its reports to Tune
through ``ray.tune.integration.ray_train.TuneReportCallback``; that is what
:func:`tune_model` does.  The ASHA scheduler (``time_attr`` = reported
epochs) stops weak trials early; the best trial's last checkpoint is loaded
and registered like a normal training run, with the search summary in its
``metrics.json``.

Search spaces (:data:`SEARCH_SPACES`) cover the learning rate and the
width/depth of each model.  The metric is the validation ROC AUC (transit
vs. no-transit windows, held-out stars) for all three tunable models; the
GAN is not tuned: its losses do not measure sample quality, and a search on
them would pick arbitrary winners.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from ..errors import ConfigError, ExorayError
from ..models.registry import build_model, default_config, save_model
from ..runtime.ray_env import WORKER_ENV, init_ray
from .train import (
    DataSpec,
    TrainSettings,
    _classifier_config_from_pretrained,
    _encoder_state,
    _load_checkpoint,
    default_storage,
    prepare_datasets,
    train_loop_per_worker,
)

__all__ = ["SEARCH_SPACES", "TUNABLE", "search_space", "tune_model"]

log = logging.getLogger(__name__)

TUNABLE = ("autoencoder", "transformer", "classifier")


def search_space(name: str, smoke: bool = False) -> Dict[str, Any]:
    """Ray Tune search space for ``name`` (``smoke``: tiny models only)."""
    from ray import tune

    if name not in TUNABLE:
        raise ConfigError(f"`exoray tune` supports {', '.join(TUNABLE)}; the GAN's losses do not measure "
                          "sample quality, so there is nothing sound to tune it on")
    lr = tune.loguniform(3e-4, 3e-3)
    if name == "autoencoder":
        return {"lr": lr, "base_channels": tune.choice([4, 8] if smoke else [8, 16, 32]),
                "depth": tune.choice([2, 3]), "latent_dim": tune.choice([8, 16] if smoke else [8, 16, 32])}
    if name == "transformer":
        return {"lr": lr, "d_model": tune.choice([16] if smoke else [16, 32, 64]),
                "n_layers": tune.choice([1, 2] if smoke else [1, 2, 3]), "patch_size": tune.choice([8, 16])}
    return {"lr": lr, "hidden": tune.choice([16, 32, 64]), "dropout": tune.uniform(0.0, 0.3)}


SEARCH_SPACES = TUNABLE  # names with a space; see search_space()


def tune_model(name: str, base_config: Optional[Mapping[str, Any]] = None, data: Optional[DataSpec] = None,
               *, num_samples: int = 8, max_concurrent: int = 2, storage_path: Optional[str] = None,
               experiment_name: Optional[str] = None, registry=None, smoke: bool = False,
               grace_period: int = 1, reduction_factor: int = 2, metric: str = "val_auc",
               mode: str = "max", register: bool = True, seed: int = 0, base_ds=None) -> Dict[str, Any]:
    """Search hyper-parameters of ``name`` with ASHA and register the best model.

    Each trial is one single-worker ``TorchTrainer`` run on the same
    materialised datasets (built once, or split from ``base_ds``).  Returns ``{"best_config",
    "best_metrics", "version_path", "trials": [...], "experiment_path"}``.
    """
    import ray
    from ray import tune
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback
    from ray.tune.schedulers import ASHAScheduler

    space = search_space(name, smoke)
    base = default_config(name, **{k: v for k, v in dict(base_config or {}).items() if k != "name"})
    if name == "classifier":
        base = _classifier_config_from_pretrained(base, registry)
        encoder_state, _ = _encoder_state(base, registry)
    else:
        encoder_state = None
    bad = sorted(set(space) - set(base))
    if bad:  # pragma: no cover - guards the tables above
        raise ConfigError(f"search space keys {bad} are not {name} config keys")
    init_ray()
    data = data or DataSpec()
    train_ds, val_ds, counts = prepare_datasets(name, data, base_ds=base_ds)
    storage = str(Path(storage_path or default_storage()).expanduser().resolve()) if "://" not in str(
        storage_path or "") else str(storage_path)
    exp = experiment_name or f"tune-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    epochs = int(base["epochs"])

    def trial(tcfg: Dict[str, Any]) -> None:
        cfg = default_config(name, **{**{k: v for k, v in base.items() if k != "name"}, **tcfg})
        ctx = tune.get_context()
        trainer = TorchTrainer(
            train_loop_per_worker,
            train_loop_config={"name": name, "config": cfg, "counts": counts, "encoder_state": encoder_state},
            # 0.99 + the driver's 0.01 = one CPU per trial, so max_concurrent trials fit on as many CPUs
            scaling_config=ScalingConfig(num_workers=1, use_gpu=False, resources_per_worker={"CPU": 0.99}),
            run_config=RunConfig(name=f"{exp}-{ctx.get_trial_id()}", storage_path=storage,
                                 checkpoint_config=CheckpointConfig(num_to_keep=1),
                                 callbacks=[TuneReportCallback()],
                                 worker_runtime_env={"env_vars": dict(WORKER_ENV)}),
            datasets={"train": train_ds, "val": val_ds},
            dataset_config=ray.train.DataConfig(datasets_to_split=["train"]),
        )
        trainer.fit()

    scheduler = ASHAScheduler(time_attr="training_iteration", max_t=epochs, grace_period=max(1, grace_period),
                              reduction_factor=reduction_factor)
    tuner = tune.Tuner(
        # the trial function only drives its TorchTrainer (Tune refuses an empty resource request)
        tune.with_resources(trial, {"cpu": 0.01}),
        param_space=space,
        # reuse_actors=False: a trial ASHA stops is killed with its actor, and the Train controller and
        # workers it owns go with it (a reused actor would leave them blocked on the next report)
        tune_config=tune.TuneConfig(metric=metric, mode=mode, scheduler=scheduler, num_samples=int(num_samples),
                                    reuse_actors=False,
                                    search_alg=tune.search.BasicVariantGenerator(random_state=seed,
                                                                                 max_concurrent=int(max_concurrent))),
        run_config=tune.RunConfig(name=exp, storage_path=storage),
    )
    grid = tuner.fit()
    trials = []
    for r in grid:
        m = r.metrics or {}
        trials.append({"config": {k: r.config.get(k) for k in space}, metric: m.get(metric),
                       "epochs_run": m.get("training_iteration"), "error": str(r.error) if r.error else None})
    ok = [t for t in trials if t[metric] is not None]
    if not ok:
        raise ExorayError(f"no Tune trial reported {metric!r}; trial errors: "
                          f"{[t['error'] for t in trials if t['error']][:3]}")
    best = grid.get_best_result(metric=metric, mode=mode, scope="last", filter_nan_and_inf=True)
    ckpt_path = (best.metrics or {}).get("checkpoint_path")
    if not ckpt_path:
        raise ExorayError("the best trial reported no checkpoint")
    best_cfg = default_config(name, **{**{k: v for k, v in base.items() if k != "name"},
                                       **{k: best.config[k] for k in space}})
    import pyarrow.fs as pafs

    if "://" in storage:
        fs, root = pafs.FileSystem.from_uri(ckpt_path)
        import tempfile

        tmp = tempfile.mkdtemp(prefix="exoray-tune-")
        pafs.copy_files(root, tmp, source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())
        ckpt_dir = Path(tmp)
    else:
        ckpt_dir = Path(ckpt_path)
    weights, _, state = _load_checkpoint(ckpt_dir)
    model = build_model(name, best_cfg)
    model.load_state_dict(weights, strict=True)
    history = state.get("history", [])
    metrics = {**(history[-1] if history else {}), "history": history, "counts": counts,
               "tune": {"metric": metric, "mode": mode, "scheduler": "ASHA", "num_samples": int(num_samples),
                        "grace_period": grace_period, "reduction_factor": reduction_factor,
                        "experiment": exp, "storage_path": storage, "trials": trials},
               "data": data.key(), "checkpoint_path": ckpt_path, "amp": "off", "num_workers": 1}
    version = save_model(model, name, best_cfg, metrics, registry=registry) if register else None
    return {"best_config": best_cfg, "best_metrics": metrics, "version_path": version, "trials": trials,
            "experiment_path": str(Path(storage) / exp) if "://" not in storage else f"{storage}/{exp}"}
