"""All queries on letters, their events, batches and message types. The caller commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import Session

from utskick.jobs.models import Job
from utskick.jobs.queue import CLASSIFY, DELIVER, FALLBACK
from utskick.letters.models import Batch, Letter, LetterEvent, MessageType

# Jobs that belong to a letter's way out; webhook jobs report what happened and stay.
_LETTER_WORK_JOBS = (CLASSIFY, DELIVER, FALLBACK)


@dataclass(frozen=True)
class LetterSearch:
    """What to look for; every criterion given must match (None: any)."""

    recipient_id: str | None = None
    reference: str | None = None
    case_number: str | None = None
    department: str | None = None
    state: str | None = None
    batch_id: str | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None


@dataclass(frozen=True)
class LetterPage:
    """One page of a search, newest first, with the number of all matches."""

    letters: list[Letter]
    total: int


@dataclass(frozen=True)
class BatchProgress:
    """How far a batch's letters have come: counts by state and by reason."""

    by_state: dict[str, int] = field(default_factory=dict)
    by_reason: dict[str, int] = field(default_factory=dict)


class LetterRepository:
    """Letters and what hangs on them, always seen from one sending system."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, letter: Letter) -> None:
        """Add a new letter (with its attachments) to the unit of work."""
        self.session.add(letter)

    def get_for_system(
        self, system_id: str, letter_id: str, *, for_update: bool = False
    ) -> Letter | None:
        """The letter if it exists and belongs to this sending system, else None.

        Args:
            system_id: the sending system asking.
            letter_id: the letter's id.
            for_update: lock the row until the transaction ends (PostgreSQL; SQLite
                serialises writers anyway), so that a worker cannot move it meanwhile.
        """
        query = select(Letter).where(Letter.id == letter_id, Letter.sending_system_id == system_id)
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def find_by_idempotency_key(self, system_id: str, key: str) -> Letter | None:
        """The letter this sending system already handed over with this key, if any."""
        return self.session.scalar(
            select(Letter).where(
                Letter.sending_system_id == system_id, Letter.idempotency_key == key
            )
        )

    def search(
        self, system_id: str, criteria: LetterSearch, *, limit: int, offset: int
    ) -> LetterPage:
        """The sending system's letters matching the criteria, newest first, one page."""
        conditions = self._conditions(system_id, criteria)
        total = self.session.scalar(select(func.count(Letter.id)).where(*conditions))
        letters = self.session.scalars(
            select(Letter)
            .where(*conditions)
            .order_by(Letter.created_at.desc(), Letter.id)
            .limit(limit)
            .offset(offset)
        )
        return LetterPage(letters=list(letters), total=total or 0)

    @staticmethod
    def _conditions(system_id: str, criteria: LetterSearch) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [Letter.sending_system_id == system_id]
        exact = (
            (Letter.recipient_id, criteria.recipient_id),
            (Letter.reference, criteria.reference),
            (Letter.case_number, criteria.case_number),
            (Letter.department, criteria.department),
            (Letter.state, criteria.state),
            (Letter.batch_id, criteria.batch_id),
        )
        conditions.extend(column == value for column, value in exact if value is not None)
        if criteria.created_from is not None:
            conditions.append(Letter.created_at >= criteria.created_from)
        if criteria.created_to is not None:
            conditions.append(Letter.created_at < criteria.created_to)
        return conditions

    def events(self, letter_id: str) -> list[LetterEvent]:
        """A letter's events in the order they happened."""
        return list(
            self.session.scalars(
                select(LetterEvent)
                .where(LetterEvent.letter_id == letter_id)
                .order_by(LetterEvent.id)
            )
        )

    def message_type(self, code: str) -> MessageType | None:
        """The message type with this code, if configured."""
        return self.session.get(MessageType, code)

    def add_batch(self, batch: Batch) -> None:
        """Add a new batch to the unit of work."""
        self.session.add(batch)

    def batch_for_system(self, system_id: str, batch_id: str) -> Batch | None:
        """The batch if it exists and belongs to this sending system, else None."""
        return self.session.scalar(
            select(Batch).where(Batch.id == batch_id, Batch.sending_system_id == system_id)
        )

    def batch_progress(self, batch_id: str) -> BatchProgress:
        """Counts of a batch's letters by state and by reason (letters without one left out)."""
        by_state = self.session.execute(
            select(Letter.state, func.count(Letter.id))
            .where(Letter.batch_id == batch_id)
            .group_by(Letter.state)
        )
        by_reason = self.session.execute(
            select(Letter.reason, func.count(Letter.id))
            .where(Letter.batch_id == batch_id, Letter.reason.is_not(None))
            .group_by(Letter.reason)
        )
        return BatchProgress(
            by_state={str(state): int(count) for state, count in by_state},
            by_reason={str(reason): int(count) for reason, count in by_reason},
        )

    def delivery_started(self, letter_id: str, now: dt.datetime) -> bool:
        """Whether a delivery of the letter is under way or may already have reached an operator.

        True when a deliver job is claimed by a worker (its lease has not run out) or has been
        attempted before: such a request may have arrived even if its answer never did.
        """
        started = self.session.scalar(
            select(func.count(Job.id)).where(
                Job.letter_id == letter_id,
                Job.kind == DELIVER,
                (Job.attempts > 0) | (Job.lease_expires > now),
            )
        )
        return bool(started)

    def work_in_flight(self, letter_id: str, now: dt.datetime) -> bool:
        """Whether a worker holds a lease on any of the letter's classify/deliver/fallback jobs."""
        leased = self.session.scalar(
            select(func.count(Job.id)).where(
                Job.letter_id == letter_id,
                Job.kind.in_(_LETTER_WORK_JOBS),
                Job.lease_expires > now,
            )
        )
        return bool(leased)

    def delete_pending_work(self, letter_id: str) -> None:
        """Drop the letter's classify, deliver and fallback jobs (webhook jobs stay)."""
        self.session.execute(
            delete(Job).where(Job.letter_id == letter_id, Job.kind.in_(_LETTER_WORK_JOBS))
        )


def lock_letters(session: Session, letter_ids: Sequence[str]) -> None:
    """Take the write lock on letters before reading them in this transaction.

    A no-op update: on PostgreSQL it locks the rows until commit; on SQLite, as the
    transaction's first statement, it takes the database's write lock before anything is
    read. Either way two workers deciding about the same letter take turns, and the second
    sees what the first committed.
    """
    if not letter_ids:
        return
    session.execute(
        update(Letter)
        .where(Letter.id.in_(list(letter_ids)))
        .values(updated_at=Letter.updated_at)
        .execution_options(synchronize_session=False)
    )
