"""jobs/inject_recover.py: inject planets, sweep on Ray, report recovery.

Runs the job's ``main`` in-process on the session's shared Ray (``ray_local``);
the job joins an initialised Ray instead of starting one.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]


def _job():
    spec = importlib.util.spec_from_file_location("inject_recover", REPO / "jobs" / "inject_recover.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow  # ~50 s of search on 2 cores; the job-submit test covers the default path
def test_inject_recover_smoke_simulated(ray_local, tmp_path):
    out = tmp_path / "ir"
    rc = _job().main(["--smoke-test", "--smoke-n", "6", "--seed", "3", "--snr", "12", "40", "--out", str(out)])
    assert rc == 0
    cfg = json.loads((out / "inject_config.json").read_text())
    assert cfg["job"] == "inject_recover" and cfg["args"]["smoke_n"] == 6
    rep = json.loads((out / "recovery.json").read_text())
    with open(out / "simulated" / "truth.csv") as fh:
        truth = list(csv.DictReader(fh))
    n_planets = sum(1 for r in truth if r["class"] in ("planet", "multi_planet") and r["period_days"])
    assert rep["overall"]["injected"] == n_planets > 0
    assert rep["accounting"] is True and rep["light_curves"] == 6
    assert sum(b["injected"] for b in rep["by_snr"]) == n_planets
    # SNR 12-40 planets on quiet simulated stars: the search must find some
    assert rep["overall"]["recovered"] >= 1
    with open(out / "recovery.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sum(1 for r in truth if r["period_days"])


def test_inject_recover_rejects_two_sources(tmp_path):
    with pytest.raises(SystemExit) as e:
        _job().main(["--smoke-test", "--simulate", "5", "--out", str(tmp_path)])
    assert e.value.code == 2


@pytest.mark.slow
def test_inject_recover_into_real_spoc_files(ray_local, spoc_files, tmp_path):
    import glob

    src = tmp_path / "src"
    src.mkdir()
    for f in spoc_files[:3]:
        (src / f.name).symlink_to(f)
    out = tmp_path / "ir"
    rc = _job().main(["--real", str(src), "--snr", "15", "30", "--out", str(out)])
    assert rc == 0
    rep = json.loads((out / "recovery.json").read_text())
    assert rep["source"] == "real" and rep["overall"]["injected"] == 3
    assert len(glob.glob(str(out / "injected" / "*.fits"))) == 3
