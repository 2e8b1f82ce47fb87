"""Signed XML is read whole or refused: no comment or processing instruction anywhere.

Exclusive C14N without comments leaves a comment out of the digest. An attacker who inserts
one into a signed text (`<Subject>Din ansökan är <!--x-->INTE beviljad.</Subject>`) keeps both
signatures valid, while a reader that stops at the first text node shows "Din ansökan är ".
Every case here is built the attacker's way, by inserting into the serialized bytes of a
validly signed and sealed delivery, and for comments the test first shows that the canonical
forms both signatures cover are unchanged: only the refusal stands between the attack and
acceptance.
"""

import base64
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from support.tampering import (
    COMMENT,
    INSTRUCTION,
    POSITIONS,
    enveloped_digest_input,
    exclusive_c14n,
    insert_after_tag,
    insert_into_text,
)
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.mm import namespaces as ns
from utskick.mm.delivery import (
    Attachment,
    Delivery,
    DeliveryDocumentError,
    SecureMessage,
    SupportInfo,
    build_delivery,
    parse_delivery,
)
from utskick.mm.devca import write_certificate
from utskick.mm.signing import append_enveloped_signature, seal_delivery, sign_and_seal
from utskick.mm.soap import deliver_secure_request
from utskick.mm.verification import (
    TrustStore,
    VerificationError,
    VerificationPolicy,
    strip_prefixes,
    verify_sealed_delivery,
)
from utskick.mm.xml import UnsafeXMLError, text_content

V3 = f"{{{ns.MESSAGE_V3}}}"
DS = f"{{{ns.DSIG}}}"
COMMENT_REASON = "kommentarer är inte tillåtna i signerat innehåll"
INSTRUCTION_REASON = "processinstruktioner är inte tillåtna i signerat innehåll"
MARKUP = {"comment": (COMMENT, COMMENT_REASON), "instruction": (INSTRUCTION, INSTRUCTION_REASON)}
PDF = minimal_pdf(1500)
SUBJECT = "Din ansökan är INTE beviljad."
BODY = "Din ansökan om bygglov är INTE beviljad. Beslutet kan överklagas.".encode()


def letter(subject=SUBJECT):
    message = SecureMessage(
        id="beslut-2026-17",
        subject=subject,
        support_info=SupportInfo("Frågor: ring 010-123 45 67"),
        body=BODY,
        attachments=(Attachment("beslut.pdf", PDF),),
    )
    return Delivery("162021004748", "Exempelkommun", "191212121212", (message,))


@pytest.fixture(scope="module")
def sealed(sender, intermediary, today):
    return sign_and_seal(letter(), sender, intermediary, received_on=today)


@pytest.fixture(scope="module")
def bare(sealed):
    """The standalone SealedDelivery the seal was computed over, as bytes."""
    return etree.tostring(sealed, encoding="UTF-8")


@pytest.fixture(scope="module")
def wire(sealed):
    """The SOAP request a sender posts (in the default wire form)."""
    return deliver_secure_request(sealed)


@pytest.fixture
def policy(authority):
    return VerificationPolicy(TrustStore.of([authority.certificate]), dt.datetime.now(dt.UTC))


SIGNATURE_PARTS = ("DigestValue", "SignatureValue", "X509SubjectName", "X509Certificate")
TARGETS = (
    "subject", "body", "support text", "attachment name", "attachment body", "recipient",
    "sender id", "sender name", "message id", "seal ReceivedTime", "seal SignaturesOK",
    *(f"{whose} {part}" for whose in ("seal", "sender") for part in SIGNATURE_PARTS),
)  # fmt: skip


def _target(sealed, today, label):
    """(element, text) of one signed text element, the Seal's, or a Signature's."""
    content = {
        "subject": ("Subject", SUBJECT),
        "body": ("Body", base64.b64encode(BODY).decode()),
        "support text": ("Text", "Frågor: ring 010-123 45 67"),
        "attachment name": ("Filename", "beslut.pdf"),
        "attachment body": ("Body", base64.b64encode(PDF).decode()),
        "recipient": ("Recipient", "191212121212"),
        "sender id": ("Id", "162021004748"),
        "sender name": ("Name", "Exempelkommun"),
        "message id": ("Id", "beslut-2026-17"),
        "seal ReceivedTime": ("ReceivedTime", today.isoformat()),
        "seal SignaturesOK": ("SignaturesOK", "true"),
    }
    if label in content:
        return content[label]
    whose, part = label.split(" ")
    signature = sealed[-1] if whose == "seal" else sealed[0][-1]
    return part, signature.find(f".//{DS}{part}").text


def _cases():
    return [
        pytest.param(label, position, kind, id=f"{label}-{position}-{kind}")
        for label in TARGETS
        for position in POSITIONS
        for kind in MARKUP
    ]


def _canonical_forms(document):
    """What the seal's and the sender's signatures cover, and both canonical SignedInfos."""
    root = etree.fromstring(document)
    signed = root.find(f"{V3}SignedDelivery")
    return (
        enveloped_digest_input(root),
        enveloped_digest_input(signed),
        exclusive_c14n(root[-1].find(f"{DS}SignedInfo")),
        exclusive_c14n(signed[-1].find(f"{DS}SignedInfo")),
    )


def refused(document, policy, reason):
    with pytest.raises(VerificationError) as caught:
        verify_sealed_delivery(document, policy)
    assert reason in caught.value.reason
    return caught.value.reason


def test_every_target_is_found_once(sealed, today, bare, wire):
    for label in TARGETS:
        local, text = _target(sealed, today, label)
        insert_into_text(bare, local, text, "middle", COMMENT)
        insert_into_text(wire, local, text, "middle", COMMENT)


@pytest.mark.parametrize(("label", "position", "kind"), _cases())
def test_markup_in_a_signed_or_sealed_text_is_refused(
    sealed, today, bare, policy, label, position, kind
):
    local, text = _target(sealed, today, label)
    markup, reason = MARKUP[kind]
    tampered = insert_into_text(bare, local, text, position, markup)
    if kind == "comment":
        # The attack is real: both signatures still cover exactly the same canonical bytes.
        assert _canonical_forms(tampered) == _canonical_forms(bare), label
    message = refused(tampered, policy, reason)
    assert f"i elementet {local}" in message, label


@pytest.mark.parametrize(("label", "position", "kind"), _cases())
def test_markup_in_a_signed_or_sealed_text_is_refused_on_the_wire(
    sealed, today, wire, policy, label, position, kind
):
    local, text = _target(sealed, today, label)
    markup, reason = MARKUP[kind]
    refused(insert_into_text(wire, local, text, position, markup), policy, reason)


@pytest.mark.parametrize(
    "parent", ["SignedDelivery", "Delivery", "Header", "Message", "Seal", "SignedInfo", "KeyInfo"]
)
@pytest.mark.parametrize("kind", list(MARKUP))
def test_markup_between_signed_elements_is_refused(bare, wire, policy, parent, kind):
    markup, reason = MARKUP[kind]
    refused(insert_after_tag(bare, parent, markup), policy, reason)
    refused(insert_after_tag(wire, parent, markup), policy, reason)


def test_the_truncation_attack_on_a_subject_is_refused(bare, policy):
    start = bare.index(b"INTE beviljad")
    tampered = bare[:start] + COMMENT + bare[start:]
    assert _canonical_forms(tampered) == _canonical_forms(bare)
    # What a reader of the first text node would have shown the citizen:
    subject = etree.fromstring(tampered).find(f".//{V3}Subject")
    assert subject.text == "Din ansökan är "
    refused(tampered, policy, COMMENT_REASON)


def test_the_untampered_delivery_verifies_with_its_whole_texts(bare, policy):
    verified = verify_sealed_delivery(bare, policy)
    message = verified.delivery.messages[0]
    assert message.subject == SUBJECT
    assert message.body == BODY
    assert message.attachments[0].content == PDF


def test_an_element_inside_a_signed_text_is_refused_even_when_signed(
    sender, intermediary, today, policy
):
    # Validly signed mixed content: the signatures hold, but no text value may hide in it.
    signed = etree.Element(f"{V3}SignedDelivery", nsmap={None: ns.MESSAGE_V3})
    build_delivery(letter(subject="Din ansökan är "), parent=signed)
    subject = signed.find(f".//{V3}Subject")
    etree.SubElement(subject, f"{V3}b").text = "INTE"
    subject[-1].tail = " beviljad."
    append_enveloped_signature(signed, sender)
    sealed = seal_delivery(signed, intermediary, received_on=today)
    reason = refused(etree.tostring(sealed), policy, "leveransen går inte att läsa")
    assert "elementet Subject ska bara innehålla text" in reason


class TestReadingWholeText:
    def test_parse_delivery_refuses_a_comment_in_a_text(self):
        element = build_delivery(letter())
        subject = element.find(f".//{V3}Subject")
        subject.text = "Din ansökan är "
        subject.append(etree.Comment("x"))
        subject[-1].tail = "INTE beviljad."
        with pytest.raises(DeliveryDocumentError, match=COMMENT_REASON):
            parse_delivery(element)

    def test_parse_delivery_refuses_a_child_element_where_text_belongs(self):
        element = build_delivery(letter())
        recipient = element.find(f".//{{{ns.MESSAGE_V2}}}Recipient")
        etree.SubElement(recipient, "extra").text = "191212121212"
        with pytest.raises(DeliveryDocumentError, match="Recipient ska bara innehålla text"):
            parse_delivery(element)

    def test_parse_delivery_refuses_a_body_that_is_not_strict_base64(self):
        element = build_delivery(letter())
        body = element.find(f".//{V3}Body/{{{ns.MESSAGE}}}Body")
        body.text = body.text[:8] + "*" + body.text[8:]
        with pytest.raises(DeliveryDocumentError, match="brödtexten är inte giltig base64"):
            parse_delivery(element)

    def test_base64_wrapped_over_lines_reads_whole(self):
        element = build_delivery(letter())
        body = element.find(f".//{V3}Body/{{{ns.MESSAGE}}}Body")
        text = body.text
        body.text = "\r\n".join(text[i : i + 76] for i in range(0, len(text), 76))
        assert parse_delivery(element).messages[0].body == BODY

    def test_text_content_is_the_whole_text(self):
        assert text_content(etree.fromstring(b"<a>Beslut &amp; <![CDATA[avslag]]></a>")) == (
            "Beslut & avslag"
        )
        with pytest.raises(UnsafeXMLError, match=INSTRUCTION_REASON):
            text_content(etree.fromstring(b"<a>Beslut<?x y?>avslag</a>"))

    def test_stripping_prefixes_never_drops_a_comment_silently(self):
        element = etree.fromstring(b'<m:a xmlns:m="urn:x">Beslut<!--x-->avslag</m:a>')
        with pytest.raises(UnsafeXMLError, match=COMMENT_REASON):
            strip_prefixes(element)


def test_mm_verify_says_invalid_with_the_reason_and_exits_1(bare, authority, tmp_path):
    trust = tmp_path / "ca.pem"
    write_certificate(trust, authority.certificate)
    tampered = tmp_path / "request.xml"
    start = bare.index(b"INTE beviljad")
    tampered.write_bytes(bare[:start] + COMMENT + bare[start:])
    good = tmp_path / "good.xml"
    good.write_bytes(bare)
    utskick = str(Path(sys.executable).with_name("utskick"))

    def run(path):
        return subprocess.run(
            [utskick, "mm", "verify", str(path), "--trust", str(trust)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    assert run(good).returncode == 0
    result = run(tampered)
    assert result.returncode == 1
    assert result.stdout.startswith(f"INVALID {COMMENT_REASON} (i elementet Subject)")
