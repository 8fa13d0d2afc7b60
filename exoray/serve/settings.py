"""Settings of the scoring service, and the request limits that are not settings.

:data:`DEFAULT_SETTINGS` holds every setting with its default (replicas or
autoscaling, CPU/GPU share and queue limit per deployment, batching, time
and size limits, models); ``args`` from ``serve_config.yaml`` or
``exoray serve`` options are merged over it by :func:`merge_settings`,
which refuses unknown keys.  No Ray and no HTTP here: ``exoray serve``
reads and checks the settings without loading either.
"""

import copy
from typing import Any, Dict, Optional

from ..devices import parse_device
from ..errors import ConfigError

__all__ = ["DEFAULT_SETTINGS", "MEDIA_TYPES", "MAX_STAR_FILES", "merge_settings", "replica_device"]

#: Service settings; ``build_app(args)`` merges ``args`` over these.
DEFAULT_SETTINGS: Dict[str, Any] = {
    # stated request limit: larger bodies get 413 (a 2-min sector is ~2 MB as FITS, ~1 MB as JSON)
    "max_request_bytes": 16 * 1024 * 1024,
    # False: the ranker and anomaly replicas score each request alone (for benchmarks)
    "batching": True,
    "ranker_batch": {"max_batch_size": 64, "batch_wait_timeout_s": 0.002},
    "anomaly_batch": {"max_batch_size": 64, "batch_wait_timeout_s": 0.005},
    "ranker_dir": None,  # None: the shipped ranker (or EXORAY_RANKER_DIR)
    "anomaly_model": "autoencoder",
    "model_registry": None,  # None: EXORAY_MODEL_REGISTRY or the default registry
    "anomaly_stride": 96,  # 10-min bins between /v1/score anomaly windows (exoray.models.windows.WINDOW_STRIDE)
    "anomaly_top": 10,  # windows returned by /v1/score
    "anomaly_retry_s": 30.0,  # a missing anomaly model is looked for again at most this often
    "search": {},  # SearchConfig fields (max_planets, sde_threshold, ...)
    "preprocess": {},  # PreprocessConfig fields
    "use_gpu": False,  # search and anomaly on a GPU (num_gpus=1 each, torch device cuda)
    # the search deployment's device (cpu or cuda; Ray gives each replica its own GPU, so no index);
    # None: search.device, or cuda with use_gpu
    "device": None,
    # per-request access log lines in every replica (the HTTP proxy keeps its own access log);
    # off by default: at 100 req/s the log writes cost about as much CPU as the ranking
    "replica_access_log": False,
    # wall-clock limit on one light curve's search (read + preprocess + search + vet) in its replica;
    # past it the search is stopped and the request answered 503
    "search_timeout_s": 120.0,
    # the whole request body must arrive within this many seconds (slow senders get 408)
    "body_timeout_s": 30.0,
    # where every replica's inter-deployment gRPC server listens: "node" = the address Ray uses for
    # the replica's node (127.0.0.1 for exoray's own local Ray); "0.0.0.0" or "::" = every interface
    "internal_grpc_host": "node",
    "deployments": {
        "Ingress": {"num_replicas": 1, "ray_actor_options": {"num_cpus": 0.1}, "max_ongoing_requests": 256},
        "Searcher": {
            "autoscaling_config": {"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 1,
                                   "upscale_delay_s": 5, "downscale_delay_s": 60},
            "ray_actor_options": {"num_cpus": 0.5},
            "max_ongoing_requests": 2,
            "max_queued_requests": 64,
        },
        "RankerModel": {"num_replicas": 1, "ray_actor_options": {"num_cpus": 0.2}, "max_ongoing_requests": 512},
        "AnomalyModel": {"num_replicas": 1, "ray_actor_options": {"num_cpus": 0.2}, "max_ongoing_requests": 256},
    },
}

#: POST paths and the media types each accepts.
MEDIA_TYPES = {
    "/v1/score": ("application/json", "multipart/form-data"),
    "/v1/rank": ("application/json",),
    "/v1/anomaly": ("application/json",),
}
#: 'file' parts one /v1/score request may carry: the sectors (and products) of one star
MAX_STAR_FILES = 16


def merge_settings(args: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """``DEFAULT_SETTINGS`` with ``args`` merged in (nested dicts merged key by key).

    Unknown top-level keys are an error (a typo in a Serve config must not
    be ignored).
    """
    out = copy.deepcopy(DEFAULT_SETTINGS)
    for k, v in (args or {}).items():
        if k not in out:
            raise ConfigError(f"unknown service setting {k!r}; known: {', '.join(sorted(out))}")
        if isinstance(out[k], dict) and isinstance(v, dict):
            if k == "deployments":
                for name, opts in v.items():
                    if name not in out[k]:
                        raise ConfigError(f"unknown deployment {name!r}; known: {', '.join(out[k])}")
                    merged = dict(out[k][name])
                    opts = dict(opts or {})
                    if "num_replicas" in opts:
                        merged.pop("autoscaling_config", None)
                    if "autoscaling_config" in opts:
                        merged.pop("num_replicas", None)
                    if "ray_actor_options" in opts:
                        opts["ray_actor_options"] = {**merged.get("ray_actor_options", {}), **opts["ray_actor_options"]}
                    merged.update(opts)
                    out[k][name] = merged
            else:
                out[k] = {**out[k], **v}
        else:
            out[k] = v
    return out


def replica_device(device: Optional[str]) -> str:
    """The search device of a replica: ``cpu`` or ``cuda`` (Ray picks the replica's GPU, so no index)."""
    d = parse_device(device)
    if ":" in d:
        raise ConfigError(f"device {d!r}: each search replica is given its own GPU by Ray, so a device index "
                          "cannot be chosen; use 'cuda'")
    return d
