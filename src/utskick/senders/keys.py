"""The organisations' keys: signing identities and the mutual-TLS client context.

Keys are kept in memory once read, and read again when their file changes: `utskick senders
key` (or an administrator replacing the file) puts a renewed certificate in place, and every
running process signs, seals and connects with it from its next letter, without a restart.
A file is known by its stamp (device, inode, size, modification and change times), one
`stat` per use: reading and decrypting the key per letter would cost more than signing.

A key file's passphrase is never stored: the sender organisation names an environment
variable that holds it. A process reads its environment once, at start, so a renewed key
must open with the passphrase the process already has (`senders key` sees to that).
"""

from __future__ import annotations

import os
import ssl
import stat
import tempfile
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from utskick.mm.keys import KeyLoadError, SigningIdentity, load_signing_identity
from utskick.senders.models import SenderOrganisation


class SenderKeyError(ValueError):
    """A sender organisation whose key cannot be used; the message says what to do."""


FileStamp = tuple[int, int, int, int, int]


def file_stamp(path: Path) -> FileStamp | None:
    """What tells one version of a regular file from the next; None when there is none."""
    try:
        status = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(status.st_mode):
        return None
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


class _KeyFiles:
    """Signing identities by key file (the path as given), read again when the file changes."""

    def __init__(self) -> None:
        self._loaded: dict[Path, tuple[FileStamp, SigningIdentity]] = {}
        # Each organisation's key file as last read: a replaced one is let go of.
        self._file_of: dict[str, Path] = {}
        self._lock = threading.Lock()

    def get(self, sender: SenderOrganisation, path: Path, stamp: FileStamp) -> SigningIdentity:
        known = self._loaded.get(path)
        if known is not None and known[0] == stamp:
            return known[1]
        with self._lock:
            known = self._loaded.get(path)
            if known is not None and known[0] == stamp:
                return known[1]
            try:
                identity = load_signing_identity(path, _passphrase(sender))
            except KeyLoadError as error:
                raise SenderKeyError(
                    f"nyckeln för {sender.name} ({sender.organisation_number}) kan inte "
                    f"användas: {error}"
                ) from None
            self._loaded[path] = (stamp, identity)
            previous = self._file_of.get(sender.organisation_number)
            if previous is not None and previous != path:
                self._loaded.pop(previous, None)  # the old key need not stay in memory
            self._file_of[sender.organisation_number] = path
            return identity


_KEY_FILES = _KeyFiles()
# (key file, trust file) → (their stamps when the context was made, the context).
_TLS_CONTEXTS: dict[
    tuple[Path, Path | None], tuple[tuple[FileStamp, FileStamp | None], ssl.SSLContext]
] = {}
_TLS_LOCK = threading.Lock()


def key_file_of(sender: SenderOrganisation) -> tuple[Path, FileStamp]:
    """The sender's key file with its current stamp.

    Raises:
        SenderKeyError: no key file is set, or it is not there (with a Swedish message).
    """
    if not sender.key_path:
        raise SenderKeyError(
            f"avsändaren {sender.name} ({sender.organisation_number}) har ingen nyckelfil; "
            "ange organisationens nyckel och certifikat (.p12 eller .pem) för avsändaren"
        )
    path = Path(sender.key_path)
    stamp = file_stamp(path)
    if stamp is None:
        raise SenderKeyError(
            f"nyckelfilen {path} för {sender.name} ({sender.organisation_number}) finns inte; "
            "kontrollera sökvägen i avsändarens inställningar"
        )
    return path, stamp


def _passphrase(sender: SenderOrganisation) -> bytes | None:
    if not sender.passphrase_env:
        return None
    value = os.environ.get(sender.passphrase_env)
    if value is None:
        raise SenderKeyError(
            f"miljövariabeln {sender.passphrase_env} med lösenfrasen till nyckeln för "
            f"{sender.name} ({sender.organisation_number}) är inte satt"
        )
    # The bytes as set: a value that is not UTF-8 comes back as it was, not as an error.
    return os.fsencode(value)


def signing_identity(sender: SenderOrganisation) -> SigningIdentity:
    """The organisation's key and certificate, read on first use and again when it changes.

    Raises:
        SenderKeyError: no key file, a missing file or passphrase, or a key that cannot be
            used (wrong passphrase, no certificate …), with a Swedish message.
    """
    path, stamp = key_file_of(sender)
    return _KEY_FILES.get(sender, path, stamp)


def client_tls_context(intermediary: SenderOrganisation, ca_file: Path | None) -> ssl.SSLContext:
    """A TLS client context presenting the intermediary's certificate (mutual TLS).

    Servers are checked against `ca_file` (the demo CA in the embedded default), else the
    system's trust store. The same context is returned for the same key file and trust file
    until either changes; then a new one is made, and whoever holds a client built on the
    old one (`entrypoints.bootstrap.Adapters`) builds a new client when it sees that.

    Raises:
        SenderKeyError: as for `signing_identity`, or a trust file that cannot be read.
    """
    path, key_stamp = key_file_of(intermediary)
    stamps = (key_stamp, file_stamp(ca_file) if ca_file else None)
    cache_key = (path.resolve(), ca_file.resolve() if ca_file else None)
    with _TLS_LOCK:
        kept = _TLS_CONTEXTS.get(cache_key)
        if kept is not None and kept[0] == stamps:
            return kept[1]
        identity = signing_identity(intermediary)
        try:
            context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        except (OSError, ssl.SSLError) as error:
            raise SenderKeyError(
                f"CA-filen {ca_file} (UTSKICK_TLS_CA_FILE) kan inte läsas: {error}"
            ) from None
        _load_client_certificate(context, identity)
        _TLS_CONTEXTS[cache_key] = (stamps, context)
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
