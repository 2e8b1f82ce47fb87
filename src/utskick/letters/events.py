"""A letter's life as events: append one, and the letter's current state follows.

Every transition goes through `record`, in the caller's transaction: the event row is
appended (never changed afterwards), the letter's copies of state, channel and reason are
updated from it, and a webhook job is queued for the sending system if it has a webhook.
When the letter reaches its end (a terminal state), a `record` job is queued: the records
work reads the letter from there and keeps it by its message type's rule.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping

from sqlalchemy.orm import Session

from utskick.jobs.models import Job
from utskick.jobs.queue import PRINT, RECORD, WEBHOOK
from utskick.letters.models import Letter, LetterEvent
from utskick.letters.vocabulary import PAPER, TERMINAL_STATES
from utskick.senders.models import SendingSystem


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
    if state == PAPER:
        # Every way onto paper ends here, so no paper letter can miss the print service.
        session.add(Job(kind=PRINT, letter_id=letter.id, run_at=now, attempts=0, created_at=now))
    if current and state in TERMINAL_STATES:
        session.add(Job(kind=RECORD, letter_id=letter.id, run_at=now, attempts=0, created_at=now))
    system = session.get(SendingSystem, letter.sending_system_id)
    if system is not None and system.webhook_url:
        session.add(
            Job(
                kind=WEBHOOK,
                letter_id=letter.id,
                payload={"event_id": event.event_id},
                run_at=now,
                attempts=0,
                created_at=now,
            )
        )
    return event
