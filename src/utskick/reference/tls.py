"""Mutual TLS for the reference services, and the client certificate in each request.

Uvicorn checks the client certificate against the test CA during the handshake, but does not
hand it to the application. `ClientCertificateProtocol` reads it off the TLS connection when
the connection is made and puts it in the request's ASGI `state`, where
`client_certificate(request)` finds it. The services then identify the calling organisation
by the certificate, as the real infrastructure does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from starlette.requests import Request
from uvicorn.protocols.http.h11_impl import H11Protocol

_STATE_KEY = "tls_client_certificate_der"


class ClientCertificateProtocol(H11Protocol):
    """HTTP/1.1 that exposes the verified client certificate to the app."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Copy the peer certificate (DER) into this connection's request state."""
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        # app_state is copied into every request's scope; a per-connection copy keeps the
        # certificate from leaking to another connection.
        self.app_state = {**self.app_state, _STATE_KEY: der}


def client_certificate(request: Request) -> x509.Certificate | None:
    """The certificate the client presented over mutual TLS, or None (plain HTTP, no cert)."""
    der = request.scope.get("state", {}).get(_STATE_KEY)
    if not der:
        return None
    return _parsed_certificate(der)


@functools.lru_cache(maxsize=256)
def _parsed_certificate(der: bytes) -> x509.Certificate:
    """A client certificate parsed once (a connection presents the same one on every call)."""
    return x509.load_der_x509_certificate(der)


@dataclass(frozen=True)
class TlsFiles:
    """The files a mutual-TLS server needs: its certificate and key, and the CA it trusts."""

    certificate_and_key: Path
    ca_certificate: Path


def server_config(
    app: Any, host: str, port: int, tls: TlsFiles | None, *, require_client: bool = True
) -> uvicorn.Config:
    """A uvicorn configuration: HTTPS with client certificates when `tls` is given."""
    # log_config None: uvicorn's own logging config would take over the process's loggers when
    # the reference runs in the connector's process.
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "log_config": None,
    }
    if tls is not None:
        options |= {
            "ssl_certfile": str(tls.certificate_and_key),
            "ssl_keyfile": str(tls.certificate_and_key),
            "ssl_ca_certs": str(tls.ca_certificate),
            # CERT_REQUIRED: the handshake fails without a certificate from the test CA.
            "ssl_cert_reqs": ssl.CERT_REQUIRED if require_client else ssl.CERT_OPTIONAL,
            "http": ClientCertificateProtocol,
        }
    return uvicorn.Config(app, **options)


class ServerGroup:
    """Several uvicorn servers run in one event loop on a background thread.

    Used by `utskick serve` (which runs the loop in the main thread instead) and by the tests,
    which need the real services on real sockets.
    """

    def __init__(self, configs: list[uvicorn.Config]) -> None:
        self.servers = [uvicorn.Server(config) for config in configs]
        self._thread: threading.Thread | None = None

    async def serve(self) -> None:
        """Run every server until all of them stop."""
        await asyncio.gather(*(server.serve() for server in self.servers))

    def start_in_thread(self, timeout: float = 20.0) -> None:
        """Start the servers on a daemon thread and wait until each one listens."""
        self._thread = threading.Thread(target=asyncio.run, args=(self.serve(),), daemon=True)
        self._thread.start()
        waited = 0.0
        while not all(server.started for server in self.servers):
            if not self._thread.is_alive() or waited > timeout:
                raise RuntimeError("the reference services did not start (is a port taken?)")
            threading.Event().wait(0.02)
            waited += 0.02

    def stop(self) -> None:
        """Ask every server to stop and wait for the thread."""
        for server in self.servers:
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    @contextlib.contextmanager
    def running(self) -> Iterator[ServerGroup]:
        """Start in a thread for the duration of a with-block."""
        self.start_in_thread()
        try:
            yield self
        finally:
            self.stop()
