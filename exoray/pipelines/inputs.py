"""Turning a sweep's INPUT argument into a list of light-curve locations.

INPUT may be

* a local folder (searched recursively for FITS light curves),
* a glob pattern (``data/*/tess*_lc.fits``),
* a manifest: a fetch manifest Parquet written by ``exoray fetch-sector``
  (rows with status ``fetched`` or ``skipped``), or a text file with one path
  or URI per line (``#`` comments allowed),
* a URI that :func:`pyarrow.fs.FileSystem.from_uri` understands
  (``s3://bucket/sector1/``, ``gs://...``, ``file:///...``), either a folder or
  a single object.

Locations are returned as strings, de-duplicated and sorted, so a rerun sees
the same list in the same order.
"""

from __future__ import annotations

import glob
import logging
import os
from typing import List

from ..errors import InputError

log = logging.getLogger(__name__)

__all__ = ["resolve_inputs", "is_uri", "read_source_bytes", "FITS_SUFFIXES"]

#: File name endings treated as light curves when scanning folders.
FITS_SUFFIXES = (".fits", ".fits.gz", ".fit", ".fts")
_MANIFEST_TEXT_SUFFIXES = (".txt", ".lst", ".list", ".csv")


def is_uri(s: str) -> bool:
    """True for ``scheme://...`` locations other than plain local paths."""
    return "://" in s and not s.startswith("file://")


def _is_lc_name(name: str) -> bool:
    low = name.lower()
    return low.endswith(FITS_SUFFIXES)


def _scan_folder(folder: str) -> List[str]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(os.path.join(root, f) for f in files if _is_lc_name(f) and not f.startswith("."))
    return out


def _read_manifest_parquet(path: str) -> List[str]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    cols = set(table.column_names)
    if "path" not in cols:
        raise InputError(
            f"{path}: a manifest Parquet needs a 'path' column (found {sorted(cols)}); "
            "use the manifest.parquet written by 'exoray fetch-sector'"
        )
    rows = table.select([c for c in ("path", "status") if c in cols]).to_pylist()
    keep = [r["path"] for r in rows if r["path"] and r.get("status", "fetched") in ("fetched", "skipped")]
    dropped = len(rows) - len(keep)
    if dropped:
        log.warning("%s: %d manifest rows were not fetched and are not swept", path, dropped)
    base = os.path.dirname(os.path.abspath(path))
    return [p if (os.path.isabs(p) or is_uri(p)) else os.path.join(base, p) for p in keep]


def _read_manifest_text(path: str) -> List[str]:
    base = os.path.dirname(os.path.abspath(path))
    out = []
    with open(path, "r", encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            item = line.split(",")[0].strip() if path.endswith(".csv") else line
            if item.lower() in ("path", "uri", "filename"):
                continue  # header row
            out.append(item if (os.path.isabs(item) or is_uri(item)) else os.path.join(base, item))
    return out


def _resolve_uri(uri: str) -> List[str]:
    import pyarrow.fs as pafs

    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except Exception as exc:  # pyarrow raises ArrowInvalid/ValueError/OSError by scheme
        raise InputError(f"{uri}: cannot open this URI with pyarrow filesystems ({exc})") from exc
    info = fs.get_file_info(path)
    scheme = uri.split("://", 1)[0]
    # options such as ?endpoint_override=...&region=... must travel with each file
    query = ("?" + uri.split("?", 1)[1]) if "?" in uri else ""
    if info.type == pafs.FileType.File:
        return [uri]
    if info.type == pafs.FileType.NotFound:
        raise InputError(f"{uri}: no such file or folder")
    sel = pafs.FileSelector(path, recursive=True)
    return [
        f"{scheme}://{fi.path}{query}"
        for fi in fs.get_file_info(sel)
        if fi.type == pafs.FileType.File and _is_lc_name(fi.base_name)
    ]


def resolve_inputs(spec: str) -> List[str]:
    """Expand INPUT into a sorted list of light-curve locations.

    Raises
    ------
    InputError
        When INPUT matches nothing, so an empty sweep never passes silently.
    """
    spec = os.fspath(spec)
    if spec.startswith("file://"):
        spec = spec[len("file://") :]
    if is_uri(spec):
        found = _resolve_uri(spec)
    elif os.path.isdir(spec):
        found = _scan_folder(spec)
    elif os.path.isfile(spec) and spec.endswith(".parquet"):
        found = _read_manifest_parquet(spec)
    elif os.path.isfile(spec) and spec.endswith(_MANIFEST_TEXT_SUFFIXES):
        found = _read_manifest_text(spec)
    elif os.path.isfile(spec):
        found = [spec]
    elif glob.has_magic(spec):
        found = [p for p in glob.glob(spec, recursive=True) if os.path.isfile(p)]
    else:
        raise InputError(f"{spec}: not a folder, file, glob pattern, manifest or URI that exists")
    found = sorted(set(found))
    if not found:
        raise InputError(f"{spec}: matched no light-curve files (looked for {', '.join(FITS_SUFFIXES)})")
    return found


def read_source_bytes(location: str) -> bytes:
    """Read a whole object from a pyarrow-filesystem URI."""
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(location)
    with fs.open_input_stream(path) as fh:
        return fh.read()
