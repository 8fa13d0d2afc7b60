"""Fast FITS integrity checks: block structure and the raw per-HDU CHECKSUM.

FITS files are sequences of 2880-byte blocks; each HDU is a header (80-byte
cards ending with ``END``) followed by a data unit padded to whole blocks.  The
FITS checksum convention (Seaman et al. 2002, FITS standard 4.0 appendix J)
sets the ``CHECKSUM`` keyword so that the 32-bit ones'-complement sum of the
whole HDU (header + data, as big-endian unsigned 32-bit words) is negative
zero, ``0xFFFFFFFF``, and ``DATASUM`` to the sum of the data alone (a decimal
string).

This module checks exactly that with numpy, instead of
``astropy.io.fits.open(..., checksum=True)``, because astropy warns spuriously
on SPOC and Kepler light-curve files whose raw sum is correct (see the
MANIFEST of the shared real data).

The public helpers are :func:`verify_fits` (returns a :class:`FitsCheck`) and
:func:`check_fits` (raises :class:`ChecksumError` or
:class:`~exoray.errors.CorruptProductError`).  :func:`ones_complement_sum` is
the fast kernel; :func:`ones_complement_sum_slow` is the plain-Python
reference the tests compare it with.
"""

from __future__ import annotations

import dataclasses
import os
from typing import List, Optional, Tuple, Union

import numpy as np

from ..errors import CorruptProductError

__all__ = [
    "BLOCK",
    "NEGATIVE_ZERO",
    "ChecksumError",
    "FitsCheck",
    "HduCheck",
    "ones_complement_sum",
    "ones_complement_sum_slow",
    "verify_fits",
    "check_fits",
    "encode_checksum",
    "update_checksums",
]

#: FITS block size in bytes.
BLOCK = 2880
#: Ones'-complement negative zero: the sum of an HDU whose CHECKSUM is right.
NEGATIVE_ZERO = 0xFFFFFFFF
_CARD = 80
_MAX_HEADER_BLOCKS = 10_000  # 28.8 MB of header: anything larger is garbage


class ChecksumError(CorruptProductError):
    """An HDU's ones'-complement sum is not -0: the bytes were altered.

    Delete the file and download it again.
    """


@dataclasses.dataclass(frozen=True)
class HduCheck:
    """Result for one HDU.

    Attributes
    ----------
    index : int
        HDU number (0 = primary).
    offset : int
        Byte offset of the header in the file.
    size : int
        Header + padded data size in bytes.
    has_checksum : bool
        Whether the header carries a ``CHECKSUM`` keyword.
    checksum_ok : bool or None
        ``True``/``False`` when the HDU carries ``CHECKSUM`` or ``DATASUM``
        and checksums were verified, else ``None``.
    extname : str or None
        ``EXTNAME`` if present.
    """

    index: int
    offset: int
    size: int
    has_checksum: bool
    checksum_ok: Optional[bool]
    extname: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class FitsCheck:
    """Result of :func:`verify_fits`.

    Attributes
    ----------
    ok : bool
        Structure is sound and no HDU with a ``CHECKSUM`` fails it.
    reason : str
        Why ``ok`` is False ("" when ok).
    error : str
        ``"ChecksumError"``, ``"CorruptProductError"`` or "" (class to raise).
    size : int
        File size in bytes.
    hdus : tuple of HduCheck
        Per-HDU results (as far as the structure could be parsed).
    """

    ok: bool
    reason: str
    error: str
    size: int
    hdus: Tuple[HduCheck, ...] = ()

    @property
    def n_checksummed(self) -> int:
        """Number of HDUs that carry a ``CHECKSUM`` keyword."""
        return sum(h.has_checksum for h in self.hdus)


def ones_complement_sum(words: np.ndarray) -> int:
    """32-bit ones'-complement sum of big-endian words (fast, numpy).

    Parameters
    ----------
    words : numpy.ndarray
        1-D array of dtype ``>u4`` (or anything castable to uint64 holding
        values < 2**32).

    Returns
    -------
    int
        The folded sum in ``[0, 0xFFFFFFFF]``; ``0xFFFFFFFF`` is -0.

    Notes
    -----
    Words are summed in uint64 in chunks of 2**20 (each partial sum stays
    below 2**52, so it cannot overflow) and the carries are folded back
    ("end-around carry"), which is exactly the ones'-complement sum.
    """
    total = 0
    n = words.size
    step = 1 << 20
    for i in range(0, n, step):
        total += int(words[i : i + step].sum(dtype=np.uint64))
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def ones_complement_sum_slow(data: bytes) -> int:
    """Reference implementation of :func:`ones_complement_sum` in pure Python.

    Parameters
    ----------
    data : bytes
        Length must be a multiple of 4.

    Returns
    -------
    int
        Folded 32-bit ones'-complement sum.
    """
    if len(data) % 4:
        raise ValueError("length must be a multiple of 4")
    total = 0
    for i in range(0, len(data), 4):
        total += int.from_bytes(data[i : i + 4], "big")
        if total > 0xFFFFFFFF:
            total = (total & 0xFFFFFFFF) + 1
    return total


def _card_value(card: str) -> str:
    """Value part of a header card (no comment), stripped."""
    value = card[10:]
    if value.lstrip().startswith("'"):
        s = value.lstrip()[1:]
        end = s.find("'")
        while end != -1 and s[end + 1 : end + 2] == "'":  # escaped quote ''
            end = s.find("'", end + 2)
        return (s[:end] if end != -1 else s).replace("''", "'").rstrip()
    return value.split("/", 1)[0].strip()


def _parse_header(buf: np.ndarray, offset: int, index: int) -> Tuple[int, int, dict]:
    """Parse the header of HDU ``index`` at ``offset``; return (header_bytes, data_bytes, keywords)."""
    keys: dict = {}
    nblocks = 0
    total = buf.size
    where = "primary header" if index == 0 else f"header of HDU {index} (at byte {offset})"
    while True:
        start = offset + nblocks * BLOCK
        if start + BLOCK > total:
            raise _Corrupt(f"{where} is truncated: the file ends before its END card")
        block = buf[start : start + BLOCK].tobytes().decode("ascii", errors="replace")
        nblocks += 1
        for j in range(0, BLOCK, _CARD):
            card = block[j : j + _CARD]
            key = card[:8].rstrip()
            if key == "END":
                header_bytes = nblocks * BLOCK
                return header_bytes, _data_size(keys, index), keys
            if key in ("SIMPLE", "XTENSION") and (nblocks > 1 or j > 0):
                # Only the first card of a header may be SIMPLE/XTENSION: meeting
                # one later means this header's END card is gone and the next
                # HDU's header is being read as part of this one.
                raise _Corrupt(
                    f"{where} has no END card: the next header ({key}) starts at byte {start + j}, "
                    "so a card was removed or overwritten"
                )
            if card[8:10] == "= " and key not in keys:
                keys[key] = _card_value(card)
        if nblocks > _MAX_HEADER_BLOCKS:
            raise _Corrupt(f"{where} has no END card in its first {_MAX_HEADER_BLOCKS} blocks")


def _hdu_name(keys: dict, index: int) -> str:
    name = keys.get("EXTNAME")
    return f"HDU {index}" + (f" ({name})" if name else "")


def _int_key(keys: dict, name: str, default: Optional[int], index: int) -> int:
    raw = keys.get(name)
    if raw is None:
        if default is None:
            raise _Corrupt(f"{_hdu_name(keys, index)} lacks the mandatory keyword {name}")
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise _Corrupt(f"{_hdu_name(keys, index)}: {name} = {raw!r} is not an integer") from exc


def _data_size(keys: dict, index: int) -> int:
    """Padded data-unit size from BITPIX/NAXISn/PCOUNT/GCOUNT (FITS 4.0 §4.4.1)."""
    primary = index == 0
    hdu = _hdu_name(keys, index)
    if primary and keys.get("SIMPLE") != "T":
        raise _Corrupt(
            f"primary header has SIMPLE = {keys.get('SIMPLE')!r}; a standard FITS file has SIMPLE = T"
        )
    bitpix = _int_key(keys, "BITPIX", None, index)
    naxis = _int_key(keys, "NAXIS", None, index)
    if bitpix not in (8, 16, 32, 64, -32, -64):
        raise _Corrupt(f"{hdu}: BITPIX = {bitpix} is not one of 8, 16, 32, 64, -32, -64")
    if not 0 <= naxis <= 999:
        raise _Corrupt(f"{hdu}: NAXIS = {naxis} is outside 0..999")
    if naxis == 0:
        return 0
    dims = [_int_key(keys, f"NAXIS{i}", None, index) for i in range(1, naxis + 1)]
    for i, d in enumerate(dims, 1):
        if d < 0:
            raise _Corrupt(f"{hdu}: NAXIS{i} = {d} is negative")
    groups = primary and keys.get("GROUPS", "F").strip() == "T" and dims[0] == 0
    if primary and not groups:
        pcount, gcount = 0, 1
    else:
        pcount = _int_key(keys, "PCOUNT", 0, index)
        gcount = _int_key(keys, "GCOUNT", 1, index)
        if pcount < 0:
            raise _Corrupt(f"{hdu}: PCOUNT = {pcount} is negative")
        if gcount < 0:
            raise _Corrupt(f"{hdu}: GCOUNT = {gcount} is negative")
    n = 1
    for d in dims[1:] if groups else dims:
        n *= d
    nbytes = abs(bitpix) // 8 * gcount * (pcount + n)
    return -(-nbytes // BLOCK) * BLOCK


class _Corrupt(Exception):
    """Internal: structural problem found while parsing."""


def _load(source) -> np.ndarray:
    if isinstance(source, np.ndarray):
        return source.view(np.uint8).reshape(-1)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return np.frombuffer(source, dtype=np.uint8)
    return np.fromfile(os.fspath(source), dtype=np.uint8)


def verify_fits(
    source: Union[str, os.PathLike, bytes, np.ndarray],
    *,
    checksum: bool = True,
    expected_size: Optional[int] = None,
) -> FitsCheck:
    """Check a FITS file's structure and (optionally) every HDU's CHECKSUM.

    Parameters
    ----------
    source : path-like or bytes
        The file, or its bytes.
    checksum : bool, default True
        Verify the raw ones'-complement sum of each HDU that carries a
        ``CHECKSUM`` keyword (header + data must sum to -0) and the data sum
        of each HDU that carries ``DATASUM``.  HDUs with neither are only
        structure-checked.
    expected_size : int, optional
        Size in bytes the file must have (e.g. from ``Content-Length`` or a
        MAST product list).

    Returns
    -------
    FitsCheck
        ``ok`` is True when the file starts with ``SIMPLE  =``, its size is a
        multiple of 2880 bytes, the HDUs tile the file exactly (no truncation,
        no trailing bytes) and no checksum fails.

    Raises
    ------
    FileNotFoundError
        If ``source`` is a path that does not exist.

    Examples
    --------
    >>> verify_fits(b"not fits").ok
    False
    """
    buf = _load(source)
    size = int(buf.size)

    def bad(reason: str, error: str = "CorruptProductError", hdus=()) -> FitsCheck:
        return FitsCheck(False, reason, error, size, tuple(hdus))

    if expected_size is not None and size != expected_size:
        return bad(f"size {size} bytes, expected {expected_size}")
    if size == 0:
        return bad("empty file")
    if buf[:9].tobytes() != b"SIMPLE  =":
        return bad("does not start with 'SIMPLE  =' (not a FITS file)")
    if size % BLOCK:
        return bad(f"size {size} is not a multiple of {BLOCK} bytes (truncated?)")
    words = buf.view(">u4") if checksum else None
    hdus: List[HduCheck] = []
    offset = 0
    while offset < size:
        try:
            hbytes, dbytes, keys = _parse_header(buf, offset, len(hdus))
        except _Corrupt as exc:
            if hdus and not buf[offset:].any():
                return bad(f"{size - offset} trailing zero bytes after last HDU", hdus=hdus)
            return bad(str(exc), hdus=hdus)
        end = offset + hbytes + dbytes
        if end > size:
            return bad(
                f"{_hdu_name(keys, len(hdus))} declares {dbytes} bytes of data (BITPIX, NAXISn, PCOUNT, "
                f"GCOUNT) but the file ends {end - size} bytes short of that: truncated, or a size "
                "keyword is damaged",
                hdus=hdus,
            )
        has = "CHECKSUM" in keys
        ok: Optional[bool] = None
        if checksum and (has or "DATASUM" in keys):
            data_start = offset + hbytes
            data_sum = ones_complement_sum(words[data_start // 4 : end // 4])
            problem = _datasum_problem(keys.get("DATASUM"), data_sum)
            if problem is None and has:
                head_sum = ones_complement_sum(words[offset // 4 : data_start // 4])
                if _fold(head_sum + data_sum) != NEGATIVE_ZERO:
                    problem = "CHECKSUM fails: the ones'-complement sum of header and data is not -0"
            ok = problem is None
            if not ok:
                hdus.append(HduCheck(len(hdus), offset, end - offset, has, ok, keys.get("EXTNAME")))
                return bad(f"{_hdu_name(keys, len(hdus) - 1)}: {problem}; the bytes were altered",
                           "ChecksumError", hdus)
        hdus.append(HduCheck(len(hdus), offset, end - offset, has, ok, keys.get("EXTNAME")))
        offset = end
    return FitsCheck(True, "", "", size, tuple(hdus))


def _fold(total: int) -> int:
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def _datasum_problem(datasum: Optional[str], data_sum: int) -> Optional[str]:
    """Why the DATASUM keyword disagrees with the data, or None (also when absent)."""
    if datasum is None:
        return None
    try:
        expected = int(str(datasum).strip())
    except ValueError:
        return f"DATASUM = {datasum!r} is not an unsigned integer"
    # An all-zero data unit sums to +0, which equals -0 in ones' complement.
    if expected == data_sum or {expected, data_sum} == {0, NEGATIVE_ZERO}:
        return None
    return f"DATASUM fails: the data sum to {data_sum}, the header says {expected}"


def check_fits(path, *, checksum: bool = True, expected_size: Optional[int] = None) -> FitsCheck:
    """Like :func:`verify_fits` but raise when the file is not valid.

    Parameters
    ----------
    path : path-like
        The FITS file.
    checksum, expected_size
        See :func:`verify_fits`.

    Returns
    -------
    FitsCheck
        The (successful) result.

    Raises
    ------
    ChecksumError
        An HDU's CHECKSUM does not match (bytes altered).  Delete and re-download.
    exoray.errors.CorruptProductError
        Truncated, wrong size, or not FITS.  Delete and re-download.
    FileNotFoundError
        The file does not exist.
    """
    res = verify_fits(path, checksum=checksum, expected_size=expected_size)
    if not res.ok:
        cls = ChecksumError if res.error == "ChecksumError" else CorruptProductError
        raise cls(os.fspath(path), f"{res.reason}; delete the file and download it again")
    return res


_EXCLUDE = frozenset(b":;<=>?@[\\]^_`")  # punctuation the ASCII encoding avoids


def encode_checksum(value: int) -> str:
    """The 16-character ASCII encoding of a 32-bit value for a ``CHECKSUM`` card.

    Follows the FITS checksum convention (Seaman et al. 2002): each byte is
    spread over four characters from '0'..'r' avoiding punctuation, and the
    string is rotated right by one character.  Pass the complement of an HDU's
    sum (with ``CHECKSUM = '0000000000000000'``) to get its card value.
    """
    value &= 0xFFFFFFFF
    asc = [0] * 16
    for i in range(4):
        byte = (value >> (24 - 8 * i)) & 0xFF
        ch = [byte // 4 + 0x30] * 4
        ch[0] += byte % 4
        changed = True
        while changed:
            changed = False
            for j in (0, 2):
                if ch[j] in _EXCLUDE or ch[j + 1] in _EXCLUDE:
                    ch[j] += 1
                    ch[j + 1] -= 1
                    changed = True
        for j in range(4):
            asc[4 * j + i] = ch[j]
    return bytes(asc[15:] + asc[:15]).decode("ascii")


def update_checksums(data: bytes) -> bytes:
    """Recompute ``DATASUM`` and ``CHECKSUM`` of every HDU that carries them.

    For a file edited on purpose (a header value corrected by hand, or a test
    that damages one value and must not trip the checksum first).  The
    structure must be sound (:func:`verify_fits` with ``checksum=False``).
    """
    buf = bytearray(data)
    arr = np.frombuffer(buf, dtype=np.uint8)
    offset, index = 0, 0
    while offset < len(buf):
        try:
            hbytes, dbytes, keys = _parse_header(arr, offset, index)
        except _Corrupt as exc:
            raise CorruptProductError("<bytes>", f"cannot update checksums: {exc}") from None
        data_start, end = offset + hbytes, offset + hbytes + dbytes
        if end > len(buf):
            raise CorruptProductError("<bytes>", f"HDU {index} is truncated")
        if "CHECKSUM" in keys or "DATASUM" in keys:
            words = np.frombuffer(buf, dtype=">u4")
            data_sum = ones_complement_sum(words[data_start // 4 : end // 4])
            cards = {}
            for pos in range(offset, data_start, _CARD):
                key = bytes(buf[pos : pos + 8]).rstrip().decode("ascii", "replace")
                cards.setdefault(key, pos)
            if "DATASUM" in cards:
                _write_card(buf, cards["DATASUM"], "DATASUM", f"'{data_sum}'")
            if "CHECKSUM" in cards:
                _write_card(buf, cards["CHECKSUM"], "CHECKSUM", "'0000000000000000'")
                words = np.frombuffer(buf, dtype=">u4")
                head_sum = ones_complement_sum(words[offset // 4 : data_start // 4])
                total = _fold(head_sum + data_sum)
                _write_card(buf, cards["CHECKSUM"], "CHECKSUM", f"'{encode_checksum(~total)}'")
        offset, index = end, index + 1
    return bytes(buf)


def _write_card(buf: bytearray, pos: int, key: str, value: str) -> None:
    old = bytes(buf[pos : pos + _CARD]).decode("ascii", "replace")
    comment = old.split(" / ", 1)[1] if " / " in old[10:] else ""
    card = f"{key:<8}= {value:<20}" + (f" / {comment}" if comment else "")
    buf[pos : pos + _CARD] = card[:_CARD].ljust(_CARD).encode("ascii")
