"""A letter's life as events: append one, and the letter's current state follows.

Every transition goes through `record`, in the caller's transaction: the event row is
appended (never changed afterwards), the letter's copies of state, channel and reason are
updated from it, and a webhook job is queued for the sending system if it has a webhook.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping

from sqlalchemy.orm import Session

from utskick.jobs.models import Job
from utskick.letters.models import Letter, LetterEvent
from utskick.senders.models import SendingSystem

# The states a letter passes through. Terminal ones end the letter's life on its channel.
RECEIVED = "received"
CLASSIFIED = "classified"  # channel chosen: digital, paper or none, with a reason
RETRYING = "retrying"  # a delivery attempt failed for a reason that may pass
DELIVERED = "delivered"  # the operator answered Delivered=true (terminal)
PAPER = "paper"  # goes on paper: the print service looks up its address next
BATCHED = "batched"  # addressed, in a print batch (a vendor's, or a local exception list)
HANDED_TO_PRINT = "handed_to_print"  # its batch is in the print vendor's drop (terminal)
PRINTED = "printed"  # printed locally from an exception list (terminal)
IMPOSSIBLE = "impossible"  # cannot go on paper: deceased, emigrated, no address (terminal)
NOT_REACHABLE = "not_reachable"  # digital-only and not reachable: nothing sent (terminal)
FAILED = "failed"  # refused for good and no paper by policy (terminal)
CANCELLED = "cancelled"  # cancelled by the sender before anything went out (terminal)

TERMINAL_STATES = frozenset(
    {DELIVERED, HANDED_TO_PRINT, PRINTED, IMPOSSIBLE, NOT_REACHABLE, FAILED, CANCELLED}
)
# On the way to print: the channel is decided, no digital attempt follows.
PRINT_STATES = frozenset({PAPER, BATCHED})
# Everything past the channel decision: the relay leaves such a letter alone.
SETTLED_STATES = TERMINAL_STATES | PRINT_STATES
# Where a caller waiting for a letter's outcome stops: final, or addressed and in a print batch
# (which is handed over on the print route's schedule, perhaps hours later).
OUTCOME_KNOWN_STATES = TERMINAL_STATES | {BATCHED}

WEBHOOK_JOB = "webhook"
PRINT_JOB = "print"  # find the paper letter's address and put it in a print batch


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
        state: one of the states above.
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
        session.add(
            Job(kind=PRINT_JOB, letter_id=letter.id, run_at=now, attempts=0, created_at=now)
        )
    system = session.get(SendingSystem, letter.sending_system_id)
    if system is not None and system.webhook_url:
        session.add(
            Job(
                kind=WEBHOOK_JOB,
                letter_id=letter.id,
                payload={"event_id": event.event_id},
                run_at=now,
                attempts=0,
                created_at=now,
            )
        )
    return event
