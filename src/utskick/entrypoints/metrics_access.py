"""Who may read /metrics: a listed network without a token, anyone else only with the token.

A client in `UTSKICK_METRICS_NETWORKS` (loopback by default) reads without a token; anyone else
only with `Authorization: Bearer <UTSKICK_METRICS_TOKEN>`, compared in constant time. With no
token set, everyone else gets 403; with one, a missing or wrong token gets 401. The client is
the connection's peer, or, behind a proxy in `UTSKICK_TRUSTED_PROXIES`, the client that proxy
names in X-Forwarded-For or Forwarded (`utskick.web.proxy` has put it in the request by then;
`unknown` when the proxy leaves it open). A request that another, untrusted proxy passed on
gets no network's leave: its peer address is the proxy's, and a proxy on the same machine would
make every outside request look like loopback. Such a request is known by any header a proxy
adds (`utskick.web.proxy.PROXY_HEADERS`): X-Forwarded-For and Forwarded, but also X-Real-IP
(nginx's usual setting), Via (which RFC 9110 asks every proxy to add), X-Forwarded-Host,
X-Forwarded-Proto and their kin.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import SecretStr

from utskick.settings import Settings
from utskick.web.proxy import UNKNOWN_CLIENT, passed_on_by_proxy

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Refusal:
    """Why a request for /metrics is refused: the status and a Swedish explanation."""

    status: int
    message: str


class MetricsAccess:
    """Who may read /metrics: a client in one of the networks, or anyone with the token."""

    def __init__(self, token: SecretStr | None, networks: Iterable[str]) -> None:
        secret = token.get_secret_value() if token is not None else ""
        # An empty token is no token: "Bearer " with nothing after it must not open the door.
        self._token_digest = _digest(secret) if secret else None
        self._networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(network, strict=False) for network in networks
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> MetricsAccess:
        """The access the settings give (`metrics_token`, `metrics_networks`)."""
        return cls(settings.metrics_token, settings.metrics_networks)

    def refusal(
        self, client: str | None, authorization: str | None, *, forwarded_by_unknown: bool = False
    ) -> Refusal | None:
        """None when the request may read /metrics, else why not.

        Args:
            client: the client's address (the peer, or what a trusted proxy says it is).
            authorization: the Authorization header, if any.
            forwarded_by_unknown: an untrusted proxy passed the request on, so `client` is
                the proxy and no network's leave applies.
        """
        if not forwarded_by_unknown and self._in_networks(client):
            return None
        where = client or "okänd adress"
        network_advice = "lägg till nätverket i UTSKICK_METRICS_NETWORKS"
        if client == UNKNOWN_CLIENT:  # a trusted proxy did not say (clearly) who the client is
            where = "okänd adress"
            network_advice = "låt proxyn ange klienten (X-Forwarded-For eller Forwarded)"
        if self._token_digest is None and forwarded_by_unknown:
            return Refusal(
                403,
                f"/metrics nåddes genom en proxy ({where}) som inte finns i "
                "UTSKICK_TRUSTED_PROXIES; lägg in proxyn där eller sätt UTSKICK_METRICS_TOKEN "
                "och skicka den som Authorization: Bearer <token>",
            )
        if self._token_digest is None:
            return Refusal(
                403,
                f"/metrics får inte läsas från {where}; {network_advice} eller sätt "
                "UTSKICK_METRICS_TOKEN och skicka den som Authorization: Bearer <token>",
            )
        presented = _bearer(authorization)
        if presented is None:
            return Refusal(
                401,
                f"/metrics kräver en token från {where}; skicka Authorization: Bearer <token> "
                "med värdet i UTSKICK_METRICS_TOKEN",
            )
        if not hmac.compare_digest(_digest(presented), self._token_digest):
            return Refusal(
                401,
                "fel token för /metrics; använd värdet i UTSKICK_METRICS_TOKEN "
                "(Authorization: Bearer <token>)",
            )
        return None

    def _in_networks(self, client: str | None) -> bool:
        if not client:
            return False
        try:
            address = ipaddress.ip_address(client.strip().strip("[]"))
        except ValueError:
            return False  # not an address (a Unix socket, a test client's name)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)


def _digest(token: str) -> bytes:
    # Compared as digests of equal length, so that the time taken says nothing of the token.
    return hashlib.sha256(token.encode("utf-8")).digest()


def _bearer(authorization: str | None) -> str | None:
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def forwarded(header_names: Iterable[str]) -> bool:
    """Whether a proxy passed the request on: it carries a header that proxies add.

    Not only the headers that name the client: a local proxy set up to send just X-Real-IP,
    Via or X-Forwarded-Proto passes outside requests on from loopback all the same.
    """
    return passed_on_by_proxy(header_names)


def refusal_answer(refusal: Refusal) -> tuple[int, dict[str, str], bytes]:
    """A refusal as the status, headers and JSON body both servers send."""
    headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
    if refusal.status == 401:  # noqa: PLR2004 (HTTP's Unauthorized asks for credentials)
        headers["WWW-Authenticate"] = 'Bearer realm="utskick-metrics"'
    body = json.dumps({"detail": refusal.message}, ensure_ascii=False).encode("utf-8")
    return refusal.status, headers, body
