"""Believing a TLS-terminating proxy about the scheme and the client, and nobody else.

Behind a proxy that ends TLS, the app sees plain HTTP from the proxy's address. The proxy
says what the browser used and who the browser is, in `X-Forwarded-Proto` and
`X-Forwarded-For` or in RFC 7239's `Forwarded` (`for=…;proto=…`). Anyone can send those
headers, so they are believed only when the peer is one of `UTSKICK_TRUSTED_PROXIES`; then the
request's scheme and client address are set from them, and everything after (Secure cookies,
HSTS, the login throttle's address key, the access log, who may read /metrics) sees the
browser's view. From any other peer the headers are ignored.

When a trusted proxy's word leaves the client open, the client is `unknown` (RFC 7239's word
for it), never the proxy's own address: a proxy on the same machine would otherwise make every
outside request look like one from loopback. That is so when the proxy names no client but
shows it passed the request on (`Via`, `X-Real-IP`, `X-Forwarded-Proto`, …), when it names a
client that is no address (`for=unknown`, an obfuscated `for=_hidden`), and when
`X-Forwarded-For` and `Forwarded` name different clients (one was made up before the proxy).

`utskick serve` turns off uvicorn's own handling of these headers (which by default trusts
127.0.0.1), so that this setting alone decides.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The request state's flag for a request whose peer is a trusted proxy.
FROM_TRUSTED_PROXY = "from_trusted_proxy"
# The client of a request whose proxy did not say (or not clearly) who sent it.
UNKNOWN_CLIENT = "unknown"
# Headers that proxies (and load balancers, CDNs) add to a request they pass on; a browser
# talking straight to the app sends none of them.
PROXY_HEADERS = frozenset(
    {
        *("forwarded", "via", "x-real-ip", "x-client-ip", "x-cluster-client-ip"),
        *("x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port"),
        *("x-forwarded-server", "x-forwarded-prefix", "x-forwarded-scheme", "x-forwarded-ssl"),
        *("x-original-forwarded-for", "forwarded-for", "client-ip", "true-client-ip"),
        *("cf-connecting-ip", "fastly-client-ip", "x-proxyuser-ip"),
    }
)

# One `name=value` pair of a Forwarded element; the value a token or a quoted string.
_FORWARDED_PAIR = re.compile(r'\s*([^\s=;,"]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;,"]*)\s*([;,]|$)')
_QUOTED_CHARACTER = re.compile(r"\\(.)")
# RFC 7239's obfuscated identifier: a proxy's stable name for a client it will not reveal.
_OBFUSCATED_NODE = re.compile(r"_[A-Za-z0-9._-]{1,64}")


def passed_on_by_proxy(header_names: Iterable[str]) -> bool:
    """Whether a request with these headers was passed on by a proxy (`PROXY_HEADERS`)."""
    return any(name.lower() in PROXY_HEADERS for name in header_names)


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


def node_address(node: str | None) -> str:
    """The client address a proxy names (`1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]:80`, …).

    `unknown` for anything that is no address: a missing node, RFC 7239's `unknown`, garbage.
    An obfuscated identifier (`_hidden`) is kept as it is; it is no address either.
    """
    node = (node or "").strip()
    if _OBFUSCATED_NODE.fullmatch(node):
        return node
    if node.startswith("["):  # IPv6 in brackets, perhaps with a port after
        inside, closed, _ = node[1:].partition("]")
        node = inside if closed else ""
    elif node.count(":") == 1:  # IPv4 with a port
        node = node.partition(":")[0]
    try:
        return str(ipaddress.ip_address(node))
    except ValueError:
        return UNKNOWN_CLIENT


def forwarded_elements(value: str) -> list[dict[str, str]]:
    """The elements of a `Forwarded` header (RFC 7239), each its parameters by lower-case name.

    An element that cannot be read is kept as an empty one (a hop whose client is unknown),
    from the next comma on the reading goes on.
    """
    elements: list[dict[str, str]] = []
    current: dict[str, str] = {}
    position = 0
    while position < len(value):
        if value[position] in ", \t":  # list syntax allows empty elements and spaces
            if value[position] == "," and current:
                elements.append(current)
                current = {}
            position += 1
            continue
        found = _FORWARDED_PAIR.match(value, position)
        name = found[1].lower() if found else ""
        if found is None or name in current:  # unreadable, or a parameter given twice
            elements.append({})
            current = {}
            comma = value.find(",", position)
            position = len(value) if comma < 0 else comma + 1
            continue
        raw = found[2]
        current[name] = _QUOTED_CHARACTER.sub(r"\1", raw[1:-1]) if raw.startswith('"') else raw
        position = found.end()
        if found[3] == ",":
            elements.append(current)
            current = {}
    if current:
        elements.append(current)
    return elements


def _nearest_untrusted(hops: list[str], proxies: TrustedProxies) -> str | None:
    """The browser's address: the nearest hop that is not itself a trusted proxy."""
    for hop in reversed(hops):
        if not proxies.trusts(hop):
            return hop
    return hops[0] if hops else None


def _joined(headers: Headers, name: str) -> str:
    """Every line of a header, in the order received, as one comma-separated value."""
    return ",".join(headers.getlist(name))


def forwarded_client(headers: Headers, proxies: TrustedProxies) -> str | None:
    """The client a trusted proxy names; None when the request shows no proxy at all.

    Read from `X-Forwarded-For` and `Forwarded`; `UNKNOWN_CLIENT` when they disagree, or when
    the request carries only other signs of a proxy (it passed the request on unnamed).
    """
    listed = [hop for hop in _joined(headers, "x-forwarded-for").split(",") if hop.strip()]
    elements = forwarded_elements(_joined(headers, "forwarded"))
    named = {
        client
        for client in (
            _nearest_untrusted([node_address(hop) for hop in listed], proxies),
            _nearest_untrusted([node_address(e.get("for")) for e in elements], proxies),
        )
        if client is not None
    }
    if len(named) == 1:
        return named.pop()
    if named or passed_on_by_proxy(headers.keys()):
        return UNKNOWN_CLIENT
    return None


def forwarded_scheme(headers: Headers) -> str | None:
    """`http` or `https` as the nearest proxy says (X-Forwarded-Proto, else Forwarded)."""
    # With several proxies, the nearest (trusted) one's word is the last value. A proxy may
    # add its own header line rather than append to the one the browser sent (HAProxy does):
    # every line counts, in order.
    proto = _joined(headers, "x-forwarded-proto").split(",")[-1].strip().lower()
    if not proto:
        elements = forwarded_elements(_joined(headers, "forwarded"))
        proto = elements[-1].get("proto", "").strip().lower() if elements else ""
    return proto if proto in {"http", "https"} else None


class ForwardedHeaders:
    """Sets the request's scheme and client from a trusted proxy's forwarding headers."""

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
                proto = forwarded_scheme(headers)
                if proto is not None:
                    secure = proto == "https"
                    if scope["type"] == "websocket":
                        scope["scheme"] = "wss" if secure else "ws"
                    else:
                        scope["scheme"] = proto
                client = forwarded_client(headers, self.proxies)
                if client is not None:
                    scope["client"] = (client, 0)
        await self.app(scope, receive, send)
