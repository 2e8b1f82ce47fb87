import datetime as dt

import pytest
from lxml import etree

from utskick.mm import schemas
from utskick.mm.delivery import (
    Attachment,
    DeliveryDocumentError,
    NotificationDelivery,
    SecureMessage,
    SupportInfo,
    build_delivery,
    build_notification_delivery,
    check_restricted_html,
    parse_delivery,
)

from .test_signing import letter


def test_a_delivery_reads_back_as_it_was_built():
    original = letter(attachments=(Attachment("beslut.pdf", "%PDF-1.4 innehåll".encode()),))
    assert parse_delivery(build_delivery(original)) == original


def test_attachment_checksum_is_upper_case_md5_of_the_raw_bytes():
    assert Attachment("a.pdf", b"abc").checksum == "900150983CD24FB0D6963F7D28E17F72"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"subject": "x" * 256}, "ämnesraden har 256 tecken; högst 255"),
        ({"subject": "  "}, "ämnesraden är tom"),
        ({"support_info": SupportInfo("x" * 1025)}, "supporttexten har 1025 tecken"),
        (
            {"body_content_type": "application/msword"},
            "stöds inte; använd text/plain eller text/html",
        ),
    ],
)
def test_a_message_that_breaks_the_contract_is_refused_with_the_rule(change, reason):
    fields = {
        "id": "1",
        "subject": "Beslut",
        "support_info": SupportInfo("Ring oss"),
        "body": b"Hej",
    }
    fields.update(change)
    delivery = letter()
    bad = type(delivery)(
        sender_id=delivery.sender_id,
        sender_name=delivery.sender_name,
        recipient_id=delivery.recipient_id,
        messages=(SecureMessage(**fields),),
    )
    with pytest.raises(DeliveryDocumentError, match=reason):
        build_delivery(bad)


def test_a_recipient_that_is_not_twelve_digits_is_refused():
    with pytest.raises(DeliveryDocumentError, match="tolv siffror"):
        build_delivery(_with_recipient("1212121212"))


def _with_recipient(recipient):
    original = letter()
    return type(original)(
        sender_id=original.sender_id,
        sender_name=original.sender_name,
        recipient_id=recipient,
        messages=original.messages,
    )


class TestRestrictedHtml:
    def test_simple_formatting_and_https_links_are_allowed(self):
        check_restricted_html(
            '<p>Hej <strong>Anna</strong>, läs <a href="https://exempel.se">här</a>.</p>'
        )

    @pytest.mark.parametrize(
        ("html", "reason"),
        [
            ("<p>Hej<script>alert(1)</script></p>", "<script> är inte tillåtet"),
            ('<p onclick="x()">Hej</p>', "attributet onclick på <p>"),
            ('<a href="javascript:alert(1)">x</a>', "attributet href på <a>"),
            ("<img src=x>", "<img> är inte tillåtet"),
            ("<p>a<!-- dold --></p>", "kommentarer"),
        ],
    )
    def test_active_content_is_refused(self, html, reason):
        with pytest.raises(DeliveryDocumentError, match=reason):
            check_restricted_html(html)


def test_notification_delivery_validates_against_the_notify_contract():
    notice = NotificationDelivery(
        sender_id="162021004748",
        sender_name="Exempelkommun",
        recipient_ids=("191212121212", "198004232388"),
        message=SecureMessage(
            id="n1",
            subject="Nytt besked i e-tjänsten",
            support_info=SupportInfo("Ring oss"),
            body=b"Logga in i e-tjanst.exempel.se",
            official_matter=None,
        ),
        email_from="noreply@exempel.se",
        email_subject="Nytt besked",
        email_text="Du har fått ett besked.",
        sms_from="Exempel",
        sms_text="Du har fått ett besked från Exempelkommun.",
    )
    element = build_notification_delivery(notice)
    schemas.validate(element, schemas.service_v3())
    assert b"xmlns:" not in etree.tostring(element)


def test_an_sms_over_160_characters_is_refused():
    with pytest.raises(DeliveryDocumentError, match="sms-texten har 161 tecken"):
        build_notification_delivery(
            NotificationDelivery(
                sender_id="162021004748",
                sender_name="Exempelkommun",
                recipient_ids=("191212121212",),
                message=SecureMessage(
                    id="n", subject="s", support_info=SupportInfo("t"), body=b"b"
                ),
                sms_from="Exempel",
                sms_text="x" * 161,
            )
        )


def test_official_matter_round_trips():
    matter = letter().messages[0].official_matter
    assert matter is not None
    assert matter.timestamp == dt.date(2026, 11, 27)
    assert parse_delivery(build_delivery(letter())).messages[0].official_matter == matter


def test_notification_delivery_reads_back_as_it_was_built():
    from utskick.mm.delivery import parse_notification_delivery

    notice = NotificationDelivery(
        sender_id="162021004748",
        sender_name="Exempelkommun",
        recipient_ids=("191212121212",),
        message=SecureMessage(
            id="n1", subject="Nytt besked", support_info=SupportInfo("Ring oss"), body=b"Logga in"
        ),
        email_from="noreply@exempel.se",
        email_subject="Nytt besked",
        email_text="Du har fått ett besked.",
        sms_from="Exempel",
        sms_text="Nytt besked",
    )
    assert parse_notification_delivery(build_notification_delivery(notice)) == notice
