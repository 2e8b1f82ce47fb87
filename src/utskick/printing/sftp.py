"""Hand print batches to a vendor's SFTP server, as atomically as to a folder.

The batch is rendered into the local drop's working folder as for a folder drop (the local
drop keeps the lock that makes two hand-overs of one batch take turns). Then, instead of the
local rename, the folder is uploaded into a hidden working folder on the server,
`<path>/.utskick-tmp/<name>.<random>/`, each file's size confirmed, and renamed to
`<path>/<name>` by the server (OpenSSH's posix-rename where the server has it, else the
standard SFTP rename): the vendor sees the whole batch or nothing. The local copy is removed
before that rename, so that the staging folder does not grow with every batch; the server's
folder is the one that counts.

A stale working folder on the server (a hand-over that died while uploading) is removed
before uploading again. A folder already on the server whose manifest names the batch and
whose files all match their checksums (a death after the rename, before the database knew)
is only recorded.

The server's host key must be in the known_hosts file: an unknown or changed key is refused,
never accepted and remembered.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import posixpath
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import paramiko

from utskick import sftp_connection
from utskick.printing.drops import (
    MANIFEST_JSON,
    WORK_FOLDER,
    DropUnavailableError,
    HandoverError,
    check_folder,
)
from utskick.settings import PrintVendor, sftp_address
from utskick.sftp_connection import SftpEndpoint

logger = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024


class UnknownHostKeyError(HandoverError):
    """The server showed a host key the known_hosts file does not hold."""


class SftpDrop:
    """A vendor's SFTP server as its drop (see the module text)."""

    def __init__(self, vendor: PrintVendor) -> None:
        if vendor.sftp_url is None:
            raise HandoverError(f"tryckeriet {vendor.name!r} har ingen sftp_url")
        self.endpoint = SftpEndpoint.from_address(
            sftp_address(vendor.sftp_url),
            key_file=vendor.sftp_key_file,
            known_hosts=vendor.sftp_known_hosts,
            timeout=vendor.sftp_timeout_seconds,
        )
        self.user = self.endpoint.user
        self.root = self.endpoint.path
        self.server = self.endpoint.server

    def location(self, name: str) -> str:
        """The batch folder's sftp:// address."""
        return self.endpoint.url(posixpath.join(self.root, name))

    def complete(self, name: str, batch_id: str) -> bytes | None:
        """The manifest of the batch's folder on the server when it is whole there, else None.

        Raises:
            HandoverError: a folder of that name on the server is another batch's or is
                damaged, or the server refused a request.
            DropUnavailableError: the server cannot be reached now.
            UnknownHostKeyError: the server's host key is not in the known_hosts file.
        """
        folder = posixpath.join(self.root, name)
        with self._connected() as sftp:
            try:
                with sftp.open(posixpath.join(folder, MANIFEST_JSON), "rb") as file:
                    manifest = file.read()
            except FileNotFoundError:
                return None

            def digest(file_name: str) -> str:
                return _remote_sha256(sftp, posixpath.join(folder, file_name))

            check_folder(manifest, batch_id, self.location(name), digest)
        return manifest

    def publish(self, work: Path, name: str) -> None:
        """Upload the working folder `work` and rename it to `name` on the server.

        Raises:
            HandoverError: the server refused a request (e.g. no write permission), or a
                folder `name` that is not empty is already there.
            DropUnavailableError: the server cannot be reached now or the connection broke.
            UnknownHostKeyError: the server's host key is not in the known_hosts file.
        """
        work_root = posixpath.join(self.root, WORK_FOLDER)
        with self._connected() as sftp:
            _make_folders(sftp, work_root)
            for entry in sftp.listdir(work_root):
                # A hand-over of this batch that died while uploading (this one holds the
                # lock, so none is running): its files are never shown, start afresh.
                if entry.startswith(f"{name}."):
                    _remove_tree(sftp, posixpath.join(work_root, entry))
            remote_work = posixpath.join(work_root, work.name)
            sftp.mkdir(remote_work)
            for path in sorted(work.rglob("*")):
                remote = posixpath.join(remote_work, path.relative_to(work).as_posix())
                if path.is_dir():
                    sftp.mkdir(remote)
                else:
                    # confirm: the server's size of the file is checked against ours.
                    sftp.put(str(path), remote, confirm=True)
            shutil.rmtree(work, ignore_errors=True)
            target = posixpath.join(self.root, name)
            try:
                sftp.posix_rename(remote_work, target)
            except OSError:
                # A server without OpenSSH's extension: the standard rename, which refuses
                # an existing name.
                sftp.rename(remote_work, target)
        logger.info("print batch folder %s uploaded to %s", name, self.location(name))

    @contextlib.contextmanager
    def _connected(self) -> Iterator[paramiko.SFTPClient]:
        """An SFTP session with the server, its host key checked; errors said in Swedish."""
        try:
            with sftp_connection.connected(self.endpoint) as sftp:
                yield sftp
        except sftp_connection.SftpError as error:
            raise self._said(error) from error.__cause__

    def _said(  # noqa: PLR0911 (one wording per error)
        self, error: sftp_connection.SftpError
    ) -> HandoverError:
        """The connection's error in the print vendor's words."""
        server, known_hosts = self.server, self.endpoint.known_hosts_file
        match error:
            case sftp_connection.KnownHostsMissingError():
                return HandoverError(
                    f"filen med SFTP-serverns värdnyckel finns inte: {known_hosts} "
                    "(sftp_known_hosts); lägg in serverns nyckel där"
                )
            case sftp_connection.KeyFileError():
                return HandoverError(
                    f"SFTP-nyckeln {error.key_file} (sftp_key_file) kunde inte läsas "
                    f"({error.detail}); ange en privat nyckel i OpenSSH- eller PEM-format utan "
                    "lösenfras"
                )
            case sftp_connection.UnknownHostKeyError():
                return UnknownHostKeyError(
                    f"tryckeriets SFTP-server {error.hostname} har en okänd värdnyckel "
                    f"({error.key_name} {error.fingerprint}) som inte finns i {known_hosts}; "
                    "kontrollera nyckeln med tryckeriet och lägg in den där (ssh-keyscan visar "
                    "raden). Okända nycklar godtas aldrig"
                )
            case sftp_connection.HostKeyMismatchError():
                return HandoverError(
                    f"tryckeriets SFTP-server {server} visade en annan värdnyckel "
                    f"({error.key_name} {error.fingerprint}) än den i {known_hosts}; "
                    "det kan vara en annan server. Fråga tryckeriet om de bytt nyckel innan "
                    "known_hosts ändras"
                )
            case sftp_connection.LoginRefusedError():
                return HandoverError(
                    f"tryckeriets SFTP-server {server} godtog inte inloggningen som "
                    f"{self.user or 'den lokala användaren'} ({error.detail}); be tryckeriet "
                    "lägga in den publika nyckeln till sftp_key_file"
                )
            case sftp_connection.ServerUnreachableError():
                return DropUnavailableError(
                    f"tryckeriets SFTP-server {server} svarar inte ({error.detail}); batchen är "
                    "inte överlämnad och lämnas över igen när servern svarar"
                )
            case sftp_connection.ConnectionBrokenError():
                return DropUnavailableError(
                    f"förbindelsen med tryckeriets SFTP-server {server} bröts ({error.detail}); "
                    "batchen är inte överlämnad och lämnas över igen när servern svarar"
                )
            case _:  # RequestRefusedError
                return HandoverError(
                    f"tryckeriets SFTP-server {server} nekade en begäran ({error.detail}); "
                    "kontrollera användarens rättigheter i mappen "
                    f"{self.root} med tryckeriet och lämna över igen"
                )


def _remote_sha256(sftp: paramiko.SFTPClient, path: str) -> str:
    """A file's SHA-256 on the server; "" when it is missing or not a file."""
    try:
        attributes = sftp.stat(path)
    except FileNotFoundError:
        return ""
    if attributes.st_mode is None or not stat.S_ISREG(attributes.st_mode):
        return ""
    digest = hashlib.sha256()
    with sftp.open(path, "rb") as file:
        file.prefetch(attributes.st_size)
        while chunk := file.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _make_folders(sftp: paramiko.SFTPClient, path: str) -> None:
    """Make a folder on the server and the folders above it that are missing."""
    parts = [part for part in path.split("/") if part]
    current = ""
    for part in parts:
        current = f"{current}/{part}"
        try:
            sftp.stat(current)
        except FileNotFoundError:
            try:
                sftp.mkdir(current)
            except OSError:
                # Another hand-over (of another batch) may have made it just now.
                sftp.stat(current)


def _remove_tree(sftp: paramiko.SFTPClient, path: str) -> None:
    """Remove a folder on the server with everything in it."""
    for entry in sftp.listdir_attr(path):
        child = posixpath.join(path, entry.filename)
        if entry.st_mode is not None and stat.S_ISDIR(entry.st_mode):
            _remove_tree(sftp, child)
        else:
            sftp.remove(child)
    sftp.rmdir(path)
