"""Train the deep models on Ray Train (``TorchTrainer``), with checkpoints and resume.

:func:`train_model` is the whole flow the CLI, the Ray job and the tuner use:

1. windows from :func:`exoray.training.data.window_dataset` (a sweep's
   Parquet output or simulated stars), split by star into train/validation;
   the anomaly models train on *non-transit* windows only, the GAN on transit
   windows, the classifier on both (``pos_weight`` for the imbalance, or
   ``rebalance="undersample"``);
2. a ``TorchTrainer`` with ``ScalingConfig(num_workers, use_gpu)``; each worker
   wraps the model with ``ray.train.torch.prepare_model`` (DDP when more than
   one worker) and reads its shard with ``ray.train.get_dataset_shard``;
   mixed precision (``torch.autocast``, bf16 where supported else fp16 with a
   grad scaler) on CUDA;
3. every epoch rank 0 reports metrics and a checkpoint (weights as
   safetensors, optimiser state and history through
   ``torch.save``/``torch.load(weights_only=True)``) to
   ``RunConfig(storage_path=..., name=...)`` -- a local folder or an object
   store URI;
4. a rerun with the same ``storage_path`` and run name (the default name is a
   hash of the model config and data, so rerunning the same command is
   enough) finds the checkpoint through ``ray.train.get_checkpoint()`` -- or
   a newer complete one in the run's storage folder that the killed
   controller had not yet committed -- and continues from the next epoch;
5. the final weights are registered (:func:`exoray.models.registry.save_model`)
   with ``config.json`` and ``metrics.json`` (validation metrics, class
   counts, epoch history, throughput, AMP mode, workers, resume point).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ..errors import ConfigError, ExorayError
from ..models.gan import encode_condition
from ..models.registry import (
    _ARCH,
    MODEL_NAMES,
    build_model,
    default_config,
    list_models,
    load_model,
    load_model_dir,
    resolve_version,
    save_model,
)
from ..models.scores import residual_score
from ..runtime.ray_env import WORKER_ENV, init_ray
from .data import _rebalance, class_counts, split_by_star, window_dataset

__all__ = ["TrainSettings", "DataSpec", "train_model", "prepare_datasets", "default_storage",
           "run_name_for", "train_loop_per_worker", "load_checkpoint_weights"]

log = logging.getLogger(__name__)

_CKPT_WEIGHTS = "model.safetensors"
_CKPT_OPTIM = "optimizer.pt"
_CKPT_STATE = "state.json"


def default_storage() -> str:
    """``$EXORAY_TRAIN_STORAGE`` or ``~/.exoray/train_runs`` (Ray Train checkpoints)."""
    return os.environ.get("EXORAY_TRAIN_STORAGE") or str(Path.home() / ".exoray" / "train_runs")


@dataclass
class DataSpec:
    """Where the windows come from.

    ``source``: sweep output folder / lightcurves folder / Parquet file, or
    ``None`` to simulate ``n_stars`` stars (``seed``).  ``truth``: see
    :func:`~exoray.training.data.window_dataset`.
    """

    source: Optional[str] = None
    n_stars: int = 200
    seed: int = 0
    truth: Any = None
    val_fraction: float = 0.2
    rebalance: Optional[str] = None
    snr_range: Tuple[float, float] = (8.0, 60.0)
    transit_fraction: float = 0.6

    def key(self) -> Dict[str, Any]:
        d = asdict(self)
        d["snr_range"] = list(self.snr_range)
        d["truth"] = None if self.truth is None else str(self.truth)
        return d


@dataclass
class TrainSettings:
    """How to run: workers, GPU, storage, registry, failure tolerance."""

    num_workers: int = 1
    use_gpu: bool = False
    storage_path: Optional[str] = None
    run_name: Optional[str] = None
    registry: Optional[str] = None
    max_failures: int = 0
    num_to_keep: int = 2
    register: bool = True
    cpus_per_worker: float = 1.0


def run_name_for(name: str, config: Mapping, data: DataSpec) -> str:
    """Deterministic run name: the same model config + data resume the same run."""
    blob = json.dumps({"config": dict(config), "data": data.key()}, sort_keys=True, default=str)
    return f"{name}-{hashlib.sha1(blob.encode()).hexdigest()[:10]}"


# --------------------------------------------------------------------------- data
def prepare_datasets(name: str, data: DataSpec, base_ds=None):
    """``(train_ds, val_ds, counts)`` for model ``name`` (see module docstring).

    ``base_ds``: an already built :func:`~exoray.training.data.window_dataset`
    to split instead of building one from ``data`` (several models, one
    set of windows).
    """
    ds = base_ds if base_ds is not None else window_dataset(
        data.source, n_stars=data.n_stars if data.source is None else None, seed=data.seed, truth=data.truth,
        snr_range=tuple(data.snr_range), transit_fraction=data.transit_fraction)
    all_counts = class_counts(ds)
    if all_counts["total"] == 0:
        raise ExorayError(f"no windows could be cut from {data.source or 'the simulated stars'} "
                          "(light curves shorter than 32 h or all in gaps?)")
    train, val = split_by_star(ds, data.val_fraction, seed=data.seed)
    if name in ("autoencoder", "transformer"):
        train = _keep_labels(train, (0, -1))
    elif name == "gan":
        train = _keep_labels(train, (1,))
        val = _keep_labels(val, (1,))
    elif name == "classifier":
        if all_counts["unlabelled"] == all_counts["total"]:
            raise ConfigError("the classifier needs labelled windows; give a sweep of simulated data with its "
                              "truth.csv (or --n-stars to simulate)")
        train = _keep_labels(train, (0, 1))
        val = _keep_labels(val, (0, 1))
        if data.rebalance:
            train = _rebalance(train, class_counts(train), data.seed).materialize()
    counts = {"all": all_counts, "train": class_counts(train), "val": class_counts(val)}
    if counts["train"]["total"] == 0:
        raise ExorayError(f"no training windows for {name}: class counts {counts}")
    log.info("training windows for %s: %s", name, counts)
    return train, val, counts


def _keep_labels(ds, labels):
    keep = np.asarray(labels)
    return ds.map_batches(lambda b: {k: v[np.isin(b["label"], keep)] for k, v in b.items()},
                          batch_format="numpy").materialize()


# --------------------------------------------------------------------------- checkpoint helpers
def _save_checkpoint(folder: Path, model, optimizers: Dict[str, Any], state: Dict[str, Any]) -> None:
    import torch
    from safetensors.torch import save_file

    sd = {k: v.detach().cpu().contiguous().clone() for k, v in getattr(model, "module", model).state_dict().items()}
    save_file(sd, str(folder / _CKPT_WEIGHTS))
    torch.save({k: o.state_dict() for k, o in optimizers.items()}, folder / _CKPT_OPTIM)
    # sizes let a resuming worker tell a completely uploaded checkpoint from a cut-off one
    state = dict(state, files={f: (folder / f).stat().st_size for f in (_CKPT_WEIGHTS, _CKPT_OPTIM)})
    (folder / _CKPT_STATE).write_text(json.dumps(state, default=float))


def _newest_stored_checkpoint(storage: str, run_name: str):
    """``(fs, path, epoch)`` of the newest *complete* checkpoint folder of a run in storage, or None.

    Ray Train restores the latest checkpoint its controller had committed to
    its snapshot; when the driver is killed right after a report, the newest
    uploaded checkpoints may not be in it yet.  This scan finds them (a
    folder counts only when its ``state.json`` lists files that are all there
    with the recorded sizes).
    """
    import pyarrow.fs as pafs

    fs, root = _storage_fs(storage)
    run_dir = f"{root.rstrip('/')}/{run_name}"
    try:
        infos = fs.get_file_info(pafs.FileSelector(run_dir, allow_not_found=True))
    except OSError:
        return None
    best = None
    for info in infos:
        if info.type != pafs.FileType.Directory or not info.base_name.startswith("checkpoint_"):
            continue
        try:
            with fs.open_input_stream(f"{info.path}/{_CKPT_STATE}") as fh:
                st = json.loads(fh.read().decode())
            sizes = {f: fs.get_file_info(f"{info.path}/{f}").size for f in st.get("files", {})}
        except (OSError, ValueError):
            continue
        if not st.get("files") or sizes != st["files"]:
            continue
        if best is None or int(st["epoch"]) > best[2]:
            best = (fs, info.path, int(st["epoch"]))
    return best


def load_checkpoint_weights(folder) -> Dict[str, Any]:
    """State dict (tensors only) of a training checkpoint folder."""
    from safetensors.torch import load_file

    return load_file(str(Path(folder) / _CKPT_WEIGHTS), device="cpu")


def _load_checkpoint(folder: Path):
    import torch

    weights = load_checkpoint_weights(folder)
    optim = torch.load(folder / _CKPT_OPTIM, map_location="cpu", weights_only=True)
    state = json.loads((folder / _CKPT_STATE).read_text())
    return weights, optim, state


# --------------------------------------------------------------------------- metrics
def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    m = labels >= 0
    if len(set(labels[m].tolist())) < 2:
        return float("nan")
    return float(roc_auc_score(labels[m], scores[m]))


def _finite(d: Mapping[str, Any]) -> Dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, float) and not math.isfinite(v):
            out[k] = None
        else:
            out[k] = v
    return out


# --------------------------------------------------------------------------- the worker loop
def train_loop_per_worker(loop_cfg: Dict[str, Any]) -> None:
    """Ray Train worker function (one per worker; DDP across them)."""
    import torch
    import ray.train
    import ray.train.torch as rtt
    from torch.nn import functional as F

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    name: str = loop_cfg["name"]
    cfg: Dict[str, Any] = loop_cfg["config"]
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.manual_seed(int(cfg["seed"]) * 1000 + rank)
    device = rtt.get_device()
    model = build_model(name, cfg)
    if name == "classifier" and loop_cfg.get("encoder_state") is not None:
        model.load_encoder_from(loop_cfg["encoder_state"])

    start_epoch, history = 0, []
    ckpt = ray.train.get_checkpoint()
    optim_state = None
    resumed_from = None
    loaded = None
    if ckpt is not None:
        with ckpt.as_directory() as d:
            loaded = _load_checkpoint(Path(d))
    if loop_cfg.get("storage") and loop_cfg.get("run_name"):
        newer = _newest_stored_checkpoint(loop_cfg["storage"], loop_cfg["run_name"])
        if newer is not None and (loaded is None or newer[2] > int(loaded[2]["epoch"])):
            import pyarrow.fs as pafs

            with tempfile.TemporaryDirectory() as d:
                pafs.copy_files(newer[1], d, source_filesystem=newer[0],
                                destination_filesystem=pafs.LocalFileSystem())
                loaded = _load_checkpoint(Path(d))
    if loaded is not None:
        weights, optim_state, st = loaded
        model.load_state_dict(weights, strict=True)
        start_epoch = int(st["epoch"]) + 1
        history = list(st.get("history", []))
        resumed_from = int(st["epoch"])

    epochs = int(cfg["epochs"])
    bs = int(cfg["batch_size"])
    amp_dtype = None
    if device.type == "cuda":
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    amp_name = {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[amp_dtype]
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    def autocast():
        return torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None)

    if name == "gan":
        G = rtt.prepare_model(model.generator)
        D = rtt.prepare_model(model.discriminator)
        optimizers = {
            "g": torch.optim.Adam(model.generator.parameters(), lr=cfg["lr"], betas=(0.5, 0.999)),
            "d": torch.optim.Adam(model.discriminator.parameters(), lr=cfg["lr_d"], betas=(0.5, 0.999)),
        }
        net = None
    else:
        if name == "classifier":
            unfreeze_at = int(cfg["unfreeze_after"])
            model.set_encoder_trainable((not cfg["freeze_encoder"]) or (0 < unfreeze_at <= start_epoch))
        net = rtt.prepare_model(model)
        optimizers = {"main": torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])}
    if optim_state is not None:
        for k, o in optimizers.items():
            o.load_state_dict(optim_state[k])

    pos_weight = None
    if name == "classifier":
        pw = float(cfg["pos_weight"])
        if pw <= 0:
            c = loop_cfg["counts"]["train"]
            pw = c["no_transit"] / max(1, c["transit"])
        pos_weight = torch.tensor(pw, device=device)

    def step(batch) -> Tuple[float, int]:
        x = batch["window"].float()
        n = x.shape[0]
        if name == "gan":
            cond = encode_condition(batch["depth_ppm"].clamp_min(1.0), batch["duration_hours"].clamp_min(0.1),
                                    n, device=device)
            opt_d, opt_g = optimizers["d"], optimizers["g"]
            opt_d.zero_grad(set_to_none=True)
            with autocast():
                ld = model.d_loss(x, cond, G, D)
            scaler.scale(ld).backward()
            scaler.step(opt_d)
            opt_g.zero_grad(set_to_none=True)
            with autocast():
                lg = model.g_loss(cond, G, D)
            scaler.scale(lg).backward()
            scaler.step(opt_g)
            scaler.update()
            return float(ld.detach()) + float(lg.detach()), n
        opt = optimizers["main"]
        opt.zero_grad(set_to_none=True)
        with autocast():
            if name == "autoencoder":
                loss = F.mse_loss(net(x).float(), x)
            elif name == "transformer":
                mask = model.random_mask(n, device=device)
                pred = net(x, mask).float()
                err = ((pred - model._patches(x)) ** 2).mean(dim=-1)
                loss = (err * mask).sum() / mask.sum()
            else:
                y = batch["label"].float()
                loss = F.binary_cross_entropy_with_logits(net(x).float(), y, pos_weight=pos_weight)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return float(loss.detach()), n

    @torch.no_grad()
    def evaluate() -> Dict[str, Any]:
        model.eval()
        shard = ray.train.get_dataset_shard("val")
        labels, scores, snr, gl, dl, raw_scores = [], [], [], [], [], []
        for batch in shard.iter_torch_batches(batch_size=512, device=device):
            x = batch["window"].float()
            with autocast():
                if name == "gan":
                    cond = encode_condition(batch["depth_ppm"].clamp_min(1.0),
                                            batch["duration_hours"].clamp_min(0.1), x.shape[0], device=device)
                    dl.append(float(model.d_loss(x, cond)) * x.shape[0])
                    gl.append(float(model.g_loss(cond)) * x.shape[0])
                    scores.append(np.zeros(x.shape[0]))
                elif name == "classifier":
                    scores.append(model(x).float().cpu().numpy())
                else:
                    scores.append(model.anomaly_score(x).float().cpu().numpy())
                    raw_scores.append(residual_score(x, model.score).cpu().numpy())
            labels.append(batch["label"].cpu().numpy())
            snr.append(batch["snr"].cpu().numpy())
        model.train()
        if not labels:
            return {}
        lab, sc, sn = np.concatenate(labels), np.concatenate(scores), np.concatenate(snr)
        out: Dict[str, Any] = {"val_windows": int(lab.size)}
        if name == "gan":
            out["val_d_loss"] = float(np.sum(dl) / lab.size)
            out["val_g_loss"] = float(np.sum(gl) / lab.size)
            out["val_loss"] = out["val_g_loss"]
            return out
        if name == "classifier":
            t = torch.as_tensor(sc, dtype=torch.float32)
            y = torch.as_tensor(lab, dtype=torch.float32)
            out["val_loss"] = float(F.binary_cross_entropy_with_logits(t, y))
            out["val_accuracy"] = float(np.mean((sc > 0) == (lab == 1)))
        else:
            bg = lab != 1
            out["val_loss"] = float(np.mean(sc[bg])) if bg.any() else float("nan")
        out["val_auc"] = _auc(lab, sc)
        deep = (lab == 0) | ((lab == 1) & (sn >= 7.0))
        out["val_auc_snr7"] = _auc(lab[deep], sc[deep])
        if name != "classifier":
            # the same score on the raw window (no model): what the model adds is the difference
            raw = np.concatenate(raw_scores)
            out["val_auc_no_model"] = _auc(lab, raw)
            out["val_auc_snr7_no_model"] = _auc(lab[deep], raw[deep])
        return out

    fail_after = loop_cfg.get("_interrupt_after_epoch")
    for epoch in range(start_epoch, epochs):
        if name == "classifier" and int(cfg["unfreeze_after"]) > 0 and epoch == int(cfg["unfreeze_after"]) \
                and model.frozen:
            model.set_encoder_trainable(True)
            net = rtt.prepare_model(model)  # re-wrap so DDP syncs the encoder's gradients too
        model.train()
        shard = ray.train.get_dataset_shard("train")
        t0 = time.perf_counter()
        tot, nwin = 0.0, 0
        for batch in shard.iter_torch_batches(batch_size=bs, device=device, local_shuffle_buffer_size=4 * bs,
                                              local_shuffle_seed=int(cfg["seed"]) + epoch, drop_last=False):
            loss, n = step(batch)
            tot += loss * n
            nwin += n
        dt = time.perf_counter() - t0
        metrics: Dict[str, Any] = {
            "epoch": epoch,
            "train_loss": tot / max(1, nwin),
            "train_windows_worker": nwin,
            "epoch_seconds": dt,
            "windows_per_s": (nwin * world) / dt if dt > 0 else float("nan"),
            "world_size": world,
            "amp": amp_name,
            "device": device.type,
            "resumed_from_epoch": resumed_from,
        }
        metrics.update(evaluate())
        metrics = _finite(metrics)
        history.append({k: v for k, v in metrics.items() if k not in ("amp", "device")})
        state = {"epoch": epoch, "history": history, "name": name}
        if rank == 0:
            with tempfile.TemporaryDirectory() as tmp:
                _save_checkpoint(Path(tmp), model, optimizers, state)
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))
        else:
            ray.train.report(metrics)
        if fail_after is not None and epoch >= int(fail_after):
            raise RuntimeError(f"simulated interruption after epoch {epoch} (test hook)")
    if start_epoch >= epochs and rank == 0:
        log.info("run already finished all %d epochs", epochs)


# --------------------------------------------------------------------------- driver
def _encoder_state(cfg: Mapping[str, Any], registry) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    ref = cfg.get("pretrained") or ""
    if not ref:
        return None, None
    if os.path.isdir(ref):
        model, ecfg, _ = load_model_dir(ref)
        where = ref
    else:
        mname, _, ver = ref.partition(":")
        model, ecfg, _ = load_model(mname, ver or "latest", registry=registry)
        where = f"{mname}:{ver or 'latest'}"
    if ecfg.get("name") != cfg["encoder"]:
        raise ConfigError(f"pretrained {ref!r} is a {ecfg.get('name')!r}; the classifier's encoder is {cfg['encoder']!r}")
    want = cfg["encoder_config"]
    diff = sorted(k for k in want if want[k] != ecfg.get(k))
    if diff:
        raise ConfigError(f"pretrained {ref!r} has a different architecture ({', '.join(diff)}); "
                          "build the classifier with encoder_config from its config.json")
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}, where


def _classifier_config_from_pretrained(cfg: Dict[str, Any], registry) -> Dict[str, Any]:
    """Fill the classifier's encoder_config from the pretrained model's config.json."""
    ref = cfg.get("pretrained") or ""
    if not ref:
        return cfg
    if os.path.isdir(ref):
        ecfg = json.loads((Path(ref) / "config.json").read_text())
    else:
        mname, _, ver = ref.partition(":")
        ecfg = json.loads((resolve_version(mname, ver or "latest", registry) / "config.json").read_text())

    enc = ecfg.get("name")
    if enc not in ("autoencoder", "transformer"):
        raise ConfigError(f"pretrained {ref!r} is a {enc!r}; a classifier needs an autoencoder or transformer")
    out = dict(cfg)
    out["encoder"] = enc
    out["encoder_config"] = {k: ecfg[k] for k in _ARCH[enc]}
    out.pop("name", None)
    return default_config("classifier", **out)


def _storage_fs(storage: str):
    import pyarrow.fs as pafs

    if "://" in storage:
        return pafs.FileSystem.from_uri(storage)
    p = Path(storage).expanduser().resolve()
    p.mkdir(parents=True, exist_ok=True)
    return pafs.LocalFileSystem(), str(p)


def train_model(name: str, config: Optional[Mapping[str, Any]] = None, data: Optional[DataSpec] = None,
                settings: Optional[TrainSettings] = None, *, datasets=None,
                _interrupt_after_epoch: Optional[int] = None) -> Dict[str, Any]:
    """Train ``name`` on Ray Train and register it.

    Parameters
    ----------
    name : str
        One of :data:`~exoray.models.registry.MODEL_NAMES`.
    config : dict, optional
        Overrides for :func:`~exoray.models.registry.default_config`.
    data : DataSpec, optional
        Window source (default: 200 simulated stars).
    settings : TrainSettings, optional
        Workers, GPU, storage, run name, registry.
    datasets : (train_ds, val_ds, counts), optional
        Pre-built datasets (the tuner and the benchmark reuse one set).

    Returns
    -------
    dict
        ``{"metrics", "config", "version_path" (None if not registered),
        "run_name", "storage_path", "checkpoint_path", "history"}``.
    """
    import ray.train
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    if name not in MODEL_NAMES:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    settings = settings or TrainSettings()
    data = data or DataSpec()
    if settings.num_workers < 1:
        raise ConfigError(f"num_workers must be >= 1, got {settings.num_workers}")
    cfg = default_config(name, **{k: v for k, v in dict(config or {}).items() if k != "name"})
    if name == "classifier":
        cfg = _classifier_config_from_pretrained(cfg, settings.registry)
    init_ray()
    if settings.use_gpu:
        import ray

        if ray.cluster_resources().get("GPU", 0) < settings.num_workers:
            raise ExorayError(f"--use-gpu asks for {settings.num_workers} GPU worker(s) but the Ray cluster has "
                              f"{ray.cluster_resources().get('GPU', 0):g} GPU(s)")
    encoder_state, encoder_from = (None, None)
    if name == "classifier":
        encoder_state, encoder_from = _encoder_state(cfg, settings.registry)
    t_data = time.perf_counter()
    train_ds, val_ds, counts = datasets if datasets is not None else prepare_datasets(name, data)
    t_data = time.perf_counter() - t_data
    storage = settings.storage_path or default_storage()
    fs, fs_path = _storage_fs(storage)
    run_name = settings.run_name or run_name_for(name, cfg, data)
    loop_cfg = {"name": name, "config": cfg, "counts": counts, "encoder_state": encoder_state,
                "storage": storage, "run_name": run_name}
    if _interrupt_after_epoch is not None:
        loop_cfg["_interrupt_after_epoch"] = int(_interrupt_after_epoch)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=loop_cfg,
        scaling_config=ScalingConfig(num_workers=settings.num_workers, use_gpu=settings.use_gpu,
                                     resources_per_worker={"CPU": settings.cpus_per_worker,
                                                           **({"GPU": 1} if settings.use_gpu else {})}),
        run_config=RunConfig(name=run_name, storage_path=fs_path, storage_filesystem=fs,
                             checkpoint_config=CheckpointConfig(num_to_keep=settings.num_to_keep),
                             failure_config=FailureConfig(max_failures=settings.max_failures),
                             worker_runtime_env={"env_vars": dict(WORKER_ENV)}),
        datasets={"train": train_ds, "val": val_ds},
        dataset_config=ray.train.DataConfig(datasets_to_split=["train"]),
    )
    t0 = time.perf_counter()
    try:
        result = trainer.fit()
    except Exception as exc:  # TrainingFailedError wraps the worker's exception
        raise ExorayError(f"training {name} failed in run {run_name!r} (checkpoints under {storage}); "
                          f"rerun the same command to resume from the last checkpoint: {exc}") from exc
    wall = time.perf_counter() - t0
    if result.checkpoint is None:
        raise ExorayError(f"run {run_name!r} produced no checkpoint")
    with result.checkpoint.as_directory() as d:
        weights, _, state = _load_checkpoint(Path(d))
    history = state.get("history", [])
    last = dict(history[-1]) if history else {}
    model = build_model(name, cfg)
    model.load_state_dict(weights, strict=True)
    metrics = {
        **{k: v for k, v in last.items()},
        "epochs": int(cfg["epochs"]),
        "history": history,
        "counts": counts,
        "num_workers": settings.num_workers,
        "use_gpu": settings.use_gpu,
        "amp": (result.metrics or {}).get("amp", "off" if not settings.use_gpu else "unknown"),
        "data": data.key() if datasets is None else {"prebuilt": True},
        "data_seconds": t_data,
        "fit_seconds": wall,
        "run_name": run_name,
        "storage_path": storage,
        "checkpoint_path": result.checkpoint.path,
        "pretrained_encoder": encoder_from,
    }
    out = {"metrics": metrics, "config": cfg, "version_path": None, "run_name": run_name,
           "storage_path": storage, "checkpoint_path": result.checkpoint.path, "history": history, "model": model}
    if settings.register:
        # rerunning a finished run resumes at its end: do not register the same checkpoint twice
        same = [r for r in list_models(settings.registry)
                if r["name"] == name and r["metrics"].get("checkpoint_path") == result.checkpoint.path]
        if same:
            out["version_path"] = Path(same[-1]["path"])
            log.info("run %s was already registered as %s", run_name, out["version_path"])
        else:
            out["version_path"] = save_model(model, name, cfg, metrics, registry=settings.registry)
            log.info("registered %s as %s", name, out["version_path"])
    return out
