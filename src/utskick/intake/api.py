"""The REST API at `/api/v1`: hand letters over, follow them, ask which channel they would take.

`include_intake_api` mounts the routes, split by concern: the letters (`letter_routes`), the
batches (`batch_routes`), the print files (`printfile_routes`) and the precheck
(`precheck_routes`), with what they share in `api_common`. Endpoints that touch the database
are plain `def` functions, so they run in the thread pool; the batch endpoint streams its body
in the event loop and hands each chunk of lines to the thread pool, and the print-file
endpoint takes its file there. Errors are answered in Swedish, in one shape, here.

Bodies have a ceiling by path (`_BodyLimits`): a JSON body 4 MB, a print file with its control
file `printfile_routes.MAX_UPLOAD_BYTES`, counted as it streams; a batch none of its own (each
line has one).
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from utskick.db.engine import session_factory
from utskick.intake import (
    batch_routes,
    event_routes,
    letter_routes,
    precheck_routes,
    printfile_routes,
)
from utskick.intake.api_common import API_PREFIX, ApiError
from utskick.letters.address_screen import ProtectedIdentityLookup
from utskick.switch.precheck import Precheck
from utskick.web.errors import swedish_validation_error
from utskick.web.json_guard import StrictJsonBodies
from utskick.web.limits import MAX_JSON_BODY_BYTES, BodySizeLimit
from utskick.web.query_guard import SingleQueryValues


def include_intake_api(
    app: FastAPI,
    *,
    precheck: Callable[[], Precheck],
    protection: Callable[[], ProtectedIdentityLookup | None],
) -> None:
    """Mount the API on an app whose `state` holds `engine` and `settings`.

    Args:
        app: the app.
        precheck: the process's precheck (its FaR client and cache are shared); raises
            `FarUnavailableError` when FaR cannot be asked.
        protection: the population register as the intake asks it, or None when no register
            can be asked (an address given is then refused rather than stored).
    """
    app.state.sessions = session_factory(app.state.engine)
    app.state.intake_precheck = precheck
    app.state.intake_protection = protection
    for routes in (letter_routes, batch_routes, printfile_routes, precheck_routes, event_routes):
        app.include_router(routes.router)
    # Added first, so that it runs inside the size limit: it reads bodies already bounded.
    app.add_middleware(StrictJsonBodies, prefix=API_PREFIX, exempt=f"{API_PREFIX}/batches")
    app.add_middleware(_BodyLimits)
    app.add_middleware(SingleQueryValues, prefix=API_PREFIX)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, swedish_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


class _BodyLimits:
    """ASGI middleware: each path's ceiling on its body (see the module text)."""

    def __init__(self, app: ASGIApp) -> None:
        self.json_bodies = BodySizeLimit(
            app, prefix=API_PREFIX, exempt=f"{API_PREFIX}/batches", limit=MAX_JSON_BODY_BYTES
        )
        self.print_files = printfile_routes.PrintFileBodyLimit(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request to the limit of its path."""
        if scope.get("path", "").startswith(printfile_routes.PRINTFILES_PATH):
            await self.print_files(scope, receive, send)
        else:
            await self.json_bodies(scope, receive, send)


async def _api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    extra = {} if error.letter_id is None else {"letter_id": error.letter_id}
    return JSONResponse(
        {"detail": error.detail, "errors": error.errors, **extra},
        status_code=error.status_code,
        headers=error.headers,
    )


# FastAPI's own phrase when it cannot decode a body at all.
_UNPARSEABLE_BODY = "There was an error parsing the body"
_HTTP_MESSAGES = {
    400: "anropets innehåll kan inte läsas; skicka giltig JSON i UTF-8",
    404: "adressen finns inte i API:t; se /docs",
    405: "metoden stöds inte för denna adress; se /docs",
}


async def _http_error(request: Request, error: Exception) -> Response:
    """Errors raised by the framework itself, in Swedish on the API's paths."""
    assert isinstance(error, StarletteHTTPException)
    if not request.url.path.startswith(API_PREFIX):
        return await http_exception_handler(request, error)
    # Only the framework's own English phrase is replaced; a message an endpoint wrote stays.
    framework_phrase = error.detail in (HTTPStatus(error.status_code).phrase, _UNPARSEABLE_BODY)
    detail = (
        _HTTP_MESSAGES.get(error.status_code, str(error.detail))
        if framework_phrase
        else str(error.detail)
    )
    headers = dict(getattr(error, "headers", None) or {})
    if error.status_code == 405:  # noqa: PLR2004
        # Name every method of the path, not only those of the one route that matched.
        headers["Allow"] = ", ".join(_methods_of(request))
    return JSONResponse(
        {"detail": detail, "errors": []}, status_code=error.status_code, headers=headers
    )


def _methods_of(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(request.url.path):
            methods |= route.methods or set()
    return sorted(methods)
