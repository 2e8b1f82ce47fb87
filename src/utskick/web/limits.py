"""A ceiling on request bodies that the API reads whole (everything but batches).

FastAPI reads a JSON body completely before the endpoint sees it, so without a ceiling a
single request could fill the server's memory. A letter is at most 2 MB on the wire; as JSON
with base64 attachments that is under 3 MB, so 4 MB leaves room for every valid letter.
Batches stream line by line and have their own per-line limit.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_JSON_BODY_BYTES = 4 * 1024 * 1024
TOO_LARGE = (
    "anropet är större än {limit} MB; ett brev får vara högst 2 MB i Mina meddelanden "
    "(skicka större mängder som ett massutskick till /api/v1/batches)"
)


class BodySizeLimit:
    """ASGI middleware: 413 for bodies over the limit on paths under `prefix`, except `exempt`."""

    def __init__(self, app: ASGIApp, *, prefix: str, exempt: str, limit: int) -> None:
        self.app = app
        self.prefix = prefix
        self.exempt = exempt
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 413 when its body is over the limit."""
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not path.startswith(self.prefix)
            or path.startswith(self.exempt)
        ):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(send)
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # No declared length (chunked): read the body first, within the limit, then hand
        # it on. These endpoints read the whole body anyway.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.limit:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, replaying(b"".join(chunks), receive), send)

    async def _too_large(self, send: Send) -> None:
        detail = TOO_LARGE.format(limit=self.limit // (1024 * 1024))
        body = json.dumps({"detail": detail, "errors": []}, ensure_ascii=False).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then the client's own messages.

    A middleware that has read the whole body to judge it passes the request on with this,
    so the app reads exactly the bytes that were judged.
    """
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
