"""A letter's job that failed, was run again or was cancelled, told in the letter's history.

When one of a letter's jobs runs out of attempts (`jobs.limits`), the letter gets an event
that says which job gave up, why, and what the operator runs to try again. It changes no
state: the letter's state machine has no step for "the machinery gave up" (FAILED means the
letter was refused for good, and is terminal: it would queue the records work and end the
letter while its paper deadline may still send it on paper). So the event carries the
letter's current state, as the records events do, and leaves the letter's row as it is;
the deadline's fallback, which is a job of its own, still runs. An operator's `utskick jobs
retry` and `utskick jobs cancel` are told the same way.

A webhook job's failure is not told to its letter: the webhook is how the sending system
hears of events, and an event about it would queue another webhook. It is logged at ERROR
(`jobs.limits`), as every failure is.

The events are written without touching the letter's row, so that a claim that gives up a
job takes no lock on its letter (a worker settling the same letter locks the letter first).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from utskick.jobs import admin
from utskick.jobs.limits import FailedJob
from utskick.jobs.queue import WEBHOOK, enqueue
from utskick.letters.events import systems_with_webhooks
from utskick.letters.models import Letter, LetterEvent
from utskick.letters.vocabulary import JOB_CANCELLED, JOB_FAILED, JOB_RETRIED

# Who writes a failure's event: Utskick itself, not a worker (any worker may give a job up).
ACTOR = "utskick"
# The events' reason codes (events that change no state, like the records work's).
_NOT_TOLD = frozenset({WEBHOOK})


@dataclass(frozen=True)
class _Told:
    letter_id: str
    reason: str
    detail: str
    data: dict[str, object]


def record_failed_jobs(session: Session, jobs: Sequence[FailedJob], now: dt.datetime) -> None:
    """Give each failed job's letter an event saying so (`jobs.limits.FailureRecorder`)."""
    _tell(
        session,
        [
            _Told(
                job.letter_id,
                JOB_FAILED,
                f"jobbet {job.kind} gav upp efter {job.attempts} försök: {job.error}; "
                f"kör utskick jobs retry {job.id}",
                {"job_id": job.id, "kind": job.kind, "attempts": job.attempts, "error": job.error},
            )
            for job in jobs
            if job.letter_id is not None and job.kind not in _NOT_TOLD
        ],
        actor=ACTOR,
        now=now,
    )


def retry_job(session: Session, job_id: int, *, now: dt.datetime, actor: str) -> admin.JobView:
    """Run a failed job again now (`jobs.admin.retry_job`), told to its letter.

    Raises:
        JobAdminError: no such job, or it has not failed.
    """
    job = admin.retry_job(session, job_id, now)
    if job.letter_id is not None and job.kind not in _NOT_TOLD:
        told = _Told(
            job.letter_id,
            JOB_RETRIED,
            f"jobbet {job.kind} körs igen på begäran av {actor}",
            {"job_id": job.id, "kind": job.kind},
        )
        _tell(session, [told], actor=actor, now=now)
    return job


def cancel_job(session: Session, job_id: int, *, now: dt.datetime, actor: str) -> admin.JobView:
    """Remove a job no worker is running (`jobs.admin.cancel_job`), told to its letter.

    Raises:
        JobAdminError: no such job, or a worker is running it.
    """
    job = admin.cancel_job(session, job_id, now)
    if job.letter_id is not None and job.kind not in _NOT_TOLD:
        told = _Told(
            job.letter_id,
            JOB_CANCELLED,
            f"jobbet {job.kind} ({job.id}) avbröts av {actor}",
            {"job_id": job.id, "kind": job.kind},
        )
        _tell(session, [told], actor=actor, now=now)
    return job


def _tell(session: Session, told: Sequence[_Told], *, actor: str, now: dt.datetime) -> None:
    """Append the events (and their webhooks) in the caller's transaction."""
    if not told:
        return
    letters = {
        row.id: row
        for row in session.execute(
            select(Letter.id, Letter.state, Letter.sending_system_id).where(
                Letter.id.in_({item.letter_id for item in told})
            )
        )
    }
    webhooks = systems_with_webhooks(session)
    for item in told:
        letter = letters.get(item.letter_id)
        if letter is None:
            continue  # disposed of meanwhile: there is no history left to add to
        event = LetterEvent(
            event_id=str(uuid.uuid4()),
            letter_id=letter.id,
            at=now,
            actor=actor,
            state=letter.state,
            reason=item.reason,
            detail=item.detail,
            data=item.data,
        )
        session.add(event)
        if letter.sending_system_id in webhooks:
            enqueue(
                session,
                WEBHOOK,
                now=now,
                letter_id=letter.id,
                payload={"event_id": event.event_id},
            )
