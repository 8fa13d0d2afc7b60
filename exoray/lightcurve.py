"""The light-curve record every stage passes along.

A :class:`LightCurve` is what a reader returns (raw cadences, nothing
removed) and what the simulator and Serve build from arrays.  It maps 1:1 onto
a row of :data:`exoray.schemas.LIGHTCURVE_SCHEMA`.

:class:`PreprocessedLightCurve` is what preprocessing returns and what
``OUT/lightcurves/*.parquet`` holds (:data:`exoray.schemas.PREPROCESSED_SCHEMA`);
the search stage reads it back with :func:`exoray.schemas.read_preprocessed`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .errors import InputError

__all__ = ["LightCurve", "PreprocessedLightCurve", "STELLAR_KEYS"]

#: Stellar parameters carried from the FITS header (``None`` when absent).
STELLAR_KEYS = ("tmag", "teff", "logg", "radius", "mass", "mh", "ra", "dec")


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
    meta: Dict[str, Any] = field(default_factory=dict)

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
        row = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "meta"}
        return row


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
    (:func:`exoray.preprocess.redetrend`).
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
    #: Only on a light curve stitched from several sectors
    #: (:func:`exoray.preprocess.stitch`), never stored: the sector of each
    #: cadence, and per sector (in time order) a :class:`SectorPart` saying
    #: where it came from and how its trend was made.
    cadence_sector: Optional[np.ndarray] = None
    parts: Optional[Tuple["SectorPart", ...]] = None

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
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("cadence_sector", "parts")}


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
