"""Engines and sessions for SQLite (the embedded default) and PostgreSQL (production).

A SQLite database file is created with mode 0600 before SQLite opens it, so that it and its
`-wal` and `-shm` files (which SQLite creates with the database file's permissions) are
readable by their owner only, whatever the umask.

Statement counting, for benchmarks: when the environment variable `UTSKICK_STATEMENT_LOG`
names a file, every engine this process creates counts its calls to the database driver, and
the process writes its count to `<file>.<pid>` (`StatementLog`). Unset, nothing is attached
and nothing is written: the check is one look-up per engine created.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from utskick.mm.private_files import prepare_sqlite_file


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain `postgresql://` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


STATEMENT_LOG_VARIABLE = "UTSKICK_STATEMENT_LOG"
# How often the count is written while the process runs: a benchmark reads the first snapshot
# taken after its last letter got an outcome, so at most this much idle polling is in it.
STATEMENT_SNAPSHOT_SECONDS = 0.2


def create_database_engine(url: str, **options: Any) -> Engine:
    """An engine for the URL; SQLite gets WAL, foreign keys and a busy timeout per connection."""
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        database = sqlite_file(url)
        if database is not None:
            prepare_sqlite_file(database)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **options)
        event.listen(engine, "connect", _configure_sqlite)
    else:
        engine = create_engine(url, pool_pre_ping=True, **options)
    log_file = os.environ.get(STATEMENT_LOG_VARIABLE)
    if log_file:
        StatementLog.of_process(Path(log_file)).attach(engine)
    return engine


class StatementLog:
    """This process's calls to the database driver, counted and written to `<file>.<pid>`.

    Counted: every `execute` or `executemany` SQLAlchemy makes on a driver cursor (its
    `before_cursor_execute` event fires once per call, and once per batch when it splits an
    insert of many rows), and the pool's pre-ping on PostgreSQL (one `execute` each time a
    pooled connection is taken again; a new one is not pinged). Not counted: what runs once
    per new connection (SQLite's PRAGMAs, the dialect's first look at the server),
    `commit`/`rollback`, which are no statements, and a driver cursor used directly, past
    SQLAlchemy (the connector uses none).

    The file holds one JSON object: `statements`, `cpu_seconds` (`time.process_time()`, every
    thread of the process), `monotonic` (`time.monotonic()`, comparable between processes on
    one machine) and `final` (written at exit). A daemon thread rewrites it every
    `STATEMENT_SNAPSHOT_SECONDS` and `atexit` once more, each time whole (written aside, then
    renamed), so a reader never sees half a file.
    """

    _process_log: StatementLog | None = None
    _process_lock = threading.Lock()

    def __init__(self, base: Path) -> None:
        self.path = base.with_name(f"{base.name}.{os.getpid()}")
        self._count = 0
        self._shapes: dict[str, int] = {}
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._ended = False

    @classmethod
    def of_process(cls, base: Path) -> StatementLog:
        """The process's one log (created, written periodically and at exit, on first use)."""
        with cls._process_lock:
            if cls._process_log is None:
                log = cls(base)
                atexit.register(log.write, final=True)
                threading.Thread(target=log._write_periodically, daemon=True).start()
                cls._process_log = log
            return cls._process_log

    @property
    def statements(self) -> int:
        """The calls counted so far."""
        return self._count

    def attach(self, engine: Engine) -> None:
        """Count the engine's driver calls (cursor executes and pre-pings)."""
        event.listen(engine, "before_cursor_execute", self._count_statement)
        dialect = engine.dialect
        ping = dialect.do_ping

        def counted_ping(dbapi_connection: Any) -> bool:
            self._add()
            return ping(dbapi_connection)

        setattr(dialect, "do_ping", counted_ping)  # noqa: B010 (mypy refuses assigning a method)

    def write(self, *, final: bool = False) -> bool:
        """Write the count now; False once the final count is written or the file cannot be.

        Whole: aside first, then renamed over the file. Once the final count (at exit) is
        written, no later snapshot replaces it.
        """
        with self._writing:
            if self._ended:
                return False
            self._ended = final
            snapshot = {
                "pid": os.getpid(),
                "statements": self._count,
                "by_shape": dict(self._shapes),
                "cpu_seconds": time.process_time(),
                "monotonic": time.monotonic(),
                "final": final,
            }
            aside = self.path.with_name(f"{self.path.name}.tmp")
            try:
                aside.write_text(json.dumps(snapshot), encoding="utf-8")
                aside.replace(self.path)
            except OSError:
                self._ended = True  # the folder is gone: the run that reads it has ended
                return False
            return not final

    def _count_statement(
        self,
        _connection: object,
        _cursor: object,
        statement: str,
        *_rest: object,
    ) -> None:
        self._add(statement_shape(statement))

    def _add(self, shape: str = "ping") -> None:
        # `+=` is no single step: threads counting at once would lose calls without the lock.
        with self._lock:
            self._count += 1
            self._shapes[shape] = self._shapes.get(shape, 0) + 1

    def _write_periodically(self) -> None:
        while True:
            time.sleep(STATEMENT_SNAPSHOT_SECONDS)
            if not self.write():
                return


_SHAPE = re.compile(
    r"^\s*(?:(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)|(SELECT)\b.*?\bFROM\s+\"?(\w+))",
    re.IGNORECASE | re.DOTALL,
)


def statement_shape(statement: str) -> str:
    """What a statement does to which table (`INSERT letter_event`, `SELECT job`), to tally."""
    match = _SHAPE.match(statement)
    if match is None:
        return statement.split(None, 1)[0].upper() if statement.strip() else "?"
    verb, table = (match[1], match[2]) if match[1] else (match[3], match[4])
    return f"{verb.split()[0].upper()} {table}"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for an in-memory database or a `file:` URI."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _configure_sqlite(connection: sqlite3.Connection, _record: object) -> None:
    cursor = connection.cursor()
    # WAL lets readers (the UI, search) work while a worker writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that do not expire objects on commit (the unit of work commits, then reads)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
