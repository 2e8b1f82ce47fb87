"""A plain exclusive-C14N enveloped-signature verifier, written apart from utskick.mm.

It imports nothing from Utskick, so that a mistake shared by our signer and our verifier
cannot make a test pass: digest over the document without its Signature, RSA over the
canonical SignedInfo, nothing else.
"""

import base64
import copy
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

DS = "{http://www.w3.org/2000/09/xmldsig#}"
V3 = "http://minameddelanden.gov.se/schema/Message/v3"
SERVICE_V3 = "http://minameddelanden.gov.se/schema/Service/v3"


def c14n(element):
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def verify_enveloped(document_root):
    """Verify the Signature that is the last child of a standalone root; return the cert."""
    signature = document_root[-1]
    assert signature.tag == f"{DS}Signature"
    without = copy.deepcopy(document_root)
    without.remove(without[-1])
    digest = base64.b64encode(hashlib.sha256(c14n(without)).digest()).decode()
    assert signature.findtext(f".//{DS}DigestValue") == digest, "digest mismatch"
    cert = x509.load_der_x509_certificate(
        base64.b64decode(signature.findtext(f".//{DS}X509Certificate"))
    )
    cert.public_key().verify(
        base64.b64decode(signature.findtext(f"{DS}SignatureValue")),
        c14n(signature.find(f"{DS}SignedInfo")),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    return cert


def standalone(element):
    """Parse an element's serialisation as its own document (what a receiver does)."""
    return etree.fromstring(etree.tostring(element))


def strip_prefixes_textually(xml_bytes):
    """What the old reference code does: rebuild with default namespaces only."""
    root = etree.fromstring(xml_bytes)

    def rebuild(element, parent_ns):
        namespace = etree.QName(element).namespace
        nsmap = {None: namespace} if namespace and namespace != parent_ns else None
        new = etree.Element(element.tag, attrib=dict(element.attrib), nsmap=nsmap)
        new.text = element.text
        for child in element:
            rebuilt = rebuild(child, namespace)
            rebuilt.tail = child.tail
            new.append(rebuilt)
        return new

    return etree.tostring(rebuild(root, None))


def renamed_to_sealed_delivery(wire_deliver_secure):
    """The operator quirk: the wire element deliverSecure renamed back to SealedDelivery."""
    sealed = etree.Element(f"{{{V3}}}SealedDelivery", nsmap={None: V3})
    for child in wire_deliver_secure:
        sealed.append(copy.deepcopy(child))
    return standalone(sealed)


def inner_deliver_secure(soap_bytes):
    root = etree.fromstring(soap_bytes)
    return root.find(f".//{{{SERVICE_V3}}}deliverSecure/{{{SERVICE_V3}}}deliverSecure")
