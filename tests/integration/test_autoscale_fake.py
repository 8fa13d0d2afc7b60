"""Local autoscaling with Ray's fake multi-node provider (``cluster/local-fake.yaml``).

The head offers 0 CPUs, so a sweep's tasks can only run on worker nodes that
Ray's autoscaler launches (fake nodes: extra raylets on this machine).  A
driver samples the number of alive worker nodes once a second while the sweep
runs and afterwards, and the test checks the cluster scaled up from 0, ran the
sweep's tasks on the new nodes, and scaled back to 0 once they were idle
(``idle_timeout_minutes: 0.1``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from _ray_head import LocalRayCluster

pytestmark = [pytest.mark.ray, pytest.mark.timeout(540)]

REPO = Path(__file__).resolve().parents[2]

DRIVER = r"""
import json, sys, threading, time
import ray
from exoray.config import SweepConfig
from exoray.pipelines.sweep import sweep

address, inp, out = sys.argv[1:4]
ray.init(address=address, log_to_driver=False)
t0 = time.monotonic()
timeline, stop, seen = [], threading.Event(), set()

def workers():
    alive = [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) > 0]
    seen.update(alive)
    return len(alive)

def sample():
    while not stop.is_set():
        timeline.append([round(time.monotonic() - t0, 1), workers(), "sweep"])
        stop.wait(1.0)

th = threading.Thread(target=sample, daemon=True)
th.start()
run = sweep(inp, out, SweepConfig(address=address, batch_size=1, reports="none"))
stop.set(); th.join()
t_sweep = time.monotonic() - t0
# idle: wait for the autoscaler to remove the idle nodes
deadline = time.monotonic() + 180
while time.monotonic() < deadline:
    n = workers()
    timeline.append([round(time.monotonic() - t0, 1), n, "idle"])
    if n == 0:
        break
    time.sleep(1.0)
print("AUTOSCALE=" + json.dumps({"timeline": timeline, "sweep_s": t_sweep,
      "worker_node_ids": sorted(seen)}))
"""


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    from exoray.simulate import simulate_sector

    d = tmp_path_factory.mktemp("sim_as")
    simulate_sector(8, d, seed=5)
    return d


def test_fake_cluster_scales_up_under_sweep_and_down_when_idle(sim_dir, tmp_path):
    cfg = yaml.safe_load((REPO / "cluster" / "local-fake.yaml").read_text())
    assert cfg["provider"]["type"] == "fake_multinode"
    assert cfg["available_node_types"]["ray.worker.cpu"]["min_workers"] == 0
    cluster = LocalRayCluster(num_cpus=0, dashboard=False)
    cfg["provider"]["gcs_address"] = cluster.gcs_address
    cfg_path = tmp_path / "local-fake.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    try:
        cluster.start_head(
            extra_args=["--autoscaling-config", str(cfg_path)],
            extra_env={"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"},
        )
        r = subprocess.run(
            [sys.executable, "-c", DRIVER, cluster.gcs_address, str(sim_dir), str(out)],
            env=cluster.env(),
            capture_output=True,
            text=True,
            timeout=480,
        )
    finally:
        cluster.stop()
    assert r.returncode == 0, r.stderr[-4000:]
    line = [x for x in r.stdout.splitlines() if x.startswith("AUTOSCALE=")][-1]
    rec = json.loads(line.split("=", 1)[1])
    counts = [n for _, n, _ in rec["timeline"]]
    print("node counts over time (s, workers, phase):", rec["timeline"])
    assert counts[0] == 0, "the cluster should start with no worker nodes"
    assert max(counts) >= 1, f"never scaled up: {rec['timeline']}"
    assert max(counts) <= cfg["max_workers"]
    assert counts[-1] == 0, f"did not scale back down to 0 when idle: {rec['timeline']}"

    run = json.loads((out / "run.json").read_text())
    assert run["accounting"]["accounted"] is True and run["counts"]["inputs"] == 8
    # every batch ran on an autoscaled worker node (the head has no CPU)
    assert run["nodes"] and all(n["node_id"] in rec["worker_node_ids"] for n in run["nodes"])
