"""Frozen configuration objects, validated once at construction.

Configs are plain dataclasses so they serialise to ``run.json`` with
:func:`dataclasses.asdict` and can be rebuilt with ``Cls(**dict)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

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
        Hippke et al. (2019, AJ 158, 143), the most robust choice for
        transits; its window is chosen per star (see ``window_days``).
    window_days : float or None
        Biweight window (days).  ``None`` (default): chosen per star among
        ``candidate_windows_days`` as the one under which this star's typical
        transits are most detectable, weighing the depth a window keeps
        against the red noise it leaves (:func:`exoray.preprocess.stellar.choose_detrend`).
        A number fixes the window.
    candidate_windows_days : tuple of float
        Biweight windows offered to the per-star choice.  ~3x the longest
        transit keeps transits: 0.5 d suits M dwarfs' short transits and
        spotted stars, 1 d quiet Sun-like stars.
    candidate_spline_spacings_days : tuple of float
        Knot spacings of the robust cubic spline offered to the same choice
        (it keeps as much of a transit as a biweight window of the same
        length and follows smooth stellar variability far better).
    rotation_model : bool
        Also offer, for stars with strong periodic variability faster than
        ``rotation_max_period_days``, a model of each rotation predicted from
        the neighbouring rotations (Rizzuto et al. 2017), under the biweight.
    rotation_max_period_days : float
        Longest rotation period given a rotation model (slower rotators are
        followed well by the spline).
    biweight_cval : float
        Tukey tuning constant in units of the median absolute deviation (5 as
        in wotan).
    edge_cutoff_days : float
        Drop this much from each segment edge after detrending (0 keeps all).
    savgol_window_days, savgol_polyorder
        Parameters of the Savitzky-Golay alternative.
    """

    quality_mask: str = "default"
    break_tolerance_days: float = 0.5
    min_segment_points: int = 50
    sigma_upper: float = 4.0
    detrend: str = "biweight"
    window_days: Optional[float] = None
    candidate_windows_days: Tuple[float, ...] = (0.3, 0.5, 0.75, 1.0)
    candidate_spline_spacings_days: Tuple[float, ...] = (0.3, 0.5, 0.75, 1.0, 1.5)
    rotation_model: bool = True
    rotation_max_period_days: float = 3.0
    biweight_cval: float = 5.0
    edge_cutoff_days: float = 0.0
    savgol_window_days: float = 0.75
    savgol_polyorder: int = 2

    def __post_init__(self):
        validate_choice("quality_mask", self.quality_mask, QUALITY_PRESETS)
        validate_choice("detrend", self.detrend, DETREND_METHODS)
        for name in ("break_tolerance_days", "biweight_cval", "savgol_window_days", "rotation_max_period_days"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.window_days is not None and not self.window_days > 0:
            raise ConfigError(f"window_days must be > 0 (or None to choose per star), got {self.window_days!r}")
        wins = tuple(float(w) for w in self.candidate_windows_days)
        if not wins or not all(w > 0 for w in wins):
            raise ConfigError(f"candidate_windows_days must be positive days, got {self.candidate_windows_days!r}")
        object.__setattr__(self, "candidate_windows_days", wins)
        spl = tuple(float(k) for k in self.candidate_spline_spacings_days)
        if not all(k > 0 for k in spl):
            raise ConfigError(f"candidate_spline_spacings_days must be positive days, got {spl!r}")
        object.__setattr__(self, "candidate_spline_spacings_days", spl)
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
        the transits found, search again).  Signals vetted as stellar
        variability are pre-whitened and do not count.
    max_passes : int or None
        Most search passes in all (default ``max_planets + 3``).
    snr_threshold : float
        A signal is reported when its SNR, measured against the noise on its
        own duration (the red-noise factor of
        :func:`exoray.search.noise.box_noise_factor`) after the light curve
        is re-detrended with its transits masked, is at least this.  Set on
        real light curves made signal-free (inverted and scrambled) for a
        stated false-alarm rate; see ``benchmarks/README.md``.
    sde_threshold : float
        A reported signal's peak must also stand this many standard
        deviations out of its (detrended) periodogram.  Kept low: a very
        strong transit fills the periodogram with harmonics and saturates
        its own SDE, and the red-noise SNR already measures significance.
    n_peaks : int
        Independent periodogram peaks examined per pass (not harmonics of one
        another): a rotation residual on top no longer hides a planet below.
    red_noise : bool
        Divide every box's SNR by the red-noise factor of its duration.
        ``False`` gives white-noise SNRs (comparable with plain BLS).
    min_transits : float
        A trial box must hold at least this many transits' worth of data
        (1.5: data from two transits; a single event cannot pose as a
        periodic signal).
    redetrend : bool
        Before a peak is judged, rebuild the trend with its transits masked
        so that the depth the detrender absorbed is measured back.
    min_uniqueness : float or None
        A kept signal's transit must stand this many sigma above the largest
        other dip or bump its box finds at any other phase of the fold
        (:func:`exoray.vet.uniqueness.model_shift`): a peak made by noise is
        one of many alike events.  ``None`` turns the test off.
    rest_fraction : float
        A kept signal's transits other than the strongest must reach this
        share of the SNR they would have if all transits were equal
        (:func:`exoray.search.consistency.is_consistent`).  A peak that fails
        is carried by one event, which is left out before the pass is run
        again.
    min_period_days, max_period_days : float
        Period range; ``max_period_days=None`` means the whole span of the
        data (with two transits in data, by ``min_transits``).  The shortest
        period is never below a rocky planet's Roche limit (0.22 d).
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
        Catalogues for the known-object cross-match: the ExoFOP TOI CSV and
        the Prsa et al. (2022) EB CSV (or Parquet files with the snapshot's
        columns).  ``None``: ``EXORAY_TOI_CATALOG``/``EXORAY_EB_CATALOG``,
        else the TOI + EB snapshot shipped in the package
        (:func:`exoray.vet.known_objects.snapshot_info` gives its dates).
    use_catalog : bool
        Cross-match candidates with known objects (``known_object``, and the
        ``known_planet``/``known_eb`` flags).  ``False`` (``--no-catalog``)
        skips the cross-match; it cannot be combined with a catalogue path.
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
    duo_transits : bool
        On a light curve stitched from several sectors, also pair single
        transits in different sectors (one each) with matching depth and
        duration into a candidate whose periods the data allow are listed
        (:mod:`exoray.search.duo`).  Not scored by the ranker (trained on
        periodic signals).
    duo_min_event_snr, duo_min_snr : float
        Red-noise SNR each single transit of a duo needs, and the pair in
        quadrature.  Each event of a duo must be as significant as a
        periodic signal; the pair, found among many more trials (every
        time and duration in two sectors), somewhat more.
    max_trial_periods : int or None
        Most trial periods one search may use (the grid is sized from the
        baseline and the star, see :func:`exoray.search.period_grid.period_grid`).
        The default 300,000 admits any star over the default maximum baseline
        (the densest grid, a 0.08 R_sun star over 400 d, has ~280,000);
        lower it to bound the work per light curve more tightly.
    """

    max_planets: int = 5
    max_passes: Optional[int] = None
    snr_threshold: float = 7.1
    sde_threshold: float = 0.0
    n_peaks: int = 8
    red_noise: bool = True
    min_transits: float = 1.5
    redetrend: bool = True
    min_uniqueness: Optional[float] = 0.5
    rest_fraction: float = 0.5
    min_period_days: float = 0.5
    max_period_days: Optional[float] = None
    oversample: int = 3
    n_durations: int = 10
    dtype: str = "float32"
    device: str = "cpu"
    mask_width: float = 2.0
    toi_catalog: Optional[str] = None
    eb_catalog: Optional[str] = None
    use_catalog: bool = True
    rank: bool = True
    ranker_dir: Optional[str] = None
    single_events: bool = False
    anomaly_method: str = "combined"
    model_registry: Optional[str] = None
    max_baseline_days: Optional[float] = 400.0
    max_trial_periods: Optional[int] = 300_000
    duo_transits: bool = True
    duo_min_event_snr: float = 7.1
    duo_min_snr: float = 10.0

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
        if not self.snr_threshold > 0 or not self.sde_threshold >= 0:
            raise ConfigError("snr_threshold must be > 0 and sde_threshold >= 0")
        if self.n_peaks < 1:
            raise ConfigError("n_peaks must be >= 1")
        if self.max_passes is not None and self.max_passes < 1:
            raise ConfigError("max_passes must be >= 1 (or None)")
        if not 0.0 <= self.rest_fraction < 1.0:
            raise ConfigError("rest_fraction must be in [0, 1)")
        if not self.min_transits >= 1.0:
            raise ConfigError("min_transits must be >= 1")
        if not self.use_catalog and (self.toi_catalog or self.eb_catalog):
            raise ConfigError("a catalogue path was given with use_catalog=False (--no-catalog): drop one of them")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SweepConfig:
    """How ``exoray sweep`` runs.

    A rerun into an output folder holding results must shape them the same
    way: ``flux_column``, ``verify_checksums``, ``preprocess`` and ``search``
    must match (``search.device`` aside), while ``batch_size``, ``workers``,
    ``num_cpus``, ``address``, ``resume``, ``reports`` and
    ``search_timeout_s`` may change; see :mod:`exoray.pipelines.fingerprint`.

    Parameters
    ----------
    batch_size : int or None
        Light curves per batch: the unit that is read, analysed, written as
        one set of Parquet parts and retried together.  Each batch costs
        ~30 ms of Ray overhead, so batch enough curves (>= 8) that the work
        dominates.  ``None`` picks 8..64 so that each analysis worker gets
        >= 4 batches.
    workers : int or None
        Analysis workers on Ray: actors that each hold one
        :class:`~exoray.engine.Engine` (catalogues and ranker loaded once)
        and analyse one batch at a time.  ``None``: one per CPU of the Ray
        cluster (one per GPU with ``search.device`` ``cuda``), at most one
        per batch.  Ignored without Ray.
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
        Wall-clock limit (seconds) on the search and vetting of one light
        curve (:class:`~exoray.engine.Engine` ``search_timeout_s``); a curve
        that runs past it is stopped and
        quarantined (stage ``search``) and the sweep goes on.  ``None``: no
        limit.
    verify_checksums : bool
        Check each FITS file's ``CHECKSUM``/``DATASUM`` (when present) before
        reading it; a file whose bytes were altered is quarantined.  ``False``
        (``--no-verify``) reads such files anyway.
    group_sectors : bool
        Search each star once over all its files: a star's sectors are
        planned into one batch (the TIC ID is read from each file's header),
        one product is chosen per sector and the sectors are stitched
        (:mod:`exoray.pipelines.grouping`).  ``False``
        (``--no-group-sectors``) searches every file on its own.
    """

    batch_size: Optional[int] = None
    num_cpus: Optional[int] = None
    address: Optional[str] = None
    workers: Optional[int] = None
    flux_column: Optional[str] = None
    resume: bool = True
    preprocess: PreprocessConfig = dataclasses.field(default_factory=PreprocessConfig)
    search: Optional[SearchConfig] = dataclasses.field(default_factory=SearchConfig)
    reports: str = "planets"
    search_timeout_s: Optional[float] = 600.0
    verify_checksums: bool = True
    group_sectors: bool = True

    def __post_init__(self):
        validate_choice("reports", self.reports, REPORT_POLICIES)
        if self.search_timeout_s is not None and not self.search_timeout_s > 0:
            raise ConfigError(f"search_timeout_s must be > 0 (or None for no limit), got {self.search_timeout_s!r}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError("batch_size must be >= 1")
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ConfigError("num_cpus must be >= 1")
        if self.workers is not None and self.workers < 1:
            raise ConfigError("workers must be >= 1")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)
