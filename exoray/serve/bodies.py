"""Request and response models of the scoring service (pydantic v2).

Every request model forbids unknown fields, so a typo (``"fluxes"``) is an
error that names the field rather than a silently ignored key.  Numbers are
strict: a string or a boolean where a number belongs is an error.  ``null``
is accepted inside ``flux``/``flux_err`` for missing cadences (JSON has no
NaN).

The limits below are the service's stated limits; the error a client gets
when it passes one names it.
"""

from __future__ import annotations

from typing import Annotated, Any, Dict, List, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

__all__ = [
    "MAX_CADENCES",
    "MAX_RANK_RECORDS",
    "MAX_WINDOWS",
    "MAX_RECORD_KEYS",
    "MAX_IGNORED_FIELDS",
    "ScoreRequest",
    "Candidate",
    "AnomalyWindow",
    "AnomalySummary",
    "ScoreResponse",
    "RankRequest",
    "RankedCandidate",
    "RankResponse",
    "AnomalyRequest",
    "AnomalyResponse",
    "ErrorResponse",
    "ModelInfo",
    "ModelsResponse",
]

#: Most cadences in one light curve (a 20-s TESS sector has ~100,000).
MAX_CADENCES = 250_000
#: Most candidate records in one ``/v1/rank`` request.
MAX_RANK_RECORDS = 1_000
#: Most windows in one ``/v1/anomaly`` request.
MAX_WINDOWS = 1_024
#: Most keys in one ``/v1/rank`` record (a candidate row has ~50 columns).
MAX_RECORD_KEYS = 256
#: Most unknown keys ``/v1/rank`` lists back (``n_ignored_fields`` counts them all).
MAX_IGNORED_FIELDS = 50
#: Longest string value in a ``/v1/rank`` record (ids, dispositions, vetting flags).
MAX_TEXT = 1_000

Number = Union[StrictInt, StrictFloat]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoreRequest(_Strict):
    """One light curve as arrays (``POST /v1/score`` with ``application/json``)."""

    time: List[Number] = Field(
        ..., min_length=1, max_length=MAX_CADENCES,
        description="Cadence times in days (BTJD for TESS), strictly increasing, all finite.",
    )
    flux: List[Optional[Number]] = Field(
        ..., min_length=1, max_length=MAX_CADENCES,
        description="Flux per cadence (any positive unit, e.g. e-/s); null for a missing cadence.",
    )
    flux_err: Optional[List[Optional[Number]]] = Field(None, description="Flux uncertainty per cadence.")
    quality: Optional[List[Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]]] = Field(
        None, description="SPOC quality bit flags per cadence (0 = good); flagged cadences are masked."
    )
    tic_id: StrictInt = Field(0, ge=0, le=2**63 - 1, description="TESS Input Catalog ID (0 if unknown).")
    sector: StrictInt = Field(0, ge=0, le=2**31 - 1, description="TESS sector (0 if unknown).")
    cadence_s: Optional[Number] = Field(None, gt=0, description="Cadence in seconds (default: from the time steps).")
    tmag: Optional[Number] = None
    teff: Optional[Number] = Field(None, description="Effective temperature [K].")
    logg: Optional[Number] = Field(None, description="log10 surface gravity [cgs].")
    radius: Optional[Number] = Field(None, description="Stellar radius [R_sun].")
    mass: Optional[Number] = Field(None, description="Stellar mass [M_sun].")
    mh: Optional[Number] = None
    ra: Optional[Number] = None
    dec: Optional[Number] = None
    anomaly: StrictBool = Field(False, description="Also score sliding windows with the anomaly model.")
    min_period_days: Optional[Number] = Field(
        None, gt=0, le=1e4, description="Shortest period searched [d] (default: the service's, 0.5 d).")
    max_period_days: Optional[Number] = Field(
        None, gt=0, le=1e4, description="Longest period searched [d] (default: the whole span of the data).")


class Candidate(BaseModel):
    """One transit candidate found in the light curve."""

    candidate_index: int
    period_days: float
    t0_btjd: float
    duration_hours: float
    depth_ppm: float
    snr: float
    sde: Optional[float] = None
    n_transits: Optional[int] = None
    score: Optional[float] = Field(None, description="Calibrated planet probability.")
    score_lo: Optional[float] = Field(None, description="5% quantile of the ranker ensemble.")
    score_hi: Optional[float] = Field(None, description="95% quantile of the ranker ensemble.")
    disposition: str
    vet_flags: Optional[str] = None
    known_object: Optional[str] = None


class AnomalyWindow(BaseModel):
    start_btjd: float
    end_btjd: float
    anomaly_score: float


class AnomalySummary(BaseModel):
    available: bool
    model: Optional[str] = None
    message: Optional[str] = None
    n_windows: int = 0
    windows: List[AnomalyWindow] = Field(default_factory=list, description="Highest-scoring windows first.")


class ScoreResponse(BaseModel):
    tic_id: int
    sector: int
    sectors: Optional[List[int]] = Field(None, description="Sectors searched together (several uploads of one star).")
    passed_over: Optional[List[str]] = Field(None, description="Uploads not searched: another product of their "
                                             "sector was (exoray.preprocess.stitch.PRODUCT_PREFERENCE).")
    n_cadences: int = Field(..., description="Cadences received.")
    n_used: int = Field(..., description="Cadences kept after quality masking, NaN removal and clipping.")
    noise_ppm: Optional[float] = None
    candidates: List[Candidate]
    anomaly: Optional[AnomalySummary] = None
    timings_ms: Dict[str, float]
    models: Dict[str, Any]


class RankRequest(_Strict):
    """Candidate feature records (``POST /v1/rank``).

    Each record is a candidate row as ``candidates.parquet`` holds it
    (:data:`exoray.rank.features.SOURCE_KEYS` names the keys used); it needs
    at least ``period_days``, ``duration_hours``, ``depth_ppm`` and ``snr``.
    Identifier keys (``id``, ``tic_id``, ``sector``, ``candidate_index``) are
    echoed back; other unknown keys are ignored and listed in the response
    (the first :data:`MAX_IGNORED_FIELDS`).  A record holds at most
    :data:`MAX_RECORD_KEYS` keys and strings of at most :data:`MAX_TEXT` characters.
    """

    candidates: List[Annotated[
        Dict[Annotated[str, Field(max_length=MAX_TEXT)],
             Union[StrictBool, StrictInt, StrictFloat, Annotated[StrictStr, Field(max_length=MAX_TEXT)],
                   Annotated[List[Annotated[StrictStr, Field(max_length=MAX_TEXT)]], Field(max_length=64)], None]],
        Field(max_length=MAX_RECORD_KEYS),
    ]] = Field(..., min_length=1, max_length=MAX_RANK_RECORDS)


class RankedCandidate(BaseModel):
    index: int = Field(..., description="Position of the record in the request.")
    score: float
    score_lo: float
    score_hi: float
    disposition: str = Field(..., description="The decision: planet_candidate when score >= 0.5, else the "
                             "record's rule disposition when it names a non-planet class, else false_alarm.")
    id: Optional[Union[int, str]] = None
    tic_id: Optional[int] = None
    sector: Optional[int] = None
    candidate_index: Optional[int] = None


class RankResponse(BaseModel):
    results: List[RankedCandidate] = Field(..., description="Sorted by score, highest first.")
    ignored_fields: List[str] = Field(default_factory=list,
                                      description=f"Unknown keys of the records (the first {MAX_IGNORED_FIELDS}).")
    n_ignored_fields: int = Field(0, description="How many unknown keys there were in all.")
    model: Dict[str, Any]


class AnomalyRequest(_Strict):
    """Flux windows to score (``POST /v1/anomaly``).

    Each window is ``WINDOW_LENGTH`` consecutive flattened-flux cadences (see
    ``GET /v1/models``); they are normalised the way the model was trained.
    """

    windows: List[List[Number]] = Field(..., min_length=1, max_length=MAX_WINDOWS)
    model: StrictStr = Field("autoencoder", description="Registered anomaly model name.")


class AnomalyResponse(BaseModel):
    scores: List[float]
    model: Dict[str, Any]


class ErrorResponse(BaseModel):
    error: str = Field(..., description="Machine-readable error kind.")
    message: str = Field(..., description="What is wrong and what to do.")
    details: List[Dict[str, Any]] = Field(default_factory=list)


class ModelInfo(BaseModel):
    name: str
    kind: str
    ready: bool
    version: Optional[str] = None
    source: Optional[str] = None
    message: Optional[str] = None
    details: Dict[str, Any] = Field(default_factory=dict)


class ModelsResponse(BaseModel):
    models: List[ModelInfo]
