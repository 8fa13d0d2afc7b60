"""The HTTP API: the FastAPI app, its middleware and OpenAPI document, and the ingress deployment.

Endpoints: ``POST /v1/score``, ``POST /v1/rank``, ``POST /v1/anomaly``,
``GET /v1/models``, ``GET /healthz``, ``GET /readyz``; OpenAPI at ``/docs``.

With Ray Serve's FastAPI ingress the routes are the methods of the
:class:`Ingress` deployment (``@serve.ingress(fastapi_app)``), so the routes
and the deployment that answers them are one class.  The ingress validates
requests, reads FITS uploads' form parts, applies the limits and fans out to
the model deployments (:mod:`exoray.serve.deployments`) through their
handles.  A new route is a method of :class:`Ingress` here, its body models
in :mod:`exoray.serve.bodies`, and its POST media types in
:data:`exoray.serve.settings.MEDIA_TYPES`.

Bad input never gets a 5xx: malformed JSON 400, a body over
``max_request_bytes`` 413 (declared or streamed), a body that does not
arrive within ``body_timeout_s`` 408, an unsupported ``Content-Type`` 415,
and everything else wrong with a request 422 (numbers outside the float64
range and nesting deeper than the schema included), each with a JSON body
``{"error": kind, "message": what is wrong, "details": [...]}``
(:mod:`exoray.serve.errors`).  A request that arrives while every search
replica's queue is full, a search that runs past ``search_timeout_s`` and a
replica out of memory get 503 (``Retry-After`` when retrying can help).
Every other failure, a bug, is still a JSON 500 with its reason.

``/docs`` serves Swagger UI from the ``swagger-ui-bundle-v2`` package's
files, so it works offline.
"""

# no "from __future__ import annotations": FastAPI must see the real parameter types
# of the ingress methods (Request, the body models) through Serve's wrapper.

import asyncio
import logging
import math
import os
import time
from typing import Any, Dict, List

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from ray import serve

from .._version import __version__
from ..errors import ExorayError
from .bodies import (
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
from .errors import add_exception_handlers, error_response, input_error_response, out_of_memory_response, redact_paths
from .middleware import BodyTooLarge, LimitsMiddleware
from .parsing import lightcurve_from_json, model_from_json, period_range, truthy
from .replica import bind_internal_grpc
from .score import public_candidate, validate_rank_records
from .settings import DEFAULT_SETTINGS, MAX_STAR_FILES

log = logging.getLogger("exoray.serve")

__all__ = ["fastapi_app", "Ingress"]

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
add_exception_handlers(fastapi_app)


# --------------------------------------------------------------------------- offline docs
def _swagger_dir() -> str:
    from swagger_ui_bundle import swagger_ui_path

    return str(swagger_ui_path)


_DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
                "favicon-32x32.png": "image/png"}


# --------------------------------------------------------------------------- OpenAPI document
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
    # the handlers read and validate the body themselves (exoray.serve.parsing), so its schema
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


async def _result_of(response):
    return await response


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
            got = await asyncio.to_thread(lightcurve_from_json, raw)
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

        # scipy: imported in the request, after the replica has set its thread limits
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
                want_anomaly = truthy(form.get("anomaly", "false"))
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
        except BodyTooLarge:
            raise
        except Exception as exc:  # noqa: BLE001 - python-multipart parse errors, too many files/fields
            return error_response(400, "malformed_multipart", f"the multipart body cannot be parsed ({exc})")
        try:
            periods = period_range(bounds.get("min_period_days"), bounds.get("max_period_days"))
        except ExorayError as exc:
            return input_error_response(exc)
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
            return out_of_memory_response(f"the {what} deployment")
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
        body = await self._json_model(request, RankRequest)
        if isinstance(body, JSONResponse):
            return body
        try:
            records, ignored = validate_rank_records(body.candidates)
        except ExorayError as exc:
            return input_error_response(exc, "validation_error")
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
        return await asyncio.to_thread(model_from_json, raw, model)

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
