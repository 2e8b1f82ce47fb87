"""What the last call to FaR came to, kept in the database for `/health` in every process.

Workers (and the precheck) call FaR; the web app answers `/health`. They may be different
processes on different machines, so the outcome is written to `dependency_status`: on a
failure always (with the reason, keeping the time the outage began), on a success only
when the row did not already say `ok`, so that a night of batches adds no writes.

`/health` reads the row instead of calling FaR itself: a health probe every few seconds
would put load on a national service, and the web process has no business holding the
intermediary's certificate to do it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import Engine, case, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from utskick.jobs.models import DependencyStatus

logger = logging.getLogger(__name__)

FAR = "far"
UNKNOWN = "unknown"
OK = "ok"
DEGRADED = "degraded"


@dataclass(frozen=True)
class DependencyState:
    """A dependency as last seen: its status, and for `degraded` the reason and since when."""

    name: str
    status: str
    reason: str | None = None
    since: dt.datetime | None = None
    checked_at: dt.datetime | None = None

    def as_json(self) -> dict[str, object]:
        """The form `/health` shows."""
        answer: dict[str, object] = {"status": self.status}
        if self.reason is not None:
            answer["reason"] = self.reason
        if self.since is not None:
            answer["since"] = _utc(self.since).isoformat()
        if self.checked_at is not None:
            answer["last_failure_at" if self.status == DEGRADED else "checked_at"] = _utc(
                self.checked_at
            ).isoformat()
        return answer


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def record_outcome(engine: Engine, name: str, reason: str | None, now: dt.datetime) -> None:
    """Record a call's outcome: None when the service answered, else why it did not.

    A database that cannot be written is logged, not raised: the caller's own outcome (FaR
    answered, or the letters wait) matters more than the health record.
    """
    try:
        if reason is None:
            _record_success(engine, name, now)
        else:
            _record_failure(engine, name, reason, now)
    except SQLAlchemyError:
        logger.exception("could not record the outcome of a call to %s", name)


def _record_failure(engine: Engine, name: str, reason: str, now: dt.datetime) -> None:
    row = DependencyStatus.__table__.c
    statement = (
        update(DependencyStatus)
        .where(row.name == name)
        .values(
            status=DEGRADED,
            reason=reason[:1000],
            checked_at=now,
            # The outage began at its first failure; later failures keep that time.
            since=case((row.status == DEGRADED, row.since), else_=now),
        )
        .execution_options(synchronize_session=False)
    )
    with Session(engine) as session, session.begin():
        if session.execute(statement).rowcount:  # type: ignore[attr-defined]
            return
    _insert(
        engine,
        DependencyStatus(
            name=name, status=DEGRADED, reason=reason[:1000], since=now, checked_at=now
        ),
    )


def _record_success(engine: Engine, name: str, now: dt.datetime) -> None:
    with Session(engine) as session:
        status = session.scalar(
            select(DependencyStatus.status).where(DependencyStatus.name == name)
        )
    if status == OK:
        return  # nothing changed: no write
    if status is None:
        _insert(engine, DependencyStatus(name=name, status=OK, since=now, checked_at=now))
        return
    with Session(engine) as session, session.begin():
        session.execute(
            update(DependencyStatus)
            .where(DependencyStatus.name == name)
            .values(status=OK, reason=None, since=now, checked_at=now)
            .execution_options(synchronize_session=False)
        )


def _insert(engine: Engine, row: DependencyStatus) -> None:
    """Add a service's row; another process adding it first is fine (its outcome stands)."""
    try:
        with Session(engine) as session, session.begin():
            session.add(row)
    except IntegrityError:
        pass


def dependency_state(engine: Engine, name: str) -> DependencyState:
    """The service's last recorded outcome (`unknown` before the first call)."""
    with Session(engine) as session:
        row = session.get(DependencyStatus, name)
        if row is None:
            return DependencyState(name, UNKNOWN)
        return DependencyState(row.name, row.status, row.reason, row.since, row.checked_at)
