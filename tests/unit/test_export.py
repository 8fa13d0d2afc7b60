"""exoray.training.export: ONNX round trip, int8, pruning, distillation on tiny registered models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from exoray.training import export as E
from exoray.errors import ConfigError, ExorayError
from exoray.models.windows import WINDOW_LENGTH, normalize_windows
from exoray.models.registry import build_model, default_config, save_model


def _windows(seed, n_neg=60, n_pos=20):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_neg + n_pos, WINDOW_LENGTH))
    for i in range(n_neg, n_neg + n_pos):
        c = rng.integers(40, WINDOW_LENGTH - 40)
        x[i, c - 8:c + 8] -= 3.0
    lab = np.r_[np.zeros(n_neg, np.int64), np.ones(n_pos, np.int64)]
    return {"window": normalize_windows(x), "label": lab}


@pytest.fixture()
def reg(tmp_path):
    torch.manual_seed(0)
    r = tmp_path / "reg"
    ae = default_config("autoencoder", base_channels=4, depth=2, latent_dim=8)
    tr = default_config("transformer", d_model=16, n_heads=2, n_layers=1, patch_size=16)
    save_model(build_model("autoencoder", ae), "autoencoder", ae, {}, registry=r)
    save_model(build_model("transformer", tr), "transformer", tr, {}, registry=r)
    return r


def test_export_autoencoder_onnx_int8_prune_distill(reg, tmp_path):
    out = tmp_path / "exp"
    res = E.export_model("autoencoder", out, registry=reg, onnx=True, quantize=True, prune=True, distill=True,
                         smoke=True, data=(_windows(1), _windows(2)), prune_amount=0.5)
    assert res["onnx_max_abs_diff"] < 1e-4
    v = {r["variant"]: r for r in res["variants"]}
    assert set(v) >= {"torch fp32", "onnx fp32", "torch int8 (dynamic, Linear)", "onnx int8 (dynamic)",
                      "pruned 50% + fine-tuned", "distilled CNN (torch)", "distilled CNN (onnx)"}
    # int8 is smaller than fp32, both in torch and in ONNX, and still ranks the dips (AUC well above chance)
    assert v["torch int8 (dynamic, Linear)"]["bytes"] < v["torch fp32"]["bytes"]
    assert (out / "model_int8.onnx").stat().st_size < (out / "model.onnx").stat().st_size
    assert abs(v["pruned 50% + fine-tuned"]["weight_sparsity"] - 0.5) < 0.01
    assert v["distilled CNN (onnx)"]["max_abs_diff_vs_torch"] < 1e-4
    for r in res["variants"]:
        assert r["ms_per_window_b1"] > 0 and r["ms_per_window_b256"] > 0 and r["auc"] is not None
    saved = json.loads((out / "export.json").read_text())
    assert saved["version"] == "v0001" and len(saved["variants"]) == 7
    assert "| onnx int8 (dynamic) |" in (out / "export.md").read_text()


def test_transformer_onnx_round_trip(reg, tmp_path):
    from exoray.models.registry import load_model

    model = load_model("transformer", registry=reg)[0]
    head = E.ScoreHead(model).eval()
    path = E.export_onnx(head, tmp_path / "t.onnx", WINDOW_LENGTH)
    x = _windows(3)["window"]
    with torch.no_grad():
        ref = head(torch.as_tensor(x)).numpy()
    got = E.onnx_scores(path, x)
    assert got.shape == (x.shape[0],)
    assert np.max(np.abs(got - ref)) < 1e-4
    q = E.quantize_torch(head)
    with torch.no_grad():
        qs = q(torch.as_tensor(x)).numpy()
    assert np.all(np.isfinite(qs)) and E.state_bytes(q) < E.state_bytes(head)


def test_export_checks_tolerance_and_inputs(reg, tmp_path):
    with pytest.raises(ExorayError, match="differs from torch"):
        E.export_model("autoencoder", tmp_path / "x", registry=reg, onnx=True, quantize=False, smoke=True,
                       data=(_windows(1), _windows(2)), tolerance=-1.0)
    with pytest.raises(ConfigError, match="nothing to do"):
        E.export_model("autoencoder", tmp_path / "x", registry=reg, onnx=False, quantize=False)
    with pytest.raises(ConfigError, match="cannot export"):
        E.export_model("gan", tmp_path / "x", registry=reg)
    with pytest.raises(ExorayError, match="exoray train classifier"):
        E.export_model("classifier", tmp_path / "x", registry=reg, smoke=True, data=(_windows(1), _windows(2)))
