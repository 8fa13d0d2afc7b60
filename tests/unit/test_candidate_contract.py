"""The candidate contract (exoray.vet.records) and the records' schemas derived from the dataclasses."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pyarrow as pa
import pytest

import exoray
from exoray.lightcurve import HEADER_KEYS, STELLAR_KEYS, LightCurve, PreprocessedLightCurve, stored_fields
from exoray.rank.features import FEATURE_COLUMNS, FLAG_FEATURES, candidate_features
from exoray.schemas import LIGHTCURVE_SCHEMA, PREPROCESSED_SCHEMA
from exoray.vet.records import (
    BOOLEAN_FLAGS,
    CANDIDATE_FEATURES,
    CANDIDATES_SCHEMA,
    CandidateRecord,
    VetFlags,
    VetReport,
)

# candidates.parquet as files on disk have it: a change here must be a deliberate one
# (columns are only ever added, and old files must stay readable)
D, I32, S, LD = "double", "int32", "string", "large_list<item: double>"
FROZEN_CANDIDATE_COLUMNS = [
    ("tic_id", "int64", False), ("sector", I32, False), ("candidate_index", I32, False),
    ("period_days", D, True), ("t0_btjd", D, True), ("duration_hours", D, True), ("depth_ppm", D, True),
    ("snr", D, True), ("score", D, True), ("sde", D, True), ("n_transits", I32, True),
    ("odd_even_sigma", D, True), ("secondary_sigma", D, True), ("score_lo", D, True), ("score_hi", D, True),
    ("disposition", S, True), ("known_object", S, True), ("report_path", S, True), ("single_event", "bool", True),
    ("source_path", S, True), ("depth_err_ppm", D, True), ("duration_err_hours", D, True), ("vet_flags", S, True),
    ("rule_disposition", S, True), ("sectors", S, True), ("n_sectors", I32, True), ("sector_depth_ppm", LD, True),
    ("sector_depth_err_ppm", LD, True), ("sector_depth_p", D, True), ("alias_periods_days", LD, True),
] + [(name, D, True) for name in (
    "bls_depth_ppm", "snr_white", "red_noise", "transit_chi2_p", "redetrend_gain", "ms_primary_sigma",
    "ms_uniqueness", "bls_power", "sde_raw", "mes", "single_event_fraction", "odd_even_rel_diff",
    "secondary_half_sigma", "secondary_best_phase", "secondary_depth_ratio", "ingress_fraction", "v_shape",
    "shape_chi2_red", "depth_sigma", "half_phase_sigma", "duration_ratio", "implied_density_ratio",
    "companion_radius_earth", "phase_variability_sigma", "centroid_sigma", "centroid_offset_px",
    "dump_coincidence", "edge_fraction", "noise_ppm", "tmag", "teff", "radius", "logg")]


def test_candidates_schema_is_the_frozen_column_list():
    got = [(f.name, str(f.type), f.nullable) for f in CANDIDATES_SCHEMA]
    assert got == FROZEN_CANDIDATE_COLUMNS
    assert CANDIDATES_SCHEMA.metadata == {b"exoray.schema": b"candidates/1"}
    # the features are the trailing float columns, in the same order
    assert list(CANDIDATE_FEATURES) == [n for n, _, _ in FROZEN_CANDIDATE_COLUMNS[-len(CANDIDATE_FEATURES):]]
    assert len(CANDIDATE_FEATURES) == 33


def test_every_column_is_documented():
    for f in dataclasses.fields(CandidateRecord):
        assert f.metadata["doc"], f.name
        assert isinstance(f.metadata["arrow"], pa.DataType), f.name


def _record(**over):
    kw = {f.name: (0.0 if f.metadata["arrow"] == pa.float64() else None)
          for f in dataclasses.fields(CandidateRecord) if f.metadata["filled_by"] is None}
    kw.update(tic_id=1, sector=2, candidate_index=0, vet_flags="", single_event=False, source_path="x",
              sectors="2", n_sectors=1, n_transits=3)
    kw.update(over)
    return CandidateRecord(**kw)


def test_a_missing_column_is_a_construction_error():
    kw = {f.name: getattr(_record(), f.name) for f in dataclasses.fields(CandidateRecord)}
    del kw["mes"]
    with pytest.raises(TypeError, match="mes"):
        CandidateRecord(**kw)
    with pytest.raises(dataclasses.FrozenInstanceError):
        _record().snr = 3.0


def test_row_leaves_out_the_columns_later_stages_fill_until_set():
    later = {f.name for f in dataclasses.fields(CandidateRecord) if f.metadata["filled_by"]}
    assert later == {"score", "score_lo", "score_hi", "report_path", "rule_disposition", "alias_periods_days"}
    row = _record().to_row()
    assert set(row) == set(CANDIDATES_SCHEMA.names) - later
    assert _record(score=0.9).to_row()["score"] == 0.9


@pytest.mark.parametrize("flags", [
    "",
    "low_snr",
    "period_alias:TESS orbit 13.7 d x1/4;secondary_planet_like",
    " v_shaped ; period_may_be_2P;;period_may_be_half",
    "single_event_dominated;duo_transit;secondary_of_0;low_score;rules:eclipsing_binary",
    "insignificant_depth;odd_even;centroid_shift",
])
def test_flag_facts_agree_with_the_vet_flags_string(flags):
    names = [f.strip() for f in flags.split(";") if f.strip()]
    rec = _record(vet_flags=flags)
    for fact, prefix in BOOLEAN_FLAGS.items():
        assert getattr(rec.flags, fact) == any(n.startswith(prefix) for n in names), fact
    assert rec.flags.names == tuple(names)
    # the same facts from the vetting result's list, and as the ranker's 0/1 features
    assert VetReport({"flags": names}).flags == rec.flags
    x, cols = candidate_features([{"vet_flags": flags}])
    for feature, fact in FLAG_FEATURES.items():
        assert x[0, cols.index(feature)] == float(getattr(rec.flags, fact))


def test_no_flags_at_all_is_unknown():
    assert VetFlags.parse(None) is None and VetFlags.parse(float("nan")) is None
    x, cols = candidate_features([{"vet_flags": None}])
    assert all(math.isnan(x[0, cols.index(f)]) for f in FLAG_FEATURES)


def test_vet_report_reads_the_tests():
    rep = VetReport({"tests": {"shape": {"value": 0.25, "significance": "n/a"},
                               "duration": {"stellar_density": 2.0, "implied_density": 3.0}},
                     "depth": 1e-3, "flags": ["v_shaped"]})
    assert rep.v_shape == 0.25 and math.isnan(rep.depth_sigma) and math.isnan(rep.centroid_sigma)
    assert rep.implied_density_ratio == 1.5 and rep.depth == 1e-3 and math.isnan(rep.duration)
    assert rep.sector_depth_ppm is None and rep.vet_flags == "v_shaped" and rep.n_transits(default=4) == 4


def test_ranker_features_are_the_shipped_models():
    shipped = json.loads((Path(exoray.__file__).parent / "data" / "ranker" / "config.json").read_text())
    assert list(FEATURE_COLUMNS) == shipped["feature_names"]


def test_lightcurve_schemas_come_from_the_dataclasses():
    assert HEADER_KEYS[:2] == ("tic_id", "sector") and set(STELLAR_KEYS) <= set(HEADER_KEYS)
    for schema, record in ((LIGHTCURVE_SCHEMA, LightCurve), (PREPROCESSED_SCHEMA, PreprocessedLightCurve)):
        assert set(schema.names) == set(stored_fields(record))
        assert tuple(schema.names[:len(HEADER_KEYS)]) == HEADER_KEYS
    assert "meta" not in LIGHTCURVE_SCHEMA.names and "parts" not in PREPROCESSED_SCHEMA.names
    # every field a reader fills about the star and its file reaches the preprocessed record
    raw_header = [n for n in stored_fields(LightCurve) if n not in ("time", "flux", "flux_err", "quality",
                                                                     "centroid_col", "centroid_row")]
    assert tuple(raw_header) == HEADER_KEYS
