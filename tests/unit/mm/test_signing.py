"""What we produce: valid against the contract, and verifiable by others' verifiers."""

import re

import pytest
from lxml import etree

from support.independent_verifier import (
    inner_deliver_secure,
    renamed_to_sealed_delivery,
    standalone,
    strip_prefixes_textually,
    verify_enveloped,
)
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.mm import schemas
from utskick.mm.delivery import Attachment, Delivery, OfficialMatter, SecureMessage, SupportInfo
from utskick.mm.keys import organisation_number_of
from utskick.mm.signing import SigningError, sign_and_seal, sign_delivery
from utskick.mm.soap import MessageTooLargeError, WireForm, body_element, deliver_secure_request


def letter(*, attachments=(), body=b"Hej! Du har beviljats plats.", sender_id="162021004748"):
    import datetime as dt

    message = SecureMessage(
        id="7b7c1f3e-1",
        subject="Beslut om förskoleplats – åäö",
        support_info=SupportInfo(
            "Ring 010-123 45 67", url="https://exempel.se", email_address="a@b.se"
        ),
        body=body,
        attachments=attachments,
        metadata=(("diarienummer", "BUN 2026/123"),),
        official_matter=OfficialMatter(
            dt.date(2026, 11, 27), event_id="1", official_matter_id="BUN 2026/123"
        ),
    )
    return Delivery(
        sender_id=sender_id,
        sender_name="Exempelkommun",
        recipient_id="191212121212",
        messages=(message,),
        reference="ref-1",
        attention="Förskoleenheten",
    )


@pytest.fixture
def wire(sender, intermediary, today):
    """The default-namespace wire form: the signed bytes as they are (the prefixed form, the
    default, is tested in test_soap_wire_form.py)."""
    sealed = sign_and_seal(
        letter(attachments=(Attachment("beslut.pdf", minimal_pdf(2000)),)),
        sender,
        intermediary,
        received_on=today,
    )
    return deliver_secure_request(sealed, WireForm.DEFAULT_NAMESPACES)


class TestContract:
    def test_deliver_secure_body_validates_against_service_v3(self, wire):
        schemas.validate(body_element(wire), schemas.service_v3())

    def test_wire_delivery_has_no_prefix_no_whitespace_and_no_unused_namespace(self, wire):
        delivery_part = wire[wire.index(b"<SignedDelivery") : wire.index(b"</deliverSecure>")]
        assert not re.search(rb"<\w+:", delivery_part), "a prefixed element"
        assert b"xmlns:" not in delivery_part
        assert not re.search(rb">\s+<", delivery_part), "whitespace between elements"
        for match in re.finditer(rb'<(\w+) xmlns="([^"]+)"', delivery_part):
            assert match.group(2).startswith(
                (b"http://minameddelanden", b"http://www.w3.org/2000/09/xmldsig")
            )

    def test_signature_profile_is_the_interoperable_one(self, wire):
        text = wire[wire.rindex(b"<Signature ") : wire.index(b"</deliverSecure>")].decode()
        assert '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">' in text
        assert 'Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"' in text
        assert 'Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"' in text
        assert 'Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"' in text
        assert '<Reference URI="">' in text
        assert text.count("<Transform ") == 1
        assert "<X509SubjectName>" in text
        assert "SERIALNUMBER=162021009903" in text


class TestIndependentVerification:
    def test_both_signatures_verify_as_received(self, wire):
        sealed = renamed_to_sealed_delivery(inner_deliver_secure(wire))
        sealer = verify_enveloped(sealed)
        sender = verify_enveloped(standalone(sealed[0]))
        assert organisation_number_of(sealer) == "2021009903"
        assert organisation_number_of(sender) == "2021004748"

    def test_both_signatures_verify_after_every_prefix_is_stripped(self, wire):
        stripped = etree.fromstring(strip_prefixes_textually(wire))
        assert b"soap:" not in strip_prefixes_textually(wire)
        sealed = renamed_to_sealed_delivery(inner_deliver_secure(etree.tostring(stripped)))
        verify_enveloped(sealed)
        verify_enveloped(standalone(sealed[0]))

    def test_tampered_content_fails_the_independent_verifier(self, wire):
        tampered = wire.replace("förskoleplats".encode(), b"fritidsplats")
        sealed = renamed_to_sealed_delivery(inner_deliver_secure(tampered))
        with pytest.raises(AssertionError, match="digest mismatch"):
            verify_enveloped(sealed)


class TestSigningRules:
    def test_a_key_of_another_organisation_cannot_sign_for_the_sender(self, intermediary):
        with pytest.raises(SigningError, match="gäller organisationsnummer 2021009903"):
            sign_delivery(letter(), intermediary)

    def test_a_delivery_over_two_megabytes_is_refused_with_advice(self, sender, today):
        big = letter(attachments=(Attachment("stor.pdf", minimal_pdf(1_700_000)),))
        sealed = sign_and_seal(big, sender, sender, received_on=today)
        with pytest.raises(MessageTooLargeError, match="högst 2 MB"):
            deliver_secure_request(sealed)
