"""Smoke run of ``benchmarks/bench_injection_recovery.py --quick`` on a handful of stars.

It runs in a subprocess: the benchmark starts and shuts down its own Ray, which
must not touch the session's shared instance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "bench_injection_recovery.py"

pytestmark = pytest.mark.slow


def test_quick_run_writes_expected_keys(tmp_path):
    out = tmp_path / "results.json"
    cmd = [sys.executable, str(SCRIPT), "--quick", "--n", "6", "--tls-n", "2", "--seed", "3",
           "--workdir", str(tmp_path / "work"), "--out", str(out)]
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Detection fraction" in proc.stdout

    res = json.loads(out.read_text())
    for key in ("config", "targets", "counts", "exoray", "lightkurve", "speed_ratios"):
        assert key in res, key
    assert res["config"]["n"] == 6 and res["config"]["quick"] is True
    bins = res["config"]["snr_bins"]
    assert bins == ["<7.1", "7.1-10", "10-15", "15-25", ">=25"]

    ex = res["exoray"]
    for key in ("rule", "detection", "detection_and_passed", "false_positive_none", "eb_pass",
                "auc_score_per_candidate", "auc_sde_per_star", "timing", "ranker"):
        assert key in ex, key
    assert set(bins) | {"snr>=10"} <= set(ex["detection"])
    assert ex["timing"]["n_light_curves"] == 6
    assert ex["timing"]["ms_per_lc_per_core"] > 0

    lk = res["lightkurve"]
    for key in ("detection", "detection_sde7", "false_positive_none", "eb_pass", "ms_per_lc"):
        assert key in lk, key
    assert lk["n_light_curves"] == 6

    try:
        import transitleastsquares  # noqa: F401
    except ImportError:
        assert "tls" not in res
    else:
        tls = res["tls"]
        assert tls["n_light_curves"] == 2
        for key in ("detection", "ms_per_lc", "exoray_on_subset", "lightkurve_on_subset"):
            assert key in tls, key
