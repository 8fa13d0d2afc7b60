"""Faults during a sweep lose nothing and duplicate nothing.

(a) a Ray worker analysing a sweep batch (an actor of the analysis stage) is
    SIGKILLed mid-batch: Ray restarts the actor and Ray Data retries the
    batch, the sweep completes, and every input is in exactly one of the
    preprocessed parts or the quarantine;
(b) the driver is SIGKILLed mid-sweep: a rerun into the same OUT processes
    only the inputs missing from it, leaves the parts already written
    untouched, and the final accounting is exact;
(c) outputs are atomic: while (a) runs, every visible ``part-*.parquet`` is
    a complete Parquet file, and a writer killed mid-write leaves either the
    old complete file or nothing, never a partial one under a visible name.

Each test prints the number of inputs lost and duplicated (goal: 0).  The
sweeps run against a private Ray head (``_ray_head.py``) so that the processes
killed are provably this test's own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from _ray_head import LocalRayCluster

from exoray.pipelines.inputs import resolve_inputs
from exoray.pipelines.sweep import LIGHTCURVES_DIR, QUARANTINE_DIR, completed_locations

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

DRIVER = r"""
import json, sys
from exoray.config import SweepConfig
from exoray.pipelines.sweep import sweep
address, inp, out, bs = sys.argv[1:5]
run = sweep(inp, out, SweepConfig(address=address, batch_size=int(bs), reports="none"))
print("RUN=" + json.dumps({"counts": run["counts"], "accounting": run["accounting"], "nodes": run["nodes"]}))
"""


@pytest.fixture(scope="module")
def head():
    cluster = LocalRayCluster(num_cpus=2, dashboard=False)
    try:
        cluster.start_head()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    from exoray.simulate import simulate_sector

    d = tmp_path_factory.mktemp("sim_ft")
    simulate_sector(8, d, seed=21)
    return d


def _driver(head, sim_dir, out, batch_size):
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, head.gcs_address, str(sim_dir), str(out), str(batch_size)],
        env=head.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_record(stdout: str) -> dict:
    lines = [x for x in stdout.splitlines() if x.startswith("RUN=")]
    assert lines, "driver printed no RUN= line"
    return json.loads(lines[-1][4:])


def _task_workers(head):
    """Worker processes of this cluster now analysing a sweep batch (an actor of the Ray Data map_batches stage)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if os.getsid(pid) not in head.pgids:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except (ProcessLookupError, PermissionError, FileNotFoundError):
            continue
        if cmd.startswith("ray::MapWorker(MapBatches(BatchAnalyser)).submit"):
            found.append(pid)
    return found


def _audit(inputs, out):
    """Inputs lost and duplicated across the committed parts and the quarantine."""
    lc_paths = []
    for f in sorted((Path(out) / LIGHTCURVES_DIR).glob("part-*.parquet")):
        lc_paths += pq.read_table(f, columns=["source_path"]).column("source_path").to_pylist()
    done, quarantined = completed_locations(str(out))
    seen = Counter(lc_paths) + Counter(quarantined)
    lost = sorted(set(inputs) - set(seen))
    dup = sorted(k for k, v in seen.items() if v > 1)
    return {"inputs": len(inputs), "preprocessed": len(set(done)), "quarantined": len(set(quarantined)),
            "lost": len(lost), "duplicated": len(dup)}


class _PartWatcher(threading.Thread):
    """Checks, as often as it can, that every visible part file is complete Parquet."""

    def __init__(self, out: Path):
        super().__init__(daemon=True)
        self.out, self.stop, self.checked, self.bad, self.tmp_seen = out, threading.Event(), 0, [], set()

    def run(self):
        while not self.stop.is_set():
            for sub in (LIGHTCURVES_DIR, QUARANTINE_DIR, "candidates"):
                folder = self.out / sub
                if not folder.is_dir():
                    continue
                for f in folder.iterdir():
                    if f.name.endswith(".tmp"):
                        self.tmp_seen.add(f.name)
                        continue
                    if not (f.name.startswith("part-") and f.name.endswith(".parquet")):
                        continue
                    try:
                        pq.read_metadata(f)
                        self.checked += 1
                    except FileNotFoundError:
                        pass  # replaced between listing and reading
                    except Exception as exc:  # a visible, partial file
                        self.bad.append(f"{f}: {exc}")
            time.sleep(0.05)


def test_killed_worker_mid_sweep_loses_nothing(head, sim_dir, tmp_path):
    out = tmp_path / "out"
    inputs = resolve_inputs(str(sim_dir))
    watcher = _PartWatcher(out)
    watcher.start()
    proc = _driver(head, sim_dir, out, batch_size=2)
    killed = []
    try:
        deadline = time.monotonic() + 400
        # Kill the first two distinct workers seen running a batch, each ~1 s into its task.
        while len(killed) < 2 and proc.poll() is None and time.monotonic() < deadline:
            pids = [p for p in _task_workers(head) if p not in killed]
            if pids:
                time.sleep(1.0)
                try:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        stdout, stderr = proc.communicate(timeout=max(10, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        watcher.stop.set()
        watcher.join()
    assert killed, "no sweep worker was seen running, so none was killed"
    assert proc.returncode == 0, stderr[-4000:]
    run = _run_record(stdout)
    audit = _audit(inputs, out)
    print(f"\nFAULT worker-kill: killed pids {killed}; {audit}; parts checked while running: {watcher.checked}")
    assert run["accounting"]["accounted"] is True
    assert audit["lost"] == 0 and audit["duplicated"] == 0
    assert audit["preprocessed"] + audit["quarantined"] == len(inputs)
    # An analysis actor serves many batches, so a killed one may have returned batches before
    # its death; the batch it held was retried by a live process, which must exist.
    pids_used = {p for n in run["nodes"] for p in n["pids"]}
    assert pids_used - set(killed), "no live worker process returned a batch"
    # (c) atomicity as seen by a concurrent reader
    assert watcher.bad == [], watcher.bad
    assert watcher.checked > 0


def test_killed_driver_rerun_processes_only_missing(head, sim_dir, tmp_path):
    out = tmp_path / "out"
    inputs = resolve_inputs(str(sim_dir))
    proc = _driver(head, sim_dir, out, batch_size=2)
    lc_dir = out / LIGHTCURVES_DIR
    try:
        deadline = time.monotonic() + 400
        while proc.poll() is None and time.monotonic() < deadline:
            if lc_dir.is_dir() and any(f.name.startswith("part-") for f in lc_dir.iterdir()):
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the sweep finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "run.json").exists(), "a killed driver cannot have finished the run"
    time.sleep(3)  # let Ray reap the dead job's workers (a late part is harmless: same name)

    parts_before = {f.name: (f.stat().st_ino, f.stat().st_mtime_ns) for f in lc_dir.glob("part-*.parquet")}
    done_before, q_before = completed_locations(str(out))
    already = len(set(done_before) | set(q_before))
    assert 0 < already < len(inputs)

    proc2 = _driver(head, sim_dir, out, batch_size=2)
    stdout, stderr = proc2.communicate(timeout=400)
    assert proc2.returncode == 0, stderr[-4000:]
    run = _run_record(stdout)
    audit = _audit(inputs, out)
    print(f"\nFAULT driver-kill: {already}/{len(inputs)} done before the kill; rerun processed "
          f"{run['counts']['processed_this_run']}; {audit}")
    assert run["counts"]["skipped_resume"] == already
    assert run["counts"]["processed_this_run"] == len(inputs) - already
    assert run["accounting"]["accounted"] is True
    assert audit["lost"] == 0 and audit["duplicated"] == 0
    # parts of the first run were not rewritten by the rerun
    for name, ident in parts_before.items():
        st = (lc_dir / name).stat()
        assert (st.st_ino, st.st_mtime_ns) == ident, f"{name} was rewritten by the resume"
    assert pq.read_table(out / "candidates.parquet").num_rows >= 1


WRITER = r"""
import sys
import numpy as np, pyarrow as pa
from exoray.schemas import write_parquet_atomic
path, n = sys.argv[1], int(sys.argv[2])
i = 0
while True:
    t = pa.table({"x": np.full(n, i, dtype=np.int64), "y": np.random.default_rng(i).random(n)})
    write_parquet_atomic(t, path)
    print(i, flush=True)
    i += 1
"""


def test_writer_killed_mid_write_leaves_no_partial_file(tmp_path):
    """SIGKILL a process looping write_parquet_atomic over one path, at 6 moments."""
    path = tmp_path / "part-x.parquet"
    n = 400_000
    partial, leftovers = 0, set()
    for k in range(6):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(n)], stdout=subprocess.PIPE, text=True)
        try:
            proc.stdout.readline()  # at least one complete write
            time.sleep(0.05 + 0.037 * k)  # land inside later writes at varying points
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait()
            proc.stdout.close()
        t = pq.read_table(path)  # raises if partial
        if t.num_rows != n or len(set(t.column("x").to_pylist()[:: n // 10])) != 1:
            partial += 1
        leftovers |= {f.name for f in tmp_path.iterdir() if f.name.endswith(".tmp")}
    print(f"\nFAULT writer-kill: 6 kills, partial visible files: {partial}, hidden temp files left: {len(leftovers)}")
    assert partial == 0
    # a killed writer can leave its hidden temp file, never a visible part name
    assert all(name.startswith(".part-x.parquet.") for name in leftovers)
    assert sorted(f.name for f in tmp_path.iterdir() if not f.name.startswith(".")) == ["part-x.parquet"]
