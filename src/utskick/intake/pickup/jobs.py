"""The `pickup` job: one poll of one source, which queues the source's next poll.

Each picking-up source has one waiting `pickup` job (payload `{"source": name}`). When it
runs it polls the source and, before it ends, queues the next poll `poll_seconds` later
unless one is waiting already. A poll that fails (the server does not answer, the sources
file cannot be read) is the same job run again later, so there is still one.

Never two: `ensure_pickup_jobs` (at worker start) and the job's own check look for waiting
polls inside a transaction that first takes a lock (PostgreSQL: an advisory lock; SQLite:
the database's write lock), so processes starting together take turns; duplicates that got
in all the same are removed. Two polls of one source running at once are harmless anyway:
the second finds the source's lock taken and does nothing (`pickup.locks`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from utskick.intake.pickup.folders import PickupFolderError, PickupUnavailableError
from utskick.intake.pickup.poll import poll_source
from utskick.intake.sources import Source, SourcesError, load_sources, source_named
from utskick.jobs.models import Job
from utskick.jobs.queue import PICKUP, ClaimedJob, Retry, backoff_seconds, enqueue, take_turns
from utskick.letters.address_screen import ProtectedIdentityLookup
from utskick.settings import Settings

logger = logging.getLogger(__name__)

# The PostgreSQL advisory lock that serialises the checks for waiting polls ("pickup").
PICKUP_JOBS_LOCK_KEY = 0x7069636B7570
# A poll that failed is tried again after its backoff, but never later than this.
MAX_RETRY_SECONDS = 300.0


def _no_register() -> ProtectedIdentityLookup | None:
    return None


def pickup_job(
    job: ClaimedJob,
    *,
    sessions: Callable[[], Session],
    settings: Settings,
    clock: Callable[[], dt.datetime],
    protection: Callable[[], ProtectedIdentityLookup | None] = _no_register,
) -> Retry | None:
    """Poll the job's source once, then queue its next poll (see the module text).

    Returns:
        None when the poll ran (or its source no longer picks up: no next poll); a `Retry`
        when it could not, to run this job again.
    """
    name = str((job.payload or {}).get("source", ""))
    try:
        source = source_named(load_sources(settings), name)
    except SourcesError as error:
        logger.error("pickup %s: the sources file cannot be used: %s", name, error.message)  # noqa: TRY400 (the message says it all)
        return _retry(job, settings, clock, None, error.message)
    if source is None or not source.picks_up:
        logger.warning("pickup: source %r is no longer configured to pick up; polls stop", name)
        return None
    try:
        poll_source(
            source, sessions=sessions, settings=settings, clock=clock, protection=protection
        )
    except PickupUnavailableError as error:
        logger.warning("pickup %s: %s", name, error.message)
        return _retry(job, settings, clock, source, error.message)
    except PickupFolderError as error:
        logger.error("pickup %s: %s", name, error.message)  # noqa: TRY400 (the message says it all)
        return _retry(job, settings, clock, source, error.message)
    with sessions() as session, session.begin():
        ensure_pickup_job(session, source, clock(), running_job_id=job.id)
    return None


def _retry(
    job: ClaimedJob,
    settings: Settings,
    clock: Callable[[], dt.datetime],
    source: Source | None,
    message: str,
) -> Retry:
    delay = backoff_seconds(job.attempts, settings.retry_base_seconds, MAX_RETRY_SECONDS)
    if source is not None:
        delay = max(delay, source.poll_seconds)
    return Retry(clock() + dt.timedelta(seconds=delay), message)


def ensure_pickup_jobs(session: Session, sources: Sequence[Source], now: dt.datetime) -> int:
    """Make sure each picking-up source has exactly one waiting poll, due now if it is new.

    Waiting polls of sources that no longer pick up are removed. Call it first in its
    transaction (it takes the lock before it reads); the caller commits.

    Returns:
        How many polls were queued.
    """
    take_turns(session, PICKUP_JOBS_LOCK_KEY)
    waiting = _waiting_by_source(session, now, running_job_id=None)
    picking = {source.name: source for source in sources if source.picks_up}
    queued = 0
    for name, jobs in waiting.items():
        if name not in picking:
            for job in jobs:
                session.delete(job)
    for name in picking:
        if _keep_one(session, waiting.get(name, [])):
            continue
        enqueue(session, PICKUP, now=now, payload={"source": name})
        queued += 1
    session.flush()
    return queued


def ensure_pickup_job(
    session: Session, source: Source, now: dt.datetime, *, running_job_id: int | None = None
) -> Job | None:
    """Queue the source's next poll `poll_seconds` from now, unless one is waiting.

    A poll being run (leased, or `running_job_id`, the caller's own) does not count as
    waiting. Call it first in its transaction; the caller commits.

    Returns:
        The job queued, or None when a poll was already waiting.
    """
    take_turns(session, PICKUP_JOBS_LOCK_KEY)
    waiting = _waiting_by_source(session, now, running_job_id=running_job_id)
    if _keep_one(session, waiting.get(source.name, [])):
        return None
    job = enqueue(
        session,
        PICKUP,
        now=now,
        run_at=now + dt.timedelta(seconds=source.poll_seconds),
        payload={"source": source.name},
    )
    session.flush()
    return job


def _waiting_by_source(
    session: Session, now: dt.datetime, *, running_job_id: int | None
) -> dict[str, list[Job]]:
    """The polls not being run, by source, oldest due first."""
    query = select(Job).where(
        Job.kind == PICKUP, or_(Job.lease_expires.is_(None), Job.lease_expires < now)
    )
    if running_job_id is not None:
        query = query.where(Job.id != running_job_id)
    waiting: dict[str, list[Job]] = {}
    for job in session.scalars(query.order_by(Job.run_at, Job.id)):
        waiting.setdefault(str((job.payload or {}).get("source", "")), []).append(job)
    return waiting


def _keep_one(session: Session, jobs: list[Job]) -> bool:
    """Keep the first waiting poll and remove the rest; whether there was one."""
    for duplicate in jobs[1:]:
        logger.warning("a second waiting pickup job (%s) was removed", duplicate.id)
        session.delete(duplicate)
    return bool(jobs)
