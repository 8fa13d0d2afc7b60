"""Ranking features: candidate rows -> a float32 matrix (pure functions).

A candidate row is a dict (or a DataFrame row) as produced by
:func:`exoray.search.candidates.find_candidates`: the
:data:`~exoray.schemas.CANDIDATES_SCHEMA` columns plus flat vetting statistics.
Each feature below is computed from a few of those keys; a key that is
missing, ``None`` or not finite gives ``NaN`` (LightGBM routes missing values
down a learned branch; the random-forest baseline imputes them).  Several
source names are accepted for each quantity (first present wins), so the
ranker also scores older candidate tables and tables built from other
searches (see :data:`SOURCE_KEYS`).

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
"""

from __future__ import annotations

import math
from typing import Any, Iterable, List, Mapping, Sequence, Tuple, Union

import numpy as np

from ..astro import radius_earth

__all__ = ["FEATURE_COLUMNS", "DISPOSITION_NAMES", "SOURCE_KEYS", "FLAG_FEATURES", "candidate_features", "feature_frame"]

#: Dispositions a candidate row may carry (:data:`exoray.vet.DISPOSITIONS`).  The
#: rules' disposition is not a feature: the ranker learns from the statistics
#: behind it, and :mod:`exoray.vet.decision` reconciles the two afterwards.
from ..vet.disposition import DISPOSITIONS as DISPOSITION_NAMES  # noqa: E402

#: accepted source keys per quantity, first present wins
SOURCE_KEYS = {
    "period": ("period_days", "period"),
    "duration_hours": ("duration_hours",),
    "duration_ratio": ("duration_ratio",),
    "depth_ppm": ("depth_ppm",),
    "snr": ("snr",),
    "snr_white": ("snr_white",),
    "red_noise": ("red_noise",),
    "transit_chi2_p": ("transit_chi2_p",),
    "redetrend_gain": ("redetrend_gain",),
    "ms_primary_sigma": ("ms_primary_sigma",),
    "ms_uniqueness": ("ms_uniqueness",),
    "sde": ("sde",),
    "n_transits": ("n_transits",),
    "density_ratio": ("implied_density_ratio",),
    "sde_raw": ("sde_raw",),
    "mes": ("mes",),
    "depth_sigma": ("depth_sigma",),
    "odd_even_rel_diff": ("odd_even_rel_diff",),
    "secondary_half_sigma": ("secondary_half_sigma",),
    "v_shape": ("v_shape",),
    "shape_chi2_red": ("shape_chi2_red",),
    "dump_coincidence": ("dump_coincidence",),
    "vet_flags": ("vet_flags", "flags"),
    "odd_even_sigma": ("odd_even_sigma",),
    "secondary_sigma": ("secondary_sigma",),
    "secondary_depth_ratio": ("secondary_depth_ratio", "secondary_ratio"),
    "ingress_fraction": ("ingress_fraction",),
    "single_event_fraction": ("single_event_fraction",),
    "centroid_sigma": ("centroid_sigma", "centroid_shift_sigma"),
    "centroid_offset_px": ("centroid_offset_px",),
    "noise_ppm": ("noise_ppm",),
    "tmag": ("tmag",),
    "teff": ("teff",),
    "radius": ("radius",),
    "logg": ("logg",),
    "companion_radius_earth": ("companion_radius_earth",),
    "half_phase_sigma": ("half_phase_sigma",),
    "phase_variability_sigma": ("phase_variability_sigma",),
    "edge_fraction": ("edge_fraction",),
    "candidate_index": ("candidate_index",),
    "disposition": ("rule_disposition", "disposition"),
}

#: flags of ``vet_flags`` turned into 0/1 features: feature name -> flag prefix
FLAG_FEATURES = {
    "alias_flag": "period_alias:",
    "period_may_be_half": "period_may_be_half",
    "period_may_be_2p": "period_may_be_2P",
    "low_snr_flag": "low_snr",
    "v_shaped_flag": "v_shaped",
}

FEATURE_COLUMNS: Tuple[str, ...] = (
    "log10_period",
    "duration_hours",
    "log10_duration_ratio",
    "log10_density_ratio",
    "log10_depth_ppm",
    "snr",
    "log10_snr_white",
    "log10_red_noise",
    "log10_transit_chi2_p",
    "redetrend_gain",
    "ms_primary_sigma",
    "ms_uniqueness",
    "sde",
    "sde_raw",
    "mes",
    "depth_sigma",
    "n_transits",
    "odd_even_sigma",
    "odd_even_rel_diff",
    "secondary_sigma",
    "secondary_half_sigma",
    "secondary_depth_ratio",
    "ingress_fraction",
    "v_shape",
    "log10_shape_chi2",
    "single_event_fraction",
    "centroid_sigma",
    "log10_centroid_offset_px",
    "log10_noise_ppm",
    "tmag",
    "teff",
    "radius",
    "logg",
    "log10_companion_rearth",
    "half_phase_sigma",
    "phase_variability_sigma",
    "dump_coincidence",
    "edge_fraction",
) + tuple(FLAG_FEATURES)


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


def _get(row: Mapping, quantity: str) -> Any:
    for k in SOURCE_KEYS[quantity]:
        if k in row:
            v = row[k]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            return v
    return None


def _log10_pos(x: float) -> float:
    return math.log10(x) if x > 0 else math.nan


def _row_features(row: Mapping) -> List[float]:
    g = lambda q: _num(_get(row, q))  # noqa: E731
    period = g("period")
    depth = g("depth_ppm")
    radius = g("radius")
    comp = g("companion_radius_earth")
    if not math.isfinite(comp) and depth > 0 and radius > 0:
        comp = float(radius_earth(math.sqrt(depth * 1e-6), radius))
    ratio = g("secondary_depth_ratio")
    if math.isfinite(ratio):
        ratio = min(max(ratio, -1.0), 2.0)
    oe = g("odd_even_sigma")
    rel = g("odd_even_rel_diff")
    out = [
        _log10_pos(period),
        g("duration_hours"),
        _log10_pos(g("duration_ratio")),
        _log10_pos(g("density_ratio")),
        _log10_pos(depth),
        g("snr"),
        _log10_pos(g("snr_white")),
        _log10_pos(g("red_noise")),
        max(_log10_pos(g("transit_chi2_p")), -30.0) if math.isfinite(g("transit_chi2_p")) else math.nan,
        g("redetrend_gain"),
        g("ms_primary_sigma"),
        g("ms_uniqueness"),
        g("sde"),
        g("sde_raw"),
        g("mes"),
        g("depth_sigma"),
        g("n_transits"),
        abs(oe) if math.isfinite(oe) else oe,
        abs(rel) if math.isfinite(rel) else rel,
        g("secondary_sigma"),
        g("secondary_half_sigma"),
        ratio,
        g("ingress_fraction"),
        g("v_shape"),
        _log10_pos(g("shape_chi2_red")),
        g("single_event_fraction"),
        g("centroid_sigma"),
        _log10_pos(g("centroid_offset_px")),
        _log10_pos(g("noise_ppm")),
        g("tmag"),
        g("teff"),
        radius,
        g("logg"),
        _log10_pos(comp),
        g("half_phase_sigma"),
        g("phase_variability_sigma"),
        g("dump_coincidence"),
        g("edge_fraction"),
    ]
    flags = _get(row, "vet_flags")
    if isinstance(flags, str):
        names = [f.strip() for f in flags.split(";") if f.strip()]
        out += [float(any(f.startswith(p) for f in names)) for p in FLAG_FEATURES.values()]
    elif isinstance(flags, (list, tuple)):
        out += [float(any(str(f).startswith(p) for f in flags)) for p in FLAG_FEATURES.values()]
    else:  # no vetting flags at all: unknown, not "absent"
        out += [math.nan] * len(FLAG_FEATURES)
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
