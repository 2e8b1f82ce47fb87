"""Security headers on every answer of the web app and the API.

The Content-Security-Policy lets a page run scripts, load styles and images and post forms
only from this app itself: no inline script, no inline style, no framing by other sites. So
an HTML injection that slipped past escaping can neither run script nor send a form
elsewhere. The pages keep their styles and scripts in static files (`utskick/web/static`);
charts are inline SVG drawn with presentation attributes instead of style attributes.

Answers carry letters, addresses and identity numbers, so none of them may be kept by a
browser's disk cache or a proxy on the way: every answer but the packaged static files is
`Cache-Control: no-store` (an endpoint that sets its own Cache-Control keeps it).

HSTS tells the browser to use HTTPS only from now on; it is sent only on an answer that went
out over HTTPS (directly, or via a trusted proxy: see `utskick.web.proxy`), because over
plain HTTP it means nothing and on a test server it would lock the browser out.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# ReDoc styles its page with <style> elements it writes at run time (styled-components)
# and searches in a worker started from a blob; it runs no inline script either.
REDOC_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
REDOC_PATH = "/redoc"
HSTS = "max-age=31536000"
STATIC_PREFIX = "/static/"

_COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


def policy_for(path: str) -> str:
    """The Content-Security-Policy of the page at `path`."""
    return REDOC_POLICY if path == REDOC_PATH else CONTENT_SECURITY_POLICY


def security_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The headers every answer to this request carries (HSTS only over HTTPS)."""
    headers = [*_COMMON, (b"content-security-policy", policy_for(scope["path"]).encode())]
    if not scope["path"].startswith(STATIC_PREFIX):
        headers.append((b"cache-control", b"no-store"))
    if scope.get("scheme") == "https":  # as the trusted-proxy middleware set it
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


class SecurityHeaders:
    """Adds CSP, nosniff, Referrer-Policy, X-Frame-Options, no-store and (over HTTPS) HSTS.

    A header the endpoint set itself is left as it is.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the start of its answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                wanted = security_headers(scope)
                headers += [(name, value) for name, value in wanted if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
