"""The mailbox operator client over HTTP, on a mock transport (no network): the request goes
out exactly as it was signed, and every way a delivery can fail is sorted into a refusal
(a fault with Mina meddelanden's error code: final) or a transient error (try again)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest

from support.world import TOLVAN
from utskick.mm.soap import (
    SOAP_HEADERS,
    DeliveryResult,
    DeliveryStatus,
    SoapFault,
    deliver_secure_response,
    envelope,
    fault_response,
)
from utskick.relay.operator import (
    DeliveryRefusedError,
    HttpMailboxOperatorClient,
    TransientDeliveryError,
)

SYD_ADDRESS = "https://syd.example/service/v3"
# The client posts the bytes it is given; what they are is the signer's business.
REQUEST = "<soap:Envelope>signerat och förseglat</soap:Envelope>".encode()
UNREADABLE = f"{SYD_ADDRESS} svarade HTTP {{}} utan ett svar som går att läsa"


def deliver_with(answer):
    """Deliver REQUEST with a client whose transport answers every request by `answer`."""
    client = HttpMailboxOperatorClient(None, transport=httpx2.MockTransport(answer))
    try:
        return client.deliver(SYD_ADDRESS, REQUEST)
    finally:
        client.close()


def answering(status, content):
    return lambda _request: httpx2.Response(status, content=content)


def test_the_request_is_posted_to_the_service_address_as_it_is_and_the_answer_read():
    posted = []
    result = DeliveryResult("trans-7", (DeliveryStatus(TOLVAN, delivered=True),))

    def operator(request):
        posted.append(request)
        return httpx2.Response(200, content=deliver_secure_response(result))

    assert deliver_with(operator) == result
    [request] = posted
    assert (request.method, str(request.url)) == ("POST", SYD_ADDRESS)
    assert request.content == REQUEST
    for name, value in SOAP_HEADERS.items():
        assert request.headers[name] == value


@pytest.mark.parametrize("status", [500, 200])
def test_a_fault_with_an_error_code_is_the_operators_final_word(status):
    fault = SoapFault(5003, "mottagaren har ingen brevlåda här", "call-1")

    with pytest.raises(DeliveryRefusedError) as refused:
        deliver_with(answering(status, fault_response(fault)))

    assert (refused.value.code, refused.value.description) == (
        5003,
        "mottagaren har ingen brevlåda här",
    )
    assert "fel 5003: mottagaren har ingen brevlåda här" in str(refused.value)


def test_a_fault_without_an_error_code_is_a_server_in_trouble_and_may_pass():
    bare_fault = envelope(
        b"<soap:Fault><faultcode>soap:Server</faultcode>"
        b"<faultstring>NullPointerException</faultstring></soap:Fault>"
    )

    with pytest.raises(TransientDeliveryError) as caught:
        deliver_with(answering(500, bare_fault))

    assert str(caught.value) == (
        f"{SYD_ADDRESS} svarade HTTP 500 med ett SOAP-fel utan felkod: NullPointerException"
    )


@pytest.mark.parametrize(
    ("status", "content"),
    [
        pytest.param(502, b"<html><body>Bad Gateway</body></html>", id="html"),
        pytest.param(200, b"", id="empty"),
        pytest.param(200, b"Delivered", id="not-xml"),
        pytest.param(200, envelope(b"<isReachableResponse/>"), id="another-answer"),
        pytest.param(200, b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', id="doctype"),
    ],
)
def test_an_answer_that_cannot_be_read_may_pass(status, content):
    with pytest.raises(TransientDeliveryError) as caught:
        deliver_with(answering(status, content))

    assert str(caught.value) == UNREADABLE.format(status)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (httpx2.ConnectError("Connection refused"), "ConnectError Connection refused"),
        (httpx2.ReadTimeout("timed out"), "ReadTimeout timed out"),
        (httpx2.RemoteProtocolError(""), "RemoteProtocolError"),
    ],
)
def test_no_answer_at_all_may_pass_and_names_what_happened(error, reason):
    def operator(_request):
        raise error

    with pytest.raises(TransientDeliveryError) as caught:
        deliver_with(operator)

    assert str(caught.value) == f"{SYD_ADDRESS} svarade inte: {reason}"


def test_deliveries_from_many_threads_each_post_through_their_own_connections():
    """Sixteen deliveries in flight at once all arrive; each thread has a client of its own
    (no shared pool to queue for), and closing closes them all."""
    result = DeliveryResult("trans-8", (DeliveryStatus(TOLVAN, delivered=True),))
    arrived = []
    client = HttpMailboxOperatorClient(
        None,
        transport=httpx2.MockTransport(
            lambda request: (
                arrived.append(request)
                or httpx2.Response(200, content=deliver_secure_response(result))
            )
        ),
    )
    barrier = threading.Barrier(16)

    def deliver(_index):
        barrier.wait()  # all sixteen threads post at the same moment
        return client.deliver(SYD_ADDRESS, REQUEST)

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(deliver, range(16)))
    assert answers == [result] * 16
    assert len(arrived) == 16
    assert len(client._clients) == 16
    client.close()
    assert client._clients == []
    assert client.deliver(SYD_ADDRESS, REQUEST) == result  # a later delivery opens anew
    client.close()
