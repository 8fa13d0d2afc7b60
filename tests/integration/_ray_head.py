"""A private Ray head (and extra nodes) on loopback for the ops tests.

The test session's shared Ray (``ray_local``) and other people's Ray
instances run on the same machine, so these clusters never touch them:

* every node gets its own ``--temp-dir`` (a short folder under /tmp, unix
  socket paths are limited to ~107 bytes) and free ports;
* token authentication is on (``RAY_AUTH_MODE=token``) with a fresh random
  token passed as ``RAY_AUTH_TOKEN`` to the head, the extra nodes and every
  client (``ray job submit``, drivers).  ``RAY_AUTH_TOKEN`` takes precedence
  over ``RAY_AUTH_TOKEN_PATH`` and ``~/.ray/auth_token``, so the user's own
  token file is neither read nor overwritten;
* each ``ray start`` runs in its own session (``start_new_session``): the
  daemons it spawns (GCS, raylet, dashboard, workers, which Ray puts in
  process groups of their own) stay in that session, and
  :meth:`LocalRayCluster.stop` kills exactly that session's processes.  Plain
  ``ray stop`` would kill every Ray on the machine and is never used.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

RAY_BIN = os.path.join(os.path.dirname(sys.executable), "ray")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_ports() -> List[str]:
    """Free ports for every per-node service whose default is fixed (e.g. the
    dashboard agent's 52365), so two local clusters never collide."""
    out: List[str] = []
    for flag in (
        "--node-manager-port",
        "--object-manager-port",
        "--dashboard-agent-listen-port",
        "--dashboard-agent-grpc-port",
        "--metrics-export-port",
        "--runtime-env-agent-port",
    ):
        out += [flag, str(free_port())]
    return out


def session_members(sids) -> List[int]:
    """PIDs of live processes whose session id is one of ``sids``.

    Every process a ``ray start`` spawns stays in its session (Ray puts each
    worker in a process group of its own, but never in a new session), so the
    session is what identifies "this cluster's processes".
    """
    sids = set(sids)
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getsid(int(entry)) not in sids:
                continue
            with open(f"/proc/{entry}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except (ProcessLookupError, PermissionError, FileNotFoundError, IndexError):
            continue
        if state != "Z":  # a zombie is already dead, only not yet reaped
            out.append(int(entry))
    return out


class LocalRayCluster:
    """A Ray head on 127.0.0.1 with free ports, plus optional worker nodes."""

    def __init__(self, num_cpus: int = 2, resources: Optional[Dict[str, float]] = None, dashboard: bool = True):
        self.num_cpus = num_cpus
        self.dashboard = dashboard  # only `ray job submit` needs it; it costs ~10 processes
        self.resources = resources
        self.port = free_port()
        self.dashboard_port = free_port()
        self.token = secrets.token_hex(32)
        self.root = tempfile.mkdtemp(prefix="exr_", dir="/tmp")
        self.pgids: List[int] = []  # session ids (= pid of each `ray start`)
        self._n_nodes = 0

    # ------------------------------------------------------------------ env
    @property
    def gcs_address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def env(self, **extra: str) -> Dict[str, str]:
        """Environment for anything that talks to this cluster."""
        env = dict(os.environ)
        for k in ("RAY_ADDRESS", "RAY_AUTH_TOKEN_PATH"):
            env.pop(k, None)
        env.update(
            RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
            RAY_AUTH_MODE="token",
            RAY_AUTH_TOKEN=self.token,
            RAY_USAGE_STATS_ENABLED="0",
            NUMBA_NUM_THREADS="1",
            OMP_NUM_THREADS="1",
            PYTHONUNBUFFERED="1",
            # a shared 2-core CI box can be loaded enough that the raylet takes
            # over a minute to register (Ray's default wait is 60 s)
            RAY_raylet_start_wait_time_s="240",
        )
        env.update(extra)
        return env

    # ---------------------------------------------------------------- nodes
    def _ray_start(self, args: List[str], timeout: float = 330, env: Optional[Dict[str, str]] = None) -> None:
        self._n_nodes += 1
        temp = os.path.join(self.root, f"n{self._n_nodes}")
        os.makedirs(temp)
        log = open(os.path.join(self.root, f"start{self._n_nodes}.log"), "w")
        try:
            proc = subprocess.Popen(
                [RAY_BIN, "start", *args, "--temp-dir", temp, "--disable-usage-stats"],
                env=env or self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.pgids.append(proc.pid)  # session leader: its pid is the group id
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.stop()  # also kills this half-started node's group
                proc.wait()
                raise RuntimeError(f"ray start {' '.join(args)} did not finish within {timeout:.0f} s")
        finally:
            log.close()
        if rc != 0:
            with open(os.path.join(self.root, f"start{self._n_nodes}.log")) as fh:
                raise RuntimeError(f"ray start {' '.join(args)} failed (rc={rc}):\n{fh.read()[-4000:]}")

    def start_head(self, extra_args: Optional[List[str]] = None, extra_env: Optional[Dict[str, str]] = None) -> "LocalRayCluster":
        import json

        args = [
            "--head",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--num-cpus",
            str(self.num_cpus),
            "--ray-client-server-port",
            str(free_port()),
            *_node_ports(),
        ]
        if self.dashboard:
            args += ["--include-dashboard", "true", "--dashboard-host", "127.0.0.1", "--dashboard-port", str(self.dashboard_port)]
        else:
            args += ["--include-dashboard", "false"]
        if self.resources:
            args += ["--resources", json.dumps(self.resources)]
        self._ray_start(args + list(extra_args or []), env=self.env(**(extra_env or {})))
        return self

    def add_node(self, num_cpus: int = 1, resources: Optional[Dict[str, float]] = None) -> None:
        import json

        args = [
            "--address",
            # Spelled as an IPv4-mapped IPv6 address on purpose: with
            # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=1 (see below) `ray start`
            # rewrites a literal 127.0.0.1/localhost to this machine's routable
            # IP, where the loopback-bound GCS does not listen; this spelling is
            # not "localhost" to Ray and reaches the same dual-stack socket.
            f"[::ffff:127.0.0.1]:{self.port}",
            "--node-ip-address",
            "127.0.0.1",
            "--num-cpus",
            str(num_cpus),
            *_node_ports(),
        ]
        if resources:
            args += ["--resources", json.dumps(resources)]
        # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (what keeps a single local Ray on
        # loopback) also makes `ray start --address` refuse to add a node, so
        # the joining node sets it to 1 and is pinned to 127.0.0.1 explicitly.
        self._ray_start(args, env=self.env(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1"))

    def wait_for_nodes(self, n: int, timeout: float = 90) -> None:
        """Block until ``n`` alive nodes are registered (queried in a subprocess)."""
        code = (
            "import ray,sys;ray.init(address=sys.argv[1],log_to_driver=False);"
            "print(sum(1 for x in ray.nodes() if x['Alive']))"
        )
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            r = subprocess.run(
                [sys.executable, "-c", code, self.gcs_address],
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=120,
            )
            last = r.stdout.strip().splitlines()[-1:] or [r.stderr[-2000:]]
            if r.returncode == 0 and last and last[0].isdigit() and int(last[0]) >= n:
                return
            time.sleep(2)
        raise TimeoutError(f"cluster never reached {n} alive nodes; last answer: {last}")

    # ----------------------------------------------------------------- stop
    def stop(self) -> None:
        """Kill the processes of the sessions this object started (never anyone else's)."""
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            for pid in session_members(self.pgids):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and session_members(self.pgids):
                time.sleep(0.25)
            if not session_members(self.pgids):
                break
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "LocalRayCluster":
        return self.start_head()

    def __exit__(self, *exc) -> None:
        self.stop()
