"""The ASGI middleware that enforces the request limits before a route sees the body.

Media type (415), body size (413, on ``Content-Length`` and again while the
body streams in) and the time the whole body may take to arrive (408): a
request over any of them is answered here, and an oversized body is never
buffered.
"""

import asyncio

from .errors import error_response
from .settings import MEDIA_TYPES

__all__ = ["LimitsMiddleware", "BodyTooLarge"]


class BodyTooLarge(Exception):
    """The body grew past the limit while it streamed in (raised out of the app's ``receive``)."""


class _SlowBody(Exception):
    """The body did not arrive within the body timeout."""


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
                    raise BodyTooLarge()
                body_done = not msg.get("more_body", False)
            return msg

        async def tracking_send(msg):
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
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
