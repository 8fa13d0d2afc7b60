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
``max_request_bytes`` 413 (declared or streamed), a body that does not
arrive within ``body_timeout_s`` 408, an unsupported ``Content-Type`` 415,
and everything else wrong with a request 422 (numbers outside the float64
range and nesting deeper than the schema included), each with a JSON body
``{"error": kind, "message": what is wrong, "details": [...]}``.  A
request that arrives while every search replica's queue is full, a search
that runs past ``search_timeout_s`` and a replica out of memory get 503
(``Retry-After`` when retrying can help).  Every other failure, a bug, is
still a JSON 500 with its reason.

A search runs in a worker thread of its replica that is stopped, not just
abandoned, when its time limit passes or its client disconnects
(:mod:`exoray.limits`).  Responses never show file-system paths.  ``/docs``
serves Swagger UI from the ``swagger-ui-bundle-v2`` package's files, so it
works offline.  Every replica's internal gRPC server listens on its node's
address (loopback for exoray's own local Ray), not on every interface
(``internal_grpc_host``).

Build the application with :func:`build_app` (``serve run
exoray.serve.app:build_app``, ``serve deploy exoray/serve/serve_config.yaml``
or ``exoray serve``).
"""

# no "from __future__ import annotations": FastAPI must see the real parameter types
# of the ingress methods (Request, the body models) through Serve's wrapper.

import asyncio
import concurrent.futures
import copy
import json
import logging
import math
import os
import re
import sys
import time
from typing import Any, Dict, List, Optional

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import ValidationError
from ray import serve
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from ..errors import ExorayError, InputError, LimitExceededError
from .schemas import (
    MAX_IGNORED_FIELDS,
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


# --------------------------------------------------------------------------- JSON bodies
_FLOAT_MAX_INT = int(sys.float_info.max)
_MAX_NUMBER_DIGITS = len(str(_FLOAT_MAX_INT))  # 309
#: 'file' parts one /v1/score request may carry: the sectors (and products) of one star
MAX_STAR_FILES = 16


class _NumberOutOfRange(ValueError):
    def __init__(self, text: str):
        self.text = text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"
        super().__init__(self.text)


def _parse_int(text: str):
    # Python ints are unbounded; one beyond the float64 range would raise
    # OverflowError deep inside the scoring code (or, past 4300 digits, a
    # ValueError in int() itself), so such a number is refused here.
    if len(text.lstrip("-")) > _MAX_NUMBER_DIGITS:
        raise _NumberOutOfRange(text)
    value = int(text)
    if abs(value) > _FLOAT_MAX_INT:
        raise _NumberOutOfRange(text)
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400 overflows to inf: outside float64, not "infinity"
        raise _NumberOutOfRange(text)
    return value


def parse_json_body(raw: bytes):
    """The decoded JSON body, or the JSON error response that says what is wrong with it.

    Malformed JSON is 400; a number outside the float64 range and nesting too
    deep for the decoder (far deeper than any request schema) are 422.
    """
    try:
        return json.loads(raw, parse_int=_parse_int, parse_float=_parse_float)
    except _NumberOutOfRange as exc:
        return error_response(
            422, "number_out_of_range",
            f"the number {exc.text} is outside the range of a 64-bit float (magnitude up to 1.8e308); "
            "send values within it", [{"loc": "body", "msg": "number out of range", "type": "number_out_of_range"}])
    except RecursionError:
        return error_response(
            422, "nesting_too_deep",
            "the JSON body is nested far deeper than the request schema allows (arrays of numbers, at most "
            "two levels); send the documented shape (see /docs)",
            [{"loc": "body", "msg": "nesting too deep", "type": "nesting_too_deep"}])
    except (ValueError, UnicodeDecodeError) as exc:
        return error_response(400, "malformed_json", f"the request body is not valid JSON ({exc})")


_ABS_PATH = re.compile(r"(?<![\w.~-])/(?:[^\s'\"/,;()]+/)+([^\s'\"/,;()]*)")


def redact_paths(value):
    """``value`` with absolute file-system paths reduced to ``.../last-part`` (strings, lists, dicts).

    Responses describe models and failures without showing where the service
    keeps its files.
    """
    if isinstance(value, str):
        return _ABS_PATH.sub(lambda m: ".../" + m.group(1), value)
    if isinstance(value, dict):
        return {k: redact_paths(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_paths(v) for v in value]
    return value


class _TooLarge(Exception):
    pass


class _SlowBody(Exception):
    pass


class LimitsMiddleware:
    """Pure ASGI middleware: media type (415), body size (413) and body time (408) limits.

    The size is checked on ``Content-Length`` and again while the body
    streams in (chunked uploads), so an oversized body is never buffered.
    The whole body must arrive within the body timeout: a client that sends
    slowly (or stops sending) holds a replica's request slot for that long
    at most.
    """

    def __init__(self, app, max_bytes_getter, body_timeout_getter=lambda: None):
        self.app = app
        self.max_bytes_getter = max_bytes_getter
        self.body_timeout_getter = body_timeout_getter

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
        body_done = False
        timeout = self.body_timeout_getter()
        loop = asyncio.get_running_loop()
        deadline = None if not timeout else loop.time() + float(timeout)

        async def limited_receive():
            nonlocal seen, body_done
            if body_done or deadline is None:
                msg = await receive()  # after the body: only a disconnect can come, wait for it freely
            else:
                try:
                    msg = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
                except asyncio.TimeoutError:
                    raise _SlowBody() from None
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
                body_done = not msg.get("more_body", False)
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
        except _SlowBody:
            if not started:
                resp = error_response(
                    408, "request_timeout",
                    f"the request body did not arrive within {float(timeout):g} s; send the whole body at once "
                    "(a light curve is at most a few MB)", headers={"Connection": "close"})
                await resp(scope, receive, send)

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
        "Errors are JSON `{error, message, details}`: 400 malformed JSON, 408 body too slow, 413 body over "
        "the limit, 415 unsupported Content-Type, 422 invalid input (numbers outside float64 and nesting "
        "deeper than the schema included), 503 model missing, service busy, search over its time limit "
        "or out of memory (with Retry-After when a retry can help)."
    ),
    # Swagger UI is served from the package's own files (see /docs below): FastAPI's default pages
    # load their JavaScript from a CDN and show a blank page offline.  ReDoc has no offline copy.
    docs_url=None,
    redoc_url=None,
)
_STATE: Dict[str, Any] = {"max_request_bytes": DEFAULT_SETTINGS["max_request_bytes"],
                          "body_timeout_s": DEFAULT_SETTINGS["body_timeout_s"]}
fastapi_app.add_middleware(LimitsMiddleware, max_bytes_getter=lambda: _STATE["max_request_bytes"],
                           body_timeout_getter=lambda: _STATE["body_timeout_s"])


@fastapi_app.exception_handler(RequestValidationError)
async def _on_validation(request: Request, exc: RequestValidationError):
    return _validation_error(exc.errors())


@fastapi_app.exception_handler(StarletteHTTPException)
async def _on_http(request: Request, exc: StarletteHTTPException):
    kinds = {404: "not_found", 405: "method_not_allowed"}
    return error_response(exc.status_code, kinds.get(exc.status_code, "http_error"), str(exc.detail),
                          headers=getattr(exc, "headers", None))


@fastapi_app.exception_handler(RecursionError)
async def _on_recursion(request: Request, exc: RecursionError):
    return error_response(422, "nesting_too_deep", "the request is nested deeper than its schema allows")


@fastapi_app.exception_handler(OverflowError)
async def _on_overflow(request: Request, exc: OverflowError):
    return error_response(422, "number_out_of_range",
                          f"a number in the request is outside the float64 range ({exc}); send values within it")


@fastapi_app.exception_handler(MemoryError)
async def _on_memory(request: Request, exc: MemoryError):
    log.error("out of memory on %s", request.url.path)
    return _out_of_memory("the ingress")


@fastapi_app.exception_handler(LimitExceededError)
async def _on_limit(request: Request, exc: LimitExceededError):
    return error_response(422, "limit_exceeded", redact_paths(str(exc)))


@fastapi_app.exception_handler(Exception)
async def _on_unexpected(request: Request, exc: Exception):  # pragma: no cover - a bug, not bad input
    log.exception("unexpected error on %s", request.url.path)
    return error_response(500, "internal_error", f"internal error ({type(exc).__name__}); the service logged it")


def _out_of_memory(where: str) -> JSONResponse:
    return error_response(503, "insufficient_memory",
                          f"{where} ran out of memory on this request; retry later, or send a smaller light curve",
                          headers={"Retry-After": "30"})


def _swagger_dir() -> str:
    from swagger_ui_bundle import swagger_ui_path

    return str(swagger_ui_path)


_DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
                "favicon-32x32.png": "image/png"}


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
                                 "description": "A TESS/Kepler light-curve FITS file (SPOC, TESS-SPOC, QLP, ...); "
                                                "repeat the part (up to 16) to send several sectors of one star, "
                                                "searched as one (422 different_stars if their TIC IDs differ)"},
                        "anomaly": {"type": "boolean", "description": "also score anomaly windows"},
                    },
                }
            },
        },
    },
}
_ERRS = {c: {"model": ErrorResponse} for c in (400, 408, 413, 415, 422, 503)}


def _json_body_openapi(model) -> Dict[str, Any]:
    # the handlers read and validate the body themselves (see parse_json_body), so its schema
    # is declared here for the OpenAPI document
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def _custom_openapi():
    if fastapi_app.openapi_schema:
        return fastapi_app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=fastapi_app.title, version=fastapi_app.version,
                         description=fastapi_app.description, routes=fastapi_app.routes)
    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ScoreRequest, RankRequest, AnomalyRequest):
        req = model.model_json_schema(ref_template="#/components/schemas/{model}")
        comps.update(req.pop("$defs", {}))
        comps[model.__name__] = req
    fastapi_app.openapi_schema = schema
    return schema


fastapi_app.openapi = _custom_openapi


def _lightcurve_from_json(raw: bytes):
    """``(LightCurve, anomaly flag)`` from a /v1/score JSON body, or the error response."""
    from .score import lightcurve_from_request

    payload = parse_json_body(raw)
    if isinstance(payload, JSONResponse):
        return payload
    if not isinstance(payload, dict):
        return error_response(422, "validation_error",
                              f"the JSON body must be an object with 'time' and 'flux', got {type(payload).__name__}")
    try:
        req = ScoreRequest.model_validate(payload)
    except ValidationError as exc:
        return _validation_error(exc.errors())
    try:
        return lightcurve_from_request(req), req.anomaly, _period_range(req.min_period_days, req.max_period_days)
    except ExorayError as exc:
        return _input_error(exc)


def _period_range(lo, hi) -> Dict[str, float]:
    """The request's period range as SearchConfig fields (checked: the shortest below the longest)."""
    out = {}
    if lo is not None:
        out["min_period_days"] = float(lo)
    if hi is not None:
        out["max_period_days"] = float(hi)
    if lo is not None and hi is not None and not float(hi) > float(lo):
        raise InputError(f"max_period_days ({hi}) must exceed min_period_days ({lo})")
    return out


def _model_from_json(raw: bytes, model):
    """A validated request ``model`` from a JSON body, or the error response."""
    payload = parse_json_body(raw)
    if isinstance(payload, JSONResponse):
        return payload
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        return _validation_error(exc.errors())
    except RecursionError:
        return error_response(422, "nesting_too_deep", "the request is nested deeper than its schema allows")


def _truthy(v) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes", "on")


async def _result_of(response):
    return await response


def bind_internal_grpc(host: str) -> Optional[str]:
    """Make this replica's inter-deployment gRPC server listen on ``host``, not on every interface.

    Ray Serve 2.60 starts that server in every replica on ``[::]:0``, a
    hard-coded address with no setting (``ray.serve._private.replica``,
    ``_on_initialized``), although by default it is not even used for
    requests (``RAY_SERVE_USE_GRPC_BY_DEFAULT=0``).  The replica calls
    ``add_port_to_grpc_server`` after the deployment's constructor returns,
    so the constructor replaces that function in the replica module with one
    that binds ``host``: ``"node"`` is the address Ray uses for this node
    (``127.0.0.1`` for exoray's own local instance, the cluster interface on
    a cluster, where other nodes' proxies may call in when gRPC is enabled).
    ``"0.0.0.0"`` or ``"::"`` restores every interface.  Returns the address
    bound, or None when this Ray has no such hook (a warning says so; the
    Serve port test fails on it).
    """
    try:
        from ray.serve._private import replica as replica_module
    except ImportError:  # pragma: no cover - Ray moved its internals
        log.warning("cannot restrict the replica's internal gRPC port: ray.serve._private.replica is gone")
        return None
    original = getattr(replica_module, "add_port_to_grpc_server", None)
    if original is None:  # pragma: no cover - Ray moved its internals
        log.warning("cannot restrict the replica's internal gRPC port: this Ray has no add_port_to_grpc_server")
        return None
    original = getattr(original, "_exoray_original", original)
    if host == "node":
        import ray

        host = ray.util.get_node_ip_address()
    bracketed = f"[{host}]" if ":" in host else host

    def add_port(server, address):
        if address.startswith("[::]:"):
            address = f"{bracketed}:{address.rsplit(':', 1)[1]}"
        return original(server, address)

    add_port._exoray_original = original  # type: ignore[attr-defined]
    replica_module.add_port_to_grpc_server = add_port
    return host


@serve.deployment(name="Ingress")
@serve.ingress(fastapi_app)
class Ingress:
    """HTTP front door: validates, reads FITS, fans out to the model deployments."""

    def __init__(self, searcher, ranker, anomaly, settings: Dict[str, Any]):
        bind_internal_grpc(settings["internal_grpc_host"])
        self.searcher, self.ranker, self.anomaly = searcher, ranker, anomaly
        self.settings = settings
        _STATE["max_request_bytes"] = int(settings["max_request_bytes"])
        _STATE["body_timeout_s"] = settings["body_timeout_s"]
        self.batching = bool(settings["batching"])

    # ------------------------------------------------------------------ docs (offline)
    @fastapi_app.get("/docs", include_in_schema=False)
    async def docs(self, request: Request):
        from fastapi.openapi.docs import get_swagger_ui_html

        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json", title=f"{fastapi_app.title} - Swagger UI",
            swagger_js_url=f"{root}/docs/swagger-ui-bundle.js", swagger_css_url=f"{root}/docs/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs/favicon-32x32.png",
            # no validator badge: Swagger UI would fetch it from validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None},
        )

    @fastapi_app.get("/docs/{asset}", include_in_schema=False)
    async def docs_asset(self, asset: str):
        media = _DOCS_ASSETS.get(asset)
        if media is None:
            return error_response(404, "not_found", f"no documentation asset {asset!r}")
        return FileResponse(os.path.join(_swagger_dir(), asset), media_type=media)

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
        return JSONResponse(body, status_code=200 if ready else 503, headers=None if ready else {"Retry-After": "5"})

    @fastapi_app.get("/v1/models", response_model=ModelsResponse, summary="Loaded models and their versions")
    async def models(self):
        return {"models": await self._model_status()}

    async def _model_status(self) -> List[Dict[str, Any]]:
        async def one(handle, kind):
            try:
                return await asyncio.wait_for(handle.status.remote(), timeout=10)
            except Exception as exc:  # noqa: BLE001 - a replica that does not answer is "not ready"
                return {"name": kind, "kind": kind, "ready": False, "message": f"no answer ({type(exc).__name__})"}

        models = await asyncio.gather(one(self.searcher, "search"), one(self.ranker, "ranker"),
                                      one(self.anomaly, "anomaly"))
        return redact_paths(list(models))

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
            lc, want_anomaly, periods = got  # (bytes, file name): the Searcher reads the FITS file
        else:
            raw = await request.body()
            # ~1 MB of JSON for a sector: parse and validate off the event loop
            got = await asyncio.to_thread(_lightcurve_from_json, raw)
            if isinstance(got, JSONResponse):
                return got
            lc, want_anomaly, periods = got
        t_read = time.perf_counter()

        window_length = None
        anomaly_status = None
        if want_anomaly:
            anomaly_status = await self.anomaly.status.remote()
            if anomaly_status.get("ready"):
                window_length = int(anomaly_status["details"]["window_length"])
        # The Searcher stops its own work at search_timeout_s; the margin here covers a replica that
        # cannot answer at all.  A cancelled request (client gone) cancels the search explicitly.
        call = self.searcher.search.remote(lc, window_length, int(self.settings["anomaly_stride"]), periods)
        limit = float(self.settings["search_timeout_s"] or 0) or None
        try:
            found = await asyncio.wait_for(_result_of(call), None if limit is None else limit + 30.0)
        except asyncio.TimeoutError:
            call.cancel()
            return error_response(503, "search_timeout",
                                  f"the search did not answer within {limit + 30.0:g} s; retry later",
                                  headers={"Retry-After": "30"})
        except asyncio.CancelledError:
            call.cancel()
            raise
        except Exception as exc:  # noqa: BLE001
            return self._downstream_error(exc, "search")
        if "error" in found:
            headers = {"Retry-After": str(found["retry_after"])} if found.get("retry_after") else None
            return error_response(int(found.get("status", 422)), found["error"], redact_paths(found["message"]),
                                  found.get("details"), headers=headers)
        lc_info = found["lightcurve"]
        rows = found["rows"]
        t_search = time.perf_counter()
        rank_call = self.ranker.score_batched if self.batching else self.ranker.score_one
        try:
            scored = await rank_call.remote(rows) if rows else []
        except Exception as exc:  # noqa: BLE001
            return self._downstream_error(exc, "ranker")
        from .score import public_candidate

        from ..vet.decision import decide_rows

        # the one decision every exoray output makes: rules reconciled with the score
        decided = decide_rows([dict(row, score=sc[0], score_lo=sc[1], score_hi=sc[2]) for row, sc in zip(rows, scored)])
        cands = [public_candidate(row) for row in decided]
        t_rank = time.perf_counter()
        anomaly = None
        if want_anomaly:
            anomaly = await self._score_windows_for(found, anomaly_status)
        t_end = time.perf_counter()
        return {
            "tic_id": lc_info["tic_id"],
            "sector": lc_info["sector"],
            "sectors": lc_info.get("sectors"),
            "passed_over": lc_info.get("passed_over"),
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
            # several 'file' parts: the sectors (or products) of one star, searched as one
            form_cm = request.form(max_files=MAX_STAR_FILES, max_fields=8)
            async with form_cm as form:
                keys = list(form.keys())
                uploads = form.getlist("file")
                upload = uploads[0] if uploads else None
                if upload is None or any(isinstance(u, str) for u in uploads):
                    return error_response(
                        422, "validation_error",
                        f"multipart body needs a file field named 'file' (got fields: {', '.join(keys) or 'none'})",
                        [{"loc": "file", "msg": "field required", "type": "missing"}])
                unknown = sorted(set(keys) - {"file", "anomaly", "min_period_days", "max_period_days"})
                if unknown:
                    return error_response(422, "validation_error", f"unknown form field(s): {', '.join(unknown)}",
                                          [{"loc": k, "msg": "unknown field", "type": "extra_forbidden"} for k in unknown])
                files = [(await u.read(), os.path.basename(u.filename or f"upload{i}.fits"))
                         for i, u in enumerate(uploads)]
                want_anomaly = _truthy(form.get("anomaly", "false"))
                bounds = {}
                for field in ("min_period_days", "max_period_days"):
                    text = form.get(field)
                    if text is None or text == "":
                        continue
                    try:
                        v = float(str(text)[:64])
                    except ValueError:
                        v = float("nan")
                    if not (math.isfinite(v) and 0 < v <= 1e4):
                        return error_response(422, "validation_error", f"form field {field} must be a number of days "
                                              f"in (0, 10000], got {str(text)[:40]!r}",
                                              [{"loc": field, "msg": "not a period in days", "type": "value_error"}])
                    bounds[field] = v
        except _TooLarge:
            raise
        except Exception as exc:  # noqa: BLE001 - python-multipart parse errors, too many files/fields
            return error_response(400, "malformed_multipart", f"the multipart body cannot be parsed ({exc})")
        try:
            periods = _period_range(bounds.get("min_period_days"), bounds.get("max_period_days"))
        except ExorayError as exc:
            return _input_error(exc)
        return (files[0] if len(files) == 1 else files), want_anomaly, periods

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
        if isinstance(exc, MemoryError):
            return _out_of_memory(f"the {what} deployment")
        if "Unavailable" in name or "ActorDied" in name or "ActorUnavailable" in name:
            return error_response(503, "unavailable", f"the {what} deployment is restarting; retry shortly",
                                  headers={"Retry-After": "5"})
        log.error("%s deployment failed: %r", what, exc)
        return error_response(500, "internal_error", f"the {what} deployment failed ({name}); the service logged it")

    # ------------------------------------------------------------------ /v1/rank
    @fastapi_app.post("/v1/rank", response_model=RankResponse, responses=_ERRS,
                      openapi_extra=_json_body_openapi(RankRequest),
                      summary="Score candidate feature records; sorted by planet probability")
    async def rank(self, request: Request):
        from .score import validate_rank_records

        body = await self._json_model(request, RankRequest)
        if isinstance(body, JSONResponse):
            return body
        try:
            records, ignored = validate_rank_records(body.candidates)
        except ExorayError as exc:
            return _input_error(exc, "validation_error")
        call = self.ranker.rank_batched if self.batching else self.ranker.rank_one
        try:
            out = await call.remote(records)
        except Exception as exc:  # noqa: BLE001
            return self._downstream_error(exc, "ranker")
        # the echo is bounded: a request may carry up to ~a million unknown keys
        shown = [k if len(k) <= 64 else k[:61] + "..." for k in ignored[:MAX_IGNORED_FIELDS]]
        return {"results": out["results"], "ignored_fields": shown, "n_ignored_fields": len(ignored),
                "model": out["model"]}

    @staticmethod
    async def _json_model(request: Request, model):
        raw = await request.body()
        # a 16 MiB body takes a moment to decode: off the event loop
        return await asyncio.to_thread(_model_from_json, raw, model)

    # ------------------------------------------------------------------ /v1/anomaly
    @fastapi_app.post("/v1/anomaly", response_model=AnomalyResponse, responses=_ERRS,
                      openapi_extra=_json_body_openapi(AnomalyRequest),
                      summary="Anomaly scores of flux windows (needs a registered anomaly model)")
    async def anomaly_scores(self, request: Request):
        body = await self._json_model(request, AnomalyRequest)
        if isinstance(body, JSONResponse):
            return body
        status = await self.anomaly.status.remote()
        if body.model != status.get("name"):
            return error_response(422, "validation_error",
                                  f"model {body.model!r} is not served; this service serves {status.get('name')!r}",
                                  [{"loc": "model", "msg": "not served", "type": "value_error"}])
        if not status.get("ready"):
            return error_response(503, "model_missing", redact_paths(status.get("message") or "anomaly model not loaded"))
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
        for k, v in _THREAD_ENV.items():
            os.environ.setdefault(k, v)
        import torch

        from ..config import PreprocessConfig, SearchConfig

        from ..engine import Engine

        torch.set_num_threads(1)
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
        from ..lightcurve import LightCurve
        from .score import search_with_engine

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
        from ..errors import TimeLimitError
        from ..limits import run_interruptible

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

        from .score import check_lightcurve, check_one_star, search_star_with_engine

        try:
            search_cfg = dataclasses.replace(self.search_cfg, **(periods or {}))
        except ExorayError as exc:
            return {"error": "invalid_input", "message": str(exc)}

        t0 = time.perf_counter()
        uploads = lc if isinstance(lc, list) else [lc]
        lcs = []
        for one in uploads:
            if isinstance(one, tuple):
                from ..ingest import read_lightcurve

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
            from ..models.windows import windows_from_lightcurve

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
        from ..rank.ranker import DEFAULT_MODEL_DIR, load_default_ranker

        self.dir = str(ranker_dir or os.environ.get("EXORAY_RANKER_DIR") or DEFAULT_MODEL_DIR)
        self.ranker = load_default_ranker(self.dir)
        shipped = os.path.realpath(self.dir) == os.path.realpath(str(DEFAULT_MODEL_DIR))
        self.info = {"name": "ranker", "kind": "ranker", "ready": True,
                     "version": _ranker_version(self.dir),
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
        from .score import RANK_ID_KEYS

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
def _replica_device(device: Optional[str]) -> str:
    """The search device of a replica: ``cpu`` or ``cuda`` (Ray picks the replica's GPU, so no index)."""
    from ..devices import parse_device
    from ..errors import ConfigError

    d = parse_device(device)
    if ":" in d:
        raise ConfigError(f"device {d!r}: each search replica is given its own GPU by Ray, so a device index "
                          "cannot be chosen; use 'cuda'")
    return d


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
    if s["device"] is not None:
        search_kw["device"] = s["device"]
    search_kw["device"] = _replica_device(search_kw.get("device"))
    if search_kw["device"] == "cuda":
        deps["Searcher"].setdefault("ray_actor_options", {}).setdefault("num_gpus", 1)
    env = {"env_vars": dict(_THREAD_ENV)}
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
