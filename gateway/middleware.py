"""ASGI middleware: a request id, access log line and request metrics for every request, and a body-size limit
enforced before parsing.

Pure ASGI, and as few layers as the jobs allow: each layer wraps `send` for every request, which shows in /predict's
latency on a 2-core box.
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import metrics
from shared.logging_setup import kv, queue_line

log = logging.getLogger("gateway.access")
REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class AccessMiddleware:
    """Takes a well-formed X-Request-ID from the caller or makes one and echoes it; times the request once for both
    its access log line and its request metrics (by route template and status)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else secrets.token_hex(16)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_code = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message.setdefault("headers", []).append((REQUEST_ID_HEADER.encode(), request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            # The router has put the matched route in the scope by now; unmatched paths share one label value.
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics.observe_request(scope.get("method", ""), template, status_code, elapsed)
            # Only queued here: shared.logging_setup's writer thread renders and writes the line.
            queue_line(
                log,
                f"{scope.get('method')} {scope.get('path')}",
                kv(route=template, status=status_code, request_id=request_id, ms=round(elapsed * 1000, 1)),
            )


class BodySizeLimitMiddleware:
    """Answers 413 for bodies over `max_bytes`, by Content-Length or while streaming, before any parsing."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_bytes:
                await self._too_large(send)
                return
            if b"transfer-encoding" not in headers:
                # HTTP framing ends such a body at its Content-Length (the server reads no further): only a body
                # sent without one, or chunked despite one, needs counting as it streams in.
                await self.app(scope, receive, send)
                return
        received = 0
        too_large = False
        replaced = False  # the app's own answer to a truncated body, swapped for the 413
        answered_first = False  # the app started its answer before the limit was hit: leave it alone

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal replaced, answered_first
            # Frameworks catch errors raised while reading the body (FastAPI answers 400 "error parsing the body"):
            # once the limit was hit, whatever the app answers is replaced by the 413 that says what to fix.
            if too_large and not answered_first:
                if message["type"] == "http.response.start" and not replaced:
                    replaced = True
                    await self._too_large(send)
                return
            if message["type"] == "http.response.start":
                answered_first = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            if not replaced and not answered_first:
                await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        body = (
            f'{{"detail":"request body is larger than {self.max_bytes} bytes: send fewer or shorter tweets"}}'
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass
