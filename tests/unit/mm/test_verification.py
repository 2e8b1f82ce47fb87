"""The receiving side: the real sample verifies; every alteration is caught with a reason."""

import base64
import copy
import datetime as dt
import hashlib
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from support.sha1_signer import resign_sha1
from utskick.mm import namespaces as ns
from utskick.mm.devca import DevCertificateAuthority
from utskick.mm.keys import SigningIdentity
from utskick.mm.signing import (
    append_enveloped_signature,
    canonicalize,
    seal_delivery,
    sign_and_seal,
    sign_delivery,
)
from utskick.mm.soap import deliver_secure_request
from utskick.mm.verification import (
    TrustStore,
    VerificationError,
    VerificationPolicy,
    strip_prefixes,
    verify_sealed_delivery,
)

from .test_signing import letter

DS = f"{{{ns.DSIG}}}"
SAMPLE_TIME = dt.datetime(2020, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def sample_policy(sample_bytes):
    root = etree.fromstring(sample_bytes)
    certificate = x509.load_der_x509_certificate(
        base64.b64decode(root[-1].findtext(f".//{DS}X509Certificate"))
    )
    return VerificationPolicy(TrustStore.of([certificate]), SAMPLE_TIME)


@pytest.fixture
def policy(authority):
    return VerificationPolicy(TrustStore.of([authority.certificate]), dt.datetime.now(dt.UTC))


@pytest.fixture
def sealed(sender, intermediary, today):
    return sign_and_seal(letter(), sender, intermediary, received_on=today)


def fails(document, policy, reason):
    with pytest.raises(VerificationError, match=reason) as caught:
        verify_sealed_delivery(document, policy)
    assert caught.value.reason
    return caught.value.reason


class TestRealSample:
    def test_the_real_sample_verifies_seal_and_sender(self, sample_bytes, sample_policy):
        verified = verify_sealed_delivery(sample_bytes, sample_policy)
        assert verified.sender_organisation == "2021004748"
        assert verified.sealer_organisation == "2021004748"
        assert verified.delivery.recipient_id == "198101052382"
        assert verified.delivery.messages[0].attachments[0].filename == "test.pdf"
        assert verified.received_on == dt.date(2020, 5, 28)

    def test_the_sample_is_refused_once_its_certificate_has_expired(
        self, sample_bytes, sample_policy
    ):
        expired = VerificationPolicy(sample_policy.trust, dt.datetime(2022, 1, 1, tzinfo=dt.UTC))
        fails(sample_bytes, expired, "certifikatet har gått ut")

    def test_the_sample_is_refused_before_its_certificate_was_valid(
        self, sample_bytes, sample_policy
    ):
        early = VerificationPolicy(sample_policy.trust, dt.datetime(2019, 1, 1, tzinfo=dt.UTC))
        fails(sample_bytes, early, "gäller först från 2019-03-26")

    def test_the_sample_is_refused_without_trust_in_its_certificate(self, sample_bytes, authority):
        policy = VerificationPolicy(TrustStore.of([authority.certificate]), SAMPLE_TIME)
        fails(sample_bytes, policy, "inte betrott")

    @pytest.mark.parametrize(
        ("old", "new", "reason"),
        [
            ("Säkert Meddelande", "Säkert meddelande", "sigillet: kontrollsumman"),
            (
                '<Recipient xmlns="http://minameddelanden.gov.se/schema/Message/v2">198101052382',
                '<Recipient xmlns="http://minameddelanden.gov.se/schema/Message/v2">191212121212',
                "sigillet: kontrollsumman",
            ),
            (
                '<ReceivedTime xmlns="http://minameddelanden.gov.se/schema/Message">2020-05-28',
                '<ReceivedTime xmlns="http://minameddelanden.gov.se/schema/Message">2020-05-29',
                "sigillet: kontrollsumman",
            ),
            (">true</SignaturesOK>", ">false</SignaturesOK>", "sigillet: kontrollsumman"),
            (
                '<Filename xmlns="http://minameddelanden.gov.se/schema/Message">test.pdf',
                '<Filename xmlns="http://minameddelanden.gov.se/schema/Message">test2.pdf',
                "sigillet: kontrollsumman",
            ),
        ],
    )
    def test_changed_content_or_seal_fails(self, sample_bytes, sample_policy, old, new, reason):
        text = sample_bytes.decode()
        assert old in text
        fails(text.replace(old, new, 1).encode(), sample_policy, reason)

    def test_changed_seal_signature_value_fails(self, sample_bytes, sample_policy):
        root = etree.fromstring(sample_bytes)
        value = root[-1].find(f"{DS}SignatureValue")
        value.text = ("B" if value.text[0] != "B" else "C") + value.text[1:]
        fails(etree.tostring(root), sample_policy, "sigillet: signaturvärdet stämmer inte")

    def test_changed_sender_signature_fails_the_seal_first(self, sample_bytes, sample_policy):
        root = etree.fromstring(sample_bytes)
        value = root[0][-1].find(f"{DS}SignatureValue")
        value.text = ("B" if value.text[0] != "B" else "C") + value.text[1:]
        fails(etree.tostring(root), sample_policy, "sigillet: kontrollsumman")

    def test_moved_seal_signature_fails(self, sample_bytes, sample_policy):
        root = etree.fromstring(sample_bytes)
        signature = root[-1]
        root.remove(signature)
        root.insert(1, signature)
        fails(etree.tostring(root), sample_policy, "flyttad")

    def test_moved_sender_signature_fails(self, sample_bytes, sample_policy):
        root = etree.fromstring(sample_bytes)
        signature = root[0][-1]
        root[0].remove(signature)
        root[0].insert(0, signature)
        fails(etree.tostring(root), sample_policy, "flyttad")

    def test_signature_moved_into_the_seal_fails(self, sample_bytes, sample_policy):
        root = etree.fromstring(sample_bytes)
        signature = root[-1]
        root.remove(signature)
        root[1].append(signature)
        fails(etree.tostring(root), sample_policy, "SealedDelivery ska innehålla exakt")


def _text_positions(document):
    """Indices of letters and digits in text content (never inside markup)."""
    positions, inside_tag = [], False
    for index, char in enumerate(document):
        if char == "<":
            inside_tag = True
        elif char == ">":
            inside_tag = False
        elif not inside_tag and char.isalnum():
            positions.append(index)
    return positions


@pytest.fixture(scope="module")
def sample_text(sample_bytes):
    text = sample_bytes.decode()
    return text, _text_positions(text)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(choice=st.integers(min_value=0), replacement=st.sampled_from("AbZ09q"))
def test_changing_any_character_of_the_sample_makes_it_fail(
    sample_text, sample_policy, choice, replacement
):
    text, positions = sample_text
    index = positions[choice % len(positions)]
    if text[index] == replacement:
        replacement = "X" if replacement != "X" else "Y"
    changed = text[:index] + replacement + text[index + 1 :]
    with pytest.raises(VerificationError):
        verify_sealed_delivery(changed.encode(), sample_policy)


class TestOurOwnDeliveries:
    def test_own_delivery_verifies_from_the_wire(self, sealed, policy):
        verified = verify_sealed_delivery(deliver_secure_request(sealed), policy)
        assert verified.sender_organisation == "2021004748"
        assert verified.sealer_organisation == "2021009903"
        assert verified.delivery.messages[0].subject == "Beslut om förskoleplats – åäö"
        assert verified.warnings == ()

    def test_expected_sealer_is_pinned(self, sealed, authority):
        policy = VerificationPolicy(
            TrustStore.of([authority.certificate]),
            dt.datetime.now(dt.UTC),
            expected_sealer="2021004748",
        )
        fails(
            deliver_secure_request(sealed),
            policy,
            "tillhör organisationsnummer 2021009903, väntade 2021004748",
        )

    def test_a_prefixed_reserialisation_still_verifies(self, sealed, policy):
        # A SOAP stack on the way may re-prefix the elements; the verifier strips them again.
        prefixed = etree.Element(
            f"{{{ns.MESSAGE_V3}}}SealedDelivery", nsmap={"m3": ns.MESSAGE_V3, "ds": ns.DSIG}
        )
        for child in copy.deepcopy(sealed):
            prefixed.append(child)
        reprefixed = etree.fromstring(
            etree.tostring(prefixed)
            .replace(b"<SignedDelivery xmlns=", b"<m3:SignedDelivery xmlns:x=")
            .replace(b"</SignedDelivery>", b"</m3:SignedDelivery>")
        )
        assert strip_prefixes(reprefixed).tag == reprefixed.tag
        assert (
            verify_sealed_delivery(etree.tostring(reprefixed), policy).sealer_organisation
            == "2021009903"
        )

    def test_a_second_unsigned_delivery_is_refused(self, sealed, policy):
        forged = copy.deepcopy(sealed)
        extra = copy.deepcopy(forged[0][0])
        extra.find(f".//{{{ns.MESSAGE_V3}}}Subject").text = "Falskt beslut"
        forged[0].insert(0, extra)
        fails(etree.tostring(forged), policy, "exakt en Delivery")

    def test_a_delivery_wrapped_beside_the_signed_one_is_refused(self, sealed, policy):
        forged = copy.deepcopy(sealed)
        forged.insert(0, copy.deepcopy(forged[0][0]))
        fails(etree.tostring(forged), policy, "SealedDelivery ska innehålla exakt")

    def test_a_third_signature_hidden_in_the_content_is_refused(self, sealed, policy):
        forged = copy.deepcopy(sealed)
        forged[0][0].append(copy.deepcopy(forged[-1]))
        fails(etree.tostring(forged), policy, "leveransen har 3 signaturer")

    def test_a_reference_to_another_element_is_refused(self, sealed, policy, intermediary):
        forged = copy.deepcopy(sealed)
        signature = forged[-1]
        signature.find(f"{DS}SignedInfo/{DS}Reference").set("URI", "#Delivery")
        _resign_signed_info(signature, intermediary)
        fails(etree.tostring(forged), policy, "Reference pekar på '#Delivery'")

    def test_a_signer_from_another_ca_is_refused(self, sender, today):
        other = DevCertificateAuthority.create("Annan CA")
        stranger = other.issue_organisation("2021009903", "Grannkommun")
        sealed = sign_and_seal(
            letter(),
            sender,
            SigningIdentity(stranger.private_key, stranger.certificate),
            received_on=today,
        )
        fails(
            deliver_secure_request(sealed),
            VerificationPolicy(TrustStore.of([sender.certificate]), dt.datetime.now(dt.UTC)),
            "sigillet: certifikatet .* är inte betrott",
        )

    def test_sender_signature_by_another_organisation_than_the_sender_is_refused(
        self, intermediary, policy, today
    ):
        signed = etree.Element(f"{{{ns.MESSAGE_V3}}}SignedDelivery", nsmap={None: ns.MESSAGE_V3})
        from utskick.mm.delivery import build_delivery

        build_delivery(letter(), parent=signed)
        append_enveloped_signature(signed, intermediary)  # Grannkommun signs Exempelkommun's letter
        from utskick.mm.signing import seal_delivery

        sealed = seal_delivery(signed, intermediary, received_on=today)
        fails(
            etree.tostring(sealed),
            policy,
            "avsändarens certifikat tillhör organisationsnummer 2021009903, väntade 2021004748",
        )

    def test_an_expired_certificate_is_refused(self, authority, sender, today):
        old = authority.issue_organisation(
            "2021009903", "Grannkommun", days=30, valid_from=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        )
        sealed = sign_and_seal(
            letter(), sender, SigningIdentity(old.private_key, old.certificate), received_on=today
        )
        policy = VerificationPolicy(TrustStore.of([authority.certificate]), dt.datetime.now(dt.UTC))
        fails(etree.tostring(sealed), policy, "sigillet: certifikatet har gått ut")

    def test_sha1_is_refused_by_default_and_accepted_only_when_allowed(
        self, sealed, policy, intermediary
    ):
        forged = copy.deepcopy(sealed)
        signature = forged[-1]
        forged.remove(signature)
        digest = base64.b64encode(hashlib.sha1(canonicalize(forged)).digest()).decode()
        forged.append(signature)
        info = signature.find(f"{DS}SignedInfo")
        info.find(f"{DS}SignatureMethod").set(
            "Algorithm", "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
        )
        info.find(f"{DS}Reference/{DS}DigestMethod").set(
            "Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1"
        )
        info.find(f"{DS}Reference/{DS}DigestValue").text = digest
        signature.find(f"{DS}SignatureValue").text = base64.b64encode(
            intermediary.private_key.sign(canonicalize(info), padding.PKCS1v15(), hashes.SHA1())
        ).decode()
        fails(etree.tostring(forged), policy, "SHA-1 godtas inte")
        allowed = VerificationPolicy(policy.trust, policy.at, allow_sha1=True)
        assert (
            verify_sealed_delivery(etree.tostring(forged), allowed).sealer_organisation
            == "2021009903"
        )

    def test_a_subject_name_that_disagrees_with_the_certificate_is_refused(self, sealed, policy):
        forged = copy.deepcopy(sealed)
        name = forged[-1].find(f".//{DS}X509SubjectName")
        name.text = re.sub("Grannkommun", "Falsk kommun", name.text)
        fails(etree.tostring(forged), policy, "X509SubjectName stämmer inte")

    def test_an_xml_bomb_in_place_of_a_delivery_is_refused(self, policy):
        bomb = b'<!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><SealedDelivery>&b;</SealedDelivery>'
        fails(bomb, policy, "DOCTYPE")


class TestTextAroundTheSignatures:
    """Text outside every digest must not pass; white space a sender sealed must not fail."""

    @pytest.mark.parametrize("on_the_wire", [False, True])
    def test_text_after_the_seals_signature_is_refused(self, sealed, policy, on_the_wire):
        # lxml moves an element's tail with it: a verifier that detaches the Signature that
        # way digests without the text after it, which then travels unsigned.
        document = (
            deliver_secure_request(sealed)
            if on_the_wire
            else etree.tostring(sealed, encoding="UTF-8")
        )
        end = document.rindex(b"Signature>") + len(b"Signature>")
        forged = document[:end] + b"Din ans\xc3\xb6kan \xc3\xa4r INTE beviljad." + document[end:]
        fails(forged, policy, "sigillet: kontrollsumman stämmer inte")

    def test_a_seal_over_an_indented_sealed_delivery_verifies_on_the_wire(
        self, sender, intermediary, policy, today
    ):
        sealed = etree.Element(f"{{{ns.MESSAGE_V3}}}SealedDelivery", nsmap={None: ns.MESSAGE_V3})
        sealed.text = "\n  "
        sealed.append(sign_delivery(letter(), sender))
        sealed[0].tail = "\n  "
        seal = etree.SubElement(sealed, f"{{{ns.MESSAGE_V3}}}Seal")
        seal.tail = "\n  "
        etree.SubElement(seal, f"{{{ns.MESSAGE}}}ReceivedTime").text = today.isoformat()
        etree.SubElement(seal, f"{{{ns.MESSAGE}}}SignaturesOK").text = "true"
        append_enveloped_signature(sealed, intermediary)
        children = b"".join(etree.tostring(child, encoding="UTF-8") for child in sealed)
        request = (
            (
                f'<Envelope xmlns="{ns.SOAP_ENV}"><Body><deliverSecure xmlns="{ns.SERVICE_V3}">'
                "<deliverSecure>\n  "
            ).encode()
            + children
            + b"</deliverSecure></deliverSecure></Body></Envelope>"
        )
        verified = verify_sealed_delivery(request, policy)
        assert verified.sealer_organisation == "2021009903"
        assert verified.delivery.messages[0].subject == "Beslut om förskoleplats – åäö"

    def test_white_space_around_the_signed_children_on_the_wire_still_verifies(
        self, sealed, policy
    ):
        compact = (
            deliver_secure_request(sealed)
            .replace(
                b"<svc:deliverSecure><v3:SignedDelivery>",
                b"<svc:deliverSecure>\n  <v3:SignedDelivery>",
            )
            .replace(
                b"</ds:Signature></svc:deliverSecure>", b"</ds:Signature>\n</svc:deliverSecure>"
            )
        )
        assert compact.count(b"\n") == 2  # both places exist in the prefixed wire form
        verified = verify_sealed_delivery(compact, policy)
        assert verified.delivery.messages[0].subject == "Beslut om förskoleplats – åäö"


def _with_damaged_certificate_subject(document: bytes, certificate) -> bytes:
    """The document with the seal's certificate's subject CN tagged as no string type.

    The certificate still loads: `cryptography` parses the subject only when first asked.
    """
    from cryptography.hazmat.primitives.serialization import Encoding

    der = certificate.public_bytes(Encoding.DER)
    name = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    at = der.rindex(name.encode()) - 2  # the subject's CN value: tag, length, text
    damaged = der[:at] + b"\xd3" + der[at + 1 :]
    x509.load_der_x509_certificate(damaged)  # loads fine
    text = document.decode()
    start = text.rindex("<X509Certificate>") + len("<X509Certificate>")
    end = text.rindex("</X509Certificate>")
    return (text[:start] + base64.b64encode(damaged).decode() + text[end:]).encode()


def test_a_certificate_whose_subject_cannot_be_read_is_refused_not_a_crash(
    sealed, policy, intermediary
):
    forged = _with_damaged_certificate_subject(
        etree.tostring(sealed, encoding="UTF-8"), intermediary.certificate
    )
    fails(forged, policy, "sigillet: certifikatet i KeyInfo går inte att läsa")


def _resign_signed_info(signature, identity):
    info = signature.find(f"{DS}SignedInfo")
    signature.find(f"{DS}SignatureValue").text = base64.b64encode(
        identity.sign(canonicalize(info))
    ).decode()


def _sealed_with_received_time(sender, intermediary, text):
    """A delivery whose seal says ReceivedTime `text`, sealed validly over that text."""
    sealed = seal_delivery(
        sign_delivery(letter(), sender), intermediary, received_on=dt.date(2023, 10, 11)
    )
    sealed.remove(sealed[-1])
    sealed.find(f"{{{ns.MESSAGE_V3}}}Seal/{{{ns.MESSAGE}}}ReceivedTime").text = text
    append_enveloped_signature(sealed, intermediary)
    return deliver_secure_request(sealed)


class TestReceivedTime:
    @pytest.mark.parametrize(
        "written",
        ["2023-10-11", "2023-10-11Z", "2023-10-11+02:00", "2023-10-11-14:00", "2023-10-11+14:00"],
    )
    def test_any_valid_xs_date_is_accepted_as_the_day_written(
        self, sender, intermediary, policy, written
    ):
        request = _sealed_with_received_time(sender, intermediary, written)
        assert verify_sealed_delivery(request, policy).received_on == dt.date(2023, 10, 11)

    @pytest.mark.parametrize(
        ("written", "why"),
        [
            ("2023-13-01", "det datumet finns inte"),
            ("2023-10-11T10:00:00", "inget datum av typen xs:date"),
            ("2023-10-11+14:30", "mellan -14:00 och +14:00"),
        ],
    )
    def test_an_invalid_received_time_is_refused_with_the_reason(
        self, sender, intermediary, policy, written, why
    ):
        request = _sealed_with_received_time(sender, intermediary, written)
        reason = fails(request, policy, "sigillets ReceivedTime")
        assert why in reason


def _sealed_with_signatures_ok(sender, intermediary, text):
    """A delivery whose seal says SignaturesOK `text`, sealed validly over that text."""
    sealed = seal_delivery(
        sign_delivery(letter(), sender), intermediary, received_on=dt.date(2023, 10, 11)
    )
    sealed.remove(sealed[-1])
    sealed.find(f"{{{ns.MESSAGE_V3}}}Seal/{{{ns.MESSAGE}}}SignaturesOK").text = text
    append_enveloped_signature(sealed, intermediary)
    return deliver_secure_request(sealed)


class TestSignaturesOk:
    @pytest.mark.parametrize("written", ["true", "1", " true "])
    def test_a_seal_vouching_for_the_signatures_is_accepted(
        self, sender, intermediary, policy, written
    ):
        request = _sealed_with_signatures_ok(sender, intermediary, written)
        assert verify_sealed_delivery(request, policy).sender_organisation == "2021004748"

    @pytest.mark.parametrize(
        ("written", "why"),
        [("false", "intygar inte"), ("0", "intygar inte"), ("ja", "inget xs:boolean")],
    )
    def test_a_seal_that_does_not_vouch_for_them_is_refused_though_validly_sealed(
        self, sender, intermediary, policy, written, why
    ):
        request = _sealed_with_signatures_ok(sender, intermediary, written)
        assert why in fails(request, policy, "SignaturesOK")


class TestOlderSendersSha1:
    def test_a_delivery_signed_and_sealed_with_rsa_sha1_by_another_signer(
        self, sealed, policy, sender, intermediary
    ):
        resigned = resign_sha1(
            sealed,
            (sender.private_key, sender.certificate),
            (intermediary.private_key, intermediary.certificate),
        )
        request = etree.tostring(resigned)
        fails(request, policy, "SHA-1 godtas inte")
        allowed = VerificationPolicy(policy.trust, policy.at, allow_sha1=True)
        verified = verify_sealed_delivery(request, allowed)
        assert verified.sender_organisation == "2021004748"
        assert verified.delivery.messages[0].subject == "Beslut om förskoleplats – åäö"
