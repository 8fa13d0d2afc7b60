"""Held-out evaluation of the anomaly scores, transfer learning and augmentation.

Three experiments, each a pure-ish function writing ``<out>/<name>.json`` and
``<out>/<name>.md`` and returning the result dict:

* :func:`evaluate_anomaly` - ROC-AUC and PR-AUC of every anomaly method
  (OCSVM, autoencoder, transformer, combined) on held-out simulated windows,
  per window-SNR bin;
* :func:`evaluate_transfer` - a classifier on an encoder pretrained on
  unlabelled windows vs the same classifier from scratch, with 1 %, 10 % and
  100 % of the labels;
* :func:`evaluate_augmentation` - the same classifier trained with and
  without each augmentation of :mod:`exoray.training.augment` (GAN samples
  included) on one small labelled set, plus a physics check of the GAN.

Data are simulated TESS 2-min stars windowed by :mod:`exoray.training.data`
(Ray Data, in parallel); training, validation and test sets are different
stars (different simulation seeds).  The deep models are trained by
:func:`exoray.training.train.train_model` (Ray Train ``TorchTrainer``, one
worker by default) into a registry under ``<out>/registry`` unless another
is given.  Simulated window sets are cached in ``<out>/cache`` so the three
experiments share them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..anomaly.scoring import METHODS, fit_combined, fit_ocsvm, score_windows
from ..errors import ConfigError, ExorayError
from ..models.registry import _jsonable, default_config
from ..models.windows import BIN_MINUTES, normalize_windows
from ..vet.shape import transit_shape
from . import augment as A
from .augment import gan_samples
from .data import WINDOW_COLUMNS, _star_hash, to_numpy, window_dataset
from .train import TrainSettings, train_model

__all__ = [
    "SNR_BINS",
    "auc_table",
    "simulate_set",
    "split_stars",
    "evaluate_anomaly",
    "evaluate_transfer",
    "evaluate_augmentation",
    "gan_physics_check",
    "predict_logits",
    "markdown_table",
]

log = logging.getLogger(__name__)

#: window-SNR bins of the anomaly report (lower edge inclusive)
SNR_BINS: Tuple[Tuple[float, float], ...] = ((0.0, 7.0), (7.0, 10.0), (10.0, 20.0), (20.0, math.inf))

#: small architectures used by the experiments (CPU-friendly; the same for every variant compared)
EXPERIMENT_CONFIGS: Dict[str, Dict[str, Any]] = {
    "autoencoder": {"base_channels": 16, "depth": 3, "latent_dim": 16, "batch_size": 64, "lr": 2e-3},
    "transformer": {"d_model": 32, "n_heads": 2, "n_layers": 2, "patch_size": 8, "batch_size": 64, "lr": 1e-3},
    "gan": {"base_channels": 16, "noise_dim": 16, "depth": 3, "batch_size": 32},
    "classifier": {"hidden": 32, "dropout": 0.1, "batch_size": 64, "lr": 1e-3},
}
SMOKE_CONFIGS: Dict[str, Dict[str, Any]] = {
    "autoencoder": {"base_channels": 4, "depth": 2, "latent_dim": 8, "batch_size": 32},
    "transformer": {"d_model": 16, "n_heads": 2, "n_layers": 1, "patch_size": 16, "batch_size": 32},
    "gan": {"base_channels": 4, "noise_dim": 8, "depth": 2, "batch_size": 16},
    "classifier": {"hidden": 8, "batch_size": 32},
}


# --------------------------------------------------------------------------- metrics
def _bin_label(lo: float, hi: float) -> str:
    if lo <= 0:
        return f"<{hi:g}"
    if math.isinf(hi):
        return f">={lo:g}"
    return f"{lo:g}-{hi:g}"


def auc_table(labels, scores, snr, bins: Sequence[Tuple[float, float]] = SNR_BINS) -> Dict[str, Dict[str, Any]]:
    """ROC-AUC and PR-AUC (average precision) of ``scores`` per SNR bin.

    Each bin's positives (``label == 1`` with ``lo <= snr < hi``) are ranked
    against *all* negatives (``label == 0``); ``"all"`` uses every positive.
    ``">=10"`` pools every positive with SNR >= 10.  A bin without positives
    or negatives gets ``None``.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(labels)
    s = np.asarray(scores, float)
    r = np.asarray(snr, float)
    neg = y == 0
    out: Dict[str, Dict[str, Any]] = {}
    groups = [("all", y == 1)] + [(_bin_label(lo, hi), (y == 1) & (r >= lo) & (r < hi)) for lo, hi in bins]
    groups.append((">=10", (y == 1) & (r >= 10.0)))
    for name, pos in groups:
        m = neg | pos
        n_pos, n_neg = int(pos.sum()), int(neg.sum())
        if n_pos == 0 or n_neg == 0:
            out[name] = {"roc_auc": None, "pr_auc": None, "n_pos": n_pos, "n_neg": n_neg}
            continue
        yy = pos[m].astype(int)
        out[name] = {"roc_auc": float(roc_auc_score(yy, s[m])), "pr_auc": float(average_precision_score(yy, s[m])),
                     "n_pos": n_pos, "n_neg": n_neg}
    return out


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.3f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(v) if (v is None or isinstance(v, float)) else str(v) for v in r) + " |")
    return "\n".join(lines) + "\n"


def _write(out_dir: Path, name: str, result: Mapping[str, Any], md: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(_jsonable(result), indent=2, sort_keys=True) + "\n")
    (out_dir / f"{name}.md").write_text(md)


# --------------------------------------------------------------------------- data
def simulate_set(n_stars: int, seed: int, cache_dir: Optional[Path] = None, *, transit_fraction: float = 0.6,
                 single_fraction: float = 0.2, snr_range=(8.0, 60.0)) -> Dict[str, np.ndarray]:
    """Labelled windows of ``n_stars`` simulated stars (Ray Data, parallel), cached as ``.npz``."""
    key = json.dumps([int(n_stars), int(seed), float(transit_fraction), float(single_fraction),
                      [float(v) for v in snr_range]])
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"windows-{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                return {k: np.asarray(z[k]) for k in WINDOW_COLUMNS}
    t0 = time.perf_counter()
    ds = window_dataset(None, n_stars=int(n_stars), seed=int(seed), transit_fraction=transit_fraction,
                        single_fraction=single_fraction, snr_range=tuple(snr_range), stars_per_task=8)
    cols = to_numpy(ds)
    cols = {k: np.asarray(cols[k]) for k in WINDOW_COLUMNS}
    log.info("simulated %d stars (seed %d): %d windows, %d with a transit, %.0f s", n_stars, seed,
             cols["label"].size, int(np.sum(cols["label"] == 1)), time.perf_counter() - t0)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **cols)
        tmp.replace(path)
    return cols


def _take(cols: Mapping[str, np.ndarray], mask) -> Dict[str, np.ndarray]:
    return {k: np.asarray(v)[mask] for k, v in cols.items()}


def split_stars(cols: Mapping[str, np.ndarray], val_fraction: float, seed: int):
    """``(train, val)`` split by star (no star in both)."""
    val = _star_hash(np.asarray(cols["tic_id"]), seed) < val_fraction
    return _take(cols, ~val), _take(cols, val)


def _ray_ds(cols: Mapping[str, np.ndarray]):
    import ray

    n = len(cols["label"])
    items = [{k: (np.asarray(cols[k][i], np.float32) if k == "window" else cols[k][i].item())
              for k in WINDOW_COLUMNS} for i in range(n)]
    return ray.data.from_items(items, override_num_blocks=max(1, min(16, n // 256 or 1))).materialize()


def _counts(cols) -> Dict[str, int]:
    lab = np.asarray(cols["label"])
    return {"transit": int(np.sum(lab == 1)), "no_transit": int(np.sum(lab == 0)),
            "unlabelled": int(np.sum(lab < 0)), "total": int(lab.size)}


def _train(name: str, cfg: Dict[str, Any], train_cols, val_cols, out_dir: Path, registry: Path, tag: str,
           register: bool = True) -> Dict[str, Any]:
    """One Ray Train run (1 worker) of models-core's :func:`~exoray.training.train.train_model` on given windows."""
    # the run name (Ray Train resumes a run of the same name) covers the completed config and the data
    full = default_config(name, **{k: v for k, v in cfg.items() if k != "name"})
    blob = json.dumps({"cfg": full, "n": int(len(train_cols["label"])), "tag": tag,
                       "sum": float(np.asarray(train_cols["window"][:64], float).sum())}, sort_keys=True, default=str)
    run_name = f"{tag}-{hashlib.sha1(blob.encode()).hexdigest()[:10]}"
    settings = TrainSettings(num_workers=1, storage_path=str((out_dir / "train_runs").resolve()), run_name=run_name,
                             registry=str(registry), register=register)
    counts = {"all": _counts(train_cols), "train": _counts(train_cols), "val": _counts(val_cols)}
    t0 = time.perf_counter()
    res = train_model(name, cfg, settings=settings, datasets=(_ray_ds(train_cols), _ray_ds(val_cols), counts))
    res["wall_seconds"] = time.perf_counter() - t0
    log.info("trained %s (%s) in %.0f s", name, tag, res["wall_seconds"])
    return res


def predict_logits(model, windows, batch: int = 1024) -> np.ndarray:
    """Classifier logits for normalised windows (numpy)."""
    import torch

    model.eval()
    x = np.asarray(windows, np.float32)
    out = np.empty(x.shape[0])
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            out[i:i + batch] = model(torch.as_tensor(x[i:i + batch])).double().numpy()
    return out


def _configs(smoke: bool) -> Dict[str, Dict[str, Any]]:
    return SMOKE_CONFIGS if smoke else EXPERIMENT_CONFIGS


# --------------------------------------------------------------------------- anomaly
def evaluate_anomaly(out_dir, *, n_train: int = 300, n_test: int = 150, epochs: int = 10, seed: int = 0,
                     registry=None, smoke: bool = False, use_registered: bool = False,
                     combine_rule: str = "mean") -> Dict[str, Any]:
    """Train / fit every anomaly method on ``n_train`` simulated stars and score ``n_test`` held-out stars.

    The autoencoder and transformer train on the non-transit windows of 80 %
    of the training stars (Ray Train, 1 worker); the OCSVM fits on the same
    windows; the combined score is calibrated on the non-transit windows of
    the other 20 %.  Test stars (another seed, 70 % with planets, half of
    them single transits, sector SNR 5-80) are scored by every method and
    :func:`auc_table` reports ROC-AUC / PR-AUC per window-SNR bin.

    ``use_registered``: skip training and score with the latest registered
    models (OCSVM and combined are still refitted).
    """
    out_dir = Path(out_dir)
    reg = Path(registry) if registry else out_dir / "registry"
    cache = out_dir / "cache"
    cfgs = _configs(smoke)
    t_start = time.perf_counter()
    data = simulate_set(n_train, seed, cache, transit_fraction=0.5)
    train, calib = split_stars(data, 0.2, seed)
    noise_train = _take(train, train["label"] == 0)
    noise_calib = _take(calib, calib["label"] == 0)
    if noise_train["label"].size < 20 or noise_calib["label"].size < 10:
        raise ExorayError(f"too few non-transit windows ({noise_train['label'].size} train, "
                          f"{noise_calib['label'].size} calibration); use more stars")
    trained: Dict[str, Any] = {}
    versions: Dict[str, str] = {}
    if not use_registered:
        for name in ("autoencoder", "transformer"):
            cfg = dict(cfgs[name], epochs=int(epochs), seed=int(seed))
            res = _train(name, cfg, noise_train, calib, out_dir, reg, f"anomaly-{name}")
            versions[name] = Path(res["version_path"]).name
            trained[name] = {"version": versions[name], "config": res["config"],
                             "train_windows": int(noise_train["label"].size), "wall_seconds": res["wall_seconds"],
                             "val_auc": res["metrics"].get("val_auc")}
    ocsvm_folder = fit_ocsvm(noise_train["window"], registry=reg, seed=seed)
    versions["ocsvm"] = ocsvm_folder.name
    comb_folder = fit_combined(noise_calib["window"], registry=reg, rule=combine_rule, versions=versions)
    test = simulate_set(n_test, seed + 1, cache, transit_fraction=0.7, single_fraction=0.5, snr_range=(5.0, 80.0))
    results: Dict[str, Any] = {}
    timings: Dict[str, float] = {}
    for m in METHODS:
        t0 = time.perf_counter()
        s = score_windows(test["window"], m, registry=reg,
                          version=comb_folder.name if m == "combined" else versions.get(m, "latest"))
        timings[m] = (time.perf_counter() - t0) / max(1, s.size) * 1e3
        results[m] = auc_table(test["label"], s, test["snr"])
    result = {
        "experiment": "anomaly",
        "n_train_stars": n_train, "n_test_stars": n_test, "epochs": epochs, "seed": seed, "smoke": smoke,
        "registry": str(reg), "versions": versions, "combined": comb_folder.name, "combine_rule": combine_rule,
        "train_windows": int(noise_train["label"].size), "calibration_windows": int(noise_calib["label"].size),
        "test_counts": _counts(test), "trained": trained, "ms_per_window": timings, "results": results,
        "snr_definition": "window single-transit SNR: mean in-window depth * sqrt(n_in bins) / sigma of 10-min bins",
        "wall_seconds": time.perf_counter() - t_start,
    }
    bins = ["all"] + [_bin_label(lo, hi) for lo, hi in SNR_BINS] + [">=10"]
    md = [f"# Anomaly detection on held-out simulated windows\n\n{n_train} training stars, {n_test} test stars "
          f"(seed {seed}), {epochs} epochs; test windows: {_counts(test)}.\n\n## ROC-AUC by window SNR\n\n"]
    md.append(markdown_table(["method"] + bins, [[m] + [results[m][b]["roc_auc"] for b in bins] for m in METHODS]))
    md.append("\n## PR-AUC (average precision) by window SNR\n\n")
    md.append(markdown_table(["method"] + bins, [[m] + [results[m][b]["pr_auc"] for b in bins] for m in METHODS]))
    md.append("\npositives per bin: " + ", ".join(f"{b}: {results['ocsvm'][b]['n_pos']}" for b in bins)
              + f"; negatives: {results['ocsvm']['all']['n_neg']}\n")
    _write(out_dir, "anomaly", result, "".join(md))
    return result


# --------------------------------------------------------------------------- transfer
def _subsample(cols, fraction: float, seed: int, min_pos: int = 3) -> Dict[str, np.ndarray]:
    """Stratified random ``fraction`` of the labelled windows (at least ``min_pos`` of each class)."""
    if fraction >= 1.0:
        return dict(cols)
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(cols["label"]), bool)
    for c in (0, 1):
        idx = np.nonzero(cols["label"] == c)[0]
        k = min(idx.size, max(min_pos, int(round(fraction * idx.size))))
        keep[rng.choice(idx, k, replace=False)] = True
    return _take(cols, keep)


def evaluate_transfer(out_dir, *, n_pretrain: int = 300, n_labelled: int = 200, n_test: int = 150,
                      fractions: Sequence[float] = (0.01, 0.1, 1.0), epochs: int = 8, seed: int = 0,
                      encoder: str = "autoencoder", registry=None, smoke: bool = False) -> Dict[str, Any]:
    """Pretrained-encoder classifier vs from-scratch classifier at several label fractions.

    1. ``encoder`` is pretrained on every window of ``n_pretrain`` stars with
       the labels removed (self-supervised reconstruction);
    2. for each fraction of the labelled training windows of ``n_labelled``
       other stars (stratified), the classifier is trained (a) on the
       pretrained encoder, frozen for the first half of the epochs, then
       fine-tuned, and (b) with the same architecture from random weights;
    3. both are scored on ``n_test`` held-out stars.
    """
    if encoder not in ("autoencoder", "transformer"):
        raise ConfigError(f"encoder must be 'autoencoder' or 'transformer', got {encoder!r}")
    out_dir = Path(out_dir)
    reg = Path(registry) if registry else out_dir / "registry"
    cache = out_dir / "cache"
    cfgs = _configs(smoke)
    t_start = time.perf_counter()
    pre = simulate_set(n_pretrain, seed + 10, cache)
    pre_train, pre_val = split_stars(pre, 0.1, seed)
    unl = dict(pre_train, label=np.full(pre_train["label"].size, -1, np.int64))
    enc_cfg = dict(cfgs[encoder], epochs=int(epochs), seed=int(seed))
    enc = _train(encoder, enc_cfg, unl, pre_val, out_dir, reg, f"transfer-pretrain-{encoder}")
    enc_ref = f"{encoder}:{Path(enc['version_path']).name}"
    lab = simulate_set(n_labelled, seed + 20, cache)
    lab_train, lab_val = split_stars(lab, 0.2, seed)
    test = simulate_set(n_test, seed + 30, cache)
    arch = {k: enc["config"][k] for k in enc_cfg if k in enc["config"] and k not in
            ("epochs", "seed", "batch_size", "lr", "weight_decay")}
    ccfg = dict(cfgs["classifier"], epochs=int(epochs), seed=int(seed), encoder=encoder)
    rows = []
    for frac in fractions:
        sub = _subsample(lab_train, frac, seed)
        pw = float(np.sum(sub["label"] == 0) / max(1, np.sum(sub["label"] == 1)))
        for variant in ("pretrained", "scratch"):
            cfg = dict(ccfg, pos_weight=pw)
            if variant == "pretrained":
                cfg.update(pretrained=enc_ref, freeze_encoder=True, unfreeze_after=max(1, int(epochs) // 2))
            else:
                cfg.update(encoder_config=arch, freeze_encoder=False, pretrained="")
            res = _train("classifier", cfg, sub, lab_val, out_dir, reg, f"transfer-{variant}-{frac:g}",
                         register=False)
            logits = predict_logits(res["model"], test["window"])
            t = auc_table(test["label"], logits, test["snr"])
            rows.append({"fraction": float(frac), "variant": variant, "n_train": int(sub["label"].size),
                         "n_train_pos": int(np.sum(sub["label"] == 1)), "test": t,
                         "val_auc": res["metrics"].get("val_auc"), "wall_seconds": res["wall_seconds"]})
    result = {"experiment": "transfer", "encoder": encoder, "encoder_version": enc_ref, "n_pretrain_stars": n_pretrain,
              "pretrain_windows": int(unl["label"].size), "n_labelled_stars": n_labelled, "n_test_stars": n_test,
              "labelled_train_counts": _counts(lab_train), "test_counts": _counts(test), "epochs": epochs,
              "seed": seed, "smoke": smoke, "rows": rows, "wall_seconds": time.perf_counter() - t_start}
    md = [f"# Transfer learning: {encoder} encoder pretrained on {unl['label'].size} unlabelled windows\n\n"
          f"Labelled training windows (100 %): {_counts(lab_train)}; test: {_counts(test)}; {epochs} epochs.\n\n"]
    table = []
    for frac in fractions:
        r = {x["variant"]: x for x in rows if x["fraction"] == float(frac)}
        table.append([f"{100 * frac:g} %", r["pretrained"]["n_train"], r["pretrained"]["n_train_pos"],
                      r["pretrained"]["test"]["all"]["roc_auc"], r["scratch"]["test"]["all"]["roc_auc"],
                      r["pretrained"]["test"][">=10"]["roc_auc"], r["scratch"]["test"][">=10"]["roc_auc"],
                      r["pretrained"]["test"]["all"]["pr_auc"], r["scratch"]["test"]["all"]["pr_auc"]])
    md.append(markdown_table(["labels", "windows", "transits", "ROC-AUC pretrained", "ROC-AUC scratch",
                              "ROC-AUC SNR>=10 pretrained", "ROC-AUC SNR>=10 scratch",
                              "PR-AUC pretrained", "PR-AUC scratch"], table))
    _write(out_dir, "transfer", result, "".join(md))
    return result


# --------------------------------------------------------------------------- augmentation
def _fit_window_transit(w: np.ndarray, bin_days: float, duration_guess_days: float) -> Dict[str, float]:
    """Trapezoid fit of one normalised window (dip near its deepest smoothed point)."""
    from scipy.ndimage import uniform_filter1d

    t = np.arange(w.size) * bin_days
    k = max(3, int(round(duration_guess_days / bin_days)))
    c = int(np.argmin(uniform_filter1d(w, k, mode="nearest")))
    dur = float(np.clip(duration_guess_days, 3 * bin_days, 0.45 * w.size * bin_days))
    # transit_shape fits relative flux (depth bounded by 1): map 1 noise sigma to 1e-3 and back
    scale = 1e-3
    res = transit_shape(t, 1.0 + scale * np.asarray(w, float), np.full(w.size, scale), 1e3, float(t[c]), dur,
                        window=2.0)
    return {"depth": float(res["depth"]) / scale, "duration_hours": 24.0 * float(res["total_duration"]),
            "ingress_fraction": float(res["ingress_fraction"]), "ok": res.get("reason") is None}


def gan_physics_check(gan, real: Mapping[str, np.ndarray], n: int = 200, seed: int = 0) -> Dict[str, Any]:
    """Compare GAN windows with what was requested and with real windows of the same conditions.

    For ``n`` (depth_ppm, duration_hours) conditions drawn from the real
    transit windows ``real`` (normalised, label 1), draw one GAN window each
    and fit a trapezoid (:func:`exoray.vet.shape.transit_shape`) to it and to
    the real window of that condition.  Reports the fitted/requested duration
    ratio, the rank correlation of fitted depth (noise sigmas) with requested
    depth, the generated/real fitted-depth ratio, and the ingress fractions.
    """
    from scipy.stats import spearmanr

    pos = np.nonzero(np.asarray(real["label"]) == 1)[0]
    if pos.size < 3:
        raise ExorayError("gan_physics_check needs >= 3 real transit windows")
    rng = np.random.default_rng(seed)
    idx = rng.choice(pos, min(n, pos.size), replace=False)
    depth = np.asarray(real["depth_ppm"], float)[idx]
    dur = np.asarray(real["duration_hours"], float)[idx]
    gen = gan_samples(gan, idx.size, depth, dur, seed=seed)
    bin_days = BIN_MINUTES / 1440.0
    g = [_fit_window_transit(gen[i], bin_days, dur[i] / 24.0) for i in range(idx.size)]
    r = [_fit_window_transit(np.asarray(real["window"][j], float), bin_days, dur[i] / 24.0)
         for i, j in enumerate(idx)]
    ok = np.array([a["ok"] and b["ok"] and a["depth"] > 0 and b["depth"] > 0 for a, b in zip(g, r)])

    def arr(rows, key):
        return np.array([x[key] for x in rows], float)[ok]

    gd, rd = arr(g, "depth"), arr(r, "depth")
    gh, rh = arr(g, "duration_hours"), arr(r, "duration_hours")
    gi, ri = arr(g, "ingress_fraction"), arr(r, "ingress_fraction")
    req_h, req_d = dur[ok], depth[ok]

    def q(x):
        return {"median": float(np.median(x)), "p16": float(np.percentile(x, 16)), "p84": float(np.percentile(x, 84))} \
            if x.size else None

    return {
        "n": int(idx.size), "n_fitted": int(ok.sum()),
        "duration_ratio_generated": q(gh / req_h), "duration_ratio_real": q(rh / req_h),
        "depth_sigma_generated": q(gd), "depth_sigma_real": q(rd),
        "depth_ratio_generated_over_real": q(gd / rd),
        "spearman_depth_generated": float(spearmanr(gd, req_d)[0]) if ok.sum() > 2 else None,
        "spearman_depth_real": float(spearmanr(rd, req_d)[0]) if ok.sum() > 2 else None,
        "spearman_duration_generated": float(spearmanr(gh, req_h)[0]) if ok.sum() > 2 else None,
        "ingress_fraction_generated": q(gi), "ingress_fraction_real": q(ri),
    }


def evaluate_augmentation(out_dir, *, n_labelled: int = 60, n_test: int = 150, epochs: int = 10,
                          gan_epochs: int = 30, seed: int = 0, registry=None, smoke: bool = False,
                          augmentations: Sequence[str] = ("noise", "warp", "mixup", "inject", "gan")
                          ) -> Dict[str, Any]:
    """Classifier from scratch on a small labelled set, without and with each augmentation.

    Every variant uses the same architecture, seed, epochs and ``pos_weight``
    (of the un-augmented set); an augmentation *adds* rows (as many as the
    set has, or as many transit windows as it has negatives for ``inject``
    and ``gan``).  The conditional GAN is trained on the same set's transit
    windows only and checked against physics (:func:`gan_physics_check`).
    """
    out_dir = Path(out_dir)
    reg = Path(registry) if registry else out_dir / "registry"
    cache = out_dir / "cache"
    cfgs = _configs(smoke)
    t_start = time.perf_counter()
    lab = simulate_set(n_labelled, seed + 40, cache)
    train, val = split_stars(lab, 0.2, seed)
    test = simulate_set(n_test, seed + 30, cache)
    pos = train["label"] == 1
    if pos.sum() < 3:
        raise ExorayError(f"only {int(pos.sum())} transit windows in the labelled set; use more stars")
    rng = np.random.default_rng(seed)
    base_pw = float(np.sum(train["label"] == 0) / max(1, pos.sum()))
    ccfg = dict(cfgs["classifier"], epochs=int(epochs), seed=int(seed), encoder="autoencoder",
                encoder_config={k: v for k, v in cfgs["autoencoder"].items() if k != "batch_size" and k != "lr"},
                freeze_encoder=False, pos_weight=base_pw)
    gan_info: Dict[str, Any] = {}
    gan_model = None
    if "gan" in augmentations:
        gcfg = dict(cfgs["gan"], epochs=int(gan_epochs), seed=int(seed))
        gtrain, gval = _take(train, pos), _take(val, val["label"] == 1)
        if gval["label"].size == 0:
            gval = gtrain
        gres = _train("gan", gcfg, gtrain, gval, out_dir, reg, "augment-gan")
        gan_model = gres["model"]
        gan_info = {"version": Path(gres["version_path"]).name, "train_windows": int(gtrain["label"].size),
                    "wall_seconds": gres["wall_seconds"],
                    "physics": gan_physics_check(gan_model, test, n=200 if not smoke else 20, seed=seed)}
    # (SNR, duration) of the real transits: injected transits follow the same distribution
    snr_pos, dur_pos = train["snr"][pos], train["duration_hours"][pos]
    noise_ppm = 1000.0  # a normalised window has unit noise per bin; 1 sigma := 1000 ppm for injection
    rows = []
    for name in ("none",) + tuple(augmentations):
        x, y = train["window"].astype(np.float64), train["label"].astype(np.float64)
        if name == "none":
            xa, ya = np.empty((0, x.shape[1])), np.empty(0)
        elif name == "noise":
            xa, ya = A.augment("noise", x, y, rng, alpha=1.0, amplitude=0.5)
        elif name == "warp":
            xa, ya = A.augment("warp", x, y, rng, strength=0.15)
        elif name == "mixup":
            xa, ya = A.augment("mixup", x, y, rng, alpha=0.4)
        elif name == "inject":
            k = rng.integers(0, snr_pos.size, int(np.sum(y == 0)))
            n_in = np.maximum(dur_pos[k] * 60.0 / BIN_MINUTES, 1.0)
            depth = np.clip(1.2 * snr_pos[k] / np.sqrt(n_in) * noise_ppm, 50.0, 1.5e5)
            neg = x[y == 0] * noise_ppm * 1e-6
            xi, _ = A.inject_transits(neg, rng, depth, np.clip(dur_pos[k], 0.5, 14.0),
                                      cadence_days=BIN_MINUTES / 1440.0, baseline=0.0)
            xa, ya = normalize_windows(xi).astype(np.float64), np.ones(xi.shape[0])
        elif name == "gan":
            k = rng.integers(0, pos.sum(), int(np.sum(y == 0)))
            xa, ya = A.augment("gan", x, y, rng, gan=gan_model, n=k.size, depth_ppm=train["depth_ppm"][pos][k],
                               duration_hours=train["duration_hours"][pos][k])
        else:
            raise ConfigError(f"unknown augmentation {name!r}; allowed: {', '.join(A.AUGMENTATIONS)}")
        n_add = int(ya.size)
        aug = {
            "window": np.vstack([x, xa]).astype(np.float32),
            "label": np.concatenate([y, ya]),
            "snr": np.concatenate([train["snr"], np.zeros(n_add)]),
            "depth_ppm": np.concatenate([train["depth_ppm"], np.zeros(n_add)]),
            "duration_hours": np.concatenate([train["duration_hours"], np.zeros(n_add)]),
            "tic_id": np.concatenate([train["tic_id"], np.full(n_add, -1, np.int64)]),
            "start_time": np.concatenate([train["start_time"], np.zeros(n_add)]),
        }
        res = _train("classifier", dict(ccfg), aug, val, out_dir, reg, f"augment-{name}", register=False)
        logits = predict_logits(res["model"], test["window"])
        rows.append({"augmentation": name, "n_train": int(aug["label"].size), "n_added": n_add,
                     "test": auc_table(test["label"], logits, test["snr"]), "val_auc": res["metrics"].get("val_auc"),
                     "wall_seconds": res["wall_seconds"]})
    result = {"experiment": "augmentation", "n_labelled_stars": n_labelled, "n_test_stars": n_test,
              "train_counts": _counts(train), "test_counts": _counts(test), "epochs": epochs,
              "gan_epochs": gan_epochs, "seed": seed, "smoke": smoke, "rows": rows, "gan": gan_info,
              "wall_seconds": time.perf_counter() - t_start}
    base = rows[0]["test"]["all"]["roc_auc"]
    md = [f"# Augmentation ablation (classifier from scratch, {_counts(train)} training windows)\n\n"]
    md.append(markdown_table(
        ["augmentation", "rows added", "ROC-AUC", "Δ vs none", "PR-AUC", "ROC-AUC SNR 7-10", "ROC-AUC SNR>=10"],
        [[r["augmentation"], r["n_added"], r["test"]["all"]["roc_auc"],
          None if base is None or r["test"]["all"]["roc_auc"] is None else r["test"]["all"]["roc_auc"] - base,
          r["test"]["all"]["pr_auc"], r["test"]["7-10"]["roc_auc"], _merge_high(r["test"])] for r in rows]))
    if gan_info:
        p = gan_info["physics"]
        md.append("\n## GAN samples against physics\n\n")
        md.append(markdown_table(["quantity", "generated", "real (same conditions)"], [
            ["fitted / requested T14 (median)", _q(p["duration_ratio_generated"]), _q(p["duration_ratio_real"])],
            ["fitted depth [noise sigma] (median)", _q(p["depth_sigma_generated"]), _q(p["depth_sigma_real"])],
            ["generated / real fitted depth", _q(p["depth_ratio_generated_over_real"]), None],
            ["Spearman(fitted depth, requested depth)", p["spearman_depth_generated"], p["spearman_depth_real"]],
            ["Spearman(fitted T14, requested T14)", p["spearman_duration_generated"], None],
            ["trapezoid ingress fraction (median)", _q(p["ingress_fraction_generated"]),
             _q(p["ingress_fraction_real"])],
        ]))
    _write(out_dir, "augmentation", result, "".join(md))
    return result


def _q(d) -> Optional[str]:
    return None if not d else f"{d['median']:.2f} [{d['p16']:.2f}, {d['p84']:.2f}]"


def _merge_high(t: Mapping[str, Any]) -> Optional[float]:
    return t[">=10"]["roc_auc"]
