"""``exoray serve`` and ``exoray dashboard``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

from ..devices import require_ray_gpus
from ..errors import ConfigError, ExorayError, InputError
from ..runtime.ray_env import init_ray
from .settings import merge_settings, replica_device

# The modules that do the work (the Serve deployments: Ray Serve, torch) are
# imported inside the command functions: `exoray --help` imports this module to
# list its subcommands.

log = logging.getLogger(__name__)

CONFIG_PATH = Path(__file__).resolve().parent / "serve_config.yaml"
DASHBOARD_APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the HTTP scoring service (Ray Serve): /v1/score, /v1/rank, /v1/anomaly, /docs",
        description=(
            "Start a Ray Serve application with a FastAPI ingress on HOST:PORT and keep it up until Ctrl-C. "
            "Endpoints: POST /v1/score (FITS upload or JSON light curve), POST /v1/rank, POST /v1/anomaly, "
            "GET /v1/models, /healthz, /readyz; OpenAPI at /docs.  For a cluster deployment use "
            f"'serve deploy {CONFIG_PATH}'."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--config", metavar="YAML",
                   help=f"Serve config whose first application's 'args' override the settings (e.g. {CONFIG_PATH.name})")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)")
    p.add_argument("--address", default=None,
                   help="join this running Ray cluster ('auto': the one on this machine) instead of starting a "
                   "local instance of exoray's own (also RAY_ADDRESS); exoray then deploys only its own "
                   "application and, on exit, deletes only that")
    p.add_argument("--app-name", default="exoray", help="Serve application name (default exoray)")
    p.add_argument("--search-timeout", type=float, default=None, metavar="SECONDS",
                   help="wall-clock limit on one /v1/score search; past it the search is stopped and the "
                   "request answered 503 (default 120)")
    p.add_argument("--internal-grpc-host", default=None, metavar="ADDR",
                   help="where each replica's internal gRPC server listens: 'node' (default: the node's Ray "
                   "address, loopback for the local instance) or e.g. 0.0.0.0 for every interface")
    p.add_argument("--search-replicas", type=int, default=None,
                   help="fixed number of search replicas (default: autoscale 1..2)")
    p.add_argument("--no-batching", action="store_true", help="score each request alone (no @serve.batch)")
    p.add_argument("--max-request-mb", type=float, default=None, help="request body limit in MiB (default 16)")
    p.add_argument("--ranker", metavar="DIR", help="ranker directory (default: the shipped ranker)")
    p.add_argument("--registry", metavar="DIR", help="model registry for the anomaly model")
    p.add_argument("--gpu", action="store_true", help="search and anomaly scoring on one GPU each")
    p.add_argument("--toi-catalog", metavar="CSV", default=None,
                   help="ExoFOP TOI CSV for the known-object cross-match (default: the snapshot shipped with exoray)")
    p.add_argument("--eb-catalog", metavar="CSV", default=None,
                   help="TESS EB catalogue CSV for the cross-match (default: the snapshot shipped with exoray)")
    p.add_argument("--no-catalog", action="store_true", help="no known-object cross-match")
    p.add_argument("--device", default=None, metavar="DEVICE",
                   help="the search replicas' device: cpu or cuda (one GPU each; default cpu, cuda with --gpu); "
                   "refused at start when the Ray cluster has no GPU")
    p.set_defaults(func=_cmd_serve)

    d = subparsers.add_parser(
        "dashboard",
        help="web dashboard (Streamlit) over a sweep's output and the scoring service",
        description="Launch the Streamlit dashboard: sweep overview, candidate table and pages, "
                    "upload-and-score through the service, and the active-learning labelling queue.",
    )
    d.add_argument("out", metavar="OUT", help="a sweep's output folder (exoray sweep --out OUT)")
    d.add_argument("--port", type=int, default=8501)
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--api", default="http://127.0.0.1:8000", help="URL of 'exoray serve' for the upload page")
    d.set_defaults(func=_cmd_dashboard)


def load_config_args(path: str) -> Dict[str, Any]:
    """The ``args`` of the first application in a Serve config YAML."""
    import yaml

    try:
        with open(path) as fh:
            cfg = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the Serve config ({exc})") from exc
    apps = cfg.get("applications") or []
    if not apps:
        raise ConfigError(f"{path}: no 'applications' entry")
    return dict(apps[0].get("args") or {})


def settings_from_args(args) -> Dict[str, Any]:
    settings: Dict[str, Any] = load_config_args(args.config) if args.config else {}
    if args.no_batching:
        settings["batching"] = False
    if args.max_request_mb is not None:
        settings["max_request_bytes"] = int(args.max_request_mb * 1024 * 1024)
    if args.ranker:
        settings["ranker_dir"] = os.path.abspath(args.ranker)
    if args.registry:
        settings["model_registry"] = os.path.abspath(args.registry)
    if args.gpu:
        settings["use_gpu"] = True
    if args.device is not None:
        settings["device"] = args.device
    if args.search_replicas is not None:
        settings.setdefault("deployments", {}).setdefault("Searcher", {})["num_replicas"] = args.search_replicas
    if args.search_timeout is not None:
        settings["search_timeout_s"] = args.search_timeout
    if args.internal_grpc_host is not None:
        settings["internal_grpc_host"] = args.internal_grpc_host
    # catalogue paths are resolved here: the replicas may run in another working directory
    catalog = {k: os.path.abspath(v) for k, v in (("toi_catalog", args.toi_catalog),
                                                   ("eb_catalog", args.eb_catalog)) if v}
    if args.no_catalog:
        catalog["use_catalog"] = False
    if catalog:
        settings["search"] = {**settings.get("search", {}), **catalog}
    return settings


def http_options(settings: Optional[Dict[str, Any]], host: str, port: int) -> Dict[str, Any]:
    """Serve HTTP proxy options: the address, and time limits that close stuck requests and idle connections."""
    s = merge_settings(settings)
    # End-to-end bound at the proxy, above the ingress' own limits (body, then search), so that it
    # only ends requests whose replica cannot answer at all.
    limits = [s["body_timeout_s"], s["search_timeout_s"]]
    request_timeout = None if any(x is None for x in limits) else float(sum(limits)) + 60.0
    return {"host": host, "port": int(port), "request_timeout_s": request_timeout, "keep_alive_timeout_s": 5}


def running_applications() -> Optional[set]:
    """Names of the Serve applications on the connected cluster, or None when Serve is not running there."""
    import ray
    from ray import serve
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    try:
        ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
    except ValueError:
        return None
    return set(serve.status().applications)


def start_service(settings: Optional[Dict[str, Any]] = None, host: str = "127.0.0.1", port: int = 8000,
                  name: str = "exoray"):
    """Start Serve's HTTP proxy on ``host:port`` and deploy the app (Ray must be initialised).

    Refuses (:class:`~exoray.errors.ConfigError`) to replace an application of
    the same name that is already running: it may belong to someone else.
    """
    from ray import serve

    from .deployments import build_app

    apps = running_applications()
    if apps is not None and name in apps:
        raise ConfigError(
            f"a Serve application named {name!r} is already running on this Ray cluster; it is not exoray's to "
            "replace: stop it first, or deploy under another name (exoray serve --app-name NAME)"
        )
    serve.start(http_options=http_options(settings, host, port))
    return serve.run(build_app(settings), name=name, route_prefix="/", blocking=False)


def stop_service(name: str, serve_was_running: bool) -> None:
    """Delete application ``name``; shut Serve down only if this process started it and nothing else runs."""
    from ray import serve

    try:
        serve.delete(name)
    except Exception as exc:  # noqa: BLE001 - stopping: report and go on
        log.warning("could not delete Serve application %r: %s", name, exc)
    if serve_was_running:
        return  # someone else's Serve: leave it (and their applications) alone
    remaining = running_applications() or set()
    if remaining:
        log.warning("Serve left running: it now also serves %s", ", ".join(sorted(remaining)))
        return
    serve.shutdown()


def wait_ready(url: str, timeout_s: float = 120.0) -> Dict[str, Any]:
    """Poll ``url/readyz`` until it answers 200; returns its JSON."""
    import requests

    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            r = requests.get(url.rstrip("/") + "/readyz", timeout=5)
            last = r.text
            if r.status_code == 200:
                return r.json()
        except requests.RequestException as exc:
            last = str(exc)
        time.sleep(0.5)

    raise ExorayError(f"service at {url} not ready after {timeout_s:.0f} s (last answer: {last})")


def _cmd_serve(args) -> int:
    settings = settings_from_args(args)

    merged = merge_settings(settings)  # fail on a bad setting before starting Ray
    device = replica_device(merged["device"] or merged["search"].get("device")
                             or ("cuda" if merged["use_gpu"] else None))
    ray = init_ray(address=args.address, num_cpus=args.num_cpus)
    if device == "cuda" or merged["use_gpu"]:
        try:
            require_ray_gpus("cuda")
        except ConfigError:
            ray.shutdown()
            raise

    url = f"http://{args.host}:{args.port}"
    apps = running_applications()
    serve_was_running = apps is not None
    started = False
    try:
        if serve_was_running:
            if args.app_name in apps:
                raise ConfigError(
                    f"a Serve application named {args.app_name!r} is already running on this Ray cluster; it is "
                    "not exoray's to replace: stop it first, or use exoray serve --app-name NAME")
            print(f"exoray serve: Serve already runs on this cluster; adding application {args.app_name!r} to it "
                  "(its HTTP proxy keeps its own host and port)", file=sys.stderr)
        started = True  # from here on our application may exist, partly deployed or not
        start_service(settings, args.host, args.port, name=args.app_name)
        status = wait_ready(url)
        print(f"exoray serve: ready at {url}  (docs: {url}/docs)")
        for m in status["models"]:
            state = "ready" if m["ready"] else f"not ready: {m.get('message')}"
            print(f"  {m['kind']:8s} {m['name']:12s} {state}")
        print("Ctrl-C stops the service")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        if started:
            stop_service(args.app_name, serve_was_running)
        ray.shutdown()
    return 0


def dashboard_command(out: str, port: int = 8501, host: str = "127.0.0.1", api: str = "http://127.0.0.1:8000"):
    """The command line that runs the dashboard (list of str)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(DASHBOARD_APP),
        "--server.port", str(int(port)), "--server.address", host, "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--", "--out", os.path.abspath(out), "--api", api,
    ]


def _cmd_dashboard(args) -> int:
    if not os.path.isdir(args.out):
        raise InputError(f"{args.out}: no such folder; run 'exoray sweep INPUT --out {args.out}' first")
    cmd = dashboard_command(args.out, args.port, args.host, args.api)
    print(f"exoray dashboard: http://{args.host}:{args.port}  (Ctrl-C stops it)")
    return run_child_until_stopped(cmd)


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when this process's parent dies.

    That covers the one way of stopping ``exoray dashboard`` that no handler sees
    (SIGKILL); elsewhere the parent's handlers below are what stop the child.
    """
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_child_until_stopped(cmd, *, grace_s: float = 10.0) -> int:
    """Run ``cmd`` until it exits or this process is stopped; either way the child does not outlive us.

    Ctrl-C, SIGTERM and SIGHUP to this process terminate the child (SIGKILL
    after ``grace_s``) and wait for it, so that nothing is left listening on
    the port.  Returns the child's exit status, or 128 + the signal number
    when a signal stopped us.
    """
    import subprocess

    pre = _die_with_parent if sys.platform.startswith("linux") else None
    proc = subprocess.Popen(cmd, preexec_fn=pre)
    stopped_by = []

    def _stop(signum, frame):
        stopped_by.append(signum)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 128 + (stopped_by[0] if stopped_by else signal.SIGINT)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
