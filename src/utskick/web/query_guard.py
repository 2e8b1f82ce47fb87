"""Query parameters named twice are refused on the API.

`?reference=A&reference=B` has no single meaning: FastAPI keeps the last value, a proxy or a
log reader may keep the first. No parameter of the API takes a list, so a search whose
criterion depends on who reads the query string is refused instead of guessed at.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from utskick.web.json_guard import answer_error


def repeated_parameter(query_string: bytes) -> str | None:
    """The first query parameter named more than once, or None."""
    seen: set[str] = set()
    for name, _ in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name in seen:
            return name
        seen.add(name)
    return None


class SingleQueryValues:
    """ASGI middleware: 422 for a request under `prefix` that names a query parameter twice."""

    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on unless its query string repeats a parameter."""
        if scope["type"] == "http" and scope.get("path", "").startswith(self.prefix):
            name = repeated_parameter(scope.get("query_string", b""))
            if name is not None:
                message = f"parametern anges flera gånger; ange {name} en gång"
                await answer_error(
                    send,
                    422,
                    f"felaktig indata — {name}: {message}",
                    [{"field": name, "message": message}],
                )
                return
        await self.app(scope, receive, send)
