"""A test certificate authority for development, tests and the embedded demo.

It issues organisation certificates the Swedish way (subject serialNumber = `16` +
organisationsnummer, key usage digitalSignature, usable for TLS client authentication) and
TLS server certificates for loopback. It is never meant for production: production keys come
from the organisation's own PKCS#12 issued by a real CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from utskick.mm import private_files
from utskick.mm.private_files import create_private_folders

CA_CERTIFICATE_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
KEY_SIZE = 2048


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass(frozen=True)
class IssuedCertificate:
    """A freshly issued key with its certificate."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate


@dataclass(frozen=True)
class DevCertificateAuthority:
    """A self-signed CA that signs organisation and loopback TLS certificates."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(
        cls, name: str = "Utskick test-CA (endast för test)", days: int = 3650
    ) -> DevCertificateAuthority:
        """A new CA with a fresh key."""
        key = _new_key()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Utskick"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        start = _now() - dt.timedelta(days=1)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    @classmethod
    def load_or_create(cls, directory: Path) -> DevCertificateAuthority:
        """The CA kept in `directory` (`ca.pem`, `ca-key.pem`), created there on first use."""
        certificate_path, key_path = directory / CA_CERTIFICATE_FILE, directory / CA_KEY_FILE
        if certificate_path.exists() and key_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError(f"{key_path} är ingen RSA-nyckel")
            return cls(key, x509.load_pem_x509_certificate(certificate_path.read_bytes()))
        authority = cls.create()
        create_private_folders(directory)
        write_private_file(key_path, _pem_key(authority.private_key))
        write_certificate(certificate_path, authority.certificate)
        return authority

    def _builder(
        self,
        subject: x509.Name,
        key: rsa.RSAPrivateKey,
        days: int,
        valid_from: dt.datetime | None = None,
    ) -> x509.CertificateBuilder:
        start = valid_from or _now() - dt.timedelta(hours=1)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.private_key.public_key()),
                critical=False,
            )
        )

    def issue_organisation(
        self,
        organisation_number: str,
        name: str,
        *,
        days: int = 825,
        valid_from: dt.datetime | None = None,
    ) -> IssuedCertificate:
        """An organisation certificate: CN and O = name, serialNumber = 16 + organisationsnummer.

        Usable to sign and seal deliveries and as a TLS client (and server) certificate.
        `valid_from` lets tests make certificates that are not yet valid or already expired.
        """
        if not (len(organisation_number) == 10 and organisation_number.isdigit()):  # noqa: PLR2004
            raise ValueError(
                f"{organisation_number!r} ska vara ett organisationsnummer med tio siffror"
            )
        key = _new_key()
        subject = x509.Name(
            [
                x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "SE")]),
                x509.RelativeDistinguishedName(
                    [x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)]
                ),
                x509.RelativeDistinguishedName(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, name),
                        x509.NameAttribute(NameOID.SERIAL_NUMBER, "16" + organisation_number),
                    ]
                ),
            ]
        )
        builder = self._builder(subject, key, days, valid_from)
        certificate = (
            builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
                ),
                critical=False,
            )
            .sign(self.private_key, hashes.SHA256())
        )
        return IssuedCertificate(key, certificate)

    def issue_tls_server(self, hostnames: list[str], *, days: int = 825) -> IssuedCertificate:
        """A TLS server certificate for the given host names and IP addresses (loopback)."""
        key = _new_key()
        names: list[x509.GeneralName] = []
        for host in hostnames:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
        certificate = (
            self._builder(subject, key, days)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.private_key, hashes.SHA256())
        )
        return IssuedCertificate(key, certificate)


def _pem_key(key: rsa.RSAPrivateKey, passphrase: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _pem_certificate(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def write_private_file(path: Path, data: bytes) -> None:
    """Write a file only its owner may read, mode 0600 from the start, whatever the umask."""
    private_files.write_private_file(path, data)


def write_pem_bundle(
    path: Path, issued: IssuedCertificate, passphrase: bytes | None = None
) -> None:
    """Key and certificate in one PEM file (mode 0600), the form `--key` accepts."""
    write_private_file(
        path, _pem_key(issued.private_key, passphrase) + _pem_certificate(issued.certificate)
    )


def write_certificate(path: Path, certificate: x509.Certificate) -> None:
    """The certificate alone, as PEM (what a verifier puts in its trust list).

    Mode 0600 like every file Utskick writes: never writable by others, who could otherwise
    swap a trust anchor.
    """
    private_files.write_private_file(path, _pem_certificate(certificate))


def write_pkcs12(path: Path, issued: IssuedCertificate, passphrase: bytes, name: str) -> None:
    """Key and certificate as PKCS#12 protected by a passphrase (mode 0600)."""
    data = pkcs12.serialize_key_and_certificates(
        name.encode(),
        issued.private_key,
        issued.certificate,
        None,
        serialization.BestAvailableEncryption(passphrase),
    )
    write_private_file(path, data)
