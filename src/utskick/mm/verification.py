"""Verify a sealed delivery the way a receiving mailbox operator must.

Both signatures are checked: the intermediary's seal over the whole SealedDelivery and the
sender's signature over the SignedDelivery. Only what the signatures cover is trusted: the
structure is checked first (each Signature must be the last child of the element it signs,
exactly two of them, nothing else beside them), the only accepted Reference is URI="" with the
enveloped-signature transform, and the delivery handed back is read from the very tree whose
digest was checked. Each signer is pinned: its certificate must be trusted, valid at the time
of signing, carry an organisationsnummer, and that number must be the delivery's sender (for
the signature) or the expected intermediary (for the seal, where one is named). SHA-1 is
refused unless the caller explicitly allows it.

Reasons are Swedish sentences, because they end up in front of an integrator or in a SOAP
fault that a municipality's technician reads.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from utskick.mm import namespaces as ns
from utskick.mm.delivery import (
    Delivery,
    DeliveryDocumentError,
    attachment_checksum_problems,
    parse_delivery,
)
from utskick.mm.distinguished_names import DistinguishedNameError, names_match, shown
from utskick.mm.keys import organisation_number_of
from utskick.mm.signing import ENVELOPED_SIGNATURE, EXCLUSIVE_C14N, canonicalize
from utskick.mm.xml import (
    UnsafeXMLError,
    XMLLimits,
    non_element_reason,
    parse_untrusted,
    parse_xs_date,
    refuse_comments_and_instructions,
    text_content,
)

_SIGNATURE = f"{{{ns.DSIG}}}Signature"
_SEALED = f"{{{ns.MESSAGE_V3}}}SealedDelivery"
_SIGNED = f"{{{ns.MESSAGE_V3}}}SignedDelivery"
_DELIVERY = f"{{{ns.MESSAGE_V3}}}Delivery"
_SEAL = f"{{{ns.MESSAGE_V3}}}Seal"
_WIRE_DELIVER_SECURE = f"{{{ns.SERVICE_V3}}}deliverSecure"

_SIGNATURE_METHODS: dict[str, hashes.HashAlgorithm] = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": hashes.SHA256(),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": hashes.SHA384(),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512(),
}
_SHA1_SIGNATURE = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
_DIGEST_METHODS = {
    "http://www.w3.org/2001/04/xmlenc#sha256": hashlib.sha256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": hashlib.sha384,
    "http://www.w3.org/2001/04/xmlenc#sha512": hashlib.sha512,
}
_SHA1_DIGEST = "http://www.w3.org/2000/09/xmldsig#sha1"


class VerificationError(Exception):
    """A delivery that must not be trusted; `reason` says exactly why (Swedish)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class TrustStore:
    """The certificates a verifier trusts: a signer's own certificate, or a CA that issued it."""

    anchors: tuple[x509.Certificate, ...]
    _fingerprints: frozenset[bytes] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        prints = frozenset(c.fingerprint(hashes.SHA256()) for c in self.anchors)
        object.__setattr__(self, "_fingerprints", prints)

    @classmethod
    def of(cls, certificates: Iterable[x509.Certificate]) -> TrustStore:
        """A trust store holding these certificates."""
        return cls(tuple(certificates))

    def trusts(self, certificate: x509.Certificate) -> bool:
        """True if the certificate is an anchor itself or was issued directly by a CA anchor."""
        if certificate.fingerprint(hashes.SHA256()) in self._fingerprints:
            return True
        for anchor in self.anchors:
            if not _is_ca(anchor) or anchor.subject != certificate.issuer:
                continue
            try:
                certificate.verify_directly_issued_by(anchor)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return True
        return False


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


@dataclass(frozen=True)
class VerificationPolicy:
    """What a verifier requires beyond the signatures being correct."""

    trust: TrustStore
    at: dt.datetime
    expected_sealer: str | None = None
    allow_sha1: bool = False
    limits: XMLLimits = field(default_factory=XMLLimits)


@dataclass(frozen=True)
class VerifiedDelivery:
    """A delivery whose seal and sender signature both verified, read from the verified tree."""

    delivery: Delivery
    sender_organisation: str
    sealer_organisation: str
    sender_certificate: x509.Certificate
    sealer_certificate: x509.Certificate
    received_on: dt.date
    sealed_delivery: etree._Element
    warnings: tuple[str, ...] = ()


def find_sealed_delivery(root: etree._Element) -> etree._Element:
    """Find the sealed delivery in a SOAP envelope, a `deliverSecure` element or a bare document."""
    if root.tag == _SEALED:
        return root
    if root.tag == f"{{{ns.SOAP_ENV}}}Envelope":
        body = root.find(f"{{{ns.SOAP_ENV}}}Body")
        if body is None or len(body) != 1:
            raise VerificationError("SOAP-meddelandet ska ha exakt ett element i Body")
        root = body[0]
    if root.tag == _WIRE_DELIVER_SECURE:
        inner = root.findall(_WIRE_DELIVER_SECURE)
        if len(inner) != 1 or len(root) != 1:
            raise VerificationError("deliverSecure ska innehålla exakt ett deliverSecure-element")
        return inner[0]
    raise VerificationError(
        f"dokumentet är varken SealedDelivery eller deliverSecure (rotelementet är {root.tag})"
    )


def verify_sealed_delivery(
    document: bytes | etree._Element, policy: VerificationPolicy
) -> VerifiedDelivery:
    """Verify the seal and the sender signature of a delivery.

    Raises:
        VerificationError: with the precise reason the delivery must not be trusted.
    """
    if isinstance(document, bytes):
        try:
            document = parse_untrusted(document, policy.limits)
        except UnsafeXMLError as error:
            raise VerificationError(str(error)) from None
    found = find_sealed_delivery(document)
    try:
        # Before anything is read or digested: see `refuse_comments_and_instructions`.
        refuse_comments_and_instructions(found)
    except UnsafeXMLError as error:
        raise VerificationError(str(error)) from None
    sealed = _standalone_sealed(found)
    _check_structure(sealed)

    sealed, sealer_cert = _verify_enveloped(sealed, policy, "sigillet")
    sealer_org = _pinned_organisation(sealer_cert, "sigillets", policy.expected_sealer)

    signed = sealed[0]
    signed, sender_cert = _verify_enveloped(signed, policy, "avsändarens signatur")
    try:
        delivery = parse_delivery(signed[0])
    except (DeliveryDocumentError, ValueError) as error:
        raise VerificationError(f"leveransen går inte att läsa: {error}") from None
    sender_org = _pinned_organisation(sender_cert, "avsändarens", delivery.sender_id[2:])
    # Not a signature matter: the signatures already cover the bytes. Real senders disagree
    # on the checksum's form (the published sample carries a decimal hash code), so a
    # mismatch is reported to the receiver, which decides.
    warnings = tuple(attachment_checksum_problems(delivery, signed[0]))
    received = _text(sealed[1], f"{{{ns.MESSAGE}}}ReceivedTime", "sigillet") or ""
    try:
        received_on = parse_xs_date(received)
    except ValueError as error:
        raise VerificationError(f"sigillets ReceivedTime: {error}") from None
    _check_signatures_ok(_text(sealed[1], f"{{{ns.MESSAGE}}}SignaturesOK", "sigillet") or "")
    return VerifiedDelivery(
        delivery=delivery,
        sender_organisation=sender_org,
        sealer_organisation=sealer_org,
        sender_certificate=sender_cert,
        sealer_certificate=sealer_cert,
        received_on=received_on,
        sealed_delivery=sealed,
        warnings=warnings,
    )


def _check_signatures_ok(value: str) -> None:
    """The intermediary must vouch for the sender's signature (xs:boolean true or 1).

    A seal that says the signatures are not OK is the intermediary refusing the letter; it is
    never delivered, even though the sender's signature is checked here as well.
    """
    written = value.strip()
    if written in ("true", "1"):
        return
    if written in ("false", "0"):
        raise VerificationError(
            "sigillet intygar inte att signaturerna är giltiga (SignaturesOK är false); "
            "förmedlaren får bara försegla brev vars signatur den har kontrollerat"
        )
    raise VerificationError(
        f"sigillets SignaturesOK {written[:20]!r} är inget xs:boolean; ange true"
    )


def _standalone_sealed(found: etree._Element) -> etree._Element:
    """The sealed delivery as the document its seal was computed over.

    On the wire it travels as `{Service/v3}deliverSecure`; like the operators' verifiers, we
    give its children back their `SealedDelivery` parent before computing the digest.
    """
    if found.tag == _SEALED and found.getparent() is None:
        return found
    standalone = etree.Element(_SEALED, nsmap={None: ns.MESSAGE_V3})  # type: ignore[dict-item]
    # Its text too: white space a sender sealed before SignedDelivery is in the seal's digest.
    standalone.text = found.text
    for child in found:
        standalone.append(copy.deepcopy(child))
    return standalone


def _check_structure(sealed: etree._Element) -> None:
    """Exactly SignedDelivery, Seal, Signature; SignedDelivery exactly Delivery, Signature."""
    outer = [child.tag for child in sealed]
    if outer != [_SIGNED, _SEAL, _SIGNATURE]:
        if outer.count(_SIGNATURE) == 1 and outer[-1] != _SIGNATURE:
            raise VerificationError("sigillets signatur är flyttad: den ska vara sista elementet")
        raise VerificationError(
            "SealedDelivery ska innehålla exakt SignedDelivery, Seal och Signature i den ordningen"
        )
    inner = [child.tag for child in sealed[0]]
    if inner != [_DELIVERY, _SIGNATURE]:
        if inner.count(_SIGNATURE) == 1 and inner[-1] != _SIGNATURE:
            raise VerificationError(
                "avsändarens signatur är flyttad: den ska vara sista elementet i SignedDelivery"
            )
        raise VerificationError(
            "SignedDelivery ska innehålla exakt en Delivery följd av Signature "
            f"(fann {len(inner)} element)"
        )
    total = sum(1 for _ in sealed.iter(_SIGNATURE))
    if total != 2:  # noqa: PLR2004 (the seal and the sender's signature)
        raise VerificationError(f"leveransen har {total} signaturer; exakt två ska finnas")


def _verify_enveloped(
    element: etree._Element, policy: VerificationPolicy, what: str
) -> tuple[etree._Element, x509.Certificate]:
    """Verify the enveloped signature that is the last child of `element`.

    Returns the element that verified (a prefix-free rebuild where only that form verifies)
    and the signer's certificate.
    """
    signature = element[-1]
    signed_info, digest_value, hash_for_signature, digest = _read_profile(signature, policy, what)
    if not _enveloped_digest_matches(element, digest, digest_value):
        # Some implementations strip every prefix before signing; accept that form too.
        try:
            rebuilt = strip_prefixes(element)
        except UnsafeXMLError as error:
            raise VerificationError(f"{what}: {error}") from None
        if not _enveloped_digest_matches(rebuilt, digest, digest_value):
            raise VerificationError(
                f"{what}: kontrollsumman stämmer inte, innehållet har ändrats efter signeringen"
            )
        element, signature = rebuilt, rebuilt[-1]
        signed_info = signature[0]
    certificate = _signer_certificate(signature, what)
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise VerificationError(f"{what}: certifikatet har ingen RSA-nyckel")
    signature_value = _base64(_text(signature, f"{{{ns.DSIG}}}SignatureValue", what), what)
    try:
        public_key.verify(
            signature_value, canonicalize(signed_info), padding.PKCS1v15(), hash_for_signature
        )
    except InvalidSignature:
        raise VerificationError(
            f"{what}: signaturvärdet stämmer inte med certifikatets nyckel"
        ) from None
    _check_certificate(certificate, policy, what)
    return element, certificate


@dataclass(frozen=True)
class _Digest:
    """How a Reference's digest is computed: the hash and the canonical forms to hash.

    XML-DSig turns the node-set the transforms leave into octets with inclusive Canonical
    XML 1.0 when no transform canonicalises it (the Reference holds the enveloped-signature
    transform alone): that is what the JDK's javax.xml.crypto (Apache Santuario) digests.
    Inclusive C14N renders every namespace declaration in scope, so it differs from the
    exclusive form when a document declares prefixes it does not use where it declares them
    (JAXB declares them all on the root); exclusive C14N is still tried after it, as Utskick
    and others have always digested (the two are equal for the prefix-free form). Both are
    faithful renderings of the same elements, attributes and text.
    """

    function: object
    exclusive_only: bool

    def matches(self, element: etree._Element, expected: bytes) -> bool:
        """Whether one of the canonical forms of `element` hashes to `expected`."""
        forms = (True,) if self.exclusive_only else (False, True)
        return any(
            self.function(canonicalize(element, exclusive=exclusive)).digest() == expected  # type: ignore[operator]
            for exclusive in forms
        )


def _read_profile(
    signature: etree._Element, policy: VerificationPolicy, what: str
) -> tuple[etree._Element, bytes, hashes.HashAlgorithm, _Digest]:
    """Check SignedInfo against the accepted profile; return what verification needs."""
    dsig = f"{{{ns.DSIG}}}"
    signed_info = signature.find(f"{dsig}SignedInfo")
    if signed_info is None or signature[0] is not signed_info:
        raise VerificationError(f"{what}: SignedInfo saknas")
    c14n = signed_info.find(f"{dsig}CanonicalizationMethod")
    if c14n is None or c14n.get("Algorithm") != EXCLUSIVE_C14N:
        raise VerificationError(f"{what}: endast exklusiv kanonisering (exc-c14n) godtas")
    method = signed_info.find(f"{dsig}SignatureMethod")
    hash_for_signature = _signature_hash(
        method.get("Algorithm") if method is not None else None, policy, what
    )
    references = signed_info.findall(f"{dsig}Reference")
    if len(references) != 1:
        raise VerificationError(f"{what}: exakt en Reference ska finnas, fann {len(references)}")
    reference = references[0]
    if reference.get("URI") != "":
        raise VerificationError(
            f"{what}: Reference pekar på {reference.get('URI')!r}; endast hela dokumentet "
            '(URI="") godtas'
        )
    transforms = [
        t.get("Algorithm") for t in reference.iterfind(f"{dsig}Transforms/{dsig}Transform")
    ]
    if transforms not in ([ENVELOPED_SIGNATURE], [ENVELOPED_SIGNATURE, EXCLUSIVE_C14N]):
        raise VerificationError(f"{what}: otillåtna transformer {transforms}")
    digest_method = reference.find(f"{dsig}DigestMethod")
    algorithm = digest_method.get("Algorithm") if digest_method is not None else None
    digest = _Digest(_digest_function(algorithm, policy, what), transforms != [ENVELOPED_SIGNATURE])
    digest_value = _base64(_text(reference, f"{dsig}DigestValue", what), what)
    return signed_info, digest_value, hash_for_signature, digest


def _signature_hash(
    algorithm: str | None, policy: VerificationPolicy, what: str
) -> hashes.HashAlgorithm:
    if algorithm == _SHA1_SIGNATURE:
        if not policy.allow_sha1:
            raise VerificationError(f"{what}: SHA-1 godtas inte (signaturmetod rsa-sha1)")
        return hashes.SHA1()  # noqa: S303 (the caller explicitly allowed SHA-1)
    if algorithm not in _SIGNATURE_METHODS:
        raise VerificationError(f"{what}: signaturmetoden {algorithm} stöds inte")
    return _SIGNATURE_METHODS[algorithm]


def _digest_function(algorithm: str | None, policy: VerificationPolicy, what: str) -> object:
    if algorithm == _SHA1_DIGEST:
        if not policy.allow_sha1:
            raise VerificationError(f"{what}: SHA-1 godtas inte (kontrollsumma sha1)")
        return hashlib.sha1
    if algorithm not in _DIGEST_METHODS:
        raise VerificationError(f"{what}: kontrollsummemetoden {algorithm} stöds inte")
    return _DIGEST_METHODS[algorithm]


def _enveloped_digest_matches(element: etree._Element, digest: _Digest, expected: bytes) -> bool:
    """Whether the digest of the element without its last child (the Signature) is `expected`.

    The enveloped-signature transform removes the Signature element only: text after it stays
    in what is digested, as every conforming verifier reads it (lxml moves an element's tail
    with it, so the tail is put back in place; otherwise text added after the seal's
    Signature would pass unsigned). White space alone at the edges of the element (before its
    first child, after the Signature) is also tried without: some senders paste the signed
    children into an indented `deliverSecure` template, and white space there reads as nothing.
    The Signature is detached and put back, so nothing is copied.
    """
    signature = element[-1]
    text, tail, previous = element.text, signature.tail, signature.getprevious()
    previous_tail = previous.tail if previous is not None else None
    element.remove(signature)
    try:
        for keep_edges in (True, False):
            if not keep_edges and not (_blank(text) or _blank(tail)):
                break
            lead = text if keep_edges or not _blank(text) else None
            end = tail if keep_edges or not _blank(tail) else None
            if previous is None:
                element.text = _joined(lead, end)
            else:
                element.text = lead
                previous.tail = _joined(previous_tail, end)
            if digest.matches(element, expected):
                return True
        return False
    finally:
        element.text = text
        if previous is not None:
            previous.tail = previous_tail
        element.append(signature)


def _blank(text: str | None) -> bool:
    """Non-empty white space only."""
    return text is not None and text != "" and text.strip(" \t\r\n") == ""


def _joined(first: str | None, second: str | None) -> str | None:
    if first is None or second is None:
        return second if first is None else first
    return first + second


def read_certificate(der: bytes) -> x509.Certificate:
    """A DER certificate with every part verification reads parsed now.

    `cryptography` parses the subject, issuer, extensions and key only when first asked for
    them: a damaged one would otherwise raise in the middle of verification (a crash, and
    an HTTP 500 without a fault at an operator) instead of being refused as unreadable.

    Raises:
        ValueError: the certificate or one of those parts cannot be read.
    """
    certificate = x509.load_der_x509_certificate(der)
    for part in ("subject", "issuer", "extensions"):
        getattr(certificate, part)
    certificate.public_key()
    return certificate


def _signer_certificate(signature: etree._Element, what: str) -> x509.Certificate:
    dsig = f"{{{ns.DSIG}}}"
    found = signature.findall(f"{dsig}KeyInfo/{dsig}X509Data/{dsig}X509Certificate")
    if len(found) != 1:
        raise VerificationError(f"{what}: KeyInfo ska innehålla exakt ett X509Certificate")
    try:
        certificate = read_certificate(_base64(_whole(found[0], what), what))
    except ValueError:
        raise VerificationError(f"{what}: certifikatet i KeyInfo går inte att läsa") from None
    # KeyInfo is outside SignedInfo: a subject name that disagrees with the certificate
    # is refused rather than ignored, so nothing in the signature is taken unchecked.
    # It is compared as a name, not as a string: implementations spell names differently.
    for subject in signature.iterfind(f"{dsig}KeyInfo/{dsig}X509Data/{dsig}X509SubjectName"):
        written = _whole(subject, what)
        try:
            matches = names_match(written, certificate.subject)
        except DistinguishedNameError as error:
            raise VerificationError(
                f"{what}: X509SubjectName går inte att läsa som ett namn: {error}"
            ) from None
        if not matches:
            raise VerificationError(
                f"{what}: X509SubjectName stämmer inte med certifikatets subject "
                f"(skrivet: {shown(written.strip())}; certifikatet: "
                f"{certificate.subject.rfc4514_string()})"
            )
    return certificate


def _text(parent: etree._Element, path: str, what: str) -> str | None:
    """The whole text of the first element at `path`, or None if there is none."""
    found = parent.find(path)
    return None if found is None else _whole(found, what)


def _whole(element: etree._Element, what: str) -> str:
    try:
        return text_content(element)
    except UnsafeXMLError as error:
        raise VerificationError(f"{what}: {error}") from None


def _check_certificate(
    certificate: x509.Certificate, policy: VerificationPolicy, what: str
) -> None:
    if not policy.trust.trusts(certificate):
        raise VerificationError(
            f"{what}: certifikatet ({certificate.subject.rfc4514_string()}) är inte betrott"
        )
    at = policy.at if policy.at.tzinfo else policy.at.replace(tzinfo=dt.UTC)
    if at < certificate.not_valid_before_utc:
        raise VerificationError(
            f"{what}: certifikatet gäller först från {certificate.not_valid_before_utc:%Y-%m-%d}"
        )
    if at > certificate.not_valid_after_utc:
        raise VerificationError(
            f"{what}: certifikatet har gått ut ({certificate.not_valid_after_utc:%Y-%m-%d})"
        )
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (usage.digital_signature or usage.content_commitment):
        raise VerificationError(f"{what}: certifikatet får inte användas för signering")


def _pinned_organisation(certificate: x509.Certificate, whose: str, expected: str | None) -> str:
    organisation = organisation_number_of(certificate)
    if organisation is None:
        raise VerificationError(
            f"{whose} certifikat saknar organisationsnummer (serialNumber i subject)"
        )
    if expected is not None and organisation != expected:
        raise VerificationError(
            f"{whose} certifikat tillhör organisationsnummer {organisation}, väntade {expected}"
        )
    return organisation


def _base64(text: str | None, what: str) -> bytes:
    """Strict base64: only the canonical encoding of the bytes is accepted.

    The seal's own SignatureValue and certificate are covered by no digest, so a lenient
    decoder would let a changed character (in the unused low bits) pass unnoticed.
    """
    compact = "".join(re.split(r"[ \t\r\n]+", text or ""))
    try:
        decoded = base64.b64decode(compact.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise VerificationError(f"{what}: ogiltig base64") from None
    if base64.b64encode(decoded).decode("ascii") != compact:
        raise VerificationError(f"{what}: base64-värdet är inte kanoniskt kodat")
    return decoded


def strip_prefixes(element: etree._Element) -> etree._Element:
    """A copy of the subtree with every namespace prefix removed.

    Each element that changes namespace gets a default namespace declaration instead; this is
    the form the old reference implementation signs and some operators verify.

    Raises:
        UnsafeXMLError: the subtree holds a comment or processing instruction. Dropping one
            silently (and the text after it) would change what is read, never what is
            digested: the truncation attack this verifier refuses.
    """
    return _rebuild(element, None)


def _rebuild(element: etree._Element, parent_ns: str | None) -> etree._Element:
    namespace = etree.QName(element).namespace
    nsmap: dict[str | None, str] | None = (
        {None: namespace} if namespace and namespace != parent_ns else None
    )
    copy_ = etree.Element(element.tag, nsmap=nsmap)  # type: ignore[arg-type]
    copy_.attrib.update(element.attrib)
    copy_.text = element.text
    for child in element:
        reason = non_element_reason(child)
        if reason is not None:
            raise UnsafeXMLError(reason)
        rebuilt = _rebuild(child, namespace)
        rebuilt.tail = child.tail
        copy_.append(rebuilt)
    return copy_
