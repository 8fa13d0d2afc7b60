"""Deep models trained through Ray Train (smoke sizes): every model, DDP, resume, the CLI, Tune.

One simulated window set (Ray Data pipeline) is built per module and shared.
The CLI smoke run and the Tune search are marked slow (``-m slow``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from exoray.errors import ExorayError

pytestmark = pytest.mark.ray

TINY = {
    "autoencoder": {"base_channels": 8, "depth": 3, "latent_dim": 8, "epochs": 3, "batch_size": 32, "lr": 3e-3},
    "transformer": {"d_model": 16, "n_layers": 1, "patch_size": 16, "epochs": 1, "batch_size": 32},
    "gan": {"base_channels": 4, "noise_dim": 8, "depth": 2, "epochs": 1, "batch_size": 16},
}


@pytest.fixture(scope="module")
def windows(ray_local):
    """(base dataset, DataSpec) of 16 simulated stars through the Ray Data pipeline."""
    import ray.data

    from exoray.training.data import class_counts, window_dataset
    from exoray.training.train import DataSpec

    ray.data.DataContext.get_current().enable_progress_bars = False
    spec = DataSpec(n_stars=16, seed=11, snr_range=(15.0, 80.0), transit_fraction=0.6)
    ds = window_dataset(None, n_stars=spec.n_stars, seed=spec.seed, snr_range=spec.snr_range,
                        transit_fraction=spec.transit_fraction, stars_per_task=4)
    counts = class_counts(ds)
    assert counts["transit"] > 20 and counts["no_transit"] > 100 and counts["unlabelled"] == 0
    return ds, spec


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return tmp_path_factory.mktemp("registry")


@pytest.fixture(scope="module")
def trained_ae(windows, registry, tmp_path_factory):
    from exoray.training.train import TrainSettings, prepare_datasets, train_model

    ds, spec = windows
    data = prepare_datasets("autoencoder", spec, base_ds=ds)
    out = train_model("autoencoder", TINY["autoencoder"], spec, datasets=data,
                      settings=TrainSettings(num_workers=1, storage_path=str(tmp_path_factory.mktemp("runs")),
                                             registry=str(registry)))
    return out, data


def test_autoencoder_learns_and_separates_deep_transits(trained_ae, registry):
    from sklearn.metrics import roc_auc_score

    from exoray.training.data import to_numpy
    from exoray.models.registry import build_model, load_model
    from exoray.models.scores import residual_score

    out, (train, val, counts) = trained_ae
    m = out["metrics"]
    # trained on background windows only; validated on held-out stars with both classes
    assert counts["train"]["transit"] == 0 and counts["val"]["transit"] > 5
    assert [h["epoch"] for h in m["history"]] == [0, 1, 2]
    assert m["amp"] == "off" and m["num_workers"] == 1
    # registered, and the registry copy scores exactly like the trained model
    model, cfg, metrics = load_model("autoencoder", registry=registry)
    assert out["version_path"].parent.parent == registry
    assert metrics["val_auc"] == pytest.approx(m["val_auc"])
    v = to_numpy(val)
    x = torch.from_numpy(np.asarray(v["window"], np.float32))
    y = np.asarray(v["label"])
    snr = np.asarray(v["snr"])
    with torch.no_grad():
        score = model.anomaly_score(x).numpy()
    deep = (y == 0) | (snr >= 10)
    auc = roc_auc_score(y[deep], score[deep])
    print(f"autoencoder held-out AUC (single-transit SNR >= 10 vs none): {auc:.3f}; "
          f"no-model baseline {m.get('val_auc_snr7_no_model')}")
    assert auc > 0.8
    # the model does not wash the dips out: at least as good as the same score on the raw windows
    raw = residual_score(x, "local_dip").numpy()
    assert auc >= roc_auc_score(y[deep], raw[deep]) - 0.02
    # it learned: held-out background reconstruction error fell below the untrained model's
    # (detrended noise is close to white, so there is little to gain; any gain must be real)
    torch.manual_seed(0)
    fresh = build_model("autoencoder", cfg).eval()
    bg = x[torch.from_numpy(y == 0)]
    with torch.no_grad():
        assert torch.mean((model(bg) - bg) ** 2) < torch.mean((fresh(bg) - bg) ** 2)


def test_resume_after_interruption(windows, tmp_path):
    from exoray.training.train import TrainSettings, prepare_datasets, train_model

    ds, spec = windows
    data = prepare_datasets("autoencoder", spec, base_ds=ds)
    cfg = dict(TINY["autoencoder"], base_channels=4, depth=2, epochs=3)
    settings = TrainSettings(num_workers=1, storage_path=str(tmp_path / "runs"), registry=str(tmp_path / "reg"),
                             run_name="resume-me")
    with pytest.raises(ExorayError, match="resume"):
        train_model("autoencoder", cfg, spec, settings, datasets=data, _interrupt_after_epoch=0)
    assert not (tmp_path / "reg" / "autoencoder").exists()  # nothing registered from a failed run
    out = train_model("autoencoder", cfg, spec, settings, datasets=data)
    hist = out["metrics"]["history"]
    assert [h["epoch"] for h in hist] == [0, 1, 2]
    assert hist[0]["resumed_from_epoch"] is None  # epoch 0 ran before the interruption
    assert hist[1]["resumed_from_epoch"] == 0 and hist[2]["resumed_from_epoch"] == 0
    assert out["metrics"]["resumed_from_epoch"] == 0
    assert (out["version_path"] / "metrics.json").is_file()


def test_transformer_two_workers_ddp(windows, registry, tmp_path):
    from exoray.models.registry import load_model
    from exoray.training.train import TrainSettings, prepare_datasets, train_model

    ds, spec = windows
    data = prepare_datasets("transformer", spec, base_ds=ds)
    out = train_model("transformer", TINY["transformer"], spec, datasets=data,
                      settings=TrainSettings(num_workers=2, storage_path=str(tmp_path), registry=str(registry)))
    m = out["metrics"]
    assert m["world_size"] == 2 and m["num_workers"] == 2
    # each worker saw its own shard: about half the training windows
    assert m["train_windows_worker"] <= data[2]["train"]["total"] // 2 + 1
    assert np.isfinite(m["train_loss"]) and m["val_auc"] is not None
    model, _, _ = load_model("transformer", registry=registry)
    assert model.anomaly_score(torch.zeros(2, model.window_length)).shape == (2,)


def test_gan_trains_on_transit_windows(windows, registry, tmp_path):
    from exoray.models.registry import load_model
    from exoray.training.train import TrainSettings, prepare_datasets, train_model

    ds, spec = windows
    data = prepare_datasets("gan", spec, base_ds=ds)
    assert data[2]["train"]["no_transit"] == 0 and data[2]["train"]["transit"] > 0
    out = train_model("gan", TINY["gan"], spec, datasets=data,
                      settings=TrainSettings(num_workers=1, storage_path=str(tmp_path), registry=str(registry)))
    assert np.isfinite(out["metrics"]["val_d_loss"]) and np.isfinite(out["metrics"]["val_g_loss"])
    gan, _, _ = load_model("gan", registry=registry)
    samples = gan.generate(4, 3000.0, 4.0)
    assert samples.shape == (4, gan.window_length) and torch.all(torch.isfinite(samples))


def test_classifier_on_pretrained_encoder(trained_ae, windows, registry, tmp_path):
    from exoray.models.registry import load_model
    from exoray.training.train import TrainSettings, prepare_datasets, train_model

    ae_out, _ = trained_ae
    ds, spec = windows
    data = prepare_datasets("classifier", spec, base_ds=ds)
    cfg = {"pretrained": str(ae_out["version_path"]), "freeze_encoder": True, "hidden": 8, "epochs": 2,
           "batch_size": 32, "lr": 3e-3}
    out = train_model("classifier", cfg, spec, datasets=data,
                      settings=TrainSettings(num_workers=1, storage_path=str(tmp_path), registry=str(registry)))
    m = out["metrics"]
    assert m["pretrained_encoder"] == str(ae_out["version_path"])
    assert out["config"]["encoder_config"]["latent_dim"] == TINY["autoencoder"]["latent_dim"]
    clf, _, _ = load_model("classifier", registry=registry)
    ae, _, _ = load_model("autoencoder", version=ae_out["version_path"].name, registry=registry)
    # the encoder was frozen: its weights are the autoencoder's, unchanged
    for k, v in ae.encoder.state_dict().items():
        assert torch.equal(clf.encoder.state_dict()[k], v), k
    assert 0.0 <= m["val_accuracy"] <= 1.0 and m["val_auc"] is not None


@pytest.mark.slow  # one more full Train run (~25 s on a quiet 2-core box, minutes on a busy one)
def test_cli_smoke_train_and_list(ray_local, tmp_path, capsys):
    from exoray.cli import main

    rc = main(["train", "autoencoder", "--smoke-test", "--storage", str(tmp_path / "runs"),
               "--registry", str(tmp_path / "reg"), "--seed", "3"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "registered:" in out and (tmp_path / "reg" / "autoencoder" / "v0001" / "config.json").is_file()
    cfg = json.loads((tmp_path / "reg" / "autoencoder" / "v0001" / "config.json").read_text())
    assert cfg["base_channels"] == 4 and cfg["epochs"] == 1
    assert main(["models", "--registry", str(tmp_path / "reg")]) == 0
    assert "autoencoder  v0001" in capsys.readouterr().out


@pytest.mark.slow  # a full smoke Train run through the job entry point
def test_job_entry_point_smoke(ray_local, tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "jobs" / "train.py"
    spec = importlib.util.spec_from_file_location("exoray_job_train", path)
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    assert job.main(["gan", "--smoke-test", "--out", str(tmp_path), "--address", "local"]) == 0
    cfg = json.loads((tmp_path / "job_config.json").read_text())
    res = json.loads((tmp_path / "job_result.json").read_text())
    assert cfg["config"]["name"] == "gan" and cfg["config"]["base_channels"] == 4
    assert Path(res["version_path"]).is_dir() and res["metrics"]["epoch"] == 0


def test_window_dataset_from_sweep_parquet(ray_local, tmp_path):
    """Preprocessed Parquet parts (a sweep's OUT/lightcurves) + truth.csv -> labelled windows."""
    import pandas as pd

    from exoray.models.windows import windows_from_lightcurve
    from exoray.training.data import class_counts, labelled_windows, to_numpy, window_dataset
    from exoray.preprocess import preprocess_lightcurve
    from exoray.schemas import preprocessed_to_table, write_parquet_atomic
    from exoray.simulate import PlanetSignal, draw_star, simulate_lightcurve

    rng = np.random.default_rng(8)
    plcs, truth, expected = [], [], []
    for i, sig in enumerate([[PlanetSignal(period=3.3, t0=1326.5, rp_rs=0.07, a_rs=10.0, b=0.1)], [], []]):
        lc = simulate_lightcurve(rng, draw_star(rng, 900 + i, tmag=9.5, variability="quiet"), sig)
        plc = preprocess_lightcurve(lc)
        plcs.append(plc)
        rows = [dict(r, tic_id=900 + i, **{"class": "planet"}) for r in lc.meta["truth"]]
        truth += rows or [{"tic_id": 900 + i, "class": "none"}]
        expected.append(labelled_windows(plc, rows))
    (tmp_path / "out" / "lightcurves").mkdir(parents=True)
    (tmp_path / "out" / "simulated").mkdir()
    write_parquet_atomic(preprocessed_to_table(plcs[:2]), tmp_path / "out" / "lightcurves" / "part-a.parquet")
    write_parquet_atomic(preprocessed_to_table(plcs[2:]), tmp_path / "out" / "lightcurves" / "part-b.parquet")
    cols = ["tic_id", "class", "period_days", "t0_btjd", "rp_rs", "a_rs", "b", "u1", "u2", "ecc", "w_deg",
            "duration_hours"]
    pd.DataFrame(truth).reindex(columns=cols).to_csv(tmp_path / "out" / "simulated" / "truth.csv", index=False)

    ds = window_dataset(tmp_path / "out")  # finds OUT/simulated/truth.csv
    got = to_numpy(ds)
    want_labels = np.concatenate([e["label"] for e in expected])
    assert sorted(got["label"].tolist()) == sorted(want_labels.tolist())
    assert class_counts(ds)["transit"] == int(want_labels.sum()) > 0
    ds_u = window_dataset(tmp_path / "out" / "lightcurves", truth=False)
    assert class_counts(ds_u)["unlabelled"] == sum(len(windows_from_lightcurve(p)[1]) for p in plcs)
    bal = window_dataset(tmp_path / "out", rebalance="undersample")
    c = class_counts(bal)
    assert c["transit"] > 0 and abs(c["transit"] - c["no_transit"]) <= max(3, 0.5 * c["transit"])
    with pytest.raises(ExorayError, match="no preprocessed light curves"):
        window_dataset(tmp_path / "out" / "simulated")


@pytest.mark.slow  # two Train runs under Tune (> 60 s)
def test_tune_asha_two_trials(windows, tmp_path):
    from exoray.models.registry import list_models
    from exoray.training.tune import tune_model

    ds, spec = windows
    out = tune_model("autoencoder", {"epochs": 2, "batch_size": 32}, spec, num_samples=2, max_concurrent=2,
                     storage_path=str(tmp_path / "tune"), registry=str(tmp_path / "reg"), smoke=True, base_ds=ds)
    assert len(out["trials"]) == 2 and all(t["error"] is None for t in out["trials"])
    assert all(1 <= (t["epochs_run"] or 0) <= 2 for t in out["trials"])
    best = max(t["val_auc"] for t in out["trials"])
    assert out["best_metrics"]["tune"]["scheduler"] == "ASHA"
    rows = list_models(tmp_path / "reg")
    assert len(rows) == 1 and rows[0]["metrics"]["val_auc"] == pytest.approx(best)
