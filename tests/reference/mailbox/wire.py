"""Helpers of the mailbox operator tests: signed letters, SOAP over HTTPS, waiting."""

import base64
import datetime as dt
import itertools
import time
import uuid

import pytest
from cryptography import x509
from lxml import etree

from support.world import EXEMPELKOMMUN, TOLVAN
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.mm import namespaces as ns
from utskick.mm.delivery import Attachment, Delivery, SecureMessage, SupportInfo
from utskick.mm.devca import write_pem_bundle
from utskick.mm.keys import SigningIdentity, load_signing_identity
from utskick.mm.signing import sign_and_seal
from utskick.mm.soap import (
    SOAP_HEADERS,
    SoapFault,
    deliver_secure_request,
    parse_deliver_secure_response,
)

SAMPLE_TIME = dt.datetime(2020, 6, 1, 12, 0, tzinfo=dt.UTC)


def sample_certificate(sample_bytes):
    root = etree.fromstring(sample_bytes)
    der = root[-1].findtext(f".//{{{ns.DSIG}}}X509Certificate")
    return x509.load_der_x509_certificate(base64.b64decode(der))


class Letters:
    """Deliveries signed and sealed with the demo PKI (or any other identity)."""

    def __init__(self, context, tmp_path_factory):
        self.context = context
        self._tmp = tmp_path_factory
        self._identities = {}
        self._serial = itertools.count()

    def identity(self, organisation):
        if organisation not in self._identities:
            self._identities[organisation] = load_signing_identity(
                self.context.pki.key_and_certificate(organisation)
            )
        return self._identities[organisation]

    def stranger(self, number, name):
        """An organisation with a certificate from the demo CA that FaR has never heard of."""
        issued = self.context.pki.authority.issue_organisation(number, name)
        bundle = self._tmp.mktemp("stranger") / f"{number}.pem"
        write_pem_bundle(bundle, issued)
        return SigningIdentity(issued.private_key, issued.certificate), bundle

    def letter(
        self,
        recipient=TOLVAN,
        *,
        sender=EXEMPELKOMMUN,
        sender_name="Exempelkommun",
        subject=None,
        body=b"Hej! Du har fatt en plats pa forskolan.",
        attachments=None,
        message_id=None,
        body_content_type="text/plain",
    ):
        if attachments is None:
            attachments = (Attachment("beslut.pdf", minimal_pdf(3000)),)
        message = SecureMessage(
            id=message_id or f"test-{uuid.uuid4().hex}",
            subject=subject or f"Beslut om förskoleplats {next(self._serial)}",
            support_info=SupportInfo("Frågor: ring 010-123 45 67"),
            body=body,
            body_content_type=body_content_type,
            attachments=attachments,
        )
        return Delivery("16" + sender, sender_name, recipient, (message,))

    def sealed(self, delivery, *, signer=None, sealer=None):
        signer = signer or self.identity(delivery.sender_id[2:])
        sealer = sealer or self.identity(EXEMPELKOMMUN)
        today = dt.datetime.now(dt.UTC).date()
        return sign_and_seal(delivery, signer, sealer, received_on=today)

    def request(self, delivery=None, **options):
        return deliver_secure_request(self.sealed(delivery or self.letter(), **options))


def post(http, url, body):
    return http.post(url, content=body, headers=SOAP_HEADERS)


def refusal(response):
    """The fault of a refused request, after checking that it is a proper SOAP 1.1 fault."""
    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    with pytest.raises(SoapFault) as caught:
        parse_deliver_secure_response(response.content)
    assert 20 <= len(caught.value.call_id) <= 50
    return caught.value


def wait_for(condition, timeout=10.0):
    """Poll until `condition()` is truthy (the SMTP sink and the notice thread are async)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)
