"""The service's pure pieces without Ray or HTTP: request -> LightCurve, checks, rank records, settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from exoray.errors import ConfigError, InputError
from exoray.serve.bodies import RankRequest, ScoreRequest
from exoray.serve.score import (
    check_lightcurve,
    lightcurve_from_request,
    public_candidate,
    rank_records,
    score_lightcurve,
    validate_rank_records,
)


def _req(n=300, **kw):
    t = (1000.0 + np.arange(n) * 2.0 / 1440.0).tolist()
    body = {"time": t, "flux": [1000.0] * n}
    body.update(kw)
    return ScoreRequest.model_validate(body)


def test_request_to_lightcurve_keeps_ids_stellar_params_and_nulls():
    req = _req(tic_id=7, sector=3, radius=0.9, teff=5100, flux_err=[None] + [1.0] * 299, quality=[0] * 299 + [4])
    lc = lightcurve_from_request(req)
    assert (lc.tic_id, lc.sector, lc.radius, lc.teff) == (7, 3, 0.9, 5100.0)
    assert math.isnan(lc.flux_err[0]) and lc.quality[-1] == 4
    assert lc.cadence_s == pytest.approx(120.0)


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"flux": [1.0] * 299}, ["'flux' has 299", "'time' has 300"]),
        ({"quality": [0] * 10}, ["'quality' has 10"]),
        ({"flux": [None] * 300}, ["no finite value"]),
        ({"flux": [1.0] * 50 + [None] * 250}, ["only 50 cadences", "at least 100"]),
        ({"flux": [-5.0] * 300}, ["must be positive"]),
    ],
)
def test_request_errors_say_what_is_wrong(kw, words):
    with pytest.raises(InputError) as err:
        lightcurve_from_request(_req(**kw))
    for w in words:
        assert w in str(err.value)


def test_time_order_and_finiteness():
    t = (1000.0 + np.arange(300) * 0.01).tolist()
    t[10], t[11] = t[11], t[10]
    with pytest.raises(InputError, match=r"strictly increasing; time\[11\]"):
        lightcurve_from_request(ScoreRequest(time=t, flux=[1.0] * 300))
    t = (1000.0 + np.arange(300) * 0.01).tolist()
    t[5] = float("nan")
    with pytest.raises(InputError, match="non-finite"):
        lightcurve_from_request(ScoreRequest(time=t, flux=[1.0] * 300))


@pytest.mark.parametrize(
    "body",
    [
        {"time": ["1"], "flux": [1.0]},  # strings are not numbers
        {"time": [1.0], "flux": [True]},  # nor are booleans
        {"time": [1.0], "flux": [1.0], "fluxes": [1.0]},  # unknown field
        {"time": [1.0], "flux": [1.0], "quality": [-1]},
        {"time": [1.0], "flux": [1.0], "tic_id": "7"},
        {"time": [], "flux": []},
    ],
)
def test_schema_is_strict(body):
    with pytest.raises(ValidationError):
        ScoreRequest.model_validate(body)


def test_rank_records_validation_lists_every_problem():
    recs = [
        {"period_days": 1.0, "duration_hours": 2.0, "depth_ppm": 500.0},  # no snr
        {"period_days": 1.0, "duration_hours": 2.0, "depth_ppm": 500.0, "snr": float("nan")},
        {"period_days": 1.0, "duration_hours": 2.0, "depth_ppm": 500.0, "snr": 9.0, "disposition": "planet"},
        {"period_days": 1.0, "duration_hours": 2.0, "depth_ppm": 500.0, "snr": 9.0, "tic_id": 1.5},
    ]
    with pytest.raises(InputError) as err:
        validate_rank_records(RankRequest(candidates=recs).candidates)
    locs = [d["loc"] for d in err.value.details]
    assert locs == ["candidates[0].snr", "candidates[1].snr", "candidates[2].disposition", "candidates[3].tic_id"]


def test_rank_records_sorted_and_same_scores_as_the_ranker():
    from exoray.rank.ranker import load_default_ranker

    ranker = load_default_ranker()
    recs = [
        {"id": "a", "period_days": 3.0, "duration_hours": 2.0, "depth_ppm": 800.0, "snr": 30.0, "sde": 20.0,
         "disposition": "planet_candidate", "vet_flags": ""},
        {"id": "b", "period_days": 1.1, "duration_hours": 5.0, "depth_ppm": 90000.0, "snr": 300.0, "sde": 30.0,
         "secondary_sigma": 50.0, "disposition": "eclipsing_binary", "vet_flags": "v_shaped"},
        {"id": "c", "period_days": 13.7, "duration_hours": 9.0, "depth_ppm": 200.0, "snr": 7.5,
         "disposition": "instrumental", "extra": "x"},
    ]
    checked, ignored = validate_rank_records(recs)
    assert ignored == ["extra"]
    out = rank_records(checked, ranker)
    s, lo, hi = ranker.score_rows(checked)
    assert [o["score"] for o in out] == sorted(s.tolist(), reverse=True)
    for o in out:
        assert o["score"] == pytest.approx(s[o["index"]]) and lo[o["index"]] <= o["score"] <= hi[o["index"]]


def test_public_candidate_nan_to_null():
    c = public_candidate({"candidate_index": 0, "period_days": 2.0, "t0_btjd": 1.0, "duration_hours": 2.0,
                         "depth_ppm": 100.0, "snr": 8.0, "score": float("nan"), "disposition": None})
    assert c["score"] is None and c["disposition"] == "unvetted"


def test_score_lightcurve_same_chain_as_the_sweep():
    """Box transit through the in-process chain (preprocess -> find_candidates -> ranker)."""
    rng = np.random.default_rng(3)
    t = 1000.0 + np.arange(0, 20.0, 2.0 / 1440.0)
    f = 1000.0 * (1 + rng.normal(0, 1e-3, t.size))
    ph = (t - 1000.7 + 1.2) % 2.4 - 1.2
    f[np.abs(ph) < 1.25 / 24] *= 0.99
    lc = lightcurve_from_request(ScoreRequest(time=t.tolist(), flux=f.tolist()))
    rows = score_lightcurve(lc)
    assert rows and rows[0]["period_days"] == pytest.approx(2.4, rel=2e-3)
    assert rows[0]["score_lo"] <= rows[0]["score"] <= rows[0]["score_hi"]


def test_merge_settings_rejects_typos_and_replaces_scaling_mode():
    from exoray.serve.settings import DEFAULT_SETTINGS, merge_settings

    s = merge_settings({"batching": False, "deployments": {"Searcher": {"num_replicas": 3}}})
    assert s["batching"] is False and s["deployments"]["Searcher"]["num_replicas"] == 3
    assert "autoscaling_config" not in s["deployments"]["Searcher"]
    assert s["deployments"]["Searcher"]["ray_actor_options"] == DEFAULT_SETTINGS["deployments"]["Searcher"]["ray_actor_options"]
    with pytest.raises(ConfigError, match="unknown service setting 'batchng'"):
        merge_settings({"batchng": True})
    with pytest.raises(ConfigError, match="unknown deployment"):
        merge_settings({"deployments": {"Nope": {}}})


def test_shipped_serve_config_builds():
    from exoray.serve.settings import merge_settings
    from exoray.serve.commands import CONFIG_PATH, load_config_args

    args = load_config_args(str(CONFIG_PATH))
    s = merge_settings(args)
    assert s["max_request_bytes"] == 16 * 2**20 and s["batching"] is True
    assert check_lightcurve  # imported API stays public
