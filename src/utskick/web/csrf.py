"""Protection against cross-site request forgery (CSRF) for everything a browser can reach.

A browser sends the session cookie with any request to this app, also one that another site
makes it send. So every state-changing request (any method but GET, HEAD, OPTIONS and TRACE)
that carries the session cookie must also carry the CSRF token: in the form field
`csrf_token` or in the header `X-CSRF-Token`. `CsrfGuard` checks this before any endpoint
runs, for every route, so a new route cannot forget it; a request without a matching token
is refused with 403 and a Swedish explanation.

The token of a logged-in person is derived from their session (an HMAC of the session token
under the session secret), so it lasts as long as the session and no other browser has it.
Before login, the token is the one in a signed cookie of its own (the login form uses it, so
that no other site can log a person in to an account of its choosing).

A person the single-sign-on proxy logs in (`utskick.web.single_sign_on`) has no cookie, but
the proxy adds its header to every request, forged ones too: their requests are checked the
same way, with a token bound to their username.

Not affected: requests with an API key (`Authorization: Bearer` or `X-API-Key`); another
site cannot make a browser add those headers (that takes a CORS preflight this app never
allows), and such requests are never authenticated by the cookie. HTTP Basic credentials a
browser has remembered are sent like cookies, so a Basic request that the browser marks as
coming from another site (`Sec-Fetch-Site`, or an `Origin` that is not ours) is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from utskick.web.cookies import (
    CSRF_COOKIE,
    CSRF_MAX_AGE_SECONDS,
    SESSION_COOKIE,
    read_signed,
    serializer,
    set_cookie,
)
from utskick.web.pages import WEB_TEMPLATES, page_templates
from utskick.web.sessions import cookie_token
from utskick.web.single_sign_on import sso_username

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# The forms of the pages are small; a larger form with a cookie but no token header is refused.
MAX_FORM_BYTES = 1024 * 1024

REFUSED_WITHOUT_CSRF = (
    "Begäran stoppades: den saknar en giltig CSRF-token och kan därför komma från en annan "
    "webbplats. Ladda om sidan och försök igen. Ett skript som använder inloggningskakan "
    "skickar token i huvudet X-CSRF-Token (eller loggar in med HTTP Basic eller API-nyckel)."
)
CROSS_SITE_BASIC = (
    "Begäran stoppades: HTTP Basic-uppgifter skickades från en annan webbplats. Gör ändringen "
    "från Utskicks egna sidor eller från ett skript."
)
FORM_TOO_LARGE = (
    "Formuläret är för stort för att kontrollera dess CSRF-token; skicka token i huvudet "
    "X-CSRF-Token."
)

_TEMPLATES = page_templates(WEB_TEMPLATES)


# --- tokens --------------------------------------------------------------------------------


def _session_bound_token(request: Request) -> str | None:
    """The token of the session the request's cookie names, or of the single-sign-on login.

    A person logged in by the single-sign-on proxy has no session cookie, but the proxy's
    header goes with every request a browser makes, also a forged one: their token is bound
    to their username instead. None without either.
    """
    token = cookie_token(request)
    if token is not None:
        material = b"utskick-csrf:" + token.encode()
    else:
        username = sso_username(request)
        if username is None:
            return None
        material = b"utskick-csrf-sso:" + username.encode()
    secret: str = request.app.state.session_secret
    digest = hmac.new(secret.encode(), material, hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode("ascii").rstrip("=")


def expected_csrf_token(request: Request) -> str | None:
    """The token a state-changing request of this browser must carry (None: none known yet)."""
    bound = _session_bound_token(request)
    if bound is not None:
        return bound
    token = read_signed(request, CSRF_COOKIE, "csrf", CSRF_MAX_AGE_SECONDS)
    return token if isinstance(token, str) else None


def issue_csrf_token(request: Request) -> str:
    """The CSRF token for the forms of this page; a new one is set as a cookie if needed."""
    token = expected_csrf_token(request)
    if token is not None:
        return token
    # The page's form and its header's logout form ask in one request: one new token for both.
    issued: str | None = getattr(request.state, "new_csrf_token", None)
    if issued is not None:
        return issued
    token = secrets.token_urlsafe(24)
    request.state.new_csrf_token = token
    return token


def csrf_valid(request: Request, submitted: str | None) -> bool:
    """Whether a submitted token is the one this browser's requests must carry."""
    expected = expected_csrf_token(request)
    if expected is None or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


def new_login_csrf_cookie(request: Request, response: Response) -> None:
    """A new pre-login token at login: a token planted before cannot be used afterwards."""
    value = serializer(request, "csrf").dumps(secrets.token_urlsafe(24))
    set_cookie(request, response, CSRF_COOKIE, value, CSRF_MAX_AGE_SECONDS)


# --- who is asking, and from where --------------------------------------------------------


def uses_api_key(request: Request) -> bool:
    """Whether the request presents an API key (Bearer or X-API-Key), never the cookie."""
    if request.headers.get("x-api-key"):
        return True
    scheme, _, _ = request.headers.get("authorization", "").partition(" ")
    return bool(scheme) and scheme.lower() != "basic"


def _uses_basic(request: Request) -> bool:
    scheme, _, _ = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "basic"


def _from_another_site(request: Request) -> bool:
    """Whether the browser says the request comes from a page of another site (or origin)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in {"cross-site", "same-site"}
    origin = request.headers.get("origin")
    if origin is None:
        return False  # not a browser (a script), or a browser too old to say
    own = urlsplit(str(request.base_url))
    theirs = urlsplit(origin)
    return (theirs.scheme, theirs.netloc) != (own.scheme, own.netloc)


# --- the guard -----------------------------------------------------------------------------


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if it is larger than a form may be."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; the endpoint will see the disconnect
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the endpoint the body already read, then the real channel."""
    pending = [body]

    async def replay() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replay


async def _form_token(scope: Scope, body: bytes) -> str | None:
    try:
        form = await Request(scope, _replaying(body, _never)).form()
    except HTTPException:  # a form that cannot be read carries no token
        return None
    try:
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    finally:
        await form.close()


async def _never() -> Message:
    return {"type": "http.disconnect"}


def _refusal(request: Request, status: int, message: str) -> Response:
    if "text/html" in request.headers.get("accept", "") and not request.url.path.startswith(
        "/api/"
    ):
        return _TEMPLATES.TemplateResponse(
            request, "forbidden.html", {"message": message}, status_code=status
        )
    return JSONResponse({"detail": message, "errors": []}, status_code=status)


class CsrfGuard:
    """Refuses a state-changing request made with a browser's credentials from another site.

    The credentials are the session cookie (then the CSRF token must come along) or Basic
    credentials the browser remembers (then the browser must not say the request is foreign).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check an unsafe request; pass it on (with its body intact) or refuse it."""
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal: Response | None = None
        if uses_api_key(request):
            pass
        elif _uses_basic(request):
            if _from_another_site(request):
                refusal = _refusal(request, 403, CROSS_SITE_BASIC)
        elif SESSION_COOKIE in request.cookies or sso_username(request) is not None:
            submitted = request.headers.get(CSRF_HEADER)
            content_type = request.headers.get("content-type", "").lower()
            if submitted is None and content_type.startswith(FORM_TYPES):
                body = await _read_body(receive)
                if body is None:
                    refusal = _refusal(request, 413, FORM_TOO_LARGE)
                else:
                    submitted = await _form_token(scope, body)
                    receive = _replaying(body, receive)
            if refusal is None and not csrf_valid(request, submitted):
                refusal = _refusal(request, 403, REFUSED_WITHOUT_CSRF)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


class NewCsrfCookie:
    """Sets the CSRF cookie on the answer of a page that issued a new token.

    A plain ASGI middleware: it only adds a header to the response's start, so streamed
    request and response bodies (the API's batches) pass through untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the cookie to the response if a token was issued."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The endpoint's `request.state` writes into this dict.
        state = scope.setdefault("state", {})

        async def send_with_cookie(message: Message) -> None:
            token = state.get("new_csrf_token")
            if message["type"] == "http.response.start" and token is not None:
                headers = MutableHeaders(scope=message)
                if not any(
                    cookie.startswith(f"{CSRF_COOKIE}=") for cookie in headers.getlist("set-cookie")
                ):
                    carrier = Response()
                    request = Request(scope)
                    value = serializer(request, "csrf").dumps(token)
                    set_cookie(request, carrier, CSRF_COOKIE, value, CSRF_MAX_AGE_SECONDS)
                    headers.append("set-cookie", carrier.headers["set-cookie"])
            await send(message)

        await self.app(scope, receive, send_with_cookie)
