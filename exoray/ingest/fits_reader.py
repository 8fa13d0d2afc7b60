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
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import warnings
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

__all__ = [
    "PRODUCTS",
    "DEFAULT_FLUX_COLUMNS",
    "detect_product",
    "read_lightcurve",
    "read_many",
]

logger = logging.getLogger(__name__)

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, io.IOBase]

_BLOCK = 2880  # FITS files are a whole number of 2880-byte blocks
_REDOWNLOAD = "delete the file and download it again"

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


def _as_float(v) -> Optional[float]:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _as_int(v) -> Optional[int]:
    f = _as_float(v)
    return None if f is None else int(f)


def _column_names(header) -> List[str]:
    if header is None:
        return []
    n = _as_int(header.get("TFIELDS")) or 0
    return [str(header.get(f"TTYPE{i}", "")).strip() for i in range(1, n + 1)]


def _is_bintable(header) -> bool:
    return header is not None and str(header.get("XTENSION", "")).strip().upper() == "BINTABLE"


def _timedel_s(primary, ext) -> Optional[float]:
    td = _as_float(_get((ext, primary), "TIMEDEL"))
    if td is None or td <= 0:
        return None
    return td * 86400.0


def _detect(primary, ext, label: str) -> str:
    """Product type from the primary header and the first extension header."""
    origin = str(primary.get("ORIGIN", "") or "").strip().lower()
    telescop = str(primary.get("TELESCOP", primary.get("MISSION", "")) or "").strip().lower()
    creator = str(primary.get("CREATOR", "") or "").strip().lower()
    hlsp = " ".join(
        str(primary.get(k, "") or "") for k in ("HLSPID", "HLSPNAME", "HLSPACRN", "HLSPTARG")
    ).lower()
    cols = {c.upper() for c in _column_names(ext)}

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
        cad = _timedel_s(primary, ext)
        if cad is None:
            nfrm = _as_int(_get((ext, primary), "NUM_FRM"))
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
        self.names = _column_names(header)
        self.index = {n.upper(): i for i, n in reversed(list(enumerate(self.names)))}
        self.repeat: List[int] = []
        self.array = self._structured(data_offset)

    def _structured(self, offset: int) -> Optional[np.ndarray]:
        names, formats, offsets = [], [], []
        pos = 0
        for i in range(len(self.names)):
            tform = str(self.header.get(f"TFORM{i + 1}", ""))
            m = _TFORM_RE.match(tform)
            if m is None:
                return None
            r = int(m.group(1)) if m.group(1) else 1
            code = m.group(2).upper()
            self.repeat.append(r)
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
        if self.repeat and self.repeat[i] != 1:
            raise SchemaMismatchError(
                self.label,
                f"column {self.names[i]!r} holds {self.repeat[i]} values per row; "
                "a light-curve column must hold one",
            )
        scale = _as_float(self.header.get(f"TSCAL{i + 1}"))
        zero = _as_float(self.header.get(f"TZERO{i + 1}"))
        if self.array is not None:
            col = self.array[f"c{i}"]
            if (scale not in (None, 1.0)) or (zero not in (None, 0.0)):
                col = col.astype(np.float64) * (1.0 if scale is None else scale) + (zero or 0.0)
            return np.ascontiguousarray(col, dtype=dtype)
        return np.ascontiguousarray(self._astropy_column(i), dtype=dtype)

    def _astropy_column(self, i: int) -> np.ndarray:
        try:
            with fits.open(io.BytesIO(self.raw), memmap=False) as hdul:
                return np.array(hdul[1].data.field(i))
        except (OSError, ValueError, TypeError, IndexError) as exc:
            raise CorruptProductError(
                self.label, f"cannot read column {self.names[i]!r} ({exc}); {_REDOWNLOAD}"
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
    except (OSError, ValueError, TypeError, IndexError, KeyError, EOFError) as exc:
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
    source: Source, *, flux_column: Optional[str] = None, name: Optional[str] = None
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
        Not FITS, truncated or structurally broken; delete and re-download.
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
    if not raw:
        raise EmptyLightCurveError(label, f"file is empty (0 bytes); {_REDOWNLOAD}")
    if len(raw) % _BLOCK:
        raise CorruptProductError(
            label,
            f"size {len(raw)} bytes is not a multiple of the {_BLOCK}-byte FITS block, so the "
            f"file is truncated or not FITS; {_REDOWNLOAD}",
        )
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
    flux_err = table.column(err_col, np.float64) if err_col else None
    q_col = next((c for c in ("QUALITY", "SAP_QUALITY") if table.has(c)), None)
    quality = table.column(q_col, np.int32) if q_col else None
    cen_col = table.column("MOM_CENTR1", np.float64) if table.has("MOM_CENTR1") else None
    cen_row = table.column("MOM_CENTR2", np.float64) if table.has("MOM_CENTR2") else None

    mission = "Kepler" if product == "kepler_lc" else "TESS"
    if mission == "Kepler":
        target = _as_int(_get(headers, "KEPLERID"))
        sector = _as_int(_get(headers, "QUARTER"))
    else:
        target = _as_int(_get(headers, *_TIC_KEYS))
        sector = _as_int(_get(headers, "SECTOR"))
    if target is None:
        target = _target_from_object(_get(headers, "OBJECT"))
    if target is None or sector is None:
        missing = "target ID (TICID/TIC_ID/KEPLERID/OBJECT)" if target is None else (
            "QUARTER" if mission == "Kepler" else "SECTOR"
        )
        raise SchemaMismatchError(label, f"required header keyword {missing} is missing")

    cadence = _timedel_s(primary, ext)
    if cadence is None:
        dt = np.diff(time[np.isfinite(time)])
        cadence = float(np.median(dt)) * 86400.0 if dt.size else float("nan")
    cadence = round(cadence, 3)

    stellar = {k: _as_float(_get(headers, *keys)) for k, keys in _STELLAR_HEADER_KEYS.items()}
    if mission == "Kepler":
        stellar["tmag"] = None  # Kepler magnitude goes to meta["kepmag"]
    if stellar["tmag"] is not None and stellar["tmag"] >= 99.0:
        stellar["tmag"] = None  # eleanor writes TMAG = 999 when unknown
    meta: Dict[str, Any] = {k: _get(headers, key) for k, key in _META_KEYS.items()}
    meta = {k: v for k, v in meta.items() if v is not None}
    meta.update(
        flux_err_column=err_col,
        quality_column=q_col,
        timedel_s=_timedel_s(primary, ext),
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
        camera=None if mission == "Kepler" else _as_int(_get(headers, "CAMERA")),
        ccd=None if mission == "Kepler" else _as_int(_get(headers, "CCD")),
        cadence_s=cadence,
        product=product,
        flux_column=flux_col,
        source_path=label,
        centroid_col=cen_col,
        centroid_row=cen_row,
        meta=meta,
        **stellar,
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
