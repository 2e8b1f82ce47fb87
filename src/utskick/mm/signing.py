"""Sign (sender) and seal (intermediary): the enveloped-signature profile that interoperates.

Profile (see `docs/mina-meddelanden.md`): Reference URI="" over the whole document, only the
enveloped-signature transform, exclusive C14N, RSA-SHA256, SHA-256 digest, KeyInfo with
X509SubjectName and X509Certificate, the `Signature` element appended as the last child of
the element it signs. The document is signed in its prefix-free form (Skatteverket's rule:
no prefixes, default namespace declarations where the namespace changes), whatever wire form
`mm.soap.deliver_secure_request` writes it in afterwards.

The signer works directly on lxml trees and formats the fixed Signature template itself: a
general XML-signature library spends more time on options than on the RSA operation, and the
nightly invoice run signs and seals hundreds of thousands of letters.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from xml.sax.saxutils import escape

from lxml import etree

from utskick.mm import namespaces as ns
from utskick.mm.delivery import Delivery, build_delivery
from utskick.mm.keys import SigningIdentity

EXCLUSIVE_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED_SIGNATURE = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"

_SIGNATURE_TEMPLATE = (
    f'<Signature xmlns="{ns.DSIG}"><SignedInfo>'
    f'<CanonicalizationMethod Algorithm="{EXCLUSIVE_C14N}"/>'
    f'<SignatureMethod Algorithm="{RSA_SHA256}"/>'
    f'<Reference URI=""><Transforms><Transform Algorithm="{ENVELOPED_SIGNATURE}"/></Transforms>'
    f'<DigestMethod Algorithm="{SHA256}"/><DigestValue>{{digest}}</DigestValue></Reference>'
    "</SignedInfo><SignatureValue/>"
    "<KeyInfo><X509Data><X509SubjectName>{subject}</X509SubjectName>"
    "<X509Certificate>{certificate}</X509Certificate></X509Data></KeyInfo></Signature>"
)


class SigningError(ValueError):
    """A delivery that may not be signed as asked; the message says why."""


def canonicalize(element: etree._Element, *, exclusive: bool = True) -> bytes:
    """XML canonicalisation (without comments) of an element and its subtree.

    Exclusive unless asked otherwise: inclusive C14N 1.0 is only for verifying a Reference
    whose transforms leave a node-set (see `verification._Digest`).
    """
    return etree.tostring(element, method="c14n", exclusive=exclusive, with_comments=False)


def append_enveloped_signature(root: etree._Element, signer: SigningIdentity) -> etree._Element:
    """Sign the document whose root is `root` and append the Signature as its last child."""
    digest = base64.b64encode(hashlib.sha256(canonicalize(root)).digest()).decode("ascii")
    signature = etree.fromstring(
        _SIGNATURE_TEMPLATE.format(
            digest=digest,
            subject=escape(signer.subject_name),
            certificate=signer.certificate_base64,
        )
    )
    signed_info = signature[0]
    signature[1].text = base64.b64encode(signer.sign(canonicalize(signed_info))).decode("ascii")
    root.append(signature)
    return signature


def sign_delivery(delivery: Delivery, sender: SigningIdentity) -> etree._Element:
    """Build and sign a standalone `<SignedDelivery>` with the sender's organisation key.

    Raises:
        SigningError: the key's certificate belongs to another organisation than the
            delivery's sender (a receiver would reject it).
    """
    expected = delivery.sender_id[2:]
    if sender.organisation_number != expected:
        raise SigningError(
            f"avsändarnyckelns certifikat gäller organisationsnummer "
            f"{sender.organisation_number or '(saknas)'}, men avsändaren är {expected}"
        )
    v3 = ns.MESSAGE_V3
    signed = etree.Element(f"{{{v3}}}SignedDelivery", nsmap={None: v3})  # type: ignore[dict-item]
    build_delivery(delivery, parent=signed)
    append_enveloped_signature(signed, sender)
    return signed


def seal_delivery(
    signed_delivery: etree._Element,
    intermediary: SigningIdentity,
    *,
    received_on: dt.date,
) -> etree._Element:
    """Wrap a signed delivery in a standalone `<SealedDelivery>` and sign it as intermediary.

    `received_on` is the Seal's ReceivedTime: the day the intermediary took the delivery.
    The signed delivery element is moved into the new document.
    """
    v3 = ns.MESSAGE_V3
    sealed = etree.Element(f"{{{v3}}}SealedDelivery", nsmap={None: v3})  # type: ignore[dict-item]
    sealed.append(signed_delivery)
    seal = etree.SubElement(sealed, f"{{{v3}}}Seal")
    received = etree.SubElement(seal, f"{{{ns.MESSAGE}}}ReceivedTime", nsmap={None: ns.MESSAGE})  # type: ignore[dict-item]
    received.text = received_on.isoformat()
    verified = etree.SubElement(seal, f"{{{ns.MESSAGE}}}SignaturesOK", nsmap={None: ns.MESSAGE})  # type: ignore[dict-item]
    verified.text = "true"
    append_enveloped_signature(sealed, intermediary)
    return sealed


def sign_and_seal(
    delivery: Delivery,
    sender: SigningIdentity,
    intermediary: SigningIdentity,
    *,
    received_on: dt.date,
) -> etree._Element:
    """Sign as sender and seal as intermediary in one step; returns the SealedDelivery root."""
    return seal_delivery(sign_delivery(delivery, sender), intermediary, received_on=received_on)
