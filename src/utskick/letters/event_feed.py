"""The event feed's query: a sending system's events in the order they were written.

For systems that poll instead of taking webhooks (`GET /api/v1/events`). The cursor is the
event row's id, which grows with every event written; a poller asks for the events after the
last id it has seen.

Ids are handed out when a row is inserted, but a row becomes visible when its transaction
commits, and transactions do not commit in the order they inserted. A poller that read event
101 while the transaction holding event 100 was still open would move its cursor past 100 and
never see it. So only events at least the settle time old (`settled_by`) are listed: by then
every transaction that wrote an earlier event has committed. That holds as long as no
transaction commits later than the settle time after the time it gives its events, and the
machines' clocks agree to well within it. Utskick's transactions are short (no remote call is
made inside one; a set of work is written with a few statements), so a few seconds suffice.

An event's time is taken when its unit of work begins, so ids and times need not agree: an
event may be visible and still too young while a later id is already old enough. A page
therefore ends before the system's first event after the cursor that has not settled, rather
than skipping over it, so that the cursor never passes an event not yet listed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from utskick.letters.models import Letter, LetterEvent


@dataclass(frozen=True)
class FeedEntry:
    """One event with the letter's fields its document shows."""

    event: LetterEvent
    idempotency_key: str
    channel: str | None


@dataclass(frozen=True)
class FeedPage:
    """Events after a cursor, oldest first, and whether more were there than the page holds."""

    entries: list[FeedEntry]
    more: bool


def events_after(
    session: Session, system_id: str, *, after: int, limit: int, settled_by: dt.datetime
) -> FeedPage:
    """The system's events after `after` up to its first one later than `settled_by`.

    Args:
        session: a session (only read).
        system_id: the sending system; other systems' events are never listed.
        after: the last event id the caller has seen (0: from the beginning).
        limit: the most events returned.
        settled_by: the newest event time listed (now minus the settle time).
    """
    own_after = (Letter.sending_system_id == system_id, LetterEvent.id > after)
    first_unsettled = (
        select(func.min(LetterEvent.id))
        .join(Letter, Letter.id == LetterEvent.letter_id)
        .where(*own_after, LetterEvent.at > settled_by)
        .scalar_subquery()
    )
    rows = session.execute(
        select(LetterEvent, Letter.idempotency_key, Letter.channel)
        .join(Letter, Letter.id == LetterEvent.letter_id)
        .where(
            *own_after,
            LetterEvent.at <= settled_by,
            or_(first_unsettled.is_(None), LetterEvent.id < first_unsettled),
        )
        .order_by(LetterEvent.id)
        .limit(limit + 1)  # one more, to know whether another page waits
    ).all()
    entries = [FeedEntry(row[0], row[1], row[2]) for row in rows[:limit]]
    return FeedPage(entries, more=len(rows) > limit)
