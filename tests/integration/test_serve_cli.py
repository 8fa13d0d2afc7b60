"""``exoray serve`` as a user runs it: its own local Ray, a real TESS file over HTTP, Ctrl-C to stop.

Slow (starts a second Ray instance and compiles the search kernels): run with
``python -m pytest -m slow tests/integration/test_serve_cli.py``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from _procs import LOOPBACK, descendants, listening

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

WASP4 = "tess2018234235059-s0002-0000000402026209-0121-s_lc.fits"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_exoray_serve_scores_wasp4_over_http(spoc_files, tmp_path):
    import requests

    path = next((p for p in spoc_files if p.name == WASP4), None)
    if path is None:
        pytest.skip(f"{WASP4} not in the shared data")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["EXORAY_MODEL_REGISTRY"] = str(tmp_path / "registry")  # empty: anomaly model reported missing
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "exoray.cli", "serve", "--port", str(port), "--num-cpus", "2"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                if requests.get(url + "/readyz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        else:
            pytest.fail("exoray serve not ready in 600 s")
        with open(path, "rb") as fh:
            r = requests.post(url + "/v1/score", files={"file": (path.name, fh)}, timeout=300)
        assert r.status_code == 200, r.text
        best = r.json()["candidates"][0]
        assert best["period_days"] == pytest.approx(1.338231, rel=1e-3)  # WASP-4 b
        assert best["disposition"] == "planet_candidate"
        # every port of the CLI's own Ray and service listens on loopback (Ray Serve is imported before
        # Ray starts here, the order that used to put the GCS, raylet and agents on every interface)
        procs = descendants(proc.pid)
        socks = listening(procs)
        assert len(socks) > 10, socks
        assert not [(procs[p][:60], ip, port_) for p, ip, port_ in socks if ip not in LOOPBACK]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == 0, (tmp_path / "serve.log").read_text()[-3000:]
