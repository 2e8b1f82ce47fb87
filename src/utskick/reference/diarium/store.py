"""The diarium stand-in's register: a small SQLite file in the folder it is given.

Each registered letter gets the next number of its series in the year of registration
(`KS 2026/1`, `KS 2026/2`, …), counted per organisation, as a municipality's diarium counts.
A letter already registered keeps its number: asking again answers the same number.
The ids of signed calls are kept for as long as their timestamps are accepted, so that a
call cannot be replayed. The file survives a restart, and so do the numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from utskick.mm.private_files import create_private_folders, prepare_sqlite_file

DATABASE_FILE = "diarium.db"
BUSY_TIMEOUT_SECONDS = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS registration (
    letter_id TEXT PRIMARY KEY,
    organisation_number TEXT NOT NULL,
    series TEXT NOT NULL,
    year INTEGER NOT NULL,
    sequence INTEGER NOT NULL,
    number TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    letter TEXT NOT NULL,
    UNIQUE (organisation_number, series, year, sequence)
);
CREATE TABLE IF NOT EXISTS seen_call (
    call_id TEXT PRIMARY KEY,
    seen_at INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Registered:
    """A letter as the diarium registered it."""

    letter_id: str
    organisation_number: str
    number: str
    registered_at: dt.datetime
    letter: dict[str, object]  # the facts the connector sent, as it sent them


class DiariumStore:
    """The register in `<folder>/diarium.db`; safe to use from several threads."""

    def __init__(self, folder: Path) -> None:
        create_private_folders(folder)
        self.path = folder / DATABASE_FILE
        prepare_sqlite_file(self.path)
        # One writer at a time in this process; SQLite's own lock covers other processes.
        self._lock = threading.Lock()
        with self._connection() as connection:
            connection.executescript(_SCHEMA)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with closing(
            sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        ) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            yield connection

    def register(
        self, letter: dict[str, object], *, series: str, now: dt.datetime
    ) -> tuple[Registered, bool]:
        """Register a letter under the next number of `series`, or find its earlier number.

        Returns:
            The registration and whether it was made now (False: registered before).
        """
        letter_id = str(letter["letter_id"])
        organisation = str(letter["organisation_number"])
        with self._lock, self._connection() as connection:
            # IMMEDIATE: the write lock before the read, so two registrations never take
            # the same number.
            connection.execute("BEGIN IMMEDIATE")
            try:
                earlier = self._find(connection, letter_id)
                if earlier is not None:
                    connection.execute("COMMIT")
                    return earlier, False
                sequence = (
                    1
                    + connection.execute(
                        "SELECT COALESCE(MAX(sequence), 0) FROM registration "
                        "WHERE organisation_number = ? AND series = ? AND year = ?",
                        (organisation, series, now.year),
                    ).fetchone()[0]
                )
                number = f"{series} {now.year}/{sequence}"
                connection.execute(
                    "INSERT INTO registration (letter_id, organisation_number, series, year, "
                    "sequence, number, registered_at, letter) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        letter_id,
                        organisation,
                        series,
                        now.year,
                        sequence,
                        number,
                        now.isoformat(),
                        json.dumps(letter, ensure_ascii=False),
                    ),
                )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return Registered(letter_id, organisation, number, now, letter), True

    def find(self, letter_id: str) -> Registered | None:
        """A letter's registration, if it has one."""
        with self._connection() as connection:
            return self._find(connection, letter_id)

    def newest(self, limit: int) -> list[Registered]:
        """The latest registrations, newest first."""
        with self._connection() as connection:
            rows = connection.execute(
                "SELECT letter_id, organisation_number, number, registered_at, letter "
                "FROM registration ORDER BY registered_at DESC, rowid DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [_registered(row) for row in rows]

    def first_use_of_call(self, call_id: str, *, now: int, keep_seconds: int) -> bool:
        """Remember a signed call's id; False if it was used before (a replayed call).

        Ids older than `keep_seconds` are forgotten: their calls are refused as too old.
        """
        with self._lock, self._connection() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute(
                    "DELETE FROM seen_call WHERE seen_at < ?", (now - 2 * keep_seconds,)
                )
                try:
                    connection.execute(
                        "INSERT INTO seen_call (call_id, seen_at) VALUES (?, ?)", (call_id, now)
                    )
                except sqlite3.IntegrityError:
                    connection.execute("COMMIT")
                    return False
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return True

    @staticmethod
    def _find(connection: sqlite3.Connection, letter_id: str) -> Registered | None:
        row = connection.execute(
            "SELECT letter_id, organisation_number, number, registered_at, letter "
            "FROM registration WHERE letter_id = ?",
            (letter_id,),
        ).fetchone()
        return _registered(row) if row is not None else None


def _registered(row: tuple[str, str, str, str, str]) -> Registered:
    letter_id, organisation, number, registered_at, letter = row
    return Registered(
        letter_id,
        organisation,
        number,
        dt.datetime.fromisoformat(registered_at),
        json.loads(letter),
    )
