"""The access log: who searched, opened or disclosed which letters, and when.

Every page that shows a person letters they did not write themselves (a search, an opened
letter, a disclosure, an archive export) writes one row here, in its own short transaction,
so that a page that fails afterwards still leaves its trace. The log is kept for its own
retention period (`access_log_months`) and disposed of by the records' daily job, which
writes that disposal in the disposal log like any other.

Identity numbers searched for are kept as the person typed them: the log exists to answer
"who looked up this person", and only administrators read it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import JSON, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from utskick.db.base import Base, GrowingId

if TYPE_CHECKING:
    from utskick.web.users import WebUser

UtcDateTime = DateTime(timezone=True)

# What a person did (access_log.action).
SEARCH = "search"  # a list of letters with filters
OPEN = "open"  # one letter's page or record
DISCLOSURE = "disclosure"  # a letter's record produced for disclosure (utlämnande)
EXPORT = "export"  # an archive export or a registration file

ACTIONS = (SEARCH, OPEN, DISCLOSURE, EXPORT)

ACTION_TEXTS = {
    SEARCH: "sökning",
    OPEN: "öppnade brev",
    DISCLOSURE: "utlämnande",
    EXPORT: "export",
}


class AccessLogEntry(Base):
    """One access by one person (never by a system: the event log has those)."""

    __tablename__ = "access_log"
    __table_args__ = (
        Index("ix_access_log_at", "at"),
        Index("ix_access_log_user_at", "username", "at"),
        Index("ix_access_log_letter", "letter_id"),
    )

    id: Mapped[int] = mapped_column(GrowingId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    username: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    organisation_number: Mapped[str | None] = mapped_column(String(10))
    action: Mapped[str] = mapped_column(String(16))
    letter_id: Mapped[str | None] = mapped_column(String(36))
    # What was asked (a search's filters) or what was produced (a file's name), as shown.
    detail: Mapped[dict[str, object] | None] = mapped_column(JSON)
    # How many letters the search showed (None for one letter).
    result_count: Mapped[int | None] = mapped_column(Integer)


def log_access(
    session: Session,
    *,
    username: str,
    role: str,
    organisation_number: str | None,
    action: str,
    now: dt.datetime,
    letter_id: str | None = None,
    detail: dict[str, object] | None = None,
    result_count: int | None = None,
) -> AccessLogEntry:
    """Add one access row in the caller's transaction (the caller commits)."""
    entry = AccessLogEntry(
        at=now,
        username=username,
        role=role,
        organisation_number=organisation_number,
        action=action,
        letter_id=letter_id,
        detail=detail,
        result_count=result_count,
    )
    session.add(entry)
    return entry


def log_person_access(
    sessions: sessionmaker[Session],
    user: WebUser,
    action: str,
    *,
    now: dt.datetime,
    letter_id: str | None = None,
    detail: dict[str, object] | None = None,
    result_count: int | None = None,
) -> None:
    """Write one person's access and commit it at once, before the page's answer is made.

    In a transaction of its own, so that an answer that fails afterwards still leaves its trace.
    """
    with sessions() as session, session.begin():
        log_access(
            session,
            username=user.username,
            role=user.role,
            organisation_number=user.organisation_number,
            action=action,
            now=now,
            letter_id=letter_id,
            detail=detail,
            result_count=result_count,
        )
