"""The cluster YAMLs pass Ray's own autoscaler validation; the KubeRay manifests are well formed.

``prepare_config`` fills the provider defaults exactly as ``ray up`` does and
``validate_config`` checks the result against Ray's ``ray-schema.json`` plus
its cross-field rules (head type present, min_workers within max_workers).
KubeRay's CRDs are not installed here, so those manifests are checked
structurally: API version and kind, the fields the operator requires, images,
resources and autoscaling bounds, and that what they run exists in this repo.
"""

from __future__ import annotations

import ast
import copy
import re
import shlex
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster"

jsonschema = pytest.importorskip("jsonschema")
from ray.autoscaler._private.util import prepare_config, validate_config  # noqa: E402


def _load(name):
    return yaml.safe_load((CLUSTER / name).read_text())


PINNED_IMAGE = re.compile(r"^[\w.\-/]+:\d+\.\d+\.\d+[\w.\-]*$")


@pytest.mark.parametrize("name", ["aws.yaml", "gcp.yaml"])
def test_cloud_yaml_passes_ray_validation(name):
    raw = _load(name)
    cfg = prepare_config(copy.deepcopy(raw))
    validate_config(cfg)  # raises on any schema or cross-field error
    types = cfg["available_node_types"]
    head = types[cfg["head_node_type"]]
    assert head["resources"].get("CPU") == 0, "the head should not run sweep tasks"
    cpu = [t for k, t in types.items() if k != cfg["head_node_type"] and not t["resources"].get("GPU")]
    gpu = [t for t in types.values() if t["resources"].get("GPU", 0) >= 1]
    assert len(cpu) == 1 and cpu[0]["min_workers"] == 0 and cpu[0]["max_workers"] >= 4
    assert len(gpu) == 1 and gpu[0]["min_workers"] == 0
    assert cfg["max_workers"] >= cpu[0]["max_workers"] + gpu[0]["max_workers"]
    # pinned images, never :latest
    for img in (raw["docker"]["image"], raw["docker"]["worker_image"], gpu[0]["docker"]["worker_image"]):
        assert PINNED_IMAGE.match(img) and "latest" not in img, img
    assert "2.60.0" in raw["docker"]["image"]
    # set-up installs exoray (shipped by file_mounts) and the pinned torch
    setup = " ".join(raw["setup_commands"])
    assert "pip install" in setup and "~/exoray" in setup and "torch==2.13.0" in setup
    assert raw["file_mounts"]["~/exoray"] == "."
    gpu_setup = " ".join(gpu[0]["worker_setup_commands"])
    assert "~/exoray" in gpu_setup and "torch==2.13.0" in gpu_setup and "whl/cpu" not in gpu_setup
    assert any("--autoscaling-config" in c for c in raw["head_start_ray_commands"])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda c: c.update(not_a_field=1),
        lambda c: c.update(head_node_type="missing"),
        lambda c: c["available_node_types"]["cpu_sweep"].update(min_workers=99),
        lambda c: c["available_node_types"]["cpu_sweep"].pop("resources"),
    ],
    ids=["unknown-field", "bad-head-type", "min-above-max", "no-resources"],
)
def test_ray_validation_rejects_broken_configs(mutate):
    """The validation above is live: it fails on broken variants of aws.yaml."""
    raw = _load("aws.yaml")
    mutate(raw)
    with pytest.raises((ValueError, jsonschema.ValidationError, KeyError)):
        validate_config(prepare_config(raw))


def test_local_fake_yaml_validates():
    cfg = _load("local-fake.yaml")
    # prepare_config would merge fake_multi_node/example.yaml, which the Ray
    # wheel does not ship; the schema and cross-field checks still apply.
    validate_config(cfg)
    assert cfg["provider"]["type"] == "fake_multinode"
    assert cfg["idle_timeout_minutes"] <= 0.2
    worker = cfg["available_node_types"]["ray.worker.cpu"]
    assert worker["min_workers"] == 0 and worker["max_workers"] == cfg["max_workers"] >= 2
    assert cfg["available_node_types"][cfg["head_node_type"]]["resources"]["CPU"] == 0


# --------------------------------------------------------------------- KubeRay


def _containers(pod_template):
    return pod_template["spec"]["containers"]


def _check_pod(template, gpu=False):
    spec = template["spec"]
    sc = spec.get("securityContext", {})
    assert sc.get("runAsNonRoot") is True and sc.get("runAsUser", 0) != 0
    (c,) = _containers(template)
    assert c["name"] and PINNED_IMAGE.match(c["image"]), c["image"]
    res = c["resources"]
    assert res["requests"]["cpu"] == res["limits"]["cpu"] and res["requests"]["memory"] == res["limits"]["memory"]
    env = {e["name"]: e for e in c.get("env", [])}
    assert env["RAY_AUTH_MODE"]["value"] == "token"
    assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "auth_token"
    if gpu:
        assert res["limits"]["nvidia.com/gpu"] == "1"
    return c


def _check_cluster_spec(spec, sweep_group=True):
    assert spec["rayVersion"] == "2.60.0"
    assert spec["enableInTreeAutoscaling"] is True
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["dashboard-host"]
    c = _check_pod(head["template"])
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["gcs-server"] == 6379 and ports["dashboard"] == 8265
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    for g in groups.values():
        assert 0 <= g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]
        gpu = "num-gpus" in g["rayStartParams"]
        c = _check_pod(g["template"], gpu=gpu)
        # Ray's CPU count matches the pod's CPU limit (no oversubscription)
        assert float(g["rayStartParams"]["num-cpus"]) <= float(c["resources"]["limits"]["cpu"])
    if sweep_group:
        assert groups["cpu-sweep"]["minReplicas"] == 0 and groups["cpu-sweep"]["maxReplicas"] >= 4
    return groups


def test_kuberay_raycluster():
    m = _load("kuberay/raycluster.yaml")
    assert m["apiVersion"] == "ray.io/v1" and m["kind"] == "RayCluster" and m["metadata"]["name"]
    assert m["spec"]["autoscalerOptions"]["idleTimeoutSeconds"] > 0
    groups = _check_cluster_spec(m["spec"])
    assert groups["gpu-train"]["rayStartParams"]["num-gpus"] == "1" and groups["gpu-train"]["minReplicas"] == 0


def test_kuberay_rayjob_runs_the_sector_sweep_job():
    m = _load("kuberay/rayjob-sector-sweep.yaml")
    assert m["apiVersion"] == "ray.io/v1" and m["kind"] == "RayJob"
    spec = m["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    argv = shlex.split(spec["entrypoint"])
    assert argv[0] == "python" and argv[1].endswith("jobs/sector_sweep.py")
    assert (REPO / "jobs" / "sector_sweep.py").is_file()
    # the entrypoint's arguments parse with the job's own parser
    import importlib.util

    s = importlib.util.spec_from_file_location("sector_sweep", REPO / "jobs" / "sector_sweep.py")
    mod = importlib.util.module_from_spec(s)
    s.loader.exec_module(mod)
    args = mod.build_parser().parse_args(argv[2:])
    assert args.out.startswith("/data/")
    env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert env["env_vars"]["NUMBA_NUM_THREADS"] == "1"
    _check_cluster_spec(spec["rayClusterSpec"])
    _check_pod(spec["submitterPodTemplate"])


def test_kuberay_rayservice_serves_the_exoray_app():
    m = _load("kuberay/rayservice.yaml")
    assert m["apiVersion"] == "ray.io/v1" and m["kind"] == "RayService"
    serve = yaml.safe_load(m["spec"]["serveConfigV2"])
    (app,) = serve["applications"]
    module, attr = app["import_path"].split(":")
    # the import path names a real function in this repo (parsed, not imported)
    src = (REPO / Path(*module.split("."))).with_suffix(".py")
    tree = ast.parse(src.read_text())
    assert attr in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    local = yaml.safe_load((REPO / "exoray" / "serve" / "serve_config.yaml").read_text())
    assert app["import_path"] == local["applications"][0]["import_path"]
    assert set(app["args"]["deployments"]) <= set(local["applications"][0]["args"]["deployments"])
    assert serve["http_options"]["port"] == 8000
    groups = _check_cluster_spec(m["spec"]["rayClusterConfig"], sweep_group=False)
    assert groups["serve-cpu"]["minReplicas"] >= 1
