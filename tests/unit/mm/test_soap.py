import datetime as dt

import pytest

from utskick.mm import schemas
from utskick.mm.soap import (
    DeliveryResult,
    DeliveryStatus,
    ReachabilityStatus,
    ServiceSupplier,
    SoapError,
    SoapFault,
    body_element,
    deliver_secure_response,
    fault_response,
    is_reachable_request,
    is_reachable_response,
    parse_deliver_secure_response,
    parse_is_reachable_response,
)

SYD = ServiceSupplier(
    id="165569990012",
    name="Brevlåda Syd AB",
    service_address="https://127.0.0.1:8443/Service/v3",
    internal_service_address="https://127.0.0.1:8443/Service/v3",
    ui_address="https://127.0.0.1:8444/",
)


def test_is_reachable_request_validates_against_recipient_v3():
    request = is_reachable_request("162021004748", ["191212121212", "198004232388"])
    schemas.validate(body_element(request), schemas.recipient_v3())


def test_is_reachable_refuses_more_than_a_thousand_recipients():
    with pytest.raises(ValueError, match="högst 1000"):
        is_reachable_request("162021004748", ["191212121212"] * 1001)


def test_is_reachable_response_validates_and_reads_back():
    statuses = [
        ReachabilityStatus(
            "191212121212",
            "Secure",
            pending=False,
            sender_accepted=True,
            service_supplier=SYD,
            last_registration=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        ),
        ReachabilityStatus("196611090827", "Not", pending=False, sender_accepted=False),
    ]
    response = is_reachable_response(statuses)
    schemas.validate(body_element(response), schemas.recipient_v3())
    assert parse_is_reachable_response(response) == statuses


def test_deliver_secure_response_validates_and_reads_back():
    result = DeliveryResult("T-1", (DeliveryStatus("191212121212", delivered=True),))
    response = deliver_secure_response(result)
    schemas.validate(body_element(response), schemas.service_v3())
    assert parse_deliver_secure_response(response) == result


def test_a_fault_carries_exception_information_and_is_raised_on_reading():
    fault = SoapFault(5014, "Okänd avsändare", "a1b2c3d4e5f6a7b8c9d0e1")
    document = fault_response(fault)
    with pytest.raises(SoapFault) as caught:
        parse_deliver_secure_response(document)
    assert caught.value == fault
    from lxml import etree

    detail = etree.fromstring(document).find(
        ".//{http://minameddelanden.gov.se/schema/Common/v3}applicationFault"
    )
    schemas.validate(detail, schemas.common_v3())


def test_a_body_that_is_not_soap_is_refused():
    with pytest.raises(SoapError, match=r"inte ett SOAP 1\.1-kuvert"):
        body_element(b"<html/>")


def test_is_reachable_request_reads_back_on_the_register_side():
    from utskick.mm.soap import parse_is_reachable_request

    request = is_reachable_request("162021004748", ["191212121212", "198004232388"])
    assert parse_is_reachable_request(request) == ("162021004748", ["191212121212", "198004232388"])
