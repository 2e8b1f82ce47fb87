"""Run the JDK's XML-signature signer (`JdkSealedDeliverySigner.java`) from a test.

The Java program imports nothing from Utskick: it signs and seals a delivery with the JDK's
`javax.xml.crypto.dsig` as a Java/JAXB-based sender and intermediary do (prefixed, ds:
signatures, base64 with `&#13;`, X509SubjectName from X500Principal.getName(), ReceivedTime
from XMLGregorianCalendar). It is compiled once per test session (or run as a source file
where `javac` is missing). Without `java` the tests are skipped with the reason, unless
UTSKICK_TEST_REQUIRE_JAVA=1 (CI), where that is a failure.
"""

import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from support.jdk_verifier import java_command, require_java

SOURCE = Path(__file__).with_name("JdkSealedDeliverySigner.java")
MAIN_CLASS = "JdkSealedDeliverySigner"


@dataclass(frozen=True)
class JavaSigned:
    """What the Java signer wrote: the SealedDelivery document and the deliverSecure request."""

    sealed: bytes
    request: bytes


def write_pkcs8_bundle(path: Path, identity) -> Path:
    """The PKCS#8 key and the certificate as one PEM file, the form the Java signer reads."""
    path.write_bytes(
        identity.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + identity.certificate.public_bytes(serialization.Encoding.PEM)
    )
    return path


class JdkSigner:
    """The compiled Java signer; `sign(variant, delivery_xml, sender_pem, sealer_pem)`."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.command = java_command(SOURCE, MAIN_CLASS, workdir)
        self._count = 0

    def sign(self, variant: str, delivery: bytes, sender: Path, sealer: Path) -> JavaSigned:
        """Sign (`prefixed` or `stripped`) and seal an unsigned Delivery document."""
        self._count += 1
        base = self.workdir / f"{variant}-{self._count}"
        source, sealed, request = (base.with_suffix(s) for s in (".in", ".sealed", ".request"))
        source.write_bytes(delivery)
        arguments = [variant, source, sender, sealer, sealed, request]
        done = subprocess.run(
            [*self.command, *map(str, arguments)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return JavaSigned(sealed.read_bytes(), request.read_bytes())


def jdk_signer_or_skip(workdir: Path) -> JdkSigner:
    """The signer; a skip with the reason where `java` is missing (a failure in CI)."""
    require_java("the JDK's XML-signature signer")
    return JdkSigner(workdir)
