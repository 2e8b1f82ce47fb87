"""Why FaR could not be asked, in a few stable Swedish words, from real failed connections."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from support.world import EXEMPELKOMMUN, TOLVAN, FakeFar
from utskick.reference.runner import free_loopback_ports
from utskick.switch.far import (
    FarUnavailableError,
    HttpAddressRegister,
    RecordingAddressRegister,
)


class _Answer503(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"<html>Service Unavailable</html>"
        self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@contextmanager
def http_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer503)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent_listener() -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def reason_for(url: str) -> str:
    register = HttpAddressRegister(url, None, timeout_seconds=0.3)
    try:
        with pytest.raises(FarUnavailableError) as raised:
            register.is_reachable(EXEMPELKOMMUN, [TOLVAN])
    finally:
        register.close()
    assert url in str(raised.value)  # the full message still names FaR's address
    return raised.value.reason


def test_a_closed_port_is_a_refused_connection():
    [port] = free_loopback_ports(1)
    assert reason_for(f"https://127.0.0.1:{port}/far") == "anslutningen nekades"


def test_a_far_that_never_answers_is_a_timeout():
    with silent_listener() as port:
        assert reason_for(f"https://127.0.0.1:{port}/far") == "tidsgräns (0.3 s)"


def test_an_http_error_without_a_soap_fault_is_named_by_its_status():
    with http_server() as port:
        assert reason_for(f"http://127.0.0.1:{port}/far") == "HTTP 503"


def test_a_server_that_does_not_speak_tls_is_a_failed_handshake():
    with http_server() as port:
        assert reason_for(f"https://127.0.0.1:{port}/far") == "TLS-handskakningen misslyckades"


def test_every_call_reports_its_outcome_and_passes_the_answer_or_the_error_on():
    reported: list[str | None] = []
    register = RecordingAddressRegister(
        FakeFar(FarUnavailableError("FaR svarar inte", "anslutningen nekades")),
        reported.append,
    )

    with pytest.raises(FarUnavailableError, match="FaR svarar inte"):
        register.is_reachable(EXEMPELKOMMUN, [TOLVAN])
    answers = register.is_reachable(EXEMPELKOMMUN, [TOLVAN])

    assert reported == ["anslutningen nekades", None]
    assert list(answers) == [TOLVAN]
