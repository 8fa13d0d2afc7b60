"""Model configs, construction, and the one on-disk registry of every kind of saved model.

Config
------
:func:`default_config` builds the one dict that describes a model: its
architecture keys (passed to the model class) and its training keys (``lr``,
``batch_size``, ``epochs``, ...; ignored by :func:`build_model`).  Unknown
keys and wrongly typed values raise :class:`~exoray.errors.ConfigError`.

Kinds
-----
Every saved model is a folder of plain files, written and read by the
adapter of its *kind* (:class:`ModelKind`):

=============  ===========================================  ===================================
kind           files                                        adapter registered by
=============  ===========================================  ===================================
``torch``      ``model.safetensors, config.json,            this module
               metrics.json``
``ocsvm``      ``ocsvm.npz, ocsvm.json``                    :mod:`exoray.anomaly.ocsvm`
``combined``   ``calibration.json``                         :mod:`exoray.anomaly.scoring`
``ranker``     ``config.json, calibrators.json,             :mod:`exoray.rank.ranker`
               member_NN.txt, metrics.json``
=============  ===========================================  ===================================

An adapter lives beside the class it saves, so this module, below the
packages that score with the models, never imports them; they register
their kind when they are imported, which is before any of their objects can
be saved or loaded.  Everything else is here: the folder layout, the
versions, the manifest, atomic publishing and the integrity check.

Registry layout
---------------
::

    <registry>/<name>/v0001/model.safetensors   weights (tensors only; metadata: name, created, versions)
                           config.json          default_config(name, ...) used to build it
                           metrics.json         training / held-out metrics
                           manifest.json        kind, creation, and the SHA-256 of every file above
    <registry>/<name>/v0002/...
    <registry>/ocsvm/v0001/{ocsvm.npz, ocsvm.json, manifest.json}
    <registry>/combined/v0001/{calibration.json, manifest.json}

``<registry>`` is ``$EXORAY_MODEL_REGISTRY`` or ``~/.exoray/models``.  A
version is written into a hidden temporary folder and renamed into place
(:func:`publish_version`), so a reader never sees half a model; a model kept
in a folder of its own name (the ranker's ``--out`` folder) is swapped in
the same way (:func:`publish_folder`).

Loading (:func:`load_folder`) first checks the files against the manifest,
so a model changed or damaged since it was saved is refused with a message,
never half-read.  Folders saved before manifests existed (the ranker
shipped in ``exoray/data/ranker``, older registries) have none; their kind
is recognised from their files and they load as before.  Loading reads
tensors only (safetensors, or ``torch.load(weights_only=True)`` for a
``model.pt``), arrays without pickle and JSON: nothing is ever unpickled,
except the random-forest ranker baseline (joblib), which is for models
trained locally.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import os
import re
import shutil
import stat
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .._version import __version__
from ..errors import ConfigError, ExorayError
from ..runtime.files import hash_file
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
    "ModelKind",
    "register_kind",
    "kinds",
    "kind_of",
    "new_version",
    "publish_version",
    "publish_folder",
    "resolve_in",
    "read_manifest",
    "verify",
    "load_folder",
    "load_cached",
    "MANIFEST_FILE",
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
MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "exoray-model/1"
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
        # torch: imported only for a config that names a score
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
        # each model module imports torch: only the one built is imported (`exoray --help`
        # and `exoray models` import this module)
        from .autoencoder import ConvAutoencoder as cls
    elif name == "transformer":
        from .transformer import PatchTransformer as cls
    elif name == "gan":
        from .gan import ConditionalGAN as cls
    else:
        from .classifier import TransitClassifier as cls
    return cls.from_config(cfg)


# --------------------------------------------------------------------------- kinds
@dataclass(frozen=True)
class ModelKind:
    """How one kind of model is written into a folder and read back.

    Parameters
    ----------
    name : str
        The kind, as recorded in the manifest (``"torch"``, ``"ranker"``, ...).
    save : callable ``(obj, folder) -> None``
        Writes ``obj``'s files into ``folder`` (which exists and is empty).
    load : callable ``(folder) -> obj``
        Reads them back.
    detect : callable ``(folder) -> bool``
        Recognises a folder of this kind written before manifests existed.
    replaces : tuple of glob patterns
        Files of an earlier save that :func:`publish_folder` drops when it
        replaces a folder of this kind (the rest of the folder is kept).
    """

    name: str
    save: Callable[[Any, Path], None]
    load: Callable[[Path], Any]
    detect: Callable[[Path], bool]
    replaces: Tuple[str, ...] = ()


_KINDS: Dict[str, ModelKind] = {}


def register_kind(kind: ModelKind) -> ModelKind:
    """Make ``kind`` known to the registry (by the module that defines the objects it saves)."""
    _KINDS[kind.name] = kind
    return kind


def kinds() -> Tuple[str, ...]:
    """Names of the kinds registered so far."""
    return tuple(_KINDS)


def _kind(name: str) -> ModelKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise ExorayError(f"no adapter for models of kind {name!r} is registered (known: {', '.join(_KINDS)}); "
                          "import the package that defines that kind of model first") from None


# --------------------------------------------------------------------------- manifest and integrity
def _write_manifest(folder: Path, kind: str, metadata: Optional[Mapping] = None) -> Dict[str, Any]:
    """Record ``kind`` and the SHA-256 and size of every file of ``folder`` in its manifest."""
    files = {}
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.name != MANIFEST_FILE:
            files[f.relative_to(folder).as_posix()] = {"sha256": hash_file(f).hexdigest(),
                                                       "bytes": f.stat().st_size}
    manifest = {
        "format": MANIFEST_FORMAT,
        "kind": kind,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "exoray_version": __version__,
        "metadata": _jsonable(dict(metadata or {})),
        "files": files,
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def read_manifest(folder: Union[str, Path]) -> Optional[Dict[str, Any]]:
    """The manifest of a saved model, or ``None`` for a folder saved before manifests existed."""
    path = Path(folder) / MANIFEST_FILE
    if not path.exists():
        return None
    manifest = _read_json(path)
    if not isinstance(manifest, dict) or not str(manifest.get("format", "")).startswith("exoray-model/") \
            or not isinstance(manifest.get("files"), dict) or not manifest.get("kind"):
        raise ExorayError(f"{path} is not a model manifest; restore the folder or save the model again")
    return manifest


def verify(folder: Union[str, Path]) -> Optional[Dict[str, Any]]:
    """Check every file the manifest lists against its recorded SHA-256; returns the manifest.

    Raises
    ------
    ExorayError
        A listed file is missing or its contents changed since it was saved.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        return None
    for rel, rec in manifest["files"].items():
        f = folder / rel
        if not f.is_file():
            raise ExorayError(f"{f} is missing, but {folder / MANIFEST_FILE} lists it; the saved model is "
                              "incomplete - restore it or save it again")
        if f.stat().st_size != rec.get("bytes") or hash_file(f).hexdigest() != rec.get("sha256"):
            raise ExorayError(f"{f} changed since the model was saved (its SHA-256 differs from "
                              f"{folder / MANIFEST_FILE}); refused - restore it or save the model again")
    return manifest


def kind_of(folder: Union[str, Path]) -> str:
    """The kind of the model saved in ``folder``: from its manifest, else recognised from its files."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is not None:
        return str(manifest["kind"])
    for k in _KINDS.values():
        if k.detect(folder):
            return k.name
    raise ExorayError(f"{folder} holds no saved model of a known kind ({', '.join(_KINDS)})")


# --------------------------------------------------------------------------- folders and versions
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


def new_version(root: Path, write) -> Path:
    """Write a new ``v%04d`` folder under ``root`` atomically; returns it.

    ``write(tmp)`` fills a temporary folder beside the versions, which is
    then renamed to the next free number (a rename fails if another writer
    took that number first, and the next one is tried).
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


def publish_version(root: Union[str, Path], kind: str, obj, metadata: Optional[Mapping] = None) -> Path:
    """Save ``obj`` as the next version under ``root`` (``<registry>/<name>``), with its manifest; returns it."""
    k = _kind(kind)

    def write(tmp: Path) -> None:
        k.save(obj, tmp)
        _write_manifest(tmp, k.name, metadata)

    return new_version(Path(root), write)


def publish_folder(dest: Union[str, Path], kind: str, obj, metadata: Optional[Mapping] = None) -> Path:
    """Save ``obj`` into the folder ``dest`` in one step; returns ``dest``.

    The files are written into a temporary folder beside ``dest``, which then
    takes ``dest``'s place (two renames), so a reader finds the old model or
    the new one, never a mix.  Files of ``dest`` that the new save does not
    write are carried over, except the kind's ``replaces`` patterns (an
    earlier save's files that would otherwise be stale) and the old manifest.
    """
    k = _kind(kind)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        os.chmod(tmp, stat.S_IMODE(dest.stat().st_mode))  # mkdtemp's folder is private; keep dest's mode
        k.save(obj, tmp)
        written = {p.name for p in tmp.iterdir()}
        for old in dest.iterdir():
            if old.name in written or old.name == MANIFEST_FILE or any(old.match(g) for g in k.replaces):
                continue
            if old.is_dir():
                shutil.copytree(old, tmp / old.name, symlinks=True)
            else:
                shutil.copy2(old, tmp / old.name, follow_symlinks=False)
        _write_manifest(tmp, k.name, metadata)
        retired = dest.parent / f".{dest.name}.old-{uuid.uuid4().hex[:12]}"
        os.rename(dest, retired)
        try:
            os.rename(tmp, dest)
        except OSError:
            os.rename(retired, dest)
            raise
        shutil.rmtree(retired, ignore_errors=True)
        return dest
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _parse_version(version: Union[str, int], versions: Sequence[int]) -> Optional[int]:
    """The number ``version`` (``"latest"``, ``3``, ``"3"`` or ``"v0003"``) names among ``versions``, or None."""
    if str(version) == "latest":
        return versions[-1]
    m = re.fullmatch(r"v?(\d+)", str(version))
    return int(m.group(1)) if m and int(m.group(1)) in versions else None


def resolve_in(root: Union[str, Path], version: Union[str, int], what: str, how: str) -> Path:
    """Folder of ``version`` under ``root``; ``what`` names the model and ``how`` says how to make one."""
    root = Path(root)
    v = _versions(root)
    if not v:
        raise ExorayError(f"no {what} in {root}; {how}")
    n = _parse_version(version, v)
    if n is None:
        raise ExorayError(f"{what} has no version {version!r} in {root}; versions: "
                          + ", ".join(f"v{i:04d}" for i in v))
    return root / f"v{n:04d}"


def resolve_version(name: str, version: Union[str, int] = "latest", registry=None) -> Path:
    """Folder of torch model ``name``'s ``version`` (``"latest"``, ``3``, ``"3"`` or ``"v0003"``)."""
    _check_name(name)
    reg = _registry(registry)
    root = reg / name
    versions = _versions(root)
    if not versions:
        have = sorted(p.name for p in reg.iterdir() if p.is_dir() and _versions(p)) if reg.is_dir() else []
        raise ExorayError(
            f"no registered {name!r} model in {reg}; registered: {', '.join(have) or 'none'}. "
            f"Train one with `exoray train {name}` (or set --registry / EXORAY_MODEL_REGISTRY)")
    n = _parse_version(version, versions)
    if n is None:
        raise ExorayError(f"{name!r} has no version {version!r} in {root}; "
                          f"versions: {', '.join(f'v{v:04d}' for v in versions)}")
    return root / f"v{n:04d}"


# --------------------------------------------------------------------------- loading
def load_folder(folder: Union[str, Path], kind: Optional[str] = None):
    """Load the model saved in ``folder`` with the adapter of its kind, after checking its files.

    ``kind``, when given, is the kind the caller expects: a folder whose
    manifest names another is refused, and a folder without a manifest is
    read as that kind (as it was before manifests existed).
    """
    folder = Path(folder)
    manifest = verify(folder) if folder.is_dir() else None
    if manifest is not None:
        found = str(manifest["kind"])
        if kind is not None and found != kind:
            raise ExorayError(f"{folder} holds a saved {found!r} model, not a {kind!r} one")
        kind = found
    elif kind is None:
        kind = kind_of(folder)
    return _kind(kind).load(folder)


#: Loaded models by version folder.  A registry version is written once
#: (atomic rename) and never changed, so its contents can be reused for the
#: life of the process ("latest" is resolved by the caller on every call, so
#: a newly registered version is still picked up).  Keeps a sweep from
#: reading and checking the models once per light curve.
_LOADED: Dict[Tuple[str, Optional[str]], Any] = {}


def load_cached(folder: Union[str, Path], kind: Optional[str] = None):
    """:func:`load_folder`, once per folder and process."""
    key = (str(Path(folder).resolve()), kind)
    if key not in _LOADED:
        _LOADED[key] = load_folder(folder, kind)
    return _LOADED[key]


# --------------------------------------------------------------------------- the torch kind
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


def _save_torch(obj, folder: Path) -> None:
    """``obj`` = ``(model, config, metrics)``, as :func:`load_model_dir` returns it; ``config`` names the model."""
    import torch
    from safetensors.torch import save_file

    model, config, metrics = obj
    name = (config or {}).get("name")
    _check_name(name)
    cfg = _arch_config(name, config)
    model = getattr(model, "module", model)  # unwrap DDP
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()
             if isinstance(v, torch.Tensor)}
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    meta = {"name": name, "created": created, "exoray_version": __version__, "torch_version": torch.__version__}
    save_file(state, str(folder / WEIGHTS_FILE), metadata=meta)
    (folder / "config.json").write_text(json.dumps(_jsonable(cfg), indent=2, sort_keys=True) + "\n")
    (folder / "metrics.json").write_text(
        json.dumps(_jsonable(dict(metrics or {})), indent=2, sort_keys=True, allow_nan=False) + "\n")


def _load_torch(folder: Path) -> Tuple[Any, Dict[str, Any], Dict[str, Any]]:
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


def _is_torch(folder: Path) -> bool:
    return (folder / "config.json").is_file() and \
        ((folder / WEIGHTS_FILE).is_file() or (folder / LEGACY_WEIGHTS_FILE).is_file())


register_kind(ModelKind("torch", save=_save_torch, load=_load_torch, detect=_is_torch))


def save_model(model, name: str, config: Mapping, metrics: Optional[Mapping] = None,
               registry: Union[str, Path, None] = None) -> Path:
    """Register ``model`` as the next version of ``name``; returns the version folder.

    Writes ``model.safetensors`` (the ``state_dict``, contiguous CPU tensors),
    ``config.json``, ``metrics.json`` and the manifest into a temporary
    folder beside the versions and renames it to ``v%04d`` (the next free
    number).
    """
    _check_name(name)
    cfg = _arch_config(name, config)
    return publish_version(_registry(registry) / name, "torch", (model, cfg, metrics), metadata={"name": name})


def load_model_dir(folder: Union[str, Path]) -> Tuple[Any, Dict[str, Any], Dict[str, Any]]:
    """Load a registry version folder: ``(model in eval mode, config, metrics)``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ExorayError(f"model folder {folder} does not exist")
    return load_folder(folder, "torch")


def load_model(name: str, version: Union[str, int] = "latest", registry=None):
    """Load a registered model: ``(model in eval mode, config dict, metrics dict)``.

    Raises
    ------
    ExorayError
        The name or version is not registered (the message lists what is),
        the files are incomplete / not plain tensors, or they changed since
        they were saved.
    """
    return load_model_dir(resolve_version(name, version, registry))


def list_models(registry=None) -> List[Dict[str, Any]]:
    """Every registered version of the torch models: dicts with ``name, version, path, created, metrics``."""
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
