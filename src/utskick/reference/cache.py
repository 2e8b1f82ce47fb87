"""Short-lived caches of what the reference reads per request, and how changes reach them.

A mailbox operator looks up the same things for every delivery (who the caller is, the
sender's and sealer's FaR entries and certificates, the recipient's account). `TtlCache`
keeps such answers for a few seconds (`UTSKICK_REFERENCE_LOOKUP_CACHE_SECONDS`), on the
monotonic clock, safe to share between threads.

Changes must still be seen at once: `watch_changes` marks every commit that wrote one of the
cached tables through the reference's sessions (FaR's service, the citizen mailbox, the
registry, a test's own session) on a `ChangeStamp`, and a cache drops everything as soon as
the stamp moves. The stamp is a small file in the run's home besides a counter in the process,
so an operator running in another process sees the change at its next look-up too (one
`stat` per look-up). Only a change written around the reference's sessions (raw SQL on the
database) waits out the time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from utskick.reference.store import (
    FarAccount,
    FarCertificate,
    FarIntermediaryFor,
    FarOrganisation,
    MailboxAccount,
    MailboxCompanyAdministrator,
)

T = TypeVar("T")
logger = logging.getLogger(__name__)

# The tables whose rows the operators keep: a commit that writes any of them moves the stamp.
CACHED_TABLES = frozenset(
    model.__tablename__
    for model in (
        FarOrganisation,
        FarCertificate,
        FarIntermediaryFor,
        FarAccount,
        MailboxAccount,
        MailboxCompanyAdministrator,
    )
)
STAMP_FILE = "reference-changes"
# The stamp file grows by a byte per change; past this it starts again from nothing.
_STAMP_LIMIT_BYTES = 64 * 1024
_CHANGED = "utskick_reference_cached_tables_changed"


class ChangeStamp:
    """Moves whenever the cached tables change: a counter here, and a file other processes see.

    Args:
        path: the file shared with the other processes of the same run; None for this
            process alone.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._local = 0
        self._lock = threading.Lock()

    def version(self) -> tuple[int, int, int, int]:
        """Something that differs after every `bump`, in this process or another."""
        if self.path is None:
            return (self._local, 0, 0, 0)
        try:
            found = self.path.stat()
        except FileNotFoundError:
            return (self._local, 0, 0, 0)
        # Size too: a coarse file system may give two quick changes the same time.
        return (self._local, found.st_mtime_ns, found.st_size, found.st_ino)

    def bump(self) -> None:
        """Say that the cached tables changed (after the change is committed).

        Never raises: the change is committed already. If the file cannot be written, the
        other processes see the change when their answers expire (logged).
        """
        with self._lock:
            self._local += 1
            if self.path is None:
                return
            try:
                _append_a_byte(self.path)
            except OSError as error:
                logger.warning(
                    "the reference's change stamp %s was not moved: %s", self.path, error
                )


class TtlCache:
    """Answers kept for `seconds` (monotonic), all dropped when the change stamp moves.

    Args:
        seconds: how long an answer is kept; 0 or less keeps nothing.
        changes: the stamp that tells of changes to what is kept.
        clock: the monotonic clock (a test may move it).
        max_entries: past this many answers, the expired ones go, or all if none has.
    """

    def __init__(
        self,
        seconds: float,
        changes: ChangeStamp,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 100_000,
    ) -> None:
        self.seconds = seconds
        self.changes = changes
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, object]] = {}
        self._version = changes.version()
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The kept answer for `key`, or `load()`'s, kept unless a change came meanwhile."""
        if self.seconds <= 0:
            return load()
        # Read before loading: a change committed during the load then moves the stamp
        # past this version and the answer is dropped at the next look-up.
        version = self.changes.version()
        now = self.clock()
        with self._lock:
            if version != self._version:
                self._entries.clear()
                self._version = version
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                return cast("T", entry[1])
        value = load()
        with self._lock:
            if version == self._version:
                if len(self._entries) >= self.max_entries:
                    self._prune(now)
                self._entries[key] = (now + self.seconds, value)
        return value

    def clear(self) -> None:
        """Forget every kept answer."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _prune(self, now: float) -> None:
        expired = [key for key, (until, _) in self._entries.items() if until <= now]
        for key in expired:
            del self._entries[key]
        if len(self._entries) >= self.max_entries:
            self._entries.clear()


def _append_a_byte(path: Path) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size >= _STAMP_LIMIT_BYTES:
            flags |= os.O_TRUNC
    descriptor = os.open(path, flags, 0o600)
    try:
        os.write(descriptor, b".")
    finally:
        os.close(descriptor)


def watch_changes(
    session_maker: sessionmaker[Session],
    changes: ChangeStamp,
    tables: Iterable[str] = CACHED_TABLES,
) -> None:
    """Bump `changes` after each commit of these sessions that wrote one of `tables`."""
    watched = frozenset(tables)

    def after_flush(session: Session, _context: Any) -> None:
        written = (*session.new, *session.dirty, *session.deleted)
        if any(_table_name(type(row)) in watched for row in written):
            session.info[_CHANGED] = True

    def on_execute(state: ORMExecuteState) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            table = getattr(state.statement, "table", None)
            if getattr(table, "name", None) in watched:
                state.session.info[_CHANGED] = True

    def after_commit(session: Session) -> None:
        if session.info.pop(_CHANGED, False):
            changes.bump()

    event.listen(session_maker, "after_flush", after_flush)
    event.listen(session_maker, "do_orm_execute", on_execute)
    event.listen(session_maker, "after_commit", after_commit)


def _table_name(model: type) -> str | None:
    table = getattr(model, "__table__", None)
    return getattr(table, "name", None)
