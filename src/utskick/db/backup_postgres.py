"""PostgreSQL backups with `pg_dump` and restores with `pg_restore` (PostgreSQL's client tools).

The backup is `pg_dump --format=custom` of the installation's schema: the first schema of the
`search_path` that `UTSKICK_DATABASE_URL` sets (`?options=-csearch_path%3Dutskick`), or the
connection's current schema (normally `public`). pg_dump reads in one snapshot, so the
service goes on writing while it runs. The file is created with mode 0600 before pg_dump
writes into it, and read through once by `pg_restore` before it is reported written.

The restore goes into a schema of the same name (objects in a custom dump carry their schema's
name): it must be empty, or `replace` drops what it holds first. The whole archive is read
through first, so that a file cut short or damaged is refused before anything is touched.
Then the drop and the restore run in one transaction on one connection: `pg_restore` writes
the restore as SQL, which is fed to `psql` after the drop statements, and the transaction is
committed only when both tools have done all of it. A restore that fails half-way (a file
damaged after the check, a full disk, a statement the server refuses) leaves the old contents
as they were. It goes without owners or privileges of the source (the restoring role owns
what it restores). The password, if the URL has one, is handed to the tools in `PGPASSWORD`,
never on their command line.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from utskick.db.backup_files import (
    POSTGRESQL,
    BackupError,
    BackupReport,
    RestoreReport,
    new_backup_file,
)
from utskick.db.engine import normalise_url

# The first schema a `-c search_path=…` (or `--search_path=…`) in libpq's options names.
_SEARCH_PATH = re.compile(r"(?:-c\s*|--)search_path\s*=\s*([^\s,]+)")
# Relations and types a schema can hold (tables, partitions, views, sequences, foreign tables).
_RELATION_KINDS = ("r", "p", "v", "m", "S", "f")
_TOOL_SECONDS = 3600
# How long a restore waits for a table a running service holds before it gives up.
_LOCK_TIMEOUT_SECONDS = 30
# Bytes of pg_restore's SQL handed on to psql at a time.
_PIPE_CHUNK = 1 << 20
# A table's line in `pg_restore --list`: id; catalogue oid, oid, TABLE, schema, name, owner.
_TABLE_ENTRY_FIELDS = 7


@dataclass(frozen=True)
class PostgresDatabase:
    """A database URL as PostgreSQL's own tools take it: a libpq URI and the password aside."""

    url: str
    uri: str  # no password in it: it is on the command line, visible to `ps`
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> PostgresDatabase:
        """Split the SQLAlchemy URL (`postgresql://` or `postgresql+psycopg://`)."""
        parsed = make_url(url)
        # `URL.set` ignores None: `_replace` is what takes the password out.
        uri = parsed._replace(drivername="postgresql", password=None)
        return cls(url, uri.render_as_string(hide_password=False), parsed.password)

    def environment(self) -> dict[str, str]:
        """The environment the tools run in: ours, with the URL's password."""
        environment = dict(os.environ)
        if self.password is not None:
            environment["PGPASSWORD"] = self.password
        return environment

    def named_schema(self) -> str | None:
        """The first schema the URL's `options` put on the search path, if any."""
        options = make_url(self.url).query.get("options")
        for option in [options] if isinstance(options, str) else list(options or ()):
            found = _SEARCH_PATH.search(option)
            if found:
                return found[1].strip('"')
        return None


def back_up_postgres(url: str, out: Path) -> BackupReport:
    """`pg_dump` the installation's schema into the new file `out`; read the copy back."""
    started = time.monotonic()
    database = PostgresDatabase.from_url(url)
    engine = create_engine(normalise_url(url))
    try:
        with _connected(engine, database) as connection:
            schema = database.named_schema() or _current_schema(connection)
            if not _relations(connection, schema):
                raise BackupError(
                    f"schemat {schema} i {database.uri} har inga tabeller; kontrollera "
                    "UTSKICK_DATABASE_URL (search_path i options)"
                )
            revision = _revision(connection, schema)
    finally:
        engine.dispose()
    descriptor = new_backup_file(out)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            command = ["--format=custom", f"--schema={schema}", "--no-password"]
            _run(database, "pg_dump", [*command, f"--dbname={database.uri}"], stdout=stream)
            os.fsync(stream.fileno())
        _run(database, "pg_restore", [f"--file={os.devnull}", str(out)])
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return BackupReport(
        POSTGRESQL, out, out.stat().st_size, revision, schema, time.monotonic() - started
    )


def restore_postgres(url: str, backup: Path, *, replace: bool) -> RestoreReport:
    """`pg_restore` a custom dump into the configured schema, empty (or emptied with `replace`)."""
    started = time.monotonic()
    database = PostgresDatabase.from_url(url)
    contents = _run(database, "pg_restore", ["--list", str(backup)]).splitlines()
    dumped = _dumped_schema(contents, backup)
    _read_through(database, backup)
    engine = create_engine(normalise_url(url))
    try:
        with _connected(engine, database) as connection:
            schema = database.named_schema() or _current_schema(connection)
            if schema != dumped:
                raise BackupError(
                    f"säkerhetskopian har schemat {dumped}, men UTSKICK_DATABASE_URL pekar på "
                    f"schemat {schema}; återställ till schemat {dumped} "
                    f"(?options=-csearch_path%3D{dumped} i adressen)"
                )
            existing = _relations(connection, schema)
            if existing and not replace:
                raise BackupError(
                    f"schemat {schema} i {database.uri} innehåller redan {len(existing)} "
                    "tabeller och andra relationer; återställ till ett tomt schema, eller stoppa "
                    "alla tjänster som använder det och ange --yes för att ersätta innehållet"
                )
            drops = _drop_statements(connection, schema)
            schema_exists = _schema_exists(connection, schema)
        listing = _without_schema(contents, schema, schema_exists)
        _restore_in_one_transaction(database, backup, listing, before=drops)
        with _connected(engine, database) as connection:
            revision = _revision(connection, schema)
            _analyse(connection, schema)
    finally:
        engine.dispose()
    return RestoreReport(
        POSTGRESQL, backup, revision, schema, bool(existing), time.monotonic() - started
    )


def _read_through(database: PostgresDatabase, backup: Path) -> None:
    """Read every block of the archive, as a restore would; refuse one that is not whole.

    `pg_restore --list` reads only the table of contents at the start of the file: a copy
    that ran out of disk, or a transfer broken off, passes it and fails only when the data
    it lacks is reached.
    """
    try:
        _run(database, "pg_restore", [f"--file={os.devnull}", str(backup)])
    except BackupError as error:
        raise BackupError(
            f"{backup} går inte att läsa till slut, så inget i databasen har ändrats: den är "
            "avbruten eller skadad. Ta en kopia av säkerhetskopian på nytt (jämför storleken "
            f"med originalet) och försök igen. ({error})"
        ) from None


def _restore_in_one_transaction(
    database: PostgresDatabase, backup: Path, listing: Sequence[str], *, before: Sequence[str]
) -> None:
    """Run `before` (the drops) and the restore of `listing` as one transaction in `psql`.

    Raises:
        BackupError: either tool failed; the transaction was rolled back, nothing changed.
    """
    restore_program, psql_program = _program("pg_restore"), _program("psql")
    with (
        tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as list_file,
        tempfile.TemporaryFile() as restore_errors,
        tempfile.TemporaryFile() as psql_errors,
    ):
        list_file.write("\n".join(listing) + "\n")
        list_file.flush()
        restore_options = ["--no-owner", "--no-privileges", f"--use-list={list_file.name}"]
        psql_options = ["--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1"]
        environment = database.environment()
        # Errors go to files, not pipes: a pipe that fills while psql's input is being
        # written would stop both tools.
        script = subprocess.Popen(  # noqa: S603 (PostgreSQL's own program, found on PATH)
            [restore_program, *restore_options, "--file=-", str(backup)],
            stdout=subprocess.PIPE,
            stderr=restore_errors,
            env=environment,
        )
        psql = subprocess.Popen(  # noqa: S603 (PostgreSQL's own program, found on PATH)
            [psql_program, *psql_options, f"--dbname={database.uri}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=psql_errors,
            env=environment,
        )
        try:
            script_status, psql_status = _feed(script, psql, before)
        finally:
            _stop(script, psql)
        if script_status is not None and script_status != 0:
            raise _restore_failed("pg_restore", script_status, restore_errors)
        if psql_status != 0:
            raise _restore_failed("psql", psql_status, psql_errors)


def _feed(
    script: subprocess.Popen[bytes], psql: subprocess.Popen[bytes], before: Sequence[str]
) -> tuple[int | None, int]:
    """Feed psql BEGIN, the drops and pg_restore's SQL; COMMIT only after all of it.

    When pg_restore stops short, psql's input ends without COMMIT: the session closes with
    its transaction open, and the server rolls it back. When psql stops at an error
    (ON_ERROR_STOP), its transaction is rolled back the same way.

    Returns:
        The exit statuses of pg_restore (None: stopped here, as psql had stopped) and psql.

    Raises:
        BackupError: either tool ran longer than `_TOOL_SECONDS`.
    """
    if script.stdout is None or psql.stdin is None:  # pragma: no cover (both are pipes)
        raise BackupError("pg_restore och psql kunde inte kopplas ihop")
    # A service still running holds locks on its tables: wait a while, then refuse rather
    # than hang (pg_restore's own script lifts the limit once the drops have their locks).
    # Notices (a dropped table taking its sequence along) would crowd out a real error.
    settings = [
        f"SET lock_timeout = '{_LOCK_TIMEOUT_SECONDS}s';",
        "SET client_min_messages = warning;",
    ]
    opening = [*settings, "BEGIN;", *before, ""]
    script_status: int | None
    try:
        psql.stdin.write("\n".join(opening).encode("utf-8"))
        shutil.copyfileobj(script.stdout, psql.stdin, _PIPE_CHUNK)
        script_status = script.wait(timeout=_TOOL_SECONDS)
        if script_status == 0:
            psql.stdin.write(b"COMMIT;\n")
        psql.stdin.close()
        return script_status, psql.wait(timeout=_TOOL_SECONDS)
    except BrokenPipeError:
        # psql stopped at an error: what pg_restore writes has nowhere to go.
        return None, psql.wait(timeout=_TOOL_SECONDS)
    except subprocess.TimeoutExpired:
        # Stopped before COMMIT, nothing changed; stopped while committing, it may have.
        raise BackupError(
            f"återställningen tog mer än {_TOOL_SECONDS // 60} minuter och avbröts; "
            "kontrollera att databasen är som före återställningen, eller återställ igen, "
            "innan tjänsterna startas"
        ) from None


def _stop(script: subprocess.Popen[bytes], psql: subprocess.Popen[bytes]) -> None:
    """Close the pipe between the tools and end whichever still runs (psql: no COMMIT)."""
    for process in (script, psql):
        if process.poll() is None:
            process.kill()
            process.wait()
    for stream in (script.stdout, psql.stdin):
        if stream is not None:
            with contextlib.suppress(BrokenPipeError):
                stream.close()


def _restore_failed(tool: str, status: int, errors: IO[bytes]) -> BackupError:
    errors.seek(0)
    lines = errors.read().decode("utf-8", "replace").strip().splitlines()
    return BackupError(
        f"återställningen avbröts och rullades tillbaka, så databasen är som förut: {tool} "
        f"misslyckades (slutstatus {status}): "
        + " / ".join(lines[-3:] or ["inget felmeddelande"])
        + ". Kontrollera säkerhetskopian och att inga tjänster använder databasen, och försök igen"
    )


def _dumped_schema(contents: Sequence[str], backup: Path) -> str:
    """The one schema whose tables a dump holds (one of them `alembic_version`)."""
    tables = _dumped_tables(contents)
    schemas = {schema for schema, _ in tables}
    if len(schemas) != 1 or "alembic_version" not in {name for _, name in tables}:
        raise BackupError(
            f"{backup} är ingen säkerhetskopia från utskick db backup (den ska ha ett schema "
            "med tabellen alembic_version)"
        )
    return schemas.pop()


def _dumped_tables(contents: Sequence[str]) -> list[tuple[str, str]]:
    """(schema, table) of each table in a `pg_restore --list` listing.

    A line reads `215; 1259 19787 TABLE utskick letter owner`: id, catalogue and object ids,
    the kind of entry (`TABLE`, `TABLE DATA`, `INDEX`, …), schema, name, owner.
    """
    tables = []
    for line in contents:
        fields = line.split()
        if line.startswith(";") or len(fields) < _TABLE_ENTRY_FIELDS:
            continue
        if fields[3] == "TABLE" and fields[4] != "DATA":
            tables.append((fields[4], fields[5]))
    return tables


def _without_schema(contents: Sequence[str], schema: str, schema_exists: bool) -> list[str]:
    """The dump's list, leaving out creating the schema (and its comment) when it exists."""
    if not schema_exists:
        return list(contents)
    kept = []
    for line in contents:
        fields = line.split()
        creates_schema = fields[3:6] == ["SCHEMA", "-", schema]
        comments_schema = fields[3:7] == ["COMMENT", "-", "SCHEMA", schema]
        if not (creates_schema or comments_schema):
            kept.append(line)
    return kept


@contextmanager
def _connected(engine: Engine, database: PostgresDatabase) -> Iterator[Connection]:
    """A connection to the database, a failure to connect said in Swedish."""
    try:
        connection = engine.connect()
    except DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise BackupError(
            f"kan inte ansluta till {database.uri}: {reason}. Kontrollera "
            "UTSKICK_DATABASE_URL, att databasen finns (skapa den med createdb) och att "
            "rollen får logga in"
        ) from None
    with connection:
        yield connection


def _current_schema(connection: Connection) -> str:
    return str(connection.execute(text("SELECT coalesce(current_schema(), 'public')")).scalar_one())


def _schema_exists(connection: Connection, schema: str) -> bool:
    found = connection.execute(
        text("SELECT 1 FROM pg_namespace WHERE nspname = :schema"), {"schema": schema}
    )
    return found.first() is not None


def _relations(connection: Connection, schema: str) -> list[tuple[str, str]]:
    """The schema's tables, views and sequences: (kind, name)."""
    rows = connection.execute(
        text(
            "SELECT c.relkind, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relkind = ANY(:kinds)"
        ),
        {"schema": schema, "kinds": list(_RELATION_KINDS)},
    )
    return [(str(kind), str(name)) for kind, name in rows]


def _drop_statements(connection: Connection, schema: str) -> list[str]:
    """What drops every table, view, sequence and type of the schema (the schema stays)."""
    statements = {
        "r": "TABLE",
        "p": "TABLE",
        "v": "VIEW",
        "m": "MATERIALIZED VIEW",
        "S": "SEQUENCE",
        "f": "FOREIGN TABLE",
    }
    quoted_schema = _quoted(schema)
    # IF EXISTS and CASCADE: a dropped table may already have taken its sequences and views.
    drops = [
        f"DROP {statements[kind]} IF EXISTS {quoted_schema}.{_quoted(name)} CASCADE;"
        for kind, name in _relations(connection, schema)
    ]
    types = connection.execute(
        text(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = :schema AND t.typtype IN ('e', 'd') "
        ),
        {"schema": schema},
    ).scalars()
    drops.extend(f"DROP TYPE IF EXISTS {quoted_schema}.{_quoted(name)} CASCADE;" for name in types)
    return drops


def _analyse(connection: Connection, schema: str) -> None:
    """Gather the planner's statistics, which a dump does not carry, before the service runs."""
    for kind, name in _relations(connection, schema):
        if kind in ("r", "p"):
            connection.execute(text(f"ANALYZE {_quoted(schema)}.{_quoted(name)}"))
    connection.commit()


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _revision(connection: Connection, schema: str) -> str | None:
    """The schema's migration revision; None when it has no `alembic_version` table."""
    table = f"{_quoted(schema)}.alembic_version"
    if connection.execute(text("SELECT to_regclass(:table)"), {"table": table}).scalar() is None:
        return None
    found = connection.execute(text(f"SELECT version_num FROM {table}")).first()  # noqa: S608
    return None if found is None else str(found[0])


def _run(
    database: PostgresDatabase,
    tool: str,
    arguments: Sequence[str],
    stdout: IO[bytes] | None = None,
) -> str:
    """Run a PostgreSQL client tool; its standard output when not sent to `stdout`.

    Raises:
        BackupError: the tool is missing, or failed (its last lines of error output quoted).
    """
    program = _program(tool)
    completed = subprocess.run(  # noqa: S603 (the program is PostgreSQL's own, found on PATH)
        [program, *arguments],
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=database.environment(),
        timeout=_TOOL_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        errors = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        raise BackupError(
            f"{tool} misslyckades (slutstatus {completed.returncode}): "
            + " / ".join(errors[-3:] or ["inget felmeddelande"])
        )
    return "" if stdout is not None else completed.stdout.decode("utf-8", "replace")


def _program(tool: str) -> str:
    """Where a PostgreSQL client tool is.

    Raises:
        BackupError: it is not installed.
    """
    program = shutil.which(tool)
    if program is None:
        raise BackupError(
            f"{tool} finns inte; installera PostgreSQL:s klientprogram (Debian: apt-get "
            "install postgresql-client) i samma huvudversion som servern eller nyare"
        )
    return program
