"""Calibrated candidate ranker with bootstrap uncertainty.

:class:`Ranker` trains ``n_bootstrap`` models of one kind (chosen by name from
:data:`MODEL_REGISTRY`: ``"lightgbm"`` default, ``"random_forest"`` baseline),
each on a bootstrap resample of the training set.  Each member is calibrated
on its own *out-of-bag* rows (never seen by that member) with isotonic
regression or a Platt sigmoid.  For a candidate,

* ``score`` = mean of the members' calibrated planet probabilities,
* ``score_lo``, ``score_hi`` = the 5 % and 95 % quantiles over the members.

The interval is the spread of the estimate under resampling of the training
set (epistemic uncertainty): it widens where training data are sparse or
conflicting, and is what :func:`exoray.rank.active.uncertainty_queue` uses to
ask for labels.

Persistence (:meth:`Ranker.save` / :meth:`Ranker.load`) writes a directory::

    config.json        model name, parameters, feature names, quantiles
    calibrators.json   per member: isotonic thresholds or sigmoid (a, b)
    member_00.txt ...  LightGBM boosters as text (Booster.save_model)
    member_00.joblib   random forest only: joblib (pickle) - load only models
                       you trained yourself
    metrics.json       held-out metrics, when the trainer set them
    manifest.json      the model registry's manifest (kind ``ranker``)

These files are the ``ranker`` kind of the model registry
(:mod:`exoray.models.registry`): a save replaces the directory in one step,
and a load checks the files against the manifest first.  Directories saved
before manifests existed (the shipped ``exoray/data/ranker``) load as they
are.  LightGBM models never go through pickle.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import ConfigError, InputError
from ..models.registry import MANIFEST_FILE, ModelKind, load_cached, load_folder, publish_folder, register_kind
from ..runtime.files import hash_file
from .features import FEATURE_COLUMNS, _iter_rows, candidate_features

__all__ = [
    "MODEL_REGISTRY",
    "CALIBRATIONS",
    "Ranker",
    "RankerConfig",
    "evaluate",
    "load_default_ranker",
    "DEFAULT_MODEL_DIR",
    "score_candidates",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "data" / "ranker"
CALIBRATIONS = ("isotonic", "sigmoid", "none")


# --------------------------------------------------------------------------- model backends
class _LightGBM:
    """Gradient-boosted trees (LightGBM); missing values handled natively."""

    defaults: Dict[str, Any] = {
        "num_boost_round": 120,
        "learning_rate": 0.08,
        "num_leaves": 12,
        "min_data_in_leaf": 20,
        "feature_fraction": 0.8,
        "lambda_l2": 1.0,
    }
    ext = ".txt"

    @staticmethod
    def fit(X, y, params: Mapping[str, Any], seed: int, feature_names: Optional[Sequence[str]] = None):
        import lightgbm as lgb

        p = dict(params)
        rounds = int(p.pop("num_boost_round"))
        p.update(objective="binary", verbosity=-1, seed=int(seed), deterministic=True,
                 num_threads=int(p.pop("num_threads", 1)), force_row_wise=True)
        names = [str(n) for n in feature_names] if feature_names is not None else "auto"
        return lgb.train(p, lgb.Dataset(X, label=y, feature_name=names, free_raw_data=True), num_boost_round=rounds)

    @staticmethod
    def predict(model, X) -> np.ndarray:
        return np.asarray(model.predict(X), float)

    @staticmethod
    def save(model, path: Path) -> None:
        model.save_model(str(path))

    @staticmethod
    def load(path: Path):
        import lightgbm as lgb

        return lgb.Booster(model_file=str(path))


class _RandomForest:
    """scikit-learn random forest (baseline); NaNs supported natively (sklearn >= 1.4)."""

    defaults: Dict[str, Any] = {"n_estimators": 100, "min_samples_leaf": 2, "max_features": "sqrt"}
    ext = ".joblib"

    @staticmethod
    def fit(X, y, params: Mapping[str, Any], seed: int, feature_names: Optional[Sequence[str]] = None):
        from sklearn.ensemble import RandomForestClassifier

        p = dict(params)
        p.setdefault("n_jobs", 1)
        return RandomForestClassifier(random_state=int(seed), **p).fit(X, y)

    @staticmethod
    def predict(model, X) -> np.ndarray:
        proba = model.predict_proba(X)
        if proba.shape[1] == 1:  # one class only in the resample
            return np.full(len(X), float(model.classes_[0]))
        return proba[:, list(model.classes_).index(1)]

    @staticmethod
    def save(model, path: Path) -> None:
        import joblib

        joblib.dump(model, path)

    @staticmethod
    def load(path: Path):
        import joblib  # pickle: only for random forests trained locally

        return joblib.load(path)


#: model name -> backend (``fit``/``predict``/``save``/``load`` and ``defaults``)
MODEL_REGISTRY: Dict[str, Any] = {"lightgbm": _LightGBM, "random_forest": _RandomForest}


# --------------------------------------------------------------------------- calibrators
def _fit_calibrator(raw: np.ndarray, y: np.ndarray, method: str) -> Dict[str, Any]:
    if method == "none" or len(np.unique(y)) < 2:
        return {"method": "none"}
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
        # Each isotonic block is an empirical rate k/n from a finite sample;
        # report (k + 1/2) / (n + 1) (Jeffreys) so a block of 40 planets out of
        # 40 gives 0.99, not a certainty the calibration set cannot support.
        fitted = iso.predict(raw)
        shrunk = {}
        for level in np.unique(fitted):
            inb = fitted == level
            shrunk[float(level)] = (float(np.sum(y[inb])) + 0.5) / (float(np.sum(inb)) + 1.0)
        ys = [shrunk.get(float(v), float(v)) for v in iso.y_thresholds_]
        return {"method": "isotonic", "x": iso.X_thresholds_.tolist(), "y": ys}
    if method == "sigmoid":  # Platt (1999) on the log-odds of the raw probability
        from sklearn.linear_model import LogisticRegression

        z = _logit(raw).reshape(-1, 1)
        lr = LogisticRegression(C=1e4).fit(z, y)
        return {"method": "sigmoid", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}
    raise ConfigError(f"calibration={method!r}; choose one of {CALIBRATIONS}")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _apply_calibrator(cal: Mapping[str, Any], raw: np.ndarray) -> np.ndarray:
    m = cal["method"]
    if m == "none":
        return raw
    if m == "isotonic":
        return np.interp(raw, np.asarray(cal["x"], float), np.asarray(cal["y"], float))
    if m == "sigmoid":
        return 1.0 / (1.0 + np.exp(-(cal["a"] * _logit(raw) + cal["b"])))
    raise ConfigError(f"unknown calibrator {m!r}")


def ranker_identity(ranker_dir) -> str:
    """A short hash of the files that make a ranker's scores: the same ranker, the same identity.

    Its metrics and the registry manifest are left out: the manifest records
    when the ranker was saved, so the same model saved twice would otherwise
    look like a different ranker (to a sweep deciding whether to re-rank, or
    to a client reading the service's model version).
    """
    names = sorted(f for f in os.listdir(ranker_dir)
                   if f.endswith((".json", ".txt")) and f not in ("metrics.json", MANIFEST_FILE))
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode("utf-8") + b"\0")
        hash_file(os.path.join(ranker_dir, name), h)
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- the ranker
@dataclass(frozen=True)
class RankerConfig:
    """How a :class:`Ranker` is trained.

    Parameters
    ----------
    model : {'lightgbm', 'random_forest'}
        Backend from :data:`MODEL_REGISTRY`.
    params : dict
        Backend parameters (override the backend's ``defaults``).
    n_bootstrap : int
        Ensemble members, each on a bootstrap resample (>= 2).
    calibration : {'isotonic', 'sigmoid', 'none'}
        Per-member calibration on the member's out-of-bag rows.
    quantiles : (float, float)
        Interval quantiles over the members.
    seed : int
        Seeds the resamples and the models.
    feature_names : tuple of str
        Columns of ``X`` (default :data:`~exoray.rank.features.FEATURE_COLUMNS`).
    prior : float or None
        Share of planets among the candidates the scores are meant for.  The
        calibrated probabilities, which follow the training set's share
        (``train_prevalence``), are moved to this prior by Bayes' rule
        (odds scaled by the ratio of prior odds), so that ``score`` is the
        probability that a candidate is a planet in a population where a
        ``prior`` share are.  ``None``: the training share.
    train_prevalence : float or None
        Share of planets in the training set (set by :meth:`Ranker.fit`).
    """

    model: str = "lightgbm"
    params: Dict[str, Any] = field(default_factory=dict)
    n_bootstrap: int = 20
    calibration: str = "isotonic"
    quantiles: Tuple[float, float] = (0.05, 0.95)
    seed: int = 0
    feature_names: Tuple[str, ...] = tuple(FEATURE_COLUMNS)
    prior: Optional[float] = None
    train_prevalence: Optional[float] = None

    def __post_init__(self):
        if self.prior is not None and not 0.0 < float(self.prior) < 1.0:
            raise ConfigError(f"prior must be in (0, 1), got {self.prior!r}")
        if self.model not in MODEL_REGISTRY:
            raise ConfigError(f"model={self.model!r}; choose one of {', '.join(MODEL_REGISTRY)}")
        if self.calibration not in CALIBRATIONS:
            raise ConfigError(f"calibration={self.calibration!r}; choose one of {CALIBRATIONS}")
        if int(self.n_bootstrap) < 2:
            raise ConfigError("n_bootstrap must be >= 2")
        lo, hi = self.quantiles
        if not 0 <= lo < hi <= 1:
            raise ConfigError(f"quantiles must satisfy 0 <= lo < hi <= 1, got {self.quantiles}")

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["quantiles"] = list(self.quantiles)
        d["feature_names"] = list(self.feature_names)
        return d


class Ranker:
    """Bootstrap ensemble of calibrated classifiers scoring planet probability.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 3)); y = (X[:, 0] + 0.3 * rng.normal(size=400) > 0).astype(int)
    >>> r = Ranker(n_bootstrap=4, params={"num_boost_round": 30}, feature_names=("a", "b", "c")).fit(X, y)
    >>> s, lo, hi = r.predict(X[:5])
    >>> bool(np.all((lo <= s) & (s <= hi)))
    True
    """

    def __init__(self, model: str = "lightgbm", *, config: Optional[RankerConfig] = None, **kwargs):
        if config is None:
            kwargs.setdefault("model", model)
            if "feature_names" in kwargs:
                kwargs["feature_names"] = tuple(kwargs["feature_names"])
            config = RankerConfig(**kwargs)
        self.config = config
        self.backend = MODEL_REGISTRY[config.model]
        self.params = {**self.backend.defaults, **dict(config.params)}
        self.members: List[Any] = []
        self.calibrators: List[Dict[str, Any]] = []
        self.metrics: Dict[str, Any] = {}

    # ------------------------------------------------------------------ training
    def _check_X(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(self.config.feature_names):
            raise InputError(f"X must have shape (n, {len(self.config.feature_names)}), got {X.shape}")
        return X

    def fit(self, X, y, sample_weight=None) -> "Ranker":
        """Train the ensemble on ``X`` (n, n_features) and labels ``y`` in {0, 1}."""
        X = self._check_X(X)
        y = np.asarray(y).astype(int).ravel()
        if y.shape[0] != X.shape[0]:
            raise InputError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
        if set(np.unique(y)) - {0, 1} or len(np.unique(y)) < 2:
            raise InputError("y must contain both labels 0 and 1 (and nothing else)")
        rng = np.random.default_rng(self.config.seed)
        n = len(y)
        pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        self.members, self.calibrators = [], []
        for b in range(int(self.config.n_bootstrap)):
            # stratified bootstrap: every resample holds both classes
            idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
            oob = np.setdiff1d(np.arange(n), idx, assume_unique=False)
            model = self.backend.fit(X[idx], y[idx], self.params, self.config.seed * 1000 + b,
                                     self.config.feature_names)
            cal = {"method": "none"}
            if self.config.calibration != "none" and oob.size and len(np.unique(y[oob])) == 2:
                cal = _fit_calibrator(self.backend.predict(model, X[oob]), y[oob], self.config.calibration)
            self.members.append(model)
            self.calibrators.append(cal)
        self.config = replace(self.config, train_prevalence=float(pos.size / n))
        log.info("trained %d %s members on %d rows (%d planets)", len(self.members), self.config.model, n, pos.size)
        return self

    def _to_prior(self, p: np.ndarray) -> np.ndarray:
        """Probabilities calibrated at the training prevalence, moved to ``config.prior``."""
        prior, prev = self.config.prior, self.config.train_prevalence
        if prior is None or prev is None or not 0.0 < prev < 1.0:
            return p
        ratio = (prior / (1.0 - prior)) / (prev / (1.0 - prev))
        odds = p / np.clip(1.0 - p, 1e-12, None) * ratio
        return odds / (1.0 + odds)

    # ------------------------------------------------------------------ scoring
    def member_scores(self, X, calibrated: bool = True) -> np.ndarray:
        """(n_members, n_rows) planet probabilities of every member."""
        if not self.members:
            raise InputError("the ranker is not trained; call fit() or Ranker.load()")
        X = self._check_X(X)
        out = np.empty((len(self.members), X.shape[0]))
        if X.shape[0] == 0:
            return out
        for i, (m, c) in enumerate(zip(self.members, self.calibrators)):
            raw = self.backend.predict(m, X)
            out[i] = self._to_prior(_apply_calibrator(c, raw)) if calibrated else raw
        return out

    def predict(self, X, calibrated: bool = True) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Planet probability and its interval.

        Returns
        -------
        (score, score_lo, score_hi) : ndarray
            Mean of the members and the :attr:`RankerConfig.quantiles` over
            them; ``score_lo <= score <= score_hi``.
        """
        s = self.member_scores(X, calibrated)
        if s.shape[1] == 0:
            return np.empty(0), np.empty(0), np.empty(0)
        mean = s.mean(axis=0)
        lo, hi = np.quantile(s, self.config.quantiles, axis=0)
        return mean, np.minimum(lo, mean), np.maximum(hi, mean)

    def predict_proba(self, X) -> np.ndarray:
        """scikit-learn style (n, 2) probabilities (calibrated mean)."""
        s = self.predict(X)[0]
        return np.column_stack([1 - s, s])

    def score_rows(self, rows) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`predict` on candidate rows (dicts / DataFrame) via :func:`candidate_features`."""
        X, names = candidate_features(rows)
        if tuple(names) != tuple(self.config.feature_names):
            raise InputError("this model was trained on different features; retrain it")
        return self.predict(X)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: os.PathLike, metrics: Optional[Mapping[str, Any]] = None) -> Path:
        """Write the model directory (see module docstring); returns it."""
        if metrics is not None:
            self.metrics = dict(metrics)
        d = publish_folder(directory, "ranker", self)
        log.info("saved %s ranker (%d members) to %s", self.config.model, len(self.members), d)
        return d

    def _write(self, d: Path) -> None:
        files = []
        for i, m in enumerate(self.members):
            p = d / f"member_{i:02d}{self.backend.ext}"
            self.backend.save(m, p)
            files.append(p.name)
        (d / "calibrators.json").write_text(json.dumps(self.calibrators))
        cfg = {"format": "exoray-ranker/1", **self.config.to_dict(), "resolved_params": self.params,
               "members": files}
        (d / "config.json").write_text(json.dumps(cfg, indent=2, default=str))
        if self.metrics:
            (d / "metrics.json").write_text(json.dumps(self.metrics, indent=2, default=_json_default))

    @classmethod
    def load(cls, directory: os.PathLike) -> "Ranker":
        """Read a directory written by :meth:`save`."""
        return load_folder(directory, "ranker")

    @classmethod
    def _read(cls, directory: os.PathLike) -> "Ranker":
        d = Path(directory)
        cfg_path = d / "config.json"
        if not cfg_path.exists():
            raise FileNotFoundError(f"{cfg_path}: not a ranker directory (config.json missing)")
        cfg = json.loads(cfg_path.read_text())
        known = {k: cfg[k] for k in ("model", "params", "n_bootstrap", "calibration", "seed", "prior",
                                     "train_prevalence") if k in cfg}
        config = RankerConfig(quantiles=tuple(cfg.get("quantiles", (0.05, 0.95))),
                              feature_names=tuple(cfg.get("feature_names", FEATURE_COLUMNS)), **known)
        r = cls(config=config)
        r.members = [r.backend.load(d / f) for f in cfg["members"]]
        r.calibrators = json.loads((d / "calibrators.json").read_text())
        if len(r.calibrators) != len(r.members):
            raise InputError(f"{d}: {len(r.members)} members but {len(r.calibrators)} calibrators")
        mp = d / "metrics.json"
        r.metrics = json.loads(mp.read_text()) if mp.exists() else {}
        return r


#: The ranker kind of the model registry.  A save into an existing directory
#: drops the members of the model it replaces (their number may differ).
register_kind(ModelKind("ranker", save=lambda ranker, d: ranker._write(d), load=lambda d: Ranker._read(d),
                        detect=lambda d: (d / "calibrators.json").is_file() and (d / "config.json").is_file(),
                        replaces=("member_*",)))


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# --------------------------------------------------------------------------- evaluation
def evaluate(y, score, score_lo=None, score_hi=None, *, threshold: float = 0.5, n_bins: int = 10) -> Dict[str, Any]:
    """Held-out metrics of planet probabilities.

    Parameters
    ----------
    y : array_like of {0, 1}
    score : array_like
        Calibrated planet probabilities.
    score_lo, score_hi : array_like, optional
        Intervals; adds the interval calibration check.
    threshold : float
        Decision threshold for precision / recall / F1.
    n_bins : int
        Bins for the expected calibration error (equal width) and the
        interval check (equal count).

    Returns
    -------
    dict
        ``n``, ``n_pos``, ``auc``, ``pr_auc`` (average precision),
        ``precision``, ``recall``, ``f1``, ``brier``, ``ece`` (expected
        calibration error, equal-width bins), ``reliability`` (per bin: mean
        score, observed frequency, n) and, with intervals,
        ``interval_bins`` (per equal-count score bin: observed planet
        frequency, its binomial standard error, the mean ``score_lo`` and
        ``score_hi``, and whether the frequency lies inside),
        ``interval_bin_coverage`` (share of bins inside, allowing one
        binomial standard error) and ``mean_interval_width``.
    """
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y).astype(int).ravel()
    s = np.asarray(score, float).ravel()
    pred = s >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    prec = tp / (tp + fp) if tp + fp else float("nan")
    rec = tp / (tp + fn) if tp + fn else float("nan")
    both = len(np.unique(y)) == 2
    out: Dict[str, Any] = {
        "n": int(y.size),
        "n_pos": int(y.sum()),
        "auc": float(roc_auc_score(y, s)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, s)) if both else float("nan"),
        "precision": prec,
        "recall": rec,
        "f1": 2 * prec * rec / (prec + rec) if tp else 0.0,
        "brier": float(brier_score_loss(y, s)) if y.size else float("nan"),
        "threshold": threshold,
    }
    edges = np.linspace(0, 1, n_bins + 1)
    b = np.clip(np.digitize(s, edges[1:-1]), 0, n_bins - 1)
    ece, rel = 0.0, []
    for k in range(n_bins):
        m = b == k
        if m.any():
            ece += m.mean() * abs(s[m].mean() - y[m].mean())
            rel.append({"lo": float(edges[k]), "hi": float(edges[k + 1]), "n": int(m.sum()),
                        "mean_score": float(s[m].mean()), "observed": float(y[m].mean())})
    out["ece"] = float(ece)
    out["reliability"] = rel
    if score_lo is not None and score_hi is not None:
        lo = np.asarray(score_lo, float).ravel()
        hi = np.asarray(score_hi, float).ravel()
        order = np.argsort(s, kind="stable")
        bins = []
        for part in np.array_split(order, min(n_bins, max(1, y.size))):
            if part.size == 0:
                continue
            f = float(y[part].mean())
            se = float(np.sqrt(max(f * (1 - f), 1.0 / part.size) / part.size))
            blo, bhi = float(lo[part].mean()), float(hi[part].mean())
            bins.append({"n": int(part.size), "mean_score": float(s[part].mean()), "observed": f,
                         "observed_se": se, "mean_lo": blo, "mean_hi": bhi,
                         "inside": bool(blo - se <= f <= bhi + se)})
        out["interval_bins"] = bins
        out["interval_bin_coverage"] = float(np.mean([x["inside"] for x in bins])) if bins else float("nan")
        out["mean_interval_width"] = float(np.mean(hi - lo)) if y.size else float("nan")
    return out


# --------------------------------------------------------------------------- default model
def load_default_ranker(directory: Optional[os.PathLike] = None) -> Ranker:
    """The shipped ranker (``exoray/data/ranker``, or ``EXORAY_RANKER_DIR``); cached per process."""
    d = Path(directory or os.environ.get("EXORAY_RANKER_DIR") or DEFAULT_MODEL_DIR)
    return load_cached(d, "ranker")


def score_candidates(rows, ranker: Optional[Ranker] = None) -> List[Dict[str, Any]]:
    """Copy candidate rows with ``score``, ``score_lo``, ``score_hi`` filled in."""
    rows = [dict(r) for r in _iter_rows(rows)]
    if not rows:
        return rows
    r = ranker or load_default_ranker()
    s, lo, hi = r.score_rows(rows)
    for row, a, b, c in zip(rows, s, lo, hi):
        row.update(score=float(a), score_lo=float(b), score_hi=float(c))
    return rows
