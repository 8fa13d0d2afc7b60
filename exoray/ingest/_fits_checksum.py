"""Fast FITS integrity checks: block structure and the raw per-HDU CHECKSUM.

FITS files are sequences of 2880-byte blocks; each HDU is a header (80-byte
cards ending with ``END``) followed by a data unit padded to whole blocks.  The
FITS checksum convention (Seaman et al. 2002, FITS standard 4.0 appendix J)
sets the ``CHECKSUM`` keyword so that the 32-bit ones'-complement sum of the
whole HDU (header + data, as big-endian unsigned 32-bit words) is negative
zero, ``0xFFFFFFFF``.

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
        ``True``/``False`` when ``has_checksum``, else ``None``.
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


def _parse_header(buf: np.ndarray, offset: int, primary: bool) -> Tuple[int, int, dict]:
    """Parse the header at ``offset``; return (header_bytes, data_bytes, keywords)."""
    keys: dict = {}
    nblocks = 0
    total = buf.size
    while True:
        start = offset + nblocks * BLOCK
        if start + BLOCK > total:
            raise _Corrupt(f"header of HDU at byte {offset} is truncated (no END card)")
        block = buf[start : start + BLOCK].tobytes().decode("ascii", errors="replace")
        nblocks += 1
        for j in range(0, BLOCK, _CARD):
            card = block[j : j + _CARD]
            key = card[:8].rstrip()
            if key == "END":
                header_bytes = nblocks * BLOCK
                return header_bytes, _data_size(keys, primary, offset), keys
            if card[8:10] == "= " and key not in keys:
                keys[key] = _card_value(card)
        if nblocks > _MAX_HEADER_BLOCKS:
            raise _Corrupt(f"header of HDU at byte {offset} has no END card")


def _int_key(keys: dict, name: str, default: Optional[int], offset: int) -> int:
    raw = keys.get(name)
    if raw is None:
        if default is None:
            raise _Corrupt(f"HDU at byte {offset} lacks mandatory keyword {name}")
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise _Corrupt(f"HDU at byte {offset}: {name} = {raw!r} is not an integer") from exc


def _data_size(keys: dict, primary: bool, offset: int) -> int:
    """Padded data-unit size from BITPIX/NAXISn/PCOUNT/GCOUNT (FITS 4.0 §4.4.1)."""
    bitpix = _int_key(keys, "BITPIX", None, offset)
    naxis = _int_key(keys, "NAXIS", None, offset)
    if bitpix not in (8, 16, 32, 64, -32, -64):
        raise _Corrupt(f"HDU at byte {offset}: invalid BITPIX {bitpix}")
    if not 0 <= naxis <= 999:
        raise _Corrupt(f"HDU at byte {offset}: invalid NAXIS {naxis}")
    if naxis == 0:
        return 0
    dims = [_int_key(keys, f"NAXIS{i}", None, offset) for i in range(1, naxis + 1)]
    if any(d < 0 for d in dims):
        raise _Corrupt(f"HDU at byte {offset}: negative NAXISn")
    groups = primary and keys.get("GROUPS", "F").strip() == "T" and dims[0] == 0
    if primary and not groups:
        pcount, gcount = 0, 1
    else:
        pcount = _int_key(keys, "PCOUNT", 0, offset)
        gcount = _int_key(keys, "GCOUNT", 1, offset)
    n = 1
    for d in dims[1:] if groups else dims:
        n *= d
    nbytes = abs(bitpix) // 8 * gcount * (pcount + n)
    return -(-nbytes // BLOCK) * BLOCK


class _Corrupt(Exception):
    """Internal: structural problem found while parsing."""


def _load(source: Union[str, os.PathLike, bytes, bytearray, memoryview]) -> np.ndarray:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return np.frombuffer(source, dtype=np.uint8)
    return np.fromfile(os.fspath(source), dtype=np.uint8)


def verify_fits(
    source: Union[str, os.PathLike, bytes],
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
        ``CHECKSUM`` keyword.  HDUs without one are only structure-checked.
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
            hbytes, dbytes, keys = _parse_header(buf, offset, primary=not hdus)
        except _Corrupt as exc:
            if hdus and not buf[offset:].any():
                return bad(f"{size - offset} trailing zero bytes after last HDU", hdus=hdus)
            return bad(str(exc), hdus=hdus)
        end = offset + hbytes + dbytes
        if end > size:
            return bad(
                f"HDU {len(hdus)} needs {end - size} bytes more than the file has (truncated)",
                hdus=hdus,
            )
        has = "CHECKSUM" in keys
        ok: Optional[bool] = None
        if has and checksum:
            ok = ones_complement_sum(words[offset // 4 : end // 4]) == NEGATIVE_ZERO
        hdus.append(HduCheck(len(hdus), offset, end - offset, has, ok, keys.get("EXTNAME")))
        if ok is False:
            name = f" ({keys['EXTNAME']})" if keys.get("EXTNAME") else ""
            return bad(
                f"CHECKSUM of HDU {len(hdus) - 1}{name} fails: ones'-complement sum is not -0",
                "ChecksumError",
                hdus,
            )
        offset = end
    return FitsCheck(True, "", "", size, tuple(hdus))


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
