"""The demo PKI under the run's data folder: a test CA and a certificate per organisation.

Written once and reused on later runs, so that an integrator can call the services with
`curl --cacert pki/ca.pem --cert pki/2021004748.pem` (docs/operations.md). Every file that
holds a private key is readable by its owner only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from utskick.mm.devca import (
    DevCertificateAuthority,
    IssuedCertificate,
    write_certificate,
    write_pem_bundle,
    write_pkcs12,
)
from utskick.mm.keys import load_signing_identity
from utskick.reference.tls import TlsFiles
from utskick.reference.world import World

SERVER_HOSTS = ["127.0.0.1", "localhost"]
# The PKCS#12 files' passphrase: a demo, so it is written here and in docs/operations.md.
DEMO_PKCS12_PASSPHRASE = b"demo"


@dataclass(frozen=True)
class DemoPki:
    """Where the demo PKI's files are, and the certificates of the organisations."""

    directory: Path
    authority: DevCertificateAuthority
    certificates: dict[str, x509.Certificate]  # organisationsnummer → certificate

    @property
    def ca_certificate(self) -> Path:
        """The CA certificate every client and server trusts."""
        return self.directory / "ca.pem"

    @property
    def server_tls(self) -> TlsFiles:
        """The loopback server certificate and the CA that client certificates must chain to."""
        return TlsFiles(self.directory / "server.pem", self.ca_certificate)

    def key_and_certificate(self, organisation_number: str) -> Path:
        """The PEM file with an organisation's key and certificate (`curl --cert`)."""
        return self.directory / f"{organisation_number}.pem"

    def pkcs12(self, organisation_number: str) -> Path:
        """The same key and certificate as PKCS#12 (passphrase `demo`)."""
        return self.directory / f"{organisation_number}.p12"


def ensure_demo_pki(directory: Path, world: World) -> DemoPki:
    """Create the CA, the server certificate and one certificate per organisation if missing."""
    authority = DevCertificateAuthority.load_or_create(directory)
    server = directory / "server.pem"
    if not server.exists():
        write_pem_bundle(server, authority.issue_tls_server(SERVER_HOSTS))
    certificates: dict[str, x509.Certificate] = {}
    for organisation in world.organisations:
        bundle = directory / f"{organisation.number}.pem"
        if not bundle.exists():
            issued = authority.issue_organisation(organisation.number, organisation.name)
            _write_organisation_files(directory, organisation.number, organisation.name, issued)
        certificates[organisation.number] = load_signing_identity(bundle).certificate
    return DemoPki(directory, authority, certificates)


def _write_organisation_files(
    directory: Path, number: str, name: str, issued: IssuedCertificate
) -> None:
    write_pem_bundle(directory / f"{number}.pem", issued)
    write_certificate(directory / f"{number}.crt", issued.certificate)
    write_pkcs12(directory / f"{number}.p12", issued, DEMO_PKCS12_PASSPHRASE, name)
