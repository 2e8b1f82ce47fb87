"""The mailbox operator port: deliver one signed and sealed request to a ServiceAdress.

The adapter speaks Service v3 over HTTPS with mutual TLS. It sorts what can go wrong into
two kinds: a SOAP fault is the operator's final word (`DeliveryRefusedError`); anything
else (no connection, a timeout, a dropped connection, HTTP 5xx without a fault, an answer
that cannot be read) may pass, so the delivery is tried again (`TransientDeliveryError`).
The operator stores a repeated delivery once and answers it with the same TransId.
"""

from __future__ import annotations

import ssl
import threading
from typing import Protocol

import httpx2

from utskick.mm.soap import (
    SOAP_HEADERS,
    DeliveryResult,
    SoapError,
    SoapFault,
    parse_deliver_secure_response,
)
from utskick.mm.xml import UnsafeXMLError
from utskick.observability.logs import httpx_request_id_hooks

__all__ = [
    "DeliveryRefusedError",
    "DeliveryResult",
    "HttpMailboxOperatorClient",
    "MailboxOperatorClient",
    "TransientDeliveryError",
]


class DeliveryRefusedError(Exception):
    """The operator refused the delivery with a SOAP fault: trying again will not help."""

    def __init__(self, code: int, description: str) -> None:
        self.code = code
        self.description = description
        super().__init__(f"brevlådeoperatören vägrade leveransen: fel {code}: {description}")


class TransientDeliveryError(Exception):
    """The delivery's fate is unknown or the operator could not take it now: try again.

    `code` names the trouble for /metrics from a bounded set: the exception class of a call
    that got no answer (`ConnectTimeout`) or the HTTP status of one that could not be read.
    """

    def __init__(self, message: str, code: str = "unknown") -> None:
        super().__init__(message)
        self.code = code


class MailboxOperatorClient(Protocol):
    """Service v3 `deliverSecure` at a recipient's ServiceAdress."""

    def deliver(self, service_address: str, request: bytes) -> DeliveryResult:
        """Post a `deliverSecure` request and return the operator's result.

        Raises:
            DeliveryRefusedError: a SOAP fault (final).
            TransientDeliveryError: anything that may pass (retry with the same message Id).
        """
        ...


class HttpMailboxOperatorClient:
    """Service v3 over HTTPS with mutual TLS (the intermediary's certificate).

    Each thread posts through an HTTP client of its own (its own keep-alive connections):
    the deliveries in flight run on many threads at once, and one shared connection pool
    would have them queue for its lock on every request.
    """

    def __init__(
        self,
        tls_context: ssl.SSLContext | None,
        *,
        connect_timeout_seconds: float = 10.0,
        read_timeout_seconds: float = 60.0,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        # `transport` replaces the network (tests); every thread then shares it.
        self._transport = transport
        self._verify: ssl.SSLContext | bool = tls_context if tls_context is not None else True
        self._timeout = httpx2.Timeout(
            read_timeout_seconds, connect=connect_timeout_seconds, pool=connect_timeout_seconds
        )
        self._local = threading.local()
        self._clients: list[httpx2.Client] = []
        self._lock = threading.Lock()

    def _client(self) -> httpx2.Client:
        client: httpx2.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx2.Client(
                verify=self._verify,
                timeout=self._timeout,
                transport=self._transport,
                event_hooks=httpx_request_id_hooks(),
            )
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        """Close every thread's connections (a thread that posts again opens new ones)."""
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()
        self._local = threading.local()

    def deliver(self, service_address: str, request: bytes) -> DeliveryResult:
        """Post the request; see `MailboxOperatorClient.deliver`."""
        try:
            response = self._client().post(service_address, content=request, headers=SOAP_HEADERS)
        except httpx2.HTTPError as error:
            raise TransientDeliveryError(
                f"{service_address} svarade inte: {type(error).__name__} {error}".rstrip(),
                code=type(error).__name__,
            ) from None
        try:
            return parse_deliver_secure_response(response.content)
        except SoapFault as fault:
            if fault.error_code == 0:
                # A fault without Mina meddelanden's ExceptionInformation: a server in
                # trouble rather than a decision about this delivery.
                raise TransientDeliveryError(
                    f"{service_address} svarade HTTP {response.status_code} med ett SOAP-fel "
                    f"utan felkod: {fault.description}",
                    code=f"http_{response.status_code}",
                ) from None
            raise DeliveryRefusedError(fault.error_code, fault.description) from None
        except (SoapError, UnsafeXMLError, ValueError):
            raise TransientDeliveryError(
                f"{service_address} svarade HTTP {response.status_code} utan ett svar som går "
                "att läsa",
                code=f"http_{response.status_code}",
            ) from None
