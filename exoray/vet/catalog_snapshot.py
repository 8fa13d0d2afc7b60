"""Build the known-object catalogue snapshot shipped in ``exoray/data/catalogs``.

The cross-match (:mod:`exoray.vet.known_objects`) needs six columns of the
ExoFOP-TESS TOI table and five of the Prsa et al. (2022) TESS eclipsing
binary catalogue.  This script reads the public CSV exports with the same
parsers the cross-match uses on CSV files, keeps only those columns and
writes one zstd Parquet file per catalogue, recording in the Parquet
metadata (``exoray.*`` keys) the source file name, its date, its SHA-256,
the row count and the command that built it.  :func:`~exoray.vet.known_objects.snapshot_info`
reads that metadata back.

Rebuild (from the repository root) when a newer TOI export is available::

    python -m exoray.vet.catalog_snapshot \\
        --toi ../shared/data/real/catalogs/exofop_tess_tois_2025-07-03.csv \\
        --eb ../shared/data/real/catalogs/tess_ebs_prsa2022_J_ApJS_258_16.csv

The date of the TOI table is read from the first line ExoFOP writes
("... produced ... on Thu Jul 03 11:01:18 2025"), else from a
``YYYY-MM-DD`` in the file name; the EB catalogue's is the newest ``UpDate``
of its rows (the catalogue is Prsa et al. 2022, ApJS 258, 16, sectors 1-26).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import re
import sys
from pathlib import Path
from typing import Dict, Optional

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from ..runtime import atomic_open
from ..runtime.files import hash_file
from .known_objects import EB_COLUMNS, SNAPSHOT_DIR, SNAPSHOT_EB, SNAPSHOT_TOI, TOI_COLUMNS, _read_eb, _read_toi

__all__ = ["build_snapshot", "main"]

_EXOFOP_DATE = re.compile(r"on \w{3} (\w{3}) (\d{1,2}) [\d:]+ (\d{4})")
_ISO_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")


def _toi_date(path: Path) -> Optional[str]:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        first = fh.readline()
    m = _EXOFOP_DATE.search(first)
    if m:
        return _dt.datetime.strptime(" ".join(m.groups()), "%b %d %Y").date().isoformat()
    m = _ISO_DATE.search(path.name)
    return m.group(1) if m else None


def _eb_date(path: Path) -> Optional[str]:
    try:
        upd = pd.read_csv(path, usecols=["UpDate"])["UpDate"].dropna().astype(str)
    except (ValueError, KeyError):
        return None
    return max(upd).split(" ")[0] if len(upd) else None


def _write(df: pd.DataFrame, columns, meta: Dict[str, str], out: Path) -> int:
    df = df.reset_index(drop=True)[list(columns)].sort_values(["tic_id"], kind="stable")
    table = pa.Table.from_pandas(df, preserve_index=False)
    # drop pandas' own metadata (it holds nothing a reader needs) and keep ours
    table = table.replace_schema_metadata({f"exoray.{k}": str(v) for k, v in meta.items()})

    with atomic_open(out, "wb") as fh:
        pq.write_table(table, fh, compression="zstd", compression_level=19, use_dictionary=True)
    return out.stat().st_size


def build_snapshot(toi_csv, eb_csv, out_dir=SNAPSHOT_DIR) -> Dict[str, Dict[str, str]]:
    """Write ``exofop_tess_tois.parquet`` and ``tess_ebs_prsa2022.parquet`` into ``out_dir``.

    Returns ``{"toi": meta, "eb": meta}``, the metadata written (plus ``bytes``).

    Raises
    ------
    FileNotFoundError
        A source CSV does not exist.
    InputError
        A source CSV is not the expected export.
    """
    out_dir = Path(out_dir)
    result = {}
    for key, src, reader, columns, dest, date_of, what in (
        ("toi", Path(toi_csv), _read_toi, TOI_COLUMNS, out_dir / SNAPSHOT_TOI.name, _toi_date,
         "ExoFOP-TESS TOI table (exofop.ipac.caltech.edu)"),
        ("eb", Path(eb_csv), _read_eb, EB_COLUMNS, out_dir / SNAPSHOT_EB.name, _eb_date,
         "TESS eclipsing binaries, Prsa et al. 2022, ApJS 258, 16 (VizieR J/ApJS/258/16), sectors 1-26"),
    ):
        if not src.is_file():
            raise FileNotFoundError(f"{src}: source catalogue not found")
        if src.suffix.lower() != ".csv":
            raise InputError(f"{src}: expected the catalogue's CSV export")
        st = src.stat()
        df = reader(str(src), st.st_mtime, st.st_size)
        meta = {
            "catalog": key,
            "description": what,
            "source_file": src.name,
            "source_date": date_of(src) or "unknown",
            "source_sha256": hash_file(src).hexdigest(),
            "rows": str(len(df)),
            "columns": ",".join(columns),
            "built": _dt.date.today().isoformat(),
            "built_with": "python -m exoray.vet.catalog_snapshot",
        }
        meta["bytes"] = str(_write(df, columns, meta, dest))
        result[key] = meta
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m exoray.vet.catalog_snapshot", description=__doc__.split("\n\n")[0])
    p.add_argument("--toi", required=True, help="ExoFOP-TESS TOI CSV export")
    p.add_argument("--eb", required=True, help="Prsa et al. 2022 TESS EB catalogue as CSV")
    p.add_argument("--out", default=str(SNAPSHOT_DIR), help=f"output folder (default {SNAPSHOT_DIR})")
    a = p.parse_args(argv)
    try:
        res = build_snapshot(a.toi, a.eb, a.out)
    except (FileNotFoundError, InputError) as exc:
        print(f"catalog_snapshot: error: {exc}", file=sys.stderr)
        return 1
    for key, meta in res.items():
        print(f"{key}: {meta['rows']} rows from {meta['source_file']} ({meta['source_date']}), "
              f"{int(meta['bytes']) / 1024:.0f} kB")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
