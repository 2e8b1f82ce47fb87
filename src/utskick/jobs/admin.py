"""What an operator does with jobs (`utskick jobs`): list them, run a failed one again, remove one.

Functions take the caller's session and never commit: the command is the unit of work. A
refusal raises `JobAdminError` with a Swedish message that says what to do, before anything
is changed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.orm import Session

from utskick.jobs.models import Job
from utskick.jobs.queue import utc

# A job's state as the commands show it (derived, not stored).
WAITING = "waiting"  # due now or later; no worker has it
RUNNING = "running"  # a worker holds its lease
FAILED = "failed"  # out of attempts: runs again only after `utskick jobs retry`
STATE_TEXTS = {WAITING: "väntar", RUNNING: "körs", FAILED: "misslyckat"}
# The ids a job can have: the column is a signed 64-bit integer counting from 1.
FIRST_JOB_ID = 1
LAST_JOB_ID = 2**63 - 1


class JobAdminError(ValueError):
    """A job that cannot be found, run again or cancelled; the message is Swedish."""


@dataclass(frozen=True)
class JobView:
    """A job as the commands list it (a plain copy, usable after the session closes)."""

    id: int
    kind: str
    letter_id: str | None
    payload: dict[str, object] | None
    state: str
    run_at: dt.datetime
    attempts: int
    last_error: str | None
    failed_at: dt.datetime | None
    lease_owner: str | None
    lease_expires: dt.datetime | None
    created_at: dt.datetime


def _view(job: Job, now: dt.datetime | None) -> JobView:
    lease = utc(job.lease_expires) if job.lease_expires is not None else None
    if job.failed_at is not None:
        state = FAILED
    elif lease is not None and (now is None or lease >= now):
        state = RUNNING
    else:
        state = WAITING
    return JobView(
        id=job.id,
        kind=job.kind,
        letter_id=job.letter_id,
        payload=job.payload,
        state=state,
        run_at=utc(job.run_at),
        attempts=job.attempts,
        last_error=job.last_error,
        failed_at=utc(job.failed_at) if job.failed_at is not None else None,
        lease_owner=job.lease_owner,
        lease_expires=lease,
        created_at=utc(job.created_at),
    )


def _filtered(*, failed_only: bool, kind: str | None) -> Select[Job]:
    query = select(Job)
    if failed_only:
        query = query.where(Job.failed_at.is_not(None))
    if kind is not None:
        query = query.where(Job.kind == kind)
    return query


def list_jobs(
    session: Session,
    *,
    now: dt.datetime,
    failed_only: bool = False,
    kind: str | None = None,
    limit: int | None = None,
) -> list[JobView]:
    """Jobs, failed ones first (latest failure first), then by when they are due."""
    query = _filtered(failed_only=failed_only, kind=kind).order_by(
        Job.failed_at.is_(None), Job.failed_at.desc(), Job.run_at, Job.id
    )
    if limit is not None:
        query = query.limit(limit)
    return [_view(job, now) for job in session.scalars(query)]


def count_jobs(session: Session, *, failed_only: bool = False, kind: str | None = None) -> int:
    """How many jobs `list_jobs` would list without a limit."""
    counted = _filtered(failed_only=failed_only, kind=kind).with_only_columns(func.count(Job.id))
    return int(session.scalar(counted) or 0)


def failed_jobs(session: Session, kind: str | None = None) -> list[JobView]:
    """The jobs that ran out of attempts, latest failure first (of one kind, if given)."""
    query = _filtered(failed_only=True, kind=kind).order_by(Job.failed_at.desc(), Job.id)
    return [_view(job, None) for job in session.scalars(query)]


def _job_or_refuse(session: Session, job_id: int) -> Job:
    # An id outside what the column holds is no job's, and the database would not answer
    # but raise (SQLite: OverflowError past 2^63; PostgreSQL: an out-of-range error).
    job = (
        session.get(Job, job_id, populate_existing=True)
        if FIRST_JOB_ID <= job_id <= LAST_JOB_ID
        else None
    )
    if job is None:
        message = f"det finns inget jobb {job_id}; se utskick jobs list"
        raise JobAdminError(message)
    return job


def retry_job(session: Session, job_id: int, now: dt.datetime) -> JobView:
    """Run a failed job again now, with all its attempts (the caller commits).

    Raises:
        JobAdminError: no such job, or it has not failed (it runs again by itself).
    """
    job = _job_or_refuse(session, job_id)
    if job.failed_at is None:
        message = (
            f"jobb {job_id} ({job.kind}) har inte misslyckats och körs av sig självt; bara "
            "misslyckade jobb körs om (se utskick jobs list --failed)"
        )
        raise JobAdminError(message)
    # Conditional, so that two operators retrying at once do not both count.
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.failed_at.is_not(None))
        .values(failed_at=None, attempts=0, run_at=now, lease_owner=None, lease_expires=None)
        .execution_options(synchronize_session=False)
    )
    session.refresh(job)
    return _view(job, now)


def cancel_job(session: Session, job_id: int, now: dt.datetime) -> JobView:
    """Remove a job that no worker is running (the caller commits); the job as it was.

    Raises:
        JobAdminError: no such job, or a worker holds its lease right now.
    """
    job = _job_or_refuse(session, job_id)
    removed = _view(job, now)
    # One statement checks the lease and deletes: a worker that claims the job meanwhile
    # keeps it, and the command is refused.
    result = session.execute(
        delete(Job)
        .where(
            Job.id == job_id,
            or_(Job.lease_expires.is_(None), Job.lease_expires < now),
        )
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        message = (
            f"jobb {job_id} ({job.kind}) körs just nu av {job.lease_owner or 'en arbetare'}; "
            "vänta tills det är klart och försök igen"
        )
        raise JobAdminError(message)
    session.expunge(job)
    return removed
