"""Request bodies decoded and validated off the event loop, or the error response that says why not.

JSON is decoded with number limits of its own: an integer or a float beyond
the float64 range is refused here (422) rather than overflowing deep inside
the scoring code, and malformed JSON is 400.  The decoded body is validated
against its request model (:mod:`exoray.serve.bodies`); each function
returns either the request or a :class:`~fastapi.responses.JSONResponse`.
"""

import json
import math
import sys
from typing import Dict

from fastapi.responses import JSONResponse
from pydantic import ValidationError

from ..errors import ExorayError, InputError
from .bodies import ScoreRequest
from .errors import error_response, input_error_response, validation_error_response
from .score import lightcurve_from_request

__all__ = ["parse_json_body", "lightcurve_from_json", "model_from_json", "period_range", "truthy"]

_FLOAT_MAX_INT = int(sys.float_info.max)
_MAX_NUMBER_DIGITS = len(str(_FLOAT_MAX_INT))  # 309


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


def lightcurve_from_json(raw: bytes):
    """``(LightCurve, anomaly flag)`` from a /v1/score JSON body, or the error response."""
    payload = parse_json_body(raw)
    if isinstance(payload, JSONResponse):
        return payload
    if not isinstance(payload, dict):
        return error_response(422, "validation_error",
                              f"the JSON body must be an object with 'time' and 'flux', got {type(payload).__name__}")
    try:
        req = ScoreRequest.model_validate(payload)
    except ValidationError as exc:
        return validation_error_response(exc.errors())
    try:
        return lightcurve_from_request(req), req.anomaly, period_range(req.min_period_days, req.max_period_days)
    except ExorayError as exc:
        return input_error_response(exc)


def period_range(lo, hi) -> Dict[str, float]:
    """The request's period range as SearchConfig fields (checked: the shortest below the longest)."""
    out = {}
    if lo is not None:
        out["min_period_days"] = float(lo)
    if hi is not None:
        out["max_period_days"] = float(hi)
    if lo is not None and hi is not None and not float(hi) > float(lo):
        raise InputError(f"max_period_days ({hi}) must exceed min_period_days ({lo})")
    return out


def model_from_json(raw: bytes, model):
    """A validated request ``model`` from a JSON body, or the error response."""
    payload = parse_json_body(raw)
    if isinstance(payload, JSONResponse):
        return payload
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        return validation_error_response(exc.errors())
    except RecursionError:
        return error_response(422, "nesting_too_deep", "the request is nested deeper than its schema allows")


def truthy(v) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes", "on")
