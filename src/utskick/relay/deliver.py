"""Deliver letters digitally: many at once, each built, signed, sealed and posted, then recorded.

A worker claims a set of `deliver` jobs and hands them to `deliver_jobs`. The work is split in
three, so that no remote call happens inside a database transaction:

1. read the letters still waiting for digital delivery, with their attachments and senders,
   in one short read (`outgoing.prepare`);
2. for each, sign as the sender, seal as the intermediary, write the request in the wire form
   set for the letter's operator, and post it to the letter's ServiceAdress: several at once
   (`send`, a pool of the worker's), since most of the time is the operator's answer;
3. in one transaction, lock the letters, look at their states again, and record every
   outcome with a few statements: DELIVERED (the records work then keeps or removes the
   content by its rule; the letter's fallback job is dropped), RETRYING (the job comes back
   later, with the same message Id) or the refusal (PAPER or FAILED by policy). When the
   worker names itself (`owner`), its jobs are completed or rescheduled in that same
   transaction: an outcome and its job's end are one, whatever crashes when.

The `fallback` job at the letter's deadline moves a letter that is still not delivered to
paper, unless a delivery attempt is running right now (then it looks again shortly).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from utskick.jobs.models import Job
from utskick.jobs.queue import (
    DELIVER,
    FALLBACK,
    PRINT,
    ClaimedJob,
    JobQueue,
    Retry,
    backoff_seconds,
    complete_in,
    reschedule_in,
)
from utskick.letters import events, vocabulary
from utskick.letters.events import EventBatch, systems_with_webhooks
from utskick.letters.models import Letter
from utskick.letters.repository import lock_letters
from utskick.relay.operator import MailboxOperatorClient
from utskick.relay.outgoing import (
    DELIVERABLE_STATES,
    PAPER_ATTACHMENT_CHANNEL,
    Attempt,
    Delivered,
    NotDeliverableError,
    NothingToDo,
    Outgoing,
    Refused,
    Transient,
    attempt,
    prepare,
    wire_form_for,
)
from utskick.settings import Settings
from utskick.switch.rule import DIGITAL

logger = logging.getLogger(__name__)

PAPER_PART = "paper_part"  # the print job's part for a digitally delivered letter's paper
# How soon a fallback looks again while a delivery attempt is running.
_FALLBACK_RECHECK_SECONDS = 5.0

T = TypeVar("T")
U = TypeVar("U")
# Runs a function over items, possibly several at once; results in the items' order.
Sender = Callable[[Callable[[T], U], Sequence[T]], list[U]]


def one_at_a_time(work: Callable[[T], U], items: Sequence[T]) -> list[U]:
    """Run `work` over the items in this thread (the default `send`)."""
    return [work(item) for item in items]


@dataclass(frozen=True)
class _Current:
    """A letter as it stands under the recording transaction's lock."""

    id: str
    state: str
    policy: str
    sending_system_id: str
    operator_number: str | None


@dataclass(frozen=True)
class RelayDependencies:
    """What the relay's handlers need besides the jobs."""

    sessions: sessionmaker[Session]
    client: MailboxOperatorClient
    settings: Settings
    clock: Callable[[], dt.datetime]
    actor: str


__all__ = [
    "PAPER_ATTACHMENT_CHANNEL",
    "PAPER_PART",
    "RelayDependencies",
    "deliver_job",
    "deliver_jobs",
    "fallback_job",
    "one_at_a_time",
    "wire_form_for",
]


def deliver_job(job: ClaimedJob, deps: RelayDependencies) -> Retry | None:
    """Run one `deliver` job; returns a Retry when the job must come back, else None."""
    return deliver_jobs([job], deps)[job.id]


def deliver_jobs(
    jobs: Sequence[ClaimedJob],
    deps: RelayDependencies,
    *,
    send: Sender[Outgoing, Attempt] = one_at_a_time,
    owner: str | None = None,
) -> dict[int, Retry | None]:
    """Deliver the letters of these jobs and record what came of each.

    Args:
        jobs: claimed `deliver` jobs.
        deps: the database, the operators' client, settings, clock and actor.
        send: how the letters' attempts are run (several at once by a worker's pool).
        owner: the claiming worker; when given, the jobs are completed or rescheduled in
            the transaction that records the outcomes, and the result is empty.

    Returns:
        Each job's outcome (a Retry, or None when it is done) not already settled.
    """
    letter_jobs = [job for job in jobs if job.letter_id is not None]
    with deps.sessions() as session:
        prepared = prepare(session, [job.letter_id or "" for job in letter_jobs])
    today = deps.clock().date()
    sendable = [o for o in prepared.values() if isinstance(o, Outgoing)]

    def run(outgoing: Outgoing) -> Attempt:
        return attempt(outgoing, client=deps.client, settings=deps.settings, today=today)

    attempts: dict[str, Attempt] = dict(
        zip((o.letter_id for o in sendable), send(run, sendable), strict=True)
    )
    for letter_id, item in prepared.items():
        if isinstance(item, NotDeliverableError):
            attempts[letter_id] = Refused(None, str(item))
    return _record(jobs, attempts, deps, owner)


def _record(
    jobs: Sequence[ClaimedJob],
    attempts: dict[str, Attempt],
    deps: RelayDependencies,
    owner: str | None,
) -> dict[int, Retry | None]:
    """Record every attempt in one transaction; each job's outcome."""
    now = deps.clock()
    outcomes: dict[int, Retry | None] = {job.id: None for job in jobs}
    with deps.sessions() as session, session.begin():
        told = [
            letter_id
            for letter_id, item in attempts.items()
            if not isinstance(item, NothingToDo) and not _silent(item)
        ]
        lock_letters(session, told)
        letters = {
            row.id: _Current(*row)
            for row in session.execute(
                select(
                    Letter.id,
                    Letter.state,
                    Letter.policy,
                    Letter.sending_system_id,
                    Letter.operator_number,
                ).where(Letter.id.in_(told))
            )
        }
        batch = EventBatch(
            actor=deps.actor,
            now=now,
            webhook_systems=systems_with_webhooks(session) if letters else (),
        )
        delivered: list[str] = []
        for job in jobs:
            item = attempts.get(job.letter_id or "")
            if item is None or isinstance(item, NothingToDo):
                continue
            row = letters.get(job.letter_id or "")
            if isinstance(item, Transient):
                outcomes[job.id] = _retry_after(job, item, row, batch, deps, now)
            elif isinstance(item, Delivered):
                if _record_delivered(job.letter_id or "", item, row, batch):
                    delivered.append(job.letter_id or "")
            elif row is not None and row.state not in vocabulary.SETTLED_STATES:
                _add_refused(row, item, batch)
        batch.write(session)
        if delivered:
            # The deadline's fallback has nothing left to do for a delivered letter.
            session.execute(delete(Job).where(Job.letter_id.in_(delivered), Job.kind == FALLBACK))
        if owner is not None:
            _settle(session, owner, outcomes)
            return {}
    return outcomes


def _silent(item: Attempt) -> bool:
    return isinstance(item, Transient) and not item.tell


def _settle(session: Session, owner: str, outcomes: dict[int, Retry | None]) -> None:
    complete_in(session, owner, [job_id for job_id, retry in outcomes.items() if retry is None])
    reschedule_in(
        session,
        owner,
        {job_id: retry for job_id, retry in outcomes.items() if retry is not None},
    )


def _retry_after(  # noqa: PLR0917 (the facts of one retry)
    job: ClaimedJob,
    item: Transient,
    row: _Current | None,
    batch: EventBatch,
    deps: RelayDependencies,
    now: dt.datetime,
) -> Retry | None:
    """The job's next attempt; the letter is told when the attempt failed on the way."""
    settings = deps.settings
    delay = backoff_seconds(job.attempts, settings.retry_base_seconds, settings.retry_max_seconds)
    at = now + dt.timedelta(seconds=delay)
    if item.tell:
        if row is None or row.state not in DELIVERABLE_STATES:
            return None  # gone out another way, or cancelled: nothing to retry
        batch.add(
            row.id,
            row.sending_system_id,
            vocabulary.RETRYING,
            detail=f"Leveransen misslyckades och görs om: {item.error}",
            data={"attempt": job.attempts, "next_attempt": at.isoformat()},
        )
    return Retry(at, item.error)


def _record_delivered(
    letter_id: str, item: Delivered, row: _Current | None, batch: EventBatch
) -> bool:
    """Add the DELIVERED event unless the letter already has its outcome; whether it was added."""
    if row is None:
        return False
    state = row.state
    if state in vocabulary.SETTLED_STATES:
        if state != vocabulary.DELIVERED:
            logger.error(
                "letter %s was delivered (TransId %s) after it became %s",
                letter_id,
                item.trans_id,
                state,
            )
        return False
    data: dict[str, object] = {
        "trans_id": item.trans_id,
        "digest": item.digest,
        "wire_form": str(item.form),
    }
    if row.operator_number:
        data["operator"] = row.operator_number
    if item.paper_only:
        # The letter asked for both channels: its paper part goes to the print service.
        data["paper_part"] = {"state": vocabulary.PAPER, "attachments": list(item.paper_only)}
    batch.change(letter_id, trans_id=item.trans_id, delivered_digest=item.digest)
    batch.add(
        letter_id,
        row.sending_system_id,
        vocabulary.DELIVERED,
        reason=vocabulary.REACHABLE,
        detail="Brevet är levererat till mottagarens digitala brevlåda.",
        data=data,
        channel=DIGITAL,
    )
    if item.paper_only:
        batch.enqueue(PRINT, letter_id=letter_id, payload={"part": PAPER_PART})
    # What happens to the content now is the records rule's business: the `record` job
    # queued by the DELIVERED event removes it when the sending system keeps the record.
    return True


def _add_refused(row: _Current, item: Refused, batch: EventBatch) -> None:
    refused = vocabulary.text_for(vocabulary.DELIVERY_REFUSED)
    detail = (
        f"{refused} Fel {item.code}: {item.description}"
        if item.code is not None
        else f"{refused} {item.description}"
    )
    digital_only = row.policy == vocabulary.DIGITAL_ONLY
    batch.add(
        row.id,
        row.sending_system_id,
        vocabulary.FAILED if digital_only else vocabulary.PAPER,
        reason=vocabulary.DELIVERY_REFUSED,
        detail=detail,
        data={"code": item.code, "description": item.description},
        channel=None if digital_only else "paper",
    )


def _record_not_delivered(
    session: Session,
    letter: Letter,
    reason: str,
    detail: str,
    *,
    actor: str,
    now: dt.datetime,
    data: dict[str, object] | None = None,
    failed_detail: str | None = None,
) -> None:
    """A letter that will not reach the mailbox: on paper, or FAILED when it is digital-only."""
    if letter.policy == vocabulary.DIGITAL_ONLY:
        events.record(
            session,
            letter,
            vocabulary.FAILED,
            actor=actor,
            now=now,
            reason=reason,
            detail=failed_detail or detail,
            data=data,
        )
        return
    events.record(
        session,
        letter,
        vocabulary.PAPER,
        actor=actor,
        now=now,
        reason=reason,
        detail=detail,
        data=data,
        channel="paper",
    )


def fallback_job(job: ClaimedJob, deps: RelayDependencies, queue: JobQueue) -> Retry | None:
    """At the deadline: a letter not yet terminal goes on paper (FAILED for digital-only)."""
    if job.letter_id is None:
        return None
    now = deps.clock()
    with deps.sessions() as session, session.begin():
        lock_letters(session, [job.letter_id])
        letter = session.get(Letter, job.letter_id)
        if letter is None or letter.state in vocabulary.SETTLED_STATES:
            return None
        if queue.has_active_lease(session, letter.id, DELIVER, now=now):
            # An attempt is on the wire: its answer decides; look again after it.
            return Retry(now + dt.timedelta(seconds=_FALLBACK_RECHECK_SECONDS), "leverans pågår")
        _record_not_delivered(
            session,
            letter,
            vocabulary.DEADLINE_PASSED,
            vocabulary.text_for(vocabulary.DEADLINE_PASSED),
            actor=deps.actor,
            now=now,
            failed_detail="Brevet kunde inte levereras digitalt i tid.",
        )
    return None
