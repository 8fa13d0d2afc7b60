"""The candidate contract: what a vetted transit candidate is, column by column.

:class:`CandidateRecord` is one row of ``candidates.parquet``.  Each of its
fields is a column and carries, in its ``dataclasses.field`` metadata, the
column's Arrow type, unit and meaning; :data:`CANDIDATES_SCHEMA` and
:data:`CANDIDATE_FEATURES` are read off the fields, so the column list lives
here only.  Columns are only ever added (at the end of their group): readers
select by name, so older files stay readable.

The vetting stage owns the contract because most columns are its
statistics.  :class:`VetReport` is the typed view of what
:func:`~exoray.vet.vet_candidate` returns (the plain dict stays as it is for
the reports), and :class:`VetFlags` reads the ``;``-separated ``vet_flags``
string once into the yes/no facts that the ranker and the search act on.

The search fills a record from its own result and a :class:`VetReport`
(:func:`exoray.search.candidates.find_candidates`); the ranking, decision
and report stages fill the columns marked ``filled_by`` later, on the dict
row (:meth:`CandidateRecord.to_row`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Dict, List, Mapping, Optional, Tuple

import pyarrow as pa

__all__ = ["CandidateRecord", "VetReport", "VetFlags", "BOOLEAN_FLAGS", "CANDIDATES_SCHEMA", "CANDIDATE_FEATURES",
           "CANDIDATE_COLUMNS"]

_f64 = pa.float64()
_lf64 = pa.large_list(pa.float64())


def _col(arrow: pa.DataType, doc: str, unit: Optional[str] = None, *, nullable: bool = True,
         filled_by: Optional[str] = None):
    """A column of the contract; ``filled_by`` names the later stage that sets it (``None`` until then)."""
    meta = {"arrow": arrow, "doc": doc, "unit": unit, "nullable": nullable, "feature": False, "filled_by": filled_by}
    if filled_by is not None:
        return dataclasses.field(default=None, metadata=meta)
    return dataclasses.field(metadata=meta)


def _feature(doc: str, unit: Optional[str] = None):
    """A float column the ranker may draw on: a vetting statistic or the star's context."""
    return dataclasses.field(metadata={"arrow": _f64, "doc": doc, "unit": unit, "nullable": True, "feature": True,
                                       "filled_by": None})


@dataclass(frozen=True, kw_only=True)
class CandidateRecord:
    """One transit candidate: one row per (star, sector, signal) of ``candidates.parquet``.

    Every field is a column (see each field's ``metadata``: ``arrow`` type,
    ``unit``, ``doc``).  Fields without a default are what the search and the
    vetting produce; leaving one out is a construction error.  Fields with
    ``filled_by`` set are ``None`` here and filled by a later stage.
    """

    # headline columns
    tic_id: int = _col(pa.int64(), "TESS Input Catalog ID (KIC for Kepler)", nullable=False)
    sector: int = _col(pa.int32(), "sector (Kepler quarter) of the light curve searched", nullable=False)
    candidate_index: int = _col(pa.int32(), "order in which the search found the signal (0, 1, ...)",
                                nullable=False)
    period_days: float = _col(_f64, "orbital period", "d")
    t0_btjd: float = _col(_f64, "mid-time of a transit", "BTJD")
    duration_hours: float = _col(_f64, "total duration: the trapezoid fit where it converged, else the BLS box",
                                 "h")
    depth_ppm: float = _col(_f64, "depth: the trapezoid fit where it converged, else the BLS box", "ppm")
    snr: float = _col(_f64, "BLS depth / its error, the error measured on the red noise at the duration")
    score: Optional[float] = _col(_f64, "calibrated planet probability", filled_by="rank")
    sde: float = _col(_f64, "signal detection efficiency of the periodogram peak")
    n_transits: int = _col(pa.int32(), "transit epochs with data")
    odd_even_sigma: float = _col(_f64, "odd minus even depth", "sigma")
    secondary_sigma: float = _col(_f64, "strongest secondary-eclipse significance", "sigma")
    score_lo: Optional[float] = _col(_f64, "lower end of the score's interval", filled_by="rank")
    score_hi: Optional[float] = _col(_f64, "upper end of the score's interval", filled_by="rank")
    disposition: Optional[str] = _col(pa.string(), "the final call (exoray.vet.decision); the vetting rules' "
                                      "call until the score is reconciled with it")
    known_object: Optional[str] = _col(pa.string(), "the catalogued object the signal matches")
    report_path: Optional[str] = _col(pa.string(), "the candidate's report page", filled_by="report")
    single_event: bool = _col(pa.bool_(), "a lone dip (anomaly stage) rather than a periodic signal")
    source_path: str = _col(pa.string(), "the light-curve file searched")
    depth_err_ppm: float = _col(_f64, "error of depth_ppm", "ppm")
    duration_err_hours: float = _col(_f64, "error of duration_hours (NaN for the BLS box)", "h")
    vet_flags: str = _col(pa.string(), "';'-separated flags from exoray.vet (see VetFlags)")
    rule_disposition: Optional[str] = _col(pa.string(), "what the vetting rules alone said; disposition is "
                                           "the final call reconciled with the score", filled_by="decide")
    sectors: str = _col(pa.string(), "the sectors searched together, e.g. '24,51'")
    n_sectors: int = _col(pa.int32(), "how many sectors were searched together")
    sector_depth_ppm: Optional[List[float]] = _col(_lf64, "transit depth in each sector (order of sectors)", "ppm")
    sector_depth_err_ppm: Optional[List[float]] = _col(_lf64, "error of each sector's depth", "ppm")
    sector_depth_p: float = _col(_f64, "chi-square probability that the sectors' depths agree")
    alias_periods_days: Optional[List[float]] = _col(
        _lf64, "a duo-transit (one transit in each of two sectors): the periods the data allow, longest first "
        "(period_days is the first)", "d", filled_by="search (duo-transits)")

    # vetting statistics and stellar context: the ranking features
    bls_depth_ppm: float = _feature("box depth at the BLS peak", "ppm")
    snr_white: float = _feature("the box SNR as white noise would have it")
    red_noise: float = _feature("red-noise factor at the signal's duration (snr_white / snr)")
    transit_chi2_p: float = _feature("probability of the per-transit depths' chi-square (do they agree?)")
    redetrend_gain: float = _feature("SNR after / before re-detrending with the transits masked")
    ms_primary_sigma: float = _feature("transit depth over the spread of the same box at other phases")
    ms_uniqueness: float = _feature("that minus the largest other dip or bump (model-shift test)")
    bls_power: float = _feature("BLS objective at the peak")
    sde_raw: float = _feature("SDE before the periodogram was detrended")
    mes: float = _feature("multiple-event statistic: combined SNR of the transits")
    single_event_fraction: float = _feature("share of SNR^2 carried by the strongest transit")
    odd_even_rel_diff: float = _feature("|d_odd - d_even| / mean depth")
    secondary_half_sigma: float = _feature("depth significance at phase 0.5", "sigma")
    secondary_best_phase: float = _feature("phase of the strongest secondary dip")
    secondary_depth_ratio: float = _feature("strongest secondary depth / primary depth")
    ingress_fraction: float = _feature("trapezoid ingress time / total duration (0.5 = V)")
    v_shape: float = _feature("V-shape metric of the trapezoid fit (0 = box, 1 = V)")
    shape_chi2_red: float = _feature("reduced chi^2 of the trapezoid fit")
    depth_sigma: float = _feature("fitted depth / its error")
    half_phase_sigma: float = _feature("dip significance at half the period", "sigma")
    duration_ratio: float = _feature("duration / longest central transit for the star")
    implied_density_ratio: float = _feature("stellar density implied by the transit / catalogue density")
    companion_radius_earth: float = _feature("radius implied by the depth and stellar radius", "R_earth")
    phase_variability_sigma: float = _feature("strongest out-of-transit brightening", "sigma")
    centroid_sigma: float = _feature("in- vs out-of-transit centroid shift", "sigma")
    centroid_offset_px: float = _feature("distance of the dimming source from the target", "pixel")
    dump_coincidence: float = _feature("fraction of transits on a momentum dump")
    edge_fraction: float = _feature("fraction of transits at segment edges or dumps")
    noise_ppm: float = _feature("robust per-cadence scatter of the detrended light curve", "ppm")
    tmag: float = _feature("TESS magnitude (TIC)", "mag")
    teff: float = _feature("effective temperature (TIC)", "K")
    radius: float = _feature("stellar radius (TIC)", "R_sun")
    logg: float = _feature("surface gravity (TIC)", "log10(cm s^-2)")

    @cached_property
    def flags(self) -> Optional[VetFlags]:
        """``vet_flags`` read into its yes/no facts."""
        return VetFlags.parse(self.vet_flags)

    def to_row(self) -> Dict[str, Any]:
        """The dict row the later stages fill and ``records_to_table`` stores.

        Columns a later stage fills are left out while unset, so a stage can
        tell "not computed yet" from a value.
        """
        row: Dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is None and f.metadata["filled_by"] is not None:
                continue
            row[f.name] = v
        return row


#: Every column of ``candidates.parquet``, in file order.
CANDIDATE_COLUMNS: Tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CandidateRecord))

#: Numeric columns of a candidate beyond the headline ones: the statistics the
#: vetting tests measure and the star's context.  The ranker's features are
#: drawn from these and the headline columns (:mod:`exoray.rank.features`).
CANDIDATE_FEATURES: Tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CandidateRecord)
                                            if f.metadata["feature"])

#: Transit candidates, one row per (star, sector, signal): the fields of
#: :class:`CandidateRecord`.  Columns a stage has not computed are null.
CANDIDATES_SCHEMA = pa.schema(
    [pa.field(f.name, f.metadata["arrow"], nullable=f.metadata["nullable"])
     for f in dataclasses.fields(CandidateRecord)],
    metadata={"exoray.schema": "candidates/1"},
)


def _flag(prefix: str):
    return dataclasses.field(default=False, metadata={"prefix": prefix})


@dataclass(frozen=True)
class VetFlags:
    """The vetting flags of a candidate, read once into yes/no facts.

    A flag is known by how its name starts: ``period_alias:`` carries the
    systematic and the ratio after the colon.  The facts are the flags that
    the ranker (as 0/1 features) and the search act on; ``names`` keeps every
    flag as written.  :meth:`parse` takes the ``vet_flags`` string of a row
    or the ``flags`` list of a :func:`~exoray.vet.vet_candidate` result.
    """

    names: Tuple[str, ...] = ()
    #: the period matches a TESS systematic (orbit, momentum dumps, 1 d)
    period_alias: bool = _flag("period_alias:")
    #: the true period may be half the one found
    period_may_be_half: bool = _flag("period_may_be_half")
    #: the true period may be twice the one found
    period_may_be_2p: bool = _flag("period_may_be_2P")
    #: search SNR below the detection threshold
    low_snr: bool = _flag("low_snr")
    #: the trapezoid fit is V-shaped
    v_shaped: bool = _flag("v_shaped")
    #: one event carries most of the signal
    single_event_dominated: bool = _flag("single_event_dominated")
    #: one transit in each of two sectors (its period is one of ``alias_periods_days``)
    duo_transit: bool = _flag("duo_transit")

    @classmethod
    def parse(cls, flags) -> Optional[VetFlags]:
        """The facts of a ``;``-separated string or a list of flags; ``None`` when there are no flags at all.

        ``None`` (a row never vetted, or a null read from Parquet) means
        "unknown", which is not the same as an empty string ("vetted, no
        flag").
        """
        if isinstance(flags, str):
            names = tuple(f.strip() for f in flags.split(";") if f.strip())
        elif isinstance(flags, (list, tuple)):
            names = tuple(str(f) for f in flags)
        else:
            return None
        return cls(names, **{f.name: any(n.startswith(f.metadata["prefix"]) for n in names) for f in _FLAG_FIELDS})


_FLAG_FIELDS = tuple(f for f in dataclasses.fields(VetFlags) if "prefix" in f.metadata)
#: The yes/no facts of :class:`VetFlags`: attribute -> how the flag's name starts.
BOOLEAN_FLAGS: Dict[str, str] = {f.name: f.metadata["prefix"] for f in _FLAG_FIELDS}


def _num(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


class _Headline:
    """A headline number of :func:`~exoray.vet.vet_candidate`'s result; NaN when absent or not a number."""

    def __init__(self, doc: str):
        self.__doc__ = doc

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, report: Optional[VetReport], owner=None) -> float:
        if report is None:
            return self  # type: ignore[return-value]
        return _num(report.raw.get(self.name))


class _Stat:
    """A number of one vetting test, read off :func:`~exoray.vet.vet_candidate`'s ``tests``; NaN when absent."""

    def __init__(self, test: str, key: str, doc: str):
        self.test, self.key, self.__doc__ = test, key, doc

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, report: Optional[VetReport], owner=None) -> float:
        if report is None:
            return self  # type: ignore[return-value]
        return report.stat(self.test, self.key)


@dataclass(frozen=True)
class VetReport:
    """Typed view of a :func:`~exoray.vet.vet_candidate` result (the dict itself stays as the reports read it).

    The headline numbers (``depth``, ``duration`` and their errors) are the
    trapezoid fit's, NaN where it did not converge; each test's statistic
    is NaN when the test did not run (no centroids, say).
    """

    raw: Mapping[str, Any]

    @property
    def tests(self) -> Mapping[str, Mapping[str, Any]]:
        return self.raw.get("tests", {})

    def stat(self, test: str, key: str) -> float:
        """``tests[test][key]`` as a float; NaN when the test did not run or the value is not a number."""
        t = self.tests.get(test)
        return _num(t.get(key)) if t is not None else float("nan")

    def statistics(self) -> Dict[str, float]:
        """Every test statistic kept as a candidate column, by column name (the ``_Stat`` fields below,
        and the density ratio made of two of them)."""
        names = [n for n, v in vars(VetReport).items() if isinstance(v, _Stat)] + ["implied_density_ratio"]
        return {n: getattr(self, n) for n in names}

    # the verdict
    @property
    def disposition(self) -> Optional[str]:
        return self.raw.get("disposition")

    @property
    def known_object(self) -> Optional[str]:
        return self.raw.get("known_object")

    @property
    def vet_flags(self) -> str:
        """The flags as the ``vet_flags`` column stores them (``;``-separated)."""
        return ";".join(self.raw.get("flags", []))

    @cached_property
    def flags(self) -> VetFlags:
        return VetFlags.parse(list(self.raw.get("flags") or []))

    # the trapezoid fit and the counts
    depth = _Headline("transit depth of the trapezoid fit (fraction)")
    depth_err = _Headline("its error")
    duration = _Headline("total duration of the trapezoid fit [d]")
    duration_err = _Headline("its error [d]")

    def n_transits(self, default: int) -> int:
        """Transit epochs with data (``default`` when the vetting did not count them)."""
        return int(self.raw.get("n_transits", default))

    odd_even_sigma = _Headline("odd minus even depth [sigma]")
    secondary_sigma = _Headline("strongest secondary-eclipse significance [sigma]")

    # per-sector depths (ppm)
    @property
    def sector_depth_ppm(self) -> Optional[List[float]]:
        return [1e6 * d for d in self.tests["sectors"]["depth"]] if "sectors" in self.tests else None

    @property
    def sector_depth_err_ppm(self) -> Optional[List[float]]:
        return [1e6 * d for d in self.tests["sectors"]["depth_err"]] if "sectors" in self.tests else None

    sector_depth_p = _Stat("sectors", "p_value", "chi-square probability that the sectors' depths agree")

    # statistics kept as candidate features
    ms_primary_sigma = _Stat("model_shift", "primary_sigma", "depth over the box's spread at other phases")
    ms_uniqueness = _Stat("model_shift", "value", "model-shift uniqueness")
    mes = _Stat("single_event", "mes", "multiple-event statistic")
    single_event_fraction = _Stat("single_event", "value", "share of SNR^2 in the strongest transit")
    odd_even_rel_diff = _Stat("odd_even", "relative_difference", "|d_odd - d_even| / mean depth")
    secondary_half_sigma = _Stat("secondary", "sigma_half", "depth significance at phase 0.5")
    secondary_best_phase = _Stat("secondary", "best_phase", "phase of the strongest secondary dip")
    secondary_depth_ratio = _Stat("secondary", "depth_ratio", "secondary / primary depth")
    ingress_fraction = _Stat("shape", "ingress_fraction", "trapezoid ingress / total duration")
    v_shape = _Stat("shape", "value", "V-shape metric")
    shape_chi2_red = _Stat("shape", "chi2_red", "reduced chi^2 of the trapezoid fit")
    depth_sigma = _Stat("shape", "significance", "fitted depth / its error")
    half_phase_sigma = _Stat("half_double", "sigma_half_phase", "dip significance at half the period")
    duration_ratio = _Stat("duration", "value", "duration / longest central transit")
    companion_radius_earth = _Stat("duration", "companion_radius_earth", "implied companion radius (R_earth)")
    phase_variability_sigma = _Stat("phase_variability", "significance", "out-of-transit brightening (sigma)")
    centroid_sigma = _Stat("centroid", "significance", "centroid shift (sigma)")
    centroid_offset_px = _Stat("centroid", "source_offset_px", "source offset (pixels)")
    dump_coincidence = _Stat("aliases", "dump_coincidence", "fraction of transits on a momentum dump")
    edge_fraction = _Stat("edges", "value", "fraction of transits at segment edges or dumps")

    @property
    def implied_density_ratio(self) -> float:
        """Stellar density implied by the transit over the catalogue's (NaN without a catalogue density)."""
        stellar = self.stat("duration", "stellar_density")
        implied = self.stat("duration", "implied_density")
        return implied / stellar if stellar and math.isfinite(stellar) and stellar > 0 else float("nan")

