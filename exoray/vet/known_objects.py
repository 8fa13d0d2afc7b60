"""Cross-match candidates with known TOIs and eclipsing binaries.

Catalogs: the ExoFOP-TESS TOI table (CSV export) and the TESS eclipsing
binary catalog of Prsa et al. (2022, ApJS 258, 16).  Label precedence
follows the data MANIFEST: a TOI dispositioned CP/KP by TFOPWG is a planet
even when the TIC is also in the EB catalog (99 such hosts: circumbinary
planets, brown dwarfs, misclassified hosts).

A compact snapshot of both (only the columns read here) ships with the
package in ``exoray/data/catalogs`` and is what :func:`load_catalogs` uses
unless it is given other files; :mod:`exoray.vet.catalog_snapshot` builds it
and :func:`snapshot_info` says which catalogue files and dates it holds.
Either catalogue may be the ExoFOP / Prsa CSV or a Parquet file with the
snapshot's columns.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import pandas as pd

from ..errors import ConfigError, InputError

__all__ = [
    "TOI_CATALOG_ENV",
    "EB_CATALOG_ENV",
    "SNAPSHOT_DIR",
    "SNAPSHOT_TOI",
    "SNAPSHOT_EB",
    "KnownObjectCatalogs",
    "load_catalogs",
    "snapshot_info",
    "known_tois",
    "crossmatch",
    "crossmatch_details",
]

log = logging.getLogger(__name__)

TOI_CATALOG_ENV = "EXORAY_TOI_CATALOG"
EB_CATALOG_ENV = "EXORAY_EB_CATALOG"

_TOI_COLS = {
    "TIC ID": "tic_id",
    "TOI": "toi",
    "TESS Disposition": "tess_disp",
    "TFOPWG Disposition": "tfopwg_disp",
    "Period (days)": "period",
    "Transit Epoch (BJD)": "epoch_bjd",
}
_EB_COLS = {"TIC": "tic_id", "m_TIC": "signal", "Per": "period", "BJD0": "epoch_btjd", "Morph": "morph"}
#: Column names (and order) of the parsed tables, and of the snapshot Parquet files.
TOI_COLUMNS = tuple(_TOI_COLS.values())
EB_COLUMNS = tuple(_EB_COLS.values())
_PLANET_DISPS = ("CP", "KP")

#: The catalogue snapshot shipped in the package (see :mod:`exoray.vet.catalog_snapshot`).
SNAPSHOT_DIR = Path(__file__).resolve().parents[1] / "data" / "catalogs"
SNAPSHOT_TOI = SNAPSHOT_DIR / "exofop_tess_tois.parquet"
SNAPSHOT_EB = SNAPSHOT_DIR / "tess_ebs_prsa2022.parquet"
#: Candidate/catalog period ratios checked as aliases (besides 1).
_ALIAS_RATIOS = ((1, 2), (2, 1), (1, 3), (3, 1), (1, 4), (4, 1), (1, 5), (5, 1), (2, 3), (3, 2))


@dataclass(frozen=True)
class KnownObjectCatalogs:
    """Parsed catalogs (only the needed columns), indexed by TIC.

    Attributes
    ----------
    toi : pandas.DataFrame or None
        Columns tic_id, toi (str, e.g. "144.01"), tess_disp, tfopwg_disp,
        period (days), epoch_bjd.
    eb : pandas.DataFrame or None
        Columns tic_id, signal, period (days), epoch_btjd, morph.
    toi_path, eb_path : str or None
        Where they were read from.
    """

    toi: Optional[pd.DataFrame]
    eb: Optional[pd.DataFrame]
    toi_path: Optional[str] = None
    eb_path: Optional[str] = None


def _resolve(path, env: str, snapshot: Path) -> Optional[str]:
    """A given path, else ``$env``, else the shipped snapshot (None if the install lacks it)."""
    if path is not None:
        return os.fspath(path)
    if os.environ.get(env):
        return os.environ[env]
    return str(snapshot) if snapshot.is_file() else None


def _read_parquet_table(path: str, columns, what: str) -> pd.DataFrame:
    """A catalogue saved as Parquet with the parsed column names (the snapshot's format)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
        missing = [c for c in columns if c not in names]
        if missing:
            raise InputError(
                f"{path}: {what} Parquet lacks column(s) {missing}; expected {list(columns)} "
                "(as written by python -m exoray.vet.catalog_snapshot)"
            )
        return pq.read_table(path, columns=list(columns)).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: cannot read the {what} Parquet ({exc})") from exc


def _index_by_tic(df: pd.DataFrame) -> pd.DataFrame:
    df = df[pd.notna(df["tic_id"])].copy()
    for c in df.columns:
        if df[c].dtype == object:  # one missing-text value (None) whichever format the file was
            df[c] = df[c].astype(object).where(pd.notna(df[c]), None)
    df["tic_id"] = df["tic_id"].astype("int64")
    return df.set_index("tic_id", drop=False).sort_index()


@functools.lru_cache(maxsize=8)
def _read_toi(path: str, mtime: float, size: int) -> pd.DataFrame:
    if path.endswith(".parquet"):
        return _index_by_tic(_read_parquet_table(path, TOI_COLUMNS, "TOI catalog"))
    try:
        df = pd.read_csv(path, skiprows=2, encoding="utf-8-sig", usecols=list(_TOI_COLS),
                         dtype={"TOI": str, "TESS Disposition": str, "TFOPWG Disposition": str})
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise InputError(
            f"{path}: cannot read the ExoFOP TOI catalog ({exc}); expected the ExoFOP CSV export "
            f"(comment line, blank line, header with {sorted(_TOI_COLS)})"
        ) from exc
    return _index_by_tic(df.rename(columns=_TOI_COLS)[list(TOI_COLUMNS)])


@functools.lru_cache(maxsize=8)
def _read_eb(path: str, mtime: float, size: int) -> pd.DataFrame:
    if path.endswith(".parquet"):
        return _index_by_tic(_read_parquet_table(path, EB_COLUMNS, "EB catalog"))
    try:
        df = pd.read_csv(path, usecols=list(_EB_COLS))
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise InputError(
            f"{path}: cannot read the Prsa et al. 2022 EB catalog ({exc}); expected CSV with "
            f"columns {sorted(_EB_COLS)}"
        ) from exc
    return _index_by_tic(df.rename(columns=_EB_COLS)[list(EB_COLUMNS)])


def _stat(path: str, what: str, env: str):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: {what} not found; pass its path or set {env}"
        ) from None
    return st.st_mtime, st.st_size


def load_catalogs(toi_path=None, eb_path=None) -> KnownObjectCatalogs:
    """Read (once; cached by path and modification time) the TOI and EB catalogs.

    Parameters
    ----------
    toi_path : path-like, optional
        ExoFOP TOI CSV (or a Parquet file with the snapshot's columns).
        Default: ``$EXORAY_TOI_CATALOG``, else the snapshot shipped in the
        package (:data:`SNAPSHOT_TOI`).
    eb_path : path-like, optional
        Prsa et al. (2022) EB CSV (or Parquet as above).  Default:
        ``$EXORAY_EB_CATALOG``, else the shipped snapshot (:data:`SNAPSHOT_EB`).

    Each catalogue is chosen on its own: a newer TOI export passed alone is
    used with the shipped EB snapshot.

    Returns
    -------
    KnownObjectCatalogs

    Raises
    ------
    FileNotFoundError
        A given (or configured) path does not exist; the message names it.
    InputError
        A file exists but cannot be parsed as the expected table.
    ConfigError
        Neither catalog could be located (an install without the snapshot).
    """
    tp = _resolve(toi_path, TOI_CATALOG_ENV, SNAPSHOT_TOI)
    ep = _resolve(eb_path, EB_CATALOG_ENV, SNAPSHOT_EB)
    if tp is None and ep is None:
        raise ConfigError(
            f"no known-object catalog found: the package snapshot {SNAPSHOT_DIR} is missing (reinstall exoray, "
            f"or rebuild it with python -m exoray.vet.catalog_snapshot); or pass toi_path/eb_path or set "
            f"{TOI_CATALOG_ENV} / {EB_CATALOG_ENV}"
        )
    toi = _read_toi(tp, *_stat(tp, "TOI catalog", TOI_CATALOG_ENV)) if tp else None
    eb = _read_eb(ep, *_stat(ep, "EB catalog", EB_CATALOG_ENV)) if ep else None
    if toi is None:
        log.warning("no TOI catalog; cross-match uses the EB catalog only")
    if eb is None:
        log.warning("no EB catalog; cross-match uses the TOI catalog only")
    return KnownObjectCatalogs(toi=toi, eb=eb, toi_path=tp, eb_path=ep)


def snapshot_info() -> dict:
    """Where the shipped snapshot's catalogues came from: ``{"toi": {...}, "eb": {...}}``.

    Each entry holds the Parquet file's ``exoray.*`` metadata (source file,
    its date, SHA-256, rows) and the snapshot's ``path``; an empty dict for a
    file the install lacks.
    """
    import pyarrow.parquet as pq

    out = {}
    for key, path in (("toi", SNAPSHOT_TOI), ("eb", SNAPSHOT_EB)):
        if not path.is_file():
            out[key] = {}
            continue
        meta = pq.read_schema(path).metadata or {}
        info = {k.decode()[len("exoray."):]: v.decode() for k, v in meta.items() if k.startswith(b"exoray.")}
        out[key] = {"path": str(path), **info}
    return out


def known_tois(tic_id, catalogs: Optional[KnownObjectCatalogs] = None) -> List[str]:
    """The TOI numbers of one star (e.g. ``["232.01"]``), in catalogue order; ``[]`` if none.

    ``catalogs`` defaults to :func:`load_catalogs` (the shipped snapshot).
    """
    if catalogs is None:
        catalogs = load_catalogs()
    rows = _rows(catalogs.toi, int(tic_id))
    if rows.empty:
        return []
    return sorted({str(t) for t in rows["toi"] if isinstance(t, str) and t},
                  key=lambda t: tuple(int(p) if p.isdigit() else 0 for p in t.split(".")))


def _rows(df: Optional[pd.DataFrame], tic: int) -> pd.DataFrame:
    if df is None or tic not in df.index:
        return pd.DataFrame()
    sub = df.loc[[tic]]
    return sub


def _period_relation(p: float, pc: float, rel_tol: float):
    """``(ratio label or None for direct, rel diff)`` if p matches pc or an alias."""
    if not (math.isfinite(pc) and pc > 0):
        return None
    rd = abs(p / pc - 1.0)
    if rd <= rel_tol:
        return ("", rd)
    best = None
    for num, den in _ALIAS_RATIOS:
        rd = abs(p / (pc * num / den) - 1.0)
        if rd <= rel_tol and (best is None or rd < best[1]):
            best = (f"{num}/{den}" if den != 1 else f"{num}", rd)
    return best


def crossmatch_details(tic_id, period, t0=None, catalogs: Optional[KnownObjectCatalogs] = None,
                       *, rel_tol: float = 0.01) -> List[dict]:
    """All catalog entries of this TIC whose period matches, best first.

    Ordering (label precedence): direct period matches before aliases; within
    each, TOI CP/KP, then EB catalog entries, then other TOIs (PC, APC, FP,
    FA, ...).  Each dict has ``label`` (the string :func:`crossmatch`
    returns), ``kind`` ("toi" or "eb"), ``disposition`` ("CP", "KP", "PC",
    ..., or "EB"), ``is_planet``, ``is_eb`` (EB catalog entry, or TOI with
    TESS disposition EB or TFOPWG FP), ``catalog_period`` (days),
    ``alias`` ("" for direct, else candidate/catalog period ratio, e.g.
    "1/2"), ``rel_diff``.

    ``t0`` is accepted for future ephemeris matching and not used yet: the
    catalog epochs are years from a single sector, so the propagated phase
    would be dominated by the period error.
    """
    tic = int(tic_id)
    p = float(period)
    if not (math.isfinite(p) and p > 0):
        raise InputError(f"'period' must be a positive number of days, got {period!r}")
    if catalogs is None:
        catalogs = load_catalogs()
    found = []
    for _, r in _rows(catalogs.toi, tic).iterrows():
        rel = _period_relation(p, float(r["period"]), rel_tol)
        if rel is None:
            continue
        tf = r["tfopwg_disp"] if isinstance(r["tfopwg_disp"], str) else None
        ts = r["tess_disp"] if isinstance(r["tess_disp"], str) else None
        disp = tf or ts or "?"
        planet = disp in _PLANET_DISPS
        is_eb = (ts == "EB") or (tf in ("FP",))
        label = f"TOI-{r['toi']} ({disp}, P={float(r['period']):.3f} d)"
        rank = 0 if planet else 2
        found.append(dict(label=label, kind="toi", disposition=disp, is_planet=planet, is_eb=is_eb,
                          catalog_period=float(r["period"]), alias=rel[0], rel_diff=rel[1], _rank=rank))
    for _, r in _rows(catalogs.eb, tic).iterrows():
        rel = _period_relation(p, float(r["period"]), rel_tol)
        if rel is None:
            continue
        label = f"EB TIC {tic} (P={float(r['period']):.3f} d)"
        found.append(dict(label=label, kind="eb", disposition="EB", is_planet=False, is_eb=True,
                          catalog_period=float(r["period"]), alias=rel[0], rel_diff=rel[1], _rank=1))
    for d in found:
        if d["alias"]:
            d["label"] = f"alias {d['alias']} of {d['label']}"
    found.sort(key=lambda d: (d["alias"] != "", d["_rank"], d["rel_diff"]))
    for d in found:
        d.pop("_rank")
    return found


def crossmatch(tic_id, period, t0=None, catalogs: Optional[KnownObjectCatalogs] = None,
               *, rel_tol: float = 0.01) -> Optional[str]:
    """Name of the known object a candidate matches, or ``None``.

    A match needs the same TIC and a period within ``rel_tol`` (fractional)
    of the catalog period, or of an alias (ratio 1/2, 2, 1/3, 3, 1/4, 4,
    1/5, 5, 2/3, 3/2), which is reported as ``"alias 1/2 of ..."`` (ratio =
    candidate / catalog period).

    Parameters
    ----------
    tic_id : int
        TESS Input Catalog ID.
    period : float
        Candidate period (days).
    t0 : float, optional
        Candidate epoch (BTJD); not used yet (see :func:`crossmatch_details`).
    catalogs : KnownObjectCatalogs, optional
        From :func:`load_catalogs` (loaded with defaults if omitted).
    rel_tol : float
        Fractional period tolerance (default 1%).

    Returns
    -------
    str or None
        e.g. ``"TOI-144.01 (CP, P=6.268 d)"``, ``"EB TIC 98853987 (P=2.728 d)"``.

    Examples
    --------
    >>> crossmatch(261136679, 6.27, catalogs=cats)  # doctest: +SKIP
    'TOI-144.01 (CP, P=6.268 d)'
    """
    found = crossmatch_details(tic_id, period, t0, catalogs, rel_tol=rel_tol)
    return found[0]["label"] if found else None
