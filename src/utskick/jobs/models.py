"""The job table: work waiting to be done, claimed by workers with a lease."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from utskick.db.base import Base, GrowingId

UtcDateTime = DateTime(timezone=True)


class Job(Base):
    """One unit of work (classify a letter, deliver it, send a webhook …).

    A worker claims a due job by setting `lease_owner` and `lease_expires`; if it dies, the
    lease runs out and another worker claims the job again. Handlers are idempotent.
    """

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_due", "run_at"),)

    id: Mapped[int] = mapped_column(GrowingId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    letter_id: Mapped[str | None] = mapped_column(String(36), index=True)
    payload: Mapped[dict[str, object] | None] = mapped_column(JSON)
    run_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # Set when the job ran out of attempts (`job_max_attempts`): it is kept, never claimed
    # again, until an operator retries or cancels it (`utskick jobs`).
    failed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class DependencyStatus(Base):
    """How the last call to a service the workers depend on (FaR) went: one row per service.

    Written by whichever process made the call, read by `/health` in any process: `ok`,
    `degraded` with the reason and since when, or `unknown` before the first call.
    """

    __tablename__ = "dependency_status"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    since: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    checked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
