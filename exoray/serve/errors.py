"""Errors of the HTTP API: the JSON error body, and the handlers that turn exceptions into it.

Every error a client gets is ``{"error": kind, "message": what is wrong,
"details": [...]}`` (:class:`~exoray.serve.bodies.ErrorResponse`) with the
status that fits: bad input 4xx, never 5xx; a full queue, a search over its
time limit or memory exhausted 503; a bug a 500 that still says what
failed.  Responses never show file-system paths (:func:`redact_paths`).
"""

import logging
import re
from typing import Any, Dict, List, Optional

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ExorayError, LimitExceededError
from .bodies import ErrorResponse

log = logging.getLogger("exoray.serve")

__all__ = ["error_response", "validation_details", "validation_error_response", "input_error_response",
           "out_of_memory_response", "redact_paths", "add_exception_handlers"]


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


def validation_error_response(errors) -> JSONResponse:
    errors = list(errors)
    if any(e.get("type") == "json_invalid" for e in errors):
        ctx = next(e for e in errors if e.get("type") == "json_invalid").get("ctx", {})
        return error_response(400, "malformed_json", f"the request body is not valid JSON ({ctx.get('error', 'parse error')})")
    details = validation_details(errors)
    msg = "; ".join(f"{d['loc']}: {d['msg']}" for d in details[:5])
    return error_response(422, "validation_error", f"invalid request: {msg}", details)


def input_error_response(exc: ExorayError, kind: str = "invalid_input") -> JSONResponse:
    details = list(getattr(exc, "details", []) or [])
    return error_response(422, kind, str(exc), details)


def out_of_memory_response(where: str) -> JSONResponse:
    return error_response(503, "insufficient_memory",
                          f"{where} ran out of memory on this request; retry later, or send a smaller light curve",
                          headers={"Retry-After": "30"})


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


# --------------------------------------------------------------------------- exception handlers
async def _on_validation(request: Request, exc: RequestValidationError):
    return validation_error_response(exc.errors())


async def _on_http(request: Request, exc: StarletteHTTPException):
    kinds = {404: "not_found", 405: "method_not_allowed"}
    return error_response(exc.status_code, kinds.get(exc.status_code, "http_error"), str(exc.detail),
                          headers=getattr(exc, "headers", None))


async def _on_recursion(request: Request, exc: RecursionError):
    return error_response(422, "nesting_too_deep", "the request is nested deeper than its schema allows")


async def _on_overflow(request: Request, exc: OverflowError):
    return error_response(422, "number_out_of_range",
                          f"a number in the request is outside the float64 range ({exc}); send values within it")


async def _on_memory(request: Request, exc: MemoryError):
    log.error("out of memory on %s", request.url.path)
    return out_of_memory_response("the ingress")


async def _on_limit(request: Request, exc: LimitExceededError):
    return error_response(422, "limit_exceeded", redact_paths(str(exc)))


async def _on_unexpected(request: Request, exc: Exception):  # pragma: no cover - a bug, not bad input
    log.exception("unexpected error on %s", request.url.path)
    return error_response(500, "internal_error", f"internal error ({type(exc).__name__}); the service logged it")


def add_exception_handlers(app) -> None:
    """Answer these exceptions of ``app``'s routes with the JSON error body (the most specific class wins)."""
    for exc, handler in ((RequestValidationError, _on_validation), (StarletteHTTPException, _on_http),
                         (RecursionError, _on_recursion), (OverflowError, _on_overflow),
                         (MemoryError, _on_memory), (LimitExceededError, _on_limit), (Exception, _on_unexpected)):
        app.add_exception_handler(exc, handler)
