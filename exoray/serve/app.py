"""The scoring service: a Ray Serve application with a FastAPI ingress.

Deployments (each with its own replica count or autoscaling, CPU/GPU share
and queue limits, set through :data:`DEFAULT_SETTINGS` ``deployments``)::

    Ingress (FastAPI: validation, FITS reading, limits, errors)
      -> Searcher      preprocess + BLS search + vetting   (CPU heavy, autoscaled)
      -> RankerModel   calibrated LightGBM ensemble, @serve.batch
      -> AnomalyModel  registered anomaly model, @serve.batch

Endpoints: ``POST /v1/score``, ``POST /v1/rank``, ``POST /v1/anomaly``,
``GET /v1/models``, ``GET /healthz``, ``GET /readyz``; OpenAPI at ``/docs``.

Bad input never gets a 5xx: malformed JSON 400, a body over
``max_request_bytes`` 413, an unsupported ``Content-Type`` 415, and
everything else wrong with a request 422, each with a JSON body
``{"error": kind, "message": what is wrong, "details": [...]}``.  A
request that arrives while every search replica's queue is full gets 503
(retry later).

Build the application with :func:`build_app` (``serve run
exoray.serve.app:build_app``, ``serve deploy exoray/serve/serve_config.yaml``
or ``exoray serve``).
"""

# no "from __future__ import annotations": FastAPI must see the real parameter types
# of the ingress methods (Request, the body models) through Serve's wrapper.

import asyncio
import copy
import json
import logging
import os
import time
from typing import Any, Dict, List, Optional

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from ray import serve
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import ExorayError, InputError
from .schemas import (
    AnomalyRequest,
    AnomalyResponse,
    ErrorResponse,
    ModelsResponse,
    RankRequest,
    RankResponse,
    ScoreRequest,
    ScoreResponse,
)

log = logging.getLogger("exoray.serve")

__all__ = ["DEFAULT_SETTINGS", "build_app", "merge_settings", "fastapi_app"]

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
    "anomaly_stride": 96,  # 10-min bins between /v1/score anomaly windows (exoray.models.data.WINDOW_STRIDE)
    "anomaly_top": 10,  # windows returned by /v1/score
    "anomaly_retry_s": 30.0,  # a missing anomaly model is looked for again at most this often
    "search": {},  # SearchConfig fields (max_planets, sde_threshold, ...)
    "preprocess": {},  # PreprocessConfig fields
    "use_gpu": False,  # search and anomaly on a GPU (num_gpus=1 each, torch device cuda)
    # per-request access log lines in every replica (the HTTP proxy keeps its own access log);
    # off by default: at 100 req/s the log writes cost about as much CPU as the ranking
    "replica_access_log": False,
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

_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


def merge_settings(args: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """``DEFAULT_SETTINGS`` with ``args`` merged in (nested dicts merged key by key).

    Unknown top-level keys are an error (a typo in a Serve config must not
    be ignored).
    """
    from ..errors import ConfigError

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


# --------------------------------------------------------------------------- errors
def error_response(status: int, kind: str, message: str, details: Optional[List[Dict[str, Any]]] = None,
                   headers: Optional[Dict[str, str]] = None) -> JSONResponse:
    body = ErrorResponse(error=kind, message=message, details=details or []).model_dump()
    return JSONResponse(body, status_code=status, headers=headers)


def _loc(loc) -> str:
    parts = [p for p in loc if p not in ("body",)]
    # pydantic reports each Union branch ("int", "float"); keep the field path
    parts = [p for p in parts if p not in ("int", "float", "str", "bool", "list[str]", "none", "function-after")]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def validation_details(errors, limit: int = 20) -> List[Dict[str, Any]]:
    seen, out = set(), []
    for e in errors:
        loc = _loc(e.get("loc", ()))
        if loc in seen:
            continue
        seen.add(loc)
        item = {"loc": loc, "msg": e.get("msg", "invalid"), "type": e.get("type", "")}
        out.append(item)
        if len(out) >= limit:
            break
    return out


def _validation_error(errors) -> JSONResponse:
    errors = list(errors)
    if any(e.get("type") == "json_invalid" for e in errors):
        ctx = next(e for e in errors if e.get("type") == "json_invalid").get("ctx", {})
        return error_response(400, "malformed_json", f"the request body is not valid JSON ({ctx.get('error', 'parse error')})")
    details = validation_details(errors)
    msg = "; ".join(f"{d['loc']}: {d['msg']}" for d in details[:5])
    return error_response(422, "validation_error", f"invalid request: {msg}", details)


def _input_error(exc: ExorayError, kind: str = "invalid_input") -> JSONResponse:
    details = list(getattr(exc, "details", []) or [])
    return error_response(422, kind, str(exc), details)


class _TooLarge(Exception):
    pass


class LimitsMiddleware:
    """Pure ASGI middleware: media type (415) and body size (413) limits.

    The size is checked on ``Content-Length`` and again while the body
    streams in (chunked uploads), so an oversized body is never buffered.
    """

    def __init__(self, app, max_bytes_getter):
        self.app = app
        self.max_bytes_getter = max_bytes_getter

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        limit = int(self.max_bytes_getter())
        allowed = MEDIA_TYPES.get(path.rstrip("/"))
        if allowed is not None:
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype not in allowed:
                resp = error_response(
                    415, "unsupported_media_type",
                    f"Content-Type {ctype or '(none)'!r} is not accepted by {path}; send {' or '.join(allowed)}",
                )
                return await resp(scope, receive, send)
        clen = headers.get("content-length")
        if clen is not None:
            try:
                n = int(clen)
            except ValueError:
                return await error_response(400, "bad_request", f"Content-Length {clen!r} is not a number")(
                    scope, receive, send)
            if n > limit:
                return await self._too_large(scope, receive, send, limit, n)
        seen = 0
        started = False

        async def limited_receive():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
            return msg

        async def tracking_send(msg):
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._too_large(scope, receive, send, limit, None)

    @staticmethod
    async def _too_large(scope, receive, send, limit, n):
        got = f"{n} bytes" if n is not None else "more than that"
        resp = error_response(
            413, "payload_too_large",
            f"request body is {got}; the limit is {limit} bytes ({limit / 2**20:.0f} MiB). "
            "Send one light curve per request, or trim it to the cadences you need",
        )
        await resp(scope, receive, send)


# --------------------------------------------------------------------------- FastAPI app
fastapi_app = FastAPI(
    title="exoray scoring service",
    version=__version__,
    description=(
        "Transit search, vetting and ranking of TESS light curves (exoray).\n\n"
        "Errors are JSON `{error, message, details}`: 400 malformed JSON, 413 body over the limit, "
        "415 unsupported Content-Type, 422 invalid input, 503 model missing or service busy."
    ),
)
_STATE: Dict[str, Any] = {"max_request_bytes": DEFAULT_SETTINGS["max_request_bytes"]}
fastapi_app.add_middleware(LimitsMiddleware, max_bytes_getter=lambda: _STATE["max_request_bytes"])


@fastapi_app.exception_handler(RequestValidationError)
async def _on_validation(request: Request, exc: RequestValidationError):
    return _validation_error(exc.errors())


@fastapi_app.exception_handler(StarletteHTTPException)
async def _on_http(request: Request, exc: StarletteHTTPException):
    kinds = {404: "not_found", 405: "method_not_allowed"}
    return error_response(exc.status_code, kinds.get(exc.status_code, "http_error"), str(exc.detail),
                          headers=getattr(exc, "headers", None))


@fastapi_app.exception_handler(Exception)
async def _on_unexpected(request: Request, exc: Exception):  # pragma: no cover - a bug, not bad input
    log.exception("unexpected error on %s", request.url.path)
    return error_response(500, "internal_error", f"internal error ({type(exc).__name__}); the service logged it")


_SCORE_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ScoreRequest"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary",
                                 "description": "A TESS/Kepler light-curve FITS file (SPOC, TESS-SPOC, QLP, ...)"},
                        "anomaly": {"type": "boolean", "description": "also score anomaly windows"},
                    },
                }
            },
        },
    },
}
_ERRS = {c: {"model": ErrorResponse} for c in (400, 413, 415, 422, 503)}


def _custom_openapi():
    if fastapi_app.openapi_schema:
        return fastapi_app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=fastapi_app.title, version=fastapi_app.version,
                         description=fastapi_app.description, routes=fastapi_app.routes)
    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    req = ScoreRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    comps.update(req.pop("$defs", {}))
    comps["ScoreRequest"] = req
    fastapi_app.openapi_schema = schema
    return schema


fastapi_app.openapi = _custom_openapi


def _lightcurve_from_json(raw: bytes):
    """``(LightCurve, anomaly flag)`` from a /v1/score JSON body, or the error response."""
    from .score import lightcurve_from_request

    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return error_response(400, "malformed_json", f"the request body is not valid JSON ({exc})")
    if not isinstance(payload, dict):
        return error_response(422, "validation_error",
                              f"the JSON body must be an object with 'time' and 'flux', got {type(payload).__name__}")
    try:
        req = ScoreRequest.model_validate(payload)
    except ValidationError as exc:
        return _validation_error(exc.errors())
    try:
        return lightcurve_from_request(req), req.anomaly
    except ExorayError as exc:
        return _input_error(exc)


def _truthy(v) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes", "on")


@serve.deployment(name="Ingress")
@serve.ingress(fastapi_app)
class Ingress:
    """HTTP front door: validates, reads FITS, fans out to the model deployments."""

    def __init__(self, searcher, ranker, anomaly, settings: Dict[str, Any]):
        self.searcher, self.ranker, self.anomaly = searcher, ranker, anomaly
        self.settings = settings
        _STATE["max_request_bytes"] = int(settings["max_request_bytes"])
        self.batching = bool(settings["batching"])

    # ------------------------------------------------------------------ health
    @fastapi_app.get("/healthz", summary="Liveness: the HTTP ingress answers")
    async def healthz(self) -> Dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @fastapi_app.get("/readyz", summary="Readiness: search and ranker loaded (anomaly model optional)",
                     responses={503: {"description": "a required model is not ready"}})
    async def readyz(self):
        models = await self._model_status()
        required = {m["name"]: m for m in models if m["kind"] in ("search", "ranker")}
        ready = all(m["ready"] for m in required.values())
        body = {"ready": ready, "models": models}
        return JSONResponse(body, status_code=200 if ready else 503)

    @fastapi_app.get("/v1/models", response_model=ModelsResponse, summary="Loaded models and their versions")
    async def models(self):
        return {"models": await self._model_status()}

    async def _model_status(self) -> List[Dict[str, Any]]:
        async def one(handle, kind):
            try:
                return await asyncio.wait_for(handle.status.remote(), timeout=10)
            except Exception as exc:  # noqa: BLE001 - a replica that does not answer is "not ready"
                return {"name": kind, "kind": kind, "ready": False, "message": f"no answer ({type(exc).__name__})"}

        return list(await asyncio.gather(one(self.searcher, "search"), one(self.ranker, "ranker"),
                                         one(self.anomaly, "anomaly")))

    # ------------------------------------------------------------------ /v1/score
    @fastapi_app.post("/v1/score", response_model=ScoreResponse, openapi_extra=_SCORE_OPENAPI, responses=_ERRS,
                      summary="Search, vet and rank one light curve (FITS upload or JSON arrays)")
    async def score(self, request: Request):
        t0 = time.perf_counter()
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        want_anomaly = False
        if ctype == "multipart/form-data":
            got = await self._lightcurve_from_form(request)
            if isinstance(got, JSONResponse):
                return got
            lc, want_anomaly = got  # (bytes, file name): the Searcher reads the FITS file
        else:
            raw = await request.body()
            # ~1 MB of JSON for a sector: parse and validate off the event loop
            got = await asyncio.to_thread(_lightcurve_from_json, raw)
            if isinstance(got, JSONResponse):
                return got
            lc, want_anomaly = got
        t_read = time.perf_counter()

        window_length = None
        anomaly_status = None
        if want_anomaly:
            anomaly_status = await self.anomaly.status.remote()
            if anomaly_status.get("ready"):
                window_length = int(anomaly_status["details"]["window_length"])
        try:
            found = await self.searcher.search.remote(lc, window_length, int(self.settings["anomaly_stride"]))
        except Exception as exc:  # noqa: BLE001
            return self._downstream_error(exc, "search")
        if "error" in found:
            return error_response(422, found["error"], found["message"], found.get("details"))
        lc_info = found["lightcurve"]
        rows = found["rows"]
        t_search = time.perf_counter()
        rank_call = self.ranker.score_batched if self.batching else self.ranker.score_one
        try:
            scored = await rank_call.remote(rows) if rows else []
        except Exception as exc:  # noqa: BLE001
            return self._downstream_error(exc, "ranker")
        from .score import public_candidate

        cands = []
        for row, sc in zip(rows, scored):
            row = dict(row, score=sc[0], score_lo=sc[1], score_hi=sc[2])
            cands.append(public_candidate(row))
        t_rank = time.perf_counter()
        anomaly = None
        if want_anomaly:
            anomaly = await self._score_windows_for(found, anomaly_status)
        t_end = time.perf_counter()
        return {
            "tic_id": lc_info["tic_id"],
            "sector": lc_info["sector"],
            "n_cadences": lc_info["n_cadences"],
            "n_used": found["n_used"],
            "noise_ppm": found["noise_ppm"],
            "candidates": cands,
            "anomaly": anomaly,
            "timings_ms": {
                "parse": (t_read - t0) * 1e3,
                "read": found["timings_ms"]["read"],
                "preprocess": found["timings_ms"]["preprocess"],
                "search": found["timings_ms"]["search"],
                "search_call": (t_search - t_read) * 1e3,
                "rank": (t_rank - t_search) * 1e3,
                "anomaly": (t_end - t_rank) * 1e3,
                "total": (t_end - t0) * 1e3,
            },
            "models": {"ranker": found.get("ranker"), "search": found["search_config"]},
        }

    async def _lightcurve_from_form(self, request: Request):
        try:
            form_cm = request.form(max_files=1, max_fields=8)
            async with form_cm as form:
                keys = list(form.keys())
                upload = form.get("file")
                if upload is None or isinstance(upload, str):
                    return error_response(
                        422, "validation_error",
                        f"multipart body needs a file field named 'file' (got fields: {', '.join(keys) or 'none'})",
                        [{"loc": "file", "msg": "field required", "type": "missing"}])
                unknown = sorted(set(keys) - {"file", "anomaly"})
                if unknown:
                    return error_response(422, "validation_error", f"unknown form field(s): {', '.join(unknown)}",
                                          [{"loc": k, "msg": "unknown field", "type": "extra_forbidden"} for k in unknown])
                data = await upload.read()
                name = os.path.basename(upload.filename or "upload.fits")
                want_anomaly = _truthy(form.get("anomaly", "false"))
        except _TooLarge:
            raise
        except Exception as exc:  # noqa: BLE001 - python-multipart parse errors, too many files/fields
            return error_response(400, "malformed_multipart", f"the multipart body cannot be parsed ({exc})")
        return (data, name), want_anomaly

    async def _score_windows_for(self, found: Dict[str, Any], status: Dict[str, Any]) -> Dict[str, Any]:
        if not status.get("ready"):
            return {"available": False, "model": status.get("name"), "message": status.get("message")}
        windows = found.get("windows")
        if found.get("windows_error"):
            return {"available": False, "model": status.get("name"), "message": found["windows_error"]}
        if windows is None or len(windows) == 0:
            return {"available": True, "model": status.get("name"), "n_windows": 0,
                    "message": "no gap-free window of the model's length in this light curve"}
        res = await self.anomaly.score.remote(windows, self.batching)
        if "error" in res:
            return {"available": False, "model": status.get("name"), "message": res["message"]}
        scores = np.asarray(res["scores"], float)
        starts = np.asarray(found["window_starts"], float)
        ends = np.asarray(found["window_ends"], float)
        top = np.argsort(-scores)[: int(self.settings["anomaly_top"])]
        return {"available": True, "model": status.get("name"), "n_windows": int(scores.size),
                "windows": [{"start_btjd": float(starts[i]), "end_btjd": float(ends[i]),
                             "anomaly_score": float(scores[i])} for i in top]}

    @staticmethod
    def _downstream_error(exc: Exception, what: str) -> JSONResponse:
        name = type(exc).__name__
        if "BackPressure" in name:
            return error_response(503, "busy", f"the {what} queue is full; retry shortly",
                                  headers={"Retry-After": "1"})
        log.error("%s deployment failed: %r", what, exc)
        return error_response(500, "internal_error", f"the {what} deployment failed ({name}); the service logged it")

    # ------------------------------------------------------------------ /v1/rank
    @fastapi_app.post("/v1/rank", response_model=RankResponse, responses=_ERRS,
                      summary="Score candidate feature records; sorted by planet probability")
    async def rank(self, body: RankRequest):
        from .score import validate_rank_records

        try:
            records, ignored = validate_rank_records(body.candidates)
        except ExorayError as exc:
            return _input_error(exc, "validation_error")
        call = self.ranker.rank_batched if self.batching else self.ranker.rank_one
        try:
            out = await call.remote(records)
        except Exception as exc:  # noqa: BLE001
            return self._downstream_error(exc, "ranker")
        return {"results": out["results"], "ignored_fields": ignored, "model": out["model"]}

    # ------------------------------------------------------------------ /v1/anomaly
    @fastapi_app.post("/v1/anomaly", response_model=AnomalyResponse, responses=_ERRS,
                      summary="Anomaly scores of flux windows (needs a registered anomaly model)")
    async def anomaly_scores(self, body: AnomalyRequest):
        status = await self.anomaly.status.remote()
        if body.model != status.get("name"):
            return error_response(422, "validation_error",
                                  f"model {body.model!r} is not served; this service serves {status.get('name')!r}",
                                  [{"loc": "model", "msg": "not served", "type": "value_error"}])
        if not status.get("ready"):
            return error_response(503, "model_missing", status.get("message") or "anomaly model not loaded")
        length = int(status["details"]["window_length"])
        lengths = {len(w) for w in body.windows}
        if lengths != {length}:
            bad = next(i for i, w in enumerate(body.windows) if len(w) != length)
            return error_response(
                422, "validation_error",
                f"every window must hold {length} cadences; windows[{bad}] has {len(body.windows[bad])}",
                [{"loc": f"windows[{bad}]", "msg": f"expected {length} values", "type": "length"}])
        arr = np.asarray(body.windows, dtype=np.float32)
        bad_rows = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        if bad_rows.size:
            return error_response(422, "validation_error",
                                  f"windows[{bad_rows[0]}] holds a non-finite value; fill or drop gaps before scoring",
                                  [{"loc": f"windows[{i}]", "msg": "non-finite value", "type": "finite"}
                                   for i in bad_rows[:20]])
        try:
            res = await self.anomaly.score.remote(arr, self.batching)
        except Exception as exc:  # noqa: BLE001
            return self._downstream_error(exc, "anomaly")
        if "error" in res:
            return error_response(503, res["error"], res["message"])
        return {"scores": [float(x) for x in res["scores"]], "model": res["model"]}


# --------------------------------------------------------------------------- model deployments
@serve.deployment(name="Searcher")
class Searcher:
    """Preprocess, search and vet one light curve (CPU or GPU torch BLS)."""

    def __init__(self, preprocess: Dict[str, Any], search: Dict[str, Any]):
        for k, v in _THREAD_ENV.items():
            os.environ.setdefault(k, v)
        import torch

        from ..config import PreprocessConfig, SearchConfig

        torch.set_num_threads(1)
        self.preprocess = PreprocessConfig(**preprocess)
        self.search_cfg = SearchConfig(**{**search, "rank": False})
        self.ready = False
        self.message = None
        try:  # warm up: numba kernels compile and torch allocates on first use
            self._warm_up()
            self.ready = True
        except Exception as exc:  # noqa: BLE001
            self.message = f"warm-up failed: {type(exc).__name__}: {exc}"
            log.exception("search warm-up failed")

    def _warm_up(self) -> None:
        from ..lightcurve import LightCurve
        from .score import search_candidates

        rng = np.random.default_rng(0)
        t = np.arange(1000.0, 1005.0, 2.0 / 1440.0)
        flux = 1000.0 + rng.normal(0, 1.0, t.size)
        search_candidates(LightCurve(tic_id=0, sector=0, time=t, flux=flux, flux_err=None, quality=None),
                          self.preprocess, self.search_cfg)

    def status(self) -> Dict[str, Any]:
        return {"name": "search", "kind": "search", "ready": self.ready, "version": __version__,
                "source": "exoray.search.candidates.find_candidates", "message": self.message,
                "details": {"search": self.search_cfg.to_dict(), "device": self.search_cfg.device}}

    def search(self, lc, window_length: Optional[int] = None, stride: int = 96) -> Dict[str, Any]:
        """Search one light curve: a LightCurve, or ``(fits_bytes, file_name)`` to read first.

        Bad input comes back as ``{"error", "message"}`` (never raised), so
        the ingress answers it with a 422.
        """
        from .score import check_lightcurve, search_candidates

        t0 = time.perf_counter()
        if isinstance(lc, tuple):
            from ..ingest import read_lightcurve

            data, name = lc
            try:
                lc = read_lightcurve(data, name=name)
                check_lightcurve(lc)
            except ExorayError as exc:
                return {"error": "unreadable_file" if not isinstance(exc, InputError) else "invalid_input",
                        "message": str(exc)}
            except Exception as exc:  # noqa: BLE001 - astropy on hostile bytes
                return {"error": "unreadable_file",
                        "message": f"{name}: not a readable FITS light curve ({type(exc).__name__}: {exc})"}
        read_ms = (time.perf_counter() - t0) * 1e3
        try:
            plc, rows, timings = search_candidates(lc, self.preprocess, self.search_cfg)
        except ExorayError as exc:
            return {"error": "invalid_input", "message": str(exc), "details": list(getattr(exc, "details", []) or [])}
        timings["read"] = read_ms
        out: Dict[str, Any] = {
            "lightcurve": {"tic_id": lc.tic_id, "sector": lc.sector, "n_cadences": len(lc)},
            "rows": rows, "timings_ms": timings, "n_used": len(plc),
            "noise_ppm": float(plc.noise_ppm) if np.isfinite(plc.noise_ppm) else None,
            "search_config": {k: v for k, v in self.search_cfg.to_dict().items() if k in
                              ("max_planets", "sde_threshold", "min_period_days", "max_period_days", "device")},
        }
        if window_length:
            from ..models.data import windows_from_lightcurve

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

    def __init__(self, ranker_dir: Optional[str], batch: Dict[str, Any]):
        from ..rank.ranker import DEFAULT_MODEL_DIR, load_default_ranker

        self.dir = str(ranker_dir or os.environ.get("EXORAY_RANKER_DIR") or DEFAULT_MODEL_DIR)
        self.ranker = load_default_ranker(self.dir)
        self.info = {"name": "ranker", "kind": "ranker", "ready": True,
                     "version": _ranker_version(self.dir), "source": self.dir,
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
        from .score import RANK_ID_KEYS

        scored = self._score_groups(groups)
        out = []
        for recs, sc in zip(groups, scored):
            items = []
            for i, (rec, (s, lo, hi)) in enumerate(zip(recs, sc)):
                item = {"index": i, "score": s, "score_lo": lo, "score_hi": hi}
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


def _ranker_version(d: str) -> str:
    import hashlib

    h = hashlib.sha1()
    for name in sorted(os.listdir(d)):
        if name.endswith((".json", ".txt")):
            with open(os.path.join(d, name), "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()[:12]


@serve.deployment(name="AnomalyModel")
class AnomalyModel:
    """A registered anomaly model (``exoray.models.registry``), or a clear 'missing'.

    With no model registered the replica still starts, reports ``ready:
    false`` with the reason, and retries the registry at most every 30 s, so
    a model trained while the service runs is picked up without a restart.
    """

    RETRY_S = 30.0

    def __init__(self, name: str, registry: Optional[str], batch: Dict[str, Any], use_gpu: bool = False,
                 retry_s: float = RETRY_S):
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
            from ..models.data import WINDOW_LENGTH, normalize_windows
        except ImportError as exc:
            self.message = f"anomaly model {self.name!r} unavailable: exoray.models is not installed ({exc})"
            return
        where = self.registry or os.environ.get("EXORAY_MODEL_REGISTRY")
        try:
            import torch

            torch.set_num_threads(1)
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
        self.details = {"window_length": length, "registry": str(where or reg.default_registry()), "path": str(folder),
                        "config": {k: v for k, v in cfg.items() if isinstance(v, (int, float, str, bool))}}
        self.message = None

    def status(self) -> Dict[str, Any]:
        if self.model is None and time.monotonic() - self.last_try > self.retry_s:
            self._load()
        return {"name": self.name, "kind": "anomaly", "ready": self.model is not None, "version": self.version,
                "source": "exoray.models.registry", "message": self.message, "details": self.details}

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
    """The Serve application (``serve run exoray.serve.app:build_app``).

    Parameters
    ----------
    args : dict, optional
        Overrides of :data:`DEFAULT_SETTINGS` (from ``serve_config.yaml``
        ``args`` or ``exoray serve`` options).
    """
    s = merge_settings(args)
    deps = copy.deepcopy(s["deployments"])
    search_kw = dict(s["search"])
    if s["use_gpu"]:
        search_kw.setdefault("device", "cuda")
        for name in ("Searcher", "AnomalyModel"):
            deps[name].setdefault("ray_actor_options", {}).setdefault("num_gpus", 1)
    env = {"env_vars": dict(_THREAD_ENV)}
    for name in deps:
        deps[name].setdefault("ray_actor_options", {}).setdefault("runtime_env", env)
        deps[name].setdefault("logging_config", {"enable_access_log": bool(s["replica_access_log"])})
    searcher = Searcher.options(**deps["Searcher"]).bind(s["preprocess"], search_kw)
    ranker = RankerModel.options(**deps["RankerModel"]).bind(s["ranker_dir"], s["ranker_batch"])
    anomaly = AnomalyModel.options(**deps["AnomalyModel"]).bind(
        s["anomaly_model"], s["model_registry"], s["anomaly_batch"], bool(s["use_gpu"]), float(s["anomaly_retry_s"]))
    return Ingress.options(**deps["Ingress"]).bind(searcher, ranker, anomaly, s)
