"""Backups of the connector's database while it runs, and restores into an empty database.

SQLite (the embedded default): SQLite's online backup API copies the database in one read
transaction. In WAL mode that is a snapshot which writers do not wait for, so a running
`utskick serve` or `utskick worker` goes on working while it is taken. The copy is a single
file (rollback journal, no `-wal`), created with mode 0600 and checked with
`PRAGMA integrity_check` and `PRAGMA foreign_key_check` before it is reported written.

PostgreSQL: `pg_dump --format=custom` of the installation's schema, and `pg_restore` into an
empty schema of the same name (`utskick.db.backup_postgres`).

A restore refuses a target that holds tables unless told to replace them. It does not migrate:
the caller compares the restored revision with the newest one and says what to run.
Messages are Swedish: they are shown to the operator as they are.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from utskick.db.backup_files import (
    POSTGRESQL,
    SQLITE,
    BackupError,
    BackupReport,
    RestoreReport,
    new_backup_file,
)
from utskick.db.engine import sqlite_file
from utskick.mm.private_files import companions, prepare_sqlite_file

# How a file tells what it is: its first bytes.
_SQLITE_MAGIC = b"SQLite format 3\x00"
_PG_DUMP_MAGIC = b"PGDMP"
# How long the copy waits for a writer's lock on a database that is not in WAL mode.
_BUSY_SECONDS = 30.0


def database_kind(url: str) -> str:
    """`sqlite` or `postgresql`, for the database URL.

    Raises:
        BackupError: another kind of database.
    """
    backend = make_url(url).get_backend_name()
    if backend not in (SQLITE, POSTGRESQL):
        raise BackupError(f"databastypen {backend} stöds inte: bara SQLite och PostgreSQL")
    return backend


def backup_kind(path: Path) -> str:
    """What kind of database a backup file holds, from its first bytes.

    Raises:
        BackupError: the file cannot be read, or is neither kind.
    """
    try:
        with path.open("rb") as stream:
            head = stream.read(len(_SQLITE_MAGIC))
    except OSError as error:
        raise BackupError(f"kan inte läsa säkerhetskopian {path}: {error.strerror}") from None
    if head.startswith(_SQLITE_MAGIC):
        return SQLITE
    if head.startswith(_PG_DUMP_MAGIC):
        return POSTGRESQL
    raise BackupError(
        f"{path} är ingen säkerhetskopia från utskick db backup (varken en SQLite-databas "
        "eller en pg_dump-fil i custom-format)"
    )


def back_up(url: str, out: Path) -> BackupReport:
    """Back up the database at `url` into the new file `out` (mode 0600), and check the copy.

    Raises:
        BackupError: `out` exists, the database cannot be read, or the copy is not sound.
    """
    if database_kind(url) == POSTGRESQL:
        from utskick.db.backup_postgres import back_up_postgres  # noqa: PLC0415 (pg only)

        return back_up_postgres(url, out)
    return back_up_sqlite(_sqlite_database(url), out)


def restore(url: str, backup: Path, *, replace: bool) -> RestoreReport:
    """Restore `backup` into the database at `url`; `replace` lets it overwrite tables there.

    Raises:
        BackupError: the backup is of the other kind or not sound, the target holds tables
            and `replace` is not given, or the restore failed (the message says why).
    """
    kind = database_kind(url)
    found = backup_kind(backup)
    if found != kind:
        raise BackupError(
            f"säkerhetskopian {backup} är från {_KIND_NAMES[found]}, men databasen som är "
            f"inställd är {_KIND_NAMES[kind]}; att flytta mellan dem stöds inte. Kontrollera "
            "UTSKICK_DATABASE_URL"
        )
    if kind == POSTGRESQL:
        from utskick.db.backup_postgres import restore_postgres  # noqa: PLC0415 (pg only)

        return restore_postgres(url, backup, replace=replace)
    return restore_sqlite(backup, _sqlite_database(url), replace=replace)


_KIND_NAMES = {SQLITE: "SQLite", POSTGRESQL: "PostgreSQL"}


def _sqlite_database(url: str) -> Path:
    database = sqlite_file(url)
    if database is None:
        raise BackupError(
            "databasen ligger i minnet eller anges som file:-URI; ange en fil i "
            "UTSKICK_DATABASE_URL (sqlite:////sökväg/utskick.db)"
        )
    return database


# --- SQLite ---------------------------------------------------------------------------------


def back_up_sqlite(database: Path, out: Path) -> BackupReport:
    """Copy a SQLite database, in use or not, into the new file `out`; check the copy."""
    started = time.monotonic()
    if not database.is_file():
        raise BackupError(
            f"databasen {database} finns inte; kontrollera UTSKICK_HOME eller UTSKICK_DATABASE_URL"
        )
    os.close(new_backup_file(out))
    try:
        source = sqlite3.connect(database, timeout=_BUSY_SECONDS)
        try:
            copy = sqlite3.connect(out)
            try:
                # One step: the whole copy is one read transaction, i.e. one snapshot.
                source.backup(copy, pages=-1)
                # A single file to keep and move, whatever the journal mode of the original.
                copy.execute("PRAGMA journal_mode=DELETE")
                revision = _check_sqlite(copy, out)
            finally:
                copy.close()
        finally:
            source.close()
        _flush_to_disk(out)
    except BaseException:
        for path in (out, *companions(out)):
            path.unlink(missing_ok=True)
        raise
    return BackupReport(SQLITE, out, out.stat().st_size, revision, None, time.monotonic() - started)


def restore_sqlite(backup: Path, database: Path, *, replace: bool) -> RestoreReport:
    """Copy a backup into the SQLite database file (created 0600); check the result."""
    started = time.monotonic()
    source = _open_read_only(backup)
    try:
        _check_sqlite(source, backup)
        prepare_sqlite_file(database)
        target = sqlite3.connect(database, timeout=_BUSY_SECONDS)
        try:
            replaced = _sqlite_has_tables(target)
            if replaced and not replace:
                raise BackupError(
                    f"databasen {database} innehåller redan tabeller; återställ till en tom "
                    "databas, eller stoppa alla tjänster som använder den och ange --yes för "
                    "att ersätta innehållet"
                )
            _copy_into(source, target, database)
            revision = _check_sqlite(target, database)
        finally:
            target.close()
    finally:
        source.close()
    return RestoreReport(SQLITE, backup, revision, None, replaced, time.monotonic() - started)


def _copy_into(source: sqlite3.Connection, target: sqlite3.Connection, database: Path) -> None:
    """Replace the target's pages with the backup's, then put it back in WAL mode."""
    try:
        # A WAL database cannot take pages of another size; out of WAL it can.
        target.execute("PRAGMA journal_mode=DELETE")
        source.backup(target, pages=-1)
        target.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as error:
        raise BackupError(
            f"kan inte skriva databasen {database} ({error}); stoppa tjänsterna som använder "
            "den (utskick serve, utskick worker) och försök igen"
        ) from None


def _open_read_only(path: Path) -> sqlite3.Connection:
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        return sqlite3.connect(uri, uri=True)
    except sqlite3.Error as error:
        raise BackupError(f"kan inte öppna säkerhetskopian {path}: {error}") from None


def _check_sqlite(connection: sqlite3.Connection, path: Path) -> str:
    """Check a database's pages and references; its migration revision.

    Raises:
        BackupError: it is damaged, has rows that refer to nothing, or is no Utskick database.
    """
    try:
        problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        dangling = connection.execute("PRAGMA foreign_key_check").fetchall()
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} går inte att läsa som en Utskick-databas: {error}") from None
    if problems != ["ok"]:
        raise BackupError(f"{path} är skadad (PRAGMA integrity_check: {'; '.join(problems[:5])})")
    if dangling:
        raise BackupError(
            f"{path} har {len(dangling)} rader som pekar på rader som saknas "
            f"(PRAGMA foreign_key_check), först i tabellen {dangling[0][0]}"
        )
    if revision is None:
        raise BackupError(f"{path} har ingen migreringsversion: är det en Utskick-databas?")
    return str(revision[0])


def _sqlite_has_tables(connection: sqlite3.Connection) -> bool:
    row = connection.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchone()
    return bool(row[0])


def _flush_to_disk(path: Path) -> None:
    """Make the backup durable before it is reported written."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
