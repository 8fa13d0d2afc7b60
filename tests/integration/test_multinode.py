"""A sweep on a two-node Ray cluster: a local head plus a second ``ray start --address`` node.

Both nodes run on this machine with their own temp dirs, ports and process
groups (see ``_ray_head.py``); each offers one CPU, so Ray Data's two
concurrent batch tasks cannot both fit on one node and the tasks' node IDs,
recorded by :func:`exoray.pipelines.sweep.process_batch` into ``run.json
["nodes"]``, must name both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from _ray_head import LocalRayCluster

pytestmark = [pytest.mark.ray, pytest.mark.timeout(400)]

DRIVER = r"""
import json, sys
import ray
import ray.data
from exoray.config import SweepConfig
from exoray.pipelines.sweep import sweep

address, inp, out = sys.argv[1:4]
# The pool's two actors start one per node, the second in a fresh worker
# process on the added node; without waiting for it, the head's actor can
# preprocess all six small batches before the other one is up.
ray.data.DataContext.get_current().wait_for_min_actors_s = 120
cfg = SweepConfig(address=address, batch_size=2, search=None)
run = sweep(inp, out, cfg)
nodes = {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}
print("CLUSTER_NODES=" + json.dumps(nodes))
"""


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    from exoray.simulate import simulate_sector

    d = tmp_path_factory.mktemp("sim_mn")
    simulate_sector(12, d, seed=11)
    return d


def test_sweep_runs_on_both_nodes(sim_dir, tmp_path):
    out = tmp_path / "out"
    cluster = LocalRayCluster(num_cpus=1)
    try:
        cluster.start_head()
        cluster.add_node(num_cpus=1, resources={"node2": 1})
        cluster.wait_for_nodes(2)
        r = subprocess.run(
            [sys.executable, "-c", DRIVER, cluster.gcs_address, str(sim_dir), str(out)],
            env=cluster.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        cluster.stop()
    assert r.returncode == 0, r.stderr[-4000:]
    line = [x for x in r.stdout.splitlines() if x.startswith("CLUSTER_NODES=")][-1]
    cluster_nodes = json.loads(line.split("=", 1)[1])
    assert len(cluster_nodes) == 2
    node2 = [nid for nid, res in cluster_nodes.items() if res.get("node2")]
    assert len(node2) == 1

    run = json.loads((out / "run.json").read_text())
    assert run["accounting"]["accounted"] is True
    assert run["counts"]["inputs"] == 12 and run["counts"]["preprocessed_total"] == 12
    used = {n["node_id"]: n for n in run["nodes"]}
    # Tasks ran on both nodes of this cluster, and only on them.
    assert set(used) == set(cluster_nodes), (used, cluster_nodes)
    assert used[node2[0]]["light_curves"] >= 2
    assert sum(n["light_curves"] for n in run["nodes"]) == 12
    assert sum(n["batches"] for n in run["nodes"]) == run["batches"] == 6
