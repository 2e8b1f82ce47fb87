"""What a backup and a restore report, and how a backup file is created: shared by both kinds.

`utskick.db.backup` (SQLite, and the choice of kind) and `utskick.db.backup_postgres` both use
these, so neither imports the other's module for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from utskick.mm.private_files import open_private_file

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


class BackupError(Exception):
    """A backup or restore that cannot be made; the message (Swedish) says why and what to do."""


@dataclass(frozen=True)
class BackupReport:
    """A backup written and checked."""

    database: str  # "sqlite" or "postgresql"
    file: Path
    size_bytes: int
    revision: str | None
    schema: str | None
    seconds: float


@dataclass(frozen=True)
class RestoreReport:
    """A backup restored into the configured database."""

    database: str
    file: Path
    revision: str | None
    schema: str | None
    replaced: bool  # the target held tables, and they were replaced
    seconds: float


def new_backup_file(out: Path) -> int:
    """Create `out` with mode 0600 for writing; it must not exist.

    Raises:
        BackupError: it exists (a backup is never overwritten), or its folder is missing.
    """
    try:
        return open_private_file(out)
    except FileExistsError:
        raise BackupError(
            f"{out} finns redan; en säkerhetskopia skrivs aldrig över. Ange ett nytt filnamn "
            "(gärna med datum och tid) eller flytta den gamla filen"
        ) from None
    except OSError as error:
        raise BackupError(f"kan inte skapa {out}: {error.strerror}") from None
