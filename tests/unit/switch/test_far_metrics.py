"""Every isReachable call to FaR is counted for /metrics, from real HTTP exchanges: its time and
outcome, and for a failed call the fault code, HTTP status or exception class."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from support.world import EXEMPELKOMMUN, TOLVAN
from utskick.mm.soap import ReachabilityStatus, SoapFault, fault_response, is_reachable_response
from utskick.observability.metrics import REGISTRY
from utskick.reference.runner import free_loopback_ports
from utskick.switch.far import FarUnavailableError, HttpAddressRegister

OTHER = "197802022389"


def counted(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def calls(outcome):
    return counted("utskick_far_request_duration_seconds_count", outcome=outcome)


def errors(code):
    return counted("utskick_far_errors_total", code=code)


@contextmanager
def far_answering(status: int, body: bytes) -> Iterator[str]:
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
        yield f"http://127.0.0.1:{server.server_address[1]}/far"
    finally:
        server.shutdown()
        server.server_close()


def ask(url, ids=(TOLVAN,)):
    register = HttpAddressRegister(url, None, timeout_seconds=2)
    try:
        return register.is_reachable(EXEMPELKOMMUN, list(ids))
    finally:
        register.close()


def test_an_answer_is_an_ok_call_with_no_error():
    answer = is_reachable_response(
        [ReachabilityStatus(TOLVAN, "Secure", pending=False, sender_accepted=True)]
    )
    before_ok, before_errors = calls("ok"), sum(errors(c) for c in ("http_200", "unknown"))

    with far_answering(200, answer) as url:
        answers = ask(url)

    assert answers[TOLVAN].status is not None
    assert calls("ok") == before_ok + 1
    assert sum(errors(c) for c in ("http_200", "unknown")) == before_errors


def test_a_fault_is_counted_by_its_code_once_per_call_made():
    fault = fault_response(SoapFault(6006, "skyddad identitet", "call-1"))
    before_faults, before_code = calls("fault"), errors("6006")

    with far_answering(500, fault) as url:
        # Two ids refused together are asked again one by one: three calls, three faults.
        answers = ask(url, (TOLVAN, OTHER))

    assert {a.failure_reason for a in answers.values()} == {"protected_identity"}
    assert calls("fault") == before_faults + 3
    assert errors("6006") == before_code + 3


def test_an_http_error_without_a_fault_is_counted_by_its_status():
    before_calls, before_code = calls("unavailable"), errors("http_503")

    with (
        far_answering(503, b"<html>Service Unavailable</html>") as url,
        pytest.raises(FarUnavailableError),
    ):
        ask(url)

    assert calls("unavailable") == before_calls + 1
    assert errors("http_503") == before_code + 1


def test_a_refused_connection_is_counted_by_the_exception_class():
    [port] = free_loopback_ports(1)
    before_calls, before_code = calls("unavailable"), errors("ConnectError")

    with pytest.raises(FarUnavailableError):
        ask(f"http://127.0.0.1:{port}/far")

    assert calls("unavailable") == before_calls + 1
    assert errors("ConnectError") == before_code + 1
