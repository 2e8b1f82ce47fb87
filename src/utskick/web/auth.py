"""Logging in to the web app: sessions, CSRF tokens, throttling and role checks.

A person logs in at `/logga-in` with username and password and gets a session cookie signed
with the session secret (HttpOnly, SameSite=Lax, Secure over https) that names a session kept
in the database (`utskick.web.sessions`); logging out deletes it, so the cookie is worth
nothing afterwards. Scripts send HTTP Basic credentials instead. Every state-changing request
that carries the cookie must carry the CSRF token too (`utskick.web.csrf` checks it for every
route), so another site cannot act on the user's behalf. After a few failed attempts for one
username (or from one address) further attempts wait a short while.

Pages and endpoints ask for a person with `require_role(...)`: an HTML page redirects a
visitor who is not logged in to `/logga-in`; a JSON endpoint answers 401 with a Basic
challenge; a person whose role does not give access gets 403 with a Swedish explanation.
"""

from __future__ import annotations

import base64
import binascii
import collections
import functools
import math
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy.orm import Session, sessionmaker

from utskick.db.engine import session_factory
from utskick.mm.private_files import write_private_file
from utskick.settings import Settings
from utskick.web.cookies import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_SECONDS,
    delete_cookie,
    serializer,
    set_cookie,
)
from utskick.web.csrf import (
    CSRF_FIELD,
    NewCsrfCookie,
    csrf_valid,
    issue_csrf_token,
    new_login_csrf_cookie,
    uses_api_key,
)
from utskick.web.errors import ErrorResponse
from utskick.web.menu import NoScopeError, menu_for
from utskick.web.pages import page_templates
from utskick.web.sessions import SessionStore, cookie_token
from utskick.web.single_sign_on import sso_username
from utskick.web.users import (
    ROLE_NAMES,
    UserRepository,
    WebUser,
    hash_password,
    verify_password,
)

LOGIN_PATH = "/logga-in"
LOGOUT_PATH = "/logga-ut"
SESSION_SECRET_FILE = "session-secret"  # noqa: S105 (a file name, not the secret)
BASIC_REALM = 'Basic realm="Utskick", charset="UTF-8"'

# Throttling: so many failures within the window lock the key for the wait.
FAILURES_PER_USERNAME = 5
FAILURES_PER_ADDRESS = 20
FAILURE_WINDOW_SECONDS = 15 * 60
LOCKOUT_SECONDS = 60

TEMPLATES = page_templates(Path(__file__).with_name("templates"))

# The answers every JSON endpoint for logged-in people may give besides its own (OpenAPI).
USER_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Inte inloggad: logga in, eller använd HTTP Basic med användarnamn."},
    403: {"description": "Rollen eller förvaltningen ger inte tillgång."},
    422: {"model": ErrorResponse, "description": "Felaktig indata; varje fel fält är namngivet."},
    429: {"description": "För många misslyckade inloggningar; vänta och försök igen."},
}


@functools.cache
def _dummy_hash() -> str:
    """A hash to check when the username is unknown.

    A wrong username then takes as long as a wrong password, and the answer time tells
    nobody which usernames exist.
    """
    return hash_password(secrets.token_urlsafe(16))


class LoginRequiredError(Exception):
    """No one is logged in (or the session has expired)."""

    def __init__(self, message: str = "logga in för att fortsätta") -> None:
        super().__init__(message)
        self.message = message


class LoginThrottledError(Exception):
    """Too many failed logins; the caller must wait `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; retry after {retry_after} s")
        self.retry_after = retry_after

    @property
    def message(self) -> str:
        """The Swedish explanation with the wait."""
        return (
            f"för många misslyckade inloggningar; vänta {self.retry_after} sekunder och försök igen"
        )


class RoleForbiddenError(Exception):
    """The person is logged in, but their role does not give access."""

    def __init__(self, user: WebUser, roles: tuple[str, ...]) -> None:
        self.user = user
        allowed = " eller ".join(ROLE_NAMES[role] for role in roles)
        self.message = (
            f"Du är inloggad som {user.display_name} med rollen {user.role_name}. "
            f"Den här sidan kräver rollen {allowed}; be en administratör om behörighet."
        )
        super().__init__(self.message)


class UnknownPersonError(Exception):
    """The single-sign-on proxy names a person who is not (or no longer) an Utskick user."""

    def __init__(self, username: str) -> None:
        self.message = (
            f"Du är inloggad i kommunens inloggningstjänst som {username}, men det finns ingen "
            "aktiv användare med det namnet i Utskick. Be en administratör lägga upp dig med "
            "organisation, förvaltning och roll (utskick users add)."
        )
        super().__init__(self.message)


class LoginThrottle:
    """Counts failed logins per key (username, client address) and locks a key for a while.

    The counts live in the process's memory: with several web processes each counts its own.

    Args:
        clock: seconds from a monotonic clock (tests hand in their own).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, collections.deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def wait_seconds(self, keys: dict[str, int]) -> int:
        """Seconds to wait before any of these keys may try again (0: may try now)."""
        now = self._clock()
        with self._lock:
            waits = [self._locked_until.get(key, 0.0) - now for key in keys]
        longest = max(waits, default=0.0)
        return math.ceil(longest) if longest > 0 else 0

    def failed(self, keys: dict[str, int]) -> None:
        """Count a failure for each key; a key reaching its limit is locked."""
        now = self._clock()
        with self._lock:
            for key, limit in keys.items():
                failures = self._failures.setdefault(key, collections.deque())
                failures.append(now)
                while failures and failures[0] < now - FAILURE_WINDOW_SECONDS:
                    failures.popleft()
                if len(failures) >= limit:
                    self._locked_until[key] = now + LOCKOUT_SECONDS
                    failures.clear()

    def succeeded(self, key: str) -> None:
        """Forget the failures of a key (the person got the password right)."""
        with self._lock:
            self._failures.pop(key, None)
            self._locked_until.pop(key, None)


# --- secrets and cookies ---------------------------------------------------------------------


def session_secret(settings: Settings) -> str:
    """The key that signs cookies: the setting, or one generated once under the home folder."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value()
    path = settings.home / SESSION_SECRET_FILE
    try:
        stored = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        stored = ""
    if not stored:
        stored = secrets.token_urlsafe(32)
        write_private_file(path, (stored + "\n").encode("utf-8"))
    return stored


# --- who is asking -------------------------------------------------------------------------


def _sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.auth_sessions
    return sessions


def _throttle_keys(request: Request, username: str) -> dict[str, int]:
    address = request.client.host if request.client else "okänd"
    return {
        f"user:{username.strip().lower()}": FAILURES_PER_USERNAME,
        f"address:{address}": FAILURES_PER_ADDRESS,
    }


def check_password(request: Request, username: str, password: str) -> WebUser | None:
    """The active user with this username and password, or None; failures are counted.

    Raises:
        LoginThrottledError: too many recent failures for the username or the address.
    """
    throttle: LoginThrottle = request.app.state.login_throttle
    keys = _throttle_keys(request, username)
    wait = throttle.wait_seconds(keys)
    if wait:
        raise LoginThrottledError(wait)
    with _sessions(request)() as session:
        user = UserRepository(session).by_username(username) if username.strip() else None
        matches = verify_password(password, user.password_hash if user else _dummy_hash())
    if user is None or not matches or not user.active:
        throttle.failed(keys)
        return None
    throttle.succeeded(next(iter(keys)))
    return user


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise LoginRequiredError(
            "Basic-uppgifterna kan inte läsas; skicka användarnamn:lösenord i base64 (UTF-8)"
        ) from None
    username, separator, password = decoded.partition(":")
    if not separator:
        raise LoginRequiredError("Basic-uppgifterna saknar ':' mellan användarnamn och lösenord")
    return username, password


def _session_store(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.web_sessions
    return store


def _session_user(request: Request) -> WebUser | None:
    # An API key is never a person's login, and a request with one is not checked for a
    # CSRF token: the cookie must not log it in.
    if uses_api_key(request):
        return None
    token = cookie_token(request)
    return _session_store(request).user(token) if token is not None else None


def _single_sign_on_user(request: Request, username: str) -> WebUser:
    with _sessions(request)() as session:
        user = UserRepository(session).by_username(username)
    if user is None or not user.active:
        raise UnknownPersonError(username)
    return user


def current_user(request: Request) -> WebUser | None:
    """The person making the request, by Basic credentials, single sign-on or cookie, or None.

    Raises:
        LoginRequiredError: Basic credentials were sent but are wrong.
        LoginThrottledError: Basic credentials were sent while the username is locked.
        UnknownPersonError: the single-sign-on proxy names a person Utskick does not know.
    """
    credentials = _basic_credentials(request)
    if credentials is not None:
        user = check_password(request, *credentials)
        if user is None:
            raise LoginRequiredError("fel användarnamn eller lösenord")
        return user
    if not uses_api_key(request):
        username = sso_username(request)
        if username is not None:
            return _single_sign_on_user(request, username)
    return _session_user(request)


def optional_user(request: Request) -> WebUser | None:
    """The person making the request, or None: for pages anyone may open (start, /nytta)."""
    try:
        return current_user(request)
    except (LoginRequiredError, LoginThrottledError, UnknownPersonError):
        return None


def require_role(*roles: str) -> Callable[[Request], WebUser]:
    """A dependency that returns the logged-in person if their role is one of `roles`.

    Raises (from the dependency):
        LoginRequiredError: no one is logged in; pages redirect, JSON answers 401.
        RoleForbiddenError: the role does not give access (403).
    """
    unknown = [role for role in roles if role not in ROLE_NAMES]
    if unknown or not roles:
        raise ValueError(f"unknown roles: {unknown or 'none given'}")

    def logged_in_with_role(request: Request) -> WebUser:
        user = current_user(request)
        if user is None:
            raise LoginRequiredError
        if user.role not in roles:
            raise RoleForbiddenError(user, roles)
        return user

    return logged_in_with_role


# --- answers -------------------------------------------------------------------------------


def wants_html(request: Request) -> bool:
    """Whether the request comes from a browser page rather than a script or API client."""
    if request.url.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "")


def _error_json(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message, "errors": []}, status_code=status, headers=headers)


def safe_next(target: str | None) -> str:
    """A local path to return to after login; anything else (another site) becomes `/`."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target:
        return "/"
    return target


async def _login_required(request: Request, error: Exception) -> Response:
    assert isinstance(error, LoginRequiredError)
    if wants_html(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303)
    return _error_json(401, error.message, {"WWW-Authenticate": BASIC_REALM})


async def _throttled(request: Request, error: Exception) -> Response:
    assert isinstance(error, LoginThrottledError)
    headers = {"Retry-After": str(error.retry_after)}
    if wants_html(request):
        return _login_page(request, error=error.message, status=429, headers=headers)
    return _error_json(429, error.message, headers)


async def _forbidden(request: Request, error: Exception) -> Response:
    assert isinstance(error, RoleForbiddenError | UnknownPersonError | NoScopeError)
    if wants_html(request):
        return TEMPLATES.TemplateResponse(
            request,
            "forbidden.html",
            {
                "message": error.message,
                "user": getattr(error, "user", None),
                "csrf_token": issue_csrf_token(request),
            },
            status_code=403,
        )
    return _error_json(403, error.message)


def layout_context(request: Request, user: WebUser | None) -> dict[str, Any]:
    """What the layout's header shows: who is logged in, how, and the menu of their role.

    A page anyone may open (the start page, /nytta) names no user; the person is looked up.
    """
    if user is None:
        user = optional_user(request)
    organisation = None
    if user is not None and user.organisation_number:
        names: Callable[[], dict[str, str]] | None = getattr(
            request.app.state, "organisation_names", None
        )
        known = names() if names is not None else {}
        organisation = known.get(user.organisation_number, user.organisation_number)
    return {
        "user": user,
        "organisation": organisation,
        "menu": menu_for(user),
        "single_sign_on": user is not None and sso_username(request) is not None,
        "csrf_token": issue_csrf_token(request),
        "current_path": request.url.path,
    }


def _login_page(
    request: Request,
    *,
    error: str | None = None,
    username: str = "",
    next_path: str = "/",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(
        request,
        "login.html",
        {
            "error": error,
            "username": username,
            "next_path": safe_next(next_path),
            "csrf_token": issue_csrf_token(request),
            "csrf_field": CSRF_FIELD,
        },
        status_code=status,
        headers=headers,
    )


def _start_session(request: Request, response: Response, user: WebUser) -> None:
    earlier = cookie_token(request)
    if earlier is not None:  # logging in again replaces this browser's earlier session
        _session_store(request).end(earlier)
    token = _session_store(request).start(user)
    value = serializer(request, "session").dumps({"s": token})
    set_cookie(request, response, SESSION_COOKIE, value, SESSION_MAX_AGE_SECONDS)
    new_login_csrf_cookie(request, response)


# --- wiring --------------------------------------------------------------------------------


def include_auth(app: FastAPI) -> None:
    """Add login and logout, the session secret and the error answers to an app.

    The app's `state` must hold `engine` and `settings` (as `create_app` sets them).
    """
    settings: Settings = app.state.settings
    app.state.session_secret = session_secret(settings)
    app.state.auth_sessions = session_factory(app.state.engine)
    app.state.web_sessions = SessionStore(app.state.auth_sessions)
    app.state.login_throttle = LoginThrottle()
    app.add_exception_handler(LoginRequiredError, _login_required)
    app.add_exception_handler(LoginThrottledError, _throttled)
    app.add_exception_handler(RoleForbiddenError, _forbidden)
    app.add_exception_handler(UnknownPersonError, _forbidden)
    app.add_exception_handler(NoScopeError, _forbidden)
    app.state.layout_context = layout_context

    app.add_middleware(NewCsrfCookie)

    @app.get(LOGIN_PATH, response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> HTMLResponse:  # noqa: A002
        return _login_page(request, next_path=next)

    @app.post(LOGIN_PATH, response_class=HTMLResponse, include_in_schema=False)
    def login(
        request: Request,
        username: Annotated[str, Form(max_length=200)] = "",
        password: Annotated[str, Form(max_length=1024)] = "",
        csrf_token: Annotated[str, Form(max_length=200)] = "",
        next: Annotated[str, Form(max_length=2000)] = "/",  # noqa: A002
    ) -> Response:
        if not csrf_valid(request, csrf_token):
            return _login_page(
                request,
                error="formuläret har gått ut; ladda om sidan och logga in igen",
                username=username,
                next_path=next,
                status=403,
            )
        try:
            user = check_password(request, username, password)
        except LoginThrottledError as error:
            return _login_page(
                request,
                error=error.message,
                username=username,
                next_path=next,
                status=429,
                headers={"Retry-After": str(error.retry_after)},
            )
        if user is None:
            return _login_page(
                request,
                error="fel användarnamn eller lösenord",
                username=username,
                next_path=next,
                status=401,
            )
        response = RedirectResponse(safe_next(next), status_code=303)
        _start_session(request, response, user)
        return response

    @app.post(LOGOUT_PATH, include_in_schema=False)
    def logout(request: Request, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
        if not csrf_valid(request, csrf_token):
            return _login_page(
                request,
                error="formuläret har gått ut; ladda om sidan och logga ut igen",
                status=403,
            )
        token = cookie_token(request)
        if token is not None:
            _session_store(request).end(token)
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        delete_cookie(request, response, SESSION_COOKIE)
        return response
