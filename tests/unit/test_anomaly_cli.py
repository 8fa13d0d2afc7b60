"""CLI smoke: ``exoray evaluate anomaly --smoke-test`` and ``exoray export``."""

from __future__ import annotations

import json

import pytest
import torch

from exoray.cli import build_parser, main
from exoray.models.registry import build_model, default_config, save_model


def test_commands_registered():
    p = build_parser()
    args = p.parse_args(["evaluate", "anomaly", "--smoke-test", "--out", "x"])
    assert args.func.__name__ == "cmd_evaluate_anomaly" and args.smoke_test
    for target in ("transfer", "augmentation"):
        assert p.parse_args(["evaluate", target, "--out", "x"]).func.__name__ == f"cmd_evaluate_{target}"
    args = p.parse_args(["export", "transformer", "--onnx", "--quantize", "--prune", "--distill", "--out", "d"])
    assert args.func.__name__ == "cmd_export" and args.onnx and args.distill


@pytest.fixture()
def tiny_reg(tmp_path):
    torch.manual_seed(0)
    reg = tmp_path / "reg"
    ae = default_config("autoencoder", base_channels=4, depth=2, latent_dim=8)
    tr = default_config("transformer", d_model=16, n_heads=2, n_layers=1, patch_size=16)
    save_model(build_model("autoencoder", ae), "autoencoder", ae, {}, registry=reg)
    save_model(build_model("transformer", tr), "transformer", tr, {}, registry=reg)
    return reg


@pytest.mark.ray
def test_evaluate_anomaly_smoke_registered_models(ray_local, tiny_reg, tmp_path, capsys):
    """The whole report path (simulation on Ray Data, OCSVM + combined fit, every method, JSON + table)."""
    out = tmp_path / "ev"
    rc = main(["evaluate", "anomaly", "--smoke-test", "--use-registered", "--registry", str(tiny_reg),
               "--n-train", "6", "--n-test", "5", "--out", str(out)])
    assert rc == 0
    res = json.loads((out / "anomaly.json").read_text())
    assert set(res["results"]) == {"ocsvm", "autoencoder", "transformer", "combined"}
    for m, table in res["results"].items():
        assert set(table) == {"all", "<7", "7-10", "10-20", ">=20", ">=10"}
        assert table["all"]["n_neg"] > 0 and table["all"]["n_pos"] > 0
        assert 0.0 <= table["all"]["roc_auc"] <= 1.0
    assert res["test_counts"]["transit"] > 0
    assert "| ocsvm |" in capsys.readouterr().out
    assert (tiny_reg / "ocsvm" / "v0001" / "ocsvm.npz").exists()
    assert (tiny_reg / "combined" / "v0001" / "calibration.json").exists()


@pytest.mark.ray
@pytest.mark.slow
def test_evaluate_anomaly_smoke_trains(ray_local, tmp_path):
    """Full --smoke-test: trains the tiny autoencoder and transformer through Ray Train first."""
    out = tmp_path / "ev"
    assert main(["evaluate", "anomaly", "--smoke-test", "--out", str(out)]) == 0
    res = json.loads((out / "anomaly.json").read_text())
    assert set(res["trained"]) == {"autoencoder", "transformer"}


def test_export_cli_errors_cleanly(tmp_path, capsys):
    rc = main(["export", "autoencoder", "--onnx", "--out", str(tmp_path / "x"), "--registry", str(tmp_path / "none")])
    assert rc == 1
    assert "exoray train autoencoder" in capsys.readouterr().err
