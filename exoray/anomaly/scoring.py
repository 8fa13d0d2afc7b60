"""Anomaly scores for light-curve windows, by method name.

Methods
-------
``ocsvm``
    :class:`~exoray.anomaly.ocsvm.OCSVMScorer` on window features.
``autoencoder`` / ``transformer``
    The registered model's ``anomaly_score`` (reconstruction / masked-patch
    prediction error) on :func:`exoray.models.windows.normalize_windows` windows.
``combined``
    Each component's score turned into a robust z-score with the median and
    1.4826 MAD it has on *training noise windows* (fitted once by
    :func:`fit_combined`), then averaged (``rule="mean"``) or maxed
    (``rule="max"``).  Calibrating on noise puts the three scores on one
    scale (how many noise-sigmas unusual a window is), so no single
    method's units dominate.

Storage
-------
Everything lives in the model registry (:mod:`exoray.models.registry`):
the torch models, and beside them the OCSVM and the combined-score
calibration, which are not torch modules (the ``ocsvm`` and ``combined``
kinds; this module registers the latter)::

    <registry>/ocsvm/v0001/{ocsvm.npz, ocsvm.json, manifest.json}
    <registry>/combined/v0001/{calibration.json, manifest.json}

written atomically (temporary folder + rename), checked against their
manifest and read without pickle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from ..errors import ConfigError, ExorayError, InputError
from ..models.registry import (
    ModelKind,
    default_registry,
    load_cached,
    load_folder,
    publish_version,
    register_kind,
    resolve_in,
    resolve_version,
)
from ..models.windows import normalize_windows
from ..stats import location_scale, robust_z
from .ocsvm import OCSVMScorer

__all__ = [
    "METHODS",
    "TORCH_METHODS",
    "score_windows",
    "model_scores",
    "fit_ocsvm",
    "fit_combined",
    "load_ocsvm",
    "load_combined",
    "robust_z",
]

TORCH_METHODS = ("autoencoder", "transformer")
METHODS = ("ocsvm",) + TORCH_METHODS + ("combined",)


def _registry(registry) -> Path:
    return Path(registry).expanduser() if registry else default_registry()


def _check_windows(windows) -> np.ndarray:
    x = np.asarray(windows, dtype=np.float64)
    if x.ndim != 2:
        raise InputError(f"windows must be 2-D (n_windows, length), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InputError("windows contain NaN/inf; drop or fill those cadences before scoring")
    return x


# --------------------------------------------------------------------------- OCSVM
def fit_ocsvm(noise_windows, registry=None, **kw) -> Path:
    """Fit :class:`OCSVMScorer` on transit-free windows and register it; returns its folder."""
    scorer = OCSVMScorer(**kw).fit(noise_windows)
    return publish_version(_registry(registry) / "ocsvm", "ocsvm", scorer)


def load_ocsvm(registry=None, version="latest") -> OCSVMScorer:
    """The fitted OCSVM ``version`` (read once per version and process: a sweep scores every light curve)."""
    folder = resolve_in(_registry(registry) / "ocsvm", version, "fitted OCSVM",
                        "fit one with `exoray evaluate anomaly` or exoray.anomaly.scoring.fit_ocsvm")
    return load_cached(folder, "ocsvm")


# --------------------------------------------------------------------------- torch models
def model_scores(model, windows, batch: int = 512, normalize: bool = True) -> np.ndarray:
    """``model.anomaly_score`` over ``windows`` in batches (numpy float64)."""
    import torch

    if not hasattr(model, "anomaly_score"):
        raise ConfigError(f"{type(model).__name__} has no anomaly_score(); use the autoencoder or transformer")
    x = _check_windows(windows)
    wl = getattr(model, "window_length", x.shape[1])
    if x.shape[1] != wl:
        raise InputError(f"windows have length {x.shape[1]} but the model expects {wl}; "
                         "cut them with exoray.models.windows.windows_from_lightcurve")
    if normalize:
        x = np.asarray(normalize_windows(x), dtype=np.float64)
    model.eval()
    out = np.empty(x.shape[0])
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            xb = torch.as_tensor(x[i:i + batch], dtype=torch.float32)
            out[i:i + batch] = model.anomaly_score(xb).double().cpu().numpy()
    return out


def _load_torch(method: str, registry, version):
    return load_cached(resolve_version(method, version, registry), "torch")[0]


# --------------------------------------------------------------------------- combined
def _calibrate(scores: np.ndarray) -> Dict[str, float]:
    med, scale = location_scale(scores)
    return {"median": med, "scale": scale}


def fit_combined(noise_windows, components: Sequence[str] = ("ocsvm",) + TORCH_METHODS, rule: str = "mean",
                 registry=None, versions: Optional[Dict[str, str]] = None) -> Path:
    """Calibrate each component on transit-free windows and register the combined score.

    Parameters
    ----------
    noise_windows : array (n, L)
        Windows without transits (held out from the models' own training
        windows where possible).
    components : names from ``ocsvm``, ``autoencoder``, ``transformer``
    rule : ``"mean"`` or ``"max"`` of the components' robust z-scores.
    registry : folder, optional
    versions : dict, optional
        Component versions to pin (default: latest at fit time, recorded).
    """
    if rule not in ("mean", "max"):
        raise ConfigError(f"combined rule must be 'mean' or 'max', got {rule!r}")
    comps = list(components)
    bad = [c for c in comps if c not in ("ocsvm",) + TORCH_METHODS]
    if not comps or bad:
        raise ConfigError(f"combined components must be among ocsvm, autoencoder, transformer; got {comps}")
    x = _check_windows(noise_windows)
    reg = _registry(registry)
    versions = dict(versions or {})
    calib: Dict[str, Any] = {"rule": rule, "components": {}, "n_calibration": int(x.shape[0])}
    for c in comps:
        if c == "ocsvm":
            folder = resolve_in(reg / "ocsvm", versions.get(c, "latest"), "fitted OCSVM", "fit it first")
            s = OCSVMScorer.load(folder).score(x)
        else:
            folder = resolve_version(c, versions.get(c, "latest"), reg)
            s = model_scores(_load_torch(c, reg, folder.name), x)
        calib["components"][c] = {"version": folder.name, **_calibrate(s)}
    return publish_version(reg / "combined", "combined", calib)


def load_combined(registry=None, version="latest") -> Dict[str, Any]:
    """The combined-score calibration ``version``: rule and per-component version, median and scale."""
    folder = resolve_in(_registry(registry) / "combined", version, "combined-score calibration",
                        "fit one with `exoray evaluate anomaly` or exoray.anomaly.scoring.fit_combined")
    return load_folder(folder, "combined")


def _write_calibration(calib: Dict[str, Any], folder: Path) -> None:
    (folder / "calibration.json").write_text(json.dumps(calib, indent=2, sort_keys=True) + "\n")


def _read_calibration(folder: Path) -> Dict[str, Any]:
    try:
        cal = json.loads((folder / "calibration.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ExorayError(f"{folder / 'calibration.json'} unreadable ({exc}); refit it") from None
    if cal.get("rule") not in ("mean", "max") or not cal.get("components"):
        raise ExorayError(f"{folder / 'calibration.json'} lacks a rule or components; refit it")
    return cal


register_kind(ModelKind("combined", save=_write_calibration, load=_read_calibration,
                        detect=lambda folder: (folder / "calibration.json").is_file()))


# --------------------------------------------------------------------------- entry point
def score_windows(windows, method: str = "combined", registry: Union[str, Path, None] = None, *,
                  version: str = "latest", batch: int = 512) -> np.ndarray:
    """Anomaly score per window (higher = more unusual).

    Parameters
    ----------
    windows : array (n, L)
        Windows of flattened relative flux (as from
        :func:`exoray.models.windows.windows_from_lightcurve`); normalised here
        for the torch models.
    method : ``ocsvm`` | ``autoencoder`` | ``transformer`` | ``combined``
    registry : folder, optional
        Model registry (default :func:`exoray.models.registry.default_registry`).
    version : str
        Version of the method's model / calibration (``combined`` pins its
        components' versions in its calibration).

    Returns
    -------
    ndarray (n,)
        ``combined`` is in units of noise sigmas (robust z).
    """
    if method not in METHODS:
        raise ConfigError(f"unknown anomaly method {method!r}; choose one of {', '.join(METHODS)}")
    x = _check_windows(windows)
    if x.shape[0] == 0:
        return np.empty(0)
    reg = _registry(registry)
    if method == "ocsvm":
        return load_ocsvm(reg, version).score(x)
    if method in TORCH_METHODS:
        return model_scores(_load_torch(method, reg, version), x, batch=batch)
    cal = load_combined(reg, version)
    zs = []
    for c, p in cal["components"].items():
        if c == "ocsvm":
            s = load_ocsvm(reg, p["version"]).score(x)
        else:
            s = model_scores(_load_torch(c, reg, p["version"]), x, batch=batch)
        zs.append(robust_z(s, p["median"], p["scale"]))
    z = np.vstack(zs)
    return z.mean(axis=0) if cal["rule"] == "mean" else z.max(axis=0)
