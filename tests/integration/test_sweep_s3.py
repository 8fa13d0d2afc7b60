"""Sweeping light curves straight from an object store (S3 API on loopback).

A moto S3 server on 127.0.0.1 stands in for a bucket; pyarrow's S3 filesystem
reads from it exactly as it would from AWS.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")

from exoray.config import SweepConfig  # noqa: E402
from exoray.pipelines.inputs import resolve_inputs  # noqa: E402
from exoray.pipelines.sweep import sweep  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    port = _free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.skip("moto S3 server did not start")
    yield port
    proc.terminate()
    proc.wait(10)
    log.close()


def test_sweep_from_s3_uri(s3_server, tmp_path, monkeypatch):
    from exoray.simulate import simulate_sector

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sim = tmp_path / "sim"
    simulate_sector(3, sim, seed=11)
    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{s3_server}", region_name="us-east-1")
    s3.create_bucket(Bucket="tess-sector")
    for f in sorted(sim.glob("*.fits")):
        s3.upload_file(str(f), "tess-sector", f"s0001/{f.name}")
    s3.put_object(Bucket="tess-sector", Key="s0001/broken_lc.fits", Body=b"\0" * 100)

    uri = f"s3://tess-sector/s0001?endpoint_override=127.0.0.1:{s3_server}&scheme=http&region=us-east-1"
    found = resolve_inputs(uri)
    assert len(found) == 4 and all(u.startswith("s3://tess-sector/s0001/") for u in found)

    run = sweep(uri, str(tmp_path / "out"), SweepConfig(batch_size=2), use_ray=False)
    assert run["accounting"]["accounted"]
    assert run["counts"]["preprocessed_total"] == 3
    q = pq.read_table(tmp_path / "out" / "quarantine.parquet").to_pylist()
    assert len(q) == 1 and "broken_lc.fits" in q[0]["path"] and q[0]["stage"] == "read"
