"""Model configs, construction and a versioned on-disk model registry.

Config
------
:func:`default_config` builds the one dict that describes a model: its
architecture keys (passed to the model class) and its training keys (``lr``,
``batch_size``, ``epochs``, ...; ignored by :func:`build_model`).  Unknown
keys and wrongly typed values raise :class:`~exoray.errors.ConfigError`.

Registry layout
---------------
::

    <registry>/<name>/v0001/model.safetensors   weights (tensors only; metadata: name, created, versions)
                           config.json          default_config(name, ...) used to build it
                           metrics.json         training / held-out metrics
    <registry>/<name>/v0002/...

``<registry>`` is ``$EXORAY_MODEL_REGISTRY`` or ``~/.exoray/models``.  A
version is written into a hidden temporary folder and renamed into place, so
a reader never sees half a model.  Loading reads tensors only (safetensors,
or ``torch.load(weights_only=True)`` for a ``model.pt``): nothing is ever
unpickled, so a registry folder from elsewhere cannot run code.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from ..errors import ConfigError, ExorayError
from .windows import WINDOW_LENGTH

__all__ = [
    "MODEL_NAMES",
    "TRAIN_KEYS",
    "default_config",
    "build_model",
    "save_model",
    "load_model",
    "load_model_dir",
    "list_models",
    "default_registry",
    "resolve_version",
]

MODEL_NAMES = ("autoencoder", "transformer", "gan", "classifier")

#: training keys every model's config has (ignored by build_model)
TRAIN_KEYS: Dict[str, Any] = {
    "lr": 1e-3,
    "weight_decay": 1e-5,
    "batch_size": 64,
    "epochs": 10,
    "seed": 0,
}

_ARCH: Dict[str, Dict[str, Any]] = {
    "autoencoder": {"window_length": WINDOW_LENGTH, "base_channels": 16, "depth": 3, "latent_dim": 16,
                    "kernel_size": 7, "dropout": 0.0, "score": "local_dip"},
    "transformer": {"window_length": WINDOW_LENGTH, "patch_size": 8, "d_model": 32, "n_heads": 2,
                    "n_layers": 2, "ff_mult": 2, "dropout": 0.0, "mask_ratio": 0.3, "score_passes": 4,
                    "score": "local_dip"},
    "gan": {"window_length": WINDOW_LENGTH, "noise_dim": 16, "base_channels": 16, "depth": 3,
            "kernel_size": 7, "lr_d": 2e-4},
    "classifier": {"window_length": WINDOW_LENGTH, "encoder": "autoencoder", "encoder_config": {},
                   "hidden": 32, "dropout": 0.1, "freeze_encoder": True, "pretrained": "",
                   "unfreeze_after": 0, "pos_weight": 0.0},
}
#: per-model overrides of the training defaults
_TRAIN_OVERRIDES = {"gan": {"lr": 2e-4, "weight_decay": 0.0}}

WEIGHTS_FILE = "model.safetensors"
LEGACY_WEIGHTS_FILE = "model.pt"
_VERSION_RE = re.compile(r"^v(\d{4,})$")


# --------------------------------------------------------------------------- config
def _check_name(name: str) -> None:
    if name not in MODEL_NAMES:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")


def _coerce(name: str, key: str, default: Any, value: Any) -> Any:
    where = f"{name} config key {key!r}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true/false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    if isinstance(default, dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    return value


def default_config(name: str, **overrides) -> Dict[str, Any]:
    """Complete config of model ``name`` with ``overrides`` applied and checked.

    Parameters
    ----------
    name : str
        One of :data:`MODEL_NAMES`.
    **overrides
        Architecture or training keys.  For the classifier,
        ``encoder_config`` is itself completed with
        ``default_config(encoder)``'s architecture keys.

    Raises
    ------
    ConfigError
        Unknown model, unknown keys (all named), wrong types or values.
    """
    _check_name(name)
    base = dict(TRAIN_KEYS)
    base.update(_TRAIN_OVERRIDES.get(name, {}))
    base.update(copy.deepcopy(_ARCH[name]))
    unknown = sorted(set(overrides) - set(base))
    if unknown:
        raise ConfigError(f"unknown {name} config key(s) {', '.join(map(repr, unknown))}; "
                          f"allowed: {', '.join(sorted(base))}")
    cfg = dict(base)
    for k, v in overrides.items():
        cfg[k] = _coerce(name, k, base[k], v)
    for k in ("lr", "batch_size", "epochs", "window_length"):
        if cfg[k] <= 0:
            raise ConfigError(f"{name} config key {k!r} must be > 0, got {cfg[k]!r}")
    if cfg["weight_decay"] < 0:
        raise ConfigError(f"{name} config key 'weight_decay' must be >= 0")
    for k in ("depth", "base_channels", "latent_dim", "d_model", "n_heads", "n_layers", "patch_size",
              "noise_dim", "hidden", "kernel_size", "ff_mult", "score_passes"):
        if k in cfg and cfg[k] < 1:
            raise ConfigError(f"{name} config key {k!r} must be >= 1, got {cfg[k]!r}")
    if "dropout" in cfg and not 0.0 <= cfg["dropout"] < 1.0:
        raise ConfigError(f"{name} config key 'dropout' must be in [0, 1), got {cfg['dropout']!r}")
    if "score" in cfg:
        from .scores import SCORES

        if cfg["score"] not in SCORES:
            raise ConfigError(f"{name} config key 'score' must be one of {SCORES}, got {cfg['score']!r}")
    if name == "classifier":
        enc = cfg["encoder"]
        if enc not in ("autoencoder", "transformer"):
            raise ConfigError(f"classifier config key 'encoder' must be 'autoencoder' or 'transformer', got {enc!r}")
        sub = dict(cfg["encoder_config"])
        sub.setdefault("window_length", cfg["window_length"])
        if sub["window_length"] != cfg["window_length"]:
            raise ConfigError("classifier encoder_config.window_length differs from window_length")
        unknown = sorted(set(sub) - set(_ARCH[enc]))
        full = default_config(enc, **{k: v for k, v in sub.items() if k in _ARCH[enc]}) if not unknown else None
        if unknown:
            raise ConfigError(f"unknown {enc} encoder_config key(s) {', '.join(map(repr, unknown))}; "
                              f"allowed: {', '.join(sorted(_ARCH[enc]))}")
        cfg["encoder_config"] = {k: full[k] for k in _ARCH[enc]}
    cfg["name"] = name
    return cfg


def _arch_config(name: str, config: Optional[Mapping]) -> Dict[str, Any]:
    cfg = dict(config or {})
    given = cfg.pop("name", name)
    if given != name:
        raise ConfigError(f"config is for model {given!r}, not {name!r}")
    return default_config(name, **cfg)


def build_model(name: str, config: Optional[Mapping] = None):
    """Untrained ``torch.nn.Module`` for model ``name`` built from ``config`` (completed by :func:`default_config`)."""
    _check_name(name)
    cfg = _arch_config(name, config)
    if name == "autoencoder":
        from .autoencoder import ConvAutoencoder as cls
    elif name == "transformer":
        from .transformer import PatchTransformer as cls
    elif name == "gan":
        from .gan import ConditionalGAN as cls
    else:
        from .classifier import TransitClassifier as cls
    return cls.from_config(cfg)


# --------------------------------------------------------------------------- registry
def default_registry() -> Path:
    """``$EXORAY_MODEL_REGISTRY`` if set, else ``~/.exoray/models``."""
    env = os.environ.get("EXORAY_MODEL_REGISTRY")
    return Path(env).expanduser() if env else Path.home() / ".exoray" / "models"


def _registry(registry) -> Path:
    return Path(registry).expanduser() if registry else default_registry()


def _versions(model_dir: Path) -> List[int]:
    if not model_dir.is_dir():
        return []
    out = []
    for p in model_dir.iterdir():
        m = _VERSION_RE.match(p.name)
        if m and p.is_dir():
            out.append(int(m.group(1)))
    return sorted(out)


def _jsonable(obj):
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    if isinstance(obj, float) and obj != obj:  # NaN -> null keeps the JSON strict
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def save_model(model, name: str, config: Mapping, metrics: Optional[Mapping] = None,
               registry: Union[str, Path, None] = None) -> Path:
    """Register ``model`` as the next version of ``name``; returns the version folder.

    Writes ``model.safetensors`` (the ``state_dict``, contiguous CPU tensors),
    ``config.json`` and ``metrics.json`` into a temporary folder beside the
    versions and renames it to ``v%04d`` (the next free number).
    """
    import torch
    from safetensors.torch import save_file

    from .._version import __version__

    _check_name(name)
    cfg = _arch_config(name, config)
    model = getattr(model, "module", model)  # unwrap DDP
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()
             if isinstance(v, torch.Tensor)}
    root = _registry(registry) / name
    root.mkdir(parents=True, exist_ok=True)
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    meta = {"name": name, "created": created, "exoray_version": __version__, "torch_version": torch.__version__}

    def write(tmp: Path) -> None:
        save_file(state, str(tmp / WEIGHTS_FILE), metadata=meta)
        (tmp / "config.json").write_text(json.dumps(_jsonable(cfg), indent=2, sort_keys=True) + "\n")
        (tmp / "metrics.json").write_text(
            json.dumps(_jsonable(dict(metrics or {})), indent=2, sort_keys=True, allow_nan=False) + "\n")

    return new_version(root, write)


def new_version(root: Path, write) -> Path:
    """Write a new ``v%04d`` folder under ``root`` atomically; returns it.

    ``write(tmp)`` fills a temporary folder beside the versions, which is
    then renamed to the next free number (a rename fails if another writer
    took that number first, and the next one is tried).  Used for every
    versioned artefact of the registry (models, fitted scorers, calibrations).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        write(tmp)
        for _ in range(100):
            versions = _versions(root)
            dest = root / f"v{(versions[-1] if versions else 0) + 1:04d}"
            try:
                os.rename(tmp, dest)  # atomic; fails if another writer took this number
                return dest
            except OSError:
                if not dest.exists():
                    raise
        raise ExorayError(f"could not allocate a new version under {root}")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def resolve_version(name: str, version: Union[str, int] = "latest", registry=None) -> Path:
    """Folder of ``name``'s ``version`` (``"latest"``, ``3``, ``"3"`` or ``"v0003"``)."""
    _check_name(name)
    reg = _registry(registry)
    root = reg / name
    versions = _versions(root)
    if not versions:
        have = sorted(p.name for p in reg.iterdir() if p.is_dir() and _versions(p)) if reg.is_dir() else []
        raise ExorayError(
            f"no registered {name!r} model in {reg}; registered: {', '.join(have) or 'none'}. "
            f"Train one with `exoray train {name}` (or set --registry / EXORAY_MODEL_REGISTRY)")
    if str(version) == "latest":
        return root / f"v{versions[-1]:04d}"
    m = re.fullmatch(r"v?(\d+)", str(version))
    if not m or int(m.group(1)) not in versions:
        raise ExorayError(f"{name!r} has no version {version!r} in {root}; "
                          f"versions: {', '.join(f'v{v:04d}' for v in versions)}")
    return root / f"v{int(m.group(1)):04d}"


def _read_json(path: Path) -> Dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ExorayError(f"{path} is missing; the registry folder is incomplete - retrain or delete it") from None
    except json.JSONDecodeError as exc:
        raise ExorayError(f"{path} is not valid JSON ({exc}); retrain or delete the version folder") from None


def _read_weights(folder: Path) -> Dict[str, Any]:
    import torch

    st = folder / WEIGHTS_FILE
    pt = folder / LEGACY_WEIGHTS_FILE
    if st.exists():
        from safetensors.torch import load_file

        try:
            return load_file(str(st), device="cpu")
        except Exception as exc:  # SafetensorError, OSError: not a safetensors file
            raise ExorayError(f"{st} is not a valid safetensors file ({exc}); "
                              "it will not be read any other way - retrain or restore it") from None
    if pt.exists():
        try:
            state = torch.load(str(pt), map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle.UnpicklingError for anything but tensors
            raise ExorayError(f"{pt} holds more than plain tensors and is refused (never unpickled): "
                              f"{str(exc).splitlines()[0]}") from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ExorayError(f"{pt} is not a state_dict of tensors; refused")
        return state
    raise ExorayError(f"{folder} has no {WEIGHTS_FILE}; retrain or delete the version folder")


def load_model_dir(folder: Union[str, Path]) -> Tuple[Any, Dict[str, Any], Dict[str, Any]]:
    """Load a registry version folder: ``(model in eval mode, config, metrics)``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ExorayError(f"model folder {folder} does not exist")
    config = _read_json(folder / "config.json")
    metrics = _read_json(folder / "metrics.json")
    name = config.get("name")
    if name not in MODEL_NAMES:
        raise ExorayError(f"{folder / 'config.json'} names model {name!r}; expected one of {MODEL_NAMES}")
    model = build_model(name, config)
    state = _read_weights(folder)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ExorayError(f"weights in {folder} do not fit the model its config.json describes: "
                          f"{str(exc).splitlines()[0]}") from None
    model.eval()
    return model, config, metrics


def load_model(name: str, version: Union[str, int] = "latest", registry=None):
    """Load a registered model: ``(model in eval mode, config dict, metrics dict)``.

    Raises
    ------
    ExorayError
        The name or version is not registered (the message lists what is),
        or the files are incomplete / not plain tensors.
    """
    return load_model_dir(resolve_version(name, version, registry))


def list_models(registry=None) -> List[Dict[str, Any]]:
    """Every registered version: dicts with ``name, version, path, created, metrics``."""
    reg = _registry(registry)
    rows: List[Dict[str, Any]] = []
    if not reg.is_dir():
        return rows
    for name in MODEL_NAMES:
        for v in _versions(reg / name):
            folder = reg / name / f"v{v:04d}"
            created = None
            try:
                from safetensors import safe_open

                with safe_open(str(folder / WEIGHTS_FILE), framework="pt") as fh:
                    created = (fh.metadata() or {}).get("created")
            except Exception:  # noqa: BLE001 - listing must not fail on one broken folder
                created = None
            try:
                metrics = json.loads((folder / "metrics.json").read_text())
            except (OSError, json.JSONDecodeError):
                metrics = {}
            rows.append({"name": name, "version": f"v{v:04d}", "path": str(folder), "created": created,
                         "metrics": metrics})
    return rows
