r"""The request id of every HTTP request, and the access log: one line per request.

A request keeps the `X-Request-ID` its caller (or a proxy in front) sent when it is a plain
id (`A-Za-z0-9._-`, at most 64 characters) without an identity number in it; any other value
is replaced by a new id, so that a header cannot write a line of its own into the log, and a
personnummer used as a correlation id is not written into every log line and job payload.
The id is in force while the request is handled (every log line carries it, jobs queued keep
it), goes back in the answer's `X-Request-ID`, and is kept in the request's state
(`request.state.request_id`).

The access log (logger `utskick.access`, INFO) says per request: method, path (never the
query string, which may hold search terms; identity numbers in the path are masked and its
control characters written out, as `\r`, `\n`, `\x1b`, so that a path such as
`/x%0D%0A<forged line>` stays on its own line), status, duration in milliseconds, the client's
address (as the trusted proxy vouches for it) and the bytes of the answer's body. It replaces
uvicorn's own access log.
"""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from utskick.observability.context import new_request_id, request_id_scope, valid_request_id
from utskick.observability.logs import REQUEST_ID_HEADER, printable, redact

access_logger = logging.getLogger("utskick.access")

# The request state's key for the request id (`request.state.request_id`).
REQUEST_ID_STATE = "request_id"
_HEADER = REQUEST_ID_HEADER.lower().encode("latin-1")


def include_request_log(app: FastAPI) -> None:
    """Add the request id and access log middleware.

    Call it after `include_protection`, so that it is the outermost middleware: its line then
    counts the time of every other middleware and logs their refusals too, and it reads the
    client address after the trusted-proxy middleware has set it. A second call adds nothing.
    """
    if any(getattr(middleware, "cls", None) is RequestLog for middleware in app.user_middleware):
        return
    app.add_middleware(RequestLog)


def incoming_request_id(scope: Scope) -> str:
    """The caller's `X-Request-ID` when it is a valid id, else a new one."""
    offered = Headers(scope=scope).get(REQUEST_ID_HEADER)
    if offered is not None and valid_request_id(offered):
        return offered
    return new_request_id()


class _Answer:
    """What the access log needs to know about the answer, filled in as it is sent."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.body_bytes = 0


class RequestLog:
    """Sets the request id for the request, returns it, and writes the access log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle the request under its id; log one line when the answer is sent (or fails)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope)
        scope.setdefault("state", {})[REQUEST_ID_STATE] = request_id
        answer = _Answer()
        header = (_HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.status = message["status"]
                headers = [
                    (name, value) for name, value in message.get("headers", []) if name != _HEADER
                ]
                message = {**message, "headers": [*headers, header]}
            elif message["type"] == "http.response.body":
                answer.body_bytes += len(message.get("body", b""))
            await send(message)

        started = time.perf_counter()
        with request_id_scope(request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                # An error gets its line too (as a 500: Starlette's outermost error middleware
                # answers it after this one, and finds the id in the request's state).
                _log_access(scope, answer.status or 500, started, answer.body_bytes)


def _log_access(scope: Scope, status: int, started: float, body_bytes: int) -> None:
    """One access-log line: readable as text, with every part as a field in JSON."""
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    # Masked before it is escaped: an escape such as \x00 must not hide a number's edge.
    method = printable(scope.get("method", ""))
    path = printable(redact(scope.get("path", "")))
    client = scope.get("client")
    address = printable(str(client[0])) if client else None
    access_logger.info(
        "%s %s %d %.1f ms %s %d B",
        method,
        path,
        status,
        duration_ms,
        address or "-",
        body_bytes,
        extra={
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
            "client": address,
            "bytes_sent": body_bytes,
        },
    )
