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

from utskick.settings import Settings, sftp_address

logger = logging.getLogger(__name__)

DEFAULT_PORT = 22
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
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
        self.host = address.hostname or ""
        self.port = address.port or DEFAULT_PORT
        self.user = address.username
        self.folder = posixpath.normpath(address.path)
        self.key_file = settings.records_export_sftp_key_file
        self.known_hosts = settings.records_export_sftp_known_hosts
        self.server = f"{self.host}:{self.port}"

    def location(self, name: str) -> str:
        """The file's sftp:// address."""
        user = f"{self.user}@" if self.user else ""
        return f"sftp://{user}{self.server}{posixpath.join(self.folder, name)}"

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
        client = paramiko.SSHClient()
        try:
            sftp = self._open(client)
            try:
                yield sftp
            except (EOFError, TimeoutError, ConnectionError, paramiko.SSHException) as error:
                raise ExportUnavailableError(
                    f"förbindelsen med diariets SFTP-server {self.server} bröts ({error}); "
                    "registreringsfilen lämnas igen vid nästa körning"
                ) from error
            except OSError as error:
                raise ExportError(
                    f"diariets SFTP-server {self.server} nekade en begäran ({error}); "
                    f"kontrollera användarens rättigheter i mappen {self.folder}"
                ) from error
        finally:
            client.close()

    def _open(self, client: paramiko.SSHClient) -> paramiko.SFTPClient:
        known_hosts = self.known_hosts or Path(DEFAULT_KNOWN_HOSTS).expanduser()
        try:
            client.get_host_keys().load(str(known_hosts))
        except FileNotFoundError:
            if self.known_hosts is not None:
                raise ExportError(
                    f"filen med SFTP-serverns värdnyckel finns inte: {known_hosts} "
                    "(UTSKICK_RECORDS_EXPORT_SFTP_KNOWN_HOSTS); lägg in serverns nyckel där"
                ) from None
        client.set_missing_host_key_policy(_RefuseUnknownHostKey(known_hosts))
        key = self._private_key()
        try:
            client.connect(
                self.host,
                port=self.port,
                username=self.user,
                pkey=key,
                look_for_keys=key is None,
                allow_agent=key is None,
                timeout=TIMEOUT_SECONDS,
                banner_timeout=TIMEOUT_SECONDS,
                auth_timeout=TIMEOUT_SECONDS,
                channel_timeout=TIMEOUT_SECONDS,
            )
            sftp = client.open_sftp()
        except paramiko.BadHostKeyException as error:
            raise UnknownHostKeyError(
                f"diariets SFTP-server {self.server} visade en annan värdnyckel "
                f"({error.key.get_name()} {error.key.fingerprint}) än den i {known_hosts}; "
                "det kan vara en annan server. Fråga den som sköter servern om nyckeln bytts "
                "innan known_hosts ändras"
            ) from None
        except paramiko.AuthenticationException as error:
            raise ExportError(
                f"diariets SFTP-server {self.server} godtog inte inloggningen som "
                f"{self.user or 'den lokala användaren'} ({error}); lägg in den publika "
                "nyckeln till UTSKICK_RECORDS_EXPORT_SFTP_KEY_FILE på servern"
            ) from None
        except (OSError, EOFError, paramiko.SSHException) as error:
            raise ExportUnavailableError(
                f"diariets SFTP-server {self.server} svarar inte ({error}); "
                "registreringsfilen lämnas igen vid nästa körning"
            ) from error
        channel = sftp.get_channel()
        if channel is not None:
            channel.settimeout(TIMEOUT_SECONDS)
        return sftp

    def _private_key(self) -> paramiko.PKey | None:
        if self.key_file is None:
            return None
        try:
            return paramiko.PKey.from_path(self.key_file)
        except (OSError, ValueError, paramiko.SSHException) as error:
            raise ExportError(
                f"SFTP-nyckeln {self.key_file} (UTSKICK_RECORDS_EXPORT_SFTP_KEY_FILE) kunde "
                f"inte läsas ({error}); ange en privat nyckel i OpenSSH- eller PEM-format "
                "utan lösenfras"
            ) from None


class _RefuseUnknownHostKey(paramiko.MissingHostKeyPolicy):
    """Refuse a server whose host key is not in known_hosts: never accept it unseen."""

    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(
        self, _client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise UnknownHostKeyError(
            f"diariets SFTP-server {hostname} har en okänd värdnyckel ({key.get_name()} "
            f"{key.fingerprint}) som inte finns i {self.known_hosts}; kontrollera nyckeln med "
            "den som sköter servern och lägg in den där (ssh-keyscan visar raden). Okända "
            "nycklar godtas aldrig"
        )
