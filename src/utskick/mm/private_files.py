"""Files and folders only their owner may read, from the first moment, whatever the umask.

Keys, secrets, databases and letters on their way to print are written here: files with mode
0600, folders with 0700. They are created with that mode (`os.open` with `O_EXCL`, `os.mkdir`
with 0700), never created loosely and tightened afterwards: a umask can only take permission
bits away, so the new file is never readable by others, and a `chmod` right after creation
only gives the owner back what a strict umask (say 0277) took.

Files written by older versions, or by hand, may be looser: `tighten` and `tighten_tree`
take the group's and others' bits away and log a warning naming the path. They live in the
wire layer only so that the connector and the reference infrastructure can share them.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

FILE_MODE = 0o600
FOLDER_MODE = 0o700
_OTHERS = 0o077  # the group's and others' bits
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def create_private_folders(path: Path) -> Path:
    """Create `path` and every missing folder above it with mode 0700.

    Folders that exist already are left as they are (a parent such as /srv or the user's
    home is not ours to change); use `private_folder` for a folder that is ours.
    """
    missing: list[Path] = []
    current = path
    while not os.path.lexists(current) and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(FOLDER_MODE)
        except FileExistsError:
            continue  # another process made it just now; it is not ours to change
        folder.chmod(FOLDER_MODE)  # a umask may have taken the owner's bits too
    return path


def private_folder(path: Path) -> Path:
    """A folder of ours: created with mode 0700, or tightened to it (logged) if it exists."""
    create_private_folders(path)
    tighten(path)
    return path


def write_private_file(path: Path, data: bytes, *, make_folders: bool = True) -> None:
    """Write `data` to `path` with mode 0600, replacing the file in one step.

    Missing folders above it are made with mode 0700 unless `make_folders` is False (an
    export to a folder that is not there is then an error, as the user would expect).

    The bytes go into a new file beside it, created 0600 with `O_EXCL` (never an existing
    file, never through a symbolic link), which is then renamed over `path`: a reader sees
    the old content or the new, and the new is never readable by others, even when the old
    file was. A path that is not a regular file (`/dev/stdout`, a pipe) is written to as it
    is: there is no file of ours to create.
    """
    if path.exists() and not path.is_file():
        with path.open("wb") as stream:
            stream.write(data)
        return
    if make_folders:
        create_private_folders(path.parent)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    descriptor = _create(temporary)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def create_private_file(path: Path) -> bool:
    """Create an empty file with mode 0600 unless it exists; whether it was created."""
    create_private_folders(path.parent)
    try:
        descriptor = _create(path)
    except FileExistsError:
        return False
    os.close(descriptor)
    return True


def open_private_file(path: Path) -> int:
    """A new file `path` (it must not exist), mode 0600, opened for writing; its descriptor."""
    return _create(path)


def _create(path: Path) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)  # a umask may have taken the owner's bits too
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def tighten(path: Path) -> bool:
    """Take the group's and others' permissions away from `path` if it has any (logged).

    A symbolic link is not followed, and a path that does not exist is left alone.

    Returns:
        Whether the permissions were changed.
    """
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(status.st_mode):
        return False
    mode = stat.S_IMODE(status.st_mode)
    if not mode & _OTHERS:
        return False
    tight = mode & ~_OTHERS
    try:
        path.chmod(tight)
    except OSError as error:
        logger.warning(
            "%s is readable by others (mode %03o) and could not be tightened: %s",
            path,
            mode,
            error.strerror,
        )
        return False
    logger.warning(
        "%s was readable by others (mode %03o, written by an older version or by hand); "
        "tightened to %03o",
        path,
        mode,
        tight,
    )
    return True


def tighten_tree(root: Path) -> int:
    """Tighten `root` and everything under it; returns how many paths were changed.

    A folder that was already private is not descended into: nobody else can reach what is
    under it, and a drop of many batches is not walked on every start.
    """
    if root.is_symlink() or not root.is_dir():
        return int(tighten(root))
    if not _loose(root):
        return 0
    changed = int(tighten(root))
    for entry in os.scandir(root):
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            changed += tighten_tree(path)
        elif not entry.is_symlink():
            changed += int(tighten(path))
    return changed


def _loose(path: Path) -> bool:
    try:
        return bool(stat.S_IMODE(os.lstat(path).st_mode) & _OTHERS)
    except FileNotFoundError:
        return False


def prepare_sqlite_file(database: Path) -> None:
    """Make sure a SQLite database file exists with mode 0600 before SQLite opens it.

    SQLite creates its `-wal`, `-shm` and `-journal` files with the database file's
    permissions, so they are 0600 too. Companions left loose by an older version are
    tightened (logged).
    """
    create_private_file(database)
    for path in (database, *companions(database)):
        tighten(path)


def companions(database: Path) -> Iterable[Path]:
    """The files SQLite keeps beside a database: its write-ahead log, shared memory, journal."""
    return (database.with_name(database.name + suffix) for suffix in SQLITE_COMPANIONS)
