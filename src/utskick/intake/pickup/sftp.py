"""A source's inbox on an SFTP server: one connection per poll, host key checked.

The server's host key must be in the source's known_hosts file (`sftp_known_hosts`, by
default `~/.ssh/known_hosts`): an unknown or changed key is refused, never accepted and
remembered. Utskick logs in with `sftp_key_file` (OpenSSH or PEM, no passphrase), or else
with the user's own SSH keys and agent, as ssh would.

Renames use the standard SFTP rename, which refuses a name that is taken; files written by
Utskick (receipts, reasons) go to `<name>.tmp` first and are then renamed over the name
with OpenSSH's posix-rename where the server has it.
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

import paramiko

from utskick import sftp_connection
from utskick.intake.pickup.folders import (
    INBOX,
    NOT_A_FILE,
    TMP_SUFFIX,
    FolderEntry,
    NotAFileError,
    PickupFolderError,
    PickupUnavailableError,
)
from utskick.intake.sources import Source
from utskick.settings import sftp_address
from utskick.sftp_connection import SftpEndpoint

# How long a connection, a login or one request may take before the poll gives up.
TIMEOUT_SECONDS = 30.0

T = TypeVar("T")


class SftpFolder:
    """An inbox folder on an SFTP server, through one open SFTP session."""

    def __init__(self, sftp: paramiko.SFTPClient, root: str, location: str) -> None:
        self.sftp = sftp
        self.root = root
        self._location = location

    @classmethod
    @contextlib.contextmanager
    def connected(cls, source: Source) -> Iterator[SftpFolder]:
        """Connect to the source's server for one poll; the connection closes afterwards.

        Raises:
            PickupFolderError: the address, host key, key file or login is wrong.
            PickupUnavailableError: the server does not answer now.
        """
        assert source.sftp_url is not None
        try:
            address = sftp_address(source.sftp_url)
        except ValueError as error:
            raise PickupFolderError(f"källan {source.name}: {error}") from None
        endpoint = SftpEndpoint.from_address(
            address,
            key_file=source.sftp_key_file,
            known_hosts=source.sftp_known_hosts,
            timeout=TIMEOUT_SECONDS,
        )
        root = endpoint.path
        client = paramiko.SSHClient()
        try:
            try:
                sftp = sftp_connection.open_sftp(client, endpoint)
            except sftp_connection.SftpError as error:
                raise _login_error(source.name, endpoint, error) from error.__cause__
            folder = cls(sftp, root, endpoint.url(root))
            if not folder.exists(INBOX):
                raise PickupFolderError(
                    f"källan {source.name}: mappen {root} finns inte på servern "
                    f"({folder.location}); be serverns ägare skapa den eller rätta sftp_url"
                )
            yield folder
        finally:
            client.close()

    @property
    def location(self) -> str:
        """The inbox's sftp:// address."""
        return self._location

    def _path(self, path: str) -> str:
        return posixpath.join(self.root, path) if path else self.root

    def list_files(self, folder: str = INBOX) -> list[FolderEntry]:
        """The regular files in a folder on the server, in name order."""
        try:
            entries = self._call(lambda: self.sftp.listdir_attr(self._path(folder)))
        except FileNotFoundError:
            if folder:
                return []
            raise PickupUnavailableError(
                f"mappen {self.root} finns inte längre på servern ({self.location}); filerna "
                "hämtas när den finns igen"
            ) from None
        files = [
            FolderEntry(entry.filename, entry.st_size or 0, float(entry.st_mtime or 0))
            for entry in entries
            if entry.st_mode is not None and stat.S_ISREG(entry.st_mode)
        ]
        return sorted(files, key=lambda entry: entry.name)

    def exists(self, path: str) -> bool:
        """Whether anything lies at the path on the server."""
        try:
            self._call(lambda: self.sftp.lstat(self._path(path)))
        except FileNotFoundError:
            return False
        return True

    @contextlib.contextmanager
    def fetched(self, path: str, work: Path) -> Iterator[Path]:
        """The file downloaded into `work` (its size checked), removed afterwards.

        Raises:
            NotAFileError: no regular file lies at the path on the server (a link is never
                followed, not even within the server's folders).
        """
        mode = self._call(lambda: self.sftp.lstat(self._path(path))).st_mode
        if mode is None or not stat.S_ISREG(mode):
            raise NotAFileError(NOT_A_FILE)
        local = work / posixpath.basename(path)
        try:
            # prefetch: many requests in flight, so a large file comes at the line's speed.
            self._call(lambda: self.sftp.get(self._path(path), str(local), prefetch=True))
            yield local
        finally:
            local.unlink(missing_ok=True)

    def rename(self, old: str, new: str) -> None:
        """Move a file on the server; FileExistsError if the new name is taken."""
        if self.exists(new):
            raise FileExistsError(self._path(new))
        self._call(lambda: self.sftp.rename(self._path(old), self._path(new)))

    def make_folder(self, path: str) -> None:
        """Make a subfolder on the server, unless it is there.

        Raises:
            PickupFolderError: something else than a folder lies under the name (a link, to
                a folder of Utskick's user on the server, say, is never written through).
        """
        try:
            mode = self._call(lambda: self.sftp.lstat(self._path(path))).st_mode
        except FileNotFoundError:
            self._call(lambda: self.sftp.mkdir(self._path(path)))
            return
        if mode is None or not stat.S_ISDIR(mode):
            raise PickupFolderError(
                f"{path}/ i mappen {self.location} är ingen mapp utan en länk eller en fil; "
                "Utskick skriver inte genom den. Be serverns ägare ta bort den (Utskick skapar "
                "mappen igen)"
            )

    def write_text(self, path: str, text: str) -> None:
        """Write UTF-8 text as `<path>.tmp` on the server, then rename it over `path`."""
        self._write_new(path, io.BytesIO(text.encode("utf-8")))

    def put(self, local: Path, path: str) -> None:
        """Upload a local file as `<path>.tmp` (size confirmed), then rename it over `path`."""
        with local.open("rb") as source:
            self._write_new(path, source)

    def _write_new(self, path: str, source: BinaryIO) -> None:
        """`source` as a new `<path>.tmp` (its size confirmed), renamed over `path`.

        Whatever lay under the temporary name is removed first, and the file is created
        exclusively: a link planted there (to a file of Utskick's user on the server) is
        removed, never written through.
        """
        temporary = self._path(path) + TMP_SUFFIX

        def write() -> None:
            with contextlib.suppress(FileNotFoundError):
                self.sftp.remove(temporary)
            with self.sftp.open(temporary, "wxb") as stream:
                stream.set_pipelined(True)  # many writes in flight: at the line's speed
                while chunk := source.read(1024 * 1024):
                    stream.write(chunk)
            written = self.sftp.stat(temporary).st_size
            if written != source.tell():
                raise OSError(f"{temporary}: {written} byte skrevs av {source.tell()}")

        self._call(write)
        self._replace(path)

    def remove(self, path: str) -> None:
        """Remove a file on the server; nothing if it is not there."""
        with contextlib.suppress(FileNotFoundError):
            self._call(lambda: self.sftp.remove(self._path(path)))

    def _replace(self, path: str) -> None:
        """Rename `<path>.tmp` over `path`: posix-rename, else remove and rename."""
        temporary, target = self._path(path) + TMP_SUFFIX, self._path(path)
        try:
            self.sftp.posix_rename(temporary, target)
        except OSError:
            # A server without OpenSSH's extension: the standard rename refuses a taken name.
            with contextlib.suppress(FileNotFoundError):
                self._call(lambda: self.sftp.remove(target))
            self._call(lambda: self.sftp.rename(temporary, target))

    def _call(self, request: Callable[[], T]) -> T:
        """Run a request; a broken connection, a refusal or a name not UTF-8 said in Swedish.

        FileNotFoundError and FileExistsError pass through for the caller to decide on.
        """
        try:
            return request()
        except (FileNotFoundError, FileExistsError):
            raise
        except UnicodeDecodeError:
            # paramiko reads names as UTF-8 and cannot list a folder that holds another name.
            raise PickupFolderError(
                f"ett filnamn i mappen på SFTP-servern {self.location} är inte skrivet i UTF-8 "
                "(programmet som sparade filen använde en äldre teckenkodning), så ingen fil i "
                "mappen kan hämtas; byt namn på filen, eller ta bort den, så hämtas filerna "
                "igen"
            ) from None
        except (EOFError, TimeoutError, ConnectionError, paramiko.SSHException) as error:
            raise PickupUnavailableError(
                f"förbindelsen med SFTP-servern {self.location} bröts ({error}); filerna "
                "hämtas när servern svarar igen"
            ) from error
        except OSError as error:
            raise PickupFolderError(
                f"SFTP-servern {self.location} nekade en begäran ({error}); kontrollera att "
                "användaren får läsa, skriva och byta namn på filer i mappen och dess "
                "undermappar pågående/, behandlade/ och fel/"
            ) from error


def _login_error(
    source: str, endpoint: SftpEndpoint, error: sftp_connection.SftpError
) -> PickupFolderError:
    """What went wrong while logging in to the source's server, in the pickup's words."""
    server, known_hosts = endpoint.server, endpoint.known_hosts_file
    match error:
        case sftp_connection.KnownHostsMissingError():
            return PickupFolderError(
                f"källan {source}: filen med SFTP-serverns värdnyckel finns inte: "
                f"{known_hosts} (sftp_known_hosts); lägg in serverns nyckel där"
            )
        case sftp_connection.KeyFileError():
            return PickupFolderError(
                f"källan {source}: SFTP-nyckeln {error.key_file} (sftp_key_file) kunde "
                f"inte läsas ({error.detail}); ange en privat nyckel i OpenSSH- eller PEM-format "
                "utan lösenfras"
            )
        case sftp_connection.UnknownHostKeyError():
            return PickupFolderError(
                f"källan {source}: SFTP-servern {error.hostname} har en okänd värdnyckel "
                f"({error.key_name} {error.fingerprint}) som inte finns i {known_hosts}; "
                "kontrollera nyckeln med serverns ägare och lägg in den där (ssh-keyscan visar "
                "raden). Okända nycklar godtas aldrig"
            )
        case sftp_connection.HostKeyMismatchError():
            return PickupFolderError(
                f"källan {source}: SFTP-servern {server} visade en annan "
                f"värdnyckel ({error.key_name} {error.fingerprint}) än den i "
                f"{known_hosts}; det kan vara en annan server. Fråga serverns ägare om nyckeln "
                "bytts innan known_hosts ändras"
            )
        case sftp_connection.LoginRefusedError():
            return PickupFolderError(
                f"källan {source}: SFTP-servern {server} godtog inte "
                f"inloggningen som {endpoint.user or 'den lokala användaren'} ({error.detail}); "
                "be serverns ägare lägga in den publika nyckeln till sftp_key_file"
            )
        case _:  # ServerUnreachableError: open_sftp raises no other
            return PickupUnavailableError(
                f"källan {source}: SFTP-servern {server} svarar inte ({error.detail}); "
                "filerna hämtas när servern svarar igen"
            )
