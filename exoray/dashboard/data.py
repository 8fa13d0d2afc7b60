"""What the dashboard shows, as pure functions over a sweep's output folder.

Kept apart from the Streamlit script so it is testable without a browser
and reused by anything else that wants the same views.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..errors import InputError
from ..preprocess.fold import phase_fold
from ..reports import report_basename
from ..schemas import table_to_preprocessed

__all__ = [
    "TABLE_COLUMNS",
    "DISPLAY_COLUMNS",
    "SORT_KEYS",
    "table_view",
    "service_status",
    "read_run",
    "sweep_overview",
    "quarantine_reasons",
    "read_candidates",
    "filter_candidates",
    "candidate_label",
    "load_lightcurve",
    "folded_curve",
    "report_png",
    "labels_path",
]

#: Columns of the candidate table, in order (those present are shown).
TABLE_COLUMNS = (
    "tic_id", "sector", "candidate_index", "period_days", "t0_btjd", "duration_hours", "depth_ppm", "snr",
    "sde", "n_transits", "score", "score_lo", "score_hi", "disposition", "known_object", "vet_flags",
)

#: The candidate table as shown: (heading, source column).  The decision, the score with its
#: interval and the known object come first, where they are read before anything scrolls.
DISPLAY_COLUMNS = (
    ("TIC", "tic_id"),
    ("sector", "sector"),
    ("#", "candidate_index"),
    ("disposition", "disposition"),
    ("score [90%]", "score"),
    ("known object", "known_object"),
    ("P (d)", "period_days"),
    ("depth (ppm)", "depth_ppm"),
    ("T14 (h)", "duration_hours"),
    ("SNR", "snr"),
    ("SDE", "sde"),
    ("transits", "n_transits"),
    ("t0 (BTJD)", "t0_btjd"),
    ("vet flags", "vet_flags"),
)

#: What the table can be sorted by: label -> column.
SORT_KEYS = {"score": "score", "SNR": "snr", "period": "period_days", "depth": "depth_ppm",
             "TIC": "tic_id", "disposition": "disposition", "known object": "known_object"}


def read_run(out: os.PathLike) -> Dict[str, Any]:
    """``OUT/run.json`` (empty dict if the sweep has not written one)."""
    p = Path(out) / "run.json"
    if not p.exists():
        return {}
    with open(p) as fh:
        return json.load(fh)


def sweep_overview(out: os.PathLike) -> Dict[str, Any]:
    """Counts, throughput and timings of the latest run (plus how many runs went into OUT)."""
    run = read_run(out)
    counts = run.get("counts", {})
    timings = run.get("timings", {})
    cands = read_candidates(out)
    disp = cands["disposition"].value_counts().to_dict() if len(cands) and "disposition" in cands else {}
    return {
        "inputs": counts.get("inputs"),
        "preprocessed": counts.get("preprocessed_total"),
        "quarantined": counts.get("quarantined_total"),
        "candidates": len(cands),
        "planet_candidates": int(disp.get("planet_candidate", 0)),
        "dispositions": {str(k): int(v) for k, v in disp.items()},
        "throughput_lc_per_s": timings.get("throughput_lc_per_s"),
        "wall_s": timings.get("wall_s"),
        "ms_per_lc": {k: timings.get(k) for k in ("read_ms_per_lc", "preprocess_ms_per_lc", "search_ms_per_lc",
                                                  "write_ms_per_lc")},
        "accounted": run.get("accounting", {}).get("accounted"),
        "nodes": len(run.get("nodes", [])),
        "runs": len(run.get("history", [])) + (1 if run else 0),
        "finished": run.get("finished"),
        "input": run.get("input"),
    }


def quarantine_reasons(out: os.PathLike) -> pd.DataFrame:
    """Quarantined inputs grouped by stage and error: ``stage, error, count, example``."""
    p = Path(out) / "quarantine.parquet"
    cols = ["stage", "error", "count", "example"]
    if not p.exists():
        return pd.DataFrame(columns=cols)
    q = pd.read_parquet(p)
    if q.empty:
        return pd.DataFrame(columns=cols)
    g = q.groupby(["stage", "error"], sort=False)
    df = g.size().rename("count").reset_index()
    df["example"] = [str(g.get_group((s, e))["message"].iloc[0])[:300] for s, e in zip(df["stage"], df["error"])]
    return df.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def read_candidates(out: os.PathLike) -> pd.DataFrame:
    """``OUT/candidates.parquet`` as a DataFrame (empty if absent)."""
    p = Path(out) / "candidates.parquet"
    if not p.exists():
        return pd.DataFrame(columns=list(TABLE_COLUMNS))
    return pd.read_parquet(p)


def filter_candidates(df: pd.DataFrame, *, dispositions: Optional[Sequence[str]] = None, min_score: float = 0.0,
                      min_snr: float = 0.0, tic_query: str = "", sort_by: str = "score",
                      ascending: bool = False) -> pd.DataFrame:
    """Candidates filtered and sorted as the table controls ask."""
    out = df
    if dispositions:
        out = out[out["disposition"].isin(list(dispositions))]
    if min_score > 0 and "score" in out:
        out = out[out["score"].fillna(-1) >= min_score]
    if min_snr > 0 and "snr" in out:
        out = out[out["snr"].fillna(-1) >= min_snr]
    q = str(tic_query or "").strip()
    if q:
        out = out[out["tic_id"].astype(str).str.contains(q, regex=False)]
    if sort_by in out.columns:
        out = out.sort_values(sort_by, ascending=ascending, na_position="last", kind="stable")
    return out


def _score_text(score, lo, hi) -> str:
    """``0.73 [0.48, 0.91]``; ``n/a`` when unscored."""
    def ok(x):
        return x is not None and isinstance(x, (int, float, np.floating)) and np.isfinite(x)

    if not ok(score):
        return "n/a"
    return f"{score:.2f} [{lo:.2f}, {hi:.2f}]" if ok(lo) and ok(hi) else f"{score:.2f}"


def table_view(df: pd.DataFrame) -> pd.DataFrame:
    """The candidate table as displayed (:data:`DISPLAY_COLUMNS`), rows in ``df``'s order.

    ``score [90%]`` is text, the score with its 90% interval; ``known
    object`` is ``-`` when the cross-match found none.
    """
    out = pd.DataFrame(index=df.index)
    for heading, col in DISPLAY_COLUMNS:
        if col == "score":
            if "score" in df:
                lo = df["score_lo"] if "score_lo" in df else pd.Series(np.nan, index=df.index)
                hi = df["score_hi"] if "score_hi" in df else pd.Series(np.nan, index=df.index)
                out[heading] = [_score_text(a, b, c) for a, b, c in zip(df["score"], lo, hi)]
        elif col in df:
            out[heading] = df[col]
    if "known object" in out:
        out["known object"] = out["known object"].where(out["known object"].notna() & (out["known object"] != ""),
                                                        "-")
    if "vet flags" in out:
        out["vet flags"] = out["vet flags"].fillna("").str.replace(";", ", ", regex=False)
    return out.reset_index(drop=True)


def service_status(api: str, timeout: float = 3.0) -> Tuple[bool, str]:
    """``(ready, message)`` of the scoring service at ``api`` (its ``/readyz``).

    The message says in words what is wrong and what to do (start
    ``exoray serve``, or point ``--api`` at a running one), never a library's
    exception text alone.
    """
    import requests

    try:
        r = requests.get(api.rstrip("/") + "/readyz", timeout=timeout)
    except requests.ConnectionError:
        return False, (f"No scoring service answers at {api}. Start one with `exoray serve` (it listens on "
                       "http://127.0.0.1:8000), or restart the dashboard with `--api URL` pointing at a running one.")
    except requests.Timeout:
        return False, (f"The scoring service at {api} did not answer within {timeout:.0f} s; it may still be "
                       "starting (the first start takes a minute) or be overloaded. Try again shortly.")
    except requests.RequestException as exc:
        return False, f"Cannot reach the scoring service at {api} ({type(exc).__name__}); check the --api URL."
    if r.status_code == 200:
        return True, f"scoring service ready at {api}"
    try:
        body = r.json()
        why = body.get("message") or body.get("error") or r.text[:200]
    except ValueError:
        why = r.text[:200] or f"HTTP {r.status_code}"
    return False, f"The scoring service at {api} is not ready yet (HTTP {r.status_code}: {why}); try again shortly."


def candidate_label(row) -> str:
    """Button text of a candidate, e.g. ``TIC 402026209 s2 #0 · P 1.3383 d · score 0.75 · planet_candidate``."""
    score = row.get("score")
    s = f"{score:.2f}" if score is not None and np.isfinite(score) else "n/a"
    return (f"TIC {int(row['tic_id'])} s{int(row['sector'])} #{int(row['candidate_index'])} · "
            f"P {float(row['period_days']):.4f} d · score {s} · {row.get('disposition')}")


def load_lightcurve(out: os.PathLike, tic_id: int, sector: int):
    """The preprocessed light curve of one star from ``OUT/lightcurves`` (filtered read)."""
    import pyarrow.dataset as ds

    folder = Path(out) / "lightcurves"
    if not folder.is_dir():
        raise InputError(f"{folder} does not exist; is {out} a sweep output folder?")
    dataset = ds.dataset(str(folder), format="parquet")
    table = dataset.to_table(filter=(ds.field("tic_id") == int(tic_id)) & (ds.field("sector") == int(sector)))
    if table.num_rows == 0:
        raise InputError(f"TIC {tic_id} sector {sector} is not in {folder}")
    return table_to_preprocessed(table.slice(0, 1))[0]


def folded_curve(plc, period: float, t0: float, duration_hours: float, *, window_durations: float = 3.0,
                 n_bins: int = 60) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """Points and binned medians of the flat flux folded on a candidate's ephemeris.

    Returns ``(points, bins)``: ``points`` has ``phase_hours``, ``flux_ppm``
    (flat flux - 1, in ppm), ``time`` and ``epoch`` for the cadences within
    ``window_durations`` durations of mid-transit; ``bins`` has
    ``phase_hours`` and ``flux_ppm`` medians.
    """
    ph = phase_fold(plc.time, period, t0, unit="days") * 24.0
    half = max(window_durations * duration_hours, 1.0)
    m = np.isfinite(ph) & np.isfinite(plc.flux_flat) & (np.abs(ph) <= half)
    flux_ppm = (plc.flux_flat[m] - 1.0) * 1e6
    epoch = np.round((plc.time[m] - t0) / period).astype(int)
    points = pd.DataFrame({"phase_hours": ph[m], "flux_ppm": flux_ppm, "time": plc.time[m], "epoch": epoch})
    edges = np.linspace(-half, half, n_bins + 1)
    idx = np.clip(np.digitize(points["phase_hours"], edges) - 1, 0, n_bins - 1)
    b = points.assign(bin=idx).groupby("bin")["flux_ppm"].median()
    bins = pd.DataFrame({"phase_hours": 0.5 * (edges[b.index] + edges[b.index + 1]), "flux_ppm": b.values})
    return points, bins


def report_png(out: os.PathLike, row) -> Optional[Path]:
    """The PNG vetting report of a candidate, if one was rendered (``report_path`` or its PNG sibling)."""
    cands: List[Path] = []
    rp = row.get("report_path")
    if isinstance(rp, str) and rp:
        cands += [Path(rp).with_suffix(".png"), Path(rp)]
    cands.append(Path(out) / "reports" / (report_basename(row["tic_id"], row["sector"], row["candidate_index"]) + ".png"))
    for p in cands:
        if p.suffix == ".png" and p.exists():
            return p
    return None


def labels_path(out: os.PathLike) -> Path:
    """Where ``exoray label`` and the dashboard record labels: ``OUT/labels.parquet``."""
    return Path(out) / "labels.parquet"
