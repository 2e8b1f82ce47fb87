"""The two wire forms of deliverSecure: prefixed (the default) and default namespaces.

Both carry the same signatures, computed over the prefix-free form. Each form is checked by
three verifiers that strip the prefixes as an operator does: Utskick's own, the plain lxml +
cryptography one in `support/independent_verifier.py`, and the JDK's `javax.xml.crypto.dsig`
(`support/JdkSealedDeliveryVerifier.java`); the last two import nothing from Utskick.
"""

import base64
import datetime as dt
import re

import pytest
from cryptography import x509
from lxml import etree

from support.independent_verifier import (
    c14n,
    inner_deliver_secure,
    renamed_to_sealed_delivery,
    standalone,
    strip_prefixes_textually,
    verify_enveloped,
)
from support.jdk_verifier import jdk_verifier_or_skip
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.mm import schemas
from utskick.mm.delivery import Attachment
from utskick.mm.devca import write_certificate
from utskick.mm.keys import organisation_number_of
from utskick.mm.signing import sign_and_seal
from utskick.mm.soap import MessageTooLargeError, WireForm, body_element, deliver_secure_request
from utskick.mm.verification import (
    TrustStore,
    VerificationError,
    VerificationPolicy,
    verify_sealed_delivery,
)

from .test_signing import letter

DSIG = "http://www.w3.org/2000/09/xmldsig#"
SERVICE_V3 = "http://minameddelanden.gov.se/schema/Service/v3"
FORMS = [WireForm.PREFIXED, WireForm.DEFAULT_NAMESPACES]
SAMPLE_TIME = dt.datetime(2020, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def sealed(sender, intermediary, today):
    return sign_and_seal(
        letter(attachments=(Attachment("beslut.pdf", minimal_pdf(2000)),)),
        sender,
        intermediary,
        received_on=today,
    )


@pytest.fixture(scope="module")
def ca_pem(authority, tmp_path_factory):
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    write_certificate(path, authority.certificate)
    return path


@pytest.fixture(scope="module")
def jdk(tmp_path_factory):
    return jdk_verifier_or_skip(tmp_path_factory.mktemp("jdk"))


def policy(authority, **options):
    return VerificationPolicy(
        TrustStore.of([authority.certificate]), dt.datetime.now(dt.UTC), **options
    )


def delivery_part(wire):
    """The bytes inside the outer deliverSecure (what the form decides)."""
    start = wire.index(b"deliverSecure")
    return wire[wire.index(b">", start) + 1 : wire.rindex(b"deliverSecure")]


def operator_strips_and_verifies(wire):
    """The lxml verifier: strip every prefix, rename deliverSecure, verify both signatures."""
    sealed = renamed_to_sealed_delivery(inner_deliver_secure(strip_prefixes_textually(wire)))
    return verify_enveloped(sealed), verify_enveloped(standalone(sealed[0]))


class TestTheForms:
    def test_the_default_is_prefixed(self, sealed):
        assert deliver_secure_request(sealed) == deliver_secure_request(sealed, WireForm.PREFIXED)

    def test_prefixed_writes_every_element_with_a_prefix_and_no_default_namespace(self, sealed):
        wire = deliver_secure_request(sealed, WireForm.PREFIXED)
        outer = body_element(wire)
        unprefixed = [e.tag for e in outer.iter() if isinstance(e.tag, str) and not e.prefix]
        assert unprefixed == []
        assert b'xmlns="' not in wire
        assert re.findall(rb"<(\w+):Signature>", wire) == [b"ds", b"ds"]
        # One declaration per namespace, on the outer deliverSecure, none inside.
        assert delivery_part(wire).count(b"xmlns:") == 0
        assert outer.nsmap == {
            "svc": SERVICE_V3,
            "v3": "http://minameddelanden.gov.se/schema/Message/v3",
            "v2": "http://minameddelanden.gov.se/schema/Message/v2",
            "msg": "http://minameddelanden.gov.se/schema/Message",
            "snd": "http://minameddelanden.gov.se/schema/Sender",
            "om": "http://minameddelanden.gov.se/schema/OfficialMatter/v3",
            "ds": DSIG,
            "soap": "http://schemas.xmlsoap.org/soap/envelope/",
        }

    def test_default_namespaces_writes_the_signed_bytes_as_they_are(self, sealed):
        wire = deliver_secure_request(sealed, WireForm.DEFAULT_NAMESPACES)
        signed_bytes = b"".join(etree.tostring(child, encoding="UTF-8") for child in sealed)
        assert signed_bytes in wire
        assert not re.search(rb"<\w+:(?!Envelope|Body)", wire)

    @pytest.mark.parametrize("form", FORMS)
    def test_both_forms_follow_the_service_v3_schema_without_whitespace(self, sealed, form):
        wire = deliver_secure_request(sealed, form)
        schemas.validate(body_element(wire), schemas.service_v3())
        assert not re.search(rb">\s+<", wire)

    def test_stripping_the_prefixes_gives_back_exactly_the_signed_form(self, sealed):
        prefixed = renamed_to_sealed_delivery(
            inner_deliver_secure(strip_prefixes_textually(deliver_secure_request(sealed)))
        )
        assert c14n(prefixed) == c14n(sealed)

    def test_a_namespace_without_a_named_prefix_gets_a_numbered_one(self, sealed):
        extended = etree.fromstring(etree.tostring(sealed))
        extra = etree.SubElement(
            extended[1], "{urn:example:extension}Note", nsmap={None: "urn:example:extension"}
        )
        extra.text = "x"
        wire = deliver_secure_request(extended)
        assert b'xmlns:ns1="urn:example:extension"' in wire
        assert b"<ns1:Note>x</ns1:Note>" in wire
        stripped = renamed_to_sealed_delivery(inner_deliver_secure(strip_prefixes_textually(wire)))
        assert c14n(stripped) == c14n(extended)

    def test_the_same_delivery_is_always_the_same_bytes(self, sealed):
        assert deliver_secure_request(sealed) == deliver_secure_request(sealed)

    @pytest.mark.parametrize("form", FORMS)
    def test_the_two_megabyte_limit_holds_in_both_forms(self, sender, today, form):
        big = letter(attachments=(Attachment("stor.pdf", minimal_pdf(1_700_000)),))
        sealed = sign_and_seal(big, sender, sender, received_on=today)
        with pytest.raises(MessageTooLargeError, match="högst 2 MB"):
            deliver_secure_request(sealed, form)


class TestUtskicksOwnVerifier:
    @pytest.mark.parametrize("form", FORMS)
    def test_both_forms_verify_and_read_back_the_letter(self, sealed, authority, form):
        wire = deliver_secure_request(sealed, form)
        verified = verify_sealed_delivery(wire, policy(authority, expected_sealer="2021009903"))
        assert verified.sender_organisation == "2021004748"
        assert verified.sealer_organisation == "2021009903"
        assert verified.delivery.messages[0].subject == "Beslut om förskoleplats – åäö"
        assert verified.delivery.messages[0].attachments[0].filename == "beslut.pdf"

    @pytest.mark.parametrize("form", FORMS)
    def test_a_changed_subject_fails_in_both_forms(self, sealed, authority, form):
        wire = deliver_secure_request(sealed, form)
        tampered = wire.replace("förskoleplats".encode(), b"fritidsplats")
        with pytest.raises(VerificationError, match="kontrollsumman stämmer inte"):
            verify_sealed_delivery(tampered, policy(authority))


class TestIndependentLxmlVerifier:
    @pytest.mark.parametrize("form", FORMS)
    def test_both_signatures_verify_after_the_operator_strips_prefixes(self, sealed, form):
        sealer, sender = operator_strips_and_verifies(deliver_secure_request(sealed, form))
        assert organisation_number_of(sealer) == "2021009903"
        assert organisation_number_of(sender) == "2021004748"

    def test_a_verifier_that_does_not_strip_fails_on_the_prefixed_form(self, sealed):
        # Why the default-namespace form stays available per operator: the signatures are
        # over the prefix-free form, so a receiver that checks the bytes as received (no
        # stripping) fails on the prefixed form and succeeds on the other.
        def as_received(form):
            wire = deliver_secure_request(sealed, form)
            return verify_enveloped(renamed_to_sealed_delivery(inner_deliver_secure(wire)))

        as_received(WireForm.DEFAULT_NAMESPACES)
        with pytest.raises(AssertionError, match="digest mismatch"):
            as_received(WireForm.PREFIXED)

    @pytest.mark.parametrize("form", FORMS)
    def test_a_changed_body_fails_after_stripping(self, sealed, form):
        wire = deliver_secure_request(sealed, form)
        tampered = wire.replace("förskoleplats".encode(), b"fritidsplats")
        with pytest.raises(AssertionError, match="digest mismatch"):
            operator_strips_and_verifies(tampered)


class TestTheSignatureIsFoundInTheRawRequest:
    def test_xpath_for_ds_signature_finds_the_seal_and_the_senders_signature(self, sealed):
        wire = deliver_secure_request(sealed, WireForm.PREFIXED)
        root = etree.fromstring(wire)
        found = root.xpath("//ds:Signature", namespaces={"ds": DSIG})
        assert [signature.prefix for signature in found] == ["ds", "ds"]
        inner = root.find(f".//{{{SERVICE_V3}}}deliverSecure/{{{SERVICE_V3}}}deliverSecure")
        assert found[1] is inner[-1], "the seal, last child of deliverSecure"
        assert found[0] is inner[0][-1], "the sender's, last child of SignedDelivery"

    def test_only_the_prefixed_form_is_found_by_the_qualified_name_ds_signature(self, sealed):
        def by_qualified_name(form):
            root = etree.fromstring(deliver_secure_request(sealed, form))
            return [
                e for e in root.iter() if isinstance(e.tag, str) and qualified(e) == "ds:Signature"
            ]

        assert len(by_qualified_name(WireForm.PREFIXED)) == 2
        assert by_qualified_name(WireForm.DEFAULT_NAMESPACES) == []


def qualified(element):
    local = etree.QName(element).localname
    return f"{element.prefix}:{local}" if element.prefix else local


class TestTheJdkVerifier:
    @pytest.mark.parametrize("form", FORMS)
    def test_both_forms_verify_in_the_jdk_after_stripping(self, sealed, ca_pem, jdk, form):
        verdict = jdk.verify(deliver_secure_request(sealed, form), ca_pem)
        assert verdict.returncode == 0, (verdict.lines, verdict.stderr)
        assert verdict.line("SEAL VALID TRUSTED").count("SERIALNUMBER=162021009903") == 1
        assert verdict.line("SENDER VALID TRUSTED").count("SERIALNUMBER=162021004748") == 1
        assert verdict.line("RAW-BY-NAMESPACE") == (
            "RAW-BY-NAMESPACE 2 [ds, ds]"
            if form == WireForm.PREFIXED
            else "RAW-BY-NAMESPACE 2 [(none), (none)]"
        )

    def test_the_jdk_finds_ds_signature_by_its_qualified_name_in_the_prefixed_form(
        self, sealed, jdk
    ):
        prefixed = jdk.verify(deliver_secure_request(sealed, WireForm.PREFIXED))
        default = jdk.verify(deliver_secure_request(sealed, WireForm.DEFAULT_NAMESPACES))
        assert prefixed.line("RAW-BY-QNAME") == "RAW-BY-QNAME ds:Signature 2"
        assert default.line("RAW-BY-QNAME") == "RAW-BY-QNAME ds:Signature 0"

    def test_the_jdk_refuses_a_changed_subject(self, sealed, ca_pem, jdk):
        wire = deliver_secure_request(sealed, WireForm.PREFIXED)
        verdict = jdk.verify(wire.replace("förskoleplats".encode(), b"fritidsplats"), ca_pem)
        assert verdict.returncode == 1
        assert verdict.line("SEAL INVALID") == 'SEAL INVALID digest(URI="")'
        assert verdict.line("SENDER INVALID") == 'SENDER INVALID digest(URI="")'

    def test_the_jdk_refuses_a_signer_from_another_ca(self, sealed, jdk, tmp_path):
        from utskick.mm.devca import DevCertificateAuthority

        stranger = tmp_path / "other-ca.pem"
        write_certificate(stranger, DevCertificateAuthority.create("Annan CA").certificate)
        verdict = jdk.verify(deliver_secure_request(sealed), stranger)
        assert verdict.returncode == 1
        assert verdict.line("SEAL UNTRUSTED")

    def test_the_real_sample_rewritten_prefixed_verifies_everywhere(self, sample_bytes, jdk):
        # Another implementation's signed form, written the JAXB way by us: the prefixes
        # are stripped to exactly what that implementation signed.
        wire = deliver_secure_request(etree.fromstring(sample_bytes), WireForm.PREFIXED)
        assert re.findall(rb"<(\w+):Signature>", wire) == [b"ds", b"ds"]
        certificate = x509.load_der_x509_certificate(
            base64.b64decode(
                etree.fromstring(sample_bytes)[-1].findtext(f".//{{{DSIG}}}X509Certificate")
            )
        )
        ours = verify_sealed_delivery(
            wire, VerificationPolicy(TrustStore.of([certificate]), SAMPLE_TIME)
        )
        assert ours.sender_organisation == "2021004748"
        operator_strips_and_verifies(wire)
        verdict = jdk.verify(wire)
        assert verdict.returncode == 0, (verdict.lines, verdict.stderr)
        assert "SERIALNUMBER=162021004748" in verdict.line("SEAL VALID")
        assert "SERIALNUMBER=162021004748" in verdict.line("SENDER VALID")
