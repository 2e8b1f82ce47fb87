"""A small RSA-SHA1 enveloped signer, written apart from utskick, for older senders' deliveries.

Utskick itself only signs with SHA-256; the real operators still accept RSA-SHA1 and SHA-1
digests from older senders. This signs a standalone element the way such a sender does:
Reference URI="" with the enveloped-signature transform, exclusive C14N, SHA-1 digest,
RSA-SHA1 signature, KeyInfo with the subject name and the certificate. It imports nothing
from Utskick.
"""

import base64
import hashlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

DSIG = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


def _c14n(element):
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def _sub(parent, name, text=None, **attributes):
    element = etree.SubElement(parent, f"{{{DSIG}}}{name}", attrib=attributes)
    element.text = text
    return element


def sign_sha1(root, private_key, certificate):
    """Append an RSA-SHA1 enveloped Signature to `root` (the root of its own document)."""
    digest = base64.b64encode(hashlib.sha1(_c14n(root)).digest()).decode()
    signature = etree.Element(f"{{{DSIG}}}Signature", nsmap={None: DSIG})
    info = _sub(signature, "SignedInfo")
    _sub(info, "CanonicalizationMethod", Algorithm=EXC_C14N)
    _sub(info, "SignatureMethod", Algorithm=DSIG + "rsa-sha1")
    reference = _sub(info, "Reference", URI="")
    transforms = _sub(reference, "Transforms")
    _sub(transforms, "Transform", Algorithm=DSIG + "enveloped-signature")
    _sub(reference, "DigestMethod", Algorithm=DSIG + "sha1")
    _sub(reference, "DigestValue", digest)
    value = private_key.sign(_c14n(info), padding.PKCS1v15(), hashes.SHA1())
    _sub(signature, "SignatureValue", base64.b64encode(value).decode())
    data = _sub(_sub(signature, "KeyInfo"), "X509Data")
    _sub(data, "X509SubjectName", certificate.subject.rfc4514_string())
    der = certificate.public_bytes(serialization.Encoding.DER)
    _sub(data, "X509Certificate", base64.b64encode(der).decode())
    root.append(signature)
    return signature


def resign_sha1(sealed_delivery, sender, sealer):
    """A copy of a SealedDelivery with both signatures made again with RSA-SHA1.

    `sender` and `sealer` are (private key, certificate) pairs.
    """
    sealed = etree.fromstring(etree.tostring(sealed_delivery))
    signed = sealed[0]
    sealed.remove(sealed[-1])
    signed.remove(signed[-1])
    standalone = etree.fromstring(etree.tostring(signed))
    sign_sha1(standalone, *sender)
    sealed.replace(signed, standalone)
    sign_sha1(sealed, *sealer)
    return sealed
