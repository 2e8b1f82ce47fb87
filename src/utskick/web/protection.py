"""The protections every answer of the web app passes through, wired in one place.

From the outside in: the trusted-proxy middleware sets the scheme and client a proxy
vouches for; the security headers go on every answer (also a refusal); the CSRF guard
refuses forged state-changing requests before any endpoint runs. An unexpected error is
answered outside all of them (by Starlette's outermost error middleware), so its handler adds
the same headers itself and says in Swedish what to do, never what went wrong inside.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from utskick.settings import Settings
from utskick.web.csrf import CsrfGuard
from utskick.web.headers import SecurityHeaders, security_headers
from utskick.web.proxy import ForwardedHeaders, TrustedProxies


def include_protection(app: FastAPI) -> None:
    """Add the middlewares; call after every other middleware is added (they end up outside).

    The app's `state` must hold `settings` and the auth state (`include_auth`).
    """
    settings: Settings = app.state.settings
    app.add_exception_handler(Exception, unexpected_error)
    app.add_middleware(CsrfGuard)
    app.add_middleware(SecurityHeaders)
    # Added last, so outermost: everything inside sees the scheme and client it vouches for.
    app.add_middleware(ForwardedHeaders, proxies=TrustedProxies(settings.trusted_proxies))


UNEXPECTED_ERROR = (
    "ett oväntat fel inträffade; försök igen om en stund, och kontakta driften med tiden "
    "för anropet om felet kvarstår"
)
_log = logging.getLogger(__name__)


async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    """A 500 for an error no handler expected, with the security headers every answer has."""
    _log.error(
        "unexpected error in %s %s",
        request.method,
        request.url.path,
        exc_info=error,
        # Answered outside the request log's middleware: its id is in the request's state.
        extra={"request_id": getattr(request.state, "request_id", None)},
    )
    answer = JSONResponse({"detail": UNEXPECTED_ERROR}, status_code=500)
    for name, value in security_headers(request.scope):
        answer.headers[name.decode()] = value.decode()
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        answer.headers["X-Request-ID"] = request_id
    return answer
