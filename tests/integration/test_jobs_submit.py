"""`ray job submit` of jobs/sector_sweep.py against a private Ray head on loopback.

The head runs with token authentication and its own temp dir and ports (see
``_ray_head.py``); the test submits the smoke sweep with the documented
``jobs/runtime_env.yaml``, waits for SUCCEEDED, checks the job's outputs and
stops only the processes it started.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from _ray_head import RAY_BIN, LocalRayCluster

pytestmark = [pytest.mark.ray, pytest.mark.timeout(420)]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def head():
    cluster = LocalRayCluster(num_cpus=2)
    try:
        cluster.start_head()
        yield cluster
    finally:
        cluster.stop()


def _job_cli(head, verb, *args, timeout=300):
    return subprocess.run(
        [RAY_BIN, "job", verb, "--address", head.dashboard_url, *args],
        env=head.env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _rest(head, path):
    """GET the Jobs REST API with the cluster's bearer token."""
    req = urllib.request.Request(head.dashboard_url + path, headers={"Authorization": f"Bearer {head.token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_rest_api_refuses_without_token(head):
    req = urllib.request.Request(head.dashboard_url + "/api/jobs/")
    with pytest.raises(urllib.error.HTTPError) as err:
        with urllib.request.urlopen(req, timeout=30):
            pass
    err.value.close()
    assert err.value.code in (401, 403)


def test_sector_sweep_job_submit_smoke(head, tmp_path):
    out = tmp_path / "sweep_out"
    sub_id = f"exoray-smoke-{os.getpid()}"
    r = _job_cli(
        head,
        "submit",
        "--submission-id",
        sub_id,
        "--runtime-env",
        "jobs/runtime_env.yaml",
        "--",
        "python",
        "jobs/sector_sweep.py",
        "--smoke-test",
        "--smoke-n",
        "6",
        "--reports",
        "none",
        "--out",
        str(out),
    )
    assert r.returncode == 0, f"ray job submit failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    info = _rest(head, f"/api/jobs/{sub_id}")
    assert info["status"] == "SUCCEEDED", info
    logs = _rest(head, f"/api/jobs/{sub_id}/logs")["logs"]
    assert '"accounting": true' in logs

    # The job's own record of what it ran, beside its output.
    job_cfg = json.loads((out / "job_config.json").read_text())
    assert job_cfg["job"] == "sector_sweep" and job_cfg["args"]["smoke_test"] is True
    assert job_cfg["config"]["search"] is not None
    assert job_cfg["ray_job"] is not None and job_cfg["ray_job"].get("job_submission_id") == sub_id

    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["inputs"] == 6
    assert run["accounting"]["accounted"] is True
    assert run["counts"]["preprocessed_total"] + run["counts"]["quarantined_total"] == 6
    assert run["nodes"] and sum(n["light_curves"] for n in run["nodes"]) == 6
    # The driver joined the submitted-to cluster (not a private local Ray).
    assert run["config"]["address"] == "auto"

    cands = pq.read_table(out / "candidates.parquet")
    assert cands.num_rows >= 1, "the smoke sector holds injected planets; the search found nothing"
    assert set(cands.column("tic_id").to_pylist()) <= {
        int(line.split(",")[0]) for line in (out / "simulated" / "truth.csv").read_text().splitlines()[1:]
    }


def test_sector_sweep_job_rejects_bad_arguments(tmp_path):
    """No cluster needed: argument errors fail before any work."""
    r = subprocess.run(
        [sys.executable, "jobs/sector_sweep.py", "--out", str(tmp_path / "o")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "exactly one of --input, --sector or --smoke-test" in r.stderr
