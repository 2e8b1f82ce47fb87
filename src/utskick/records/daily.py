"""The daily records run (the `records_daily` job): the registration file, then disposal.

One `records_daily` job is queued at a time, for the next `records_daily_hour` o'clock in the
installation's local time (`print_timezone`, Europe/Stockholm by default, so the run keeps
its hour across summer time). When it runs it does the day's records work and queues the
next run before it ends; `ensure_daily_job` is also called at start-up, so an installation
that has never run one gets its first.

Never two: `ensure_daily_job` looks for a waiting run and adds one only when there is none,
inside a transaction that first takes a lock (PostgreSQL: an advisory lock; SQLite: the
database's write lock), so processes starting together take turns and the second finds the
first's job. A duplicate that got in all the same (from before that lock, or added by hand)
is removed by the next run's check, and running twice at once is harmless: disposal takes
different batches in each run (`retention`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from utskick.jobs.models import Job
from utskick.jobs.queue import (
    RECORDS_DAILY,
    ClaimedJob,
    Retry,
    backoff_seconds,
    ensure_one_waiting,
)
from utskick.records.retention import dispose_due
from utskick.settings import Settings

logger = logging.getLogger(__name__)

# The PostgreSQL advisory lock that serialises the check for a waiting daily run: any fixed
# 64-bit number no other part of Utskick uses ("records" in ASCII).
DAILY_LOCK_KEY = 0x7265636F726473


def next_daily_run(now: dt.datetime, settings: Settings) -> dt.datetime:
    """The first `records_daily_hour` o'clock (local time) after `now`, in UTC.

    On the night summer time starts, an hour the clocks skip is taken as the hour after.
    """
    zone = ZoneInfo(settings.print_timezone)
    local_now = now.astimezone(zone)
    hour = dt.time(settings.records_daily_hour)
    for days in (0, 1, 2):
        candidate = dt.datetime.combine(local_now.date() + dt.timedelta(days=days), hour, zone)
        if candidate > local_now:
            return candidate.astimezone(dt.UTC)
    raise AssertionError  # pragma: no cover (tomorrow's hour is always after now)


def ensure_daily_job(
    session: Session,
    settings: Settings,
    now: dt.datetime,
    *,
    running_job_id: int | None = None,
) -> Job | None:
    """Queue the next daily run unless one is already waiting (caller commits).

    Call it first in its transaction: it takes the lock before it reads. A run being worked
    on right now (leased, or `running_job_id`, the caller's own) does not count as waiting:
    it ends without queuing another. Waiting duplicates beyond the first are removed.

    Returns:
        The job queued, or None when a run was already waiting.
    """
    return ensure_one_waiting(
        session,
        RECORDS_DAILY,
        lock_key=DAILY_LOCK_KEY,
        now=now,
        run_at=next_daily_run(now, settings),
        running_job_id=running_job_id,
    )


def daily_job(
    job: ClaimedJob,
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Callable[[], dt.datetime],
    actor: str,
    export: Callable[[dt.date], object] | None = None,
) -> Retry | None:
    """Run the day's records work, then make sure the next run is queued.

    1. `export`, when given: the daily registration file, called with the local day of the
       run. If it fails, the rest still runs and the job is tried again later (both steps
       are idempotent: what was exported or disposed of is not done twice).
    2. Disposal of everything due on that day (`retention.dispose_due`).
    3. The next run, queued unless one is waiting (`ensure_daily_job`).

    An error in disposal is the worker's to retry; the run queues the next one when it
    succeeds, so no day is lost.
    """
    today = clock().astimezone(ZoneInfo(settings.print_timezone)).date()
    export_error: Exception | None = None
    if export is not None:
        try:
            export(today)
        except Exception as error:  # any failure of the file: disposal goes on
            logger.exception("the daily registration file for %s failed", today)
            export_error = error
    summary = dispose_due(sessions, settings, today=today, clock=clock, actor=actor)
    logger.info(
        "daily records run %s: %d disposed of, %d kept by holds",
        today,
        summary.total,
        summary.held,
    )
    with sessions() as session, session.begin():
        ensure_daily_job(session, settings, clock(), running_job_id=job.id)
    if export_error is not None:
        delay = backoff_seconds(
            job.attempts, settings.retry_base_seconds, settings.retry_max_seconds
        )
        return Retry(
            clock() + dt.timedelta(seconds=delay),
            f"daily registration file: {type(export_error).__name__}: {export_error}",
        )
    return None
