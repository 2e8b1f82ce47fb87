"""The queries of picking up: the files taken (`intake_file`) and their letters.

Functions take the caller's session and never commit: the poll decides the transactions.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from utskick.intake.models import IntakeFile
from utskick.letters.models import Letter
from utskick.letters.vocabulary import OUTCOME_KNOWN_STATES

TAKING = "taking"
DONE = "done"
REFUSED = "refused"
# The key in a done file's receipt summary that says its outcome file was written, and when.
OUTCOME_WRITTEN = "outcome_written_at"
# The key naming the file in behandlade/ (it may differ from the name it came in with).
DONE_NAME = "done_name"


@dataclass(frozen=True)
class Content:
    """A file's content as found in the inbox: name, kind, SHA-256 and size."""

    name: str
    kind: str
    sha256: str
    size: int


def begin_taking(
    session: Session,
    source: str,
    content: Content,
    now: dt.datetime,
    *,
    retake_refused: bool,
) -> IntakeFile:
    """The row for this content from this source, as this taking finds it.

    A new content gets a new row in the state `taking`; a content refused before is taken
    again when `retake_refused` (its row goes back to `taking` under the new name); any other
    row is returned as it is, for the caller to resume, finish or call a duplicate. Flushes,
    so that a second process taking the same content meets the unique constraint here.
    """
    row = find(session, source, content.sha256)
    if row is None:
        row = IntakeFile(
            id=str(uuid.uuid4()),
            source=source,
            name=content.name,
            sha256=content.sha256,
            size=content.size,
            kind=content.kind,
            state=TAKING,
            received_at=now,
            accepted=0,
            rejected=0,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            found = find(session, source, content.sha256)
            assert found is not None
            return found
        return row
    if row.state == REFUSED and retake_refused:
        row.state = TAKING
        row.name = content.name[:255]
        row.size = content.size
        row.kind = content.kind
        row.received_at = now
        row.finished_at = None
        row.reason = None
        row.receipt = None
        session.flush()
    return row


def find(session: Session, source: str, sha256: str) -> IntakeFile | None:
    """The row of this content from this source, if it was ever taken."""
    return session.scalar(
        select(IntakeFile).where(IntakeFile.source == source, IntakeFile.sha256 == sha256)
    )


def mark_done(
    session: Session,
    row_id: str,
    *,
    batch_id: str | None,
    accepted: int,
    rejected: int,
    receipt: dict[str, object],
    now: dt.datetime,
) -> None:
    """The file's letters are stored: the row is done, with its counts and receipt summary."""
    row = session.get(IntakeFile, row_id)
    assert row is not None
    row.state = DONE
    row.batch_id = batch_id
    row.accepted = accepted
    row.rejected = rejected
    row.receipt = receipt
    row.reason = None
    row.finished_at = now


def mark_refused(session: Session, row_id: str, reason: str, now: dt.datetime) -> None:
    """The file is refused as a whole; `reason` is the Swedish text of its reason file."""
    row = session.get(IntakeFile, row_id)
    assert row is not None
    row.state = REFUSED
    row.reason = reason
    row.finished_at = now
    row.batch_id = None
    row.accepted = row.rejected = 0


def set_batch(session: Session, row_id: str, batch_id: str) -> None:
    """Remember the batch a file's letters go into, so that a resumed taking continues it."""
    row = session.get(IntakeFile, row_id)
    assert row is not None
    row.batch_id = batch_id


def awaiting_outcome(session: Session, source: str) -> list[IntakeFile]:
    """The source's done files with letters whose outcome file is not written yet."""
    rows = session.scalars(
        select(IntakeFile)
        .where(
            IntakeFile.source == source,
            IntakeFile.state == DONE,
            IntakeFile.batch_id.is_not(None),
            IntakeFile.accepted > 0,
            IntakeFile.receipt[OUTCOME_WRITTEN].as_string().is_(None),
        )
        .order_by(IntakeFile.finished_at)
    )
    return list(rows)


def open_letters(session: Session, batch_id: str) -> int:
    """How many of a batch's letters have no known outcome yet."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Letter)
            .where(Letter.batch_id == batch_id, Letter.state.not_in(sorted(OUTCOME_KNOWN_STATES)))
        )
        or 0
    )


@dataclass(frozen=True)
class LetterOutcome:
    """What became of one letter, for the outcome file."""

    letter_id: str
    recipient_id: str
    state: str
    channel: str | None
    reason: str | None


def batch_outcomes(session: Session, batch_id: str) -> Iterator[LetterOutcome]:
    """A batch's letters with their states, read a few hundred at a time."""
    rows = session.execute(
        select(Letter.id, Letter.recipient_id, Letter.state, Letter.channel, Letter.reason)
        .where(Letter.batch_id == batch_id)
        .order_by(Letter.created_at, Letter.id)
        .execution_options(yield_per=500)
    )
    for letter_id, recipient_id, state, channel, reason in rows:
        yield LetterOutcome(letter_id, recipient_id, state, channel, reason)


def note_outcome_written(session: Session, row_id: str, at: dt.datetime) -> None:
    """Record in the row's receipt that its outcome file is written (it is written once)."""
    row = session.get(IntakeFile, row_id)
    assert row is not None
    # A new dict, so that the JSON column sees the change.
    row.receipt = {**(row.receipt or {}), OUTCOME_WRITTEN: at.isoformat()}


def counts_by_source(session: Session) -> dict[str, dict[str, int]]:
    """Per source, how many files are in each state."""
    counts: dict[str, dict[str, int]] = {}
    rows = session.execute(
        select(IntakeFile.source, IntakeFile.state, func.count()).group_by(
            IntakeFile.source, IntakeFile.state
        )
    )
    for source, state, count in rows:
        counts.setdefault(source, {})[state] = count
    return counts
