"""exoray.anomaly: OCSVM baseline, score_windows by method, single-event candidates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from exoray.anomaly import scoring
from exoray.anomaly.ocsvm import FEATURE_NAMES, OCSVMScorer, window_features
from exoray.anomaly.single_event import explained_by_periodic, single_event_candidates
from exoray.errors import ConfigError, ExorayError, InputError
from exoray.models.windows import WINDOW_LENGTH, normalize_windows
from exoray.models.registry import build_model, default_config, save_model
from exoray.schemas import records_to_table
from exoray.vet.records import CANDIDATES_SCHEMA


def _noise(rng, n, length=WINDOW_LENGTH):
    return rng.normal(size=(n, length))


def _dips(rng, n, depth=3.0, width=12, length=WINDOW_LENGTH):
    x = _noise(rng, n, length)
    for i in range(n):
        c = rng.integers(30, length - 30)
        x[i, c - width // 2:c + width // 2] -= depth
    return x


def _auc(neg, pos):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(np.r_[np.zeros(len(neg)), np.ones(len(pos))], np.r_[neg, pos])


def test_features_shape_and_scale_invariance():
    rng = np.random.default_rng(0)
    x = _dips(rng, 5)
    f = window_features(x)
    assert f.shape == (5, len(FEATURE_NAMES)) and np.all(np.isfinite(f))
    f2 = window_features(3.0 * x + 7.0)
    shape_cols = [i for i, n in enumerate(FEATURE_NAMES) if n not in ("std", "robust_std")]
    np.testing.assert_allclose(f[:, shape_cols], f2[:, shape_cols], atol=1e-9)
    with pytest.raises(InputError):
        window_features(np.full((2, 50), np.nan))


def test_ocsvm_separates_obvious_dips_and_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    train = _noise(rng, 300)
    sc = OCSVMScorer(nu=0.05).fit(train)
    neg, pos = sc.score(_noise(rng, 100)), sc.score(_dips(rng, 100))
    assert _auc(neg, pos) > 0.99
    # the numpy decision function equals scikit-learn's
    test = _dips(rng, 20)
    fs = (window_features(test) - sc.params["mean"]) / sc.params["scale"]
    np.testing.assert_allclose(sc.decision_function(test), sc._svm.decision_function(fs), rtol=1e-8, atol=1e-10)
    sc.save(tmp_path / "o")
    back = OCSVMScorer.load(tmp_path / "o")
    np.testing.assert_allclose(back.score(test), sc.score(test))
    with pytest.raises(ExorayError, match="no ocsvm.npz"):
        OCSVMScorer.load(tmp_path / "missing")
    with pytest.raises(ExorayError, match="not fitted"):
        OCSVMScorer().score(test)


@pytest.fixture()
def tiny_registry(tmp_path):
    """A registry with an untrained tiny autoencoder + transformer, a fitted OCSVM and a combined calibration."""
    torch.manual_seed(0)
    reg = tmp_path / "reg"
    ae_cfg = default_config("autoencoder", base_channels=4, depth=2, latent_dim=4)
    tr_cfg = default_config("transformer", d_model=8, n_heads=2, n_layers=1, patch_size=8)
    save_model(build_model("autoencoder", ae_cfg), "autoencoder", ae_cfg, {}, registry=reg)
    save_model(build_model("transformer", tr_cfg), "transformer", tr_cfg, {}, registry=reg)
    rng = np.random.default_rng(2)
    noise = normalize_windows(_noise(rng, 120))
    scoring.fit_ocsvm(noise, registry=reg)
    scoring.fit_combined(noise, registry=reg)
    return reg


def test_score_windows_every_method(tiny_registry):
    from exoray.models.registry import load_model

    rng = np.random.default_rng(3)
    x = normalize_windows(np.vstack([_noise(rng, 10), _dips(rng, 10, depth=4.0)]))
    out = {m: scoring.score_windows(x, m, registry=tiny_registry) for m in scoring.METHODS}
    for m, s in out.items():
        assert s.shape == (20,) and np.all(np.isfinite(s)), m
    ae = load_model("autoencoder", registry=tiny_registry)[0]
    with torch.no_grad():
        direct = ae.anomaly_score(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(out["autoencoder"], direct, rtol=1e-5)
    assert out["ocsvm"][10:].mean() > out["ocsvm"][:10].mean()
    # combined = mean of the calibrated robust z-scores
    cal = scoring.load_combined(tiny_registry)
    z = [scoring.robust_z(out[c], p["median"], p["scale"]) for c, p in cal["components"].items()]
    np.testing.assert_allclose(out["combined"], np.mean(z, axis=0), rtol=1e-6)
    assert scoring.score_windows(x[:0], "ocsvm", registry=tiny_registry).shape == (0,)
    with pytest.raises(ConfigError, match="unknown anomaly method"):
        scoring.score_windows(x, "isolation_forest", registry=tiny_registry)
    with pytest.raises(InputError, match="length"):
        scoring.score_windows(x[:, :96], "autoencoder", registry=tiny_registry)


def test_score_windows_unfitted_registry_says_what_to_do(tmp_path):
    with pytest.raises(ExorayError, match="exoray evaluate anomaly"):
        scoring.score_windows(np.zeros((2, WINDOW_LENGTH)), "ocsvm", registry=tmp_path)
    with pytest.raises(ExorayError, match="exoray train autoencoder"):
        scoring.score_windows(np.zeros((2, WINDOW_LENGTH)), "autoencoder", registry=tmp_path)


def test_explained_by_periodic():
    rows = [{"period_days": 3.0, "t0_btjd": 1300.0, "duration_hours": 2.0}]
    assert explained_by_periodic(1309.0 + 0.01, 0.1, rows)
    assert not explained_by_periodic(1310.5, 0.1, rows)
    assert explained_by_periodic(1400.0, 0.1, [{"period_days": float("nan"), "t0_btjd": 1400.02,
                                                "duration_hours": 3.0}])
    assert not explained_by_periodic(1400.0, 0.1, [])


def _simulated_plc(seed, signals=()):
    from exoray.preprocess import preprocess_lightcurve
    from exoray.simulate import draw_star, sector_timing, simulate_lightcurve

    rng = np.random.default_rng(seed)
    star = draw_star(rng, 9_100_000_000 + seed, tmag=9.5, teff=5600.0, variability="quiet")
    lc = simulate_lightcurve(rng, star, list(signals), timing=sector_timing(1, 0))
    return preprocess_lightcurve(lc), star


def test_single_event_found_and_skipped_when_periodic(tmp_path):
    from exoray.models.windows import windows_from_lightcurve
    from exoray.simulate import PlanetSignal, a_rs_from_density

    reg = tmp_path / "reg"
    noise_plc, _ = _simulated_plc(11)
    scoring.fit_ocsvm(windows_from_lightcurve(noise_plc)[0], registry=reg)
    plc0, star = _simulated_plc(12)
    t0 = float(np.nanmedian(plc0.time[: plc0.time.size // 3]))  # well inside the first orbit
    # P = 30 d: the next transit falls after the sector ends; T14 ~ 5 h stays well inside the
    # 0.75-d biweight detrending window (a 12-h transit would come out ~1/3 as deep)
    period = 30.0
    assert t0 + period > np.nanmax(plc0.time)
    a_rs = float(a_rs_from_density(period, star.density))
    planet = PlanetSignal(period=period, t0=t0, rp_rs=0.06, a_rs=a_rs, b=0.3, single=True)
    plc, _ = _simulated_plc(12, [planet])
    rows = single_event_candidates(plc, [], method="ocsvm", registry=reg)
    assert len(rows) >= 1
    top = rows[0]
    assert top["single_event"] is True and top["disposition"] == "single_event"
    assert math.isnan(top["period_days"]) and top["n_transits"] == 1
    assert abs(top["t0_btjd"] - t0) < 0.05
    true_depth = 1e6 * 0.06**2  # ~ k^2 (limb darkening deepens the centre a little)
    assert 0.8 * true_depth < top["depth_ppm"] < 1.5 * true_depth
    from exoray.simulate import transit_duration

    t14_h = 24 * float(transit_duration(period, a_rs, 0.06, 0.3))
    assert abs(top["duration_hours"] / t14_h - 1) < 0.25
    assert top["snr"] > 20
    table = records_to_table(rows, CANDIDATES_SCHEMA)  # joins candidates.parquet as is
    assert table.num_rows == len(rows) and table.column("single_event").to_pylist()[0] is True
    # a periodic candidate that predicts a transit at that time explains it away
    periodic = [{"candidate_index": 0, "period_days": 7.5, "t0_btjd": t0 - 7.5, "duration_hours": t14_h}]
    rows2 = single_event_candidates(plc, periodic, method="ocsvm", registry=reg)
    assert all(abs(r["t0_btjd"] - t0) > 0.2 for r in rows2)
    assert all(r["candidate_index"] >= 1 for r in rows2)
    # the noise-only light curve yields no event at SNR >= 7
    assert single_event_candidates(noise_plc, [], method="ocsvm", registry=reg) == []


def test_scorers_load_once_per_version(tiny_registry, monkeypatch):
    """A sweep scores every light curve: the models are read from disk once per registered version."""
    from exoray.models import registry

    calls = []
    real_load = registry.load_folder
    monkeypatch.setattr(registry, "load_folder", lambda f, kind=None: calls.append(f) or real_load(f, kind))
    monkeypatch.setattr(registry, "_LOADED", {})
    x = normalize_windows(_noise(np.random.default_rng(5), 4))
    first = scoring.score_windows(x, "ocsvm", registry=tiny_registry)
    np.testing.assert_array_equal(scoring.score_windows(x, "ocsvm", registry=tiny_registry), first)
    assert len(calls) == 1
    scoring.fit_ocsvm(normalize_windows(_noise(np.random.default_rng(6), 120)), registry=tiny_registry)
    scoring.score_windows(x, "ocsvm", registry=tiny_registry)  # "latest" is now v0002: loaded afresh
    assert len(calls) == 2 and calls[-1].name == "v0002"
