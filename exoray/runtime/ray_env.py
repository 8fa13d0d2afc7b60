"""Starting or joining Ray the same way from the CLI, jobs and tests."""

from __future__ import annotations

import logging
import json
import os
from typing import Optional

log = logging.getLogger(__name__)

#: One thread per numeric library, so one task (or request) per CPU is not
#: oversubscribed by BLAS/numba threads.
THREAD_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}

#: Environment every Ray worker gets: the thread limits, and a local
#: cluster's services kept on loopback (see _loopback_only).
WORKER_ENV = {**THREAD_ENV, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def one_torch_thread() -> None:
    """Let torch run one thread in this worker, as Ray schedules one task per CPU.

    :data:`WORKER_ENV` does the same for the libraries that read their
    thread count from the environment; torch would otherwise start a thread
    per core of the node.
    """
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.set_num_threads(1)


def worker_env_for_driver() -> dict:
    """:data:`WORKER_ENV` less the variables a ``ray job submit`` runtime env already sets.

    Inside a submitted job Ray merges the job's runtime env with the one given
    to ``ray.init`` and refuses ("Failed to merge the Job's runtime env") when
    both set the same environment variable; the job's own value wins here.
    """
    env = dict(WORKER_ENV)
    raw = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if raw:
        try:
            job_env = (json.loads(raw).get("runtime_env") or {}).get("env_vars") or {}
        except (ValueError, AttributeError):
            job_env = {}
        for k in job_env:
            env.pop(k, None)
    return env


def _loopback_only() -> None:
    """Make the local instance Ray is about to start use 127.0.0.1 as its node address.

    On Linux, Ray 2.60 turns ``_node_ip_address="127.0.0.1"`` into the
    machine's outward address (``services.resolve_ip_for_localhost``) unless
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, and it reads that variable once,
    when ``ray`` is first imported.  So the variable is set for the processes
    Ray spawns (GCS, raylet, agents, workers), and the driver's copy of the
    flag is cleared too in case ``ray`` was imported before (``exoray serve``
    imports Ray Serve first); otherwise the GCS, raylet and agents would
    listen on every interface.
    """
    from ray._private import ray_constants

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False


class _DropMessages(logging.Filter):
    """Drops the records of one logger whose message starts with one of ``prefixes``."""

    def __init__(self, *prefixes: str):
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is not ours to judge; let it through
            return True
        return not msg.startswith(self.prefixes)


def _drop_messages(logger_name: str, *prefixes: str) -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, _DropMessages) and f.prefixes == prefixes for f in logger.filters):
        logger.addFilter(_DropMessages(*prefixes))


def _verbose() -> bool:
    """True when the user asked exoray for debug output (``exoray -vv``): then Ray may say everything."""
    return logging.getLogger("exoray").getEffectiveLevel() <= logging.DEBUG


def quiet_ray_startup() -> None:
    """Silence what Ray says on every start that tells a user nothing they can act on.

    Ray 2.5x-2.6x warns on each start that token authentication is on when a
    token exists in ``~/.ray`` (nothing to do: it is the safe setting); its
    opposite, that a cluster runs *without* authentication, stays visible.
    Only these messages are dropped, on the logger that emits them.
    """
    if _verbose():
        return
    _drop_messages("ray._private.authentication.authentication_token_setup",
                   "Token authentication is enabled for this Ray cluster")


def quiet_ray_data() -> None:
    """Keep Ray Data's own progress chatter off the console; exoray reports progress itself.

    Ray Data logs, at INFO, the start, plan and end of every dataset
    execution, and warns that its progress bars are off (exoray turns them
    off: it draws one bar for the whole run).  Its console handler is raised
    to WARNING, so warnings and errors still show; the full log still goes to
    ``ray-data.log`` in the Ray session folder.  ``exoray -vv`` keeps it all.
    """
    if _verbose():
        return
    import ray.data  # noqa: F401 - configures the 'ray.data' logger and its handlers

    for handler in logging.getLogger("ray.data").handlers:
        console = isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)
        if console and handler.level < logging.WARNING:
            handler.setLevel(logging.WARNING)
    _drop_messages("ray.data._internal.progress", "Progress bars disabled", "Progress bars for operators disabled")


def init_ray(address: Optional[str] = None, num_cpus: Optional[int] = None, **kwargs):
    """Connect to ``address`` (or ``RAY_ADDRESS``), or else start a local Ray of our own on 127.0.0.1.

    Without an address, ``ray.init()`` would join whatever cluster this
    machine last started (``/tmp/ray/ray_current_cluster``): someone else's,
    which can go away mid-sweep, and whose Serve ``exoray serve`` would
    deploy into and shut down.  So the local case asks for ``address="local"``:
    always a fresh instance, owned and ended by this process.  Pass
    ``address="auto"`` to join the machine's running cluster on purpose.

    Does nothing if Ray is already initialised in this process.  Returns the
    ``ray`` module.
    """
    for k, v in WORKER_ENV.items():
        os.environ.setdefault(k, v)
    import ray

    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    if not address:
        _loopback_only()
    quiet_ray_startup()
    opts = dict(
        ignore_reinit_error=True,
        # Ray's own INFO lines ("Started a local Ray instance.") repeat what exoray logs
        logging_level=kwargs.pop("logging_level", logging.DEBUG if _verbose() else logging.WARNING),
        log_to_driver=kwargs.pop("log_to_driver", True),
        runtime_env=kwargs.pop("runtime_env", {"env_vars": worker_env_for_driver()}),
    )
    if address:
        log.info("joining Ray cluster at %s", address)
        ray.init(address=address, **opts, **kwargs)
    else:
        log.info("starting local Ray with num_cpus=%s on 127.0.0.1", num_cpus)
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=kwargs.pop("include_dashboard", False),
            _node_ip_address="127.0.0.1",
            **opts,
            **kwargs,
        )
    return ray
