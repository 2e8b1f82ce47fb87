"""A letter's life as events: append one, and the letter's current state follows.

Every transition goes through `record` (one letter, the ORM's unit of work) or an
`EventBatch` (many letters, a few statements), in the caller's transaction: the event row is
appended (never changed afterwards), the letter's copies of state, channel and reason are
updated from it, and a webhook job is queued for the sending system if it has a webhook.
When the letter reaches its end (a terminal state), a `record` job is queued: the records
work reads the letter from there and keeps it by its message type's rule. Both ways follow
the same rules (`_follow_up_kinds`), so a letter's life reads the same whichever wrote it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from utskick.jobs.models import Job
from utskick.jobs.queue import PRINT, RECORD, WEBHOOK
from utskick.letters.models import Letter, LetterEvent
from utskick.letters.vocabulary import PAPER, TERMINAL_STATES
from utskick.observability.context import with_request_id
from utskick.senders.models import SendingSystem


def _follow_up_kinds(state: str, *, current: bool) -> list[str]:
    """The jobs an event queues for its letter, besides a webhook."""
    kinds = []
    if state == PAPER:
        # Every way onto paper ends here, so no paper letter can miss the print service.
        kinds.append(PRINT)
    if current and state in TERMINAL_STATES:
        kinds.append(RECORD)
    return kinds


def record(
    session: Session,
    letter: Letter,
    state: str,
    *,
    actor: str,
    now: dt.datetime,
    reason: str | None = None,
    detail: str | None = None,
    data: Mapping[str, object] | None = None,
    channel: str | None = None,
    current: bool = True,
) -> LetterEvent:
    """Append an event and bring the letter's current state up to date (caller commits).

    Args:
        session: the unit of work the change belongs to.
        letter: the letter the event is about.
        state: one of the states in `utskick.letters.vocabulary`.
        actor: who caused it (`api:<system>`, `worker:<id>`, `cli`, …).
        now: the time of the event.
        reason: a reason code (`not_registered`, `sender_not_accepted`, …) where one applies.
        detail: a Swedish sentence for the user.
        data: extra facts (TransId, operator, next attempt …), stored as JSON.
        channel: the channel chosen, where this event chooses one.
        current: whether the event becomes the letter's current state; False for what
            happens to the paper part of a letter already delivered digitally.
    """
    event = LetterEvent(
        event_id=str(uuid.uuid4()),
        letter_id=letter.id,
        at=now,
        actor=actor,
        state=state,
        reason=reason,
        detail=detail,
        data=dict(data) if data else None,
    )
    session.add(event)
    letter.updated_at = now
    if current:
        letter.state = state
        if reason is not None:
            letter.reason = reason
        if channel is not None:
            letter.channel = channel
    for kind in _follow_up_kinds(state, current=current):
        session.add(
            Job(
                kind=kind,
                letter_id=letter.id,
                payload=with_request_id(None),
                run_at=now,
                attempts=0,
                created_at=now,
            )
        )
    system = session.get(SendingSystem, letter.sending_system_id)
    if system is not None and system.webhook_url:
        session.add(
            Job(
                kind=WEBHOOK,
                letter_id=letter.id,
                payload=with_request_id({"event_id": event.event_id}),
                run_at=now,
                attempts=0,
                created_at=now,
            )
        )
    return event


def systems_with_webhooks(session: Session) -> frozenset[str]:
    """The ids of the sending systems that have a webhook (one statement, for a whole batch)."""
    return frozenset(
        session.scalars(select(SendingSystem.id).where(SendingSystem.webhook_url.is_not(None)))
    )


class EventBatch:
    """Events, jobs and letter changes of many letters, written in a few statements.

    The bulk form of `record` for work done on hundreds of letters at once (a batch handed
    over, a chunk classified or delivered): the caller decides per letter as `record` would
    and calls `add`; `write` then inserts every event and job with one executemany each and
    updates the letters with one executemany per set of changed columns. The caller holds
    the letters' locks and has checked their states in the same transaction.
    """

    def __init__(self, *, actor: str, now: dt.datetime, webhook_systems: Collection[str]) -> None:
        self.actor = actor
        self.now = now
        self._webhook_systems = frozenset(webhook_systems)
        self._events: list[dict[str, object]] = []
        self._jobs: list[dict[str, object]] = []
        self._letters: dict[str, dict[str, object]] = {}

    def __len__(self) -> int:
        return len(self._events)

    def add(
        self,
        letter_id: str,
        sending_system_id: str,
        state: str,
        *,
        reason: str | None = None,
        detail: str | None = None,
        data: Mapping[str, object] | None = None,
        channel: str | None = None,
        current: bool = True,
        update_letter: bool = True,
    ) -> str:
        """Add one letter's event (as `record` does) and return its event id.

        `update_letter` False leaves the letter's row alone: for a letter inserted in this
        transaction already in the event's state (a received letter), where the update would
        only rewrite what was just written.
        """
        event_id = str(uuid.uuid4())
        self._events.append(
            {
                "event_id": event_id,
                "letter_id": letter_id,
                "at": self.now,
                "actor": self.actor,
                "state": state,
                "reason": reason,
                "detail": detail,
                "data": dict(data) if data else None,
            }
        )
        if update_letter:
            changes = self._letters.setdefault(letter_id, {})
            changes["updated_at"] = self.now
            if current:
                changes["state"] = state
                if reason is not None:
                    changes["reason"] = reason
                if channel is not None:
                    changes["channel"] = channel
        for kind in _follow_up_kinds(state, current=current):
            self.enqueue(kind, letter_id=letter_id)
        if sending_system_id in self._webhook_systems:
            self.enqueue(WEBHOOK, letter_id=letter_id, payload={"event_id": event_id})
        return event_id

    def change(self, letter_id: str, **values: object) -> None:
        """Set other columns of a letter (operator, TransId …) in the same update."""
        changes = self._letters.setdefault(letter_id, {})
        changes.update(values)
        changes.setdefault("updated_at", self.now)

    def enqueue(
        self,
        kind: str,
        *,
        letter_id: str | None = None,
        run_at: dt.datetime | None = None,
        payload: dict[str, object] | None = None,
    ) -> None:
        """Queue a job with the batch (as `jobs.queue.enqueue` does for one)."""
        self._jobs.append(
            {
                "kind": kind,
                "letter_id": letter_id,
                "payload": with_request_id(payload),
                "run_at": run_at or self.now,
                "attempts": 0,
                "created_at": self.now,
            }
        )

    def write(self, session: Session) -> None:
        """Insert the events and jobs and update the letters, in the caller's transaction.

        Core statements on the tables, not the ORM's bulk forms: the same executemany for a
        fraction of the work in Python, which a night run does hundreds of times.
        """
        connection = session.connection()
        # render_nulls: rows with and without a reason (or payload) stay one statement, and
        # a job without a payload is SQL NULL, as a `Job` added one by one is.
        if self._events:
            connection.execute(
                _table(LetterEvent).insert().execution_options(render_nulls=True), self._events
            )
        if self._jobs:
            connection.execute(
                _table(Job).insert().execution_options(render_nulls=True), self._jobs
            )
        by_columns: dict[tuple[str, ...], list[dict[str, object]]] = defaultdict(list)
        for letter_id, changes in self._letters.items():
            # Parameters named apart from the columns: SQLAlchemy keeps those names for itself.
            by_columns[tuple(sorted(changes))].append(
                {"letter_id": letter_id, **{f"new_{k}": v for k, v in changes.items()}}
            )
        letters = _table(Letter)
        for columns, rows in by_columns.items():
            connection.execute(
                update(letters)
                .where(letters.c.id == bindparam("letter_id"))
                .values({column: bindparam(f"new_{column}") for column in columns}),
                rows,
            )
        self._events, self._jobs, self._letters = [], [], {}


def _table(entity: type[object]) -> Table:
    return cast("Table", entity.__table__)  # type: ignore[attr-defined]
