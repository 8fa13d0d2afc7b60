"""Read TESS and Kepler light-curve FITS products into :class:`~exoray.lightcurve.LightCurve`.

The product type is detected from the FITS *headers* (never the file name),
then one small table of per-product choices (flux column, TIC keyword, quality
column, ...) drives a single fast reader:

==================  =========================================  ====================
product             what                                       default flux column
==================  =========================================  ====================
``spoc_2min``       SPOC 2-min target light curve (TESS)       PDCSAP_FLUX
``spoc_fast``       SPOC 20-s target light curve (TESS)        PDCSAP_FLUX
``tess_spoc_ffi``   TESS-SPOC FFI HLSP (200/600/1800 s)        PDCSAP_FLUX
``qlp``             MIT Quick-Look Pipeline FFI HLSP           KSPSAP_FLUX
``tasoc``           TASOC (T'DA/Aarhus) FFI HLSP               FLUX_CORR
``eleanor``         GSFC eleanor-lite FFI HLSP                 CORR_FLUX
``kepler_lc``       Kepler long/short-cadence light curve      PDCSAP_FLUX
==================  =========================================  ====================

Speed: astropy parses the two headers (and validates the FITS structure); the
table bytes are then viewed with a NumPy structured dtype built from the
``TFORMn`` cards and only the needed columns are converted to native float64.
This avoids astropy's ``FITS_rec``/``Table``/``Time`` machinery, which costs
several times more than the whole read.  Unusual tables (heap columns,
unknown formats) fall back to astropy's column access.

Every cadence is kept, NaNs included; masking is the preprocessing stage's job.

Damaged files are refused before anything is read from them, each with a
message that names the file, the HDU or keyword at fault and what to do:
the FITS structure is checked first (every header ends in ``END``, sizes
declared by ``NAXISn``/``PCOUNT`` fit the file), then ``CHECKSUM``/``DATASUM``
when present (``verify=False`` skips that), then the value and range of every
header keyword the reader uses (:data:`HEADER_RANGES`) and of the TIME column.
Gzip-compressed files (``.fits.gz``) are decompressed in memory.
"""

from __future__ import annotations

import gzip
import io
import logging
import math
import os
import re
import warnings
import zlib
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from ..errors import (
    CorruptProductError,
    EmptyLightCurveError,
    ExorayError,
    ProductError,
    SchemaMismatchError,
    UnsupportedProductError,
)
from ..lightcurve import LightCurve
from ._fits_checksum import ChecksumError, verify_fits

__all__ = [
    "PRODUCTS",
    "DEFAULT_FLUX_COLUMNS",
    "HEADER_RANGES",
    "MAX_GUNZIP_BYTES",
    "detect_product",
    "read_lightcurve",
    "read_many",
]

logger = logging.getLogger(__name__)

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, io.IOBase]

_BLOCK = 2880  # FITS files are a whole number of 2880-byte blocks
_REDOWNLOAD = "delete the file and download it again"
_DAMAGED_HEADER = "the header is damaged; " + _REDOWNLOAD
_GZIP_MAGIC = b"\x1f\x8b"
#: Largest decompressed size accepted from a gzip-compressed file (a 20-s
#: TESS sector is ~30 MB); a larger one is refused instead of filling memory.
MAX_GUNZIP_BYTES = 1 << 30
#: |TIME| beyond this many days from the product's reference epoch (BJDREFI)
#: cannot come from an instrument: the column is damaged.
MAX_ABS_TIME_DAYS = 1.0e6

#: Products this module reads.
PRODUCTS = (
    "spoc_2min",
    "spoc_fast",
    "tess_spoc_ffi",
    "qlp",
    "tasoc",
    "eleanor",
    "kepler_lc",
)

#: Preferred flux column(s) per product; the first present one is used.
#: QLP renamed KSPSAP_* to DET_* from sector 56 on.
DEFAULT_FLUX_COLUMNS: Dict[str, Tuple[str, ...]] = {
    "spoc_2min": ("PDCSAP_FLUX",),
    "spoc_fast": ("PDCSAP_FLUX",),
    "tess_spoc_ffi": ("PDCSAP_FLUX",),
    "kepler_lc": ("PDCSAP_FLUX",),
    "qlp": ("KSPSAP_FLUX", "DET_FLUX"),
    "tasoc": ("FLUX_CORR",),
    "eleanor": ("CORR_FLUX",),
}

# Error column when "<FLUX>_ERR" is absent (QLP has no SAP_FLUX_ERR; eleanor
# has one FLUX_ERR for all its flux columns).
_FALLBACK_ERR_COLUMNS: Dict[str, Tuple[str, ...]] = {
    "qlp": ("KSPSAP_FLUX_ERR", "DET_FLUX_ERR"),
    "eleanor": ("FLUX_ERR",),
}

_TIC_KEYS = ("TICID", "TIC_ID", "TIC")
_STELLAR_HEADER_KEYS = {
    "tmag": ("TESSMAG", "TMAG"),
    "teff": ("TEFF",),
    "logg": ("LOGG",),
    "radius": ("RADIUS",),
    "mass": ("MASS",),
    "mh": ("MH", "FEH"),
    "ra": ("RA_OBJ", "RA"),
    "dec": ("DEC_OBJ", "DEC"),
}
_META_KEYS = {
    "object": "OBJECT",
    "origin": "ORIGIN",
    "procver": "PROCVER",
    "data_rel": "DATA_REL",
    "bjdrefi": "BJDREFI",
    "bjdreff": "BJDREFF",
    "crowdsap": "CROWDSAP",
    "flfrcsap": "FLFRCSAP",
    "kepmag": "KEPMAG",
    "channel": "CHANNEL",
    "module": "MODULE",
    "output": "OUTPUT",
}


# ---------------------------------------------------------------------------
# header helpers


def _get(headers: Sequence[Any], *keys: str, default=None):
    """First present, non-blank value of ``keys`` across ``headers`` (in order)."""
    for key in keys:
        for h in headers:
            if h is None or key not in h:
                continue
            v = h[key]
            if v is None or isinstance(v, fits.card.Undefined):
                continue
            if isinstance(v, str) and not v.strip():
                continue
            return v
    return default


#: Valid ranges (inclusive) of the header keywords the reader uses.  A value
#: outside its range, or of the wrong type, means a damaged header: the file
#: is refused with a message naming the keyword, rather than stored (an int16
#: CAMERA of 70000 or a TICID above 2**63 cannot be) or fed to the search.
HEADER_RANGES: Dict[str, Tuple[float, float]] = {
    "TICID": (0, 10**11 - 1),  # TIC IDs have at most 10 digits
    "TIC_ID": (0, 10**11 - 1),
    "TIC": (0, 10**11 - 1),
    "KEPLERID": (0, 10**11 - 1),  # KIC IDs have at most 8
    "SECTOR": (0, 9999),
    "QUARTER": (0, 17),
    "CAMERA": (1, 4),
    "CCD": (1, 4),
    "TIMEDEL": (1e-7, 1.0),  # days: 20 s ... 30 min in practice
    "NUM_FRM": (1, 10**6),
    "TFIELDS": (0, 999),  # FITS standard limit
    # stellar parameters (non-finite = unknown; eleanor writes TMAG = 999 for unknown)
    "TESSMAG": (-10.0, 1000.0),
    "TMAG": (-10.0, 1000.0),
    "TEFF": (0.0, 1.0e6),
    "LOGG": (-5.0, 15.0),
    "RADIUS": (0.0, 1.0e5),
    "MASS": (0.0, 1.0e4),
    "MH": (-10.0, 10.0),
    "FEH": (-10.0, 10.0),
    "RA_OBJ": (0.0, 360.0),
    "RA": (0.0, 360.0),
    "DEC_OBJ": (-90.0, 90.0),
    "DEC": (-90.0, 90.0),
}
_INTEGER_KEYS = {"TICID", "TIC_ID", "TIC", "KEPLERID", "SECTOR", "QUARTER", "CAMERA", "CCD", "NUM_FRM", "TFIELDS"}


def _present(h, key) -> bool:
    if h is None or key not in h:
        return False
    v = h[key]
    if v is None or isinstance(v, fits.card.Undefined):
        return False
    return not (isinstance(v, str) and not v.strip())


def _header_value(headers: Sequence[Any], keys: Sequence[str], label: str, *, unknown_ok: bool = False):
    """The first present value of ``keys`` across ``headers``, checked against :data:`HEADER_RANGES`.

    Returns ``None`` when no key is present (or, with ``unknown_ok``, when the
    value is NaN, the usual "unknown" of a stellar parameter).  Raises
    :class:`CorruptProductError` naming the keyword when the value is not a
    number, not an integer where one is needed, or outside its range.
    """
    for key in keys:
        for h in headers:
            if _present(h, key):
                return _checked_value(h[key], key, label, unknown_ok)
    return None


def _checked_value(v, key: str, label: str, unknown_ok: bool = False):
    integer = key in _INTEGER_KEYS
    lo, hi = HEADER_RANGES[key]
    shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:37] + "..."
    kind = "an integer" if integer else "a number"

    def bad(problem: str):
        return CorruptProductError(label, f"header keyword {key} = {shown} {problem}; {_DAMAGED_HEADER}")

    if isinstance(v, (bool, np.bool_)):
        raise bad(f"is a logical (T/F), not {kind}")
    if isinstance(v, str):
        try:
            v = int(v.strip()) if integer else float(v.strip())
        except ValueError:
            try:
                v = float(v.strip())
            except ValueError:
                raise bad(f"is not {kind}") from None
    try:
        f = float(v)
    except OverflowError:
        raise bad(f"is outside the valid range {lo:g}..{hi:g}") from None
    except (TypeError, ValueError):
        raise bad(f"is not {kind}") from None
    if math.isnan(f) and unknown_ok:
        return None
    if not math.isfinite(f):
        raise bad(f"is not a finite {kind[2:] if integer else 'number'}")
    if integer:
        if f != int(f):
            raise bad("is not an integer")
        if not lo <= int(v) <= hi:
            raise bad(f"is outside the valid range {lo:g}..{hi:g}")
        return int(v)
    if not lo <= f <= hi:
        raise bad(f"is outside the valid range {lo:g}..{hi:g}")
    return f


def _as_float(v) -> Optional[float]:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _as_int(v) -> Optional[int]:
    f = _as_float(v)
    return None if f is None else int(f)


def _column_names(header, label: str = "<file>") -> List[str]:
    if header is None:
        return []
    n = _header_value((header,), ("TFIELDS",), label) or 0
    return [str(header.get(f"TTYPE{i}", "")).strip() for i in range(1, n + 1)]


def _is_bintable(header) -> bool:
    return header is not None and str(header.get("XTENSION", "")).strip().upper() == "BINTABLE"


def _timedel_s(primary, ext, label: str = "<file>") -> Optional[float]:
    td = _header_value((ext, primary), ("TIMEDEL",), label)
    return None if td is None else td * 86400.0


def _detect(primary, ext, label: str) -> str:
    """Product type from the primary header and the first extension header."""
    origin = str(primary.get("ORIGIN", "") or "").strip().lower()
    telescop = str(primary.get("TELESCOP", primary.get("MISSION", "")) or "").strip().lower()
    creator = str(primary.get("CREATOR", "") or "").strip().lower()
    hlsp = " ".join(
        str(primary.get(k, "") or "") for k in ("HLSPID", "HLSPNAME", "HLSPACRN", "HLSPTARG")
    ).lower()
    cols = {c.upper() for c in _column_names(ext, label)}

    if "targetpixel" in creator or (ext is not None and "FLUX" in cols and "RAW_CNTS" in cols):
        raise UnsupportedProductError(
            label, "this is a target pixel file, not a light curve; build a light curve from it first"
        )
    if not _is_bintable(ext):
        raise UnsupportedProductError(
            label,
            "valid FITS but not a light curve: the first extension is not a binary table "
            f"(XTENSION={None if ext is None else ext.get('XTENSION')!r})",
        )
    if "mit/qlp" in origin or re.search(r"\bqlp\b", hlsp):
        return "qlp"
    if ("LITE" in primary and "PCORIGIN" in primary) or (
        "TIC_ID" in primary and {"RAW_FLUX", "CORR_FLUX"} <= cols
    ):
        return "eleanor"
    if "tasoc" in origin or {"FLUX_RAW", "FLUX_CORR"} <= cols:
        return "tasoc"
    lc_like = "lightcurve" in creator or "fluxexporter" in creator or "PDCSAP_FLUX" in cols
    if telescop == "kepler" and lc_like:
        mission = str(primary.get("MISSION", "") or "").strip().upper()
        if mission == "K2" or "CAMPAIGN" in primary:
            raise UnsupportedProductError(label, "K2 light curves are not supported (Kepler and TESS only)")
        return "kepler_lc"
    if telescop == "tess" and lc_like:
        if "tess-spoc" in hlsp:
            return "tess_spoc_ffi"
        cad = _timedel_s(primary, ext, label)
        if cad is None:
            nfrm = _header_value((ext, primary), ("NUM_FRM",), label)
            cad = None if nfrm is None else 2.0 * nfrm  # 2-s frames
        if cad is not None and cad <= 40.0:
            return "spoc_fast"
        if cad is not None and cad >= 150.0:
            return "tess_spoc_ffi"
        return "spoc_2min"
    raise UnsupportedProductError(
        label,
        "valid FITS but not a light-curve product exoray knows "
        f"(ORIGIN={primary.get('ORIGIN')!r}, TELESCOP={primary.get('TELESCOP')!r}, "
        f"CREATOR={primary.get('CREATOR')!r}, columns={sorted(cols)[:12]}); "
        f"supported products: {', '.join(PRODUCTS)}",
    )


def detect_product(hdulist: fits.HDUList) -> str:
    """Detect the light-curve product type of an open FITS file from its headers.

    Only header keywords are used (``ORIGIN``, ``TELESCOP``, ``CREATOR``,
    HLSP keywords, ``TIMEDEL`` and the ``TTYPEn`` column names of the first
    extension); the file name never matters.

    Parameters
    ----------
    hdulist : astropy.io.fits.HDUList
        An open FITS file.

    Returns
    -------
    str
        One of :data:`PRODUCTS`: ``'spoc_2min'``, ``'spoc_fast'`` (20 s),
        ``'tess_spoc_ffi'``, ``'qlp'``, ``'tasoc'``, ``'eleanor'``,
        ``'kepler_lc'``.

    Raises
    ------
    UnsupportedProductError
        Valid FITS that is not a light curve exoray can read (an image, a
        target pixel file, a K2 or unknown HLSP product).
    """
    label = _hdulist_label(hdulist)
    primary = hdulist[0].header
    try:
        ext = hdulist[1].header
    except IndexError:
        ext = None
    return _detect(primary, ext, label)


def _hdulist_label(hdulist) -> str:
    try:
        name = hdulist.filename()
    except (AttributeError, TypeError):
        name = None
    return str(name) if name else "<HDUList>"


# ---------------------------------------------------------------------------
# table access without FITS_rec

_TFORM_RE = re.compile(r"^\s*(\d*)\s*([LXBIJKAEDCMPQ])", re.IGNORECASE)
_NUMERIC_TFORMS = set("LBIJKED")
_TFORM_DTYPE = {
    "L": "i1",
    "B": "u1",
    "I": ">i2",
    "J": ">i4",
    "K": ">i8",
    "E": ">f4",
    "D": ">f8",
    "C": ">c8",
    "M": ">c16",
}


class _Table:
    """Columns of one binary-table HDU viewed straight from the file bytes.

    ``array`` is ``None`` when the table has formats the fast path does not
    handle; :meth:`column` then asks astropy.
    """

    def __init__(self, header, raw: bytes, data_offset: int, label: str):
        self.header = header
        self.label = label
        self.raw = raw
        self.nrows = _as_int(header.get("NAXIS2")) or 0
        self.row_bytes = _as_int(header.get("NAXIS1")) or 0
        self.names = _column_names(header, label)
        self.index = {n.upper(): i for i, n in reversed(list(enumerate(self.names)))}
        self.repeat: List[int] = []
        self.array = self._structured(data_offset)

    def _structured(self, offset: int) -> Optional[np.ndarray]:
        names, formats, offsets = [], [], []
        pos = 0
        self.codes: List[str] = []
        for i in range(len(self.names)):
            tform = str(self.header.get(f"TFORM{i + 1}", ""))
            m = _TFORM_RE.match(tform)
            if m is None:
                self.repeat, self.codes = [], []
                return None
            r = int(m.group(1)) if m.group(1) else 1
            if r > self.row_bytes * 8:  # no column can be wider than the row (X counts bits)
                self.repeat, self.codes = [], []
                return None
            code = m.group(2).upper()
            self.repeat.append(r)
            self.codes.append(code)
            if code == "A":
                fmt, size = f"S{max(r, 1)}", r
            elif code == "X":
                size = (r + 7) // 8
                fmt = ("u1", (size,))
            elif code in ("P", "Q"):
                base = ">i4" if code == "P" else ">i8"
                fmt, size = (base, (2,)), 8 if code == "P" else 16
            else:
                dt = np.dtype(_TFORM_DTYPE[code])
                fmt = dt if r == 1 else (dt, (r,))
                size = dt.itemsize * r
            if size > 0:
                names.append(f"c{i}")
                formats.append(fmt)
                offsets.append(pos)
            pos += size
        if pos != self.row_bytes:
            self.repeat, self.codes = [], []
            return None
        dtype = np.dtype(
            {"names": names, "formats": formats, "offsets": offsets, "itemsize": max(pos, 1)}
        )
        return np.frombuffer(self.raw, dtype=dtype, count=self.nrows, offset=offset)

    def has(self, name: str) -> bool:
        return name.upper() in self.index

    def column(self, name: str, dtype) -> np.ndarray:
        """One scalar column as a native-endian ``dtype`` array (scaling applied)."""
        i = self.index[name.upper()]
        codes = getattr(self, "codes", [])
        if self.array is not None and codes and codes[i] not in _NUMERIC_TFORMS:
            raise SchemaMismatchError(
                self.label,
                f"column {self.names[i]!r} has TFORM{i + 1} = {self.header.get(f'TFORM{i + 1}')!r}, not a "
                "real number; the table is damaged or not a light curve, " + _REDOWNLOAD,
            )
        if self.repeat and self.repeat[i] != 1:
            raise SchemaMismatchError(
                self.label,
                f"column {self.names[i]!r} holds {self.repeat[i]} values per row; "
                "a light-curve column must hold one",
            )
        scale = self._scaling(f"TSCAL{i + 1}")
        zero = self._scaling(f"TZERO{i + 1}")
        if self.array is not None:
            col = self.array[f"c{i}"]
            if (scale not in (None, 1.0)) or (zero not in (None, 0.0)):
                col = col.astype(np.float64) * (1.0 if scale is None else scale) + (zero or 0.0)
            return np.ascontiguousarray(col, dtype=dtype)
        return np.ascontiguousarray(self._astropy_column(i), dtype=dtype)

    def _scaling(self, key: str) -> Optional[float]:
        if not _present(self.header, key):
            return None
        v = self.header[key]
        f = None if isinstance(v, (bool, np.bool_, str)) else _as_float(v)
        if f is None:
            raise CorruptProductError(self.label, f"header keyword {key} = {v!r} is not a finite number; "
                                                  f"{_DAMAGED_HEADER}")
        return f

    def _astropy_column(self, i: int) -> np.ndarray:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with fits.open(io.BytesIO(self.raw), memmap=False) as hdul:
                    return np.array(hdul[1].data.field(i), dtype=np.float64)
        except Exception as exc:  # noqa: BLE001 - astropy on a damaged table raises anything
            raise CorruptProductError(
                self.label, f"cannot read column {self.names[i]!r} with TFORM{i + 1} = "
                f"{self.header.get(f'TFORM{i + 1}')!r} ({type(exc).__name__}: {exc}); {_REDOWNLOAD}"
            ) from exc


# ---------------------------------------------------------------------------
# public readers


def _load(source: Source, name: Optional[str]) -> Tuple[bytes, str]:
    """Raw bytes and a label for error messages."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        with open(path, "rb") as fh:  # FileNotFoundError propagates unchanged
            raw = fh.read()
        return raw, str(name or path)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), str(name or "<bytes>")
    read = getattr(source, "read", None)
    if read is None:
        raise TypeError(
            f"source must be a path, bytes or a binary file object, not {type(source).__name__}"
        )
    raw = read()
    if isinstance(raw, str):
        raise TypeError("source file object is in text mode; open it with 'rb'")
    label = name or getattr(source, "name", None) or "<file object>"
    return bytes(raw), str(label)


def _gunzip(raw: bytes, label: str, limit: Optional[int] = None) -> bytes:
    """The decompressed bytes of a gzip-compressed file, at most ``limit`` (:data:`MAX_GUNZIP_BYTES`)."""
    limit = MAX_GUNZIP_BYTES if limit is None else int(limit)
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
            out = gz.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptProductError(
            label, f"gzip-compressed file cannot be decompressed ({type(exc).__name__}: {exc}); {_REDOWNLOAD}"
        ) from exc
    if len(out) > limit:
        raise CorruptProductError(
            label, f"gzip-compressed file expands to more than {limit} bytes, far more than any "
            f"light curve; it is not a light-curve product or it is damaged; {_REDOWNLOAD}"
        )
    return out


_STRING_VALUE = re.compile(r"'((?:[^']|'')*)'")
_MAX_HEADER_BLOCKS = 100


class _FastHeader:
    """Read-only keyword -> value view of raw 80-byte header cards.

    Values are parsed on first access (strings, logicals, ints, floats; a
    blank value is ``None``).  The first card of a keyword wins, as with
    ``astropy.io.fits.Header[key]``.  Only used for well-formed SIMPLE /
    BINTABLE headers; anything unusual goes through astropy instead.
    """

    __slots__ = ("_raw", "_parsed")

    def __init__(self, raw_cards: Dict[str, bytes]):
        self._raw = raw_cards
        self._parsed: Dict[str, Any] = {}

    def __contains__(self, key) -> bool:
        return key in self._raw

    def __getitem__(self, key):
        try:
            return self._parsed[key]
        except KeyError:
            value = self._parsed[key] = _card_value(self._raw[key])
            return value

    def get(self, key, default=None):
        return self[key] if key in self._raw else default


def _card_value(field: bytes):
    text = field.decode("ascii", "replace").strip()
    if text.startswith("'"):
        m = _STRING_VALUE.match(text)
        return m.group(1).replace("''", "'").rstrip() if m else text
    token = text.split("/", 1)[0].strip()
    if not token:
        return None
    if token in ("T", "F"):
        return token == "T"
    try:
        return int(token)
    except ValueError:
        pass
    try:
        return float(token.replace("D", "E"))
    except ValueError:
        return token


def _fast_header(raw: bytes, start: int) -> Optional[Tuple[_FastHeader, int]]:
    """Cards of the header starting at ``start`` and the offset just past its END."""
    cards: Dict[str, bytes] = {}
    pos, n = start, len(raw)
    for _ in range(_MAX_HEADER_BLOCKS):
        if pos + _BLOCK > n:
            return None
        block = raw[pos : pos + _BLOCK]
        pos += _BLOCK
        for i in range(0, _BLOCK, 80):
            key = block[i : i + 8].rstrip()
            if key == b"END":
                return _FastHeader(cards), pos
            if block[i + 8 : i + 10] == b"= ":
                k = key.decode("ascii", "replace")
                if k not in cards:
                    cards[k] = block[i + 10 : i + 80]
    return None


def _fast_headers(raw: bytes):
    """Primary + BINTABLE headers without astropy, or ``None`` if anything is unusual."""
    if not raw.startswith(b"SIMPLE  =                    T"):
        return None
    got = _fast_header(raw, 0)
    if got is None:
        return None
    primary, ext_start = got
    if primary.get("NAXIS") != 0:
        return None  # primary data array: let astropy size it
    if not raw.startswith(b"XTENSION= 'BINTABLE'", ext_start):
        return None
    got = _fast_header(raw, ext_start)
    if got is None:
        return None
    ext, data_offset = got
    if ext.get("NAXIS") != 2 or not isinstance(ext.get("NAXIS1"), int):
        return None
    if not isinstance(ext.get("NAXIS2"), int) or not isinstance(ext.get("TFIELDS"), int):
        return None
    return primary, ext, data_offset


def _open_headers(raw: bytes, label: str):
    """Parse primary + first-extension headers; return (primary, ext, ext_data_offset).

    Well-formed files take a fast path that reads the header cards directly;
    everything else is parsed (and diagnosed) by astropy.
    """
    fast = _fast_headers(raw)
    if fast is not None:
        return fast
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            with fits.open(io.BytesIO(raw), memmap=False, lazy_load_hdus=True) as hdul:
                primary = hdul[0].header
                p_info = hdul[0].fileinfo()
                try:
                    hdu1 = hdul[1]
                except IndexError:
                    if p_info["datLoc"] + p_info["datSpan"] >= len(raw):
                        return primary, None, None  # a genuine primary-only file
                    raise
                return primary, hdu1.header, hdu1.fileinfo()["datLoc"]
    except Exception as exc:  # noqa: BLE001 - astropy on damaged bytes raises anything
        raise CorruptProductError(
            label, f"not a readable FITS file ({type(exc).__name__}: {exc}); {_REDOWNLOAD}"
        ) from exc


def _pick_flux_column(table: _Table, product: str, forced: Optional[str], label: str) -> str:
    if forced is not None:
        if not table.has(forced):
            raise SchemaMismatchError(
                label,
                f"flux_column={forced!r} is not in this {product} file; "
                f"available columns: {', '.join(table.names)}",
            )
        return table.names[table.index[forced.upper()]]
    for cand in DEFAULT_FLUX_COLUMNS[product]:
        if table.has(cand):
            return table.names[table.index[cand.upper()]]
    raise SchemaMismatchError(
        label,
        f"required flux column {' or '.join(DEFAULT_FLUX_COLUMNS[product])} is missing from this "
        f"{product} file; available columns: {', '.join(table.names)}",
    )


def _pick_err_column(table: _Table, product: str, flux_col: str) -> Optional[str]:
    for cand in (f"{flux_col}_ERR",) + _FALLBACK_ERR_COLUMNS.get(product, ()):
        if table.has(cand):
            return table.names[table.index[cand.upper()]]
    return None


def read_lightcurve(
    source: Source, *, flux_column: Optional[str] = None, name: Optional[str] = None, verify: bool = True,
    max_gunzip_bytes: Optional[int] = None,
) -> LightCurve:
    """Read one TESS/Kepler light-curve FITS product.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        A path, the file's bytes (Serve uploads, pyarrow filesystem reads) or
        an object with ``read()`` returning bytes.
    flux_column : str, optional
        Column to read as ``flux`` (case-insensitive), e.g. ``'SAP_FLUX'``.
        Default: the product's best (:data:`DEFAULT_FLUX_COLUMNS`).  ``flux_err``
        comes from ``<flux_column>_ERR`` when present (QLP/eleanor: their
        single error column; otherwise NaN).
    name : str, optional
        Label used in error messages and as ``source_path`` (default: the
        path, or ``'<bytes>'``).
    verify : bool
        Check ``CHECKSUM``/``DATASUM`` of every HDU that carries them (the
        raw ones'-complement test, :mod:`exoray.ingest._fits_checksum`) and
        refuse a file whose bytes were altered.  The FITS structure is
        checked either way.
    max_gunzip_bytes : int, optional
        Largest size a gzip-compressed source may expand to (default
        :data:`MAX_GUNZIP_BYTES`); a service reading uploads sets it lower.

    Returns
    -------
    LightCurve
        Every cadence of the product, NaNs included.  ``meta`` holds extra
        header values (``origin``, ``bjdrefi``, ``crowdsap``, ``kepmag``,
        ``flux_err_column``, ``quality_column``, ...) when present.

    Raises
    ------
    FileNotFoundError
        ``source`` is a path that does not exist.
    CorruptProductError
        Not FITS, truncated or structurally broken, a checksum fails
        (:class:`~exoray.ingest._fits_checksum.ChecksumError`), a header value
        is not valid (:data:`HEADER_RANGES`) or TIME is not strictly
        increasing; the message names the keyword or column.  Delete and
        re-download.
    UnsupportedProductError
        Valid FITS but not a supported light-curve product.
    SchemaMismatchError
        A required column or keyword (TIME, the flux column, TIC ID, sector)
        is missing, or the forced ``flux_column`` is absent.
    EmptyLightCurveError
        The file is empty, the table has no rows, or the flux has no finite
        value.

    Examples
    --------
    >>> lc = read_lightcurve("tess2018206045859-s0001-0000000261136679-0120-s_lc.fits")  # doctest: +SKIP
    >>> lc.label, lc.product, lc.cadence_s  # doctest: +SKIP
    ('TIC 261136679 s1', 'spoc_2min', 120.0)
    """
    raw, label = _load(source, name)
    if raw[:2] == _GZIP_MAGIC:
        raw = _gunzip(raw, label, max_gunzip_bytes)
    if not raw:
        raise EmptyLightCurveError(label, f"file is empty (0 bytes); {_REDOWNLOAD}")
    if len(raw) % _BLOCK:
        raise CorruptProductError(
            label,
            f"size {len(raw)} bytes is not a multiple of the {_BLOCK}-byte FITS block, so the "
            f"file is truncated or not FITS; {_REDOWNLOAD}",
        )
    _check_structure(raw, label, verify)
    primary, ext, data_offset = _open_headers(raw, label)
    product = _detect(primary, ext, label)
    headers = (primary, ext)

    nrows = _as_int(ext.get("NAXIS2")) or 0
    row_bytes = _as_int(ext.get("NAXIS1")) or 0
    needed = data_offset + nrows * row_bytes
    if needed > len(raw):
        raise CorruptProductError(
            label,
            f"truncated: the light-curve table needs {needed} bytes but the file has "
            f"{len(raw)}; {_REDOWNLOAD}",
        )
    if nrows == 0:
        raise EmptyLightCurveError(label, f"the {product} light-curve table has no rows")

    table = _Table(ext, raw, data_offset, label)
    if not table.has("TIME"):
        raise SchemaMismatchError(
            label, f"required column TIME is missing; available columns: {', '.join(table.names)}"
        )
    flux_col = _pick_flux_column(table, product, flux_column, label)
    err_col = _pick_err_column(table, product, flux_col)

    flux = table.column(flux_col, np.float64)
    if not np.isfinite(flux).any():
        raise EmptyLightCurveError(
            label, f"column {flux_col} has no finite value in {nrows} rows (all NaN)"
        )
    time = table.column("TIME", np.float64)
    _check_time(time, label)
    flux_err = table.column(err_col, np.float64) if err_col else None
    q_col = next((c for c in ("QUALITY", "SAP_QUALITY") if table.has(c)), None)
    quality = table.column(q_col, np.int32) if q_col else None
    cen_col = table.column("MOM_CENTR1", np.float64) if table.has("MOM_CENTR1") else None
    cen_row = table.column("MOM_CENTR2", np.float64) if table.has("MOM_CENTR2") else None

    mission = "Kepler" if product == "kepler_lc" else "TESS"
    if mission == "Kepler":
        target = _header_value(headers, ("KEPLERID",), label)
        sector = _header_value(headers, ("QUARTER",), label)
    else:
        target = _header_value(headers, _TIC_KEYS, label)
        sector = _header_value(headers, ("SECTOR",), label)
    if target is None:
        target = _target_from_object(_get(headers, "OBJECT"))
    if target is None or sector is None:
        missing = "target ID (TICID/TIC_ID/KEPLERID/OBJECT)" if target is None else (
            "QUARTER" if mission == "Kepler" else "SECTOR"
        )
        raise SchemaMismatchError(label, f"required header keyword {missing} is missing")

    timedel_s = _timedel_s(primary, ext, label)
    cadence = timedel_s
    if cadence is None:
        dt = np.diff(time[np.isfinite(time)])
        cadence = float(np.median(dt)) * 86400.0 if dt.size else float("nan")
    cadence = round(cadence, 3)

    stellar = {k: _header_value(headers, keys, label, unknown_ok=True) for k, keys in _STELLAR_HEADER_KEYS.items()}
    if mission == "Kepler":
        stellar["tmag"] = None  # Kepler magnitude goes to meta["kepmag"]
    if stellar["tmag"] is not None and stellar["tmag"] >= 99.0:
        stellar["tmag"] = None  # eleanor writes TMAG = 999 when unknown
    meta: Dict[str, Any] = {k: _get(headers, key) for k, key in _META_KEYS.items()}
    meta = {k: v for k, v in meta.items() if v is not None}
    unit = table.header.get(f"TUNIT{table.index[flux_col.upper()] + 1}")
    meta.update(
        # the flux column's own unit (TUNITn), e.g. "e-/s", "ppm"; None when the product gives none
        flux_unit=(str(unit).strip() or None) if unit is not None else None,
        flux_err_column=err_col,
        quality_column=q_col,
        timedel_s=timedel_s,
        time_system="BKJD" if mission == "Kepler" else "BTJD",
    )

    return LightCurve(
        tic_id=target,
        sector=sector,
        time=time,
        flux=flux,
        flux_err=flux_err,
        quality=quality,
        mission=mission,
        camera=None if mission == "Kepler" else _header_value(headers, ("CAMERA",), label),
        ccd=None if mission == "Kepler" else _header_value(headers, ("CCD",), label),
        cadence_s=cadence,
        product=product,
        flux_column=flux_col,
        source_path=label,
        centroid_col=cen_col,
        centroid_row=cen_row,
        meta=meta,
        **stellar,
    )


def _check_structure(raw: bytes, label: str, verify: bool) -> None:
    """Refuse a file whose FITS structure is broken or (``verify``) whose checksums fail."""
    check = verify_fits(raw, checksum=verify)
    if check.ok:
        return
    if check.error == "ChecksumError":
        raise ChecksumError(
            label, f"{check.reason}; {_REDOWNLOAD} (or, to read it anyway, turn verification off: "
            "exoray sweep --no-verify, read_lightcurve(..., verify=False))"
        )
    raise CorruptProductError(label, f"broken FITS structure: {check.reason}; {_REDOWNLOAD}")


def _check_time(time: np.ndarray, label: str) -> None:
    """TIME must hold finite, strictly increasing, plausible values (NaN rows are allowed)."""
    finite = np.isfinite(time)
    n = int(finite.sum())
    if n < 2:
        raise EmptyLightCurveError(
            label, f"column TIME has {n} finite value{'s' if n != 1 else ''} in {time.size} rows; "
            "a light curve needs at least two timestamps"
        )
    rows = np.flatnonzero(finite)
    t = time[rows]
    far = np.flatnonzero(np.abs(t) > MAX_ABS_TIME_DAYS)
    if far.size:
        i = int(rows[far[0]])
        raise CorruptProductError(
            label, f"column TIME holds {float(time[i])!r} d at row {i}, more than {MAX_ABS_TIME_DAYS:g} d from the "
            f"product's reference epoch (BJDREFI); the column is damaged; {_REDOWNLOAD}"
        )
    back = np.flatnonzero(np.diff(t) <= 0)
    if back.size:
        i, j = int(rows[back[0]]), int(rows[back[0] + 1])
        what = "is constant" if t[0] == t[-1] else "is not strictly increasing"
        raise CorruptProductError(
            label, f"column TIME {what}: row {j} (TIME = {float(time[j])!r}) does not come after row {i} "
            f"(TIME = {float(time[i])!r}); the table is damaged; {_REDOWNLOAD}"
        )


def _target_from_object(obj) -> Optional[int]:
    m = re.match(r"^\s*(?:TIC|KIC)\s*(\d+)\s*$", str(obj or ""), re.IGNORECASE)
    return int(m.group(1)) if m else None


def _source_label(source, name: Optional[str]) -> str:
    if name:
        return str(name)
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    return str(getattr(source, "name", None) or "<file object>")


def read_many(
    sources: Iterable[Union[Source, Tuple[str, Source]]], **kw
) -> Tuple[List[LightCurve], List[Dict[str, str]]]:
    """Read many light curves, quarantining the bad ones instead of stopping.

    Parameters
    ----------
    sources : iterable
        Paths, bytes or file objects, or ``(name, source)`` pairs where
        ``name`` labels bytes/file-object sources.
    **kw
        Passed to :func:`read_lightcurve` (e.g. ``flux_column``).

    Returns
    -------
    lightcurves : list of LightCurve
        The files that read, in input order.
    quarantine : list of dict
        One ``{"path", "stage": "read", "error", "message"}`` dict per file
        that failed (:data:`exoray.schemas.QUARANTINE_SCHEMA` without the
        timestamp); ``error`` is the exception class name.

    Notes
    -----
    Exoray's own errors (corrupt, unsupported, schema, empty) and OS errors
    (missing or unreadable file) are quarantined and logged at WARNING;
    anything else is a bug and propagates.
    """
    good: List[LightCurve] = []
    bad: List[Dict[str, str]] = []
    for item in sources:
        name = kw.get("name")
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            name, item = item
        label = _source_label(item, name)
        opts = dict(kw, name=name)
        try:
            good.append(read_lightcurve(item, **opts))
        except (ExorayError, OSError) as exc:
            message = exc.reason if isinstance(exc, ProductError) else str(exc)
            logger.warning("skipping %s: %s: %s", label, type(exc).__name__, message)
            bad.append(
                {"path": label, "stage": "read", "error": type(exc).__name__, "message": str(exc)}
            )
    logger.info("read %d light curves, quarantined %d", len(good), len(bad))
    return good, bad
