"""The organisations' keys: signing identities and the mutual-TLS client context.

Keys are loaded once per process (a `KeyRing`) and kept in memory. A key file's passphrase is
never stored: the sender organisation names an environment variable that holds it.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from utskick.mm.keys import KeyLoadError, KeyRing, SigningIdentity
from utskick.senders.models import SenderOrganisation


class SenderKeyError(ValueError):
    """A sender organisation whose key cannot be used; the message says what to do."""


_KEY_RING = KeyRing()
_TLS_CONTEXTS: dict[tuple[Path, Path | None], ssl.SSLContext] = {}
_TLS_LOCK = threading.Lock()


def _key_file(sender: SenderOrganisation) -> Path:
    if not sender.key_path:
        raise SenderKeyError(
            f"avsändaren {sender.name} ({sender.organisation_number}) har ingen nyckelfil; "
            "ange organisationens nyckel och certifikat (.p12 eller .pem) för avsändaren"
        )
    path = Path(sender.key_path)
    if not path.is_file():
        raise SenderKeyError(
            f"nyckelfilen {path} för {sender.name} ({sender.organisation_number}) finns inte; "
            "kontrollera sökvägen i avsändarens inställningar"
        )
    return path


def _passphrase(sender: SenderOrganisation) -> bytes | None:
    if not sender.passphrase_env:
        return None
    value = os.environ.get(sender.passphrase_env)
    if value is None:
        raise SenderKeyError(
            f"miljövariabeln {sender.passphrase_env} med lösenfrasen till nyckeln för "
            f"{sender.name} ({sender.organisation_number}) är inte satt"
        )
    return value.encode()


def signing_identity(sender: SenderOrganisation) -> SigningIdentity:
    """The organisation's key and certificate, loaded on first use and kept in memory.

    Raises:
        SenderKeyError: no key file, a missing file or passphrase, or a key that cannot be
            used (wrong passphrase, no certificate …), with a Swedish message.
    """
    path = _key_file(sender)
    try:
        return _KEY_RING.get(path, _passphrase(sender))
    except KeyLoadError as error:
        raise SenderKeyError(
            f"nyckeln för {sender.name} ({sender.organisation_number}) kan inte användas: {error}"
        ) from None


def client_tls_context(intermediary: SenderOrganisation, ca_file: Path | None) -> ssl.SSLContext:
    """A TLS client context presenting the intermediary's certificate (mutual TLS).

    Servers are checked against `ca_file` (the demo CA in the embedded default), else the
    system's trust store. One context per key file and trust file per process.

    Raises:
        SenderKeyError: as for `signing_identity`, or a trust file that cannot be read.
    """
    path = _key_file(intermediary)
    cache_key = (path.resolve(), ca_file.resolve() if ca_file else None)
    with _TLS_LOCK:
        context = _TLS_CONTEXTS.get(cache_key)
        if context is not None:
            return context
        identity = signing_identity(intermediary)
        try:
            context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        except (OSError, ssl.SSLError) as error:
            raise SenderKeyError(
                f"CA-filen {ca_file} (UTSKICK_TLS_CA_FILE) kan inte läsas: {error}"
            ) from None
        _load_client_certificate(context, identity)
        _TLS_CONTEXTS[cache_key] = context
        return context


def _load_client_certificate(context: ssl.SSLContext, identity: SigningIdentity) -> None:
    """Give the context the identity's key and certificate.

    `ssl` loads client keys only from files: the key goes, unencrypted, into a private
    temporary file that is removed at once (the key stays in this process's memory anyway).
    """
    pem = identity.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + identity.certificate.public_bytes(serialization.Encoding.PEM)
    with tempfile.TemporaryDirectory(prefix="utskick-tls-") as folder:
        file = Path(folder) / "client.pem"
        file.touch(mode=0o600)
        file.write_bytes(pem)
        context.load_cert_chain(str(file))
