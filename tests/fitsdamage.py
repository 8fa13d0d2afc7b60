"""Damage FITS files on purpose, byte by byte, for the fault-injection tests.

Every edit works on the raw bytes (astropy would refuse to write most of
these files) and, unless asked otherwise, re-signs ``CHECKSUM``/``DATASUM``
afterwards so that the reader's header and column checks are what the test
exercises, not the checksum (which would catch every edit first).
"""

from __future__ import annotations

import gzip
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from exoray.errors import CorruptProductError
from exoray.ingest._fits_checksum import update_checksums as _update_checksums

BLOCK = 2880
CARD = 80


def update_checksums(raw: bytes) -> bytes:
    """Re-signed bytes, or ``raw`` unchanged when the edit broke the structure (nothing to sign)."""
    try:
        return _update_checksums(raw)
    except CorruptProductError:
        return raw


def hdu_spans(raw: bytes) -> List[Tuple[int, int, int]]:
    """``(header_start, data_start, end)`` of each HDU (structure must be sound)."""
    from exoray.ingest._fits_checksum import _parse_header

    arr = np.frombuffer(raw, np.uint8)
    out, offset, index = [], 0, 0
    while offset < len(raw):
        hbytes, dbytes, _ = _parse_header(arr, offset, index)
        out.append((offset, offset + hbytes, offset + hbytes + dbytes))
        offset, index = offset + hbytes + dbytes, index + 1
    return out


def card_offsets(raw: bytes, hdu: int) -> Dict[str, int]:
    """Byte offset of the first card of each keyword in the header of ``hdu``."""
    start, data_start, _ = hdu_spans(raw)[hdu]
    out: Dict[str, int] = {}
    for pos in range(start, data_start, CARD):
        key = raw[pos : pos + 8].decode("ascii", "replace").rstrip()
        if key == "END":
            out.setdefault("END", pos)
            break
        out.setdefault(key, pos)
    return out


def fits_value(value) -> str:
    """A value as FITS writes it in a card (strings quoted, logicals T/F)."""
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, float):
        return repr(value).upper().replace("INF", "1E999") if np.isfinite(value) else repr(value)
    return str(value)


def set_card(raw: bytes, hdu: int, key: str, value, *, resign: bool = True) -> Optional[bytes]:
    """``raw`` with keyword ``key`` of ``hdu`` set to ``value`` (None if the card is absent).

    ``value`` is a Python value (see :func:`fits_value`) or, as ``bytes``, the
    exact text to put after ``"= "``.
    """
    pos = card_offsets(raw, hdu).get(key)
    if pos is None:
        return None
    text = value.decode("ascii") if isinstance(value, bytes) else fits_value(value).rjust(20)
    card = f"{key:<8}= {text}"[:CARD].ljust(CARD).encode("ascii")
    out = raw[:pos] + card + raw[pos + CARD :]
    return update_checksums(out) if resign else out


def blank_card(raw: bytes, hdu: int, key: str, *, resign: bool = True) -> Optional[bytes]:
    """``raw`` with the card of ``key`` (``END`` included) overwritten by spaces."""
    pos = card_offsets(raw, hdu).get(key)
    if pos is None:
        return None
    out = raw[:pos] + b" " * CARD + raw[pos + CARD :]
    if not resign or key == "END":  # without END the structure is gone: nothing to re-sign
        return out
    return update_checksums(out)


def column_bytes(raw: bytes, column: str) -> Iterator[Tuple[int, int]]:
    """``(offset, width)`` in the file of each row's ``column`` value in HDU 1 (fixed-width table)."""
    import re

    cards = card_offsets(raw, 1)
    _, data_start, _ = hdu_spans(raw)[1]

    def value(key):
        pos = cards[key]
        return raw[pos + 10 : pos + CARD].decode("ascii").split("/")[0].strip().strip("'").strip()

    nrows, rowlen, nfields = int(value("NAXIS2")), int(value("NAXIS1")), int(value("TFIELDS"))
    sizes = {"L": 1, "B": 1, "I": 2, "J": 4, "K": 8, "E": 4, "D": 8, "A": 1}
    pos = 0
    for i in range(1, nfields + 1):
        m = re.match(r"(\d*)([A-Z])", value(f"TFORM{i}"))
        width = (int(m.group(1)) if m.group(1) else 1) * sizes[m.group(2)]
        if value(f"TTYPE{i}") == column:
            for r in range(nrows):
                yield data_start + r * rowlen + pos, width
            return
        pos += width
    raise KeyError(column)


def set_column(raw: bytes, column: str, values: np.ndarray, dtype: str, *, resign: bool = True) -> bytes:
    """``raw`` with every row of ``column`` replaced by ``values`` (big-endian ``dtype``)."""
    buf = bytearray(raw)
    enc = np.asarray(values, dtype=dtype)
    for k, (off, width) in enumerate(column_bytes(raw, column)):
        buf[off : off + width] = enc[k : k + 1].tobytes()  # a slice keeps the big-endian order
    out = bytes(buf)
    return update_checksums(out) if resign else out


def column_values(raw: bytes, column: str, dtype: str) -> np.ndarray:
    return np.array([np.frombuffer(raw[o : o + w], dtype=dtype)[0] for o, w in column_bytes(raw, column)])


def gzipped(raw: bytes) -> bytes:
    return gzip.compress(raw, compresslevel=1, mtime=0)
