"""One-Class SVM baseline on hand-made window features.

The features describe what a transit, a flare or a systematic does to a
window of normalised flux: robust scatter, extremes and skew, the deepest
and highest box-smoothed excursions at several widths (a matched-filter
bank for dips of 30 min to 8 h in 10-min bins), the longest run below -1 sigma, lag-1
autocorrelation, and the fraction of points beyond 3 sigma.  An RBF
:class:`sklearn.svm.OneClassSVM` on standardised features is fitted on
windows *without* a transit; ``-decision_function`` (higher = more unusual)
is the anomaly score.

Persistence never pickles: :meth:`OCSVMScorer.save` writes the support
vectors, dual coefficients, intercept, kernel width and scaler as a
``.npz`` (read back with ``allow_pickle=False``) plus a JSON description,
and the decision function is evaluated from those arrays with NumPy (equal
to scikit-learn's to rounding; a test checks it).  The files are the
``ocsvm`` kind of the model registry (:mod:`exoray.models.registry`), which
publishes them atomically with a manifest and checks them on loading.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from ..errors import ConfigError, ExorayError, InputError
from ..models.registry import ModelKind, load_folder, publish_folder, register_kind
from ..stats import MAD_TO_SIGMA
from ..stats import mad as median_abs_dev

__all__ = ["FEATURE_NAMES", "window_features", "OCSVMScorer", "BOX_WIDTHS"]

#: box widths (bins) of the smoothed-excursion features: 30 min .. 8 h in the models' 10-min bins
BOX_WIDTHS = (3, 6, 12, 24, 48)

FEATURE_NAMES = tuple(
    ["std", "robust_std", "min", "max", "skew", "kurtosis", "frac_below_3sig", "frac_above_3sig",
     "longest_run_below_1sig", "lag1_autocorr"]
    + [f"box{w}_min" for w in BOX_WIDTHS]
    + [f"box{w}_max" for w in BOX_WIDTHS]
)


def _check(windows) -> np.ndarray:
    x = np.asarray(windows, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 8:
        raise InputError(f"windows must have shape (n_windows, length >= 8), got {np.shape(windows)}")
    if not np.all(np.isfinite(x)):
        raise InputError("windows contain NaN/inf; drop or fill those cadences before scoring")
    return x


def _longest_run(mask: np.ndarray) -> np.ndarray:
    """Longest run of True per row (vectorised over rows)."""
    n, length = mask.shape
    best = np.zeros(n)
    cur = np.zeros(n)
    for j in range(length):
        cur = np.where(mask[:, j], cur + 1, 0)
        best = np.maximum(best, cur)
    return best


def window_features(windows) -> np.ndarray:
    """Feature matrix ``(n, len(FEATURE_NAMES))`` of windows of normalised flux.

    Each window is centred on its median and scaled by its robust standard
    deviation (1.4826 MAD) first, so the features are in units of the
    window's own noise and the same for raw relative flux or already
    normalised windows; ``std`` and ``robust_std`` keep the raw scale
    (log10) so a window much noisier than usual still stands out.
    """
    x = _check(windows)
    n, length = x.shape
    med = np.median(x, axis=1, keepdims=True)
    mad = MAD_TO_SIGMA * median_abs_dev(x, axis=1, keepdims=True)
    mad = np.where(mad > 0, mad, np.maximum(x.std(axis=1, keepdims=True), 1e-12))
    z = (x - med) / mad
    std = z.std(axis=1)
    zc = z - z.mean(axis=1, keepdims=True)
    s = np.maximum(std, 1e-12)
    skew = np.mean(zc**3, axis=1) / s**3
    kurt = np.mean(zc**4, axis=1) / s**4 - 3.0
    lag1 = np.sum(zc[:, 1:] * zc[:, :-1], axis=1) / np.maximum(np.sum(zc**2, axis=1), 1e-12)
    feats = [
        np.log10(np.maximum(x.std(axis=1), 1e-12)),
        np.log10(mad[:, 0]),
        z.min(axis=1),
        z.max(axis=1),
        skew,
        np.sign(kurt) * np.log1p(np.abs(kurt)),
        np.mean(z < -3.0, axis=1),
        np.mean(z > 3.0, axis=1),
        _longest_run(z < -1.0) / length,
        lag1,
    ]
    cs = np.concatenate([np.zeros((n, 1)), np.cumsum(z, axis=1)], axis=1)
    mins, maxs = [], []
    for w in BOX_WIDTHS:
        w = min(w, length)
        box = (cs[:, w:] - cs[:, :-w]) / np.sqrt(w)  # box sum / sqrt(w): S/N of a box dip in sigma
        mins.append(box.min(axis=1))
        maxs.append(box.max(axis=1))
    out = np.column_stack(feats + mins + maxs)
    return out


class OCSVMScorer:
    """Standardised features -> RBF One-Class SVM; ``score`` = ``-decision_function``.

    Parameters
    ----------
    nu : float
        Upper bound on the fraction of training windows treated as outliers.
    gamma : float or "scale"
        RBF kernel width (``"scale"``: ``1 / (n_features * var(X))`` of the
        standardised training features).
    max_train : int
        Fit on at most this many windows (random subset; the SVM is O(n^2)).
    seed : int
    """

    def __init__(self, nu: float = 0.05, gamma: Union[float, str] = "scale", max_train: int = 4000,
                 seed: int = 0):
        if not 0.0 < nu <= 1.0:
            raise ConfigError(f"ocsvm nu must be in (0, 1], got {nu}")
        if max_train < 10:
            raise ConfigError(f"ocsvm max_train must be >= 10, got {max_train}")
        self.nu = float(nu)
        self.gamma = gamma
        self.max_train = int(max_train)
        self.seed = int(seed)
        self.params: Optional[Dict[str, np.ndarray]] = None
        self.meta: Dict[str, Any] = {}

    # ------------------------------------------------------------------ fit / score
    def fit(self, windows) -> "OCSVMScorer":
        """Fit on windows that hold no transit (ordinary noise + variability)."""
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import OneClassSVM

        x = _check(windows)
        if x.shape[0] < 10:
            raise InputError(f"need >= 10 training windows for the OCSVM, got {x.shape[0]}")
        if x.shape[0] > self.max_train:
            x = x[np.random.default_rng(self.seed).choice(x.shape[0], self.max_train, replace=False)]
        f = window_features(x)
        scaler = StandardScaler().fit(f)
        fs = scaler.transform(f)
        svm = OneClassSVM(kernel="rbf", nu=self.nu, gamma=self.gamma).fit(fs)
        self._svm = svm  # kept for the equivalence check; not persisted
        self.params = {
            "support_vectors": np.asarray(svm.support_vectors_, np.float64),
            "dual_coef": np.asarray(svm.dual_coef_, np.float64).ravel(),
            "intercept": np.asarray(svm.intercept_, np.float64).ravel(),
            "gamma": np.array([float(svm._gamma)]),  # noqa: SLF001 - resolved "scale"
            "mean": np.asarray(scaler.mean_, np.float64),
            "scale": np.asarray(scaler.scale_, np.float64),
        }
        self.meta = {"nu": self.nu, "gamma": self.gamma, "n_train": int(x.shape[0]),
                     "window_length": int(x.shape[1]), "features": list(FEATURE_NAMES),
                     "n_support": int(svm.support_vectors_.shape[0])}
        return self

    def _require(self) -> Dict[str, np.ndarray]:
        if self.params is None:
            raise ExorayError("OCSVM is not fitted; call fit(windows) or OCSVMScorer.load(path)")
        return self.params

    def decision_function(self, windows, batch: int = 2048) -> np.ndarray:
        """``sum_i a_i exp(-gamma |f - sv_i|^2) + b`` (positive = inlier), from the stored arrays."""
        p = self._require()
        x = _check(windows)
        if x.shape[1] != self.meta.get("window_length", x.shape[1]):
            raise InputError(f"windows have length {x.shape[1]}, the OCSVM was fitted on "
                             f"{self.meta['window_length']}")
        fs = (window_features(x) - p["mean"]) / p["scale"]
        sv = p["support_vectors"]
        sv2 = np.sum(sv**2, axis=1)
        out = np.empty(fs.shape[0])
        for i in range(0, fs.shape[0], batch):
            f = fs[i:i + batch]
            d2 = np.maximum(np.sum(f**2, axis=1)[:, None] + sv2[None, :] - 2.0 * f @ sv.T, 0.0)
            out[i:i + batch] = np.exp(-p["gamma"][0] * d2) @ p["dual_coef"] + p["intercept"][0]
        return out

    def score(self, windows) -> np.ndarray:
        """Anomaly score ``-decision_function`` (higher = more unusual)."""
        return -self.decision_function(windows)

    # ------------------------------------------------------------------ persistence (no pickle)
    def save(self, folder: Union[str, Path]) -> Path:
        """Write ``ocsvm.npz`` + ``ocsvm.json`` (and the registry manifest) into ``folder`` (created)."""
        self._require()
        return publish_folder(folder, "ocsvm", self)

    def _write(self, folder: Path) -> None:
        p = self._require()
        np.savez(folder / "ocsvm.npz", **p)
        (folder / "ocsvm.json").write_text(json.dumps(self.meta, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, folder: Union[str, Path]) -> "OCSVMScorer":
        """Read a fitted scorer back (its files checked against their manifest first)."""
        return load_folder(folder, "ocsvm")

    @classmethod
    def _read(cls, folder: Union[str, Path]) -> "OCSVMScorer":
        folder = Path(folder)
        npz, js = folder / "ocsvm.npz", folder / "ocsvm.json"
        if not npz.exists() or not js.exists():
            raise ExorayError(f"{folder} has no ocsvm.npz/ocsvm.json; fit one with "
                              "`exoray evaluate anomaly` or exoray.anomaly.scoring.fit_ocsvm")
        try:
            meta = json.loads(js.read_text())
            with np.load(npz, allow_pickle=False) as z:
                params = {k: np.asarray(z[k]) for k in z.files}
        except (ValueError, OSError, json.JSONDecodeError) as exc:
            raise ExorayError(f"{folder}: unreadable OCSVM files ({exc}); refit it") from None
        need = {"support_vectors", "dual_coef", "intercept", "gamma", "mean", "scale"}
        if need - set(params):
            raise ExorayError(f"{npz} lacks {sorted(need - set(params))}; refit it")
        if params["mean"].size != len(FEATURE_NAMES):
            raise ExorayError(f"{npz} was fitted on {params['mean'].size} features, this exoray computes "
                              f"{len(FEATURE_NAMES)}; refit it")
        obj = cls(nu=float(meta.get("nu", 0.05)))
        obj.params = params
        obj.meta = meta
        return obj


register_kind(ModelKind("ocsvm", save=lambda scorer, folder: scorer._write(folder),
                        load=lambda folder: OCSVMScorer._read(folder),
                        detect=lambda folder: (folder / "ocsvm.npz").is_file()))


def feature_table(windows, names: Sequence[str] = FEATURE_NAMES) -> Dict[str, np.ndarray]:
    """Features as a dict of columns (for inspection / notebooks)."""
    f = window_features(windows)
    return {n: f[:, i] for i, n in enumerate(names)}
