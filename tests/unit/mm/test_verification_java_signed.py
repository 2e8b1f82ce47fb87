"""Deliveries signed and sealed by the JDK, as Java/JAXB-based senders write them.

`support/JdkSealedDeliverySigner.java` imports nothing from Utskick: it signs with the JDK's
`javax.xml.crypto.dsig` (exc-c14n, RSA-SHA256, SHA-256, Reference URI="" with the
enveloped-signature transform alone), writes every element prefixed (ns2:, ns3:, … declared on
the root as JAXB does, ds: on the signatures), base64 with `&#13;`, X509SubjectName as
X500Principal.getName() writes it and ReceivedTime as XMLGregorianCalendar writes an xs:date.

Two ways Java senders sign: `stripped` (the prefixes stripped before signing, Skatteverket's
rule, sent prefixed) and `prefixed` (the prefixed form signed as it is). The JDK digests a
Reference with the enveloped transform alone over inclusive C14N, as XML-DSig says; Utskick
refused the `prefixed` form until it did the same.
"""

import base64
import copy
import datetime as dt
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from support.jdk_signer import jdk_signer_or_skip, write_pkcs8_bundle
from support.jdk_verifier import jdk_verifier_or_skip
from support.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.mm.delivery import build_delivery
from utskick.mm.devca import write_certificate
from utskick.mm.signing import canonicalize, sign_and_seal
from utskick.mm.verification import (
    TrustStore,
    VerificationError,
    VerificationPolicy,
    verify_sealed_delivery,
)

from .test_signing import letter

SENDER_ORG = EXEMPELKOMMUN
SEALER_ORG = GRANNKOMMUN
SUBJECT = "Beslut om förskoleplats – åäö"
DIGEST_REASON = "kontrollsumman stämmer inte, innehållet har ändrats efter signeringen"


@pytest.fixture(scope="module")
def java(tmp_path_factory, sender, intermediary):
    """Each variant signed by the JDK: variant → JavaSigned."""
    workdir = tmp_path_factory.mktemp("jdk-signer")
    signer = jdk_signer_or_skip(workdir)
    sender_pem = write_pkcs8_bundle(workdir / "sender.pem", sender)
    sealer_pem = write_pkcs8_bundle(workdir / "sealer.pem", intermediary)
    delivery = etree.tostring(build_delivery(letter()))
    return {
        variant: signer.sign(variant, delivery, sender_pem, sealer_pem)
        for variant in ("stripped", "prefixed")
    }


@pytest.fixture(scope="module")
def ca_pem(authority, tmp_path_factory):
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    write_certificate(path, authority.certificate)
    return path


def verify(document, authority):
    policy = VerificationPolicy(
        TrustStore.of([authority.certificate]), dt.datetime.now(dt.UTC), expected_sealer=SEALER_ORG
    )
    return verify_sealed_delivery(document, policy)


class TestWhatJavaWrites:
    def test_every_element_is_prefixed_as_jaxb_writes_it(self, java):
        sealed = java["stripped"].sealed
        assert b"<ns2:SealedDelivery xmlns:ns2=" in sealed
        assert b"<ns2:SignedDelivery><ns2:Delivery><ns2:Header><ns3:Sender><ns4:Id>" in sealed
        assert sealed.count(b"<ds:Signature>") == 2
        assert not re.search(rb"<[A-Za-z]+[ >]", sealed.split(b"?>", 1)[1])  # no bare element

    def test_the_jdk_writes_its_own_base64_subject_and_date(self, java):
        sealed = java["prefixed"].sealed
        assert b"&#13;" in sealed.split(b"<ds:SignatureValue>")[1].split(b"</")[0]
        assert b"&#13;" in sealed.split(b"<ds:X509Certificate>")[1].split(b"</")[0]
        assert b"<ds:X509SubjectName>2.5.4.5=#130c313632303231303034373438+CN=Exempelkommun" in (
            sealed
        )
        assert re.search(
            rb"<ns\d:ReceivedTime>\d{4}-\d\d-\d\d\+0[12]:00</ns\d:ReceivedTime>", sealed
        )
        assert (
            b'<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms>'
            in sealed
        )


class TestUtskickAccepts:
    @pytest.mark.parametrize("part", ["sealed", "request"])
    def test_stripped_before_signing_is_accepted_bare_and_in_deliver_secure(
        self, java, authority, part
    ):
        verified = verify(getattr(java["stripped"], part), authority)
        assert (verified.sender_organisation, verified.sealer_organisation) == (
            SENDER_ORG,
            SEALER_ORG,
        )
        assert verified.delivery.messages[0].subject == SUBJECT
        assert verified.delivery.messages[0].body == b"Hej! Du har beviljats plats."

    def test_the_prefixed_form_signed_as_it_is_is_accepted_as_a_document(self, java, authority):
        # The regression: the JDK digests over inclusive C14N (all of JAXB's declarations on
        # the root); Utskick digested over exclusive C14N only and refused it.
        verified = verify(java["prefixed"].sealed, authority)
        assert (verified.sender_organisation, verified.sealer_organisation) == (
            SENDER_ORG,
            SEALER_ORG,
        )
        assert verified.delivery.messages[0].subject == SUBJECT

    def test_the_prefixed_form_signed_as_it_is_cannot_travel_in_deliver_secure(
        self, java, authority, ca_pem, tmp_path_factory
    ):
        # Renaming SealedDelivery to deliverSecure changes what the seal covers unless the
        # prefixes are stripped first; the JDK's own stripping verifier refuses it as well.
        with pytest.raises(VerificationError) as refused:
            verify(java["prefixed"].request, authority)
        assert refused.value.reason == f"sigillet: {DIGEST_REASON}"
        jdk = jdk_verifier_or_skip(tmp_path_factory.mktemp("jdk-verifier"))
        assert jdk.verify(java["prefixed"].request, ca_pem).returncode == 1
        assert jdk.verify(java["stripped"].request, ca_pem).returncode == 0

    @pytest.mark.parametrize(
        ("variant", "part"),
        [("stripped", "sealed"), ("stripped", "request"), ("prefixed", "sealed")],
    )
    def test_mm_verify_says_ok(self, java, ca_pem, tmp_path, variant, part):
        path = tmp_path / "java.xml"
        path.write_bytes(getattr(java[variant], part))
        utskick = str(Path(sys.executable).with_name("utskick"))
        done = subprocess.run(
            [utskick, "mm", "verify", str(path), "--trust", str(ca_pem)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.strip() == "OK sender=202100-4748 sealer=202100-9903"


class TestAChangedByteIsRefused:
    @pytest.mark.parametrize(
        ("variant", "part"),
        [("stripped", "sealed"), ("stripped", "request"), ("prefixed", "sealed")],
    )
    def test_a_changed_subject(self, java, authority, variant, part):
        document = getattr(java[variant], part)
        tampered = document.replace("förskoleplats".encode(), b"fritidsplats")
        assert tampered != document
        with pytest.raises(VerificationError) as refused:
            verify(tampered, authority)
        assert refused.value.reason == f"sigillet: {DIGEST_REASON}"

    def test_a_comment_in_a_java_signed_subject_is_still_refused(self, java, authority):
        document = java["stripped"].request
        tampered = document.replace("förskoleplats".encode(), "förskole<!--x-->plats".encode())
        with pytest.raises(VerificationError) as refused:
            verify(tampered, authority)
        assert "kommentarer är inte tillåtna i signerat innehåll" in refused.value.reason


DSIG = "{http://www.w3.org/2000/09/xmldsig#}"


def _resealed_over_inclusive_c14n(sealed, intermediary):
    """The seal redone as the JDK computes it: an unused prefix declared on the root (as JAXB
    declares them all) and the digest over inclusive C14N (the enveloped transform alone)."""
    root = etree.Element(sealed.tag, nsmap={None: sealed.nsmap[None], "ns9": "urn:x-unused"})
    for child in sealed:
        root.append(copy.deepcopy(child))
    signature = root[-1]
    root.remove(signature)
    inclusive = etree.tostring(root, method="c14n", exclusive=False, with_comments=False)
    assert inclusive != canonicalize(root)  # the two canonical forms differ here
    root.append(signature)
    digest = base64.b64encode(hashlib.sha256(inclusive).digest()).decode()
    signature.find(f"{DSIG}SignedInfo/{DSIG}Reference/{DSIG}DigestValue").text = digest
    value = intermediary.sign(canonicalize(signature[0]))
    signature.find(f"{DSIG}SignatureValue").text = base64.b64encode(value).decode()
    return etree.tostring(root)


class TestInclusiveC14nWithoutJava:
    """The same regression without the JDK: a Reference with the enveloped transform alone is
    digested over inclusive C14N, as XML-DSig and the JDK say."""

    @pytest.fixture
    def resealed(self, sender, intermediary, today):
        return _resealed_over_inclusive_c14n(
            sign_and_seal(letter(), sender, intermediary, received_on=today), intermediary
        )

    def test_a_seal_digested_over_inclusive_c14n_is_accepted(self, resealed, authority):
        verified = verify(resealed, authority)
        assert verified.sealer_organisation == SEALER_ORG
        assert verified.delivery.messages[0].subject == SUBJECT

    def test_a_changed_declaration_that_inclusive_c14n_covers_is_refused(self, resealed, authority):
        tampered = resealed.replace(b"urn:x-unused", b"urn:x-changed")
        with pytest.raises(VerificationError) as refused:
            verify(tampered, authority)
        assert refused.value.reason == f"sigillet: {DIGEST_REASON}"
