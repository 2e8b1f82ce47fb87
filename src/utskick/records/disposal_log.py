"""The disposal log (gallringslogg): what kind, how many, which period, under which decision.

The municipality must be able to show what it disposed of and on what grounds, long after
the letters themselves are gone, so the log is kept for ever and never names a letter or a
person: only the organisation, the message type, what went (content, the whole letter, the
access log), how many, the first and last sending day among them, and the decision.

`RunLog` is one disposal run's part of the log: one entry per (organisation, message type,
what, decision, detail), to which each batch adds its count and date range in the batch's own
transaction. Entry ids are remembered only once their transaction has committed, so a batch
that rolls back leaves no trace in the log, as it leaves none in the letters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from utskick.jobs.queue import utc
from utskick.records.models import DisposalLogEntry

# What went (records_disposal.what).
CONTENT = "content"  # the body and the attachments' content; the letter stays
METADATA = "metadata"  # the whole letter: its row, events, attachments, print item, record
ACCESS_LOG = "access_log"  # rows of the access log

WHAT_TEXTS = {
    CONTENT: "innehåll",
    METADATA: "hela brevet",
    ACCESS_LOG: "åtkomstlogg",
}
# The message type of the access log's entries: the log is about every type.
ACCESS_LOG_TYPE = "*"


class Disposed(NamedTuple):
    """One letter (or access log row) disposed of, as the log counts it."""

    sender_number: str | None
    message_type: str
    decision: str | None
    moment: dt.datetime  # when the letter was sent (or the access happened)


@dataclass(frozen=True)
class DisposalCount:
    """How many of one kind went (or would go) in one run."""

    sender_number: str | None
    message_type: str
    what: str
    decision: str | None
    detail: str
    count: int
    oldest: dt.datetime | None
    newest: dt.datetime | None


@dataclass(frozen=True)
class DisposalSummary:
    """A run's disposals (or a dry run's), and how many due letters a hold kept."""

    counts: tuple[DisposalCount, ...]
    held: int = 0

    @property
    def total(self) -> int:
        """Everything disposed of, all kinds together."""
        return sum(count.count for count in self.counts)

    def total_of(self, what: str) -> int:
        """How many of one kind (`CONTENT`, `METADATA`, `ACCESS_LOG`)."""
        return sum(count.count for count in self.counts if count.what == what)


_Key = tuple[str | None, str, str, str | None, str]  # organisation, type, what, decision, detail


class _Tally(NamedTuple):
    number: int
    oldest: dt.datetime
    newest: dt.datetime


def _merged(first: _Tally | None, second: _Tally) -> _Tally:
    if first is None:
        return second
    return _Tally(
        first.number + second.number,
        min(first.oldest, second.oldest),
        max(first.newest, second.newest),
    )


class RunLog:
    """One run's entries in the disposal log, added to batch by batch."""

    def __init__(self, *, actor: str) -> None:
        self.actor = actor
        self._entry_ids: dict[_Key, int] = {}
        self._totals: dict[_Key, _Tally] = {}
        self._pending: dict[_Key, tuple[int, _Tally]] = {}

    def add(
        self,
        session: Session,
        what: str,
        detail: str,
        disposed: Iterable[Disposed],
        *,
        now: dt.datetime,
    ) -> None:
        """Add a batch's disposals to the run's entries, in the batch's transaction."""
        self._pending = {}
        batch: dict[_Key, _Tally] = {}
        for item in disposed:
            key = (item.sender_number, item.message_type, what, item.decision, detail)
            batch[key] = _merged(batch.get(key), _Tally(1, item.moment, item.moment))
        for key, added in batch.items():
            entry = self._entry(session, key, now)
            stored = None
            if entry.count and entry.oldest is not None and entry.newest is not None:
                stored = _Tally(entry.count, utc(entry.oldest), utc(entry.newest))
            merged = _merged(stored, added)
            entry.count, entry.oldest, entry.newest = merged
            session.flush()
            self._pending[key] = (entry.id, merged)

    def _entry(self, session: Session, key: _Key, now: dt.datetime) -> DisposalLogEntry:
        entry_id = self._entry_ids.get(key)
        entry = session.get(DisposalLogEntry, entry_id) if entry_id is not None else None
        if entry is not None:
            return entry
        sender_number, message_type, what, decision, detail = key
        entry = DisposalLogEntry(
            at=now,
            actor=self.actor,
            sender_number=sender_number,
            message_type=message_type,
            what=what,
            count=0,
            oldest=None,
            newest=None,
            decision=decision,
            detail=detail,
        )
        session.add(entry)
        return entry

    def committed(self) -> None:
        """The batch's transaction has committed: its entries now count."""
        for key, (entry_id, total) in self._pending.items():
            self._entry_ids[key] = entry_id
            self._totals[key] = total
        self._pending = {}

    def counts(self) -> tuple[DisposalCount, ...]:
        """What the run disposed of, by organisation, message type and what."""
        return tuple(
            DisposalCount(
                sender_number=key[0],
                message_type=key[1],
                what=key[2],
                decision=key[3],
                detail=key[4],
                count=total.number,
                oldest=total.oldest,
                newest=total.newest,
            )
            for key, total in sorted(self._totals.items(), key=lambda item: _order(item[0]))
        )


def _order(key: _Key) -> tuple[str, str, str, str, str]:
    return (key[0] or "", key[1], key[2], key[3] or "", key[4])


def in_order(counts: Iterable[DisposalCount]) -> tuple[DisposalCount, ...]:
    """Counts by organisation, message type, what, decision: as a run's summary lists them."""
    return tuple(
        sorted(
            counts,
            key=lambda c: _order((c.sender_number, c.message_type, c.what, c.decision, c.detail)),
        )
    )


def tally(
    session: Session,
    query: Select[*tuple[Any, ...]],
    *,
    what: str,
    detail: str,
    message_type: str | None = None,
) -> list[DisposalCount]:
    """Count a query's rows (sender_number, sent_at and, unless given, message_type, decision).

    Grouped by organisation, message type and decision, in the database: nothing is loaded
    but the counts.
    """
    rows = query.subquery()
    keys: list[Any] = [rows.c.sender_number]
    if message_type is None:
        keys += [rows.c.message_type, rows.c.decision]
    grouped = select(
        *keys, func.count(), func.min(rows.c.sent_at), func.max(rows.c.sent_at)
    ).group_by(*keys)
    counts = []
    for row in session.execute(grouped):
        sender_number = row[0]
        kind = message_type if message_type is not None else row[1]
        decision = None if message_type is not None else row[2]
        number, oldest, newest = row[-3], row[-2], row[-1]
        counts.append(
            DisposalCount(
                sender_number=sender_number,
                message_type=kind,
                what=what,
                decision=decision,
                detail=detail,
                count=int(number),
                oldest=utc(oldest) if oldest is not None else None,
                newest=utc(newest) if newest is not None else None,
            )
        )
    return counts


def disposal_log(
    session: Session, *, sender_number: str | None = None, limit: int = 200
) -> list[DisposalLogEntry]:
    """The disposal log, newest first; `sender_number` None: every organisation's."""
    query = select(DisposalLogEntry)
    if sender_number is not None:
        query = query.where(DisposalLogEntry.sender_number == sender_number)
    return list(
        session.scalars(
            query.order_by(DisposalLogEntry.at.desc(), DisposalLogEntry.id.desc()).limit(limit)
        )
    )
