"""One star, one unit of work: the sweep's grouping of a star's sector files.

A star observed in several sectors (or in several products of one sector) is
searched once, over all its data stitched in time
(:func:`exoray.preprocess.stitch.stitch`), so its files must reach the same
analysis worker.  Which star a file holds is in its header (``TICID``), not
its name (names can be anything in a manifest or a bucket), and a header is
only read in full by the read stage, on a worker.  The driver therefore
reads just the first FITS blocks of each file to learn its star
(:func:`star_of`, ~1 ms a file against ~50 ms to read and ~1 s to search
it) and plans batches that never split a star (:func:`plan_star_batches`).
A file whose header cannot be read there goes into a batch alone: its read
stage fails or quarantines it as it would have anyway.

*Searched units* (:data:`exoray.schemas.STARS_SCHEMA`, ``OUT/stars``) record
each search of a star: its TIC ID, the files searched (one per sector), the
files passed over (another product of a sector already covered), the batch
that searched it and when.  They are what makes a star's search replaceable
when a later sweep brings a new sector of it: see :func:`current_units`.
"""

from __future__ import annotations

import logging
import zlib
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import pyarrow.parquet as pq

from ..ingest.fits_reader import _target_from_object
from .inputs import is_uri

log = logging.getLogger(__name__)

__all__ = ["StarKey", "star_of", "plan_star_batches", "current_units", "unit_files", "read_units", "done_by_star"]

#: ``(mission, target id)``: TIC IDs and Kepler IDs are separate number spaces.
StarKey = Tuple[str, int]

_BLOCK = 2880
#: Bytes read to find the target ID: the primary header and the first
#: extension's header of every light-curve product fit well within this.
_HEAD_BYTES = 20 * _BLOCK
_TESS_KEYS = ("TICID", "TIC_ID", "TIC")


def _cards(raw: bytes, start: int) -> Tuple[Dict[str, str], int]:
    """Header cards from ``start`` up to ``END``: ``({keyword: raw value}, offset after the header)``."""
    cards: Dict[str, str] = {}
    pos = start
    while pos + 80 <= len(raw):
        card = raw[pos:pos + 80].decode("ascii", errors="replace")
        pos += 80
        key = card[:8].strip()
        if key == "END":
            return cards, start + -(-(pos - start) // _BLOCK) * _BLOCK
        if card[8:10] == "= " and key not in cards:
            cards[key] = card[10:].split("/", 1)[0].strip().strip("'").strip()
    raise ValueError("header END not found in the first bytes")


def _int(cards: Dict[str, str], key: str) -> Optional[int]:
    v = cards.get(key)
    try:
        return int(float(v)) if v not in (None, "") else None
    except ValueError:
        return None


def _head(location: str) -> bytes:
    if is_uri(location):
        import pyarrow.fs as pafs

        fs, path = pafs.FileSystem.from_uri(location)
        with fs.open_input_file(path) as fh:  # a ranged read: object stores send only these bytes
            raw = fh.read(_HEAD_BYTES)
    else:
        with open(location, "rb") as fh:
            raw = fh.read(_HEAD_BYTES)
    if raw[:2] == b"\x1f\x8b":
        raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, _HEAD_BYTES)
    return raw


def star_of(location: str) -> Optional[StarKey]:
    """The star a light-curve file holds, from its header; ``None`` when it cannot be told cheaply.

    Looks for ``TICID``/``TIC_ID``/``TIC`` (TESS), ``KEPLERID`` (Kepler) or
    an ``OBJECT`` of the form ``TIC 123`` in the primary header, then in the
    first extension's.  Never raises: a file that cannot be read here is
    the read stage's to judge.
    """
    try:
        raw = _head(location)
        primary, end = _cards(raw, 0)
        headers = [primary]
        naxis = _int(primary, "NAXIS") or 0
        if naxis == 0:  # light-curve products keep their primary HDU empty; the table header follows
            try:
                headers.append(_cards(raw, end)[0])
            except ValueError:
                pass
        for h in headers:
            for key in _TESS_KEYS:
                if _int(h, key) is not None:
                    return ("TESS", _int(h, key))
            if _int(h, "KEPLERID") is not None:
                return ("Kepler", _int(h, "KEPLERID"))
        for h in headers:
            tic = _target_from_object(h.get("OBJECT"))
            if tic is not None:
                return ("Kepler" if str(h.get("OBJECT", "")).strip().upper().startswith("KIC") else "TESS", tic)
    except Exception as exc:  # noqa: BLE001 - see docstring
        log.debug("%s: no star from the header (%s: %s)", location, type(exc).__name__, exc)
    return None


def plan_star_batches(locations: Sequence[str], batch_size: int, stars: Dict[str, Optional[StarKey]],
                      context: Optional[Dict[StarKey, List[str]]] = None
                      ) -> List[Tuple[List[str], List[str]]]:
    """Cut ``locations`` into batches that keep each star's files together: ``[(locations, context)]``.

    ``stars`` maps a location to its star (``None``: a batch-mate like any
    other, grouped with nothing).  A star's files form one unit, placed
    whole in the first batch that has room for it (``batch_size`` files,
    counting ``context``); a unit larger than ``batch_size`` gets a batch of
    its own.  ``context[star]`` lists files of that star already swept
    (their preprocessed rows are stored): a star with new files is searched
    again over all of them, so those are read again, in the same batch, but
    not stored again.  Units keep the order of their first location.
    """
    context = context or {}
    units: List[Tuple[List[str], List[str]]] = []
    index: Dict[StarKey, int] = {}
    for loc in locations:
        key = stars.get(loc)
        if key is None:
            units.append(([loc], []))
            continue
        if key not in index:
            index[key] = len(units)
            units.append(([], list(context.get(key, ()))))
        units[index[key]][0].append(loc)
    batches: List[Tuple[List[str], List[str]]] = []
    size = 0
    for locs, ctx in units:
        n = len(locs) + len(ctx)
        if not batches or size + n > batch_size:
            batches.append(([], []))
            size = 0
        batches[-1][0].extend(locs)
        batches[-1][1].extend(ctx)
        size += n
    return batches


# --------------------------------------------------------------------------- searched units


def unit_files(row: Dict) -> Set[str]:
    """Every file a searched unit read: searched and passed over."""
    return set(row.get("searched") or ()) | set(row.get("passed_over") or ())


def current_units(rows: Iterable[Dict]) -> Tuple[List[Dict], List[Dict]]:
    """Split searched-unit rows into ``(current, superseded)``.

    A star's unit is superseded by another unit of the same star (same
    ``mission`` and ``tic_id``) that read every file it read, and more, or
    the same files later (``searched_at``).  A star is only searched again
    when it gains a file, and then over all its files, so the newest full
    search of a star is the one that stands.  Units that do not contain one
    another (a star split over two batches because the header of one of its
    files could not be read at planning) both stand.
    """
    by_star: Dict[StarKey, List[Dict]] = {}
    for r in rows:
        by_star.setdefault((str(r.get("mission") or ""), int(r["tic_id"])), []).append(r)
    current, superseded = [], []
    for units in by_star.values():
        units = sorted(units, key=lambda r: (len(unit_files(r)), r.get("searched_at") or 0), reverse=True)
        kept: List[Dict] = []
        for u in units:
            (superseded if any(unit_files(u) <= unit_files(k) for k in kept) else kept).append(u)
        current.extend(kept)
    return current, superseded


def read_units(files: Sequence[str]) -> List[Dict]:
    """Searched-unit rows of ``OUT/stars`` part files, each with its part's ``batch`` key."""
    rows: List[Dict] = []
    for f in files:
        rows.extend(pq.read_table(f).to_pylist())
    return rows


def done_by_star(lightcurve_parts: Sequence[str]) -> Dict[StarKey, List[str]]:
    """Files already preprocessed, per star (from the light-curve parts' ``tic_id``, ``mission``)."""
    out: Dict[StarKey, List[str]] = {}
    for f in lightcurve_parts:
        t = pq.read_table(f, columns=["source_path", "tic_id", "mission"]).to_pydict()
        for path, tic, mission in zip(t["source_path"], t["tic_id"], t["mission"]):
            out.setdefault((str(mission or "TESS"), int(tic)), []).append(path)
    return out
