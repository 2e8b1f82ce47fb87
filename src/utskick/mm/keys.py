"""Organisation keys and certificates: loading them once, and reading what they say.

A sender signs and an intermediary seals with an organisation certificate whose subject
carries `serialNumber = 16 + organisationsnummer` (the Swedish convention). Keys come from a
PKCS#12 file with a passphrase, or a PEM file holding the key and the certificate together.
They are loaded once per process by the caller and kept in memory; nothing here logs them.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from utskick.mm.distinguished_names import DistinguishedNameError, names_match

_SUBJECT_LABELS = {
    NameOID.COMMON_NAME: "CN",
    NameOID.SERIAL_NUMBER: "SERIALNUMBER",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COUNTRY_NAME: "C",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "S",
    NameOID.ORGANIZATION_IDENTIFIER: "OID.2.5.4.97",
}


class KeyLoadError(ValueError):
    """A key file that cannot be used; the message says what to do."""


# What `cryptography` raises for data it cannot read: ValueError for damaged or unknown
# content, TypeError for a passphrase given to an open key (or none to a locked one),
# UnsupportedAlgorithm for a key or cipher it does not implement.
_PARSE_ERRORS = (ValueError, TypeError, UnsupportedAlgorithm)


@dataclass(frozen=True)
class SigningIdentity:
    """An organisation's private key with its certificate, ready to sign."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    certificate_base64: str = field(init=False)
    subject_name: str = field(init=False)
    organisation_number: str | None = field(init=False)

    def __post_init__(self) -> None:
        # Computed once: they go into every signature's KeyInfo.
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        object.__setattr__(self, "certificate_base64", base64.b64encode(der).decode("ascii"))
        object.__setattr__(self, "subject_name", format_subject(self.certificate.subject))
        object.__setattr__(self, "organisation_number", organisation_number_of(self.certificate))

    def sign(self, data: bytes) -> bytes:
        """RSA PKCS#1 v1.5 with SHA-256 over `data`."""
        return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def load_signing_identity(path: Path, passphrase: bytes | None = None) -> SigningIdentity:
    """Load a key and certificate from PKCS#12 (`.p12`, `.pfx`) or one PEM file holding both.

    Raises:
        KeyLoadError: the file is missing, the passphrase is wrong, or the file lacks a key
            or a certificate; the message says which.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KeyLoadError(f"kan inte läsa nyckelfilen {path}: {error.strerror}") from None
    try:
        if b"-----BEGIN" in data:
            return _from_pem(path, data, passphrase)
        return _from_pkcs12(path, data, passphrase)
    except KeyLoadError:
        raise
    except _PARSE_ERRORS:
        # Whatever else the parser trips on (a name or key field it cannot read): the file
        # is unusable all the same, and the parser's own message may quote its bytes.
        raise KeyLoadError(
            f"{path} går inte att läsa som nyckel och certifikat (filen är skadad eller av "
            "ett format som inte stöds); hämta nyckel och certifikat på nytt från utfärdaren"
        ) from None


def _from_pkcs12(path: Path, data: bytes, passphrase: bytes | None) -> SigningIdentity:
    try:
        key, certificate, _chain = pkcs12.load_key_and_certificates(data, passphrase)
    except _PARSE_ERRORS:
        raise KeyLoadError(
            f"{path} gick inte att öppna som PKCS#12: fel lösenfras, eller inte en PKCS#12-fil"
        ) from None
    if key is None or certificate is None:
        raise KeyLoadError(f"{path} saknar privat nyckel eller certifikat")
    return _identity(path, key, certificate)


def _from_pem(path: Path, data: bytes, passphrase: bytes | None) -> SigningIdentity:
    try:
        certificates = x509.load_pem_x509_certificates(data) if b"CERTIFICATE-----" in data else []
    except _PARSE_ERRORS:
        raise KeyLoadError(
            f"{path} har ett skadat eller ofullständigt certifikat; hämta certifikatet på nytt "
            "från utfärdaren och lägg det i samma PEM-fil som nyckeln"
        ) from None
    if not certificates:
        raise KeyLoadError(f"{path} saknar certifikat (lägg nyckel och certifikat i samma PEM-fil)")
    try:
        key = serialization.load_pem_private_key(data, passphrase)
    except _PARSE_ERRORS:
        raise KeyLoadError(f"{path} saknar privat nyckel, eller lösenfrasen stämmer inte") from None
    return _identity(path, key, certificates[0])


def _identity(path: Path, key: object, certificate: x509.Certificate) -> SigningIdentity:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyLoadError(f"{path}: Mina meddelanden kräver en RSA-nyckel")
    public_key = certificate.public_key()
    if (
        not isinstance(public_key, rsa.RSAPublicKey)
        or key.public_key().public_numbers() != public_key.public_numbers()
    ):
        raise KeyLoadError(f"{path}: nyckeln hör inte till certifikatet")
    return SigningIdentity(key, certificate)


class KeyRing:
    """Signing identities loaded once per process and kept in memory, one per key file.

    Workers sign hundreds of thousands of letters a night; reading and decrypting a key file
    per letter would cost more than the signing itself.
    """

    def __init__(self) -> None:
        self._loaded: dict[Path, SigningIdentity] = {}
        # The path as given → its identity: resolving a path costs a system call per part,
        # once per letter signed.
        self._by_given: dict[Path, SigningIdentity] = {}
        self._lock = threading.Lock()

    def get(self, path: Path, passphrase: bytes | None = None) -> SigningIdentity:
        """The identity in `path`, loaded on first use."""
        known = self._by_given.get(path)
        if known is not None:
            return known
        key = path.resolve()
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = load_signing_identity(path, passphrase)
            self._by_given[path] = self._loaded[key]
            return self._loaded[key]


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM file (a trust list, or a key file: the key is ignored)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KeyLoadError(f"kan inte läsa certifikatfilen {path}: {error.strerror}") from None
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except _PARSE_ERRORS:
        raise KeyLoadError(f"{path} innehåller inget läsbart certifikat") from None


def organisation_number_of(certificate: x509.Certificate) -> str | None:
    """The organisationsnummer (10 digits) in the subject serialNumber, or None.

    The Swedish convention writes it as `16` + the number; a bare 10-digit value is accepted too.
    """
    values = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if len(values) != 1:
        return None
    value = str(values[0].value).removeprefix("SE").strip()
    # ASCII digits only: str.isdigit() would take other scripts' digits for a number.
    if len(value) == 12 and value.startswith("16") and _ascii_digits(value):  # noqa: PLR2004
        return value[2:]
    if len(value) == 10 and _ascii_digits(value):  # noqa: PLR2004
        return value
    return None


def _ascii_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def format_subject(name: x509.Name) -> str:
    """The subject as X509SubjectName shows it: most specific first, `+` within an RDN.

    This is the form the other implementations write, e.g.
    `CN=Kommun A + SERIALNUMBER=162021004748, O=Kommun A, C=SE`.
    """
    parts = []
    for rdn in reversed(list(name.rdns)):
        attributes = [
            f"{_SUBJECT_LABELS.get(a.oid, a.oid.dotted_string)}={_escape_dn_value(str(a.value))}"
            for a in rdn
        ]
        parts.append(" + ".join(attributes))
    return ", ".join(parts)


def _escape_dn_value(value: str) -> str:
    escaped = "".join(f"\\{c}" if c in ',+"\\<>;=' else c for c in value)
    if escaped.startswith((" ", "#")):
        escaped = "\\" + escaped
    return escaped


def subject_name_matches(text: str, name: x509.Name) -> bool:
    """Whether an X509SubjectName string names exactly the attributes of `name`.

    Implementations write the name differently (order, spacing, `+` within an RDN, OIDs,
    `#`-hex values, escapes, quotes), so the string is read as a distinguished name and
    compared attribute by attribute; see `distinguished_names`. A string that cannot be read
    as a name does not match.
    """
    try:
        return names_match(text, name)
    except DistinguishedNameError:
        return False
