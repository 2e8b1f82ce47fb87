"""The folder a source's files are picked up from, local or on an SFTP server, as one port.

A source's folder is its inbox; Utskick keeps three subfolders in it: `pågående/` (files
being taken), `behandlade/` (files taken, each with its receipt) and `fel/` (files refused,
each with a text saying why). Paths handed to a `PickupFolder` are relative to the inbox and
written with `/` (`pågående/faktura.pdf`); the inbox itself is `""`.

`LocalFolder` is a folder on this machine; `pickup.sftp.SftpFolder` one on an SFTP server.
`pickup.opening.open_folder` opens the right one for a source, for the length of one poll.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

INBOX = ""
IN_PROGRESS = "pågående"
DONE = "behandlade"
REFUSED = "fel"
SUBFOLDERS = (IN_PROGRESS, DONE, REFUSED)
# Atomic writes go to `<name>.tmp` first, a name the inbox never takes.
TMP_SUFFIX = ".tmp"


class PickupFolderError(Exception):
    """The folder refused a request (permissions, a name taken); `message` says so in Swedish."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class PickupUnavailableError(PickupFolderError):
    """The folder cannot be reached now (the server does not answer); try again later."""


class NotAFileError(PickupFolderError):
    """What lies at a path is no regular file (a link, a FIFO, a folder): it is not read."""


NOT_A_FILE = (
    "det som ligger under namnet är ingen vanlig fil (en länk, en namngiven pipe eller en "
    "mapp, kanske utbytt medan filen skulle tas); Utskick läser bara vanliga filer. Lägg "
    "filen själv i mappen igen"
)


@dataclass(frozen=True)
class FolderEntry:
    """A file in a folder as a listing shows it: name, size in bytes, modification time."""

    name: str
    size: int
    mtime: float  # POSIX seconds, as the folder's file system keeps them


class PickupFolder(Protocol):
    """The operations picking up needs from a folder, local or remote."""

    @property
    def location(self) -> str:
        """Where the folder is, as people read it (a path or an sftp:// address)."""
        ...

    def list_files(self, folder: str = INBOX) -> list[FolderEntry]:
        """The regular files in a folder (not subfolders, links or devices), in name order."""
        ...

    def exists(self, path: str) -> bool:
        """Whether anything lies at the path."""
        ...

    def fetched(self, path: str, work: Path) -> contextlib.AbstractContextManager[Path]:
        """A local path holding the file's bytes while the context lasts (a copy under `work`)."""
        ...

    def rename(self, old: str, new: str) -> None:
        """Move a file within the folder; refuse (FileExistsError) if `new` is taken."""
        ...

    def make_folder(self, path: str) -> None:
        """Make a subfolder, unless it is already there."""
        ...

    def write_text(self, path: str, text: str) -> None:
        """Write a small UTF-8 text file atomically: `<path>.tmp`, then renamed over `path`."""
        ...

    def put(self, local: Path, path: str) -> None:
        """Copy a local file to `path` atomically (as `write_text`)."""
        ...

    def remove(self, path: str) -> None:
        """Remove a file (a half-written `.tmp` of ours); nothing if it is not there."""
        ...


def free_name(
    folder: PickupFolder,
    subfolder: str,
    name: str,
    stamp: str,
    companions: Callable[[str], Iterable[str]] | None = None,
) -> str:
    """A name for `name` in `subfolder` that no file there has yet (nor its companions).

    The name itself when it is free; else the stem with `stamp` (a local time such as
    `20261207-101500`) and, if need be, a number: `faktura.20261207-101500-2.pdf`.
    `companions` gives the names of the files that go beside a candidate (its receipt), which
    must be free too.
    """

    def free(candidate: str) -> bool:
        names = [candidate, *(companions(candidate) if companions else ())]
        return not any(folder.exists(posixpath.join(subfolder, other)) for other in names)

    if free(name):
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        stem, suffix = name, ""
    tail = f".{suffix}" if suffix else ""
    for number in range(1, 1000):
        extra = "" if number == 1 else f"-{number}"
        candidate = f"{stem}.{stamp}{extra}{tail}"
        if free(candidate):
            return candidate
    raise PickupFolderError(
        f"mappen {subfolder}/ i {folder.location} har redan 1 000 filer som heter {name}; "
        "flytta bort gamla filer därifrån"
    )


class LocalFolder:
    """A folder on this machine (or a mounted share) as a source's inbox."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def location(self) -> str:
        """The folder's path."""
        return str(self.root)

    def _path(self, path: str) -> Path:
        return self.root / path if path else self.root

    def _mode(self) -> int:
        """The inbox's permission bits (0700 if it cannot be read)."""
        try:
            return stat.S_IMODE(self.root.stat().st_mode)
        except OSError:
            return 0o700

    def list_files(self, folder: str = INBOX) -> list[FolderEntry]:
        """The regular files in a folder; links are not followed (they are never taken)."""
        try:
            with os.scandir(self._path(folder)) as entries:
                files = [
                    FolderEntry(entry.name, info.st_size, info.st_mtime)
                    for entry in entries
                    if stat.S_ISREG((info := entry.stat(follow_symlinks=False)).st_mode)
                ]
        except FileNotFoundError:
            if folder:
                return []
            raise PickupUnavailableError(
                f"mappen {self.root} finns inte; skapa den eller rätta folder i källfilen"
            ) from None
        except OSError as error:
            raise PickupUnavailableError(
                f"mappen {self.root} går inte att läsa ({error})"
            ) from None
        return sorted(files, key=lambda entry: entry.name)

    def exists(self, path: str) -> bool:
        """Whether anything lies at the path (a dangling link counts)."""
        return os.path.lexists(self._path(path))

    @contextlib.contextmanager
    def fetched(self, path: str, work: Path) -> Iterator[Path]:
        """The file itself: it is on this machine already, in a folder only Utskick touches.

        What was listed as a file may have been swapped for a link or a FIFO before it was
        moved into `pågående/`; such a thing is never opened (a link would be followed out of
        the folder, a FIFO would block the poll).

        Raises:
            NotAFileError: no regular file lies at the path.
        """
        del work
        local = self._path(path)
        try:
            mode = local.lstat().st_mode
        except FileNotFoundError:
            raise
        except OSError as error:
            raise PickupUnavailableError(f"filen {local} går inte att läsa ({error})") from None
        if not stat.S_ISREG(mode):
            raise NotAFileError(NOT_A_FILE)
        yield local

    def rename(self, old: str, new: str) -> None:
        """Move a file within the folder; FileExistsError if the new name is taken."""
        target = self._path(new)
        if os.path.lexists(target):
            raise FileExistsError(str(target))
        with self._refusals():
            self._path(old).rename(target)

    def make_folder(self, path: str) -> None:
        """Make a subfolder (the inbox itself, if it was removed meanwhile, is not made).

        It gets the inbox's own permissions, whatever the process's umask: who may read the
        receipts and reasons is what the administrator gave the inbox. What lies under the
        name must be a folder of its own: a link (to a folder of Utskick's user, say) or a file
        is refused, and nothing is written through it.

        Raises:
            PickupFolderError: something else than a folder lies under the name.
        """
        folder = self._path(path)
        with self._refusals():
            with contextlib.suppress(FileExistsError):
                folder.mkdir()
            try:
                # Opened without following a link, so that the check and the mode are one.
                descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            except OSError as error:
                if error.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                raise PickupFolderError(
                    f"{path}/ i mappen {self.root} är ingen mapp utan en länk eller en fil; "
                    "Utskick skriver inte genom den. Ta bort den (Utskick skapar mappen igen) "
                    "och se till att bara Utskick kan ändra i undermapparna"
                ) from None
            try:
                os.fchmod(descriptor, self._mode())
            finally:
                os.close(descriptor)

    def write_text(self, path: str, text: str) -> None:
        """Write UTF-8 text through `<path>.tmp`, synced, then renamed over `path`."""
        self._atomic(path, lambda stream: stream.write(text.encode("utf-8")))

    def put(self, local: Path, path: str) -> None:
        """Copy a local file through `<path>.tmp`, synced, then renamed over `path`."""

        def copy(stream: _Writable) -> None:
            with local.open("rb") as source:
                while chunk := source.read(1024 * 1024):
                    stream.write(chunk)

        self._atomic(path, copy)

    def remove(self, path: str) -> None:
        """Remove a file; nothing if it is not there."""
        with self._refusals():
            self._path(path).unlink(missing_ok=True)

    def _atomic(self, path: str, write: _Writer) -> None:
        target = self._path(path)
        temporary = target.with_name(target.name + TMP_SUFFIX)
        with self._refusals():
            # Readable as the inbox is (its mode without the execute bits), not by the umask.
            mode = self._mode() & 0o666
            # A new file, never what lies there: a half-written one of ours is removed, and a
            # link planted under the name (to a file of Utskick's user) is removed, not followed.
            temporary.unlink(missing_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            descriptor = os.open(temporary, flags, mode)
            os.fchmod(descriptor, mode)
            with os.fdopen(descriptor, "wb") as stream:
                write(stream)
                stream.flush()
                os.fsync(stream.fileno())
            temporary.replace(target)

    @contextlib.contextmanager
    def _refusals(self) -> Iterator[None]:
        """A refused change said in Swedish; a name taken or missing is the caller's to judge."""
        try:
            yield
        except (FileExistsError, FileNotFoundError):
            raise
        except PermissionError as error:
            raise PickupFolderError(
                f"Utskick får inte ändra i mappen {self.root} ({error.strerror}); ge "
                "användaren som kör Utskick rätt att skriva i den och i undermapparna "
                "pågående/, behandlade/ och fel/"
            ) from None
        except OSError as error:
            raise PickupUnavailableError(
                f"mappen {self.root} gick inte att ändra i ({error}); filerna hämtas när "
                "den går att använda igen"
            ) from None


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _Writer(Protocol):
    def __call__(self, stream: _Writable, /) -> object: ...
