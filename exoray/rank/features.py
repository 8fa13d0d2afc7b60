"""Ranking features: candidate rows -> a float32 matrix (pure functions).

A candidate row is a dict (or a DataFrame row) as produced by
:func:`exoray.search.candidates.find_candidates`: the
:data:`~exoray.vet.records.CANDIDATES_SCHEMA` columns plus flat vetting statistics.
Each feature below is computed from a few of those keys; a key that is
missing, ``None`` or not finite gives ``NaN`` (LightGBM routes missing values
down a learned branch; the random-forest baseline imputes them).  Every
feature is read from a column of the candidate contract
(:class:`exoray.vet.records.CandidateRecord`); a few columns are also
accepted under an older name (:data:`LEGACY_KEYS`, first present wins), so
the ranker also scores older candidate tables and ``/v1/rank`` records that
use those names (see :data:`SOURCE_KEYS`).

Features and transforms (:data:`FEATURE_COLUMNS`, in matrix order)
-------------------------------------------------------------------
========================  =====================================================
``log10_period``          log10 period [d]
``duration_hours``        BLS box / fitted total duration [h]
``log10_duration_ratio``  log10(observed duration / longest central-transit
                          duration for the star's density); >0 too long for
                          a planet on this star (EBs, blends, giants)
``log10_depth_ppm``       log10 depth [ppm] (fitted trapezoid when present)
``log10_density_ratio``   log10(stellar density implied by the transit /
                          catalogue density)
``snr``                   BLS depth / depth error, the error measured against
                          the light curve's red noise on the transit's duration
``log10_snr_white``       log10 of the SNR white noise would give
``log10_red_noise``       log10 red-noise factor at the transit's duration
``log10_transit_chi2_p``  log10 probability of the per-transit depths' chi^2
``redetrend_gain``        SNR after / before re-detrending with the transits masked
``ms_primary_sigma``      depth over the spread of the same box at other phases
``ms_uniqueness``         that minus the largest other dip or bump (model shift)
``sde``, ``sde_raw``      signal detection efficiency of the periodogram peak
                          (detrended / raw periodogram)
``mes``                   multiple-event statistic (combined transit SNR)
``depth_sigma``           fitted trapezoid depth / its error
``n_transits``            transit epochs with data
``odd_even_sigma``        |odd - even| depth difference [sigma]
``odd_even_rel_diff``     |odd - even| / mean depth
``secondary_sigma``       strongest secondary-eclipse significance [sigma]
``secondary_half_sigma``  secondary significance at phase 0.5 [sigma]
``secondary_depth_ratio`` secondary / primary depth (clipped to [-1, 2])
``ingress_fraction``      trapezoid ingress / total duration (0 box .. 0.5 V)
``v_shape``               V-shape metric of the trapezoid fit (0 box, 1 V)
``log10_shape_chi2``      log10 reduced chi^2 of the trapezoid fit
``single_event_fraction`` share of the strongest transit in the total SNR
``centroid_sigma``        in/out-of-transit centroid shift [sigma]
``log10_centroid_offset_px``  log10 distance of the dimming source from the
                          target implied by the shift and the depth [pixel]
``log10_noise_ppm``       log10 robust per-cadence scatter [ppm]
``tmag``, ``teff``,       star (TIC): magnitude, K, R_sun, cgs
``radius``, ``logg``
``log10_companion_rearth``  log10 companion radius implied by depth and
                          stellar radius [R_earth]
``half_phase_sigma``      dip significance at phase 0.5 of P (P/2 alias)
``phase_variability_sigma``  out-of-transit brightening [sigma]
``dump_coincidence``      share of transits on a momentum dump
``edge_fraction``         share of transits at segment edges / dumps
``alias_flag``            1 if the period matches a TESS systematic alias
                          (``period_alias:`` in ``vet_flags``)
``period_may_be_half``,   1 if the vetting suspects P/2 or 2P
``period_may_be_2p``      (``vet_flags``)
``low_snr_flag``,         1 if the vetting flagged low SNR / an
``v_shaped_flag``         V-shaped eclipse (``vet_flags``)
========================  =====================================================

The flag features are :class:`exoray.vet.records.VetFlags` facts, NaN when a
row has no ``vet_flags`` at all (unknown, not "absent").
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Iterable, List, Mapping, Sequence, Tuple, Union

import numpy as np

from ..astro import radius_earth
from ..vet.records import VetFlags

__all__ = ["FEATURE_COLUMNS", "DISPOSITION_NAMES", "SOURCE_KEYS", "LEGACY_KEYS", "FLAG_FEATURES",
           "candidate_features", "feature_frame"]

#: Dispositions a candidate row may carry (:data:`exoray.vet.DISPOSITIONS`).  The
#: rules' disposition is not a feature: the ranker learns from the statistics
#: behind it, and :mod:`exoray.vet.decision` reconciles the two afterwards.
from ..vet.disposition import DISPOSITIONS as DISPOSITION_NAMES  # noqa: E402


def _num(v: Any) -> float:
    """Float or NaN (None, NaN, non-numeric, pandas NA)."""
    if v is None:
        return math.nan
    if isinstance(v, (bool, np.bool_)):
        return float(v)
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


def _log10_pos(x: float) -> float:
    return math.log10(x) if x > 0 else math.nan


def _same(x: float) -> float:
    return x


def _abs(x: float) -> float:
    return abs(x) if math.isfinite(x) else x


def _log10_p(x: float) -> float:
    return max(_log10_pos(x), -30.0) if math.isfinite(x) else math.nan


def _clip_ratio(x: float) -> float:
    return min(max(x, -1.0), 2.0) if math.isfinite(x) else x


def _log10_companion(x: float, get: Callable[[str], float]) -> float:
    # a table without the column: the radius the depth implies for this star
    if not math.isfinite(x):
        depth, radius = get("depth_ppm"), get("radius")
        if depth > 0 and radius > 0:
            x = float(radius_earth(math.sqrt(depth * 1e-6), radius))
    return _log10_pos(x)


#: The numeric features in the shipped ranker's matrix order (its saved
#: models depend on it): feature name, the candidate column it is read from,
#: and its transform.
_NUMERIC: Tuple[Tuple[str, str, Callable], ...] = (
    ("log10_period", "period_days", _log10_pos),
    ("duration_hours", "duration_hours", _same),
    ("log10_duration_ratio", "duration_ratio", _log10_pos),
    ("log10_density_ratio", "implied_density_ratio", _log10_pos),
    ("log10_depth_ppm", "depth_ppm", _log10_pos),
    ("snr", "snr", _same),
    ("log10_snr_white", "snr_white", _log10_pos),
    ("log10_red_noise", "red_noise", _log10_pos),
    ("log10_transit_chi2_p", "transit_chi2_p", _log10_p),
    ("redetrend_gain", "redetrend_gain", _same),
    ("ms_primary_sigma", "ms_primary_sigma", _same),
    ("ms_uniqueness", "ms_uniqueness", _same),
    ("sde", "sde", _same),
    ("sde_raw", "sde_raw", _same),
    ("mes", "mes", _same),
    ("depth_sigma", "depth_sigma", _same),
    ("n_transits", "n_transits", _same),
    ("odd_even_sigma", "odd_even_sigma", _abs),
    ("odd_even_rel_diff", "odd_even_rel_diff", _abs),
    ("secondary_sigma", "secondary_sigma", _same),
    ("secondary_half_sigma", "secondary_half_sigma", _same),
    ("secondary_depth_ratio", "secondary_depth_ratio", _clip_ratio),
    ("ingress_fraction", "ingress_fraction", _same),
    ("v_shape", "v_shape", _same),
    ("log10_shape_chi2", "shape_chi2_red", _log10_pos),
    ("single_event_fraction", "single_event_fraction", _same),
    ("centroid_sigma", "centroid_sigma", _same),
    ("log10_centroid_offset_px", "centroid_offset_px", _log10_pos),
    ("log10_noise_ppm", "noise_ppm", _log10_pos),
    ("tmag", "tmag", _same),
    ("teff", "teff", _same),
    ("radius", "radius", _same),
    ("logg", "logg", _same),
    ("log10_companion_rearth", "companion_radius_earth", _log10_companion),
    ("half_phase_sigma", "half_phase_sigma", _same),
    ("phase_variability_sigma", "phase_variability_sigma", _same),
    ("dump_coincidence", "dump_coincidence", _same),
    ("edge_fraction", "edge_fraction", _same),
)
#: transforms that also read other columns
_NEEDS_ROW = (_log10_companion,)

#: flags of ``vet_flags`` turned into 0/1 features: feature name -> :class:`~exoray.vet.records.VetFlags` fact
FLAG_FEATURES: Dict[str, str] = {
    "alias_flag": "period_alias",
    "period_may_be_half": "period_may_be_half",
    "period_may_be_2p": "period_may_be_2p",
    "low_snr_flag": "low_snr",
    "v_shaped_flag": "v_shaped",
}

FEATURE_COLUMNS: Tuple[str, ...] = tuple(name for name, _, _ in _NUMERIC) + tuple(FLAG_FEATURES)

#: Older names of candidate columns, still accepted after the column's own
#: (first present wins): records sent to ``/v1/rank`` in the vetting
#: result's terms (``period``, ``flags``), columns renamed since, and
#: ``disposition`` for tables written before ``rule_disposition`` existed
#: (their ``disposition`` is the rules' call).
LEGACY_KEYS: Dict[str, Tuple[str, ...]] = {
    "period_days": ("period",),
    "vet_flags": ("flags",),
    "secondary_depth_ratio": ("secondary_ratio",),
    "centroid_sigma": ("centroid_shift_sigma",),
    "rule_disposition": ("disposition",),
}

#: The keys a row is read by: candidate column -> accepted keys, first present
#: wins.  The columns are those the features read, the flags, and the two that
#: identify a row's verdict and order (which are not features).
SOURCE_KEYS: Dict[str, Tuple[str, ...]] = {
    col: (col,) + LEGACY_KEYS.get(col, ())
    for col in dict.fromkeys([c for _, c, _ in _NUMERIC] + ["vet_flags", "candidate_index", "rule_disposition"])
}


def _get(row: Mapping, column: str) -> Any:
    for k in SOURCE_KEYS[column]:
        if k in row:
            v = row[k]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            return v
    return None


def _row_features(row: Mapping) -> List[float]:
    def get(column: str) -> float:
        return _num(_get(row, column))

    out = [transform(get(col), get) if transform in _NEEDS_ROW else transform(get(col))
           for _, col, transform in _NUMERIC]
    flags = VetFlags.parse(_get(row, "vet_flags"))
    if flags is None:  # no vetting flags at all: unknown, not "absent"
        out += [math.nan] * len(FLAG_FEATURES)
    else:
        out += [float(getattr(flags, fact)) for fact in FLAG_FEATURES.values()]
    return out


def _iter_rows(rows) -> Iterable[Mapping]:
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # pandas DataFrame
        return rows.to_dict("records")
    if hasattr(rows, "to_pylist"):  # pyarrow Table
        return rows.to_pylist()
    if isinstance(rows, Mapping):
        return [rows]
    return rows


def candidate_features(rows: Union[Sequence[Mapping], Any]) -> Tuple[np.ndarray, List[str]]:
    """Feature matrix of candidate rows.

    Parameters
    ----------
    rows : sequence of dict, dict, pandas.DataFrame or pyarrow.Table
        Candidate rows (see module docstring for the keys used).

    Returns
    -------
    X : ndarray, float32, shape (n_rows, len(FEATURE_COLUMNS))
        Missing inputs are ``NaN``.
    names : list of str
        :data:`FEATURE_COLUMNS`.

    Examples
    --------
    >>> X, names = candidate_features([{"period_days": 10.0, "snr": 12.0}])
    >>> X.shape == (1, len(names)), float(X[0, 0]), float(X[0, names.index("snr")])
    (True, 1.0, 12.0)
    """
    feats = [_row_features(r) for r in _iter_rows(rows)]
    X = np.asarray(feats, dtype=np.float32).reshape(len(feats), len(FEATURE_COLUMNS))
    return X, list(FEATURE_COLUMNS)


def feature_frame(rows):
    """:func:`candidate_features` as a pandas DataFrame (for inspection / Parquet)."""
    import pandas as pd

    X, names = candidate_features(rows)
    return pd.DataFrame(X, columns=names)
