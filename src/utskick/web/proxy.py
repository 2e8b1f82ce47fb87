"""Believing a TLS-terminating proxy about the scheme and the client, and nobody else.

Behind a proxy that ends TLS, the app sees plain HTTP from the proxy's address. The proxy
says what the browser used in `X-Forwarded-Proto` and who the browser is in
`X-Forwarded-For`. Anyone can send those headers, so they are believed only when the peer
is one of `UTSKICK_TRUSTED_PROXIES`; then the request's scheme and client address are set
from them, and everything after (Secure cookies, HSTS, the login throttle's address key)
sees the browser's view. From any other peer the headers are ignored.

`utskick serve` turns off uvicorn's own handling of these headers (which by default trusts
127.0.0.1), so that this setting alone decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The request state's flag for a request whose peer is a trusted proxy.
FROM_TRUSTED_PROXY = "from_trusted_proxy"


class TrustedProxies:
    """The addresses and networks whose forwarding headers are believed."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in entries
        )

    def trusts(self, host: str | None) -> bool:
        """Whether `host` (an address as the server saw it) is a trusted proxy."""
        if not host or not self.networks:
            return False
        try:
            address = ipaddress.ip_address(host.strip().strip("[]"))
        except ValueError:
            return False  # not an address (a Unix socket, a test client's name)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


def _client_from(forwarded_for: str, proxies: TrustedProxies) -> str | None:
    """The browser's address: the nearest hop that is not itself a trusted proxy."""
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not proxies.trusts(hop):
            return hop
    return hops[0] if hops else None


def _joined(headers: Headers, name: str) -> str:
    """Every line of a header, in the order received, as one comma-separated value."""
    return ",".join(headers.getlist(name))


class ForwardedHeaders:
    """Sets the request's scheme and client from a trusted proxy's X-Forwarded-* headers."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rewrite the scope if the peer is trusted; pass the request on either way."""
        if scope["type"] in {"http", "websocket"}:
            peer = scope.get("client")
            if peer and self.proxies.trusts(peer[0]):
                # The single-sign-on header is believed only on a request the proxy passed on.
                scope.setdefault("state", {})[FROM_TRUSTED_PROXY] = True
                headers = Headers(scope=scope)
                # With several proxies, the nearest (trusted) one's word is the last value.
                # A proxy may add its own header line rather than append to the one the
                # browser sent (HAProxy does): every line counts, in order.
                proto = _joined(headers, "x-forwarded-proto").split(",")[-1].strip().lower()
                if proto in {"http", "https"}:
                    secure = proto == "https"
                    if scope["type"] == "websocket":
                        scope["scheme"] = "wss" if secure else "ws"
                    else:
                        scope["scheme"] = proto
                client = _client_from(_joined(headers, "x-forwarded-for"), self.proxies)
                if client is not None:
                    scope["client"] = (client, 0)
        await self.app(scope, receive, send)
