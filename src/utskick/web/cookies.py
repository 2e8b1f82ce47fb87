"""The web app's cookies: their names, how they are signed, set and read.

Every cookie is signed with the session secret (`itsdangerous`), HttpOnly and SameSite=Lax,
and Secure whenever the request came over HTTPS: directly, or through a trusted proxy (the
proxy middleware has then already set the request's scheme to `https`).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "utskick_session"
CSRF_COOKIE = "utskick_csrf"
# A working day: after that the person logs in again.
SESSION_MAX_AGE_SECONDS = 8 * 3600
CSRF_MAX_AGE_SECONDS = 8 * 3600


def serializer(request: Request, purpose: str) -> URLSafeTimedSerializer:
    """The signer of one kind of cookie (a purpose of its own: one cookie is no other)."""
    secret: str = request.app.state.session_secret
    return URLSafeTimedSerializer(secret, salt=f"utskick-web-{purpose}")


def is_secure(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (so cookies must not travel over HTTP)."""
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, age: int) -> None:
    """Set a cookie the page's scripts cannot read and other sites' forms do not send."""
    response.set_cookie(
        name,
        value,
        max_age=age,
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
        path="/",
    )


def delete_cookie(request: Request, response: Response, name: str) -> None:
    """Tell the browser to forget a cookie."""
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=is_secure(request))


def read_signed(request: Request, cookie: str, purpose: str, max_age: int) -> Any:
    """The value of a signed cookie, or None if it is missing, forged or too old."""
    value = request.cookies.get(cookie)
    if not value:
        return None
    try:
        return serializer(request, purpose).loads(value, max_age=max_age)
    except BadSignature:  # also an expired signature
        return None
