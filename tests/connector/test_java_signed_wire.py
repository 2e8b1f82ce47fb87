"""Deliveries signed and sealed by the JDK, posted to the reference mailbox operator over
real mutual-TLS HTTP inside a SOAP deliverSecure, as a Java/JAXB-based intermediary posts them.

The signer (`support/JdkSealedDeliverySigner.java`) imports nothing from Utskick. The variant
that strips the prefixes before signing (Skatteverket's rule) and sends them prefixed is what
travels: Delivered=true and readable in the mailbox. A changed byte is refused with fault 5012
and nothing is stored. The variant signed over the prefixed form as it is verifies only as a
document of its own (tests/unit/mm/test_verification_java_signed.py): inside deliverSecure its
seal no longer covers what arrives, and the operator refuses it, as the JDK's own stripping
verifier does.
"""

import uuid

import pytest
from lxml import etree

from support.connector_world import subjects_with_trans_id
from support.jdk_signer import jdk_signer_or_skip
from support.world import (
    EXEMPELKOMMUN,
    TOLVAN,
)
from utskick.mm.delivery import Delivery, SecureMessage, SupportInfo, build_delivery
from utskick.relay.operator import DeliveryRefusedError


@pytest.fixture(scope="module")
def java_signed(world, tmp_path_factory):
    """sign(variant, subject) → the deliverSecure request the JDK wrote."""
    context, _, _, _ = world
    signer = jdk_signer_or_skip(tmp_path_factory.mktemp("jdk-signer"))
    pem = context.pki.key_and_certificate(EXEMPELKOMMUN)  # PKCS#8 key + certificate

    def sign(variant, subject):
        delivery = Delivery(
            sender_id="16" + EXEMPELKOMMUN,
            sender_name="Exempelkommun",
            recipient_id=TOLVAN,
            messages=(
                SecureMessage(
                    id=uuid.uuid4().hex,
                    subject=subject,
                    support_info=SupportInfo("Ring kommunens kontaktcenter."),
                    body="Hej Tolvan! Ditt beslut är klart.".encode(),
                ),
            ),
        )
        return signer.sign(variant, etree.tostring(build_delivery(delivery)), pem, pem).request

    return sign


@pytest.fixture(scope="module")
def syd(world, syd_inbox):
    context, _, _, _ = world
    return context.endpoints.operators["syd"].service_url, syd_inbox


def test_the_operator_accepts_a_java_signed_delivery(world, http_client, java_signed, syd, jdk):
    context, _, _, _ = world
    url, inbox = syd
    subject = "Beslut signerat i Java – åäö"
    request = java_signed("stripped", subject)
    assert request.count(b"<ds:Signature>") == 2
    assert b"&#13;" in request

    result = http_client.deliver(url, request)

    assert [(s.recipient_id, s.delivered) for s in result.statuses] == [(TOLVAN, True)]
    assert subjects_with_trans_id(inbox, result.trans_id) == [subject]
    # The very bytes the operator took also verify in the JDK's own verifier.
    assert jdk.verify(request, context.pki.ca_certificate).returncode == 0


@pytest.mark.parametrize("variant", ["stripped", "prefixed"])
def test_a_changed_byte_or_the_unstripped_form_stores_nothing(
    http_client, java_signed, syd, variant
):
    url, inbox = syd
    request = java_signed(variant, "Beslut om bygglov")
    if variant == "stripped":
        request = request.replace(b"Beslut om bygglov", b"Beslut om rivning")
    before = len(inbox.inbox(TOLVAN))

    with pytest.raises(DeliveryRefusedError) as refused:
        http_client.deliver(url, request)

    assert refused.value.code == 5012
    assert "kontrollsumman stämmer inte" in refused.value.description
    assert len(inbox.inbox(TOLVAN)) == before
