"""exoray.rank: features, calibrated bootstrap ranker, persistence, labels, active learning, CLI."""

from __future__ import annotations

import builtins
import io
import json
import pickle

import numpy as np
import pandas as pd
import pytest

from exoray.cli import main
from exoray.errors import InputError
from exoray.rank import (
    FEATURE_COLUMNS,
    Ranker,
    append_labels,
    candidate_features,
    evaluate,
    load_default_ranker,
    read_labels,
    simulate_active_learning,
    uncertainty_queue,
)
from exoray.rank.ranker import DEFAULT_MODEL_DIR
from exoray.pipelines.training_data import label_candidate, load_kepler_dr24_tces, load_yu2019_tces

CAND = {
    "tic_id": 123, "sector": 5, "candidate_index": 0, "period_days": 3.2, "t0_btjd": 1440.1,
    "duration_hours": 2.5, "depth_ppm": 1500.0, "snr": 14.0, "sde": 11.0, "n_transits": 7,
    "odd_even_sigma": -0.4, "secondary_sigma": 1.0, "disposition": "planet_candidate",
    "vet_flags": "period_alias:TESS orbit 13.7 d x1/4;secondary_planet_like", "mes": 13.0,
    "single_event_fraction": 0.2, "secondary_depth_ratio": 0.05, "ingress_fraction": 0.1, "v_shape": 0.2,
    "shape_chi2_red": 1.0, "depth_sigma": 12.0, "half_phase_sigma": 0.3, "duration_ratio": 0.8,
    "implied_density_ratio": 1.1, "companion_radius_earth": 3.0, "phase_variability_sigma": 1.0,
    "centroid_sigma": float("nan"), "dump_coincidence": 0.0, "edge_fraction": 0.0, "noise_ppm": 900.0,
    "tmag": 10.0, "teff": 5600.0, "radius": 1.0, "logg": 4.4, "sde_raw": 8.0, "odd_even_rel_diff": 0.05,
}


# --------------------------------------------------------------------------- features
def test_features_shape_transforms_and_nan():
    rows = [CAND, {"period_days": 10.0, "snr": None}, {}]
    X, names = candidate_features(rows)
    assert X.shape == (3, len(FEATURE_COLUMNS)) and X.dtype == np.float32 and names == list(FEATURE_COLUMNS)
    f = dict(zip(names, X[0]))
    assert f["log10_period"] == pytest.approx(np.log10(3.2))
    assert f["log10_depth_ppm"] == pytest.approx(np.log10(1500.0))
    assert f["odd_even_sigma"] == pytest.approx(0.4)  # |odd - even|
    assert f["alias_flag"] == 1 and f["v_shaped_flag"] == 0
    assert np.isnan(f["centroid_sigma"])
    assert np.isnan(X[1, names.index("snr")]) and X[1, names.index("log10_period")] == 1.0
    assert np.isnan(X[2]).all()  # nothing known -> NaN (flags too)
    # the rules' disposition and the order of discovery are not features
    assert not any(n.startswith("disp_") or n == "candidate_index" for n in names)
    # a DataFrame gives the same matrix
    X2, _ = candidate_features(pd.DataFrame(rows[:1]))
    np.testing.assert_array_equal(X2, X[:1])


def test_feature_sources_are_candidate_columns():
    # the contract with the search stage: every quantity's first source key is a candidates.parquet column
    from exoray.rank.features import SOURCE_KEYS
    from exoray.vet.records import CANDIDATES_SCHEMA

    missing = {q: keys[0] for q, keys in SOURCE_KEYS.items() if keys[0] not in CANDIDATES_SCHEMA.names}
    assert not missing


@pytest.mark.slow
def test_simulated_star_end_to_end():
    from exoray.pipelines.training_data import simulate_star_candidates

    rows, star = simulate_star_candidates(2, 5)  # a planet star of set 5
    assert star["star_class"] == "planet" and rows and rows[0]["label"] == 1
    X, names = candidate_features(rows)
    for k in ("log10_period", "snr", "sde", "mes", "depth_sigma", "log10_noise_ppm", "disp_planet_candidate"):
        assert np.isfinite(X[0, names.index(k)])


def test_batched_training_stars_match_the_per_star_search():
    """One engine over a batch of simulated stars gives each the candidates find_candidates alone gives it."""
    from exoray.config import SearchConfig
    from exoray.preprocess import preprocess_lightcurve
    from exoray.pipelines.training_data import _simulate_star_lc, flatten_candidate, simulate_stars_candidates
    from exoray.search.candidates import find_candidates
    from exoray.simulate import sector_timing

    cfg = SearchConfig(max_period_days=5.0)  # rank=True: the training engine must still leave scores empty
    idx = [0, 1, 2, 3, 4, 5]
    rows, stars = simulate_stars_candidates(idx, 5, config=cfg)
    assert [s["tic_id"] for s in stars] == sorted(s["tic_id"] for s in stars) and len(stars) == len(idx)
    expected = []
    for i in idx:
        lc, _, truth, cls = _simulate_star_lc(i, 5, sector_timing(1, 5), None)
        for c in find_candidates(preprocess_lightcurve(lc), cfg):
            expected.append(flatten_candidate(c) | label_candidate(c, truth, cls) | {"sim_index": i})
    assert expected, "the chosen stars should give candidates"
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected):
        assert got.get("score") is None and got["rule_disposition"] == want["disposition"]
        for k, v in want.items():
            assert got[k] == v or (v != v and got[k] != got[k]), (k, got[k], v)


def test_real_probes_in_one_engine_match_the_one_light_curve_chain(real_dir):
    """real_training_set's batches give each probe what exoray.chain gives it alone (ranking off)."""
    import dataclasses
    import warnings

    from exoray.chain import analyse_lightcurve
    from exoray.config import SearchConfig
    from exoray.pipelines.training_data import real_probes_candidates, training_engine
    from exoray.simulate import real

    host = real_dir / "tess_spoc_2min" / "tess2018206045859-s0001-0000000270501383-0120-s_lc.fits"
    if not host.exists():
        pytest.skip("host file not in the shared data")
    search = SearchConfig(max_period_days=5.0)
    probes = real.plan_probes([host], n_planets=1, n_inverted=1, n_scrambled=0, n_inverted_scrambled=0,
                              snr_range=(25.0, 30.0), seed=3)
    assert len(probes) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows, summaries = real_probes_candidates(probes, training_engine(search, keep_single_events=True))
        expected = []
        for p in probes:
            lc, _ = real.build_probe(p)
            expected += analyse_lightcurve(lc, None, dataclasses.replace(search, rank=False)).rows
    assert [s["error"] for s in summaries] == [None, None]
    assert len(rows) == len(expected) and sum(s["n_candidates"] for s in summaries) == len(rows)
    for got, want in zip(rows, expected):
        for k in ("period_days", "t0_btjd", "snr", "disposition", "vet_flags"):
            assert got[k] == want[k], (k, got[k], want[k])
        assert got.get("score") is None


def test_label_candidate_rules():
    truth = [{"period_days": 4.0, "t0_btjd": 1325.5, "duration_hours": 3.0, "signal_index": 0}]
    c = {"period_days": 4.02, "t0_btjd": 1325.5 + 8.0 + 0.05, "duration_hours": 3.0}
    assert label_candidate(c, truth, "planet")["label"] == 1
    assert label_candidate({**c, "t0_btjd": 1326.5}, truth, "planet")["match_class"] != "planet"  # wrong epoch
    assert label_candidate({**c, "period_days": 8.0}, truth, "planet") == {
        "label": 0, "match_class": "planet_alias", "match_signal": 0}
    assert label_candidate({**c, "period_days": 2.0}, truth, "eb")["match_class"] == "eb"  # P/2 of an EB
    assert label_candidate({**c, "period_days": 7.1}, truth, "eb")["match_class"] == "false_alarm"
    assert label_candidate(c, [], "none")["label"] == 0


def test_real_catalog_loaders():
    try:
        yu = load_yu2019_tces()
        kep = load_kepler_dr24_tces()
    except FileNotFoundError:
        pytest.skip("shared catalogues not present")
    assert len(yu) > 10000 and set(yu["label"]) == {0, 1} and yu["label"].sum() == (yu["match_class"] == "PC").sum()
    assert {"period_days", "duration_hours", "depth_ppm", "snr", "tmag"} <= set(yu.columns)
    assert len(kep) > 10000 and set(kep["label"]) == {0, 1}
    X, names = candidate_features(yu.head(5))
    assert np.isfinite(X[:, names.index("snr")]).all() and np.isnan(X[:, names.index("sde")]).all()


# --------------------------------------------------------------------------- ranker
def _problem(n, seed, noise=1.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    logit = 3 * X[:, 0] - 2 * X[:, 1]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit / noise))).astype(int)
    return X, y


NAMES = ("a", "b", "c", "d")


@pytest.fixture(scope="module")
def fitted():
    X, y = _problem(1500, 0)
    r = Ranker("lightgbm", n_bootstrap=8, feature_names=NAMES, seed=1,
               params={"num_boost_round": 200, "learning_rate": 0.2, "num_leaves": 31, "min_data_in_leaf": 3})
    return r.fit(X, y)


def test_ranker_auc_calibration_and_intervals(fitted):
    Xt, yt = _problem(3000, 99)
    s, lo, hi = fitted.predict(Xt)
    m = evaluate(yt, s, lo, hi)
    assert m["auc"] > 0.9
    raw = fitted.predict(Xt, calibrated=False)[0]
    assert m["brier"] < evaluate(yt, raw)["brier"]  # overfit boosting is over-confident; calibration helps
    assert m["ece"] < 0.05
    assert np.all((lo <= s + 1e-12) & (s <= hi + 1e-12)) and np.all((s >= 0) & (s <= 1))
    for k in ("pr_auc", "precision", "recall", "f1", "interval_bin_coverage", "mean_interval_width"):
        assert np.isfinite(m[k])


def test_intervals_wider_out_of_distribution():
    # training data in two clusters; the gap between them and far-away points are unseen
    rng = np.random.default_rng(3)
    x0 = np.concatenate([rng.normal(-3, 0.7, 600), rng.normal(3, 0.7, 600)])
    X = np.column_stack([x0, rng.normal(size=(1200, 3))]).astype(np.float32)
    y = (rng.uniform(size=1200) < 1 / (1 + np.exp(-1.5 * x0))).astype(int)
    r = Ranker("lightgbm", n_bootstrap=15, feature_names=NAMES, seed=0,
               params={"num_boost_round": 80}).fit(X, y)
    ind = np.column_stack([rng.choice([-3.0, 3.0], 200), rng.normal(size=(200, 3))]).astype(np.float32)
    ood = np.column_stack([rng.uniform(-0.6, 0.6, 200), rng.normal(size=(200, 3))]).astype(np.float32)
    w_in = np.subtract(*r.predict(ind)[:0:-1]).mean()
    w_out = np.subtract(*r.predict(ood)[:0:-1]).mean()
    assert w_out > 2 * w_in


def test_save_load_round_trip_without_pickle(tmp_path, fitted, monkeypatch):
    d = fitted.save(tmp_path / "model", metrics={"auc": 0.9})
    assert sorted(p.name for p in d.iterdir())[:2] == ["calibrators.json", "config.json"]
    assert all(p.suffix in (".txt", ".json") for p in d.iterdir())
    assert json.loads((d / "metrics.json").read_text())["auc"] == 0.9

    def no_pickle(*a, **k):
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    r2 = Ranker.load(d)
    X, _ = _problem(200, 7)
    for a, b in zip(fitted.predict(X), r2.predict(X)):
        np.testing.assert_array_equal(a, b)
    assert r2.metrics["auc"] == 0.9


def test_random_forest_and_sigmoid(tmp_path):
    X, y = _problem(600, 2)
    r = Ranker("random_forest", n_bootstrap=3, calibration="sigmoid", feature_names=NAMES,
               params={"n_estimators": 30}).fit(X, y)
    s, lo, hi = r.predict(X[:50])
    r2 = Ranker.load(r.save(tmp_path / "rf"))
    np.testing.assert_allclose(r2.predict(X[:50])[0], s)
    with pytest.raises(Exception):
        Ranker("xgboost")
    with pytest.raises(InputError):
        r.predict(X[:, :2])


# --------------------------------------------------------------------------- labels / active learning
def test_labels_append_and_dedupe(tmp_path):
    p = tmp_path / "labels.parquet"
    assert len(read_labels(p)) == 0
    append_labels(p, [{"tic_id": 1, "sector": 2, "candidate_index": 0, "label": "planet", "labeller": "a"},
                      {"tic_id": 1, "sector": 2, "candidate_index": 1, "label": 0}])
    t = append_labels(p, [{"tic_id": 1, "sector": 2, "candidate_index": 0, "label": "not", "note": "EB"}])
    assert len(t) == 2
    t = read_labels(p)
    row = t[(t.candidate_index == 0)].iloc[0]
    assert row["label"] == 0 and row["note"] == "EB" and str(t["timestamp"].dt.tz) == "UTC"
    with pytest.raises(InputError):
        append_labels(p, [{"tic_id": 1, "sector": 2, "candidate_index": 0, "label": "maybe"}])


def test_uncertainty_queue():
    df = pd.DataFrame({"tic_id": [1, 2, 3, 4], "sector": 1, "candidate_index": 0,
                       "score": [0.95, 0.5, 0.1, 0.55], "score_lo": [0.9, 0.45, 0.0, 0.2],
                       "score_hi": [1.0, 0.55, 0.2, 0.9]})
    q = uncertainty_queue(df, 2)
    assert list(q["tic_id"]) == [4, 2]
    q = uncertainty_queue(df, 2, exclude=pd.DataFrame({"tic_id": [4], "sector": [1], "candidate_index": [0]}))
    assert list(q["tic_id"]) == [2, 3]


def _first_reaching(curve, target):
    hit = curve[curve["auc"] >= target]
    return int(hit["n_labels"].iloc[0]) if len(hit) else 10**9


def test_active_learning_beats_random():
    # rare planets (~5 %) behind a sharp boundary: uncertainty sampling finds the boundary sooner
    curves = {"uncertainty": [], "random": []}
    for seed in range(3):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(2000, 4))
        y = ((X[:, 0] + 0.5 * X[:, 1]) > 1.8).astype(int)
        for strategy in curves:
            curves[strategy].append(simulate_active_learning(X, y, strategy, initial=20, step=20, rounds=6,
                                                             seed=seed))
    mean = {k: pd.concat(v).groupby("n_labels", as_index=False)["auc"].mean() for k, v in curves.items()}
    assert list(mean["random"]["n_labels"]) == [20, 40, 60, 80, 100, 120, 140]
    target = 0.965
    assert _first_reaching(mean["uncertainty"], target) < _first_reaching(mean["random"], target)
    assert mean["uncertainty"]["auc"].iloc[3:].mean() > mean["random"]["auc"].iloc[3:].mean()


# --------------------------------------------------------------------------- default model / CLI
def test_default_model_scores_a_candidate():
    if not (DEFAULT_MODEL_DIR / "config.json").exists():
        pytest.skip("no shipped ranker")
    r = load_default_ranker()
    s, lo, hi = r.score_rows([CAND])
    assert 0 <= lo[0] <= s[0] <= hi[0] <= 1
    assert r.metrics["auc"] > 0.5


def test_cli_label_non_interactive(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    cands = pd.DataFrame([{**CAND, "candidate_index": i, "score": s, "score_lo": s - 0.1, "score_hi": s + 0.1,
                           "report_path": f"reports/{i}.png"} for i, s in enumerate([0.9, 0.5, 0.2])])
    cands.to_parquet(out / "candidates.parquet")
    assert main(["label", str(out), "--label", "123:5:1=planet", "--label", "123:5:2=not",
                 "--labeller", "me"]) == 0
    t = read_labels(out / "labels.parquet")
    assert sorted(zip(t.candidate_index, t.label)) == [(1, 1), (2, 0)] and set(t.labeller) == {"me"}
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a TTY: list only
    capsys.readouterr()
    assert main(["label", str(out), "--k", "5"]) == 0
    shown = capsys.readouterr().out
    assert "123:5:0" in shown and "123:5:1" not in shown and "reports/0.png" in shown
    assert main(["label", str(out), "--label", "bad"]) == 1


def test_cli_label_interactive(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    out.mkdir()
    pd.DataFrame([{**CAND, "candidate_index": i, "score": 0.5, "score_lo": 0.3, "score_hi": 0.7}
                  for i in range(3)]).to_parquet(out / "candidates.parquet")

    class TTY(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", TTY())
    answers = iter(["p", "s", "n"])
    monkeypatch.setattr(builtins, "input", lambda prompt="": next(answers))
    assert main(["label", str(out)]) == 0
    t = read_labels(out / "labels.parquet")
    assert sorted(zip(t.candidate_index, t.label)) == [(0, 1), (2, 0)]


def test_isotonic_calibrator_never_claims_certainty():
    from exoray.rank.ranker import _apply_calibrator, _fit_calibrator

    raw = np.r_[np.linspace(0.0, 0.2, 30), np.linspace(0.8, 1.0, 40)]
    y = np.r_[np.zeros(30), np.ones(40)]
    cal = _fit_calibrator(raw, y, "isotonic")
    out = _apply_calibrator(cal, np.array([0.0, 0.1, 0.9, 1.0]))
    assert out[0] == pytest.approx(0.5 / 31) and out[-1] == pytest.approx(40.5 / 41)
    assert np.all((out > 0) & (out < 1)) and np.all(np.diff(out) >= 0)
