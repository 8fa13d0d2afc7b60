"""Deep models: config builder, model shapes, registry round trip and safety, windows and labels."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from exoray.errors import ConfigError, ExorayError, InputError
from exoray.models import windows as mwin
from exoray.training import data as mdata
from exoray.models.registry import (
    MODEL_NAMES,
    build_model,
    default_config,
    default_registry,
    list_models,
    load_model,
    save_model,
)

L = mwin.WINDOW_LENGTH
TINY = {
    "autoencoder": {"base_channels": 4, "depth": 2, "latent_dim": 8},
    "transformer": {"d_model": 16, "n_layers": 1, "patch_size": 16},
    "gan": {"base_channels": 4, "noise_dim": 8, "depth": 2},
    "classifier": {"encoder_config": {"base_channels": 4, "depth": 2, "latent_dim": 8}, "hidden": 8},
}


# --------------------------------------------------------------------------- config builder
def test_default_config_complete_and_validated():
    for name in MODEL_NAMES:
        cfg = default_config(name)
        assert cfg["name"] == name and cfg["window_length"] == L
        assert {"lr", "batch_size", "epochs", "seed", "weight_decay"} <= set(cfg)
    cfg = default_config("autoencoder", lr=3e-3, depth=2)
    assert cfg["lr"] == 3e-3 and cfg["depth"] == 2


def test_default_config_names_unknown_keys():
    with pytest.raises(ConfigError) as exc:
        default_config("autoencoder", widht=3, foo=1)
    assert "'foo'" in str(exc.value) and "'widht'" in str(exc.value) and "base_channels" in str(exc.value)
    with pytest.raises(ConfigError, match="unknown model"):
        default_config("resnet")


@pytest.mark.parametrize("kw, msg", [
    ({"depth": "3"}, "integer"),
    ({"depth": 0}, ">= 1"),
    ({"lr": -1.0}, "> 0"),
    ({"dropout": 1.5}, "dropout"),
    ({"kernel_size": True}, "integer"),
])
def test_default_config_bad_values(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        default_config("autoencoder", **kw)


def test_classifier_config_completes_encoder_config():
    cfg = default_config("classifier", encoder="transformer", encoder_config={"d_model": 16})
    assert cfg["encoder_config"]["d_model"] == 16 and cfg["encoder_config"]["patch_size"] == 8
    with pytest.raises(ConfigError, match="'bogus'"):
        default_config("classifier", encoder_config={"bogus": 1})
    with pytest.raises(ConfigError, match="encoder"):
        default_config("classifier", encoder="lstm")


def test_build_model_rejects_bad_architecture():
    with pytest.raises(ConfigError, match="divisible"):
        build_model("autoencoder", {"window_length": 100, "depth": 3})
    with pytest.raises(ConfigError, match="config is for model"):
        build_model("autoencoder", default_config("transformer"))


# --------------------------------------------------------------------------- models
@pytest.mark.parametrize("name", ["autoencoder", "transformer"])
def test_anomaly_models_shapes(name):
    torch.manual_seed(0)
    m = build_model(name, TINY[name]).eval()
    x = torch.randn(5, L)
    s = m.anomaly_score(x)
    assert s.shape == (5,) and torch.all(s > 0)
    assert m.encode(x).shape == (5, m.embedding_dim)
    # a score is a per-window quantity: it does not depend on the rest of the batch
    assert torch.allclose(m.anomaly_score(x[:2]), s[:2], atol=1e-5)


def test_transformer_score_sees_every_patch():
    m = build_model("transformer", TINY["transformer"]).eval()
    x = torch.zeros(1, L)
    base = m.anomaly_score(x)
    x2 = x.clone()
    x2[0, -12:] = -15.0  # a dip in the last patch only
    assert m.anomaly_score(x2) > base + 5


def test_residual_score_kinds():
    from exoray.models.scores import residual_score

    r = torch.zeros(3, L)
    r[1, 50:62] = -3.0  # a 2-h, 3-sigma dip
    r[2, 50:62] = +3.0  # a flare-like bump
    dip = residual_score(r, "local_dip")
    assert dip[1] == pytest.approx(3.0 * 12 ** 0.5) and dip[0] == 0 and dip[2] <= 0
    ab = residual_score(r, "local_abs")
    assert ab[1] == pytest.approx(ab[2])
    assert residual_score(r, "mse")[1] == pytest.approx(9 * 12 / L)
    with pytest.raises(ConfigError, match="score"):
        default_config("autoencoder", score="max")


def test_gan_generate_and_condition_errors():
    g = build_model("gan", TINY["gan"])
    out = g.generate(4, 2000.0, 3.0)
    assert out.shape == (4, L)
    out = g.generate(3, np.array([500.0, 1000.0, 5000.0]), np.array([2.0, 3.0, 10.0]))
    assert out.shape == (3, L) and torch.all(torch.isfinite(out))
    with pytest.raises(InputError, match="depth_ppm"):
        g.generate(3, [1.0, 2.0], 3.0)
    with pytest.raises(InputError, match="> 0"):
        g.generate(2, -5.0, 3.0)
    x = torch.randn(4, L)
    from exoray.models.gan import encode_condition

    cond = encode_condition(1000.0, 4.0, 4)
    assert torch.allclose(cond, torch.zeros(4, 2))
    assert torch.isfinite(g.d_loss(x, cond)) and torch.isfinite(g.g_loss(cond))


def test_classifier_transfer_freeze_unfreeze():
    ae = build_model("autoencoder", TINY["autoencoder"])
    clf = build_model("classifier", TINY["classifier"])
    clf.load_encoder_from(ae)
    for k, v in ae.encoder.state_dict().items():
        assert torch.equal(clf.encoder.state_dict()[k], v)
    assert clf(torch.randn(3, L)).shape == (3,)
    assert not any(p.requires_grad for p in clf.encoder.parameters())
    assert all(p.requires_grad for p in clf.head.parameters())
    clf.train()
    assert not clf.encoder.training  # frozen BatchNorm statistics stay fixed
    clf.set_encoder_trainable(True)
    assert all(p.requires_grad for p in clf.encoder.parameters())
    # an encoder of another shape is refused with a clear message
    with pytest.raises(ConfigError, match="does not match"):
        clf.load_encoder_from(build_model("autoencoder", {"base_channels": 8, "depth": 2, "latent_dim": 8}))
    tclf = build_model("classifier", {"encoder": "transformer", "encoder_config": TINY["transformer"], "hidden": 8})
    tclf.load_encoder_from(build_model("transformer", TINY["transformer"]).state_dict())
    assert tclf(torch.randn(2, L)).shape == (2,)


# --------------------------------------------------------------------------- registry
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_save_load_round_trip(tmp_path, name):
    torch.manual_seed(1)
    cfg = default_config(name, **TINY[name])
    m = build_model(name, cfg).eval()
    p1 = save_model(m, name, cfg, {"val_auc": 0.9, "nan": float("nan")}, registry=tmp_path)
    p2 = save_model(m, name, cfg, {"val_auc": 0.95}, registry=tmp_path)
    assert p1.name == "v0001" and p2.name == "v0002"
    assert {f.name for f in p1.iterdir()} == {"model.safetensors", "config.json", "metrics.json", "manifest.json"}
    assert not [p for p in (tmp_path / name).iterdir() if p.name.startswith(".tmp")]
    m2, cfg2, met = load_model(name, registry=tmp_path)
    assert met["val_auc"] == 0.95 and not m2.training
    assert cfg2 == json.loads(json.dumps(cfg))
    x = torch.randn(3, L)
    if name == "gan":
        z = torch.randn(3, m.noise_dim)
        c = torch.zeros(3, 2)
        assert torch.allclose(m(z, c), m2(z, c))
    else:
        assert torch.allclose(m(x), m2(x))
    m1, _, met1 = load_model(name, "v0001", registry=tmp_path)
    assert met1["nan"] is None
    assert load_model(name, 1, registry=tmp_path)[2] == met1


def test_registry_listing_and_missing(tmp_path):
    assert list_models(tmp_path) == []
    cfg = default_config("autoencoder", **TINY["autoencoder"])
    save_model(build_model("autoencoder", cfg), "autoencoder", cfg, {"val_auc": 0.8}, registry=tmp_path)
    rows = list_models(tmp_path)
    assert len(rows) == 1 and rows[0]["version"] == "v0001" and rows[0]["metrics"]["val_auc"] == 0.8
    assert rows[0]["created"].startswith("20")
    with pytest.raises(ExorayError, match="registered: autoencoder"):
        load_model("transformer", registry=tmp_path)
    with pytest.raises(ExorayError, match="versions: v0001"):
        load_model("autoencoder", "v0009", registry=tmp_path)


def test_registry_env_default(tmp_path, monkeypatch):
    monkeypatch.setenv("EXORAY_MODEL_REGISTRY", str(tmp_path / "reg"))
    assert default_registry() == tmp_path / "reg"
    monkeypatch.delenv("EXORAY_MODEL_REGISTRY")
    assert default_registry().parts[-2:] == (".exoray", "models")


class _Evil:  # a pickle payload that would run code when unpickled
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_weights_refused(tmp_path):
    cfg = default_config("autoencoder", **TINY["autoencoder"])
    m = build_model("autoencoder", cfg)
    folder = save_model(m, "autoencoder", cfg, {}, registry=tmp_path)
    # a folder saved before manifests existed (weights as model.pt) is read by its files alone
    (folder / "manifest.json").unlink()
    # a plain tensors-only model.pt is accepted (torch.load weights_only=True) ...
    (folder / "model.safetensors").unlink()
    torch.save(m.state_dict(), folder / "model.pt")
    load_model("autoencoder", registry=tmp_path)
    # ... a pickle with anything else is refused, never unpickled
    with open(folder / "model.pt", "wb") as fh:
        pickle.dump({"w": _Evil()}, fh, protocol=2)
    with pytest.raises(ExorayError, match="refused"):
        load_model("autoencoder", registry=tmp_path)
    # a pickle renamed to .safetensors is not read either
    (folder / "model.pt").rename(folder / "model.safetensors")
    with pytest.raises(ExorayError, match="not a valid safetensors"):
        load_model("autoencoder", registry=tmp_path)


def test_weights_must_fit_config(tmp_path):
    cfg = default_config("autoencoder", **TINY["autoencoder"])
    folder = save_model(build_model("autoencoder", cfg), "autoencoder", cfg, {}, registry=tmp_path)
    bigger = dict(cfg, latent_dim=4)
    (folder / "config.json").write_text(json.dumps(bigger))
    with pytest.raises(ExorayError, match="changed since the model was saved"):
        load_model("autoencoder", registry=tmp_path)
    (folder / "manifest.json").unlink()  # as a folder saved before manifests: the weights check still holds
    with pytest.raises(ExorayError, match="do not fit"):
        load_model("autoencoder", registry=tmp_path)


# --------------------------------------------------------------------------- windows
def test_bin_flux_and_normalize():
    t = 1000.0 + np.arange(0, 3000) * (120.0 / 86400.0)
    f = np.ones_like(t)
    f[100:102] = np.nan  # a partly missing bin (3 of 5 cadences left) is still kept
    tb, fb = mwin.bin_flux(t, f, 120.0)
    assert np.allclose(np.diff(tb), 10 / 1440) and np.allclose(fb, 1.0)
    assert tb.size in (600, 601)
    with pytest.raises(InputError, match="10-min"):
        mwin.bin_flux(t, f, 1800.0)
    rng = np.random.default_rng(0)
    w = 1.0 + 1e-3 * rng.standard_normal((50, L))
    w[0, 80:100] -= 0.01  # a 10-sigma dip
    n = mwin.normalize_windows(w)
    assert n.dtype == np.float32 and n.shape == (50, L)
    assert abs(np.median(n[1:])) < 0.1 and 0.8 < np.std(n[1:]) < 1.2
    assert n[0, 85] < -8
    with pytest.raises(InputError, match="NaN"):
        mwin.normalize_windows(np.full((1, L), np.nan))
    flat = mwin.normalize_windows(np.ones((2, L)))
    assert np.all(np.isfinite(flat)) and np.all(flat == 0)


def test_labelled_windows_follow_truth():
    from exoray.preprocess import preprocess_lightcurve
    from exoray.simulate import PlanetSignal, draw_star, simulate_lightcurve
    from exoray.simulate.transit import transit_duration

    rng = np.random.default_rng(3)
    star = draw_star(rng, 123, tmag=9.0, teff=5700.0, variability="quiet")
    p = PlanetSignal(period=4.1, t0=1327.0, rp_rs=0.08, a_rs=12.0, b=0.2)
    lc = simulate_lightcurve(rng, star, [p])
    plc = preprocess_lightcurve(lc)
    truth = lc.meta["truth"]
    d = mdata.labelled_windows(plc, truth)
    assert set(d) == set(mdata.WINDOW_COLUMNS)
    n = d["label"].size
    assert n > 10 and d["window"].shape == (n, L) and d["window"].dtype == np.float32
    t14 = float(transit_duration(p.period, p.a_rs, p.rp_rs, p.b))
    end = d["start_time"] + L * 10 / 1440
    for i in range(n):
        k = np.arange(-2, 10)
        tc = p.t0 + k * p.period
        full = np.any((tc - t14 / 2 >= d["start_time"][i]) & (tc + t14 / 2 <= end[i]))
        overlap = np.any((tc + t14 / 2 > d["start_time"][i]) & (tc - t14 / 2 < end[i]))
        assert d["label"][i] == int(full)
        assert full or not overlap  # cut transits are dropped
    pos = d["label"] == 1
    assert pos.sum() >= 3
    assert np.allclose(d["duration_hours"][pos], t14 * 24)
    assert np.all(d["snr"][pos] > 10) and np.all(d["snr"][~pos] == 0)
    assert np.all(d["depth_ppm"][pos] > 5000)
    # transit windows dip well below their noise: the minimum bin is many sigma down
    assert np.all(d["window"][pos].min(axis=1) < -5)
    # an EB star contributes no windows
    assert mdata.labelled_windows(plc, [{"class": "eb", "period_days": 2.0}])["label"].size == 0


def test_windows_from_lightcurve_skip_gaps():
    from exoray.preprocess import preprocess_lightcurve
    from exoray.simulate import draw_star, simulate_lightcurve

    rng = np.random.default_rng(5)
    lc = simulate_lightcurve(rng, draw_star(rng, 7, tmag=10.0, variability="quiet"), [])
    plc = preprocess_lightcurve(lc)
    w, start = mwin.windows_from_lightcurve(plc)
    assert w.shape[1] == L and w.shape[0] == start.size > 20
    assert np.all(np.diff(start) > 0)
    # no window spans the mid-sector gap
    tb, _ = mwin.bin_flux(plc.time, plc.flux_flat, plc.cadence_s)
    gaps = np.nonzero(np.diff(tb) > 1.0)[0]
    for g in gaps:
        assert not np.any((start < tb[g]) & (start + L * 10 / 1440 > tb[g + 1]))
