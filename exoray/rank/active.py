"""Active learning: which candidates to label next, the labels table, and a
simulation of the labelling loop.

Labels table (``OUT/labels.parquet``, :data:`LABELS_SCHEMA`): one row per
(``tic_id``, ``sector``, ``candidate_index``) with ``label`` (1 planet, 0
not), ``labeller``, ``timestamp`` (UTC) and ``note``.  :func:`append_labels`
keeps the most recent label of a candidate (a relabel replaces the old one).
"""

from __future__ import annotations

import datetime as _dt
import getpass
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ConfigError, InputError
from ..runtime import atomic_open
from .ranker import Ranker

__all__ = [
    "LABELS_SCHEMA",
    "LABEL_KEY",
    "uncertainty",
    "uncertainty_queue",
    "read_labels",
    "append_labels",
    "parse_label",
    "simulate_active_learning",
]

log = logging.getLogger(__name__)

LABEL_KEY = ("tic_id", "sector", "candidate_index")

#: ``OUT/labels.parquet``: human labels of candidates
LABELS_SCHEMA = pa.schema(
    [
        pa.field("tic_id", pa.int64(), nullable=False),
        pa.field("sector", pa.int32(), nullable=False),
        pa.field("candidate_index", pa.int32(), nullable=False),
        pa.field("label", pa.int8(), nullable=False),  # 1 planet, 0 not a planet
        pa.field("labeller", pa.string()),
        pa.field("timestamp", pa.timestamp("ms", tz="UTC")),
        pa.field("note", pa.string()),
    ],
    metadata={"exoray.schema": "labels/1"},
)


# --------------------------------------------------------------------------- queue
def uncertainty(score, score_lo=None, score_hi=None) -> np.ndarray:
    """How much a label would teach the ranker, in [0, 1].

    Mean of the closeness of the score to 0.5 (``1 - |2 s - 1|``) and the
    interval width (``score_hi - score_lo``); without an interval, only the
    closeness.
    """
    s = np.asarray(score, float)
    close = 1.0 - np.abs(2.0 * s - 1.0)
    if score_lo is None or score_hi is None:
        return close
    width = np.asarray(score_hi, float) - np.asarray(score_lo, float)
    return 0.5 * (close + np.nan_to_num(width, nan=1.0))


def uncertainty_queue(candidates, k: int = 10, *, exclude=None) -> pd.DataFrame:
    """The ``k`` candidates whose label is most informative.

    Parameters
    ----------
    candidates : pandas.DataFrame (or rows)
        With ``score`` and, optionally, ``score_lo`` / ``score_hi``.
    k : int
        Queue length.
    exclude : DataFrame, optional
        Already-labelled candidates (``tic_id``, ``sector``,
        ``candidate_index``), left out of the queue.

    Returns
    -------
    pandas.DataFrame
        The rows, most uncertain first, with an ``uncertainty`` column.
    """
    df = candidates if isinstance(candidates, pd.DataFrame) else pd.DataFrame(list(candidates))
    if "score" not in df.columns:
        raise InputError("candidates have no 'score' column; rank them first (exoray train ranker / score)")
    if exclude is not None and len(exclude) and all(c in df.columns for c in LABEL_KEY):
        done = set(map(tuple, pd.DataFrame(exclude)[list(LABEL_KEY)].astype(int).itertuples(index=False)))
        keep = [tuple(int(v) for v in key) not in done for key in df[list(LABEL_KEY)].itertuples(index=False)]
        df = df[np.asarray(keep, bool)]
    df = df[df["score"].notna()].copy()
    lo = df["score_lo"] if "score_lo" in df.columns else None
    hi = df["score_hi"] if "score_hi" in df.columns else None
    df["uncertainty"] = uncertainty(df["score"], lo, hi)
    return df.sort_values("uncertainty", ascending=False, kind="stable").head(int(k))


# --------------------------------------------------------------------------- labels table
def read_labels(path: os.PathLike) -> pd.DataFrame:
    """The labels table at ``path`` (empty with the right columns if absent)."""
    p = Path(path)
    if not p.exists():
        return LABELS_SCHEMA.empty_table().to_pandas()
    return pq.read_table(p).select(LABELS_SCHEMA.names).to_pandas()


def append_labels(path: os.PathLike, records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Add labels to ``path`` and keep the latest per candidate; returns the table.

    Each record needs ``tic_id``, ``sector``, ``candidate_index`` and
    ``label`` (1/0, or ``"planet"``/``"not"``); ``labeller`` defaults to the
    user name, ``timestamp`` to now (UTC), ``note`` to ``""``.  Written
    atomically (temporary file + rename).
    """
    now = pd.Timestamp(_dt.datetime.now(_dt.timezone.utc))
    rows = []
    for r in records:
        lab = r["label"]
        if isinstance(lab, str):
            lab = parse_label(lab)
        if int(lab) not in (0, 1):
            raise InputError(f"label must be 0 or 1, got {lab!r}")
        rows.append({
            "tic_id": int(r["tic_id"]), "sector": int(r["sector"]), "candidate_index": int(r["candidate_index"]),
            "label": int(lab), "labeller": str(r.get("labeller") or _user()),
            "timestamp": pd.Timestamp(r["timestamp"]) if r.get("timestamp") is not None else now,
            "note": str(r.get("note") or ""),
        })
    old = read_labels(path)
    new = pd.DataFrame(rows, columns=LABELS_SCHEMA.names)
    both = pd.concat([old, new], ignore_index=True) if len(old) else new
    both["timestamp"] = pd.to_datetime(both["timestamp"], utc=True).dt.floor("ms")
    # stable sort: among equal timestamps the later-appended row wins
    both = both.sort_values("timestamp", kind="stable").drop_duplicates(list(LABEL_KEY), keep="last")
    both = both.sort_values(list(LABEL_KEY)).reset_index(drop=True)
    table = pa.Table.from_pandas(both, schema=LABELS_SCHEMA, preserve_index=False)
    p = Path(path)
    with atomic_open(p, "wb") as fh:
        pq.write_table(table, fh)
    log.info("labels: %d new, %d in %s", len(rows), len(both), p)
    return both


def parse_label(text: str) -> int:
    """``planet``/``p``/``1``/``pc`` -> 1; ``not``/``n``/``0``/``fp``/``eb`` -> 0."""
    t = str(text).strip().lower()
    if t in ("planet", "p", "1", "pc", "yes", "y"):
        return 1
    if t in ("not", "n", "0", "fp", "eb", "no", "not_planet", "false_positive"):
        return 0
    raise InputError(f"label {text!r}: use planet or not")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "unknown"


# --------------------------------------------------------------------------- simulation
STRATEGIES = ("uncertainty", "random")


def simulate_active_learning(X, y, strategy: str = "uncertainty", *, initial: int = 20, step: int = 10,
                             rounds: int = 10, seed: int = 0, test_fraction: float = 0.3,
                             X_test=None, y_test=None, ranker_kwargs: Optional[Mapping[str, Any]] = None,
                             candidates_per_round: Optional[int] = None) -> pd.DataFrame:
    """Label ``step`` candidates per round with an oracle (the true ``y``) and track test AUC.

    Parameters
    ----------
    X, y : array_like
        Pool (features, true labels).  Unless ``X_test``/``y_test`` are
        given, a stratified ``test_fraction`` is held out for the AUC.
    strategy : {'uncertainty', 'random'}
        ``uncertainty`` asks for the pool rows with the highest
        :func:`uncertainty`; ``random`` draws uniformly.
    initial, step, rounds : int
        Random stratified start (>= 1 of each class), labels per round,
        number of rounds (the curve has ``rounds + 1`` points).
    seed : int
        Seeds the split, the start and the rankers.
    ranker_kwargs : mapping, optional
        Passed to :class:`~exoray.rank.ranker.Ranker` (default: LightGBM,
        5 members, 60 rounds, isotonic).

    Returns
    -------
    pandas.DataFrame
        ``round``, ``n_labels``, ``auc``, ``n_pos`` (planets among labels).
    """
    from sklearn.metrics import roc_auc_score

    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy={strategy!r}; choose one of {STRATEGIES}")
    X = np.asarray(X, np.float32)
    y = np.asarray(y).astype(int)
    rng = np.random.default_rng(seed)
    if X_test is None:
        idx = rng.permutation(len(y))
        test = np.concatenate([c[: int(round(test_fraction * c.size))]
                               for c in (idx[y[idx] == 0], idx[y[idx] == 1])])
        pool_mask = np.ones(len(y), bool)
        pool_mask[test] = False
        X_test, y_test = X[test], y[test]
        X, y = X[pool_mask], y[pool_mask]
    else:
        X_test = np.asarray(X_test, np.float32)
        y_test = np.asarray(y_test).astype(int)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    n_pos0 = max(1, int(round(initial * pos.size / len(y))))
    labelled = list(rng.choice(pos, n_pos0, replace=False)) + list(rng.choice(neg, max(1, initial - n_pos0),
                                                                               replace=False))
    kw = {"model": "lightgbm", "n_bootstrap": 5, "params": {"num_boost_round": 60, "min_data_in_leaf": 3},
          "calibration": "isotonic", "feature_names": tuple(f"f{i}" for i in range(X.shape[1]))}
    kw.update(ranker_kwargs or {})
    curve = []
    for rnd in range(int(rounds) + 1):
        lab = np.asarray(labelled)
        if len(np.unique(y[lab])) < 2:
            auc = float("nan")
            ranker = None
        else:
            ranker = Ranker(seed=seed + rnd, **kw).fit(X[lab], y[lab])
            auc = float(roc_auc_score(y_test, ranker.predict(X_test)[0]))
        curve.append({"round": rnd, "n_labels": int(lab.size), "auc": auc, "n_pos": int(y[lab].sum())})
        if rnd == rounds:
            break
        rest = np.setdiff1d(np.arange(len(y)), lab)
        if rest.size == 0:
            break
        if strategy == "random" or ranker is None:
            pick = rng.choice(rest, min(step, rest.size), replace=False)
        else:
            s, lo, hi = ranker.predict(X[rest])
            u = uncertainty(s, lo, hi) + 1e-9 * rng.uniform(size=rest.size)  # random tie-break
            pick = rest[np.argsort(-u)[:step]]
        labelled.extend(int(i) for i in pick)
    return pd.DataFrame(curve)
