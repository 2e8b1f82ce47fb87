"""The job queue: enqueue, claim with a lease, complete, reschedule.

A claim is one `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING …` statement. On
PostgreSQL the inner select takes `FOR UPDATE SKIP LOCKED`, so concurrent workers take
different jobs without waiting for each other. On SQLite the statement is the first of its
transaction and writes, so it takes SQLite's single write lock before it reads: claims are
serialised and two workers never take the same job. A job whose lease has run out (its
worker died or hangs) is due again; handlers are idempotent, so running it twice is safe.
A job that has used up its attempts is marked failed and never claimed again
(`jobs.limits`).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import (
    Engine,
    Integer,
    Table,
    and_,
    bindparam,
    case,
    delete,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from utskick.jobs.limits import AttemptLimit, give_up, limit_of, session_info
from utskick.jobs.models import Job
from utskick.observability.context import with_request_id

logger = logging.getLogger(__name__)

# The kinds of job, named only here (the `kind` column holds them): the areas that enqueue a
# job and the worker's registry of handlers import them. The queue itself runs any kind.
CLASSIFY = "classify"
DELIVER = "deliver"
FALLBACK = "fallback"
WEBHOOK = "webhook"
PRINT = "print"  # address a paper letter and put it in a print batch (run in bulk)
PRINT_CLOSE = "print_close"  # close a print batch at its scheduled time
PRINT_HANDOVER = "print_handover"  # write a closed batch to its vendor's drop
RECORD = "record"  # a letter has ended: keep it as a record by its rule (run in bulk)
REGISTER = "register"  # register one letter in the case or records system
RECORDS_DAILY = "records_daily"  # the daily records run: registration file, disposal
PICKUP = "pickup"  # look in one source's folder (local or SFTP) for files to take in
MAIL_REPLY = "mail_reply"  # tell an officer by e-mail what became of a letter they e-mailed
CERTIFICATE_CHECK = "certificate_check"  # the daily look at every certificate's expiry
KINDS = (
    CLASSIFY,
    DELIVER,
    FALLBACK,
    WEBHOOK,
    PRINT,
    PRINT_CLOSE,
    PRINT_HANDOVER,
    RECORD,
    REGISTER,
    RECORDS_DAILY,
    PICKUP,
    MAIL_REPLY,
    CERTIFICATE_CHECK,
)
# What a claim that finds a job's attempts used up says happened (shown to operators).
LEASE_RAN_OUT = "leasen gick ut utan att jobbet avslutades (arbetaren stannade eller hängde sig)"


@dataclass(frozen=True)
class ClaimedJob:
    """A job as claimed: a plain copy, usable after the claim's session has closed."""

    id: int
    kind: str
    letter_id: str | None
    payload: dict[str, object] | None
    attempts: int  # including this attempt
    created_at: dt.datetime


@dataclass(frozen=True)
class Retry:
    """A handler's answer: run the job again at `at`, remembering why.

    `waiting`: not a failure but a look again at something not ready yet, a wait that the
    handler bounds itself; the attempt limit does not give such a job up (`jobs.limits`).
    """

    at: dt.datetime
    error: str
    waiting: bool = False


def utc(value: dt.datetime) -> dt.datetime:
    """A datetime from the database as aware UTC (SQLite returns naive values)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def enqueue(
    session: Session,
    kind: str,
    *,
    now: dt.datetime,
    letter_id: str | None = None,
    run_at: dt.datetime | None = None,
    payload: dict[str, object] | None = None,
) -> Job:
    """Add a job in the caller's transaction (it exists once the caller commits)."""
    job = Job(
        kind=kind,
        letter_id=letter_id,
        payload=with_request_id(payload),
        run_at=run_at or now,
        attempts=0,
        created_at=now,
    )
    session.add(job)
    return job


def backoff_seconds(
    attempts: int, base: float, maximum: float, rng: random.Random | None = None
) -> float:
    """Exponential backoff with full jitter: a random delay in [base, min(max, base·2ⁿ⁻¹)].

    The jitter spreads the retries of many letters that failed together (an operator down
    for a minute) so that they do not all come back in the same second.
    """
    ceiling = min(maximum, base * 2 ** max(0, min(attempts - 1, 60)))
    return (rng or random).uniform(base, max(base, ceiling))


def complete_in(session: Session, owner: str, job_ids: Sequence[int]) -> None:
    """Remove finished jobs that are still this owner's, in the caller's transaction.

    Work that records its outcome in the same transaction completes its jobs there, so that
    an outcome and its job's end are one: a crash leaves either both or neither.
    """
    if job_ids:
        session.execute(delete(Job).where(Job.id.in_(list(job_ids)), Job.lease_owner == owner))


def reschedule_in(session: Session, owner: str, retries: Mapping[int, Retry]) -> None:
    """Release the leases of these jobs and run each again at its `Retry.at` (one executemany).

    With an attempt limit on the session (`jobs.limits`), a job whose last attempt this was
    is marked failed instead, and a waiting job's attempts are held below the limit.
    """
    if not retries:
        return
    limit = limit_of(session)
    hold: int | None = None
    if limit is not None:
        failing = {job_id: r.error for job_id, r in retries.items() if not r.waiting}
        failed = give_up(
            session, owner, failing, limit, at_least=limit.max_attempts, now=limit.clock()
        )
        given_up = {job.id for job in failed}
        retries = {job_id: r for job_id, r in retries.items() if job_id not in given_up}
        hold = limit.hold_waiting_at
    if not retries:
        return
    # Core on the table: an executemany with its own WHERE (the ORM's bulk form keys by id).
    table = cast("Table", Job.__table__)
    held = bindparam("hold", type_=Integer)
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("job_id"), table.c.lease_owner == owner)
        .values(
            run_at=bindparam("retry_at"),
            lease_owner=None,
            lease_expires=None,
            last_error=bindparam("error"),
            # NULL for a job that is not waiting: `attempts > NULL` is never true.
            attempts=case((table.c.attempts > held, held), else_=table.c.attempts),
        ),
        [
            {
                "job_id": job_id,
                "retry_at": retry.at,
                "error": retry.error[:4000],
                "hold": hold if retry.waiting else None,
            }
            for job_id, retry in retries.items()
        ],
    )


class JobQueue:
    """Claims and settles jobs; every method is its own short transaction."""

    def __init__(
        self, engine: Engine, lease_seconds: float, limit: AttemptLimit | None = None
    ) -> None:
        self.engine = engine
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.limit = limit
        self._postgres = engine.dialect.name == "postgresql"

    def claim(
        self,
        owner: str,
        *,
        now: dt.datetime,
        limit: int = 1,
        kinds: Sequence[str] | None = None,
        exclude_kinds: Sequence[str] | None = None,
    ) -> list[ClaimedJob]:
        """Take up to `limit` due jobs (oldest first) for `owner` until now + lease.

        Failed jobs are never taken. With an attempt limit, a job whose worker died on its
        last allowed attempt (its lease ran out) is marked failed instead of returned.
        """
        due = select(Job.id).where(
            Job.run_at <= now,
            or_(Job.lease_expires.is_(None), Job.lease_expires < now),
            Job.failed_at.is_(None),
        )
        if kinds:
            due = due.where(Job.kind.in_(list(kinds)))
        if exclude_kinds:
            due = due.where(Job.kind.not_in(list(exclude_kinds)))
        due = due.order_by(Job.run_at, Job.id).limit(limit)
        if self._postgres:
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(Job)
            .where(Job.id.in_(due.scalar_subquery()))
            .values(self._claimed_values(owner, now))
            .returning(
                Job.id,
                Job.kind,
                Job.letter_id,
                Job.payload,
                Job.attempts,
                Job.created_at,
                Job.last_error,
                Job.failed_at,
            )
            .execution_options(synchronize_session=False)
        )
        with Session(self.engine) as session, session.begin():
            rows = session.execute(statement).all()
            # Marked failed by the claim itself: never returned, whatever `_fail_spent` finds.
            spent = {row.id: row.last_error for row in rows if row.failed_at is not None}
            self._fail_spent(session, owner, spent, now)
        jobs = [
            ClaimedJob(
                row.id, row.kind, row.letter_id, row.payload, row.attempts, utc(row.created_at)
            )
            for row in rows
            if row.id not in spent
        ]
        return sorted(jobs, key=lambda job: job.id)

    def _claimed_values(self, owner: str, now: dt.datetime) -> dict[str, object]:
        """What a claim sets: the lease and one attempt more (and `failed_at`, at the limit)."""
        values: dict[str, object] = {
            "lease_owner": owner,
            "lease_expires": now + self.lease,
            "attempts": Job.attempts + 1,
        }
        if self.limit is not None:
            # SET sees the row as it was: a lease still on it means the last attempt was never
            # settled (its worker died or hung); with the attempts used up, this claim is one
            # too many. A job that was settled (rescheduled: no lease) is judged by its handler.
            values["failed_at"] = case(
                (
                    and_(
                        Job.lease_expires.is_not(None),
                        Job.attempts >= self.limit.max_attempts,
                    ),
                    now,
                ),
                else_=None,
            )
        return values

    def _fail_spent(
        self, session: Session, owner: str, spent: Mapping[int, str | None], now: dt.datetime
    ) -> None:
        """Give up the claimed jobs whose worker died on their last attempt (id → last error).

        The claim has set their `failed_at`; this releases them, keeps why and tells
        `on_failed`, in the claim's transaction.
        """
        if self.limit is None or not spent:
            return
        errors = {
            job_id: LEASE_RAN_OUT + (f"; senaste fel: {error}" if error else "")
            for job_id, error in spent.items()
        }
        give_up(session, owner, errors, self.limit, at_least=self.limit.max_attempts + 1, now=now)

    def complete(self, owner: str, job_ids: Sequence[int]) -> None:
        """Remove finished jobs that are still this owner's."""
        if not job_ids:
            return
        with Session(self.engine) as session, session.begin():
            complete_in(session, owner, job_ids)

    def extend(self, owner: str, job_ids: int | Sequence[int], *, now: dt.datetime) -> bool:
        """Renew long jobs' leases to now + lease; False when none is this owner's any more."""
        ids = [job_ids] if isinstance(job_ids, int) else list(job_ids)
        with Session(self.engine) as session, session.begin():
            result = session.execute(
                update(Job)
                .where(Job.id.in_(ids), Job.lease_owner == owner)
                .values(lease_expires=now + self.lease)
                .execution_options(synchronize_session=False)
            )
        return bool(getattr(result, "rowcount", 0))

    def reschedule(self, owner: str, job_id: int, retry: Retry) -> None:
        """Release the lease and run the job again at `retry.at` (failed at the limit)."""
        self.reschedule_all(owner, {job_id: retry})

    def reschedule_all(self, owner: str, retries: Mapping[int, Retry]) -> None:
        """Release the leases and run the jobs again, in one transaction (failed at the limit)."""
        if not retries:
            return
        with Session(self.engine, info=session_info(self.limit)) as session, session.begin():
            reschedule_in(session, owner, retries)

    def next_due(self, *, now: dt.datetime) -> dt.datetime | None:
        """When the next job falls due (None: no jobs at all)."""
        with Session(self.engine) as session:
            value = session.scalar(
                select(Job.run_at)
                .where(
                    or_(Job.lease_expires.is_(None), Job.lease_expires < now),
                    Job.failed_at.is_(None),
                )
                .order_by(Job.run_at)
                .limit(1)
            )
        return utc(value) if value is not None else None

    def has_active_lease(
        self, session: Session, letter_id: str, kind: str, *, now: dt.datetime
    ) -> bool:
        """Whether a job of this kind for this letter is being run by some worker right now."""
        return (
            session.scalar(
                select(Job.id)
                .where(
                    and_(
                        Job.letter_id == letter_id,
                        Job.kind == kind,
                        Job.lease_expires.is_not(None),
                        Job.lease_expires >= now,
                    )
                )
                .limit(1)
            )
            is not None
        )


def take_turns(session: Session, lock_key: int) -> None:
    """Make transactions that call this with the same key take turns until each ends.

    For a check-then-add (one waiting job of a kind, say) that two processes may run at once.
    PostgreSQL: a transaction-level advisory lock on `lock_key`. SQLite: a no-op write, which
    takes the database's single write lock before anything is read (every key is one lock).
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(lock_key)))
    elif dialect == "sqlite":
        session.execute(
            update(Job)
            .where(false())
            .values(kind=Job.kind)
            .execution_options(synchronize_session=False)
        )


def ensure_one_waiting(
    session: Session,
    kind: str,
    *,
    lock_key: int,
    now: dt.datetime,
    run_at: dt.datetime,
    running_job_id: int | None = None,
) -> Job | None:
    """Queue a job of a kind that comes back by itself, unless one is already waiting.

    For the daily runs (the records' run, the certificate check): call it first in its
    transaction, since it takes the kind's lock (`take_turns`) before it reads; the caller
    commits. A job being run right now (leased, or `running_job_id`, the caller's own) does
    not count as waiting. Waiting duplicates beyond the first are removed.

    Returns:
        The job queued, or None when one was already waiting.
    """
    take_turns(session, lock_key)
    waiting = select(Job).where(
        Job.kind == kind,
        or_(Job.lease_expires.is_(None), Job.lease_expires < now),
    )
    if running_job_id is not None:
        waiting = waiting.where(Job.id != running_job_id)
    queued = list(session.scalars(waiting.order_by(Job.run_at, Job.id)))
    for duplicate in queued[1:]:
        logger.warning("a second waiting %s job (%s) was removed", kind, duplicate.id)
        session.delete(duplicate)
    if queued:
        return None
    job = enqueue(session, kind, now=now, run_at=run_at)
    session.flush()
    return job
