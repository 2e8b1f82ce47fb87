"""The protections every answer of the web app passes through, wired in one place.

From the outside in: the trusted-proxy middleware sets the scheme and client a proxy
vouches for; the security headers go on every answer (also a refusal); the CSRF guard
refuses forged state-changing requests before any endpoint runs.
"""

from __future__ import annotations

from fastapi import FastAPI

from utskick.settings import Settings
from utskick.web.csrf import CsrfGuard
from utskick.web.headers import SecurityHeaders
from utskick.web.proxy import ForwardedHeaders, TrustedProxies


def include_protection(app: FastAPI) -> None:
    """Add the middlewares; call after every other middleware is added (they end up outside).

    The app's `state` must hold `settings` and the auth state (`include_auth`).
    """
    settings: Settings = app.state.settings
    app.add_middleware(CsrfGuard)
    app.add_middleware(SecurityHeaders)
    # Added last, so outermost: everything inside sees the scheme and client it vouches for.
    app.add_middleware(ForwardedHeaders, proxies=TrustedProxies(settings.trusted_proxies))
