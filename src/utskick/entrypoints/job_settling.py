"""How the worker keeps a job while it runs, and ends the run: done, again later, or failed.

The limit (`jobs.limits`) is built here from the settings and wired to the letters floor,
which tells a letter when one of its jobs gives up. Which handlers' retries are waits, not
failures, is said here too, next to the worker's registry of handlers.

Why some retries must not count, with the default settings (retry_base_seconds 2,
retry_max_seconds 600, job_max_attempts 25): the backoff's ceiling doubles from 2 s and
reaches 600 s at the 10th attempt, so 25 attempts take about 1.4 h on average (each delay is
drawn between 2 s and its ceiling: the first nine add up to about 520 s, each later one is
301 s on average) and at most about 2.8 h. A letter's paper deadline is 24 h
(fallback_after_seconds). A classify job that waits for FaR is also what sends its letter on
paper when the deadline passes during the outage (`switch.classify`): if its retries
counted, it would be given up after about 1.4 h of outage and its letter would wait for
ever, deadline or not. The same holds for the fallback job, which looks again every 5 s
while a delivery is on the wire (25 looks are two minutes; a set of deliveries to a slow
operator may take longer), and for the reply to an officer's e-mail, which looks every 10 s
for up to a day. These handlers bound their waits themselves, so their retries are waiting
retries; their exceptions still count.

A delivery's retries (the operator does not answer) do count: after about 1.4 h the deliver
job fails with an event, and the letter's fallback job, a job of its own, still sends it on
paper at the deadline (or ends it failed when it is digital-only). An installation that
would rather keep trying for longer raises job_max_attempts: each attempt past the 10th adds
about 5 minutes (100 attempts: about 7.6 h; 300: about 24 h).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from sqlalchemy.exc import OperationalError

from utskick.jobs.limits import AttemptLimit, attempt_limit
from utskick.jobs.queue import (
    CLASSIFY,
    FALLBACK,
    MAIL_REPLY,
    ClaimedJob,
    JobQueue,
    Retry,
    backoff_seconds,
)
from utskick.letters.job_failures import record_failed_jobs
from utskick.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Kinds whose handlers return a Retry only to look again at something not ready yet, and
# bound that wait themselves: classify while FaR cannot be asked (the letter's paper
# deadline, checked on every look), fallback while a delivery is on the wire (that
# delivery's lease), mail_reply until the letter's outcome is known (a day) or the mail
# server takes the reply (50 sends).
WAITING_KINDS = frozenset({CLASSIFY, FALLBACK, MAIL_REPLY})


def attempt_limit_for(settings: Settings, clock: Callable[[], dt.datetime]) -> AttemptLimit:
    """The worker's attempt limit: `job_max_attempts`, failures told to their letters."""
    return attempt_limit(
        settings.job_max_attempts,
        retry_base_seconds=settings.retry_base_seconds,
        retry_max_seconds=settings.retry_max_seconds,
        clock=clock,
        on_failed=record_failed_jobs,
    )


def as_waiting(kind: str, outcome: Retry | None) -> Retry | None:
    """A handler's own answer, marked as a wait when its kind's retries are waits."""
    if outcome is None or kind not in WAITING_KINDS:
        return outcome
    return dataclasses.replace(outcome, waiting=True)


def retry_after_error(
    job: ClaimedJob, error: Exception, settings: Settings, clock: Callable[[], dt.datetime]
) -> Retry:
    """A handler raised: run the job again after the backoff (the attempt counts)."""
    delay = backoff_seconds(job.attempts, settings.retry_base_seconds, settings.retry_max_seconds)
    return Retry(clock() + dt.timedelta(seconds=delay), f"{type(error).__name__}: {error}")


def settle(queue: JobQueue, owner: str, outcomes: Mapping[int, Retry | None]) -> None:
    """Remove the jobs that are done; run the others again (or fail them at the limit)."""
    queue.complete(owner, [job_id for job_id, outcome in outcomes.items() if outcome is None])
    queue.reschedule_all(
        owner, {job_id: outcome for job_id, outcome in outcomes.items() if outcome is not None}
    )


def with_leases_kept(  # noqa: PLR0917 (the lease's owner, jobs, work and timing)
    queue: JobQueue,
    owner: str,
    job_ids: Sequence[int],
    work: Callable[[], T],
    interval: float,
    clock: Callable[[], dt.datetime],
) -> T:
    """Run work that may take longer than a lease, renewing the jobs' leases every `interval`.

    The daily records run disposes of and exports as much as is due, which may take minutes,
    and a set of deliveries waits for slow operators; without renewal another worker would
    take the same jobs when the lease ran out.
    """
    done = threading.Event()

    def keep() -> None:
        while not done.wait(interval):
            try:
                if not queue.extend(owner, list(job_ids), now=clock()):
                    return
            except OperationalError:
                logger.warning(
                    "worker %s: could not renew the leases of %d jobs", owner, len(job_ids)
                )

    keeper = threading.Thread(target=keep, name=f"lease-{job_ids[0]}", daemon=True)
    keeper.start()
    try:
        return work()
    finally:
        done.set()
        keeper.join()
