"""exoray.pipelines.ray_env: the worker environment given to ray.init."""

import json

from exoray.pipelines.ray_env import WORKER_ENV, worker_env_for_driver


def test_worker_env_outside_a_job(monkeypatch):
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    assert worker_env_for_driver() == WORKER_ENV


def test_worker_env_leaves_the_jobs_own_variables_to_the_job(monkeypatch):
    # Ray refuses to merge a job's runtime env with a driver runtime env that
    # sets the same variable; the job's value must win.
    job = {"runtime_env": {"env_vars": {"OMP_NUM_THREADS": "4", "NUMBA_NUM_THREADS": "2", "OTHER": "x"}}}
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps(job))
    env = worker_env_for_driver()
    assert "OMP_NUM_THREADS" not in env and "NUMBA_NUM_THREADS" not in env and "OTHER" not in env
    assert env["MKL_NUM_THREADS"] == "1"
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", "not json")
    assert worker_env_for_driver() == WORKER_ENV
