"""Single sign-on: the municipality's login proxy names the person in a header.

In production a municipality puts its single-sign-on proxy (Shibboleth, an OIDC proxy, a
SAML gateway) in front of Utskick; the proxy logs the person in and names them in a header
(`UTSKICK_SSO_USER_HEADER`, e.g. `X-Remote-User`) on every request it passes on. The header
is believed only when the request's peer is one of `UTSKICK_TRUSTED_PROXIES` (anyone else
could send it), and the person it names must exist in Utskick (`utskick users add`) with the
organisation, department and role that decide what they see. The proxy must remove the
header from what browsers send; the peer check makes a header sent directly worthless.
"""

from __future__ import annotations

from fastapi import Request

from utskick.settings import Settings
from utskick.web.proxy import FROM_TRUSTED_PROXY


def sso_username(request: Request) -> str | None:
    """The username the trusted proxy's header names, or None (no proxy, no header, not set).

    A header sent twice with different names is not believed at all.
    """
    settings: Settings = request.app.state.settings
    if settings.sso_user_header is None:
        return None
    if not request.scope.get("state", {}).get(FROM_TRUSTED_PROXY):
        return None
    names = {value.strip().lower() for value in request.headers.getlist(settings.sso_user_header)}
    names.discard("")
    if len(names) != 1:
        return None
    return names.pop()
