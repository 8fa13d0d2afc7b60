"""The one model registry: every kind of model round-trips, manifests guard the files, old folders still load."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from exoray.anomaly import scoring
from exoray.anomaly.ocsvm import OCSVMScorer
from exoray.errors import ExorayError
from exoray.models import registry
from exoray.models.registry import build_model, default_config, kind_of, load_folder, publish_version, read_manifest
from exoray.rank.ranker import DEFAULT_MODEL_DIR, Ranker, load_default_ranker

TINY_AE = {"base_channels": 4, "depth": 2, "latent_dim": 4}


def _noise(rng, n, length=192):
    return rng.normal(0.0, 1.0, (n, length))


def _ranker(n_features=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, n_features)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=300) > 0).astype(int)
    names = tuple(f"f{i}" for i in range(n_features))
    return Ranker(n_bootstrap=3, params={"num_boost_round": 20}, feature_names=names, seed=seed).fit(X, y), X


def _listed_files(folder):
    return set(read_manifest(folder)["files"])


# --------------------------------------------------------------------------- every kind round-trips
def test_torch_round_trip(tmp_path):
    torch.manual_seed(0)
    cfg = default_config("autoencoder", **TINY_AE)
    model = build_model("autoencoder", cfg)
    folder = publish_version(tmp_path / "autoencoder", "torch", (model, cfg, {"val_auc": 0.7}))
    assert folder.name == "v0001" and kind_of(folder) == "torch"
    assert _listed_files(folder) == {"model.safetensors", "config.json", "metrics.json"}
    back, cfg2, metrics = load_folder(folder)
    assert cfg2 == cfg and metrics == {"val_auc": 0.7}
    for k, v in model.state_dict().items():
        assert torch.equal(v, back.state_dict()[k]), k


def test_ocsvm_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    scorer = OCSVMScorer().fit(_noise(rng, 60))
    folder = publish_version(tmp_path / "ocsvm", "ocsvm", scorer)
    assert kind_of(folder) == "ocsvm" and _listed_files(folder) == {"ocsvm.npz", "ocsvm.json"}
    x = _noise(rng, 10)
    np.testing.assert_array_equal(load_folder(folder).score(x), scorer.score(x))
    # the scorer's own save/load are the same registry folder
    np.testing.assert_array_equal(OCSVMScorer.load(scorer.save(tmp_path / "o")).score(x), scorer.score(x))


def test_combined_round_trip(tmp_path):
    calib = {"rule": "max", "n_calibration": 5,
             "components": {"ocsvm": {"version": "v0001", "median": 0.25, "scale": 1.5}}}
    folder = publish_version(tmp_path / "combined", "combined", calib)
    assert kind_of(folder) == "combined" and _listed_files(folder) == {"calibration.json"}
    assert load_folder(folder) == calib
    assert scoring.load_combined(tmp_path) == calib


def test_ranker_round_trip(tmp_path):
    ranker, X = _ranker()
    ranker.metrics = {"auc": 0.8}
    folder = publish_version(tmp_path / "ranker", "ranker", ranker)
    assert kind_of(folder) == "ranker"
    assert _listed_files(folder) == {"config.json", "calibrators.json", "metrics.json",
                                     "member_00.txt", "member_01.txt", "member_02.txt"}
    back = load_folder(folder)
    for a, b in zip(ranker.predict(X), back.predict(X)):
        np.testing.assert_array_equal(a, b)
    assert back.metrics == {"auc": 0.8}


def test_ranker_save_replaces_its_folder_in_one_step(tmp_path):
    big, X = _ranker()
    d = big.save(tmp_path / "ranker", metrics={"auc": 0.8})
    (d / "NOTES.md").write_text("kept")
    small = Ranker(n_bootstrap=2, params={"num_boost_round": 10}, feature_names=big.config.feature_names)
    small.fit(X, (X[:, 0] > 0).astype(int))
    assert small.save(d) == d
    names = sorted(p.name for p in d.iterdir())
    # the old third member is gone, notes and the earlier metrics are kept, no temporary folder is left
    assert names == ["NOTES.md", "calibrators.json", "config.json", "manifest.json", "member_00.txt",
                     "member_01.txt", "metrics.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ranker"]
    np.testing.assert_array_equal(Ranker.load(d).predict(X)[0], small.predict(X)[0])


# --------------------------------------------------------------------------- the shipped ranker
#: Scores of the shipped ranker for ``_shipped_rows()``, as the ranker read them before it
#: went through the registry (float.hex, so the comparison is bit for bit).  Retraining the
#: shipped ranker changes them.
_SHIPPED_SCORES = (
    ["0x1.498a862a700dap-7", "0x1.51edfa1855d52p-6", "0x1.64cfb9c0fd4b8p-8", "0x1.21501805a0033p-6",
     "0x1.ec1d62069d1d8p-6", "0x1.d88e277659022p-7"],
    ["0x1.7740f2dfab485p-10", "0x1.bd8fa0c9c8fcap-10", "0x1.5168a8df0f227p-12", "0x1.bd1f23e3cffd4p-10",
     "0x1.cfe183076018ep-10", "0x1.ce261aa631aa7p-10"],
    ["0x1.8e463f6c653b0p-6", "0x1.a39a6eb51139cp-5", "0x1.43ad266dbffb7p-6", "0x1.b493229e1c2d9p-5",
     "0x1.3314937442266p-4", "0x1.048ea4b65d74ep-5"],
)


def _shipped_rows(n_features):
    return np.random.default_rng(15).normal(size=(6, n_features)).astype(np.float32)


def test_shipped_ranker_loads_through_the_registry_unchanged(tmp_path):
    if not (DEFAULT_MODEL_DIR / "config.json").exists():
        pytest.skip("no shipped ranker")
    from exoray.rank.ranker import ranker_identity

    assert read_manifest(DEFAULT_MODEL_DIR) is None  # saved before manifests: recognised by its files
    assert kind_of(DEFAULT_MODEL_DIR) == "ranker"
    r = load_folder(DEFAULT_MODEL_DIR)
    X = _shipped_rows(len(r.config.feature_names))
    expected = [np.array([float.fromhex(h) for h in col]) for col in _SHIPPED_SCORES]
    # the pinned scores belong to this shipped ranker: a retrained one must be re-pinned
    assert ranker_identity(str(DEFAULT_MODEL_DIR)) == "ae5d98b7a5f0deb2", "shipped ranker changed: re-pin its scores"
    for got, want in zip(r.predict(X), expected):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(load_default_ranker().predict(X), r.predict(X)):
        np.testing.assert_array_equal(got, want)
    # saved again, it gains a manifest, keeps the same scores and the same identity for reruns
    copy = Ranker.load(DEFAULT_MODEL_DIR).save(tmp_path / "copy")
    assert read_manifest(copy)["kind"] == "ranker"
    for got, want in zip(Ranker.load(copy).predict(X), r.predict(X)):
        np.testing.assert_array_equal(got, want)
    assert ranker_identity(str(copy)) == ranker_identity(str(DEFAULT_MODEL_DIR))


# --------------------------------------------------------------------------- integrity and legacy folders
def test_changed_or_missing_files_are_refused(tmp_path):
    ranker, _ = _ranker()
    folder = publish_version(tmp_path / "ranker", "ranker", ranker)
    member = folder / "member_01.txt"
    member.write_text(member.read_text().replace("Tree=0", "Tree=0 ", 1))
    with pytest.raises(ExorayError, match="changed since the model was saved"):
        load_folder(folder)
    member.unlink()
    with pytest.raises(ExorayError, match="is missing"):
        Ranker.load(folder)


def test_kind_must_match(tmp_path):
    calib = {"rule": "mean", "components": {"ocsvm": {"version": "v0001", "median": 0.0, "scale": 1.0}}}
    folder = publish_version(tmp_path / "combined", "combined", calib)
    with pytest.raises(ExorayError, match="not a 'ranker' one"):
        Ranker.load(folder)


def test_folders_without_manifest_load_by_their_files(tmp_path):
    rng = np.random.default_rng(4)
    folder = scoring.fit_ocsvm(_noise(rng, 40), registry=tmp_path)
    legacy = tmp_path / "legacy"
    shutil.copytree(folder, legacy)
    (legacy / "manifest.json").unlink()
    assert kind_of(legacy) == "ocsvm"
    x = _noise(rng, 5)
    np.testing.assert_array_equal(load_folder(legacy).score(x), OCSVMScorer.load(folder).score(x))
    with pytest.raises(ExorayError, match="no saved model of a known kind"):
        kind_of(tmp_path / "nothing")


def test_manifest_records_kind_and_metadata(tmp_path):
    cfg = default_config("autoencoder", **TINY_AE)
    folder = registry.save_model(build_model("autoencoder", cfg), "autoencoder", cfg, {}, registry=tmp_path)
    m = json.loads((folder / "manifest.json").read_text())
    assert m["format"] == "exoray-model/1" and m["kind"] == "torch" and m["metadata"] == {"name": "autoencoder"}
    assert all(len(rec["sha256"]) == 64 and rec["bytes"] > 0 for rec in m["files"].values())
    with pytest.raises(ExorayError, match="no adapter for models of kind 'xgboost'"):
        publish_version(tmp_path / "x", "xgboost", object())
