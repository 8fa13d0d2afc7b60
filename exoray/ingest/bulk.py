"""MAST's per-sector bulk-download scripts: where they are and what they list.

For every TESS sector MAST publishes a shell script with one ``curl`` line per
2-minute SPOC light curve, e.g.::

    #!/bin/sh
    curl -C - -L -o tess2018206045859-s0001-0000000008195886-0120-s_lc.fits \
https://mast.stsci.edu/api/v0.1/Download/file/?uri=mast:TESS/product/tess2018206045859-s0001-0000000008195886-0120-s_lc.fits

This module only *parses* such scripts into plain dicts; downloading is
:mod:`exoray.ingest.download`'s job (listing, downloading and reading stay
apart, so a listing can be checked before anything is fetched and each step
retried on its own).

Malformed lines are rejected: :func:`parse_bulk_script` raises
:class:`BulkScriptError` naming every bad line number (up to ten), because a
script we cannot read completely would silently lose files.  Blank lines,
comments and the shebang are ignored.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
from typing import Dict, List, Optional
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ..errors import InputError

__all__ = [
    "DEFAULT_ARCHIVE_URL",
    "BULK_SCRIPT_PATH",
    "BulkScriptError",
    "bulk_script_url",
    "parse_bulk_script",
    "rewrite_base_url",
    "parse_tess_filename",
]

log = logging.getLogger(__name__)

#: Host of MAST's static TESS pages (bulk scripts); ``EXORAY_ARCHIVE_URL`` overrides.
DEFAULT_ARCHIVE_URL = "https://archive.stsci.edu"
#: Path of the per-sector 2-min light-curve scripts on that host.
BULK_SCRIPT_PATH = "/missions/tess/download_scripts/sector/tesscurl_sector_{sector}_lc.sh"

# tess2018206045859-s0001-0000000008195886-0120-s_lc.fits (also _fast-lc, a_fast)
_TESS_NAME = re.compile(r"^tess\d{13}-s(?P<sector>\d{4})-(?P<tic>\d{16})-\d{4}-[a-z]_.*\.fits(\.gz)?$")
# hlsp_..._s0001-0000000261136679_... / ..._0000000261136679-s0001_... / tic00261136679-s0001
_HLSP_SECTOR = re.compile(r"[-_]s(?P<sector>\d{4})[-_]")
_HLSP_TIC = re.compile(r"(?:tic|[-_])(?P<tic>\d{10,16})(?=[-_])")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class BulkScriptError(InputError):
    """A bulk-download script has lines that are not ``curl ... -o NAME URL``.

    ``lines`` holds the 1-based numbers of the offending lines.
    """

    def __init__(self, message: str, lines=()):
        self.lines = list(lines)
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (str(self), self.lines))


def bulk_script_url(sector: int, base_url: Optional[str] = None) -> str:
    """URL of MAST's bulk-download script for one sector's 2-min light curves.

    Parameters
    ----------
    sector : int
        TESS sector (>= 1).
    base_url : str, optional
        Scheme and host (optionally a path prefix) of the archive; default
        ``$EXORAY_ARCHIVE_URL`` or ``https://archive.stsci.edu``.

    Returns
    -------
    str
        e.g. ``https://archive.stsci.edu/missions/tess/download_scripts/sector/tesscurl_sector_1_lc.sh``

    Raises
    ------
    exoray.errors.InputError
        If ``sector`` is not a positive integer.

    Examples
    --------
    >>> bulk_script_url(1, "http://127.0.0.1:8000")
    'http://127.0.0.1:8000/missions/tess/download_scripts/sector/tesscurl_sector_1_lc.sh'
    """
    try:
        sec = int(sector)
    except (TypeError, ValueError) as exc:
        raise InputError(f"sector must be a positive integer, got {sector!r}") from exc
    if sec < 1 or isinstance(sector, bool) or (isinstance(sector, float) and sector != sec):
        raise InputError(f"sector must be a positive integer, got {sector!r}")
    base = (base_url or os.environ.get("EXORAY_ARCHIVE_URL") or DEFAULT_ARCHIVE_URL).rstrip("/")
    return base + BULK_SCRIPT_PATH.format(sector=sec)


def rewrite_base_url(url: str, base_url: Optional[str]) -> str:
    """Point ``url`` at another host (a mirror or a test server).

    The scheme and host of ``url`` are replaced by those of ``base_url``; a
    path in ``base_url`` is prepended to the original path.  Query strings are
    kept verbatim.

    Parameters
    ----------
    url : str
        Original URL.
    base_url : str or None
        e.g. ``http://127.0.0.1:8080`` or ``https://mirror.example/mast``.
        ``None`` or "" returns ``url`` unchanged.

    Returns
    -------
    str

    Examples
    --------
    >>> rewrite_base_url("https://mast.stsci.edu/api/v0.1/Download/file/?uri=mast:X", "http://127.0.0.1:9")
    'http://127.0.0.1:9/api/v0.1/Download/file/?uri=mast:X'
    """
    if not base_url:
        return url
    base = urlsplit(base_url)
    if not base.scheme or not base.netloc:
        raise InputError(f"base URL must look like scheme://host[:port][/path], got {base_url!r}")
    orig = urlsplit(url)
    path = base.path.rstrip("/") + (orig.path or "/")
    return urlunsplit((base.scheme, base.netloc, path, orig.query, orig.fragment))


def parse_tess_filename(filename: str) -> Dict[str, Optional[int]]:
    """TIC ID and sector encoded in a TESS (or TESS HLSP) product filename.

    Parameters
    ----------
    filename : str
        Base name, e.g. ``tess2018206045859-s0001-0000000008195886-0120-s_lc.fits``.

    Returns
    -------
    dict
        ``{"tic_id": int or None, "sector": int or None}``.

    Examples
    --------
    >>> parse_tess_filename("tess2018206045859-s0001-0000000008195886-0120-s_lc.fits")
    {'tic_id': 8195886, 'sector': 1}
    """
    m = _TESS_NAME.match(filename)
    if m:
        return {"tic_id": int(m.group("tic")), "sector": int(m.group("sector"))}
    tic = sector = None
    if filename.startswith("hlsp_"):
        ms = _HLSP_SECTOR.search(filename)
        mt = _HLSP_TIC.search(filename)
        sector = int(ms.group("sector")) if ms else None
        tic = int(mt.group("tic")) if mt else None
    return {"tic_id": tic, "sector": sector}


def _parse_curl(tokens: List[str]) -> Optional[Dict[str, str]]:
    """(filename, url) from a tokenised curl command; None when malformed."""
    if not tokens or os.path.basename(tokens[0]) != "curl":
        return None
    filename = url = None
    i = 1
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("-o", "--output"):
            if i + 1 >= len(tokens):
                return None
            filename = tokens[i + 1]
            i += 2
            continue
        if tok.startswith(("http://", "https://")):
            if url is not None:
                return None  # two URLs on one line
            url = tok
        i += 1
    if not filename or not url:
        return None
    return {"filename": filename, "url": url}


def parse_bulk_script(
    text: str, base_url: Optional[str] = None, *, sector: Optional[int] = None
) -> List[Dict]:
    """Parse a MAST ``tesscurl_*.sh`` script into download entries.

    Parameters
    ----------
    text : str
        The script's content.
    base_url : str, optional
        Replace the download host (see :func:`rewrite_base_url`), e.g. to
        point at a mirror or a local test server.
    sector : int, optional
        Sector to record when the filename does not encode one.

    Returns
    -------
    list of dict
        One dict per ``curl`` line, in script order, with keys ``url``,
        ``filename``, ``tic_id`` (int or None), ``sector`` (int or None) and
        ``line`` (1-based line number in the script).

    Raises
    ------
    BulkScriptError
        If any non-blank, non-comment line is not ``curl ... -o NAME URL``, or
        the output name is not a plain file name (no directories, no leading
        dot).  The message lists the offending line numbers (up to ten), so
        nothing in a script is ever silently dropped.

    Examples
    --------
    >>> s = ("#!/bin/sh\\ncurl -C - -L -o tess2018206045859-s0001-0000000008195886-0120-s_lc.fits "
    ...      "https://mast.stsci.edu/api/v0.1/Download/file/?uri=mast:TESS/product/"
    ...      "tess2018206045859-s0001-0000000008195886-0120-s_lc.fits\\n")
    >>> e = parse_bulk_script(s)[0]
    >>> (e["tic_id"], e["sector"])
    (8195886, 1)
    """
    entries: List[Dict] = []
    bad: List[tuple] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            tokens = shlex.split(line)
        except ValueError as exc:
            bad.append((lineno, f"cannot tokenise ({exc})"))
            continue
        parsed = _parse_curl(tokens)
        if parsed is None:
            bad.append((lineno, "not of the form 'curl ... -o NAME URL'"))
            continue
        name = parsed["filename"]
        if not _SAFE_NAME.match(name) or name in (".", ".."):
            bad.append((lineno, f"output name {name!r} is not a plain file name"))
            continue
        uri = parse_qs(urlsplit(parsed["url"]).query).get("uri", [""])[0]
        if uri and os.path.basename(uri) != name:
            log.warning("line %d: output name %s differs from the URI %s", lineno, name, uri)
        ids = parse_tess_filename(name)
        entries.append(
            {
                "url": rewrite_base_url(parsed["url"], base_url),
                "filename": name,
                "tic_id": ids["tic_id"],
                "sector": ids["sector"] if ids["sector"] is not None else sector,
                "line": lineno,
            }
        )
    if bad:
        shown = "; ".join(f"line {n}: {why}" for n, why in bad[:10])
        more = f" (and {len(bad) - 10} more)" if len(bad) > 10 else ""
        raise BulkScriptError(
            f"{len(bad)} malformed line(s) in bulk script: {shown}{more}; "
            "fix or remove them (each must be 'curl ... -o NAME URL')",
            [n for n, _ in bad],
        )
    log.debug("parsed %d entries from bulk script", len(entries))
    return entries
