"""The Ray Serve deployments behind the ingress, and the application that joins them.

Deployments (each with its own replica count or autoscaling, CPU/GPU share
and queue limits, set through :data:`~exoray.serve.settings.DEFAULT_SETTINGS`
``deployments``)::

    Ingress (FastAPI: validation, FITS reading, limits, errors)   exoray.serve.routes
      -> Searcher      preprocess + BLS search + vetting   (CPU heavy, autoscaled)
      -> RankerModel   calibrated LightGBM ensemble, @serve.batch
      -> AnomalyModel  registered anomaly model, @serve.batch

A search runs in a worker thread of its replica that is stopped, not just
abandoned, when its time limit passes or its client disconnects
(:mod:`exoray.limits`).  Every replica's internal gRPC server listens on its
node's address (loopback for exoray's own local Ray), not on every interface
(``internal_grpc_host``, :func:`exoray.serve.replica.bind_internal_grpc`).

Build the application with :func:`build_app` (``serve run
exoray.serve.deployments:build_app``, ``serve deploy
exoray/serve/serve_config.yaml`` or ``exoray serve``).
"""

import concurrent.futures
import copy
import logging
import os
import time
from typing import Any, Dict, List, Optional

import numpy as np
from ray import serve

from .._version import __version__
from ..config import PreprocessConfig, SearchConfig
from ..errors import ExorayError, InputError, LimitExceededError, TimeLimitError
from ..ingest import read_lightcurve
from ..lightcurve import LightCurve
from ..limits import run_interruptible
from ..models.windows import windows_from_lightcurve
from .errors import redact_paths
from .replica import bind_internal_grpc
from .routes import Ingress
from ..runtime.ray_env import THREAD_ENV, one_torch_thread
from .score import RANK_ID_KEYS, check_lightcurve, check_one_star, search_star_with_engine, search_with_engine
from .settings import DEFAULT_SETTINGS, merge_settings, replica_device

# The engine, the ranker and the vetting rules are imported inside the
# replicas' methods: they load numba, torch and scipy, which read their thread
# counts when first imported, and a replica sets its thread limits (THREAD_ENV,
# in its constructor) before that.

log = logging.getLogger("exoray.serve")

__all__ = ["Searcher", "RankerModel", "AnomalyModel", "build_app"]


@serve.deployment(name="Searcher")
class Searcher:
    """Preprocess, search and vet one light curve (CPU or GPU torch BLS) with the replica's one engine.

    The :class:`~exoray.engine.Engine` is built once, in the constructor: it
    loads the known-object catalogues and holds the search device; ranking
    is left to the batched ranker deployment.  A request with its own
    period range gets an engine of that configuration sharing the same
    catalogues.
    """

    def __init__(self, preprocess: Dict[str, Any], search: Dict[str, Any], search_timeout_s: Optional[float] = None,
                 workers: int = 2, internal_grpc_host: str = "node",
                 max_upload_bytes: int = DEFAULT_SETTINGS["max_request_bytes"]):
        bind_internal_grpc(internal_grpc_host)
        self.max_upload_bytes = int(max_upload_bytes)
        for k, v in THREAD_ENV.items():
            os.environ.setdefault(k, v)
        from ..engine import Engine

        one_torch_thread()
        self.preprocess = PreprocessConfig(**preprocess)
        self.search_cfg = SearchConfig(**{**search, "rank": False})
        # the replica's own wall-clock limit (run_interruptible) bounds read + preprocess + search
        self.engine = Engine(self.preprocess, self.search_cfg, ranker=None)
        self.timeout_s = float(search_timeout_s) if search_timeout_s else None
        # one thread per request the replica takes on; a stopped search frees its thread
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, int(workers)),
                                                          thread_name_prefix="exoray-search")
        self.ready = False
        self.message = None
        try:  # warm up: numba kernels compile and torch allocates on first use
            self._warm_up()
            self.ready = True
        except Exception as exc:  # noqa: BLE001
            self.message = f"warm-up failed: {type(exc).__name__}: {exc}"
            log.exception("search warm-up failed")

    def _warm_up(self) -> None:
        rng = np.random.default_rng(0)
        t = np.arange(1000.0, 1005.0, 2.0 / 1440.0)
        flux = 1000.0 + rng.normal(0, 1.0, t.size)
        search_with_engine(self.engine, LightCurve(tic_id=0, sector=0, time=t, flux=flux, flux_err=None, quality=None))

    def _engine_for(self, search_cfg):
        if search_cfg == self.search_cfg:
            return self.engine
        from ..engine import Engine

        return Engine(self.preprocess, search_cfg, catalogs=self.engine.catalogs, ranker=None)

    def status(self) -> Dict[str, Any]:
        search = {k: (os.path.basename(v) if isinstance(v, str) and os.path.isabs(v) else v)
                  for k, v in self.search_cfg.to_dict().items()}
        return {"name": "search", "kind": "search", "ready": self.ready, "version": __version__,
                "source": "exoray.engine.Engine", "message": self.message,
                "details": {"search": search, "device": self.search_cfg.device, "search_timeout_s": self.timeout_s}}

    async def search(self, lc, window_length: Optional[int] = None, stride: int = 96,
                     periods: Optional[Dict[str, float]] = None) -> Dict[str, Any]:
        """Search one light curve: a LightCurve, or ``(fits_bytes, file_name)`` to read first.

        The work runs in a thread of this replica that is stopped when it
        runs past ``search_timeout_s`` (answer: ``search_timeout``, 503) or
        when the request is cancelled (its client disconnected).  Bad input
        comes back as ``{"error", "message", "status"}`` (never raised), so
        the ingress answers it with that status (422 by default).
        ``periods`` overrides the period range (``min_period_days``,
        ``max_period_days``) for this request.
        """
        if isinstance(lc, list):
            name = ", ".join(n for _, n in lc)
        else:
            name = lc[1] if isinstance(lc, tuple) else getattr(lc, "source_path", "") or "the light curve"
        try:
            return await run_interruptible(
                self._search_sync, lc, window_length, stride, periods, limit_s=self.timeout_s,
                what=f"the search of {name}", executor=self.pool,
                hint="a light curve this long or irregular needs more time than the service allows; "
                     "send one sector at a time, or raise the service's search_timeout_s setting")
        except TimeLimitError as exc:
            return {"error": "search_timeout", "status": 503, "message": str(exc)}
        except MemoryError:
            return {"error": "insufficient_memory", "status": 503, "retry_after": 30,
                    "message": f"the search of {name} ran out of memory; send a smaller light curve, or retry later"}

    def _search_sync(self, lc, window_length: Optional[int] = None, stride: int = 96,
                     periods: Optional[Dict[str, float]] = None) -> Dict[str, Any]:
        import dataclasses

        try:
            search_cfg = dataclasses.replace(self.search_cfg, **(periods or {}))
        except ExorayError as exc:
            return {"error": "invalid_input", "message": str(exc)}

        t0 = time.perf_counter()
        uploads = lc if isinstance(lc, list) else [lc]
        lcs = []
        for one in uploads:
            if isinstance(one, tuple):
                data, name = one
                try:
                    # an upload expands at most 4x past the request limit (a gzip "bomb" is refused)
                    one = read_lightcurve(data, name=name, max_gunzip_bytes=4 * self.max_upload_bytes)
                    check_lightcurve(one)
                except ExorayError as exc:
                    return {"error": "unreadable_file" if not isinstance(exc, InputError) else "invalid_input",
                            "message": str(exc)}
                except Exception as exc:  # noqa: BLE001 - astropy on hostile bytes
                    return {"error": "unreadable_file",
                            "message": f"{name}: not a readable FITS light curve ({type(exc).__name__}: {exc})"}
            lcs.append(one)
        try:
            check_one_star(lcs)
        except InputError as exc:
            return {"error": "different_stars", "status": 422, "message": str(exc), "details": exc.details}
        lc = lcs[0]
        read_ms = (time.perf_counter() - t0) * 1e3
        try:
            plc, rows, timings, passed = search_star_with_engine(self._engine_for(search_cfg), lcs)
        except LimitExceededError as exc:
            return {"error": "limit_exceeded", "message": str(exc), "details": [{"loc": exc.limit, "msg": str(exc),
                                                                                    "type": "limit_exceeded"}]}
        except ExorayError as exc:
            return {"error": "invalid_input", "message": str(exc), "details": list(getattr(exc, "details", []) or [])}
        timings["read"] = read_ms
        out: Dict[str, Any] = {
            "lightcurve": {"tic_id": lc.tic_id, "sector": int(plc.sector), "n_cadences": sum(len(x) for x in lcs),
                           "sectors": [int(x) for x in plc.sectors],
                           "passed_over": [str(p.source_path) for p in passed]},
            "rows": rows, "timings_ms": timings, "n_used": len(plc),
            "noise_ppm": float(plc.noise_ppm) if np.isfinite(plc.noise_ppm) else None,
            "search_config": {k: v for k, v in search_cfg.to_dict().items() if k in
                              ("max_planets", "snr_threshold", "min_period_days", "max_period_days", "device")},
        }
        if window_length:
            try:  # 10-min binned flat flux, gap-free windows (what the models were trained on)
                w, starts = windows_from_lightcurve(plc, stride=int(stride), normalize=False)
            except ExorayError as exc:
                out["windows_error"] = str(exc)
            else:
                if w.shape[1] != int(window_length):
                    out["windows_error"] = f"model expects {window_length}-bin windows, the data give {w.shape[1]}"
                else:
                    out.update(windows=w, window_starts=starts, window_ends=starts + w.shape[1] * 10.0 / 1440.0)
        return out


@serve.deployment(name="RankerModel")
class RankerModel:
    """The calibrated ranker; ``*_batched`` methods coalesce concurrent requests."""

    def __init__(self, ranker_dir: Optional[str], batch: Dict[str, Any], internal_grpc_host: str = "node"):
        bind_internal_grpc(internal_grpc_host)
        from ..rank.ranker import DEFAULT_MODEL_DIR, load_default_ranker, ranker_identity

        self.dir = str(ranker_dir or os.environ.get("EXORAY_RANKER_DIR") or DEFAULT_MODEL_DIR)
        self.ranker = load_default_ranker(self.dir)
        shipped = os.path.realpath(self.dir) == os.path.realpath(str(DEFAULT_MODEL_DIR))
        self.info = {"name": "ranker", "kind": "ranker", "ready": True,
                     "version": ranker_identity(self.dir),
                     "source": "shipped with exoray" if shipped else f"ranker folder {os.path.basename(self.dir)}",
                     "details": {"model": self.ranker.config.model, "members": len(self.ranker.members),
                                 "quantiles": list(self.ranker.config.quantiles),
                                 "held_out": {k: self.ranker.metrics.get(k) for k in ("auc", "pr_auc", "ece")
                                              if k in self.ranker.metrics}}}
        self.score_batched.set_max_batch_size(int(batch["max_batch_size"]))
        self.score_batched.set_batch_wait_timeout_s(float(batch["batch_wait_timeout_s"]))
        self.rank_batched.set_max_batch_size(int(batch["max_batch_size"]))
        self.rank_batched.set_batch_wait_timeout_s(float(batch["batch_wait_timeout_s"]))

    def status(self) -> Dict[str, Any]:
        return self.info

    def _model(self) -> Dict[str, Any]:
        return {"name": "ranker", "version": self.info["version"]}

    def _score_groups(self, groups: List[List[Dict[str, Any]]]) -> List[List[tuple]]:
        flat = [r for g in groups for r in g]
        if not flat:
            return [[] for _ in groups]
        s, lo, hi = self.ranker.score_rows(flat)
        out, i = [], 0
        for g in groups:
            out.append([(float(s[j]), float(lo[j]), float(hi[j])) for j in range(i, i + len(g))])
            i += len(g)
        return out

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.002)
    async def score_batched(self, groups: List[List[Dict[str, Any]]]) -> List[List[tuple]]:
        return self._score_groups(groups)

    def score_one(self, rows: List[Dict[str, Any]]) -> List[tuple]:
        return self._score_groups([rows])[0]

    def _rank_groups(self, groups):
        scored = self._score_groups(groups)
        out = []
        from ..vet.decision import decide

        for recs, sc in zip(groups, scored):
            items = []
            for i, (rec, (s, lo, hi)) in enumerate(zip(recs, sc)):
                rule = rec.get("rule_disposition") or rec.get("disposition")
                item = {"index": i, "score": s, "score_lo": lo, "score_hi": hi,
                        "disposition": decide(rule, s)["disposition"]}
                for k in RANK_ID_KEYS:
                    if rec.get(k) is not None:
                        item[k] = rec[k] if k == "id" else int(rec[k])
                items.append(item)
            items.sort(key=lambda d: (-d["score"], d["index"]))
            out.append({"results": items, "model": self._model()})
        return out

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.002)
    async def rank_batched(self, groups: List[List[Dict[str, Any]]]) -> List[Dict[str, Any]]:
        return self._rank_groups(groups)

    def rank_one(self, records: List[Dict[str, Any]]) -> Dict[str, Any]:
        return self._rank_groups([records])[0]


@serve.deployment(name="AnomalyModel")
class AnomalyModel:
    """A registered anomaly model (``exoray.models.registry``), or a clear 'missing'.

    With no model registered the replica still starts, reports ``ready:
    false`` with the reason, and retries the registry at most every 30 s, so
    a model trained while the service runs is picked up without a restart.
    """

    RETRY_S = 30.0

    def __init__(self, name: str, registry: Optional[str], batch: Dict[str, Any], use_gpu: bool = False,
                 retry_s: float = RETRY_S, internal_grpc_host: str = "node"):
        bind_internal_grpc(internal_grpc_host)
        self.name, self.registry = name, registry
        self.retry_s = float(retry_s)
        self.device = "cuda" if use_gpu else "cpu"
        self.model = None
        self.message: Optional[str] = None
        self.details: Dict[str, Any] = {}
        self.version: Optional[str] = None
        self.last_try = 0.0
        self._load()
        self.score_batched.set_max_batch_size(int(batch["max_batch_size"]))
        self.score_batched.set_batch_wait_timeout_s(float(batch["batch_wait_timeout_s"]))

    def _load(self) -> None:
        self.last_try = time.monotonic()
        how = f"train one with 'exoray train {self.name}' (it registers the model), then retry"
        try:
            from ..models import registry as reg
            from ..models.windows import WINDOW_LENGTH, normalize_windows
        except ImportError as exc:
            self.message = f"anomaly model {self.name!r} unavailable: exoray.models is not installed ({exc})"
            return
        where = self.registry or os.environ.get("EXORAY_MODEL_REGISTRY")
        try:
            one_torch_thread()
            folder = reg.resolve_version(self.name, "latest", registry=where)
            module, config, metrics = reg.load_model_dir(folder)
        except Exception as exc:  # noqa: BLE001 - missing or unreadable model: report, never fake
            src = where or getattr(reg, "default_registry", lambda: "the default registry")()
            msg = str(exc)
            self.message = f"anomaly model {self.name!r} unavailable from registry {src}: {msg}"
            if "exoray train" not in msg:
                self.message += f"; {how}"
            return
        module.eval()
        module.to(self.device)
        cfg = dict(config) if isinstance(config, dict) else getattr(config, "__dict__", {})
        length = int(cfg.get("window_length") or cfg.get("input_length") or WINDOW_LENGTH)
        self.model, self.normalize = module, normalize_windows
        self.version = folder.name
        self.details = {"window_length": length, "registry": os.path.basename(str(where or reg.default_registry())),
                        "config": {k: v for k, v in cfg.items() if isinstance(v, (int, float, str, bool))}}
        self.message = None

    def status(self) -> Dict[str, Any]:
        if self.model is None and time.monotonic() - self.last_try > self.retry_s:
            self._load()
        return redact_paths({"name": self.name, "kind": "anomaly", "ready": self.model is not None,
                             "version": self.version, "source": "exoray.models.registry", "message": self.message,
                             "details": self.details})

    def _scores(self, arrays: List[np.ndarray]) -> List[np.ndarray]:
        import torch

        sizes = [len(a) for a in arrays]
        x = np.concatenate([np.asarray(a, np.float32) for a in arrays], axis=0)
        x = np.asarray(self.normalize(x), np.float32)
        with torch.no_grad():
            s = self.model.anomaly_score(torch.from_numpy(x).to(self.device)).detach().cpu().numpy()
        out, i = [], 0
        for n in sizes:
            out.append(s[i:i + n])
            i += n
        return out

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.005)
    async def score_batched(self, arrays: List[np.ndarray]) -> List[np.ndarray]:
        return self._scores(arrays)

    async def score(self, windows, batching: bool = True) -> Dict[str, Any]:
        if self.model is None:
            return {"error": "model_missing", "message": self.message or "anomaly model not loaded"}
        arr = np.asarray(windows, np.float32)
        s = await self.score_batched(arr) if batching else self._scores([arr])[0]
        return {"scores": np.asarray(s, float).tolist(), "model": {"name": self.name, "version": self.version}}


# --------------------------------------------------------------------------- application
def build_app(args: Optional[Dict[str, Any]] = None):
    """The Serve application (``serve run exoray.serve.deployments:build_app``).

    Parameters
    ----------
    args : dict, optional
        Overrides of :data:`~exoray.serve.settings.DEFAULT_SETTINGS` (from ``serve_config.yaml``
        ``args`` or ``exoray serve`` options).
    """
    s = merge_settings(args)
    deps = copy.deepcopy(s["deployments"])
    search_kw = dict(s["search"])
    if s["use_gpu"]:
        search_kw.setdefault("device", "cuda")
        for name in ("Searcher", "AnomalyModel"):
            deps[name].setdefault("ray_actor_options", {}).setdefault("num_gpus", 1)
    if s["device"] is not None:
        search_kw["device"] = s["device"]
    search_kw["device"] = replica_device(search_kw.get("device"))
    if search_kw["device"] == "cuda":
        deps["Searcher"].setdefault("ray_actor_options", {}).setdefault("num_gpus", 1)
    env = {"env_vars": dict(THREAD_ENV)}
    for name in deps:
        deps[name].setdefault("ray_actor_options", {}).setdefault("runtime_env", env)
        deps[name].setdefault("logging_config", {"enable_access_log": bool(s["replica_access_log"])})
    grpc_host = str(s["internal_grpc_host"])
    workers = int(deps["Searcher"].get("max_ongoing_requests", 2))
    searcher = Searcher.options(**deps["Searcher"]).bind(s["preprocess"], search_kw, s["search_timeout_s"], workers,
                                                         grpc_host, int(s["max_request_bytes"]))
    ranker = RankerModel.options(**deps["RankerModel"]).bind(s["ranker_dir"], s["ranker_batch"], grpc_host)
    anomaly = AnomalyModel.options(**deps["AnomalyModel"]).bind(
        s["anomaly_model"], s["model_registry"], s["anomaly_batch"], bool(s["use_gpu"]), float(s["anomaly_retry_s"]),
        grpc_host)
    return Ingress.options(**deps["Ingress"]).bind(searcher, ranker, anomaly, s)
