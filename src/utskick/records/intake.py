"""A letter has ended: keep it as a record by its message type's rule (the `record` job).

The DELIVERED, HANDED_TO_PRINT, PRINTED, IMPOSSIBLE, NOT_REACHABLE, FAILED and CANCELLED
events each queue one `record` job (`letters.events`). The worker runs them in bulk: one
transaction per batch of letters, in which each letter gets its `LetterRecord` (the rule as
it stood, who keeps the record, the days its content and metadata may be disposed of), the
content of a digitally delivered letter is removed when its sending system keeps the record
(R8), and a letter whose rule registers it is marked for registration: a `register` job when
a case system's URL is set, else the next daily registration file.

Only letters that went out are registered: a letter that was impossible, not reachable,
failed or cancelled was never sent, so it is kept in order but registered nowhere. The job is
idempotent: a letter that already has its record is left as it is.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from utskick.jobs.queue import REGISTER, ClaimedJob, Retry, enqueue
from utskick.letters import vocabulary
from utskick.letters.content import remove_delivered_contents
from utskick.letters.models import Letter
from utskick.letters.repository import lock_letters
from utskick.records.models import (
    KEPT_BY_SYSTEM,
    REGISTRATION_NONE,
    REGISTRATION_PENDING,
    LetterRecord,
)
from utskick.records.rules import RuleBook
from utskick.senders.models import SendingSystem
from utskick.settings import Settings

logger = logging.getLogger(__name__)

MAX_BATCH = 500

# The states in which a letter went out to its recipient (or to the print vendor).
SENT_STATES = frozenset({vocabulary.DELIVERED, vocabulary.HANDED_TO_PRINT, vocabulary.PRINTED})


def record_jobs(
    jobs: Sequence[ClaimedJob],
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Callable[[], dt.datetime],
) -> dict[int, Retry | None]:
    """Keep the jobs' letters as records, all in one transaction; every job is then done."""
    letter_ids = sorted({job.letter_id for job in jobs if job.letter_id})
    now = clock()
    with sessions() as session, session.begin():
        if letter_ids:
            record_letters(session, letter_ids, settings=settings, now=now)
    return {job.id: None for job in jobs}


def record_letters(
    session: Session, letter_ids: Sequence[str], *, settings: Settings, now: dt.datetime
) -> list[LetterRecord]:
    """Make the records of letters that have ended and have none yet (caller commits)."""
    lock_letters(session, list(letter_ids))
    already = set(
        session.scalars(
            select(LetterRecord.letter_id).where(LetterRecord.letter_id.in_(letter_ids))
        )
    )
    rows = session.execute(
        select(
            Letter.id,
            Letter.state,
            Letter.sender_number,
            Letter.message_type,
            Letter.sending_system_id,
            Letter.updated_at,
        ).where(
            Letter.id.in_([i for i in letter_ids if i not in already]),
            Letter.state.in_(list(vocabulary.TERMINAL_STATES)),
        )
    ).all()
    if not rows:
        return []
    book = RuleBook.load(session)
    keeps_records: dict[str, bool] = {
        system_id: bool(keeps)
        for system_id, keeps in session.execute(
            select(SendingSystem.id, SendingSystem.keeps_records).where(
                SendingSystem.id.in_({row.sending_system_id for row in rows})
            )
        )
    }
    made: list[LetterRecord] = []
    emptied: list[str] = []
    registering: list[str] = []
    for row in rows:
        rule = book.rule_for(row.sender_number, row.message_type)
        keeper = rule.keeper_for(
            system_keeps_records=keeps_records.get(row.sending_system_id, True)
        )
        registers = row.state in SENT_STATES and rule.registers
        made.append(
            LetterRecord(
                letter_id=row.id,
                sender_number=row.sender_number,
                message_type=row.message_type or rule.message_type,
                rule=rule.rule,
                keeper=keeper,
                decision=rule.decision,
                sent_at=row.updated_at,
                recorded_at=now,
                registration=REGISTRATION_PENDING if registers else REGISTRATION_NONE,
                registration_attempts=0,
                content_due=rule.content_due(row.updated_at),
                metadata_due=rule.metadata_due(row.updated_at),
            )
        )
        if (
            keeper == KEPT_BY_SYSTEM
            and row.state == vocabulary.DELIVERED
            and not settings.keep_content_after_delivery
        ):
            emptied.append(row.id)
        if registers and settings.records_registration_url:
            registering.append(row.id)
    session.add_all(made)
    remove_delivered_contents(session, emptied)
    for letter_id in registering:
        enqueue(session, REGISTER, now=now, letter_id=letter_id)
    return made
