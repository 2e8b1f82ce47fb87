"""Every deliverSecure call is counted for /metrics by operator, from real HTTP exchanges with a
real signed letter: its time and outcome, and why a call did not deliver."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from support.world import EXEMPELKOMMUN, SYD, TOLVAN, sender_organisation
from utskick.mm.delivery import Delivery, SecureMessage, SupportInfo
from utskick.mm.devca import write_pem_bundle
from utskick.mm.soap import (
    DeliveryResult,
    DeliveryStatus,
    SoapFault,
    deliver_secure_response,
    fault_response,
)
from utskick.observability.metrics import REGISTRY
from utskick.reference.runner import free_loopback_ports
from utskick.relay.operator import HttpMailboxOperatorClient
from utskick.relay.outgoing import Delivered, Outgoing, Refused, Transient, attempt
from utskick.settings import Settings


def counted(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def calls(outcome, operator=SYD):
    return counted(
        "utskick_operator_request_duration_seconds_count", operator=operator, outcome=outcome
    )


def errors(code, operator=SYD):
    return counted("utskick_operator_errors_total", operator=operator, code=code)


@pytest.fixture(scope="module")
def organisation(authority, tmp_path_factory):
    """Exempelkommun, signing and sealing with its key file from the test CA."""
    path = tmp_path_factory.mktemp("keys") / "exempelkommun.pem"
    write_pem_bundle(path, authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun"))
    return sender_organisation(key_path=str(path), intermediary=True)


def outgoing(organisation, service_address, operator_number=SYD):
    message = SecureMessage(
        id="meddelande-1",
        subject="Beslut om bygglov",
        support_info=SupportInfo(text="Ring kontaktcenter"),
        body="Hej! Ditt bygglov är beviljat.".encode(),
    )
    delivery = Delivery("16" + EXEMPELKOMMUN, "Exempelkommun", TOLVAN, (message,))
    return Outgoing(
        "brev-1", service_address, operator_number, delivery, organisation, organisation
    )


@contextmanager
def operator_answering(status: int, body: bytes) -> Iterator[str]:
    """A local HTTP server answering every POST with this status and body; its URL."""

    class Answer(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/service/v3"
    finally:
        server.shutdown()
        server.server_close()


def send(letter):
    client = HttpMailboxOperatorClient(None, connect_timeout_seconds=2, read_timeout_seconds=5)
    try:
        return attempt(letter, client=client, settings=Settings(), today=dt.date(2026, 12, 7))
    finally:
        client.close()


def answer(*, delivered):
    return deliver_secure_response(
        DeliveryResult("trans-1", (DeliveryStatus(TOLVAN, delivered=delivered),))
    )


def test_a_delivery_is_an_ok_call_under_the_operators_number(organisation):
    before_ok, before_other = calls("ok"), calls("ok", operator="unknown")

    with operator_answering(200, answer(delivered=True)) as url:
        result = send(outgoing(organisation, url))

    assert isinstance(result, Delivered)
    assert calls("ok") == before_ok + 1
    assert calls("ok", operator="unknown") == before_other


def test_delivered_false_is_an_answer_counted_as_not_delivered(organisation):
    before_ok, before_code = calls("ok"), errors("not_delivered")

    with operator_answering(200, answer(delivered=False)) as url:
        result = send(outgoing(organisation, url))

    assert isinstance(result, Refused)
    assert calls("ok") == before_ok + 1
    assert errors("not_delivered") == before_code + 1


def test_a_refusal_is_a_fault_counted_by_its_code(organisation):
    fault = fault_response(SoapFault(5003, "mottagaren har ingen brevlåda här", "call-1"))
    before_faults, before_code = calls("fault"), errors("5003")

    with operator_answering(500, fault) as url:
        result = send(outgoing(organisation, url))

    assert isinstance(result, Refused)
    assert result.code == 5003
    assert calls("fault") == before_faults + 1
    assert errors("5003") == before_code + 1


def test_an_http_error_is_counted_by_its_status(organisation):
    before_calls, before_code = calls("unavailable"), errors("http_502")

    with operator_answering(502, b"Bad Gateway") as url:
        result = send(outgoing(organisation, url))

    assert isinstance(result, Transient)
    assert calls("unavailable") == before_calls + 1
    assert errors("http_502") == before_code + 1


def test_a_refused_connection_is_counted_by_the_exception_class(organisation):
    [port] = free_loopback_ports(1)
    before_code = errors("ConnectError")

    result = send(outgoing(organisation, f"http://127.0.0.1:{port}/service/v3"))

    assert isinstance(result, Transient)
    assert errors("ConnectError") == before_code + 1


def test_a_letter_without_a_known_operator_is_counted_as_unknown(organisation):
    before = calls("ok", operator="unknown")

    with operator_answering(200, answer(delivered=True)) as url:
        send(outgoing(organisation, url, operator_number=None))

    assert calls("ok", operator="unknown") == before + 1
