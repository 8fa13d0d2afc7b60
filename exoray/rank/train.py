"""Train and evaluate a ranker on labelled candidate tables.

:func:`train_ranker` splits the candidates *by star* (all candidates of a
star on the same side, so a star's other signals cannot leak its label), fits a
:class:`~exoray.rank.ranker.Ranker` on the training stars and evaluates it on
the held-out stars (:func:`heldout_metrics`).  The returned ranker is the one
trained without the held-out stars, so its ``metrics`` are honest.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np
import pandas as pd

from ..errors import InputError
from .features import candidate_features
from .ranker import Ranker, evaluate

__all__ = ["split_by_star", "train_ranker", "heldout_metrics", "labelled_from_human"]

log = logging.getLogger(__name__)


def split_by_star(tic_ids, test_fraction: float = 0.25, seed: int = 0) -> set:
    """The held-out stars: a ``test_fraction`` share of the unique ``tic_ids``."""
    if not 0 < test_fraction < 1:
        raise InputError(f"test_fraction must be in (0, 1), got {test_fraction}")
    tics = np.unique(np.asarray(tic_ids, dtype=np.int64))
    rng = np.random.default_rng(seed)
    return set(int(t) for t in rng.choice(tics, int(round(test_fraction * tics.size)), replace=False))


def heldout_metrics(df: pd.DataFrame, score, score_lo=None, score_hi=None, stars: Optional[pd.DataFrame] = None,
                    threshold: float = 0.5) -> Dict[str, Any]:
    """:func:`~exoray.rank.ranker.evaluate` plus per-class numbers on simulated candidates.

    Parameters
    ----------
    df : DataFrame
        Held-out candidate rows (``label``; ``match_class``, ``star_class``
        and ``tic_id`` when simulated).
    score, score_lo, score_hi : array_like
        Ranker output for ``df``.
    stars : DataFrame, optional
        The held-out stars (``tic_id``, ``star_class``), including those
        without any candidate.

    Returns
    -------
    dict
        ``evaluate`` output plus ``per_class`` (count and share scoring >=
        ``threshold`` per ``match_class``), ``eb_false_pass_rate`` (share of
        EB / blended-EB candidates scoring >= threshold) and, with
        ``stars``, ``none_star_false_positive_rate`` (share of no-signal
        stars with any candidate scoring >= threshold).
    """
    y = df["label"].to_numpy().astype(int)
    s = np.asarray(score, float)
    m = evaluate(y, s, score_lo, score_hi, threshold=threshold)
    if "match_class" in df.columns:
        cls = df["match_class"].astype(str).to_numpy()
        m["per_class"] = {c: {"n": int((cls == c).sum()), "pass_rate": float(np.mean(s[cls == c] >= threshold))}
                          for c in sorted(set(cls))}
        eb = np.isin(cls, ["eb", "blended_eb"])
        m["n_eb"] = int(eb.sum())
        m["eb_false_pass_rate"] = float(np.mean(s[eb] >= threshold)) if eb.any() else float("nan")
    if stars is not None and len(stars) and "star_class" in stars.columns:
        none = set(stars.loc[stars["star_class"] == "none", "tic_id"].astype(int))
        hits = set(df.loc[df["tic_id"].isin(none).to_numpy() & (s >= threshold), "tic_id"].astype(int))
        with_cand = set(df.loc[df["tic_id"].isin(none), "tic_id"].astype(int))
        m["n_none_stars"] = len(none)
        m["none_stars_with_candidate"] = len(with_cand)
        m["none_star_false_positive_rate"] = len(hits) / len(none) if none else float("nan")
    return m


def labelled_from_human(labels: pd.DataFrame, candidates: pd.DataFrame) -> pd.DataFrame:
    """Join human labels (``labels.parquet``) onto candidate rows (``candidates.parquet``)."""
    key = ["tic_id", "sector", "candidate_index"]
    lab = labels[key + ["label"]].copy()
    cand = candidates.drop(columns=[c for c in ("label",) if c in candidates.columns])
    out = cand.merge(lab, on=key, how="inner")
    out["match_class"] = np.where(out["label"] == 1, "human_planet", "human_not")
    out["source"] = "human"
    missing = len(lab) - len(out)
    if missing:
        log.warning("%d labelled candidates are not in the candidates table; ignored", missing)
    return out


def train_ranker(df: pd.DataFrame, *, model: str = "lightgbm", test_fraction: float = 0.25, seed: int = 0,
                 stars: Optional[pd.DataFrame] = None, extra_train: Optional[pd.DataFrame] = None,
                 ranker_kwargs: Optional[Mapping[str, Any]] = None) -> Tuple[Ranker, Dict[str, Any]]:
    """Fit on the training stars of ``df`` (+ ``extra_train`` rows), evaluate on its held-out stars.

    Parameters
    ----------
    df : DataFrame
        Labelled candidate rows (``label`` 0/1, ``tic_id``, candidate columns).
    model : str
        :data:`~exoray.rank.ranker.MODEL_REGISTRY` name.
    stars : DataFrame, optional
        Per-star table of a simulated set (``star_class``) for the
        no-signal false-positive rate.
    extra_train : DataFrame, optional
        Rows only ever used for training (human labels, real catalogues).
    test_fraction : float
        Share of stars held out for the returned metrics; 0 trains on every
        star (when the held-out evaluation is done elsewhere).

    Returns
    -------
    (Ranker, metrics)
        ``metrics`` are on the held-out stars; also stored in ``ranker.metrics``.
    """
    if "label" not in df.columns or df["label"].nunique() < 2:
        raise InputError("training data need a 'label' column with both planets (1) and non-planets (0)")
    if test_fraction == 0:
        # every star trains; the held-out figures come from elsewhere (the benchmarks' other half)
        tr = df if extra_train is None or not len(extra_train) else pd.concat([df, extra_train], ignore_index=True)
        Xtr, names = candidate_features(tr)
        kw = dict(ranker_kwargs or {})
        kw.setdefault("seed", seed)
        ranker = Ranker(model, feature_names=tuple(names), **kw).fit(Xtr, tr["label"].to_numpy().astype(int))
        metrics = {"n_train": int(len(tr)), "n_train_pos": int(tr["label"].sum()), "n_test_stars": 0, "model": model,
                   "test_fraction": 0.0, "seed": seed, "held_out": "none (test_fraction 0)"}
        ranker.metrics = metrics
        return ranker, metrics
    all_tics = stars["tic_id"] if stars is not None and len(stars) else df["tic_id"]
    test_tics = split_by_star(all_tics, test_fraction, seed)
    test = df["tic_id"].isin(test_tics).to_numpy()
    tr = df[~test]
    if extra_train is not None and len(extra_train):
        tr = pd.concat([tr, extra_train], ignore_index=True)
    Xtr, names = candidate_features(tr)
    ytr = tr["label"].to_numpy().astype(int)
    kw = dict(ranker_kwargs or {})
    kw.setdefault("seed", seed)
    ranker = Ranker(model, feature_names=tuple(names), **kw).fit(Xtr, ytr)
    te = df[test].reset_index(drop=True)
    Xte, _ = candidate_features(te)
    s, lo, hi = ranker.predict(Xte)
    held_stars = stars[stars["tic_id"].isin(test_tics)] if stars is not None and len(stars) else None
    metrics = heldout_metrics(te, s, lo, hi, held_stars)
    raw = ranker.predict(Xte, calibrated=False)[0]
    metrics["brier_uncalibrated"] = evaluate(te["label"].to_numpy(), raw)["brier"]
    metrics.update(n_train=int(len(tr)), n_train_pos=int(ytr.sum()), n_test_stars=int(te["tic_id"].nunique()),
                   model=model, test_fraction=test_fraction, seed=seed)
    ranker.metrics = metrics
    log.info("held-out: AUC %.3f PR-AUC %.3f P %.3f R %.3f F1 %.3f Brier %.4f", metrics["auc"],
             metrics["pr_auc"], metrics["precision"], metrics["recall"], metrics["f1"], metrics["brier"])
    return ranker, metrics
