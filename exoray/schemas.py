"""Arrow schemas: the typed contracts between pipeline stages.

Stage outputs on disk:

=========================  =============================================  ==============================
file                       schema                                         written by
=========================  =============================================  ==============================
``lightcurves/*.parquet``  :data:`PREPROCESSED_SCHEMA`                    ``exoray sweep`` (preprocess)
``quarantine.parquet``     :data:`QUARANTINE_SCHEMA`                      ``exoray sweep`` (every stage)
``candidates.parquet``     :data:`exoray.vet.records.CANDIDATES_SCHEMA`   search / rank / vet
``manifest.parquet``       :data:`FETCH_MANIFEST_SCHEMA`                  ``exoray fetch-sector``
=========================  =============================================  ==============================

The candidates' schema is read off :class:`exoray.vet.records.CandidateRecord`
and lives with it: the vetting stage owns that contract, and this ground
floor module imports nothing above it.  The light-curve schemas are read
off :class:`~exoray.lightcurve.LightCurve` and
:class:`~exoray.lightcurve.PreprocessedLightCurve` (their stored fields).

:data:`LIGHTCURVE_SCHEMA` is the raw record (:class:`exoray.lightcurve.LightCurve`)
for stages that want to keep unprocessed cadences.

Columns are only ever *added* to these schemas; readers select by name, so an
older file stays readable (missing columns come back as nulls).
"""

from __future__ import annotations

import os
from typing import Iterable, List, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import InputError
from .lightcurve import HEADER_KEYS, STELLAR_KEYS, LightCurve, PreprocessedLightCurve, stored_fields
from .runtime import atomic_open

__all__ = [
    "LIGHTCURVE_SCHEMA",
    "PREPROCESSED_SCHEMA",
    "QUARANTINE_SCHEMA",
    "STARS_SCHEMA",
    "FETCH_MANIFEST_SCHEMA",
    "records_to_table",
    "table_to_records",
    "lightcurves_to_table",
    "preprocessed_to_table",
    "table_to_preprocessed",
    "read_preprocessed",
    "preprocessed_filter",
    "write_parquet_atomic",
    "empty_table",
]

_f64 = pa.float64()
_lf64 = pa.large_list(pa.float64())

#: Arrow type of each light-curve column, for both records; the columns and
#: their order come from the dataclasses (:func:`_record_schema`).
_RECORD_TYPES = {
    "tic_id": pa.int64(),
    "sector": pa.int32(),
    "mission": pa.string(),
    "camera": pa.int16(),
    "ccd": pa.int16(),
    "cadence_s": _f64,
    "product": pa.string(),
    "flux_column": pa.string(),
    "source_path": pa.string(),
    **{k: _f64 for k in STELLAR_KEYS},
    "time": _lf64,
    "flux": _lf64,
    "flux_err": _lf64,
    "quality": pa.large_list(pa.int32()),
    "centroid_col": _lf64,
    "centroid_row": _lf64,
    "trend": _lf64,
    "flux_flat": _lf64,
    "segment": pa.large_list(pa.int32()),
    "n_raw": pa.int32(),
    "n_quality_masked": pa.int32(),
    "n_nan": pa.int32(),
    "n_outliers": pa.int32(),
    "noise_ppm": _f64,
    "detrend_method": pa.string(),
    "detrend_window_days": _f64,
    "rotation_period_days": _f64,
    "preprocess_ms": _f64,
    "momentum_dump_times": _lf64,
    "object_name": pa.string(),  # the product's OBJECT keyword
}
#: A light curve without its TIC and sector is no record.
_RECORD_REQUIRED = ("tic_id", "sector")


def _record_schema(record: type, version: str) -> pa.Schema:
    """The schema of a light-curve record: its header fields, then the rest in declaration order."""
    names = HEADER_KEYS + tuple(n for n in stored_fields(record) if n not in HEADER_KEYS)
    return pa.schema([pa.field(n, _RECORD_TYPES[n], nullable=n not in _RECORD_REQUIRED) for n in names],
                     metadata={"exoray.schema": version})


#: Raw light curve, all cadences as in the product (NaNs kept).
LIGHTCURVE_SCHEMA = _record_schema(LightCurve, "lightcurve/1")

#: Preprocessed light curve (``OUT/lightcurves``); see PreprocessedLightCurve.
PREPROCESSED_SCHEMA = _record_schema(PreprocessedLightCurve, "preprocessed/1")

#: One row per input that did not make it through a stage.
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),  # read | preprocess | search | ...
        pa.field("error", pa.string(), nullable=False),  # exception class name
        pa.field("message", pa.string(), nullable=False),
        pa.field("timestamp", pa.timestamp("ms", tz="UTC")),
    ],
    metadata={"exoray.schema": "quarantine/1"},
)

#: One row per search of one star (a "searched unit", see
#: :mod:`exoray.pipelines.grouping`): the files whose light curves were
#: stitched and searched together (one per sector), the files passed over
#: (another product of a sector already covered) and why, the batch whose
#: candidate part holds the star's candidates, and when.
STARS_SCHEMA = pa.schema(
    [
        pa.field("tic_id", pa.int64(), nullable=False),
        pa.field("mission", pa.string()),
        pa.field("sectors", pa.string()),  # "24,51"
        pa.field("n_sectors", pa.int32()),
        pa.field("searched", pa.large_list(pa.string())),  # one file per sector, in time order
        pa.field("products", pa.string()),  # "s24:spoc_2min/120s,s51:spoc_2min/120s"
        pa.field("passed_over", pa.large_list(pa.string())),
        pa.field("passed_over_reason", pa.string()),
        pa.field("n_candidates", pa.int32()),
        pa.field("batch", pa.string()),
        pa.field("searched_at", pa.timestamp("ms", tz="UTC")),
    ],
    metadata={"exoray.schema": "stars/1"},
)

#: What a whole-sector fetch did with each file of the bulk script.
FETCH_MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("filename", pa.string(), nullable=False),
        pa.field("path", pa.string()),
        pa.field("tic_id", pa.int64()),
        pa.field("sector", pa.int32()),
        pa.field("status", pa.string(), nullable=False),  # fetched | skipped | failed
        pa.field("bytes", pa.int64()),
        pa.field("sha256", pa.string()),
        pa.field("attempts", pa.int32()),
        pa.field("error", pa.string()),
        pa.field("message", pa.string()),
        pa.field("elapsed_s", _f64),
    ],
    metadata={"exoray.schema": "fetch-manifest/1"},
)


def _coerce(value, typ: pa.DataType):
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def records_to_table(rows: Sequence[Mapping], schema: pa.Schema) -> pa.Table:
    """Build a table with exactly ``schema``'s columns from dict rows.

    Keys missing from a row become nulls; keys not in the schema are ignored.
    """
    columns = []
    for f in schema:
        vals = [_coerce(r.get(f.name), f.type) for r in rows]
        if pa.types.is_large_list(f.type) or pa.types.is_list(f.type):
            vt = f.type.value_type.to_pandas_dtype()
            vals = [None if v is None else np.asarray(v, dtype=vt) for v in vals]
            columns.append(_list_array(vals, f.type))
        else:
            columns.append(pa.array(vals, type=f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _list_array(vals: List, typ: pa.DataType) -> pa.Array:
    """Fast list-array build from numpy chunks (avoids per-element Python)."""
    value_type = typ.value_type
    lengths = np.array([0 if v is None else v.size for v in vals], dtype=np.int64)
    offsets = np.zeros(len(vals) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = (
        np.concatenate([v for v in vals if v is not None])
        if any(v is not None for v in vals)
        else np.array([], dtype=value_type.to_pandas_dtype())
    )
    mask = np.array([v is None for v in vals]) if any(v is None for v in vals) else None
    values = pa.array(flat, type=value_type)
    return pa.LargeListArray.from_arrays(
        pa.array(offsets, pa.int64()), values, mask=None if mask is None else pa.array(mask)
    )


def empty_table(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


def table_to_records(table: pa.Table) -> List[dict]:
    """Rows of a table as dicts with list columns as numpy arrays."""
    out = []
    cols = {}
    for name in table.column_names:
        col = table.column(name).combine_chunks() if table.num_rows else table.column(name)
        typ = table.schema.field(name).type
        if pa.types.is_large_list(typ) or pa.types.is_list(typ):
            cols[name] = [None if v is None else np.asarray(v) for v in _split_list(col)]
        else:
            cols[name] = col.to_pylist()
    for i in range(table.num_rows):
        out.append({k: v[i] for k, v in cols.items()})
    return out


def _split_list(col) -> List:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks else pa.array([], col.type)
    offsets = col.offsets.to_numpy()
    values = col.values.to_numpy(zero_copy_only=False)
    base = offsets[0]
    valid = col.is_valid().to_numpy(zero_copy_only=False)
    return [
        values[offsets[i] - base : offsets[i + 1] - base] if valid[i] else None
        for i in range(len(col))
    ]


def lightcurves_to_table(lcs: Iterable[LightCurve]) -> pa.Table:
    return records_to_table([lc.to_row() for lc in lcs], LIGHTCURVE_SCHEMA)


def preprocessed_to_table(plcs: Iterable[PreprocessedLightCurve]) -> pa.Table:
    return records_to_table([p.to_row() for p in plcs], PREPROCESSED_SCHEMA)


def table_to_preprocessed(table: pa.Table) -> List[PreprocessedLightCurve]:
    import dataclasses

    names = {f.name for f in dataclasses.fields(PreprocessedLightCurve)}
    out = []
    for row in table_to_records(table):
        out.append(PreprocessedLightCurve(**{k: v for k, v in row.items() if k in names}))
    return out


def _values(name: str, value) -> list:
    """A filter value as a list (one value, or any iterable of them)."""
    if value is None:
        return []
    if isinstance(value, (str, bytes, os.PathLike)) or np.isscalar(value):
        vals = [value]
    else:
        vals = list(value)
    if not vals:
        raise InputError(f"read_preprocessed: {name}= is an empty list; pass a value, a list of values, or None")
    return vals


def preprocessed_filter(tic_id=None, sector=None, source_path=None):
    """The :mod:`pyarrow.dataset` expression selecting these light curves (``None``: everything).

    Each argument is one value or a list of values; rows must match all given.
    """
    import pyarrow.dataset as ds

    expr = None
    for name, value, cast in (("tic_id", tic_id, int), ("sector", sector, int), ("source_path", source_path, str)):
        vals = _values(name, value)
        if not vals:
            continue
        try:
            vals = [os.fspath(v) if cast is str else cast(v) for v in vals]
        except (TypeError, ValueError):
            raise InputError(f"read_preprocessed: {name}={value!r} is not a {cast.__name__} (or a list of them)") from None
        e = ds.field(name).isin(vals)
        expr = e if expr is None else expr & e
    return expr


def _preprocessed_parts(path: str) -> List[str]:
    """The Parquet parts of ``OUT/lightcurves``, given that folder, a sweep's OUT or one file."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file or folder; give a sweep's output folder, its "
                                "'lightcurves' folder or one Parquet part")
    if not os.path.isdir(path):
        return [path]
    sub = os.path.join(path, "lightcurves")
    folder = sub if os.path.isdir(sub) else path
    parts = sorted(os.path.join(folder, p) for p in os.listdir(folder)
                   if p.endswith(".parquet") and not p.startswith("."))
    if not parts and folder == path and not os.path.isdir(sub):
        raise InputError(f"{path}: neither a sweep output folder (no 'lightcurves' folder) nor a folder of "
                         "preprocessed Parquet parts")
    return parts


def read_preprocessed(path, *, tic_id=None, sector=None, source_path=None) -> List[PreprocessedLightCurve]:
    """Read preprocessed light curves written by ``exoray sweep``.

    Parameters
    ----------
    path : path-like
        A sweep's output folder ``OUT``, its ``OUT/lightcurves`` folder of
        Parquet parts, or one part.
    tic_id, sector, source_path : value or list of values, optional
        Only the light curves that match (all given).  The selection is a
        Parquet filter: parts and row groups (one light curve each) whose
        statistics rule them out are not decoded, so picking one star from a
        whole sector reads about one light curve's worth of data.

    Returns
    -------
    list of PreprocessedLightCurve
        In part order; empty when nothing matches.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    InputError
        ``path`` is a folder without light curves, or a filter value has the
        wrong type.

    Examples
    --------
    >>> plc, = read_preprocessed("out", tic_id=261136679, sector=1)  # doctest: +SKIP
    """
    import pyarrow.dataset as ds

    parts = _preprocessed_parts(os.fspath(path))
    if not parts:
        return []
    expr = preprocessed_filter(tic_id, sector, source_path)
    # The explicit schema lets parts written before a column was added be read with it as nulls.
    dataset = ds.dataset(parts, format="parquet", schema=PREPROCESSED_SCHEMA)
    try:
        table = dataset.to_table(filter=expr)
    except pa.ArrowInvalid as exc:
        raise InputError(f"{path}: cannot read the preprocessed light curves ({exc})") from exc
    return table_to_preprocessed(table)


#: Parquet options for stage outputs.  Dictionary encoding is off: on float
#: list columns it costs 3-4x the write time and makes files larger
#: (measured 10.1 -> 2.8 ms and 654 -> 568 KB per SPOC light curve).
PARQUET_WRITE_OPTIONS = {"compression": "zstd", "use_dictionary": False}


def write_parquet_atomic(table: pa.Table, path, **kwargs) -> None:
    """Write ``table`` to ``path`` so readers never see a partial file.

    ``kwargs`` go to :func:`pyarrow.parquet.write_table` and override
    :data:`PARQUET_WRITE_OPTIONS`.  A table of light curves (list columns)
    is written one row group per light curve, so that a filtered read
    (:func:`read_preprocessed`) decodes only the light curves it asks for.

    The table goes to a temporary file in the same folder, is flushed and
    fsynced, then renamed over ``path`` (atomic on POSIX filesystems).
    """
    path = os.fspath(path)
    if "row_group_size" not in kwargs and any(pa.types.is_large_list(f.type) for f in table.schema):
        kwargs["row_group_size"] = 1

    with atomic_open(path, "wb") as fh:
        pq.write_table(table, fh, **{**PARQUET_WRITE_OPTIONS, **kwargs})
