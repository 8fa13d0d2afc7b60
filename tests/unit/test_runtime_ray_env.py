"""exoray.runtime.ray_env: the worker environment given to ray.init."""

import json

from exoray.runtime.ray_env import WORKER_ENV, worker_env_for_driver


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


def _captured_init(monkeypatch):
    import ray

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    return calls


def test_without_an_address_exoray_starts_its_own_local_instance(monkeypatch):
    """Never the machine's "current" cluster (/tmp/ray/ray_current_cluster), which may be someone else's."""
    from exoray.runtime.ray_env import init_ray

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    calls = _captured_init(monkeypatch)
    init_ray(num_cpus=2)
    assert calls[0]["address"] == "local"
    assert calls[0]["_node_ip_address"] == "127.0.0.1"


def test_an_explicit_address_or_ray_address_joins(monkeypatch):
    from exoray.runtime.ray_env import init_ray

    calls = _captured_init(monkeypatch)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    init_ray(address="auto")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    init_ray()
    assert [c["address"] for c in calls] == ["auto", "127.0.0.1:6379"]
    assert all("_node_ip_address" not in c for c in calls)
