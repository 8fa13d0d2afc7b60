"""The light-curve record every stage passes along.

A :class:`LightCurve` is what a reader returns (raw cadences, nothing
removed) and what the simulator and Serve build from arrays.  It maps 1:1 onto
a row of :data:`exoray.schemas.LIGHTCURVE_SCHEMA`.

:class:`PreprocessedLightCurve` is what preprocessing returns and what
``OUT/lightcurves/*.parquet`` holds (:data:`exoray.schemas.PREPROCESSED_SCHEMA`);
the search stage reads it back with :func:`exoray.schemas.read_preprocessed`.

Both convert to and from :mod:`lightkurve` objects (:meth:`LightCurve.to_lightkurve`,
:func:`from_lightkurve`), with time as an astropy ``Time`` in the mission's
barycentric day number (BTJD for TESS, BKJD for Kepler; TDB scale), so that a
light curve moves between the two libraries without anyone adding 2457000
by hand.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .errors import InputError

__all__ = ["LightCurve", "PreprocessedLightCurve", "STELLAR_KEYS", "HEADER_KEYS", "TIME_OFFSETS", "stored_fields",
           "from_lightkurve"]

#: Stellar parameters carried from the FITS header (``None`` when absent).
STELLAR_KEYS = ("tmag", "teff", "logg", "radius", "mass", "mh", "ra", "dec")

#: BJD of day 0 of each mission's time system: BTJD = BJD - 2457000, BKJD = BJD - 2454833.
TIME_OFFSETS = {"TESS": 2457000.0, "Kepler": 2454833.0}
#: lightkurve's astropy ``Time`` format of each system.
_TIME_FORMATS = {"TESS": "btjd", "Kepler": "bkjd"}
#: lightkurve / FITS header keywords of the stellar parameters.
_STELLAR_META = {"tmag": ("TESSMAG", "TMAG"), "teff": ("TEFF",), "logg": ("LOGG",), "radius": ("RADIUS",),
                 "mass": ("MASS",), "mh": ("MH", "FEH"), "ra": ("RA_OBJ", "RA"), "dec": ("DEC_OBJ", "DEC")}
#: Products whose flux is in electrons per second when the file does not say.
_E_PER_S_PRODUCTS = ("spoc_2min", "spoc_fast", "tess_spoc_ffi", "kepler_lc")
#: Julian dates bounding the missions' data: Kepler's first day (BKJD 0, 2009-01-01),
#: TESS's first science orbit (2018-07-25) and the end of K2 (2018-09-26).  Between
#: the last two, a time alone does not say which mission took it.
_JD_KEPLER_START = 2454833.0
_JD_TESS_START = 2458324.5
_JD_K2_END = 2458387.5


def _as_f64(x) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64))


@dataclass
class LightCurve:
    """One target observed in one sector (TESS) or quarter (Kepler).

    Attributes
    ----------
    tic_id : int
        TESS Input Catalog ID (Kepler: KIC ID).
    sector : int
        TESS sector, or Kepler quarter for ``mission == "Kepler"``.
    time : ndarray, float64
        Barycentric time, BTJD (BJD - 2457000) for TESS, BKJD (BJD - 2454833)
        for Kepler, as in the product.  May contain NaN.
    flux, flux_err : ndarray, float64
        The flux column named by ``flux_column``, in the product's units
        (e-/s for SPOC).  May contain NaN.
    quality : ndarray, int32
        Per-cadence quality bit flags (SPOC meanings for TESS; 0 where the
        product has none).
    cadence_s : float
        Nominal cadence in seconds (120 for SPOC 2-min, 1800/600/200 for FFI).
    product : str
        Product type detected from the headers, e.g. ``"spoc_2min"``,
        ``"tess_spoc_ffi"``, ``"qlp"``, ``"tasoc"``, ``"eleanor"``,
        ``"kepler_lc"``.
    flux_column : str
        Name of the column ``flux`` was read from.
    source_path : str
        Where the record came from (path or URI).
    centroid_col, centroid_row : ndarray or None
        Flux-weighted centroids (MOM_CENTR1/2) when the product has them.
    """

    tic_id: int
    sector: int
    time: np.ndarray
    flux: np.ndarray
    flux_err: np.ndarray
    quality: np.ndarray
    mission: str = "TESS"
    camera: Optional[int] = None
    ccd: Optional[int] = None
    cadence_s: float = 120.0
    product: str = "unknown"
    flux_column: str = "PDCSAP_FLUX"
    source_path: str = ""
    tmag: Optional[float] = None
    teff: Optional[float] = None
    logg: Optional[float] = None
    radius: Optional[float] = None
    mass: Optional[float] = None
    mh: Optional[float] = None
    ra: Optional[float] = None
    dec: Optional[float] = None
    centroid_col: Optional[np.ndarray] = None
    centroid_row: Optional[np.ndarray] = None
    #: not stored: what the reader knew beyond the columns (object name, flux unit, ...)
    meta: Dict[str, Any] = field(default_factory=dict, metadata={"stored": False})

    def __post_init__(self):
        self.tic_id = int(self.tic_id)
        self.sector = int(self.sector)
        self.time = _as_f64(self.time)
        self.flux = _as_f64(self.flux)
        n = self.time.size
        self.flux_err = (
            np.full(n, np.nan) if self.flux_err is None else _as_f64(self.flux_err)
        )
        self.quality = (
            np.zeros(n, np.int32)
            if self.quality is None
            else np.ascontiguousarray(np.asarray(self.quality, dtype=np.int32))
        )
        for name in ("centroid_col", "centroid_row"):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, _as_f64(v))
        for name in STELLAR_KEYS:
            v = getattr(self, name)
            if v is not None:
                v = float(v)
                setattr(self, name, v if math.isfinite(v) else None)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`~exoray.errors.InputError` if array lengths disagree."""
        n = self.time.size
        for name in ("flux", "flux_err", "quality", "centroid_col", "centroid_row"):
            v = getattr(self, name)
            if v is not None and v.shape != (n,):
                raise InputError(
                    f"{self.source_path or 'light curve'}: '{name}' has shape {v.shape}, "
                    f"expected ({n},) to match 'time'"
                )

    def __len__(self) -> int:
        return int(self.time.size)

    @property
    def label(self) -> str:
        """Short human label, e.g. ``TIC 261136679 s1``."""
        prefix = "KIC" if self.mission == "Kepler" else "TIC"
        unit = "q" if self.mission == "Kepler" else "s"
        return f"{prefix} {self.tic_id} {unit}{self.sector}"

    def stellar(self) -> Dict[str, Optional[float]]:
        return {k: getattr(self, k) for k in STELLAR_KEYS}

    def to_row(self) -> Dict[str, Any]:
        """One row of :data:`exoray.schemas.LIGHTCURVE_SCHEMA`."""
        return {name: getattr(self, name) for name in stored_fields(LightCurve)}

    def to_lightkurve(self):
        """This light curve as a :class:`lightkurve.TessLightCurve` (``KeplerLightCurve`` for Kepler).

        ``time`` is an astropy ``Time`` in BTJD (format ``"btjd"``, scale
        ``"tdb"``; BKJD for Kepler); ``flux`` and ``flux_err`` carry the
        product's unit (``meta["flux_unit"]`` as read from the file, else
        e-/s for SPOC and Kepler products, else dimensionless).  ``quality``
        and the centroids are columns; the TIC (KIC), sector (quarter),
        stellar parameters and source file are in ``meta`` under lightkurve's
        keywords (``TICID``, ``SECTOR``, ``TESSMAG``, ``TEFF``, ...).
        Cadences without a finite time are left out (astropy ``Time`` has no
        missing value).
        """
        import astropy.units as u

        keep = np.isfinite(self.time)
        unit = _flux_unit(self.meta.get("flux_unit"), self.product)
        cols = {"quality": self.quality[keep]}
        if self.centroid_col is not None and self.centroid_row is not None:
            cols["centroid_col"] = self.centroid_col[keep] * u.pix
            cols["centroid_row"] = self.centroid_row[keep] * u.pix
        return _make_lightkurve(self, self.time[keep], self.flux[keep] * unit, self.flux_err[keep] * unit, cols,
                                {"FLUX_ORIGIN": self.flux_column.lower()})

    @classmethod
    def from_lightkurve(cls, lk_lc, *, tic_id: Optional[int] = None, sector: Optional[int] = None,
                        mission: Optional[str] = None) -> "LightCurve":
        """An exoray light curve from any :class:`lightkurve.LightCurve`; see :func:`from_lightkurve`."""
        return from_lightkurve(lk_lc, tic_id=tic_id, sector=sector, mission=mission)


@dataclass
class PreprocessedLightCurve:
    """Output of :func:`exoray.preprocess.preprocess_lightcurve`.

    Only cadences that survived quality masking, NaN removal and outlier
    clipping are kept; ``time`` is sorted.  ``flux`` is normalised to a median
    of 1 per segment, ``trend`` is the fitted stellar/instrumental trend on the
    same scale and ``flux_flat = flux / trend`` is what transit search uses.
    ``segment`` numbers continuous stretches between gaps (0, 1, ...).
    ``centroid_col``/``centroid_row`` are the product's flux-weighted
    centroids (pixels) on the kept cadences, or ``None``;
    ``momentum_dump_times`` are the times (same system as ``time``) of all
    cadences flagged as reaction-wheel desaturations, before masking, for the
    vetting stage's systematics checks.  ``detrend_method``,
    ``detrend_window_days`` and ``rotation_period_days`` say how ``trend``
    was made, so that the search can rebuild it with found transits masked
    (:func:`exoray.preprocess.redetrend`).  ``object_name`` is the product's
    ``OBJECT`` keyword (e.g. ``"TIC 261136679"``), ``None`` when it has none.

    For notebooks: :meth:`to_lightkurve`, :meth:`fold` and :meth:`bin` give
    lightkurve objects (time in BTJD), and :meth:`plot` draws the light-curve
    panels of the vetting report.
    """

    tic_id: int
    sector: int
    time: np.ndarray
    flux: np.ndarray
    flux_err: np.ndarray
    trend: np.ndarray
    flux_flat: np.ndarray
    segment: np.ndarray
    mission: str = "TESS"
    camera: Optional[int] = None
    ccd: Optional[int] = None
    cadence_s: float = 120.0
    product: str = "unknown"
    flux_column: str = "PDCSAP_FLUX"
    source_path: str = ""
    tmag: Optional[float] = None
    teff: Optional[float] = None
    logg: Optional[float] = None
    radius: Optional[float] = None
    mass: Optional[float] = None
    mh: Optional[float] = None
    ra: Optional[float] = None
    dec: Optional[float] = None
    n_raw: int = 0
    n_quality_masked: int = 0
    n_nan: int = 0
    n_outliers: int = 0
    noise_ppm: float = float("nan")
    detrend_method: str = "biweight"
    detrend_window_days: float = float("nan")
    rotation_period_days: float = float("nan")
    preprocess_ms: float = float("nan")
    centroid_col: Optional[np.ndarray] = None
    centroid_row: Optional[np.ndarray] = None
    momentum_dump_times: Optional[np.ndarray] = None
    object_name: Optional[str] = None
    #: Only on a light curve stitched from several sectors
    #: (:func:`exoray.preprocess.stitch`), never stored: the sector of each
    #: cadence, and per sector (in time order) a :class:`SectorPart` saying
    #: where it came from and how its trend was made.
    cadence_sector: Optional[np.ndarray] = field(default=None, metadata={"stored": False})
    parts: Optional[Tuple["SectorPart", ...]] = field(default=None, metadata={"stored": False})

    def __post_init__(self):
        for name in ("time", "flux", "flux_err", "trend", "flux_flat"):
            setattr(self, name, _as_f64(getattr(self, name)))
        self.segment = np.ascontiguousarray(np.asarray(self.segment, dtype=np.int32))
        if self.cadence_sector is not None:
            self.cadence_sector = np.ascontiguousarray(np.asarray(self.cadence_sector, dtype=np.int32))
        for name in ("centroid_col", "centroid_row", "momentum_dump_times"):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, _as_f64(v))
        n = self.time.size
        for name in ("flux", "flux_err", "trend", "flux_flat", "segment", "centroid_col", "centroid_row",
                     "cadence_sector"):
            v = getattr(self, name)
            if v is not None and v.shape != (n,):
                raise InputError(f"{self.source_path}: '{name}' length differs from 'time'")

    def __len__(self) -> int:
        return int(self.time.size)

    #: Per-cadence arrays (a subset of cadences takes each of them).
    CADENCE_ARRAYS = ("time", "flux", "flux_err", "trend", "flux_flat", "segment", "centroid_col", "centroid_row",
                      "cadence_sector")

    @property
    def sectors(self) -> Tuple[int, ...]:
        """The sectors this light curve covers, in time order."""
        return tuple(p.sector for p in self.parts) if self.parts else (int(self.sector),)

    def to_row(self) -> Dict[str, Any]:
        """One row of :data:`exoray.schemas.PREPROCESSED_SCHEMA` (a single file's light curve)."""
        if self.parts:
            raise ValueError("a stitched light curve is not stored; store the light curve of each sector")
        return {name: getattr(self, name) for name in stored_fields(PreprocessedLightCurve)}


    @property
    def label(self) -> str:
        """Short human label, e.g. ``TIC 261136679 s1``."""
        prefix, unit = ("KIC", "q") if self.mission == "Kepler" else ("TIC", "s")
        return f"{prefix} {self.tic_id} {unit}{self.sector}"

    def to_lightkurve(self, column: str = "flux_flat"):
        """This light curve as a normalised :class:`lightkurve.TessLightCurve` (``KeplerLightCurve`` for Kepler).

        Parameters
        ----------
        column : {'flux_flat', 'flux'}
            What becomes lightkurve's ``flux``: the detrended flux the search
            uses (default) or the normalised flux before detrending.  The
            other one, ``trend`` and ``segment`` are kept as columns.

        ``time`` is an astropy ``Time`` in BTJD (``"btjd"``, TDB; BKJD for
        Kepler); fluxes are dimensionless (normalised to a median of 1) with
        ``meta["NORMALIZED"] = True``; ``flux_err`` is on the same scale as
        ``flux``.  TIC, sector and stellar parameters are in ``meta``.
        """
        import astropy.units as u

        if column not in ("flux_flat", "flux"):
            raise InputError(f"column={column!r}: choose 'flux_flat' (detrended) or 'flux' (normalised)")
        one = u.dimensionless_unscaled
        flat = column == "flux_flat"
        flux = self.flux_flat if flat else self.flux
        err = self.flux_err / self.trend if flat else self.flux_err
        cols = {"flux_normalised" if flat else "flux_flat": (self.flux if flat else self.flux_flat) * one,
                "trend": self.trend * one, "segment": self.segment}
        if self.centroid_col is not None and self.centroid_row is not None:
            cols["centroid_col"] = self.centroid_col * u.pix
            cols["centroid_row"] = self.centroid_row * u.pix
        return _make_lightkurve(self, self.time, flux * one, err * one, cols,
                                {"FLUX_ORIGIN": column, "NORMALIZED": True, "DETREND": self.detrend_method})

    def fold(self, period: float, t0: float, *, column: str = "flux_flat", **kwargs):
        """Fold on ``period`` (days) and mid-transit ``t0`` (BTJD): a :class:`lightkurve.FoldedLightCurve`.

        Its ``time`` is the time from mid-transit (days); ``.bin()``,
        ``.plot()`` and ``.scatter()`` work as in lightkurve.  ``kwargs`` go
        to :meth:`lightkurve.LightCurve.fold` (e.g. ``normalize_phase=True``).
        """
        for name, v in (("period", period), ("t0", t0)):
            if not (isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(float(v))):
                raise InputError(f"fold: '{name}' must be a finite number of days, got {v!r}")
        if not float(period) > 0:
            raise InputError(f"fold: 'period' must be > 0 days, got {period!r}")
        epoch = _mission_time(float(t0), self.mission)
        return self.to_lightkurve(column).fold(period=float(period), epoch_time=epoch, **kwargs)

    def bin(self, time_bin_size=None, *, column: str = "flux_flat", **kwargs):
        """Binned in time (``time_bin_size`` in days or an astropy Quantity): a lightkurve light curve.

        ``kwargs`` go to :meth:`lightkurve.LightCurve.bin` (``n_bins``,
        ``aggregate_func``, ...).
        """
        return self.to_lightkurve(column).bin(time_bin_size=time_bin_size, **kwargs)

    def plot(self, candidate=None, *, vet=None, figure=None):
        """Draw the vetting report's light-curve panels: a matplotlib ``Figure``.

        Top: normalised flux with its trend; bottom: the detrended flux with
        30-minute bins.  With a ``candidate`` (a candidates-table row or a
        mapping with ``period_days``/``t0_btjd``/``duration_hours``) its
        predicted transits are marked as on the report.  ``vet`` (the
        candidate's :func:`~exoray.vet.vet_candidate` result) adds the
        per-transit SNRs; ``figure`` draws into an existing figure.
        """
        # matplotlib is imported only when a plot is asked for
        from .plotting import lightcurve_figure

        return lightcurve_figure(self, candidate, vet=vet, figure=figure)


@dataclass(frozen=True)
class SectorPart:
    """One sector of a stitched light curve: its file and how its trend was made."""

    sector: int
    source_path: str
    detrend_method: str
    detrend_window_days: float
    rotation_period_days: float
    noise_ppm: float
    n_cadences: int


def stored_fields(record: type) -> Tuple[str, ...]:
    """The fields of a light-curve record that its Parquet row holds, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(record) if f.metadata.get("stored", True))


#: What a light curve says about its star and its file (TIC, sector, product,
#: stellar parameters, ...): the fields both records hold that are not
#: per-cadence arrays.  Preprocessing carries them over unchanged, and the
#: stored rows put them first.
HEADER_KEYS: Tuple[str, ...] = tuple(
    name for name in stored_fields(LightCurve)
    if name in stored_fields(PreprocessedLightCurve) and name not in PreprocessedLightCurve.CADENCE_ARRAYS)


def _flux_unit(unit_str: Optional[str], product: str):
    """astropy unit of a product's flux: its TUNIT if given, else by product type."""
    import astropy.units as u

    if unit_str:
        s = str(unit_str).strip()
        if s.replace(" ", "").lower() in ("e-/s", "e/s", "electron/s", "electrons/s"):
            return u.electron / u.s
        if s.lower() == "ppm":
            return u.def_unit("ppm", 1e-6 * u.dimensionless_unscaled)
        return u.Unit(s, parse_strict="silent")
    return u.electron / u.s if product in _E_PER_S_PRODUCTS else u.dimensionless_unscaled


def _mission_time(values, mission: str):
    """An astropy ``Time`` in the mission's day numbers (BTJD, or BKJD for Kepler), TDB."""
    import lightkurve  # noqa: F401 - importing it registers the 'btjd' and 'bkjd' Time formats
    from astropy.time import Time

    return Time(values, format=_TIME_FORMATS["Kepler" if mission == "Kepler" else "TESS"], scale="tdb")


def _make_lightkurve(lc, time, flux, flux_err, columns: Dict[str, Any], extra_meta: Dict[str, Any]):
    import lightkurve as lk

    kepler = lc.mission == "Kepler"
    meta: Dict[str, Any] = {
        "MISSION": lc.mission, "TELESCOP": lc.mission,
        "OBJECT": getattr(lc, "object_name", None) or (lc.meta.get("object") if hasattr(lc, "meta") else None)
        or f"{'KIC' if kepler else 'TIC'} {lc.tic_id}",
        "LABEL": f"{'KIC' if kepler else 'TIC'} {lc.tic_id}",
        "TARGETID": lc.tic_id, ("KEPLERID" if kepler else "TICID"): lc.tic_id,
        ("QUARTER" if kepler else "SECTOR"): lc.sector,
        "CAMERA": lc.camera, "CCD": lc.ccd, "FILENAME": lc.source_path or None,
        "TIMEDEL": lc.cadence_s / 86400.0 if lc.cadence_s and math.isfinite(lc.cadence_s) else None,
        "EXORAY_PRODUCT": lc.product,
    }
    for key, names in _STELLAR_META.items():
        meta[names[0]] = getattr(lc, key)
    meta.update(extra_meta)
    meta = {k: v for k, v in meta.items() if v is not None}
    t = _mission_time(np.asarray(time, dtype=np.float64), lc.mission)
    cls = lk.KeplerLightCurve if kepler else lk.TessLightCurve
    out = cls(time=t, flux=flux, flux_err=flux_err, meta=meta)
    for name, values in columns.items():
        out[name] = values
    return out


def _plain(values, unit=None) -> Optional[np.ndarray]:
    """A lightkurve column (Quantity, masked or not) as float64 with NaN where masked."""
    if values is None:
        return None
    mask = getattr(values, "mask", None)
    v = getattr(values, "unmasked", values)
    if unit is not None and hasattr(v, "to"):
        v = v.to(unit)
    v = np.array(getattr(v, "value", v), dtype=np.float64)
    if mask is not None and np.any(mask):
        v[np.asarray(mask, dtype=bool)] = np.nan
    return v


def _meta_get(meta, *keys):
    for k in keys:
        v = meta.get(k)
        if v is not None and not (isinstance(v, str) and not v.strip()):
            return v
    return None


def _meta_float(meta, keys) -> Optional[float]:
    v = _meta_get(meta, *keys)
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _meta_int(meta, key) -> Optional[int]:
    v = _meta_float(meta, (key,))
    return None if v is None else int(v)


def _target_id(meta, obj) -> Optional[int]:
    v = _meta_get(meta, "TICID", "TIC_ID", "TIC", "KEPLERID", "TARGETID")
    if v is None and obj is not None:
        for prefix in ("TIC", "KIC", "EPIC"):
            s = str(obj).strip().upper()
            if s.startswith(prefix):
                v = s[len(prefix):].strip(" -_")
                break
    try:
        return int(v) if v is not None else None
    except (TypeError, ValueError):
        return None


def from_lightkurve(lk_lc, *, tic_id: Optional[int] = None, sector: Optional[int] = None,
                    mission: Optional[str] = None) -> LightCurve:
    """An exoray :class:`LightCurve` from any :class:`lightkurve.LightCurve`.

    Time is converted from whatever astropy format and scale it has to the
    mission's system (BTJD for TESS, BKJD for Kepler/K2, TDB): a
    ``TessLightCurve`` read from a file, one folded back into plain JD, or
    one built from ISO dates all come out the same.  Flux and flux_err keep
    their values (the unit goes to ``meta["flux_unit"]``); ``quality`` and
    ``centroid_col``/``centroid_row`` columns are used when present.

    Parameters
    ----------
    lk_lc : lightkurve.LightCurve
    tic_id, sector : int, optional
        Needed only when ``lk_lc.meta`` has no ``TICID``/``KEPLERID``/
        ``TARGETID``/``OBJECT`` or no ``SECTOR``/``QUARTER``/``CAMPAIGN``.
    mission : {'TESS', 'Kepler'}, optional
        Default from ``meta["MISSION"]``/``TELESCOP``, else the time format
        (``btjd``/``bkjd``), else the mission's keywords in ``meta``
        (``TICID``/``SECTOR`` or ``KEPLERID``/``QUARTER``/``CAMPAIGN``),
        else the dates (TESS from its first sector, Kepler/K2 before).

    Raises
    ------
    InputError
        Not a lightkurve light curve; times before 2009 (typically BTJD day
        numbers that were read as JD: build the object with
        ``Time(t, format="btjd", scale="tdb")``); a time in the months when
        both Kepler/K2 and TESS observed and nothing says which; TESS times
        before TESS observed; no TIC or sector.
    """
    from astropy.time import Time

    t = getattr(lk_lc, "time", None)
    if not isinstance(t, Time) or not hasattr(lk_lc, "flux"):
        raise InputError(f"from_lightkurve: expected a lightkurve LightCurve (time as astropy Time), got "
                         f"{type(lk_lc).__name__}")
    meta = dict(getattr(lk_lc, "meta", {}) or {})
    tdb = t.tdb if t.scale != "tdb" else t
    jd1 = np.array(np.ma.filled(np.ma.asarray(tdb.jd1, dtype=np.float64), np.nan), dtype=np.float64, ndmin=1)
    jd2 = np.array(np.ma.filled(np.ma.asarray(tdb.jd2, dtype=np.float64), np.nan), dtype=np.float64, ndmin=1)
    jd = jd1 + jd2
    ok = np.isfinite(jd)
    if not ok.any():
        raise InputError("from_lightkurve: the light curve has no finite time")
    jd_min, jd_max = float(jd[ok].min()), float(jd[ok].max())
    if jd_min < _JD_KEPLER_START:
        year = 2000.0 + (jd_min - 2451545.0) / 365.25
        when = f"{-year + 1:.0f} BC" if year < 1 else f"year {year:.0f}"
        raise InputError(
            f"from_lightkurve: time starts at JD {jd_min:.1f} ({when}), before Kepler and TESS: these "
            f"look like BTJD/BKJD day numbers read as JD.  Build the lightkurve object with "
            f"time=Time(t, format='btjd', scale='tdb') (TESS) or format='bkjd' (Kepler), or pass "
            f"exoray.LightCurve(time=t, ...) directly"
        )
    m = mission or _meta_get(meta, "MISSION", "TELESCOP")
    if m is None and t.format in ("btjd", "bkjd"):
        m = "TESS" if t.format == "btjd" else "Kepler"
    if m is None and (_meta_get(meta, "TICID", "TIC_ID", "SECTOR") is not None):
        m = "TESS"
    if m is None and (_meta_get(meta, "KEPLERID", "QUARTER", "CAMPAIGN") is not None):
        m = "Kepler"
    if m is None:
        if jd_max < _JD_TESS_START:
            m = "Kepler"
        elif jd_min > _JD_K2_END:
            m = "TESS"
        else:
            raise InputError(
                f"from_lightkurve: times JD {jd_min:.1f}-{jd_max:.1f} fall when both K2 and TESS observed and "
                "the light curve's meta has no MISSION: pass mission='TESS' or mission='Kepler'"
            )
    m = str(m).strip()
    if m.upper() in ("KEPLER", "K2"):
        m = "Kepler"
    elif m.upper() == "TESS":
        m = "TESS"
    else:
        raise InputError(f"from_lightkurve: mission {m!r} is not supported; exoray reads TESS and Kepler/K2")
    if m == "TESS" and jd_min < _JD_TESS_START - 100.0:
        raise InputError(
            f"from_lightkurve: TESS light curve with time JD {jd_min:.1f}, before TESS observed (JD "
            f"{_JD_TESS_START}); check the time format (format='btjd' for BTJD numbers) or pass mission='Kepler'"
        )
    time = (jd1 - TIME_OFFSETS[m]) + jd2  # jd1 first keeps the sub-second digits

    obj = _meta_get(meta, "OBJECT", "LABEL")
    tic = tic_id if tic_id is not None else _target_id(meta, obj)
    if tic is None:
        tic = _target_id({"TARGETID": getattr(lk_lc, "targetid", None)}, None)
    if tic is None:
        raise InputError("from_lightkurve: no target ID in meta (TICID/KEPLERID/TARGETID/OBJECT); pass tic_id=")
    sec = sector if sector is not None else _meta_get(meta, "SECTOR", "QUARTER", "CAMPAIGN")
    if sec is None:
        raise InputError("from_lightkurve: no sector in meta (SECTOR/QUARTER/CAMPAIGN); pass sector=")

    flux_q = lk_lc.flux
    unit = getattr(flux_q, "unit", None)
    flux = _plain(flux_q)
    err = _plain(getattr(lk_lc, "flux_err", None), unit if unit is not None else None)
    colnames = set(getattr(lk_lc, "colnames", ()))
    quality = None
    if "quality" in colnames:
        quality = np.nan_to_num(_plain(lk_lc["quality"]), nan=0).astype(np.int32)
    cc = _plain(lk_lc["centroid_col"]) if "centroid_col" in colnames else None
    cr = _plain(lk_lc["centroid_row"]) if "centroid_row" in colnames else None
    if cc is None or cr is None:
        cc = cr = None
    cadence = _meta_float(meta, ("TIMEDEL",))
    if cadence is not None:
        cadence *= 86400.0
    else:
        dt = np.diff(np.sort(time[np.isfinite(time)]))
        cadence = float(np.median(dt)) * 86400.0 if dt.size else float("nan")
    stellar = {k: _meta_float(meta, keys) for k, keys in _STELLAR_META.items()}
    if m == "Kepler":
        stellar["tmag"] = None
    origin = _meta_get(meta, "FLUX_ORIGIN")
    return LightCurve(
        tic_id=int(tic), sector=int(sec), time=time, flux=flux, flux_err=err, quality=quality, mission=m,
        camera=_meta_int(meta, "CAMERA"), ccd=_meta_int(meta, "CCD"),
        cadence_s=round(float(cadence), 3), product=str(_meta_get(meta, "EXORAY_PRODUCT") or "lightkurve"),
        flux_column=str(origin).upper() if origin else "FLUX", source_path=str(_meta_get(meta, "FILENAME") or ""),
        centroid_col=cc, centroid_row=cr,
        meta={"object": str(obj) if obj is not None else None, "flux_unit": None if unit is None else str(unit),
              "time_system": "BKJD" if m == "Kepler" else "BTJD", "from": "lightkurve"},
        **stellar,
    )
