"""Service v3 over real HTTPS with mutual TLS: what an operator accepts, and every refusal.

Each refusal is sent as a sender would send it, and checked for its ExceptionInformation code,
a Swedish description, a CallId, and that nothing was stored.
"""

import copy
import datetime as dt

import httpx2
import pytest
from lxml import etree

from support.world import ANNA, KARIN, TOLVAN
from utskick.mm import namespaces as ns
from utskick.mm.delivery import Attachment
from utskick.mm.notify import parse_notify_response
from utskick.mm.signing import seal_delivery, sign_delivery
from utskick.mm.soap import MAX_MESSAGE_BYTES, deliver_secure_request, parse_deliver_secure_response
from utskick.reference.world import EXEMPELKOMMUN, GRANNKOMMUN

from .wire import post, refusal

V3 = f"{{{ns.MESSAGE_V3}}}"
MSG = f"{{{ns.MESSAGE}}}"


def subject_of(store, recipient, trans_id):
    """The subjects in the recipient's inbox from the delivery with this TransId."""
    entries = store.inbox(recipient)
    return [
        entry.subject
        for entry in entries
        if store.message(recipient, entry.id).trans_id == trans_id
    ]


class TestAccepted:
    def test_a_letter_to_a_mailbox_at_syd_is_delivered_and_readable(
        self, services, client, letters, syd_store
    ):
        letter = letters.letter(TOLVAN, subject="Beslut om bygglov")
        response = post(client(), services.syd, letters.request(letter))

        assert response.status_code == 200
        assert response.headers["content-type"] == "text/xml; charset=utf-8"
        result = parse_deliver_secure_response(response.content)
        assert [(s.recipient_id, s.delivered) for s in result.statuses] == [(TOLVAN, True)]
        assert 20 <= len(result.trans_id) <= 64
        [entry] = [e for e in syd_store.inbox(TOLVAN) if e.subject == "Beslut om bygglov"]
        content = syd_store.message(TOLVAN, entry.id)
        assert content.sender_name == "Exempelkommun"
        assert content.sender_number == EXEMPELKOMMUN
        assert content.secure
        assert content.body_text == letter.messages[0].body.decode()
        assert content.attachments[0].filename == "beslut.pdf"
        assert content.attachments[0].data.startswith(b"%PDF")

    def test_the_real_sample_is_accepted_by_syd_inside_its_certificate_validity(
        self, services, client, sample_bytes, syd_store
    ):
        request = deliver_secure_request(etree.fromstring(sample_bytes))
        response = post(client(), services.syd_in_2020, request)

        assert response.status_code == 200, response.text
        result = parse_deliver_secure_response(response.content)
        assert [(s.recipient_id, s.delivered) for s in result.statuses] == [(KARIN, True)]
        entries = [
            e
            for e in syd_store.inbox(KARIN)
            if syd_store.message(KARIN, e.id).trans_id == result.trans_id
        ]
        assert [e.subject for e in entries] == [
            (
                "Säkert Meddelande - deliverSecure v3_03.1 - Ett meddelande - en mottagare - "
                "privat - bilaga PDF"
            )
        ]
        content = syd_store.message(KARIN, entries[0].id)
        assert content.sender_name == "Kommun A"
        assert content.body_content_type == "text/html"
        assert content.body_text.startswith("<p>Ett meddelande till 198101052382")
        pdf = syd_store.attachment(KARIN, entries[0].id, 0)
        assert pdf.filename == "test.pdf"
        assert pdf.content_type == "application/pdf"
        assert pdf.data.startswith(b"%PDF-1.5")
        assert pdf.data.rstrip().endswith(b"%%EOF")

    def test_the_real_sample_is_refused_today_because_its_certificate_has_expired(
        self, services, client, sample_bytes, stored_rows
    ):
        before = stored_rows()
        request = deliver_secure_request(etree.fromstring(sample_bytes))
        fault = refusal(post(client(), services.syd, request))
        assert fault.error_code == 5012
        assert "gått ut" in fault.description
        assert stored_rows() == before

    def test_a_repeated_delivery_is_stored_once_and_answered_with_the_same_trans_id(
        self, services, client, letters, syd_store
    ):
        request = letters.request(letters.letter(TOLVAN, subject="Faktura november"))
        first = parse_deliver_secure_response(post(client(), services.syd, request).content)
        again = parse_deliver_secure_response(post(client(), services.syd, request).content)

        assert again.trans_id == first.trans_id
        assert again.statuses == first.statuses
        assert subject_of(syd_store, TOLVAN, first.trans_id) == ["Faktura november"]

    def test_a_letter_to_a_mailbox_at_nord_goes_to_nord(
        self, services, client, letters, nord_store, syd_store
    ):
        request = letters.request(letters.letter(ANNA, subject="Beslut om parkeringstillstånd"))
        result = parse_deliver_secure_response(post(client(), services.nord, request).content)

        assert result.statuses[0].delivered
        assert subject_of(nord_store, ANNA, result.trans_id) == ["Beslut om parkeringstillstånd"]
        assert syd_store.inbox(ANNA) == []

    def test_a_sender_may_seal_its_own_delivery(self, services, client, letters):
        grannkommun = letters.identity(GRANNKOMMUN)
        letter = letters.letter(TOLVAN, sender=GRANNKOMMUN, sender_name="Grannkommun")
        request = letters.request(letter, sealer=grannkommun)
        result = parse_deliver_secure_response(
            post(client(GRANNKOMMUN), services.syd, request).content
        )
        assert result.statuses[0].delivered

    def test_the_service_description_names_this_operators_address(self, services, client):
        response = client().get(services.syd + "?wsdl")
        assert response.status_code == 200
        assert b'location="' + services.syd.encode() + b'"' in response.content
        assert b'name="deliverSecure"' in response.content

    def test_a_notification_reaches_recipients_with_a_mailbox_here(
        self, services, client, syd_store
    ):
        from utskick.mm.delivery import (
            NotificationDelivery,
            SecureMessage,
            SupportInfo,
            build_notification_delivery,
        )
        from utskick.mm.notify import notify_request

        notification = NotificationDelivery(
            sender_id="16" + EXEMPELKOMMUN,
            sender_name="Exempelkommun",
            recipient_ids=(TOLVAN, ANNA),
            message=SecureMessage(
                id="notis-service-1",
                subject="Sophämtning flyttas",
                support_info=SupportInfo("Ring 010-123 45 67"),
                body=b"Sophamtningen flyttas till tisdag.",
            ),
        )
        request = notify_request(build_notification_delivery(notification))
        response = post(client(), services.syd, request)

        assert response.status_code == 200, response.text
        result = parse_notify_response(response.content)
        assert [(s.recipient_id, s.delivered) for s in result.statuses] == [
            (TOLVAN, True),
            (ANNA, False),
        ]
        assert subject_of(syd_store, TOLVAN, result.trans_id) == ["Sophämtning flyttas"]


class TestRefused:
    def test_an_unknown_sender_is_refused_with_5014(self, services, client, letters, stored_rows):
        stranger, _bundle = letters.stranger("5566778899", "Utan Brevlåda AB")
        letter = letters.letter(TOLVAN, sender="5566778899", sender_name="Utan Brevlåda AB")
        before = stored_rows()
        fault = refusal(post(client(), services.syd, letters.request(letter, signer=stranger)))
        assert fault.error_code == 5014
        assert "165566778899" in fault.description
        assert stored_rows() == before

    def test_a_sealer_that_is_not_an_approved_intermediary_is_refused_with_6005(
        self, services, client, letters, stored_rows
    ):
        grannkommun = letters.identity(GRANNKOMMUN)  # a registered sender, not an intermediary
        before = stored_rows()
        request = letters.request(letters.letter(TOLVAN), sealer=grannkommun)
        fault = refusal(post(client(GRANNKOMMUN), services.syd, request))
        assert fault.error_code == 6005
        assert "162021009903" in fault.description
        assert stored_rows() == before

    def test_a_sealer_unknown_to_far_is_refused_with_6005(
        self, services, client, letters, stored_rows
    ):
        stranger, _bundle = letters.stranger("5566778899", "Utan Brevlåda AB")
        before = stored_rows()
        fault = refusal(
            post(client(), services.syd, letters.request(letters.letter(TOLVAN), sealer=stranger))
        )
        assert fault.error_code == 6005
        assert stored_rows() == before

    def test_a_changed_letter_fails_the_signature_check_with_5012(
        self, services, client, letters, stored_rows
    ):
        request = letters.request(letters.letter(TOLVAN, subject="Beslut om bidrag"))
        tampered = request.replace(b"Beslut om bidrag", b"Beslut om avslag")
        before = stored_rows()
        fault = refusal(post(client(), services.syd, tampered))
        assert fault.error_code == 5012
        assert "sigillet: kontrollsumman stämmer inte" in fault.description
        assert stored_rows() == before

    def test_a_wrapped_sender_signature_is_refused_with_5012(
        self, services, client, letters, stored_rows
    ):
        # An intermediary rewrites Grannkommun's signed letter and hides the original inside
        # the sender's Signature (where a naive verifier might find what the digest covered),
        # then seals the result with its own, valid, seal.
        original = letters.letter(
            TOLVAN, sender=GRANNKOMMUN, sender_name="Grannkommun", subject="Beslut om bidrag"
        )
        signed = sign_delivery(original, letters.identity(GRANNKOMMUN))
        delivery, signature = signed[0], signed[1]
        hidden = etree.SubElement(signature, f"{{{ns.DSIG}}}Object")
        hidden.append(copy.deepcopy(delivery))
        delivery.find(f"{V3}Message/{V3}Header/{V3}Subject").text = "Betala 5 000 kr till bg 123"
        sealed = seal_delivery(
            signed, letters.identity(EXEMPELKOMMUN), received_on=dt.datetime.now(dt.UTC).date()
        )
        before = stored_rows()
        fault = refusal(post(client(), services.syd, deliver_secure_request(sealed)))
        assert fault.error_code == 5012
        assert "avsändarens signatur" in fault.description
        assert stored_rows() == before

    def test_a_request_over_two_megabytes_is_refused_with_5005(
        self, services, client, letters, stored_rows
    ):
        request = letters.request(letters.letter(TOLVAN))
        oversize = request + b" " * (MAX_MESSAGE_BYTES - len(request) + 1)
        before = stored_rows()
        fault = refusal(post(client(), services.syd, oversize))
        assert fault.error_code == 5005
        assert "2 MB" in fault.description
        assert stored_rows() == before

    def test_an_attachment_of_a_type_not_accepted_is_refused_with_5019(
        self, services, client, letters, stored_rows
    ):
        document = Attachment(
            "kallelse.docx",
            b"PK\x03\x04 not a pdf",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        )
        before = stored_rows()
        request = letters.request(letters.letter(TOLVAN, attachments=(document,)))
        fault = refusal(post(client(), services.syd, request))
        assert fault.error_code == 5019
        assert "kallelse.docx" in fault.description
        assert "application/pdf" in fault.description
        assert stored_rows() == before

    @pytest.mark.parametrize(
        ("recipient", "why"),
        [
            (ANNA, "mailbox at Nord"),
            ("196611090827", "no mailbox anywhere"),
            ("199003153146", "mailbox waiting for activation"),
        ],
    )
    def test_a_recipient_without_a_mailbox_at_this_operator_is_refused_with_5003(
        self, services, client, letters, stored_rows, recipient, why
    ):
        before = stored_rows()
        fault = refusal(post(client(), services.syd, letters.request(letters.letter(recipient))))
        assert fault.error_code == 5003, why
        assert fault.description == (
            f"mottagaren {recipient} har ingen brevlåda hos Brevlåda Syd AB"
        )
        assert stored_rows() == before

    def test_a_client_certificate_not_registered_in_far_is_refused_with_5002(
        self, services, client, letters, stored_rows
    ):
        _identity, bundle = letters.stranger("5566778899", "Utan Brevlåda AB")
        before = stored_rows()
        fault = refusal(post(client(bundle=bundle), services.syd, letters.request()))
        assert fault.error_code == 5002
        assert "inte registrerat i FaR" in fault.description
        assert stored_rows() == before

    def test_a_connection_without_a_client_certificate_is_refused_in_the_handshake(
        self, services, client, letters, stored_rows
    ):
        before = stored_rows()
        with pytest.raises((httpx2.ConnectError, httpx2.ReadError, httpx2.RemoteProtocolError)):
            post(client(certificate=False), services.syd, letters.request())
        assert stored_rows() == before

    @pytest.mark.parametrize(
        ("name", "document"),
        [
            (
                "billion laughs",
                b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                + b"".join(
                    f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">'.encode()
                    for i in range(2, 10)
                ).replace(b"&lol1;", b"&lol;")
                + b']><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
                b"<soap:Body><x>&lol9;</x></soap:Body></soap:Envelope>",
            ),
            (
                "external entity",
                (
                    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
                    b"<soap:Body><x>&xxe;</x></soap:Body></soap:Envelope>"
                ),
            ),
            (
                "nesting deeper than our limit",
                b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
                + b"<a>" * 200
                + b"</a>" * 200
                + b"</soap:Body></soap:Envelope>",
            ),
            (
                "nesting deeper than the parser's limit",
                b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
                + b"<a>" * 5000
                + b"</a>" * 5000
                + b"</soap:Body></soap:Envelope>",
            ),
            ("not XML", b"this is not XML at all"),
        ],
    )
    def test_xml_bombs_and_garbage_are_refused_with_5001(
        self, services, client, stored_rows, name, document
    ):
        before = stored_rows()
        response = post(client(), services.syd, document)
        fault = refusal(response)
        assert fault.error_code == 5001, name
        assert "root:" not in response.text
        assert stored_rows() == before

    def test_a_delivery_that_breaks_the_schema_is_refused_with_5001(
        self, services, client, letters, stored_rows
    ):
        request = letters.request(letters.letter(TOLVAN))
        broken = request.replace(
            b"<v3:Language>svSE</v3:Language>",
            b"<v3:Language>svSE</v3:Language><v3:Colour>red</v3:Colour>",
        )
        assert broken != request
        before = stored_rows()
        fault = refusal(post(client(), services.syd, broken))
        assert fault.error_code == 5001
        assert "schemat" in fault.description
        assert stored_rows() == before

    def test_an_unknown_operation_is_refused_with_5001(self, services, client):
        request = (
            b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            b'<deliverForward xmlns="http://minameddelanden.gov.se/schema/Service/v3"/>'
            b"</soap:Body></soap:Envelope>"
        )
        fault = refusal(post(client(), services.syd, request))
        assert fault.error_code == 5001
        assert "deliverForward" in fault.description
