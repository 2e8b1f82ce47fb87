"""Upload the daily registration files to the case system's SFTP folder, whole or not at all.

Each file is uploaded under a hidden temporary name in the target folder
(`.<name>.<random>.tmp`), its size confirmed by the server, and then renamed to its name by
the server: OpenSSH's posix-rename replaces a file of the day written earlier in one step.
A server without that extension gets the standard rename, which refuses an existing name;
the earlier file is then removed first, and for that moment the day's file is missing
(never half-written). A temporary file left by an upload that died is removed the next time.

The server's host key must be in the known_hosts file (`records_export_sftp_known_hosts`,
else `~/.ssh/known_hosts`): an unknown or changed key is refused, never accepted and
remembered.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path

import paramiko

from utskick import sftp_connection
from utskick.settings import Settings, sftp_address
from utskick.sftp_connection import SftpEndpoint

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30.0


class ExportError(Exception):
    """The registration file could not be handed over; the message says what to do."""


class ExportUnavailableError(ExportError):
    """The SFTP server cannot be reached now: the daily run tries again later."""


class UnknownHostKeyError(ExportError):
    """The SFTP server showed a host key that the known_hosts file does not hold."""


class SftpUploader:
    """The case system's SFTP folder (see the module text)."""

    def __init__(self, settings: Settings) -> None:
        url = settings.records_export_sftp_url
        if not url:
            raise ExportError("ingen SFTP-adress för registreringsfilen är inställd")
        try:
            address = sftp_address(url)
        except ValueError as error:
            raise ExportError(f"UTSKICK_RECORDS_EXPORT_SFTP_URL: {error}") from None
        self.endpoint = SftpEndpoint.from_address(
            address,
            key_file=settings.records_export_sftp_key_file,
            known_hosts=settings.records_export_sftp_known_hosts,
            timeout=TIMEOUT_SECONDS,
        )
        self.user = self.endpoint.user
        self.folder = self.endpoint.path
        self.server = self.endpoint.server

    def location(self, name: str) -> str:
        """The file's sftp:// address."""
        return self.endpoint.url(posixpath.join(self.folder, name))

    def publish(self, files: Sequence[tuple[Path, str]]) -> None:
        """Upload each local file and rename it to its name on the server, in order.

        Raises:
            ExportError: the server refused a request (e.g. no write permission).
            ExportUnavailableError: the server cannot be reached or the connection broke.
            UnknownHostKeyError: the server's host key is not in the known_hosts file.
        """
        with self._connected() as sftp:
            for local, name in files:
                self._upload(sftp, local, name)
        logger.info("registration files uploaded to %s", self.location(""))

    def _upload(self, sftp: paramiko.SFTPClient, local: Path, name: str) -> None:
        for entry in sftp.listdir(self.folder):
            if entry.startswith(f".{name}.") and entry.endswith(".tmp"):
                sftp.remove(posixpath.join(self.folder, entry))  # an upload that died
        temporary = posixpath.join(self.folder, f".{name}.{secrets.token_hex(6)}.tmp")
        target = posixpath.join(self.folder, name)
        sftp.put(str(local), temporary, confirm=True)
        try:
            sftp.posix_rename(temporary, target)
        except OSError:
            with contextlib.suppress(FileNotFoundError):
                sftp.remove(target)
            sftp.rename(temporary, target)

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
    ) -> ExportError:
        """The connection's error in the records export's words."""
        server, known_hosts = self.server, self.endpoint.known_hosts_file
        match error:
            case sftp_connection.KnownHostsMissingError():
                return ExportError(
                    f"filen med SFTP-serverns värdnyckel finns inte: {known_hosts} "
                    "(UTSKICK_RECORDS_EXPORT_SFTP_KNOWN_HOSTS); lägg in serverns nyckel där"
                )
            case sftp_connection.KeyFileError():
                return ExportError(
                    f"SFTP-nyckeln {error.key_file} (UTSKICK_RECORDS_EXPORT_SFTP_KEY_FILE) kunde "
                    f"inte läsas ({error.detail}); ange en privat nyckel i OpenSSH- eller "
                    "PEM-format utan lösenfras"
                )
            case sftp_connection.UnknownHostKeyError():
                return UnknownHostKeyError(
                    f"diariets SFTP-server {error.hostname} har en okänd värdnyckel "
                    f"({error.key_name} {error.fingerprint}) som inte finns i {known_hosts}; "
                    "kontrollera nyckeln med den som sköter servern och lägg in den där "
                    "(ssh-keyscan visar raden). Okända nycklar godtas aldrig"
                )
            case sftp_connection.HostKeyMismatchError():
                return UnknownHostKeyError(
                    f"diariets SFTP-server {server} visade en annan värdnyckel "
                    f"({error.key_name} {error.fingerprint}) än den i {known_hosts}; "
                    "det kan vara en annan server. Fråga den som sköter servern om nyckeln bytts "
                    "innan known_hosts ändras"
                )
            case sftp_connection.LoginRefusedError():
                return ExportError(
                    f"diariets SFTP-server {server} godtog inte inloggningen som "
                    f"{self.user or 'den lokala användaren'} ({error.detail}); lägg in den "
                    "publika nyckeln till UTSKICK_RECORDS_EXPORT_SFTP_KEY_FILE på servern"
                )
            case sftp_connection.ServerUnreachableError():
                return ExportUnavailableError(
                    f"diariets SFTP-server {server} svarar inte ({error.detail}); "
                    "registreringsfilen lämnas igen vid nästa körning"
                )
            case sftp_connection.ConnectionBrokenError():
                return ExportUnavailableError(
                    f"förbindelsen med diariets SFTP-server {server} bröts ({error.detail}); "
                    "registreringsfilen lämnas igen vid nästa körning"
                )
            case _:  # RequestRefusedError
                return ExportError(
                    f"diariets SFTP-server {server} nekade en begäran ({error.detail}); "
                    f"kontrollera användarens rättigheter i mappen {self.folder}"
                )
