"""One poll of a source at a time, across threads, processes and machines.

On PostgreSQL a session-level advisory lock named by the source is held on a connection of
its own while the poll runs (released when the poll ends, or when the process dies and its
connection closes). On SQLite, whose processes share one machine, an exclusive `flock` on
`<home>/pickup/<source>.lock` does the same. A poll that finds the lock taken does nothing:
another poll of the source is running.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, func, select

from utskick.mm.private_files import create_private_file, private_folder

# The first of the two 32-bit keys of every pickup lock ("pick" in ASCII); the second is a
# hash of the schema and the source's name. Two-key locks never meet one-key locks.
PICKUP_LOCK_CLASS = 0x7069636B


def work_folder(home: Path) -> Path:
    """`<home>/pickup`: the locks and the polls' local copies; only Utskick's user reads it."""
    return private_folder(home / "pickup")


@contextlib.contextmanager
def source_lock(engine: Engine, home: Path, source: str) -> Iterator[bool]:
    """Hold the source's poll lock while the context lasts; yields whether it was got."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, source) as held:
            yield held
        return
    with _file_lock(work_folder(home) / f"{source}.lock") as held:
        yield held


@contextlib.contextmanager
def _advisory_lock(engine: Engine, source: str) -> Iterator[bool]:
    # The schema is part of the key: installations (and tests) sharing one database in
    # schemas of their own do not wait for each other.
    key = func.hashtext(func.concat(func.current_schema(), ":", source))
    with engine.connect() as connection:
        held = bool(connection.scalar(select(func.pg_try_advisory_lock(PICKUP_LOCK_CLASS, key))))
        connection.commit()  # the lock is the session's: it outlives the transaction
        try:
            yield held
        finally:
            if held:
                connection.execute(select(func.pg_advisory_unlock(PICKUP_LOCK_CLASS, key)))
                connection.commit()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    create_private_file(path)  # 0600 whatever the umask; an existing one is kept
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
