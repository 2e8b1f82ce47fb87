"""The attempt limit: a job that keeps failing ends `failed` for an operator, not retried for ever.

A job runs at most `max_attempts` times. When its handler asks for a retry after the last
attempt, or a claim finds that its last allowed attempt was never settled (its worker died or
hung on it: a claim counts the attempt, and a lease that runs out settles nothing), the job
is marked failed instead: `failed_at` set, lease released, last error kept. Claims never
take it again; `utskick jobs retry` runs it again and `utskick jobs cancel` removes it. Each
failure is logged at ERROR and handed to `on_failed` (the letters floor adds an event to the
letter).

A *waiting* retry (`Retry.waiting`) is no failure: the handler looks again later at something
that is not ready (FaR down, a delivery still on the wire, a letter's outcome not known yet)
and bounds that wait itself (the letter's paper deadline, a day). It is never given up for
its count. Its attempts stop growing at `hold_waiting_at`: half the limit, or the attempt from
which the backoff is at its longest if that comes later (the 10th with the default settings),
but always below the limit. So a waiting job keeps backing off fully, and when it fails for
real after a long wait it still has attempts left (13 of 25 with the defaults).

The limit travels with the worker's sessions (`Session.info`): every transaction that
reschedules jobs, the worker's own and those of the bulk handlers that settle their jobs
together with their outcome, applies it in the transaction that would have rescheduled
them. A session without it (a command that runs a handler once, a test) reschedules as
before.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.orm import Session, sessionmaker

from utskick.jobs.models import Job

logger = logging.getLogger(__name__)

_INFO_KEY = "utskick.attempt_limit"
MAX_ERROR_LENGTH = 4000


@dataclass(frozen=True)
class FailedJob:
    """A job that has just been marked failed, with the error it failed with."""

    id: int
    kind: str
    letter_id: str | None
    attempts: int
    error: str


# Told of the jobs marked failed, in the transaction that marks them (the letter events).
FailureRecorder = Callable[[Session, Sequence[FailedJob], dt.datetime], None]


@dataclass(frozen=True)
class AttemptLimit:
    """How many attempts a job gets, and who is told when one runs out of them."""

    max_attempts: int
    clock: Callable[[], dt.datetime]
    hold_waiting_at: int
    on_failed: FailureRecorder | None = None


def attempt_limit(
    max_attempts: int,
    *,
    retry_base_seconds: float,
    retry_max_seconds: float,
    clock: Callable[[], dt.datetime],
    on_failed: FailureRecorder | None = None,
) -> AttemptLimit:
    """The limit for these settings, with waiting jobs held as the module says."""
    longest = attempts_to_longest_backoff(retry_base_seconds, retry_max_seconds)
    return AttemptLimit(
        max_attempts=max_attempts,
        clock=clock,
        hold_waiting_at=max(0, min(max_attempts - 1, max(max_attempts // 2, longest))),
        on_failed=on_failed,
    )


def attempts_to_longest_backoff(base: float, maximum: float) -> int:
    """The first attempt whose backoff may reach `maximum` (`jobs.queue.backoff_seconds`).

    The backoff's ceiling is base·2ⁿ⁻¹: with 2 s and 600 s it reaches 600 s at attempt 10.
    """
    if base <= 0 or maximum <= base:
        return 1
    return min(61, math.ceil(math.log2(maximum / base)) + 1)


def carry_limit(sessions: sessionmaker[Session], limit: AttemptLimit) -> None:
    """Make every session of this factory apply the limit when it reschedules jobs."""
    sessions.configure(info={_INFO_KEY: limit})


def session_info(limit: AttemptLimit | None) -> dict[str, object]:
    """The `Session.info` that carries the limit (empty: no limit)."""
    return {} if limit is None else {_INFO_KEY: limit}


def limit_of(session: Session) -> AttemptLimit | None:
    """The limit this session carries, if any."""
    found = session.info.get(_INFO_KEY)
    return found if isinstance(found, AttemptLimit) else None


def give_up(
    session: Session,
    owner: str,
    errors: Mapping[int, str],
    limit: AttemptLimit,
    *,
    at_least: int,
    now: dt.datetime,
) -> list[FailedJob]:
    """Mark failed those of these jobs that are still `owner`'s and have `at_least` attempts.

    One `UPDATE … RETURNING` decides which (a job another worker took meanwhile is left
    alone), a second writes each one's error; then they are logged and `on_failed` is told,
    all in the caller's transaction.

    Returns:
        The jobs marked failed.
    """
    if not errors:
        return []
    rows = session.execute(
        update(Job)
        .where(Job.id.in_(list(errors)), Job.lease_owner == owner, Job.attempts >= at_least)
        .values(failed_at=now, lease_owner=None, lease_expires=None)
        .returning(Job.id, Job.kind, Job.letter_id, Job.attempts)
        .execution_options(synchronize_session=False)
    ).all()
    if not rows:
        return []
    failed = [
        FailedJob(row.id, row.kind, row.letter_id, row.attempts, errors[row.id][:MAX_ERROR_LENGTH])
        for row in rows
    ]
    table = cast("Table", Job.__table__)
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("job_id"))
        .values(last_error=bindparam("error")),
        [{"job_id": job.id, "error": job.error} for job in failed],
    )
    _log(failed)
    if limit.on_failed is not None:
        limit.on_failed(session, failed, now)
    return failed


def _log(failed: Sequence[FailedJob]) -> None:
    for job in failed:
        logger.error(
            "job %s (%s%s) failed after %d attempts and will not run again until an operator "
            "runs `utskick jobs retry %s`: %s",
            job.id,
            job.kind,
            f", letter {job.letter_id}" if job.letter_id else "",
            job.attempts,
            job.id,
            job.error,
        )
