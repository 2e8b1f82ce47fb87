"""The notify codecs: the request and the NotifyResult follow Service v3 and read back."""

import pytest
from lxml import etree

from utskick.mm import schemas
from utskick.mm.delivery import (
    NotificationDelivery,
    SecureMessage,
    SupportInfo,
    build_notification_delivery,
    parse_notification_delivery,
)
from utskick.mm.notify import (
    NotifyResult,
    NotifyStatus,
    notify_request,
    notify_response,
    parse_notify_response,
)
from utskick.mm.soap import SoapError, SoapFault, body_element, fault_response


def notification():
    return NotificationDelivery(
        sender_id="162021004748",
        sender_name="Exempelkommun",
        recipient_ids=("191212121212", "198004232388"),
        message=SecureMessage(
            id="notis-1",
            subject="Vattnet stängs av",
            support_info=SupportInfo("Ring oss"),
            body=b"Vattnet stangs av kl 9-12.",
        ),
        sms_from="Kommunen",
        sms_text="Vattnet stangs av kl 9-12.",
    )


def test_a_notify_request_validates_against_service_v3_and_reads_back():
    request = notify_request(build_notification_delivery(notification()))
    content = body_element(request)
    schemas.validate(content, schemas.service_v3())
    assert parse_notification_delivery(content) == notification()


def test_a_notify_request_needs_a_notify_element():
    with pytest.raises(ValueError, match="notify-element"):
        notify_request(
            etree.Element("{http://minameddelanden.gov.se/schema/Service/v3}deliverSecure")
        )


def test_a_notify_response_validates_and_reads_back():
    result = NotifyResult(
        "a1b2c3",
        (
            NotifyStatus("191212121212", delivered=True, notified_by=("EMail", "SMS")),
            NotifyStatus("198004232388", delivered=False),
        ),
    )
    response = notify_response(result)
    schemas.validate(body_element(response), schemas.service_v3())
    assert parse_notify_response(response) == result


def test_a_notify_response_names_only_the_contracts_channels():
    with pytest.raises(ValueError, match="okänd aviseringskanal"):
        notify_response(
            NotifyResult(
                "t", (NotifyStatus("191212121212", delivered=True, notified_by=("Brev",)),)
            )
        )


def test_a_recipient_not_reached_cannot_have_been_notified():
    with pytest.raises(ValueError, match="inte nåtts"):
        notify_response(
            NotifyResult(
                "t", (NotifyStatus("191212121212", delivered=False, notified_by=("SMS",)),)
            )
        )


def test_a_fault_is_raised_when_reading_a_notify_response():
    fault = SoapFault(5014, "okänd avsändare", "a" * 32)
    with pytest.raises(SoapFault) as caught:
        parse_notify_response(fault_response(fault))
    assert caught.value == fault


def test_another_response_is_not_taken_for_a_notify_response():
    with pytest.raises(SoapError, match="väntade notifyResponse"):
        parse_notify_response(notify_request(build_notification_delivery(notification())))
