"""Frozen configuration objects, validated once at construction.

Configs are plain dataclasses so they serialise to ``run.json`` with
:func:`dataclasses.asdict` and can be rebuilt with ``Cls(**dict)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence

from .errors import ConfigError

__all__ = ["PreprocessConfig", "SearchConfig", "SweepConfig", "validate_choice"]

QUALITY_PRESETS = ("none", "default", "hard", "hardest")
DETREND_METHODS = ("biweight", "savgol", "none")
REPORT_POLICIES = ("planets", "all", "none")


def validate_choice(name: str, value: str, allowed: Sequence[str]) -> str:
    """Return ``value`` if allowed, else raise ConfigError listing the choices."""
    if value not in allowed:
        raise ConfigError(
            f"{name}={value!r} is not supported; choose one of: {', '.join(map(repr, allowed))}"
        )
    return value


@dataclass(frozen=True)
class PreprocessConfig:
    """How a raw light curve becomes a flat, normalised one.

    Parameters
    ----------
    quality_mask : {'none', 'default', 'hard', 'hardest'}
        Which SPOC quality bits drop a cadence (lightkurve's presets).
    break_tolerance_days : float
        A gap longer than this starts a new segment.  Segments are normalised
        and detrended separately.
    min_segment_points : int
        Segments with fewer cadences are dropped (orphans around gaps).
    sigma_upper : float
        Points more than this many robust sigmas *above* the trend are clipped
        (flares, cosmic rays); points below are kept so transits survive.
    detrend : {'biweight', 'savgol', 'none'}
        Trend model.  ``biweight`` is the time-windowed Tukey biweight of
        Hippke et al. (2019, AJ 158, 143), the most robust choice for transits.
    window_days : float
        Biweight window (days).  Keep it ~3x the longest transit you search
        for: 0.75 d preserves transits up to ~6 h.
    biweight_cval : float
        Tukey tuning constant in units of the median absolute deviation (5 as
        in wotan).
    edge_cutoff_days : float
        Drop this much from each segment edge after detrending (0 keeps all).
    savgol_window_days, savgol_polyorder
        Parameters of the Savitzky-Golay alternative.
    adaptive_window : bool
        Variability-aware refinement of ``detrend='biweight'``.  After the
        fixed-window biweight, the residual red noise is measured as the
        ratio of the 1-h binned scatter of the flattened flux to what white
        noise would give (:func:`exoray.preprocess.normalize.red_noise_ratio`).
        Where it exceeds ``adaptive_red_ratio`` (a fast, large-amplitude
        rotator that a windowed location cannot follow: its curvature bias is
        ~ A (2 pi / P_rot)^2 w^2 / 24), the trend is refitted with a robust
        local polynomial (Tukey-biweight-weighted, order
        ``adaptive_polyorder``) over a window shortened to
        ``adaptive_duration_factor`` times the longest transit the star allows
        at half the baseline (Kepler's law, central transit), bounded to
        [``adaptive_min_window_days``, ``window_days``]; the refit is kept only
        if it lowers the red-noise ratio.  ``False``, or a star below the
        threshold, gives exactly the wotan-compatible fixed biweight.
    adaptive_red_ratio : float
        Red-noise ratio (1 = white) above which the refinement runs.
    adaptive_duration_factor : float
        Adaptive window in units of the longest plausible transit duration.
    adaptive_min_window_days : float
        Shortest adaptive window (days).
    adaptive_polyorder : int
        Order (0-2) of the robust local polynomial.
    """

    quality_mask: str = "default"
    break_tolerance_days: float = 0.5
    min_segment_points: int = 50
    sigma_upper: float = 4.0
    detrend: str = "biweight"
    window_days: float = 0.75
    biweight_cval: float = 5.0
    edge_cutoff_days: float = 0.0
    savgol_window_days: float = 0.75
    savgol_polyorder: int = 2
    adaptive_window: bool = True
    adaptive_red_ratio: float = 2.0
    adaptive_duration_factor: float = 2.5
    adaptive_min_window_days: float = 0.3
    adaptive_polyorder: int = 2

    def __post_init__(self):
        validate_choice("quality_mask", self.quality_mask, QUALITY_PRESETS)
        for name in ("adaptive_red_ratio", "adaptive_duration_factor", "adaptive_min_window_days"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.adaptive_polyorder not in (0, 1, 2):
            raise ConfigError(f"adaptive_polyorder must be 0, 1 or 2, got {self.adaptive_polyorder!r}")
        validate_choice("detrend", self.detrend, DETREND_METHODS)
        for name in ("break_tolerance_days", "window_days", "biweight_cval", "savgol_window_days"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.edge_cutoff_days < 0:
            raise ConfigError("edge_cutoff_days must be >= 0")
        if self.sigma_upper <= 0:
            raise ConfigError("sigma_upper must be > 0")
        if self.min_segment_points < 1:
            raise ConfigError("min_segment_points must be >= 1")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SearchConfig:
    """Periodic transit search and vetting of one light curve.

    Parameters
    ----------
    max_planets : int
        Most signals reported per light curve (iterative BLS: search, mask
        the transits found, search again).
    sde_threshold : float
        A signal is reported while its signal detection efficiency is at least
        this (7 gives ~1% false alarms per light curve on white noise,
        Hippke & Heller 2019).
    snr_threshold, snr_min_sde : float
        A signal whose box SNR is at least ``snr_threshold`` is also reported
        when its SDE is at least ``snr_min_sde``: a very strong transit (a hot
        Jupiter at SNR > 100) fills the periodogram with harmonics and
        sub-harmonics that inflate its scatter, so its SDE saturates near
        6-7.  White noise does not reach a box SNR of 20; anything that does is
        still vetted and ranked.  ``snr_threshold=inf`` turns this off.
    min_period_days, max_period_days : float
        Period range; ``max_period_days=None`` means half the baseline (two
        transits needed).
    oversample : int
        Phase bins per shortest duration in the BLS kernel.
    n_durations : int
        Trial durations, log-spaced over what the star allows for the
        period range (Kepler's law; 0.5 h to 12 h at most).
    dtype, device : str
        Torch dtype (``float32``/``float64``) and device (``cpu``, ``cuda``).
    mask_width : float
        Cadences within ``mask_width/2`` durations of a found transit are
        removed before the next pass.
    toi_catalog, eb_catalog : str or None
        Catalogue CSVs for the known-object cross-match (``None``: the
        ``EXORAY_TOI_CATALOG``/``EXORAY_EB_CATALOG`` environment, or no
        cross-match if unset and the shared copies are absent).
    rank : bool
        Score candidates with the ranker (calibrated planet probability with a
        90% interval).  ``False`` leaves ``score`` null.
    ranker_dir : str or None
        A ranker saved by ``exoray train ranker`` (default: the shipped model,
        or ``EXORAY_RANKER_DIR``).
    single_events : bool
        Also look for single transits (one event, which periodic search
        cannot find) with the anomaly scorers of the model registry, and add
        them as ``single_event=True`` rows.
    anomaly_method : str
        Scorer for single events: ``ocsvm``, ``autoencoder``, ``transformer``
        or ``combined`` (see :func:`exoray.anomaly.scoring.score_windows`).
    model_registry : str or None
        Model registry folder (default ``EXORAY_MODEL_REGISTRY`` or
        ``~/.exoray/models``).
    max_baseline_days : float or None
        Longest time span (days) a light curve may cover to be searched;
        longer ones are refused before the search starts
        (:class:`~exoray.errors.SearchBudgetError`).  The period grid, and so
        the search's time and memory, grows with the span: one sector is
        ~27 d, so the default 400 d leaves room for a year of stitched
        sectors while a light curve with a time jump (+1000 d, +1e9 d) cannot
        hold a worker for hours or exhaust its memory.  ``None``: no limit.
    max_trial_periods : int or None
        Most trial periods one search may use (the grid is sized from the
        baseline and the star, see :func:`exoray.search.period_grid.period_grid`).
        The default 300,000 admits any star over the default maximum baseline
        (the densest grid, a 0.08 R_sun star over 400 d, has ~280,000);
        lower it to bound the work per light curve more tightly.
    """

    max_planets: int = 3
    sde_threshold: float = 7.0
    snr_threshold: float = 20.0
    snr_min_sde: float = 5.0
    min_period_days: float = 0.5
    max_period_days: Optional[float] = None
    oversample: int = 3
    n_durations: int = 10
    dtype: str = "float32"
    device: str = "cpu"
    mask_width: float = 2.0
    toi_catalog: Optional[str] = None
    eb_catalog: Optional[str] = None
    rank: bool = True
    ranker_dir: Optional[str] = None
    single_events: bool = False
    anomaly_method: str = "combined"
    model_registry: Optional[str] = None
    max_baseline_days: Optional[float] = 400.0
    max_trial_periods: Optional[int] = 300_000

    def __post_init__(self):
        if self.max_baseline_days is not None and not self.max_baseline_days > 0:
            raise ConfigError(f"max_baseline_days must be > 0 (or None for no limit), got {self.max_baseline_days!r}")
        if self.max_trial_periods is not None and not self.max_trial_periods >= 1:
            raise ConfigError(f"max_trial_periods must be >= 1 (or None for no limit), got {self.max_trial_periods!r}")
        validate_choice("anomaly_method", self.anomaly_method, ("ocsvm", "autoencoder", "transformer", "combined"))
        if self.max_planets < 1:
            raise ConfigError("max_planets must be >= 1")
        if not self.min_period_days > 0:
            raise ConfigError("min_period_days must be > 0")
        if self.max_period_days is not None and not self.max_period_days > self.min_period_days:
            raise ConfigError("max_period_days must exceed min_period_days")
        validate_choice("dtype", self.dtype, ("float32", "float64"))
        if self.oversample < 1:
            raise ConfigError("oversample must be >= 1")
        if not self.snr_threshold > 0 or not self.snr_min_sde >= 0:
            raise ConfigError("snr_threshold must be > 0 and snr_min_sde >= 0")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SweepConfig:
    """How ``exoray sweep`` runs.

    Parameters
    ----------
    batch_size : int or None
        Light curves per Ray task.  Each task costs ~30 ms of overhead, so
        batch enough curves (>= 8) that the work dominates.  ``None`` picks
        8..64 so that each CPU gets >= 4 tasks.
    num_cpus : int or None
        CPUs for a local Ray instance (``None``: all).  Ignored when
        connecting to an existing cluster.
    address : str or None
        Ray cluster address (``"auto"`` for a running cluster).
    flux_column : str or None
        Force a flux column (default: the product's best, PDCSAP_FLUX for SPOC).
    resume : bool
        Skip inputs already present in ``OUT`` (preprocessed or quarantined).
    preprocess : PreprocessConfig
    search : SearchConfig or None
        Transit search + vetting after preprocessing (``None``: preprocess only).
    reports : {'planets', 'all', 'none'}
        Which candidates get a one-page PNG+PDF report in ``OUT/reports``
        (``planets``: disposition planet_candidate).  A report costs ~1-2 s,
        so ``all`` is for small sweeps; ``exoray report`` renders any
        candidate later.
    search_timeout_s : float or None
        Wall-clock limit (seconds) on the search, vetting, ranking and
        reports of one light curve; a curve that runs past it is stopped and
        quarantined (stage ``search``) and the sweep goes on.  ``None``: no
        limit.
    verify_checksums : bool
        Check each FITS file's ``CHECKSUM``/``DATASUM`` (when present) before
        reading it; a file whose bytes were altered is quarantined.  ``False``
        (``--no-verify``) reads such files anyway.
    """

    batch_size: Optional[int] = None
    num_cpus: Optional[int] = None
    address: Optional[str] = None
    flux_column: Optional[str] = None
    resume: bool = True
    preprocess: PreprocessConfig = dataclasses.field(default_factory=PreprocessConfig)
    search: Optional[SearchConfig] = dataclasses.field(default_factory=SearchConfig)
    reports: str = "planets"
    search_timeout_s: Optional[float] = 600.0
    verify_checksums: bool = True

    def __post_init__(self):
        validate_choice("reports", self.reports, REPORT_POLICIES)
        if self.search_timeout_s is not None and not self.search_timeout_s > 0:
            raise ConfigError(f"search_timeout_s must be > 0 (or None for no limit), got {self.search_timeout_s!r}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError("batch_size must be >= 1")
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ConfigError("num_cpus must be >= 1")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)
