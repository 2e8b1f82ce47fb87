"""Batch classification: the `classify` jobs of many letters, one FaR call per sender.

The letters are read, FaR is asked outside any transaction, and then each letter still
waiting gets its CLASSIFIED event (channel, reason, operator) and its next step in one
transaction: a `deliver` job (digital), PAPER (paper) or NOT_REACHABLE (a notification that
cannot go digitally). If FaR cannot be asked, the jobs come back later and the letters wait;
each letter is told why ("väntar på FaR: anslutningen nekades") once per outage.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from utskick.jobs.queue import (
    DELIVER,
    FALLBACK,
    ClaimedJob,
    Retry,
    backoff_seconds,
    complete_in,
    utc,
)
from utskick.letters import events, vocabulary
from utskick.letters.events import EventBatch, systems_with_webhooks
from utskick.letters.models import Letter, LetterEvent
from utskick.letters.repository import lock_letters
from utskick.settings import Settings
from utskick.switch.far import AddressRegister, FarUnavailableError, Reachability
from utskick.switch.rule import (
    DIGITAL,
    IMPOSSIBLE,
    Decision,
    RulePolicy,
    decide,
)

MAX_BATCH = 1000
RECORD_CHUNK = 100


@dataclass(frozen=True)
class _Waiting:
    letter_id: str
    sender_number: str
    recipient_id: str
    policy: str
    deliver_by: dt.datetime | None


def classify_jobs(
    jobs: Sequence[ClaimedJob],
    *,
    sessions: sessionmaker[Session],
    register: AddressRegister,
    settings: Settings,
    clock: Callable[[], dt.datetime],
    actor: str,
    owner: str | None = None,
) -> dict[int, Retry | None]:
    """Classify the letters of these jobs; returns each job's outcome (None: done).

    When the claiming worker names itself (`owner`), the jobs of the letters classified
    are completed in the transaction that records them, and left out of the result.
    """
    outcomes: dict[int, Retry | None] = {job.id: None for job in jobs}
    job_of_letter = {job.letter_id: job for job in jobs if job.letter_id}
    waiting = _waiting_letters(sessions, list(job_of_letter))
    by_sender: dict[str, list[_Waiting]] = defaultdict(list)
    for letter in waiting:
        by_sender[letter.sender_number].append(letter)
    answers: dict[str, Reachability] = {}
    classifiable: list[_Waiting] = []
    for sender, letters in by_sender.items():
        asking = [
            letter.recipient_id for letter in letters if letter.policy != vocabulary.PAPER_ONLY
        ]
        try:
            found = register.is_reachable(sender, asking) if asking else {}
        except FarUnavailableError as error:
            now = clock()
            # The deadline holds even when FaR stays down: past it, the letter goes on paper
            # instead of waiting for ever.
            overdue = [
                letter
                for letter in letters
                if letter.deliver_by is not None and utc(letter.deliver_by) <= now
            ]
            _record_overdue(overdue, str(error), sessions=sessions, now=now, actor=actor)
            still_waiting = [letter for letter in letters if letter not in overdue]
            record_waiting(
                [letter.letter_id for letter in still_waiting],
                error.reason,
                str(error),
                sessions=sessions,
                now=now,
                actor=actor,
            )
            for letter in still_waiting:
                job = job_of_letter[letter.letter_id]
                delay = backoff_seconds(
                    job.attempts, settings.retry_base_seconds, settings.retry_max_seconds
                )
                outcomes[job.id] = Retry(now + dt.timedelta(seconds=delay), str(error))
            continue
        answers.update({f"{sender}:{key}": value for key, value in found.items()})
        classifiable.extend(letters)
    if classifiable:
        settle = None
        if owner is not None:

            def settle(session: Session, letter_ids: list[str]) -> None:
                done = [job_of_letter[letter_id].id for letter_id in letter_ids]
                complete_in(session, owner, done)
                for job_id in done:
                    outcomes.pop(job_id, None)

        _record(
            classifiable,
            answers,
            sessions=sessions,
            settings=settings,
            clock=clock,
            actor=actor,
            settle=settle,
        )
    return outcomes


def _waiting_letters(sessions: sessionmaker[Session], letter_ids: list[str]) -> list[_Waiting]:
    with sessions() as session:
        rows = session.execute(
            select(
                Letter.id,
                Letter.sender_number,
                Letter.recipient_id,
                Letter.policy,
                Letter.deliver_by,
            ).where(Letter.id.in_(letter_ids), Letter.state == vocabulary.RECEIVED)
        ).all()
    return [
        _Waiting(row.id, row.sender_number, row.recipient_id, row.policy, row.deliver_by)
        for row in rows
    ]


def record_waiting(
    letter_ids: list[str],
    reason: str,
    error: str,
    *,
    sessions: sessionmaker[Session],
    now: dt.datetime,
    actor: str,
) -> None:
    """Tell each letter that it waits for FaR, and why: once per outage, not once per retry.

    A letter already told the same reason (its last waiting event says so) is not told
    again; a new reason (the connection refused, then a timeout) is a new event. The event
    keeps the letter received: its channel is still to be chosen.
    """
    if not letter_ids:
        return
    with sessions() as session:
        # Read first, without a lock: during an outage most retries have nothing to add.
        fresh = [i for i in letter_ids if i not in _told(session, letter_ids, reason)]
    detail = f"väntar på FaR: {reason}"
    for first in range(0, len(fresh), RECORD_CHUNK):
        chunk = fresh[first : first + RECORD_CHUNK]
        with sessions() as session, session.begin():
            lock_letters(session, chunk)
            told = _told(session, chunk, reason)  # again: another worker may have told it
            for letter in session.scalars(select(Letter).where(Letter.id.in_(chunk))):
                if letter.state != vocabulary.RECEIVED or letter.id in told:
                    continue
                events.record(
                    session,
                    letter,
                    vocabulary.RECEIVED,
                    actor=actor,
                    now=now,
                    reason=vocabulary.FAR_UNAVAILABLE,
                    detail=detail,
                    data={"far_reason": reason, "error": error},
                )


def _told(session: Session, letter_ids: list[str], reason: str) -> set[str]:
    """The letters whose last waiting event gives this reason."""
    last: dict[str, object] = {}
    rows = session.execute(
        select(LetterEvent.letter_id, LetterEvent.data)
        .where(
            LetterEvent.letter_id.in_(letter_ids),
            LetterEvent.reason == vocabulary.FAR_UNAVAILABLE,
        )
        .order_by(LetterEvent.id)
    )
    for letter_id, data in rows:
        last[letter_id] = (data or {}).get("far_reason")
    return {letter_id for letter_id, told in last.items() if told == reason}


def _record_overdue(
    letters: list[_Waiting],
    far_error: str,
    *,
    sessions: sessionmaker[Session],
    now: dt.datetime,
    actor: str,
) -> None:
    """Letters whose deadline passed while FaR could not be asked go on paper.

    Only letters that may go on paper have a deadline (`deliver_by`), so this is PAPER.
    """
    if not letters:
        return
    detail = (
        f"{vocabulary.text_for(vocabulary.DEADLINE_PASSED)} FaR gick inte att fråga: {far_error}"
    )
    with sessions() as session, session.begin():
        ids = [letter.letter_id for letter in letters]
        lock_letters(session, ids)
        for letter in session.scalars(select(Letter).where(Letter.id.in_(ids))):
            if letter.state != vocabulary.RECEIVED:
                continue  # a cancel came first
            events.record(
                session,
                letter,
                vocabulary.PAPER,
                actor=actor,
                now=now,
                reason=vocabulary.DEADLINE_PASSED,
                detail=detail,
                channel="paper",
            )


def _record(
    letters: list[_Waiting],
    answers: dict[str, Reachability],
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Callable[[], dt.datetime],
    actor: str,
    settle: Callable[[Session, list[str]], None] | None = None,
) -> None:
    """Record each letter's decision, a chunk per transaction with a few statements each.

    `settle`, when given, ends the chunk's jobs in the same transaction (by letter id).
    """
    rule = RulePolicy(settings.minimum_age, tuple(settings.operator_allow_list))
    # Short transactions: on SQLite a transaction holds the only write lock, and other
    # workers (deliveries) should not wait for a thousand letters to be recorded.
    for first in range(0, len(letters), RECORD_CHUNK):
        chunk = [letter.letter_id for letter in letters[first : first + RECORD_CHUNK]]
        now = clock()
        with sessions() as session, session.begin():
            lock_letters(session, chunk)
            rows = session.execute(
                select(
                    Letter.id,
                    Letter.state,
                    Letter.sending_system_id,
                    Letter.sender_number,
                    Letter.recipient_id,
                    Letter.policy,
                    Letter.deliver_by,
                ).where(Letter.id.in_(chunk))
            ).all()
            batch = EventBatch(actor=actor, now=now, webhook_systems=systems_with_webhooks(session))
            for row in rows:
                if row.state != vocabulary.RECEIVED:
                    continue  # another worker, or a cancel, came first
                answer = answers.get(f"{row.sender_number}:{row.recipient_id}")
                decision = decide(
                    row.recipient_id,
                    answer.status if answer else None,
                    policy=row.policy,
                    rule=rule,
                    today=now.date(),
                    failure_reason=answer.failure_reason if answer else None,
                )
                detail = answer.failure_detail if answer and answer.failure_detail else None
                _add_decision(
                    batch,
                    _Decided(row.id, row.sending_system_id, row.deliver_by, decision),
                    settings=settings,
                    detail=detail,
                )
            batch.write(session)
            if settle is not None:
                settle(session, chunk)


@dataclass(frozen=True)
class _Decided:
    letter_id: str
    sending_system_id: str
    deliver_by: dt.datetime | None
    decision: Decision


def _add_decision(
    batch: EventBatch, decided: _Decided, *, settings: Settings, detail: str | None
) -> None:
    """The decision's events and next step for one letter, added to the batch."""
    decision, letter_id, system = decided.decision, decided.letter_id, decided.sending_system_id
    batch.change(
        letter_id,
        operator_number=decision.operator_number,
        service_address=decision.service_address,
    )
    data: dict[str, object] = {"channel": decision.channel}
    if decision.operator_number:
        data["operator"] = decision.operator_number
    if decision.operator_name:
        data["operator_name"] = decision.operator_name
    text = vocabulary.text_for(decision.reason)
    batch.add(
        letter_id,
        system,
        vocabulary.CLASSIFIED,
        reason=decision.reason,
        detail=f"{text} {detail}" if detail else text,
        data=data,
        channel=decision.channel if decision.channel != IMPOSSIBLE else "none",
    )
    if decision.channel == DIGITAL:
        batch.enqueue(DELIVER, letter_id=letter_id)
        deadline = (
            utc(decided.deliver_by)
            if decided.deliver_by is not None
            else batch.now + dt.timedelta(seconds=settings.fallback_after_seconds)
        )
        batch.enqueue(FALLBACK, letter_id=letter_id, run_at=deadline)
    elif decision.channel == IMPOSSIBLE:
        batch.add(letter_id, system, vocabulary.NOT_REACHABLE, reason=decision.reason, detail=text)
    else:
        batch.add(
            letter_id,
            system,
            vocabulary.PAPER,
            reason=decision.reason,
            detail=text,
            channel="paper",
        )


__all__ = ["MAX_BATCH", "classify_jobs", "record_waiting"]
